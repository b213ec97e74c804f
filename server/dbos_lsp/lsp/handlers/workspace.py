"""The workspace: background indexing with progress, watched files, ``workspace/symbol``."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from lsprotocol import types
from pygls.uris import from_fs_path

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.lsp.convert import symbol_information
from dbos_lsp.lsp.server import DbosLanguageServer

WATCHERS_ID = "dbos-lsp-watched-files"


async def workspace_symbol(ls: DbosLanguageServer, params: types.WorkspaceSymbolParams):
    found = await asyncio.to_thread(ls.session.workspace.workspace_index.search, params.query or "")
    return [symbol_information(sym, from_fs_path(sym.path)) for sym in found]


def did_change_watched_files(ls: DbosLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
    """pyproject edits re-apply settings; Python files are re-indexed (an open document's
    buffer wins over the disk).  The index job is queued before the next message is read."""
    session, config, work = ls.session, False, []
    for change in params.changes:
        path = ls.path_of(change.uri)
        if path is None:
            continue
        name = os.path.basename(path)
        if name == "pyproject.toml":
            config = True
        elif name.endswith(".py"):
            if change.type == types.FileChangeType.Deleted:
                work.append(("remove", path))
            elif from_fs_path(path) not in ls.workspace.text_documents and session.workspace.in_workspace(path):
                work.append(("update", path))
        elif change.type == types.FileChangeType.Deleted:
            work.append(("folder", path))
    if config:
        session.problems_are_news()  # the file changed: still-broken settings are news again
        ls.settings_changed()
    if work:
        ls.submit_index(lambda: session.workspace.apply_file_events(work, session.index_excluded))
    changed = [ls.path_of(c.uri) for c in params.changes]
    ls.files_changed([p for p in changed if p is not None and p.endswith(".py")])


def reindex(ls: DbosLanguageServer, path: str, text: str | None = None) -> None:
    """Re-index ``path`` from ``text`` or the disk (after a save or a close)."""
    session = ls.session
    if session.workspace.in_workspace(path) and os.path.isfile(path):
        ls.submit_index(lambda: session.workspace.reindex(path, session.index_excluded(path), text))


async def register_watchers(ls: DbosLanguageServer) -> None:
    if not ls.client_has("workspace", "did_change_watched_files", "dynamic_registration"):
        return
    watchers = [
        types.FileSystemWatcher(glob_pattern="**/pyproject.toml"),
        types.FileSystemWatcher(glob_pattern="**/*.py"),
    ]
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers)
    registration = types.Registration(
        id=WATCHERS_ID, method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
    )
    try:
        await ls.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
    except Exception as exc:
        ls.log(f"dbos-lsp: could not register file watchers: {exc}", types.MessageType.Warning)


async def index_workspace(ls: DbosLanguageServer) -> None:
    """Index every Python file of the workspace folders on the index thread, with
    ``window/workDoneProgress`` when the client supports it."""
    session = ls.session
    state = session.workspace
    progress = _Progress(ls)
    await progress.begin()
    opened = {os.path.abspath(p) for p in map(ls.path_of, ls.open_uris()) if p}
    folder_settings: dict[str, Settings] = {}
    started = time.perf_counter()
    state.worker.scanning = True
    try:
        count = await state.worker.submit(
            lambda: state.scan(
                excluded=lambda p: session.index_excluded(p, folder_settings),
                progress=progress.report,
                cancelled=lambda: ls.shutting_down,
                skip=lambda p: os.path.abspath(p) in opened and state.workspace_index.facts(p) is not None,
                pause=session.wait_for_analyses,  # the documents in front of the user first
            ),
            track=False,
        )
    except Exception as exc:
        count = 0
        ls.log(f"dbos-lsp: indexing the workspace failed: {exc}", types.MessageType.Error)
    finally:
        state.worker.scanning = False
    ls.index_seconds = time.perf_counter() - started
    summary = f"{count} files, {len(state.workspace_index.symbols())} workflows and steps in {ls.index_seconds:.2f} s"
    progress.end(summary)
    ls.log(f"dbos-lsp: indexed {summary}")
    if ls.index_ready is not None and not ls.index_ready.done():
        ls.index_ready.set_result(count)
    if state.workspace_index.workflow_registrations():
        ls.index_changed()


class _Progress:
    """``window/workDoneProgress`` for the scan, at most every 5 %; silent without support."""

    def __init__(self, ls: DbosLanguageServer) -> None:
        self.ls = ls
        self.token: str | None = None
        self.last = -1
        self.loop = asyncio.get_running_loop()

    async def begin(self) -> None:
        if not self.ls.client_has("window", "work_done_progress"):
            return
        token = f"dbos-lsp-index-{uuid.uuid4().hex[:8]}"
        try:
            await self.ls.work_done_progress.create_async(token)
            begin = types.WorkDoneProgressBegin(title="dbos-lsp: indexing workflows", percentage=0, cancellable=False)
            self.ls.work_done_progress.begin(token, begin)
            self.token = token
        except Exception as exc:
            self.ls.log(f"dbos-lsp: no progress reporting ({exc})")

    def report(self, done: int, total: int, path: str) -> None:  # index thread
        if self.token is None:
            return
        pct = 100 if total == 0 else int(done * 100 / total)
        if pct < self.last + 5 and done != total:
            return
        self.last = pct
        value = types.WorkDoneProgressReport(message=f"{done}/{total} files", percentage=pct)
        try:
            self.loop.call_soon_threadsafe(self._send, value)
        except RuntimeError:
            pass

    def _send(self, value: types.WorkDoneProgressReport) -> None:
        if self.token is None:
            return
        try:
            self.ls.work_done_progress.report(self.token, value)
        except Exception:
            pass

    def end(self, summary: str) -> None:
        if self.token is not None:
            try:
                self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=summary))
            except Exception:
                pass


def register(server: DbosLanguageServer) -> None:
    server.feature(types.WORKSPACE_SYMBOL, types.WorkspaceSymbolOptions(resolve_provider=False))(workspace_symbol)
    server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(did_change_watched_files)
