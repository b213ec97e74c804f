"""One walk over a module's AST that gives rules everything they ask about.

The model knows: the import table, every function with its DBOS role
(workflow, step, transaction, HTTP handler, plain) and whether it is async,
the execution context of every call, and the local types of names bound from
DBOS calls (queues, clients, handles, datasources).  Rules never walk the tree
themselves.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dbos_lsp.analysis.names import ImportTable, PendingImport, annotation_target, dotted, is_syntactic_module
from dbos_lsp.analysis.queries import QueryMemo, model_query
from dbos_lsp.analysis.resolution import Callee, ProjectIndex, Resolution, Role
from dbos_lsp.knowledge import sdk_facts as sdk

if TYPE_CHECKING:
    from dbos_lsp.analysis.source_text import Located

__all__ = ["Callee", "Role"]  # re-exported: rules and features import them from here


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda

# Route decorators of FastAPI and Flask apps and routers (``@app.get(...)``).
HTTP_ROUTE_METHODS = frozenset("get post put delete patch head options api_route websocket route".split())
_HTTP_APP_FACTORIES = frozenset({"fastapi.FastAPI", "fastapi.APIRouter", "flask.Flask", "flask.Blueprint"})


@dataclass(eq=False)
class FunctionInfo:
    node: FunctionNode
    name: str
    is_async: bool
    role: Role
    parent: FunctionInfo | None
    class_node: ast.ClassDef | None = None
    tx_kind: str | None = None
    # Names bound in this function (params, assignments, loop targets, imports).
    bound: dict[str, int] = field(default_factory=dict)
    # Name -> DBOS type (e.g. "dbos.Queue") for names bound once from a DBOS call.
    local_types: dict[str, str | None] = field(default_factory=dict)
    # Nested function definitions by name.
    nested: dict[str, FunctionInfo] = field(default_factory=dict)
    loads: dict[str, int] = field(default_factory=dict)
    # The role its own decorators give it; ``role`` may add STEP for run_step targets.
    declared_role: Role | None = None
    # DBOS type its return annotation names (``-> Queue``): of the awaited value when async.
    returns: str | None = None
    # ``import time`` / ``from .steps import charge`` in its own body.
    imports: ImportTable | None = None

    def local_import(self, name: str) -> tuple[str | None, PendingImport | None] | None:
        """(qualified name, pending project import) of ``name`` when this body binds it
        exactly once, by an import statement (an imported name bound once is bound by
        nothing else); else None."""
        if self.imports is None or self.bound.get(name) != 1:
            return None
        known, pending = self.imports.known.get(name), self.imports.pending.get(name)
        return (known, pending) if known is not None or pending is not None else None

    @property
    def is_lambda(self) -> bool:
        return isinstance(self.node, ast.Lambda)

    def as_callee(self) -> Callee:
        return Callee(self.name, self.role, self.is_async, self.tx_kind, self, self.returns)


@dataclass(eq=False)
class CallSite:
    node: ast.Call
    parent: ast.AST
    fn: FunctionInfo | None  # None: module or class body
    awaited: bool
    tail: str | None = None  # last name of the callee: ``gather`` for ``asyncio.gather``


@dataclass(eq=False)
class AttributeSite:
    node: ast.Attribute
    parent: ast.AST
    fn: FunctionInfo | None


_IMPORT_PART = 3  # leading entries of ``ModuleModel.context_key`` that imports bind


class ModuleModel:
    def __init__(
        self,
        tree: ast.Module,
        lines: list[str],
        path: str | None = None,
        index: ProjectIndex | None = None,
        reuse: tuple[ModuleModel, int] | None = None,
        carry_over: tuple[ModuleModel, Mapping[str, frozenset[int]]] | None = None,
    ) -> None:
        """``reuse=(previous, k)``: ``tree`` is ``previous.tree`` with top-level statement
        ``k`` replaced; every other statement's walk results are taken over, provided the
        module-level context (imports, module bindings) is unchanged.  ``self.reused`` says
        whether that happened.

        ``carry_over=(previous, mentions)``: ``tree`` is ``previous.tree`` with only
        top-level import statements added, removed or changed; ``mentions`` maps each name
        those imports bind or bound to the ids of the statements that mention it.  Every
        statement's walk is taken over except those mentioning a name whose binding did
        change (``self.rewalked`` counts them), provided the rest of the module-level
        context is unchanged."""
        self.tree = tree
        self.lines = lines
        self.path = path
        self.index = index
        self.imports = ImportTable()
        self.functions: list[FunctionInfo] = []
        self.top_functions: dict[str, FunctionInfo] = {}
        self.class_methods: dict[str, dict[str, FunctionInfo]] = {}
        self.module_types: dict[str, str | None] = {}
        self.datasources: dict[str, str] = {}  # module-level name -> "sync" | "async"
        self.http_apps: set[str] = {"app", "router"}
        # Module-level names bound by assignment, with the value of their first binding.
        self.module_values: dict[str, ast.expr] = {}
        # Every module-level name: assignments, defs, classes, imports.
        self.module_names: set[str] = set()
        self.classes: dict[str, ClassInfo] = {}
        self.function_of_node: dict[int, FunctionInfo] = {}
        self.calls: list[CallSite] = []
        self.attributes: list[AttributeSite] = []
        self.module_awaits: list[ast.Await] = []
        # ``x: T = value`` statements anywhere (DBOSConfig / EnqueueOptions literals).
        self.annotated_assignments: list[ast.AnnAssign] = []
        self._resolved_pending: dict[str, object] = {}
        self._members: dict[tuple[str, ...], Resolution | None] = {}
        # Local names of ``import x`` / ``import x as y`` statements (modules, not members).
        self._imported_modules: set[str] = set()
        # Module-level names bound exactly once to a dotted name: ``sleep = DBOS.sleep``,
        # ``D = DBOS``.  ``qualname`` reads them as what they name.
        self.module_aliases: dict[str, ast.expr] = {}
        self._alias_qualnames: dict[str, str | None] = {}
        # Last name of what a plain callee name stands for (``WorkflowKey`` -> ``SetWorkflowID``,
        # ``sleep`` -> ``sleep``): the ``tail`` of its call sites, so ``calls_named`` finds them.
        self._canonical_tails: dict[str, str] = {}
        # Module-level function name -> (DBOS type of its return annotation, is async).
        self.top_returns: dict[str, tuple[str, bool]] = {}
        # Whether any answer came from the project index (jedi): such answers can change
        # when other files do, so incremental analysis must not keep findings built on them.
        self.used_index = False
        self._api_cache: dict[tuple[int, int], tuple[str, str] | None] = {}
        self._callee_cache: dict[tuple[int, int], Callee | None] = {}
        # Per top-level statement: where its walk results sit in the lists above.
        self.statement_slices: list[dict[str, tuple[int, int]]] = []
        # Answers of ``@model_query`` questions (``analysis/queries.py``).
        self.memo = QueryMemo()
        self._scan_module_level()
        self.context_key = self._context_key()
        self.reused = reuse is not None and reuse[0].context_key == self.context_key
        self.rewalked = 0
        rewalk: set[int] = set()
        if carry_over is not None:
            previous, mentions = carry_over
            changed = {n for n in mentions if self._binding(n) != previous._binding(n)}
            for name in changed:
                rewalk |= mentions[name]
            self.reused = previous.context_key[_IMPORT_PART:] == self.context_key[
                _IMPORT_PART:
            ] and previous._bindings_except(mentions) == self._bindings_except(mentions)
        if self.reused and carry_over is not None:
            self.rewalked = len(rewalk)
            self._walk_carrying(carry_over[0], frozenset(rewalk))
        elif self.reused:
            self._walk_reusing(*reuse)  # type: ignore[misc]
        else:
            self._walk()
        self._roles_from_run_step()

    def _context_key(self) -> tuple:
        """Everything module-level that roles, types and name resolution depend on; the
        first ``_IMPORT_PART`` entries are what import statements bind."""
        return (
            tuple(sorted(self.imports.known.items())),
            tuple(sorted((k, (v.module, v.level, v.name)) for k, v in self.imports.pending.items())),
            tuple(sorted(self.module_names)),
            tuple(sorted(self.module_types.items(), key=lambda kv: kv[0])),
            tuple(sorted(self.datasources.items())),
            tuple(sorted(self.http_apps)),
            tuple(sorted((k, ast.dump(v)) for k, v in self.module_aliases.items())),
            tuple(sorted(self.top_returns.items())),
        )

    def _binding(self, name: str) -> tuple:
        """What the module's imports make of ``name``."""
        pending = self.imports.pending.get(name)
        return (
            self.imports.known.get(name),
            (pending.module, pending.level, pending.name) if pending is not None else None,
            name in self.module_names,
            name in self._imported_modules,
            self._canonical_tails.get(name),
        )

    def _bindings_except(self, names: Mapping[str, object]) -> tuple:
        """The import part of the context, leaving ``names`` out."""
        known, pending, module_names = self.context_key[:_IMPORT_PART]
        return (
            tuple(item for item in known if item[0] not in names),
            tuple(item for item in pending if item[0] not in names),
            tuple(n for n in module_names if n not in names),
        )

    # ----- phase 1: module-level bindings -------------------------------------------------

    def _scan_module_level(self) -> None:
        for stmt in _flatten_module(self.tree.body):
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.imports.add(stmt)
                for alias in stmt.names:
                    local = alias.asname or alias.name.split(".")[0]
                    self.module_names.add(local)
                    if isinstance(stmt, ast.Import):
                        self._imported_modules.add(local)
                    else:
                        self._imported_modules.discard(local)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.module_names.add(stmt.name)
        self._scan_aliases()
        for stmt in _flatten_module(self.tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.returns is not None:
                typ = self._annotation_type(stmt.returns)
                if typ is not None:
                    self.top_returns[stmt.name] = (typ, isinstance(stmt, ast.AsyncFunctionDef))
                else:
                    self.top_returns.pop(stmt.name, None)
        branches: dict[str, list[tuple[str | None, ast.stmt | None]]] = {}
        for stmt in _flatten_module(self.tree.body):
            assigned = single_assignment(stmt)
            if assigned is not None:
                name, value = assigned
                self.module_names.add(name)
                self.module_values.setdefault(name, value)
                typ = self.type_of_value(value, None)
                if isinstance(stmt, ast.AnnAssign) and typ is None:
                    typ = self._annotation_type(stmt.annotation)
                branches.setdefault(name, []).append((typ, stmt))
                self.module_types[name] = typ if name not in self.module_types else None
                if typ == sdk.SQL_DATASOURCE:
                    self.datasources[name] = "sync"
                elif typ == sdk.ASYNC_SQL_DATASOURCE:
                    self.datasources[name] = "async"
                if isinstance(value, ast.Call):
                    factory = self.qualname(value.func, None)
                    if factory in _HTTP_APP_FACTORIES:
                        self.http_apps.add(name)
        # ``if ...: q = Queue("a") else: q = Queue("b")``: one type from every branch.
        several = [name for name, found in branches.items() if len(found) > 1]
        if several:
            paths = _branch_paths(self.tree.body, into=(ast.If, ast.Try, ast.With))
            counts = _module_binding_counts(self.tree.body, set(several))
            for name in several:
                typ = _same_type_in_exclusive_branches(branches[name], counts.get(name, 0), paths)
                if typ is not None:
                    self.module_types[name] = typ

    def _scan_aliases(self) -> None:
        """``name = a.b`` bound once at module level (and never declared ``global`` in a
        function) is an alias of ``a.b``: ``sleep = DBOS.sleep`` makes ``sleep(1)`` a
        ``DBOS.sleep`` call."""
        for local, qual in self.imports.known.items():
            last = qual.rsplit(".", 1)[-1]
            if last != local:
                self._canonical_tails[local] = last
        for local, pending in self.imports.pending.items():
            if pending.name != local:
                self._canonical_tails[local] = pending.name
        candidates: dict[str, ast.expr] = {}
        for stmt in _flatten_module(self.tree.body):
            assigned = single_assignment(stmt)
            if assigned is not None and dotted(assigned[1]) is not None:
                candidates.setdefault(assigned[0], assigned[1])
        if not candidates:
            return
        counts = _module_binding_counts(self.tree.body, set(candidates))
        # ``global name`` in a function, ``(name := ...)`` or ``del name`` anywhere: not an alias.
        if any("global" in line or ":=" in line or "del " in line for line in self.lines):
            for node in ast.walk(self.tree):
                rebound: list[str] = []
                if isinstance(node, ast.Global):
                    rebound = list(node.names)
                elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                    rebound = [node.target.id]
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Del):
                    rebound = [node.id]
                for name in rebound:
                    counts[name] = counts.get(name, 0) + 2
        for name, value in candidates.items():
            parts = dotted(value)
            if counts.get(name) == 1 and parts is not None and parts[0] != name:
                self.module_aliases[name] = value
                self._canonical_tails[name] = parts[-1]

    # ----- phase 2: the walk --------------------------------------------------------------

    _SLICED = ("functions", "calls", "attributes", "module_awaits", "annotated_assignments")

    def _walk(self) -> None:
        for stmt in self.tree.body:
            self._walk_statement(stmt)
        for info in self.functions:
            self._infer_local_types(info)

    def _walk_reusing(self, previous: ModuleModel, replaced: int) -> None:
        old = previous.statement_slices[replaced]
        for name in self._SLICED:  # statements before the replaced one, as they were
            getattr(self, name).extend(getattr(previous, name)[: old[name][0]])
        self.statement_slices.extend(previous.statement_slices[:replaced])
        new_start = len(self.functions)
        self._walk_statement(self.tree.body[replaced])
        new_functions = self.functions[new_start:]
        fresh = self.statement_slices[replaced]
        shift = {name: (fresh[name][1] - fresh[name][0]) - (old[name][1] - old[name][0]) for name in self._SLICED}
        for name in self._SLICED:  # and after it, shifted by the size difference
            getattr(self, name).extend(getattr(previous, name)[old[name][1] :])
        for slices in previous.statement_slices[replaced + 1 :]:
            self.statement_slices.append({n: (lo + shift[n], hi + shift[n]) for n, (lo, hi) in slices.items()})
        for info in self.functions:
            if id(info.node) in previous.run_step_targets:
                info.role = info.declared_role or info.role
            self._register(info)
        for stmt in self.tree.body:
            if isinstance(stmt, ast.ClassDef):
                self.classes[stmt.name] = self._class_info(stmt)
        for info in new_functions:
            self._infer_local_types(info)
        # Answers about reused call sites stay valid (same context, same nodes); those
        # about the replaced statement's old nodes go, before their ids can be reused.
        # Callee answers are not kept: the replaced statement may define the callee.
        self._api_cache = dict(previous._api_cache)
        lo, hi = old["calls"]
        for site in previous.calls[lo:hi]:
            self._api_cache.pop((id(site.node), id(site.fn)), None)

    def _walk_carrying(self, previous: ModuleModel, rewalk: frozenset[int]) -> None:
        """Each statement's walk from ``previous`` (the same statement objects), except
        for statements new in ``tree`` (imports, which walk to nothing) and those whose
        ``id`` is in ``rewalk``, which are walked again."""
        old = {id(stmt): slices for stmt, slices in zip(previous.tree.body, previous.statement_slices, strict=True)}
        fresh: list[FunctionInfo] = []
        dropped: list[CallSite] = []
        for stmt in self.tree.body:
            slices = old.get(id(stmt))
            if slices is None or id(stmt) in rewalk:
                start = len(self.functions)
                self._walk_statement(stmt)
                fresh.extend(self.functions[start:])
                if slices is not None:
                    lo, hi = slices["calls"]
                    dropped.extend(previous.calls[lo:hi])
                continue
            marks = {}
            for name in self._SLICED:
                mine = getattr(self, name)
                lo, hi = slices[name]
                marks[name] = (len(mine), len(mine) + hi - lo)
                mine.extend(getattr(previous, name)[lo:hi])
            self.statement_slices.append(marks)
        for info in self.functions:
            if id(info.node) in previous.run_step_targets:
                info.role = info.declared_role or info.role
            self._register(info)
        for stmt in self.tree.body:
            if isinstance(stmt, ast.ClassDef):
                self.classes[stmt.name] = self._class_info(stmt)
        for info in fresh:
            self._infer_local_types(info)
        self._api_cache = dict(previous._api_cache)
        for site in dropped:  # answers about the old nodes go, before their ids can be reused
            self._api_cache.pop((id(site.node), id(site.fn)), None)

    def _walk_statement(self, stmt: ast.stmt) -> None:
        marks = {name: len(getattr(self, name)) for name in self._SLICED}
        self._walk_from(stmt)
        self.statement_slices.append({name: (marks[name], len(getattr(self, name))) for name in self._SLICED})

    def _walk_from(self, top: ast.stmt) -> None:
        # Iterative DFS: (node, parent, enclosing function, enclosing class body)
        stack: list[tuple[ast.AST, ast.AST, FunctionInfo | None, ast.ClassDef | None]] = [(top, self.tree, None, None)]
        while stack:
            node, parent, fn, cls = stack.pop()
            kind = type(node)
            # ``kind is X`` keeps the hot loop cheap; each taken branch narrows ``node`` for
            # the type checker with an isinstance that always holds (``kind`` is its type).
            if kind is ast.Call:
                assert isinstance(node, ast.Call)
                func = node.func
                if type(func) is ast.Attribute:
                    tail = func.attr
                elif type(func) is ast.Name:
                    tail = self._canonical_tails.get(func.id, func.id)
                else:
                    tail = None
                self.calls.append(CallSite(node, parent, fn, type(parent) is ast.Await, tail))
            elif kind is ast.Name:
                if fn is not None:
                    assert isinstance(node, ast.Name)
                    if type(node.ctx) is ast.Load:
                        fn.loads[node.id] = fn.loads.get(node.id, 0) + 1
                    else:
                        fn.bound[node.id] = fn.bound.get(node.id, 0) + 1
                continue
            elif kind is ast.Attribute:
                assert isinstance(node, ast.Attribute)
                if node.attr in _TRACKED_ATTRIBUTES:
                    self.attributes.append(AttributeSite(node, parent, fn))
            elif kind is ast.Await and fn is None:
                assert isinstance(node, ast.Await)
                self.module_awaits.append(node)
            elif kind is ast.AnnAssign:
                assert isinstance(node, ast.AnnAssign)
                self.annotated_assignments.append(node)
            elif kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda):
                assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                info = self._enter_function(node, fn, cls)
                outer_parts: list[ast.AST] = []
                body: Sequence[ast.AST]
                if isinstance(node, ast.Lambda):
                    body = [node.body]
                else:
                    body = node.body
                    outer_parts.extend(node.decorator_list)
                    if node.returns is not None:
                        outer_parts.append(node.returns)
                args = node.args
                outer_parts.extend(d for d in args.defaults)
                outer_parts.extend(d for d in args.kw_defaults if d is not None)
                for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                    if a is None:
                        continue
                    info.bound[a.arg] = info.bound.get(a.arg, 0) + 1
                    if a.annotation is not None:
                        outer_parts.append(a.annotation)
                        typ = self._annotation_type(a.annotation)
                        if typ:
                            info.local_types[a.arg] = typ
                for child in reversed(body):
                    stack.append((child, node, info, None))
                for child in reversed(outer_parts):
                    stack.append((child, node, fn, cls))
                continue
            elif kind is ast.ClassDef:
                assert isinstance(node, ast.ClassDef)
                if fn is None and cls is None:
                    self.classes[node.name] = self._class_info(node)
                elif fn is not None:
                    fn.bound[node.name] = fn.bound.get(node.name, 0) + 1
                for child in reversed(node.body):
                    stack.append((child, node, fn, node))
                for child in reversed([*node.decorator_list, *node.bases, *node.keywords]):
                    stack.append((child, node, fn, cls))
                continue
            elif kind in (ast.Import, ast.ImportFrom) and fn is not None:
                assert isinstance(node, (ast.Import, ast.ImportFrom))
                if fn.imports is None:
                    fn.imports = ImportTable()
                fn.imports.add(node)
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    fn.bound[local] = fn.bound.get(local, 0) + 1
                continue
            elif kind is ast.Constant:
                continue
            # Hot loop: only the fields that can hold expressions or statements.
            fields = _CHILD_FIELDS.get(kind)
            if fields is None:
                fields = _CHILD_FIELDS[kind] = _child_fields(kind)
            for name in fields:
                value = getattr(node, name, None)
                if value is None:
                    continue
                if type(value) is list:
                    for item in reversed(value):
                        if isinstance(item, ast.AST):
                            stack.append((item, node, fn, cls))
                elif isinstance(value, ast.AST):
                    stack.append((value, node, fn, cls))

    def _roles_from_run_step(self) -> None:
        """Functions handed to ``DBOS.run_step(opts, fn)`` run as steps."""
        self.run_step_targets: set[int] = set()
        for site in self.calls_named(sdk.STEP_RUNNER_NAMES):
            api = self.api_of(site.node, site.fn)
            if api is None or api[1] not in sdk.STEP_RUNNERS.get(api[0], ()):
                continue
            args = site.node.args
            if len(args) < 2:
                continue
            target = args[1]
            info: FunctionInfo | None = None
            if isinstance(target, ast.Lambda):
                info = self.function_of_node.get(id(target))
            else:
                callee = self.callee_of_expr(target, site.fn)
                info = callee.info if callee is not None else None
            if info is not None and info.role is Role.PLAIN:
                info.role = Role.STEP
                self.run_step_targets.add(id(info.node))
        self._callee_cache.clear()

    def _enter_function(
        self, node: FunctionNode, parent: FunctionInfo | None, cls: ast.ClassDef | None
    ) -> FunctionInfo:
        is_lambda = isinstance(node, ast.Lambda)
        name: str
        role: Role
        tx_kind: str | None
        if isinstance(node, ast.Lambda):
            name, role, tx_kind = "<lambda>", Role.PLAIN, None
        else:
            name = node.name
            role, tx_kind = self._role_of(node)
        info = FunctionInfo(
            node=node,
            name=name,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            role=role,
            parent=parent,
            class_node=cls,
            tx_kind=tx_kind,
        )
        info.declared_role = role
        if not isinstance(node, ast.Lambda) and node.returns is not None:
            info.returns = self._annotation_type(node.returns)
        self.functions.append(info)
        self._register(info)
        if not is_lambda and cls is None and parent is not None:
            parent.nested[name] = info
            parent.bound[name] = parent.bound.get(name, 0) + 1
        return info

    def _register(self, info: FunctionInfo) -> None:
        self.function_of_node[id(info.node)] = info
        if info.is_lambda:
            return
        if info.class_node is not None:
            self.class_methods.setdefault(info.class_node.name, {})[info.name] = info
        elif info.parent is None:
            self.top_functions[info.name] = info

    def _role_of(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[Role, str | None]:
        roles: list[tuple[Role, str | None]] = []
        for dec in node.decorator_list:
            target = dec.func if isinstance(dec, ast.Call) else dec
            q = self.qualname(target, None)
            if q == "dbos.DBOS.workflow":
                roles.append((Role.WORKFLOW, None))
            elif q == "dbos.DBOS.step":
                roles.append((Role.STEP, None))
            elif q == "dbos.DBOS.transaction":
                roles.append((Role.TRANSACTION, "legacy"))
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                owner = target.value.id
                if target.attr == "transaction" and owner in self.datasources:
                    roles.append((Role.TRANSACTION, self.datasources[owner]))
                elif target.attr in HTTP_ROUTE_METHODS and owner in self.http_apps and isinstance(dec, ast.Call):
                    roles.append((Role.HTTP_HANDLER, None))
        for wanted in (Role.WORKFLOW, Role.STEP, Role.TRANSACTION, Role.HTTP_HANDLER):
            for role, kind in roles:
                if role is wanted:
                    return role, kind
        return Role.PLAIN, None

    # ----- name and type resolution -------------------------------------------------------

    def qualname(self, expr: ast.expr, fn: FunctionInfo | None) -> str | None:
        """Qualified name of a dotted expression, e.g. ``D.sleep`` -> ``dbos.DBOS.sleep``."""
        parts = dotted(expr)
        if parts is None:
            return None
        head = parts[0]
        if fn is not None and is_local(head, fn):
            imported = _local_import(head, fn)
            if imported is None or imported[0] is None:
                return None  # a local, or a project name imported in the body
            return ".".join([imported[0], *parts[1:]])
        base = self.imports.known.get(head)
        if base is None:
            pending = self.imports.pending.get(head)
            if pending is None and head in self.module_aliases:
                base = self._alias_qualname(head)
                if base is None:
                    return None
            elif pending is None:
                if head in _BUILTINS and head not in self.module_names:
                    return "builtins." + ".".join(parts)
                return None
            else:
                base = self._resolve_pending_qualname(head, pending)
                if base is None and len(parts) > 1:
                    # ``from . import setup_dbos`` then ``setup_dbos.DBOS.sleep``
                    member = self.module_member(head, parts[1])
                    if member is not None and member.qualname:
                        base, parts = member.qualname, parts[1:]
                if base is None:
                    return None
        if len(parts) == 1:
            return base
        return base + "." + ".".join(parts[1:])

    def _alias_qualname(self, name: str) -> str | None:
        if name in self._alias_qualnames:
            return self._alias_qualnames[name]
        self._alias_qualnames[name] = None  # ``a = b`` / ``b = a``: no answer, no recursion
        result = self.qualname(self.module_aliases[name], None)
        self._alias_qualnames[name] = result
        return result

    def _pending_resolution(self, local: str, pending: PendingImport) -> Resolution | None:
        """What the index says a name imported from a user module is.  DBOS exports go to
        the index's full resolution (jedi when syntax cannot tell); other names only to its
        syntactic one (``resolve_syntactic``), when it has one: cheap, no jedi."""
        if local in self._resolved_pending:
            res = self._resolved_pending[local]
            return res if isinstance(res, Resolution) else None
        result: Resolution | None = None
        if self.index is not None:
            if pending.name in sdk.TRACKED_EXPORTS:
                self.used_index = True
                result = self.index.resolve_import(self.path, pending)
            else:
                syntactic = getattr(self.index, "resolve_syntactic", None)
                if syntactic is not None:
                    self.used_index = True
                    result = syntactic(self.path, pending)
        self._resolved_pending[local] = result
        return result

    def module_member(self, owner: str, attr: str, via: tuple[str, ...] = ()) -> Resolution | None:
        """What ``owner.attr`` is when ``owner`` is one of the user's modules, imported as
        ``from . import owner``, ``import pkg.owner as owner`` or ``import pkg``: by syntax only
        (the index's ``resolve_syntactic``), never jedi.  ``via`` names submodules in between,
        as an IDE reads them: ``shop.steps.charge`` is ``owner="shop", via=("steps",),
        attr="charge"``.  The caller checks ``owner`` is not local."""
        key = (owner, *via, attr)
        if key in self._members:
            return self._members[key]
        result: Resolution | None = None
        syntactic = getattr(self.index, "resolve_syntactic", None) if self.index is not None else None
        base: tuple[str, int] | None = None  # (module, level) that ``owner`` names
        pending = self.imports.pending.get(owner)
        if pending is not None:
            base = (f"{pending.module}.{pending.name}" if pending.module else pending.name, pending.level)
        elif owner in self._imported_modules:
            known = self.imports.known.get(owner)
            if known is not None and not is_syntactic_module(known):
                base = (known, 0)
        if base is not None and syntactic is not None:
            self.used_index = True
            module, level = base
            line, col = (pending.line, pending.col) if pending is not None else (0, 0)
            for sub in via:
                # ``pkg.sub`` must be the submodule: a package that binds ``sub`` to a
                # function, a DBOS object or a re-export is not read past.
                if syntactic(self.path, PendingImport(module, level, sub, line, col)) is not None:
                    module = ""
                    break
                module = f"{module}.{sub}"
            if module:
                result = syntactic(self.path, PendingImport(module, level, attr, line, col))
        self._members[key] = result
        return result

    def _resolve_pending_qualname(self, local: str, pending: PendingImport) -> str | None:
        resolution = self._pending_resolution(local, pending)
        return resolution.qualname if resolution is not None else None

    def _annotation_type(self, ann: ast.expr) -> str | None:
        """The DBOS type an annotation names: ``Queue``, ``WorkflowHandleAsync[str]``,
        ``"Queue"``, ``Optional[Queue]``, ``Queue | None``, ``Annotated[Queue, ...]``."""
        inner = annotation_target(ann, lambda e: self.qualname(e, None))
        if inner is None:
            return None
        q = self.qualname(inner, None)
        if q in _INSTANCE_TYPES:
            return q
        return None

    def type_of_value(self, value: ast.expr, fn: FunctionInfo | None) -> str | None:
        """DBOS type of the object an expression evaluates to, when syntax can tell."""
        awaited = False
        if isinstance(value, ast.Await):
            awaited, value = True, value.value
        if isinstance(value, ast.Name) and not awaited:
            # ``q = urgent_queue``: the type of a name already known (one of ours, and not
            # the name being bound: ``q = q`` is still unknown)
            typ = self.instance_type(value.id, fn)
            return typ if typ in _INSTANCE_TYPES else None
        if not isinstance(value, ast.Call):
            return None
        # asyncio.run(AsyncSQLAlchemyDatasource.create(...))
        if self.qualname(value.func, fn) == "asyncio.run" and value.args:
            inner = value.args[0]
            if isinstance(inner, ast.Call) and self.qualname(inner.func, fn) == "dbos.AsyncSQLAlchemyDatasource.create":
                return sdk.ASYNC_SQL_DATASOURCE
            return None
        q = self.qualname(value.func, fn)
        if q in (sdk.CLIENT, sdk.DEBOUNCER_CLIENT):
            return q
        api = self.api_of(value, fn)
        if api is None:
            return self._returned_type(value, fn, awaited)
        cls, method = api
        if cls == sdk.DBOS and method in ("register_queue", "retrieve_queue"):
            return sdk.QUEUE if not awaited else None
        if cls == sdk.DBOS and method in ("register_queue_async", "retrieve_queue_async"):
            return sdk.QUEUE if awaited else None
        if cls == sdk.DBOS and method == "reserve_step":
            return sdk.STEP_RESERVATION
        if cls == sdk.DEBOUNCER and method in ("create", "create_async"):
            return sdk.DEBOUNCER
        if cls == sdk.SQL_DATASOURCE and method == "create":
            return sdk.SQL_DATASOURCE
        if cls == sdk.ASYNC_SQL_DATASOURCE and method == "create" and awaited:
            return sdk.ASYNC_SQL_DATASOURCE
        if cls == sdk.QUEUE and not awaited and method == "__init__":
            return sdk.QUEUE
        if method in sdk.SYNC_HANDLE_SOURCES.get(cls, ()) and not awaited:
            return sdk.HANDLE_CLIENT if cls in sdk.CLIENT_HANDLE_OWNERS else sdk.HANDLE
        if method in sdk.ASYNC_HANDLE_SOURCES.get(cls, ()) and awaited:
            return sdk.HANDLE_ASYNC
        return None

    def _returned_type(self, call: ast.Call, fn: FunctionInfo | None, awaited: bool) -> str | None:
        """The DBOS type a helper's return annotation names (``def get_queue() -> Queue``),
        for a call of it: awaited when the helper is async, not awaited otherwise."""
        found = self._returns_of(call.func, fn)
        if found is None:
            return None
        typ, is_async = found
        return typ if is_async == awaited else None

    def _returns_of(self, func: ast.expr, fn: FunctionInfo | None) -> tuple[str, bool] | None:
        if isinstance(func, ast.Name):
            name = func.id
            f = fn
            while f is not None:
                if name in f.nested:
                    nested = f.nested[name]
                    return (nested.returns, nested.is_async) if nested.returns else None
                if name in f.bound:
                    return None
                f = f.parent
            if name in self.top_returns:
                return self.top_returns[name]
            pending = self.imports.pending.get(name)
            if pending is not None and self.index is not None:
                # A helper of another module (the index caches its answer per import).
                self.used_index = True
                resolution = self.index.resolve_import(self.path, pending)
                callee = resolution.function if resolution is not None else None
                if callee is not None and callee.returns:
                    return callee.returns, callee.is_async
            return None
        # ``self.get_queue()``: a method of the enclosing class (the same top-level statement,
        # so an incremental re-walk never keeps a stale answer).
        if (
            fn is not None
            and isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in ("self", "cls")
        ):
            callee = self.callee(ast.Call(func=func, args=[], keywords=[]), fn)
            if callee is not None and callee.returns:
                return callee.returns, callee.is_async
        return None

    def _infer_local_types(self, info: FunctionInfo) -> None:
        """Types of names bound in ``info``, in source order: a name bound once gets its
        value's type.  One bound several times (``if``/``else`` branches, a reassignment)
        gets one only when every binding gives the same type (a parameter's annotation and
        a bare ``q: Queue`` declaration count as bindings); names typed that way are rare,
        and only then does a second pass re-type what depends on them."""
        node = info.node
        if isinstance(node, ast.Lambda):
            return
        bindings: list[tuple[str, ast.stmt, ast.expr | None]] = []
        for stmt in own_statements(node.body):
            if isinstance(stmt, ast.AnnAssign) and stmt.value is None and isinstance(stmt.target, ast.Name):
                bindings.append((stmt.target.id, stmt, None))
                continue
            assigned = single_assignment(stmt)
            if assigned is not None:
                bindings.append((assigned[0], stmt, assigned[1]))
        if not bindings:
            return
        params = dict(info.local_types)
        consistent = self._infer_pass(info, bindings, {})
        if consistent:
            # Answers computed while those names were still unknown are stale.
            self._api_cache = {k: v for k, v in self._api_cache.items() if k[1] != id(info)}
            info.local_types = dict(params)
            self._infer_pass(info, bindings, consistent)

    def _infer_pass(
        self,
        info: FunctionInfo,
        bindings: list[tuple[str, ast.stmt, ast.expr | None]],
        fixed: dict[str, str],
    ) -> dict[str, str]:
        seen: dict[str, list[tuple[str | None, ast.stmt | None]]] = {}
        for name, stmt, value in bindings:
            if name in fixed:
                info.local_types[name] = fixed[name]
                continue
            typ = self.type_of_value(value, info) if value is not None else None
            if typ is None and isinstance(stmt, ast.AnnAssign):
                typ = self._annotation_type(stmt.annotation)
            # A bare declaration binds nothing at run time: it only has to agree.
            seen.setdefault(name, []).append((typ, stmt if value is not None else None))
            if value is None:
                continue
            info.local_types[name] = typ if info.bound.get(name, 0) == 1 else None  # rebound: unsure
        consistent: dict[str, str] = {}
        if any(len(found) > 1 for found in seen.values()):
            paths = _branch_paths(info.node.body) if not isinstance(info.node, ast.Lambda) else {}
            for name, found in seen.items():
                typ = _same_type_in_exclusive_branches(found, info.bound.get(name, 0), paths)
                if typ is not None:
                    consistent[name] = typ
        return consistent

    def instance_type(self, name: str, fn: FunctionInfo | None) -> str | None:
        f = fn
        while f is not None:
            if name in f.local_types:
                return f.local_types[name]
            if name in f.bound:
                return None
            f = f.parent
        if name in self.module_types:
            return self.module_types[name]
        pending = self.imports.pending.get(name)
        if pending is not None:
            # ``from ..shared import q`` where ``shared`` binds ``q = DBOS.register_queue(...)``
            resolution = self._pending_resolution(name, pending)
            if resolution is not None and resolution.instance_type in _INSTANCE_TYPES:
                return resolution.instance_type
        return None

    def api_of(self, call: ast.Call, fn: FunctionInfo | None) -> tuple[str, str] | None:
        """``(class, method)`` of a DBOS API call such as ``DBOS.sleep(1)`` or ``q.enqueue(f)``."""
        # Every rule asks about the same call sites: answer each once.
        key = (id(call), id(fn))
        result = self._api_cache.get(key, _UNKNOWN)
        if result is _UNKNOWN:
            result = self._api_cache[key] = self._api_of_uncached(call, fn)
        return result  # type: ignore[return-value]

    def _api_of_uncached(self, call: ast.Call, fn: FunctionInfo | None) -> tuple[str, str] | None:
        func = call.func
        if not isinstance(func, ast.Attribute):
            q = self.qualname(func, fn)
            if q == sdk.QUEUE:
                return sdk.QUEUE, "__init__"
            if q is not None and isinstance(func, ast.Name):
                # ``sleep = DBOS.sleep`` then ``sleep(1)``: the method of a DBOS class.
                owner, _, method = q.rpartition(".")
                if owner in _CLASS_RECEIVERS:
                    return owner, method
            return None
        return self.api_of_attribute(func, fn)

    def api_of_attribute(self, func: ast.Attribute, fn: FunctionInfo | None) -> tuple[str, str] | None:
        receiver = func.value
        q = self.qualname(receiver, fn)
        if q is not None:
            if q in _CLASS_RECEIVERS:
                return q, func.attr
            if isinstance(receiver, ast.Name):
                typ = self.module_types.get(receiver.id) if fn is None else None
                if typ:
                    return typ, func.attr
            return None
        if isinstance(receiver, ast.Name):
            typ = self.instance_type(receiver.id, fn)
            if typ is not None:
                return typ, func.attr
        elif isinstance(receiver, (ast.Call, ast.Await)):
            # ``get_queue().enqueue(...)``, ``(await get_handle()).get_result()``
            typ = self.type_of_value(receiver, fn)
            if typ in _INSTANCE_TYPES:
                return typ, func.attr
        elif (
            isinstance(receiver, ast.Attribute)
            and isinstance(receiver.value, ast.Name)
            and not is_local(receiver.value.id, fn)
        ):
            # ``shared.q.enqueue(...)`` after ``from . import shared``
            member = self.module_member(receiver.value.id, receiver.attr)
            if member is not None and member.instance_type in _INSTANCE_TYPES:
                return member.instance_type, func.attr
        return None

    def callee_of_expr(self, expr: ast.expr, fn: FunctionInfo | None) -> Callee | None:
        """The function an expression names (``wf``, ``self.step``) without calling it,
        e.g. the workflow passed to ``DBOS.start_workflow(wf, ...)``."""
        return self.callee(ast.Call(func=expr, args=[], keywords=[]), fn)

    def callee(self, call: ast.Call, fn: FunctionInfo | None) -> Callee | None:
        """The function a call targets, when it is defined in this file or found by the index."""
        key = (id(call.func), id(fn))
        result = self._callee_cache.get(key, _UNKNOWN)
        if result is _UNKNOWN:
            result = self._callee_cache[key] = self._callee_uncached(call, fn)
        return result  # type: ignore[return-value]

    def _callee_uncached(self, call: ast.Call, fn: FunctionInfo | None) -> Callee | None:
        func = call.func
        if isinstance(func, ast.Name):
            name = func.id
            f = fn
            while f is not None:
                if name in f.nested:
                    return f.nested[name].as_callee()
                if name in f.bound:
                    # ``from .steps import charge`` in the body: the index finds it
                    imported = f.local_import(name)
                    if imported is None or imported[1] is None or self.index is None:
                        return None
                    self.used_index = True
                    resolution = self.index.resolve_import(self.path, imported[1])
                    return _with_source(resolution) if resolution and resolution.function else None
                f = f.parent
            if name in self.top_functions:
                return self.top_functions[name].as_callee()
            pending = self.imports.pending.get(name)
            if pending is not None and self.index is not None:
                self.used_index = True
                resolution = self.index.resolve_import(self.path, pending)
                if resolution is not None and resolution.function is not None:
                    return _with_source(resolution)
            return None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = func.value.id
            if owner in ("self", "cls") and fn is not None:
                cls = _enclosing_class(fn)
                if cls is not None:
                    method = self.class_methods.get(cls.name, {}).get(func.attr)
                    return method.as_callee() if method else None
            elif owner in self.class_methods and (fn is None or not is_local(owner, fn)):
                method = self.class_methods[owner].get(func.attr)
                return method.as_callee() if method else None
            elif not is_local(owner, fn):  # ``steps.charge(...)`` after ``from . import steps``
                member = self.module_member(owner, func.attr)
                return _with_source(member) if member is not None and member.function is not None else None
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute):
            # ``shop.steps.charge(...)`` after ``import shop`` (or ``import shop.steps``)
            parts = dotted(func.value)
            if parts is not None and not is_local(parts[0], fn) and parts[0] not in self.class_methods:
                member = self.module_member(parts[0], func.attr, tuple(parts[1:]))
                return _with_source(member) if member is not None and member.function is not None else None
        return None

    def _class_info(self, node: ast.ClassDef) -> ClassInfo:
        dbos_class = None
        for dec in node.decorator_list:
            target = dec.func if isinstance(dec, ast.Call) else dec
            if self.qualname(target, None) == "dbos.DBOS.dbos_class":
                dbos_class = dec
        bases = [self.qualname(b, None) or (b.id if isinstance(b, ast.Name) else None) for b in node.bases]
        return ClassInfo(node, node.name, dbos_class, tuple(b for b in bases if b))

    # ----- shared indexes over call sites (built once, on first use) -----------------------

    @model_query("statement")
    def calls_by_tail(self) -> dict[str, list[CallSite]]:
        index: dict[str, list[CallSite]] = {}
        for site in self.calls:
            if site.tail is not None:
                index.setdefault(site.tail, []).append(site)
        return index

    def calls_named(self, names: frozenset[str] | set[str]) -> list[CallSite]:
        """Call sites whose callee ends in one of ``names`` (``gather`` for ``asyncio.gather``).

        Rules use this as a cheap pre-filter instead of scanning every call."""
        index = self.calls_by_tail()
        if len(names) == 1:
            return index.get(next(iter(names)), [])
        return [site for name in sorted(names) for site in index.get(name, ())]

    @model_query("statement")
    def api_calls(self) -> list[tuple[CallSite, str, str]]:
        """Every call of a DBOS API, as ``(site, class, method)``: most rules start here."""
        found = []
        for site in self.calls:
            api = self.api_of(site.node, site.fn)
            if api is not None:
                found.append((site, api[0], api[1]))
        return found

    @model_query("statement")
    def calls_by_function(self) -> dict[FunctionInfo | None, list[CallSite]]:
        grouped: dict[FunctionInfo | None, list[CallSite]] = {}
        for site in self.calls:
            grouped.setdefault(site.fn, []).append(site)
        return grouped

    # ----- lifecycle helpers --------------------------------------------------------------

    @model_query("statement")
    def launch_lines(self) -> dict[int, int]:
        """Every body's first ``DBOS.launch()`` line, by ``id`` of its function (of None:
        the module), in one pass over the launch calls."""
        lines: dict[int, int] = {}
        for site in self.calls_named({"launch"}):
            if self.api_of(site.node, site.fn) == (sdk.DBOS, "launch"):
                key = id(site.fn)
                lines[key] = min(lines.get(key, site.node.lineno), site.node.lineno)
        return lines

    def launch_line(self, fn: FunctionInfo | None) -> int | None:
        """1-based line of the first ``DBOS.launch()`` in the body of ``fn`` (None: module)."""
        return self.launch_lines().get(id(fn))

    def relative_to_launch(self, node: Located, fn: FunctionInfo | None) -> str | None:
        """ "before" / "after" the first launch of the same body, or None without one.

        Same-body only (nested defs run later, at an unknown time), as the catalog's P6 says.
        """
        line = self.launch_line(fn)
        if line is None:
            return None
        if node.lineno < line:
            return "before"
        if node.lineno > line:
            return "after"
        return None

    @model_query("module")
    def main_guard_functions(self) -> set[str]:
        """Names of module-level functions called from ``if __name__ == "__main__":``."""
        called: set[str] = set()
        for stmt in self.tree.body:
            if isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
                for inner in ast.walk(stmt):
                    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
                        called.add(inner.func.id)
        return called

    def is_startup_scope(self, fn: FunctionInfo | None) -> bool:
        """Module body, the ``__main__`` block, or a function only the ``__main__`` block calls."""
        if fn is None:
            return True
        return (
            fn.parent is None
            and fn.class_node is None
            and fn.name in self.main_guard_functions()
            and fn.role is Role.PLAIN
        )

    @model_query("statement")
    def config_dicts(self) -> list[ast.Dict]:
        """DBOSConfig dict literals: annotated ``DBOSConfig`` or passed as ``DBOS(config=...)``."""
        found: list[ast.Dict] = []
        seen: set[int] = set()

        def add(d: ast.expr | None) -> None:
            if isinstance(d, ast.Dict) and id(d) not in seen:
                seen.add(id(d))
                found.append(d)

        for node in self.annotated_assignments:
            if node.value is not None and self._annotation_qualname(node.annotation) == "dbos.DBOSConfig":
                add(node.value)
        dbos_names = {local for local, q in self.imports.known.items() if q == sdk.DBOS} | {"DBOS"}
        for site in self.calls_named(dbos_names):
            if self.qualname(site.node.func, site.fn) != sdk.DBOS:
                continue
            for kw in site.node.keywords:
                if kw.arg == "config":
                    value: ast.expr | None = kw.value
                    if isinstance(value, ast.Name):
                        value = self.single_value(value.id, site.fn)
                    add(value)
        return found

    def _annotation_qualname(self, ann: ast.expr) -> str | None:
        return self.qualname(ann, None)

    def single_value(self, name: str, fn: FunctionInfo | None) -> ast.expr | None:
        """The value of ``name`` when it is assigned exactly once in ``fn`` (or the module)."""
        if fn is not None and not isinstance(fn.node, ast.Lambda) and name in fn.bound:
            if fn.bound[name] != 1:
                return None
            for stmt in own_statements(fn.node.body):
                assigned = single_assignment(stmt)
                if assigned is not None and assigned[0] == name:
                    return assigned[1]
            return None
        if fn is not None and fn.parent is not None:
            return self.single_value(name, fn.parent)
        return self.module_values.get(name)


@dataclass(eq=False)
class ClassInfo:
    node: ast.ClassDef
    name: str
    dbos_class: ast.expr | None  # the @DBOS.dbos_class decorator, if any
    bases: tuple[str, ...]  # qualified names where resolvable, else plain names


_UNKNOWN = object()  # not in a cache yet (None is a cached answer)
_BUILTINS = frozenset({"open", "input", "print", "exec", "eval", "__import__"})
# Attribute reads the rules care about (queue limits, os.environ, DBOS.sql_session).
_TRACKED_ATTRIBUTES = sdk.QUEUE_PROPERTIES_WITH_ASYNC_GETTER | frozenset({"environ", "sql_session"})


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


_CLASS_RECEIVERS = frozenset({sdk.DBOS, sdk.DEBOUNCER, sdk.SQL_DATASOURCE, sdk.ASYNC_SQL_DATASOURCE})
_INSTANCE_TYPES = frozenset(
    {
        sdk.DBOS,
        sdk.QUEUE,
        sdk.CLIENT,
        sdk.DEBOUNCER,
        sdk.DEBOUNCER_CLIENT,
        sdk.HANDLE,
        sdk.HANDLE_ASYNC,
        sdk.HANDLE_CLIENT,
        sdk.STEP_RESERVATION,
        sdk.SQL_DATASOURCE,
        sdk.ASYNC_SQL_DATASOURCE,
    }
)


# Fields that never hold code worth visiting: expression contexts, operators, names.
_SKIPPED_FIELDS = frozenset({"ctx", "op", "ops", "names", "type_ignores", "kind"})
_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def _child_fields(kind: type[ast.AST]) -> tuple[str, ...]:
    # Reversed so that the stack pops children in source order.
    return tuple(reversed([f for f in kind._fields if f not in _SKIPPED_FIELDS]))


def _local_import(name: str, fn: FunctionInfo) -> tuple[str | None, PendingImport | None] | None:
    """What ``name`` is in ``fn`` when the nearest function binding it does so by one import."""
    f: FunctionInfo | None = fn
    while f is not None:
        if name in f.bound:
            return f.local_import(name)
        f = f.parent
    return None


def is_local(name: str, fn: FunctionInfo | None) -> bool:
    """Whether ``name`` is bound in ``fn`` or a function enclosing it (so it shadows globals)."""
    f = fn
    while f is not None:
        if name in f.bound:
            return True
        f = f.parent
    return False


def _enclosing_class(fn: FunctionInfo) -> ast.ClassDef | None:
    f: FunctionInfo | None = fn
    while f is not None:
        if f.class_node is not None:
            return f.class_node
        f = f.parent
    return None


def _flatten_module(body: list[ast.stmt]):
    """Module-level statements, looking into if/try/with blocks but not defs."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.Try, ast.With)):
            for block in _blocks(stmt):
                yield from _flatten_module(block)


def _branch_paths(
    body: list[ast.stmt], into: tuple[type[ast.stmt], ...] | None = None
) -> dict[int, tuple[tuple[int, int], ...]]:
    """``id(statement)`` -> the ``if`` branches it sits in, as ``(id(if), 0 body / 1 else)``,
    for the statements of ``body`` and its blocks (not those of nested defs and classes;
    only blocks of ``into`` statements when given)."""
    paths: dict[int, tuple[tuple[int, int], ...]] = {}
    stack: list[tuple[ast.stmt, tuple[tuple[int, int], ...]]] = [(stmt, ()) for stmt in body]
    while stack:
        stmt, path = stack.pop()
        paths[id(stmt)] = path
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if into is not None and not isinstance(stmt, into):
            continue
        if isinstance(stmt, ast.If):
            stack.extend((inner, (*path, (id(stmt), 0))) for inner in stmt.body)
            stack.extend((inner, (*path, (id(stmt), 1))) for inner in stmt.orelse)
            continue
        for block in _blocks(stmt):
            stack.extend((inner, path) for inner in block)
    return paths


def _same_type_in_exclusive_branches(
    found: list[tuple[str | None, ast.stmt | None]],
    bindings: int,
    paths: dict[int, tuple[tuple[int, int], ...]],
) -> str | None:
    """The one type of a name bound in mutually exclusive branches of ``if``/``else``
    (``stmt`` None: a bare declaration, which must agree but binds nothing), or None: some
    binding is not an assignment we see, gives another or no type, or two bindings can
    both run (a rebinding: unsure which value is live)."""
    stmts = [stmt for _typ, stmt in found if stmt is not None]
    if len(found) != bindings or len(stmts) < 2:
        return None
    first = found[0][0]
    if first is None or any(typ != first for typ, _stmt in found):
        return None
    for i, a in enumerate(stmts):
        branch_a = dict(paths.get(id(a), ()))
        for b in stmts[i + 1 :]:
            if not any(branch_a.get(if_id, side) != side for if_id, side in paths.get(id(b), ())):
                return None
    return first


def _module_binding_counts(body: list[ast.stmt], wanted: set[str]) -> dict[str, int]:
    """How often each of ``wanted`` is bound by module-level code (assignments, loop and
    ``with`` targets, imports, defs, classes, in every block but function and class bodies)."""
    counts: dict[str, int] = {}

    def bump(name: str) -> None:
        if name in wanted:
            counts[name] = counts.get(name, 0) + 1

    def targets(expr: ast.AST) -> None:
        for node in ast.walk(expr):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                bump(node.id)

    stack = list(body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bump(stmt.name)
            continue
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                bump(alias.asname or alias.name.split(".")[0])
            continue
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                targets(target)
        elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
            targets(stmt.target)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            targets(stmt.target)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    targets(item.optional_vars)
        elif isinstance(stmt, ast.Try):
            for handler in stmt.handlers:
                if handler.name:
                    bump(handler.name)
        for block in _blocks(stmt):
            stack.extend(block)
    return counts


def single_assignment(stmt: ast.stmt) -> tuple[str, ast.expr] | None:
    """``(name, value)`` for ``name = value`` and ``name: T = value`` (one plain name)."""
    if isinstance(stmt, ast.Assign):
        if len(stmt.targets) != 1:
            return None
        target = stmt.targets[0]
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target = stmt.target
    else:
        return None
    return (target.id, stmt.value) if isinstance(target, ast.Name) else None  # type: ignore[return-value]


def _with_source(resolution: Resolution) -> Callee:
    """The function of an index answer, knowing the file it is defined in."""
    callee = resolution.function
    assert callee is not None
    if callee.source_path is None and resolution.source_path is not None:
        callee = dataclasses.replace(callee, source_path=resolution.source_path)
    return callee


def own_statements(body: list[ast.stmt]):
    """Statements of a function body, including nested blocks, excluding nested defs."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for block in _blocks(stmt):
            yield from own_statements(block)


def _blocks(stmt: ast.stmt):
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for handler in getattr(stmt, "handlers", ()) or ():
        yield handler.body
    for case in getattr(stmt, "cases", ()) or ():
        yield case.body
