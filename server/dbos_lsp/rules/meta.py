"""DBOS901: suppression comments that silence nothing.

Unlike other rules this one needs the findings of every other rule, so the
engine calls :func:`unused_suppressions` after them instead of the registry.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable

from dbos_lsp.analysis.findings import Edit, Finding, Fix, Position, Severity, Span
from dbos_lsp.analysis.source_text import SourceText
from dbos_lsp.analysis.suppression import comment_line, line_suppressions
from dbos_lsp.rules.registry import BY_NAME, Rule, rule

_ANY_SUPPRESSION = re.compile(r"#\s*(?:noqa\b|dbos:\s*ignore\b)", re.IGNORECASE)


@rule(
    "DBOS901",
    "unused-suppression",
    Severity.INFORMATION,
    "suppressions",
    "A `# noqa: DBOSnnn` or `# dbos: ignore[...]` comment that suppresses nothing",
    fix="safe",
)
def _registered_only(ctx):  # the engine runs this rule itself, after the others
    return iter(())


def unused_suppressions(
    source: SourceText, all_findings: list[Finding], ran: Iterable[Rule], rule_901: Rule
) -> list[Finding]:
    if "#" not in source.text:
        return []
    ran_codes = {r.code for r in ran}
    by_line: dict[int, list[Finding]] = {}
    for f in all_findings:
        by_line.setdefault(comment_line(source.lines, f.span.start.line), []).append(f)
    lines = sorted({source.line_of_offset(m.start()) for m in _ANY_SUPPRESSION.finditer(source.text)})
    out: list[Finding] = []
    for index in lines:
        line = source.line(index)
        for sup in line_suppressions(line):
            if sup.codes is None or not _is_comment(line, sup.start):
                continue  # a bare ``noqa`` comment is shared with other linters; strings are not comments
            findings = by_line.get(index, [])
            unused = [c for c in sorted(sup.codes) if _ours(c, ran_codes) and not _used(c, findings)]
            if unused:
                out.append(_finding(rule_901, line, index, sup.start, sup.end, unused))
    return out


def _is_comment(line: str, col: int) -> bool:
    """Whether ``line[col]`` starts a real comment (not a ``#`` inside a string)."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line.lstrip() + "\n").readline):
            if tok.type == tokenize.COMMENT:
                return tok.start[1] + len(line) - len(line.lstrip()) <= col
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return False
    return False


def _ours(code: str, ran_codes: set[str]) -> bool:
    rule_by_name = BY_NAME.get(code.lower())
    key = rule_by_name.code if rule_by_name else code
    return key in ran_codes and key != "DBOS901"


def _used(code: str, findings: list[Finding]) -> bool:
    return any(f.code == code or f.name.upper() == code for f in findings)


def _finding(rule_901: Rule, line: str, index: int, start: int, end: int, unused: list[str]) -> Finding:
    keep = [c for c in _codes_in_order(line[start:end]) if c.upper() not in unused]
    comment = line[start:end]
    message = f"unused suppression: no {', '.join(unused)} finding on this line"
    where = Span(Position(index, start), Position(index, end))
    if keep:
        head = re.match(r"#\s*(noqa\s*:\s*|dbos:\s*ignore\s*\[)", comment, re.IGNORECASE)
        if head is None:  # never: ``line_suppressions`` found a list of codes in this comment
            return Finding(rule_901.code, rule_901.name, message, where, rule_901.severity)
        tail = "]" if comment.rstrip().endswith("]") else ""
        new_text, span = head.group(0) + ", ".join(keep) + tail, Span(Position(index, start), Position(index, end))
        title = f"Remove unused {', '.join(unused)} from the suppression"
    elif line[end:].strip():
        # More comment text follows: drop only the suppression, keep the rest a comment.
        new_text, span = "#", Span(Position(index, start), Position(index, end))
        title = "Remove unused suppression"
    else:
        cut = len(line[:start].rstrip())
        if not line[:start].strip():
            cut = start  # a comment on its own line: keep the indentation, drop the text
        new_text, span = "", Span(Position(index, cut), Position(index, end))
        title = "Remove unused suppression comment"
    fix = Fix(title, True, (Edit(span, new_text),))
    return Finding(
        rule_901.code,
        rule_901.name,
        message,
        where,
        rule_901.severity,
        fix,
    )


def _codes_in_order(comment: str) -> list[str]:
    body = re.sub(r"^#\s*(noqa\s*:|dbos:\s*ignore\s*\[)", "", comment, flags=re.IGNORECASE)
    return [c for c in re.split(r"[\s,\]]+", body) if c]
