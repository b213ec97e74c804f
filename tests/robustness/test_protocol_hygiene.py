"""JSON-RPC hygiene over raw stdio: every request gets an answer (an error where the LSP says
so), a misbehaving client never causes an error dialog, and the session survives it."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import Any

import pytest
from rb_support import frame, read_message, spawn_server

SLEEPY = "from dbos import DBOS\n\n\n@DBOS.workflow()\nasync def wf() -> None:\n    DBOS.sleep(30)\n"
INVALID_REQUEST, INVALID_PARAMS = -32600, -32602
TIMEOUT = 30.0
# Pull, and refresh (without it the server pushes instead).
PULL = {
    "textDocument": {"diagnostic": {"dynamicRegistration": False}},
    "workspace": {"diagnostics": {"refreshSupport": True}},
}


class RawClient:
    """A client speaking JSON-RPC by hand.  ``answer(msg)`` decides the reply to each
    server->client request: a dict to send, or None to never answer."""

    def __init__(self, cwd: Path, answer=None) -> None:
        self.proc = spawn_server(cwd)
        self.answer = answer or (lambda msg: {"result": None})
        self.inbox: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []  # every message from the server, in order
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                self.inbox.put(read_message(self.proc.stdout))
            except EOFError:
                return

    def _write(self, msg: dict) -> None:
        self.proc.stdin.write(frame({"jsonrpc": "2.0", **msg}))
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any = None) -> None:
        self._write({"method": method, **({"params": params} if params is not None else {})})

    def request(self, method: str, params: Any = None) -> dict:
        """The response (with ``result`` or ``error``) to a request; server requests on the
        way are answered by ``self.answer``."""
        self.next_id += 1
        msg_id = self.next_id
        self._write({"id": msg_id, "method": method, **({"params": params} if params is not None else {})})
        while True:
            msg = self.inbox.get(timeout=TIMEOUT)
            self.seen.append(msg)
            if msg.get("id") == msg_id and "method" not in msg:
                return msg
            if "method" in msg and "id" in msg:
                reply = self.answer(msg)
                if reply is not None:
                    self._write({"id": msg["id"], **reply})

    def dialogs(self) -> list[dict]:
        return [m for m in self.seen if m.get("method") == "window/showMessage"]

    def initialize(self, root: Path, capabilities: dict, options: dict | None = None) -> dict:
        response = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "capabilities": capabilities,
                "initializationOptions": options if options is not None else {"dbos": {"pushDebounceMs": 0}},
            },
        )
        assert "result" in response, response
        self.notify("initialized", {})
        return response

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": text}},
        )

    def pull(self, uri: str) -> dict:
        return self.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def clients():
    started: list[RawClient] = []
    yield started
    for c in started:
        c.close()


def codes(report: dict) -> list[str]:
    return [d["code"] for d in report["result"]["items"]]


def test_requests_after_shutdown_are_invalid_requests(workspace, clients):
    client = RawClient(workspace)
    clients.append(client)
    client.initialize(workspace, PULL)
    assert client.request("shutdown").get("result", "missing") is None
    for method, params in [
        ("textDocument/hover", {"textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0}}),
        ("shutdown", None),
    ]:
        response = client.request(method, params)
        assert response["error"]["code"] == INVALID_REQUEST, response
    client.notify("exit")
    assert client.proc.wait(10) == 0
    assert client.dialogs() == []


def test_a_second_initialize_is_refused_and_the_session_survives(workspace, clients):
    client = RawClient(workspace)
    clients.append(client)
    client.initialize(workspace, PULL)
    uri = (workspace / "a.py").as_uri()
    client.open(uri, SLEEPY)
    again = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert again["error"]["code"] == INVALID_REQUEST, again
    assert codes(client.pull(uri)) == ["DBOS101"]  # the open document is still there
    assert client.dialogs() == []


def test_malformed_params_get_an_error_response_not_a_dialog(workspace, clients):
    client = RawClient(workspace)
    clients.append(client)
    client.initialize(workspace, PULL)
    for _ in range(3):
        bad = client.request("textDocument/hover", {"textDocument": 5, "position": "here"})
        assert bad["error"]["code"] == INVALID_PARAMS, bad
        client.notify("textDocument/didOpen", {"textDocument": {"uri": 7}})
        client.notify("textDocument/didChange", {"contentChanges": "x"})
    uri = (workspace / "a.py").as_uri()
    client.open(uri, SLEEPY)
    assert codes(client.pull(uri)) == ["DBOS101"]
    assert client.dialogs() == []


def _configuration(reply):
    def answer(msg: dict):
        if msg["method"] == "workspace/configuration":
            return reply
        return {"result": None}

    return answer


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param({"result": None}, id="null"),
        pytest.param({"result": 5}, id="not-a-list"),
        pytest.param({"error": {"code": -32603, "message": "no settings here"}}, id="error"),
        pytest.param(None, id="never"),
    ],
)
def test_a_bad_configuration_answer_keeps_the_settings_quietly(workspace, clients, reply):
    client = RawClient(workspace, answer=_configuration(reply))
    clients.append(client)
    capabilities = {**PULL, "workspace": {**PULL["workspace"], "configuration": True, "didChangeConfiguration": {}}}
    client.initialize(workspace, capabilities, {"dbos": {"ignore": ["DBOS101"]}})
    uri = (workspace / "a.py").as_uri()
    client.open(uri, SLEEPY + "\n\n@DBOS.workflow()\nasync def wf2() -> None:\n    DBOS.sleep_async(1)\n")
    # The initialization options still apply (DBOS101 ignored), and a change notification
    # that makes the server ask again is just as harmless.
    assert codes(client.pull(uri)) == ["DBOS104"]
    client.notify("workspace/didChangeConfiguration", {"settings": None})
    assert codes(client.pull(uri)) == ["DBOS104"]
    hover = client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 5, "character": 6}}
    )
    assert "result" in hover
    assert client.dialogs() == []
