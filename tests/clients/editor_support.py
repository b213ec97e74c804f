"""Helpers shared by the real-editor client tests (Neovim, Emacs, Helix).

Editors are installed by ``scripts/install-editors.sh``.  When an editor is
missing the test is skipped, except under CI (``CI`` set), where it fails so
a broken install cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIENTS = REPO / "clients"
INSTALL_HINT = "run scripts/install-editors.sh"

# Every editor run is bounded so a hang fails the test instead of stalling CI.
EDITOR_TIMEOUT_S = 60

APP_PY = """\
from dbos import DBOS


@DBOS.workflow()
async def checkout_workflow(order_id: str) -> str:
    DBOS.sleep(30)
    return order_id
"""
# 1-based line of the DBOS.sleep(30) call in APP_PY (0-based: 5).
SLEEP_LINE = 6
FIXED_LINE = "    await DBOS.sleep_async(30)"

PYPROJECT = """\
[project]
name = "checkout-demo"
version = "0.1.0"
dependencies = ["dbos"]
"""


def search_path() -> str:
    """PATH with this interpreter's scripts dir first (where pip puts nvim / dbos-lsp)."""
    dirs = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    return os.pathsep.join(dict.fromkeys(d for d in dirs if d))


def which(name: str) -> str | None:
    return shutil.which(name, path=search_path())


def server_cmd() -> list[str]:
    """The server as the checkout's interpreter runs it."""
    return [sys.executable, "-m", "dbos_lsp"]


def server_env() -> dict[str, str]:
    """os.environ with the checkout's server/ first on PYTHONPATH, so `python -m dbos_lsp`
    runs this checkout's code even when another copy (or none) is pip-installed."""
    env = dict(os.environ)
    parts = [str(REPO / "server")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    return env


def missing_editor(message: str) -> None:
    """Fail under CI, skip otherwise."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def run_editor(argv: list[str], input: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run an editor, bounded by EDITOR_TIMEOUT_S; a hang becomes a clear test failure.

    ``input`` is written to the editor's stdin (what a user types: Emacs in batch mode
    reads minibuffer answers from there); without it stdin is inherited.
    The editor gets its own process group so a timeout also kills the language
    server it spawned (which could otherwise keep our pipes open).
    """
    proc = subprocess.Popen(
        argv,
        stdin=None if input is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    try:
        out, err = proc.communicate(input=input, timeout=EDITOR_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        pytest.fail(
            f"{Path(argv[0]).name} did not finish within {EDITOR_TIMEOUT_S}s: {' '.join(argv)}\n"
            f"stdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}",
            pytrace=False,
        )
    finally:
        # Reap anything the editor left behind (e.g. a server that ignored shutdown).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
