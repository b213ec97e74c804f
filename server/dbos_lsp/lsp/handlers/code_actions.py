"""``textDocument/codeAction`` (quick fixes, disable comments, fix-all) and ``textDocument/codeLens``."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from dbos_lsp.features.code_actions import FIX_ALL, FIX_ALL_TITLE, QUICKFIX, Action, code_actions
from dbos_lsp.features.code_lens import workflow_lenses
from dbos_lsp.lsp.convert import code_lens, to_code_action, to_span
from dbos_lsp.lsp.server import DbosLanguageServer


async def code_action(ls: DbosLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    doc = ls.open_document(params.text_document.uri)
    if doc is None:
        return []
    snap = await ls.snapshot(doc, exact=True)
    span = to_span(doc, snap.lines, params.range)
    only = [getattr(k, "value", k) for k in params.context.only] if params.context.only else None
    session = ls.session
    defer = resolves_edits(ls)
    actions = await asyncio.to_thread(
        code_actions,
        snap.text,
        snap.analysis,
        span,
        only,
        session.reanalyzer(snap.path),
        lambda: session.fix_all_for(snap),
        defer,
    )
    versioned = ls.client_has("workspace", "workspace_edit", "document_changes")
    result = []
    for a in actions:
        action = to_code_action(doc, snap, a, versioned)
        if a.deferred:
            action.edit = None
            action.data = {"fixAll": doc.uri, "version": snap.version}
        result.append(action)
    return result


def resolves_edits(ls: DbosLanguageServer) -> bool:
    """Whether the client asks for a code action's edit when the user picks it."""
    caps = ls.client_capabilities.text_document
    support = caps.code_action.resolve_support if caps and caps.code_action else None
    return support is not None and "edit" in (support.properties or [])


async def resolve(ls: DbosLanguageServer, action: types.CodeAction) -> types.CodeAction:
    """Fill in a deferred fix-all.  A stale request (the document changed since) gets no
    edit: applying edits computed for another version would corrupt the text."""
    data = action.data if isinstance(action.data, dict) else {}
    uri = data.get("fixAll")
    doc = ls.open_document(uri) if isinstance(uri, str) else None
    if doc is None:
        return action
    snap = await ls.snapshot(doc)
    if snap.version != data.get("version"):
        return action
    fixed = await asyncio.to_thread(ls.session.fix_all_for, snap)
    if fixed is not None:
        kind = QUICKFIX if action.kind == types.CodeActionKind.QuickFix else FIX_ALL
        versioned = ls.client_has("workspace", "workspace_edit", "document_changes")
        full = to_code_action(doc, snap, Action(FIX_ALL_TITLE, kind, [fixed[0]], False, fixed[1]), versioned)
        action.edit = full.edit
    return action


async def lenses(ls: DbosLanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    doc = ls.open_document(params.text_document.uri)
    if doc is None:
        return []
    snap = await ls.snapshot(doc, exact=True)
    session = ls.session
    index = session.workspace.workspace_index

    def compute():
        model = session.model_for(snap)
        return [] if model is None else workflow_lenses(model, index.queues_for)

    return [code_lens(doc, snap, lens) for lens in await asyncio.to_thread(compute)]


def register(server: DbosLanguageServer) -> None:
    server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=True),
    )(code_action)
    server.feature(types.CODE_ACTION_RESOLVE)(resolve)
    server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))(lenses)
