"""Workflow names registered across a workspace (for DBOS404, workflow-name-collision).

DBOS registers a workflow under its ``name=`` argument or, by default, the
function's ``__qualname__`` (``func`` or ``Class.method``, without the module).
Two modules that register the same name make the second import raise.  This
module finds every registration in a folder's ``*.py`` files syntactically: files
are parsed with ``ast`` and never imported or executed, and each file's answer is
cached until its modification time or size changes.
"""

from __future__ import annotations

import ast
import os
import threading
import time
from collections.abc import Iterator

from dbos_lsp.analysis.module_model import FunctionInfo, ModuleModel, Role

SKIPPED_DIRS = frozenset(
    {".venv", "venv", "node_modules", ".git", "__pycache__", "build", "dist", ".tox", ".nox", ".mypy_cache"}
)
MAX_FILE_BYTES = 2 * 1024 * 1024
# A folder with one of these files is its own project: names only collide inside one.
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")
# How long a directory listing stays fresh (the per-file cache checks mtimes anyway).
_LISTING_TTL = 2.0

Registration = tuple[str, int]  # (path, 1-based line of the def or its decorator)


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


def file_registrations(path: str, text: str) -> list[tuple[str, int]]:
    """``(name, line)`` of every workflow registration in one file's text."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    model = ModuleModel(tree, text.splitlines(), path, None)
    out = []
    for name, _info, decorator in workflow_registrations_in(model):
        out.append((name, decorator.lineno))
    return out


def same_path(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)


def _norm(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


class WorkflowNameIndex:
    """Workflow registrations of every ``*.py`` file under ``root``."""

    def __init__(self, root: str | None) -> None:
        self.root = root
        self._files: dict[str, tuple[tuple[int, int], list[tuple[str, int]]]] = {}
        self._listing: list[str] = []
        self._listed_at = float("-inf")
        self._lock = threading.Lock()
        self.parses = 0  # files parsed, for tests

    def _list_files(self) -> list[str]:
        now = time.monotonic()
        if now - self._listed_at < _LISTING_TTL:
            return self._listing
        files: list[str] = []
        root = self.root
        if root and os.path.isdir(root):
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
                for name in sorted(filenames):
                    if name.endswith(".py"):
                        files.append(os.path.join(dirpath, name))
        self._listing = files
        self._listed_at = now
        return files

    def _file(self, path: str) -> list[tuple[str, int]]:
        try:
            st = os.stat(path)
        except OSError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._files.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        regs: list[tuple[str, int]] = []
        if st.st_size <= MAX_FILE_BYTES:
            try:
                with open(path, "rb") as fh:
                    text = fh.read().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
            if text is not None:
                self.parses += 1
                regs = file_registrations(path, text)
        self._files[path] = (stamp, regs)
        return regs

    def registrations(self) -> dict[str, list[Registration]]:
        """Registered workflow name -> every ``(path, line)`` registering it."""
        with self._lock:
            files = self._list_files()
            live = set(files)
            for stale in [p for p in self._files if p not in live]:
                del self._files[stale]
            out: dict[str, list[Registration]] = {}
            for path in files:
                for name, line in self._file(path):
                    out.setdefault(name, []).append((path, line))
            return out


_PROJECT_CACHE: dict[str, tuple[float, str | None]] = {}
_PROJECT_TTL = 10.0


def project_root(path: str) -> str | None:
    """The nearest folder above ``path`` holding a project marker (``pyproject.toml``,
    ``setup.py``, ``setup.cfg``), or None.  Workflow names only collide inside one
    project: a monorepo of separate apps may reuse names freely."""
    now = time.monotonic()
    folder = os.path.dirname(_norm(path))
    chain: list[str] = []
    result: str | None = None
    while True:
        cached = _PROJECT_CACHE.get(folder)
        if cached is not None and now - cached[0] < _PROJECT_TTL:
            result = cached[1]
            break
        chain.append(folder)
        try:
            if any(os.path.isfile(os.path.join(folder, m)) for m in PROJECT_MARKERS):
                result = folder
                break
        except OSError:
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for f in chain:
        _PROJECT_CACHE[f] = (now, result)
    return result


__all__ = [
    "WorkflowNameIndex",
    "file_registrations",
    "project_root",
    "same_path",
    "workflow_registrations_in",
]
