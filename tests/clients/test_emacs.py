"""Real Emacs (batch) with eglot against dbos-lsp, through clients/emacs/dbos-lsp.el.

Install Emacs with scripts/install-editors.sh (Debian: emacs-nox elpa-eglot elpa-lsp-mode).
The Elisp drivers (emacs_driver.el for eglot, emacs_lsp_mode_driver.el for lsp-mode)
record what the editor saw as JSON; this side asserts.
"""

from __future__ import annotations

import json
import subprocess
import time

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

DRIVER = HERE / "emacs_driver.el"
EMACS_CLIENT_DIR = CLIENTS / "emacs"
# The command clients/emacs/README.md tells users to run for a quick fix, and the title of
# the DBOS101 fix they pick from its menu: typed into the driver's minibuffer (stdin).
QUICKFIX_COMMAND = "eglot-code-actions"
QUICKFIX_TITLE = "Use `await DBOS.sleep_async(...)` (DBOS101)"


@pytest.fixture(scope="module")
def emacs() -> str:
    emacs = which("emacs")
    if emacs is None:
        missing_editor(f"emacs not installed: {INSTALL_HINT}")
    probe = subprocess.run(
        [
            emacs,
            "--batch",
            "--eval",
            '(progn (require \'package) (package-initialize) (princ (if (require \'eglot nil t) "ok" "no")))',
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.stdout.strip() != "ok":
        missing_editor(f"emacs has no eglot (elpa-eglot): {INSTALL_HINT}\n{probe.stderr[-1000:]}")
    return emacs


def _run_eglot(emacs, project, editor_env, tmp_path, **extra_env):
    result_file = tmp_path / "emacs-result.json"
    env = (
        editor_env
        | {
            "DBOS_EMACS_CLIENT_DIR": str(EMACS_CLIENT_DIR),
            "DBOS_LSP_CMD_JSON": json.dumps(server_cmd()),
            "DBOS_EMACS_RESULT": str(result_file),
        }
        | extra_env
    )
    t0 = time.monotonic()
    proc = run_editor(
        [emacs, "--batch", "-l", str(DRIVER), str(project / "app.py")],
        cwd=project,
        env=env,
        input=f"{QUICKFIX_COMMAND}\n{QUICKFIX_TITLE}\n",
    )
    elapsed = time.monotonic() - t0
    context = (
        f"emacs exited {proc.returncode} after {elapsed:.1f}s\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    assert result_file.exists(), "the Emacs driver wrote no result file\n" + context
    r = json.loads(result_file.read_text())
    print(f"emacs eglot run: {elapsed:.2f}s, steps: {r.get('steps')}")
    return r, proc, json.dumps(r, indent=1)[:6000] + "\n" + context


def test_emacs_eglot_end_to_end(emacs, dbos_project, editor_env, tmp_path, server_available):
    server_available()
    r, proc, dump = _run_eglot(emacs, dbos_project, editor_env, tmp_path)
    assert "error" not in r, "Elisp error in the driver:\n" + dump
    assert proc.returncode == 0, dump

    # dbos-lsp-eglot-setup registered the server first for python-mode.
    assert r["registered"] and r["registered_first"], dump

    # 1. eglot connects to the server started with the configured command.
    assert r["connected"], "eglot did not connect\n" + dump
    assert r["server_command"] == server_cmd(), dump
    assert r["project_root"].rstrip("/") == str(dbos_project.resolve()).rstrip("/"), dump

    # 2. flymake shows DBOS101 on the DBOS.sleep(30) line.
    assert r["diagnostic_found"], "flymake shows no DBOS101 diagnostic\n" + dump
    hits = [d for d in r["diagnostics"] if d["code"] == "DBOS101"]
    assert [d["line"] for d in hits] == [SLEEP_LINE], dump
    assert hits[0]["source"] == "dbos", dump
    assert hits[0]["text"].endswith("`DBOS.sleep()` raises RuntimeError in a running event loop"), dump

    # 3. hover on `sleep` in DBOS.sleep: the LSP answer and eglot's eldoc text.
    assert r["hover_line"] == SLEEP_LINE, dump
    assert "sleep_async" in (r.get("hover_raw") or ""), dump
    assert "sleep_async" in (r.get("hover_eldoc") or ""), dump

    # 4. `M-x eglot-code-actions' at the cursor, with the fix picked from its menu
    #    (the documented command; the menu's default is the preferred fix) ...
    titles = [a["title"] for a in r.get("code_actions", [])]
    assert QUICKFIX_TITLE in titles, dump
    assert [a["title"] for a in r["code_actions"] if a["isPreferred"]] == [QUICKFIX_TITLE], dump
    assert r.get("command_run") == QUICKFIX_COMMAND, dump
    assert f"Pick an action (default {QUICKFIX_TITLE})" in proc.stdout + proc.stderr, dump
    # ... rewrites the line ...
    assert r.get("line_before") == "    DBOS.sleep(30)", dump
    assert r.get("line_after") == FIXED_LINE, dump
    # ... and the diagnostic goes away.
    assert r.get("diagnostic_cleared"), "DBOS101 still shown after the fix\n" + dump

    # The file on disk is untouched (the fix only edits the buffer).
    assert (dbos_project / "app.py").read_text().splitlines()[SLEEP_LINE - 1] == "    DBOS.sleep(30)"


def test_emacs_eglot_workspace_configuration(emacs, dbos_project, editor_env, tmp_path, server_available):
    """eglot-workspace-configuration's :dbos section reaches the server (README example shape)."""
    server_available()
    r, proc, dump = _run_eglot(
        emacs,
        dbos_project,
        editor_env,
        tmp_path,
        DBOS_EMACS_WORKSPACE_CONFIG='(:dbos (:severity (:DBOS101 "information")))',
        DBOS_EMACS_EXPECT_TYPE="eglot-note",
    )
    assert "error" not in r and proc.returncode == 0, dump
    assert r["connected"] and r["diagnostic_found"], dump
    assert r["type_matched"], "DBOS101 is not shown as a note (Information) after the setting\n" + dump


def _require_lsp_mode(emacs: str, env: dict) -> None:
    probe = subprocess.run(
        [
            emacs,
            "--batch",
            "--eval",
            '(progn (require \'package) (package-initialize) (princ (if (locate-library "lsp-mode") "ok" "no")))',
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    if probe.stdout.strip() != "ok":
        missing_editor(f"emacs has no lsp-mode (elpa-lsp-mode): {INSTALL_HINT}")


def test_emacs_lsp_mode_registration(emacs, editor_env, tmp_path):
    """dbos-lsp.el registers an lsp-mode client that is an add-on python server (default command)."""
    _require_lsp_mode(emacs, editor_env)
    elisp = r"""
(progn
  (require 'package) (package-initialize)
  (add-to-list 'load-path (getenv "DBOS_EMACS_CLIENT_DIR"))
  (require 'dbos-lsp)
  (require 'lsp-mode)
  (let ((c (gethash 'dbos-lsp lsp-clients)))
    (princ (json-encode
            (list (cons "registered" (if c t :json-false))
                  (cons "add_on" (if (and c (lsp--client-add-on? c)) t :json-false))
                  (cons "major_modes" (and c (vconcat (mapcar #'symbol-name (lsp--client-major-modes c)))))
                  (cons "activates_for_python"
                        (if (and c (with-temp-buffer
                                     (setq buffer-file-name "/tmp/x/app.py")
                                     (python-mode)
                                     (funcall (lsp--client-activation-fn c) buffer-file-name major-mode)))
                            t :json-false))
                  (cons "command" (vconcat (dbos-lsp--command)))
                  )))))
"""
    env = editor_env | {"DBOS_EMACS_CLIENT_DIR": str(EMACS_CLIENT_DIR)}
    proc = run_editor([emacs, "--batch", "--eval", elisp], env=env)
    context = f"rc={proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, context
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["registered"], context
    assert r["add_on"], context
    assert "python-mode" in r["major_modes"], context
    assert r["activates_for_python"], context
    assert r["command"] == ["dbos-lsp"], context


def test_emacs_lsp_mode_add_on_end_to_end(emacs, dbos_project, editor_env, tmp_path, server_available):
    """lsp-mode starts dbos-lsp as an add-on beside a main Python server; diagnostics and hover work."""
    _require_lsp_mode(emacs, editor_env)
    server_available()
    result_file = tmp_path / "emacs-lsp-mode-result.json"
    env = editor_env | {
        "DBOS_EMACS_CLIENT_DIR": str(EMACS_CLIENT_DIR),
        "DBOS_LSP_CMD_JSON": json.dumps(server_cmd()),
        "DBOS_EMACS_RESULT": str(result_file),
    }
    t0 = time.monotonic()
    proc = run_editor(
        [emacs, "--batch", "-l", str(HERE / "emacs_lsp_mode_driver.el"), str(dbos_project / "app.py")],
        cwd=dbos_project,
        env=env,
    )
    elapsed = time.monotonic() - t0
    context = (
        f"emacs exited {proc.returncode} after {elapsed:.1f}s\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    assert result_file.exists(), "the lsp-mode driver wrote no result file\n" + context
    r = json.loads(result_file.read_text())
    print(f"emacs lsp-mode run: {elapsed:.2f}s")
    dump = json.dumps(r, indent=1)[:6000] + "\n" + context
    assert "error" not in r, "Elisp error in the driver:\n" + dump
    assert proc.returncode == 0, dump

    assert r["started"], "lsp-mode did not start dbos-lsp\n" + dump
    # Both the main server and dbos-lsp (add-on) serve the buffer.
    assert r["all_initialized"], dump
    servers = {w["server_id"]: w for w in r["workspaces"]}
    assert set(servers) == {"stand-in-main-python", "dbos-lsp"}, dump
    assert servers["dbos-lsp"]["add_on"] is True, dump
    assert servers["dbos-lsp"]["root"].rstrip("/") == str(dbos_project.resolve()).rstrip("/"), dump

    assert r["diagnostic_found"], "lsp-mode received no DBOS101 from dbos-lsp\n" + dump
    hits = [d for d in r["diagnostics"] if d["code"] == "DBOS101"]
    assert [d["line"] for d in hits] == [SLEEP_LINE] and hits[0]["source"] == "dbos", dump
    assert "sleep_async" in (r.get("hover") or ""), dump
