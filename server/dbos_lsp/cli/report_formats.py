"""Renderers for ``dbos-lsp check``: text, JSON, SARIF 2.1.0, GitHub annotations, statistics, diffs.

Pure functions of findings (``Problem``-like objects with ``.path`` and ``.finding``)
and a few plain inputs; nothing here reads files or writes streams.  Positions in the
model are 0-based lines and code-point columns; every format here is 1-based.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Protocol
from urllib.parse import quote

from dbos_lsp.analysis.findings import Finding, Severity, Span

TOOL_NAME = "dbos-lsp"
INFORMATION_URI = "https://github.com/dbos-lsp/dbos-lsp"
SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"


class ProblemLike(Protocol):
    path: str
    finding: Finding


@dataclass(frozen=True)
class Notice:
    """A problem with a file or the configuration rather than a finding (stderr, SARIF
    tool notifications, GitHub annotations)."""

    message: str
    level: str = "error"  # "error" or "warning"
    path: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based, code points
    # A file that could not be analysed ("syntax-error", "unreadable", "rule-error"): also an
    # entry of the JSON output, so a consumer tells "clean" from "not analysed".
    kind: str | None = None

    def text(self) -> str:
        if self.path is None:
            return f"warning: {self.message}" if self.level == "warning" else self.message
        where = self.path
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: {self.message}"


# ----- helpers ------------------------------------------------------------------------------


def sarif_level(severity: Severity) -> str:
    return {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(severity, "note")


def github_command(severity: Severity) -> str:
    return {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(severity, "notice")


def relative_path(path: str, cwd: str) -> str:
    """``path`` relative to ``cwd`` with ``/`` separators, or absolute when outside it."""
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, cwd)
    except ValueError:  # another drive on Windows
        return PurePath(absolute).as_posix()
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return PurePath(absolute).as_posix()
    return PurePath(rel).as_posix()


def utf16_column(line: str | None, character: int) -> int:
    """A 0-based code-point column as a 0-based UTF-16 code-unit column."""
    if line is None or line.isascii():
        return character
    head = line[:character]
    return character + sum(1 for ch in head if ord(ch) > 0xFFFF)


# ----- text and JSON ------------------------------------------------------------------------


def text_line(path: str, f: Finding) -> str:
    return f"{path}:{f.span.start.line + 1}:{f.span.start.character + 1}: {f.code} [{f.name}] {f.message}"


def related_lines(path: str, f: Finding, cwd: str | None = None) -> list[str]:
    """The places that explain a finding (the helper chain down to a clock read), one
    indented ``path:line:col: message`` line each, under the finding's own line."""
    out = []
    for r in f.related:
        where = path if r.path is None else relative_path(r.path, cwd or os.getcwd())
        out.append(f"  {where}:{r.span.start.line + 1}:{r.span.start.character + 1}: {r.message}")
    return out


def _related_json(path: str, f: Finding, cwd: str | None) -> list[dict]:
    return [
        {
            "path": path if r.path is None else relative_path(r.path, cwd or os.getcwd()),
            "line": r.span.start.line + 1,
            "column": r.span.start.character + 1,
            "end_line": r.span.end.line + 1,
            "end_column": r.span.end.character + 1,
            "message": r.message,
        }
        for r in f.related
    ]


def _pos(p) -> dict:
    return {"line": p.line + 1, "column": p.character + 1}


def notice_to_json(n: Notice) -> dict:
    """A file that was not analysed, as a JSON entry shaped like a finding with no rule
    (``code`` null, as Ruff reports syntax errors)."""
    line, column = n.line or 1, n.column or 1
    return {
        "path": n.path,
        "line": line,
        "column": column,
        "end_line": line,
        "end_column": column,
        "code": None,
        "name": n.kind,
        "severity": "error",
        "message": n.message,
        "fix": None,
        "related": [],
    }


def finding_to_json(path: str, f: Finding, cwd: str | None = None) -> dict:
    fix = None
    if f.fix is not None:
        fix = {
            "title": f.fix.title,
            "safe": f.fix.safe,
            "edits": [
                {"start": _pos(e.span.start), "end": _pos(e.span.end), "new_text": e.new_text} for e in f.fix.edits
            ],
        }
    return {
        "path": path,
        "line": f.span.start.line + 1,
        "column": f.span.start.character + 1,
        "end_line": f.span.end.line + 1,
        "end_column": f.span.end.character + 1,
        "code": f.code,
        "name": f.name,
        "severity": f.severity.label,
        "message": f.message,
        "fix": fix,
        "related": _related_json(path, f, cwd),
    }


# ----- GitHub workflow commands -------------------------------------------------------------


def escape_data(value: str) -> str:
    """Escape a workflow command's message (after ``::``)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command property value (``file=``, ``title=``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, properties: Sequence[tuple[str, object]], message: str) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties if v is not None)
    return f"::{name} {props}::{escape_data(message)}" if props else f"::{name}::{escape_data(message)}"


def github_annotation(path: str, f: Finding) -> str:
    s, e = f.span.start, f.span.end
    props = [
        ("file", path),
        ("line", s.line + 1),
        ("col", s.character + 1),
        ("endLine", e.line + 1),
        ("endColumn", e.character + 1),
        ("title", f"{f.code} {f.name}"),
    ]
    return _command(github_command(f.severity), props, f.message)


def github_notice(notice: Notice, path: str | None = None) -> str:
    props = [("file", path if path is not None else notice.path), ("line", notice.line), ("col", notice.column)]
    props.append(("title", TOOL_NAME))
    return _command("warning" if notice.level == "warning" else "error", props, notice.message)


def github_lines(problems: Iterable[ProblemLike], notices: Iterable[Notice] = (), cwd: str | None = None) -> list[str]:
    """One annotation per finding and per file notice; paths relative to ``cwd``."""
    cwd = cwd or os.getcwd()
    out = [github_annotation(relative_path(p.path, cwd), p.finding) for p in problems]
    for n in notices:
        out.append(github_notice(n, relative_path(n.path, cwd) if n.path else None))
    return out


# ----- SARIF 2.1.0 --------------------------------------------------------------------------


def _rule_descriptor(rule, url: str | None) -> dict:
    d: dict[str, Any] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
        "defaultConfiguration": {"level": sarif_level(rule.severity)},
        "properties": {
            "tags": ["dbos", rule.skill],
            "fix": rule.fix,
            # As the engine applies them, e.g. "error (2.7-3.3), information (3.4+)" and "2.7+".
            "severity": rule.severity_text(),
            "dbosVersions": rule.versions_text(),
            "scope": rule.scope,
        },
    }
    if url:
        d["helpUri"] = url
        d["help"] = {"text": f"{rule.summary}. See {url}", "markdown": f"{rule.summary}. [Documentation]({url})"}
    return d


def _line(lines: Sequence[str] | None, index: int) -> str | None:
    return lines[index] if lines is not None and 0 <= index < len(lines) else None


def _region(file_lines: Sequence[str] | None, span: Span) -> dict:
    s, e = span.start, span.end
    return {
        "startLine": s.line + 1,
        "startColumn": utf16_column(_line(file_lines, s.line), s.character) + 1,
        "endLine": e.line + 1,
        "endColumn": utf16_column(_line(file_lines, e.line), e.character) + 1,
    }


def _artifact(path: str, cwd: str) -> dict:
    rel = relative_path(path, cwd)
    if Path(rel).is_absolute() or PurePath(rel).as_posix().startswith("/"):
        return {"uri": Path(rel).as_uri()}
    return {"uri": quote(rel, safe="/"), "uriBaseId": SRCROOT}


def sarif_log(
    problems: Sequence[ProblemLike],
    tool_version: str,
    cwd: str | None = None,
    lines: Mapping[str, Sequence[str]] | None = None,
    notices: Sequence[Notice] = (),
    rules: Sequence[Any] | None = None,
) -> dict:
    """A SARIF 2.1.0 log with one run.  ``lines`` (path → the file's lines) lets columns be
    converted to UTF-16 code units, SARIF's default ``columnKind``; without a file's lines
    its columns are code points (the same unless the line has characters beyond U+FFFF)."""
    from dbos_lsp.features.hover import rule_url

    cwd = os.path.abspath(cwd or os.getcwd())
    if rules is None:
        from dbos_lsp.rules import REGISTRY

        rules = sorted(REGISTRY.values(), key=lambda r: r.code)
    lines = lines or {}
    descriptors = [_rule_descriptor(r, rule_url(r)) for r in rules]
    index = {r.code: i for i, r in enumerate(rules)}
    results = []
    for p in problems:
        f = p.finding
        file_lines = lines.get(p.path)
        region = _region(file_lines, f.span)
        result: dict[str, Any] = {
            "ruleId": f.code,
            "level": sarif_level(f.severity),
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": _artifact(p.path, cwd), "region": region}}],
        }
        if f.related:
            result["relatedLocations"] = [
                {
                    "id": i,
                    "message": {"text": r.message},
                    "physicalLocation": {
                        "artifactLocation": _artifact(p.path if r.path is None else r.path, cwd),
                        "region": _region(lines.get(p.path if r.path is None else r.path), r.span),
                    },
                }
                for i, r in enumerate(f.related)
            ]
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        results.append(result)
    notifications = []
    for n in notices:
        note: dict[str, Any] = {"level": "warning" if n.level == "warning" else "error", "message": {"text": n.message}}
        if n.path is not None:
            loc: dict[str, Any] = {"artifactLocation": _artifact(n.path, cwd)}
            if n.line is not None:
                loc["region"] = {"startLine": n.line, "startColumn": n.column or 1}
            note["locations"] = [{"physicalLocation": loc}]
        notifications.append(note)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": tool_version,
                "semanticVersion": tool_version,
                "informationUri": INFORMATION_URI,
                "rules": descriptors,
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": Path(cwd).as_uri().rstrip("/") + "/"}},
        "columnKind": "utf16CodeUnits",
        "results": results,
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


# ----- statistics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    code: str
    name: str
    count: int
    fixable: int


def statistics(problems: Iterable[ProblemLike], unsafe_fixes: bool = False) -> list[Statistic]:
    """Findings per rule, most frequent first (ties by code)."""
    counts: dict[str, list] = {}
    for p in problems:
        f = p.finding
        entry = counts.setdefault(f.code, [f.name, 0, 0])
        entry[1] += 1
        if f.fix is not None and f.fix.edits and (unsafe_fixes or f.fix.safe):
            entry[2] += 1
    stats = [Statistic(code, name, n, fixable) for code, (name, n, fixable) in counts.items()]
    return sorted(stats, key=lambda s: (-s.count, s.code))


def statistics_lines(stats: Sequence[Statistic]) -> list[str]:
    """``COUNT  CODE  [*] name``: ``[*]`` marks rules with findings ``--fix`` can fix."""
    if not stats:
        return []
    width = max(len(str(s.count)) for s in stats)
    return [f"{s.count:>{width}}  {s.code}  {'[*]' if s.fixable else '   '} {s.name}" for s in stats]


def statistics_json(stats: Sequence[Statistic]) -> list[dict]:
    return [{"code": s.code, "name": s.name, "count": s.count, "fixable": s.fixable} for s in stats]


# ----- diffs --------------------------------------------------------------------------------


def unified_diff(path: str, old: str, new: str) -> str:
    """A ``git diff``-style unified diff of one file (``a/PATH`` → ``b/PATH``)."""
    from dbos_lsp.analysis.source_text import split_lines

    old_lines = split_lines(old, keepends=True)
    new_lines = split_lines(new, keepends=True)
    out: list[str] = []
    for line in difflib.unified_diff(old_lines, new_lines, fromfile=f"a/{path}", tofile=f"b/{path}"):
        if line.endswith(("\n", "\r")):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)
