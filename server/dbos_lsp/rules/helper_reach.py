"""What a workflow, a step or async code does through the plain helpers it calls.

A workflow that calls ``load_rates()``, which reads the clock, is as nondeterministic
as one that reads it itself (DBOS201-DBOS203; one whose helper bumps a module-level counter
changes module state as if it did it itself, DBOS204); a step whose helper starts a workflow fails as if the step
started it (DBOS301); an ``async def`` whose sync helper calls ``DBOS.sleep`` raises as
if it called it itself (DBOS101), or blocks its loop (DBOS102).  For each plain helper
(no DBOS role, no decorator that could give it one) a *summary* lists what its own body
does, by the classifiers of :mod:`.call_effects`, and which other plain helpers it calls.  :func:`reach` follows
those calls from a call site, depth first in source order, at most ``MAX_DEPTH``
helpers deep, each helper once (cycles end), into helpers of this module and of other
project modules the index finds (a relative import counts like an absolute one).

Calls into steps, workflows and transactions stop the walk: their bodies are durable
or run once.  The exception is DBOS101: a sync step or sync workflow called directly runs
its body inline, on the caller's thread (the SDK's wrapper is a plain ``def``; a workflow's
``Outcome`` for a sync function is ``Immediate``), so from async code it is walked like a
helper when DBOS's own decorators are its only ones.  Calls into installed libraries
are judged only by the catalog, never walked.  Summaries live in the model's memo
(another module's model is the index's, cached per modification time), so a changed
module is summarised again.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from dbos_lsp.analysis.findings import Related
from dbos_lsp.analysis.module_model import Callee, CallSite, FunctionInfo, ModuleModel, Role
from dbos_lsp.analysis.queries import model_query
from dbos_lsp.analysis.source_text import SourceText
from dbos_lsp.knowledge import determinism_catalog as catalog
from dbos_lsp.rules.call_effects import (
    IO_MESSAGES,
    blocking_in_loop_api,
    executes,
    io_of_call,
    is_logging_call,
    is_zero,
    module_state_changes,
    nondeterminism_of_call,
    raising_in_loop_api,
    reads_environ,
    workflow_start_api,
)
from dbos_lsp.rules.toolkit import api_call_text, called_name, one_line

MAX_DEPTH = 4  # helpers followed below the call in the workflow, step or async code

# Decorators that leave a helper's body running as written, on every call.
_TRANSPARENT_DECORATORS = frozenset({"staticmethod", "classmethod"})
# DBOS decorators under which a sync function stays sync and, called directly, runs in the
# caller's thread (dbos 3.4.0: the step wrapper at _core.py:2687, ``Outcome.make`` giving
# ``Immediate`` for a sync workflow at _outcome.py:112; ``required_roles`` wraps in a ``def``).
INLINE_DBOS_DECORATORS = frozenset({"dbos.DBOS.step", "dbos.DBOS.workflow", "dbos.DBOS.required_roles"})
_INLINE_ROLES = frozenset({Role.STEP, Role.WORKFLOW})

CLOCK_RANDOM_ENV = "DBOS201"
IO = "DBOS202"
SLEEP = "DBOS203"
MUTATES_GLOBAL = "DBOS204"
RAISES_IN_LOOP = "DBOS101"
BLOCKS_LOOP = "DBOS102"
STARTS_WORKFLOW = "DBOS301"
# Rules about the event loop: only a sync helper runs on the loop's thread as part of the
# call (an awaited ``async def`` helper is async code, judged directly where it is defined).
_LOOP_CODES = frozenset({RAISES_IN_LOOP, BLOCKS_LOOP})


@dataclass(frozen=True)
class Effect:
    """One thing a helper's own body does: which rule it matters to, and where."""

    code: str
    what: str  # a verb phrase: "reads the clock", "makes a network call", "sleeps with `time.sleep`"
    node: ast.expr
    text: str  # the callee: "`time.time()`"
    note: str = ""  # the related location's text, when not "<text> <what>"


@dataclass(frozen=True)
class Helper:
    """A plain function a call lands in, with the model of the file defining it."""

    info: FunctionInfo
    model: ModuleModel
    path: str | None  # None: the file being analysed


@dataclass(frozen=True)
class Summary:
    effects: tuple[Effect, ...]
    # Calls of its body that may land in a plain helper, in source order.  Which helper is
    # looked up on each walk: another module's helper is read from its current model.
    calls: tuple[CallSite, ...]


@dataclass(frozen=True)
class Reached:
    """An effect found below a call: the helper chain to it, as related locations."""

    effect: Effect
    related: tuple[Related, ...]


def reach(model: ModuleModel, site: CallSite, code: str) -> Reached | None:
    """The first effect for rule ``code`` that the call at ``site`` reaches through plain
    helpers, or None.  The call itself is not judged: the direct rule does that."""
    if site.fn is None:
        return None
    first = helper_called(model, site.node, site.fn, site.awaited, code == RAISES_IN_LOOP)
    if first is None or (code in _LOOP_CODES and first.info.is_async):
        return None
    visited = {id(first.info.node)}
    chain: list[tuple[Helper, ast.Call]] = []
    found = _search(first, code, 1, visited, chain)
    if found is None:
        return None
    effect, where = found
    related: list[Related] = []
    if first.info.role in _INLINE_ROLES and not isinstance(first.info.node, ast.Lambda):
        kind = "step" if first.info.role is Role.STEP else "workflow"
        decorator = first.info.node.decorator_list[-1]  # the innermost: the role's own
        note = f"sync {kind} `{first.info.name}` runs inline, on the event loop's thread"
        related.append(_related(first, decorator, note))
    for helper, call in chain:
        callee = _name_of_call(helper.model, call)
        related.append(_related(helper, call.func, f"`{helper.info.name}` calls {callee}"))
    note = effect.note or (f"{effect.text} is not durable" if effect.code == SLEEP else f"{effect.text} {effect.what}")
    related.append(_related(where, effect.node, note))
    return Reached(effect, tuple(related))


def _search(
    helper: Helper, code: str, depth: int, visited: set[int], chain: list[tuple[Helper, ast.Call]]
) -> tuple[Effect, Helper] | None:
    summary = summary_of(helper)
    for effect in summary.effects:
        if effect.code == code:
            return effect, helper
    if depth >= MAX_DEPTH:
        return None
    for site in summary.calls:
        inner = helper_called(helper.model, site.node, helper.info, site.awaited, code == RAISES_IN_LOOP)
        if inner is None or id(inner.info.node) in visited:
            continue
        visited.add(id(inner.info.node))
        chain.append((helper, site.node))
        found = _search(inner, code, depth + 1, visited, chain)
        if found is not None:
            return found
        chain.pop()
    return None


def _related(helper: Helper, node: ast.expr, message: str) -> Related:
    return Related(_source(helper.model).span(node), message, helper.path)


@model_query("module")
def _source(model: ModuleModel) -> SourceText:
    return SourceText("\n".join(model.lines), model.lines)


def _name_of_call(model: ModuleModel, call: ast.Call) -> str:
    text = one_line(_source(model), call.func, 40)
    return f"`{text}()`" if text is not None else "a helper"


def called_text(source: SourceText, func: ast.expr) -> str:
    """How a finding at a call into a helper names that call: "`quote_expiry()`"."""
    text = one_line(source, func, 40)
    return f"`{text}()`" if text is not None else "this call"


# ----- which calls land in a plain helper --------------------------------------------------


def helper_called(
    model: ModuleModel, call: ast.Call, fn: FunctionInfo, awaited: bool, inline_dbos: bool = False
) -> Helper | None:
    """The plain helper ``call`` runs (defined in this file or another project file), or
    None: not a helper, a DBOS function, or an ``async def`` called without ``await``
    (which only makes a coroutine).  ``inline_dbos``: a sync step or sync workflow whose
    only decorators are DBOS's counts too (its body runs in the caller's thread)."""
    callee = model.callee(call, fn)
    if callee is None or (callee.is_async and not awaited):
        return None
    if callee.role is Role.PLAIN:
        helper = definition_of(model, callee)
        return helper if helper is not None and _plain(helper) else None
    if not inline_dbos or callee.role not in _INLINE_ROLES or callee.is_async:
        return None
    helper = definition_of(model, callee)
    if helper is None or helper.info.is_async or not only_decorated_by(helper, INLINE_DBOS_DECORATORS):
        return None
    return helper


def definition_of(model: ModuleModel, callee: Callee) -> Helper | None:
    """Where ``callee`` is defined, with its file's model: this file, or a top-level
    function of another project file the index found (None when that file has no function
    of that name and role)."""
    if callee.info is not None:
        return Helper(callee.info, model, None)
    if callee.source_path is None or model.index is None:
        return None
    other = model.index.module_model(callee.source_path)
    if other is None:
        return None
    info = other.top_functions.get(callee.name)
    if info is None or info.role is not callee.role:
        return None
    model.used_index = True
    return Helper(info, other, callee.source_path)


def _plain(helper: Helper) -> bool:
    return only_decorated_by(helper, frozenset())


def only_decorated_by(helper: Helper, qualnames: frozenset[str]) -> bool:
    """Every decorator of the helper is ``staticmethod``/``classmethod`` or one of
    ``qualnames`` (``dbos.DBOS.step``); a DBOS function must also not be rebound at module
    level (``ship = wrap(ship)``: the registered function may no longer be what runs)."""
    info = helper.info
    node = info.node
    if isinstance(node, ast.Lambda):
        return False
    if qualnames and info.parent is None and info.class_node is None and info.name in helper.model.module_values:
        return False
    for dec in node.decorator_list:
        if isinstance(dec, ast.Name) and dec.id in _TRANSPARENT_DECORATORS:
            continue
        target = dec.func if isinstance(dec, ast.Call) else dec
        if not qualnames or helper.model.qualname(target, None) not in qualnames:
            return False
    return True


# ----- summaries ---------------------------------------------------------------------------


@model_query("module")
def _summaries(model: ModuleModel) -> dict[int, Summary]:
    # Filled lazily, helper by helper: only helpers that some workflow reaches are summarised.
    return {}


def summary_of(helper: Helper) -> Summary:
    memo = _summaries(helper.model)
    key = id(helper.info.node)
    found = memo.get(key)
    if found is None:
        found = memo[key] = _summarise(helper)
    return found


def _summarise(helper: Helper) -> Summary:
    model, fn = helper.model, helper.info
    source = _source(model)
    sites = list(_own_calls(fn))
    logged: set[int] = set()
    for site in sites:
        if is_logging_call(model, site):
            for arg in (*site.node.args, *(k.value for k in site.node.keywords)):
                logged.update(id(n) for n in ast.walk(arg))
    effects: list[Effect] = []
    calls: list[CallSite] = []
    for site in sites:
        if id(site.node) in logged:
            continue
        effects.extend(_call_effects(model, source, site))
        calls.append(site)
    for node, parent in _own_nodes(fn.node):
        if isinstance(node, ast.Attribute) and id(node) not in logged and _reads_environ(model, node, parent, fn):
            effects.append(Effect(CLOCK_RANDOM_ENV, catalog.ENVIRONMENT, node, "`os.environ`"))
    for node, name in module_state_changes(model, fn, sites):
        note = f"`{fn.name}` changes module-level `{name}`"
        effects.append(Effect(MUTATES_GLOBAL, f"changes global `{name}`", node, f"`{name}`", note))
    effects.sort(key=lambda e: (getattr(e.node, "lineno", 0), getattr(e.node, "col_offset", 0)))
    return Summary(tuple(effects), tuple(calls))


def _call_effects(model: ModuleModel, source: SourceText, site: CallSite) -> Iterator[Effect]:
    call, fn = site.node, site.fn
    assert fn is not None
    q = model.qualname(call.func, fn)
    text = _text(source, call.func)
    category = nondeterminism_of_call(model, call, fn)
    if category is not None:
        yield Effect(CLOCK_RANDOM_ENV, category, call, text)
    kind = io_of_call(model, call, fn)
    if kind is not None:
        yield Effect(IO, IO_MESSAGES[kind], call, text)
    if q in ("time.sleep", "asyncio.sleep"):
        simple = len(call.args) == 1 and not call.keywords and not isinstance(call.args[0], ast.Starred)
        runs = q == "time.sleep" or site.awaited  # asyncio.sleep() not awaited never waits
        if runs and not (simple and is_zero(call.args[0])):
            yield Effect(SLEEP, f"sleeps with `{q}`", call, text)
    yield from _dbos_effects(model, source, site)


def _dbos_effects(model: ModuleModel, source: SourceText, site: CallSite) -> Iterator[Effect]:
    call, fn = site.node, site.fn
    assert fn is not None
    start = workflow_start_api(model, site)
    if start is not None:
        what = "enqueues a workflow" if "enqueue" in start[1] else "starts a workflow"
        yield Effect(STARTS_WORKFLOW, what, call, api_call_text(source, call.func, *start))
    elif _runs_workflow(model, site):
        name = called_name(source, call.func)
        yield Effect(STARTS_WORKFLOW, f"calls workflow `{name}`", call, f"`{name}()`", f"`{name}` is a workflow")
    if fn.is_async:
        return  # async code calling the API is judged directly (DBOS101, DBOS102)
    api = raising_in_loop_api(model, site)
    if api is not None:
        yield Effect(
            RAISES_IN_LOOP, "raises RuntimeError in a running event loop", call, api_call_text(source, call.func, *api)
        )
    api = blocking_in_loop_api(model, site)
    if api is not None:
        yield Effect(BLOCKS_LOOP, "blocks the event loop", call, api_call_text(source, call.func, *api))


def _runs_workflow(model: ModuleModel, site: CallSite) -> bool:
    """The call runs a ``@DBOS.workflow`` function directly (an awaited or run coroutine)."""
    callee = model.callee(site.node, site.fn)
    return callee is not None and callee.role is Role.WORKFLOW and executes(model, site, callee.is_async)


def _reads_environ(model: ModuleModel, node: ast.Attribute, parent: ast.AST, fn: FunctionInfo) -> bool:
    # ``os.environ.get(...)`` is its call's effect already: one read, not two.
    if isinstance(parent, ast.Attribute) and parent.value is node:
        return False
    return reads_environ(model, node, parent, fn)


def _text(source: SourceText, func: ast.expr) -> str:
    text = one_line(source, func, 40)
    return f"`{text}()`" if text is not None else "a call"


def _own_nodes(fn_node: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
    """(node, parent) for every node of a function's own body: nested functions, lambdas
    and classes are other bodies, run (if at all) when called."""
    stack: list[tuple[ast.AST, ast.AST]] = [(stmt, fn_node) for stmt in reversed(getattr(fn_node, "body", []))]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        children = list(ast.iter_child_nodes(node))
        stack.extend((child, node) for child in reversed(children))


def _own_calls(fn: FunctionInfo) -> Iterator[CallSite]:
    for node, parent in _own_nodes(fn.node):
        if isinstance(node, ast.Call):
            yield CallSite(node, parent, fn, isinstance(parent, ast.Await))
