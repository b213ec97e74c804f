"""User settings: one immutable object, parsed leniently from editor or file input.

Keys are accepted in camelCase (editor settings), kebab-case (pyproject) and
snake_case.  A bad value never raises: it is dropped, the default stays, and a
one-line message explains what was ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dbos_lsp.analysis.findings import Severity


@dataclass(frozen=True)
class Settings:
    # Rule selection by code, name or code prefix ("DBOS1").  Empty select = all rules.
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    # Per-rule severity overrides, keyed by code or name.
    severity: Mapping[str, Severity] = field(default_factory=dict)
    # "3.4", "2.31"...  None means: newest release.
    dbos_version: str | None = None
    # Python interpreter or virtualenv that jedi resolves imports against.
    environment_path: str | None = None
    # Extra skill folders whose documents extend hover text.
    extra_skill_paths: tuple[str, ...] = ()
    # Push-mode debounce, in milliseconds (server only).
    push_debounce_ms: int = 150
    # Glob (relative to ``config_root``) -> rule selectors ignored in matching files.
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Globs of files not to analyse at all.
    exclude: tuple[str, ...] = ()
    # Folder of the pyproject.toml the file settings came from; globs are relative to it.
    config_root: str | None = None
    # Files larger than this many bytes are skipped: not read, indexed or analysed (4 MB).
    max_file_bytes: int = 4 * 1024 * 1024
    # Hover text: "compact" (signature, summary and links, about 600 characters) or "full" (every rule section).
    hover_detail: str = "compact"
    # Show the file's syntax error as a diagnostic in the editor (off: Pylance and Ruff already show it).
    show_syntax_errors: bool = False

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_ALIASES = {
    "select": "select",
    "ignore": "ignore",
    "severity": "severity",
    "dbosversion": "dbos_version",
    "environmentpath": "environment_path",
    "extraskillpaths": "extra_skill_paths",
    "pushdebouncems": "push_debounce_ms",
    "debounce": "push_debounce_ms",
    "perfileignores": "per_file_ignores",
    "exclude": "exclude",
    "maxfilebytes": "max_file_bytes",
    "hoverdetail": "hover_detail",
    "showsyntaxerrors": "show_syntax_errors",
}


def setting_name(raw_key: str) -> str | None:
    """The ``Settings`` field a key names in any spelling (``environment-path``,
    ``environmentPath``...), or None for keys of other tools."""
    return _ALIASES.get(_key(raw_key))


def _key(raw: str) -> str:
    return raw.replace("-", "").replace("_", "").lower()


def _str_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    return None


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Return settings built on ``base`` from a mapping, and messages about ignored input."""
    settings = base or Settings()
    errors: list[str] = []
    if raw is None:
        return settings, errors
    if not isinstance(raw, Mapping):
        return settings, [f"settings must be an object, got {type(raw).__name__}; using defaults"]
    changes: dict[str, Any] = {}
    for raw_key, value in raw.items():
        if not isinstance(raw_key, str):
            errors.append(f"ignored setting with non-string key {raw_key!r}")
            continue
        name = _ALIASES.get(_key(raw_key))
        if name is None:
            continue  # unknown keys belong to other tools sharing the section
        if name in ("select", "ignore", "extra_skill_paths", "exclude"):
            items = _str_list(value)
            if items is None:
                errors.append(f"setting {raw_key!r} must be a list of strings; ignored")
            else:
                changes[name] = items
        elif name == "severity":
            if not isinstance(value, Mapping):
                errors.append(f"setting {raw_key!r} must map rule codes to severities; ignored")
                continue
            parsed: dict[str, Severity] = {}
            for rule, sev in value.items():
                try:
                    parsed[str(rule)] = Severity.parse(str(sev))
                except ValueError as exc:
                    errors.append(f"severity for {rule!r}: {exc}; ignored")
            changes[name] = parsed
        elif name == "per_file_ignores":
            if not isinstance(value, Mapping):
                errors.append(f"setting {raw_key!r} must map file globs to lists of rules; ignored")
                continue
            table: dict[str, tuple[str, ...]] = {}
            for pattern, rules in value.items():
                items = _str_list(rules)
                if not isinstance(pattern, str) or items is None:
                    errors.append(f"{raw_key}: entry {pattern!r} must map a glob to a list of rules; ignored")
                else:
                    table[pattern] = items
            changes[name] = table
        elif name in ("dbos_version", "environment_path"):
            if value is None or value == "":
                changes[name] = None
            elif isinstance(value, (str, int, float)):
                changes[name] = str(value).strip()
            else:
                errors.append(f"setting {raw_key!r} must be a string; ignored")
        elif name == "push_debounce_ms":
            if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 10_000:
                changes[name] = int(value)
            else:
                errors.append(f"setting {raw_key!r} must be a number of milliseconds (0..10000); ignored")
        elif name == "max_file_bytes":
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                changes[name] = value
            else:
                errors.append(f"setting {raw_key!r} must be a positive number of bytes; ignored")
        elif name == "show_syntax_errors":
            if isinstance(value, bool):
                changes[name] = value
            else:
                errors.append(f"setting {raw_key!r} must be true or false; ignored")
        elif name == "hover_detail":
            if isinstance(value, str) and value.strip().lower() in ("compact", "full"):
                changes[name] = value.strip().lower()
            else:
                errors.append(f'setting {raw_key!r} must be "compact" or "full"; ignored')
    if "dbos_version" in changes and changes["dbos_version"] is not None:
        if parse_version(changes["dbos_version"]) is None:
            errors.append(f"dbosVersion {changes['dbos_version']!r} is not a version like '3.4'; ignored")
            del changes["dbos_version"]
    return replace(settings, **changes), errors


def parse_version(text: str) -> tuple[int, ...] | None:
    """``"3"`` -> (3, 0, 0), ``"2.31.1"`` -> (2, 31, 1).  Padded so that ``(3,)`` cannot
    compare below ``(3, 0)`` in the rules' version gates."""
    parts: list[int] = []
    for piece in text.strip().lstrip("vV=").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits or not piece[0].isdigit():
            break
        parts.append(int(digits))
    if not parts:
        return None
    return tuple(parts) + (0,) * (3 - len(parts))
