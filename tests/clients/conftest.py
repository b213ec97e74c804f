"""Fixtures for the real-editor client tests; helpers live in editor_support.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# Make editor_support importable from the test modules whatever pytest's import mode is.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from editor_support import APP_PY, PYPROJECT, search_path, server_cmd, server_env


@pytest.fixture
def dbos_project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(PYPROJECT)
    (proj / "app.py").write_text(APP_PY)
    return proj


@pytest.fixture
def editor_env(tmp_path: Path) -> dict[str, str]:
    """Environment for an editor subprocess: isolated HOME/XDG dirs, venv first on PATH."""
    env = server_env()
    env["PATH"] = search_path()
    home = tmp_path / "home"
    home.mkdir()
    env["HOME"] = str(home)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        d = tmp_path / "xdg" / var.lower()
        d.mkdir(parents=True)
        env[var] = str(d)
    env.pop("NVIM", None)
    env.pop("NVIM_LISTEN_ADDRESS", None)
    env.pop("VIMINIT", None)
    env.pop("EMACSLOADPATH", None)
    return env


@pytest.fixture(scope="session")
def server_available() -> Callable[[], None]:
    """Checks once that `python -m dbos_lsp` imports; a clear failure beats an editor timeout."""
    state: dict[str, str | None] = {}

    def check() -> None:
        if "err" not in state:
            try:
                r = subprocess.run(
                    server_cmd() + ["--version"],
                    check=False,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    env=server_env(),
                    cwd=str(Path(__file__).resolve().parent),
                )
                state["err"] = None if r.returncode == 0 else (r.stdout + r.stderr).strip()[-2000:]
            except (OSError, subprocess.TimeoutExpired) as exc:
                state["err"] = str(exc)
        if state["err"]:
            pytest.fail(
                f"`{' '.join(server_cmd())} --version` failed (install the server with "
                f"`pip install -e .`):\n{state['err']}",
                pytrace=False,
            )

    return check
