"""Unit tests of the pure hover module (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.features.hover import async_fact, hover_markdown, rule_url
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


@pytest.fixture(scope="module")
def library():
    return load_library([])


def hover(text, line, col, library, settings=None):
    return hover_markdown(text, line, col, analyze(text, settings), library)


def col(text: str, line: int, needle: str, offset: int = 0) -> int:
    return text.splitlines()[line].index(needle) + offset


def test_finding_hover_has_message_explanation_example_and_signature(library):
    md, span = hover(SRC, 8, col(SRC, 8, "sleep", 1), library)
    assert (span.start.line, span.start.character, span.end.character) == (8, 4, 14)
    assert md.startswith("**DBOS101 async-sync-dbos-call**: `DBOS.sleep()` raises RuntimeError")
    assert "Correct" in md and "```python" in md and "sleep_async" in md
    assert "DBOS.sleep(seconds: float) -> None" in md  # the API part follows the finding
    assert rule_url(lookup("DBOS101")) in md


@pytest.mark.parametrize("needle,offset", [("DBOS", 1), ("sleep_async", 2)])
def test_api_hover_on_either_part(library, needle, offset):
    md, span = hover(SRC, 9, col(SRC, 9, needle, offset), library)
    assert "async def DBOS.sleep_async(seconds: float) -> None" in md
    assert "A coroutine: `await` it" in md and "`DBOS.sleep(...)`" in md
    assert "Call DBOS Correctly from Coroutines" in md  # the skill that lists the API
    assert "DBOS version assumed by the analysis: 3.4" in md
    assert SRC.splitlines()[9][span.start.character : span.end.character] == "DBOS.sleep_async"


def test_decorator_and_constructor_and_instance_methods(library):
    md, _ = hover(SRC, 6, 3, library)
    assert "DBOS.workflow(*, name" in md
    md, _ = hover(SRC, 3, 12, library)
    assert md.startswith("```python\nDBOSClient(*, system_database_url")
    md, _ = hover(SRC, 14, col(SRC, 14, "enqueue", 1), library)  # q is a module-level Queue
    assert "Queue.enqueue(func" in md and "Blocks the event loop" in md and "enqueue_async" in md


def test_sync_fact_for_sleep_in_sync_code(library):
    assert "sleep_async" in async_fact("dbos.DBOS", "sleep")
    assert "RuntimeError" in async_fact("dbos.DBOS", "sleep")
    assert async_fact("dbos.DBOS", "launch").startswith("Sync only")


def test_suppression_comment_hover(library):
    line = SRC.splitlines()[15]
    md, span = hover(SRC, 15, line.index("DBOS101") + 2, library)
    assert md.startswith("### DBOS101 async-sync-dbos-call")
    assert "**Correct" in md and "**Fix:** safe" in md and "(https://" in md
    assert line[span.start.character : span.end.character] == "DBOS101"
    assert "**DBOS901" in md  # the unused-suppression finding on the same comment follows the doc
    line = SRC.splitlines()[16]
    md, _ = hover(SRC, 16, line.index("async-sync") + 3, library)
    assert md.startswith("### DBOS101 async-sync-dbos-call")


def test_nothing_elsewhere(library):
    assert hover(SRC, 16, 4, library) is None  # `x`
    assert hover(SRC, 0, 0, library) is None  # `from`
    assert hover("def broken(:\n", 0, 2, library) is None


def test_version_source_from_settings(library):
    md, _ = hover(SRC, 9, col(SRC, 9, "DBOS", 1), library, Settings(dbos_version="3.1"))
    assert "DBOS version assumed by the analysis: 3.1, from the dbosVersion setting" in md


def test_upstream_document_from_extra_skill_folder(tmp_path: Path):
    folder = tmp_path / "upstream" / "references"
    folder.mkdir(parents=True)
    (folder / "advanced-async.md").write_text(
        "---\ntitle: Upstream Async Guide\napis: DBOS.sleep_async\n---\n\n## Upstream Async Guide\n\n"
        "Use the async twins everywhere.\n\nReference: [DBOS docs](https://docs.dbos.dev/python/reference)\n",
        encoding="utf-8",
    )
    library = load_library([str(tmp_path / "upstream")])
    assert not library.warnings
    md, _ = hover(SRC, 9, col(SRC, 9, "DBOS", 1), library)
    assert "**Upstream: Upstream Async Guide**" in md
    assert "Use the async twins everywhere." in md
    assert "[DBOS docs](https://docs.dbos.dev/python/reference)" in md


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
