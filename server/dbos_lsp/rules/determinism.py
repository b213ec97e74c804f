"""Rules DBOS201-DBOS205: workflow determinism and durability.

Skill documents ``workflow-determinism`` (DBOS201, DBOS202, DBOS204, DBOS205) and
``pattern-sleep`` (DBOS203).  A workflow body is the workflow function itself:
nested defs, lambdas and functions handed to ``DBOS.run_step`` are separate
contexts (the model gives each its own ``FunctionInfo``).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterator
from typing import TypeGuard

from dbos_lsp.analysis.findings import Edit, Finding, Severity
from dbos_lsp.analysis.module_model import Callee, CallSite, FunctionInfo, ModuleModel, Role
from dbos_lsp.knowledge import determinism_catalog as catalog
from dbos_lsp.rules import helper_reach
from dbos_lsp.rules.call_effects import (
    IO_MESSAGES,
    io_of_call,
    is_zero,
    logging_argument_ids,
    module_state_changes,
    nondeterminism_of_call,
    reads_environ,
)
from dbos_lsp.rules.registry import RuleContext, rule
from dbos_lsp.rules.toolkit import (
    dbos_spelling,
    dict_entries,
    has_unpacking,
    keyword,
    one_line,
    str_constant,
    tail_name,
)

DETERMINISM = "workflow-determinism"
SLEEP = "pattern-sleep"


def _in_workflow(fn: FunctionInfo | None) -> TypeGuard[FunctionInfo]:
    return fn is not None and fn.role is Role.WORKFLOW and not fn.is_lambda


def _short(ctx: RuleContext, node: ast.expr) -> str:
    text = one_line(ctx.source, node, 40)
    if text is None:
        return "this call" if isinstance(node, ast.Call) else "this expression"
    return f"`{text}`"


def _workflow_label(fn: FunctionInfo) -> str:
    return f"workflow `{fn.name}`"


def _workflow_calls(model: ModuleModel) -> dict[FunctionInfo, list[CallSite]]:
    return {fn: sites for fn, sites in model.calls_by_function().items() if _in_workflow(fn)}


# ----- through helpers (DBOS201-DBOS204) --------------------------------------------------


def _through_helpers(
    ctx: RuleContext, fn: FunctionInfo, sites: list[CallSite], logged: set[int], code: str
) -> Iterator[Finding]:
    """Findings at the calls of workflow ``fn`` into plain helpers that do, themselves or
    further down, what rule ``code`` flags in a workflow body; the chain is related info."""
    for site in sites:
        if id(site.node) in logged:
            continue
        found = helper_reach.reach(ctx.model, site, code)
        if found is None:
            continue
        text = one_line(ctx.source, site.node.func, 40)
        called = f"`{text}()`" if text is not None else "this call"
        effect, where = found.effect, _workflow_label(fn)
        if code == helper_reach.SLEEP:
            message = f"{called} {effect.what} in {where}, which is not durable"
        elif code == helper_reach.MUTATES_GLOBAL:
            message = f"{called} {effect.what} in {where}"
        else:
            message = f"{called} {effect.what} via {effect.text} in {where}"
        yield ctx.finding(site.node.func, message, related=found.related)


# ----- DBOS201 ----------------------------------------------------------------------------


@rule(
    "DBOS201",
    "workflow-nondeterministic-call",
    Severity.WARNING,
    DETERMINISM,
    "A workflow body reads the clock, draws random values or reads the environment outside a step",
    scope="statement",
    follows_calls=True,
)
def workflow_nondeterministic_call(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    grouped = _workflow_calls(model)
    environ_sites: dict[FunctionInfo, list] = {}
    for attr in model.attributes:
        if attr.node.attr == "environ" and _in_workflow(attr.fn):
            environ_sites.setdefault(attr.fn, []).append(attr)
    if not grouped and not environ_sites:
        return
    for fn in {**grouped, **environ_sites}:
        sites = grouped.get(fn, [])
        logged = logging_argument_ids(model, sites)
        reported: set[tuple[int, int]] = set()
        hits: list[tuple[ast.expr, str]] = []
        for attr in environ_sites.get(fn, ()):
            if id(attr.node) not in logged and reads_environ(model, attr.node, attr.parent, fn):
                hits.append((attr.node, catalog.ENVIRONMENT))
        for site in sites:
            category = None if id(site.node) in logged else nondeterminism_of_call(model, site.node, fn)
            if category is not None:
                hits.append((site.node, category))
        # A call sorts before the ``os.environ`` inside it, so its text names the whole read.
        hits.sort(key=lambda h: (h[0].lineno, h[0].col_offset, not isinstance(h[0], ast.Call)))
        for node, category in hits:
            key = (node.lineno, node.col_offset)
            if key in reported:
                continue  # os.environ.get(...) is one read, not two
            reported.add(key)
            yield ctx.finding(node, f"{_short(ctx, node)} {category} in {_workflow_label(fn)}")
        yield from _through_helpers(ctx, fn, sites, logged, helper_reach.CLOCK_RANDOM_ENV)


# ----- DBOS202 ----------------------------------------------------------------------------


@rule(
    "DBOS202",
    "workflow-io-outside-step",
    Severity.WARNING,
    DETERMINISM,
    "A workflow body does network, file, subprocess or database I/O outside a step",
    scope="statement",
    follows_calls=True,
)
def workflow_io_outside_step(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for fn, sites in _workflow_calls(model).items():
        for site in sites:
            kind = io_of_call(model, site.node, fn)
            if kind is None:
                continue
            what = _short(ctx, site.node.func)
            yield ctx.finding(site.node.func, f"{what} {IO_MESSAGES[kind]} in {_workflow_label(fn)}")
        logged = logging_argument_ids(model, sites)
        yield from _through_helpers(ctx, fn, sites, logged, helper_reach.IO)


# ----- DBOS203 ----------------------------------------------------------------------------


@rule(
    "DBOS203",
    "workflow-nondurable-sleep",
    Severity.WARNING,
    SLEEP,
    "`time.sleep` / `asyncio.sleep` in a workflow is not durable; use `DBOS.sleep` / `DBOS.sleep_async`",
    fix="unsafe",
    scope="statement",
    follows_calls=True,
)
def workflow_nondurable_sleep(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        fn = site.fn
        call = site.node
        func = call.func
        if not _in_workflow(fn) or (isinstance(func, ast.Attribute) and func.attr != "sleep"):
            continue  # a bare name may be an alias: ``from time import sleep as pause``
        q = model.qualname(call.func, fn)
        if q not in ("time.sleep", "asyncio.sleep"):
            continue
        simple = len(call.args) == 1 and not call.keywords and not isinstance(call.args[0], ast.Starred)
        if simple and is_zero(call.args[0]):
            continue  # sleep(0) yields to other threads or tasks; it is not a wait
        name = f"`{ctx.source.node_text(call.func)}`"
        message = f"{name} in {_workflow_label(fn)} is not durable"
        edits: list[Edit] | None = None
        title: str | None = None
        if simple:
            dbos, extra = dbos_spelling(model, fn)
            arg = ctx.source.node_text(call.args[0])
            if dbos is not None:
                if not fn.is_async and q == "time.sleep":
                    edits = [Edit(ctx.source.span(call.func), f"{dbos}.sleep"), *extra]
                    title = f"Use `{dbos}.sleep(...)`"
                elif fn.is_async and q == "asyncio.sleep" and site.awaited:
                    edits = [Edit(ctx.source.span(call.func), f"{dbos}.sleep_async"), *extra]
                    title = f"Use `{dbos}.sleep_async(...)`"
                elif fn.is_async and q == "time.sleep" and isinstance(site.parent, ast.Expr):
                    edits = [Edit(ctx.source.span(call), f"await {dbos}.sleep_async({arg})"), *extra]
                    title = f"Use `await {dbos}.sleep_async(...)`"
        yield ctx.finding(call.func, message, title, edits, safe=False)
    for fn, sites in _workflow_calls(model).items():
        yield from _through_helpers(ctx, fn, sites, logging_argument_ids(model, sites), helper_reach.SLEEP)


# ----- DBOS204 ----------------------------------------------------------------------------

_STATEFUL_ROLES = (Role.WORKFLOW, Role.STEP, Role.TRANSACTION)


def _role_label(fn: FunctionInfo) -> str:
    if fn.role is Role.WORKFLOW:
        return f"workflow `{fn.name}`"
    if fn.role is Role.TRANSACTION:
        return f"transaction `{fn.name}`"
    return f"step `{fn.name}`"


def _global_message(fn: FunctionInfo, name: str) -> str:
    return f"{_role_label(fn)} changes module-level `{name}`"


@rule(
    "DBOS204",
    "workflow-mutates-global",
    Severity.WARNING,
    DETERMINISM,
    "A workflow or step assigns or mutates module-level state",
    scope="statement",
    follows_calls=True,
)
def workflow_mutates_global(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    calls: dict[FunctionInfo, list[CallSite]] = {}
    for site in model.calls:
        if site.fn is not None and site.fn.role in _STATEFUL_ROLES:
            calls.setdefault(site.fn, []).append(site)
    for fn in model.functions:
        if fn.role not in _STATEFUL_ROLES or fn.is_lambda:
            continue
        sites = calls.get(fn, [])
        for node, name in module_state_changes(model, fn, sites):
            yield ctx.finding(node, _global_message(fn, name))
        if fn.role is Role.WORKFLOW:
            # Only a workflow's helpers: a step or transaction is judged on its own body.  A
            # helper called in a logging argument still changes the state, so it counts.
            yield from _through_helpers(ctx, fn, sites, set(), helper_reach.MUTATES_GLOBAL)


# ----- DBOS205 ----------------------------------------------------------------------------

_EXECUTOR_METHODS = {"submit": 0, "map": 0, "run_in_executor": 1}


def _workflow_target(model: ModuleModel, expr: ast.expr, fn: FunctionInfo | None) -> Callee | None:
    if isinstance(expr, (ast.Starred, ast.Lambda)):
        return None
    callee = model.callee_of_expr(expr, fn)
    if callee is None or callee.role is not Role.WORKFLOW:
        return None
    return callee


def _fix_context_ok(fn: FunctionInfo | None) -> bool:
    # DBOS.start_workflow blocks an event loop and fails inside steps.
    if fn is None:
        return True
    if fn.is_async or fn.is_lambda:
        return False
    return fn.role not in (Role.STEP, Role.TRANSACTION)


def _thread_start_fix(ctx: RuleContext, thread: ast.Call, start_site: CallSite, dbos: str) -> list[Edit] | None:
    """``threading.Thread(target=wf, args=(a, b)).start()`` -> ``DBOS.start_workflow(wf, a, b)``."""
    if thread.args:
        return None
    target: ast.expr | None = None
    parts: list[str] = []
    kwparts: list[str] = []
    for kw in thread.keywords:
        if kw.arg == "target":
            target = kw.value
        elif kw.arg == "args":
            if not isinstance(kw.value, (ast.Tuple, ast.List)):
                return None
            if any(isinstance(e, ast.Starred) for e in kw.value.elts):
                return None
            parts.extend(ctx.source.node_text(e) for e in kw.value.elts)
        elif kw.arg == "kwargs":
            d = kw.value
            if not isinstance(d, ast.Dict):
                return None
            for k, v in dict_entries(d):
                key = str_constant(k)
                if key is None or not key.isidentifier():
                    return None
                kwparts.append(f"{key}={ctx.source.node_text(v)}")
        elif kw.arg != "daemon":
            return None
    if target is None:
        return None
    text = ", ".join([ctx.source.node_text(target), *parts, *kwparts])
    return [Edit(ctx.source.span(start_site.node), f"{dbos}.start_workflow({text})")]


def _submit_fix(ctx: RuleContext, func: ast.expr, dbos: str) -> list[Edit]:
    """``executor.submit(wf, a)`` -> ``DBOS.start_workflow(wf, a)``."""
    return [Edit(ctx.source.span(func), f"{dbos}.start_workflow")]


def _start_workflow_fix(
    model: ModuleModel, fn: FunctionInfo | None, workflow: Callee, edits_for: Callable[[str], list[Edit] | None]
) -> tuple[str | None, list[Edit] | None]:
    """Title and edits of a fix to ``DBOS.start_workflow``, spelled as this file can."""
    dbos, extra = dbos_spelling(model, fn)
    edits = edits_for(dbos) if dbos is not None else None
    if edits is None:
        return None, None
    return f"Use `{dbos}.start_workflow({workflow.name}, ...)`", [*edits, *extra]


def _thread_message(workflow: Callee, where: str) -> str:
    return f"workflow `{workflow.name}` runs on {where} without the DBOS context"


@rule(
    "DBOS205",
    "workflow-started-in-thread",
    Severity.WARNING,
    DETERMINISM,
    "A workflow function is run on a thread or executor instead of with `DBOS.start_workflow`",
    fix="unsafe",
    scope="statement",
)
def workflow_started_in_thread(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    # Thread(...).start() statements, keyed by the Thread call
    started: dict[int, CallSite] = {}
    for site in model.calls:
        func = site.node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "start"
            and isinstance(func.value, ast.Call)
            and isinstance(site.parent, ast.Expr)
            and not site.node.args
            and not site.node.keywords
        ):
            started[id(func.value)] = site
    for site in model.calls:
        call = site.node
        func = call.func
        tail = tail_name(func)
        fn = site.fn
        if tail == "Thread" or (isinstance(func, ast.Name) and func.id in model.imports.known):
            if model.qualname(func, fn) != "threading.Thread":
                continue
            target_kw = keyword(call, "target")
            target = target_kw.value if target_kw is not None else None
            if target is None and len(call.args) >= 2:
                target = call.args[1]  # Thread(group, target, ...)
            if target is None:
                continue
            workflow = _workflow_target(model, target, fn)
            if workflow is None:
                continue
            title, edits = None, None
            start_site = started.get(id(call))
            if start_site is not None and _fix_context_ok(fn):
                make = functools.partial(_thread_start_fix, ctx, call, start_site)
                title, edits = _start_workflow_fix(model, fn, workflow, make)
            yield ctx.finding(func, _thread_message(workflow, "a plain thread"), title, edits, safe=False)
            continue
        index = _EXECUTOR_METHODS.get(tail or "")
        if index is None or not isinstance(func, ast.Attribute):
            continue
        if len(call.args) <= index:
            continue
        if model.api_of(call, fn) is not None:
            continue  # a DBOS API, not an executor
        workflow = _workflow_target(model, call.args[index], fn)
        if workflow is None:
            continue
        title, edits = None, None
        if tail == "submit" and isinstance(site.parent, ast.Expr) and _fix_context_ok(fn) and not has_unpacking(call):
            title, edits = _start_workflow_fix(model, fn, workflow, functools.partial(_submit_fix, ctx, func))
        yield ctx.finding(func, _thread_message(workflow, "an executor thread"), title, edits, safe=False)
