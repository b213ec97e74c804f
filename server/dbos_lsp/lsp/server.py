"""The language server: pygls glue around the pure engine, hover and code-action modules.

Diagnostics are pulled when the client supports ``textDocument/diagnostic``
(registered during INITIALIZE, so it is only advertised then) and pushed,
debounced, otherwise.  Analyses run in worker threads and are cached per
(uri, version) so hover and code actions reuse them.  Engine positions are
code points; every conversion goes through the document's position codec.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from dbos_lsp import __version__
from dbos_lsp.analysis.findings import Analysis, Finding, Position, Span
from dbos_lsp.analysis.settings import Settings, parse_settings
from dbos_lsp.analysis.source_text import split_lines
from dbos_lsp.engine.incremental import IncrementalAnalyzer
from dbos_lsp.engine.pipeline import analyze, module_model
from dbos_lsp.features.code_actions import FIX_ALL, QUICKFIX, Action, code_actions
from dbos_lsp.features.code_lens import workflow_lenses
from dbos_lsp.features.hover import hover_markdown, rule_url
from dbos_lsp.lsp.documents import adopt as adopt_workspace
from dbos_lsp.project.config import is_excluded, settings_for
from dbos_lsp.project.index import JediProjectIndex
from dbos_lsp.project.workspace import WorkspaceIndex, facts_from_model
from dbos_lsp.rules import lookup

log = logging.getLogger(__name__)
_MAX_LOGGED = 2000
_KEEP_PARSED = 8  # documents whose parsed module and incremental state stay in memory  # bound on remembered (rule, uri, version) log keys
_WATCHERS_ID = "dbos-lsp-watched-files"
_REFRESH_DELAY = 0.25  # seconds: cross-file refreshes are batched


class ServerProjectIndex(JediProjectIndex):
    """The jedi index, answering workflow registrations (DBOS404) from the server's
    workspace index (one background scan kept current by file events and open
    buffers) instead of re-listing the workspace on the keystroke path."""

    def __init__(self, root: str | None, environment_path: str | None, workspace_index: WorkspaceIndex) -> None:
        super().__init__(root, environment_path)
        self.workspace_index = workspace_index

    def workflow_registrations(self) -> dict[str, list[tuple[str, int]]]:
        return self.workspace_index.workflow_registrations()


class _Worker:
    """One daemon thread running index work in order (a scan never delays process exit)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Any, asyncio.AbstractEventLoop, asyncio.Future]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def submit(self, fn) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dbos-lsp-index", daemon=True)
            self._thread.start()
        self._queue.put((fn, loop, future))
        return future

    def _run(self) -> None:
        while True:
            fn, loop, future = self._queue.get()
            try:
                result, error = fn(), None
            except BaseException as exc:  # reported on the loop
                result, error = None, exc

            def settle(result=result, error=error, future=future) -> None:
                if future.done():
                    return
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # the loop is closed: the server is exiting
                return


@dataclass(frozen=True)
class Snapshot:
    """One analysed version of a document; positions in results refer to ``lines``."""

    uri: str
    version: int
    text: str
    lines: tuple[str, ...]
    path: str | None
    analysis: Analysis


class DbosLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("dbos-lsp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.settings = Settings()
        self.library: Any = None
        self.index: JediProjectIndex | None = None
        self.pull_mode = False
        self.generation = 0  # bumped on settings changes; invalidates cached analyses
        self._analyses: dict[str, tuple[int, int, str, asyncio.Future]] = {}
        self._timers: dict[str, asyncio.Task] = {}
        self._logged_rule_errors: set[tuple[str, str, int]] = set()
        self._shown_error_types: set[str] = set()
        self._last_settings_errors: tuple[str, ...] = ()
        self._startup_logs: list[tuple[types.MessageType, str]] = []
        self._pending_settings_errors: list[str] = []
        self._models: dict[str, tuple[tuple, Any]] = {}
        self._incremental: OrderedDict[str, tuple[IncrementalAnalyzer, threading.Lock]] = OrderedDict()
        self._incremental_lock = threading.Lock()
        self.first_analysis = asyncio.Event()  # set once any document has been analysed
        # Editor settings (initializationOptions, overlaid by workspace/configuration "dbos"):
        # per document they go over the nearest pyproject's [tool.dbos-lsp], key by key.
        self.init_settings: dict[str, Any] = {}
        self.editor_settings: dict[str, Any] = {}
        self._shown_problems: set[str] = set()
        self.folders: list[str] = []
        self.workspace_index = WorkspaceIndex()
        self._worker = _Worker()
        self._epochs: dict[str, int] = {}  # per-document invalidations by other files' changes
        self._refresh_task: asyncio.Task | None = None
        self._refresh_all = False
        self._refresh_except: set[str] = set()
        self.index_ready: asyncio.Future | None = None
        self.index_seconds: float | None = None
        self.shutting_down = False

    # ----- messages ------------------------------------------------------------------------

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # no client yet (unit tests) or the pipe is gone
            log.info("%s", message)

    def report_server_error(self, error: Exception, source: Any) -> None:
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.log(f"dbos-lsp internal error ({getattr(source, '__name__', source)}): {detail}", types.MessageType.Error)
        key = type(error).__name__
        # Failed requests already answer with an error response; a dialog would double it.
        if source is FeatureRequestError or key in self._shown_error_types:
            return
        self._shown_error_types.add(key)
        self.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"dbos-lsp hit an internal error ({key}); details are in the output log.",
            )
        )

    # ----- settings ------------------------------------------------------------------------

    def apply_settings(self, raw: Any, root: str | None = None, initial: bool = False) -> list[str]:
        """Editor settings: from initializationOptions (``initial``) or a configuration change,
        which overlays the initialization values key by key."""
        section = _settings_section(raw)
        if initial:
            self.init_settings = dict(section) if isinstance(section, Mapping) else {}
            self.editor_settings = dict(self.init_settings)
        else:
            self.editor_settings = {**self.init_settings, **(dict(section) if isinstance(section, Mapping) else {})}
        settings, errors = parse_settings(section if not isinstance(section, Mapping) else self.editor_settings)
        old = self.settings
        self.settings = settings
        if self.library is None or settings.extra_skill_paths != old.extra_skill_paths:
            from dbos_lsp.knowledge.skills import load_library

            self.library = load_library(settings.extra_skill_paths)
            for warning in self.library.warnings:
                self._startup_logs.append((types.MessageType.Warning, f"skills: {warning}"))
        if self.index is None or settings.environment_path != old.environment_path:
            root = root if root is not None else getattr(self.index, "root", None)
            self.index = ServerProjectIndex(root, settings.environment_path, self.workspace_index)
            env = self.index.environment_path or "the server's interpreter"
            self._startup_logs.append((types.MessageType.Info, f"dbos-lsp: jedi root {root!r}, environment {env}"))
        self.generation += 1
        self._analyses.clear()
        return errors

    def report_settings_errors(self, errors: list[str]) -> None:
        """One dialog per batch of problems not shown before (editor or pyproject), so a
        broken setting is reported once, not on every analysis."""
        new = [e for e in dict.fromkeys(errors) if e not in self._shown_problems]
        if not new:
            return
        if len(self._shown_problems) > _MAX_LOGGED:
            self._shown_problems.clear()
        self._shown_problems.update(new)
        for e in new:
            self.log(f"dbos-lsp settings: {e}", types.MessageType.Warning)
        self.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message=f"dbos-lsp: ignored invalid settings ({new[0]}"
                + (f", and {len(new) - 1} more" if len(new) > 1 else "")
                + "); defaults are used instead. See the output log.",
            )
        )
        self._last_settings_errors = tuple(new)

    def settings_for(self, path: str | None) -> tuple[Settings, list[str]]:
        """A document's settings: its pyproject's ``[tool.dbos-lsp]``, the editor's on top."""
        return settings_for(path, self.editor_settings)

    def excluded(self, path: str | None, settings: Settings | None = None) -> bool:
        if not path:
            return False
        if settings is None:
            settings = self.settings_for(path)[0]
        return bool(settings.exclude) and is_excluded(path, settings)

    def flush_startup_logs(self) -> None:
        logs, self._startup_logs = self._startup_logs, []
        for kind, message in logs:
            self.log(message, kind)

    # ----- analysis ------------------------------------------------------------------------

    def open_document(self, uri: str) -> TextDocument | None:
        return self.workspace.text_documents.get(unquote(uri))

    async def snapshot(self, doc: TextDocument) -> Snapshot:
        version = doc.version if doc.version is not None else 0
        text = doc.source
        path = to_fs_path(doc.uri) if doc.uri.startswith("file:") else None
        stamp = self.stamp(doc.uri)
        entry = self._analyses.get(doc.uri)
        if entry is not None and entry[:3] == (version, stamp, text) and not entry[3].cancelled():
            future = entry[3]
        else:
            future = asyncio.ensure_future(asyncio.to_thread(self._analyze, text, path, doc.uri))
            future.add_done_callback(lambda f, uri=doc.uri, path=path: self._index_analysis(uri, path, f))
            self._analyses[doc.uri] = (version, stamp, text, future)
        # shield: a cancelled debounce must not cancel an analysis a hover is waiting for.
        analysis, problems, _excluded = await asyncio.shield(future)
        self.first_analysis.set()
        self.report_settings_errors(problems)
        self._log_rule_errors(doc.uri, version, analysis)
        return Snapshot(doc.uri, version, text, tuple(split_lines(text, keepends=True)), path, analysis)

    def stamp(self, uri: str) -> tuple[int, int]:
        """What a cached analysis of ``uri`` depends on besides its text: the settings
        generation and the document's own epoch (bumped when another file's change
        concerns it, e.g. a workflow name that now collides)."""
        return (self.generation, self._epochs.get(uri, 0))

    def _analyze(self, text: str, path: str | None, uri: str | None = None) -> tuple[Analysis, list[str], bool]:
        """Worker thread: (analysis, settings problems, whether the file is excluded)."""
        problems: list[str] = []
        try:
            settings, problems = self.settings_for(path)
            if self.excluded(path, settings):
                return Analysis(), problems, True
            if uri is None:
                analysis = analyze(text, settings, self.index, path)
            else:
                incremental, lock = self._incremental_for(uri)
                with lock:
                    analysis = incremental.analyze(text, settings, self.index, path)
        except Exception as exc:  # an engine bug degrades to "no findings" plus a log line
            return Analysis(rule_errors=[("engine", f"{type(exc).__name__}: {exc}")]), problems, False
        return analysis, problems, False

    def _incremental_for(self, uri: str) -> tuple[IncrementalAnalyzer, threading.Lock]:
        """The incremental analyzer of a document, kept for the few most recently edited
        ones: each holds a parsed module, and 100 open files must not hold 100 of them."""
        with self._incremental_lock:
            entry = self._incremental.pop(uri, None)
            if entry is None:
                entry = (IncrementalAnalyzer(), threading.Lock())
            self._incremental[uri] = entry  # most recent last
            while len(self._incremental) > _KEEP_PARSED:
                old_uri, _ = self._incremental.popitem(last=False)
                self._drop_model(old_uri)
            return entry

    def _drop_model(self, uri: str) -> None:
        """Forget the parsed module of a document nobody is editing (hover re-parses it)."""
        self._models.pop(uri, None)
        cached = self._analyses.get(uri)
        future = cached[3] if cached is not None else None
        if future is not None and future.done() and not future.cancelled() and future.exception() is None:
            future.result()[0].model = None

    def _index_analysis(self, uri: str, path: str | None, future: asyncio.Future) -> None:
        """After an analysis (off the diagnostics path): update the workspace index from the
        open document's model, on the index thread, without parsing again."""
        if future.cancelled() or future.exception() is not None or not path or not self._in_workspace(path):
            return
        analysis, _problems, excluded = future.result()
        if excluded:
            job = lambda: self.workspace_index.remove(path)
        elif analysis.model is None or analysis.syntax_error is not None:
            return  # a buffer with a syntax error keeps its last good facts (no flapping while typing)
        else:
            job = lambda: self._index_buffer(path, analysis)
        try:
            done = self._worker.submit(job)
        except RuntimeError:  # no running loop: the server is going away
            return
        done.add_done_callback(
            lambda f: (
                self.index_changed(except_uri=uri) if not f.cancelled() and not f.exception() and f.result() else None
            )
        )

    def _index_buffer(self, path: str, analysis: Analysis) -> bool:
        """Index thread.  Only files that exist in the workspace on disk are indexed."""
        if not os.path.isfile(path):
            return False
        try:
            facts = facts_from_model(analysis.model, path, self.workspace_index.module_for(path))
        except Exception as exc:
            log.info("dbos-lsp: cannot index %s: %s", path, exc)
            return False
        return self.workspace_index.set_facts(facts)

    def _in_workspace(self, path: str) -> bool:
        path = os.path.abspath(path)
        return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in self.folders)

    def _log_rule_errors(self, uri: str, version: int, analysis: Analysis) -> None:
        for code, error in analysis.rule_errors:
            key = (code, uri, version)
            if key in self._logged_rule_errors:
                continue
            if len(self._logged_rule_errors) > _MAX_LOGGED:
                self._logged_rule_errors.clear()
            self._logged_rule_errors.add(key)
            self.log(f"dbos-lsp: rule {code} failed on {uri} (version {version}): {error}", types.MessageType.Error)

    def model_for(self, snap: Snapshot):
        """The parsed module for hover, built once per analysed version (worker thread)."""
        key = (snap.uri, snap.version, self.stamp(snap.uri))
        cached = self._models.get(snap.uri)
        if cached is not None and cached[0] == key:
            return cached[1]
        model = snap.analysis.model or module_model(snap.text, self.index, snap.path)
        self._models[snap.uri] = (key, model)
        return model

    def reanalyzer(self, path: str | None):
        settings, index = self.settings_for(path)[0], self.index
        return lambda text: analyze(text, settings, index, path)

    def forget(self, uri: str) -> None:
        self._analyses.pop(uri, None)
        self._models.pop(uri, None)
        with self._incremental_lock:
            self._incremental.pop(uri, None)
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    # ----- push diagnostics ----------------------------------------------------------------

    def schedule_publish(self, uri: str, delay_ms: int) -> None:
        old = self._timers.pop(uri, None)
        if old is not None:
            old.cancel()
        self._timers[uri] = asyncio.ensure_future(self._publish_later(uri, delay_ms))

    def schedule_warm(self, uri: str, delay_ms: int = 400) -> None:
        old = self._timers.pop(uri, None)
        if old is not None:
            old.cancel()
        self._timers[uri] = asyncio.ensure_future(self._warm_later(uri, delay_ms))

    async def _warm_later(self, uri: str, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
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
        items = await asyncio.to_thread(diagnostics, doc, snap)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=snap.version, diagnostics=items)
        )

    def publish_empty(self, uri: str) -> None:
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # ----- refreshing after settings or other files change ---------------------------------

    def refresh_diagnostics(self, uris: list[str] | None = None) -> None:
        """Pull clients re-pull (when they support ``workspace/diagnostic/refresh``);
        push clients get a new publish of each open document (or of ``uris``)."""
        if self.pull_mode:
            if _client_has(self, "workspace", "diagnostics", "refresh_support"):
                self.workspace_diagnostic_refresh(None)
        else:
            for uri in uris if uris is not None else list(self.workspace.text_documents):
                if self.open_document(uri) is not None:
                    self.schedule_publish(uri, 0)

    def settings_changed(self) -> None:
        """Settings (editor or pyproject) changed: drop every cached analysis, refresh."""
        self.generation += 1
        self._analyses.clear()
        self.refresh_diagnostics()

    def index_changed(self, except_uri: str | None = None) -> None:
        """What one file declares changed (a workflow name, a queue, an enqueue): the other
        open documents' analyses may differ (DBOS404) and lenses may read differently.
        Their cached analyses are invalidated now; the refresh is batched."""
        for uri in list(self.workspace.text_documents):
            if uri != except_uri:
                self._epochs[uri] = self._epochs.get(uri, 0) + 1
                self._refresh_except.discard(uri)
        if except_uri is not None and not self._refresh_all:
            self._refresh_except.add(except_uri)
        else:
            self._refresh_all = True
            self._refresh_except.clear()
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.ensure_future(self._refresh_later())

    async def _refresh_later(self) -> None:
        await asyncio.sleep(_REFRESH_DELAY)
        skip = set() if self._refresh_all else set(self._refresh_except)
        self._refresh_all = False
        self._refresh_except.clear()
        if self.shutting_down:
            return
        self.refresh_diagnostics([u for u in self.workspace.text_documents if u not in skip])
        if _client_has(self, "workspace", "code_lens", "refresh_support"):
            self.workspace_code_lens_refresh(None)

    # ----- the workspace index -------------------------------------------------------------

    def _index_excluded(self, path: str, cache: dict[str, Settings] | None = None) -> bool:
        """Whether the index leaves ``path`` out (its settings' ``exclude``); ``cache``
        holds settings per folder during a scan (they depend on the nearest pyproject)."""
        folder = os.path.dirname(path)
        settings = cache.get(folder) if cache is not None else None
        if settings is None:
            settings, _problems = self.settings_for(path)
            if cache is not None:
                cache[folder] = settings
        return bool(settings.exclude) and is_excluded(path, settings)

    async def index_workspace(self) -> None:
        """Index every Python file of the workspace folders on the index thread, with
        ``window/workDoneProgress`` when the client supports it."""
        token: str | None = None
        if _client_has(self, "window", "work_done_progress"):
            token = f"dbos-lsp-index-{uuid.uuid4().hex[:8]}"
            try:
                await self.work_done_progress.create_async(token)
                self.work_done_progress.begin(
                    token,
                    types.WorkDoneProgressBegin(title="dbos-lsp: indexing workflows", percentage=0, cancellable=False),
                )
            except Exception as exc:
                self.log(f"dbos-lsp: no progress reporting ({exc})")
                token = None
        loop = asyncio.get_running_loop()
        last = [-1]

        def report(done: int, total: int, path: str) -> None:  # index thread
            if token is None:
                return
            pct = 100 if total == 0 else int(done * 100 / total)
            if pct < last[0] + 5 and done != total:
                return
            last[0] = pct
            value = types.WorkDoneProgressReport(message=f"{done}/{total} files", percentage=pct)
            try:
                loop.call_soon_threadsafe(self._progress_report, token, value)
            except RuntimeError:
                pass

        opened = {os.path.abspath(to_fs_path(u)) for u in self.workspace.text_documents if u.startswith("file:")}
        folder_settings: dict[str, Settings] = {}
        started = time.perf_counter()
        try:
            count = await self._worker.submit(
                lambda: self.workspace_index.scan(
                    excluded=lambda p: self._index_excluded(p, folder_settings),
                    progress=report,
                    cancelled=lambda: self.shutting_down,
                    skip=lambda p: os.path.abspath(p) in opened and self.workspace_index.facts(p) is not None,
                )
            )
        except Exception as exc:
            count = 0
            self.log(f"dbos-lsp: indexing the workspace failed: {exc}", types.MessageType.Error)
        self.index_seconds = time.perf_counter() - started
        symbols = len(self.workspace_index.symbols())
        summary = f"{count} files, {symbols} workflows and steps in {self.index_seconds:.2f} s"
        if token is not None:
            try:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=summary))
            except Exception:
                pass
        self.log(f"dbos-lsp: indexed {summary}")
        if self.index_ready is not None and not self.index_ready.done():
            self.index_ready.set_result(count)
        if self.workspace_index.workflow_registrations():
            self.index_changed()

    def _progress_report(self, token: str, value: types.WorkDoneProgressReport) -> None:
        try:
            self.work_done_progress.report(token, value)
        except Exception:
            pass

    async def files_changed(self, changes: list[types.FileEvent]) -> None:
        """``workspace/didChangeWatchedFiles``: pyproject edits re-apply settings; Python
        files are re-indexed (an open document's buffer wins over the disk)."""
        config = False
        work: list[tuple[str, str]] = []
        for change in changes:
            if not change.uri.startswith("file:"):
                continue
            path = os.path.abspath(to_fs_path(change.uri))
            name = os.path.basename(path)
            if name == "pyproject.toml":
                config = True
            elif name.endswith(".py"):
                if change.type == types.FileChangeType.Deleted:
                    work.append(("remove", path))
                elif from_fs_path(path) not in self.workspace.text_documents and self._in_workspace(path):
                    work.append(("update", path))
            elif change.type == types.FileChangeType.Deleted:
                work.append(("folder", path))
        if config:
            self._shown_problems.clear()  # the file changed: still-broken settings are news again
            self.settings_changed()
        if work:

            def run() -> bool:
                changed = False
                for what, path in work:
                    if what == "remove":
                        changed = self.workspace_index.remove(path) or changed
                    elif what == "folder":
                        changed = self.workspace_index.remove_under(path) or changed
                    elif self._index_excluded(path):
                        changed = self.workspace_index.remove(path) or changed
                    else:
                        changed = self.workspace_index.update_file(path) or changed
                return changed

            if await self._worker.submit(run):
                self.index_changed()

    async def reindex_from_disk(self, path: str, text: str | None = None) -> None:
        def run() -> bool:
            if self._index_excluded(path):
                return self.workspace_index.remove(path)
            if text is None and not os.path.isfile(path):
                return self.workspace_index.remove(path)
            return self.workspace_index.update_file(path, text)

        if self._in_workspace(path) and os.path.isfile(path) and await self._worker.submit(run):
            self.index_changed()

    async def register_watchers(self) -> None:
        if not _client_has(self, "workspace", "did_change_watched_files", "dynamic_registration"):
            return
        watchers = [
            types.FileSystemWatcher(glob_pattern="**/pyproject.toml"),
            types.FileSystemWatcher(glob_pattern="**/*.py"),
        ]
        try:
            await self.client_register_capability_async(
                types.RegistrationParams(
                    registrations=[
                        types.Registration(
                            id=_WATCHERS_ID,
                            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers),
                        )
                    ]
                )
            )
        except Exception as exc:
            self.log(f"dbos-lsp: could not register file watchers: {exc}", types.MessageType.Warning)

    async def pull_configuration(self) -> bool:
        """Ask for the ``dbos`` section; True when the editor settings changed."""
        if not _client_has(self, "workspace", "configuration"):
            return False
        try:
            answer = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="dbos")])
            )
        except Exception as exc:
            self.log(f"dbos-lsp: workspace/configuration failed: {exc}", types.MessageType.Warning)
            return False
        raw = answer[0] if answer else None
        if raw is None:
            return False  # no "dbos" section: keep the initialization settings
        if isinstance(raw, Mapping) and "dbos" in raw:
            raw = raw["dbos"]
        return self.change_editor_settings(raw)

    def change_editor_settings(self, raw: Any) -> bool:
        before = (dict(self.editor_settings), self.settings)
        errors = self.apply_settings(raw)
        self.flush_startup_logs()
        changed = (self.editor_settings, self.settings) != before
        if changed:
            self._shown_problems.clear()  # the user changed them: remaining problems are news
        self.report_settings_errors(errors)
        return changed


# ----- conversions -------------------------------------------------------------------------


def _settings_section(raw: Any) -> Any:
    """Accept ``{"settings": {...}}``, ``{"dbos": {...}}``, ``{"globalSettings": ...}`` or a flat object."""
    if not isinstance(raw, Mapping):
        return raw
    for key in ("settings", "dbos", "globalSettings"):
        if key in raw:
            section = raw[key]
            if isinstance(section, list):  # [{workspace, ...}] as in the VS Code tool template
                section = next((s for s in section if isinstance(s, Mapping)), {})
            if isinstance(section, Mapping) and isinstance(section.get("dbos"), Mapping):
                section = section["dbos"]
            return section
    return raw


def to_range(doc: TextDocument, lines: tuple[str, ...], span: Span) -> types.Range:
    return doc.position_codec.range_to_client_units(
        lines,
        ServerTextRange(
            ServerTextPosition(span.start.line, span.start.character),
            ServerTextPosition(span.end.line, span.end.character),
        ),
    )


def to_span(doc: TextDocument, lines: tuple[str, ...], rng: types.Range) -> Span:
    r = doc.position_codec.range_from_client_units(lines, rng)
    return Span(Position(r.start.line, r.start.character), Position(r.end.line, r.end.character))


def to_diagnostic(doc: TextDocument, snap: Snapshot, f: Finding) -> types.Diagnostic:
    rule = lookup(f.code)
    message = f.message if not f.notes else f.message + "\n" + "\n".join(f.notes)
    return types.Diagnostic(
        range=to_range(doc, snap.lines, f.span),
        message=message,
        severity=types.DiagnosticSeverity(int(f.severity)),
        code=f.code,
        code_description=types.CodeDescription(href=rule_url(rule)) if rule is not None else None,
        source="dbos",
        data={"name": f.name},
    )


def diagnostics(doc: TextDocument, snap: Snapshot) -> list[types.Diagnostic]:
    return [to_diagnostic(doc, snap, f) for f in snap.analysis.findings]


def _to_code_action(ls: DbosLanguageServer, doc: TextDocument, snap: Snapshot, action: Action) -> types.CodeAction:
    edits = [types.TextEdit(range=to_range(doc, snap.lines, e.span), new_text=e.new_text) for e in action.edits]
    if _client_has(ls, "workspace", "workspace_edit", "document_changes"):
        ident = types.OptionalVersionedTextDocumentIdentifier(uri=doc.uri, version=snap.version)
        edit = types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=ident, edits=edits)])
    else:
        edit = types.WorkspaceEdit(changes={doc.uri: edits})
    return types.CodeAction(
        title=action.title,
        kind=types.CodeActionKind.QuickFix if action.kind == QUICKFIX else action.kind,
        diagnostics=[to_diagnostic(doc, snap, f) for f in action.findings] or None,
        is_preferred=action.is_preferred or None,
        edit=edit,
    )


def _client_has(ls: LanguageServer, *path: str) -> bool:
    node: Any = ls.client_capabilities
    for name in path:
        node = getattr(node, name, None)
        if node is None:
            return False
    return bool(node)


# ----- handlers ----------------------------------------------------------------------------


def create_server() -> DbosLanguageServer:
    server = DbosLanguageServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: DbosLanguageServer, params: types.InitializeParams) -> None:
        adopt_workspace(ls.workspace)
        folders = params.workspace_folders or []
        root = params.root_path or (to_fs_path(params.root_uri) if params.root_uri else None)
        if folders:
            root = to_fs_path(folders[0].uri)
        ls.folders = [os.path.abspath(to_fs_path(f.uri)) for f in folders if f.uri.startswith("file:")]
        if not ls.folders and root:
            ls.folders = [os.path.abspath(root)]
        ls.workspace_index.roots = list(ls.folders)
        errors = ls.apply_settings(params.initialization_options, root, initial=True)
        ls._pending_settings_errors = errors  # shown once the session is initialized
        td = params.capabilities.text_document
        ls.pull_mode = bool(td is not None and td.diagnostic is not None)
        if ls.pull_mode:
            ls.feature(
                types.TEXT_DOCUMENT_DIAGNOSTIC,
                types.DiagnosticOptions(identifier="dbos", inter_file_dependencies=False, workspace_diagnostics=False),
            )(pull_diagnostics)

    @server.feature(types.INITIALIZED)
    def initialized(ls: DbosLanguageServer, params: types.InitializedParams) -> None:
        mode = "pull" if ls.pull_mode else f"push (debounce {ls.settings.push_debounce_ms} ms)"
        encoding = getattr(ls.workspace.position_encoding, "value", ls.workspace.position_encoding)
        ls.log(f"dbos-lsp {__version__}: diagnostics by {mode}, position encoding {encoding}")
        ls.flush_startup_logs()
        ls.report_settings_errors(ls._pending_settings_errors)
        ls.index_ready = asyncio.get_running_loop().create_future()
        asyncio.ensure_future(_after_initialized(ls))

    async def _after_initialized(ls: DbosLanguageServer) -> None:
        # A client that never answers must not keep the workspace from being indexed.
        try:
            await asyncio.wait_for(ls.register_watchers(), 10)
        except asyncio.TimeoutError:
            ls.log("dbos-lsp: client/registerCapability got no answer", types.MessageType.Warning)
        try:
            if await asyncio.wait_for(ls.pull_configuration(), 10):
                ls.settings_changed()
        except asyncio.TimeoutError:
            ls.log("dbos-lsp: workspace/configuration got no answer", types.MessageType.Warning)
        # Let the first open document's diagnostics go out before the scan competes for the CPU.
        try:
            await asyncio.wait_for(ls.first_analysis.wait(), 2.0)
        except asyncio.TimeoutError:
            pass
        await ls.index_workspace()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: DbosLanguageServer, params: None) -> None:
        ls.shutting_down = True  # stops a running workspace scan at the next file

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: DbosLanguageServer, params: types.DidChangeConfigurationParams) -> None:
        raw = params.settings
        ours = isinstance(raw, Mapping) and any(k in raw for k in ("dbos", "settings", "globalSettings"))
        if not ours and _client_has(ls, "workspace", "configuration"):
            # null, or another tool's section: pull ours rather than resetting to defaults.
            if await ls.pull_configuration():
                ls.settings_changed()
            return
        if isinstance(raw, Mapping) and "dbos" in raw:
            raw = raw["dbos"]
        if ls.change_editor_settings(raw):
            ls.settings_changed()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def did_change_watched_files(ls: DbosLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        await ls.files_changed(list(params.changes))

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: DbosLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        doc = ls.open_document(uri)
        if uri.startswith("file:") and doc is not None:
            if os.path.basename(to_fs_path(uri)) == "pyproject.toml":
                ls._shown_problems.clear()
                ls.settings_changed()
                return
            await ls.reindex_from_disk(os.path.abspath(to_fs_path(uri)), doc.source)

    @server.feature(
        types.WORKSPACE_SYMBOL,
        types.WorkspaceSymbolOptions(resolve_provider=False),
    )
    async def workspace_symbol(
        ls: DbosLanguageServer, params: types.WorkspaceSymbolParams
    ) -> list[types.SymbolInformation]:
        found = await asyncio.to_thread(ls.workspace_index.search, params.query or "")
        out = []
        for sym in found:
            start = types.Position(line=sym.line, character=sym.column)
            end = types.Position(line=sym.line, character=sym.column + len(sym.name))
            out.append(
                types.SymbolInformation(
                    name=sym.name,
                    kind=types.SymbolKind.Method if sym.class_name else types.SymbolKind.Function,
                    location=types.Location(uri=from_fs_path(sym.path), range=types.Range(start=start, end=end)),
                    container_name=sym.module,
                )
            )
        return out

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: DbosLanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        doc = ls.open_document(params.text_document.uri)
        if doc is None:
            return []
        snap = await ls.snapshot(doc)
        index = ls.workspace_index

        def compute():
            model = ls.model_for(snap)
            return [] if model is None else workflow_lenses(model, index.queues_for)

        lenses = await asyncio.to_thread(compute)
        return [
            types.CodeLens(
                range=to_range(doc, snap.lines, Span(Position(l.line, l.column), Position(l.line, l.end_column))),
                command=types.Command(title=l.title, command=""),
            )
            for l in lenses
        ]

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: DbosLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        if not ls.pull_mode:
            ls.schedule_publish(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: DbosLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        if not ls.pull_mode:
            ls.schedule_publish(params.text_document.uri, ls.settings.push_debounce_ms)
        elif params.text_document.uri.startswith("file:"):
            # Pull clients may never ask for this file again (another file's diagnostics
            # depend on it): analyse it once typing pauses, which also keeps the index
            # current; the client's own pull then reuses that analysis.
            ls.schedule_warm(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: DbosLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.forget(uri)
        ls._epochs.pop(uri, None)
        if not ls.pull_mode:
            ls.publish_empty(uri)
        if uri.startswith("file:"):
            # The buffer may be dropped unsaved: the disk is the truth again.
            await ls.reindex_from_disk(os.path.abspath(to_fs_path(uri)))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: DbosLanguageServer, params: types.HoverParams) -> types.Hover | None:
        doc = ls.open_document(params.text_document.uri)
        if doc is None:
            return None
        snap = await ls.snapshot(doc)
        pos = doc.position_codec.position_from_client_units(snap.lines, params.position)
        library = ls.library

        def compute():
            return hover_markdown(snap.text, pos.line, pos.character, snap.analysis, library, ls.model_for(snap))

        result = await asyncio.to_thread(compute)
        if result is None:
            return None
        markdown, span = result
        formats = getattr(getattr(ls.client_capabilities.text_document, "hover", None), "content_format", None)
        kind = types.MarkupKind.Markdown
        if formats and types.MarkupKind.Markdown not in formats:
            kind = types.MarkupKind.PlainText
        return types.Hover(
            contents=types.MarkupContent(kind=kind, value=markdown), range=to_range(doc, snap.lines, span)
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=False),
    )
    async def code_action(ls: DbosLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        doc = ls.open_document(params.text_document.uri)
        if doc is None:
            return []
        snap = await ls.snapshot(doc)
        span = to_span(doc, snap.lines, params.range)
        only = [getattr(k, "value", k) for k in params.context.only] if params.context.only else None
        reanalyze = ls.reanalyzer(snap.path)
        actions = await asyncio.to_thread(code_actions, snap.text, snap.analysis, span, only, reanalyze)
        return [_to_code_action(ls, doc, snap, a) for a in actions]

    return server


async def pull_diagnostics(ls: DbosLanguageServer, params: types.DocumentDiagnosticParams):
    uri = params.text_document.uri
    doc = ls.open_document(uri)
    if doc is None:
        return types.FullDocumentDiagnosticReport(items=[])
    # The generation suffix makes a settings change (or another file's, for DBOS404)
    # invalidate earlier result ids.
    generation, epoch = ls.stamp(uri)
    suffix = f"#{generation}" if generation > 1 else ""
    suffix += f".{epoch}" if epoch else ""
    if params.previous_result_id == f"{uri}@{doc.version}{suffix}":
        return types.UnchangedDocumentDiagnosticReport(result_id=params.previous_result_id)
    snap = await ls.snapshot(doc)
    result_id = f"{uri}@{snap.version}{suffix}"
    items = await asyncio.to_thread(diagnostics, doc, snap)
    return types.FullDocumentDiagnosticReport(items=items, result_id=result_id)


def start(transport: str = "stdio", host: str = "127.0.0.1", port: int = 2087) -> None:
    """Run the server (stdio by default); the CLI's entry point."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="dbos-lsp %(levelname)s %(name)s: %(message)s")
    server = create_server()
    if transport == "tcp":
        server.start_tcp(host, port)
    else:
        from dbos_lsp.lsp.stdio import run_stdio  # exit codes; exits promptly when the client is gone

        run_stdio(server)


__all__ = ["DbosLanguageServer", "Snapshot", "create_server", "pull_diagnostics", "start"]
