"""Rule fixtures with inline expectations.

Each file in ``fixtures/rules`` marks the lines where a finding must start with
``# expect: DBOS101[, DBOS104]``.  Every other line must stay silent, so each
fixture is a positive and a negative test at once.  Every fix offered on a
fixture must give code that parses and that the rule no longer flags there.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dbos_lsp.analysis.source_text import apply_edits
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.rules import REGISTRY

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "rules").glob("*.py"))
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")


def expected(text: str) -> set[tuple[int, str]]:
    out = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = EXPECT.search(line)
        if m:
            out.update((lineno, code.strip()) for code in m.group(1).split(",") if code.strip())
    return out


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_findings_match_expectations(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    analysis = analyze(text)
    assert analysis.rule_errors == []
    got = {(f.span.start.line + 1, f.code) for f in analysis.findings}
    assert got == expected(text)


def test_every_async_rule_has_a_fixture() -> None:
    covered = {code for fixture in FIXTURES for _, code in expected(fixture.read_text())}
    async_rules = {code for code in REGISTRY if code.startswith("DBOS1")}
    assert async_rules <= covered


def _parses(text: str, allow_top_level_await: bool) -> bool:
    flags = ast.PyCF_ONLY_AST | (ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if allow_top_level_await else 0)
    try:
        compile(text, "<fixed>", "exec", flags)
        return True
    except SyntaxError:
        return False


def _fix_cases():
    for fixture in FIXTURES:
        text = fixture.read_text(encoding="utf-8")
        for f in analyze(text).findings:
            if f.fix is not None:
                yield pytest.param(
                    fixture, f.span.start.line, f.code, id=f"{fixture.stem}:{f.span.start.line + 1}:{f.code}"
                )


@pytest.mark.parametrize("fixture,line,code", list(_fix_cases()))
def test_fix_parses_and_clears_the_finding(fixture: Path, line: int, code: str) -> None:
    text = fixture.read_text(encoding="utf-8")
    before = analyze(text)
    finding = next(f for f in before.findings if f.span.start.line == line and f.code == code)
    fixed = apply_edits(text, finding.fix.edits)
    had_top_level_await = not _parses(text, allow_top_level_await=False)
    assert _parses(fixed, allow_top_level_await=had_top_level_await), fixed
    after = analyze(fixed)
    count = lambda a: sum(1 for f in a.findings if f.code == code)  # noqa: E731
    assert count(after) == count(before) - 1
