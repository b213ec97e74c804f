"""Workflow handles from a ``DBOSClient`` are their own type (dbos 3.4.0
``_client.WorkflowHandleClientPolling``): their ``get_result()`` and ``get_status()`` poll the
system database with no event-loop check, so in async code they block (DBOS102) and never
raise (DBOS101), unlike the sync handles ``DBOS`` itself returns."""

from __future__ import annotations

import ast

import pytest

from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.knowledge import sdk_facts as sdk

SOURCE = """\
from dbos import DBOS, DBOSClient, DebouncerClient, WorkflowHandle


async def poll(client: DBOSClient, debouncer: DebouncerClient, workflow_id: str) -> None:
    retrieved = client.retrieve_workflow(workflow_id)
    enqueued = client.enqueue({"workflow_name": "w", "queue_name": "q"})
    annotated: WorkflowHandle[str] = client.fork_workflow(workflow_id, 2)
    bounced = debouncer.debounce("key", 1.0)
    own = DBOS.retrieve_workflow(workflow_id)
    retrieved.get_status()
    enqueued.get_result()
    annotated.get_status()
    bounced.get_status()
    client.retrieve_workflow(workflow_id).get_status()
    own.get_status()
"""


def _line(text: str, needle: str) -> int:
    """0-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def _codes_on(text: str, needle: str) -> set[str]:
    line = _line(text, needle)
    return {f.code for f in analyze(text).findings if f.span.start.line == line}


@pytest.mark.parametrize(
    "needle",
    [
        "retrieved.get_status()",
        "enqueued.get_result()",
        "annotated.get_status()",
        "bounced.get_status()",
        "client.retrieve_workflow(workflow_id).get_status()",
    ],
)
def test_client_handle_methods_block_but_do_not_raise(needle: str) -> None:
    assert _codes_on(SOURCE, needle) == {"DBOS102"}


def test_dbos_handle_get_status_still_raises() -> None:
    assert _codes_on(SOURCE, "own.get_status()") == {"DBOS101"}


def test_client_handles_get_their_own_type() -> None:
    model = ModuleModel(ast.parse(SOURCE), SOURCE.splitlines())
    fn = next(f for f in model.functions if f.name == "poll")
    types = {name: model.instance_type(name, fn) for name in ("retrieved", "enqueued", "annotated", "bounced", "own")}
    assert types == {
        "retrieved": sdk.HANDLE_CLIENT,
        "enqueued": sdk.HANDLE_CLIENT,
        "annotated": sdk.HANDLE_CLIENT,
        "bounced": sdk.HANDLE_CLIENT,
        "own": sdk.HANDLE,
    }


def test_awaiting_a_client_sync_handle_method_is_dbos103() -> None:
    text = SOURCE + "    await retrieved.get_result()\n"
    assert _codes_on(text, "await retrieved.get_result()") == {"DBOS103"}
