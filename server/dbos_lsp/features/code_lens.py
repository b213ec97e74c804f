"""Code lens text above each workflow: "3 steps · enqueued on: orders, emails".

The step count is the number of distinct steps and transactions a workflow's body
calls (directly, through ``DBOS.run_step(..., fn)``, or in lambdas and plain helper
functions nested in it), resolved with the :class:`ModuleModel` (so an imported
step counts when the project index can tell what it is).  The queues come from the
workspace index.  Pure: no editor types; positions are 0-based code points.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dbos_lsp.analysis.module_model import FunctionInfo, ModuleModel, Role
from dbos_lsp.knowledge import sdk_facts as sdk

_STEP_ROLES = (Role.STEP, Role.TRANSACTION)


@dataclass(frozen=True)
class Lens:
    line: int  # 0-based; the workflow's first decorator (the lens shows above it)
    column: int
    end_column: int
    title: str
    workflow: str  # the function's name
    steps: tuple[str, ...]
    queues: tuple[str, ...]


def _inside(fn: FunctionInfo | None, workflow: FunctionInfo) -> bool:
    """``fn`` is the workflow itself or a lambda / plain function nested in it."""
    while fn is not None:
        if fn is workflow:
            return True
        if fn.role is not Role.PLAIN:
            return False  # a nested step or workflow has its own body
        fn = fn.parent
    return False


def workflow_steps(model: ModuleModel, workflow: FunctionInfo) -> list[str]:
    """Names of the distinct steps and transactions a workflow's body calls, in call order."""
    seen: dict[str, None] = {}
    for site in model.calls:
        if not _inside(site.fn, workflow):
            continue
        callee = model.callee(site.node, site.fn)
        if callee is not None and callee.role in _STEP_ROLES:
            seen.setdefault(callee.name, None)
            continue
        api = model.api_of(site.node, site.fn)
        if api is not None and api[1] in sdk.STEP_RUNNERS.get(api[0], ()) and len(site.node.args) >= 2:
            target = site.node.args[1]
            if isinstance(target, ast.Lambda):
                seen.setdefault(f"<lambda:{target.lineno}:{target.col_offset}>", None)
            elif isinstance(target, ast.Name):
                seen.setdefault(target.id, None)
            elif isinstance(target, ast.Attribute):
                seen.setdefault(target.attr, None)
    return list(seen)


def lens_title(steps: int, queues: Iterable[str]) -> str:
    queues = list(queues)
    count = f"{steps} step" + ("" if steps == 1 else "s")
    return f"{count} · " + (f"enqueued on: {', '.join(queues)}" if queues else "not enqueued")


def workflow_lenses(
    model: ModuleModel,
    queues_for: Callable[..., list[str]] = lambda *names: [],
    registered_names: dict[int, str] | None = None,
) -> list[Lens]:
    """One lens per workflow of the module (nested workflows included).

    ``queues_for(*names)`` answers the queues a workflow is enqueued on, given its
    function name and registered name (``WorkspaceIndex.queues_for``)."""
    if registered_names is None:
        from dbos_lsp.project.workflow_names import workflow_registrations_in

        registered_names = {id(info): name for name, info, _dec in workflow_registrations_in(model)}
    out: list[Lens] = []
    for info in model.functions:
        node = info.node
        if info.role is not Role.WORKFLOW or isinstance(node, ast.Lambda):  # ``info.is_lambda``, spelled for mypy
            continue
        anchor = node.decorator_list[0] if node.decorator_list else node
        line = anchor.lineno - 1
        text = model.lines[line] if 0 <= line < len(model.lines) else ""
        column = len(text) - len(text.lstrip())
        steps = workflow_steps(model, info)
        names = [info.name]
        reg = registered_names.get(id(info))
        if reg and reg != info.name:
            names.append(reg)
        queues = tuple(queues_for(*names))
        out.append(
            Lens(line, column, len(text.rstrip()), lens_title(len(steps), queues), info.name, tuple(steps), queues)
        )
    return out


__all__ = ["Lens", "lens_title", "workflow_lenses", "workflow_steps"]
