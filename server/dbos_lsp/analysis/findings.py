"""Plain data types shared by the engine, the CLI and the server.

Positions are 0-based lines and 0-based columns counted in Unicode code points
(what Python's ``str`` indexes).  The server converts them to the client's
encoding (UTF-16 or UTF-8) through pygls's position codec; the CLI adds 1.
No pygls or lsprotocol type appears here, so the engine stays editor-free.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    # Values match LSP's DiagnosticSeverity so the server can pass them through.
    ERROR = 1
    WARNING = 2
    INFORMATION = 3
    HINT = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        key = value.strip().lower()
        aliases = {"e": "error", "w": "warning", "i": "information", "info": "information", "h": "hint"}
        key = aliases.get(key, key)
        for member in cls:
            if member.label == key:
                return member
        raise ValueError(f"unknown severity {value!r} (expected error, warning, information or hint)")


@dataclass(frozen=True, order=True)
class Position:
    line: int  # 0-based
    character: int  # 0-based, code points


@dataclass(frozen=True, order=True)
class Span:
    start: Position
    end: Position

    def contains(self, pos: Position) -> bool:
        return self.start <= pos <= self.end

    def overlaps(self, other: Span) -> bool:
        return not (other.end < self.start or self.end < other.start)


@dataclass(frozen=True)
class Edit:
    """Replace the text in ``span`` with ``new_text`` (insert when the span is empty)."""

    span: Span
    new_text: str


@dataclass(frozen=True)
class Fix:
    title: str
    safe: bool
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Related:
    """Another place that explains a finding (LSP relatedInformation), e.g. the clock
    read inside the helper a workflow calls."""

    span: Span
    message: str
    path: str | None = None  # None: the finding's own file


@dataclass
class Finding:
    code: str  # "DBOS101"
    name: str  # "async-sync-dbos-call"
    message: str
    span: Span
    severity: Severity
    fix: Fix | None = None
    # Extra lines of explanation, e.g. which DBOS version was assumed.
    notes: tuple[str, ...] = ()
    related: tuple[Related, ...] = ()


@dataclass
class SyntaxProblem:
    message: str
    span: Span


@dataclass
class Analysis:
    """Everything one pass over a text produces."""

    findings: list[Finding] = field(default_factory=list)
    # Set when the text did not parse; findings then come from the blocks that did.
    syntax_error: SyntaxProblem | None = None
    # Rules that raised: (code, error text).  Logged by callers, never shown per keystroke.
    rule_errors: list[tuple[str, str]] = field(default_factory=list)
    # The DBOS version the rules assumed, and where it came from.
    dbos_version: str | None = None
    dbos_version_source: str = "newest release (no version configured)"
    # Why the text was not analysed at all (a buffer over ``maxFileBytes``), else None.
    skipped: str | None = None
    # The parsed module the findings came from, so hover need not parse again.
    model: Any = field(default=None, repr=False, compare=False)
