"""``textDocument/hover``: rule documentation and DBOS API signatures."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from dbos_lsp.features.hover import hover_markdown
from dbos_lsp.lsp.convert import markup_kind, to_position, to_range
from dbos_lsp.lsp.server import DbosLanguageServer


async def hover(ls: DbosLanguageServer, params: types.HoverParams) -> types.Hover | None:
    doc = ls.open_document(params.text_document.uri)
    if doc is None:
        return None
    snap = await ls.snapshot(doc, exact=True)
    pos = to_position(doc, snap.lines, params.position)
    session = ls.session
    library = session.library

    def compute():
        detail = session.settings_for(snap.path)[0].hover_detail
        model = session.model_for(snap)
        return hover_markdown(snap.text, pos.line, pos.character, snap.analysis, library, model, detail)

    result = await asyncio.to_thread(compute)
    if result is None:
        return None
    markdown, span = result
    contents = types.MarkupContent(kind=markup_kind(ls.client_capabilities), value=markdown)
    return types.Hover(contents=contents, range=to_range(doc, snap.lines, span))


def register(server: DbosLanguageServer) -> None:
    server.feature(types.TEXT_DOCUMENT_HOVER)(hover)
