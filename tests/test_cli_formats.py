"""``dbos-lsp check`` output formats: SARIF 2.1.0, GitHub annotations, statistics, --exit-zero."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from dbos_lsp import __version__
from dbos_lsp.analysis.findings import Finding, Position, Severity, Span
from dbos_lsp.cli.main import main
from dbos_lsp.cli.report_formats import (
    escape_data,
    escape_property,
    github_annotation,
    relative_path,
    utf16_column,
)
from dbos_lsp.rules import REGISTRY

SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-2.1.0-subset.schema.json"

BAD = """\
import asyncio
from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(1)
"""

# An astral character (two UTF-16 code units) before the finding on its line.
ASTRAL = """\
from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    s = "🚀é"; DBOS.sleep(1)
"""

# DBOS101 (error), DBOS102 (warning) and DBOS108 (information) in one workflow.
LEVELS = """\
import asyncio

from dbos import DBOS


@DBOS.step()
async def s1() -> int:
    return 1


@DBOS.workflow()
async def other() -> None:
    pass


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(1)
    DBOS.sleep(2)
    DBOS.start_workflow(other)
    await asyncio.gather(s1(), s1())
"""

CLEAN_TEXT = """\
from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    await DBOS.sleep_async(1)
"""


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def run_inproc(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----- SARIF ------------------------------------------------------------------------------


def validate_sarif(log: dict) -> None:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("jsonschema is not installed; install the test extra (pip install -e '.[test]')")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_subset_schema_rejects_what_github_would():
    """The schema is strict enough to catch the mistakes that matter."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    region = {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 2}
    good = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "x", "rules": [{"id": "A"}]}},
                "results": [
                    {
                        "ruleId": "A",
                        "level": "error",
                        "message": {"text": "m"},
                        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.py"}, "region": region}}],
                    }
                ],
            }
        ],
    }
    jsonschema.validate(good, schema)
    bad_variants = []
    for mutate in (
        lambda d: d.update(version="2.0.0"),
        lambda d: d["runs"][0]["results"][0].update(level="information"),
        lambda d: d["runs"][0]["results"][0].pop("message"),
        lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].update(startColumn=0),
        lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].update(startLine="1"),
        lambda d: d["runs"][0]["tool"]["driver"].pop("name"),
        lambda d: d["runs"][0]["tool"]["driver"]["rules"][0].update(defaultConfiguration={"level": "fatal"}),
        lambda d: d["runs"][0].update(columnKind="bytes"),
    ):
        variant = json.loads(json.dumps(good))
        mutate(variant)
        bad_variants.append(variant)
    for variant in bad_variants:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(variant, schema)


def test_sarif_valid_and_complete(in_tmp):
    write(in_tmp / "pkg" / "levels.py", LEVELS)
    code, out, err = run_inproc("check", "--format", "sarif", "pkg")
    assert code == 1
    log = json.loads(out)
    validate_sarif(log)
    assert log["version"] == "2.1.0" and "sarif-2.1.0" in log["$schema"]
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "dbos-lsp" and driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted(REGISTRY)
    by_id = {r["id"]: r for r in rules}
    r101 = by_id["DBOS101"]
    assert r101["name"] == "async-sync-dbos-call"
    assert r101["shortDescription"]["text"] == REGISTRY["DBOS101"].summary
    assert r101["helpUri"].endswith("/skills/dbos-python/references/advanced-async.md#dbos101-async-sync-dbos-call")
    assert r101["defaultConfiguration"]["level"] == "error"
    assert by_id["DBOS102"]["defaultConfiguration"]["level"] == "warning"
    assert by_id["DBOS108"]["defaultConfiguration"]["level"] == "note"

    results = run["results"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {"DBOS101": "error", "DBOS102": "warning", "DBOS108": "note"}
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        (loc,) = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == "pkg/levels.py"
        assert loc["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert r["message"]["text"]
    first = next(r for r in results if r["ruleId"] == "DBOS101")
    region = first["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 18, "startColumn": 5, "endLine": 18, "endColumn": 15}
    assert (
        run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == in_tmp.resolve().as_uri() + "/"
        or run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == Path(os.getcwd()).as_uri() + "/"
    )
    assert run["invocations"][0]["executionSuccessful"] is True
    assert "Found 4 problems" in err


def test_sarif_columns_are_utf16_code_units(in_tmp):
    write(in_tmp / "astral.py", ASTRAL)
    code, out, _ = run_inproc("check", "--format", "sarif", "astral.py")
    log = json.loads(out)
    validate_sarif(log)
    run = log["runs"][0]
    assert run.get("columnKind", "utf16CodeUnits") == "utf16CodeUnits"
    (result,) = run["results"]
    line = ASTRAL.splitlines()[5]
    code_points = line.index("DBOS.sleep")
    region = result["locations"][0]["physicalLocation"]["region"]
    # 🚀 is one code point but two UTF-16 code units.
    assert region["startColumn"] == code_points + 2
    assert region["endColumn"] == code_points + len("DBOS.sleep") + 2
    # The JSON format keeps code points.
    (item,) = json.loads(run_inproc("check", "--format", "json", "astral.py")[1])
    assert item["column"] == code_points + 1


def test_utf16_column_helper():
    assert utf16_column("abc", 2) == 2
    assert utf16_column("é🚀x", 3) == 4
    assert utf16_column(None, 5) == 5


def test_sarif_clean_run_and_file_errors(in_tmp):
    write(in_tmp / "ok.py", CLEAN_TEXT)
    code, out, err = run_inproc("check", "--format", "sarif", "ok.py")
    assert (code, err) == (0, "")
    log = json.loads(out)
    validate_sarif(log)
    assert log["runs"][0]["results"] == []

    write(in_tmp / "broken.py", "def broken(:\n    pass\n")
    write(in_tmp / "latin.py", "# caf\xe9\n".encode("latin-1"))
    code, out, err = run_inproc("check", "--format", "sarif", "broken.py", "latin.py", "ok.py")
    assert code == 1
    log = json.loads(out)
    validate_sarif(log)
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    texts = [n["message"]["text"] for n in notes]
    assert any(t.startswith("syntax error:") for t in texts)
    assert any(t.startswith("cannot decode as UTF-8") for t in texts)
    uris = {n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes}
    assert uris == {"broken.py", "latin.py"}


def test_sarif_uri_outside_cwd_is_absolute(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    f = write(tmp_path / "elsewhere" / "my file.py", BAD)
    monkeypatch.chdir(work)
    log = json.loads(run_inproc("check", "--format", "sarif", str(f))[1])
    validate_sarif(log)
    loc = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc["uri"] == f.resolve().as_uri() or loc["uri"] == f.as_uri()
    assert "uriBaseId" not in loc
    assert relative_path(str(f), str(work)) == f.as_posix()


def test_sarif_uri_is_percent_encoded(in_tmp):
    write(in_tmp / "my dir" / "bad #1.py", BAD)
    log = json.loads(run_inproc("check", "--format", "sarif", "my dir")[1])
    validate_sarif(log)
    loc = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc["uri"] == "my%20dir/bad%20%231.py"


# ----- GitHub annotations -----------------------------------------------------------------


def test_github_format(in_tmp):
    write(in_tmp / "src" / "levels.py", LEVELS)
    code, out, err = run_inproc("check", "--format", "github", "src")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "::error file=src/levels.py,line=18,col=5,endLine=18,endColumn=15,"
        "title=DBOS101 async-sync-dbos-call::`DBOS.sleep()` raises RuntimeError in a running event loop"
    )
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds == ["::error", "::error", "::warning", "::notice"]
    assert "title=DBOS102 async-blocking-dbos-call::" in lines[2]
    assert "title=DBOS108 async-gather-without-return-exceptions::" in lines[3]
    assert "Found 4 problems" in err


def test_github_format_reports_file_errors(in_tmp):
    write(in_tmp / "broken.py", "x = 1\ndef broken(:\n    pass\n")
    code, out, err = run_inproc("check", "--format", "github", "broken.py")
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith("::error file=broken.py,line=2,col=")
    assert ",title=dbos-lsp::syntax error: " in line
    assert "syntax error" in err


def test_github_escaping():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    f = Finding(
        "DBOS101",
        "async-sync-dbos-call",
        "line one: 50%, then\nline two",
        Span(Position(2, 0), Position(2, 4)),
        Severity.INFORMATION,
    )
    assert github_annotation("dir,x/a:b.py", f) == (
        "::notice file=dir%2Cx/a%3Ab.py,line=3,col=1,endLine=3,endColumn=5,"
        "title=DBOS101 async-sync-dbos-call::line one: 50%25, then%0Aline two"
    )
    f.severity = Severity.HINT
    assert github_annotation("a.py", f).startswith("::notice ")
    f.severity = Severity.WARNING
    assert github_annotation("a.py", f).startswith("::warning ")


# ----- text, statistics, exit codes -------------------------------------------------------


def test_text_format_unchanged(in_tmp):
    write(in_tmp / "bad.py", BAD)
    code, out, err = run_inproc("check", "--format", "text", "bad.py")
    assert code == 1
    assert out.startswith("bad.py:7:5: DBOS101 [async-sync-dbos-call] ")


def test_statistics_text_and_json(in_tmp):
    write(in_tmp / "levels.py", LEVELS)
    write(in_tmp / "bad.py", BAD.replace("def wf(", "def wf_b("))
    code, out, err = run_inproc("check", "--statistics", ".")
    assert code == 1
    assert out.splitlines() == [
        "3  DBOS101  [*] async-sync-dbos-call",
        "1  DBOS102  [*] async-blocking-dbos-call",
        "1  DBOS108      async-gather-without-return-exceptions",
    ]
    assert "Found 5 problems in 2 files" in err
    code, out, _ = run_inproc("check", "--statistics", "--format", "json", ".")
    assert json.loads(out) == [
        {"code": "DBOS101", "name": "async-sync-dbos-call", "count": 3, "fixable": 3},
        {"code": "DBOS102", "name": "async-blocking-dbos-call", "count": 1, "fixable": 1},
        {"code": "DBOS108", "name": "async-gather-without-return-exceptions", "count": 1, "fixable": 0},
    ]
    # DBOS108's fix is unsafe: fixable once unsafe fixes are allowed.
    code, out, _ = run_inproc("check", "--statistics", "--unsafe-fixes", ".")
    assert "1  DBOS108  [*] async-gather-without-return-exceptions" in out.splitlines()
    assert run_inproc("check", "--statistics", "--format", "sarif", ".")[0] == 2


def test_statistics_clean(in_tmp):
    write(in_tmp / "ok.py", CLEAN_TEXT)
    assert run_inproc("check", "--statistics", "ok.py") == (0, "", "")


def test_exit_zero(in_tmp):
    write(in_tmp / "bad.py", BAD)
    code, out, err = run_inproc("check", "--exit-zero", "bad.py")
    assert code == 0
    assert "DBOS101" in out and "Found 1 problem" in err
    write(in_tmp / "broken.py", "def broken(:\n")
    assert run_inproc("check", "--exit-zero", "broken.py")[0] == 0
    # Usage errors still exit 2.
    assert run_inproc("check", "--exit-zero", "missing.py")[0] == 2
    assert run_inproc("check", "--exit-zero", "--format", "sarif", "bad.py")[0] == 0


def test_select_prefix_and_name_with_new_formats(in_tmp):
    write(in_tmp / "levels.py", LEVELS)
    log = json.loads(run_inproc("check", "--format", "sarif", "--select", "DBOS1", "--ignore", "DBOS108", ".")[1])
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == {"DBOS101", "DBOS102"}
    out = run_inproc("check", "--format", "github", "--select", "async-blocking-dbos-call", ".")[1]
    assert [line.split("title=")[1].split("::")[0] for line in out.splitlines()] == ["DBOS102 async-blocking-dbos-call"]
