"""Which DBOS version a project targets, found without importing anything.

Order: the ``dbosVersion`` setting (handled by the engine), the ``dbos``
distribution installed in the project's environment (its metadata file), the
requirement in the nearest ``pyproject.toml`` / ``requirements*.txt`` / ``uv.lock``
walking up from the file (a uv workspace member: its workspace's ``uv.lock``), else
the newest release.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import sys
from pathlib import Path

_DIST_INFO = re.compile(r"^dbos-(\d+(?:\.\d+)*)[^/]*\.dist-info$", re.IGNORECASE)
# "dbos>=3.1", "dbos[otel]==2.31.0", "dbos ~= 3.0": the first version number after dbos.
_REQUIREMENT = re.compile(
    r"""(?:^|["'\s,\[])dbos(?:\[[^\]]*\])?\s*(?:==|>=|~=|===|>)\s*(\d+(?:\.\d+)*)""", re.IGNORECASE | re.M
)
_UV_LOCK = re.compile(r'\[\[package\]\]\s*\nname\s*=\s*"dbos"\s*\nversion\s*=\s*"([^"]+)"', re.M)


def installed_version(environment: str | None) -> tuple[str, str] | None:
    """(version, where) of the ``dbos`` distribution in a venv or interpreter prefix."""
    prefixes: list[str] = []
    if environment:
        env = Path(environment)
        # Accept a venv folder or a python executable inside one.
        prefixes.append(str(env.parent.parent if env.is_file() else env))
    else:
        prefixes.append(sys.prefix)
    for prefix in prefixes:
        patterns = [
            os.path.join(prefix, "lib", "python*", "site-packages", "dbos-*.dist-info"),
            os.path.join(prefix, "Lib", "site-packages", "dbos-*.dist-info"),
        ]
        for pattern in patterns:
            for path in sorted(glob.glob(pattern)):
                match = _DIST_INFO.match(os.path.basename(path))
                if match:
                    return match.group(1), f"dbos {match.group(1)} installed in {prefix}"
    return None


def declared_version(start: str | None, stop: str | None = None) -> tuple[str, str] | None:
    """(version, where) from the nearest lock file or requirement naming ``dbos``, walking up
    from the folder ``start`` to ``stop`` (the workspace root, included) or, without one, to
    ``start``'s nearest project folder (one with a ``pyproject.toml``, ``setup.py``,
    ``setup.cfg``, ``requirements*.txt`` or ``uv.lock``).

    In each folder: its ``uv.lock``, then (for a member of a uv workspace, whose root's
    ``pyproject.toml`` lists it) the workspace root's ``uv.lock``, then ``pyproject.toml``,
    then ``requirements*.txt``.  So a ``requirements.txt`` one folder above the sources
    counts, and a workspace member gets the version its workspace locked."""
    if not start:
        return None
    folder = os.path.abspath(start)
    limit = os.path.abspath(stop) if stop else None
    if limit is not None and not _is_within(folder, limit):
        limit = None  # a file outside the workspace: its own project decides
    while True:
        found = _declared_in(Path(folder))
        if found is not None:
            return found
        if folder == limit or (limit is None and _is_project_folder(folder)):
            return None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _declared_in(base: Path) -> tuple[str, str] | None:
    lock = base / "uv.lock"
    found = _search(lock, _UV_LOCK)
    if found is not None:
        return found[0], f"the dbos requirement in {lock.name}"
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        workspace_lock = _workspace_lock(base)
        if workspace_lock is not None:
            found = _search(workspace_lock, _UV_LOCK)
            if found is not None:
                where = os.path.relpath(workspace_lock, base)
                return found[0], f"the dbos version locked in the uv workspace's {where}"
    for path in [pyproject, *sorted(base.glob("requirements*.txt"))]:
        found = _search(path, _REQUIREMENT)
        if found is not None:
            return found[0], f"the dbos requirement in {path.name}"
    return None


def _search(path: Path, pattern: re.Pattern[str]) -> tuple[str] | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = pattern.search(text)
    return (match.group(1),) if match else None


def _workspace_lock(member: Path) -> Path | None:
    """The ``uv.lock`` of the uv workspace ``member`` belongs to: the nearest folder above
    it whose ``pyproject.toml`` has ``[tool.uv.workspace]`` with ``members`` matching it
    (and no ``exclude`` matching it), as uv finds it."""
    for root in member.parents:
        table = _uv_workspace_table(root / "pyproject.toml")
        if table is None:
            continue
        rel = member.relative_to(root).as_posix()
        members = [m for m in table.get("members", ()) if isinstance(m, str)]
        excluded = [m for m in table.get("exclude", ()) if isinstance(m, str)]
        if _matches(rel, members) and not _matches(rel, excluded):
            return root / "uv.lock"
        return None  # the nearest workspace does not list it: a project of its own
    return None


def _matches(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p.rstrip("/").removeprefix("./")) for p in patterns)


_WORKSPACE_TABLES: dict[str, tuple[int, dict | None]] = {}


def _uv_workspace_table(pyproject: Path) -> dict | None:
    """``[tool.uv.workspace]`` of a ``pyproject.toml`` (None: no such table or no file),
    re-read only when the file changes."""
    try:
        mtime = pyproject.stat().st_mtime_ns
    except OSError:
        return None
    key = str(pyproject)
    cached = _WORKSPACE_TABLES.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    table: dict | None = None
    try:
        text = pyproject.read_text(encoding="utf-8", errors="replace")
        if "workspace" in text:
            from dbos_lsp.project.config import toml_loads

            found = toml_loads(text).get("tool", {}).get("uv", {}).get("workspace")
            table = found if isinstance(found, dict) else None
    except (OSError, ValueError):  # tomllib.TOMLDecodeError is a ValueError
        table = None
    _WORKSPACE_TABLES[key] = (mtime, table)
    return table


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _is_project_folder(folder: str) -> bool:
    from dbos_lsp.project.files import is_project_folder

    return is_project_folder(folder)
