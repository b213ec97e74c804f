"""What one call or attribute read does that a workflow (or a step, or async code) must
not do itself.

The classifiers behind DBOS201-DBOS203 (and DBOS101, DBOS102, DBOS301's DBOS calls),
shared by the rules that look at a function's own body and by :mod:`.helper_reach`, which
looks into the helpers it calls.  Each takes the module model the node comes from and the
function it sits in.
"""

from __future__ import annotations

import ast

from dbos_lsp.analysis.module_model import CallSite, FunctionInfo, ModuleModel, is_local
from dbos_lsp.knowledge import determinism_catalog as catalog
from dbos_lsp.knowledge import sdk_facts as sdk
from dbos_lsp.rules.toolkit import runs_coroutine, tail_name

# ----- logging exclusion ------------------------------------------------------------------

LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"})


def is_logging_call(model: ModuleModel, site: CallSite) -> bool:
    func = site.node.func
    tail = tail_name(func)
    if tail is None:
        return False
    if tail == "print":
        return model.qualname(func, site.fn) == "builtins.print"
    if tail not in LOG_METHODS or not isinstance(func, ast.Attribute):
        return False
    q = model.qualname(func, site.fn)
    if q is not None and q.startswith(("logging.", sdk.DBOS + ".logger.")):
        return True
    # logger.info(...), self.logger.info(...), log.warning(...)
    receiver = func.value
    name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", None)
    return isinstance(name, str) and "log" in name.lower()


def logging_argument_ids(model: ModuleModel, sites: list[CallSite]) -> set[int]:
    """ids of every node inside the arguments of a logging call."""
    inside: set[int] = set()
    for site in sites:
        if not is_logging_call(model, site):
            continue
        for arg in (*site.node.args, *(k.value for k in site.node.keywords)):
            for node in ast.walk(arg):
                inside.add(id(node))
    return inside


# ----- clocks, randomness, environment (DBOS201) -------------------------------------

# Pure functions that a catalog wildcard (``secrets.*``) would otherwise match.
DETERMINISTIC_HELPERS = frozenset({"secrets.compare_digest"})


def nondeterminism_of_call(model: ModuleModel, call: ast.Call, fn: FunctionInfo) -> str | None:
    """The catalog category (``reads the clock``...) of a call, or None."""
    q = model.qualname(call.func, fn)
    if q is None or q in DETERMINISTIC_HELPERS:
        return None
    return catalog.nondeterministic(q, bool(call.args or call.keywords))


def reads_environ(model: ModuleModel, node: ast.Attribute, parent: ast.AST, fn: FunctionInfo) -> bool:
    """``os.environ`` read (``os.environ["X"]``, ``dict(os.environ)``), not written."""
    if node.attr != "environ" or not isinstance(node.ctx, ast.Load):
        return False
    if isinstance(parent, ast.Subscript) and parent.value is node and not isinstance(parent.ctx, ast.Load):
        return False  # os.environ["X"] = ... writes, it does not read
    return model.qualname(node, fn) == "os.environ"


# ----- I/O (DBOS202) --------------------------------------------------------------------

# Wildcard entries (``requests.*``) also match exception classes and plain value types.
_NOT_IO_NAMES = frozenset(
    {
        "Timeout",
        "Limits",
        "URL",
        "Headers",
        "Request",
        "Response",
        "codes",
        "timeout",
        "error",
        "herror",
        "gaierror",
        "ClientTimeout",
        "BasicAuth",
        "Auth",
        "PIPE",
        "DEVNULL",
        "STDOUT",
        # pure conversions and local lookups under ``socket.*``
        "inet_aton",
        "inet_ntoa",
        "inet_pton",
        "inet_ntop",
        "htons",
        "htonl",
        "ntohs",
        "ntohl",
        "gethostname",
    }
)
_PATH_IO_METHODS = frozenset(
    {
        "read_text",
        "read_bytes",
        "write_text",
        "write_bytes",
        "open",
        "unlink",
        "mkdir",
        "rmdir",
        "touch",
        "rename",
        "replace",
        "iterdir",
        "glob",
        "rglob",
        "exists",
        "is_file",
        "is_dir",
        "stat",
    }
)
_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"})
_DB_FACTORIES = frozenset(q for q, kind in catalog.IO.items() if kind == catalog.DATABASE and not q.endswith(".*"))
IO_MESSAGES = {
    catalog.NETWORK: "makes a network call",
    catalog.FILES: "does file I/O",
    catalog.SUBPROCESS: "runs a subprocess",
    catalog.DATABASE: "talks to a database directly",
}


def io_of_call(model: ModuleModel, call: ast.Call, fn: FunctionInfo) -> str | None:
    func = call.func
    q = model.qualname(func, fn)
    if q is not None:
        kind = catalog.io_kind(q)
        if kind is None:
            return None
        last = q.rsplit(".", 1)[-1]
        if last in _NOT_IO_NAMES or last.endswith(("Error", "Exception", "Warning")):
            return None
        return kind
    if not isinstance(func, ast.Attribute):
        return None
    receiver = func.value
    # Path("data.json").read_text(), or a name bound once to Path(...)
    if func.attr in _PATH_IO_METHODS:
        value: ast.expr | None = receiver
        if isinstance(receiver, ast.Name):
            value = model.single_value(receiver.id, fn)
        if isinstance(value, ast.Call) and model.qualname(value.func, fn) in _PATH_TYPES:
            return catalog.FILES
    # engine.connect() on a module-level engine = create_engine(...)
    if isinstance(receiver, ast.Name) and not is_local(receiver.id, fn):
        value = model.module_values.get(receiver.id)
        if isinstance(value, ast.Call) and model.qualname(value.func, None) in _DB_FACTORIES:
            return catalog.DATABASE
    return None


# ----- sleeps (DBOS203) ------------------------------------------------------------------


def is_zero(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and not isinstance(expr.value, bool) and expr.value == 0


# ----- starting a workflow (DBOS301) ------------------------------------------------------

# APIs that start a workflow: an AssertionError when the current context is a step
# (dbos 3.4.0 ``_context.py:280``, ``assert cur_ctx.is_workflow()``).
STARTS_WORKFLOW = {
    sdk.DBOS: frozenset(
        {
            "start_workflow",
            "start_workflow_async",
            "enqueue_workflow",
            "enqueue_workflow_async",
            "enqueue_workflow_with_options",
            "enqueue_workflow_with_options_async",
        }
    ),
    sdk.QUEUE: frozenset({"enqueue", "enqueue_async"}),
}
STARTS_WORKFLOW_TAILS = frozenset().union(*STARTS_WORKFLOW.values())


def executes(model: ModuleModel, site: CallSite, coroutine: bool) -> bool:
    """The call's body really runs here: a sync call, or a coroutine that is awaited or
    handed to an event-loop API.  A dropped coroutine never runs (DBOS104/DBOS105 say so)."""
    if not coroutine or site.awaited:
        return True
    parent = site.parent
    return isinstance(parent, ast.Call) and parent.func is not site.node and runs_coroutine(model, parent, site.fn)


def workflow_start_api(model: ModuleModel, site: CallSite) -> tuple[str, str] | None:
    """``(class, method)`` of a call that starts or enqueues a workflow and runs here."""
    if tail_name(site.node.func) not in STARTS_WORKFLOW_TAILS:
        return None
    api = model.api_of(site.node, site.fn)
    if api is None or api[1] not in STARTS_WORKFLOW.get(api[0], ()):
        return None
    return api if executes(model, site, api[1].endswith("_async")) else None


# ----- sync DBOS APIs in a running event loop (DBOS101, DBOS102) ---------------------------


def raising_in_loop_api(model: ModuleModel, site: CallSite) -> tuple[str, str] | None:
    """``(class, method)`` of a sync DBOS API call that raises RuntimeError when an event
    loop is running on this thread (the SDK's ``check_async``)."""
    if site.awaited:
        return None
    api = model.api_of(site.node, site.fn)
    return api if api is not None and sdk.raises_in_loop(*api) else None


def blocking_in_loop_api(model: ModuleModel, site: CallSite) -> tuple[str, str] | None:
    """``(class, method)`` of a sync DBOS API call that blocks a running event loop (no
    ``check_async``, so it does not raise)."""
    if site.awaited:
        return None
    api = model.api_of(site.node, site.fn)
    if api is None:
        return None
    cls, method = api
    return api if sdk.blocks_in_loop(cls, method) or method in sdk.BLOCKS_WITHOUT_PAIR.get(cls, ()) else None
