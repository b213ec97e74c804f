"""Realistic DBOS applications: correct ones give no findings at all; the 2.x-style app gives
exactly the DBOS 3 upgrade findings its comments expect, and none of them on DBOS 2.x."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.project.index import JediProjectIndex

CORPUS = Path(__file__).parent / "corpus"
CLEAN = sorted(p for p in CORPUS.glob("*/*.py") if p.parent.name != "legacy_v2")
LEGACY = sorted((CORPUS / "legacy_v2").glob("*.py"))
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")


def test_corpus_is_not_empty() -> None:
    assert len(CLEAN) >= 4 and LEGACY


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_correct_apps_give_no_findings(path: Path) -> None:
    index = JediProjectIndex(str(path.parent))
    analysis = analyze(path.read_text(encoding="utf-8"), Settings(), index, str(path))
    assert analysis.rule_errors == []
    assert analysis.syntax_error is None
    assert [(f.span.start.line + 1, f.code, f.message) for f in analysis.findings] == []


def _expected(text: str) -> list[tuple[int, str]]:
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = EXPECT.search(line)
        if m:
            out.extend((lineno, c.strip()) for c in m.group(1).split(",") if c.strip())
    return sorted(out)


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.name)
def test_legacy_app_on_dbos_3_gives_exactly_the_upgrade_findings(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text, Settings(dbos_version="3.4"))
    got = sorted((f.span.start.line + 1, f.code) for f in analysis.findings)
    assert got == _expected(text)
    assert {code for _, code in got} and all(code.startswith("DBOS6") for _, code in got)


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.name)
def test_legacy_app_on_dbos_2_gives_no_upgrade_findings(path: Path) -> None:
    analysis = analyze(path.read_text(encoding="utf-8"), Settings(dbos_version="2.31"))
    assert [f for f in analysis.findings if f.code.startswith("DBOS6")] == []
