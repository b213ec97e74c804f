"""What rule families share: reading calls and literals, short source texts for
messages, the edits fixes are made of, and memoized questions about the model.

A helper belongs here once two rule modules need it; one family's own logic
stays in its module.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping

from dbos_lsp.analysis.findings import Edit, Position, Span
from dbos_lsp.analysis.module_model import CallSite, FunctionInfo, ModuleModel, is_local
from dbos_lsp.analysis.module_model import single_assignment as single_assignment  # re-exported for rules
from dbos_lsp.analysis.names import public_name
from dbos_lsp.analysis.names import tail_name as tail_name  # re-exported for rules
from dbos_lsp.analysis.queries import model_query
from dbos_lsp.analysis.source_text import Located, SourceText, ensure_module_import, import_insertion_line, insert
from dbos_lsp.knowledge import sdk_facts as sdk

# ----- calls and literals ------------------------------------------------------------------


def keyword(call: ast.Call, name: str) -> ast.keyword | None:
    """The ``name=...`` argument of a call."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw
    return None


def has_unpacking(call: ast.Call) -> bool:
    """``*args`` or ``**kwargs`` in a call: any argument may hide in there."""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(kw.arg is None for kw in call.keywords)


def str_constant(expr: object) -> str | None:
    """The value of a string literal (a dict key, an argument), else None."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def dict_entries(d: ast.Dict) -> Iterator[tuple[ast.expr | None, ast.expr]]:
    """``(key, value)`` pairs of a dict display; the key is None for ``**spread``."""
    return zip(d.keys, d.values, strict=True)


def decorator_target(dec: ast.expr) -> ast.expr:
    """``DBOS.step`` for both ``@DBOS.step`` and ``@DBOS.step(...)``."""
    return dec.func if isinstance(dec, ast.Call) else dec


def decorators_named(model: ModuleModel, wanted: str, public: bool = False) -> Iterator[tuple[FunctionInfo, ast.expr]]:
    """Decorators (called or bare) resolving to ``wanted``, e.g. ``dbos.DBOS.transaction``;
    with ``public``, imports from private SDK modules (``dbos._dbos``) count too."""
    attr = wanted.rsplit(".", 1)[-1]
    for info in model.functions:
        if isinstance(info.node, ast.Lambda):
            continue
        for dec in info.node.decorator_list:
            target = decorator_target(dec)
            if tail_name(target) != attr:
                continue
            # Decorators are evaluated in the scope that encloses the function.
            q = model.qualname(target, info.parent)
            if q is not None and (public_name(q) if public else q) == wanted:
                yield info, dec


def api_sites(model: ModuleModel, wanted: Mapping[str, Collection[str]]) -> Iterator[tuple[CallSite, str, str]]:
    """Calls of the given ``{class: methods}`` DBOS APIs, as ``(site, class, method)``."""
    names = frozenset().union(*wanted.values())
    for site in model.calls_named(names):
        api = model.api_of(site.node, site.fn)
        if api is not None and api[1] in wanted.get(api[0], ()):
            yield site, api[0], api[1]


def runs_coroutine(model: ModuleModel, call: ast.expr, fn: FunctionInfo | None) -> bool:
    """``call`` hands a coroutine argument to an event loop (``asyncio.gather``,
    ``loop.create_task``...): the coroutine is not dropped, it runs."""
    if not isinstance(call, ast.Call):
        return False
    if isinstance(call.func, ast.Attribute) and call.func.attr in sdk.COROUTINE_RUNNER_METHODS:
        return True
    return model.qualname(call.func, fn) in sdk.COROUTINE_RUNNERS


# ----- short texts for messages ------------------------------------------------------------


def one_line(source: SourceText, node: Located, limit: int | None = None) -> str | None:
    """The node's source text when it fits on one line (of at most ``limit`` characters)."""
    text = source.node_text(node)
    return text if "\n" not in text and (limit is None or len(text) <= limit) else None


def receiver_text(source: SourceText, func: ast.expr) -> str:
    """``DBOS`` in ``DBOS.sleep``; ``...`` when there is none or it is long."""
    if isinstance(func, ast.Attribute):
        text = one_line(source, func.value, 40)
        if text is not None:
            return text
    return "..."


def api_call_text(source: SourceText, func: ast.expr, cls: str, method: str) -> str:
    """How a message names a DBOS API call: ```DBOS.sleep()``` as written, or for an alias
    bound by name (``nap = DBOS.sleep``) ```nap()` (`DBOS.sleep`)``, so the API is named."""
    if isinstance(func, ast.Name):
        return f"`{func.id}()` (`{cls.rsplit('.', 1)[-1]}.{method}`)"
    return f"`{receiver_text(source, func)}.{method}()`"


def called_name(source: SourceText, func: ast.expr) -> str:
    """The callee as written (``self.step``), or ``...`` when it is long."""
    return one_line(source, func, 60) or "..."


# ----- edits -------------------------------------------------------------------------------


def in_chain(node: ast.AST, parent: ast.AST) -> bool:
    """True when ``node`` is the object of ``.attr``, ``[i]`` or ``(...)``: an inserted
    ``await`` then needs parentheses."""
    if isinstance(parent, (ast.Attribute, ast.Subscript)) and parent.value is node:
        return True
    return isinstance(parent, ast.Call) and parent.func is node


def await_edits(source: SourceText, node: ast.expr, parent: ast.AST) -> list[Edit]:
    """Insert ``await`` before ``node`` (parenthesized inside a chain)."""
    start, end = source.start(node), source.end(node)
    if in_chain(node, parent):
        return [insert(start, "(await "), insert(end, ")")]
    return [insert(start, "await ")]


def awaited_text(text: str, node: ast.AST, parent: ast.AST) -> str:
    """``await <text>`` as a replacement for ``node`` (parenthesized inside a chain)."""
    return f"(await {text})" if in_chain(node, parent) else f"await {text}"


def rename_attribute(source: SourceText, func: ast.Attribute, new_attr: str) -> Edit:
    """Replace the attribute name of ``obj.attr`` (the end of ``func``)."""
    end = source.end(func)
    start = Position(end.line, end.character - len(func.attr))
    return Edit(Span(start, end), new_attr)


def module_spelling(model: ModuleModel, module: str) -> tuple[str, list[Edit]]:
    """How to name ``module`` (``asyncio``) in a fix: the local name an import already
    binds, else the module's own name with an edit adding ``import <module>``."""
    for local, qual in model.imports.known.items():
        if qual == module:
            return local, []
    added = ensure_module_import(model.tree, model.imports.known, module)
    return module, [added] if added else []


def dbos_spelling(model: ModuleModel, fn: FunctionInfo | None) -> tuple[str | None, list[Edit]]:
    """How to spell ``dbos.DBOS`` at ``fn``: a local name, ``<alias>.DBOS``, or a new import.

    ``(None, [])`` when no spelling is safe.
    """
    known = model.imports.known
    for local, qual in known.items():
        if qual == sdk.DBOS and not is_local(local, fn) and model.qualname(ast.Name(id=local), fn) == sdk.DBOS:
            return local, []
    for local, qual in known.items():
        if qual == "dbos" and not is_local(local, fn):
            return f"{local}.DBOS", []
    if "DBOS" in model.module_names or "DBOS" in model.imports.pending or is_local("DBOS", fn):
        return None, []
    line = import_insertion_line(model.tree)
    return "DBOS", [insert(Position(line, 0), "from dbos import DBOS\n")]


# ----- memoized questions about the model (see analysis/queries.py for scopes) --------------


@model_query("statement")
def loaders(model: ModuleModel) -> dict[str, list[FunctionInfo]]:
    """Name -> the functions that read it."""
    found: dict[str, list[FunctionInfo]] = {}
    for fn in model.functions:
        for name in fn.loads:
            found.setdefault(name, []).append(fn)
    return found


@model_query("module")
def binding_counts(model: ModuleModel) -> dict[str, int]:
    """How often each name is bound anywhere in the file (2 for a ``global`` name)."""
    counts: dict[str, int] = {}
    for node in ast.walk(model.tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            counts[node.id] = counts.get(node.id, 0) + 1
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            counts[node.name] = counts.get(node.name, 0) + 1
        elif isinstance(node, ast.Global):
            for declared in node.names:
                counts[declared] = 2  # global: bound from elsewhere
    return counts


_DICT_MUTATORS = frozenset({"update", "setdefault", "__setitem__", "__ior__"})


@model_query("module")
def mutated_names(model: ModuleModel) -> frozenset[str]:
    """Names changed in place anywhere in the file: ``n[k] = v``, ``n |= ...``, ``n.update(...)``."""
    names: set[str] = set()
    for node in ast.walk(model.tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name):
                names.add(node.value.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _DICT_MUTATORS:
            if isinstance(node.func.value, ast.Name):
                names.add(node.func.value.id)
    return frozenset(names)


@model_query("module")
def queue_aliases(model: ModuleModel) -> frozenset[str]:
    """Local names that may stand for ``dbos.Queue``."""
    names = {local for local, q in model.imports.known.items() if public_name(q) == sdk.QUEUE}
    return frozenset(names | {"Queue"})
