"""``textDocument/codeAction`` (quick fixes, disable comments, fix-all) and ``textDocument/codeLens``."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from dbos_lsp.features.code_actions import FIX_ALL, code_actions
from dbos_lsp.features.code_lens import workflow_lenses
from dbos_lsp.lsp.convert import code_lens, to_code_action, to_span
from dbos_lsp.lsp.server import DbosLanguageServer


async def code_action(ls: DbosLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    doc = ls.open_document(params.text_document.uri)
    if doc is None:
        return []
    snap = await ls.snapshot(doc)
    span = to_span(doc, snap.lines, params.range)
    only = [getattr(k, "value", k) for k in params.context.only] if params.context.only else None
    reanalyze = ls.session.reanalyzer(snap.path)
    actions = await asyncio.to_thread(code_actions, snap.text, snap.analysis, span, only, reanalyze)
    versioned = ls.client_has("workspace", "workspace_edit", "document_changes")
    return [to_code_action(doc, snap, a, versioned) for a in actions]


async def lenses(ls: DbosLanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    doc = ls.open_document(params.text_document.uri)
    if doc is None:
        return []
    snap = await ls.snapshot(doc)
    session = ls.session
    index = session.workspace.workspace_index

    def compute():
        model = session.model_for(snap)
        return [] if model is None else workflow_lenses(model, index.queues_for)

    return [code_lens(doc, snap, lens) for lens in await asyncio.to_thread(compute)]


def register(server: DbosLanguageServer) -> None:
    server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=False),
    )(code_action)
    server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))(lenses)
