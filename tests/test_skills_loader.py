"""Tests for the skill document loader (dbos_lsp.knowledge.skills)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dbos_lsp.knowledge.skills import (
    SkillFormatError,
    bundled_skills_dir,
    load_library,
    parse_skill_document,
)

ASYNC_RULES = [f"DBOS{n}" for n in range(101, 112)]

GOOD_DOC = textwrap.dedent(
    """\
    ---
    title: Sample Rules
    impact: MEDIUM
    impactDescription: Shows the format.
    tags: [sample, test]
    rules:
      - DBOS999
    apis: DBOS.sleep, "DBOS.sleep_async"
    ---

    ## Sample Rules

    Intro paragraph.

    ### DBOS999 sample-rule

    Why it matters.

    **Incorrect (bad):**

    ```python
    x = 1
    ```

    **Correct (good):**
    ```python
    x = 2
    ```

    Fix: none. Nothing to do.

    Reference: [Docs](https://docs.dbos.dev/)
    """
)

UPSTREAM_DOC = textwrap.dedent(
    """\
    ---
    title: Use Async Workflows Correctly
    impact: LOW
    impactDescription: Non-blocking I/O in workflows
    tags: async, coroutine, await, asyncio
    ---

    ## Use Async Workflows Correctly

    Coroutines can be workflows.

    **Incorrect (mixing):**

    ```python
    pass
    ```

    ### Running In Parallel

    **Correct (ordered):**

    ```python
    pass
    ```

    Reference: [Async Workflows](https://docs.dbos.dev/python/tutorials/workflow-tutorial)
    """
)


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# ------------------------------------------------------------------ bundled


def test_bundled_dir_exists():
    assert bundled_skills_dir().is_dir()
    assert (bundled_skills_dir() / "advanced-async.md").is_file()


def test_bundled_library_loads_without_warnings():
    library = load_library()
    assert library.warnings == []
    assert "advanced-async" in library.docs
    assert library.extra == {}


def test_advanced_async_metadata():
    doc = load_library().docs["advanced-async"]
    assert doc.title and doc.impact == "HIGH" and doc.impact_description
    assert "async" in doc.tags
    assert list(doc.rules) == ASYNC_RULES
    assert sorted(doc.rule_docs) == ASYNC_RULES
    assert {"DBOS.sleep", "DBOS.sleep_async", "DBOS.start_workflow_async"} <= set(doc.apis)
    assert doc.intro
    assert doc.reference is not None and doc.reference[1].startswith("https://docs.dbos.dev/")


@pytest.mark.parametrize("code", ASYNC_RULES)
def test_every_async_rule_section_is_complete(code):
    library = load_library()
    rule = library.rule_doc(code)
    assert rule is not None and rule.doc_id == "advanced-async"
    assert rule.name and rule.explanation
    incorrect = [e for e in rule.examples if e.kind == "incorrect"]
    correct = [e for e in rule.examples if e.kind == "correct"]
    assert incorrect and correct
    for example in rule.examples:
        assert example.language == "python"
        assert example.code.strip()
        assert example.label.split(" ")[0].lower() == example.kind
    assert rule.fix_note.split(".")[0].lower() in {"safe", "unsafe", "none"}


def test_example_line_numbers_point_at_the_code():
    doc = load_library().docs["advanced-async"]
    lines = Path(doc.path).read_text(encoding="utf-8").split("\n")
    for rule in doc.rule_docs.values():
        for example in rule.examples:
            assert lines[example.line - 2].startswith("```")
            assert lines[example.line - 1] == example.code.split("\n")[0]


def test_rule_names_match_catalog():
    library = load_library()
    assert library.rule_doc("DBOS101").name == "async-sync-dbos-call"
    assert library.rule_doc("DBOS110").name == "async-datasource-module-await"
    assert library.rule_doc("DBOS999") is None
    assert library.rule_doc("async-missing-await") is library.rule_doc("DBOS104")
    assert library.rule_doc("dbos105").code == "DBOS105"


def test_docs_for_api():
    library = load_library()
    sleep_docs = [d.id for d in library.docs_for_api("DBOS.sleep")]
    assert "advanced-async" in sleep_docs and "pattern-sleep" in sleep_docs
    assert [d.id for d in library.docs_for_api("dbos._dbos.DBOS.sleep_async")] == [
        d.id for d in library.docs_for_api("DBOS.sleep_async")
    ]
    assert "advanced-async" in [d.id for d in library.docs_for_api("DBOS.sleep_async")]
    # documents list only the APIs they explain
    assert "advanced-async" not in [d.id for d in library.docs_for_api("DBOS.dbos_class")]
    assert library.docs_for_api("DBOS.no_such_api") == []


def test_bundled_parse_is_cached():
    first, second = load_library(), load_library()
    assert first.docs["advanced-async"] is second.docs["advanced-async"]
    assert first.docs is not second.docs


# ------------------------------------------------------------------ parser


def test_parse_good_document_all_list_forms():
    doc = parse_skill_document(GOOD_DOC, "sample", "sample.md")
    assert doc.tags == ("sample", "test")
    assert doc.rules == ("DBOS999",)
    assert doc.apis == ("DBOS.sleep", "DBOS.sleep_async")
    assert doc.intro == "Intro paragraph."
    assert doc.reference == ("Docs", "https://docs.dbos.dev/")
    rule = doc.rule_docs["DBOS999"]
    assert rule.name == "sample-rule"
    assert rule.explanation == "Why it matters."
    assert rule.fix_note == "none. Nothing to do."
    assert [(e.kind, e.label, e.code) for e in rule.examples] == [
        ("incorrect", "Incorrect (bad)", "x = 1\n"),
        ("correct", "Correct (good)", "x = 2\n"),
    ]
    assert rule.examples[0].line == GOOD_DOC.split("\n").index("x = 1") + 1


def test_parse_crlf_and_bom():
    doc = parse_skill_document("\ufeff" + GOOD_DOC.replace("\n", "\r\n"), "sample")
    assert doc.rule_docs["DBOS999"].examples[1].code == "x = 2\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("## No frontmatter\n\nText.\n", "frontmatter"),
        ("---\ntitle: Never closed\n\n## Body\n", "never closed"),
        (GOOD_DOC.replace("x = 2\n```\n", "x = 2\n"), "never closed"),
        (GOOD_DOC.replace("Fix: none. Nothing to do.", ""), "Fix"),
        (GOOD_DOC.replace("Fix: none.", "Fix: maybe."), "safe, unsafe or none"),
        (GOOD_DOC.replace("**Correct (good):**", "**Also (good):**"), "Incorrect and one Correct"),
        (GOOD_DOC.replace("  - DBOS999", "  - DBOS998"), "rule sections"),
        (GOOD_DOC.replace("impact: MEDIUM", "impact MEDIUM"), "key: value"),
    ],
)
def test_parse_malformed_documents_raise(text, message):
    with pytest.raises(SkillFormatError, match=message):
        parse_skill_document(text, "bad")


def test_skill_format_error_is_value_error():
    assert issubclass(SkillFormatError, ValueError)


# ------------------------------------------------------------ extra folders


def test_upstream_doc_is_available_via_extra_for(tmp_path):
    _write(tmp_path / "dbos-python" / "references", "advanced-async.md", UPSTREAM_DOC)
    _write(tmp_path / "dbos-python" / "references", "_sections.md", "# Sections\n")
    _write(tmp_path / "dbos-python", "SKILL.md", "---\nname: dbos-python\n---\n")
    library = load_library([str(tmp_path / "dbos-python")])
    assert library.warnings == []
    upstream = library.extra_for("advanced-async")
    assert upstream is not None
    assert upstream.title == "Use Async Workflows Correctly"
    assert upstream.impact == "LOW"
    assert upstream.tags == ("async", "coroutine", "await", "asyncio")
    assert upstream.rules == () and upstream.rule_docs == {}
    assert upstream.reference[0] == "Async Workflows"
    # The bundled document keeps answering rule lookups.
    assert library.rule_doc("DBOS101").doc_id == "advanced-async"
    assert library.docs["advanced-async"].rules
    assert library.extra_for("missing") is None


@pytest.mark.parametrize("layout", ["flat", "references", "skills-root"])
def test_extra_folder_layouts(tmp_path, layout):
    if layout == "flat":
        root = tmp_path
        _write(root, "sample.md", GOOD_DOC)
    elif layout == "references":
        root = tmp_path
        _write(root / "references", "sample.md", GOOD_DOC)
    else:
        root = tmp_path / "skills"
        _write(root / "dbos-python" / "references", "sample.md", GOOD_DOC)
    library = load_library([str(root)])
    assert library.warnings == []
    assert library.extra_for("sample") is not None
    assert library.rule_doc("DBOS999").doc_id == "sample"


def test_malformed_extra_documents_are_skipped_with_one_warning_each(tmp_path):
    folder = tmp_path / "references"
    bad = {
        "no-frontmatter.md": "## Title\n\nBody.\n",
        "unterminated-frontmatter.md": "---\ntitle: Oops\nimpact: LOW\n\n## Oops\n",
        "unterminated-fence.md": GOOD_DOC.replace("x = 2\n```\n", "x = 2\n"),
        "not-utf8.md": b"---\ntitle: Caf\xe9\n---\n\n## Caf\xe9\n",
        "empty.md": "",
    }
    for name, content in bad.items():
        _write(folder, name, content)
    _write(folder, "good.md", GOOD_DOC)
    _write(folder, "upstream.md", UPSTREAM_DOC)

    library = load_library([str(tmp_path)])

    assert len(library.warnings) == len(bad)
    for name in bad:
        assert sum(name in warning for warning in library.warnings) == 1, name
    assert sorted(library.extra) == ["good", "upstream"]
    assert "advanced-async" in library.docs
    assert library.rule_doc("DBOS101") is not None
    assert library.rule_doc("DBOS999").doc_id == "good"


def test_missing_extra_folder_warns(tmp_path):
    library = load_library([str(tmp_path / "nope")])
    assert len(library.warnings) == 1
    assert "advanced-async" in library.docs


def test_duplicate_extra_ids_keep_the_first(tmp_path):
    _write(tmp_path / "a", "sample.md", GOOD_DOC)
    _write(tmp_path / "b", "sample.md", GOOD_DOC.replace("Sample Rules", "Other"))
    library = load_library([str(tmp_path / "a"), str(tmp_path / "b")])
    assert library.extra_for("sample").title == "Sample Rules"
    assert len(library.warnings) == 1
