"""Which workflow names a module registers with DBOS, read from its model (pure, no I/O).

DBOS registers a workflow under its ``name=`` argument or, by default, the
function's ``__qualname__`` (``func`` or ``Class.method``, without the module).
Used by DBOS404 (names registered twice) and by the project's file facts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from dbos_lsp.analysis.module_model import FunctionInfo, ModuleModel, Role


def workflow_registrations_in(model: ModuleModel) -> Iterator[tuple[str, FunctionInfo, ast.expr]]:
    """``(registered name, function, @DBOS.workflow decorator)`` for each module-level
    workflow of a module (functions and methods of top-level classes).

    Functions whose ``name=`` is not a string literal, nested functions and
    definitions guarded by ``if TYPE_CHECKING:`` are left out: their registered
    name, or whether they register at all, is not known statically.
    """
    hidden = _type_checking_nodes(model.tree)
    top_classes = {id(info.node) for info in model.classes.values()}
    for info in model.functions:
        if info.role is not Role.WORKFLOW or info.parent is not None or info.is_lambda:
            continue
        if id(info.node) in hidden:
            continue
        decorator = _workflow_decorator(model, info)
        if decorator is None:
            continue
        if info.class_node is None:
            default = info.name
        elif id(info.class_node) in top_classes and id(info.class_node) not in hidden:
            default = f"{info.class_node.name}.{info.name}"
        else:
            continue
        name: str | None = default
        if isinstance(decorator, ast.Call):
            for kw in decorator.keywords:
                if kw.arg is None:
                    name = None  # **options: the name may be in there
                elif kw.arg == "name":
                    value = kw.value
                    if isinstance(value, ast.Constant) and value.value is None:
                        continue
                    name = value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
        if name:
            yield name, info, decorator


def _workflow_decorator(model: ModuleModel, info: FunctionInfo) -> ast.expr | None:
    for dec in getattr(info.node, "decorator_list", ()):
        target = dec.func if isinstance(dec, ast.Call) else dec
        if model.qualname(target, None) == "dbos.DBOS.workflow":
            return dec
    return None


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    hidden: set[int] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
            for block in (stmt.body,):
                for inner in block:
                    for node in ast.walk(inner):
                        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                            hidden.add(id(node))
    return hidden


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


__all__ = ["workflow_registrations_in"]
