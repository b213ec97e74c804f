"""What every Python file of a workspace declares about DBOS, for cross-file features.

Per file: the workflows, steps and transactions it defines (name, registered
name, line, async or not), the queues it registers (``DBOS.register_queue("q")``)
and the workflows it enqueues (``DBOS.enqueue_workflow("q", wf)``, ``q.enqueue(wf)``,
``client.enqueue({"queue_name": ..., "workflow_name": ...})``).  Facts come from
one :class:`ModuleModel` per file, built without a project index (no jedi), so a
scan never imports or executes user code.

:class:`WorkspaceIndex` keeps the facts of many files, answers the workflow
registrations DBOS404 needs, fuzzy symbol search and "where is this workflow
enqueued".  It is thread-safe: the server fills it from a worker thread.
Nothing here knows about editors or LSP types.
"""

from __future__ import annotations

import ast
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from dbos_lsp.analysis.module_model import FunctionInfo, ModuleModel, Role
from dbos_lsp.analysis.parsing import compile_module
from dbos_lsp.analysis.registrations import workflow_registrations_in
from dbos_lsp.knowledge import sdk_facts as sdk
from dbos_lsp.project.files import MAX_FILE_BYTES, ProjectRoots, norm_path, read_text_or_none, walk_python_files

KINDS = {Role.WORKFLOW: "workflow", Role.STEP: "step", Role.TRANSACTION: "transaction"}
_ENQUEUE_METHODS = frozenset({"enqueue", "enqueue_async"})
_DBOS_ENQUEUE = frozenset({"enqueue_workflow", "enqueue_workflow_async"})
_DBOS_ENQUEUE_OPTIONS = frozenset({"enqueue_workflow_with_options", "enqueue_workflow_with_options_async"})
_REGISTER_QUEUE = frozenset({"register_queue", "register_queue_async"})


@dataclass(frozen=True)
class Symbol:
    """A workflow, step or transaction defined at module level or in a top-level class."""

    name: str  # the function's own name
    registered_name: str  # ``name=`` of the decorator, else the qualname (``Class.method``)
    kind: str  # "workflow" | "step" | "transaction"
    line: int  # 0-based line of the ``def``
    column: int  # 0-based column of the function name
    is_async: bool
    class_name: str | None = None
    path: str = ""
    module: str = ""


@dataclass(frozen=True)
class QueueRegistration:
    name: str
    line: int  # 0-based
    variable: str | None = None  # the name the queue is bound to, when assigned


@dataclass(frozen=True)
class Enqueue:
    target: str  # the enqueued workflow: last name of the expression (``wf`` for ``mod.wf``)
    line: int  # 0-based
    queue: str | None = None  # queue name, when a literal says it
    queue_variable: str | None = None  # ``q`` in ``q.enqueue(wf)`` when its name is not known here
    typed: bool = False  # the receiver is known to be a queue (else only a workspace binding says so)


@dataclass
class FileFacts:
    path: str
    module: str
    symbols: list[Symbol] = field(default_factory=list)
    queues: list[QueueRegistration] = field(default_factory=list)
    enqueues: list[Enqueue] = field(default_factory=list)
    # (registered workflow name, 1-based line of its decorator), as DBOS404 wants them.
    registrations: list[tuple[str, int]] = field(default_factory=list)


# ----- one file --------------------------------------------------------------------------------


def module_name(path: str, root: str | None = None) -> str:
    """``pkg.sub.mod`` for ``root/pkg/sub/mod.py``; the file stem without a root."""
    stem = os.path.splitext(os.path.abspath(path))[0]
    if root:
        try:
            rel = os.path.relpath(stem, os.path.abspath(root))
        except ValueError:
            rel = os.path.basename(stem)
        if not rel.startswith(".."):
            parts = [p for p in rel.replace(os.sep, "/").split("/") if p]
            if parts and parts[-1] == "__init__":
                parts = parts[:-1] or [os.path.basename(os.path.dirname(stem))]
            return ".".join(parts)
    base = os.path.basename(stem)
    return os.path.basename(os.path.dirname(stem)) if base == "__init__" else base


def scan_text(path: str, text: str, module: str | None = None) -> FileFacts:
    """Facts of one file's text (an unparsable file has none)."""
    try:
        tree = compile_module(text, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return FileFacts(path, module or module_name(path))
    return facts_from_model(ModuleModel(tree, text.splitlines(), path, None), path, module)


def facts_from_model(model: ModuleModel, path: str, module: str | None = None) -> FileFacts:
    """Facts of an already built model (the server reuses its analysis's model)."""
    module = module or module_name(path)
    facts = FileFacts(path, module)
    registered = {}
    for name, info, decorator in workflow_registrations_in(model):
        registered[id(info)] = name
        facts.registrations.append((name, decorator.lineno))
    top_classes = {id(c.node) for c in model.classes.values()}
    for info in model.functions:
        kind = KINDS.get(info.role)
        if kind is None or info.parent is not None or info.is_lambda:
            continue
        if info.class_node is not None and id(info.class_node) not in top_classes:
            continue
        class_name = info.class_node.name if info.class_node is not None else None
        qual = f"{class_name}.{info.name}" if class_name else info.name
        reg = registered.get(id(info)) or _decorator_name(model, info) or qual
        line, column = _name_position(model, info)
        facts.symbols.append(Symbol(info.name, reg, kind, line, column, info.is_async, class_name, path, module))
    _scan_queues(model, facts)
    return facts


def _decorator_name(model: ModuleModel, info: FunctionInfo) -> str | None:
    for dec in getattr(info.node, "decorator_list", ()):
        if isinstance(dec, ast.Call):
            for kw in dec.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    return kw.value.value
    return None


def _name_position(model: ModuleModel, info: FunctionInfo) -> tuple[int, int]:
    node = info.node
    line = node.lineno - 1
    text = model.lines[line] if 0 <= line < len(model.lines) else ""
    start = text.find("def ", node.col_offset if text.isascii() else 0)
    column = start + 4 if start >= 0 else node.col_offset
    while column < len(text) and text[column] == " ":
        column += 1
    return line, column


def _literal_str(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _target_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _receiver_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        value = func.value
        if isinstance(value, ast.Name):
            return value.id
        if isinstance(value, ast.Attribute):  # self.queue.enqueue(...)
            return value.attr
    return None


def _options_dict(call: ast.Call) -> ast.Dict | None:
    for arg in (*call.args, *(kw.value for kw in call.keywords)):
        if isinstance(arg, ast.Dict):
            return arg
        if isinstance(arg, ast.Call) and _target_name(arg.func) in ("EnqueueOptions", "dict"):
            return ast.Dict(
                keys=[ast.Constant(kw.arg) for kw in arg.keywords], values=[kw.value for kw in arg.keywords]
            )
    return None


def _dict_value(d: ast.Dict, key: str) -> ast.expr | None:
    for k, v in zip(d.keys, d.values, strict=False):
        if _literal_str(k) == key:
            return v
    return None


def _scan_queues(model: ModuleModel, facts: FileFacts) -> None:
    # Names a registered queue is bound to, in this file: q = DBOS.register_queue("q").
    def bound_name(site) -> str | None:
        parent = site.parent
        if isinstance(parent, ast.Await):  # q = await DBOS.register_queue_async("q")
            parent = awaited_parents().get(id(parent))
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
            return _target_name(parent.targets[0])
        if isinstance(parent, ast.AnnAssign):
            return _target_name(parent.target)
        return None

    cache: dict[int, ast.AST] = {}

    def awaited_parents() -> dict[int, ast.AST]:
        if not cache:
            for node in ast.walk(model.tree):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Await):
                    cache[id(node.value)] = node
            cache.setdefault(0, model.tree)
        return cache

    variables: dict[str, str] = {}
    for site in model.calls:
        api = model.api_of(site.node, site.fn)
        if api is None:
            continue
        cls, method = api
        call = site.node
        if method in _REGISTER_QUEUE and cls in (sdk.DBOS, sdk.CLIENT):
            name = _literal_str(call.args[0]) if call.args else None
            if name is None:
                name = next((_literal_str(kw.value) for kw in call.keywords if kw.arg == "name"), None)
            if name is not None:
                var = bound_name(site)
                facts.queues.append(QueueRegistration(name, call.lineno - 1, var))
                if var:
                    variables[var] = name
        elif cls == sdk.QUEUE and method == "__init__":  # DBOS 2.x: q = Queue("q")
            name = _literal_str(call.args[0]) if call.args else None
            if name is not None:
                var = bound_name(site)
                facts.queues.append(QueueRegistration(name, call.lineno - 1, var))
                if var:
                    variables[var] = name
    for site in model.calls:
        call = site.node
        api = model.api_of(call, site.fn)
        method_name = api[1] if api else (call.func.attr if isinstance(call.func, ast.Attribute) else None)
        if api is not None and api[0] == sdk.DBOS and api[1] in _DBOS_ENQUEUE:
            queue = _literal_str(call.args[0]) if call.args else None
            target = _target_name(call.args[1]) if len(call.args) > 1 else None
            if target:
                facts.enqueues.append(Enqueue(target, call.lineno - 1, queue))
        elif api is not None and (
            api[1] in _DBOS_ENQUEUE_OPTIONS or (api[0] == sdk.CLIENT and api[1] in _ENQUEUE_METHODS)
        ):
            options = _options_dict(call)
            if options is None:
                continue
            queue = _literal_str(_dict_value(options, "queue_name"))
            target = _literal_str(_dict_value(options, "workflow_name"))
            positional = [a for a in call.args if a is not options]
            if target is None and positional:
                target = _target_name(positional[0])
            if target:
                facts.enqueues.append(Enqueue(target.rsplit(".", 1)[-1], call.lineno - 1, queue))
        elif method_name in _ENQUEUE_METHODS and call.args and (api is None or api[0] == sdk.QUEUE):
            # q.enqueue(wf): q registered here, typed as a queue, or (resolved at query
            # time) bound to a registered queue in another file and imported.
            receiver = _receiver_name(call.func)
            target = _target_name(call.args[0])
            if receiver is None or not target:
                continue
            queue = variables.get(receiver)
            typed = api is not None
            facts.enqueues.append(Enqueue(target, call.lineno - 1, queue, None if queue else receiver, typed))


# ----- many files ------------------------------------------------------------------------------


def python_files(
    roots: Iterable[str], excluded: Callable[[str], bool] | None = None, max_bytes: int = MAX_FILE_BYTES
) -> Iterator[str]:
    """Every regular ``*.py`` file under ``roots`` (see :func:`walk_python_files`)."""
    return walk_python_files(roots, excluded, max_bytes)


def fuzzy_score(query: str, name: str) -> int | None:
    """How well ``name`` matches ``query`` (lower is better), None when it does not.

    Case-insensitive: exact 0, prefix 1, substring 2, in-order subsequence 3
    (``gwf`` matches ``greeting_workflow``).  An empty query matches everything."""
    q, n = query.lower().strip(), name.lower()
    if not q:
        return 2
    if n == q:
        return 0
    if n.startswith(q):
        return 1
    if q in n:
        return 2
    i = 0
    for ch in n:
        if ch == q[i]:
            i += 1
            if i == len(q):
                return 3
    return None


def file_stamp(path: str) -> tuple[int, int] | None:
    """(mtime_ns, size) of a file, None when it cannot be stat'ed: what tells a re-scan
    that a file read before is unchanged."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class WorkspaceIndex:
    """Facts of every indexed file, keyed by absolute path."""

    def __init__(self, roots: Iterable[str] = ()) -> None:
        self.roots = [os.path.abspath(r) for r in roots if r]
        self._files: dict[str, FileFacts] = {}
        self._stamps: dict[str, tuple[int, int]] = {}  # (mtime_ns, size) of facts read from disk
        self._lock = threading.Lock()
        self.version = 0  # bumped whenever any file's facts change
        self.scanned = False  # the initial scan finished
        self.max_file_bytes = MAX_FILE_BYTES
        self.parses = 0  # files read and parsed from disk, for tests
        self.table_builds = 0  # per-application registries built, for tests
        self._scanned_folders: set[str] = set()
        self._table: tuple[int, ProjectRoots, float, dict[str | None, dict[str, list[tuple[str, int, str]]]]] | None = (
            None
        )

    # ----- updates -----

    def module_for(self, path: str) -> str:
        path = os.path.abspath(path)
        best = None
        for root in self.roots:
            if path.startswith(root.rstrip(os.sep) + os.sep) and (best is None or len(root) > len(best)):
                best = root
        return module_name(path, best)

    def set_facts(self, facts: FileFacts) -> bool:
        """Store one file's facts; True when what other files see changed."""
        key = os.path.abspath(facts.path)
        with self._lock:
            self._stamps.pop(key, None)  # facts from a buffer: the next scan reads the disk again
            old = self._files.get(key)
            self._files[key] = facts
            if old is None or old.symbols != facts.symbols or old.registrations != facts.registrations:
                self.version += 1
            empty = not (facts.registrations or facts.queues or facts.enqueues)
            return (old is None and not empty) or (old is not None and _shape(old) != _shape(facts))

    def update_file(self, path: str, text: str | None = None, if_changed: bool = False) -> bool:
        """Re-read (or use ``text`` for) one file; a vanished, unreadable, oversized or
        non-regular file is dropped.  ``if_changed``: skip a file read before whose
        modification time and size are the same."""
        path = os.path.abspath(path)
        if text is not None:
            return self.set_facts(scan_text(path, text, self.module_for(path)))
        stamp = file_stamp(path)
        if stamp is None:
            return self.remove(path)
        if if_changed and path in self._files and self._stamps.get(path) == stamp:
            return False
        return self.store_read(path, stamp, self.read_facts(path))

    def read_facts(self, path: str) -> FileFacts | None:
        """One file's facts read from disk and stored nowhere (None: unreadable, undecodable,
        oversized or not a regular file).  ``dbos-lsp check`` reads them in worker
        processes and stores the answers here with :meth:`store_read`."""
        text = read_text_or_none(path, self.max_file_bytes)
        return None if text is None else scan_text(path, text, self.module_for(path))

    def store_read(self, path: str, stamp: tuple[int, int] | None, facts: FileFacts | None) -> bool:
        """Store facts :meth:`read_facts` gave for ``path`` with the :func:`file_stamp` taken
        before reading (None: the file vanished; facts None: drop the file)."""
        path = os.path.abspath(path)
        if stamp is None or facts is None:
            return self.remove(path)
        self.parses += 1
        changed = self.set_facts(facts)
        with self._lock:
            self._stamps[path] = stamp
        return changed

    def mark_scanned(self, folder: str) -> bool:
        """Note ``folder`` as scanned, so :meth:`ensure_scanned` leaves it alone; False when
        it already was."""
        folder = os.path.abspath(folder)
        with self._lock:
            if folder in self._scanned_folders:
                return False
            self._scanned_folders.add(folder)
            return True

    def remove(self, path: str) -> bool:
        with self._lock:
            self._stamps.pop(os.path.abspath(path), None)
            gone = self._files.pop(os.path.abspath(path), None)
            if gone is not None and (gone.symbols or gone.queues or gone.enqueues):
                self.version += 1
                return True
            return False

    def remove_under(self, folder: str) -> bool:
        prefix = os.path.abspath(folder).rstrip(os.sep) + os.sep
        changed = False
        for path in [p for p in self.paths() if p.startswith(prefix)]:
            changed = self.remove(path) or changed
        return changed

    def scan(
        self,
        excluded: Callable[[str], bool] | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        skip: Callable[[str], bool] = lambda path: False,
        pause: Callable[[], None] | None = None,
    ) -> int:
        """Index every Python file under the roots; returns the number of files indexed.
        ``progress(done, total, path)`` is called after each file; ``skip(path)`` leaves
        a file alone (the server's open documents, indexed from their buffers); ``pause()``
        is called before each file (the server waits there for its open documents)."""
        files = list(walk_python_files(self.roots, excluded, self.max_file_bytes))
        total = len(files)
        live = {os.path.abspath(f) for f in files}
        with self._lock:
            for stale in [p for p in self._files if p not in live and any(p.startswith(r) for r in self.roots)]:
                del self._files[stale]
                self._stamps.pop(stale, None)
                self.version += 1
        done = 0
        for path in files:
            if cancelled is not None and cancelled():
                break
            if not skip(path):
                if pause is not None:
                    pause()
                self.update_file(path, if_changed=True)
            done += 1
            if progress is not None:
                progress(done, total, path)
        self.scanned = True
        return done

    def ensure_scanned(
        self,
        folder: str,
        excluded: Callable[[str], bool] | None = None,
        skipped: Callable[[str, str], None] | None = None,
    ) -> None:
        """Index every Python file under ``folder`` once (``dbos-lsp check``: one scan per
        application per run, shared by every checked file)."""
        folder = os.path.abspath(folder)
        if not self.mark_scanned(folder):
            return
        for path in walk_python_files([folder], excluded, self.max_file_bytes, skipped):
            self.update_file(path, if_changed=True)

    # ----- queries -----

    def registrations_near(self, path: str, roots: ProjectRoots) -> Mapping[str, list[tuple[str, int]]]:
        """Registered workflow name -> ``(path, 1-based line)`` in the *other* indexed files of
        ``path``'s application (its nearest project folder: ``pyproject.toml``,
        ``requirements*.txt``...; see :class:`ProjectRoots`): what DBOS404 compares a file's
        registrations with."""
        table = self._root_table(roots)
        return _OtherFiles(table.get(roots.find(path), {}), norm_path(path))

    def _root_table(self, roots: ProjectRoots) -> dict[str | None, dict[str, list[tuple[str, int, str]]]]:
        now = time.monotonic()
        cached = self._table
        if (
            cached is not None
            and cached[0] == self.version
            and cached[1] is roots
            and (roots.ttl is None or now - cached[2] < roots.ttl)
        ):
            return cached[3]
        version = self.version
        self.table_builds += 1
        table: dict[str | None, dict[str, list[tuple[str, int, str]]]] = {}
        for facts in self._snapshot():
            if not facts.registrations:
                continue
            names = table.setdefault(roots.find(facts.path), {})
            norm = norm_path(facts.path)
            for name, line in facts.registrations:
                names.setdefault(name, []).append((facts.path, line, norm))
        self._table = (version, roots, now, table)
        return table

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._files)

    def facts(self, path: str) -> FileFacts | None:
        with self._lock:
            return self._files.get(os.path.abspath(path))

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    def _snapshot(self) -> list[FileFacts]:
        with self._lock:
            return list(self._files.values())

    def workflow_registrations(self) -> dict[str, list[tuple[str, int]]]:
        """Registered workflow name -> every ``(path, 1-based line)`` registering it."""
        out: dict[str, list[tuple[str, int]]] = {}
        for facts in self._snapshot():
            for name, line in facts.registrations:
                out.setdefault(name, []).append((facts.path, line))
        return out

    def symbols(self) -> list[Symbol]:
        return [s for facts in self._snapshot() for s in facts.symbols]

    def search(self, query: str, limit: int = 500) -> list[Symbol]:
        """Workflows and steps whose name or registered name matches ``query``, best first."""
        scored = []
        for s in self.symbols():
            scores = [x for x in (fuzzy_score(query, s.name), fuzzy_score(query, s.registered_name)) if x is not None]
            if scores:
                scored.append((min(scores), s.kind != "workflow", s.name.lower(), s.path, s.line, s))
        scored.sort(key=lambda t: t[:5])
        return [t[-1] for t in scored[:limit]]

    def queue_variables(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for facts in self._snapshot():
            for q in facts.queues:
                if q.variable:
                    out.setdefault(q.variable, set()).add(q.name)
        return out

    def queues_for(self, *names: str) -> list[str]:
        """Queues the workflow known by any of ``names`` is enqueued on, across the workspace
        (sorted).  A ``q.enqueue(wf)`` whose queue is bound in another file is resolved
        through the workspace's ``q = DBOS.register_queue(...)`` bindings."""
        wanted = {n for n in names if n}
        variables = None
        out: set[str] = set()
        for facts in self._snapshot():
            for e in facts.enqueues:
                if e.target not in wanted:
                    continue
                if e.queue:
                    out.add(e.queue)
                elif e.queue_variable:
                    if variables is None:
                        variables = self.queue_variables()
                    found = variables.get(e.queue_variable)
                    if found:
                        out.update(found)
                    elif e.typed:
                        out.add(e.queue_variable)  # a queue whose name no file tells
        return sorted(out)


class _OtherFiles(Mapping):
    """One application's registrations, without those of the asking file."""

    def __init__(self, names: dict[str, list[tuple[str, int, str]]], own: str) -> None:
        self._names = names
        self._own = own

    def __getitem__(self, name: str) -> list[tuple[str, int]]:
        found = [(p, line) for p, line, norm in self._names[name] if norm != self._own]
        if not found:
            raise KeyError(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._names if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return any(norm != self._own for _p, _l, norm in self._names.get(name, ()))  # type: ignore[call-overload]


def _shape(facts: FileFacts) -> tuple:
    """What other files' diagnostics and lenses depend on: names, not lines (a keystroke
    that moves a definition down must not re-analyse every other open file)."""
    return (
        tuple(sorted(name for name, _line in facts.registrations)),
        tuple(sorted((q.name, q.variable or "") for q in facts.queues)),
        tuple(sorted((e.target, e.queue or "", e.queue_variable or "", e.typed) for e in facts.enqueues)),
    )


__all__ = [
    "Enqueue",
    "FileFacts",
    "QueueRegistration",
    "Symbol",
    "WorkspaceIndex",
    "facts_from_model",
    "file_stamp",
    "fuzzy_score",
    "module_name",
    "python_files",
    "scan_text",
]
