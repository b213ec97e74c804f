"""Shutdown and exit: exit codes, and a server whose client goes away exits promptly.

Raw subprocesses speaking JSON-RPC over pipes (no client library in between), plus one
pytest-lsp session for the regular shutdown path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from rb_support import SERVER_COMMAND, SOURCES, LiveSession, LoopThread, frame, read_message, server_env, spawn_server

EXIT_BOUND = 1.0  # seconds from "client gone" to "server gone"


class RawServer:
    def __init__(self, cwd: Path | None = None) -> None:
        self.proc = spawn_server(cwd)
        self.next_id = 0

    def send(self, method: str, params: Any = None, request: bool = False) -> int | None:
        msg: dict = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        if request:
            self.next_id += 1
            msg["id"] = self.next_id
        self.proc.stdin.write(frame(msg))
        self.proc.stdin.flush()
        return msg.get("id")

    def request(self, method: str, params: Any = None) -> dict:
        msg_id = self.send(method, params, request=True)
        while True:
            msg = read_message(self.proc.stdout)
            if msg.get("id") == msg_id and "method" not in msg:
                return msg
            if "method" in msg and "id" in msg:  # a server->client request: answer null
                self.proc.stdin.write(frame({"jsonrpc": "2.0", "id": msg["id"], "result": None}))
                self.proc.stdin.flush()

    def initialize(self) -> None:
        result = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "capabilities": {},
                "initializationOptions": {"dbos": {"pushDebounceMs": 0}},
            },
        )
        assert "result" in result, result
        self.send("initialized", {})

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def raw():
    servers: list[RawServer] = []

    def make(**kw) -> RawServer:
        s = RawServer(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.kill()


def test_shutdown_then_exit_is_code_0(raw):
    server = raw()
    server.initialize()
    assert server.request("shutdown").get("result", "missing") is None
    server.send("exit")
    assert server.wait(10) == 0


def test_exit_without_shutdown_is_code_1(raw):
    server = raw()
    server.initialize()
    server.send("exit")
    assert server.wait(10) == 1


def test_exit_before_initialize_is_code_1(raw):
    server = raw()
    server.send("exit")
    assert server.wait(10) == 1


def test_stdin_closed_exits_within_a_second(raw):
    server = raw()
    server.initialize()
    server.proc.stdin.close()
    start = time.monotonic()
    code = server.wait(10)
    elapsed = time.monotonic() - start
    assert code is not None and elapsed < EXIT_BOUND, f"exit after {elapsed:.2f} s (code {code})"


def test_stdin_closed_during_a_long_analysis_exits_within_a_second(raw):
    server = raw()
    server.initialize()
    text = "\n\n".join(SOURCES) * 3  # whole-document code actions take the engine many seconds
    uri = "file:///tmp/dbos-lsp-robustness-lifecycle/busy.py"
    server.send(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
    )
    lines = text.split("\n")
    server.send(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": len(lines) - 1, "character": 0}},
            "context": {"diagnostics": []},
        },
        request=True,
    )
    time.sleep(1.0)  # the analysis is running in a worker thread
    server.proc.stdin.close()
    start = time.monotonic()
    code = server.wait(30)
    elapsed = time.monotonic() - start
    assert code is not None and elapsed < EXIT_BOUND, f"exit after {elapsed:.2f} s (code {code})"


def test_shutdown_then_stdin_closed_is_code_0(raw):
    server = raw()
    server.initialize()
    server.request("shutdown")
    server.proc.stdin.close()
    assert server.wait(5) == 0


LAUNCHER = textwrap.dedent(
    """
    import json, os, subprocess, sys
    def frame(obj):
        body = json.dumps(obj).encode()
        return b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body
    r, w = os.pipe()
    server = subprocess.Popen(json.loads(sys.argv[1]), stdin=r, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.close(r)
    # Something else (a crashed editor's leftover helper) keeps the pipe to the server open,
    # so the server never sees EOF on stdin: only the client's death tells it to go.
    keeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=(w,))
    os.write(w, frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"processId": os.getpid(), "rootUri": None, "capabilities": {}}}))
    os.write(w, frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    server.stdout.read(1)  # the server answers: its message loop is running
    print(server.pid, keeper.pid, flush=True)
    sys.stdin.readline()  # wait until told to die
    os._exit(0)
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_client_process_death_without_eof_exits_promptly(tmp_path: Path):
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, json.dumps(SERVER_COMMAND)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=server_env(),
        text=True,
    )
    server_pid, keeper_pid = map(int, launcher.stdout.readline().split())
    try:
        time.sleep(0.5)
        assert _alive(server_pid)
        launcher.stdin.write("die\n")
        launcher.stdin.flush()
        launcher.wait(10)
        start = time.monotonic()
        while _alive(server_pid) and time.monotonic() - start < 10:
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        assert not _alive(server_pid), "the server outlived its client by 10 s"
        assert elapsed < 2 * EXIT_BOUND, f"exit {elapsed:.2f} s after the client died"
    finally:
        for pid in (server_pid, keeper_pid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def test_pytest_lsp_session_shuts_down_cleanly():
    lt = LoopThread()
    try:
        session = lt.run(LiveSession.start("visual-studio-code"))
        process = session.client._server
        lt.run(session.client.shutdown_session())
        assert lt.run(process.wait(), timeout=10) == 0
        lt.run(session.client.stop())
    finally:
        lt.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_no_helper_process_outlives_the_server(tmp_path: Path):
    # With environmentPath set, jedi runs a helper interpreter; the hard exit must not orphan it.
    (tmp_path / "steps.py").write_text("from dbos import DBOS\n\n\n@DBOS.step()\nasync def reserve() -> None: ...\n")
    lt = LoopThread()
    try:
        session = lt.run(
            LiveSession.start("neovim@v0.11", {"dbos": {"environmentPath": sys.executable}}, root=tmp_path)
        )
        text = (
            "from dbos import DBOS\nfrom steps import reserve\n\n\n"
            "@DBOS.workflow()\nasync def wf() -> None:\n    reserve()\n"
        )
        doc = session.open(text, uri=(tmp_path / "main.py").as_uri())
        lt.run(session.diagnostics(doc))
        server_pid = session.client._server.pid
        children = [
            int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(int(p.name)) == server_pid
        ]
        lt.run(session.stop())
        deadline = time.monotonic() + 5
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [c for c in children if _alive(c)], "a helper process outlived the server"
    finally:
        lt.close()


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1
