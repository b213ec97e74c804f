"""The project's files as `dbos-lsp check` and the index see them: `exclude` for DBOS404,
regular files only, the size limit, and one index build per run."""

from __future__ import annotations

import io
import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from dbos_lsp.cli.main import check_files, collect_files, main
from dbos_lsp.project.files import (
    NOT_REGULAR,
    ProjectRoots,
    SkippedFile,
    read_source,
    text_too_large,
    walk_python_files,
)
from dbos_lsp.project.index import JediProjectIndex
from dbos_lsp.project.workspace import WorkspaceIndex

WORKFLOW = """\
from dbos import DBOS


@DBOS.workflow()
def {name}() -> None:
    pass
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def legacy_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path, "pyproject.toml", '[tool.dbos-lsp]\nexclude = ["legacy/"]\n')
    write(tmp_path, "app/a.py", WORKFLOW.format(name="shared"))
    write(tmp_path, "legacy/old.py", WORKFLOW.format(name="shared"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----- (a) exclude applies to DBOS404's registry, as in the server ----------------------------


def test_excluded_file_does_not_collide(legacy_tree: Path) -> None:
    code, out, err = run("--format", "json", "app/")
    assert (code, json.loads(out)) == (0, []), err
    code, out, _ = run("--format", "json", "app/a.py")
    assert (code, json.loads(out)) == (0, [])


def test_collision_with_a_checked_in_file_is_still_reported(legacy_tree: Path) -> None:
    write(legacy_tree, "app/b.py", WORKFLOW.format(name="shared"))
    code, out, _ = run("--format", "json", "app/")
    found = sorted((f["path"], f["code"]) for f in json.loads(out))
    assert code == 1 and found == [("app/a.py", "DBOS404"), ("app/b.py", "DBOS404")]


def test_index_scopes_registrations_to_the_application(tmp_path: Path) -> None:
    write(tmp_path, "one/pyproject.toml", "")
    write(tmp_path, "two/pyproject.toml", '[tool.dbos-lsp]\nexclude = ["gone.py"]\n')
    a = write(tmp_path, "one/a.py", WORKFLOW.format(name="w"))
    b = write(tmp_path, "one/b.py", WORKFLOW.format(name="w"))
    write(tmp_path, "two/c.py", WORKFLOW.format(name="w"))
    write(tmp_path, "two/gone.py", WORKFLOW.format(name="w"))
    from dbos_lsp.project.config import exclusion_test

    index = JediProjectIndex(str(tmp_path), excluded=exclusion_test())
    assert dict(index.workflow_registrations_for(str(a))) == {"w": [(str(b), 4)]}
    assert dict(index.workflow_registrations_for(str(tmp_path / "two/c.py"))) == {}


# ----- (c) FIFOs and devices named *.py are skipped without blocking ---------------------------


@pytest.fixture
def odd_tree(legacy_tree: Path) -> Path:
    os.mkfifo(legacy_tree / "app/pipe.py")
    os.symlink("/dev/zero", legacy_tree / "app/x.py")
    os.mkdir(legacy_tree / "app/folder.py")
    return legacy_tree


def test_check_skips_fifos_and_devices(odd_tree: Path) -> None:
    code, out, err = run("--format", "json", "app/")
    assert (code, json.loads(out)) == (0, [])
    assert f"app/pipe.py: {NOT_REGULAR}" in err.splitlines()
    assert f"app/x.py: {NOT_REGULAR}" in err.splitlines()
    assert "folder.py" not in err


def test_fifo_elsewhere_in_the_project_does_not_block_one_file(odd_tree: Path) -> None:
    # Naming only a.py still builds the project's registry (DBOS404), which walks app/.
    code, out, err = run("--format", "json", "app/a.py")
    assert (code, json.loads(out)) == (0, [])
    assert f"app/pipe.py: {NOT_REGULAR}" in err.splitlines()


def test_naming_a_fifo_reports_it(odd_tree: Path) -> None:
    code, _out, err = run("app/pipe.py")
    assert code == 0 and err.splitlines() == [f"app/pipe.py: {NOT_REGULAR}"]


def test_index_scan_skips_fifos_and_devices(odd_tree: Path) -> None:
    index = WorkspaceIndex([str(odd_tree)])
    assert index.scan() == 2  # app/a.py and legacy/old.py: the scan finishes
    skipped: list[tuple[str, str]] = []
    files = list(walk_python_files([str(odd_tree)], skipped=lambda p, why: skipped.append((Path(p).name, why))))
    assert [Path(f).name for f in files] == ["a.py", "old.py"]
    assert sorted(skipped) == [("pipe.py", NOT_REGULAR), ("x.py", NOT_REGULAR)]
    with pytest.raises(SkippedFile):
        read_source(str(odd_tree / "app/pipe.py"))


# ----- (d) the size limit ---------------------------------------------------------------------


def test_files_over_the_size_limit_are_skipped(legacy_tree: Path) -> None:
    big = WORKFLOW.format(name="shared") + "x = 1\n" * 200
    write(legacy_tree, "app/big.py", big)
    write(legacy_tree, "pyproject.toml", '[tool.dbos-lsp]\nexclude = ["legacy/"]\nmax-file-bytes = 1000\n')
    code, out, err = run("--format", "json", "app/")
    assert (code, json.loads(out)) == (0, [])  # big.py is neither checked nor in the registry
    assert err.splitlines() == ["app/big.py: skipped: larger than 1000 bytes (max-file-bytes = 1000)"]
    assert text_too_large(big, 1000) is not None and text_too_large(big, 4 * 1024 * 1024) is None


def test_default_limit_is_four_megabytes(tmp_path: Path) -> None:
    path = tmp_path / "huge.py"
    with open(path, "wb") as fh:
        fh.truncate(4 * 1024 * 1024 + 1)
    with pytest.raises(SkippedFile, match=r"larger than 4 MB"):
        read_source(str(path))
    assert list(walk_python_files([str(tmp_path)])) == []


# ----- (f) one index build per run: file-system work grows linearly ---------------------------


def _tree(root: Path, n: int) -> list[str]:
    write(root, "pyproject.toml", "[project]\nname = 'big'\n")
    for i in range(n):
        write(root, f"pkg{i % 20}/mod{i}.py", WORKFLOW.format(name=f"wf_{i}"))
    return [str(root / f"pkg{i % 20}/mod{i}.py") for i in range(n)]


def _fs_calls(monkeypatch: pytest.MonkeyPatch, root: Path, n: int) -> tuple[int, int, int, int]:
    files = _tree(root, n)
    counts = {"stat": 0, "scandir": 0, "parses": 0, "builds": 0}
    real_build = WorkspaceIndex._root_table

    def build(self, roots):
        before = self.table_builds
        table = real_build(self, roots)
        counts["builds"] += self.table_builds - before
        return table

    def parse(self, path, text=None, if_changed=False, real=WorkspaceIndex.update_file):
        before = self.parses
        changed = real(self, path, text, if_changed)
        counts["parses"] += self.parses - before
        return changed

    real_stat, real_lstat, real_scandir = os.stat, os.lstat, os.scandir

    def counting(kind, fn):
        def wrapper(*args, **kwargs):
            counts[kind] += 1
            return fn(*args, **kwargs)

        return wrapper

    with monkeypatch.context() as m:
        m.setattr(os, "stat", counting("stat", real_stat))
        m.setattr(os, "lstat", counting("stat", real_lstat))
        m.setattr(os, "scandir", counting("scandir", real_scandir))
        m.setattr(WorkspaceIndex, "_root_table", build)
        m.setattr(WorkspaceIndex, "update_file", parse)
        result = check_files(collect_files([str(root)]))
    assert result.files_checked == n and result.problems == []
    assert len(files) == n
    return counts["stat"], counts["scandir"], counts["parses"], counts["builds"]


def test_check_does_linear_file_system_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {n: _fs_calls(monkeypatch, tmp_path / str(n), n) for n in (500, 1000, 2000)}
    for small, large in ((500, 1000), (1000, 2000)):
        for kind in (0, 1):
            # Twice the files: at most a little over twice the calls (the old code: 4x).
            assert calls[large][kind] <= 2.2 * calls[small][kind], (kind, calls)
    # Folder listings do not grow with the files at all: each folder is listed once for
    # collection and once for the DBOS404 registry, whatever the number of files in it.
    assert calls[500][1] == calls[1000][1] == calls[2000][1], calls
    # The registry is built once per run from one read of each file, shared by every file.
    assert [calls[n][2:] for n in (500, 1000, 2000)] == [(500, 1), (1000, 1), (2000, 1)]


def test_project_roots_are_cached_per_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "pyproject.toml", "")
    roots = ProjectRoots(ttl=None)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert roots.find(str(deep / "x.py")) == str(tmp_path)
    monkeypatch.setattr(os.path, "isfile", lambda p: pytest.fail("re-checked a cached folder"))
    assert roots.find(str(deep / "y.py")) == str(tmp_path)
    assert stat.S_ISDIR(os.stat(deep).st_mode)


# ----- settings ------------------------------------------------------------------------------


def test_max_file_bytes_setting_and_a_repository_cannot_pick_an_environment(tmp_path: Path) -> None:
    from dbos_lsp.analysis.settings import parse_settings
    from dbos_lsp.project.config import settings_for

    assert parse_settings({"maxFileBytes": 10})[0].max_file_bytes == 10
    settings, errors = parse_settings({"max-file-bytes": "big"})
    assert settings.max_file_bytes == 4 * 1024 * 1024 and len(errors) == 1
    write(tmp_path, "pyproject.toml", '[tool.dbos-lsp]\nenvironment-path = ".venv2"\nmax-file-bytes = 99\n')
    settings, errors = settings_for(str(tmp_path / "a.py"))
    assert (settings.environment_path, settings.max_file_bytes) == (None, 99)
    assert len(errors) == 1 and "environment-path is ignored" in errors[0]
    # Only the invocation (CLI option, editor setting) may name one.
    assert settings_for(str(tmp_path / "a.py"), {"environmentPath": "/env"})[0].environment_path == "/env"
