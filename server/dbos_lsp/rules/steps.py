"""Rules DBOS301-DBOS306: steps, transactions, and where workflow-only APIs may run.

Skill documents: ``step-basics`` (DBOS301, DBOS302, DBOS306), ``step-retries``
(DBOS304, DBOS305) and ``workflow-context`` (DBOS303).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from dbos_lsp.analysis.findings import Edit, Finding, Severity
from dbos_lsp.analysis.module_model import CallSite, FunctionInfo, ModuleModel, Role
from dbos_lsp.analysis.names import tail_name as _tail
from dbos_lsp.analysis.source_text import insert
from dbos_lsp.knowledge import sdk_facts as sdk
from dbos_lsp.rules.registry import RuleContext, rule

SKILL_BASICS = "step-basics"
SKILL_RETRIES = "step-retries"
SKILL_CONTEXT = "workflow-context"

_IN_STEP = (Role.STEP, Role.TRANSACTION)

# APIs that start a workflow: an AssertionError when the current context is a step.
_STARTS_WORKFLOW = {
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
_STARTS_WORKFLOW_TAILS = frozenset().union(*_STARTS_WORKFLOW.values())

# DBOS methods that only work in a workflow body (not in a step, not outside a workflow).
_WORKFLOW_BODY_ONLY = frozenset(
    {
        "recv",
        "recv_async",
        "sleep",
        "sleep_async",
        "patch",
        "patch_async",
        "deprecate_patch",
        "deprecate_patch_async",
    }
)
# DBOS methods that raise outside any workflow (set_event also works inside a step).
_NEEDS_WORKFLOW = frozenset(
    {
        "recv",
        "recv_async",
        "sleep",
        "sleep_async",
        "patch",
        "patch_async",
        "set_event",
        "set_event_async",
    }
)

_RETRY_OPTIONS = ("max_attempts", "interval_seconds", "backoff_rate", "should_retry")
_STEP_RUNNERS = frozenset({"run_step", "run_step_async"})


def _in_step(site: CallSite) -> bool:
    return site.fn is not None and site.fn.role in _IN_STEP


# Calls that run a coroutine handed to them.
_COROUTINE_RUNNERS = frozenset(
    {
        "asyncio.run",
        "asyncio.gather",
        "asyncio.create_task",
        "asyncio.ensure_future",
        "asyncio.wait_for",
        "asyncio.shield",
        "asyncio.run_coroutine_threadsafe",
    }
)


def _executes(model: ModuleModel, site: CallSite, coroutine: bool) -> bool:
    """The call's body really runs here: a sync call, or a coroutine that is awaited or
    handed to an event-loop API.  A dropped coroutine never runs (DBOS104/DBOS105 say so)."""
    if not coroutine or site.awaited:
        return True
    parent = site.parent
    if isinstance(parent, ast.Call) and parent.func is not site.node:
        return model.qualname(parent.func, site.fn) in _COROUTINE_RUNNERS
    return False


def _context_name(fn: FunctionInfo) -> str:
    kind = "transaction" if fn.role is Role.TRANSACTION else "step"
    if fn.is_lambda:
        return f"a {kind} (lambda)"
    return f"{kind} `{fn.name}`"


def _dbos_api(model: ModuleModel, site: CallSite, tails: frozenset[str]) -> tuple[str, str] | None:
    if _tail(site.node.func) not in tails:
        return None
    return model.api_of(site.node, site.fn)


def _receiver_text(ctx: RuleContext, func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        text = ctx.source.node_text(func.value)
        if "\n" not in text and len(text) <= 40:
            return text
    return "..."


def _called_name(ctx: RuleContext, func: ast.expr) -> str:
    text = ctx.source.node_text(func)
    return text if "\n" not in text and len(text) <= 60 else "..."


# ----- DBOS301 ----------------------------------------------------------------------------


@rule(
    "DBOS301",
    "step-starts-workflow",
    Severity.ERROR,
    SKILL_BASICS,
    "A step or transaction calls, starts or enqueues a workflow (an AssertionError at run time)",
)
def step_starts_workflow(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        if not _in_step(site):
            continue
        fn = site.fn
        func = site.node.func
        api = _dbos_api(model, site, _STARTS_WORKFLOW_TAILS)
        if api is not None:
            cls, method = api
            if method in _STARTS_WORKFLOW.get(cls, ()) and _executes(model, site, method.endswith("_async")):
                recv = _receiver_text(ctx, func)
                yield ctx.finding(
                    func,
                    f"`{recv}.{method}()` inside {_context_name(fn)}: DBOS does not allow starting "
                    "or enqueueing workflows from a step and fails with an AssertionError; "
                    "start it from the calling workflow instead",
                )
            continue
        callee = model.callee(site.node, fn)
        if callee is not None and callee.role is Role.WORKFLOW and _executes(model, site, callee.is_async):
            yield ctx.finding(
                func,
                f"`{_called_name(ctx, func)}` is a workflow, called inside {_context_name(fn)}: "
                "DBOS fails with an AssertionError when a step runs a workflow; "
                "call it from the workflow that calls this step",
            )


# ----- DBOS302 ----------------------------------------------------------------------------


@rule(
    "DBOS302",
    "step-calls-workflow-only-api",
    Severity.ERROR,
    SKILL_BASICS,
    "DBOS.recv, DBOS.sleep, DBOS.patch or DBOS.deprecate_patch inside a step or transaction",
)
def step_calls_workflow_only_api(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        if not _in_step(site):
            continue
        api = _dbos_api(model, site, _WORKFLOW_BODY_ONLY)
        if api is None or api[0] != sdk.DBOS or api[1] not in _WORKFLOW_BODY_ONLY:
            continue
        if not _executes(model, site, api[1].endswith("_async")):
            continue
        func = site.node.func
        recv = _receiver_text(ctx, func)
        yield ctx.finding(
            func,
            f"`{recv}.{api[1]}()` only works in a workflow body, not inside {_context_name(site.fn)}: "
            "it raises at run time; call it from the workflow and pass the result to the step",
        )


# ----- DBOS303 ----------------------------------------------------------------------------


def _referenced_elsewhere(model: ModuleModel, fn: FunctionInfo) -> bool:
    """``fn``'s name is read inside some other function (a call or a reference)."""
    cache = model.__dict__.setdefault("_steps_loaded_names", None)
    if cache is None:
        cache = {}
        for other in model.functions:
            for name in other.loads:
                cache.setdefault(name, []).append(other)
        model.__dict__["_steps_loaded_names"] = cache
    return any(other is not fn for other in cache.get(fn.name, ()))


def _startup(model: ModuleModel, fn: FunctionInfo | None) -> bool:
    if not model.is_startup_scope(fn):
        return False
    # A function the __main__ block calls is startup code only if nothing else calls it.
    return fn is None or not _referenced_elsewhere(model, fn)


@rule(
    "DBOS303",
    "workflow-api-outside-workflow",
    Severity.ERROR,
    SKILL_CONTEXT,
    "DBOS.recv, DBOS.sleep, DBOS.patch or DBOS.set_event in an HTTP handler or at startup scope",
)
def workflow_api_outside_workflow(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        fn = site.fn
        if fn is not None and fn.role is not Role.HTTP_HANDLER and fn.role is not Role.PLAIN:
            continue
        api = _dbos_api(model, site, _NEEDS_WORKFLOW)
        if api is None or api[0] != sdk.DBOS or api[1] not in _NEEDS_WORKFLOW:
            continue
        if not _executes(model, site, api[1].endswith("_async")):
            continue
        if fn is not None and fn.role is Role.HTTP_HANDLER:
            where = f"HTTP handler `{fn.name}`"
        elif _startup(model, fn):
            where = "startup code" if fn is None else f"startup function `{fn.name}`"
        else:
            continue
        method = api[1]
        recv = _receiver_text(ctx, site.node.func)
        needs = "a workflow or step" if method.startswith("set_event") else "a workflow"
        yield ctx.finding(
            site.node.func,
            f"`{recv}.{method}()` in {where}: it only works inside {needs} and raises here; "
            "move it into a `@DBOS.workflow()` and start that workflow",
        )


# ----- shared: @DBOS.step(...) decorators -------------------------------------------------


def _step_decorators(model: ModuleModel) -> Iterator[tuple[FunctionInfo, ast.Call]]:
    for fn in model.functions:
        if fn.is_lambda:
            continue
        for dec in fn.node.decorator_list:
            if not isinstance(dec, ast.Call) or _tail(dec.func) != "step":
                continue
            if model.qualname(dec.func, None) == "dbos.DBOS.step":
                yield fn, dec


def _keyword(call: ast.Call, name: str) -> ast.keyword | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw
    return None


_NUMBER_BUILTINS = frozenset({"float", "int"})


def _certainly_not_none(model: ModuleModel, expr: ast.expr, depth: int = 0) -> bool:
    """The expression's value is surely not ``None`` (a number, arithmetic, ``float(...)``)."""
    if isinstance(expr, ast.Constant):
        return expr.value is not None
    if isinstance(expr, ast.UnaryOp):
        return isinstance(expr.operand, ast.Constant) and expr.operand.value is not None
    if isinstance(expr, ast.BinOp):
        return _certainly_not_none(model, expr.left, depth) and _certainly_not_none(model, expr.right, depth)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        return expr.func.id in _NUMBER_BUILTINS and expr.func.id not in model.module_names
    if isinstance(expr, ast.Name) and depth == 0:
        # A module-level constant such as ``TIMEOUT = 30`` (the module body binds it once).
        value = model.module_values.get(expr.id)
        if value is None or _rebound_at_module(model, expr.id):
            return False
        return _certainly_not_none(model, value, depth + 1)
    return False


def _rebound_at_module(model: ModuleModel, name: str) -> bool:
    """``name`` is bound more than once anywhere in the file (or declared ``global``)."""
    counts = model.__dict__.get("_steps_binding_counts")
    if counts is None:  # one walk per model, however many names are asked about
        counts = {}
        for node in ast.walk(model.tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                counts[node.id] = counts.get(node.id, 0) + 1
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                counts[node.name] = counts.get(node.name, 0) + 1
            elif isinstance(node, ast.Global):
                for declared in node.names:
                    counts[declared] = 2  # global: bound from elsewhere
        model.__dict__["_steps_binding_counts"] = counts
    return counts.get(name, 0) != 1


# ----- DBOS304 ----------------------------------------------------------------------------


@rule(
    "DBOS304",
    "step-option-needs-async",
    Severity.ERROR,
    SKILL_RETRIES,
    "@DBOS.step(timeout_seconds=...) or preemptible=True on a sync def (raises at decoration)",
)
def step_option_needs_async(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for fn, dec in _step_decorators(model):
        if fn.is_async:
            continue
        timeout = _keyword(dec, "timeout_seconds")
        if timeout is not None and _certainly_not_none(model, timeout.value):
            yield ctx.finding(
                timeout,
                f"`timeout_seconds` is only supported on `async def` steps: DBOS raises when it "
                f"decorates the sync step `{fn.name}`; make the step `async def` or drop the timeout",
            )
        preemptible = _keyword(dec, "preemptible")
        if preemptible is not None and isinstance(preemptible.value, ast.Constant) and preemptible.value.value is True:
            yield ctx.finding(
                preemptible,
                f"`preemptible=True` is only supported on `async def` steps: DBOS raises when it "
                f"decorates the sync step `{fn.name}`; make the step `async def` or drop the option",
            )


# ----- DBOS305 ----------------------------------------------------------------------------


def _keywords_finding(ctx: RuleContext, call: ast.Call, what: str) -> Finding | None:
    """``retries_allowed`` missing or False next to retry options in a keyword call."""
    if any(kw.arg is None for kw in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args):
        return None  # **options / *args: the flag may be in there
    options = [kw for kw in call.keywords if kw.arg in _RETRY_OPTIONS]
    if not options:
        return None
    allowed = _keyword(call, "retries_allowed")
    if allowed is None:
        first = call.keywords[0]
        edits = [insert(ctx.source.start(first), "retries_allowed=True, ")]
    elif isinstance(allowed.value, ast.Constant) and allowed.value.value is False:
        edits = [Edit(ctx.source.span(allowed.value), "True")]
    else:
        return None
    return _retry_finding(ctx, options[0], [kw.arg for kw in options], what, edits)


def _dict_finding(ctx: RuleContext, options: ast.Dict, what: str) -> Finding | None:
    keys: dict[str, tuple[ast.expr, ast.expr]] = {}
    for key, value in zip(options.keys, options.values):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            return None  # ``**base`` or a computed key: unsure
        keys[key.value] = (key, value)
    present = [name for name in keys if name in _RETRY_OPTIONS]
    if not present:
        return None
    allowed = keys.get("retries_allowed")
    if allowed is None:
        first_key = options.keys[0]
        text = ctx.source.node_text(first_key)
        quote = text[0] if text[:1] in ("'", '"') else '"'
        edits = [insert(ctx.source.start(first_key), f"{quote}retries_allowed{quote}: True, ")]
    elif isinstance(allowed[1], ast.Constant) and allowed[1].value is False:
        edits = [Edit(ctx.source.span(allowed[1]), "True")]
    else:
        return None
    return _retry_finding(ctx, keys[present[0]][0], present, what, edits)


def _retry_finding(ctx: RuleContext, where: ast.AST, names: list[str], what: str, edits: list[Edit]) -> Finding:
    listed = ", ".join(f"`{n}`" for n in names)
    return ctx.finding(
        where,
        f"{listed} {'has' if len(names) == 1 else 'have'} no effect on {what}: DBOS runs a step once "
        "unless `retries_allowed=True` is set",
        "Enable retries (`retries_allowed=True`)",
        edits,
        safe=False,
    )


def _step_options_arg(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    kw = _keyword(call, "dbos_step_options")
    return kw.value if kw is not None else None


@rule(
    "DBOS305",
    "step-retry-options-ignored",
    Severity.WARNING,
    SKILL_RETRIES,
    "Step retry options (max_attempts, interval_seconds, backoff_rate, should_retry) without retries_allowed=True",
    fix="unsafe",
)
def step_retry_options_ignored(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for fn, dec in _step_decorators(model):
        found = _keywords_finding(ctx, dec, f"step `{fn.name}`")
        if found is not None:
            yield found
    for site in model.calls:
        if _tail(site.node.func) not in _STEP_RUNNERS:
            continue
        api = model.api_of(site.node, site.fn)
        if api is None or api[0] != sdk.DBOS or api[1] not in _STEP_RUNNERS:
            continue
        options = _step_options_arg(site.node)
        found = None
        what = f"this `DBOS.{api[1]}()` call"
        if isinstance(options, ast.Dict):
            found = _dict_finding(ctx, options, what)
        elif (
            isinstance(options, ast.Call)
            and not options.args
            and model.qualname(options.func, site.fn) == "dbos.StepOptions"
        ):
            found = _keywords_finding(ctx, options, what)
        if found is not None:
            yield found


# ----- DBOS306 ----------------------------------------------------------------------------


@rule(
    "DBOS306",
    "step-nested-step-call",
    Severity.INFORMATION,
    SKILL_BASICS,
    "A step calls another step, which then runs as a plain function (no checkpoint of its own)",
)
def step_nested_step_call(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        fn = site.fn
        if fn is None or fn.role is not Role.STEP:
            continue
        callee = model.callee(site.node, fn)
        if callee is None or callee.role is not Role.STEP or not _executes(model, site, callee.is_async):
            continue
        if callee.info is not None and callee.info is fn:
            continue  # recursion
        yield ctx.finding(
            site.node.func,
            f"`{_called_name(ctx, site.node.func)}` is a step called inside {_context_name(fn)}: "
            "it runs as an ordinary function call, without its own checkpoint or retries; "
            "call both steps from the workflow if each should be recorded",
        )
