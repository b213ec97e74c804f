"""The ``dbos-lsp`` command line: ``check`` output formats, exit codes, file walking."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dbos_lsp import __version__
from dbos_lsp.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "server"
EXAMPLES = ROOT / "examples"
CLEAN = Path(__file__).resolve().parent / "corpus_clean"

BAD = """\
import asyncio
from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(1)
"""

# A non-ASCII line before the finding; on the finding's own line the receiver
# follows a non-ASCII string, so the column must count characters, not bytes.
UNICODE = """\
from dbos import DBOS

# Größe: ünïcödé ✓ 日本語


@DBOS.workflow()
async def wf() -> None:
    x = "é✓日"; DBOS.sleep(1)
"""

CLEAN_TEXT = """\
from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    await DBOS.sleep_async(1)
"""

LINE_RE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>DBOS\d{3}) \[(?P<name>[a-z0-9-]+)\] (?P<msg>.+)$"
)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SERVER) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run(
        [sys.executable, "-m", "dbos_lsp", *args],
        cwd=str(cwd or ROOT),
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def run_inproc(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ----- version and usage ------------------------------------------------------------------


def test_version_subprocess():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"dbos-lsp {__version__}"


@pytest.mark.parametrize(
    "args",
    [
        ("check",),  # no path
        ("check", "does/not/exist.py"),
        ("check", "--bogus", "x.py"),
        ("--bogus",),
        ("frobnicate",),
        ("check", "--format", "xml", "x.py"),
        ("check", "--select", "NOPE999", "."),
        ("check", "--dbos-version", "latest", "."),
    ],
)
def test_usage_errors_exit_2(args, tmp_path):
    code, out, err = run_inproc(*args)
    assert code == 2
    assert out == ""
    assert "error" in err


def test_usage_error_subprocess_exit_2():
    proc = run_cli("check", "no-such-dir/")
    assert proc.returncode == 2
    assert "no-such-dir" in proc.stderr
    assert proc.stdout == ""


# ----- text format ------------------------------------------------------------------------


def test_text_format_exact(tmp_path):
    f = write(tmp_path / "bad.py", BAD)
    proc = run_cli("check", str(f))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines == [
        (f"{f}:7:5: DBOS101 [async-sync-dbos-call] `DBOS.sleep()` raises RuntimeError in a running event loop")
    ]
    assert proc.stderr.strip() == "Found 1 problem in 1 file (1 file checked)"


def test_text_format_relative_paths_from_cwd(tmp_path):
    write(tmp_path / "pkg" / "bad.py", BAD)
    proc = run_cli("check", "pkg", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith(os.path.join("pkg", "bad.py") + ":7:5: DBOS101 ")


def test_clean_file_exit_0_no_output(tmp_path):
    f = write(tmp_path / "ok.py", CLEAN_TEXT)
    proc = run_cli("check", str(f))
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert proc.stderr == ""


# ----- json format ------------------------------------------------------------------------


def test_json_fields_and_positions(tmp_path):
    f = write(tmp_path / "bad.py", BAD)
    code, out, err = run_inproc("check", "--format", "json", str(f))
    assert code == 1
    data = json.loads(out)
    assert len(data) == 1
    item = data[0]
    assert set(item) == {
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "code",
        "name",
        "severity",
        "message",
        "fix",
        "related",
    }
    assert item["path"] == str(f)
    assert (item["line"], item["column"]) == (7, 5)
    # The span covers `DBOS.sleep`.
    assert (item["end_line"], item["end_column"]) == (7, 15)
    assert item["code"] == "DBOS101"
    assert item["name"] == "async-sync-dbos-call"
    assert item["severity"] == "error"
    fix = item["fix"]
    assert fix["safe"] is True
    assert "sleep_async" in fix["title"]
    for edit in fix["edits"]:
        assert set(edit) == {"start", "end", "new_text"}
        assert set(edit["start"]) == {"line", "column"}
        assert edit["start"]["line"] == 7
    # Applying the fix's edits (1-based positions) yields the async form.
    lines = BAD.splitlines(keepends=True)
    for edit in sorted(fix["edits"], key=lambda e: (e["start"]["line"], e["start"]["column"]), reverse=True):
        s, e = edit["start"], edit["end"]
        assert s["line"] == e["line"]
        ln = lines[s["line"] - 1]
        lines[s["line"] - 1] = ln[: s["column"] - 1] + edit["new_text"] + ln[e["column"] - 1 :]
    assert "    await DBOS.sleep_async(1)\n" in lines


def test_json_columns_count_characters(tmp_path):
    f = write(tmp_path / "uni.py", UNICODE)
    proc = run_cli("check", "--format", "json", str(f))
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert [d["code"] for d in data] == ["DBOS101"]
    line_text = UNICODE.splitlines()[7]
    expected_col = line_text.index("DBOS.sleep") + 1  # characters, 1-based
    assert expected_col != len(line_text.encode()[: line_text.encode().index(b"DBOS.sleep")]) + 1
    assert (data[0]["line"], data[0]["column"]) == (8, expected_col)
    assert data[0]["end_column"] == expected_col + len("DBOS.sleep")
    # Same column in text format.
    text = run_cli("check", str(f))
    assert text.stdout.startswith(f"{f}:8:{expected_col}: DBOS101 ")


def test_json_empty_array_when_clean(tmp_path):
    f = write(tmp_path / "ok.py", CLEAN_TEXT)
    code, out, err = run_inproc("check", "--format", "json", str(f))
    assert code == 0
    assert json.loads(out) == []
    assert err == ""


def test_json_lists_files_that_were_not_analysed(tmp_path):
    # A JSON consumer must tell "clean" from "not analysed": a syntax error and an
    # undecodable file are entries with no rule code (as Ruff reports syntax errors).
    write(tmp_path / "a_broken.py", "def f(:\n    pass\n")
    write(tmp_path / "b_latin1.py", "# caf\xe9\n".encode("latin-1"))
    write(tmp_path / "c_ok.py", CLEAN_TEXT)
    code, out, err = run_inproc("check", "--format", "json", str(tmp_path))
    assert code == 1
    data = json.loads(out)
    assert [(d["path"], d["code"], d["name"], d["line"]) for d in data] == [
        (str(tmp_path / "a_broken.py"), None, "syntax-error", 1),
        (str(tmp_path / "b_latin1.py"), None, "unreadable", 1),
    ]
    assert data[0]["severity"] == "error" and "syntax error" in data[0]["message"]
    assert "syntax error" in err  # and on stderr, as before


# ----- directory walking, ordering, bad files -----------------------------------------------


def test_directory_walk_skips_vendor_dirs(tmp_path):
    write(tmp_path / "b.py", BAD)
    write(tmp_path / "sub" / "a.py", BAD)
    for skipped in (".venv", "venv", "node_modules", ".git", "__pycache__", "build", "dist"):
        write(tmp_path / skipped / "lib.py", BAD)
    write(tmp_path / "notes.txt", BAD)
    # (--select: the same workflow name in several files is a finding of its own, DBOS404.)
    code, out, err = run_inproc("check", "--format", "json", "--select", "DBOS101", str(tmp_path))
    assert code == 1
    paths = [d["path"] for d in json.loads(out)]
    assert paths == sorted([str(tmp_path / "b.py"), str(tmp_path / "sub" / "a.py")])


def test_deterministic_ordering(tmp_path):
    two = BAD + "    DBOS.sleep(2)\n    DBOS.recv()\n"
    write(tmp_path / "z.py", two.replace("def wf(", "def wf_z("))
    write(tmp_path / "a.py", two.replace("def wf(", "def wf_a("))
    code, out, _ = run_inproc("check", "--format", "json", str(tmp_path / "z.py"), str(tmp_path))
    data = json.loads(out)
    keys = [(d["path"], d["line"], d["column"]) for d in data]
    assert keys == sorted(keys)
    assert len(data) == 6  # z.py given twice is checked once
    code2, out2, _ = run_inproc("check", "--format", "json", str(tmp_path))
    assert json.loads(out2) == data


def test_non_utf8_file_reported_and_run_continues(tmp_path):
    write(tmp_path / "a_latin1.py", "# caf\xe9\n".encode("latin-1") + BAD.encode())
    write(tmp_path / "b_bad.py", BAD)
    proc = run_cli("check", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stdout.count("DBOS101") == 1
    assert str(tmp_path / "b_bad.py") in proc.stdout
    err_lines = proc.stderr.splitlines()
    decode = [line for line in err_lines if "a_latin1.py" in line]
    assert len(decode) == 1
    assert decode[0].startswith(f"{tmp_path / 'a_latin1.py'}: cannot decode as UTF-8")


def test_utf8_bom_is_accepted(tmp_path):
    f = write(tmp_path / "bom.py", b"\xef\xbb\xbf" + BAD.encode())
    code, out, err = run_inproc("check", str(f))
    assert code == 1
    assert f"{f}:7:5: DBOS101" in out


def test_syntax_error_reported_and_parsable_parts_checked(tmp_path):
    text = BAD + "\n\ndef broken(:\n    pass\n"
    f = write(tmp_path / "broken.py", text)
    proc = run_cli("check", str(f))
    assert proc.returncode == 1
    # The finding in the parsable workflow still prints.
    assert proc.stdout.startswith(f"{f}:7:5: DBOS101 ")
    syntax = [line for line in proc.stderr.splitlines() if "syntax error" in line]
    assert len(syntax) == 1
    assert re.match(re.escape(str(f)) + r":10:\d+: syntax error: .+", syntax[0])


def test_syntax_error_only_file_exits_1(tmp_path):
    f = write(tmp_path / "broken.py", "def broken(:\n    pass\n")
    code, out, err = run_inproc("check", str(f))
    assert code == 1
    assert out == ""
    assert f"{f}:1:" in err and "syntax error" in err


# ----- rule selection ---------------------------------------------------------------------


MIXED = """\
from dbos import DBOS


@DBOS.workflow()
async def wf(h) -> None:
    DBOS.sleep(1)
    DBOS.start_workflow(other)
    await DBOS.sleep(2)


@DBOS.workflow()
async def other() -> None:
    pass
"""


def _codes(*args: str) -> list[str]:
    code, out, _ = run_inproc(*args)
    return [d["code"] for d in json.loads(out)]


def test_select_and_ignore(tmp_path):
    f = str(write(tmp_path / "mixed.py", MIXED))
    everything = _codes("check", "--format", "json", f)
    assert {"DBOS101", "DBOS102", "DBOS103"} <= set(everything)
    assert set(_codes("check", "--format", "json", "--select", "DBOS101", f)) == {"DBOS101"}
    assert set(_codes("check", "--format", "json", "--select", "DBOS101,async-blocking-dbos-call", f)) == {
        "DBOS101",
        "DBOS102",
    }
    assert set(_codes("check", "--format", "json", "--select", "DBOS101", "--select", "DBOS103", f)) == {
        "DBOS101",
        "DBOS103",
    }
    ignored = _codes("check", "--format", "json", "--ignore", "DBOS101", f)
    assert "DBOS101" not in ignored and "DBOS102" in ignored
    assert _codes("check", "--format", "json", "--select", "DBOS1", "--ignore", "DBOS1", f) == []
    code, out, err = run_inproc("check", "--select", "DBOS110", f)
    assert (code, out, err) == (0, "", "")


def test_dbos_version_gate(tmp_path):
    # DBOS101 needs check_async (DBOS 2.10+); with an older SDK the call does not raise.
    f = str(write(tmp_path / "bad.py", BAD))
    assert _codes("check", "--format", "json", "--dbos-version", "2.5", f) == []
    assert _codes("check", "--format", "json", "--dbos-version", "3.4", f) == ["DBOS101"]


# ----- pyproject configuration -----------------------------------------------------------


def test_pyproject_config_and_command_line_override(tmp_path):
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\ndependencies = ["dbos>=3.4"]\n\n'
        '[tool.dbos-lsp]\nignore = ["DBOS102"]\nexclude = ["generated/*"]\n'
        'per-file-ignores = { "legacy_*.py" = ["DBOS101"] }\n',
    )
    f = str(write(tmp_path / "mixed.py", MIXED))
    write(tmp_path / "legacy_flow.py", BAD.replace("def wf(", "def legacy_wf("))
    write(tmp_path / "generated" / "gen.py", BAD.replace("def wf(", "def gen_wf("))
    data = json.loads(run_inproc("check", "--format", "json", str(tmp_path))[1])
    by_path = {}
    for d in data:
        by_path.setdefault(os.path.basename(d["path"]), set()).add(d["code"])
    assert "DBOS102" not in by_path["mixed.py"] and "DBOS101" in by_path["mixed.py"]
    assert "legacy_flow.py" not in by_path  # its only finding is ignored for that file
    assert "gen.py" not in by_path  # excluded when walking
    # A file named explicitly is checked even when excluded.
    assert _codes("check", "--format", "json", str(tmp_path / "generated" / "gen.py")) == ["DBOS101"]
    # --ignore replaces the pyproject's ignore list.
    assert "DBOS102" in _codes("check", "--format", "json", "--ignore", "DBOS103", f)


def test_invalid_pyproject_config_is_a_warning(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.dbos-lsp]\nselect = 3\n")
    f = write(tmp_path / "bad.py", BAD)
    code, out, err = run_inproc("check", str(f))
    assert code == 1
    assert "DBOS101" in out
    assert "warning:" in err and "select" in err


# ----- bundled examples and clean corpus ----------------------------------------------------


def test_examples_yield_expected_codes():
    proc = run_cli("check", "--format", "json", "examples/")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    codes = {d["code"] for d in data}
    assert {"DBOS101", "DBOS102", "DBOS103", "DBOS104", "DBOS107", "DBOS109"} <= codes
    assert all(d["path"].startswith(os.path.join("examples", "order_service", "")) for d in data)
    # DBOS107 needs the steps imported from steps.py: cross-module resolution.
    assert any(d["code"] == "DBOS107" and d["path"].endswith("app.py") for d in data)
    assert "Found" in proc.stderr


def test_examples_text_output():
    proc = run_cli("check", "examples")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines and all(LINE_RE.match(line) for line in lines), lines
    assert re.fullmatch(r"Found \d+ problems in 1 file \(2 files checked\)", proc.stderr.strip())


def test_clean_corpus_exit_0_no_output():
    files = sorted(CLEAN.glob("*.py"))
    assert len(files) >= 2
    proc = run_cli("check", str(CLEAN))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_clean_corpus_parses():
    import ast

    for f in CLEAN.glob("*.py"):
        ast.parse(f.read_text(encoding="utf-8"))


def test_check_never_executes_user_code(tmp_path):
    marker = tmp_path / "executed"
    write(tmp_path / "evil.py", f"open({str(marker)!r}, 'w').write('x')\n" + BAD)
    write(tmp_path / "user.py", "from evil import wf\nimport asyncio\n\nasync def f():\n    wf()\n")
    code, out, _ = run_inproc("check", str(tmp_path))
    assert code == 1
    assert not marker.exists()


# ----- no arguments: the language server over stdio -----------------------------------------


async def test_no_arguments_starts_language_server(tmp_path):
    from lsprotocol import types as t
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("test-cli", "1")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SERVER)
    await client.start_io(sys.executable, "-m", "dbos_lsp", env=env, cwd=str(tmp_path))
    try:
        result = await asyncio.wait_for(
            client.initialize_async(
                t.InitializeParams(capabilities=t.ClientCapabilities(), root_uri=tmp_path.as_uri())
            ),
            60,
        )
        assert result.server_info is not None and result.server_info.name == "dbos-lsp"
        await asyncio.wait_for(client.shutdown_async(None), 30)
        client.exit(None)
    finally:
        await asyncio.wait_for(client.stop(), 30)


def test_text_summary_says_where_the_dbos_version_came_from(tmp_path):
    # Messages carry only "(DBOS 3.1)"; the summary line names the source, once.
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\ndependencies = ["dbos==3.1.0"]\n')
    write(tmp_path / "a.py", 'from dbos import Queue\nq = Queue("q")\nr = Queue("r")\n')
    proc = run_cli("check", "a.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert all(line.endswith(" (DBOS 3.1)") for line in proc.stdout.splitlines()), proc.stdout
    assert proc.stderr.strip() == (
        "Found 2 problems in 1 file (1 file checked; DBOS 3.1 assumed from the dbos requirement in pyproject.toml)"
    )
    clean = run_cli("check", "--format", "json", "a.py", cwd=tmp_path)
    assert "assumed from" not in clean.stderr
