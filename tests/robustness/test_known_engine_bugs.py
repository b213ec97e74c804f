"""Minimal reproductions of bugs the robustness fuzzers found.

Fixed ones stay as regression tests; open ones are strict xfails (a fix makes them pass,
which strict turns into a failure: then remove the marker).
"""

from __future__ import annotations

import ast

import pytest
from lsprotocol import types
from rb_support import LiveSession, LoopThread, comparable, lsp_lines, parses

from dbos_lsp.analysis.findings import Position, Span
from dbos_lsp.analysis.source_text import apply_edits
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.features.code_actions import code_actions


def _everything(text: str) -> Span:
    lines = lsp_lines(text)
    return Span(Position(0, 0), Position(len(lines) - 1, len(lines[-1])))


# ----- DBOS901's fix leaves the rest of the comment as code ------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "x = 1  # noqa: DBOS101 (see ticket 12\n",  # the fix leaves "x = 1 (see ticket 12": a syntax error
        "x = 1  # dbos: ignore[DBOS101] ) why\n",
        "x = 1  # noqa: DBOS101; import os\n",  # worse: "x = 1; import os" parses, and runs
    ],
)
def test_dbos901_fix_keeps_the_rest_of_the_comment_a_comment(text: str):
    (finding,) = [f for f in analyze(text).findings if f.code == "DBOS901"]
    fixed = apply_edits(text, finding.fix.edits)
    assert parses(fixed), fixed
    assert ast.dump(ast.parse(fixed)) == ast.dump(ast.parse(text)), f"the fix changed the code: {fixed!r}"


# ----- "Disable ... for this line" after a backslash continuation ------------------------------


def test_disable_comment_on_a_backslash_continued_line():
    text = 'from dbos import Queue\nq = Queue\\\n("q")\n'
    actions = [a for a in code_actions(text, analyze(text), _everything(text)) if a.title.startswith("Disable")]
    assert actions
    for action in actions:
        fixed = apply_edits(text, action.edits)
        assert parses(fixed), f"{action.title}: {fixed!r}"


# ----- parse recovery and line breaks ------------------------------------------------------------

AFTER_ERROR = "from dbos import DBOS\n\ndef broken(:\n    pass\n\nasync def f():\n    DBOS.sleep(1)\n"


def test_recovery_keeps_line_numbers_after_a_lone_cr():
    text = "from dbos import DBOS\ndef broken(:\r    pass\nasync def f():\n    DBOS.sleep(1)\n"
    found = [(f.code, f.span.start.line) for f in analyze(text).findings]
    assert found == [("DBOS101", 4)]
    (finding,) = analyze(text).findings
    assert "DBOS.sleep_async" in finding.fix.title, finding.fix.title  # not "c de.sleep_async"


@pytest.mark.parametrize(
    "text, line",
    [
        ("from dbos import DBOS\rx = (\rasync def f():\r    DBOS.sleep(1)\r", 3),
        ("from dbos import DBOS\rx = (\r\rasync def f():\r    DBOS.sleep(1)\r", 4),
    ],
)
def test_recovery_keeps_line_numbers_in_a_cr_only_file(text: str, line: int):
    (finding,) = analyze(text).findings
    assert (finding.code, finding.span.start.line) == ("DBOS101", line)
    assert "DBOS.sleep_async" in finding.fix.title, finding.fix.title  # not "c de.sleep_async"


@pytest.mark.parametrize("prefix", ["# page\x0c break\n", 's = "a\u2028b"\n', "# \x1c\n"])
def test_recovery_with_characters_str_splitlines_treats_as_line_breaks(prefix: str):
    text = prefix + AFTER_ERROR
    found = [(f.code, f.span.start.line) for f in analyze(text).findings]
    assert found == [("DBOS101", 7)]


# ----- incremental sync and line breaks other than CR / LF ----------------------------------------


@pytest.mark.parametrize("kind", ["visual-studio-code", "neovim@v0.11"])
def test_incremental_change_after_a_form_feed(kind: str):
    lt = LoopThread()
    try:
        live = lt.run(LiveSession.start(kind))
        try:
            text = "# \x0c page\nfrom dbos import DBOS\n\n\n@DBOS.workflow()\nasync def wf() -> None:\n    pass\n"
            doc = live.open(text)
            lt.run(live.diagnostics(doc))
            # Replace "pass" (line 6, columns 4..8) with a DBOS101 call, as the user types.
            rng = types.Range(start=types.Position(line=6, character=4), end=types.Position(line=6, character=8))
            doc.text = doc.text.replace("    pass", "    DBOS.sleep(1)")
            doc.version += 1
            live.notify(
                live.client.text_document_did_change,
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
                    content_changes=[types.TextDocumentContentChangePartial(range=rng, text="DBOS.sleep(1)")],
                ),
            )
            incremental = lt.run(live.diagnostics(doc))
            live.change_full(doc, doc.text)
            full = lt.run(live.diagnostics(doc))
            assert [d.code for d in full] == ["DBOS101"]
            assert comparable(incremental) == comparable(full)
        finally:
            lt.run(live.stop())
    finally:
        lt.close()
