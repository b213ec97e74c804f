"""``initialize``, ``initialized`` and ``shutdown``: negotiation, then the background start-up."""

from __future__ import annotations

import asyncio
import os

from lsprotocol import types
from pygls.uris import to_fs_path

from dbos_lsp import __version__
from dbos_lsp.lsp.delivery import chooses_pull
from dbos_lsp.lsp.documents import adopt as adopt_workspace
from dbos_lsp.lsp.handlers import diagnostics, settings, workspace
from dbos_lsp.lsp.server import DbosLanguageServer

START_TIMEOUT = 10  # seconds a client may take to answer a start-up request
FIRST_DIAGNOSTICS_WAIT = 2.0  # seconds the scan waits for the first diagnostics to go out


def initialize(ls: DbosLanguageServer, params: types.InitializeParams) -> None:
    adopt_workspace(ls.workspace)
    folders = params.workspace_folders or []
    root = params.root_path or (to_fs_path(params.root_uri) if params.root_uri else None)
    if folders:
        root = to_fs_path(folders[0].uri)
    paths = [p for p in (ls.path_of(f.uri) for f in folders) if p]
    if not paths and root:
        paths = [os.path.abspath(root)]
    session = ls.session
    session.workspace.set_folders(paths)
    ls.pending_settings_errors = session.apply_settings(params.initialization_options, root, initial=True)
    session.pull_mode = chooses_pull(params.capabilities)
    if session.pull_mode:
        diagnostics.register_pull(ls)


def initialized(ls: DbosLanguageServer, params: types.InitializedParams) -> None:
    mode = "pull" if ls.session.pull_mode else f"push (debounce {ls.session.settings.push_debounce_ms} ms)"
    encoding = getattr(ls.workspace.position_encoding, "value", ls.workspace.position_encoding)
    ls.log(f"dbos-lsp {__version__}: diagnostics by {mode}, position encoding {encoding}")
    ls.flush_logs()
    ls.report_settings_errors(ls.pending_settings_errors)
    ls.index_ready = asyncio.get_running_loop().create_future()
    settings.begin_configuration_pull(ls)  # requests wait for it, so the first answer uses it
    asyncio.ensure_future(_start_up(ls))


async def _start_up(ls: DbosLanguageServer) -> None:
    # A client that never answers must not keep the workspace from being indexed.
    try:
        await asyncio.wait_for(workspace.register_watchers(ls), START_TIMEOUT)
    except asyncio.TimeoutError:
        ls.log("dbos-lsp: client/registerCapability got no answer", types.MessageType.Warning)
    if ls.config_pull is not None:
        await asyncio.wait([ls.config_pull])
    # Let the first open document's diagnostics go out before the scan competes for the CPU.
    try:
        await asyncio.wait_for(ls.session.first_analysis.wait(), FIRST_DIAGNOSTICS_WAIT)
    except asyncio.TimeoutError:
        pass
    await workspace.index_workspace(ls)


def shutdown(ls: DbosLanguageServer, params: None) -> None:
    ls.shutting_down = True  # stops a running workspace scan at the next file


def register(server: DbosLanguageServer) -> None:
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.SHUTDOWN)(shutdown)
