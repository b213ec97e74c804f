"""Settings from ``[tool.dbos-lsp]`` in the nearest ``pyproject.toml``, merged with the editor's.

The file is found by walking up from the analysed file and re-read only when
its modification time changes.  The editor's values override the file's, key
by key, so a team's pyproject sets the baseline and a user can still adjust.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dbos_lsp.analysis.path_patterns import is_excluded
from dbos_lsp.analysis.settings import Settings, parse_settings, setting_name

# Keys a repository's own pyproject may not set: choosing the Python environment means
# choosing what runs, and a checked repository must never decide that.
_INVOCATION_ONLY = frozenset({"environment_path"})


def _toml():
    # Imported on first use: most sessions read one pyproject, and startup time counts.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def toml_loads(text: str) -> dict[str, Any]:
    """``tomllib.loads`` (``tomli`` on Python 3.10); raises ``ValueError`` on bad TOML."""
    return _toml().loads(text)


_cache: dict[str, tuple[float, dict[str, Any], list[str]]] = {}


def find_pyproject(start: str | Path) -> Path | None:
    path = Path(start)
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            return pyproject
    return None


def read_tool_table(pyproject: Path) -> tuple[dict[str, Any], list[str]]:
    """The ``[tool.dbos-lsp]`` table and messages about problems reading it."""
    key = str(pyproject)
    try:
        mtime = pyproject.stat().st_mtime
    except OSError:
        return {}, []
    cached = _cache.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1], cached[2]
    errors: list[str] = []
    table: dict[str, Any] = {}
    tomllib = _toml()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        raw = data.get("tool", {}).get("dbos-lsp", {})
        if isinstance(raw, dict):
            table = {k: v for k, v in raw.items() if not (isinstance(k, str) and setting_name(k) in _INVOCATION_ONLY)}
            for key in raw.keys() - table.keys():
                errors.append(
                    f"{pyproject}: [tool.dbos-lsp] {key} is ignored: a repository cannot choose the Python "
                    "environment; pass --environment-path or set the editor's environmentPath"
                )
        else:
            errors.append(f"{pyproject}: [tool.dbos-lsp] must be a table; ignored")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        errors.append(f"{pyproject}: cannot read [tool.dbos-lsp]: {exc}; using defaults")
    _cache[key] = (mtime, table, errors)
    return table, errors


def settings_for(file_path: str | None, editor: Mapping[str, Any] | None = None) -> tuple[Settings, list[str]]:
    """Settings for one file: pyproject first, editor values on top."""
    errors: list[str] = []
    merged: dict[str, Any] = {}
    root: str | None = None
    if file_path:
        pyproject = find_pyproject(file_path)
        if pyproject is not None:
            table, errors = read_tool_table(pyproject)
            merged.update(table)
            root = str(pyproject.parent)
    if editor is not None and not isinstance(editor, Mapping):
        errors = [*errors, f"editor settings must be an object, got {type(editor).__name__}; ignored"]
    elif editor:
        merged.update(editor)
    settings, parse_errors = parse_settings(merged)
    if root is not None:
        settings = settings.with_overrides(config_root=root)
    return settings, [*errors, *parse_errors]


def exclusion_test(editor: Mapping[str, Any] | None = None) -> Callable[[str], bool]:
    """``excluded(path)`` by the ``exclude`` of each path's settings (nearest pyproject, then
    ``editor`` on top), settings cached per folder: what the walkers of ``dbos-lsp check``
    and the server's index use, so both leave out the same files."""
    cache: dict[str, Settings] = {}

    def excluded(path: str) -> bool:
        folder = os.path.dirname(os.path.abspath(path))
        settings = cache.get(folder)
        if settings is None:
            settings = cache[folder] = settings_for(path, editor)[0]
        return bool(settings.exclude) and is_excluded(path, settings)

    return excluded
