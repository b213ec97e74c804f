"""Regenerate the settings table in README.md and clients/vscode/README.md from the settings code.

Usage: python scripts/gen_settings_table.py [--check]
With --check, exit 1 when either README is out of date instead of writing them.

The rows come from the ``Settings`` dataclass in server/dbos_lsp/analysis/settings.py: every
field that ``parse_settings`` accepts a key for, with its default and the comment above it.
So a new setting appears in both READMEs as soon as it is added there.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from dbos_lsp.analysis import settings as settings_module  # noqa: E402
from dbos_lsp.project import config as config_module  # noqa: E402

# Keys a repository's pyproject.toml may not set (the project config drops them with a message).
INVOCATION_ONLY = frozenset(getattr(config_module, "_INVOCATION_ONLY", ()))

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"
READMES = (ROOT / "README.md", ROOT / "clients" / "vscode" / "README.md")

# Where the code comment alone would not tell a user enough (or names internals).
MEANING = {
    "ignore": "Rules to disable, by code, name or code prefix.",
    "push_debounce_ms": "How long the server waits after an edit before it pushes diagnostics to an editor "
    "that does not pull them (0-10000 ms).",
    "per_file_ignores": "File glob (relative to the `pyproject.toml`'s folder) → rules ignored in matching files.",
    "dbos_version": 'DBOS version the version-dependent rules assume, e.g. `"3.4"`. '
    "Unset: detected, see *Which DBOS version?* below.",
    "environment_path": "Python interpreter or virtualenv of the project: jedi resolves imports against it and "
    "the installed `dbos` version is read from it.",
}
DEFAULT = {
    "dbos_version": "detected",
    "environment_path": "`$VIRTUAL_ENV` of the server process, else the server's own",
}
TYPES = {
    "tuple[str, ...]": "list of strings",
    "Mapping[str, Severity]": "table: rule → `error` / `warning` / `information` / `hint`",
    "Mapping[str, tuple[str, ...]]": "table: glob → list of rules",
    "str | None": "string",
    "int": "integer",
    "bool": "boolean",
}
VERSION_NOTE = """\
**Which DBOS version?** Rules for removed or changed APIs depend on it. The first that applies wins:

1. the `dbosVersion` setting (`dbos-version` in `pyproject.toml`, `--dbos-version` for `dbos-lsp check`);
2. when the project's environment is known (`environmentPath`, else the `VIRTUAL_ENV` the server was
   started with, e.g. from the shell that started the editor; `--environment-path` for `check`): the
   `dbos` distribution installed there (read from its metadata, never imported), else the
   nearest `uv.lock`, `pyproject.toml` or `requirements*.txt` naming `dbos`, walking up from the
   file (a uv workspace member: its workspace's `uv.lock`);
3. otherwise: that requirement, else the `dbos` installed in the interpreter running the server;
4. else the newest DBOS release dbos-lsp knows.

Findings that depend on it say which version they assumed and why."""


@dataclasses.dataclass(frozen=True)
class Row:
    field: str
    editor: str  # camelCase, as editors send it
    pyproject: str  # kebab-case, as in [tool.dbos-lsp]; "" when a repository may not set it
    type: str
    default: str
    meaning: str


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _field_comments() -> dict[str, str]:
    """The ``#`` comment block right above each field of ``Settings``, joined into one sentence."""
    source = inspect.getsource(settings_module)
    lines = source.splitlines()
    cls = next(
        n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == settings_module.Settings.__name__
    )
    out: dict[str, str] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            comment: list[str] = []
            i = stmt.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#"):
                comment.insert(0, lines[i].strip().lstrip("#").strip())
                i -= 1
            out[stmt.target.id] = re.sub(r"\s+", " ", " ".join(comment)).strip()
    return out


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if value == () or value == []:
        return "`[]`"
    if value == {}:
        return "`{}`"
    if value is None:
        return "none"
    return f"`{value!r}`"


def rows() -> list[Row]:
    accepted = set(settings_module._ALIASES.values())  # fields a user can set; the rest are internal
    comments = _field_comments()
    out = []
    for f in dataclasses.fields(settings_module.Settings):
        if f.name not in accepted:
            continue
        meaning = MEANING.get(f.name) or comments.get(f.name) or ""
        if meaning and not meaning.endswith("."):
            meaning += "."
        out.append(
            Row(
                field=f.name,
                editor=_camel(f.name),
                pyproject="" if f.name in INVOCATION_ONLY else f.name.replace("_", "-"),
                type=TYPES.get(str(f.type), f"`{f.type}`"),
                default=DEFAULT.get(f.name, _default(f)),
                meaning=meaning,
            )
        )
    return out


def render() -> str:
    table = [
        "| editor setting (`dbos.` section) | `[tool.dbos-lsp]` key | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for r in rows():
        pyproject = f"`{r.pyproject}`" if r.pyproject else "— (editor or command line only)"
        cells = [f"`{r.editor}`", pyproject, r.type, r.default, r.meaning]
        table.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return (
        "<!-- generated by scripts/gen_settings_table.py from server/dbos_lsp/analysis/settings.py -->\n"
        + "\n".join(table)
        + "\n\n"
        + VERSION_NOTE
    )


def updated(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + render() + "\n" + readme[end:]


def main() -> int:
    stale = []
    for path in READMES:
        current = path.read_text(encoding="utf-8")
        new = updated(current)
        if new == current:
            continue
        if "--check" in sys.argv:
            stale.append(path.relative_to(ROOT).as_posix())
        else:
            path.write_text(new, encoding="utf-8")
    if stale:
        print(f"settings table out of date in {', '.join(stale)}: run python scripts/gen_settings_table.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
