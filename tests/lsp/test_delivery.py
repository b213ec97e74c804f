"""How diagnostics reach each kind of client: pull only where the server can also ask
for a new pull (``workspace/diagnostic/refresh``), push otherwise, and push after all
when a client that advertised pull leaves a document it opened unpulled (Helix master
with a config that does not enable pull for this server)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from conftest import CONFIG, Session, until
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_workspace import start, write

from client_profiles import HELIX_MASTER, PULL_REFRESH

FALLBACK = "did not pull diagnostics"
SLEEPY = "from dbos import DBOS\n\n\n@DBOS.workflow()\nasync def wf() -> None:\n    DBOS.sleep(1)\n    DBOS.sleep(2)\n"


@pytest_lsp.fixture(config=CONFIG)
async def delivery_client(request, tmp_path: Path, lsp_client: LanguageClient):
    root = tmp_path / "ws"
    write(root, "pyproject.toml", '[project]\nname = "ws"\n')
    write(root, "app/sleepy.py", SLEEPY)
    write(root, "app/other.py", SLEEPY.replace("def wf(", "def other_wf("))
    lsp_client.session = await start(lsp_client, request.param, root)
    lsp_client.root = root
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def session(delivery_client: LanguageClient) -> Session:
    return delivery_client.session


def published(session: Session, uri: str, version: int) -> list[types.PublishDiagnosticsParams]:
    return [p for p in session.client.publishes if p.uri == uri and p.version == version]


def fell_back(session: Session) -> list[str]:
    return [m.message for m in session.client.log_messages if FALLBACK in m.message]


@pytest.mark.parametrize("delivery_client", ["neovim@v0.11", PULL_REFRESH, HELIX_MASTER], indirect=True)
async def test_pull_only_with_refresh_support(session: Session, delivery_client: LanguageClient):
    uri = session.open_file(delivery_client.root / "app/sleepy.py")
    if session.name == "neovim@v0.11":
        # Pull without refresh: the server does not offer pull, and pushes.
        assert session.result.capabilities.diagnostic_provider is None
        publish = await session.wait_publish(uri, 1)
        assert [d.code for d in publish.diagnostics] == ["DBOS101", "DBOS101"]
    else:
        assert session.result.capabilities.diagnostic_provider is not None
        if session.name == PULL_REFRESH:
            assert [d.code for d in await session.diagnostics(uri)] == ["DBOS101", "DBOS101"]


@pytest.mark.parametrize("delivery_client", [HELIX_MASTER], indirect=True)
async def test_a_client_that_never_pulls_gets_pushes(session: Session, delivery_client: LanguageClient):
    uri = session.open_file(delivery_client.root / "app/sleepy.py")
    await until(session.client, lambda: published(session, uri, 1), timeout=30.0, what="a push after no pull")
    assert [d.code for d in published(session, uri, 1)[-1].diagnostics] == ["DBOS101", "DBOS101"]
    assert len(fell_back(session)) == 1
    # From then on it is a push client: edits are pushed, and a late pull shows nothing twice.
    session.change(uri, session.texts[uri].replace("    DBOS.sleep(2)\n", ""))
    publish = await session.wait_publish(uri, 2)
    assert [d.code for d in publish.diagnostics] == ["DBOS101"]
    report = await session.client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert list(report.items) == []
    # Documents opened later are pushed at once.
    other = session.open_file(delivery_client.root / "app/other.py")
    assert [d.code for d in (await session.wait_publish(other, 1)).diagnostics] == ["DBOS101", "DBOS101"]


@pytest.mark.parametrize("delivery_client", [PULL_REFRESH], indirect=True)
async def test_fallback_is_decided_by_the_unpulled_document(session: Session, delivery_client: LanguageClient):
    pulled = session.open_file(delivery_client.root / "app/sleepy.py")
    assert [d.code for d in await session.diagnostics(pulled)] == ["DBOS101", "DBOS101"]
    unpulled = session.open_file(delivery_client.root / "app/other.py")
    await until(session.client, lambda: fell_back(session), timeout=30.0, what="the fallback to push")
    (message,) = fell_back(session)
    assert "other.py" in message and "sleepy.py" not in message
    await until(session.client, lambda: published(session, unpulled, 1), timeout=10.0, what="the push")
    assert published(session, pulled, 1), "every open document is pushed after the fallback"
