"""The language server: pygls wiring around the session state and the handlers.

Diagnostics are pulled when the client supports ``textDocument/diagnostic`` (registered
during ``initialize``, so it is only advertised then) and pushed, debounced, otherwise.
Analyses run in worker threads, once per document version (``Session.snapshot``); hover,
code actions and lenses reuse them.  Handlers live in ``lsp/handlers``, one module per
LSP area; conversions in ``lsp/convert.py``; session state in ``lsp/session.py``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import traceback
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import FeatureRequestError, JsonRpcContentModified
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from dbos_lsp import __version__
from dbos_lsp.analysis.findings import Analysis
from dbos_lsp.lsp.convert import client_has, diagnostics
from dbos_lsp.lsp.delivery import PullWatch
from dbos_lsp.lsp.protocol import DbosProtocol
from dbos_lsp.lsp.session import Session, Snapshot

log = logging.getLogger(__name__)
REFRESH_DELAY = 0.25  # seconds: cross-file refreshes are batched
WARM_DELAY_MS = 400  # pull clients: analyse an edited file once typing pauses
CONFIG_WAIT = 2.0  # seconds a request waits for a settings round trip under way
_LEVELS = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
    "log": types.MessageType.Log,
}


class DbosLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "dbos-lsp",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=DbosProtocol,
        )
        self.session = Session()
        self.session.on_analysed = self._index_analysis  # type: ignore[method-assign]
        self.pending_settings_errors: list[str] = []  # from initialize, shown once initialized
        self.index_ready: asyncio.Future | None = None
        self.index_seconds: float | None = None
        self.shutting_down = False
        self.config_pull: asyncio.Future | None = None  # a workspace/configuration round trip
        self.config_deadline = 0.0  # loop time until which requests wait for it
        self._publishes: dict[str, asyncio.Task] = {}
        self._warms: dict[str, asyncio.Task] = {}
        self._refresh_task: asyncio.Task | None = None
        self.pull_watch = PullWatch(self._fall_back_to_push)

    # ----- messages ------------------------------------------------------------------------

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # no client yet (unit tests) or the pipe is gone
            log.info("%s", message)

    def flush_logs(self) -> None:
        logs, self.session.pending_logs = self.session.pending_logs, []
        for level, message in logs:
            self.log(message, _LEVELS[level])

    def report_server_error(self, error: Exception, source: Any) -> None:
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.log(f"dbos-lsp internal error ({getattr(source, '__name__', source)}): {detail}", types.MessageType.Error)
        key = type(error).__name__
        # Failed requests already answer with an error response; a dialog would double it.
        if source is FeatureRequestError or not self.session.first_of_kind(key):
            return
        self.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"dbos-lsp hit an internal error ({key}); details are in the output log.",
            )
        )

    def report_settings_errors(self, errors: list[str]) -> None:
        """One dialog per batch of problems not shown before (editor or pyproject)."""
        new = self.session.new_problems(errors)
        if not new:
            return
        for e in new:
            self.log(f"dbos-lsp settings: {e}", types.MessageType.Warning)
        more = f", and {len(new) - 1} more" if len(new) > 1 else ""
        self.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message=f"dbos-lsp: ignored invalid settings ({new[0]}{more}); defaults are used instead. "
                "See the output log.",
            )
        )

    def client_has(self, *path: str) -> bool:
        return client_has(self.client_capabilities, *path)

    # ----- documents and their analyses ----------------------------------------------------

    def open_document(self, uri: str) -> TextDocument | None:
        return self.workspace.text_documents.get(unquote(uri))

    def open_uris(self) -> list[str]:
        return list(self.workspace.text_documents)

    @staticmethod
    def path_of(uri: str) -> str | None:
        path = to_fs_path(uri) if uri.startswith("file:") else None
        return os.path.abspath(path) if path else None

    async def snapshot(self, doc: TextDocument, exact: bool = False) -> Snapshot:
        """The analysis of the document's current text, or of a newer text when the
        document changed while this one waited (see :meth:`Session.snapshot`).  ``exact``:
        a request whose positions refer to this text gets ContentModified instead (the
        client drops the answer, as LSP intends)."""
        version = doc.version if doc.version is not None else 0
        text = doc.source
        path = to_fs_path(doc.uri) if doc.uri.startswith("file:") else None
        snap, problems = await self.session.snapshot(doc.uri, version, text, path)
        self.report_settings_errors(problems)
        if snap.analysis.skipped is not None and self.session.first_of_kind(f"skipped:{doc.uri}"):
            self.log(f"dbos-lsp: {doc.uri} {snap.analysis.skipped}", types.MessageType.Warning)
        for code, error in self.session.new_rule_errors(doc.uri, snap.version, snap.analysis):
            message = f"dbos-lsp: rule {code} failed on {doc.uri} (version {snap.version}): {error}"
            self.log(message, types.MessageType.Error)
        if exact and (snap.version != version or snap.text != text):
            raise JsonRpcContentModified(f"{doc.uri} changed while the request waited")
        return snap

    def diagnostics_of(self, doc: TextDocument, snap: Snapshot) -> list[types.Diagnostic]:
        """Worker thread (the settings lookup stats folders): a snapshot's diagnostics, pulled
        or pushed, with the document's ``showSyntaxErrors``."""
        show = self.session.settings_for(snap.path)[0].show_syntax_errors
        return diagnostics(doc, snap, show)

    async def settled(self, uri: str) -> None:
        """Before answering for ``uri``: land what its analysis may depend on and is already
        under way: a settings round trip, other documents' edits not analysed yet (their
        workflow names), index updates.  Nothing here waits for the initial scan."""
        if self.config_pull is not None and not self.config_pull.done():
            # A client slow to answer delays requests once, by CONFIG_WAIT at most, not each one.
            remaining = self.config_deadline - asyncio.get_running_loop().time()
            if remaining > 0:
                await asyncio.wait([asyncio.shield(self.config_pull)], timeout=remaining)
        for other, task in list(self._warms.items()):
            if other != uri and not task.done():
                task.cancel()
                self._warms.pop(other, None)
                doc = self.open_document(other)
                if doc is not None:
                    await self.snapshot(doc)
        await self.session.workspace.worker.drained()

    def _index_analysis(self, uri: str, path: str | None, analysis: Analysis, excluded: bool) -> None:
        """After an analysis (off the diagnostics path): update the workspace index from the
        open document's model, on the index thread, without parsing again."""
        workspace = self.session.workspace
        if not path or not workspace.in_workspace(path):
            return
        if excluded:
            self.submit_index(lambda: workspace.workspace_index.remove(path), except_uri=uri)
        elif analysis.model is not None and analysis.syntax_error is None:
            # (a buffer with a syntax error keeps its last good facts: no flapping while typing)
            self.submit_index(lambda: workspace.index_buffer(path, analysis), except_uri=uri)

    def submit_index(self, job, except_uri: str | None = None) -> asyncio.Future | None:
        """Run ``job`` on the index thread; when it changed the index, refresh the others."""
        try:
            done = self.session.workspace.worker.submit(job)
        except RuntimeError:  # no running loop: the server is going away
            return None

        def after(f: asyncio.Future) -> None:
            if not f.cancelled() and f.exception() is None and f.result():
                self.index_changed(except_uri=except_uri)

        done.add_done_callback(after)
        return done

    # ----- push diagnostics ----------------------------------------------------------------

    def schedule_publish(self, uri: str, delay_ms: int) -> None:
        old = self._publishes.pop(uri, None)
        if old is not None:
            old.cancel()
        self._publishes[uri] = asyncio.ensure_future(self._publish_later(uri, delay_ms))

    def schedule_warm(self, uri: str) -> None:
        old = self._warms.pop(uri, None)
        if old is not None:
            old.cancel()
        self._warms[uri] = asyncio.ensure_future(self._warm_later(uri))

    def cancel_scheduled(self, uri: str) -> None:
        for tasks in (self._publishes, self._warms):
            task = tasks.pop(uri, None)
            if task is not None:
                task.cancel()

    async def _warm_later(self, uri: str) -> None:
        await asyncio.sleep(WARM_DELAY_MS / 1000)
        self._warms.pop(uri, None)
        doc = self.open_document(uri)
        if doc is not None:
            await self.snapshot(doc)

    async def _publish_later(self, uri: str, delay_ms: int) -> None:
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        doc = self.open_document(uri)
        if doc is None:
            return
        snap = await self.snapshot(doc)
        current = self.open_document(uri)
        if current is None or (current.version or 0) != snap.version:
            return  # a newer version has its own publish scheduled
        items = await asyncio.to_thread(self.diagnostics_of, doc, snap)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=snap.version, diagnostics=items)
        )

    def _fall_back_to_push(self, unpulled_uri: str) -> None:
        """The client advertised pull but did not pull a document it opened: push from now on."""
        self.session.pull_mode = False
        self.log(
            f"dbos-lsp: the client did not pull diagnostics for {unpulled_uri}; pushing them from now on",
            types.MessageType.Warning,
        )
        for uri in self.open_uris():
            self.schedule_publish(uri, 0)

    def publish_empty(self, uri: str) -> None:
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # ----- refreshing after settings or other files change ---------------------------------

    def refresh_diagnostics(self, uris: list[str] | None = None) -> None:
        """Pull clients re-pull (when they support ``workspace/diagnostic/refresh``);
        push clients get a new publish of each open document (or of ``uris``)."""
        if self.session.pull_mode:
            if self.client_has("workspace", "diagnostics", "refresh_support"):
                self.workspace_diagnostic_refresh(None)
        else:
            for uri in uris if uris is not None else self.open_uris():
                if self.open_document(uri) is not None:
                    self.schedule_publish(uri, 0)

    def settings_changed(self) -> None:
        """Settings (editor or pyproject) changed: drop every cached analysis, refresh."""
        self.session.invalidate()
        self.refresh_diagnostics()

    def index_changed(self, except_uri: str | None = None) -> None:
        """Other open documents' analyses are stale now; their refresh is batched."""
        self.session.index_changed(self.open_uris(), except_uri)
        self._schedule_refresh()

    def files_changed(self, paths: list[str], except_uri: str | None = None) -> None:
        """Files changed on disk: the open documents whose analyses read them (a helper a
        workflow calls, a module a name is imported from) are stale; refresh batched.
        ``except_uri`` (the document saved) is current already."""
        if self.session.files_changed(paths, [u for u in self.open_uris() if u != except_uri]):
            self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.ensure_future(self._refresh_later())

    async def _refresh_later(self) -> None:
        await asyncio.sleep(REFRESH_DELAY)
        uris = self.session.take_refresh(self.open_uris())
        if self.shutting_down:
            return
        self.refresh_diagnostics(uris)
        if self.client_has("workspace", "code_lens", "refresh_support"):
            self.workspace_code_lens_refresh(None)


def create_server() -> DbosLanguageServer:
    from dbos_lsp.lsp.handlers import code_actions, diagnostics, documents, hover, lifecycle, settings, workspace

    server = DbosLanguageServer()
    for area in (lifecycle, documents, diagnostics, hover, code_actions, workspace, settings):
        area.register(server)
    return server


def start(transport: str = "stdio", host: str = "127.0.0.1", port: int = 2087) -> None:
    """Run the server (stdio by default); the CLI's entry point."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="dbos-lsp %(levelname)s %(name)s: %(message)s")
    server = create_server()
    # Everything loaded so far lives as long as the process: out of the collector's sight,
    # collections during analyses only scan what analyses allocate (see cli.main).
    gc.freeze()
    gc.enable()
    if transport == "tcp":
        server.start_tcp(host, port)
    else:
        from dbos_lsp.lsp.stdio import run_stdio  # exit codes; exits promptly when the client is gone

        run_stdio(server)


__all__ = ["DbosLanguageServer", "Snapshot", "create_server", "start"]
