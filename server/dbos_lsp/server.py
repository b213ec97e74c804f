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
import sys
import traceback
from urllib.parse import unquote
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from lsprotocol import types
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from . import __version__
from .code_actions import FIX_ALL, QUICKFIX, Action, code_actions
from .engine import analyze, module_model
from .hover import hover_markdown, rule_url
from .model import Analysis, Finding, Position, Span
from .project_index import JediProjectIndex
from .rules import lookup
from .settings import Settings, parse_settings
from .source_text import split_lines

log = logging.getLogger(__name__)
_MAX_LOGGED = 2000  # bound on remembered (rule, uri, version) log keys


@dataclass(frozen=True)
class Snapshot:
    """One analysed version of a document; positions in results refer to ``lines``."""

    uri: str
    version: int
    text: str
    lines: tuple[str, ...]
    path: Optional[str]
    analysis: Analysis


class DbosLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("dbos-lsp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.settings = Settings()
        self.library: Any = None
        self.index: Optional[JediProjectIndex] = None
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

    def apply_settings(self, raw: Any, root: Optional[str] = None) -> list[str]:
        settings, errors = parse_settings(_settings_section(raw))
        old = self.settings
        self.settings = settings
        if self.library is None or settings.extra_skill_paths != old.extra_skill_paths:
            from .skills import load_library

            self.library = load_library(settings.extra_skill_paths)
            for warning in self.library.warnings:
                self._startup_logs.append((types.MessageType.Warning, f"skills: {warning}"))
        if self.index is None or settings.environment_path != old.environment_path:
            root = root if root is not None else getattr(self.index, "root", None)
            self.index = JediProjectIndex(root, settings.environment_path)
            env = self.index.environment_path or "the server's interpreter"
            self._startup_logs.append((types.MessageType.Info, f"dbos-lsp: jedi root {root!r}, environment {env}"))
        self.generation += 1
        self._analyses.clear()
        return errors

    def report_settings_errors(self, errors: list[str]) -> None:
        for e in errors:
            self.log(f"dbos-lsp settings: {e}", types.MessageType.Warning)
        if errors and tuple(errors) != self._last_settings_errors:
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning,
                    message=f"dbos-lsp: ignored invalid settings ({errors[0]}"
                    + (f", and {len(errors) - 1} more" if len(errors) > 1 else "")
                    + "); defaults are used instead. See the output log.",
                )
            )
        self._last_settings_errors = tuple(errors)

    def flush_startup_logs(self) -> None:
        logs, self._startup_logs = self._startup_logs, []
        for kind, message in logs:
            self.log(message, kind)

    # ----- analysis ------------------------------------------------------------------------

    def open_document(self, uri: str) -> Optional[TextDocument]:
        return self.workspace.text_documents.get(unquote(uri))

    async def snapshot(self, doc: TextDocument) -> Snapshot:
        version = doc.version if doc.version is not None else 0
        text = doc.source
        path = to_fs_path(doc.uri) if doc.uri.startswith("file:") else None
        entry = self._analyses.get(doc.uri)
        if entry is not None and entry[:3] == (version, self.generation, text) and not entry[3].cancelled():
            future = entry[3]
        else:
            future = asyncio.ensure_future(asyncio.to_thread(self._analyze, text, path))
            self._analyses[doc.uri] = (version, self.generation, text, future)
        # shield: a cancelled debounce must not cancel an analysis a hover is waiting for.
        analysis = await asyncio.shield(future)
        self._log_rule_errors(doc.uri, version, analysis)
        return Snapshot(doc.uri, version, text, tuple(split_lines(text, keepends=True)), path, analysis)

    def _analyze(self, text: str, path: Optional[str]) -> Analysis:
        try:
            return analyze(text, self.settings, self.index, path)
        except Exception as exc:  # an engine bug degrades to "no findings" plus a log line
            return Analysis(rule_errors=[("engine", f"{type(exc).__name__}: {exc}")])

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
        key = (snap.uri, snap.version, self.generation)
        cached = self._models.get(snap.uri)
        if cached is not None and cached[0] == key:
            return cached[1]
        model = snap.analysis.model or module_model(snap.text, self.index, snap.path)
        self._models[snap.uri] = (key, model)
        return model

    def reanalyzer(self, path: Optional[str]):
        settings, index = self.settings, self.index
        return lambda text: analyze(text, settings, index, path)

    def forget(self, uri: str) -> None:
        self._analyses.pop(uri, None)
        self._models.pop(uri, None)
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    # ----- push diagnostics ----------------------------------------------------------------

    def schedule_publish(self, uri: str, delay_ms: int) -> None:
        old = self._timers.pop(uri, None)
        if old is not None:
            old.cancel()
        self._timers[uri] = asyncio.ensure_future(self._publish_later(uri, delay_ms))

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
        folders = params.workspace_folders or []
        root = params.root_path or (to_fs_path(params.root_uri) if params.root_uri else None)
        if folders:
            root = to_fs_path(folders[0].uri)
        errors = ls.apply_settings(params.initialization_options, root)
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

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: DbosLanguageServer, params: types.DidChangeConfigurationParams) -> None:
        raw = params.settings
        ours = isinstance(raw, Mapping) and any(k in raw for k in ("dbos", "settings", "globalSettings"))
        if not ours and _client_has(ls, "workspace", "configuration"):
            # null, or another tool's section: ask for ours rather than resetting to defaults.
            try:
                answer = await ls.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section="dbos")])
                )
                raw = answer[0] if answer else None
                if raw is None:
                    return  # the client has no "dbos" section: keep the initialization settings
            except Exception as exc:
                ls.log(f"dbos-lsp: workspace/configuration failed: {exc}", types.MessageType.Warning)
                return
        if isinstance(raw, Mapping) and "dbos" in raw:
            raw = raw["dbos"]
        ls.report_settings_errors(ls.apply_settings(raw))
        ls.flush_startup_logs()
        if ls.pull_mode:
            if _client_has(ls, "workspace", "diagnostics", "refresh_support"):
                ls.workspace_diagnostic_refresh(None)
        else:
            for uri in list(ls.workspace.text_documents):
                ls.schedule_publish(uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: DbosLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        if not ls.pull_mode:
            ls.schedule_publish(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: DbosLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        if not ls.pull_mode:
            ls.schedule_publish(params.text_document.uri, ls.settings.push_debounce_ms)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: DbosLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.forget(uri)
        if not ls.pull_mode:
            ls.publish_empty(uri)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: DbosLanguageServer, params: types.HoverParams) -> Optional[types.Hover]:
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
        return types.Hover(contents=types.MarkupContent(kind=kind, value=markdown), range=to_range(doc, snap.lines, span))

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
    # The generation suffix makes a settings change invalidate earlier result ids.
    suffix = f"#{ls.generation}" if ls.generation > 1 else ""
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
        server.start_io()


__all__ = ["DbosLanguageServer", "Snapshot", "create_server", "pull_diagnostics", "start"]
