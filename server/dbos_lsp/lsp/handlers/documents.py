"""Document sync: ``didOpen``, ``didChange``, ``didSave``, ``didClose``.

pygls keeps the text; here the server schedules diagnostics (push clients) or a warm-up
analysis (pull clients, whose other files' findings may depend on this one) and keeps
the workspace index in step with buffers.
"""

from __future__ import annotations

import os

from lsprotocol import types

from dbos_lsp.lsp.handlers.workspace import reindex
from dbos_lsp.lsp.server import DbosLanguageServer


def did_open(ls: DbosLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.session.opened(uri)
    if not ls.session.pull_mode:
        ls.schedule_publish(uri, 0)
    else:
        ls.pull_watch.opened(uri)  # no pull soon: the client gets pushes instead


def did_change(ls: DbosLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    if not ls.session.pull_mode:
        ls.schedule_publish(uri, ls.session.settings.push_debounce_ms)
    elif uri.startswith("file:"):
        # Pull clients may never ask for this file again (another file's diagnostics
        # depend on it): analyse it once typing pauses, which also keeps the index
        # current; the client's own pull then reuses that analysis.
        ls.schedule_warm(uri)


def did_save(ls: DbosLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    doc = ls.open_document(uri)
    path = ls.path_of(uri)
    if path is None or doc is None:
        return
    if os.path.basename(path) == "pyproject.toml":
        ls.session.problems_are_news()
        ls.settings_changed()
        return
    reindex(ls, path, doc.source)
    ls.files_changed([path], except_uri=uri)


def did_close(ls: DbosLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.session.closed(uri)
    ls.pull_watch.closed(uri)
    ls.cancel_scheduled(uri)
    if not ls.session.pull_mode:
        ls.publish_empty(uri)
    path = ls.path_of(uri)
    if path is not None:
        reindex(ls, path)  # the buffer may be dropped unsaved: the disk is the truth again


def register(server: DbosLanguageServer) -> None:
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(types.TEXT_DOCUMENT_DID_SAVE)(did_save)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
