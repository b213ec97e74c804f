"""Facts about the DBOS Python SDK's sync/async API, kept as data in one place.

Source: the SDK (dbos 3.4.0, and 2.31 where noted), as summarised in
``skill-rules-catalog.md`` section 4.3.  Rules read these tables; nothing else
in the package hard-codes an API name list.
"""

from __future__ import annotations

# Class keys are the qualified names the resolver produces.
DBOS = "dbos.DBOS"
QUEUE = "dbos.Queue"
CLIENT = "dbos.DBOSClient"
DEBOUNCER = "dbos.Debouncer"
DEBOUNCER_CLIENT = "dbos.DebouncerClient"
HANDLE = "dbos.WorkflowHandle"
HANDLE_ASYNC = "dbos.WorkflowHandleAsync"
# The sync handle a ``DBOSClient`` (or ``DebouncerClient``) returns: dbos 3.4.0
# ``_client.WorkflowHandleClientPolling``, not exported by ``dbos``.  Its methods poll the
# system database directly, with no ``check_async``: they block a running loop, never raise.
HANDLE_CLIENT = "dbos._client.WorkflowHandleClientPolling"
STEP_RESERVATION = "dbos.StepReservation"
SQL_DATASOURCE = "dbos.SQLAlchemyDatasource"
ASYNC_SQL_DATASOURCE = "dbos.AsyncSQLAlchemyDatasource"

# Sync methods guarded by ``check_async``: they raise RuntimeError inside a running loop.
RAISES_IN_LOOP: dict[str, frozenset[str]] = {
    DBOS: frozenset(
        """register_queue retrieve_queue delete_queue list_queues run_step get_workflow_status
        get_result wait_first retrieve_workflow send send_bulk recv sleep set_event get_event
        get_all_events cancel_workflow cancel_workflows update_workflow_attributes delete_workflow
        delete_workflows resume_workflow resume_workflows set_workflow_delay rewind_workflow
        fork_workflow list_workflows list_queued_workflows list_workflow_steps write_stream
        close_stream read_stream read_stream_offset patch deprecate_patch""".split()
    ),
    STEP_RESERVATION: frozenset({"run"}),
    # The sync handle's get_status() calls DBOS.get_workflow_status.
    HANDLE: frozenset({"get_status"}),
}

# Sync methods with an ``_async`` twin that block the loop but do not raise.
BLOCKS_IN_LOOP: dict[str, frozenset[str]] = {
    DBOS: frozenset(
        """start_workflow enqueue_workflow enqueue_workflow_with_options create_schedule
        list_schedules get_schedule delete_schedule apply_schedules list_application_versions
        get_latest_application_version set_latest_application_version""".split()
    ),
    QUEUE: frozenset(
        """enqueue set_concurrency set_global_concurrency set_worker_concurrency set_limiter
        set_partition_concurrency set_partition_worker_concurrency set_partition_limiter
        set_polling_interval_sec""".split()
    ),
    CLIENT: frozenset(
        """check_connection enqueue register_queue retrieve_queue delete_queue list_queues
        retrieve_workflow wait_first send send_bulk get_event cancel_workflow cancel_workflows
        update_workflow_attributes delete_workflow delete_workflows resume_workflow resume_workflows
        rewind_workflow set_workflow_delay list_workflows list_queued_workflows list_workflow_steps
        fork_workflow read_stream read_stream_offset create_schedule list_schedules get_schedule
        delete_schedule apply_schedules list_application_versions get_latest_application_version
        set_latest_application_version rename_application""".split()
    ),
    DEBOUNCER: frozenset({"debounce"}),
    DEBOUNCER_CLIENT: frozenset({"debounce"}),
}

# Sync handle methods that block but have no async twin on the same object: the DBOS
# handle's get_result() (its get_status() raises, above); both methods of a client handle
# (dbos 3.4.0 ``WorkflowHandleClientPolling.get_result`` / ``get_status``).
BLOCKS_WITHOUT_PAIR: dict[str, frozenset[str]] = {
    HANDLE: frozenset({"get_result"}),
    HANDLE_CLIENT: frozenset({"get_result", "get_status"}),
}

# Queue properties whose reads block; the async getter is ``get_<name>_async``.
QUEUE_PROPERTIES_WITH_ASYNC_GETTER = frozenset(
    """concurrency global_concurrency worker_concurrency limiter partition_concurrency
    partition_worker_concurrency partition_limiter polling_interval_sec""".split()
)

# ``_async`` methods that are plain functions, not coroutines: never add ``await``.
NOT_COROUTINES = {DEBOUNCER: frozenset({"create_async"})}

# ``_async`` methods that are async generators: ``async for``, never ``await``.
ASYNC_GENERATORS = {DBOS: frozenset({"read_stream_async"}), CLIENT: frozenset({"read_stream_async"})}

# Async-only coroutines with no sync twin.
ASYNC_ONLY = {DBOS: frozenset({"asyncio_wait"})}

# Async handle methods that return coroutines.
HANDLE_ASYNC_COROUTINES = frozenset({"get_result", "get_status"})

# Calls whose result is a sync or an async workflow handle.
SYNC_HANDLE_SOURCES: dict[str, frozenset[str]] = {
    DBOS: frozenset(
        """start_workflow enqueue_workflow enqueue_workflow_with_options retrieve_workflow
        resume_workflow fork_workflow rewind_workflow trigger_schedule""".split()
    ),
    QUEUE: frozenset({"enqueue"}),
    CLIENT: frozenset({"enqueue", "retrieve_workflow", "resume_workflow", "fork_workflow", "rewind_workflow"}),
    DEBOUNCER: frozenset({"debounce"}),
    DEBOUNCER_CLIENT: frozenset({"debounce"}),
}
# Owners whose sync handle sources return a client handle (``HANDLE_CLIENT``); their
# ``_async`` sources return ``WorkflowHandleClientAsyncPolling``, whose methods are coroutines
# like the async DBOS handle's, so those stay ``HANDLE_ASYNC``.
CLIENT_HANDLE_OWNERS = frozenset({CLIENT, DEBOUNCER_CLIENT})
ASYNC_HANDLE_SOURCES: dict[str, frozenset[str]] = {
    cls: frozenset(m + "_async" for m in methods if cls != DBOS or m != "trigger_schedule")
    for cls, methods in SYNC_HANDLE_SOURCES.items()
}

# APIs that take the workflow function to run: an ``_async`` rewrite is only correct
# when that function is ``async def`` (the async forms await its result).
# Value: index of the function among the positional arguments.
TAKES_WORKFLOW_FUNCTION: dict[tuple[str, str], int] = {
    (DBOS, "start_workflow"): 0,
    (DBOS, "enqueue_workflow"): 1,
    (QUEUE, "enqueue"): 0,
}
# The debouncer's workflow was fixed at ``Debouncer.create``; its async form needs a
# debouncer made by ``create_async``, which syntax cannot always see.
NO_AUTOMATIC_ASYNC_FIX = frozenset({(DEBOUNCER, "debounce")})

# Sync-only DBOS methods (no ``_async`` twin): awaiting their result is a TypeError.
SYNC_ONLY: dict[str, frozenset[str]] = {
    DBOS: frozenset(
        """launch destroy reset_system_database listen_queues pause_schedule resume_schedule
        backfill_schedule trigger_schedule set_authentication reserve_step migrate""".split()
    ),
}

# Calls that run a function as a step; the function is their second argument
# (dbos 3.4.0: ``DBOS.run_step`` in ``_dbos.py``, ``run_tx_step`` in ``_datasource.py``).
STEP_RUNNERS: dict[str, frozenset[str]] = {
    DBOS: frozenset({"run_step", "run_step_async"}),
    SQL_DATASOURCE: frozenset({"run_tx_step"}),
    ASYNC_SQL_DATASOURCE: frozenset({"run_tx_step_async"}),
}
STEP_RUNNER_NAMES = frozenset().union(*STEP_RUNNERS.values())

# What makes a coroutine run when it is handed on instead of awaited: the call it is
# passed to.  Spawners schedule it as a concurrent task; concurrent awaiters await
# several at once (``asyncio.wait`` still takes coroutines on Python 3.10, which
# dbos 3.4.0 supports); the rest drive it to completion.
TASK_SPAWNERS = frozenset({"asyncio.create_task", "asyncio.ensure_future"})
CONCURRENT_AWAITERS = frozenset({"asyncio.gather", "asyncio.wait"})
COROUTINE_RUNNERS = (
    TASK_SPAWNERS
    | CONCURRENT_AWAITERS
    | frozenset(
        {
            "asyncio.run",
            "asyncio.run_coroutine_threadsafe",
            "asyncio.wait_for",
            "asyncio.shield",
            "asyncio.as_completed",
        }
    )
)
# Methods that do the same on objects the resolver cannot type: ``loop.create_task`` and
# ``TaskGroup.create_task``, ``loop.run_until_complete``.  anyio's and trio's ``start_soon``
# want the coroutine function; a coroutine handed there raises, but is not silently dropped.
TASK_SPAWNER_METHODS = frozenset({"create_task"})
COROUTINE_RUNNER_METHODS = TASK_SPAWNER_METHODS | frozenset(
    {"run_until_complete", "run_coroutine_threadsafe", "start_soon"}
)

# Names exported by ``dbos`` that the resolver tracks.
TRACKED_EXPORTS = frozenset(
    {
        "DBOS",
        "Queue",
        "DBOSClient",
        "Debouncer",
        "DebouncerClient",
        "WorkflowHandle",
        "WorkflowHandleAsync",
        "StepReservation",
        "SQLAlchemyDatasource",
        "AsyncSQLAlchemyDatasource",
        "DBOSConfiguredInstance",
        "SetWorkflowID",
        "DBOSConfig",
    }
)

# Version from which sync DBOS methods raise in a running loop (check_async, 2.10.0).
CHECK_ASYNC_SINCE = (2, 10)
NEWEST_RELEASE = "3.4"


def _has(table: dict[str, frozenset[str]], cls: str, method: str) -> bool:
    return method in table.get(cls, frozenset())


def raises_in_loop(cls: str, method: str) -> bool:
    return _has(RAISES_IN_LOOP, cls, method)


def blocks_in_loop(cls: str, method: str) -> bool:
    return _has(BLOCKS_IN_LOOP, cls, method)


def is_async_generator(cls: str, method: str) -> bool:
    return _has(ASYNC_GENERATORS, cls, method)


def async_twin(cls: str, method: str) -> str | None:
    """The ``_async`` method paired with a sync one, if the SDK has it."""
    if raises_in_loop(cls, method) or blocks_in_loop(cls, method):
        if cls == HANDLE:
            return None  # the sync handle has no _async methods; the async handle is a different object
        return method + "_async"
    return None


def sync_twin(cls: str, method: str) -> str | None:
    if not method.endswith("_async") or _has(ASYNC_ONLY, cls, method):
        return None
    base = method[: -len("_async")]
    if raises_in_loop(cls, base) or blocks_in_loop(cls, base):
        return base
    if cls == DEBOUNCER and method == "create_async":
        return "create"
    return None


def is_coroutine_api(cls: str, method: str) -> bool:
    """True when calling ``cls.method`` returns a coroutine that must be awaited."""
    if cls == HANDLE_ASYNC:
        return method in HANDLE_ASYNC_COROUTINES
    if cls == ASYNC_SQL_DATASOURCE:
        return method == "create"
    if _has(NOT_COROUTINES, cls, method) or is_async_generator(cls, method):
        return False
    if _has(ASYNC_ONLY, cls, method):
        return True
    return sync_twin(cls, method) is not None
