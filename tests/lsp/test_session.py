"""End-to-end: the server over stdio, driven as VS Code (push, UTF-16) and a pull client with
refresh support and UTF-8 positions (Neovim 0.11's capabilities plus refresh)."""

from __future__ import annotations

import pytest
import pytest_lsp
from conftest import CONFIG, Session
from lsprotocol import types
from pytest_lsp import LanguageClient

from client_profiles import PULL_REFRESH, capabilities

CLIENTS = ["visual-studio-code", PULL_REFRESH]
# One server per client kind for the whole module (each test opens its own documents).
pytestmark = pytest.mark.asyncio(loop_scope="module")

SLEEPY = """from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(30)
"""

CLEAN = """from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    await DBOS.sleep_async(30)


@DBOS.workflow()
def sync_wf() -> None:
    DBOS.sleep(30)
"""

MIXED = """import asyncio

from dbos import DBOS, SQLAlchemyDatasource

ds = SQLAlchemyDatasource.create("postgresql://localhost/app")


@DBOS.step()
async def s1() -> int:
    return 1


@ds.transaction()
def tx(x: int) -> int:
    return x


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(30)
    DBOS.set_event("k", "v")
    await asyncio.gather(s1(), s1())
    tx(1)
"""

UNICODE = """# café 🚀
from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    s = "héllo 🚀"; DBOS.sleep(1)
"""

BROKEN = """from dbos import DBOS


@DBOS.workflow()
async def good() -> None:
    DBOS.sleep(30)


def broken(:
    return (
"""


async def start(client: LanguageClient, name: str, options=None) -> Session:
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(name),
            workspace_folders=[types.WorkspaceFolder(uri=CONFIG_ROOT, name="lsp-tests")],
            initialization_options=options if options is not None else {"settings": {}},
        )
    )
    return Session(client, name, result)


CONFIG_ROOT = (__import__("pathlib").Path(__file__).parent / "_virtual").as_uri()


@pytest_lsp.fixture(params=CLIENTS, config=CONFIG, scope="module")
async def client(request, lsp_client: LanguageClient):
    lsp_client.session = await start(lsp_client, request.param)
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def session(client: LanguageClient) -> Session:
    return client.session  # pytest-lsp fixtures always yield the client itself


def only(diags, code):
    return [d for d in diags if d.code == code]


async def test_negotiation(session: Session):
    if session.name.startswith("neovim"):
        assert session.pull and session.encoding == "utf-8"
    else:
        assert not session.pull and session.encoding == "utf-16"
        assert session.result.capabilities.diagnostic_provider is None  # never advertise what we don't serve
    kinds = session.result.capabilities.code_action_provider.code_action_kinds
    assert "quickfix" in kinds and "source.fixAll.dbos" in kinds


async def test_dbos101_reported_on_the_sleep_line(session: Session):
    uri = session.open("sleepy.py", SLEEPY)
    diags = await session.diagnostics(uri)
    assert [d.code for d in diags] == ["DBOS101"]
    d = diags[0]
    assert (d.range.start.line, d.range.start.character, d.range.end.character) == (5, 4, 14)
    assert d.source == "dbos" and d.severity == types.DiagnosticSeverity.Error
    assert d.data == {"name": "async-sync-dbos-call"}
    assert d.code_description.href.endswith("advanced-async.md#dbos101-async-sync-dbos-call")


async def test_hover_on_sleep_mentions_sleep_async(session: Session):
    uri = session.open("sleepy.py", SLEEPY)
    for column in (5, 11):  # on "DBOS" and on "sleep"
        hover = await session.hover(uri, 5, column)
        assert hover is not None and hover.contents.kind == types.MarkupKind.Markdown
        assert "sleep_async" in hover.contents.value
    # A decorator with no finding: the signature and the version assumed.
    hover = await session.hover(uri, 3, 7)
    assert "DBOS.workflow(" in hover.contents.value and "DBOS version assumed" in hover.contents.value


async def test_quick_fix_then_change_clears_the_finding(session: Session):
    uri = session.open("sleepy.py", SLEEPY)
    diags = await session.diagnostics(uri)
    actions = await session.code_actions(uri, diags[0].range, only=["quickfix"], diagnostics=diags)
    preferred = [a for a in actions if a.is_preferred]
    assert len(preferred) == 1 and preferred[0].diagnostics[0].code == "DBOS101"
    fixed = session.apply(uri, preferred[0])
    assert "    await DBOS.sleep_async(30)\n" in fixed
    session.change(uri, fixed)
    assert await session.diagnostics(uri) == []


async def test_fix_all_applies_only_safe_fixes(session: Session):
    uri = session.open("mixed.py", MIXED)
    before = await session.diagnostics(uri)
    assert {"DBOS101", "DBOS108", "DBOS109"} <= {d.code for d in before}
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
    actions = await session.code_actions(uri, whole, only=["source.fixAll"])
    assert [a.kind for a in actions] == ["source.fixAll.dbos"]
    fixed = session.apply(uri, await session.resolve(actions[0]))
    assert "await DBOS.sleep_async(30)" in fixed and "return_exceptions" not in fixed and "to_thread" not in fixed
    session.change(uri, fixed)
    after = {d.code for d in await session.diagnostics(uri)}
    assert "DBOS101" not in after and {"DBOS108", "DBOS109"} <= after
    # The unsafe ones are still offered one by one, not preferred, with a warning in the title.
    d108 = only(await session.diagnostics(uri), "DBOS108")[0]
    quick = await session.code_actions(uri, d108.range, only=["quickfix"])
    fix108 = [a for a in quick if "DBOS108" in a.title and "Disable" not in a.title][0]
    assert not fix108.is_preferred and "may change behaviour" in fix108.title


async def test_disable_for_this_line(session: Session):
    uri = session.open("sleepy.py", SLEEPY)
    diags = await session.diagnostics(uri)
    actions = await session.code_actions(uri, diags[0].range)
    disable = [a for a in actions if a.title == "Disable DBOS101 for this line"]
    assert len(disable) == 1
    fixed = session.apply(uri, disable[0])
    assert "    DBOS.sleep(30)  # noqa: DBOS101\n" in fixed
    session.change(uri, fixed)
    assert await session.diagnostics(uri) == []


async def test_non_ascii_columns_in_client_units(session: Session):
    uri = session.open("unicode.py", UNICODE)
    (d,) = await session.diagnostics(uri)
    assert d.range.start.line == 6
    # Code points 19..29; UTF-16 counts the rocket twice; UTF-8 counts é as 2 and the rocket as 4.
    expected = {"utf-16": (20, 30), "utf-8": (23, 33)}[session.encoding]
    assert (d.range.start.character, d.range.end.character) == expected
    # Hover and code actions take client units back the same way.
    hover = await session.hover(uri, 6, 25)
    assert hover is not None and hover.range.start.character == expected[0]
    actions = await session.code_actions(uri, d.range, only=["quickfix"])
    fixed = session.apply(uri, [a for a in actions if a.is_preferred][0])
    assert '    s = "héllo 🚀"; await DBOS.sleep_async(1)\n' in fixed


async def test_correct_code_has_no_diagnostics(session: Session):
    uri = session.open("clean.py", CLEAN)
    assert await session.diagnostics(uri) == []


async def test_did_close_clears_pushed_diagnostics(session: Session):
    if session.pull:
        pytest.skip("pull clients drop diagnostics of closed documents themselves")
    uri = session.open("sleepy.py", SLEEPY)
    assert len(await session.diagnostics(uri)) == 1
    session.close(uri)
    cleared = await session.wait_publish(uri, None)
    assert list(cleared.diagnostics) == []


async def test_syntax_error_keeps_findings_in_intact_functions(session: Session):
    uri = session.open("broken.py", BROKEN)
    diags = await session.diagnostics(uri)
    assert [(d.code, d.range.start.line) for d in diags] == [("DBOS101", 5)]
    hover = await session.hover(uri, 8, 4)
    assert hover is None
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=10, character=0))
    actions = await session.code_actions(uri, whole)
    assert any(a.title.startswith("Use `await DBOS.sleep_async") for a in actions)
    assert not any(a.kind == "source.fixAll.dbos" for a in actions)  # no fix-all on a broken file
    assert session.client.messages == []


async def test_hover_on_noqa_code_gives_the_rule_doc(session: Session):
    text = SLEEPY.replace("DBOS.sleep(30)", "DBOS.sleep(30)  # noqa: DBOS101")
    uri = session.open("noqa.py", text)
    assert await session.diagnostics(uri) == []
    hover = await session.hover(uri, 5, text.splitlines()[5].index("DBOS101") + 3)
    value = hover.contents.value
    assert value.startswith("### DBOS101 async-sync-dbos-call")
    assert "Correct" in value and "sleep_async" in value and "**Fix:** safe" in value


async def test_requests_for_unknown_documents_are_empty(session: Session):
    uri = CONFIG_ROOT + "/never_opened.py"
    pos = types.Position(line=0, character=0)
    hover = await session.client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=pos)
    )
    assert hover is None
    actions = await session.code_actions(uri, types.Range(start=pos, end=pos))
    assert list(actions) == []
    if session.pull:
        report = await session.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        assert list(report.items) == []


async def test_pull_result_ids(session: Session):
    if not session.pull:
        pytest.skip("push client")
    uri = session.open("sleepy.py", SLEEPY)
    params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    first = await session.client.text_document_diagnostic_async(params)
    assert first.kind == "full" and first.result_id.startswith(f"{uri}@1#")
    params.previous_result_id = first.result_id
    again = await session.client.text_document_diagnostic_async(params)
    assert again.kind == "unchanged" and again.result_id == first.result_id
    session.change(uri, CLEAN)
    third = await session.client.text_document_diagnostic_async(params)
    assert third.kind == "full" and list(third.items) == [] and third.result_id.startswith(f"{uri}@2#")


async def test_reopening_at_the_same_version_with_other_text_is_a_full_report(session: Session):
    # Versions restart when a document is reopened: the result id must follow the text.
    if not session.pull:
        pytest.skip("push client")
    uri = session.open("reopened.py", CLEAN)
    params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    first = await session.client.text_document_diagnostic_async(params)
    assert first.kind == "full" and list(first.items) == []
    session.close(uri)
    session.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=SLEEPY)
        )
    )
    params.previous_result_id = first.result_id
    second = await session.client.text_document_diagnostic_async(params)
    assert second.kind == "full" and [d.code for d in second.items] == ["DBOS101"]
    assert second.result_id != first.result_id


async def test_push_is_debounced_to_the_last_version(session: Session):
    if session.pull:
        pytest.skip("pull client")
    uri = session.open("sleepy.py", SLEEPY)
    await session.diagnostics(uri)
    count = len(session.client.publishes)
    for i in range(5):  # typing fast: one publish for the last version only
        session.change(uri, SLEEPY + f"# {i}\n")
    last = await session.wait_publish(uri, session.versions[uri])
    # Publishes go out in order: none for the versions typed over came before the last one.
    versions = [p.version for p in session.client.publishes[count:] if p.uri == uri]
    assert versions == [session.versions[uri]] and len(last.diagnostics) == 1
