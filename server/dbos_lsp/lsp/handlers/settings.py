"""Settings at run time: ``workspace/didChangeConfiguration`` and ``workspace/configuration``.

A configuration round trip is marked as under way before the next message is read, so a
request that follows the change waits for it (bounded) and answers with the new settings.
A client that answers ``null``, an error or nothing at all keeps the settings as they were,
with a log line and no dialog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from lsprotocol import types

from dbos_lsp.lsp.server import CONFIG_WAIT, DbosLanguageServer

CONFIGURATION_TIMEOUT = 10  # seconds the client may take to answer workspace/configuration


def did_change_configuration(ls: DbosLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    raw = params.settings
    ours = isinstance(raw, Mapping) and any(k in raw for k in ("dbos", "settings", "globalSettings"))
    if not ours and ls.client_has("workspace", "configuration"):
        begin_configuration_pull(ls)  # null, or another tool's section: pull ours, not defaults
        return
    if isinstance(raw, Mapping) and "dbos" in raw:
        raw = raw["dbos"]
    if change_editor_settings(ls, raw):
        ls.settings_changed()


def begin_configuration_pull(ls: DbosLanguageServer) -> None:
    if not ls.client_has("workspace", "configuration"):
        return
    ls.config_pull = asyncio.ensure_future(_pull_and_apply(ls))
    ls.config_deadline = asyncio.get_running_loop().time() + CONFIG_WAIT


async def _pull_and_apply(ls: DbosLanguageServer) -> None:
    if await pull_configuration(ls):
        ls.settings_changed()


async def pull_configuration(ls: DbosLanguageServer) -> bool:
    """Ask for the ``dbos`` section; True when the editor settings changed."""
    request = types.ConfigurationParams(items=[types.ConfigurationItem(section="dbos")])
    try:
        answer = await asyncio.wait_for(ls.workspace_configuration_async(request), CONFIGURATION_TIMEOUT)
    except asyncio.TimeoutError:
        ls.log("dbos-lsp: workspace/configuration got no answer", types.MessageType.Warning)
        return False
    except Exception as exc:
        ls.log(f"dbos-lsp: workspace/configuration failed: {exc}", types.MessageType.Warning)
        return False
    raw = answer[0] if isinstance(answer, (list, tuple)) and answer else None
    if raw is None:
        return False  # no "dbos" section: keep the initialization settings
    if isinstance(raw, Mapping) and "dbos" in raw:
        raw = raw["dbos"]
    return change_editor_settings(ls, raw)


def change_editor_settings(ls: DbosLanguageServer, raw: Any) -> bool:
    changed, errors = ls.session.change_editor_settings(raw)
    ls.flush_logs()
    ls.report_settings_errors(errors)
    return changed


def register(server: DbosLanguageServer) -> None:
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
