"""Unit tests of the pure hover module (no server)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dbos_lsp.analysis.settings import Settings, parse_settings
from dbos_lsp.analysis.source_text import SourceText
from dbos_lsp.engine.pipeline import analyze, module_model
from dbos_lsp.features.hover import (
    HOVER_BUDGET,
    HOVER_DETAILS,
    api_hover,
    async_fact,
    hover_markdown,
    rule_url,
)
from dbos_lsp.knowledge.api_signatures import SIGNATURES
from dbos_lsp.knowledge.skills import load_library
from dbos_lsp.rules import lookup

SRC = """from dbos import DBOS, DBOSClient

q = DBOS.register_queue("jobs")
client = DBOSClient(system_database_url="postgresql://localhost/app")


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(30)
    await DBOS.sleep_async(1)
    h = await q.enqueue_async(wf)


def plain() -> None:
    q.enqueue(wf)
    DBOS.sleep(1)  # noqa: DBOS101
    x = 1  # dbos: ignore[async-sync-dbos-call]
"""


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules"


@pytest.fixture(scope="module")
def library():
    return load_library([])


def hover(text, line, col, library, settings=None, detail="compact", budget=HOVER_BUDGET):
    return hover_markdown(text, line, col, analyze(text, settings), library, detail=detail, budget=budget)


def col(text: str, line: int, needle: str, offset: int = 0) -> int:
    return text.splitlines()[line].index(needle) + offset


def prose_lines(md: str) -> list[str]:
    """The lines outside code blocks."""
    out, fenced = [], False
    for line in md.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return out


def assert_reads_as_plain_text(md: str) -> None:
    assert md.count("```") % 2 == 0, md  # every code block closed
    for line in prose_lines(md):
        assert re.search(r"</?[a-zA-Z][^>]*>", line) is None, md  # no HTML
        assert not line.lstrip().startswith("|"), md  # no tables
        assert not line.startswith(("#", "- ", "* ", "> ")) or line.startswith("### DBOS"), line
        assert len(line.rstrip()) <= 100 or "](" in line, line  # short lines, but for a link's URL


def assert_signature_first(md: str, api: str) -> None:
    first = md.split("\n")[:3]
    assert first[0] == "```python" and api in first[1], md


# ----- compact (the default) ----------------------------------------------------------------


def test_compact_finding_hover_signature_rule_in_few_lines_and_a_link(library):
    md, span = hover(SRC, 8, col(SRC, 8, "sleep", 1), library)
    assert (span.start.line, span.start.character, span.end.character) == (8, 4, 14)
    assert len(md) <= HOVER_BUDGET
    assert md.startswith("```python\nDBOS.sleep(seconds: float) -> None\n```\nSleep for the specified time")
    assert "**DBOS101 async-sync-dbos-call**  \nQuick fix: Use `await DBOS.sleep_async(...)`" in md
    assert lookup("DBOS101").summary in md.replace("\n", " ")  # what is wrong, in one line
    message = analyze(SRC).findings[0].message
    assert message.split(";")[0] not in md  # the diagnostic above the hover says that already
    assert "Correct" in md and "await DBOS.set_event_async" in md  # the doc's Correct example, cut short
    assert f"[DBOS101: full explanation]({rule_url(lookup('DBOS101'))})" in md
    assert "Most DBOS methods" not in md  # the explanation is behind the link
    assert_reads_as_plain_text(md)


@pytest.mark.parametrize("needle,offset", [("DBOS", 1), ("sleep_async", 2)])
def test_compact_api_hover_on_either_part(library, needle, offset):
    md, span = hover(SRC, 9, col(SRC, 9, needle, offset), library)
    assert_signature_first(md, "async def DBOS.sleep_async(seconds: float) -> None")
    assert "A coroutine: `await` it" in md and "`DBOS.sleep(...)`" in md
    assert "DBOS version assumed: 3.4, from the newest release." in md
    assert SRC.splitlines()[9][span.start.character : span.end.character] == "DBOS.sleep_async"
    assert "Call DBOS Correctly from Coroutines" not in md  # the guidance sections are links now
    assert "](https://" in md and len(md) <= HOVER_BUDGET
    assert_reads_as_plain_text(md)


def test_compact_decorator_and_constructor_and_instance_methods(library):
    md, _ = hover(SRC, 6, 3, library)
    assert_signature_first(md, "DBOS.workflow(*, name")
    assert "DBOS version assumed" in md and len(md) <= HOVER_BUDGET
    md, _ = hover(SRC, 3, 12, library)
    assert md.startswith("```python\nDBOSClient(*, system_database_url")
    md, _ = hover(SRC, 14, col(SRC, 14, "enqueue", 1), library)  # q is a module-level Queue
    assert_signature_first(md, "Queue.enqueue(func")
    assert "Blocks the event loop" in md and "enqueue_async" in md


def test_compact_suppression_comment_hover(library):
    text = SRC.replace("DBOS.sleep(30)", "DBOS.sleep(30)  # noqa: DBOS101")
    line = text.splitlines()[8]
    md, span = hover(text, 8, line.index("DBOS101") + 2, library)
    assert md.startswith("### DBOS101 async-sync-dbos-call\n".replace("\n", "  \n"))
    assert lookup("DBOS101").summary in md
    assert "**Fix:** safe · error · DBOS versions: 2.10+" in md and "Correct" in md and "sleep_async" in md
    assert f"[DBOS101: full explanation]({rule_url(lookup('DBOS101'))})" in md
    assert line[span.start.character : span.end.character] == "DBOS101"
    assert len(md) <= HOVER_BUDGET
    assert_reads_as_plain_text(md)
    # An unused suppression: the finding on the comment follows the rule, in the same budget.
    line = SRC.splitlines()[15]
    md, _ = hover(SRC, 15, line.index("DBOS101") + 2, library)
    assert md.startswith("### DBOS101 async-sync-dbos-call") and "**Fix:** safe" in md
    assert "**DBOS901 unused-suppression**  \nQuick fix: Remove unused suppression comment" in md
    assert "[DBOS901: full explanation](" in md and len(md) <= HOVER_BUDGET
    line = SRC.splitlines()[16]
    md, _ = hover(SRC, 16, line.index("async-sync") + 3, library)  # a rule name works as well as a code
    assert md.startswith("### DBOS101 async-sync-dbos-call") and len(md) <= HOVER_BUDGET


def test_nothing_elsewhere(library):
    for detail in HOVER_DETAILS:
        assert hover(SRC, 16, 4, library, detail=detail) is None  # `x`
        assert hover(SRC, 0, 0, library, detail=detail) is None  # `from`
        assert hover("def broken(:\n", 0, 2, library, detail=detail) is None


def test_version_source_from_settings(library):
    md, _ = hover(SRC, 9, col(SRC, 9, "DBOS", 1), library, Settings(dbos_version="3.1"))
    assert "DBOS version assumed: 3.1, from the dbosVersion setting; signature from dbos 3.4.0." in md
    md, _ = hover(SRC, 9, col(SRC, 9, "DBOS", 1), library, Settings(dbos_version="3.1"), detail="full")
    assert "DBOS version assumed by the analysis: 3.1, from the dbosVersion setting" in md


def test_upstream_document_from_extra_skill_folder(tmp_path: Path):
    folder = tmp_path / "upstream" / "references"
    folder.mkdir(parents=True)
    (folder / "advanced-async.md").write_text(
        "---\ntitle: Upstream Async Guide\napis: DBOS.sleep_async\n---\n\n## Upstream Async Guide\n\n"
        "Use the async twins everywhere. Always.\n\nReference: [DBOS docs](https://docs.dbos.dev/python/reference)\n",
        encoding="utf-8",
    )
    library = load_library([str(tmp_path / "upstream")])
    assert not library.warnings
    md, _ = hover(SRC, 9, col(SRC, 9, "DBOS", 1), library)
    assert "Upstream: [Upstream Async Guide](https://docs.dbos.dev/python/reference)" in md
    assert len(md) <= HOVER_BUDGET
    md, _ = hover(SRC, 9, col(SRC, 9, "DBOS", 1), library, budget=2000)
    assert "Use the async twins everywhere." in md and "Always." not in md  # its first sentence, given room
    md, _ = hover(SRC, 9, col(SRC, 9, "DBOS", 1), library, detail="full")
    assert "**Upstream: Upstream Async Guide**" in md
    assert "Use the async twins everywhere." in md
    assert "[DBOS docs](https://docs.dbos.dev/python/reference)" in md


def test_budget_trims_examples_first_then_summaries(library):
    at = (8, col(SRC, 8, "sleep", 1))
    roomy = hover(SRC, *at, library, budget=2000)[0]
    assert "async def wait_for_approval(request_id: str) -> str:" in roomy
    assert "Correct (await the async twins):" in roomy  # the example's own label when there is room
    tighter = hover(SRC, *at, library, budget=420)[0]
    assert len(tighter) <= 420 and "```python\nasync def" not in tighter  # no example left
    assert lookup("DBOS101").summary in tighter.replace("\n", " ")  # the summary stays longer
    tight = hover(SRC, *at, library, budget=330)[0]
    assert len(tight) <= 330 and "A sync DBOS method that raises RuntimeError…" in tight  # shortened
    assert tight.startswith("```python\nDBOS.sleep(seconds) -> None") and "[DBOS101: full explanation]" in tight
    for budget in (40, 80, 120, 200):  # a hard cap, and never an open code block
        for md in (hover(SRC, *at, library, budget=budget)[0], hover(SRC, 6, 3, library, budget=budget)[0]):
            assert len(md) <= budget and md.count("```") % 2 == 0, (budget, md)


def test_long_signatures_lose_annotations_before_the_summary(library):
    a = analyze("from dbos import DBOS\n")
    md = api_hover("dbos.DBOS", "list_workflows", a, library)
    assert len(SIGNATURES["DBOS.list_workflows"]["signature"]) > HOVER_BUDGET
    assert_signature_first(md, "DBOS.list_workflows(*, workflow_ids=None, status=None")
    assert "…) -> List[WorkflowStatus]" in md and "RuntimeError" in md and len(md) <= HOVER_BUDGET


def test_every_signature_fits_with_the_signature_first(library):
    a = analyze("from dbos import DBOS\n")
    for key in SIGNATURES:
        cls, _, member = key.partition(".")
        md = api_hover(f"dbos.{cls}", member or "__init__", a, library)
        assert md is not None and len(md) <= HOVER_BUDGET, (key, len(md or ""))
        assert_signature_first(md, key.split(".")[-1])
        assert_reads_as_plain_text(md)


def _fixture_texts():
    return sorted(FIXTURES.glob("*.py"))


@pytest.mark.parametrize("path", _fixture_texts(), ids=lambda p: p.name)
def test_every_fixture_hover_fits_the_budget(path: Path, library):
    """Every finding of every fixture, and every DBOS API the fixture names: within the
    budget, readable as plain text, and an API's signature in the first three lines."""
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text)
    model = analysis.model or module_model(text)
    for f in analysis.findings:
        md, _ = hover_markdown(text, f.span.start.line, f.span.start.character, analysis, library, model)
        assert len(md) <= HOVER_BUDGET, (f.code, f.span, len(md))
        assert f"**{f.code} {f.name}**" in md and "full explanation](" in md, md
        assert_reads_as_plain_text(md)
    if model is None:
        return
    source = SourceText(text)
    seen = 0
    for node in ast.walk(model.tree):
        if not isinstance(node, ast.Attribute):
            continue
        end = source.span(node).end
        result = hover_markdown(text, end.line, end.character - 1, analysis, library, model)
        if result is None or not result[0].startswith("```python"):
            continue  # not a DBOS API (or a finding's own text on a name that is not one)
        seen += 1
        assert len(result[0]) <= HOVER_BUDGET, (node.lineno, len(result[0]))
        assert_signature_first(result[0], node.attr)
        assert_reads_as_plain_text(result[0])
    assert seen or "DBOS." not in text


def test_hover_detail_setting_is_parsed_leniently():
    assert parse_settings({"hoverDetail": "Full"}) == (Settings(hover_detail="full"), [])
    assert parse_settings({"hover-detail": "compact"})[0].hover_detail == "compact"
    settings, errors = parse_settings({"hoverDetail": "verbose"})
    assert settings.hover_detail == "compact" and errors == [
        'setting \'hoverDetail\' must be "compact" or "full"; ignored'
    ]


# ----- full ("hoverDetail": "full") ---------------------------------------------------------


def test_full_finding_hover_has_message_explanation_example_and_signature(library):
    md, span = hover(SRC, 8, col(SRC, 8, "sleep", 1), library, detail="full")
    assert (span.start.line, span.start.character, span.end.character) == (8, 4, 14)
    assert md.startswith("**DBOS101 async-sync-dbos-call**: `DBOS.sleep()` raises RuntimeError")
    assert "Correct" in md and "```python" in md and "sleep_async" in md
    assert "DBOS.sleep(seconds: float) -> None" in md  # the API part follows the finding
    assert rule_url(lookup("DBOS101")) in md
    assert "Most DBOS methods" in md and len(md) > HOVER_BUDGET  # every section, no budget


def test_full_api_hover_has_the_guidance(library):
    md, _ = hover(SRC, 9, col(SRC, 9, "DBOS", 1), library, detail="full")
    assert "async def DBOS.sleep_async(seconds: float) -> None" in md
    assert "Call DBOS Correctly from Coroutines" in md  # the skill that lists the API
    assert "DBOS version assumed by the analysis: 3.4" in md


def test_full_suppression_comment_hover(library):
    line = SRC.splitlines()[15]
    md, _ = hover(SRC, 15, line.index("DBOS101") + 2, library, detail="full")
    assert md.startswith("### DBOS101 async-sync-dbos-call")
    assert "**Correct" in md and "**Fix:** safe" in md and "(https://" in md
    assert "**DBOS901" in md


def test_sync_fact_for_sleep_in_sync_code(library):
    assert "sleep_async" in async_fact("dbos.DBOS", "sleep")
    assert "RuntimeError" in async_fact("dbos.DBOS", "sleep")
    assert async_fact("dbos.DBOS", "launch").startswith("Sync only")


def test_generated_signatures_cover_the_sdk_facts():
    from dbos_lsp.knowledge import sdk_facts

    for method in sdk_facts.RAISES_IN_LOOP[sdk_facts.DBOS]:
        assert f"DBOS.{method}" in SIGNATURES, method
        assert f"DBOS.{method}_async" in SIGNATURES, method
    assert SIGNATURES["DBOS.sleep"]["signature"] == "DBOS.sleep(seconds: float) -> None"


def test_generated_module_is_fresh():
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, str(repo / "scripts" / "gen_api_signatures.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
