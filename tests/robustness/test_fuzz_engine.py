"""Property tests on the pure engine: ``analyze``, code actions and hover on mutated DBOS code.

Invariants: nothing raises, no rule fails, every span lies inside the text (code points,
LSP line splitting), every fix and every code action applies cleanly and, when the
original text parsed, leaves text that still parses.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from rb_support import OTHER_LINE_BREAKS, apply_op, documents, edit_ops, fuzz_settings, lsp_lines, parses

from dbos_lsp.analysis.findings import Position, Span
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.features.code_actions import code_actions
from dbos_lsp.features.hover import hover_markdown
from dbos_lsp.knowledge.skills import load_library

LIBRARY = load_library()


def check_span(text: str, span: Span, what: str) -> tuple[int, int]:
    lines = lsp_lines(text)
    for pos in (span.start, span.end):
        assert 0 <= pos.line < len(lines), f"{what}: line {pos.line} outside {len(lines)} lines"
        assert 0 <= pos.character <= len(lines[pos.line]), (
            f"{what}: column {pos.character} outside line {pos.line} ({len(lines[pos.line])} code points)"
        )
    assert span.start <= span.end, f"{what}: start after end {span}"
    return _offset(text, span.start), _offset(text, span.end)


def _offset(text: str, pos: Position) -> int:
    starts = [0]
    i = 0
    for line in lsp_lines(text)[:-1]:
        i += len(line)
        i += 2 if text.startswith("\r\n", i) else 1
        starts.append(i)
    return starts[pos.line] + pos.character


def apply_checked(text: str, edits, what: str) -> str:
    resolved = sorted((*check_span(text, e.span, what), e.new_text) for e in edits)
    for a, b in itertools.pairwise(resolved):
        assert b[0] >= a[1], f"{what}: overlapping edits {a} {b}"
    for start, end, new in reversed(resolved):
        text = text[:start] + new + text[end:]
    return text


@st.composite
def mutated_documents(draw) -> str:
    text = draw(documents())
    for _ in range(draw(st.integers(0, 6))):
        text = apply_op(text, draw(edit_ops(text)))
    if draw(st.integers(0, 4)) == 0:
        # Characters str.splitlines breaks at but Python and the LSP do not (nor may the engine).
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(OTHER_LINE_BREAKS)) + text[at:]
    return text


def check_engine(text: str, hover_points: list[tuple[int, int]] = ()) -> None:
    analysis = analyze(text)
    assert analysis.rule_errors == [], analysis.rule_errors
    was_valid = parses(text)
    for f in analysis.findings:
        check_span(text, f.span, f"{f.code} span")
        if f.fix is not None and f.fix.edits:
            fixed = apply_checked(text, f.fix.edits, f"{f.code} fix {f.fix.title!r}")
            if was_valid:
                assert parses(fixed), f"{f.code} fix {f.fix.title!r} breaks the file:\n{fixed}"
    if analysis.syntax_error is not None:
        check_span(text, analysis.syntax_error.span, "syntax error span")
    lines = lsp_lines(text)
    everything = Span(Position(0, 0), Position(len(lines) - 1, len(lines[-1])))
    for action in code_actions(text, analysis, everything, None, analyze):
        fixed = apply_checked(text, action.edits, f"action {action.title!r}")
        if was_valid:
            assert parses(fixed), f"action {action.title!r} breaks the file:\n{fixed}"
    for line, col in hover_points:
        line = min(line, len(lines) - 1)
        col = min(col, len(lines[line]))
        result = hover_markdown(text, line, col, analysis, LIBRARY, analysis.model)
        if result is not None:
            markdown, span = result
            assert isinstance(markdown, str) and markdown
            check_span(text, span, "hover span")


@fuzz_settings(ci_examples=200, long_examples=3000)
@given(
    text=mutated_documents(),
    hover_points=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 60)), max_size=3),
)
def test_engine_invariants(text: str, hover_points):
    check_engine(text, hover_points)


def test_engine_invariants_on_every_source_file():
    from rb_support import SOURCES

    for text in SOURCES:
        check_engine(text, [(i, 8) for i in range(0, 60, 3)])
        check_engine(text.replace("\n", "\r\n"))
