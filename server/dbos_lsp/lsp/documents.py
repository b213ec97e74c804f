"""pygls's document store, with two corrections the server relies on.

* Lines split only at ``\\r\\n``, ``\\r`` and ``\\n``, as the LSP (and Python's tokenizer)
  define them.  pygls uses ``str.splitlines``, which also breaks at form feeds, U+2028
  and a few control characters, so every incremental edit below such a character
  would land on the wrong line and the server's text would drift from the editor's.
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
    @property
    def lines(self) -> Sequence[str]:
        return tuple(split_lines(self.source, keepends=True))


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
