"""Real VS Code (code-server, e.g. 4.100.3 = VS Code 1.100.3 on Node 20) driven headless by
Playwright + chromium.

Builds the extension with scripts/build-vsix.sh, installs the .vsix into a throwaway
code-server profile, opens a temp project with app.py and checks, through the UI a person
uses (tests/clients/vscode_e2e.mjs): the DBOS101 squiggle and Problems entry, the hover on
DBOS.sleep, the Ctrl+. quick fix, "DBOS: Restart Server", the useBundled mode with no
dbos-lsp on PATH, the automatic fallback to the bundled server when nothing is installed, and
the error notification for a wrong dbos.path.

Tools: `bash scripts/install-vscode-test-deps.sh` (code-server, playwright-core, chromium,
the extension's npm deps). Missing tools skip the tests, or fail them when CI is set.
Env: DBOS_VSIX=<file> uses that .vsix instead of building; DBOS_VSCODE_SCREENSHOTS=<dir>
(e.g. docs/images) keeps the screenshots there; DBOS_VSCODE_TRACE=1 logs the LSP traffic
into the DBOS channel (shown on failure); DBOS_CODE_SERVER / DBOS_VSCODE_CACHE point at the tools.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from editor_support import APP_PY, FIXED_LINE, PYPROJECT, REPO, SLEEP_LINE, missing_editor, search_path, server_env

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "vscode_e2e.mjs"
INSTALL_HINT = "run `bash scripts/install-vscode-test-deps.sh`"
CACHE = Path(
    os.environ.get("DBOS_VSCODE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dbos-lsp"
)
CODE_SERVER = Path(os.environ.get("DBOS_CODE_SERVER") or CACHE / "code-server/node_modules/.bin/code-server")
PLAYWRIGHT_DIR = CACHE / "playwright"
CHROMIUM = Path("/usr/bin/chromium")
EXT_ID = "dbos-lsp.dbos-lsp"

BUILD_TIMEOUT_S = 300
INSTALL_TIMEOUT_S = 120
READY_TIMEOUT_S = 60
SCENARIO_TIMEOUT_S = 150  # the driver's own deadline is 30 s shorter


def _tools() -> dict[str, str]:
    node = shutil.which("node")
    problems = []
    if node is None:
        problems.append("node not on PATH")
    if not CODE_SERVER.is_file():
        problems.append(f"code-server not found at {CODE_SERVER}")
    if not (PLAYWRIGHT_DIR / "node_modules/playwright-core/package.json").is_file():
        problems.append(f"playwright-core not installed in {PLAYWRIGHT_DIR}")
    if not CHROMIUM.is_file():
        problems.append(f"{CHROMIUM} missing")
    if problems:
        missing_editor("VS Code e2e tools missing (" + "; ".join(problems) + f"): {INSTALL_HINT}")
    return {"node": str(node), "code_server": str(CODE_SERVER)}


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    return _tools()


@pytest.fixture(scope="module")
def vsix(tools) -> Path:
    if os.environ.get("DBOS_VSIX"):
        path = Path(os.environ["DBOS_VSIX"])
        assert path.is_file(), f"DBOS_VSIX={path} does not exist"
        return path
    t0 = time.monotonic()
    try:
        r = subprocess.run(
            ["bash", str(REPO / "scripts/build-vsix.sh")],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            env=dict(os.environ, PYTHON=sys.executable),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"scripts/build-vsix.sh did not finish within {BUILD_TIMEOUT_S}s:\n{(exc.stderr or '')[-3000:]}",
            pytrace=False,
        )
    if r.returncode != 0:
        pytest.fail(f"scripts/build-vsix.sh failed (rc={r.returncode}):\n{r.stderr[-4000:]}", pytrace=False)
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.is_file(), f"build-vsix.sh printed {path}, which does not exist"
    print(f"built {path} ({path.stat().st_size / 1e6:.2f} MB) in {time.monotonic() - t0:.1f}s")
    return path


@pytest.fixture(scope="module")
def extensions_dir(tools, vsix, tmp_path_factory) -> Path:
    """A throwaway extensions dir with only our .vsix installed."""
    base = tmp_path_factory.mktemp("vscode-ext")
    ext_dir, udd = base / "extensions", base / "install-profile"
    r = subprocess.run(
        [
            tools["code_server"],
            "--user-data-dir",
            str(udd),
            "--extensions-dir",
            str(ext_dir),
            "--install-extension",
            str(vsix),
            "--force",
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        env=_isolated_env(base, os.environ["PATH"]),
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0 and "successfully installed" in r.stdout, (
        f"--install-extension failed:\n{r.stdout}\n{r.stderr}"
    )
    r = subprocess.run(
        [
            tools["code_server"],
            "--user-data-dir",
            str(udd),
            "--extensions-dir",
            str(ext_dir),
            "--list-extensions",
            "--show-versions",
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        env=_isolated_env(base, os.environ["PATH"]),
    )
    assert EXT_ID in r.stdout, f"{EXT_ID} not listed after install:\n{r.stdout}\n{r.stderr}"
    return ext_dir


def _isolated_env(base: Path, path: str, pythonpath: str | None = None) -> dict[str, str]:
    """Environment for code-server: its own HOME/XDG dirs (keeps ~ clean, no shell rc files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSCODE_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = path
    # The VS Code server would otherwise replace our env with the one of a login shell
    # (`bash -il`, /etc/profile resets PATH); VSCODE_CLI=1 skips that (resolveShellEnv).
    env["VSCODE_CLI"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env["HOME"] = str(base / "home")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(base / "xdg" / var.lower())
    for d in [env["HOME"]] + [env[v] for v in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")]:
        Path(d).mkdir(parents=True, exist_ok=True)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop code-server and everything it started (extension host, language server)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def run_scenario(
    scenario: str,
    *,
    tools,
    extensions_dir: Path,
    base: Path,
    settings: dict,
    path: str,
    pythonpath: str | None = None,
    files: dict[str, str] | None = None,
    trusted: bool = True,
) -> dict:
    """Start code-server on a free loopback port, run one driver scenario, return its JSON
    result.  ``files``: more files of the project, by relative path.  ``trusted=False``:
    workspace trust is on and the folder is not trusted (Restricted Mode, no prompt)."""
    proj, udd = base / "proj", base / "user-data"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(PYPROJECT)
    (proj / "app.py").write_text(APP_PY)
    for rel, text in (files or {}).items():
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        (proj / rel).write_text(text)
    (udd / "User").mkdir(parents=True)
    (udd / "User/settings.json").write_text(
        json.dumps(
            {
                "workbench.startupEditor": "none",
                "security.workspace.trust.enabled": not trusted,
                "security.workspace.trust.startupPrompt": "never",
                "telemetry.telemetryLevel": "off",
                "extensions.autoCheckUpdates": False,
                "extensions.autoUpdate": False,
                "workbench.tips.enabled": False,
                "workbench.enableExperiments": False,
                "update.mode": "none",
                "files.autoSave": "off",
                **({"dbos.trace.server": "verbose"} if os.environ.get("DBOS_VSCODE_TRACE") else {}),
                **settings,
            },
            indent=2,
        )
    )
    port = _free_port()
    (base / "config.yaml").write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    env = _isolated_env(base, path, pythonpath)
    cs_log = (base / "code-server.log").open("w")
    cs = subprocess.Popen(
        [
            tools["code_server"],
            "--config",
            str(base / "config.yaml"),
            "--user-data-dir",
            str(udd),
            "--extensions-dir",
            str(extensions_dir),
            "--disable-telemetry",
            "--disable-update-check",
            *(["--disable-workspace-trust"] if trusted else []),
            "--disable-getting-started-override",
            *(["--log", "trace"] if os.environ.get("DBOS_VSCODE_TRACE") else []),
            str(proj),
        ],
        stdout=cs_log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=str(base),
        start_new_session=True,
    )
    t0 = time.monotonic()
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                if cs.poll() is not None or time.monotonic() - t0 > READY_TIMEOUT_S:
                    pytest.fail(
                        f"code-server did not come up on {url} within {READY_TIMEOUT_S}s "
                        f"(rc={cs.poll()}):\n{(base / 'code-server.log').read_text()[-3000:]}",
                        pytrace=False,
                    )
                time.sleep(0.2)
        shots = (
            Path(os.environ["DBOS_VSCODE_SCREENSHOTS"]).resolve()
            if os.environ.get("DBOS_VSCODE_SCREENSHOTS")
            else base / "screenshots"
        )
        cfg = {
            "url": url,
            "folder": str(proj),
            "file": "app.py",
            "scenario": scenario,
            "logsDir": str(udd / "logs"),
            "settingsFile": str(udd / "User/settings.json"),
            "shotsDir": str(shots),
            "playwrightDir": str(PLAYWRIGHT_DIR),
            "chromium": str(CHROMIUM),
            "timeoutMs": (SCENARIO_TIMEOUT_S - 30) * 1000,
        }
        (base / "driver.json").write_text(json.dumps(cfg))
        try:
            r = subprocess.run(
                [tools["node"], str(DRIVER), str(base / "driver.json")],
                capture_output=True,
                text=True,
                timeout=SCENARIO_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                env=_isolated_env(base / "driver", os.environ["PATH"]),
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"driver hung for {SCENARIO_TIMEOUT_S}s in scenario {scenario}:\n{(exc.stderr or '')[-3000:]}",
                pytrace=False,
            )
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            pytest.fail(
                f"driver printed no result (rc={r.returncode}):\nstdout:\n{r.stdout[-3000:]}\n"
                f"stderr:\n{r.stderr[-3000:]}",
                pytrace=False,
            )
        result = json.loads(lines[-1])
        result["driver_stderr"] = r.stderr
        result["project"] = proj
        result["screenshots"] = shots
        result["wall_s"] = time.monotonic() - t0
        print(f"[{scenario}] {result['wall_s']:.1f}s")
        print(r.stderr)
        return result
    finally:
        _kill_group(cs)
        cs_log.close()


def assert_checks(result: dict, *names: str) -> None:
    by_name = {c["name"]: c for c in result["checks"]}
    failed = [c for c in result["checks"] if not c["pass"]]
    missing = [n for n in names if n not in by_name]
    if failed or missing:
        lines = [f"FAIL {c['name']}: {json.dumps(c['detail'])[:1500]}" for c in failed]
        lines += [f"NOT RUN {n}" for n in missing]
        pytest.fail(
            "\n".join(lines) + f"\n--- DBOS output channel ---\n{result['log'][-4000:]}"
            f"\n(screenshots in {result['screenshots']})",
            pytrace=False,
        )


def test_vscode_diagnostic_hover_quickfix_restart(tools, extensions_dir, tmp_path, server_available):
    """fromEnvironment: dbos-lsp from PATH (this interpreter's scripts dir), full UI round trip."""
    server_available()
    path = search_path()
    assert shutil.which("dbos-lsp", path=path), f"dbos-lsp not on PATH ({path}): pip install -e ."
    result = run_scenario(
        "full",
        tools=tools,
        extensions_dir=extensions_dir,
        base=tmp_path,
        settings={},
        path=path,
        pythonpath=server_env().get("PYTHONPATH"),
    )
    assert_checks(
        result,
        "diagnostic: Problems panel shows DBOS101",
        "squiggle under DBOS.sleep(30) in the editor",
        "Problems row has source dbos and line 6",
        "hover on DBOS.sleep mentions sleep_async",
        "DBOS: Restart Server -> log shows a second start",
        "after restart: Problems panel shows DBOS101",
        "Ctrl+. offers the sleep_async quick fix",
        'quick fix rewrites line 6 to "await DBOS.sleep_async(30)"',
        "DBOS101 disappears after the fix",
        "log channel has the server command line",
    )
    saved = (result["project"] / "app.py").read_text().splitlines()
    assert saved[SLEEP_LINE - 1] == FIXED_LINE, saved
    assert result["log"].count("Starting DBOS language server (start #") >= 2, result["log"]
    assert "dbos-lsp on PATH" in result["log"], result["log"]


def _path_without_dbos_lsp() -> str:
    """System PATH minus every dir with a dbos-lsp (or a python3 that can import dbos_lsp).
    The dir of the node on PATH goes first: code-server runs on the node it finds there, and
    each code-server release needs the node major it was installed for."""
    dirs = []
    for d in [
        str(Path(shutil.which("node") or "/usr/bin/node").parent),
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]:
        if d not in dirs and not (Path(d) / "dbos-lsp").exists():
            dirs.append(d)
    return os.pathsep.join(dirs)


def test_vscode_use_bundled_without_server_on_path(tools, extensions_dir, tmp_path):
    """useBundled: the .vsix's own server + libs run by a plain python3, no dbos-lsp anywhere.
    Also checks that a dbos.* setting (severity) reaches the server, at start and when changed."""
    path = _path_without_dbos_lsp()
    assert shutil.which("dbos-lsp", path=path) is None
    python3 = shutil.which("python3", path=path)
    if python3 is None:
        missing_editor(f"no python3 on {path} for the useBundled test")
    probe = subprocess.run(
        [python3, "-c", "import dbos_lsp"], capture_output=True, timeout=30, env={"PATH": path, "HOME": str(tmp_path)}
    )
    assert probe.returncode != 0, f"{python3} can import dbos_lsp by itself; the useBundled test would prove nothing"
    result = run_scenario(
        "bundled",
        tools=tools,
        extensions_dir=extensions_dir,
        base=tmp_path,
        settings={"dbos.importStrategy": "useBundled", "dbos.severity": {"DBOS101": "information"}},
        path=path,
    )
    assert_checks(
        result,
        "useBundled: Problems panel shows DBOS101",
        "useBundled: dbos.severity setting applied (info squiggle)",
        "useBundled: changed dbos.severity applied live (error squiggle)",
        "useBundled: settings.json saved as valid JSON",
        "useBundled: hover on DBOS.sleep mentions sleep_async",
        "useBundled: server launched from bundled/tool/lsp_server.py",
    )
    assert f"{python3} " in result["log"], result["log"]


def test_vscode_falls_back_to_bundled_server(tools, extensions_dir, tmp_path):
    """fromEnvironment (the default) with no dbos-lsp anywhere and no dbos.* setting: the
    extension starts the server bundled in the .vsix by itself, says so once in the log, and
    the DBOS101 squiggle appears."""
    path = _path_without_dbos_lsp()
    assert shutil.which("dbos-lsp", path=path) is None
    python3 = shutil.which("python3", path=path)
    if python3 is None:
        missing_editor(f"no python3 on {path} for the fallback test")
    probe = subprocess.run(
        [python3, "-c", "import dbos_lsp"], capture_output=True, timeout=30, env={"PATH": path, "HOME": str(tmp_path)}
    )
    assert probe.returncode != 0, f"{python3} can import dbos_lsp by itself; the fallback test would prove nothing"
    result = run_scenario("fallback", tools=tools, extensions_dir=extensions_dir, base=tmp_path, settings={}, path=path)
    assert_checks(
        result,
        "fallback: Problems panel shows DBOS101",
        "fallback: squiggle under DBOS.sleep(30) in the editor",
        "fallback: one info line says the bundled server is used",
        "fallback: server launched from bundled/tool/lsp_server.py",
        "fallback: no error notification",
    )
    assert f"{python3} " in result["log"], result["log"]


def test_vscode_interpreter_ignores_a_shadowing_package_in_the_workspace(tools, extensions_dir, tmp_path):
    """dbos.interpreter runs `<python> -m dbos_lsp` with the workspace folder as working
    directory; a `dbos_lsp/` package planted in the workspace must not be imported (it
    would run the repository's code instead of the installed server)."""
    marker = tmp_path / "shadow-ran"
    plant = f"open({str(marker)!r}, 'w').write('the workspace package ran')\n"
    result = run_scenario(
        "interpreter",
        tools=tools,
        extensions_dir=extensions_dir,
        base=tmp_path,
        settings={"dbos.interpreter": sys.executable},
        path=search_path(),
        files={"dbos_lsp/__init__.py": plant, "dbos_lsp/__main__.py": plant},
    )
    assert_checks(
        result,
        "interpreter: Problems panel shows DBOS101",
        "interpreter: squiggle under DBOS.sleep(30) in the editor",
        "interpreter: server started as <python> -m dbos_lsp off the working directory",
    )
    assert not marker.exists(), "the dbos_lsp package planted in the workspace was imported"


def test_vscode_restricted_mode_never_starts_what_the_workspace_chose(tools, extensions_dir, tmp_path):
    """An untrusted folder whose .vscode/settings.json points dbos.path and dbos.interpreter at
    a script: in Restricted Mode the extension still gives diagnostics (dbos-lsp on PATH),
    and the script never runs."""
    marker = tmp_path / "workspace-command-ran"
    script = tmp_path / "evil-server"
    script.write_text(f"#!/bin/sh\necho ran > {marker}\n")
    script.chmod(0o755)
    path = search_path()
    assert shutil.which("dbos-lsp", path=path), f"dbos-lsp not on PATH ({path}): pip install -e ."
    workspace_settings = {"dbos.path": str(script), "dbos.interpreter": str(script)}
    result = run_scenario(
        "restricted",
        tools=tools,
        extensions_dir=extensions_dir,
        base=tmp_path,
        settings={},
        path=path,
        files={".vscode/settings.json": json.dumps(workspace_settings)},
        trusted=False,
    )
    assert_checks(
        result,
        "restricted: Problems panel shows DBOS101",
        "restricted: squiggle under DBOS.sleep(30) in the editor",
        "restricted: the extension knows it is in Restricted Mode",
        "restricted: server not started from a workspace setting",
    )
    assert not marker.exists(), "a command chosen by the untrusted workspace ran"


def test_vscode_wrong_server_path_shows_error(tools, extensions_dir, tmp_path):
    """Negative: a nonexistent dbos.path must give a visible error, not a silent failure."""
    result = run_scenario(
        "badpath",
        tools=tools,
        extensions_dir=extensions_dir,
        base=tmp_path,
        settings={"dbos.path": "/nonexistent/dbos-lsp"},
        path=search_path(),
    )
    assert_checks(
        result,
        'bad dbos.path: error notification "could not be started"',
        "bad dbos.path: message names the command",
        "bad dbos.path: exactly one DBOS error notification",
        "bad dbos.path: no DBOS101 diagnostics",
    )
    assert "could not be started" in result["log"] and "/nonexistent/dbos-lsp" in result["log"], result["log"]
