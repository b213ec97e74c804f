"""Broken initializationOptions: the server keeps working and warns once."""

from __future__ import annotations

import pytest
import pytest_lsp
from conftest import CONFIG, Session
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
