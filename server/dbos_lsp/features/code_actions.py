"""Code actions as plain data: quick fixes, "disable for this line" and fix-all.

Pure functions of (text, analysis, range); the server turns ``Action`` into LSP
``CodeAction`` objects.  A finding's actions are offered for any range on a line it
spans, so a zero-width cursor at column 0 of a flagged line gets them.  Every edit set
is checked to leave the file parseable (when it parsed before), so a fix never turns a
warning into a syntax error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dbos_lsp.analysis.findings import Analysis, Edit, Finding, Position, Span
from dbos_lsp.analysis.parsing import block_around as _block_around
from dbos_lsp.analysis.parsing import compile_module
from dbos_lsp.analysis.source_text import SourceText, apply_edits, non_overlapping, split_lines
from dbos_lsp.analysis.suppression import comment_line, disable_comment_edit

QUICKFIX = "quickfix"
FIX_ALL = "source.fixAll.dbos"
FIX_ALL_TITLE = "Fix all safe DBOS problems"
FIX_ALL_ROUNDS = 5


@dataclass
class Action:
    title: str
    kind: str
    edits: list[Edit]
    is_preferred: bool = False
    codes: tuple[str, ...] = ()
    findings: list[Finding] = field(default_factory=list)
    # Fix-all whose edits the client asks for when chosen (``codeAction/resolve``).
    deferred: bool = False


def wants(kind: str, only: Iterable[str] | None) -> bool:
    """LSP kind matching: ``source.fixAll`` asks for ``source.fixAll.dbos`` too."""
    if only is None:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def parses(text: str) -> bool:
    try:
        compile_module(text, "<dbos-lsp-fix>")
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def edited_blocks_parse(text: str, edits: list[Edit], lines: list[str] | None = None) -> bool:
    """Whether the top-level statements an edit touches still parse afterwards.

    Only those statements are cut out, edited and compiled, so a quick fix costs the
    size of its statement, not of the file; fix-all still checks the whole result.
    ``lines`` (``split_lines(text, keepends=True)``) may be passed to share the split."""
    if lines is None:
        lines = split_lines(text, keepends=True)
    if not lines:
        return parses(apply_edits(text, edits))
    blocks: dict[tuple[int, int], list[Edit]] = {}
    for e in edits:
        first = _block_around(lines, min(e.span.start.line, len(lines) - 1))
        last = _block_around(lines, min(e.span.end.line, len(lines) - 1))
        blocks.setdefault((first[0], max(first[1], last[1])), []).append(e)
    for (lo, hi), block_edits in blocks.items():
        local = [
            Edit(
                Span(
                    Position(e.span.start.line - lo, e.span.start.character),
                    Position(e.span.end.line - lo, e.span.end.character),
                ),
                e.new_text,
            )
            for e in block_edits
        ]
        if not parses(apply_edits("".join(lines[lo:hi]), local)):
            return False
    return True


FixAllResult = tuple[Edit, tuple[str, ...]] | None


def code_actions(
    text: str,
    analysis: Analysis,
    span: Span,
    only: Iterable[str] | None = None,
    reanalyze: Callable[[str], Analysis] | None = None,
    fix_all_of: Callable[[], FixAllResult] | None = None,
    defer_fix_all: bool = False,
) -> list[Action]:
    """Quick fixes and "disable" comments for the findings on the lines ``span`` touches
    (the cursor may be anywhere on a flagged line, as with Ruff), and fix-all.

    Fix-all re-analyses the file up to :data:`FIX_ALL_ROUNDS` times (about a second at
    12,000 lines), so it must not run on every cursor move: ``fix_all_of`` lets the caller
    share one result per document version, and with ``defer_fix_all`` the fix-all actions
    come back without edits (``Action.deferred``) for the client to resolve on choice."""
    only = list(only) if only is not None else None
    if fix_all_of is None:

        def fix_all_of() -> FixAllResult:
            return fix_all(text, analysis, reanalyze)

    def fix_all_action(kind: str) -> Action | None:
        if analysis.syntax_error is not None:
            return None  # fixing a file that does not parse is guesswork
        if defer_fix_all:
            return Action(FIX_ALL_TITLE, kind, [], False, (), deferred=True)
        assert fix_all_of is not None
        fixed = fix_all_of()
        return None if fixed is None else Action(FIX_ALL_TITLE, kind, [fixed[0]], False, fixed[1])

    actions: list[Action] = []
    if wants(QUICKFIX, only):
        quick = quick_fixes(text, analysis, span)
        actions.extend(quick)
        # Fix-all in the ordinary menu too (Neovim and Emacs show no source actions there),
        # next to a safe fix, whenever it changes anything (Ruff offers it whenever one
        # fix exists).  Never preferred: the flagged line's own fix is.
        if any(a.is_preferred for a in quick) and (action := fix_all_action(QUICKFIX)) is not None:
            actions.append(action)
    # Source fix-all only when asked for (VS Code's "Fix all", codeActionsOnSave).
    if only is not None and wants(FIX_ALL, only) and any(f.fix and f.fix.safe for f in analysis.findings):
        if (action := fix_all_action(FIX_ALL)) is not None:
            actions.append(action)
    return actions


def lines_of(span: Span) -> tuple[int, int]:
    """First and last line a span covers; an end at column 0 of a later line (a whole-line
    selection) does not reach into that line."""
    last = span.end.line
    if span.end.character == 0 and last > span.start.line:
        last -= 1
    return span.start.line, last


def shares_a_line(a: Span, b: Span) -> bool:
    a_first, a_last = lines_of(a)
    b_first, b_last = lines_of(b)
    return a_first <= b_last and b_first <= a_last


def quick_fixes(text: str, analysis: Analysis, span: Span) -> list[Action]:
    source = SourceText(text)
    lines = split_lines(text, keepends=True)
    was_valid = analysis.syntax_error is None
    fixes: list[Action] = []
    disables: list[Action] = []
    seen_disable: set[tuple[int, str]] = set()
    for f in analysis.findings:
        if not shares_a_line(f.span, span):
            continue
        if f.fix is not None and f.fix.edits:
            edits = list(f.fix.edits)
            if not was_valid or edited_blocks_parse(text, edits, lines):
                title = f"{f.fix.title} ({f.code})"
                if not f.fix.safe:
                    title = f"{f.fix.title} ({f.code}; may change behaviour)"
                fixes.append(Action(title, QUICKFIX, edits, f.fix.safe, (f.code,), [f]))
        line = comment_line(source.lines, f.span.start.line)
        if (line, f.code) in seen_disable:
            continue
        seen_disable.add((line, f.code))
        text_line = source.line(line)
        start, end, new_text = disable_comment_edit(text_line, f.code)
        if start == end and not new_text:
            continue  # already suppressed
        edit = Edit(Span(Position(line, start), Position(line, end)), new_text)
        if was_valid and not edited_blocks_parse(text, [edit], lines):
            continue  # e.g. the line ends inside a multi-line string
        disables.append(Action(f"Disable {f.code} for this line", QUICKFIX, [edit], False, (f.code,), [f]))
    return fixes + disables


def fix_all(
    text: str, analysis: Analysis, reanalyze: Callable[[str], Analysis] | None = None
) -> tuple[Edit, tuple[str, ...]] | None:
    """Apply safe fixes in rounds; return one edit covering the changed lines, and the codes fixed."""
    result = fix_text(text, analysis, reanalyze)
    if result.text == text:
        return None
    return minimal_edit(text, result.text), tuple(dict.fromkeys(f.code for f in result.applied))


@dataclass
class FixResult:
    text: str  # the fixed text (``text`` itself when nothing applied)
    applied: list[Finding]  # every finding whose fix went in, in the order applied
    # The analysis of ``text`` when the loop already computed it (None otherwise).
    analysis: Analysis | None = None


def fix_text(
    text: str,
    analysis: Analysis,
    reanalyze: Callable[[str], Analysis] | None = None,
    unsafe: bool = False,
    rounds: int = FIX_ALL_ROUNDS,
) -> FixResult:
    """The fix-all loop: apply non-overlapping fixes (safe ones only unless ``unsafe``),
    re-analyse, repeat until nothing applies or ``rounds`` run out.  A text with a syntax
    error is returned unchanged; every round's result parses."""
    if analysis.syntax_error is not None:
        return FixResult(text, [], analysis)  # fixing a file that does not parse is guesswork
    if reanalyze is None:
        from dbos_lsp.engine.pipeline import analyze

        reanalyze = analyze
    current, applied = text, []
    current_analysis: Analysis | None = analysis
    for _ in range(rounds):
        if current_analysis is None:
            current_analysis = reanalyze(current)
        fixable = [f for f in current_analysis.findings if f.fix is not None and (unsafe or f.fix.safe) and f.fix.edits]
        if not fixable:
            break
        updated, taken = _apply_round(current, fixable)
        if not taken or updated == current:
            break
        current, current_analysis = updated, None
        applied.extend(taken)
    return FixResult(current, applied, current_analysis)


def _fix_edits(f: Finding) -> tuple[Edit, ...]:
    return f.fix.edits if f.fix is not None else ()  # the callers pass fixable findings only


def _apply_round(text: str, findings: list[Finding]) -> tuple[str, list[Finding]]:
    groups = [_fix_edits(f) for f in findings]
    chosen = non_overlapping(groups, text)
    taken = [f for f in findings if all(e in chosen for e in _fix_edits(f))]
    result = apply_edits(text, chosen)
    if parses(result):
        return result, taken
    # One fix broke the file: keep only the fixes that parse on their own, one by one.
    kept: list[Finding] = []
    for f in taken:
        edits = [e for k in kept for e in _fix_edits(k)] + list(_fix_edits(f))
        if parses(apply_edits(text, edits)):
            kept.append(f)
    return apply_edits(text, [e for k in kept for e in _fix_edits(k)]), kept


def minimal_edit(old: str, new: str) -> Edit:
    """One edit turning ``old`` into ``new``, replacing whole lines only (keeps line endings intact)."""
    old_lines = split_lines(old, keepends=True)
    new_lines = split_lines(new, keepends=True)
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while tail < min(len(old_lines), len(new_lines)) - head and old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    end_line = len(old_lines) - tail
    replacement = "".join(new_lines[head : len(new_lines) - tail])
    return Edit(Span(Position(head, 0), _line_start(old_lines, end_line)), replacement)


def _line_start(lines: list[str], index: int) -> Position:
    if index < len(lines):
        return Position(index, 0)
    # End of the document: after the last line's text (it may lack a newline).
    if not lines:
        return Position(0, 0)
    last = lines[-1]
    if last.endswith(("\n", "\r")):
        return Position(len(lines), 0)
    return Position(len(lines) - 1, len(last))
