"""Per-application facts: the DBOS version from the nearest declaration walking up from each
file, and DBOS404 comparing workflow names only inside one application.

An application folder is the nearest one holding ``pyproject.toml``, ``setup.py``,
``setup.cfg``, ``requirements*.txt`` or ``uv.lock`` (``ProjectRoots``).  Its version comes
from its lock or requirement (a ``requirements.txt`` one folder above the sources counts; a
uv workspace member gets its workspace root's ``uv.lock``).  ``dbos-lsp check --format json``
and the analysis functions (``analyze`` with a ``JediProjectIndex``) must agree.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from dbos_lsp.cli.main import main
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.project.dbos_version import declared_version
from dbos_lsp.project.files import ProjectRoots
from dbos_lsp.project.index import JediProjectIndex


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # An activated virtualenv's installed dbos would win over the declarations under test.
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)


def check_json(*args: str) -> list[dict]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", *args, "--format", "json"], stdout=out, stderr=err)
    assert code in (0, 1), err.getvalue()
    return json.loads(out.getvalue())


def uv_lock(version: str) -> str:
    return (
        'version = 1\nrequires-python = ">=3.10"\n\n'
        f'[[package]]\nname = "dbos"\nversion = "{version}"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
    )


# ----- B: the DBOS version of each file ------------------------------------------------------


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    """A workspace of three example apps, each declaring its own DBOS version."""
    ws = tmp_path / "ws"
    # a requirements.txt one folder above the sources
    write(ws, "examples/legacy/requirements.txt", "fastapi\ndbos==2.31.0\n")
    write(ws, "examples/legacy/src/legacy/app.py", "")
    write(ws, "examples/modern/pyproject.toml", '[project]\nname = "modern"\ndependencies = ["dbos>=3.2"]\n')
    write(ws, "examples/modern/modern/app.py", "")
    write(ws, "examples/locked/pyproject.toml", '[project]\nname = "locked"\ndependencies = ["dbos>=2"]\n')
    write(ws, "examples/locked/uv.lock", uv_lock("2.40.0"))
    write(ws, "examples/locked/locked/app.py", "")
    return ws


@pytest.mark.parametrize(
    "file, version",
    [
        ("examples/legacy/src/legacy/app.py", "2.31.0"),
        ("examples/modern/modern/app.py", "3.2"),
        ("examples/locked/locked/app.py", "2.40.0"),  # the lock beats the requirement
    ],
)
def test_version_comes_from_the_nearest_declaration(apps: Path, file: str, version: str) -> None:
    index = JediProjectIndex(str(apps))
    found = index.dbos_version(str(apps / file))
    assert found is not None and found[0] == version
    # The same answer when the index is rooted at the application itself (``check``).
    app_root = ProjectRoots().find(str(apps / file))
    assert app_root is not None
    assert JediProjectIndex(app_root).dbos_version() == found


def test_walk_stops_at_the_workspace_root(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "dbos==2.0\n")  # above the workspace: not its business
    ws = tmp_path / "ws"
    write(ws, "tools/pyproject.toml", '[project]\nname = "tools"\n')  # names no dbos
    write(ws, "requirements.txt", "dbos==3.1\n")
    assert declared_version(str(ws / "tools"), str(ws)) == ("3.1", "the dbos requirement in requirements.txt")
    write(tmp_path, "other/x.py", "")
    assert declared_version(str(ws / "tools"), str(ws / "tools")) is None
    # Without a workspace root the walk ends at the nearest project folder.
    assert declared_version(str(ws / "tools")) is None
    above = declared_version(str(tmp_path / "other"))
    assert above is not None and above[0] == "2.0"


def test_uv_workspace_members_get_the_workspace_lock(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        '[project]\nname = "root"\n\n[tool.uv.workspace]\nmembers = ["packages/*"]\nexclude = ["packages/legacy"]\n',
    )
    write(tmp_path, "uv.lock", uv_lock("3.3.1"))
    write(tmp_path, "packages/svc/pyproject.toml", '[project]\nname = "svc"\ndependencies = ["dbos>=3"]\n')
    write(tmp_path, "packages/legacy/pyproject.toml", '[project]\nname = "legacy"\ndependencies = ["dbos==2.5"]\n')
    member = declared_version(str(tmp_path / "packages" / "svc"))
    assert member is not None and member[0] == "3.3.1" and "uv workspace" in member[1]
    excluded = declared_version(str(tmp_path / "packages" / "legacy"))
    assert excluded is not None and excluded[0] == "2.5"
    via_index = JediProjectIndex(str(tmp_path)).dbos_version(str(tmp_path / "packages" / "svc" / "svc" / "main.py"))
    assert via_index is not None and via_index[0] == "3.3.1"


QUEUE_APP = """\
    from dbos import DBOS, Queue

    queue = Queue("orders")
    """


def test_check_gates_each_app_by_its_own_version(apps: Path) -> None:
    # DBOS603 (the Queue constructor is gone) exists from DBOS 3.0 on.
    for file in ("examples/legacy/src/legacy/app.py", "examples/modern/modern/app.py"):
        write(apps, file, QUEUE_APP)
    problems = check_json(str(apps))
    by_file = {(Path(p["path"]).resolve().relative_to(apps.resolve()).as_posix(), p["code"]) for p in problems}
    assert by_file == {("examples/modern/modern/app.py", "DBOS603")}


# ----- C: DBOS404 inside one application only -----------------------------------------------

PROCESS = """\
    from dbos import DBOS


    @DBOS.workflow()
    def process(order_id: str) -> str:
        return order_id
    """


def dbos404(root: Path) -> tuple[set[str], set[str]]:
    """Files with a DBOS404 finding: (by ``dbos-lsp check``, by ``analyze`` over one index)."""
    by_cli = {
        Path(p["path"]).resolve().relative_to(root.resolve()).as_posix()
        for p in check_json(str(root))
        if p["code"] == "DBOS404"
    }
    index = JediProjectIndex(str(root))
    by_analysis = set()
    for path in sorted(root.rglob("*.py")):
        analysis = analyze(path.read_text(encoding="utf-8"), index=index, path=str(path))
        if any(f.code == "DBOS404" for f in analysis.findings):
            by_analysis.add(path.relative_to(root).as_posix())
    return by_cli, by_analysis


@pytest.mark.parametrize("marker", ["requirements.txt", "pyproject.toml", "uv.lock"])
def test_sibling_apps_never_collide(tmp_path: Path, marker: str) -> None:
    content = {
        "requirements.txt": "dbos>=3.2\n",
        "pyproject.toml": '[project]\nname = "x"\n',
        "uv.lock": uv_lock("3.4"),
    }
    for app in ("shop", "billing"):
        write(tmp_path, f"examples/{app}/{marker}", content[marker])
        write(tmp_path, f"examples/{app}/main.py", PROCESS)
    assert dbos404(tmp_path) == (set(), set())


def test_one_app_with_two_files_collides(tmp_path: Path) -> None:
    write(tmp_path, "app/requirements.txt", "dbos>=3.2\n")
    write(tmp_path, "app/src/orders.py", PROCESS)  # the requirements are one folder above
    write(tmp_path, "app/src/payments.py", PROCESS)
    write(tmp_path, "other/requirements.txt", "dbos>=3.2\n")
    write(tmp_path, "other/main.py", PROCESS)  # a sibling app: no collision with it
    both = {"app/src/orders.py", "app/src/payments.py"}
    assert dbos404(tmp_path) == (both, both)


def test_project_roots_recognise_every_marker(tmp_path: Path) -> None:
    roots = ProjectRoots(ttl=None)
    for i, marker in enumerate(["pyproject.toml", "setup.py", "setup.cfg", "uv.lock", "requirements-dev.txt"]):
        write(tmp_path, f"a{i}/{marker}", "")
        write(tmp_path, f"a{i}/pkg/mod.py", "")
        assert roots.find(str(tmp_path / f"a{i}" / "pkg" / "mod.py")) == str(tmp_path / f"a{i}")
    write(tmp_path, "b/requirements", "")  # not a requirements*.txt file
    write(tmp_path, "b/notes.txt", "")
    assert roots.find(str(tmp_path / "b" / "mod.py")) != str(tmp_path / "b")
