"""Parsing that survives the half-typed code an editor sends on every keystroke.

A clean file is parsed once, with top-level ``await`` allowed so DBOS110 can
see it.  When the text does not parse, each top-level block that does not parse
*on its own* is repaired on its own: the line the parser stops at becomes
``pass`` (a few rounds, inside that block only), or, failing that, the block is
blanked.  Everything else parses exactly as written, so findings in untouched
code, and in the rest of the broken function, stay visible while the user types.
Line count and positions never change.

The result depends only on each block's own text, which is what lets the
incremental analyzer repair one edited statement without parsing the file
(``engine/incremental.py``); blocks are found by indentation (``block_around``).
"""

from __future__ import annotations

import ast
import threading
import tokenize
import warnings
from dataclasses import dataclass, field

from dbos_lsp.analysis.source_text import split_lines

FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_MAX_RECOVERY_ROUNDS = 8
_MAX_REPAIRS = 8  # lines turned into ``pass`` in one block before it is blanked instead
_MAX_COMPILES = 64  # per parse of a broken file; beyond it, whole blocks are blanked
_CONTINUATION_KEYWORDS = ("else", "elif", "except", "finally", "case")

SyntaxErrorAt = tuple[int, int, str]  # (1-based line, 0-based column, message)


@dataclass(frozen=True)
class BrokenBlock:
    """A top-level block that did not parse on its own: lines ``[start, end)`` (0-based)."""

    start: int
    end: int
    error: SyntaxErrorAt  # its own first error
    statements: int  # statements its repair kept (0: blanked)


@dataclass
class Parsed:
    tree: ast.Module | None
    # The first syntax error, if any (of the first broken block, when blocks were repaired).
    error: SyntaxErrorAt | None = None
    broken: list[BrokenBlock] = field(default_factory=list)
    # False when the text was repaired some other way than block by block (nul bytes, a
    # file too deep or too large, an error no single block explains): nothing to build on.
    by_blocks: bool = True


# CPython 3.11's AST construction keeps its recursion depth in interpreter-wide state, so
# two threads building trees at once can fail with "SystemError: AST constructor recursion
# depth mismatch" (gh-106905).  Our own parses are serialized (compile holds the GIL anyway),
# and a parse that collides with another module's ``ast.parse`` is retried.
_COMPILE_LOCK = threading.Lock()
_AST_RACE = "recursion depth mismatch"
_RACE_RETRIES = 3


def is_ast_race(exc: BaseException) -> bool:
    """Whether ``exc`` is the CPython AST race above (spurious: the same parse succeeds again)."""
    return isinstance(exc, SystemError) and _AST_RACE in str(exc)


def compile_module(text: str, filename: str = "<dbos-lsp>") -> ast.Module:
    """``compile(text, filename, "exec", FLAGS)``, serialized and retried on the AST race."""
    for attempt in range(_RACE_RETRIES + 1):
        try:
            with _COMPILE_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # invalid escape sequences etc. are not our business
                return compile(text, filename, "exec", FLAGS, dont_inherit=True)
        except SystemError as exc:
            if not is_ast_race(exc) or attempt == _RACE_RETRIES:
                raise
    raise AssertionError("unreachable")


def _compile(text: str) -> ast.Module:
    return compile_module(text)


def parse_tolerant(text: str) -> Parsed:
    try:
        return Parsed(_compile(text))
    except SyntaxError as exc:
        whole_file_error = _describe(exc)
    except (ValueError, RecursionError, MemoryError) as exc:
        return _blank_blocks(text, _describe(exc))
    # Every line ends in "\n" from here on: the same lines and columns, and no lone "\r"
    # can fuse with a following "\n" once a line between them is blanked.
    lines = normalized_lines(text)
    budget = [_MAX_COMPILES]
    try:
        body, broken = _parse_region(lines, 0, len(lines), budget, whole_file_error[0] - 1)
    except (_OutOfBudget, RecursionError, MemoryError):
        return _blank_blocks(text, whole_file_error)
    tree = ast.Module(body=body, type_ignores=[])
    if not broken:
        return Parsed(tree, whole_file_error, by_blocks=False)
    return Parsed(tree, broken[0].error, broken)


def normalized_lines(text: str) -> list[str]:
    return [line.rstrip("\r\n") + "\n" for line in split_lines(text, keepends=True)]


class _OutOfBudget(Exception):
    pass


def _compile_at(lines: list[str], start: int, end: int, budget: list[int]) -> ast.Module:
    """Lines ``[start, end)`` alone, numbered as in the file (leading newlines)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _OutOfBudget
    return _compile("\n" * start + "".join(lines[start:end]))


def _parse_region(
    lines: list[str], lo: int, hi: int, budget: list[int], error_at: int | None = None
) -> tuple[list[ast.stmt], list[BrokenBlock]]:
    """The statements of lines ``[lo, hi)``: the region whole if it parses, else split at
    the block the parser stopped in (``error_at`` when the caller knows it already); that
    block is parsed alone (repaired if it must be) and the regions before and after it the
    same way."""
    if lo >= hi:
        return [], []
    if error_at is None:
        try:
            return _compile_at(lines, lo, hi, budget).body, []
        except SyntaxError as exc:
            error_at = (exc.lineno or 1) - 1
        except ValueError:
            error_at = lo
    at = min(max(error_at, lo), hi - 1)
    start, end = block_around(lines, at)
    start, end = max(start, lo), min(end, hi)
    before, broken_before = _parse_region(lines, lo, start, budget)
    block, broken = parse_block(lines, start, end, budget)
    after, broken_after = _parse_region(lines, end, hi, budget)
    return before + block + after, broken_before + ([broken] if broken else []) + broken_after


def parse_block(
    lines: list[str], start: int, end: int, budget: list[int] | None = None
) -> tuple[list[ast.stmt], BrokenBlock | None]:
    """One top-level block (``lines`` normalized), alone: its statements, and how it was
    broken if it was.  Deterministic in the block's own lines."""
    budget = budget if budget is not None else [_MAX_COMPILES]
    try:
        return _compile_at(lines, start, end, budget).body, None
    except SyntaxError as exc:
        first = _describe(exc)
    except (ValueError, RecursionError, MemoryError) as exc:
        return [], BrokenBlock(start, end, _describe(exc), 0)
    work = list(lines)  # the file's lines; only [start, end) are touched
    replaced: set[int] = set()
    error_line, message = first[0] - 1, first[2]
    for _ in range(_MAX_REPAIRS):
        if message.startswith("expected an indented block"):
            # reported on the line after a header with no body yet: the header goes
            header = _code_line_above(work, start, min(error_line, end))
            error_line = header if header is not None else error_line
        target = _repair_target(work, start, end, error_line, replaced)
        if target is None:
            break
        indent = _indent(work[target])
        if message == "unexpected indent":
            above = _code_line_above(work, start, target)
            if above is not None:
                indent = _indent(work[above])
        if not indent:
            break  # a header, decorator or ``else:`` of the block itself: nothing to keep
        work[target] = indent + "pass\n"
        replaced.add(target)
        try:
            body = _compile_at(work, start, end, budget).body
        except SyntaxError as exc:
            error_line, message = (exc.lineno or 1) - 1, exc.msg or ""
            continue
        except (ValueError, RecursionError, MemoryError):
            break
        return body, BrokenBlock(start, end, first, len(body))
    return [], BrokenBlock(start, end, first, 0)


def _repair_target(work: list[str], start: int, end: int, error_line: int, replaced: set[int]) -> int | None:
    """The line to turn into ``pass``: the one the parser stopped at, or, when that one is
    ``pass`` already (an ``if x:`` with no body yet), the code line above it."""
    line = min(max(error_line, start), end - 1)
    while line > start and not work[line].strip():
        line -= 1  # an error at a blank line or at the end: the code above it
    if line not in replaced:
        return line
    above = _code_line_above(work, start, line)
    while above is not None and above in replaced:
        above = _code_line_above(work, start, above)
    return above


def _code_line_above(work: list[str], start: int, line: int) -> int | None:
    i = line - 1
    while i >= start:
        stripped = work[i].strip()
        if stripped and not stripped.startswith("#"):
            return i
        i -= 1
    return None


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _blank_blocks(text: str, first: SyntaxErrorAt) -> Parsed:
    """The fallback: blank whole top-level blocks, recompiling the file, a few rounds."""
    lines = normalized_lines(text)
    blanked: set[int] = set()
    error_line = first[0]
    for _ in range(_MAX_RECOVERY_ROUNDS):
        start, end = block_around(lines, error_line - 1)
        if all(i in blanked for i in range(start, end)):
            break
        for i in range(start, end):
            if i not in blanked:
                lines[i] = _blank(lines[i])
                blanked.add(i)
        try:
            return Parsed(_compile("".join(lines)), first, by_blocks=False)
        except (SyntaxError, ValueError) as exc:
            error_line = _describe(exc)[0]
        except (RecursionError, MemoryError):
            break
    return Parsed(None, first, by_blocks=False)


def block_end(lines: list[str]) -> str:
    """How ``lines`` (each ending in a newline) end, by their tokens:

    * ``"closed"``: outside any bracket, multi-line string or backslash continuation.  A
      broken block that ends so is broken on its own: the code after it cannot close what
      it opened, so the file's repair is the same whether the block is repaired alone or
      with the whole file (what lets an edit there stay incremental);
    * ``"bracket"``: inside an open bracket and nothing else.  Code after it cannot close
      that bracket when every later statement parses on its own (each one's brackets
      balance), so the file cannot parse and its repair is this block's alone (what lets
      typing ``f(`` stay incremental without compiling the file);
    * ``"open"``: anything else (an open string, a backslash, what the tokenizer rejects)."""
    depth = 0
    try:
        for tok in tokenize.generate_tokens(iter(lines).__next__):
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
    except tokenize.TokenError as exc:  # "EOF in multi-line statement" / "... string"
        backslash = bool(lines) and lines[-1].rstrip("\r\n").endswith("\\")
        return "bracket" if depth > 0 and "statement" in str(exc.args[0]) and not backslash else "open"
    except SyntaxError:  # IndentationError is a SyntaxError
        return "open"
    return "closed"


def _describe(exc: BaseException) -> tuple[int, int, str]:
    if isinstance(exc, SyntaxError):
        return exc.lineno or 1, max((exc.offset or 1) - 1, 0), exc.msg or "invalid syntax"
    if isinstance(exc, RecursionError):
        return 1, 0, "the code is nested too deeply to analyse"
    if isinstance(exc, MemoryError):
        return 1, 0, "the file is too large to analyse"
    return 1, 0, str(exc) or type(exc).__name__  # e.g. "source code string cannot contain null bytes"


def _blank(line: str) -> str:
    return "\n"


def _is_block_start(line: str) -> bool:
    if not line.strip() or line[0] in " \t#)]}":
        return False
    return True


def block_around(lines: list[str], index: int) -> tuple[int, int]:
    """Line range [start, end) of the top-level statement holding line ``index``."""
    index = min(max(index, 0), max(len(lines) - 1, 0))
    start = index
    while start > 0 and not _is_block_start(lines[start]):
        start -= 1
    # Decorators and ``else:``-style continuations belong to the statement around them.
    while start > 0 and lines[start].lstrip().startswith(_CONTINUATION_KEYWORDS):
        start -= 1
        while start > 0 and not _is_block_start(lines[start]):
            start -= 1
    while start > 0 and lines[start - 1].startswith("@"):
        start -= 1
    end = index + 1
    # A decorator's block goes on through the decorated ``def`` or ``class``.
    while end < len(lines) and (not _is_block_start(lines[end]) or lines[end - 1].startswith("@")):
        end += 1
    while end < len(lines) and lines[end].lstrip().startswith(_CONTINUATION_KEYWORDS):
        end += 1
        while end < len(lines) and not _is_block_start(lines[end]):
            end += 1
    return start, max(end, start + 1)
