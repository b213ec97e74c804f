"""Cross-module answers, syntax first and jedi only where syntax cannot tell.

The question: what a name imported from the user's own module is (``from .app import
DBOS`` -> the DBOS class? ``from ..shared import q`` -> a queue? ``from shop.steps import
charge`` -> a step, a workflow, async?).  As an IDE would, the module is first found by
path: a relative import from the importing file's folder and its packages (``__init__.py``),
an absolute one from the folder above the file's top package, its project folder (and
``src/``) or the index root; the name is then read from that module's model, following
re-exports (``from .impl import charge`` in ``__init__.py``) and aliases (``D = DBOS``).
Only when the module is not found that way (an installed package) or the name is not bound
in it syntactically (``import *``, ``__getattr__``) is jedi asked.  Jedi runs in this process
on the environment's import path read from its files (:mod:`.environment`): it never starts
an interpreter and never executes user code.  Answers are cached per (importing file,
import) and dropped when a file they were read from (or a folder searched in vain) changes,
so the keystroke path pays at most once per import and module version.  While
:meth:`JediProjectIndex.recording` is on, every file an answer was read from is noted, so
the server knows which open documents a saved change of another file concerns.

The index is also the authority on the workspace's files: their facts
(:class:`WorkspaceIndex`), hence the workflow names DBOS404 compares.  The server
fills that store itself (background scan, file events, buffers); otherwise (``dbos-lsp
check``, tests) the index scans each application folder once, on first use.
"""

from __future__ import annotations

import ast
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.analysis.names import PendingImport, public_name
from dbos_lsp.analysis.parsing import compile_module
from dbos_lsp.analysis.resolution import Callee, ProjectIndex, Resolution, Role
from dbos_lsp.project.files import MAX_FILE_BYTES, ProjectRoots, read_text_or_none
from dbos_lsp.project.workspace import WorkspaceIndex

log = logging.getLogger(__name__)

# How many re-exports (``from .impl import x`` in ``__init__.py``...) an answer may follow.
_MAX_REEXPORTS = 8


@dataclass(frozen=True)
class _Answer:
    resolution: Resolution | None
    decided: bool  # False: syntax could not tell (jedi may)
    files: tuple[str, ...]  # files and folders it was read from: a change there drops it
    stamp: tuple


def _stamp_of(files: tuple[str, ...]) -> tuple:
    out: list[object] = []
    for f in files:
        try:
            out.append(os.stat(f).st_mtime_ns)
        except OSError:
            out.append("gone")
    return tuple(out)


def _module_file(base: str, parts: list[str]) -> str | None:
    """The file of module ``parts`` under sys.path entry ``base``, as Python's finder
    picks it: a package's ``__init__.py``, then ``name.py``, then a namespace package
    (the folder itself)."""
    folder = os.path.join(base, *parts)
    init = os.path.join(folder, "__init__.py")
    if os.path.isfile(init):
        return init
    if parts and os.path.isfile(folder + ".py"):
        return folder + ".py"
    if parts and os.path.isdir(folder):
        return folder
    return None


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
        self._cache: dict[tuple[str, PendingImport], _Answer] = {}
        self._models: dict[str, tuple[int, ModuleModel | None]] = {}
        self._lock = threading.Lock()
        self._busy = threading.local()  # imports being answered and files being modelled
        self._project = None
        self._environment = None
        self.calls = 0  # answers computed (cache misses), by syntax or jedi, for tests and benchmarks
        self.jedi_calls = 0  # of which jedi invocations
        self._versions: dict[str, tuple[str, str] | None] = {}  # start folder -> dbos_version()
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

    def dbos_version(self, path: str | None = None) -> tuple[str, str] | None:
        """(version, where it came from) for the file ``path`` (None: for the index root):
        the environment's installed ``dbos`` when an environment is chosen, else the nearest
        declaration walking up from the file to the index root (:func:`declared_version`),
        else the interpreter running the server.  Computed once per folder: the server makes
        a new index when settings change."""
        start = os.path.dirname(os.path.abspath(path)) if path else self.root
        key = start or ""
        with self._lock:
            if key in self._versions:
                return self._versions[key]
        from dbos_lsp.project.dbos_version import declared_version, installed_version

        if self.environment_path:
            found = installed_version(self.environment_path) or declared_version(start, self.root)
        else:
            # No known project environment: the project's own files say more than
            # whatever interpreter happens to run the server.
            found = declared_version(start, self.root) or installed_version(None)
        with self._lock:
            self._versions[key] = found
        return found

    # jedi is imported lazily: files without user-module imports never load it.
    def _jedi_project(self):
        if self._project is None:
            from dbos_lsp.project.environment import environment_sys_path, jedi_environment, jedi_project

            sys_path = environment_sys_path(self.environment_path)
            self._environment = jedi_environment()
            self._project = jedi_project(self.root or os.getcwd(), sys_path)
        return self._project

    def resolve_import(self, path: str | None, imp: PendingImport) -> Resolution | None:
        """What ``imp`` in the file ``path`` imports: by syntax, else by jedi."""
        return self._answer(path, imp, use_jedi=True)

    def resolve_syntactic(self, path: str | None, imp: PendingImport) -> Resolution | None:
        """The same answer by syntax only (or one jedi already gave): never runs jedi, so
        the model may ask it about any imported name."""
        return self._answer(path, imp, use_jedi=False)

    @contextmanager
    def recording(self) -> Iterator[set[str]]:
        """Collect (in this thread) the other files that answers and models are read from:
        what an analysis depends on besides its own text.  Nested recordings share one set."""
        outer = getattr(self._busy, "read", None)
        read: set[str] = outer if outer is not None else set()
        self._busy.read = read
        try:
            yield read
        finally:
            self._busy.read = outer

    def _noted(self, files: tuple[str, ...] | list[str]) -> None:
        read = getattr(self._busy, "read", None)
        if read is not None:
            read.update(files)

    def _answer(self, path: str | None, imp: PendingImport, use_jedi: bool) -> Resolution | None:
        if not path:
            return None
        key = (path, imp)
        busy = self._busy_set("imports")
        if key in busy:  # an import cycle: no answer from inside it
            return None
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached.stamp != _stamp_of(cached.files):
            cached = None  # a file it was read from changed
        if cached is not None and (cached.decided or not use_jedi):
            self._noted(cached.files)
            return cached.resolution
        busy.add(key)
        try:
            answer = cached if cached is not None else self._syntactic(path, imp, 0)
            if answer.decided:
                self.calls += 1
            elif use_jedi:
                self.calls += 1
                resolution = self._resolve(path, imp)
                files = answer.files + ((resolution.source_path,) if resolution and resolution.source_path else ())
                answer = _Answer(resolution, True, files, _stamp_of(files))
        finally:
            busy.discard(key)
        with self._lock:
            self._cache[key] = answer
        self._noted(answer.files)
        return answer.resolution if answer.decided else None

    def _busy_set(self, name: str) -> set:
        found = getattr(self._busy, name, None)
        if found is None:
            found = set()
            setattr(self._busy, name, found)
        return found

    # ----- by syntax ----------------------------------------------------------------------------

    def import_roots(self, path: str) -> list[str]:
        """Where an absolute import in ``path`` is looked for, first match wins: the folder
        above the file's top package (its own folder for a script), its project folder and
        that folder's ``src/``, the index root and its ``src/``."""
        folder = os.path.dirname(os.path.abspath(path))
        top = folder
        while os.path.isfile(os.path.join(top, "__init__.py")):
            parent = os.path.dirname(top)
            if parent == top:
                break
            top = parent
        candidates = [top, folder]
        project = self.roots.find(path)
        for base in (project, self.root):
            if base:
                candidates.extend([os.path.abspath(base), os.path.join(os.path.abspath(base), "src")])
        out: list[str] = []
        for c in candidates:
            if c not in out and os.path.isdir(c):
                out.append(c)
        return out

    def locate_module(self, path: str, module: str, level: int) -> tuple[str | None, tuple[str, ...]]:
        """(file of the module ``from <dots><module> import ...`` in ``path`` names, or None;
        the folders looked in).  A relative import counts ``level`` folders up from the
        file's own, an absolute one searches :meth:`import_roots`."""
        parts = [p for p in module.split(".") if p]
        if level:
            base = os.path.dirname(os.path.abspath(path))
            for _ in range(level - 1):
                base = os.path.dirname(base)
            bases = [base]
        else:
            if not parts:
                return None, ()
            bases = self.import_roots(path)
        for base in bases:
            found = _module_file(base, parts)
            if found is not None:
                return found, (found,)
        return None, tuple(bases)

    def _syntactic(self, path: str, imp: PendingImport, depth: int) -> _Answer:
        if depth > _MAX_REEXPORTS:
            return _Answer(None, False, (), ())
        module_file, searched = self.locate_module(path, imp.module, imp.level)
        if module_file is None:  # not in the project (an installed package?): jedi
            return _Answer(None, False, searched, _stamp_of(searched))
        files: tuple[str, ...] = (module_file,)

        def answer(decided: bool, resolution: Resolution | None = None, more: tuple[str, ...] = ()) -> _Answer:
            read = files + more
            return _Answer(resolution, decided, read, _stamp_of(read))

        if os.path.isdir(module_file):  # a namespace package: only submodules live there
            return answer(_module_file(module_file, [imp.name]) is not None)
        model = self._model(module_file)
        if model is None:
            return answer(False)
        name = imp.name
        info = model.top_functions.get(name)
        if info is not None:
            callee = Callee(info.name, info.role, info.is_async, info.tx_kind, returns=info.returns)
            return answer(True, Resolution(function=callee, source_path=module_file))
        if name in model.imports.known or name in model.module_aliases:
            qualname = model.qualname(ast.Name(id=name, ctx=ast.Load()), None)
            found = Resolution(qualname=public_name(qualname), source_path=module_file) if qualname else None
            return answer(True, found)
        pending = model.imports.pending.get(name)
        if pending is not None:  # a re-export: follow it from the module that makes it
            inner = self._syntactic(module_file, pending, depth + 1)
            return answer(inner.decided, inner.resolution, inner.files)
        if name in model.module_types:
            typ = model.module_types[name]
            return answer(True, Resolution(instance_type=typ, source_path=module_file) if typ else None)
        if name in model.module_names:
            return answer(True)  # a class, or a value no rule asks about
        if os.path.basename(module_file) == "__init__.py" and _module_file(os.path.dirname(module_file), [name]):
            return answer(True)  # a submodule
        return answer(False)  # ``import *``, ``__getattr__``: jedi

    # ----- by jedi ------------------------------------------------------------------------------

    def _resolve(self, path: str, imp: PendingImport) -> Resolution | None:
        try:
            import jedi

            self.jedi_calls += 1
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
            if name.type == "statement" and name.module_path is not None:
                model = self._model(str(name.module_path))
                typ = model.module_types.get(name.name) if model is not None else None
                if typ:
                    return Resolution(instance_type=typ, source_path=str(name.module_path))
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
                    return Callee(info.name, info.role, info.is_async, info.tx_kind, returns=info.returns)
        return None

    def module_model(self, file: str) -> ModuleModel | None:
        """The model of another project file as saved on disk (cached per modification
        time), e.g. to see what a helper imported from it does."""
        self._noted((file,))
        return self._model(file)

    def _model(self, file: str) -> ModuleModel | None:
        try:
            mtime = os.stat(file).st_mtime_ns
        except OSError:
            return None
        cached = self._models.get(file)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        building = self._busy_set("models")
        if file in building:  # modules importing each other: no model from inside the cycle
            return None
        building.add(file)
        model = None
        try:
            text = read_text_or_none(file, self.max_file_bytes)
            if text is not None:
                model = ModuleModel(compile_module(text, file), text.splitlines(), file, self)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            model = None
        finally:
            building.discard(file)
        self._models[file] = (mtime, model)
        return model


__all__ = ["JediProjectIndex", "ProjectIndex", "Resolution", "Role"]
