"""Rules DBOS301-DBOS306: steps, transactions, and where workflow-only APIs may run.

Skill documents: ``step-basics`` (DBOS301, DBOS302, DBOS306), ``step-retries``
(DBOS304, DBOS305) and ``workflow-context`` (DBOS303).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import TypeGuard

from dbos_lsp.analysis.findings import Edit, Finding, Severity
from dbos_lsp.analysis.module_model import CallSite, FunctionInfo, ModuleModel, Role
from dbos_lsp.analysis.source_text import insert
from dbos_lsp.knowledge import sdk_facts as sdk
from dbos_lsp.rules import helper_reach
from dbos_lsp.rules.call_effects import executes, workflow_start_api
from dbos_lsp.rules.registry import RuleContext, rule
from dbos_lsp.rules.toolkit import (
    api_call_text,
    api_sites,
    binding_counts,
    called_name,
    decorators_named,
    dict_entries,
    has_unpacking,
    keyword,
    loaders,
    str_constant,
    tail_name,
)

SKILL_BASICS = "step-basics"
SKILL_RETRIES = "step-retries"
SKILL_CONTEXT = "workflow-context"

_IN_STEP = (Role.STEP, Role.TRANSACTION)

_RECV_SLEEP_PATCH = frozenset({"recv", "recv_async", "sleep", "sleep_async", "patch", "patch_async"})
# DBOS methods that only work in a workflow body (not in a step, not outside a workflow).
_WORKFLOW_BODY_ONLY = _RECV_SLEEP_PATCH | {"deprecate_patch", "deprecate_patch_async"}
# DBOS methods that raise outside any workflow (set_event also works inside a step).
_NEEDS_WORKFLOW = _RECV_SLEEP_PATCH | {"set_event", "set_event_async"}

_RETRY_OPTIONS = ("max_attempts", "interval_seconds", "backoff_rate", "should_retry")
# The step runners that take ``StepOptions`` (the datasources' take ``DatasourceOptions``).
_DBOS_STEP_RUNNERS = {sdk.DBOS: sdk.STEP_RUNNERS[sdk.DBOS]}


def _in_step(fn: FunctionInfo | None) -> TypeGuard[FunctionInfo]:
    return fn is not None and fn.role in _IN_STEP


def _running_dbos_method(model: ModuleModel, site: CallSite, methods: frozenset[str]) -> str | None:
    """The method of a ``DBOS.<method>(...)`` call among ``methods`` whose body runs here."""
    api = _dbos_api(model, site, methods)
    if api is None or api[0] != sdk.DBOS or api[1] not in methods:
        return None
    return api[1] if executes(model, site, api[1].endswith("_async")) else None


def _context_name(fn: FunctionInfo) -> str:
    kind = "transaction" if fn.role is Role.TRANSACTION else "step"
    if fn.is_lambda:
        return f"a {kind} (lambda)"
    return f"{kind} `{fn.name}`"


def _dbos_api(model: ModuleModel, site: CallSite, tails: frozenset[str]) -> tuple[str, str] | None:
    if tail_name(site.node.func) not in tails:
        return None
    return model.api_of(site.node, site.fn)


# ----- DBOS301 ----------------------------------------------------------------------------


@rule(
    "DBOS301",
    "step-starts-workflow",
    Severity.ERROR,
    SKILL_BASICS,
    "A step or transaction calls, starts or enqueues a workflow (an AssertionError at run time)",
    scope="statement",
    follows_calls=True,
)
def step_starts_workflow(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        fn = site.fn
        if not _in_step(fn):
            continue
        func = site.node.func
        api = workflow_start_api(model, site)
        if api is not None:
            call = api_call_text(ctx.source, func, *api)
            yield ctx.finding(func, f"{call} in {_context_name(fn)} raises AssertionError")
            continue
        callee = model.callee(site.node, fn)
        if callee is not None and callee.role is Role.WORKFLOW:
            if executes(model, site, callee.is_async):
                yield ctx.finding(
                    func,
                    f"workflow `{called_name(ctx.source, func)}` called in {_context_name(fn)} raises AssertionError",
                )
            continue
        if fn.is_lambda:
            continue  # a lambda step's helpers are left alone
        found = helper_reach.reach(model, site, helper_reach.STARTS_WORKFLOW)
        if found is not None:
            # The API (or workflow) is named in the chain; the message stays one short line.
            message = f"{helper_reach.called_text(ctx.source, func)} {found.effect.what} in {_context_name(fn)}"
            yield ctx.finding(func, message, related=found.related)


# ----- DBOS302 ----------------------------------------------------------------------------


@rule(
    "DBOS302",
    "step-calls-workflow-only-api",
    Severity.ERROR,
    SKILL_BASICS,
    "DBOS.recv, DBOS.sleep, DBOS.patch or DBOS.deprecate_patch inside a step or transaction",
    scope="statement",
)
def step_calls_workflow_only_api(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        fn = site.fn
        if not _in_step(fn):
            continue
        method = _running_dbos_method(model, site, _WORKFLOW_BODY_ONLY)
        if method is None:
            continue
        func = site.node.func
        yield ctx.finding(func, f"{api_call_text(ctx.source, func, sdk.DBOS, method)} raises in {_context_name(fn)}")


# ----- DBOS303 ----------------------------------------------------------------------------


def _referenced_elsewhere(model: ModuleModel, fn: FunctionInfo) -> bool:
    """``fn``'s name is read inside some other function (a call or a reference)."""
    return any(other is not fn for other in loaders(model).get(fn.name, ()))


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
        method = _running_dbos_method(model, site, _NEEDS_WORKFLOW)
        if method is None:
            continue
        if fn is not None and fn.role is Role.HTTP_HANDLER:
            where = f"HTTP handler `{fn.name}`"
        elif _startup(model, fn):
            where = "startup code" if fn is None else f"startup function `{fn.name}`"
        else:
            continue
        call = api_call_text(ctx.source, site.node.func, sdk.DBOS, method)
        yield ctx.finding(site.node.func, f"{call} raises in {where}")


# ----- shared: @DBOS.step(...) decorators -------------------------------------------------


def _step_decorators(model: ModuleModel) -> Iterator[tuple[FunctionInfo, ast.Call]]:
    for fn, dec in decorators_named(model, "dbos.DBOS.step"):
        if isinstance(dec, ast.Call):
            yield fn, dec


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
        if value is None or binding_counts(model).get(expr.id, 0) != 1:
            return False
        return _certainly_not_none(model, value, depth + 1)
    return False


# ----- DBOS304 ----------------------------------------------------------------------------


@rule(
    "DBOS304",
    "step-option-needs-async",
    Severity.ERROR,
    SKILL_RETRIES,
    "@DBOS.step(timeout_seconds=...) or preemptible=True on a sync def (raises at decoration)",
    scope="module",  # a constant is trusted only while no function anywhere rebinds its name
)
def step_option_needs_async(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for fn, dec in _step_decorators(model):
        if fn.is_async:
            continue
        timeout = keyword(dec, "timeout_seconds")
        if timeout is not None and _certainly_not_none(model, timeout.value):
            yield ctx.finding(timeout, f"`timeout_seconds` raises on the sync step `{fn.name}`")
        preemptible = keyword(dec, "preemptible")
        if preemptible is not None and isinstance(preemptible.value, ast.Constant) and preemptible.value.value is True:
            yield ctx.finding(preemptible, f"`preemptible=True` raises on the sync step `{fn.name}`")


# ----- DBOS305 ----------------------------------------------------------------------------


def _keywords_finding(ctx: RuleContext, call: ast.Call, what: str) -> Finding | None:
    """``retries_allowed`` missing or False next to retry options in a keyword call."""
    if has_unpacking(call):
        return None  # **options / *args: the flag may be in there
    options = [kw for kw in call.keywords if kw.arg in _RETRY_OPTIONS]
    if not options:
        return None
    allowed = keyword(call, "retries_allowed")
    if allowed is None:
        first = call.keywords[0]
        edits = [insert(ctx.source.start(first), "retries_allowed=True, ")]
    elif isinstance(allowed.value, ast.Constant) and allowed.value.value is False:
        edits = [Edit(ctx.source.span(allowed.value), "True")]
    else:
        return None
    return _retry_finding(ctx, options[0], [kw.arg for kw in options if kw.arg is not None], what, edits)


def _dict_finding(ctx: RuleContext, options: ast.Dict, what: str) -> Finding | None:
    keys: dict[str, tuple[ast.expr, ast.expr]] = {}
    for key, value in dict_entries(options):
        name = str_constant(key)
        if key is None or name is None:
            return None  # ``**base`` or a computed key: unsure
        keys[name] = (key, value)
    present = [name for name in keys if name in _RETRY_OPTIONS]
    if not present:
        return None
    allowed = keys.get("retries_allowed")
    if allowed is None:
        first_key = options.keys[0]
        if first_key is None:
            return None  # never: a ``**spread`` entry returned above
        text = ctx.source.node_text(first_key)
        quote = text[0] if text[:1] in ("'", '"') else '"'
        edits = [insert(ctx.source.start(first_key), f"{quote}retries_allowed{quote}: True, ")]
    elif isinstance(allowed[1], ast.Constant) and allowed[1].value is False:
        edits = [Edit(ctx.source.span(allowed[1]), "True")]
    else:
        return None
    return _retry_finding(ctx, keys[present[0]][0], present, what, edits)


def _retry_finding(
    ctx: RuleContext, where: ast.expr | ast.keyword, names: list[str], what: str, edits: list[Edit]
) -> Finding:
    listed = ", ".join(f"`{n}`" for n in names)
    return ctx.finding(
        where,
        f"{listed} {'is' if len(names) == 1 else 'are'} ignored without `retries_allowed=True`",
        "Enable retries (`retries_allowed=True`)",
        edits,
        safe=False,
    )


def _step_options_arg(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    kw = keyword(call, "dbos_step_options")
    return kw.value if kw is not None else None


@rule(
    "DBOS305",
    "step-retry-options-ignored",
    Severity.WARNING,
    SKILL_RETRIES,
    "Step retry options (max_attempts, interval_seconds, backoff_rate, should_retry) without retries_allowed=True",
    fix="unsafe",
    scope="statement",
)
def step_retry_options_ignored(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for fn, dec in _step_decorators(model):
        found = _keywords_finding(ctx, dec, f"step `{fn.name}`")
        if found is not None:
            yield found
    for site, _cls, method in api_sites(model, _DBOS_STEP_RUNNERS):
        options = _step_options_arg(site.node)
        found = None
        what = f"this `DBOS.{method}()` call"
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
    scope="statement",
)
def step_nested_step_call(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        fn = site.fn
        if fn is None or fn.role is not Role.STEP:
            continue
        callee = model.callee(site.node, fn)
        if callee is None or callee.role is not Role.STEP or not executes(model, site, callee.is_async):
            continue
        if callee.info is not None and callee.info is fn:
            continue  # recursion
        yield ctx.finding(
            site.node.func,
            f"nested step `{called_name(ctx.source, site.node.func)}` runs without its own checkpoint",
        )


# ----- DBOS307 ----------------------------------------------------------------------------

_PARTIAL = "functools.partial"


def _step_runner_argument(call: ast.Call, position: int, name: str) -> ast.expr | None:
    """The expression passed for ``DBOS.run_step``'s ``position``-th parameter ``name``, or
    None when it is missing or may hide behind ``*args`` / ``**kwargs``."""
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return None
        if i == position:
            return arg
    kw = keyword(call, name)
    if kw is not None:
        return kw.value
    return None


def _only_step_runner_uses(fn: FunctionInfo, name: str, uses: set[int]) -> bool:
    """Every read of ``name`` in ``fn`` (nested functions included) is one of ``uses``, and
    nothing sets an attribute or an item on it: the value reaches the SDK as it was bound."""
    for node in ast.walk(fn.node):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load) and id(node) not in uses:
            return False
    return True


def _local_value(fn: FunctionInfo, expr: ast.expr, model: ModuleModel, uses: set[int]) -> ast.expr | None:
    """``expr`` itself, or for a name bound exactly once in ``fn`` and only handed to step
    runners there, the value it was bound to."""
    if not isinstance(expr, ast.Name):
        return expr
    if fn.bound.get(expr.id) != 1 or not _only_step_runner_uses(fn, expr.id, uses):
        return None
    return model.single_value(expr.id, fn)


def _is_partial(model: ModuleModel, expr: ast.expr | None, fn: FunctionInfo) -> bool:
    return isinstance(expr, ast.Call) and model.qualname(expr.func, fn) == _PARTIAL


def _no_step_name(model: ModuleModel, options: ast.expr | None, fn: FunctionInfo) -> bool:
    """The step options certainly give no step name: ``None``, or a literal dict (or
    ``StepOptions(...)``) without a ``name`` or with ``name`` set to None or ``""``."""
    if isinstance(options, ast.Constant):
        return options.value is None
    value: ast.expr | None = None
    if isinstance(options, ast.Dict):
        for key, item in dict_entries(options):
            if key is None or str_constant(key) is None:
                return False  # ``**base`` or a computed key: it may hold a name
            if str_constant(key) == "name":
                value = item
    elif isinstance(options, ast.Call) and model.qualname(options.func, fn) == "dbos.StepOptions":
        if options.args or has_unpacking(options):
            return False
        kw = keyword(options, "name")
        value = kw.value if kw is not None else None
    else:
        return False
    return value is None or (isinstance(value, ast.Constant) and value.value in (None, ""))


@rule(
    "DBOS307",
    "run-step-callable-without-qualname",
    Severity.ERROR,
    SKILL_BASICS,
    "`DBOS.run_step` in a workflow given a `functools.partial` and no step name (an AttributeError)",
    min_version=(2, 9),
    scope="statement",
)
def run_step_callable_without_qualname(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    sites = [
        (site, method)
        for site, _cls, method in api_sites(model, _DBOS_STEP_RUNNERS)
        if site.fn is not None and site.fn.role is Role.WORKFLOW and not site.fn.is_lambda
    ]
    # The names handed to step runners, so that a bound partial or options dict counts only
    # when the runners are all that read it.
    uses: set[int] = set()
    for site, _method in sites:
        for position, name in ((0, "dbos_step_options"), (1, "func")):
            arg = _step_runner_argument(site.node, position, name)
            if isinstance(arg, ast.Name):
                uses.add(id(arg))
    for site, method in sites:
        fn = site.fn
        assert fn is not None
        is_async = method.endswith("_async")
        # The sync form raises RuntimeError in a coroutine first (DBOS101); an async form
        # that is never awaited never runs (DBOS104/DBOS105).
        if (fn.is_async and not is_async) or not executes(model, site, is_async):
            continue
        func = _step_runner_argument(site.node, 1, "func")
        options = _step_runner_argument(site.node, 0, "dbos_step_options")
        if func is None or options is None:
            continue
        if not _is_partial(model, _local_value(fn, func, model, uses), fn):
            continue
        if not _no_step_name(model, _local_value(fn, options, model, uses), fn):
            continue
        call = api_call_text(ctx.source, site.node.func, sdk.DBOS, method)
        yield ctx.finding(func, f"{call} raises AttributeError: a `partial` has no `__qualname__`")
