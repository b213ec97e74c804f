"""The no-code-execution guarantee where jedi really runs.

``tests/test_no_code_execution.py`` plants a repository whose ``shop/app.py`` imports
``DBOS`` from ``shop/setup_dbos.py``; the syntactic resolver now answers that import
without jedi.  Here the re-export is a star import, which syntax leaves to jedi, so
jedi resolves it (DBOS101 proves it) over planted environments that must never start.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ci_requirements import require_module
from test_no_code_execution import codes, planted_venv, run_check, write

require_module("dbos")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, "pyproject.toml", '[tool.dbos-lsp]\nenvironment-path = ".venv2"\n')
    write(root, "shop/__init__.py", "")
    write(root, "shop/setup_dbos.py", "from dbos import DBOS\n\n__all__ = ['DBOS']\n")
    write(root, "shop/reexport.py", "from .setup_dbos import *\n")  # not bound syntactically
    write(
        root,
        "shop/app.py",
        """\
        from .reexport import DBOS


        @DBOS.workflow()
        async def checkout() -> None:
            DBOS.sleep(3)
        """,
    )
    return root


def test_jedi_resolves_a_star_reexport_without_starting_the_repositorys_environment(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    planted_venv(repo / ".venv2", marker)
    proc = run_check(repo)
    assert not marker.exists(), "the checked repository's environment was started"
    assert codes(proc) == ["DBOS101"], proc.stderr


def test_jedi_reads_an_explicit_environment_as_data(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    script = f'#!/bin/sh\ntouch {marker}\nexec {sys.executable} "$@"\n'
    venv = planted_venv(tmp_path / "env", tmp_path / "pth-marker", python=script)
    proc = run_check(repo, "--environment-path", str(venv))
    assert not marker.exists(), "the environment's interpreter was started"
    assert not (tmp_path / "pth-marker").exists()
    assert codes(proc) == ["DBOS101"], proc.stderr


def test_without_jedi_the_star_reexport_stays_unknown(repo: Path) -> None:
    # The syntactic half alone cannot place the name: the finding above is jedi's.
    from dbos_lsp.analysis.names import PendingImport
    from dbos_lsp.project.index import JediProjectIndex

    index = JediProjectIndex(str(repo))
    app = str(repo / "shop" / "app.py")
    assert index.resolve_syntactic(app, PendingImport("reexport", 1, "DBOS", 1, 21)) is None
    assert index.resolve_import(app, PendingImport("reexport", 1, "DBOS", 1, 21)) is not None
    assert index.jedi_calls == 1
