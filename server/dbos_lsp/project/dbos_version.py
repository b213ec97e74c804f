"""Which DBOS version a project targets, found without importing anything.

Order: the ``dbosVersion`` setting (handled by the engine), the ``dbos``
distribution installed in the project's environment (its metadata file), the
requirement in ``pyproject.toml`` / ``requirements*.txt`` / ``uv.lock``, else
the newest release.
"""

from __future__ import annotations

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


def declared_version(root: str | None) -> tuple[str, str] | None:
    """(version, where) from the project's lock file or requirements, if it names one."""
    if not root:
        return None
    base = Path(root)
    lock = base / "uv.lock"
    candidates = [lock, base / "pyproject.toml", *sorted(base.glob("requirements*.txt"))]
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        match = (_UV_LOCK if path == lock else _REQUIREMENT).search(text)
        if match:
            return match.group(1), f"the dbos requirement in {path.name}"
    return None
