"""``textDocument/diagnostic`` (pull clients only; registered during ``initialize``)."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from dbos_lsp.lsp.server import DbosLanguageServer


async def pull_diagnostics(ls: DbosLanguageServer, params: types.DocumentDiagnosticParams):
    uri = params.text_document.uri
    ls.pull_watch.pulled(uri)
    if ls.pull_watch.fell_back:
        # Pushed since this client left a document unpulled; a pull now would show each
        # finding twice.
        return types.FullDocumentDiagnosticReport(items=[])
    await ls.settled(uri)
    doc = ls.open_document(uri)
    if doc is None:
        return types.FullDocumentDiagnosticReport(items=[])
    # The id covers the text, the settings and the index epoch: equal ids, equal findings.
    current = ls.session.current_result_id(uri, doc.version or 0, doc.source)
    if params.previous_result_id is not None and params.previous_result_id == current:
        return types.UnchangedDocumentDiagnosticReport(result_id=current)
    snap = await ls.snapshot(doc)
    items = await asyncio.to_thread(ls.diagnostics_of, doc, snap)
    return types.FullDocumentDiagnosticReport(items=items, result_id=ls.session.snapshot_result_id(snap))


def register_pull(server: DbosLanguageServer) -> None:
    server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(identifier="dbos", inter_file_dependencies=False, workspace_diagnostics=False),
    )(pull_diagnostics)


def register(server: DbosLanguageServer) -> None:
    """Nothing until ``initialize`` says the client pulls (see :func:`register_pull`)."""
