"""The engine's contract: settings, version gates, suppressions, bad input, positions."""

from __future__ import annotations

import textwrap

import pytest

from dbos_lsp import rules
from dbos_lsp.analysis.findings import Severity
from dbos_lsp.analysis.settings import Settings, parse_settings
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.rules.registry import REGISTRY, Rule

WORKFLOW = textwrap.dedent(
    """\
    from dbos import DBOS


    @DBOS.workflow()
    async def checkout(order_id: str) -> str:
        DBOS.sleep(30)
        DBOS.sleep_async(1)
        return order_id
    """
)


def codes(text: str, settings: Settings | None = None) -> list[tuple[int, str]]:
    return [(f.span.start.line + 1, f.code) for f in analyze(text, settings).findings]


def test_default_findings() -> None:
    assert codes(WORKFLOW) == [(6, "DBOS101"), (7, "DBOS104")]


@pytest.mark.parametrize(
    "raw,expected",
    [
        ({"select": ["DBOS101"]}, [(6, "DBOS101")]),
        ({"select": ["async-missing-await"]}, [(7, "DBOS104")]),
        ({"ignore": ["DBOS1"]}, []),
        ({"select": ["DBOS1"], "ignore": ["async-sync-dbos-call"]}, [(7, "DBOS104")]),
    ],
)
def test_select_and_ignore(raw: dict, expected: list) -> None:
    settings, errors = parse_settings(raw)
    assert errors == []
    assert codes(WORKFLOW, settings) == expected


def test_severity_override_by_code_and_name() -> None:
    settings, _ = parse_settings({"severity": {"DBOS101": "hint", "async-missing-await": "warning"}})
    sev = {f.code: f.severity for f in analyze(WORKFLOW, settings).findings}
    assert sev == {"DBOS101": Severity.HINT, "DBOS104": Severity.WARNING}


def test_version_gate_check_async_since_2_10() -> None:
    old, _ = parse_settings({"dbosVersion": "2.9"})
    new, _ = parse_settings({"dbosVersion": "2.10.0"})
    assert (6, "DBOS101") not in codes(WORKFLOW, old)
    assert (6, "DBOS101") in codes(WORKFLOW, new)
    assert analyze(WORKFLOW, new).dbos_version_source == "the dbosVersion setting"
    assert "newest" in analyze(WORKFLOW).dbos_version_source


def test_broken_settings_keep_defaults_with_messages() -> None:
    settings, errors = parse_settings({"select": 5, "severity": {"DBOS101": "loud"}, "dbosVersion": "abc"})
    assert settings == Settings()
    assert len(errors) == 3
    settings, errors = parse_settings("not an object")
    assert settings == Settings() and len(errors) == 1


@pytest.mark.parametrize(
    "comment,silenced",
    [
        ("# noqa", {"DBOS101"}),
        ("# noqa: DBOS101", {"DBOS101"}),
        ("# NOQA:async-sync-dbos-call", {"DBOS101"}),
        ("# noqa: E501", set()),
        ("# dbos: ignore[DBOS101]", {"DBOS101"}),
        ("# dbos: ignore[DBOS999]", set()),
    ],
)
def test_line_suppressions(comment: str, silenced: set) -> None:
    text = WORKFLOW.replace("DBOS.sleep(30)", f"DBOS.sleep(30)  {comment}")
    remaining = {c for _, c in codes(text)}
    assert remaining == {"DBOS101", "DBOS104"} - silenced


def test_a_failing_rule_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(ctx):
        raise RuntimeError("boom")
        yield  # pragma: no cover

    broken = Rule("DBOS199", "test-broken", Severity.ERROR, "advanced-async", "test", "none", explode)
    monkeypatch.setitem(REGISTRY, "DBOS199", broken)
    analysis = analyze(WORKFLOW)
    assert analysis.rule_errors == [("DBOS199", "RuntimeError: boom")]
    assert [f.code for f in analysis.findings] == ["DBOS101", "DBOS104"]


def test_syntax_error_keeps_findings_in_intact_code() -> None:
    broken = WORKFLOW + "\n\ndef half_typed(:\n    pass\n"
    analysis = analyze(broken)
    assert analysis.syntax_error is not None
    assert analysis.syntax_error.span.start.line == 10
    assert [(f.span.start.line + 1, f.code) for f in analysis.findings] == [(6, "DBOS101"), (7, "DBOS104")]
    # the broken block sits *above* the findings: they keep their own positions
    analysis = analyze("x = (\n\n" + WORKFLOW)
    assert [(f.span.start.line + 1, f.code) for f in analysis.findings] == [(8, "DBOS101"), (9, "DBOS104")]


def test_non_ascii_columns_are_code_points() -> None:
    text = WORKFLOW.replace("    DBOS.sleep(30)", '    s = "héllo 🚀"; DBOS.sleep(30)')
    finding = analyze(text).findings[0]
    line = text.splitlines()[5]
    assert finding.span.start.character == line.index("DBOS.sleep")
    assert finding.span.end.character == line.index("(30)")


def test_crlf_text() -> None:
    analysis = analyze(WORKFLOW.replace("\n", "\r\n"))
    assert [(f.span.start.line + 1, f.code) for f in analysis.findings] == [(6, "DBOS101"), (7, "DBOS104")]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x00",
        "(" * 2000 + ")" * 2000,
        "x = '" + "a" * 50_000 + "'\n",
        "def f(:\n",
        "\ufeffimport dbos\n",
        "async def f():\n\tawait x\n  return 1\n",
    ],
    ids=["empty", "nul", "deep-nesting", "long-line", "broken", "bom", "bad-indent"],
)
def test_bad_input_never_raises(text: str) -> None:
    analysis = analyze(text)
    assert isinstance(analysis.findings, list)


def test_registry_is_complete() -> None:
    assert {f"DBOS1{n:02d}" for n in range(1, 11)} <= set(REGISTRY)
    assert rules.lookup("async-sync-dbos-call").code == "DBOS101"


@pytest.mark.parametrize(
    "line,expected_after",
    [
        ("    x = 1  # noqa: DBOS101", "    x = 1"),
        ("    x = 1  # noqa: DBOS101, E501", "    x = 1  # noqa: E501"),
        ("    x = 1  # dbos: ignore[DBOS104, DBOS101]", None),
        ("    DBOS.sleep(2)  # noqa: DBOS101, async-missing-await", "    DBOS.sleep(2)  # noqa: DBOS101"),
    ],
)
def test_unused_suppression(line: str, expected_after: str | None) -> None:
    from dbos_lsp.analysis.source_text import apply_edits

    text = "from dbos import DBOS\n\n@DBOS.workflow()\nasync def w():\n" + line + "\n"
    unused = [f for f in analyze(text).findings if f.code == "DBOS901"]
    assert len(unused) == 1 and unused[0].span.start.line == 4
    fixed = apply_edits(text, unused[0].fix.edits)
    if expected_after is not None:
        assert fixed.splitlines()[4] == expected_after
    assert [f.code for f in analyze(fixed).findings if f.code == "DBOS901"] == []


@pytest.mark.parametrize(
    "line",
    [
        "    DBOS.sleep(2)  # noqa: DBOS101",
        "    x = 1  # noqa",
        "    x = 1  # noqa: E501",
        '    s = "# noqa: DBOS101"',
    ],
)
def test_used_or_foreign_suppressions_are_not_reported(line: str) -> None:
    text = "from dbos import DBOS\n\n@DBOS.workflow()\nasync def w():\n" + line + "\n"
    assert [f for f in analyze(text).findings if f.code == "DBOS901"] == []


@pytest.mark.parametrize(
    "text,expected", [("3", (3, 0, 0)), ("3.4", (3, 4, 0)), ("2.31.1", (2, 31, 1)), ("v2.10", (2, 10, 0))]
)
def test_version_parsing_pads_so_gates_compare_right(text: str, expected: tuple) -> None:
    from dbos_lsp.analysis.settings import parse_version

    assert parse_version(text) == expected
    assert (parse_version("3") or ()) >= (3, 0)


def test_bare_major_version_keeps_dbos3_rules() -> None:
    settings, _ = parse_settings({"dbosVersion": "3"})
    text = "from dbos import Queue\nq = Queue('work')\n"
    assert [f.code for f in analyze(text, settings).findings] == ["DBOS603"]
