"""Differential test: the incremental analyzer against the full analysis, on every file we have.

Every fixture, corpus and example file gets a deterministic sequence of the edits people
make while typing (seeded by the file's path): a line inserted into or deleted from a
function body, a literal changed, a character typed, a statement broken and then repaired,
lines inserted above a function.  After each edit, ``IncrementalAnalyzer.analyze`` must give
exactly what ``engine.pipeline.analyze`` gives on the same text: the same findings (code,
span, message, severity, fix), syntax error and rule errors.  A mismatch names the codes
that differ and the edit that caused it.
"""

from __future__ import annotations

import ast
import random
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from dbos_lsp.analysis.findings import Analysis
from dbos_lsp.engine.incremental import IncrementalAnalyzer
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.project.index import JediProjectIndex
from dbos_lsp.rules import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    {
        *(ROOT / "tests" / "corpus").rglob("*.py"),
        *(ROOT / "tests" / "corpus_clean").rglob("*.py"),
        *(ROOT / "examples").rglob("*.py"),
        *(ROOT / "tests" / "fixtures" / "rules").glob("*.py"),
    }
)
EDITS_PER_FILE = 40  # bounds the runtime: about two analyses per edit, ~60 files

# Statements an edit types into a body: some create findings of each rule family, some
# remove them, some are noise.  Those with `await` go into async bodies only.
BODY_LINES = [
    "pass",
    "x = 1",
    "DBOS.sleep(1)",
    "time.time()",
    "time.sleep(1)",
    "open('f')",
    "DBOS.start_workflow(wf)",
    "DBOS.recv('t')",
    "counter += 1",
    "threading.Thread(target=wf).start()",
    "DBOS.register_queue('q', concurrency=2)",
    "# a comment",
    "DBOS.sleep(1)  # noqa: DBOS101",
    "x = 2  # noqa: DBOS203",  # silences nothing: DBOS901
    "",
]
ASYNC_BODY_LINES = ["await DBOS.sleep_async(1)", "DBOS.sleep_async(1)", "await asyncio.sleep(1)"]
ABOVE_FUNCTION = ["", "# note", "import os", "X = 1", "@DBOS.step()", "def helper():\n    return 1\n"]
TYPED = list("x1 (.:'\"#") + ["é", "🚀", "await ", "DBOS."]
STRING_LITERALS = ["_dbos_q", "0 25 * * *", "*/5 * * * *", "ab", "Order Service", "orders", ""]

Edit = Callable[[str, ast.Module, random.Random], "list[str] | None"]


def fingerprint(a: Analysis):
    findings = [(f.code, f.span, f.message, f.severity, f.fix, f.related) for f in a.findings]
    syntax = (a.syntax_error.message, a.syntax_error.span) if a.syntax_error else None
    return findings, syntax, sorted(a.rule_errors)


def differing_codes(got: Analysis, want: Analysis) -> list[str]:
    g, w = fingerprint(got), fingerprint(want)
    diff = Counter(g[0]) - Counter(w[0]) + (Counter(w[0]) - Counter(g[0]))
    codes = sorted({finding[0] for finding in diff})
    if g[1] != w[1]:
        codes.append("syntax error")
    if g[2] != w[2]:
        codes.append("rule errors")
    return codes or ["finding order"]


# ----- the edits: each returns the texts to analyse in turn, or None if it does not apply ----


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _code_points(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _first_line(node: ast.stmt) -> int:
    """0-based first line of a statement, decorators included."""
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))]) - 1


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _indent(lines: list[str], stmt: ast.stmt) -> str:
    line = lines[_first_line(stmt)]
    return line[: len(line) - len(line.lstrip())]


def insert_in_body(text: str, tree: ast.Module, rnd: random.Random) -> list[str] | None:
    functions = _functions(tree)
    if not functions:
        return None
    fn = rnd.choice(functions)
    stmt = rnd.choice(fn.body)
    choices = BODY_LINES + (ASYNC_BODY_LINES if isinstance(fn, ast.AsyncFunctionDef) else [])
    lines = _lines(text)
    at = _first_line(stmt) if rnd.random() < 0.5 else stmt.end_lineno or stmt.lineno
    lines.insert(at, _indent(lines, stmt) + rnd.choice(choices))
    return ["\n".join(lines)]


def delete_in_body(text: str, tree: ast.Module, rnd: random.Random) -> list[str] | None:
    candidates = [
        s
        for fn in _functions(tree)
        if len(fn.body) > 1
        for s in fn.body
        if s.lineno == s.end_lineno and not getattr(s, "decorator_list", None)
    ]
    if not candidates:
        return None
    stmt = rnd.choice(candidates)
    lines = _lines(text)
    del lines[stmt.lineno - 1]
    return ["\n".join(lines)]


def change_literal(text: str, tree: ast.Module, rnd: random.Random) -> list[str] | None:
    in_fstring = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in ast.walk(n)}
    literals = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and n.lineno == n.end_lineno
        and id(n) not in in_fstring
        and isinstance(n.value, bool | int | float | str)
    ]
    if not literals:
        return None
    node = rnd.choice(literals)
    value = node.value
    if isinstance(value, bool):
        new = repr(not value)
    elif isinstance(value, int | float):
        new = repr(rnd.choice([0, 1, value + 1, -1, 2.5]))
    else:
        new = repr(rnd.choice([*STRING_LITERALS, value + "x"]))
    lines = _lines(text)
    line = lines[node.lineno - 1]
    a, b = _code_points(line, node.col_offset), _code_points(line, node.end_col_offset or node.col_offset)
    lines[node.lineno - 1] = line[:a] + new + line[b:]
    return ["\n".join(lines)]


def type_character(text: str, tree: ast.Module, rnd: random.Random) -> list[str] | None:
    lines = _lines(text)
    i = rnd.randrange(len(lines))
    col = rnd.randint(0, len(lines[i]))
    lines[i] = lines[i][:col] + rnd.choice(TYPED) + lines[i][col:]
    return ["\n".join(lines)]


def break_then_repair(text: str, tree: ast.Module, rnd: random.Random) -> list[str] | None:
    statements = [s for fn in _functions(tree) for s in fn.body if s.lineno == s.end_lineno]
    if not statements:
        return None
    stmt = rnd.choice(statements)
    lines = _lines(text)
    i = stmt.lineno - 1
    line = lines[i]
    lines[i] = rnd.choice([line + " (", line.rstrip()[:-1], line.replace("(", "", 1), line + ":", "(" + line])
    return ["\n".join(lines), text]  # typed, then undone


def insert_above_function(text: str, tree: ast.Module, rnd: random.Random) -> list[str] | None:
    functions = _functions(tree)
    if not functions:
        return None
    fn = rnd.choice(functions)
    lines = _lines(text)
    indent = _indent(lines, fn)
    block = [indent + part for part in rnd.choice(ABOVE_FUNCTION).split("\n")]
    if block[-1].strip() == "" and len(block) > 1:
        block.pop()
    at = _first_line(fn)
    lines[at:at] = block * rnd.randint(1, 2)
    return ["\n".join(lines)]


# Imports a user adds at the top: unused ones, ones the rules care about, ones that rebind
# a name the module uses.
IMPORT_LINES = [
    "import json",
    "import time",
    "import random",
    "from datetime import datetime",
    "import requests",
    "from dbos import DBOS as D",
    "from dbos import Queue",
    "from mylib import DBOS",
    "import asyncio as aio",
    "from .helpers import fetch_rate",
]


def _top_imports(tree: ast.Module) -> list[ast.stmt]:
    return [
        s
        for s in tree.body
        if isinstance(s, ast.Import | ast.ImportFrom)
        and s.lineno == s.end_lineno
        and getattr(s, "module", None) != "__future__"
    ]


def edit_imports(text: str, tree: ast.Module, rnd: random.Random) -> list[str] | None:
    """Add an import next to one, delete one, or alias one; sometimes typed character by
    character (most prefixes of an import line parse: ``import js``)."""
    imports = _top_imports(tree)
    if not imports:
        return None
    stmt = rnd.choice(imports)
    lines = _lines(text)
    i = stmt.lineno - 1
    how = rnd.choice(["add", "add", "type", "delete", "alias"])
    if how == "delete":
        del lines[i]
        return ["\n".join(lines)]
    if how == "alias":
        first = stmt.names[0]
        line = lines[i]
        if first.asname is None and first.name != "*":
            at = line.index(first.name) + len(first.name)
            lines[i] = line[:at] + " as renamed_" + first.name.split(".")[0] + line[at:]
        return ["\n".join(lines)]
    new = rnd.choice(IMPORT_LINES)
    at = i if rnd.random() < 0.5 else i + 1
    if how == "add":
        lines.insert(at, new)
        return ["\n".join(lines)]
    out = []
    for n in range(1, len(new) + 1):
        typed = list(lines)
        typed.insert(at, new[:n])
        out.append("\n".join(typed))
    return out


EDITS: list[Edit] = [
    edit_imports,
    insert_in_body,
    delete_in_body,
    change_literal,
    type_character,
    break_then_repair,
    insert_above_function,
]


def _parses(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def test_sources_cover_every_rule_family() -> None:
    """Each family (DBOS1xx ... DBOS6xx) has findings in the unedited files; DBOS901 comes
    from the `noqa` lines the edits type."""
    found = {f.code[:5] for p in SOURCES for f in analyze(p.read_text(encoding="utf-8"), path=str(p)).findings}
    families = {code[:5] for code in REGISTRY} - {"DBOS9"}
    assert families <= found


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_incremental_equals_full_after_every_edit(source: Path) -> None:
    rel = str(source.relative_to(ROOT))
    rnd = random.Random(zlib.crc32(rel.encode()))
    text = source.read_text(encoding="utf-8")
    tree = _parses(text)
    assert tree is not None, f"{rel} must parse to be edited"
    analyzer = IncrementalAnalyzer()
    path = str(source)
    mismatches: list[str] = []

    def check(step: str, current: str) -> None:
        nonlocal analyzer
        got, want = analyzer.analyze(current, path=path), analyze(current, path=path)
        if fingerprint(got) != fingerprint(want):
            how = "incremental" if analyzer.last_was_incremental else "full"
            mismatches.append(f"{step} ({how} path): {', '.join(differing_codes(got, want))}")
            analyzer = IncrementalAnalyzer()  # attribute the next mismatch to its own edit
            analyzer.analyze(current, path=path)

    check("initial text", text)
    for n in range(EDITS_PER_FILE):
        edit = rnd.choice(EDITS)
        texts = edit(text, tree, rnd)
        if texts is None:
            continue
        for k, current in enumerate(texts):
            check(f"edit {n} {edit.__name__}" + (f" step {k}" if len(texts) > 1 else ""), current)
        # Keep the edit if it still parses (as a user goes on typing); a broken one is undone.
        last = texts[-1]
        new_tree = _parses(last)
        if new_tree is not None:
            text, tree = last, new_tree
        elif last != text:
            check(f"edit {n} undone", text)
    assert not mismatches, f"{rel}: the incremental analysis differs from the full one after\n" + "\n".join(mismatches)


# ----- typing a statement one character at a time (most intermediate texts do not parse) ----

TYPED_STATEMENTS = [
    "x = DBOS.sleep(1)",
    "if x:",
    "DBOS.set_event('k', [1, 2])",
    "for i in range(3):",
    "y = f'{x}'",
    "  z = 1",  # one indentation level too deep until deleted
    "DBOS.",
    "else:",
]
TYPED_PER_FILE = 5


def typing_steps(text: str, tree: ast.Module, rnd: random.Random) -> list[str] | None:
    """Enter on a new line in a function body, then a statement typed character by
    character: the texts an editor sends in turn."""
    functions = _functions(tree)
    if not functions:
        return None
    fn = rnd.choice(functions)
    stmt = rnd.choice(fn.body)
    lines = _lines(text)
    at = stmt.end_lineno or stmt.lineno
    indent = _indent(lines, stmt)
    typed = rnd.choice(TYPED_STATEMENTS)
    texts = []
    for n in range(len(typed) + 1):
        lines[at:at] = [indent + typed[:n]]
        texts.append("\n".join(lines))
        del lines[at]
    return texts


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_incremental_equals_full_while_typing(source: Path) -> None:
    rel = str(source.relative_to(ROOT))
    rnd = random.Random(zlib.crc32(b"typing " + rel.encode()))
    text = source.read_text(encoding="utf-8")
    tree = _parses(text)
    assert tree is not None
    path = str(source)
    mismatches: list[str] = []
    for n in range(TYPED_PER_FILE):
        analyzer = IncrementalAnalyzer()
        analyzer.analyze(text, path=path)
        for k, current in enumerate(typing_steps(text, tree, rnd) or []):
            got, want = analyzer.analyze(current, path=path), analyze(current, path=path)
            if fingerprint(got) != fingerprint(want):
                how = "incremental" if analyzer.last_was_incremental else "full"
                line = current.split("\n")[got.syntax_error.span.start.line] if got.syntax_error else ""
                mismatches.append(
                    f"statement {n} step {k} ({how} path, {line!r}): {', '.join(differing_codes(got, want))}"
                )
                break
    assert not mismatches, f"{rel}: the incremental analysis differs from the full one\n" + "\n".join(mismatches)


# ----- files that import from other project modules (the project index answers) ------------

MULTI = ROOT / "tests" / "corpus_multi_module"
MULTI_SOURCES = sorted(p for p in MULTI.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("source", MULTI_SOURCES, ids=lambda p: str(p.relative_to(MULTI)))
def test_incremental_equals_full_with_the_project_index(source: Path) -> None:
    # While nothing outside the text changes (the server's document epoch, ``world``), an
    # analysis that used the index keeps the statements an edit did not touch; it must
    # still equal a full analysis with the same index.
    rel = str(source.relative_to(ROOT))
    rnd = random.Random(zlib.crc32(rel.encode()))
    index = JediProjectIndex(str(MULTI))
    text = source.read_text(encoding="utf-8")
    tree = _parses(text)
    assert tree is not None
    analyzer = IncrementalAnalyzer()
    path = str(source)
    mismatches: list[str] = []
    kept_with_index = 0
    analyzer.analyze(text, index=index, path=path, world=0)
    for n in range(EDITS_PER_FILE):
        edit = rnd.choice(EDITS)
        texts = edit(text, tree, rnd)
        for k, current in enumerate(texts or []):
            used = analyzer._state is not None and analyzer._state.model.used_index
            got = analyzer.analyze(current, index=index, path=path, world=0)
            want = analyze(current, index=index, path=path)
            if fingerprint(got) != fingerprint(want):
                mismatches.append(f"edit {n} {edit.__name__} step {k}: {', '.join(differing_codes(got, want))}")
            kept_with_index += used and analyzer.last_path == "statement"
        last = (texts or [text])[-1]
        new_tree = _parses(last)
        if new_tree is not None:
            text, tree = last, new_tree
        elif texts:
            analyzer.analyze(text, index=index, path=path, world=0)
    assert not mismatches, f"{rel}: the incremental analysis differs from the full one after\n" + "\n".join(mismatches)
    if source.name == "workflows.py":
        assert kept_with_index > 0  # the index-using path was exercised, not only full walks
