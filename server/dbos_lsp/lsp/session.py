"""Session state of the language server, without protocol types (unit-testable alone).

What one editor session knows: the layered settings (initialization options, then
``workspace/configuration``, over each file's pyproject), the analysis of each open
document's current version, the parsed state of the few most recently edited ones,
per-document epochs (bumped when another file's change concerns them), batched refresh
decisions and which problems were already reported.  The server turns its answers into
messages; nothing here talks to the client.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbos_lsp.analysis.findings import Analysis
from dbos_lsp.analysis.parsing import is_ast_race
from dbos_lsp.analysis.settings import Settings, parse_settings
from dbos_lsp.analysis.source_text import split_lines
from dbos_lsp.engine.incremental import IncrementalAnalyzer
from dbos_lsp.engine.pipeline import analyze, module_model
from dbos_lsp.features.code_actions import FixAllResult, fix_all
from dbos_lsp.lsp.workspace_state import WorkspaceState
from dbos_lsp.project.files import text_too_large

KEEP_PARSED = 8  # documents whose parsed module and incremental state stay in memory
MAX_REMEMBERED = 2000  # bound on remembered (rule, uri, version) and problem keys

Stamp = tuple[int, int]  # (settings generation, document epoch)
MAX_PARALLEL = 1  # document analyses at once (see Session._pump)
YIELD_SECONDS = 1.0  # the longest the workspace scan waits for document analyses per file
IDLE_AFTER = 0.2  # seconds without a document analysis before the scan goes on


@dataclass(frozen=True)
class _Job:
    key: tuple[int, Stamp, str]  # (version, stamp, text)
    path: str | None
    future: asyncio.Future  # resolves to a _Done


@dataclass(frozen=True)
class _Done:
    key: tuple[int, Stamp, str]  # what was analysed: maybe newer than what a caller asked for
    path: str | None
    analysis: Analysis
    problems: list[str]
    excluded: bool
    lines: tuple[str, ...]  # of the analysed text, split once (not per request)


def _settle(target: asyncio.Future, source: asyncio.Future) -> None:
    """Give ``target`` (unless it is done) the outcome of the settled ``source``."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())


def _forward(source: asyncio.Future, target: asyncio.Future) -> None:
    """Settle ``target`` as ``source`` settles."""
    source.add_done_callback(lambda f: _settle(target, f))


@dataclass(frozen=True)
class Snapshot:
    """One analysed version of a document; positions in results refer to ``lines``."""

    uri: str
    version: int
    text: str
    lines: tuple[str, ...]
    path: str | None
    analysis: Analysis
    stamp: Stamp  # what the analysis used besides the text


def settings_section(raw: Any) -> Any:
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


class Session:
    def __init__(self, workspace: WorkspaceState | None = None) -> None:
        self.workspace = workspace if workspace is not None else WorkspaceState()
        self.settings = Settings()
        self.library: Any = None
        self.pull_mode = False
        # Editor settings (initializationOptions, overlaid by workspace/configuration "dbos"):
        # per document they go over the nearest pyproject's [tool.dbos-lsp], key by key.
        self.init_settings: dict[str, Any] = {}
        self.editor_settings: dict[str, Any] = {}
        self.generation = 0  # bumped on settings changes; invalidates cached analyses
        self.pending_logs: list[tuple[str, str]] = []  # (level, message) for the output log
        self._nonce = os.urandom(6).hex()  # result ids of an earlier server process never match
        self._analyses: dict[str, tuple[tuple[int, Stamp, str], asyncio.Future]] = {}  # newest asked
        self._running: dict[str, asyncio.Future] = {}  # the analysis thread of each document
        # Set while no document analysis runs or waits: the workspace scan yields to them.
        self._idle = threading.Event()
        self._idle.set()
        self._waiting: dict[str, _Job] = {}  # the next analysis of each document
        self._queue: OrderedDict[str, None] = OrderedDict()  # documents with one waiting, oldest first
        self._result_ids: dict[str, tuple[tuple[int, Stamp], str, str]] = {}
        self._models: dict[str, tuple[tuple, Any]] = {}
        self._fix_alls: dict[str, tuple[tuple, FixAllResult]] = {}
        self._incremental: OrderedDict[str, tuple[IncrementalAnalyzer, threading.Lock]] = OrderedDict()
        self._incremental_lock = threading.Lock()
        self._epochs: dict[str, int] = {}
        self._epoch_counter = itertools.count(1)
        # Other files each open document's analyses read (helpers, imported names); a
        # saved change of one of them makes the document stale.  Only ever grows until the
        # document is reopened: incremental analyses reuse what earlier ones read.
        self._reads: dict[str, set[str]] = {}
        self._reads_lock = threading.Lock()
        self._refresh_all = False
        self._refresh_pending: set[str] = set()
        self._shown_problems: set[str] = set()
        self._logged_rule_errors: set[tuple[str, str, int]] = set()
        self._shown_error_types: set[str] = set()
        self.first_analysis = asyncio.Event()  # set once any document has been analysed

    @property
    def index(self):
        return self.workspace.index

    # ----- settings ----------------------------------------------------------------------------

    def apply_settings(self, raw: Any, root: str | None = None, initial: bool = False) -> list[str]:
        """Editor settings: from initializationOptions (``initial``) or a configuration change,
        which overlays the initialization values key by key.  Returns the problems found."""
        section = settings_section(raw)
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
                self.pending_logs.append(("warning", f"skills: {warning}"))
        if self.index is None or settings.environment_path != old.environment_path:
            root = root if root is not None else getattr(self.index, "root", None)
            index = self.workspace.make_index(root, settings.environment_path)
            env = index.environment_path or "the server's interpreter"
            self.pending_logs.append(("info", f"dbos-lsp: jedi root {root!r}, environment {env}"))
        self.invalidate()
        return errors

    def change_editor_settings(self, raw: Any) -> tuple[bool, list[str]]:
        """A configuration change: (whether anything changed, problems)."""
        before = (dict(self.editor_settings), self.settings)
        errors = self.apply_settings(raw)
        changed = (self.editor_settings, self.settings) != before
        if changed:
            self.problems_are_news()  # the user changed them: remaining problems are news
        return changed, errors

    def settings_for(self, path: str | None) -> tuple[Settings, list[str]]:
        return self.workspace.settings_for(path, self.editor_settings)

    def excluded(self, path: str | None, settings: Settings | None = None) -> bool:
        if not path:
            return False
        return self.workspace.excluded(path, settings if settings is not None else self.settings_for(path)[0])

    def index_excluded(self, path: str, cache: dict[str, Settings] | None = None) -> bool:
        """Whether the index leaves ``path`` out; ``cache`` holds settings per folder during a
        scan (they depend on the nearest pyproject)."""
        folder = os.path.dirname(path)
        settings = cache.get(folder) if cache is not None else None
        if settings is None:
            settings = self.settings_for(path)[0]
            if cache is not None:
                cache[folder] = settings
        return self.workspace.excluded(path, settings)

    # ----- what was reported -------------------------------------------------------------------

    def new_problems(self, errors: list[str]) -> list[str]:
        """Settings problems not reported before (a broken setting is shown once, not on
        every analysis)."""
        new = [e for e in dict.fromkeys(errors) if e not in self._shown_problems]
        if len(self._shown_problems) > MAX_REMEMBERED:
            self._shown_problems.clear()
        self._shown_problems.update(new)
        return new

    def problems_are_news(self) -> None:
        """The settings' source changed: problems still there are worth showing again."""
        self._shown_problems.clear()

    def new_rule_errors(self, uri: str, version: int, analysis: Analysis) -> list[tuple[str, str]]:
        """Rule failures of this version not logged yet, as (code, error)."""
        out = []
        for code, error in analysis.rule_errors:
            key = (code, uri, version)
            if key in self._logged_rule_errors:
                continue
            if len(self._logged_rule_errors) > MAX_REMEMBERED:
                self._logged_rule_errors.clear()
            self._logged_rule_errors.add(key)
            out.append((code, error))
        return out

    def first_of_kind(self, kind: str) -> bool:
        """True the first time an internal error of ``kind`` is seen (one dialog per cause)."""
        if kind in self._shown_error_types:
            return False
        self._shown_error_types.add(kind)
        return True

    # ----- analyses ------------------------------------------------------------------------------

    def stamp(self, uri: str) -> Stamp:
        """What a cached analysis of ``uri`` depends on besides its text: the settings
        generation and the document's epoch."""
        return (self.generation, self._epochs.get(uri, 0))

    def result_id(self, uri: str, version: int, text: str, stamp: Stamp) -> str:
        """Changes whenever the text or anything the analysis used changes, so a client's
        previous result id can only match the very same input."""
        cached = self._result_ids.get(uri)
        if cached is not None and cached[0] == (version, stamp) and cached[1] is text:
            return cached[2]  # every pull asks again: hash a 100 KB text once per version
        digest = hashlib.blake2b(digest_size=8)
        digest.update(f"{self._nonce}\0{stamp[0]}\0{stamp[1]}\0".encode())
        digest.update(text.encode("utf-8", "surrogatepass"))
        rid = f"{uri}@{version}#{digest.hexdigest()}"
        self._result_ids[uri] = ((version, stamp), text, rid)
        return rid

    def current_result_id(self, uri: str, version: int, text: str) -> str:
        return self.result_id(uri, version, text, self.stamp(uri))

    def snapshot_result_id(self, snap: Snapshot) -> str:
        return self.result_id(snap.uri, snap.version, snap.text, snap.stamp)

    async def snapshot(self, uri: str, version: int, text: str, path: str | None) -> tuple[Snapshot, list[str]]:
        """The analysis of this version and its settings problems, computed once, in a
        worker thread.

        Coalesced per document: at most one analysis runs and one waits.  A request for a
        newer text replaces the waiting one, whose callers then get the newer analysis
        (``Snapshot.version`` says which): under an edit storm only the versions the
        server has time for are analysed, and the default thread pool stays free for
        everything else (hover, ``workspace/symbol``).  Across documents, one analysis
        runs at a time, in the order they were asked for."""
        stamp = self.stamp(uri)
        key = (version, stamp, text)
        entry = self._analyses.get(uri)
        if entry is not None and entry[0] == key and not entry[1].cancelled():
            future = entry[1]
        else:
            future = asyncio.get_running_loop().create_future()
            self._analyses[uri] = (key, future)
            waiting = self._waiting.pop(uri, None)
            if waiting is not None:  # superseded before it started: its callers get this one
                _forward(future, waiting.future)
            self._waiting[uri] = _Job(key, path, future)
            self._queue.setdefault(uri, None)  # keeps its place when asked again
            self._pump()
        # shield: a cancelled debounce must not cancel an analysis a hover is waiting for.
        done: _Done = await asyncio.shield(future)
        self.first_analysis.set()
        (version, stamp, text) = done.key
        return Snapshot(uri, version, text, done.lines, done.path, done.analysis, stamp), done.problems

    def _pump(self) -> None:
        """Start waiting analyses, the document asked first first, while fewer than
        ``MAX_PARALLEL`` run.  One at a time: threads share one interpreter lock, so two
        analyses side by side both finish later, and the file in front of the user (the
        client asks for it first) would wait for the others."""
        for uri in list(self._queue):
            if len(self._running) >= MAX_PARALLEL:
                return
            if uri in self._running:
                continue  # its next analysis waits for the running one
            del self._queue[uri]
            job = self._waiting.pop(uri, None)
            if job is not None and not job.future.done():  # else: cancelled meanwhile
                self._start(uri, job)

    def _start(self, uri: str, job: _Job) -> None:
        text = job.key[2]
        thread = asyncio.ensure_future(asyncio.to_thread(self._analyze_and_split, text, job.path, uri))
        self._running[uri] = thread
        self._idle.clear()

        def finished(t: asyncio.Future) -> None:
            self._running.pop(uri, None)
            if not self._running:
                # Idle a moment later: the next file of a burst of opens, or the next
                # keystroke, usually follows at once.
                loop = asyncio.get_running_loop()
                loop.call_later(IDLE_AFTER, lambda: None if self._running else self._idle.set())
            if job.future.done() or t.cancelled() or t.exception() is not None:
                _settle(job.future, t)
            else:
                analysis, problems, excluded, lines = t.result()
                job.future.set_result(_Done(job.key, job.path, analysis, problems, excluded, lines))
                if uri in self._analyses:  # not closed meanwhile
                    self.on_analysed(uri, job.path, analysis, excluded)
            self._pump()

        thread.add_done_callback(finished)

    def wait_for_analyses(self, most: float = YIELD_SECONDS) -> None:
        """Any thread: wait (at most ``most`` seconds) until no document analysis runs, so
        background work such as the workspace scan lets the documents a user opens or
        edits be analysed first, yet never stalls for good."""
        self._idle.wait(most)

    def on_analysed(self, uri: str, path: str | None, analysis: Analysis, excluded: bool) -> None:
        """Hook for the server (keeps the workspace index current); nothing by default."""

    def _analyze_and_split(
        self, text: str, path: str | None, uri: str
    ) -> tuple[Analysis, list[str], bool, tuple[str, ...]]:
        analysis, problems, excluded = self.analyze(text, path, uri)
        return analysis, problems, excluded, tuple(split_lines(text, keepends=True))

    def analyze(self, text: str, path: str | None, uri: str | None = None) -> tuple[Analysis, list[str], bool]:
        """Worker thread: (analysis, settings problems, whether the file is excluded)."""
        problems: list[str] = []
        try:
            settings, problems = self.settings_for(path)
            if self.excluded(path, settings):
                return Analysis(), problems, True
            too_large = text_too_large(text, settings.max_file_bytes)
            if too_large is not None:
                # Parsing 20 MB costs minutes and gigabytes, on every keystroke.
                return Analysis(skipped=too_large), problems, False
            try:
                return self._run(text, settings, path, uri), problems, False
            except SystemError as exc:  # CPython's AST race (gh-106905): the same input parses again
                if not is_ast_race(exc):
                    raise
                return analyze(text, settings, self.index, path), problems, False
        except Exception as exc:  # an engine bug degrades to "no findings" plus a log line
            return Analysis(rule_errors=[("engine", f"{type(exc).__name__}: {exc}")]), problems, False

    def _run(self, text: str, settings: Settings, path: str | None, uri: str | None) -> Analysis:
        if uri is None:
            return analyze(text, settings, self.index, path)
        incremental, lock = self._incremental_for(uri)
        with lock, self.index.recording() as read:
            # The epoch changes when a file this document's analyses read changes: until
            # then the index's answers are the same, and unedited statements are kept.
            analysis = incremental.analyze(text, settings, self.index, path, world=self.stamp(uri))
        if read:
            with self._reads_lock:
                self._reads.setdefault(uri, set()).update(read)
        return analysis

    def _incremental_for(self, uri: str) -> tuple[IncrementalAnalyzer, threading.Lock]:
        """The incremental analyzer of a document, kept for the few most recently edited
        ones: each holds a parsed module, and 100 open files must not hold 100 of them."""
        with self._incremental_lock:
            entry = self._incremental.pop(uri, None)
            if entry is None:
                entry = (IncrementalAnalyzer(), threading.Lock())
            self._incremental[uri] = entry  # most recent last
            while len(self._incremental) > KEEP_PARSED:
                old_uri, _ = self._incremental.popitem(last=False)
                self._drop_model(old_uri)
            return entry

    def parsed_documents(self) -> list[str]:
        """URIs whose parsed state is kept, least recently edited first."""
        with self._incremental_lock:
            return list(self._incremental)

    def _drop_model(self, uri: str) -> None:
        """Forget the parsed module of a document nobody is editing (hover re-parses it)."""
        self._models.pop(uri, None)
        self._fix_alls.pop(uri, None)
        cached = self._analyses.get(uri)
        future = cached[1] if cached is not None else None
        if future is not None and future.done() and not future.cancelled() and future.exception() is None:
            future.result().analysis.model = None

    def model_for(self, snap: Snapshot):
        """The parsed module for hover and lenses, built once per analysed version (worker thread)."""
        key = (snap.uri, snap.version, snap.stamp, snap.text)
        cached = self._models.get(snap.uri)
        if cached is not None and cached[0] == key:
            return cached[1]
        if snap.analysis.skipped is not None:
            model = None  # too large to parse for hover either
        else:
            model = snap.analysis.model or module_model(snap.text, self.index, snap.path)
        self._models[snap.uri] = (key, model)
        return model

    def fix_all_for(self, snap: Snapshot) -> FixAllResult:
        """Fix-all of one analysed version, computed once (worker thread): clients ask for
        code actions on every cursor move, and fix-all re-analyses the file several times."""
        key = (snap.uri, snap.version, snap.stamp, snap.text)
        cached = self._fix_alls.get(snap.uri)
        if cached is not None and cached[0] == key:
            return cached[1]
        result = fix_all(snap.text, snap.analysis, self.reanalyzer(snap.path))  # no findings: no work
        self._fix_alls[snap.uri] = (key, result)
        return result

    def reanalyzer(self, path: str | None):
        """A full analysis with this document's settings (fix-all re-analyses its edits).
        The settings are looked up at the first call, on the worker thread: finding the
        nearest pyproject takes a stat per folder, which the event loop must not wait on."""
        index = self.index
        found: list[Settings] = []

        def reanalyze(text: str) -> Analysis:
            if not found:
                found.append(self.settings_for(path)[0])
            return analyze(text, found[0], index, path)

        return reanalyze

    def invalidate(self) -> None:
        """Settings changed: every cached analysis is stale."""
        self.generation += 1
        self._analyses.clear()

    # ----- documents -----------------------------------------------------------------------------

    def opened(self, uri: str) -> None:
        """A fresh epoch: nothing computed for an earlier opening of ``uri`` is reused."""
        self.forget(uri)
        self._epochs[uri] = next(self._epoch_counter)

    def closed(self, uri: str) -> None:
        self.forget(uri)
        self._epochs.pop(uri, None)

    def forget(self, uri: str) -> None:
        """The document was closed: drop its state, and its analysis if it has not started
        (its text may be unsaved changes the user discarded)."""
        with self._reads_lock:
            self._reads.pop(uri, None)
        self._queue.pop(uri, None)
        waiting = self._waiting.pop(uri, None)
        if waiting is not None and not waiting.future.done():
            waiting.future.cancel()
        self._analyses.pop(uri, None)
        self._result_ids.pop(uri, None)
        self._models.pop(uri, None)
        self._fix_alls.pop(uri, None)
        with self._incremental_lock:
            self._incremental.pop(uri, None)

    # ----- another file changed: invalidation now, refresh batched ---------------------------

    def index_changed(self, open_uris: list[str], except_uri: str | None = None) -> None:
        """What one file declares changed (a workflow name, a queue, an enqueue): the other
        open documents' analyses may differ (DBOS404).  ``except_uri`` caused it and is
        current already."""
        if except_uri is None:
            self._refresh_all = True
        for uri in open_uris:
            if uri != except_uri:
                self._epochs[uri] = next(self._epoch_counter)
                self._refresh_pending.add(uri)
        self._refresh_pending.discard(except_uri or "")  # analysed since: current

    def files_changed(self, paths: list[str], open_uris: list[str]) -> list[str]:
        """Files changed on disk (saved, created, deleted): the open documents whose
        analyses read one of them, or searched a folder one is in, are stale.  Returns
        those documents (their refresh is batched)."""
        touched = {os.path.abspath(p) for p in paths}
        touched |= {os.path.dirname(p) for p in touched}
        with self._reads_lock:
            stale = [u for u in open_uris if not touched.isdisjoint(self._reads.get(u, ()))]
        for uri in stale:
            self._epochs[uri] = next(self._epoch_counter)
            self._refresh_pending.add(uri)
        return stale

    def take_refresh(self, open_uris: list[str]) -> list[str]:
        """The documents a batched refresh should cover (and reset the batch)."""
        everything = self._refresh_all
        pending = self._refresh_pending
        self._refresh_all = False
        self._refresh_pending = set()
        return [u for u in open_uris if everything or u in pending]


__all__ = ["KEEP_PARSED", "Session", "Snapshot", "settings_section"]
