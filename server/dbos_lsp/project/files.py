"""The project's Python files: which ones exist, which project they belong to, their text.

One walker (skipped folders, ``exclude``, regular files only, a size limit), one
project-root rule and one safe reader, shared by ``dbos-lsp check`` and the server's
index so both see the same files.  A FIFO, device or socket named ``*.py`` is never
opened: reading one would block forever (``os.stat`` first, ``O_NONBLOCK`` in case it
changed since).
"""

from __future__ import annotations

import io
import os
import stat
import time
import tokenize
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

# Folders never descended into: virtualenvs, VCS data, caches, build output.
SKIPPED_DIRS = frozenset(
    {".venv", "venv", "node_modules", ".git", "__pycache__", "build", "dist", ".tox", ".nox", ".mypy_cache"}
)
# Default for the ``maxFileBytes`` / ``max-file-bytes`` setting.
MAX_FILE_BYTES = 4 * 1024 * 1024
# A folder with one of these files is its own application: workflow names only collide
# inside one, jedi resolves its imports from there and its DBOS version is read there.
# ``requirements*.txt`` (``requirements-dev.txt``...) counts too: see ``is_project_marker``.
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "uv.lock")


def is_project_marker(name: str) -> bool:
    """Whether a file named ``name`` makes its folder a project (application) folder."""
    return name in PROJECT_MARKERS or (name.startswith("requirements") and name.endswith(".txt"))


def is_project_folder(folder: str) -> bool:
    """Whether ``folder`` holds a project marker file (see :func:`is_project_marker`)."""
    try:
        with os.scandir(folder) as it:
            return any(is_project_marker(e.name) and _is_file(e) for e in it)
    except OSError:
        return False


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


NOT_REGULAR = "skipped: not a regular file"


def too_large_message(max_bytes: int) -> str:
    return f"skipped: larger than {_size(max_bytes)} (max-file-bytes = {max_bytes})"


def _size(n: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


class SkippedFile(Exception):
    """A file that is not read: not a regular file, or over the size limit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def skip_reason(st: os.stat_result, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """Why a file with this ``stat`` is not read, or None when it is."""
    if not stat.S_ISREG(st.st_mode):
        return NOT_REGULAR
    if st.st_size > max_bytes:
        return too_large_message(max_bytes)
    return None


def text_too_large(text: str, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """For an editor buffer: the notice when its UTF-8 size is over ``max_bytes``, else None.
    The server shows it instead of analysing the buffer."""
    if len(text) > max_bytes or (len(text) * 4 > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes):
        return too_large_message(max_bytes)
    return None


# ----- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    text: str
    bom: bool  # started with a UTF-8 byte order mark
    encoding: str  # "utf-8" unless a PEP 263 declaration says otherwise


def read_bytes(path: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes; ``SkippedFile`` for anything else or a file over the limit,
    ``OSError`` when it cannot be read."""
    reason = skip_reason(os.stat(path), max_bytes)
    if reason is not None:
        raise SkippedFile(reason)
    # O_NONBLOCK: if the path became a FIFO after the stat, open must not wait for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb", closefd=True) as fh:
        reason = skip_reason(os.fstat(fd), max_bytes)
        if reason is not None:
            raise SkippedFile(reason)
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew since the stat
        raise SkippedFile(too_large_message(max_bytes))
    return data


def decode_source(data: bytes) -> SourceFile:
    """Text as Python reads it: UTF-8 unless a PEP 263 ``# -*- coding: ... -*-`` line says
    otherwise; a leading BOM is dropped.  Raises ``UnicodeDecodeError`` (or ``LookupError``
    for an unknown declared encoding)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # no usable declaration: UTF-8, whose decode error says where
        encoding = "utf-8"
    bom = data.startswith(b"\xef\xbb\xbf")
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    return SourceFile(data.decode("utf-8-sig" if encoding == "utf-8" else encoding), bom, encoding)


def read_source(path: str, max_bytes: int = MAX_FILE_BYTES) -> SourceFile:
    """``read_bytes`` then ``decode_source``."""
    return decode_source(read_bytes(path, max_bytes))


def read_text_or_none(path: str, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """The text of a readable, decodable regular file, else None (for indexing)."""
    try:
        return read_source(path, max_bytes).text
    except (OSError, SkippedFile, UnicodeDecodeError, LookupError, SyntaxError):
        return None


# ----- walking ---------------------------------------------------------------------------


def _skipped_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or name.endswith(".egg-info")


def walk_python_files(
    roots: Iterable[str],
    excluded: Callable[[str], bool] | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    skipped: Callable[[str, str], None] | None = None,
) -> Iterator[str]:
    """Every regular ``*.py`` file under ``roots`` within ``max_bytes``, sorted per folder,
    each file once (by inode), never descending into skipped folders, folder symlinks or
    paths ``excluded`` rejects.  ``skipped(path, reason)`` hears about the ``*.py`` entries
    left out for their type or size (not about excluded ones)."""
    seen: set[tuple[int, int]] = set()
    for root in roots:
        if not root:
            continue
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            subdirs: list[str] = []
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir:
                    if not _skipped_dir(entry.name) and not (excluded is not None and excluded(entry.path)):
                        subdirs.append(entry.path)
                    continue
                if not entry.name.endswith(".py"):
                    continue
                if excluded is not None and excluded(entry.path):
                    continue
                try:
                    st = entry.stat()  # follows a file symlink (to /dev/zero, say)
                except OSError:
                    continue
                reason = skip_reason(st, max_bytes)
                if reason is not None:
                    if skipped is not None:
                        skipped(entry.path, reason)
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                yield entry.path
            stack.extend(reversed(subdirs))  # depth first, in name order


# ----- the project root ------------------------------------------------------------------


class ProjectRoots:
    """``find(path)``: the nearest folder at or above ``path``'s folder holding a project
    marker (``pyproject.toml``, ``setup.py``, ``setup.cfg``, ``uv.lock``,
    ``requirements*.txt``), or None: the application ``path`` belongs to (separate example
    apps, each with its own pyproject or requirements, are separate).  Answers are cached
    per folder; ``ttl`` seconds (None: for the object's lifetime, as one CLI run wants)."""

    def __init__(self, ttl: float | None = 10.0) -> None:
        self.ttl = ttl
        self._cache: dict[str, tuple[float, str | None]] = {}

    def find(self, path: str) -> str | None:
        return self.find_from(os.path.dirname(os.path.abspath(path)))

    def find_from(self, folder: str) -> str | None:
        now = time.monotonic()
        chain: list[str] = []
        result: str | None = None
        while True:
            cached = self._cache.get(folder)
            if cached is not None and (self.ttl is None or now - cached[0] < self.ttl):
                result = cached[1]
                break
            chain.append(folder)
            if is_project_folder(folder):
                result = folder
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        for f in chain:
            self._cache[f] = (now, result)
        return result


_DEFAULT_ROOTS = ProjectRoots()


def project_root(path: str) -> str | None:
    """The nearest project folder of ``path`` (see :class:`ProjectRoots`), cached 10 s."""
    return _DEFAULT_ROOTS.find(path)


def same_path(a: str, b: str) -> bool:
    return norm_path(a) == norm_path(b)


def norm_path(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


__all__ = [
    "MAX_FILE_BYTES",
    "NOT_REGULAR",
    "PROJECT_MARKERS",
    "SKIPPED_DIRS",
    "ProjectRoots",
    "SkippedFile",
    "SourceFile",
    "decode_source",
    "is_project_folder",
    "is_project_marker",
    "norm_path",
    "project_root",
    "read_bytes",
    "read_source",
    "read_text_or_none",
    "same_path",
    "skip_reason",
    "text_too_large",
    "too_large_message",
    "walk_python_files",
]
