"""The incremental analyzer must always agree with a full analysis of the same text."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.incremental import IncrementalAnalyzer
from dbos_lsp.engine.pipeline import analyze

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    *sorted((ROOT / "tests" / "corpus").glob("*/*.py")),
    *sorted((ROOT / "tests" / "fixtures" / "rules").glob("dbos1*.py")),
    *sorted((ROOT / "tests" / "fixtures" / "rules").glob("dbos3*.py")),
]
# Snippets an edit may type: DBOS calls that create and remove findings, noise, and
# characters that break the parse for a moment.
SNIPPETS = [
    "DBOS.sleep(1)",
    "await DBOS.sleep_async(1)",
    "DBOS.sleep_async(2)",
    "time.time()",
    "x",
    " ",
    "(",
    ")",
    ":",
    "# noqa: DBOS101",
    "🚀",
    "é",
    "'",
    "",
]


def generated_module() -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gen_module.py"), "600"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def fingerprint(analysis):
    findings = [(f.code, f.span, f.message, f.severity, f.fix, f.related) for f in analysis.findings]
    syntax = analysis.syntax_error.span if analysis.syntax_error else None
    return findings, syntax, sorted(analysis.rule_errors)


def edit_line(text: str, rnd: random.Random) -> str:
    lines = text.split("\n")
    i = rnd.randrange(len(lines))
    line = lines[i]
    a = rnd.randint(0, len(line))
    b = rnd.randint(a, min(len(line), a + 6))
    lines[i] = line[:a] + rnd.choice(SNIPPETS) + line[b:]
    roll = rnd.random()
    if roll < 0.15:  # add a line, blank or indented code
        lines.insert(i, rnd.choice(["", "    pass", "    DBOS.sleep(3)", "    # note"]))
    elif roll < 0.25 and len(lines) > 2:  # join or delete lines
        del lines[i if i < len(lines) - 1 else i - 1]
    return "\n".join(lines)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(SOURCES), seed=st.integers(0, 10_000), steps=st.integers(1, 12))
def test_incremental_equals_full_on_random_edits(source: Path, seed: int, steps: int) -> None:
    rnd = random.Random(seed)
    text = source.read_text(encoding="utf-8")
    analyzer = IncrementalAnalyzer()
    for _ in range(steps):
        text = edit_line(text, rnd)
        assert fingerprint(analyzer.analyze(text)) == fingerprint(analyze(text))


def test_typing_inside_a_function_reuses_the_rest() -> None:
    text = generated_module()
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(text)
    assert not analyzer.last_was_incremental
    marker = text.index("rev-0")
    edited = text[:marker] + "rev-1" + text[marker + 5 :]
    assert fingerprint(analyzer.analyze(edited)) == fingerprint(analyze(edited))
    assert analyzer.last_was_incremental
    # a new finding typed into one function appears, and goes when removed
    line_start = edited.rindex("\n", 0, marker) + 1
    indent = edited[line_start:marker].split("D")[0]
    broken = edited[:line_start] + indent + "DBOS.sleep_async(1); " + edited[line_start + len(indent) :]
    result = analyzer.analyze(broken)
    assert fingerprint(result) == fingerprint(analyze(broken))


IMPORTS_TEXT = (
    "import asyncio\n\nfrom dbos import DBOS\n\n\n@DBOS.step()\nasync def helper():\n    return 1\n\n\n"
    "@DBOS.workflow()\nasync def wf():\n    helper()\n    DBOS.sleep(1)\n"
)


def edited_once(text: str, old: str, new: str):
    """(analyzer, analysis of the edited text, edited text) after analysing ``text`` first."""
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(text)
    edited = text.replace(old, new)
    result = analyzer.analyze(edited)
    assert fingerprint(result) == fingerprint(analyze(edited))
    return analyzer, result, edited


def test_a_role_change_falls_back() -> None:
    analyzer, _, _ = edited_once(IMPORTS_TEXT, "@DBOS.workflow()\nasync def wf():", "@DBOS.step()\nasync def wf():")
    assert analyzer.last_path == "full"


INLINE_TEXT = (
    "from dbos import DBOS\n\n\n@DBOS.workflow()\ndef approve(order_id):\n    return order_id\n\n\n"
    "async def handler(order_id):\n    return approve(order_id)\n"
)


def test_an_edit_in_a_sync_workflow_reaches_the_async_caller_incrementally() -> None:
    # A sync workflow called from async code runs inline, so DBOS101 follows it: typing a
    # raising call into its body must flag the caller without a full analysis.
    typed = "    DBOS.recv('approval')\n    return order_id\n"
    analyzer, result, _ = edited_once(INLINE_TEXT, "    return order_id\n", typed)
    assert analyzer.last_was_incremental
    assert [(f.code, f.span.start.line) for f in result.findings] == [("DBOS101", 10)]
    back = analyzer.analyze(INLINE_TEXT)
    assert analyzer.last_was_incremental and back.findings == []


BRACKET_TEXT = (
    '"""Orders.\n\nA docstring whose lines start at the margin.\n"""\n\nfrom dbos import DBOS\n\n\n'
    "@DBOS.workflow()\nasync def checkout(order_id):\n    total = 1\n    return total\n\n\n"
    "def helper(x):\n    return [x,\n        x]\n"
)
OPEN_STRING = "x = '''open"


@pytest.mark.parametrize("typed", ["DBOS.sleep(", "DBOS.sleep(1", "f(a, [b, {c:", OPEN_STRING])
def test_typing_an_open_bracket_compiles_only_the_statement(typed: str, monkeypatch) -> None:
    # Code after a statement that leaves only brackets open cannot close them: the file's
    # repair is that statement's, with no compile of the whole file.  An open string might
    # be closed further down: there the file is compiled once.
    from dbos_lsp.engine import incremental

    whole: list[str] = []
    real = incremental.compile_module

    def recording(text: str, *args, **kwargs):
        if text.startswith('"""Orders.'):
            whole.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(incremental, "compile_module", recording)
    analyzer, result, _ = edited_once(BRACKET_TEXT, "    total = 1\n", f"    total = 1\n    {typed}\n")
    assert analyzer.last_was_incremental
    assert result.syntax_error is not None
    assert bool(whole) == (typed == OPEN_STRING)


@pytest.mark.parametrize(
    "old,new,path",
    [
        # nothing else uses the names these bind: the rest is kept as it was
        ("import asyncio\n", "import asyncio\nimport json\n", "imports"),
        ("import asyncio\n", "import asyncio\nfrom os import path as p\n", "imports"),
        ("import asyncio\n\n", "", "imports"),
        ("import asyncio\n", "import asyncio as aio\n", "imports"),
        # a name used below changes what it is bound to: walked again, no compile of the file
        ("from dbos import DBOS\n", "from mylib import DBOS\n", "imports+walk"),
        ("from dbos import DBOS\n", "from dbos import DBOS as D\n", "imports+walk"),
        ("from dbos import DBOS\n", "from dbos import DBOS\nimport time\n", "imports"),
        # bound again the same way: the name means what it meant
        ("from dbos import DBOS\n", "from dbos import DBOS\nfrom dbos import DBOS\n", "imports"),
        ("from dbos import DBOS\n", "from dbos import DBOS\nfrom helpers import helper\n", "imports+walk"),
        # not an import edit the import path takes
        ("import asyncio\n", "from __future__ import annotations\nimport asyncio\n", "full"),
        ("import asyncio\n", "from os import *\nimport asyncio\n", "full"),
        ("import asyncio\n", "import asyncio\nx = 1\n", "full"),
        ("import asyncio\n", "import asyncio\nimport\n", "full"),
    ],
)
def test_import_edits_reuse_the_rest_and_equal_the_full_analysis(old: str, new: str, path: str) -> None:
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(IMPORTS_TEXT)
    edited = IMPORTS_TEXT.replace(old, new, 1)
    assert edited != IMPORTS_TEXT
    assert fingerprint(analyzer.analyze(edited)) == fingerprint(analyze(edited))
    assert analyzer.last_path == path
    # and back again, the same way, still equal
    assert fingerprint(analyzer.analyze(IMPORTS_TEXT)) == fingerprint(analyze(IMPORTS_TEXT))
    assert analyzer.last_path == path


def test_an_import_edit_moves_the_findings_below_it() -> None:
    analyzer = IncrementalAnalyzer()
    before = analyzer.analyze(IMPORTS_TEXT)
    edited = IMPORTS_TEXT.replace("import asyncio\n", "import asyncio\nimport json\nimport re\n")
    after = analyzer.analyze(edited)
    assert analyzer.last_path == "imports"
    assert [f.span.start.line for f in after.findings] == [f.span.start.line + 2 for f in before.findings]
    assert before.findings  # DBOS101 on DBOS.sleep, so the shift is seen


def test_settings_change_falls_back() -> None:
    text = "from dbos import DBOS\n\n@DBOS.workflow()\nasync def wf():\n    DBOS.sleep(1)\n"
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(text)
    ignored = Settings(ignore=("DBOS101",))
    assert analyzer.analyze(text, ignored).findings == []
    assert not analyzer.last_was_incremental


def test_most_in_line_edits_are_incremental_and_exact() -> None:
    text = generated_module()
    rnd = random.Random(7)
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(text)
    incremental = parseable = 0
    for _ in range(60):
        lines = text.split("\n")
        i = rnd.randrange(len(lines))
        if not lines[i].startswith("    ") or not lines[i].strip():
            continue  # an edit inside a body, as typing usually is
        col = rnd.randint(4, len(lines[i]))
        lines[i] = lines[i][:col] + rnd.choice(["x", "1", " ", "DBOS.sleep(1)"]) + lines[i][col:]
        edited = "\n".join(lines)
        assert fingerprint(analyzer.analyze(edited)) == fingerprint(analyze(edited))
        if analyze(edited).syntax_error is None:
            parseable += 1
            incremental += analyzer.last_was_incremental
            text = edited
        else:  # a typo that breaks the parse is undone, as a user would
            assert fingerprint(analyzer.analyze(text)) == fingerprint(analyze(text))
    # Edits inside bodies reuse the rest; only decorator or class-level edits fall back.
    assert parseable >= 15 and incremental >= 0.8 * parseable


def test_line_insertions_inside_a_function_are_incremental_and_exact() -> None:
    text = generated_module()
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(text)
    marker = text.index("rev-0")
    line_end = text.index("\n", marker)
    # press Enter and type a statement after the marker line: the module below moves down
    for typed in ["\n", "\n    ", "\n    DBOS.sleep_async(5)"]:
        edited = text[:line_end] + typed + text[line_end:]
        assert fingerprint(analyzer.analyze(edited)) == fingerprint(analyze(edited))
        assert analyzer.last_was_incremental
    # and remove it again
    assert fingerprint(analyzer.analyze(text)) == fingerprint(analyze(text))
    assert analyzer.last_was_incremental


BROKEN_FUNCTION = """\
import random
import time

from dbos import DBOS


@DBOS.workflow()
async def pipeline() -> None:
    DBOS.sleep(5)
    started = time.time()
    DBOS.set_event("k", 1)
    n = random.random()
    DBOS.send("x", 1)


@DBOS.workflow()
def other() -> None:
    time.time()
"""
# (code, line) of every finding in BROKEN_FUNCTION: 4 in ``pipeline``, 1 in ``other``
BROKEN_FUNCTION_FINDINGS = [("DBOS101", 8), ("DBOS201", 9), ("DBOS101", 10), ("DBOS201", 11), ("DBOS101", 12)]


def _with_line(text: str, after: int, line: str) -> str:
    lines = text.split("\n")
    lines.insert(after + 1, line)
    return "\n".join(lines)


@pytest.mark.parametrize(
    "typed",
    [
        "    DBOS.",  # an attribute not typed yet
        "    if n:",  # a header with no body yet
        "      x = 1",  # one level too deep
        "    DBOS.recv(",  # an unclosed call
        "    y = 'unfinished",
    ],
)
def test_findings_in_a_broken_function_survive(typed: str) -> None:
    """While one line of a function does not parse, the function's other findings stay
    (the line is repaired alone), in the full analysis and in the incremental one, which
    repairs only the edited statement."""
    text = _with_line(BROKEN_FUNCTION, 10, typed)  # after `DBOS.set_event(...)`
    full = analyze(text)
    assert full.syntax_error is not None and full.syntax_error.span.start.line in (11, 12)
    moved = [(code, line + (line > 10)) for code, line in BROKEN_FUNCTION_FINDINGS]
    assert [(f.code, f.span.start.line) for f in full.findings] == [*moved, ("DBOS201", 18)]
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(BROKEN_FUNCTION)
    for n in range(len(typed) + 1):  # typed one character at a time, on a new line
        partial = _with_line(BROKEN_FUNCTION, 10, typed[:n])
        assert fingerprint(analyzer.analyze(partial)) == fingerprint(analyze(partial))
        assert analyzer.last_was_incremental, repr(typed[:n])


def test_an_edit_elsewhere_while_a_function_is_broken_is_exact() -> None:
    text = _with_line(BROKEN_FUNCTION, 10, "    DBOS.")
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(text)
    other = text.replace("    time.time()", "    time.time_ns()")
    assert fingerprint(analyzer.analyze(other)) == fingerprint(analyze(other))
    assert not analyzer.last_was_incremental  # two statements would be involved: the full path


def test_a_new_world_walks_again_what_the_index_answered(tmp_path) -> None:
    # An analysis that used the project index keeps unedited statements only while the
    # caller's ``world`` (the server's document epoch) stays the same: after a helper
    # module changed on disk, a new world re-reads it even for an edit elsewhere.
    from dbos_lsp.project.index import JediProjectIndex

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n')
    helpers = tmp_path / "helpers.py"
    helpers.write_text("def stamp() -> int:\n    return 1\n")
    app = tmp_path / "app.py"
    text = (
        "from dbos import DBOS\n\nfrom helpers import stamp\n\n\n@DBOS.workflow()\ndef wf() -> int:\n"
        "    return stamp()\n\n\n@DBOS.workflow()\nasync def other() -> int:\n    return 1\n"
    )
    app.write_text(text)
    index = JediProjectIndex(str(tmp_path))
    analyzer = IncrementalAnalyzer()
    assert analyzer.analyze(text, index=index, path=str(app), world=0).findings == []
    edited = text.replace("return 1\n", "return 2\n")
    assert analyzer.analyze(edited, index=index, path=str(app), world=0).findings == []
    assert analyzer.last_path == "statement" and analyzer._state.model.used_index  # kept, index-using
    helpers.write_text("import time\n\n\ndef stamp() -> int:\n    return int(time.time())\n")
    os.utime(helpers, (1, 1))  # a new mtime, whatever the clock's resolution
    again = edited.replace("return 2\n", "return 3\n")
    result = analyzer.analyze(again, index=index, path=str(app), world=1)
    assert [f.code for f in result.findings] == ["DBOS201"]
    assert fingerprint(result) == fingerprint(analyze(again, index=index, path=str(app)))
