"""Workflows, steps and async code see through the plain helpers they call, in this module
and in others.

The multi-module corpus (``tests/corpus_multi_module``: a package with workflows, steps
and helpers in separate modules, reached through relative, absolute and module-member
imports) must give exactly the findings its ``# expect:`` comments name, with the helper
chain as related locations, in every output format.  Same-module chains, cycles, depth
and clean counterparts are in the rule fixtures ``dbos20[1234]_through_helpers.py``,
``dbos301_through_helpers.py`` and ``dbos10[12]_through_helpers.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.incremental import IncrementalAnalyzer
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.project.index import JediProjectIndex

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus_multi_module"
FIXTURES = ROOT / "tests" / "fixtures" / "rules"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")


def expected_findings(root: Path) -> set[tuple[str, int, str]]:
    out = set()
    for path in root.rglob("*.py"):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            m = EXPECT.search(line)
            if m:
                rel = path.relative_to(root).as_posix()
                out.update((rel, lineno, c.strip()) for c in m.group(1).split(",") if c.strip())
    return out


def check(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dbos_lsp.cli.main", "check", *args, "."],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop_app"
    shutil.copytree(CORPUS, root)
    return root


def test_check_gives_exactly_the_expected_findings_with_their_chains(shop: Path) -> None:
    proc = check(shop, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert {(f["path"], f["line"], f["code"]) for f in report} == expected_findings(shop)
    by_line = {f["line"]: f for f in report if f["path"] == "shop/workflows.py"}
    expiry = by_line[12]
    assert expiry["message"] == "`quote_expiry()` reads the clock via `time.time()` in workflow `checkout`"
    # The call chain, down to the clock read two modules away (a relative import in pricing.py).
    assert [(r["path"], r["line"], r["message"]) for r in expiry["related"]] == [
        ("shop/pricing.py", 7, "`quote_expiry` calls `now()`"),
        ("shop/util/clock.py", 6, "`time.time()` reads the clock"),
    ]
    assert [(r["path"], r["line"]) for r in by_line[13]["related"]] == [("shop/pricing.py", 11)]
    assert [(r["path"], r["line"]) for r in by_line[14]["related"]] == [("shop/util/clock.py", 10)]
    # A helper in another module that bumps its own module's counter (DBOS204).
    counter = by_line[15]
    assert counter["message"] == "`pricing.record_quote()` changes global `quotes_made` in workflow `checkout`"
    assert [(r["path"], r["line"], r["message"]) for r in counter["related"]] == [
        ("shop/pricing.py", 23, "`record_quote` changes module-level `quotes_made`"),
    ]


def test_steps_and_async_code_see_through_helpers_in_other_modules(shop: Path) -> None:
    report = json.loads(check(shop, "--format", "json").stdout)
    found = {(f["path"], f["line"]): f for f in report}
    charge = found[("shop/steps.py", 19)]
    assert charge["code"] == "DBOS301"
    assert charge["message"] == "`after_payment()` starts a workflow in step `charge_step`"
    # steps.py -> billing.py (an absolute import) -> notify.py, where the workflow starts.
    assert [(r["path"], r["line"], r["message"]) for r in charge["related"]] == [
        ("shop/billing.py", 5, "`after_payment` calls `send_receipt()`"),
        ("shop/notify.py", 7, "`DBOS.start_workflow()` starts a workflow"),
    ]
    ack = found[("shop/fulfilment.py", 11)]
    assert ack["code"] == "DBOS101"
    assert ack["message"] == "`notify.wait_for_ack()` calls `DBOS.recv()`, which raises in async code"
    assert [(r["path"], r["line"], r["message"]) for r in ack["related"]] == [
        ("shop/notify.py", 11, "`DBOS.recv()` raises RuntimeError in a running event loop"),
    ]
    blocking = found[("shop/fulfilment.py", 13)]
    assert blocking["code"] == "DBOS102"
    assert [(r["path"], r["line"]) for r in blocking["related"]] == [("shop/billing.py", 5), ("shop/notify.py", 7)]


def test_text_and_sarif_show_the_chain(shop: Path) -> None:
    text = check(shop).stdout.splitlines()
    i = text.index(next(line for line in text if line.startswith("shop/workflows.py:12:15: DBOS201")))
    assert text[i + 1 : i + 3] == [
        "  shop/pricing.py:7:12: `quote_expiry` calls `now()`",
        "  shop/util/clock.py:6:12: `time.time()` reads the clock",
    ]
    sarif = json.loads(check(shop, "--format", "sarif").stdout)
    results = {r["locations"][0]["physicalLocation"]["region"]["startLine"]: r for r in sarif["runs"][0]["results"]}
    related = results[12]["relatedLocations"]
    assert [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in related] == [
        "shop/pricing.py",
        "shop/util/clock.py",
    ]
    region = related[1]["physicalLocation"]["region"]
    assert region == {"startLine": 6, "startColumn": 12, "endLine": 6, "endColumn": 23}


def test_a_changed_helper_module_changes_the_finding(shop: Path) -> None:
    workflows = shop / "shop" / "workflows.py"
    index = JediProjectIndex(str(shop))

    def codes_by_line() -> dict[int, str]:
        analysis = analyze(workflows.read_text(encoding="utf-8"), Settings(), index, str(workflows))
        return {f.span.start.line + 1: f.code for f in analysis.findings}

    assert codes_by_line() == {12: "DBOS201", 13: "DBOS202", 14: "DBOS201", 15: "DBOS204"}
    clock = shop / "shop" / "util" / "clock.py"
    text = clock.read_text(encoding="utf-8").replace("return time.time()", "return 0.0")
    clock.write_text(text, encoding="utf-8")
    # The index notices the saved change (its models are stamped with modification times).
    st = os.stat(clock)
    os.utime(clock, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert codes_by_line() == {13: "DBOS202", 14: "DBOS201", 15: "DBOS204"}


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_editing_a_helper_updates_the_workflows_that_call_it_incrementally() -> None:
    text = _fixture("dbos201_through_helpers.py")
    analyzer = IncrementalAnalyzer()
    before = analyzer.analyze(text)
    lines_flagged = sorted(f.span.start.line + 1 for f in before.findings)
    assert {85, 86} <= set(lines_flagged)  # stamp() and envelope() reach now_ms's clock read
    edited = text.replace("    return int(time.time() * 1000)", "    return 0")
    after = analyzer.analyze(edited)
    assert analyzer.last_was_incremental
    assert [(f.code, f.span, f.message, f.related) for f in after.findings] == [
        (f.code, f.span, f.message, f.related) for f in analyze(edited).findings
    ]
    assert not {85, 86} & {f.span.start.line + 1 for f in after.findings}
    # And back: the chain reappears, exact.
    again = analyzer.analyze(text)
    assert analyzer.last_was_incremental
    assert [(f.span, f.related) for f in again.findings] == [(f.span, f.related) for f in before.findings]


def test_related_locations_move_with_lines_inserted_above_them() -> None:
    text = _fixture("dbos201_through_helpers.py")
    analyzer = IncrementalAnalyzer()
    analyzer.analyze(text)
    # A new line in the first helper's body moves every later statement, workflows included.
    edited = text.replace("    return int(time.time() * 1000)\n", "    x = 1\n    return int(time.time() * 1000) + x\n")
    got = analyzer.analyze(edited)
    assert analyzer.last_was_incremental
    want = analyze(edited)
    assert [(f.span, f.related) for f in got.findings] == [(f.span, f.related) for f in want.findings]
    assert any(f.related for f in got.findings)
