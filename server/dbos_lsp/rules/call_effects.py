"""What one call or attribute read does that a workflow (or a step, or async code) must
not do itself.

The classifiers behind DBOS201-DBOS204 (and DBOS101, DBOS102, DBOS301's DBOS calls),
shared by the rules that look at a function's own body and by :mod:`.helper_reach`, which
looks into the helpers it calls.  Each takes the module model the node comes from and the
function it sits in.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from dbos_lsp.analysis.module_model import CallSite, FunctionInfo, ModuleModel, is_local, own_statements
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


# ----- module-level state (DBOS204) ------------------------------------------------------

_MUTATORS = frozenset("append extend insert update setdefault pop popitem remove clear add discard".split())
_COLLECTION_FACTORIES = frozenset({"list", "dict", "set", "bytearray"})


def _plain_state(model: ModuleModel, value: ast.expr) -> bool:
    """Module-level values whose mutation is plain program state: displays, constants,
    ``list()``/``dict()``/``set()`` and ``collections`` containers."""
    if isinstance(value, ast.Constant):
        # ``None`` is left out: ``_client = None`` plus ``global _client`` is a lazy singleton.
        return value.value is not None
    if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.Tuple, ast.ListComp, ast.DictComp, ast.SetComp)):
        return True
    if isinstance(value, ast.UnaryOp) and isinstance(value.operand, ast.Constant):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Name) and func.id in _COLLECTION_FACTORIES and func.id not in model.module_names:
            return True
        q = model.qualname(func, None)
        return q is not None and q.startswith("collections.") and q != "collections.abc"
    return False


def _root_name(expr: ast.expr) -> ast.Name | None:
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        expr = expr.value
    return expr if isinstance(expr, ast.Name) else None


def _assigned_targets(stmt: ast.stmt) -> list[ast.expr]:
    """The plain targets a statement binds or deletes, tuples and starred unpacked."""
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, ast.Delete):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    flat: list[ast.expr] = []
    while targets:
        t = targets.pop()
        if isinstance(t, (ast.Tuple, ast.List)):
            targets.extend(t.elts)
        elif isinstance(t, ast.Starred):
            targets.append(t.value)
        else:
            flat.append(t)
    return flat


def module_state_changes(model: ModuleModel, fn: FunctionInfo, sites: Iterable[CallSite]) -> list[tuple[ast.expr, str]]:
    """``(node, name)`` for each change that the body of ``fn`` (``sites``: its own calls)
    certainly makes to module-level state of ``model``, in source order: an assignment to a
    ``global`` name, an assignment or ``del`` into a module-level container, or a mutating
    method call on one.  Only names whose module-level value is plain state count."""
    if not model.module_values or isinstance(fn.node, ast.Lambda):
        return []
    statements = list(own_statements(fn.node.body))
    declared = {name for stmt in statements if isinstance(stmt, ast.Global) for name in stmt.names}

    def module_level(name: str) -> bool:
        value = model.module_values.get(name)
        if value is None or (name not in declared and is_local(name, fn)):
            return False
        return _plain_state(model, value)

    hits: list[tuple[ast.expr, str]] = []
    for stmt in statements:
        for t in _assigned_targets(stmt):
            if isinstance(t, ast.Name):
                if t.id in declared and module_level(t.id):
                    hits.append((t, t.id))
            elif isinstance(t, (ast.Attribute, ast.Subscript)):
                root = _root_name(t)
                if root is not None and module_level(root.id):
                    hits.append((t, root.id))
    for site in sites:
        func = site.node.func
        if not isinstance(func, ast.Attribute) or func.attr not in _MUTATORS:
            continue
        root = _root_name(func.value)
        if root is not None and module_level(root.id):
            hits.append((func, root.id))
    seen: set[tuple[int, int]] = set()
    changes: list[tuple[ast.expr, str]] = []
    for node, name in sorted(hits, key=lambda h: (h[0].lineno, h[0].col_offset)):
        key = (node.lineno, node.col_offset)
        if key not in seen:
            seen.add(key)
            changes.append((node, name))
    return changes


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
