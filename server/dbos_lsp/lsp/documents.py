"""pygls's document store, with two corrections the server relies on.

* Lines split only at ``\\r\\n``, ``\\r`` and ``\\n``, as the LSP (and Python's tokenizer)
  define them.  pygls uses ``str.splitlines``, which also breaks at form feeds, U+2028
  and a few control characters, so every incremental edit below such a character
  would land on the wrong line and the server's text would drift from the editor's.
* An incremental change rewrites only the lines it touches and keeps the split lines
  for the next one: pygls splits the whole text again on every change (a few
  milliseconds of event-loop time per keystroke in a 2,600-line file, and the loop is
  what reads the client's messages).
* A ``didChange`` for a document that is not open (a client race around close or
  rename) is ignored with a log line instead of raising into an error dialog.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import unquote

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from dbos_lsp.analysis.source_text import split_lines

log = logging.getLogger(__name__)


class LspLinesTextDocument(TextDocument):
    _split: tuple[str | None, tuple[str, ...]] = (None, ())  # (source, its lines)

    @property
    def lines(self) -> Sequence[str]:
        source = self.source
        if self._split[0] is not source:
            self._split = (source, tuple(split_lines(source, keepends=True)))
        return self._split[1]

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        lines = self.lines
        rng = self._position_codec.range_from_client_units(lines, change.range)
        start, end = rng.start, rng.end
        if not (start.line <= end.line < len(lines)) or (start.line == end.line and start.character > end.character):
            return super()._apply_incremental_change(change)  # pygls's own rules at the edges
        before = lines[start.line][: start.character]
        piece = before + change.text + lines[end.line][end.character :]
        after = lines[end.line + 1 :]
        glued = (piece.endswith("\r") and after and after[0].startswith("\n")) or (
            piece.startswith("\n") and start.line > 0 and lines[start.line - 1].endswith("\r")
        )
        if glued:  # a new "\r\n" across the edit's edge: split the whole text
            return super()._apply_incremental_change(change)
        new_lines = (*lines[: start.line], *split_lines(piece, keepends=True), *after)
        source = "".join(new_lines)
        self._source = source
        self._split = (source, new_lines)


class DbosWorkspace(Workspace):
    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspLinesTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )

    def update_text_document(
        self, text_doc: types.VersionedTextDocumentIdentifier, change: types.TextDocumentContentChangeEvent
    ) -> None:
        if unquote(text_doc.uri) not in self._text_documents:
            log.info("dbos-lsp: ignoring a change to %s, which is not open", text_doc.uri)
            return
        super().update_text_document(text_doc, change)


def adopt(workspace: Workspace) -> None:
    """Give the workspace pygls created at ``initialize`` our behaviour (same fields)."""
    if not isinstance(workspace, DbosWorkspace):
        workspace.__class__ = DbosWorkspace
