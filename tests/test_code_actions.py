"""Unit tests of the pure code-action module (no server)."""

from __future__ import annotations

from dbos_lsp.analysis.findings import Analysis, Edit, Finding, Fix, Position, Severity, Span
from dbos_lsp.analysis.source_text import apply_edits
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.features.code_actions import FIX_ALL, QUICKFIX, code_actions, fix_all, minimal_edit, parses, wants

MIXED = """import asyncio

from dbos import DBOS, SQLAlchemyDatasource

ds = SQLAlchemyDatasource.create("postgresql://localhost/app")


@DBOS.step()
async def s1() -> int:
    return 1


@ds.transaction()
def tx(x: int) -> int:
    return x


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(30)
    DBOS.set_event("k", "v")
    await asyncio.gather(s1(), s1())
    tx(1)
"""

EVERYWHERE = Span(Position(0, 0), Position(100, 0))


def line_span(line: int) -> Span:
    return Span(Position(line, 0), Position(line, 200))


def test_quick_fixes_for_the_range_only():
    a = analyze(MIXED)
    actions = code_actions(MIXED, a, line_span(19), [QUICKFIX])
    assert [(x.title, x.is_preferred) for x in actions] == [
        ("Use `await DBOS.sleep_async(...)` (DBOS101)", True),
        ("Disable DBOS101 for this line", False),
        ("Fix all safe DBOS problems", False),  # next to a safe fix, in the plain menu too
    ]
    assert actions[2].kind == QUICKFIX
    fixed = apply_edits(MIXED, actions[0].edits)
    assert "    await DBOS.sleep_async(30)\n" in fixed
    assert "DBOS.sleep(" not in fixed.replace("sleep_async", "")


def test_unsafe_fix_is_offered_but_not_preferred():
    a = analyze(MIXED)
    actions = code_actions(MIXED, a, line_span(22), [QUICKFIX])
    fix = [x for x in actions if x.codes == ("DBOS109",) and not x.title.startswith("Disable")][0]
    assert not fix.is_preferred and "may change behaviour" in fix.title
    assert "await asyncio.to_thread(tx, 1)" in apply_edits(MIXED, fix.edits)


def test_disable_for_this_line_suppresses():
    a = analyze(MIXED)
    (disable,) = [x for x in code_actions(MIXED, a, line_span(19)) if x.title.startswith("Disable")]
    fixed = apply_edits(MIXED, disable.edits)
    assert "    DBOS.sleep(30)  # noqa: DBOS101\n" in fixed
    assert not [f for f in analyze(fixed).findings if f.span.start.line == 19]


def test_disable_extends_an_existing_noqa_list():
    text = MIXED.replace("DBOS.sleep(30)", "DBOS.sleep(30)  # noqa: E501")
    a = analyze(text)
    (disable,) = [x for x in code_actions(text, a, line_span(19)) if x.title.startswith("Disable")]
    assert "# noqa: E501, DBOS101" in apply_edits(text, disable.edits)


def test_fix_all_applies_safe_fixes_only_in_one_edit():
    a = analyze(MIXED)
    actions = code_actions(MIXED, a, EVERYWHERE, ["source.fixAll"])
    assert [x.kind for x in actions] == [FIX_ALL]
    (edit,) = actions[0].edits
    fixed = apply_edits(MIXED, [edit])
    assert "await DBOS.sleep_async(30)" in fixed and 'await DBOS.set_event_async("k", "v")' in fixed
    assert "return_exceptions" not in fixed and "to_thread" not in fixed
    assert edit.span.start == Position(19, 0) and edit.span.end == Position(21, 0)  # only the changed lines
    after = {f.code for f in analyze(fixed).findings}
    assert "DBOS101" not in after and {"DBOS108", "DBOS109"} <= after
    assert set(actions[0].codes) == {"DBOS101"}


def test_fix_all_iterates_rounds():
    # Round 1 fixes one edit; the re-analysis finds the next (simulated with a fake analyzer).
    calls = []

    def finding(text: str) -> list[Finding]:
        if "b = 2" in text:
            return []
        target = "a = 1" if "a = 1" in text else "b = 1"
        line = text.splitlines().index(target)
        new = "a = 2" if target == "a = 1" else "b = 2"
        fix = Fix("bump", True, (Edit(Span(Position(line, 0), Position(line, 5)), new),))
        return [Finding("DBOS999", "fake", "m", Span(Position(line, 0), Position(line, 5)), Severity.WARNING, fix)]

    def reanalyze(text: str) -> Analysis:
        calls.append(text)
        return Analysis(findings=finding(text))

    text = "a = 1\nb = 1\n"
    result = fix_all(text, Analysis(findings=finding(text)), reanalyze)
    assert result is not None and apply_edits(text, [result[0]]) == "a = 2\nb = 2\n"
    assert len(calls) == 2


def test_fix_that_breaks_parsing_is_dropped():
    text = "x = 1\n"
    bad = Fix("break", True, (Edit(Span(Position(0, 0), Position(0, 1)), "def ("),))
    f = Finding("DBOS999", "fake", "m", Span(Position(0, 0), Position(0, 1)), Severity.WARNING, bad)
    a = Analysis(findings=[f])
    assert [x.title for x in code_actions(text, a, EVERYWHERE, [QUICKFIX])] == ["Disable DBOS999 for this line"]
    assert fix_all(text, a, lambda t: Analysis()) is None


def test_no_fix_all_on_a_file_with_a_syntax_error():
    text = MIXED + "\ndef broken(:\n"
    a = analyze(text)
    assert a.syntax_error is not None and any(f.fix and f.fix.safe for f in a.findings)
    assert code_actions(text, a, EVERYWHERE, [FIX_ALL]) == []
    # Quick fixes still work there.
    assert any(x.is_preferred for x in code_actions(text, a, line_span(19), [QUICKFIX]))


def test_kind_matching():
    assert wants(FIX_ALL, ["source.fixAll"]) and wants(FIX_ALL, ["source"]) and wants(FIX_ALL, None)
    assert not wants(FIX_ALL, ["quickfix"]) and not wants(QUICKFIX, ["source.fixAll"])
    assert not wants(FIX_ALL, ["source.fixAll.ruff"])


def test_minimal_edit_keeps_line_endings_and_end_of_file():
    old, new = "a\r\nb\r\nc", "a\r\nB\r\nc"
    e = minimal_edit(old, new)
    assert apply_edits(old, [e]) == new and e.span == Span(Position(1, 0), Position(2, 0))
    old, new = "a\nb", "a\nbb"
    assert apply_edits(old, [minimal_edit(old, new)]) == new
    assert parses("x = 1\n") and not parses("def (")


def test_non_ascii_columns_are_code_points():
    text = (
        "# café 🚀\nfrom dbos import DBOS\n\n\n"
        '@DBOS.workflow()\nasync def wf() -> None:\n    s = "héllo 🚀"; DBOS.sleep(1)\n'
    )
    a = analyze(text)
    (f,) = a.findings
    assert (f.span.start.character, f.span.end.character) == (19, 29)
    (fix,) = [x for x in code_actions(text, a, f.span, [QUICKFIX]) if x.is_preferred]
    assert '    s = "héllo 🚀"; await DBOS.sleep_async(1)\n' in apply_edits(text, fix.edits)


def test_actions_from_anywhere_on_the_flagged_line_only():
    a = analyze(MIXED)
    line = MIXED.splitlines()[19]
    for col in (0, len(line)):  # a zero-width cursor at column 0 and at the line end
        titles = [x.title for x in code_actions(MIXED, a, Span(Position(19, col), Position(19, col)), [QUICKFIX])]
        assert "Use `await DBOS.sleep_async(...)` (DBOS101)" in titles and "Disable DBOS101 for this line" in titles
    assert code_actions(MIXED, a, Span(Position(18, 0), Position(18, 0))) == []  # `async def wf()`
    whole_line = code_actions(MIXED, a, Span(Position(19, 0), Position(20, 0)), [QUICKFIX])
    assert all(f.span.start.line == 19 for x in whole_line for f in x.findings)  # not line 20's
