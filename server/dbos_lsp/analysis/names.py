"""Syntactic name resolution: which local names mean which DBOS (or stdlib) objects.

This answers the common cases with no I/O: ``from dbos import DBOS``,
``import dbos``, ``from dbos import DBOS as D``, ``import asyncio as aio``.
Names imported from the user's own modules (``from .app import DBOS``) are
recorded as *pending* and resolved by the project index (jedi), only when a
rule needs them.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from dbos_lsp.knowledge.determinism_catalog import MODULE_ROOTS

# Private SDK modules re-export these classes from the top-level package.
_PRIVATE_TO_PUBLIC = {
    "dbos._dbos.DBOS": "dbos.DBOS",
    "dbos._queue.Queue": "dbos.Queue",
    "dbos._client.DBOSClient": "dbos.DBOSClient",
    "dbos._debouncer.Debouncer": "dbos.Debouncer",
    "dbos._debouncer.DebouncerClient": "dbos.DebouncerClient",
    "dbos._dbos.WorkflowHandle": "dbos.WorkflowHandle",
    "dbos._dbos.WorkflowHandleAsync": "dbos.WorkflowHandleAsync",
    "dbos._dbos.StepReservation": "dbos.StepReservation",
    "dbos._datasource.SQLAlchemyDatasource": "dbos.SQLAlchemyDatasource",
    "dbos._datasource.AsyncSQLAlchemyDatasource": "dbos.AsyncSQLAlchemyDatasource",
    "dbos._dbos.DBOSConfiguredInstance": "dbos.DBOSConfiguredInstance",
    "dbos._context.SetWorkflowID": "dbos.SetWorkflowID",
}


def public_name(qualname: str) -> str:
    """Map ``dbos._dbos.DBOS.sleep`` to ``dbos.DBOS.sleep``."""
    for private, public in _PRIVATE_TO_PUBLIC.items():
        if qualname == private or qualname.startswith(private + "."):
            return public + qualname[len(private) :]
    return qualname


@dataclass(frozen=True)
class PendingImport:
    """``from <module> import <name>`` where the module is the user's own."""

    module: str  # as written, without the leading dots
    level: int  # number of leading dots
    name: str
    line: int  # 1-based line of the import statement
    col: int  # 0-based UTF-8 column of the imported name


@dataclass
class ImportTable:
    # local name -> qualified name, e.g. "D" -> "dbos.DBOS", "aio" -> "asyncio"
    known: dict[str, str] = field(default_factory=dict)
    pending: dict[str, PendingImport] = field(default_factory=dict)
    # every module imported anywhere ("dbos", "asyncio", ...), for cheap pre-checks
    modules: set[str] = field(default_factory=set)

    def add(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                self.modules.add(alias.name)
                if alias.asname:
                    self.known[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.known[top] = top
        elif isinstance(stmt, ast.ImportFrom):
            module = stmt.module or ""
            if stmt.level == 0:
                self.modules.add(module)
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                local = alias.asname or alias.name
                if stmt.level == 0 and _is_third_party_or_stdlib(module):
                    self.known[local] = public_name(f"{module}.{alias.name}")
                    self.pending.pop(local, None)
                else:
                    self.known.pop(local, None)
                    self.pending[local] = PendingImport(
                        module, stmt.level, alias.name, stmt.lineno, _alias_col(stmt, alias)
                    )


def _alias_col(stmt: ast.ImportFrom, alias: ast.alias) -> int:
    # Python 3.10+ gives aliases their own positions.
    return getattr(alias, "col_offset", stmt.col_offset)


# Modules whose names we resolve syntactically.  Anything else imported with
# ``from x import y`` may be the user's own module and goes to the index.
_SYNTACTIC_ROOTS = (
    frozenset(
        """dbos asyncio time datetime random uuid secrets os sys threading concurrent subprocess
        socket requests httpx aiohttp urllib fastapi flask sqlalchemy psycopg psycopg2 typing
        collections functools itertools logging json pathlib contextlib dataclasses enum re
        math abc inspect pydantic""".split()
    )
    | MODULE_ROOTS
)


def _is_third_party_or_stdlib(module: str) -> bool:
    return module.split(".")[0] in _SYNTACTIC_ROOTS


def is_syntactic_module(module: str) -> bool:
    """Whether names from ``module`` are resolved syntactically (the SDK, the standard
    library, well-known packages) rather than looked up in the user's project."""
    return _is_third_party_or_stdlib(module)


def dotted(expr: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"], or None for anything that is not a plain chain."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        parts.reverse()
        return parts
    return None


def tail_name(func: ast.expr) -> str | None:
    """Last name of a callee (``gather`` for ``asyncio.gather``): a cheap pre-check
    before resolving it."""
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def annotation_target(ann: ast.expr, qualname: Callable[[ast.expr], str | None]) -> ast.expr | None:
    """The class an annotation names, looking through the forms that do not change it:
    ``"Queue"`` (a string), ``Optional[Queue]``, ``Queue | None``, ``Union[Queue, None]``,
    ``Annotated[Queue, ...]`` and generic arguments (``WorkflowHandleAsync[str]`` ->
    ``WorkflowHandleAsync``).  None when it names several classes or none.  ``qualname``
    resolves a dotted name (``Optional`` -> ``typing.Optional``)."""
    for _ in range(8):  # nesting depth worth looking through
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value.strip(), mode="eval").body
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return None
            continue
        if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
            members = [m for m in _union_members(ann) if not _is_none(m)]
            if len(members) != 1:
                return None
            ann = members[0]
            continue
        if isinstance(ann, ast.Subscript):
            wrapper = qualname(ann.value) or ""
            wrapper = wrapper.replace("typing_extensions.", "typing.")
            args = list(ann.slice.elts) if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            if wrapper == "typing.Optional" and len(args) == 1:
                ann = args[0]
            elif wrapper == "typing.Union":
                members = [m for m in args if not _is_none(m)]
                if len(members) != 1:
                    return None
                ann = members[0]
            elif wrapper == "typing.Annotated" and args:
                ann = args[0]
            else:
                ann = ann.value  # WorkflowHandle[int]
            continue
        return ann if dotted(ann) is not None else None
    return None


def _union_members(expr: ast.expr) -> list[ast.expr]:
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return [*_union_members(expr.left), *_union_members(expr.right)]
    return [expr]


def _is_none(expr: ast.expr) -> bool:
    return (isinstance(expr, ast.Constant) and expr.value is None) or (
        isinstance(expr, ast.Constant) and expr.value == "None"
    )
