"""Re-analysis after an edit, reusing everything the edit did not touch.

While a user types inside one function, the rest of a 10,000-line module does
not change.  :class:`IncrementalAnalyzer` keeps, per document, the parsed
top-level statements, the module model and the findings of statement-local
rules, and after an edit:

1. finds the changed lines; if they sit inside one top-level statement and the
   line count is unchanged, parses only that statement;
2. keeps the statement's *interface* (its name, kind and decorators) the same,
   or gives up: other statements' findings may depend on it (a callee's role);
3. rebuilds the module model, taking over every other statement's walk results
   (``ModuleModel(reuse=...)``), which needs the module-level context to match;
4. re-runs statement-scope rules (``@rule(scope="statement")``) on that statement
   only, and every other rule (module and project scope: ordering, cross-function
   checks, other files) on the whole model.

An edit among the top-level imports (one added, removed, aliased) parses only the
import lines again and keeps every other statement's parse and walk, except the walks
of statements that mention a name whose binding changed, which are walked again
(``ModuleModel(carry_over=...)``; a second ``import json`` changes nothing).  When none
is, the other statements' findings are kept too; otherwise every rule runs again, still
without compiling the file.

While the edited statement does not parse (the user is typing), it is repaired
alone, exactly as the full analysis repairs a broken block
(``analysis.parsing.parse_block``): one compile of that statement per keystroke.
That is the same result as the full analysis while no other statement is broken
and the broken one is one indentation block that closes every bracket and string it
opens, or that leaves only brackets open (no later statement can close them); when it
leaves a string or a backslash continuation open, one compile of the file checks that the
file's first error is in it.  Otherwise the full path runs.

A module whose analysis used the project index (a name imported from another project
module, a helper there) keeps its unedited statements only while the caller's ``world``
stays the same: the server passes the document's epoch, which changes when a file the
analysis read changes.  Without one (None) every statement is walked again.

Anything unusual falls back to the full analysis, and the result must always
equal :func:`engine.analyze` on the same text: ``tests/test_incremental.py``
and ``tests/test_incremental_differential.py`` check that on random edits and on
statements typed one character at a time.
"""

from __future__ import annotations

import ast
import bisect
import copy
import re
from dataclasses import dataclass, replace
from typing import Any

from dbos_lsp.analysis.findings import Analysis, Edit, Finding, Position, Span
from dbos_lsp.analysis.module_model import ModuleModel, Role
from dbos_lsp.analysis.parsing import (
    Parsed,
    SyntaxErrorAt,
    block_around,
    block_end,
    compile_module,
    parse_block,
)
from dbos_lsp.analysis.resolution import ProjectIndex
from dbos_lsp.analysis.settings import Settings
from dbos_lsp.analysis.source_text import SourceText, split_lines
from dbos_lsp.engine.pipeline import RunSetup, analyze_full, finish, run_rules, setup, syntax_problem
from dbos_lsp.rules import Rule


def _statement_scope(r: Rule) -> bool:
    """Whether a rule's findings inside a top-level statement depend only on that
    statement and module-level context (its ``@rule(scope=...)``); module and project
    rules are re-run on the whole model after every edit, the safe default."""
    return r.scope == "statement"


@dataclass
class _State:
    lines: list[str]
    settings: Settings
    index: ProjectIndex | None
    path: str | None
    run: RunSetup
    model: ModuleModel
    starts: list[int]  # 0-based first line (decorators included) of each top-level statement
    ends: list[int]  # 0-based line after each statement's last line
    local: list[list[Finding]]  # raw findings of statement-local rules, per statement
    analysis: Analysis
    broken: int | None = None  # the statement that did not parse and was repaired
    error: SyntaxErrorAt | None = None  # its syntax error
    # What the caller says of everything outside the text (the server: the document's
    # epoch, bumped when a file its analysis read changes); None: unknown.
    world: Any = None


class IncrementalAnalyzer:
    """One per open document.  Not thread-safe: the server analyses a document's
    versions one at a time."""

    def __init__(self) -> None:
        self._state: _State | None = None
        self._shifter = _LineShifter()
        self._same_world = False
        self.last_was_incremental = False
        # How the last analysis ran: "full", "statement" (one statement parsed again),
        # "imports" (import lines parsed again, the rest kept) or "imports+walk" (import
        # lines parsed again, the model walked again): for tests and benchmarks.
        self.last_path = "full"

    def analyze(
        self,
        text: str,
        settings: Settings | None = None,
        index: ProjectIndex | None = None,
        path: str | None = None,
        world: Any = None,
    ) -> Analysis:
        """``world``: a value that changes whenever the project index's answers for this
        document may have (another file it read changed).  While it stays the same, an
        analysis that used the index can still reuse the statements an edit did not touch;
        without it (None) such an analysis walks every statement again."""
        settings = settings or Settings()
        lines = split_lines(text)
        self.last_path = "statement"
        state = self._state
        self._same_world = state is not None and world is not None and world == state.world
        result = self._try_incremental(text, lines, settings, index, path)
        self.last_was_incremental = result is not None
        if result is None:
            self.last_path = "full"
            result = self._full(text, lines, settings, index, path)
        if self._state is not None:
            self._state.world = world
        return result

    def _index_may_differ(self, state: _State) -> bool:
        """The last model used answers from other files, which may have changed since."""
        return state.model.used_index and not self._same_world

    # ----- the full path, which also prepares the next incremental one ---------------------

    def _full(
        self, text: str, lines: list[str], settings: Settings, index: ProjectIndex | None, path: str | None
    ) -> Analysis:
        run = setup(settings, index, path)
        analysis, raw, parsed = analyze_full(text, run, index, path)
        self._state = None
        self._shifter = _LineShifter()
        model = analysis.model
        if model is None or analysis.rule_errors:
            return analysis  # failing rules: always start afresh
        starts, ends = _statement_lines(model.tree)
        broken = None
        if analysis.syntax_error is not None:
            broken = _one_repaired_statement(parsed, starts, lines)
            if broken is None:
                return analysis  # repaired some other way: start afresh next time
        statement_codes = {r.code for r in run.rules if _statement_scope(r)}
        local = _bucket([f for f in raw if f.code in statement_codes], starts, ends)
        if local is None:
            return analysis  # a local finding outside every statement: do not guess
        self._state = _State(
            lines, settings, index, path, run, model, starts, ends, local, analysis, broken, parsed.error
        )
        return analysis

    # ----- the incremental path ------------------------------------------------------------

    def _try_incremental(
        self, text: str, lines: list[str], settings: Settings, index: ProjectIndex | None, path: str | None
    ) -> Analysis | None:
        state = self._state
        if state is None or settings != state.settings or index is not state.index or path != state.path:
            return None
        old = state.lines
        n_old, n_new = len(old), len(lines)
        first = 0
        while first < n_old and first < n_new and lines[first] == old[first]:
            first += 1
        if first == n_old == n_new:
            # Same text, asked again: something outside it may have changed (another file's
            # workflow names, what an import resolves to).  Keep the parse, re-run the rest.
            model = state.model
            if model.used_index:
                model = ModuleModel(model.tree, lines, path, index)
            return self._rerun(text, lines, state, model, None)
        same_tail = 0
        while same_tail < min(n_old, n_new) - first and old[n_old - 1 - same_tail] == lines[n_new - 1 - same_tail]:
            same_tail += 1
        # Lines [first, n_old - same_tail) of the old text became [first, n_new - same_tail).
        # The statement's block: its lines and the blank and comment lines up to the next
        # one (where Enter after a function's last line lands).
        k = bisect.bisect_right(state.starts, first) - 1
        following = state.starts[k + 1] if k + 1 < len(state.starts) else n_old
        if k >= 0 and _is_plain_import(state.model.tree.body[k]) and state.broken is None:
            return self._import_edit(text, lines, state, k, n_old - same_tail, n_new - n_old)
        if k < 0 or n_old - same_tail > following:
            return None  # the edit reaches outside one top-level statement's block
        if state.broken is not None and state.broken != k:
            return None  # another statement is broken: the full path repairs both
        delta = n_new - n_old
        start = state.starts[k]
        old_stmt = state.model.tree.body[k]
        error: SyntaxErrorAt | None = None
        new_stmt = _parse_statement(lines, start, following + delta)
        if new_stmt is not None:
            end = new_stmt.end_lineno or new_stmt.lineno
        else:
            repaired = _repair_statement(state, text, lines, k, delta)
            if repaired is None:
                return None
            new_stmt, error = repaired
            end = new_stmt.end_lineno or new_stmt.lineno
        if _interface(new_stmt) is None or _interface(new_stmt) != _interface(old_stmt):
            return None
        if _first_line(new_stmt) != start:
            return None
        state.ends[k] = end - delta  # in the old numbering, shifted with the rest below
        if delta:
            # Later statements moved: renumber their nodes in place (cheaper than parsing
            # them again) and move the findings kept from them.
            self._shifter.shift(state.model.tree.body, k + 1, delta)
            moved_from = n_old - same_tail  # old numbering: everything from here on moved
            state.local = [
                bucket if i <= k else [_shifted(f, delta, moved_from) for f in bucket]
                for i, bucket in enumerate(state.local)
            ]
            state.starts = state.starts[: k + 1] + [s + delta for s in state.starts[k + 1 :]]
            state.ends = state.ends[:k] + [end] + [e + delta for e in state.ends[k + 1 :]]
            self._state = state
        body = list(state.model.tree.body)
        body[k] = new_stmt
        tree = ast.Module(body=body, type_ignores=[])
        if self._index_may_differ(state):
            # Answers from the project index (jedi) went into roles and types: other files
            # may have changed them, so walk every statement again (the parse is still saved).
            model = ModuleModel(tree, lines, path, index)
        else:
            model = ModuleModel(tree, lines, path, index, reuse=(state.model, k))
            if not model.reused or model.run_step_targets != state.model.run_step_targets:
                return None
            model.used_index = model.used_index or state.model.used_index  # the kept walks used it
        state.broken, state.error = (k, error) if error is not None else (None, None)
        return self._rerun(text, lines, state, model, k)

    def _import_edit(
        self, text: str, lines: list[str], state: _State, k: int, end_old: int, delta: int
    ) -> Analysis | None:
        """An edit within a run of top-level import statements (one added, removed or
        changed): those lines are parsed again, every other statement's parse is kept.
        When no name the old or new imports bind is used anywhere else, the other
        statements' walks and findings are kept too; otherwise the model is walked again
        and every rule re-run (still without compiling the file)."""
        body, starts = state.model.tree.body, state.starts
        j = k
        while j + 1 < len(body) and starts[j + 1] < end_old:
            j += 1
        if not all(_is_plain_import(stmt) for stmt in body[k : j + 1]):
            return None
        region_end = starts[j + 1] if j + 1 < len(starts) else len(state.lines)
        if region_end < end_old:
            return None
        new_end = region_end + delta
        start = starts[k]
        fresh = _parse_statements(lines, start, new_end)
        if fresh is None or not all(_is_plain_import(stmt) for stmt in fresh):
            return None
        if any(_first_line(stmt) < start or (stmt.end_lineno or stmt.lineno) > new_end for stmt in fresh):
            return None
        if delta:
            self._shifter.shift(body, j + 1, delta)
        tree = ast.Module(body=[*body[:k], *fresh, *body[j + 1 :]], type_ignores=[])
        changed = {name for name, _ in _bound_names(body[k : j + 1]) ^ _bound_names(fresh)}
        new_starts, new_ends = _statement_lines(tree)
        mentions = _mentions(changed, lines, new_starts, (start, new_end))
        ids = {name: frozenset(id(tree.body[i]) for i in found) for name, found in mentions.items()}
        # Answers from other files (the project index) may have changed: walk it all again.
        carry = None if self._index_may_differ(state) else (state.model, ids)
        model = ModuleModel(tree, lines, state.path, state.index, carry_over=carry)
        if model.run_step_targets != state.model.run_step_targets:
            return None
        if carry is not None:
            model.used_index = model.used_index or state.model.used_index
        moved_from = region_end  # old numbering: everything from here on moved
        kept_after = [[_shifted(f, delta, moved_from) for f in bucket] for bucket in state.local[j + 1 :]]
        local = [*state.local[:k], *([[] for _ in fresh]), *kept_after]
        self._state = state = replace(state, starts=new_starts, ends=new_ends, local=local)
        if not model.reused or model.rewalked:
            # Other statements' findings may follow from what a name now is (a callee's role).
            self.last_path = "imports+walk"
            return self._rerun(text, lines, state, model, None, walk_all=True)
        self.last_path = "imports"
        return self._rerun(text, lines, state, model, None, statements=range(k, k + len(fresh)))

    def _rerun(
        self,
        text: str,
        lines: list[str],
        state: _State,
        model: ModuleModel,
        k: int | None,
        walk_all: bool = False,
        statements: range | None = None,
    ) -> Analysis | None:
        """Module and project rules on the whole model (project rules so on every call, as
        another file may have changed); statement rules on statement ``k`` only, unless some
        answer came from the project index, which other files can change."""
        run = state.run
        source = SourceText(text, lines)
        result = Analysis(dbos_version=run.version_text, dbos_version_source=run.version_source)
        result.model = model
        if state.error is not None:
            result.syntax_error = syntax_problem(state.error)
        local_rules = [r for r in run.rules if _statement_scope(r)]
        other_rules = [r for r in run.rules if not _statement_scope(r)]
        module_level = run_rules(other_rules, model, source, run, result.rule_errors)
        if walk_all or ((model.used_index or state.model.used_index) and not self._same_world):
            fresh = run_rules(local_rules, model, source, run, result.rule_errors)
            local = _bucket(fresh, state.starts, state.ends)
        else:
            local = list(state.local)
            for i in statements or ():
                local[i] = run_rules(local_rules, statement_view(model, i), source, run, result.rule_errors)
            if k is not None:
                view = statement_view(model, k)
                follow = _rules_following_into(local_rules, _may_define_helpers(model, k))
                own = [r for r in local_rules if r not in follow]
                local[k] = run_rules(own, view, source, run, result.rule_errors)
                if follow:
                    # A helper changed: any workflow calling it may see a different effect.
                    again = _bucket(run_rules(follow, model, source, run, result.rule_errors), state.starts, state.ends)
                    if again is None:
                        return None
                    codes = {r.code for r in follow}
                    local = [
                        [f for f in kept if f.code not in codes] + new for kept, new in zip(local, again, strict=True)
                    ]
                model.used_index = model.used_index or view.used_index
        if result.rule_errors or local is None:
            return None  # let the full path report them, once
        raw = [f for bucket in local for f in bucket] + module_level
        finish(result, raw, source, run)
        self._state = replace(state, lines=lines, model=model, local=local, analysis=result)
        return result


def _is_plain_import(stmt: ast.stmt) -> bool:
    """A top-level ``import`` / ``from ... import`` that binds names one by one (not
    ``*``, not ``__future__``, which changes how the whole file compiles)."""
    if isinstance(stmt, ast.Import):
        return True
    return isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__" and all(a.name != "*" for a in stmt.names)


def _bound_names(stmts: list[ast.stmt]) -> set[tuple[str, tuple]]:
    """(local name, what it is bound to) for each name the import statements bind."""
    out: set[tuple[str, tuple]] = set()
    for stmt in stmts:
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                out.add((a.asname or a.name.split(".")[0], ("import", a.name, a.asname)))
        elif isinstance(stmt, ast.ImportFrom):
            for a in stmt.names:
                out.add((a.asname or a.name, ("from", stmt.module, stmt.level, a.name)))
    return out


def _mentions(names: set[str], lines: list[str], starts: list[int], skip: tuple[int, int]) -> dict[str, set[int]]:
    """For each of ``names``, the top-level statements outside lines ``skip`` that show it
    as a word (in code, a string or a comment alike: a false mention only costs a walk);
    lines between statements (comments) count for the statement before them."""
    found: dict[str, set[int]] = {name: set() for name in names}
    if not names:
        return found
    word = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in sorted(names)) + r")\b")
    text = "\n".join(lines)
    offsets = [0]
    for text_line in lines:
        offsets.append(offsets[-1] + len(text_line) + 1)
    for m in word.finditer(text):
        at = bisect.bisect_right(offsets, m.start()) - 1
        if not skip[0] <= at < skip[1]:
            found[m.group()].add(max(bisect.bisect_right(starts, at) - 1, 0))
    return found


def _parse_statements(lines: list[str], start: int, end: int) -> list[ast.stmt] | None:
    """Lines [start, end) parsed alone, numbered as in the whole file."""
    text = "\n" * start + "\n".join(lines[start:end]) + "\n"
    try:
        return compile_module(text).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _rules_following_into(rules: list[Rule], defines: str | None) -> list[Rule]:
    """The rules whose walk may enter what an edited statement defines."""
    if defines is None:
        return []
    return [r for r in rules if r.follows_calls and (defines == "helper" or r.follows_sync_dbos)]


def _may_define_helpers(model: ModuleModel, k: int) -> str | None:
    """What top-level statement ``k`` defines that code elsewhere may call and a rule may
    walk into: "helper" (a def without a DBOS role, or a class: its methods), "sync dbos"
    (a sync step or workflow: it runs inline, which DBOS101 follows), or None."""
    stmt = model.tree.body[k]
    if isinstance(stmt, ast.ClassDef):
        return "helper"
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        info = model.top_functions.get(stmt.name)
        if info is None or info.node is not stmt or info.role is Role.PLAIN:
            return "helper"
        if info.role in (Role.STEP, Role.WORKFLOW) and not info.is_async:
            return "sync dbos"
    return None


def _one_repaired_statement(parsed: Parsed, starts: list[int], lines: list[str]) -> int | None:
    """The statement whose block ``parse_tolerant`` repaired, when it repaired exactly one
    block into exactly one statement, and that block is one the incremental path can
    repair the same way (``_repair_statement``'s conditions); else None."""
    if not parsed.by_blocks or len(parsed.broken) != 1 or parsed.broken[0].statements != 1:
        return None
    block = parsed.broken[0]
    k = bisect.bisect_left(starts, block.start)
    if k == len(starts) or starts[k] != block.start:
        return None
    following = starts[k + 1] if k + 1 < len(starts) else _parsed_line_count(lines)
    return k if block.end == following else None


def _repair_statement(
    state: _State, text: str, lines: list[str], k: int, delta: int
) -> tuple[ast.stmt, SyntaxErrorAt] | None:
    """Statement ``k``, which does not parse, repaired alone as ``parse_tolerant`` repairs
    its block, with the block's own syntax error; None when that might not be what the
    full analysis does or the repair is not one statement.

    ``parse_tolerant`` repairs the block where the file's first syntax error is, and parses
    the code before and after it as it is.  When the block closes every bracket and string
    it opens, that error is in it (or on the next statement's first line, for a header
    with no body yet, which leads back to it) and every other statement is left as it is,
    provided that next statement is one indentation block.  When it leaves only brackets
    open (typing ``f(``), no later statement can close them (each parses alone, so its own
    brackets balance), and CPython reports the file's error in it: at the unclosed
    bracket, or at an earlier line of it (pegen replaces a later error by "'(' was never
    closed").  Otherwise (an open string, a backslash) the code after it might close it,
    so one compile of the file says where the error is."""
    start = state.starts[k]
    n = _parsed_line_count(lines)
    end = state.starts[k + 1] + delta if k + 1 < len(state.starts) else n
    if _block_at(lines, start, n) != (start, end):
        return None  # a line at column 0 inside it, or it reaches into the next statement
    block = [line + "\n" for line in lines[start:end]]  # as ``normalized_lines`` has them
    ends = block_end(block)
    balanced = ends == "closed" and _next_aligned(state, lines, k, delta, n)
    if not balanced and ends != "bracket":
        try:
            compile_module(text)
            return None  # the file parses after all: not a repair
        except SyntaxError as exc:
            error_line = (exc.lineno or 1) - 1
        except (ValueError, RecursionError, MemoryError):
            return None
        if _block_at(lines, min(max(error_line, 0), n - 1), n) != (start, end):
            return None
    body, broken = parse_block([""] * start + block, start, end)  # reads lines [start, end) only
    if broken is None or len(body) != 1:
        return None
    return body[0], broken.error


def _block_at(lines: list[str], index: int, n: int) -> tuple[int, int]:
    start, end = block_around(lines, index)
    return start, min(end, n)


def _next_aligned(state: _State, lines: list[str], k: int, delta: int, n: int) -> bool:
    """Whether the statement after ``k`` is one indentation block in the new text (the
    full analysis looks at its first line when the error is reported there)."""
    if k + 1 >= len(state.starts):
        return True
    first = state.starts[k + 1] + delta
    following = state.starts[k + 2] + delta if k + 2 < len(state.starts) else n
    return _block_at(lines, first, n) == (first, following)


def _parsed_line_count(lines: list[str]) -> int:
    """How many lines ``parse_tolerant`` numbers: ``split_lines`` gives one more when the
    text ends with a line break."""
    return len(lines) - 1 if lines and lines[-1] == "" else len(lines)


def _bucket(findings: list[Finding], starts: list[int], ends: list[int]) -> list[list[Finding]] | None:
    """Statement-local findings grouped by top-level statement; None if one lies outside."""
    local: list[list[Finding]] = [[] for _ in starts]
    for f in findings:
        k = _statement_at(starts, ends, f.span.start.line)
        if k is None:
            return None
        local[k].append(f)
    return local


class _LineShifter:
    """Renumbers top-level statements' nodes in place after lines were added or removed
    above them (cheaper than parsing them again).  Each statement's located nodes are
    listed once and kept: walking a statement's tree costs three times shifting the list,
    and Enter or an import edit shifts every statement below it on every keystroke."""

    def __init__(self) -> None:
        self._nodes: dict[int, tuple[ast.stmt, list[Any]]] = {}

    def shift(self, body: list[ast.stmt], first: int, delta: int) -> None:
        """Move ``body[first:]`` by ``delta`` lines."""
        for stmt in body[first:]:
            entry = self._nodes.get(id(stmt))
            if entry is None or entry[0] is not stmt:
                entry = (stmt, [n for n in ast.walk(stmt) if "lineno" in n._attributes])
                self._nodes[id(stmt)] = entry
            for node in entry[1]:
                node.lineno += delta
                if node.end_lineno is not None:
                    node.end_lineno += delta
        if len(self._nodes) > len(body) + 64:  # statements replaced since: drop them
            live = {id(stmt) for stmt in body}
            self._nodes = {key: entry for key, entry in self._nodes.items() if key in live}


def _shifted(f: Finding, delta: int, moved_from: int) -> Finding:
    def move(span: Span) -> Span:
        if span.start.line < moved_from:
            return span  # above the edit, e.g. an ``import`` a fix adds at the top
        return Span(
            Position(span.start.line + delta, span.start.character),
            Position(span.end.line + delta, span.end.character),
        )

    fix = f.fix
    if fix is not None:
        fix = replace(fix, edits=tuple(Edit(move(e.span), e.new_text) for e in fix.edits))
    related = tuple(replace(r, span=move(r.span)) if r.path is None else r for r in f.related)
    return replace(f, span=move(f.span), fix=fix, related=related)


def statement_view(model: ModuleModel, k: int) -> ModuleModel:
    """The model seen through one top-level statement: its functions, calls and other
    sites only, while names, roles and module-level facts still come from the whole."""
    view = copy.copy(model)
    for name, (lo, hi) in model.statement_slices[k].items():
        setattr(view, name, getattr(model, name)[lo:hi])
    stmt = model.tree.body[k]
    view.classes = {name: info for name, info in model.classes.items() if info.node is stmt}
    view.memo = model.memo.module_scoped()  # statement-scoped answers are the whole model's
    return view


def _first_line(stmt: ast.stmt) -> int:
    """0-based line where a statement starts, decorators included."""
    first = stmt.lineno
    for dec in getattr(stmt, "decorator_list", ()):
        first = min(first, dec.lineno)
    return first - 1


def _statement_lines(tree: ast.Module) -> tuple[list[int], list[int]]:
    starts = [_first_line(s) for s in tree.body]
    ends = [s.end_lineno or s.lineno for s in tree.body]
    return starts, ends


def _statement_at(starts: list[int], ends: list[int], line: int) -> int | None:
    k = bisect.bisect_right(starts, line) - 1
    if k >= 0 and line < ends[k]:
        return k
    return None


def _parse_statement(lines: list[str], start: int, end: int) -> ast.stmt | None:
    # Leading newlines make the parser number lines as in the whole file.
    text = "\n" * start + "\n".join(lines[start:end]) + "\n"
    try:
        module = compile_module(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return module.body[0] if len(module.body) == 1 else None


def _interface(stmt: ast.stmt) -> tuple | None:
    """What other statements may see of a def or class: kind, name, decorators (which
    give roles) and, for classes, bases and each method's interface.  None for other
    statements, whose edits change module-level context."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return (type(stmt).__name__, stmt.name, tuple(ast.dump(d) for d in stmt.decorator_list))
    if isinstance(stmt, ast.ClassDef):
        members = tuple(_interface(s) for s in stmt.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)))
        return (
            "ClassDef",
            stmt.name,
            tuple(ast.dump(d) for d in stmt.decorator_list),
            tuple(ast.dump(b) for b in stmt.bases),
            tuple(ast.dump(k) for k in stmt.keywords),
            members,
        )
    return None
