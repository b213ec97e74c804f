"""The server object without a client: what it shows and logs (dialogs at most once per cause)."""

from __future__ import annotations

from lsprotocol import types

from dbos_lsp.lsp.server import DbosLanguageServer


class Recorder(DbosLanguageServer):
    def __init__(self) -> None:
        super().__init__()
        self.logged: list[tuple[types.MessageType, str]] = []
        self.shown: list[types.ShowMessageParams] = []

    def log(self, message, kind=types.MessageType.Log):
        self.logged.append((kind, message))

    def window_show_message(self, params):
        self.shown.append(params)


def test_internal_errors_show_one_message_per_error_type():
    ls = Recorder()
    for _ in range(3):
        ls.report_server_error(ValueError("boom"), Exception)
    ls.report_server_error(KeyError("k"), Exception)
    assert len(ls.shown) == 2 and len(ls.logged) == 4
    assert "Traceback" in ls.logged[0][1] or "ValueError" in ls.logged[0][1]


def test_failed_requests_are_answered_not_shown():
    from pygls.exceptions import FeatureRequestError

    ls = Recorder()
    ls.report_server_error(ValueError("boom"), FeatureRequestError)
    assert ls.shown == [] and len(ls.logged) == 1


def test_invalid_settings_warn_once_until_they_change():
    ls = Recorder()
    errors = ls.session.apply_settings({"severity": "x"})
    assert errors and ls.session.settings.severity == {}
    ls.report_settings_errors(errors)
    ls.report_settings_errors(errors)
    assert len(ls.shown) == 1 and ls.shown[0].type == types.MessageType.Warning
    ls.report_settings_errors(ls.session.apply_settings({"settings": 5}))
    assert len(ls.shown) == 2


def test_notifications_leave_no_futures_behind():
    # pygls files each generator or threaded notification handler's future under a fresh id
    # and never removes it: a server that lives for a day of typing would keep every one.
    import asyncio

    from dbos_lsp.lsp.server import create_server

    ls = create_server()
    protocol = ls.protocol
    protocol.set_writer(_NullWriter())
    uri = "untitled:leak.py"

    def notify(method: str, params: dict, **msg_id: int) -> None:
        message = protocol.structure_message({"jsonrpc": "2.0", "method": method, "params": params, **msg_id})
        protocol.handle_message(message)

    async def session() -> None:
        notify("initialize", {"capabilities": {}, "processId": None, "rootUri": None}, id=1)
        doc = {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}
        notify("textDocument/didOpen", {"textDocument": doc})
        for version in range(2, 50):
            change = {"text": f"x = {version}\n"}
            notify(
                "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
            )
        notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        for _ in range(20):  # let handlers that run on the loop finish
            await asyncio.sleep(0)

    asyncio.run(session())
    assert ls.workspace.text_documents == {}  # the notifications were handled
    assert protocol._request_futures == {}


class _NullWriter:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass
