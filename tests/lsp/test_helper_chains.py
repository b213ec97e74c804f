"""A live session shows effects through helpers in other modules like ``check`` does: the
same findings on the multi-module corpus, with the helper chain as relatedInformation
pointing into the helpers' files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import pytest_lsp
from conftest import CONFIG, until
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_cli_parity import cli_json
from test_workspace import start

from client_profiles import PULL_REFRESH

CORPUS = Path(__file__).resolve().parents[1] / "corpus_multi_module"


@pytest_lsp.fixture(params=["visual-studio-code", PULL_REFRESH], config=CONFIG)
async def shop_client(request, tmp_path: Path, lsp_client: LanguageClient):
    root = tmp_path / "shop_app"
    shutil.copytree(CORPUS, root)
    lsp_client.session = await start(lsp_client, request.param, root)
    lsp_client.root = root
    yield
    await lsp_client.shutdown_session()


async def test_diagnostics_carry_the_helper_chain_across_modules(shop_client: LanguageClient) -> None:
    session, root = shop_client.session, shop_client.root
    report = [f for f in cli_json(root) if f["path"] == "shop/workflows.py"]
    uri = session.open_file(root / "shop" / "workflows.py")
    diagnostics = await session.diagnostics(uri, timeout=30.0)
    got = sorted((d.range.start.line + 1, str(d.code), d.message) for d in diagnostics)
    assert got == sorted((f["line"], f["code"], f["message"]) for f in report)
    expiry = next(d for d in diagnostics if d.range.start.line == 11)

    def where(uri: str) -> str:
        return Path(uri.removeprefix("file://")).relative_to(root).as_posix()

    chain = [(where(r.location.uri), r.location.range.start.line, r.message) for r in expiry.related_information or []]
    assert chain == [
        ("shop/pricing.py", 6, "`quote_expiry` calls `now()`"),
        ("shop/util/clock.py", 5, "`time.time()` reads the clock"),
    ]
    clock_read = (expiry.related_information or [])[1].location.range
    assert (clock_read.start.character, clock_read.end.character) == (11, 22)


EXPIRY = ("DBOS201", 12)  # `quote_expiry()` in checkout: the clock read two modules down


def findings(diagnostics: list) -> list[tuple[str, int]]:
    return sorted((str(d.code), d.range.start.line + 1) for d in diagnostics)


def latest_published(session, uri: str, since: int) -> list[tuple[str, int]] | None:
    mine = [p for p in session.client.publishes[since:] if p.uri == uri]
    return findings(mine[-1].diagnostics) if mine else None


async def findings_once(session, uri: str, present: bool, refreshes: int, published: int) -> list[tuple[str, int]]:
    """Pull: after the refresh the change causes, the next pull.  Push: the first publish
    since ``published`` that has (or lacks) the finding, as ``present`` says."""
    if session.pull:
        await until(session.client, lambda: session.client.diagnostic_refresh_count > refreshes, what="a refresh")
        return findings(await session.diagnostics(uri))

    def shows_it() -> bool:
        now = latest_published(session, uri, published)
        return now is not None and (EXPIRY in now) is present

    await until(session.client, shows_it, what=f"workflows.py published with the finding {present=}")
    return latest_published(session, uri, published) or []


async def test_saving_a_helper_module_updates_the_open_workflow_module(shop_client: LanguageClient) -> None:
    """The helper two modules down is edited and saved in the editor; the workflow module,
    open and untouched, loses the finding (a refresh tells a pull client to ask again),
    and gets it back when the edit is undone."""
    session, root = shop_client.session, shop_client.root
    uri = session.open_file(root / "shop" / "workflows.py")
    assert EXPIRY in findings(await session.diagnostics(uri, timeout=30.0))
    clock = root / "shop" / "util" / "clock.py"
    original = clock.read_text()
    clock_uri = session.open_file(clock)
    await session.diagnostics(clock_uri)
    for text, present in ((original.replace("return time.time()", "return 0.0"), False), (original, True)):
        refreshes = session.client.diagnostic_refresh_count
        published = len(session.client.publishes)
        session.change(clock_uri, text)
        clock.write_text(text)
        session.client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=clock_uri))
        )
        got = await findings_once(session, uri, present, refreshes, published)
        assert (EXPIRY in got) is present, got
        assert ("DBOS201", 14) in got  # `clock.today_label()` reads the clock all along


async def test_a_helper_module_changed_on_disk_updates_the_open_workflow_module(
    shop_client: LanguageClient,
) -> None:
    """The helper is not open: a watched-file event (another tool, a branch switch) is
    enough; only clients that register file watchers send one."""
    session, root = shop_client.session, shop_client.root
    if session.name != "visual-studio-code":
        pytest.skip("the Neovim-like profile registers no file watchers: no event tells the server")
    uri = session.open_file(root / "shop" / "workflows.py")
    assert EXPIRY in findings(await session.diagnostics(uri, timeout=30.0))
    published = len(session.client.publishes)
    clock = root / "shop" / "util" / "clock.py"
    clock.write_text(clock.read_text().replace("return time.time()", "return 0.0"))
    session.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=clock.as_uri(), type=types.FileChangeType.Changed)]
        )
    )

    got = await findings_once(session, uri, False, 0, published)
    assert EXPIRY not in got and ("DBOS201", 14) in got
