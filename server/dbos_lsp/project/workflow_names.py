"""Workflow names registered across a folder (DBOS404): compatibility names.

The registry itself is the project index's :class:`~dbos_lsp.project.workspace.WorkspaceIndex`
(file facts, kept per file until its modification time or size changes); the walker
and the project-root rule are :mod:`dbos_lsp.project.files`.  Files are parsed with
``ast`` and never imported or executed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.analysis.parsing import compile_module
from dbos_lsp.analysis.registrations import workflow_registrations_in
from dbos_lsp.project.files import PROJECT_MARKERS, SKIPPED_DIRS, ProjectRoots, project_root, same_path

# This class's historical limit (the project setting ``max-file-bytes`` governs the rest).
MAX_FILE_BYTES = 2 * 1024 * 1024
# How long a directory listing stays fresh (the per-file cache checks mtimes anyway).
_LISTING_TTL = 2.0

Registration = tuple[str, int]  # (path, 1-based line of the def or its decorator)


def file_registrations(path: str, text: str) -> list[tuple[str, int]]:
    """``(name, line)`` of every workflow registration in one file's text."""
    try:
        tree = compile_module(text, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    model = ModuleModel(tree, text.splitlines(), path, None)
    return [(name, decorator.lineno) for name, _info, decorator in workflow_registrations_in(model)]


class WorkflowNameIndex:
    """Workflow registrations of every ``*.py`` file under ``root``: a
    :class:`WorkspaceIndex` over that folder, re-listed at most every two seconds."""

    def __init__(self, root: str | None) -> None:
        from dbos_lsp.project.workspace import WorkspaceIndex

        self.root = root
        self._workspace = WorkspaceIndex([root] if root else [])
        self._workspace.max_file_bytes = MAX_FILE_BYTES
        self._roots = ProjectRoots()
        self._listed_at = float("-inf")

    @property
    def parses(self) -> int:  # files parsed, for tests
        return self._workspace.parses

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._listed_at >= _LISTING_TTL:
            self._workspace.scan()
            self._listed_at = now

    def registrations(self) -> dict[str, list[Registration]]:
        """Registered workflow name -> every ``(path, line)`` registering it."""
        self._refresh()
        return self._workspace.workflow_registrations()

    def registrations_for(self, path: str) -> Mapping[str, list[Registration]]:
        """The registrations of the other files of ``path``'s project (what DBOS404 asks)."""
        self._refresh()
        return self._workspace.registrations_near(path, self._roots)


__all__ = [
    "PROJECT_MARKERS",
    "SKIPPED_DIRS",
    "WorkflowNameIndex",
    "file_registrations",
    "project_root",
    "same_path",
    "workflow_registrations_in",
]
