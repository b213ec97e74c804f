"""``@rule(...)`` is the one authority on a rule; its skill document and the README agree.

Fails when a rule and its document disagree: a rule without a section in its declared
skill document, a section in another document, a documented code nobody registered,
a section named differently, a fix the document describes otherwise, an invalid
scope, a finding whose severity the declaration does not allow, or a stale README table.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.knowledge.skills import bundled_skills_dir, load_library, parse_skill_document
from dbos_lsp.rules import REGISTRY
from dbos_lsp.rules.registry import FIXES, SCOPES

ROOT = Path(__file__).resolve().parents[1]
# What ``knowledge/skills.py`` loads as reference documents.
_NOT_DOCUMENTS = {"SKILL.md", "AGENTS.md", "README.md", "CLAUDE.md"}
DOCS = {
    p.stem: p
    for p in sorted(bundled_skills_dir().glob("*.md"))
    if p.name not in _NOT_DOCUMENTS and not p.name.startswith("_")
}
RULES = sorted(REGISTRY.values(), key=lambda r: r.code)


@functools.cache
def _parsed():
    return {
        doc_id: parse_skill_document(path.read_text(encoding="utf-8"), doc_id, str(path))
        for doc_id, path in DOCS.items()
    }


def test_bundled_documents_all_load() -> None:
    assert load_library().warnings == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_has_a_section_in_its_declared_document(rule) -> None:
    assert rule.skill in DOCS, f"{rule.code} declares skill {rule.skill!r}, which has no document"
    doc = _parsed()[rule.skill]
    assert rule.code in doc.rule_docs, f"{DOCS[rule.skill]} has no '### {rule.code} {rule.name}' section"
    section = doc.rule_docs[rule.code]
    assert section.name == rule.name
    # The document's "Fix:" line starts with safe/unsafe/none; "mixed" rules offer both kinds.
    allowed = {"safe", "unsafe"} if rule.fix == "mixed" else {rule.fix}
    assert section.fix_kind in allowed, f"{rule.code}: @rule says fix={rule.fix!r}, the document {section.fix_note!r}"


def test_codes_are_documented_only_in_their_declared_document() -> None:
    for doc_id, doc in _parsed().items():
        for code in {*doc.rule_docs, *doc.rules}:
            assert code in REGISTRY, f"{DOCS[doc_id]} documents {code}, which is not registered"
            assert REGISTRY[code].skill == doc_id, (
                f"{code} is documented in {doc_id}, declared in {REGISTRY[code].skill}"
            )


def test_no_other_document_has_a_heading_for_a_rule() -> None:
    # Raw text too, so a heading the parser would not take for a rule section still counts.
    heading = re.compile(r"^#{1,6}\s+(DBOS\d{3})\b", re.M)
    for doc_id, path in DOCS.items():
        for code in heading.findall(path.read_text(encoding="utf-8")):
            assert REGISTRY[code].skill == doc_id, f"{path} has a heading for {code}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_declarations_are_valid(rule) -> None:
    assert rule.scope in SCOPES
    assert rule.fix in FIXES
    assert [v for v, _ in rule.severity_since] == sorted(v for v, _ in rule.severity_since)
    for since, _ in rule.severity_since:
        assert rule.min_version is None or since > rule.min_version
        assert rule.max_version is None or since < rule.max_version
    if rule.severity_since:
        assert rule.version_sensitive  # the message says which version was assumed


def test_declared_severities_as_the_engine_applies_them() -> None:
    patching = REGISTRY["DBOS611"]
    assert patching.min_version == (2, 7)
    assert patching.severity_text() == "error (2.7-3.3), information (3.4+)"
    assert patching.versions_text() == "2.7+"
    collision = REGISTRY["DBOS404"]
    assert collision.severity_text() == "error; warning when both registrations are in one module"
    assert REGISTRY["DBOS101"].versions_text() == "2.10+"
    assert REGISTRY["DBOS102"].versions_text() == "all"


def _allowed(rule, version: tuple[int, ...]) -> set:
    return {rule.severity_for(version), *(c.severity for c in rule.severity_when)}


@pytest.mark.parametrize("version", ["2.9", "3.2", "3.4"])
def test_every_finding_has_a_declared_severity(version: str) -> None:
    """No check sets a severity its ``@rule`` does not declare (which the table would hide)."""
    settings = Settings(dbos_version=version)
    parsed = tuple(int(p) for p in version.split(".")) + (0,)
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests" / "fixtures" / "rules").glob("*.py"))]
    texts += [ex.code for doc in _parsed().values() for rd in doc.rule_docs.values() for ex in rd.examples]
    seen = 0
    for text in texts:
        for f in analyze(text, settings).findings:
            assert f.severity in _allowed(REGISTRY[f.code], parsed), (f.code, f.severity, version)
            seen += 1
    assert seen > 50


def test_readme_rule_table_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_rule_table.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for r in RULES:
        row = f"| {r.code} | `{r.name}` | {r.severity_text()} | {r.fix} | {r.versions_text()} | {r.scope} |"
        assert row in readme, r.code


def test_hover_and_sarif_show_the_registry_metadata() -> None:
    from dbos_lsp.cli.report_formats import sarif_log
    from dbos_lsp.features.hover import rule_markdown

    library = load_library()
    descriptors = {d["id"]: d for d in sarif_log([], "0", cwd=str(ROOT))["runs"][0]["tool"]["driver"]["rules"]}
    for r in RULES:
        md = rule_markdown(r, library)
        assert f"**Severity:** {r.severity_text()} · **DBOS versions:** {r.versions_text()}" in md
        props = descriptors[r.code]["properties"]
        assert (props["severity"], props["dbosVersions"], props["scope"], props["fix"]) == (
            r.severity_text(),
            r.versions_text(),
            r.scope,
            r.fix,
        )
