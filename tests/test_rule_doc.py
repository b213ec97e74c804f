"""``dbos-lsp rule CODE``: a rule's registry metadata, then its skill section as markdown."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

from dbos_lsp.cli.main import main
from dbos_lsp.cli.rule_doc import rule_section
from dbos_lsp.knowledge.skills import load_library
from dbos_lsp.rules import REGISTRY


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_rule_prints_metadata_then_documentation() -> None:
    code, out, err = run("rule", "DBOS611")
    assert (code, err) == (0, "")
    head = out.split("\n\n")
    assert head[0] == "# DBOS611 patching-config"
    assert head[1] == REGISTRY["DBOS611"].summary
    assert head[2].splitlines() == [
        "- Severity: error (2.7-3.3), information (3.4+)",
        "- DBOS versions: 2.7+",
        "- Scope: module",
        "- Fix: none",
        "- Skill document: advanced-patching",
    ]
    doc = load_library().rule_doc("DBOS611")
    assert doc.explanation in out  # the section as written
    assert "**Incorrect" in out and "**Correct" in out and "```python" in out
    assert "Fix: " + doc.fix_note in out
    assert "## " not in out.replace("# DBOS611", "")  # nothing from the document's other sections


def test_rule_by_name_or_lower_case_code() -> None:
    by_name = run("rule", "workflow-name-collision")
    assert by_name[0] == 0 and by_name[1].startswith("# DBOS404 workflow-name-collision\n")
    assert "- Severity: error; warning when both registrations are in one module" in by_name[1]
    assert "- Scope: project" in by_name[1]
    assert run("rule", "dbos404") == by_name


def test_section_ends_before_the_next_rule() -> None:
    code, out, _ = run("rule", "DBOS101")
    assert code == 0
    assert "DBOS101" in out and "### DBOS102" not in out and "async-blocking-dbos-call" not in out


def test_unknown_rule_is_a_usage_error() -> None:
    code, out, err = run("rule", "DBOS999")
    assert (code, out) == (2, "")
    assert "unknown rule 'DBOS999'" in err
    code, out, err = run("rule")
    assert (code, out) == (2, "") and "--all" in err


def test_rule_all_lists_every_rule_once() -> None:
    code, out, err = run("rule", "--all")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(REGISTRY)
    assert lines[0].startswith("DBOS101  async-sync-dbos-call  (error; 2.10+): ")


def test_section_ignores_hashes_inside_code_blocks() -> None:
    md = "### DBOS101 x\n\ntext\n\n```python\n# not a heading\n```\n\nmore\n\n### DBOS102 y\n\nnext\n"
    assert rule_section(md, "DBOS101") == "text\n\n```python\n# not a heading\n```\n\nmore"
    assert rule_section(md, "DBOS103") is None


def test_installed_console_script() -> None:
    script = shutil.which("dbos-lsp") or str(Path(sys.executable).parent / "dbos-lsp")
    done = subprocess.run([script, "rule", "DBOS610"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# DBOS610 v3-private-module-import\n")
    assert "- Scope: module" in done.stdout and "- DBOS versions: 3.0+" in done.stdout
    missing = subprocess.run([script, "rule", "nope"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stdout == "" and "unknown rule" in missing.stderr
