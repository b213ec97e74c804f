"""A live session shows effects through helpers in other modules like ``check`` does: the
same findings on the multi-module corpus, with the helper chain as relatedInformation
pointing into the helpers' files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest_lsp
from conftest import CONFIG
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
