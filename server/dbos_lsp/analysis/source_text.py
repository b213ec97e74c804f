"""Source text with position conversions between Python's AST and our model.

``ast`` reports columns in UTF-8 bytes; the model uses code points.  Lines are
converted lazily, and ASCII lines (almost all of them) cost nothing.
"""

from __future__ import annotations

import ast
import bisect
import re
from typing import Protocol

from dbos_lsp.analysis.findings import Edit, Position, Span

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_AFTER_LINE_BREAK = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


def split_lines(text: str, keepends: bool = False) -> list[str]:
    """Lines as the LSP and Python's tokenizer see them: only ``\r\n``, ``\r`` and ``\n``
    end a line (``str.splitlines`` also breaks on form feeds and U+2028, which would shift
    every position after them).  Without ``keepends`` the result has one entry more than
    line breaks; with it, a trailing empty entry is dropped, as ``splitlines`` does."""
    if not keepends:
        return _LINE_BREAK.split(text)
    parts = _AFTER_LINE_BREAK.split(text)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


class Located(Protocol):
    """An AST node with a source position (expressions, statements, arguments, ...)."""

    @property
    def lineno(self) -> int: ...
    @property
    def col_offset(self) -> int: ...
    @property
    def end_lineno(self) -> int | None: ...
    @property
    def end_col_offset(self) -> int | None: ...


class SourceText:
    def __init__(self, text: str, lines: list[str] | None = None) -> None:
        self.text = text
        self.lines = lines if lines is not None else split_lines(text)
        self._encoded: dict[int, bytes] = {}

    def line(self, index: int) -> str:
        return self.lines[index] if 0 <= index < len(self.lines) else ""

    def _bytes(self, index: int) -> bytes:
        cached = self._encoded.get(index)
        if cached is None:
            cached = self.line(index).encode("utf-8")
            self._encoded[index] = cached
        return cached

    def char_col(self, line_index: int, byte_col: int) -> int:
        line = self.line(line_index)
        if line.isascii():
            return min(byte_col, len(line))
        return len(self._bytes(line_index)[:byte_col].decode("utf-8", errors="replace"))

    def byte_col(self, line_index: int, char_col: int) -> int:
        line = self.line(line_index)
        if line.isascii():
            return char_col
        return len(line[:char_col].encode("utf-8"))

    def position(self, lineno: int, byte_col: int) -> Position:
        """From an AST (1-based line, UTF-8 column) to a model position."""
        return Position(lineno - 1, self.char_col(lineno - 1, byte_col))

    def span(self, node: Located) -> Span:
        start = self.position(node.lineno, node.col_offset)
        end_line = getattr(node, "end_lineno", None) or node.lineno
        end_col = getattr(node, "end_col_offset", None)
        end = self.position(end_line, end_col if end_col is not None else node.col_offset)
        return Span(start, end)

    def start(self, node: Located) -> Position:
        return self.position(node.lineno, node.col_offset)

    def end(self, node: Located) -> Position:
        return self.span(node).end

    def segment(self, span: Span) -> str:
        if span.start.line == span.end.line:
            return self.line(span.start.line)[span.start.character : span.end.character]
        parts = [self.line(span.start.line)[span.start.character :]]
        parts.extend(self.line(i) for i in range(span.start.line + 1, span.end.line))
        parts.append(self.line(span.end.line)[: span.end.character])
        return "\n".join(parts)

    def node_text(self, node: Located) -> str:
        return self.segment(self.span(node))

    @property
    def line_starts(self) -> list[int]:
        """Character offset where each line starts (any line ending)."""
        starts = self.__dict__.get("_line_starts")
        if starts is None:
            starts = [0]
            text = self.text
            i, n = 0, len(text)
            while i < n:
                ch = text[i]
                if ch == "\r":
                    if i + 1 < n and text[i + 1] == "\n":
                        i += 1
                    starts.append(i + 1)
                elif ch == "\n":
                    starts.append(i + 1)
                i += 1
            self.__dict__["_line_starts"] = starts
        return starts

    def offset(self, pos: Position) -> int:
        """Character offset of a position in ``text``."""
        starts = self.line_starts
        if pos.line >= len(starts):
            return len(self.text)
        line_start = starts[pos.line]
        return min(line_start + pos.character, line_start + len(self.line(pos.line)))

    def line_of_offset(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset) - 1


def insert(pos: Position, text: str) -> Edit:
    return Edit(Span(pos, pos), text)


def apply_edits(text: str, edits: list[Edit] | tuple[Edit, ...]) -> str:
    """Apply non-overlapping edits; overlapping ones after the first are skipped."""
    src = SourceText(text)
    resolved = sorted(
        ((src.offset(e.span.start), src.offset(e.span.end), i, e.new_text) for i, e in enumerate(edits)),
        key=lambda t: (t[0], t[1], t[2]),
    )
    out: list[str] = []
    cursor = 0
    for start, end, _, new_text in resolved:
        if start < cursor:
            continue  # overlaps an edit already applied
        out.append(text[cursor:start])
        out.append(new_text)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def non_overlapping(edit_groups: list[tuple[Edit, ...]], text: str) -> list[Edit]:
    """Pick whole fixes whose edits do not touch earlier picks (for fix-all).

    Two insertions at the same point clash too: their order would be a guess.
    Callers re-run the analysis and repeat, so skipped fixes come in a later round.
    """
    src = SourceText(text)
    taken: list[tuple[int, int]] = []
    chosen: list[Edit] = []
    for group in edit_groups:
        ranges = [(src.offset(e.span.start), src.offset(e.span.end)) for e in group]
        if any(_clash(r, t) for r in ranges for t in taken):
            continue
        taken.extend(ranges)
        chosen.extend(group)
    return chosen


def _clash(a: tuple[int, int], b: tuple[int, int]) -> bool:
    if a[0] == a[1] == b[0] == b[1]:
        return True
    return a[0] < b[1] and b[0] < a[1]


def line_indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def import_insertion_line(tree: ast.Module) -> int:
    """0-based line where a new top-level ``import`` goes: after the docstring and
    ``from __future__`` imports, before other code."""
    line = 0
    for stmt in tree.body:
        is_docstring = (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
            and stmt is tree.body[0]
        )
        is_future = isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"
        if is_docstring or is_future:
            line = stmt.end_lineno or stmt.lineno
            continue
        break
    return line


def ensure_module_import(tree: ast.Module, known: dict[str, str], module: str) -> Edit | None:
    """An edit adding ``import <module>`` unless the module is already bound by that name."""
    if known.get(module) == module:
        return None
    line = import_insertion_line(tree)
    return insert(Position(line, 0), f"import {module}\n")
