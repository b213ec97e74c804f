"""Engine values to and from LSP types, at the edge.

Engine positions are code points; the client's are UTF-16 units (VS Code) or UTF-8 bytes
when negotiated (Neovim, Helix).  Every conversion goes through the document's position
codec, over the lines the analysis saw.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from dbos_lsp.analysis.findings import Finding, Position, Related, Span
from dbos_lsp.features.code_actions import QUICKFIX, Action
from dbos_lsp.features.hover import rule_url
from dbos_lsp.lsp.session import Snapshot
from dbos_lsp.rules import lookup


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


def to_position(doc: TextDocument, lines: tuple[str, ...], pos: types.Position) -> Position:
    p = doc.position_codec.position_from_client_units(lines, pos)
    return Position(p.line, p.character)


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
        related_information=[_related(doc, snap, r) for r in f.related] or None,
    )


def _related(doc: TextDocument, snap: Snapshot, r: Related) -> types.DiagnosticRelatedInformation:
    """A place in this document, or in another file of the project as saved on disk (its
    lines convert the columns to the client's units)."""
    if r.path is None:
        uri, lines = doc.uri, snap.lines
    else:
        uri, lines = Path(r.path).as_uri(), _file_lines(r.path)
    location = types.Location(uri=uri, range=to_range(doc, lines, r.span))
    return types.DiagnosticRelatedInformation(location=location, message=r.message)


def _file_lines(path: str) -> tuple[str, ...]:
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return ()
    return _lines_at(path, stamp)


@functools.lru_cache(maxsize=64)
def _lines_at(path: str, stamp: int) -> tuple[str, ...]:
    # Read once per saved version: every pull of a diagnostic pointing there converts again.
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return tuple(fh.read().splitlines())
    except OSError:
        return ()


def diagnostics(doc: TextDocument, snap: Snapshot, show_syntax_errors: bool = False) -> list[types.Diagnostic]:
    """The findings; and the syntax error too when the ``showSyntaxErrors`` setting is on
    (off by default: Pylance and Ruff show it already, and twice is noise)."""
    items = [to_diagnostic(doc, snap, f) for f in snap.analysis.findings]
    problem = snap.analysis.syntax_error
    if show_syntax_errors and problem is not None:
        items.append(
            types.Diagnostic(
                range=to_range(doc, snap.lines, problem.span),
                message=f"SyntaxError: {problem.message}",
                severity=types.DiagnosticSeverity.Error,
                source="dbos",
            )
        )
    return items


def to_code_action(doc: TextDocument, snap: Snapshot, action: Action, document_changes: bool) -> types.CodeAction:
    """``document_changes``: the client takes versioned edits (``workspace.workspaceEdit.documentChanges``)."""
    edits = [types.TextEdit(range=to_range(doc, snap.lines, e.span), new_text=e.new_text) for e in action.edits]
    if document_changes:
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


def code_lens(doc: TextDocument, snap: Snapshot, lens: Any) -> types.CodeLens:
    span = Span(Position(lens.line, lens.column), Position(lens.line, lens.end_column))
    return types.CodeLens(range=to_range(doc, snap.lines, span), command=types.Command(title=lens.title, command=""))


def symbol_information(sym: Any, uri: str) -> types.SymbolInformation:
    """A workspace symbol; its columns are code points of an ASCII identifier line."""
    start = types.Position(line=sym.line, character=sym.column)
    end = types.Position(line=sym.line, character=sym.column + len(sym.name))
    return types.SymbolInformation(
        name=sym.name,
        kind=types.SymbolKind.Method if sym.class_name else types.SymbolKind.Function,
        location=types.Location(uri=uri, range=types.Range(start=start, end=end)),
        container_name=sym.module,
    )


def markup_kind(capabilities: types.ClientCapabilities) -> types.MarkupKind:
    """Markdown unless the client's hover says it only takes plain text."""
    formats = getattr(getattr(capabilities.text_document, "hover", None), "content_format", None)
    if formats and types.MarkupKind.Markdown not in formats:
        return types.MarkupKind.PlainText
    return types.MarkupKind.Markdown


def client_has(capabilities: Any, *path: str) -> bool:
    """Whether the capability at ``path`` (attribute names) is present and truthy."""
    node: Any = capabilities
    for name in path:
        node = getattr(node, name, None)
        if node is None:
            return False
    return bool(node)


__all__ = [
    "client_has",
    "code_lens",
    "diagnostics",
    "markup_kind",
    "symbol_information",
    "to_code_action",
    "to_diagnostic",
    "to_position",
    "to_range",
    "to_span",
]
