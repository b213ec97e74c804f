"""Parsing that survives the half-typed code an editor sends on every keystroke.

A clean file is parsed once, with top-level ``await`` allowed so DBOS110 can
see it.  When the text does not parse, the top-level block holding the error
is blanked out (line count kept, so every other position stays put) and the
rest is parsed again: findings in untouched code stay visible while the user
types.
"""

from __future__ import annotations

import ast
import threading
import warnings
from dataclasses import dataclass

from dbos_lsp.analysis.source_text import split_lines

FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_MAX_RECOVERY_ROUNDS = 8
_CONTINUATION_KEYWORDS = ("else", "elif", "except", "finally", "case")


@dataclass
class Parsed:
    tree: ast.Module | None
    # (1-based line, 0-based column, message) of the first syntax error, if any
    error: tuple[int, int, str] | None = None


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
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        first = _describe(exc)
    # Every line ends in "\n" from here on: the same lines and columns, and no lone "\r"
    # can fuse with a following "\n" once a line between them is blanked.
    lines = [line.rstrip("\r\n") + "\n" for line in split_lines(text, keepends=True)]
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
            return Parsed(_compile("".join(lines)), first)
        except (SyntaxError, ValueError) as exc:
            error_line = _describe(exc)[0]
        except (RecursionError, MemoryError):
            break
    return Parsed(None, first)


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
    while end < len(lines) and not _is_block_start(lines[end]):
        end += 1
    while end < len(lines) and lines[end].lstrip().startswith(_CONTINUATION_KEYWORDS):
        end += 1
        while end < len(lines) and not _is_block_start(lines[end]):
            end += 1
    return start, max(end, start + 1)
