"""Cross-module answers from jedi, for what syntax alone cannot tell.

Two questions only: what a name imported from the user's own module is
(``from .app import DBOS`` -> the DBOS class?), and what a function imported
from another module is (a step? a workflow? async?).  Jedi runs in this process
on the environment's import path read from its files (:mod:`.environment`): it
never starts an interpreter and never executes user code.  Answers are cached
per (importing file, import) and dropped when the defining file changes, so the
keystroke path pays for jedi at most once per import.

The index is also the authority on the workspace's files: their facts
(:class:`WorkspaceIndex`), hence the workflow names DBOS404 compares.  The server
fills that store itself (background scan, file events, buffers); otherwise (``dbos-lsp
check``, tests) the index scans each application folder once, on first use.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping

from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.analysis.names import PendingImport, public_name
from dbos_lsp.analysis.parsing import compile_module
from dbos_lsp.analysis.resolution import Callee, ProjectIndex, Resolution, Role
from dbos_lsp.project.files import MAX_FILE_BYTES, ProjectRoots, read_text_or_none
from dbos_lsp.project.workspace import WorkspaceIndex

log = logging.getLogger(__name__)


class JediProjectIndex:
    """A :class:`ProjectIndex` backed by jedi, for one workspace root."""

    def __init__(
        self,
        root: str | None = None,
        environment_path: str | None = None,
        workspace: WorkspaceIndex | None = None,
        *,
        scan: bool | None = None,
        roots: ProjectRoots | None = None,
        excluded: Callable[[str], bool] | None = None,
        skipped: Callable[[str, str], None] | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        """``workspace``: a file-facts store to share (one per ``check`` run); ``scan``:
        whether this index fills it, one application folder at a time (default: only a
        store it made itself); ``roots``: the project-root cache (share one per run);
        ``excluded``/``skipped``: the walker's ``exclude`` test and skip reporter."""
        self.root = root
        # Only the invocation chooses an environment, and it is only ever read as data.
        self.environment_path = environment_path or os.environ.get("VIRTUAL_ENV") or None
        self._cache: dict[tuple[str, PendingImport], tuple[Resolution | None, tuple]] = {}
        self._models: dict[str, tuple[float, ModuleModel | None]] = {}
        self._lock = threading.Lock()
        self._project = None
        self._environment = None
        self.calls = 0  # jedi invocations, for tests and benchmarks
        self.workspace_index = workspace if workspace is not None else WorkspaceIndex([root] if root else [])
        self.workspace_index.max_file_bytes = max_file_bytes
        # The store this index fills itself; the server swaps in its own store, filled by it.
        self._filled = self.workspace_index if (workspace is None if scan is None else scan) else None
        self.roots = roots or ProjectRoots()
        self.excluded = excluded
        self.skipped = skipped
        self.max_file_bytes = max_file_bytes

    def _fill(self, folder: str | None) -> None:
        store = self._filled
        if folder and store is not None and store is self.workspace_index:
            store.ensure_scanned(folder, self.excluded, self.skipped)

    def workflow_registrations(self) -> dict[str, list[tuple[str, int]]]:
        """Registered workflow name -> [(file, line)] across the indexed files."""
        self._fill(self.root)
        return self.workspace_index.workflow_registrations()

    def workflow_registrations_for(self, path: str) -> Mapping[str, list[tuple[str, int]]]:
        """The registrations of the other files of ``path``'s application (its nearest
        project folder; files outside any compare with each other) among the files under
        this index's root, ``exclude`` applied (DBOS404)."""
        self._fill(self.root or self.roots.find(path))
        return self.workspace_index.registrations_near(path, self.roots)

    def dbos_version(self) -> tuple[str, str] | None:
        # Computed once per index: the server makes a new index when settings change.
        if not hasattr(self, "_dbos_version"):
            from dbos_lsp.project.dbos_version import declared_version, installed_version

            if self.environment_path:
                self._dbos_version = installed_version(self.environment_path) or declared_version(self.root)
            else:
                # No known project environment: the project's own files say more than
                # whatever interpreter happens to run the server.
                self._dbos_version = declared_version(self.root) or installed_version(None)
        return self._dbos_version

    # jedi is imported lazily: files without user-module imports never load it.
    def _jedi_project(self):
        if self._project is None:
            from dbos_lsp.project.environment import environment_sys_path, jedi_environment, jedi_project

            sys_path = environment_sys_path(self.environment_path)
            self._environment = jedi_environment()
            self._project = jedi_project(self.root or os.getcwd(), sys_path)
        return self._project

    def resolve_import(self, path: str | None, imp: PendingImport) -> Resolution | None:
        if not path:
            return None
        key = (path, imp)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[1] == self._stamp(cached[0]):
                return cached[0]
        resolution = self._resolve(path, imp)
        with self._lock:
            self._cache[key] = (resolution, self._stamp(resolution))
        return resolution

    def _stamp(self, resolution: Resolution | None) -> tuple:
        target = resolution.source_path if resolution else None
        if not target:
            return ()
        try:
            return (os.stat(target).st_mtime_ns,)
        except OSError:
            return ("gone",)

    def _resolve(self, path: str, imp: PendingImport) -> Resolution | None:
        try:
            import jedi

            self.calls += 1
            dots = "." * imp.level
            code = f"from {dots}{imp.module} import {imp.name}\n{imp.name}\n"
            script = jedi.Script(code, path=path, project=self._jedi_project(), environment=self._environment)
            names = script.goto(2, 0, follow_imports=True)
        except Exception as exc:
            log.info("dbos-lsp: jedi could not resolve %s in %s: %s", imp.name, path, exc)
            return None
        for name in names:
            full = public_name(name.full_name or "")
            if full in ("dbos.DBOS", "dbos.Queue", "dbos.DBOSClient", "dbos.Debouncer", "dbos.DebouncerClient"):
                return Resolution(qualname=full)
            if name.type == "function" and name.module_path is not None:
                callee = self._callee_at(str(name.module_path), name.line, name.name)
                return Resolution(function=callee, source_path=str(name.module_path))
        return None

    def _callee_at(self, file: str, line: int | None, name: str) -> Callee | None:
        model = self._model(file)
        if model is None:
            return None
        for info in model.functions:
            node = info.node
            if info.name == name and info.parent is None and info.class_node is None:
                if (
                    line is None
                    or node.lineno == line
                    or any(d.lineno == line for d in getattr(node, "decorator_list", []))
                ):
                    return Callee(info.name, info.role, info.is_async, info.tx_kind)
        return None

    def _model(self, file: str) -> ModuleModel | None:
        try:
            mtime = os.stat(file).st_mtime
        except OSError:
            return None
        cached = self._models.get(file)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        model = None
        text = read_text_or_none(file, self.max_file_bytes)
        try:
            if text is not None:
                model = ModuleModel(compile_module(text, file), text.splitlines(), file, self)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            model = None
        self._models[file] = (mtime, model)
        return model


__all__ = ["JediProjectIndex", "ProjectIndex", "Resolution", "Role"]
