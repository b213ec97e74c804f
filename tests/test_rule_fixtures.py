"""Rule fixtures with inline expectations, and golden files for their fixes.

Each file in ``fixtures/rules`` marks every line where a finding starts with a comment
(in the spirit of Go's ``analysistest`` ``// want`` comments)::

    DBOS.sleep(30)  # expect: DBOS101@5-19 "`DBOS\\.sleep\\(\\)` raises RuntimeError"

One comment holds one or more comma-separated expectations ``CODE[@RANGE] ["PATTERN"]``:

- ``RANGE`` is ``START-END`` (columns on this line) or ``START-LINE:END`` (the finding ends
  on another line) or ``LINE:START-LINE:END`` (the start line must be this line).  Lines and
  columns are 1-based, columns count Unicode code points, and ``END`` is exclusive: the
  flagged text of ``@5-19`` is ``line[4:18]``.
- ``PATTERN`` is a regular expression searched (``re.search``) in the finding's message;
  ``\\"`` stands for a double quote.
- A bare ``CODE`` (no range, no pattern) pins only the line and the code.  Every
  expectation pins both unless its fixture is listed in ``UNPINNED`` with the reason.

Every other line must stay silent, so each fixture is a positive and a negative test at
once.  ``scripts/pin_fixture_expectations.py`` rewrites the comments from the engine's
current output (review its diff: that output becomes the specification).

Fixes: every fix offered on a fixture must give code that parses and that the rule no
longer flags there.  ``X.py.fixed`` holds the text of ``X.py`` after every safe fix, applied
the way ``dbos-lsp check --fix`` applies them; no ``.fixed`` file means the safe fixes leave
the fixture unchanged.  Regenerate with ``DBOS_LSP_UPDATE_GOLDEN=1 pytest tests/test_rule_fixtures.py``.
"""

from __future__ import annotations

import ast
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from dbos_lsp.analysis.findings import Finding
from dbos_lsp.analysis.source_text import apply_edits
from dbos_lsp.cli.main import FIX_ROUNDS, main
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.features.code_actions import fix_text
from dbos_lsp.rules import REGISTRY

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "rules"
FIXTURES = sorted(FIXTURE_DIR.glob("*.py"))
UPDATE_GOLDEN = os.environ.get("DBOS_LSP_UPDATE_GOLDEN") == "1"

# Fixtures whose expectations may stay bare (line and code only), with the reason.
UNPINNED: dict[str, str] = {}

EXPECT = re.compile(r"#\s*expect:(.*)$")
_ITEM = re.compile(
    r"""\s*(?P<code>[A-Z]+[0-9]+)
        (?:@(?:(?P<l1>\d+):)?(?P<c1>\d+)-(?:(?P<l2>\d+):)?(?P<c2>\d+))?
        (?:\s+"(?P<pattern>(?:[^"\\]|\\.)*)")?
        \s*(?P<sep>,|$)""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Expectation:
    line: int  # 1-based, the line holding the comment (where the finding starts)
    code: str
    span: tuple[int, int, int, int] | None  # 1-based (line, col, end line, end col), end exclusive
    pattern: str | None

    def matches(self, f: Finding) -> bool:
        return (
            f.code == self.code
            and f.span.start.line + 1 == self.line
            and (self.span is None or self.span == span_of(f))
            and (self.pattern is None or re.search(self.pattern, f.message) is not None)
        )


def span_of(f: Finding) -> tuple[int, int, int, int]:
    s, e = f.span.start, f.span.end
    return (s.line + 1, s.character + 1, e.line + 1, e.character + 1)


def written(span: tuple[int, int, int, int] | None) -> str:
    """A span as an expectation writes it: ``@5-19`` or ``@31:6-33:6``."""
    if span is None:
        return ""
    line, col, end_line, end_col = span
    return f"@{col}-{end_col}" if end_line == line else f"@{line}:{col}-{end_line}:{end_col}"


def parse_expectations(text: str) -> list[Expectation]:
    """The expectations of one fixture; a malformed comment raises ValueError."""
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = EXPECT.search(line)
        if m is None:
            continue
        rest, pos = m.group(1), 0
        while True:
            item = _ITEM.match(rest, pos)
            if item is None or item.end() == pos:
                raise ValueError(f"line {lineno}: cannot read expectation {rest[pos:]!r}")
            span = None
            if item["c1"] is not None:
                start_line = int(item["l1"] or lineno)
                if start_line != lineno:
                    raise ValueError(f"line {lineno}: a finding's expectation goes on its start line")
                span = (lineno, int(item["c1"]), int(item["l2"] or lineno), int(item["c2"]))
            pattern = item["pattern"]
            if pattern is not None:
                re.compile(pattern)  # a bad pattern is the fixture's error, not a mismatch
            out.append(Expectation(lineno, item["code"], span, pattern))
            pos = item.end()
            if item["sep"] != ",":
                break
    return out


def mismatches(expectations: list[Expectation], findings: list[Finding]) -> list[str]:
    """What does not match, both ways; empty when the fixture holds."""
    # Pinned expectations first, so a bare one cannot take the finding a pinned one needs.
    ordered = sorted(expectations, key=lambda e: (e.span is None, e.pattern is None))
    left = list(findings)
    problems = []
    for e in ordered:
        hit = next((f for f in left if e.matches(f)), None)
        if hit is None:
            pattern = "" if e.pattern is None else f' "{e.pattern}"'
            problems.append(f"line {e.line}: expected {e.code}{written(e.span)}{pattern}, not found")
        else:
            left.remove(hit)
    for f in left:
        problems.append(f"line {f.span.start.line + 1}: unexpected {f.code}{written(span_of(f))} {f.message!r}")
    return problems


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_findings_match_expectations(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    analysis = analyze(text)
    assert analysis.rule_errors == []
    assert mismatches(parse_expectations(text), analysis.findings) == []


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_expectations_pin_span_and_message(fixture: Path) -> None:
    if fixture.name in UNPINNED:
        return
    bare = [e for e in parse_expectations(fixture.read_text(encoding="utf-8")) if e.span is None or e.pattern is None]
    assert bare == [], "pin these (scripts/pin_fixture_expectations.py) or list the fixture in UNPINNED"


def test_expectation_syntax() -> None:
    text = 'x  # expect: DBOS101@5-19 "a \\"b\\"", DBOS104\ny  # expect: DBOS601@2:6-4:5 "c, d"\n'
    assert parse_expectations(text) == [
        Expectation(1, "DBOS101", (1, 5, 1, 19), 'a \\"b\\"'),
        Expectation(1, "DBOS104", None, None),
        Expectation(2, "DBOS601", (2, 6, 4, 5), "c, d"),
    ]
    assert re.search(parse_expectations(text)[0].pattern, 'a "b"')
    for bad in ["# expect: DBOS101@5", "# expect: DBOS101 unquoted", "# expect: DBOS101@3:1-3:4", "# expect:"]:
        with pytest.raises(ValueError):
            parse_expectations(f"x\n{bad}\n")


def test_every_async_rule_has_a_fixture() -> None:
    covered = {e.code for fixture in FIXTURES for e in parse_expectations(fixture.read_text())}
    async_rules = {code for code in REGISTRY if code.startswith("DBOS1")}
    assert async_rules <= covered


# ----- fixes ---------------------------------------------------------------------------------


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


def golden_path(fixture: Path) -> Path:
    return fixture.with_name(fixture.name + ".fixed")


def fixed_text(text: str) -> str:
    """``text`` after the safe fixes, as ``dbos-lsp check --fix`` computes it (cli.main._transform)."""
    return fix_text(text, analyze(text), analyze, unsafe=False, rounds=FIX_ROUNDS).text


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_safe_fixes_match_golden_file(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    fixed, golden = fixed_text(text), golden_path(fixture)
    if UPDATE_GOLDEN:
        if fixed == text:
            golden.unlink(missing_ok=True)
        else:
            golden.write_text(fixed, encoding="utf-8", newline="")
    if fixed == text:
        assert not golden.exists(), f"the safe fixes leave {fixture.name} unchanged: delete {golden.name}"
    else:
        assert golden.exists(), f"{golden.name} is missing: run with DBOS_LSP_UPDATE_GOLDEN=1"
        assert fixed == golden.read_text(encoding="utf-8")


def test_check_fix_writes_the_golden_files(tmp_path: Path) -> None:
    """The command itself, end to end, on copies of every fixture."""
    for fixture in FIXTURES:
        (tmp_path / fixture.name).write_bytes(fixture.read_bytes())
    assert main(["check", "--fix", "--exit-zero", str(tmp_path)], stdout=io.StringIO(), stderr=io.StringIO()) == 0
    for fixture in FIXTURES:
        golden = golden_path(fixture)
        want = golden.read_bytes() if golden.exists() else fixture.read_bytes()
        assert (tmp_path / fixture.name).read_bytes() == want, fixture.name


def test_golden_files_belong_to_fixtures() -> None:
    orphans = [p.name for p in FIXTURE_DIR.glob("*.fixed") if not p.with_suffix("").exists()]
    assert orphans == []
