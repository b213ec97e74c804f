"""Rules DBOS101-DBOS111: DBOS in coroutines (skill document ``advanced-async``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from dbos_lsp.analysis.findings import Edit, Finding, Position, Severity, Span
from dbos_lsp.analysis.module_model import CallSite, FunctionInfo, ModuleModel, Role
from dbos_lsp.analysis.source_text import insert
from dbos_lsp.knowledge import sdk_facts as sdk
from dbos_lsp.rules import helper_reach
from dbos_lsp.rules.registry import RuleContext, rule
from dbos_lsp.rules.toolkit import (
    api_call_text,
    await_edits,
    awaited_text,
    has_unpacking,
    keyword,
    module_spelling,
    receiver_text,
    rename_attribute,
    runs_coroutine,
    single_assignment,
    tail_name,
)

SKILL = "advanced-async"

_DURABLE_ROLES = (Role.WORKFLOW, Role.STEP, Role.TRANSACTION)
# DBOS107's pre-filter: the last names of the calls that start coroutines concurrently.
_TASK_TAILS = (
    frozenset(q.rsplit(".", 1)[-1] for q in sdk.TASK_SPAWNERS | sdk.CONCURRENT_AWAITERS) | sdk.TASK_SPAWNER_METHODS
)


# ----- shared helpers ---------------------------------------------------------------------


def _in_async(site: CallSite) -> bool:
    return site.fn is not None and site.fn.is_async


# What a sync DBOS API reached through a helper does to async code, in a finding's message
# (the related note at the API says it in full).
_CONSEQUENCE = {
    helper_reach.RAISES_IN_LOOP: "which raises in async code",
    helper_reach.BLOCKS_LOOP: "which blocks the loop",
}


def _through_helpers(ctx: RuleContext, code: str) -> Iterator[Finding]:
    """Findings at the calls of async code into plain sync helpers that call, themselves or
    further down, a sync DBOS API that rule ``code`` flags in async code; the helper runs on
    the loop's thread.  The chain is related info."""
    for site in ctx.model.calls:
        if not _in_async(site):
            continue
        found = helper_reach.reach(ctx.model, site, code)
        if found is None:
            continue
        effect = found.effect
        called = helper_reach.called_text(ctx.source, site.node.func)
        yield ctx.finding(site.node.func, f"{called} calls {effect.text}, {_CONSEQUENCE[code]}", related=found.related)


def _in_sync(site: CallSite) -> bool:
    # Lambdas are skipped: a lambda returning a coroutine is a coroutine factory.
    return site.fn is None or (not site.fn.is_async and not site.fn.is_lambda)


def _dropped(site: CallSite) -> bool:
    """The call's value is thrown away: a bare statement, or bound to an unused name."""
    parent = site.parent
    if isinstance(parent, ast.Expr):
        return True
    assigned = single_assignment(parent) if isinstance(parent, ast.stmt) else None
    return assigned is not None and site.fn is not None and site.fn.loads.get(assigned[0], 0) == 0


def _consumed_as_coroutine(model: ModuleModel, site: CallSite) -> bool:
    parent = site.parent
    if isinstance(parent, (ast.Return, ast.Yield, ast.YieldFrom, ast.Await)):
        return True
    if isinstance(parent, ast.keyword):
        return True  # e.g. ``loop.run_until_complete(coro=...)``: too dynamic to judge
    if isinstance(parent, ast.Call) and parent.func is not site.node:
        return runs_coroutine(model, parent, site.fn)
    return False


def _bound_and_awaited_later(model: ModuleModel, site: CallSite) -> bool:
    """``x = coro()`` where ``x`` is later awaited or handed to an event-loop API."""
    fn = site.fn
    assigned = single_assignment(site.parent) if isinstance(site.parent, ast.stmt) else None
    if fn is None or fn.is_lambda or assigned is None:
        return False
    name = assigned[0]
    for node in ast.walk(fn.node):
        if isinstance(node, ast.Await) and isinstance(node.value, ast.Name) and node.value.id == name:
            return True
        if isinstance(node, ast.Call) and any(isinstance(a, ast.Name) and a.id == name for a in node.args):
            if runs_coroutine(model, node, fn):
                return True
    return False


# ----- DBOS101 ----------------------------------------------------------------------------


@rule(
    "DBOS101",
    "async-sync-dbos-call",
    Severity.ERROR,
    SKILL,
    "A sync DBOS method that raises RuntimeError inside a running event loop, called in async code",
    fix="safe",
    min_version=sdk.CHECK_ASYNC_SINCE,
    scope="statement",
    follows_calls=True,
    follows_sync_dbos=True,
)
def async_sync_dbos_call(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site, cls, method in model.api_calls():
        if site.awaited or not _in_async(site) or not sdk.raises_in_loop(cls, method):
            continue
        func = site.node.func
        recv = _receiver(ctx, func, cls)
        call = api_call_text(ctx.source, func, cls, method)
        twin = sdk.async_twin(cls, method)
        if twin is None:
            yield ctx.finding(func, f"{call} raises RuntimeError in a running event loop")
            continue
        if sdk.is_async_generator(cls, twin):
            yield _read_stream_finding(ctx, site, recv, call, twin)
            continue
        edits = None  # no rename for a call that is not ``obj.method`` (an alias of the API)
        if isinstance(func, ast.Attribute) and not _inside_generator_expression(site):
            edits = [rename_attribute(ctx.source, func, twin), *await_edits(ctx.source, site.node, site.parent)]
        yield ctx.finding(
            func,
            f"{call} raises RuntimeError in a running event loop",
            f"Use `await {recv}.{twin}(...)`",
            edits,
        )
    yield from _through_helpers(ctx, helper_reach.RAISES_IN_LOOP)


def _receiver(ctx: RuleContext, func: ast.expr, cls: str) -> str:
    """What a fix title puts before the method: ``DBOS`` in ``DBOS.sleep``, the class for an
    alias called by name (``nap = DBOS.sleep``)."""
    return receiver_text(ctx.source, func) if isinstance(func, ast.Attribute) else cls.rsplit(".", 1)[-1]


def _inside_generator_expression(site: CallSite) -> bool:
    # ``await`` in a generator expression would turn it into an async generator.
    return isinstance(site.parent, (ast.GeneratorExp, ast.comprehension))


def _read_stream_finding(ctx: RuleContext, site: CallSite, recv: str, call: str, twin: str) -> Finding:
    message = f"{call} raises RuntimeError in a running event loop"
    func = site.node.func
    parent = site.parent
    keyword_pos: Position | None = None
    if isinstance(parent, ast.For) and parent.iter is site.node:
        keyword_pos = ctx.source.start(parent)
    elif isinstance(parent, ast.comprehension) and parent.iter is site.node and not parent.is_async:
        keyword_pos = _comprehension_for_keyword(ctx, parent)
    if keyword_pos is None or not isinstance(func, ast.Attribute):  # the latter never: ``obj.method``
        return ctx.finding(func, message)
    edits = [insert(keyword_pos, "async "), rename_attribute(ctx.source, func, twin)]
    return ctx.finding(func, message, f"Use `async for ... in {recv}.{twin}(...)`", edits)


def _comprehension_for_keyword(ctx: RuleContext, comp: ast.comprehension) -> Position | None:
    # ``comprehension`` nodes carry no position: find the ``for`` just before the target.
    target = ctx.source.start(comp.target)
    line = ctx.source.line(target.line)[: target.character]
    col = line.rstrip().rfind("for")
    if col < 0 or not line[col:].startswith("for"):
        return None
    return Position(target.line, col)


# ----- DBOS102 ----------------------------------------------------------------------------


@rule(
    "DBOS102",
    "async-blocking-dbos-call",
    Severity.WARNING,
    SKILL,
    "A sync DBOS API that blocks the event loop (without raising), called in async code",
    fix="mixed",
    scope="statement",
    follows_calls=True,
)
def async_blocking_dbos_call(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site, cls, method in model.api_calls():
        if site.awaited or not _in_async(site):
            continue
        func = site.node.func
        if method in sdk.BLOCKS_WITHOUT_PAIR.get(cls, ()):
            recv = _receiver(ctx, func, cls)
            call = api_call_text(ctx.source, func, cls, method)
            yield ctx.finding(func, f"{call} on a sync workflow handle blocks the event loop")
            continue
        if not sdk.blocks_in_loop(cls, method):
            continue
        recv = _receiver(ctx, func, cls)
        call = api_call_text(ctx.source, func, cls, method)
        twin = sdk.async_twin(cls, method)
        message = f"{call} blocks the event loop"
        if not _async_fix_is_safe(ctx, site, cls, method):
            yield ctx.finding(func, message)
            continue
        if twin is None or not isinstance(func, ast.Attribute):
            yield ctx.finding(func, message)  # no rename to offer (not ``obj.method``)
            continue
        edits = [rename_attribute(ctx.source, func, twin), *await_edits(ctx.source, site.node, site.parent)]
        yield ctx.finding(func, message, f"Use `await {recv}.{twin}(...)`", edits)
    for attr_site in model.attributes:
        node = attr_site.node
        fn = attr_site.fn
        if fn is None or not fn.is_async or not isinstance(node.ctx, ast.Load):
            continue
        if isinstance(attr_site.parent, ast.Call) and attr_site.parent.func is node:
            continue
        if not isinstance(node.value, ast.Name) or model.instance_type(node.value.id, fn) != sdk.QUEUE:
            continue
        recv = node.value.id
        getter = f"get_{node.attr}_async"
        replacement = awaited_text(f"{recv}.{getter}()", node, attr_site.parent)
        yield ctx.finding(
            node,
            f"reading `{recv}.{node.attr}` blocks the event loop (a database query)",
            f"Use `await {recv}.{getter}()`",
            [Edit(ctx.source.span(node), replacement)],
        )
    yield from _through_helpers(ctx, helper_reach.BLOCKS_LOOP)


def _async_fix_is_safe(ctx: RuleContext, site: CallSite, cls: str, method: str) -> bool:
    if (cls, method) in sdk.NO_AUTOMATIC_ASYNC_FIX:
        return False
    index = sdk.TAKES_WORKFLOW_FUNCTION.get((cls, method))
    if index is None:
        return True
    args = site.node.args
    if len(args) <= index or isinstance(args[index], ast.Starred):
        return False
    callee = ctx.model.callee_of_expr(args[index], site.fn)
    return callee is not None and callee.is_async


# ----- DBOS103 ----------------------------------------------------------------------------


@rule(
    "DBOS103",
    "async-await-sync-api",
    Severity.ERROR,
    SKILL,
    "`await` applied to a sync DBOS API, whose result is not awaitable",
    fix="safe",
    scope="statement",
)
def async_await_sync_api(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site, cls, method in model.api_calls():
        if not site.awaited:
            continue
        func = site.node.func
        recv = _receiver(ctx, func, cls)
        call = api_call_text(ctx.source, func, cls, method)
        twin = sdk.async_twin(cls, method)
        message = f"{call} is not a coroutine, so `await` raises TypeError"
        if twin is not None and not sdk.is_async_generator(cls, twin):
            yield ctx.finding(
                func,
                message,
                f"Use `{recv}.{twin}(...)`",
                [rename_attribute(ctx.source, func, twin)] if isinstance(func, ast.Attribute) else None,
            )
        elif method in sdk.SYNC_ONLY.get(cls, ()):
            await_node = site.parent
            if not isinstance(await_node, ast.Await):
                continue  # never taken: an awaited call's parent is its ``await``
            removal = Edit(Span(ctx.source.start(await_node), ctx.source.start(site.node)), "")
            yield ctx.finding(func, message, "Remove `await`", [removal])
        elif method in sdk.BLOCKS_WITHOUT_PAIR.get(cls, ()) or (cls == sdk.HANDLE and method == "get_status"):
            # get_result / get_status of a DBOS or a client sync handle
            yield ctx.finding(func, f"{call} of a sync workflow handle is not a coroutine, so `await` raises TypeError")


# ----- DBOS104 ----------------------------------------------------------------------------


@rule(
    "DBOS104",
    "async-missing-await",
    Severity.ERROR,
    SKILL,
    "A coroutine from a DBOS API, step or workflow is created and dropped without `await`",
    fix="safe",
    scope="statement",
)
def async_missing_await(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        if site.awaited or not _dropped(site):
            continue
        label = _coroutine_label(ctx, site)
        if label is None:
            continue
        is_dbos_api, text = label
        if _in_async(site):
            yield ctx.finding(
                site.node.func,
                f"{text} is never awaited, so it never runs",
                "Add `await`",
                await_edits(ctx.source, site.node, site.parent),
            )
        elif not is_dbos_api and _in_sync(site) and site.fn is not None:
            # DBOS ``_async`` APIs in sync code belong to DBOS105, which can fix them.
            yield ctx.finding(
                site.node.func,
                f"{text} is never awaited in sync code, so it never runs",
            )


def _coroutine_label(ctx: RuleContext, site: CallSite) -> tuple[bool, str] | None:
    model = ctx.model
    api = model.api_of(site.node, site.fn)
    if api is not None:
        cls, method = api
        if cls == sdk.HANDLE_ASYNC:
            return None  # DBOS106 owns async handles
        if sdk.is_coroutine_api(cls, method):
            return True, api_call_text(ctx.source, site.node.func, cls, method)
        return None
    callee = model.callee(site.node, site.fn)
    if callee is not None and callee.is_async and callee.role in _DURABLE_ROLES:
        return False, f"async {callee.role.value} `{callee.name}()`"
    return None


# ----- DBOS105 ----------------------------------------------------------------------------


@rule(
    "DBOS105",
    "sync-context-async-api",
    Severity.ERROR,
    SKILL,
    "An `_async` DBOS API called in sync code, where it cannot be awaited",
    fix="safe",
    scope="statement",
)
def sync_context_async_api(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site, cls, method in model.api_calls():
        if site.awaited or not _in_sync(site):
            continue
        if cls in (sdk.HANDLE_ASYNC, sdk.ASYNC_SQL_DATASOURCE):
            continue
        is_generator = sdk.is_async_generator(cls, method)
        if not (sdk.is_coroutine_api(cls, method) or is_generator):
            continue
        if _consumed_as_coroutine(model, site):
            continue
        if isinstance(site.parent, (ast.Assign, ast.AnnAssign)) and not _dropped(site):
            continue  # bound and used later: maybe handed to an event loop
        func = site.node.func
        recv = _receiver(ctx, func, cls)
        call = api_call_text(ctx.source, func, cls, method)
        twin = sdk.sync_twin(cls, method)
        message = f"sync code cannot await {call}"
        if is_generator:
            message = f"sync code cannot iterate the async generator {call}"
        if twin is None:
            yield ctx.finding(func, message)
            continue
        if not isinstance(func, ast.Attribute):
            yield ctx.finding(func, message)  # no rename to offer
            continue
        yield ctx.finding(
            func,
            message,
            f"Use `{recv}.{twin}(...)`",
            [rename_attribute(ctx.source, func, twin)],
        )


# ----- DBOS106 ----------------------------------------------------------------------------


@rule(
    "DBOS106",
    "async-handle-not-awaited",
    Severity.ERROR,
    SKILL,
    "`get_result()` / `get_status()` of an async workflow handle used without `await`",
    fix="safe",
    scope="statement",
)
def async_handle_not_awaited(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site, cls, method in model.api_calls():
        if site.awaited or cls != sdk.HANDLE_ASYNC or method not in sdk.HANDLE_ASYNC_COROUTINES:
            continue
        if _consumed_as_coroutine(model, site):
            continue
        if _bound_and_awaited_later(model, site):
            continue
        func = site.node.func
        call = api_call_text(ctx.source, func, cls, method)
        message = f"{call} of an async handle is never awaited"
        if _in_async(site):
            yield ctx.finding(func, message, "Add `await`", await_edits(ctx.source, site.node, site.parent))
        else:
            yield ctx.finding(func, message)


# ----- DBOS107 ----------------------------------------------------------------------------


def _durable_awaits(model: ModuleModel, calls_by_fn, helper: FunctionInfo) -> int:
    count = 0
    for site in calls_by_fn.get(helper, ()):
        if not site.awaited:
            continue
        api = model.api_of(site.node, helper)
        if api is not None and api[0] == sdk.DBOS:
            count += 1
            continue
        callee = model.callee(site.node, helper)
        if callee is not None and callee.role in _DURABLE_ROLES:
            count += 1
    return count


def _spawned(model: ModuleModel, expr: ast.expr, fn: FunctionInfo) -> ast.expr:
    """The coroutine in ``asyncio.create_task(coro)``; else ``expr`` itself."""
    if isinstance(expr, ast.Call) and expr.args and model.qualname(expr.func, fn) in sdk.TASK_SPAWNERS:
        return expr.args[0]
    return expr


def _multi_step_helper(model: ModuleModel, calls_by_fn, expr: ast.expr, fn: FunctionInfo) -> bool:
    """``expr`` is a call of a local, undecorated coroutine helper awaiting >= 2 durable calls."""
    expr = _spawned(model, expr, fn)
    if not isinstance(expr, ast.Call):
        return False
    callee = model.callee(expr, fn)
    if callee is None or callee.info is None or callee.role is not Role.PLAIN or not callee.is_async:
        return False
    return _durable_awaits(model, calls_by_fn, callee.info) >= 2


def _gathered(expr: ast.expr, fn: FunctionInfo, model: ModuleModel) -> list[tuple[ast.expr, int]]:
    """Awaitables in one argument of ``gather``, each with how many instances it stands for."""
    if isinstance(expr, ast.Starred):
        inner = expr.value
        if isinstance(inner, ast.Name):
            local = model.single_value(inner.id, fn) if fn.bound.get(inner.id) == 1 else None
            inner = local or inner
        if isinstance(inner, (ast.List, ast.Tuple)):
            return [(e, 1) for e in inner.elts]
        if isinstance(inner, (ast.ListComp, ast.GeneratorExp)):
            return [(inner.elt, 2)]  # a comprehension runs many copies
        return []
    return [(expr, 1)]


def _in_loop(node: ast.AST, fn: FunctionInfo) -> bool:
    for stmt in ast.walk(fn.node):
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            for inner in ast.walk(stmt):
                if inner is node:
                    return True
    return False


@rule(
    "DBOS107",
    "async-workflow-interleaved-steps",
    Severity.WARNING,
    SKILL,
    "Concurrent coroutine helpers that each run several steps make step order depend on timing",
)
def async_workflow_interleaved_steps(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    calls_by_fn = model.calls_by_function()
    message = "these concurrent multi-step helpers make the step order depend on timing"
    for fn, sites in calls_by_fn.items():
        if fn is None or fn.role is not Role.WORKFLOW or not fn.is_async:
            continue
        task_sites: list[tuple[CallSite, int]] = []
        for site in sites:
            if tail_name(site.node.func) not in _TASK_TAILS:
                continue
            q = model.qualname(site.node.func, fn)
            if q in sdk.CONCURRENT_AWAITERS:
                instances = 0
                for arg in site.node.args:
                    for expr, count in _gathered(arg, fn, model):
                        if _multi_step_helper(model, calls_by_fn, expr, fn):
                            instances += count
                if instances >= 2:
                    yield ctx.finding(site.node.func, message)
            elif q in sdk.TASK_SPAWNERS or (
                isinstance(site.node.func, ast.Attribute)
                and site.node.func.attr in sdk.TASK_SPAWNER_METHODS
                and q is None
            ):
                if site.node.args and _multi_step_helper(model, calls_by_fn, site.node.args[0], fn):
                    task_sites.append((site, 2 if _in_loop(site.node, fn) else 1))
        if sum(count for _, count in task_sites) >= 2:
            for site, _ in task_sites:
                yield ctx.finding(site.node.func, message)


# ----- DBOS108 ----------------------------------------------------------------------------


def _durable_role(model: ModuleModel, expr: ast.expr, fn: FunctionInfo) -> Role | None:
    """The role of the step, transaction or (child) workflow an awaitable calls, if any."""
    expr = _spawned(model, expr, fn)
    if not isinstance(expr, ast.Call):
        return None
    callee = model.callee(expr, fn)
    return callee.role if callee is not None and callee.role in _DURABLE_ROLES else None


def _gathered_kinds(roles: set[Role]) -> str:
    """What a DBOS108 message calls the gathered calls: steps (transactions count as steps),
    child workflows, or both."""
    if roles == {Role.WORKFLOW}:
        return "child workflows"
    if Role.WORKFLOW in roles:
        return "steps and child workflows"
    return "steps"


@rule(
    "DBOS108",
    "async-gather-without-return-exceptions",
    Severity.INFORMATION,
    SKILL,
    "`asyncio.gather` over steps or child workflows in a workflow without `return_exceptions=True`",
    fix="unsafe",
    scope="statement",
)
def async_gather_without_return_exceptions(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls_named({"gather"}):
        fn = site.fn
        if fn is None or fn.role is not Role.WORKFLOW or not fn.is_async:
            continue
        if model.qualname(site.node.func, fn) != "asyncio.gather":
            continue
        if keyword(site.node, "return_exceptions") is not None:
            continue
        awaitables = [e for arg in site.node.args for e, _ in _gathered(arg, fn, model)]
        roles = {role for e in awaitables if (role := _durable_role(model, e, fn)) is not None}
        if not roles:
            continue
        last = (site.node.args + [k for k in site.node.keywords])[-1]
        edits = [insert(ctx.source.end(last), ", return_exceptions=True")]
        yield ctx.finding(
            site.node.func,
            f"`{ctx.source.node_text(site.node.func)}()` abandons the other {_gathered_kinds(roles)} when one fails",
            "Add `return_exceptions=True` (then check each result for exceptions)",
            edits,
            safe=False,
        )


# ----- DBOS109 ----------------------------------------------------------------------------


@rule(
    "DBOS109",
    "async-sync-transaction-in-async-workflow",
    Severity.WARNING,
    SKILL,
    "A sync transaction called directly from an async workflow blocks its event loop",
    fix="unsafe",
    scope="statement",
)
def async_sync_transaction_in_async_workflow(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        fn = site.fn
        if fn is None or fn.role is not Role.WORKFLOW or not fn.is_async or site.awaited:
            continue
        callee = model.callee(site.node, fn)
        if callee is None or callee.role is not Role.TRANSACTION or callee.is_async:
            continue
        message = f"sync transaction `{callee.name}()` blocks the event loop"
        call = site.node
        if has_unpacking(call):
            yield ctx.finding(call.func, message)
            continue
        func_text = ctx.source.node_text(call.func)
        arg_texts = [ctx.source.node_text(a) for a in call.args]
        arg_texts += [f"{k.arg}={ctx.source.node_text(k.value)}" for k in call.keywords]
        aio, extra = module_spelling(model, "asyncio")
        new = awaited_text(f"{aio}.to_thread({', '.join([func_text, *arg_texts])})", call, site.parent)
        yield ctx.finding(
            call.func,
            message,
            f"Run `{callee.name}` with `await {aio}.to_thread(...)`",
            [Edit(ctx.source.span(call), new), *extra],
            safe=False,
        )


# ----- DBOS110 ----------------------------------------------------------------------------


@rule(
    "DBOS110",
    "async-datasource-module-await",
    Severity.ERROR,
    SKILL,
    "`await AsyncSQLAlchemyDatasource.create(...)` at module level is a SyntaxError",
    fix="safe",
    scope="statement",
)
def async_datasource_module_await(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for node in model.module_awaits:
        call = node.value
        if not isinstance(call, ast.Call):
            continue
        if model.qualname(call.func, None) != "dbos.AsyncSQLAlchemyDatasource.create":
            continue
        aio, extra = module_spelling(model, "asyncio")
        edits = [
            Edit(Span(ctx.source.start(node), ctx.source.start(call)), f"{aio}.run("),
            insert(ctx.source.end(call), ")"),
            *extra,
        ]
        yield ctx.finding(
            node,
            "module-level `await` is a SyntaxError on import",
            f"Use `{aio}.run(...)`",
            edits,
        )


# ----- DBOS111 ----------------------------------------------------------------------------

_START_ASYNC = (sdk.DBOS, "start_workflow_async")
# Decorators known to leave a sync workflow sync: the coroutine check sees the function under
# ``@DBOS.workflow()``, and ``DBOS.required_roles`` wraps it in a plain ``def``.
_SYNC_KEEPING_DECORATORS = frozenset({"dbos.DBOS.workflow", "dbos.DBOS.required_roles"})


def _workflow_argument(call: ast.Call) -> ast.expr | None:
    """The function passed as ``func`` (first positional, or ``func=``), when syntax shows it."""
    if call.args:
        first = call.args[0]
        return None if isinstance(first, ast.Starred) else first
    kw = keyword(call, "func")
    return kw.value if kw is not None else None


def _certainly_sync_workflow(model: ModuleModel, expr: ast.expr, fn: FunctionInfo | None) -> str | None:
    """The name of the plain-``def`` workflow ``expr`` names, or None unless certain: a
    project function whose only decorators are DBOS's workflow (and roles) decorators."""
    if isinstance(expr, ast.Lambda):
        return None
    callee = model.callee_of_expr(expr, fn)
    if callee is None or callee.role is not Role.WORKFLOW or callee.is_async:
        return None
    found = helper_reach.definition_of(model, callee)
    if found is None or found.info.is_lambda or found.info.is_async:
        return None
    if not helper_reach.only_decorated_by(found, _SYNC_KEEPING_DECORATORS):
        return None
    return callee.name


@rule(
    "DBOS111",
    "start-workflow-async-sync-workflow",
    Severity.ERROR,
    SKILL,
    "`DBOS.start_workflow_async` given a sync workflow, which runs and then fails with TypeError",
)
def start_workflow_async_sync_workflow(ctx: RuleContext) -> Iterator[Finding]:
    """``DBOS.start_workflow_async(ship, ...)`` where ``ship`` is certainly a plain-``def``
    workflow.  The SDK runs the body on the event loop's thread and then awaits its return
    value, so the workflow ends in ERROR with a TypeError.  Enqueueing (``enqueue_async``,
    ``DBOS.enqueue_workflow_async``) runs the workflow from the queue and is fine."""
    model = ctx.model
    for site, cls, method in model.api_calls():
        if (cls, method) != _START_ASYNC:
            continue
        target = _workflow_argument(site.node)
        name = _certainly_sync_workflow(model, target, site.fn) if target is not None else None
        if name is None:
            continue
        call = api_call_text(ctx.source, site.node.func, cls, method)
        yield ctx.finding(site.node.func, f"{call} of sync workflow `{name}` fails")
