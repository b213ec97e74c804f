"""Rules DBOS401-DBOS405: decorators, classes and context managers.

Skill documents: ``pattern-classes`` (DBOS401, DBOS403), ``lifecycle-fastapi``
(DBOS402), ``workflow-registration`` (DBOS404) and ``context-managers`` (DBOS405).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator

from dbos_lsp.analysis.findings import Edit, Finding, Position, Severity, Span
from dbos_lsp.analysis.module_model import HTTP_ROUTE_METHODS, FunctionInfo, ModuleModel, Role
from dbos_lsp.analysis.registrations import workflow_registrations_in
from dbos_lsp.analysis.source_text import insert, line_indent
from dbos_lsp.rules.registry import RuleContext, SeverityCase, rule
from dbos_lsp.rules.toolkit import decorator_target, one_line, tail_name


def _dbos_decorator(model: ModuleModel, dec: ast.expr, scope: FunctionInfo | None) -> str | None:
    """``workflow``, ``step``, ``dbos_class``... for a ``@DBOS.x`` or ``@DBOS.x(...)`` decorator."""
    target = decorator_target(dec)
    if not isinstance(target, ast.Attribute):
        return None
    q = model.qualname(target, scope)
    if q is not None and q.startswith("dbos.DBOS.") and q.count(".") == 2:
        return q.rsplit(".", 1)[1]
    return None


def _classes(model: ModuleModel) -> Iterator[tuple[ast.ClassDef, FunctionInfo | None]]:
    """Every class with the function it is defined in (None: module or class body)."""
    seen: set[int] = set()
    for info in model.classes.values():
        seen.add(id(info.node))
        yield info.node, None
    for fn in model.functions:
        cls = fn.class_node
        if cls is not None and id(cls) not in seen:
            seen.add(id(cls))
            yield cls, fn.parent


# ----- DBOS401 ----------------------------------------------------------------------------------

_MUST_CALL = frozenset({"workflow", "step", "dbos_class"})


@rule(
    "DBOS401",
    "decorator-not-called",
    Severity.ERROR,
    "pattern-classes",
    "`@DBOS.workflow`, `@DBOS.step` or `@DBOS.dbos_class` used without parentheses",
    fix="safe",
    scope="statement",
)
def decorator_not_called(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for info in model.functions:
        node = info.node
        if isinstance(node, ast.Lambda):
            continue
        for dec in node.decorator_list:
            yield from _check_bare(ctx, dec, info.parent)
    for cls, scope in _classes(model):
        for dec in cls.decorator_list:
            yield from _check_bare(ctx, dec, scope)


def _check_bare(ctx: RuleContext, dec: ast.expr, scope: FunctionInfo | None) -> Iterator[Finding]:
    if isinstance(dec, ast.Call) or tail_name(dec) not in _MUST_CALL:
        return
    kind = _dbos_decorator(ctx.model, dec, scope)
    if kind not in _MUST_CALL:
        return
    text = ctx.source.node_text(dec)
    if kind == "dbos_class":
        message = f"`@{text}` without `()` replaces the class with a DBOS function"
    else:
        message = f"`@{text}` without `()` raises TypeError at import"
    yield ctx.finding(
        dec,
        message,
        f"Add `()`: `@{text}()`",
        [insert(ctx.source.end(dec), "()")],
    )


# ----- DBOS402 ----------------------------------------------------------------------------------


def _is_route(model: ModuleModel, dec: ast.expr) -> bool:
    if not isinstance(dec, ast.Call) or not isinstance(dec.func, ast.Attribute):
        return False
    owner = dec.func.value
    return dec.func.attr in HTTP_ROUTE_METHODS and isinstance(owner, ast.Name) and owner.id in model.http_apps


@rule(
    "DBOS402",
    "fastapi-decorator-order",
    Severity.WARNING,
    "lifecycle-fastapi",
    "`@DBOS.workflow()` placed above an HTTP route decorator, so the route serves the undecorated function",
    fix="safe",
    scope="statement",
)
def fastapi_decorator_order(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for info in model.functions:
        node = info.node
        if isinstance(node, ast.Lambda) or info.role is not Role.WORKFLOW:
            continue
        decorators = node.decorator_list
        dbos_index = next(
            (i for i, d in enumerate(decorators) if _dbos_decorator(model, d, info.parent) == "workflow"),
            None,
        )
        if dbos_index is None:
            continue
        route_index = next((i for i in range(dbos_index + 1, len(decorators)) if _is_route(model, decorators[i])), None)
        if route_index is None:
            continue
        dbos_dec, route_dec = decorators[dbos_index], decorators[route_index]
        dbos_text, route_text = ctx.source.node_text(dbos_dec), ctx.source.node_text(route_dec)
        yield ctx.finding(
            dbos_dec,
            f"`@{dbos_text}` is above the route decorator, so requests bypass it",
            "Move the route decorator above the DBOS decorator",
            [Edit(ctx.source.span(dbos_dec), route_text), Edit(ctx.source.span(route_dec), dbos_text)],
        )


# ----- DBOS403 ----------------------------------------------------------------------------------


def _has_bare_decorator(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    """``@staticmethod`` or ``@x.staticmethod`` (uncalled), for ``name="staticmethod"``."""
    return any(isinstance(d, (ast.Name, ast.Attribute)) and tail_name(d) == name for d in node.decorator_list)


def _unregistered_methods(model: ModuleModel, cls: ast.ClassDef) -> list[FunctionInfo]:
    out = []
    for stmt in cls.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        info = model.function_of_node.get(id(stmt))
        if info is None or info.role is not Role.WORKFLOW or _has_bare_decorator(stmt, "staticmethod"):
            continue
        params = [*stmt.args.posonlyargs, *stmt.args.args]
        if _has_bare_decorator(stmt, "classmethod") or (params and params[0].arg == "self"):
            # What DBOS checks at call time: a class as the first argument, or a
            # function whose first parameter is named ``self``.
            out.append(info)
    return out


def _registers_class(model: ModuleModel, dec: ast.expr, scope: FunctionInfo | None) -> bool:
    """``@DBOS.dbos_class(...)``, or ``@DBOS.default_required_roles([...])``, which registers the
    class the same way (dbos 3.4.0 and 2.31 ``_roles.default_required_roles``: it calls
    ``get_or_create_class_info`` and ``register_class``, as ``DBOS.dbos_class`` does)."""
    kind = _dbos_decorator(model, dec, scope)
    if kind == "dbos_class":
        return True
    return kind == "default_required_roles" and isinstance(dec, ast.Call)


@rule(
    "DBOS403",
    "class-workflow-missing-dbos-class",
    Severity.ERROR,
    "pattern-classes",
    "A class with instance- or class-method workflows that is not decorated `@DBOS.dbos_class()`",
    fix="safe",
    scope="statement",
)
def class_workflow_missing_dbos_class(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for cls, scope in _classes(model):
        if any(_registers_class(model, d, scope) for d in cls.decorator_list):
            continue
        methods = _unregistered_methods(model, cls)
        if not methods:
            continue
        prefix = _dbos_prefix(ctx, methods[0])
        if prefix is None:
            continue
        names = ", ".join(f"`{m.name}`" for m in methods[:3]) + (", ..." if len(methods) > 3 else "")
        first = cls.decorator_list[0] if cls.decorator_list else cls
        line = first.lineno - 1
        indent = line_indent(ctx.source.line(line))
        if ctx.source.line(line)[: ctx.source.char_col(line, first.col_offset)].strip() not in ("", "@"):
            edits = None  # something else shares the line: no safe place to insert
        else:
            edits = [insert(Position(line, 0), f"{indent}@{prefix}.dbos_class()\n")]
        yield ctx.finding(
            _class_name_span(ctx, cls),
            f"class `{cls.name}` has workflow methods ({names}) but no `@{prefix}.dbos_class()`",
            f"Add `@{prefix}.dbos_class()` to `{cls.name}`",
            edits,
        )


def _dbos_prefix(ctx: RuleContext, info: FunctionInfo) -> str | None:
    """How this file spells the DBOS class in the method's decorator (``DBOS``, ``dbos.DBOS``)."""
    node = info.node
    if isinstance(node, ast.Lambda):
        return None  # never: the callers pass methods
    for dec in node.decorator_list:
        target = decorator_target(dec)
        if _dbos_decorator(ctx.model, dec, info.parent) == "workflow" and isinstance(target, ast.Attribute):
            text = one_line(ctx.source, target.value)
            if text is not None:
                return text
    return None


def _class_name_span(ctx: RuleContext, cls: ast.ClassDef) -> Span:
    start = ctx.source.start(cls)
    line = ctx.source.line(start.line)
    m = re.compile(r"class\s+" + re.escape(cls.name)).match(line, start.character)
    end = Position(start.line, m.end()) if m else Position(start.line, len(line))
    return Span(start, end)


# ----- DBOS404 ----------------------------------------------------------------------------------


@rule(
    "DBOS404",
    "workflow-name-collision",
    Severity.ERROR,
    "workflow-registration",
    "Two workflows in different modules registered under the same name",
    min_version=(3, 0),
    scope="project",
    # Within one module DBOS only logs a warning and the later function takes the name.
    severity_when=(SeverityCase("same-module", Severity.WARNING, "both registrations are in one module"),),
)
def workflow_name_collision(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    mine = list(workflow_registrations_in(model))
    if not mine:
        return
    yield from _same_module_duplicates(ctx, mine)
    path = model.path
    # The index answers for the other files of this file's application, exclude applied.
    lookup = getattr(model.index, "workflow_registrations_for", None)
    if not path or lookup is None:
        return
    registrations = lookup(path)
    if registrations is None:
        return
    for name, _info, decorator in mine:
        others = list(registrations.get(name, ()))
        if not others:
            continue
        other, line = sorted(others)[0]
        where = _display_path(other, path)
        more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
        yield ctx.finding(
            decorator,
            f"workflow name `{name}` is also registered in `{where}:{line}`{more}",
        )


def _same_module_duplicates(ctx: RuleContext, mine: list) -> Iterator[Finding]:
    """Two unconditional registrations of one name in this module: DBOS only logs a
    warning, and the later function silently takes over the name (a warning here too)."""
    top = {id(stmt) for stmt in ctx.model.tree.body}
    first: dict[str, ast.expr] = {}
    for name, info, decorator in mine:
        owner = info.class_node if info.class_node is not None else info.node
        if id(owner) not in top:
            continue  # inside if/try: maybe alternative definitions
        earlier = first.get(name)
        if earlier is None:
            first[name] = decorator
            continue
        yield ctx.finding(
            decorator,
            f"workflow name `{name}` is already registered on line {earlier.lineno}",
            case="same-module",
        )


def _display_path(other: str, current: str) -> str:
    try:
        rel = os.path.relpath(other, os.path.dirname(os.path.abspath(current)))
    except ValueError:  # another drive on Windows
        return other
    return rel if not rel.startswith(".." + os.sep + ".." + os.sep + "..") else other


# ----- DBOS405 ----------------------------------------------------------------------------------

# The context managers ``dbos`` exports; none of them defines ``__aenter__``.
CONTEXT_MANAGERS = frozenset(
    """SetWorkflowID SetWorkflowTimeout SetEnqueueOptions SetWorkflowAttributes SetShardKey
    PropagateOtelContext DBOSContextEnsure DBOSContextSetAuth""".split()
)
_ASYNC_WITH_RE = re.compile(r"async(\s+)with\b")


def _context_manager_name(model: ModuleModel, expr: ast.expr, scope: FunctionInfo | None) -> str | None:
    if not isinstance(expr, ast.Call) or tail_name(expr.func) not in CONTEXT_MANAGERS:
        return None
    q = model.qualname(expr.func, scope)
    if q is None:
        return None
    module, _, name = q.rpartition(".")
    if name in CONTEXT_MANAGERS and module in ("dbos", "dbos._context"):
        return name
    return None


@rule(
    "DBOS405",
    "context-manager-async-with",
    Severity.ERROR,
    "context-managers",
    "`async with` on a DBOS context manager such as `SetWorkflowID`, which supports only `with`",
    fix="safe",
    scope="statement",
)
def context_manager_async_with(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        parent = site.parent
        if not isinstance(parent, ast.withitem):
            continue
        name = _context_manager_name(model, site.node, site.fn)
        if name is None:
            continue
        stmt = _enclosing_async_with(model, site)
        if stmt is None:
            continue
        edits = None
        if all(_context_manager_name(model, item.context_expr, site.fn) for item in stmt.items):
            start = ctx.source.start(stmt)
            m = _ASYNC_WITH_RE.match(ctx.source.line(start.line), start.character)
            if m:
                edits = [Edit(Span(start, Position(start.line, m.end())), "with")]
        yield ctx.finding(
            site.node,
            f"`{name}` supports only `with`, not `async with`",
            "Use `with` instead of `async with`",
            edits,
        )


def _enclosing_async_with(model: ModuleModel, site) -> ast.AsyncWith | None:
    # ``withitem`` has no back-link: find the statement among the function's (or module's)
    # ``async with`` statements.  Only reached for DBOS context managers, so this is rare.
    scope = site.fn.node if site.fn is not None else model.tree
    for node in ast.walk(scope):
        if isinstance(node, ast.AsyncWith) and any(item is site.parent for item in node.items):
            return node
    return None
