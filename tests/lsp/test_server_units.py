"""The server object without a client: logging policies and settings shapes."""

from __future__ import annotations

from lsprotocol import types

from dbos_lsp.analysis.findings import Analysis
from dbos_lsp.lsp.server import DbosLanguageServer, _settings_section


class Recorder(DbosLanguageServer):
    def __init__(self) -> None:
        super().__init__()
        self.logged: list[tuple[types.MessageType, str]] = []
        self.shown: list[types.ShowMessageParams] = []

    def log(self, message, kind=types.MessageType.Log):
        self.logged.append((kind, message))

    def window_show_message(self, params):
        self.shown.append(params)


def test_rule_errors_are_logged_once_per_rule_and_version():
    ls = Recorder()
    broken = Analysis(rule_errors=[("DBOS101", "KeyError: 'x'"), ("DBOS102", "ValueError")])
    for _ in range(3):
        ls._log_rule_errors("file:///a.py", 1, broken)
    assert len(ls.logged) == 2 and all(k == types.MessageType.Error for k, _ in ls.logged)
    ls._log_rule_errors("file:///a.py", 2, broken)
    assert len(ls.logged) == 4
    assert ls.shown == []  # never a dialog


def test_internal_errors_show_one_message_per_error_type():
    ls = Recorder()
    for _ in range(3):
        ls.report_server_error(ValueError("boom"), Exception)
    ls.report_server_error(KeyError("k"), Exception)
    assert len(ls.shown) == 2 and len(ls.logged) == 4
    assert "Traceback" in ls.logged[0][1] or "ValueError" in ls.logged[0][1]


def test_settings_shapes():
    flat = {"ignore": ["DBOS101"]}
    assert _settings_section(flat) is flat
    assert _settings_section({"settings": flat}) is flat
    assert _settings_section({"dbos": flat}) is flat
    assert _settings_section({"settings": {"dbos": flat}}) is flat
    assert _settings_section({"settings": [{"workspace": "file:///w", **flat}]})["ignore"] == ["DBOS101"]
    assert _settings_section({"settings": 5}) == 5
    assert _settings_section(None) is None


def test_invalid_settings_warn_once_until_they_change():
    ls = Recorder()
    errors = ls.apply_settings({"severity": "x"})
    assert errors and ls.settings.severity == {}
    ls.report_settings_errors(errors)
    ls.report_settings_errors(errors)
    assert len(ls.shown) == 1 and ls.shown[0].type == types.MessageType.Warning
    ls.report_settings_errors(ls.apply_settings({"settings": 5}))
    assert len(ls.shown) == 2
