"""Broken initializationOptions: the server keeps working and warns once."""

from __future__ import annotations

import pytest
import pytest_lsp
from conftest import CONFIG, Session, until
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_session import CLIENTS, SLEEPY, start

# ----- broken initialization options ------------------------------------------------------

BAD_OPTIONS = [{"settings": 5}, {"severity": "x"}, {"dbos": {"pushDebounceMs": "soon", "select": 3}}]


@pytest_lsp.fixture(params=[(c, i) for c in CLIENTS for i in range(len(BAD_OPTIONS))], config=CONFIG)
async def bad_client(request, lsp_client: LanguageClient):
    name, i = request.param
    lsp_client.session = await start(lsp_client, name, BAD_OPTIONS[i])
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def bad_session(bad_client: LanguageClient) -> Session:
    return bad_client.session


async def test_broken_initialization_options_warn_once(bad_session: Session):
    uri = bad_session.open("sleepy.py", SLEEPY)
    assert [d.code for d in await bad_session.diagnostics(uri)] == ["DBOS101"]
    bad_session.change(uri, SLEEPY + "\n")
    assert len(await bad_session.diagnostics(uri)) == 1
    messages = bad_session.client.messages
    assert len(messages) == 1 and messages[0].type == types.MessageType.Warning
    assert "invalid settings" in messages[0].message
    assert any("settings" in m.message for m in bad_session.client.log_messages)


# ----- settings that are fine, and settings changed at run time ---------------------------

GOOD_OPTIONS = {"dbos": {"extraSkillPaths": ["/nonexistent/skills"], "pushDebounceMs": 0}}


@pytest_lsp.fixture(params=CLIENTS, config=CONFIG)
async def configured_client(request, lsp_client: LanguageClient):
    lsp_client.session = await start(lsp_client, request.param, GOOD_OPTIONS)
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def configured(configured_client: LanguageClient) -> Session:
    return configured_client.session


async def test_skill_folder_warnings_are_logged_not_shown(configured: Session):
    uri = configured.open("sleepy.py", SLEEPY)
    assert len(await configured.diagnostics(uri)) == 1
    logs = [m.message for m in configured.client.log_messages]
    assert any("/nonexistent/skills" in m and "does not exist" in m for m in logs)
    assert configured.client.messages == []


@pytest.mark.parametrize("via", ["notification", "workspace/configuration"])
async def test_did_change_configuration_reanalyses(configured: Session, via: str):
    uri = configured.open("sleepy.py", SLEEPY)
    assert [d.code for d in await configured.diagnostics(uri)] == ["DBOS101"]
    before = len(configured.client.publishes)
    if via == "notification":
        settings = {"dbos": {"ignore": ["DBOS101"]}}
    else:  # VS Code style: a null payload, the server asks for its section
        configured.client.set_configuration({"ignore": ["DBOS101"]}, section="dbos")
        settings = None
    configured.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=settings))
    if configured.pull:  # the next pull already answers with the new settings
        assert list(await configured.diagnostics(uri)) == []
    else:  # a re-publish of the same version

        def mine():
            return [p for p in configured.client.publishes[before:] if p.uri == uri]

        await until(configured.client, lambda: any(not p.diagnostics for p in mine()), what="a clean publish")
        assert mine()[-1].version == configured.versions[uri]
    assert configured.client.messages == []


BROKEN = SLEEPY + "\n\ndef half(:\n    pass\n"


async def test_syntax_errors_are_shown_only_with_show_syntax_errors(configured: Session):
    # Off by default (Pylance and Ruff show them already); on, the editor shows one error
    # at the parser's position beside the findings that survive the repair.
    uri = configured.open("broken.py", BROKEN)
    assert [d.code for d in await configured.diagnostics(uri)] == ["DBOS101"]
    before = len(configured.client.publishes)
    settings = {"dbos": {**GOOD_OPTIONS["dbos"], "showSyntaxErrors": True}}
    configured.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=settings))
    if configured.pull:
        items = list(await configured.diagnostics(uri))
    else:

        def mine():
            return [p for p in configured.client.publishes[before:] if p.uri == uri]

        await until(configured.client, lambda: any(len(p.diagnostics) == 2 for p in mine()), what="a publish")
        items = list(mine()[-1].diagnostics)
    syntax = [d for d in items if d.code is None]
    assert [d.code for d in items if d.code is not None] == ["DBOS101"]
    assert len(syntax) == 1 and syntax[0].message.startswith("SyntaxError: ")
    assert syntax[0].severity == types.DiagnosticSeverity.Error
    assert syntax[0].range.start.line == BROKEN.split("\n").index("def half(:")
    assert configured.client.messages == []
