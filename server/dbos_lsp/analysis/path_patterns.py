"""Which settings' path patterns a file matches: ``exclude`` and ``per-file-ignores``.

Pure string work on a path and the settings' ``config_root``; no file is touched.  The
engine needs ``per_file_ignored`` and the project's walkers ``is_excluded``.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from dbos_lsp.analysis.settings import Settings

__all__ = ["is_excluded", "per_file_ignored"]


def _relative(path: str, root: str | None) -> str:
    if root:
        try:
            return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


def _match(rel: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, pattern + "/*") or rel.startswith(pattern + "/")


def is_excluded(path: str, settings: Settings) -> bool:
    rel = _relative(path, settings.config_root)
    return any(_match(rel, p) for p in settings.exclude)


def per_file_ignored(path: str | None, settings: Settings) -> tuple[str, ...]:
    if not path or not settings.per_file_ignores:
        return ()
    rel = _relative(path, settings.config_root)
    out: list[str] = []
    for pattern, rules in settings.per_file_ignores.items():
        if _match(rel, pattern) or fnmatch.fnmatch(Path(rel).name, pattern):
            out.extend(rules)
    return tuple(out)
