"""Fix-all over ``codeAction/resolve``: clients that resolve edits get fix-all without its
edit (it re-analyses the whole file) and ask for it when the user picks it; clients that
do not (Emacs' eglot 1.9) get the edit at once."""

from __future__ import annotations

import pytest
import pytest_lsp
from conftest import CONFIG, Session
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from test_session import MIXED, SLEEPY

RESOLVING = "visual-studio-code"
EAGER = "visual-studio-code-without-resolve"
WHOLE = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


def capabilities(name: str) -> types.ClientCapabilities:
    if name == EAGER:
        caps = client_capabilities(RESOLVING)
        caps.text_document.code_action.resolve_support = None
        return caps
    return client_capabilities(name)


@pytest_lsp.fixture(params=[RESOLVING, EAGER], config=CONFIG)
async def client(request, lsp_client: LanguageClient):
    result = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=capabilities(request.param), initialization_options={"settings": {}})
    )
    lsp_client.session = Session(lsp_client, request.param, result)
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def session(client: LanguageClient) -> Session:
    return client.session  # pytest-lsp fixtures always yield the client itself


def fix_all_of(actions: list[types.CodeAction]) -> types.CodeAction:
    (action,) = [a for a in actions if a.kind == "source.fixAll.dbos"]
    return action


async def test_fix_all_edit_comes_with_the_action_or_on_resolve(session: Session):
    uri = session.open("mixed.py", MIXED)
    await session.diagnostics(uri)
    action = fix_all_of(await session.code_actions(uri, WHOLE, only=["source.fixAll"]))
    if session.name == RESOLVING:
        assert action.edit is None and action.data is not None
        action = await session.client.code_action_resolve_async(action)
    assert action.edit is not None
    fixed = session.apply(uri, action)
    assert "await DBOS.sleep_async(30)" in fixed and "to_thread" not in fixed


async def test_fix_all_next_to_a_quick_fix_resolves_too(session: Session):
    uri = session.open("sleepy.py", SLEEPY)
    (d,) = await session.diagnostics(uri)
    actions = await session.code_actions(uri, d.range, only=["quickfix"], diagnostics=[d])
    (action,) = [a for a in actions if a.title == "Fix all safe DBOS problems"]
    assert action.kind == "quickfix" and not action.is_preferred
    assert (action.edit is None) == (session.name == RESOLVING)
    fixed = session.apply(uri, await session.resolve(action))
    assert "    await DBOS.sleep_async(30)\n" in fixed


async def test_resolving_after_an_edit_gives_no_edit(session: Session):
    if session.name != RESOLVING:
        pytest.skip("only resolving clients get a deferred edit")
    uri = session.open("mixed.py", MIXED)
    await session.diagnostics(uri)
    action = fix_all_of(await session.code_actions(uri, WHOLE, only=["source.fixAll"]))
    session.change(uri, "# a line above shifts every fix\n" + MIXED)
    await session.diagnostics(uri)
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is None  # edits for the old text would corrupt the new one
    fresh = fix_all_of(await session.code_actions(uri, WHOLE, only=["source.fixAll"]))
    assert session.apply(uri, await session.resolve(fresh)).startswith("# a line above")
