"""Line suppressions: ``# noqa``, ``# noqa: DBOS101,name``, ``# dbos: ignore[DBOS101]``.

Only comment text is read, and only on lines that carry a finding, so the cost
is proportional to the findings, not to the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dbos_lsp.analysis.findings import Finding

_NOQA = re.compile(r"#\s*noqa\b(?::\s*(?P<codes>[\w\-]+(?:[\s,]+[\w\-]+)*))?", re.IGNORECASE)
_DBOS_IGNORE = re.compile(r"#\s*dbos:\s*ignore\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)


@dataclass(frozen=True)
class Suppression:
    codes: frozenset[str] | None  # None: every rule
    start: int  # code-point column of the comment's ``#``
    end: int


def line_suppressions(line: str) -> list[Suppression]:
    if "#" not in line:
        return []
    found: list[Suppression] = []
    for pattern in (_NOQA, _DBOS_IGNORE):
        for match in pattern.finditer(line):
            raw = match.group("codes")
            codes = None
            if raw is not None and raw.strip():
                codes = frozenset(c.strip().upper() for c in re.split(r"[\s,]+", raw) if c.strip())
            found.append(Suppression(codes, match.start(), match.end()))
    return found


def comment_line(lines: list[str], index: int) -> int:
    """The line whose comment may suppress a finding reported on ``index``: the line
    itself, or, after ``\\`` continuations, the last line of the continued statement
    (a comment cannot follow a backslash)."""
    while index + 1 < len(lines) and lines[index].rstrip().endswith("\\"):
        index += 1
    return index


def is_suppressed(finding: Finding, line: str) -> bool:
    for sup in line_suppressions(line):
        if sup.codes is None or finding.code in sup.codes or finding.name.upper() in sup.codes:
            return True
    return False


def suppression_at(line: str, character: int) -> tuple[str, int, int] | None:
    """The rule code or name under the cursor inside a suppression comment, with its columns."""
    for sup in line_suppressions(line):
        if not (sup.start <= character <= sup.end):
            continue
        for match in re.finditer(r"[\w\-]+", line[sup.start : sup.end]):
            start, end = sup.start + match.start(), sup.start + match.end()
            if start <= character <= end and match.group(0).lower() not in ("noqa", "dbos", "ignore"):
                return match.group(0), start, end
    return None


def disable_comment_edit(line: str, code: str) -> tuple[int, int, str]:
    """Where and what to write so ``code`` is suppressed on ``line``: (start, end, text).

    Extends an existing ``# noqa: ...`` list; otherwise appends a new comment.
    """
    for sup in line_suppressions(line):
        if sup.codes is None or code in sup.codes:
            return sup.end, sup.end, ""  # already suppressed
    for match in _NOQA.finditer(line):
        if match.group("codes"):
            return match.end(), match.end(), f", {code}"
    stripped = line.rstrip()
    return len(stripped), len(line), f"  # noqa: {code}"


_FILE_IGNORE = re.compile(r"^[ \t]*#\s*dbos:\s*ignore-file\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE | re.M)


def file_suppression(text: str) -> frozenset[str] | None:
    """Codes silenced for the whole file by ``# dbos: ignore-file[...]`` on its own line.

    Returns None when there is no such comment, and an empty set for "every rule".
    """
    if "ignore-file" not in text:
        return None
    codes: set[str] = set()
    for match in _FILE_IGNORE.finditer(text):
        raw = match.group("codes")
        if raw is None or not raw.strip():
            return frozenset()
        codes.update(c.strip().upper() for c in re.split(r"[\s,]+", raw) if c.strip())
    return frozenset(codes) if codes else None
