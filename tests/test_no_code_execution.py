"""`dbos-lsp check` never runs code of the repository it checks, nor of an environment.

A planted repository asks (through its own pyproject) for a virtualenv whose `python`
is a symlink to a real interpreter and whose site-packages holds a `.pth` file with an
`import` line: starting that interpreter would run it.  jedi must resolve the
cross-module import without starting any interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from ci_requirements import require_module

require_module("dbos")

CONSOLE_SCRIPT = Path(sys.executable).with_name("dbos-lsp")
VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"
DBOS_SITE = str(Path(__import__("dbos").__file__).resolve().parent.parent)


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def planted_venv(folder: Path, marker: Path, python: str | None = None) -> Path:
    """A venv whose `python` starts a real interpreter (or ``python``, a script) and whose
    site-packages runs ``import`` lines of an `evil.pth` at start-up."""
    (folder / "bin").mkdir(parents=True)
    if python is None:
        os.symlink(sys.executable, folder / "bin" / "python")
    else:
        (folder / "bin" / "python").write_text(python)
        (folder / "bin" / "python").chmod(0o755)
    write(folder, "pyvenv.cfg", f"home = {Path(sys.executable).parent}\nversion = {sysconfig.get_python_version()}\n")
    site = folder / "lib" / VERSION / "site-packages"
    site.mkdir(parents=True)
    (site / "evil.pth").write_text(f"import os; open({str(marker)!r}, 'w')\n")
    # A path line: honoured as data, so jedi finds the dbos SDK through it.
    (site / "sdk.pth").write_text(DBOS_SITE + "\n")
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, "pyproject.toml", '[tool.dbos-lsp]\nenvironment-path = ".venv2"\n')
    write(root, "shop/__init__.py", "")
    write(root, "shop/setup_dbos.py", "from dbos import DBOS\n\n__all__ = ['DBOS']\n")
    # Only jedi can tell that this DBOS is the SDK's: DBOS101 proves it was asked.
    write(
        root,
        "shop/app.py",
        """\
        from .setup_dbos import DBOS


        @DBOS.workflow()
        async def checkout() -> None:
            DBOS.sleep(3)
        """,
    )
    return root


def run_check(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if not CONSOLE_SCRIPT.exists():
        pytest.skip("the dbos-lsp console script is not installed next to this interpreter")
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "check", "--format", "json", *args, "shop/app.py"],
        cwd=repo,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def codes(proc: subprocess.CompletedProcess) -> list[str]:
    import json

    return [f["code"] for f in json.loads(proc.stdout)]


def test_a_repositorys_own_environment_path_is_ignored(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    planted_venv(repo / ".venv2", marker)
    proc = run_check(repo)
    assert not marker.exists(), "the checked repository's environment was started"
    assert codes(proc) == ["DBOS101"], proc.stderr
    assert "environment-path is ignored" in proc.stderr


def test_an_explicit_environment_is_read_as_data(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    planted_venv(tmp_path / "env", marker)
    proc = run_check(repo, "--environment-path", str(tmp_path / "env"))
    assert not marker.exists(), "the environment's interpreter was started"
    assert codes(proc) == ["DBOS101"], proc.stderr  # dbos found through the .pth path line


def test_virtual_env_pointing_at_a_script_is_never_run(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    script = f'#!/bin/sh\ntouch {marker}\nexec {sys.executable} "$@"\n'
    venv = planted_venv(tmp_path / "env", tmp_path / "pth-marker", python=script)
    for virtual_env in (venv, venv / "bin" / "python"):
        proc = run_check(repo, env={"VIRTUAL_ENV": str(virtual_env)})
        assert not marker.exists(), f"VIRTUAL_ENV={virtual_env}: its python was started"
        assert not (tmp_path / "pth-marker").exists()
        assert codes(proc) == ["DBOS101"], proc.stderr
