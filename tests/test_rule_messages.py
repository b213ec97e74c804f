"""Rule messages are short, single sentences that name the problem, like Ruff's.

Editors show a diagnostic's message in one line (Neovim's virtual text, VS Code's Problems
panel, Emacs's flymake echo) and cut it off there, so the message names the problem only; the
remedy goes in the fix title (a separate line in editors) and the hover (the skill documents).
Measured over every finding the rule fixtures produce.
"""

from __future__ import annotations

import re
import statistics

from dbos_lsp.analysis.findings import Finding
from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.rules import REGISTRY
from test_rule_fixtures import FIXTURES

MAX_LENGTH = 100
MEDIAN_LENGTH = 60
# A backquoted fragment counts for at most this many characters (backquotes included): longer
# ones quote the user's code (a call with its arguments, a decorator with its options), whose
# length the rule does not choose.  DBOS API names fit: `DBOS.start_workflow_async()` is 29.
FRAGMENT_BUDGET = 30
_FRAGMENT = re.compile(r"`[^`]*`")
_VERSION_NOTE = re.compile(r" \(DBOS [0-9]+(\.[0-9]+)+\)$")


def _findings() -> list[Finding]:
    out = []
    for fixture in FIXTURES:
        analysis = analyze(fixture.read_text(encoding="utf-8"))
        out.extend(analysis.findings)
    return out


FINDINGS = _findings()


def budget_length(message: str) -> int:
    """``len(message)``, with each backquoted fragment counted for at most FRAGMENT_BUDGET."""
    return len(_FRAGMENT.sub(lambda m: m[0][:FRAGMENT_BUDGET], message))


def outside_code(message: str) -> str:
    return _FRAGMENT.sub("``", message)


def sentence_problems(message: str) -> list[str]:
    """Why ``message`` is not one short sentence naming a problem (empty when it is)."""
    problems = []
    text = outside_code(message)
    if "\n" in message:
        problems.append("a newline")
    if "; " in text:
        problems.append('"; " joins a second clause (advice goes in the fix title)')
    if re.search(r"[.!?] ", text):
        problems.append("a second sentence")
    if text.rstrip().endswith("."):
        problems.append("a trailing period")
    if "assumed from" in message:
        problems.append("where the DBOS version came from (the CLI summary and hover say it)")
    if budget_length(message) > MAX_LENGTH:
        problems.append(f"{budget_length(message)} characters (at most {MAX_LENGTH})")
    return problems


def test_fixtures_produce_findings_of_every_kind() -> None:
    assert len(FINDINGS) >= 200
    assert {f.code for f in FINDINGS} >= set(REGISTRY) - {"DBOS901"}


def test_each_message_is_one_short_sentence() -> None:
    bad = {f"{f.code}: {f.message}": p for f in FINDINGS if (p := sentence_problems(f.message))}
    assert bad == {}


def test_median_message_length() -> None:
    lengths = [len(f.message) for f in FINDINGS]  # the whole message, version note included
    assert statistics.median(lengths) <= MEDIAN_LENGTH


def test_version_note_names_only_the_version() -> None:
    for f in FINDINGS:
        note = _VERSION_NOTE.search(f.message)
        assert (note is not None) == REGISTRY[f.code].version_sensitive, f.message
    pinned = analyze("from dbos import Queue\nq = Queue('q')\n", Settings(dbos_version="3.4.0"))
    assert pinned.findings[0].message == "`Queue(...)` raises DBOSException since DBOS 3.0 (DBOS 3.4)"


def test_the_checks_catch_long_messages() -> None:
    old = (
        "`DBOS.sleep()` raises RuntimeError inside a running event loop; use `await DBOS.sleep_async()` "
        "in async code (DBOS 3.4 assumed from the newest release (no DBOS version configured))"
    )
    assert len(sentence_problems(old)) == 3
    assert sentence_problems("`asyncio.sleep` is not durable. Use `DBOS.sleep_async()`") == ["a second sentence"]
    long_code = "`" + "x" * 200 + "` reads the clock in workflow `wf`"
    assert sentence_problems(long_code) == []
