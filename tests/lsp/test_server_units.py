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
