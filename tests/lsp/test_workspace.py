"""Workspace features end to end: pyproject + editor settings, live changes, the index.

Each test gets its own server and a temporary workspace folder on disk, driven as
VS Code 1.65 (push, dynamic file watchers, code-lens refresh) and Neovim 0.11 (it pulls
but cannot be asked to pull again, so the server pushes), plus a pull client that
supports ``workspace/diagnostic/refresh`` (see ``client_profiles``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from conftest import CONFIG, Session, until
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_session import SLEEPY

from client_profiles import PULL_REFRESH, capabilities

CLIENTS = ["visual-studio-code", "neovim@v0.11"]


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


async def start(client: LanguageClient, name: str, root: Path, options=None) -> Session:
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(name),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
            initialization_options=options if options is not None else {"dbos": {"pushDebounceMs": 0}},
        )
    )
    session = Session(client, name, result)
    await indexed(session)
    return session


async def indexed(session: Session, timeout: float = 20.0) -> None:
    def done():
        return any("dbos-lsp: indexed" in m.message for m in session.client.log_messages)

    await until(session.client, done, timeout, "the workspace index")


async def codes(session: Session, uri: str) -> list[str]:
    return [d.code for d in await session.diagnostics(uri)]


async def eventually(session: Session, uri: str, predicate, timeout: float = 10.0) -> list[str]:
    """Diagnostics of ``uri`` once ``predicate`` holds.  Pull: the very next pull (the server
    lands edits, settings and index updates under way first).  Push: the latest publish,
    which comes after a batched refresh."""
    if session.pull:
        found = await codes(session, uri)
        assert predicate(found), f"{session.name}: diagnostics of {uri} are {found}"
        return found

    def latest() -> list[str]:
        mine = [p for p in session.client.publishes if p.uri == uri]
        return [d.code for d in mine[-1].diagnostics] if mine else []

    await until(session.client, lambda: predicate(latest()), timeout, f"diagnostics of {uri} (now {latest()})")
    return latest()


def watched(session: Session, *changes: tuple[Path, types.FileChangeType]) -> None:
    session.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(changes=[types.FileEvent(uri=p.as_uri(), type=t) for p, t in changes])
    )


# ----- fixtures: one server per test, its workspace written before it starts ------------------

PYPROJECT = """\
[project]
name = "shop"

[tool.dbos-lsp]
exclude = ["generated"]
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write(root, "pyproject.toml", PYPROJECT)
    write(root, "app/sleepy.py", SLEEPY)
    write(root, "generated/stub.py", SLEEPY)
    write(root, ".venv/lib/site.py", SLEEPY)  # never indexed
    return root


@pytest_lsp.fixture(params=[*CLIENTS, PULL_REFRESH], config=CONFIG)
async def ws_client(request, workspace: Path, lsp_client: LanguageClient):
    lsp_client.session = await start(lsp_client, request.param, workspace)
    lsp_client.root = workspace
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def ws(ws_client: LanguageClient) -> Session:
    return ws_client.session


# ----- configuration -----------------------------------------------------------------------------


async def test_pyproject_edit_changes_findings_without_restart(ws: Session, workspace: Path):
    uri = ws.open_file(workspace / "app/sleepy.py")
    assert await codes(ws, uri) == ["DBOS101"]
    refreshes = ws.client.diagnostic_refresh_count
    write(workspace, "pyproject.toml", PYPROJECT + 'ignore = ["DBOS101"]\n')
    watched(ws, (workspace / "pyproject.toml", types.FileChangeType.Changed))
    assert await eventually(ws, uri, lambda c: c == []) == []
    if ws.name == PULL_REFRESH:
        await until(ws.client, lambda: ws.client.diagnostic_refresh_count > refreshes, what="a refresh")
    assert ws.client.messages == []


async def test_file_watchers_are_registered_dynamically_when_supported(ws: Session):
    # register_options arrive as plain JSON (LSPAny) on the client side.
    globs = [w["globPattern"] for r in ws.client.registrations for w in r.register_options["watchers"]]
    if ws.name == "visual-studio-code":  # dynamicRegistration: true
        assert [r.method for r in ws.client.registrations] == [types.WORKSPACE_DID_CHANGE_WATCHED_FILES]
        assert globs == ["**/pyproject.toml", "**/*.py"]
    else:  # Neovim 0.11 on Linux: dynamicRegistration false
        assert globs == []


async def test_did_change_configuration_disables_a_rule(ws: Session, workspace: Path):
    uri = ws.open_file(workspace / "app/sleepy.py")
    assert await codes(ws, uri) == ["DBOS101"]
    refreshes = ws.client.diagnostic_refresh_count
    ws.client.set_configuration({"ignore": ["async-sync-dbos-call"]}, section="dbos")
    ws.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    assert await eventually(ws, uri, lambda c: c == []) == []
    if ws.name == PULL_REFRESH:
        await until(ws.client, lambda: ws.client.diagnostic_refresh_count > refreshes, what="a refresh")
        assert ws.client.diagnostic_refresh_count == refreshes + 1


async def test_excluded_files_get_no_diagnostics(ws: Session, workspace: Path):
    uri = ws.open_file(workspace / "generated/stub.py")
    assert await codes(ws, uri) == []


async def test_workspace_symbols_skip_venv_and_excluded(ws: Session):
    found = await ws.client.workspace_symbol_async(types.WorkspaceSymbolParams(query="wf"))
    assert [(s.name, s.container_name) for s in found] == [("wf", "app.sleepy")]


# ----- precedence: editor over pyproject, key by key -----------------------------------------


@pytest_lsp.fixture(params=CLIENTS, config=CONFIG)
async def layered_client(request, tmp_path: Path, lsp_client: LanguageClient):
    root = tmp_path / "ws"
    write(root, "pyproject.toml", '[tool.dbos-lsp]\nignore = ["DBOS101"]\nseverity = { DBOS104 = "hint" }\n')
    write(root, "a.py", SLEEPY + "\n\n@DBOS.workflow()\nasync def wf2() -> None:\n    DBOS.sleep_async(1)\n")
    # The editor re-enables DBOS101 (its `ignore` replaces the file's); the severity stays.
    lsp_client.session = await start(lsp_client, request.param, root, {"dbos": {"ignore": [], "pushDebounceMs": 0}})
    lsp_client.root = root
    yield
    await lsp_client.shutdown_session()


async def test_editor_settings_override_pyproject_key_by_key(layered_client: LanguageClient):
    session: Session = layered_client.session
    uri = session.open_file(layered_client.root / "a.py")
    diags = await session.diagnostics(uri)
    assert sorted(d.code for d in diags) == ["DBOS101", "DBOS104"]
    assert next(d for d in diags if d.code == "DBOS104").severity == types.DiagnosticSeverity.Hint


# ----- invalid pyproject settings: one message per problem -----------------------------------


@pytest_lsp.fixture(params=CLIENTS, config=CONFIG)
async def broken_client(request, tmp_path: Path, lsp_client: LanguageClient):
    root = tmp_path / "ws"
    write(root, "pyproject.toml", '[tool.dbos-lsp]\nseverity = "loud"\nselect = 3\n')
    write(root, "a.py", SLEEPY)
    write(root, "b.py", SLEEPY.replace("wf", "other"))
    lsp_client.session = await start(lsp_client, request.param, root)
    lsp_client.root = root
    yield
    await lsp_client.shutdown_session()


async def test_invalid_pyproject_settings_warn_once(broken_client: LanguageClient):
    session: Session = broken_client.session
    a = session.open_file(broken_client.root / "a.py")
    b = session.open_file(broken_client.root / "b.py")
    for _ in range(3):
        assert await codes(session, a) == ["DBOS101"]  # defaults used
        session.change(a, session.texts[a] + "\n")
        assert await codes(session, b) == ["DBOS101"]
    messages = session.client.messages
    assert len(messages) == 1 and messages[0].type == types.MessageType.Warning
    assert "severity" in messages[0].message and "1 more" in messages[0].message


# ----- the workspace index: DBOS404 across files, symbols, code lens, progress ---------------

QUEUES = """\
from dbos import DBOS

orders = DBOS.register_queue("orders")
"""

A = """\
from dbos import DBOS


@DBOS.step()
def reserve(item: str) -> bool:
    return True


@DBOS.step()
async def charge(amount: int) -> None:
    pass


@DBOS.workflow()
def process_order(item: str) -> None:
    reserve(item)
    reserve(item)
    DBOS.run_step(None, lambda: charge_sync())


@DBOS.dbos_class()
class Billing:
    @DBOS.workflow()
    def refund(self) -> None:
        pass
"""

B = """\
from dbos import DBOS

from .a import process_order
from .queues import orders


@DBOS.workflow()
def handle(item: str) -> None:
    pass


def main() -> None:
    orders.enqueue(process_order, "x")
    DBOS.enqueue_workflow("emails", process_order, "y")
"""


@pytest_lsp.fixture(params=[*CLIENTS, PULL_REFRESH], config=CONFIG)
async def shop_client(request, tmp_path: Path, lsp_client: LanguageClient):
    root = tmp_path / "shop"
    write(root, "pyproject.toml", '[project]\nname = "shop"\n')
    write(root, "shop/__init__.py", "")
    write(root, "shop/queues.py", QUEUES)
    write(root, "shop/a.py", A)
    write(root, "shop/b.py", B)
    lsp_client.session = await start(lsp_client, request.param, root)
    lsp_client.root = root
    yield
    await lsp_client.shutdown_session()


async def test_workflow_name_collision_across_two_open_files(shop_client: LanguageClient):
    session: Session = shop_client.session
    root: Path = shop_client.root
    a = session.open_file(root / "shop/a.py")
    b = session.open_file(root / "shop/b.py")
    assert "DBOS404" not in await codes(session, a)
    assert "DBOS404" not in await codes(session, b)
    # Rename b's workflow in the buffer (unsaved): a now collides on its next analysis.
    session.change(
        b,
        session.texts[b]
        .replace("def handle(", "def process_order_(")
        .replace("@DBOS.workflow()", '@DBOS.workflow(name="process_order")'),
    )
    assert "DBOS404" in await eventually(session, b, lambda c: "DBOS404" in c)
    assert "DBOS404" in await eventually(session, a, lambda c: "DBOS404" in c)
    if session.name == PULL_REFRESH:  # the refresh is batched (250 ms)
        await until(session.client, lambda: session.client.diagnostic_refresh_count >= 1, what="a refresh")
    # And back: b is not pulled again, yet the collision disappears from a (a pull lands b's
    # edit first; push clients get it once typing pauses).
    session.change(b, B)
    assert "DBOS404" not in await eventually(session, a, lambda c: "DBOS404" not in c)


async def test_workspace_symbol_search(shop_client: LanguageClient):
    session: Session = shop_client.session

    async def search(query: str):
        return await session.client.workspace_symbol_async(types.WorkspaceSymbolParams(query=query))

    found = await search("PROCESS")
    assert [(s.name, s.kind, s.container_name) for s in found] == [
        ("process_order", types.SymbolKind.Function, "shop.a")
    ]
    assert found[0].location.uri == (shop_client.root / "shop/a.py").as_uri()
    assert found[0].location.range.start == types.Position(line=14, character=4)
    assert [s.name for s in await search("prcord")] == ["process_order"]  # fuzzy
    refund = await search("refund")
    assert [(s.name, s.kind) for s in refund] == [("refund", types.SymbolKind.Method)]
    names = {s.name for s in await search("")}
    assert names == {"reserve", "charge", "process_order", "refund", "handle"}


async def test_code_lens_counts_steps_and_queues(shop_client: LanguageClient):
    session: Session = shop_client.session
    a = session.open_file(shop_client.root / "shop/a.py")
    lenses = await session.client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=a))
    )
    titles = {lens.range.start.line: lens.command.title for lens in lenses}
    assert titles == {
        13: "2 steps · enqueued on: emails, orders",  # reserve (twice) + the run_step lambda
        22: "0 steps · not enqueued",
    }


async def test_indexing_reports_progress(shop_client: LanguageClient):
    session: Session = shop_client.session
    reports = [r for token, rs in session.client.progress_reports.items() for r in rs if "index" in str(token)]
    assert reports, session.client.progress_reports
    assert reports[0].kind == "begin" and reports[0].percentage == 0
    assert reports[-1].kind == "end" and "4 files" in reports[-1].message
    assert any(r.kind == "report" and r.percentage == 100 for r in reports)


async def test_watched_python_files_keep_the_index_current(shop_client: LanguageClient):
    session: Session = shop_client.session
    root: Path = shop_client.root
    a = session.open_file(root / "shop/a.py")
    assert "DBOS404" not in await codes(session, a)
    clash = write(
        root, "shop/c.py", "from dbos import DBOS\n\n\n@DBOS.workflow()\ndef process_order() -> None:\n    pass\n"
    )
    watched(session, (clash, types.FileChangeType.Created))
    diags = await eventually(session, a, lambda c: "DBOS404" in c)
    assert diags.count("DBOS404") == 1
    found = await session.client.workspace_symbol_async(types.WorkspaceSymbolParams(query="process_order"))
    assert sorted(s.container_name for s in found) == ["shop.a", "shop.c"]
    clash.unlink()
    watched(session, (clash, types.FileChangeType.Deleted))
    assert "DBOS404" not in await eventually(session, a, lambda c: "DBOS404" not in c)


# ----- workspace/configuration is pulled on `initialized` ------------------------------------


@pytest_lsp.fixture(params=CLIENTS, config=CONFIG)
async def pulled_client(request, tmp_path: Path, lsp_client: LanguageClient):
    root = tmp_path / "ws"
    write(root, "a.py", SLEEPY)
    # The editor's "dbos" section, answered by the client when the server asks.
    lsp_client.set_configuration({"ignore": ["DBOS101"]}, section="dbos")
    lsp_client.session = await start(lsp_client, request.param, root)
    lsp_client.root = root
    yield
    await lsp_client.shutdown_session()


async def test_configuration_section_is_pulled_after_initialized(pulled_client: LanguageClient):
    session: Session = pulled_client.session
    uri = session.open_file(pulled_client.root / "a.py")
    assert await codes(session, uri) == []
