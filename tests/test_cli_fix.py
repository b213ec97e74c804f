"""``dbos-lsp check --fix / --diff / --add-noqa``, plus the pre-commit hook and README section."""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_requirements import require_module
from dbos_lsp.cli.main import add_noqa_comments, main
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.features import code_actions
from dbos_lsp.features.code_actions import FixResult

ROOT = Path(__file__).resolve().parents[1]

BAD = """\
import asyncio
from dbos import DBOS


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(1)
"""

# Safe fixes (DBOS101, DBOS102, DBOS103, DBOS104) and unsafe ones (DBOS108, DBOS109).
MIXED = """import asyncio

from dbos import DBOS, SQLAlchemyDatasource

ds = SQLAlchemyDatasource.create("postgresql://localhost/app")


@DBOS.step()
async def s1() -> int:
    return 1


@ds.transaction()
def tx(x: int) -> int:
    return x


@DBOS.workflow()
async def wf() -> None:
    DBOS.sleep(30)
    DBOS.set_event("k", "v")
    await DBOS.sleep(2)
    DBOS.send_async("id", "m")
    await asyncio.gather(s1(), s1())
    tx(1)
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


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----- --fix ------------------------------------------------------------------------------


def test_fix_writes_safe_fixes_and_reports(in_tmp):
    f = write(in_tmp / "mixed.py", MIXED)
    write(in_tmp / "ok.py", "x = 1\n")
    code, out, err = run_inproc("check", "--fix", ".")
    fixed = read(f)
    assert "    await DBOS.sleep_async(30)\n" in fixed
    assert '    await DBOS.set_event_async("k", "v")\n' in fixed
    assert "    await DBOS.sleep_async(2)\n" in fixed
    assert '    await DBOS.send_async("id", "m")\n' in fixed
    assert "return_exceptions" not in fixed and "to_thread" not in fixed  # unsafe: left alone
    ast.parse(fixed)
    err_lines = err.splitlines()
    assert err_lines[0] == "Fixed 4 problems in 1 file"
    assert err_lines[1] == "  mixed.py: 4 fixed"
    # Remaining findings print as usual; the exit status reflects them.
    assert code == 1
    assert {line.split(" ")[1] for line in out.splitlines()} == {"DBOS108", "DBOS109"}
    assert err_lines[-1] == "Found 2 problems in 1 file (2 files checked)"
    assert read(in_tmp / "ok.py") == "x = 1\n"


def test_fix_is_idempotent(in_tmp):
    f = write(in_tmp / "mixed.py", MIXED)
    run_inproc("check", "--fix", "mixed.py")
    once = f.read_bytes()
    mtime = f.stat().st_mtime_ns
    code, out, err = run_inproc("check", "--fix", "mixed.py")
    assert f.read_bytes() == once
    assert f.stat().st_mtime_ns == mtime  # not rewritten
    assert "Fixed" not in err
    # And the unsafe round too.
    run_inproc("check", "--fix", "--unsafe-fixes", "mixed.py")
    twice = f.read_bytes()
    code, out, err = run_inproc("check", "--fix", "--unsafe-fixes", "mixed.py")
    assert f.read_bytes() == twice and "Fixed" not in err


def test_fix_all_fixed_exits_0(in_tmp):
    f = write(in_tmp / "bad.py", BAD)
    code, out, err = run_inproc("check", "--fix", "bad.py")
    assert (code, out) == (0, "")
    assert err == "Fixed 1 problem in 1 file\n  bad.py: 1 fixed\n"
    assert "    await DBOS.sleep_async(1)\n" in read(f)


def test_unsafe_fixes(in_tmp):
    f = write(in_tmp / "mixed.py", MIXED)
    code, out, err = run_inproc("check", "--fix", "--unsafe-fixes", "mixed.py")
    fixed = read(f)
    assert "return_exceptions=True" in fixed and "await asyncio.to_thread(tx, 1)" in fixed
    ast.parse(fixed)
    assert "Fixed 6 problems in 1 file" in err
    assert code == 0 and out == ""


def test_fix_never_touches_a_file_with_a_syntax_error(in_tmp):
    text = BAD + "\n\ndef broken(:\n    pass\n"
    f = write(in_tmp / "broken.py", text)
    before = f.read_bytes()
    for flag in ("--fix", "--add-noqa", "--diff"):
        code, out, err = run_inproc("check", flag, "--unsafe-fixes" if flag == "--fix" else "--exit-zero", "broken.py")
        assert f.read_bytes() == before, flag
        assert "syntax error" in err and "not changed: the file has a syntax error" in err
        assert "Fixed" not in err and "Would fix" not in err
        if flag == "--add-noqa":
            assert "Added 0 noqa directives to 0 files" in err
    # The finding in the parsable part is still reported.
    code, out, err = run_inproc("check", "--fix", "broken.py")
    assert code == 1 and "DBOS101" in out


def test_fix_never_writes_text_that_does_not_parse(in_tmp, monkeypatch):
    f = write(in_tmp / "bad.py", BAD)
    before = f.read_bytes()
    a = analyze(BAD)

    def broken_fix(text, analysis, reanalyze=None, unsafe=False, rounds=5):
        return FixResult("def (\n", list(a.findings), None)

    monkeypatch.setattr(code_actions, "fix_text", broken_fix)
    code, out, err = run_inproc("check", "--fix", "bad.py")
    assert f.read_bytes() == before
    assert "bad.py: not changed: the changed text would not parse" in err
    assert "Fixed" not in err
    assert code == 1 and "DBOS101" in out


def test_fix_continues_past_unreadable_files(in_tmp):
    write(in_tmp / "a_latin1.py", "# caf\xe9\n".encode("latin-1") + BAD.encode())
    f = write(in_tmp / "b.py", BAD)
    code, out, err = run_inproc("check", "--fix", ".")
    assert "    await DBOS.sleep_async(1)\n" in read(f)
    assert (in_tmp / "a_latin1.py").read_bytes().startswith(b"# caf\xe9\n")
    assert [line for line in err.splitlines() if "a_latin1.py" in line] == [
        "a_latin1.py: cannot decode as UTF-8 (byte 0xe9 at offset 5); skipped"
    ]
    assert "Fixed 1 problem in 1 file" in err
    assert code == 1  # the unreadable file counts


def test_fix_keeps_bom_and_crlf(in_tmp):
    f = write(in_tmp / "crlf.py", b"\xef\xbb\xbf" + BAD.replace("\n", "\r\n").encode())
    run_inproc("check", "--fix", "crlf.py")
    data = f.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"    await DBOS.sleep_async(1)\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")


# ----- --diff -----------------------------------------------------------------------------


def test_diff_shows_fixes_without_writing(in_tmp):
    f = write(in_tmp / "pkg" / "bad.py", BAD)
    before = f.read_bytes()
    code, out, err = run_inproc("check", "--diff", "pkg")
    assert code == 1
    assert f.read_bytes() == before
    assert out == (
        "--- a/pkg/bad.py\n"
        "+++ b/pkg/bad.py\n"
        "@@ -4,4 +4,4 @@\n"
        " \n"
        " @DBOS.workflow()\n"
        " async def wf() -> None:\n"
        "-    DBOS.sleep(1)\n"
        "+    await DBOS.sleep_async(1)\n"
    )
    assert err == "Would fix 1 problem in 1 file\n"
    # The diff applies with `patch`-style logic: the + side is what --fix writes.
    run_inproc("check", "--fix", "pkg")
    assert read(f) == BAD.replace("    DBOS.sleep(1)", "    await DBOS.sleep_async(1)")


def test_diff_no_changes_exit_0(in_tmp):
    write(in_tmp / "ok.py", "x = 1\n")
    assert run_inproc("check", "--diff", "ok.py") == (0, "", "")
    # Findings without a safe fix: nothing to show, exit 0.
    write(in_tmp / "mixed.py", MIXED)
    run_inproc("check", "--fix", "mixed.py")
    assert run_inproc("check", "--diff", "mixed.py") == (0, "", "")
    code, out, _ = run_inproc("check", "--diff", "--unsafe-fixes", "mixed.py")
    assert code == 1 and "+    await asyncio.to_thread(tx, 1)\n" in out


def test_diff_without_final_newline(in_tmp):
    write(in_tmp / "bad.py", BAD.rstrip("\n"))
    code, out, _ = run_inproc("check", "--diff", "bad.py")
    assert code == 1
    assert out.endswith(
        "-    DBOS.sleep(1)\n\\ No newline at end of file\n"
        "+    await DBOS.sleep_async(1)\n\\ No newline at end of file\n"
    )


def test_fix_modes_are_exclusive():
    assert run_inproc("check", "--fix", "--diff", ".")[0] == 2
    assert run_inproc("check", "--fix", "--add-noqa", ".")[0] == 2


# ----- --add-noqa -------------------------------------------------------------------------


def test_add_noqa_then_check_is_clean(in_tmp):
    f = write(in_tmp / "mixed.py", MIXED)
    code, out, err = run_inproc("check", "--add-noqa", "mixed.py")
    assert code == 0 and out == ""
    text = read(f)
    assert "    DBOS.sleep(30)  # noqa: DBOS101\n" in text
    assert "    await DBOS.sleep(2)  # noqa: DBOS103\n" in text
    assert "    tx(1)  # noqa: DBOS109\n" in text
    n = text.count("# noqa")
    assert err.splitlines() == [f"Added {n} noqa directives to 1 file", f"  mixed.py: {n}"]
    # Nothing left, and DBOS901 (unused suppression) does not fire on the new comments.
    assert run_inproc("check", "mixed.py") == (0, "", "")
    assert run_inproc("check", "--select", "DBOS901", "mixed.py") == (0, "", "")
    # A second run adds nothing.
    code, out, err = run_inproc("check", "--add-noqa", "mixed.py")
    assert (code, read(f)) == (0, text)
    assert err.startswith("Added 0 noqa directives to 0 files")


def test_add_noqa_extends_existing_comments_and_groups_codes():
    text = BAD.replace("    DBOS.sleep(1)", "    DBOS.sleep(1)  # noqa: E501")
    new, added, skipped = add_noqa_comments(text, analyze(text).findings)
    assert (added, skipped) == (1, 0)
    assert "    DBOS.sleep(1)  # noqa: E501, DBOS101\n" in new
    two = BAD.replace("    DBOS.sleep(1)", "    DBOS.sleep(1); DBOS.start_workflow(wf)")
    new, added, _ = add_noqa_comments(two, analyze(two).findings)
    assert added == 2
    assert "    DBOS.sleep(1); DBOS.start_workflow(wf)  # noqa: DBOS101, DBOS102\n" in new
    assert not analyze(new).findings


def test_add_noqa_skips_lines_ending_inside_a_string(in_tmp):
    text = BAD.replace("    DBOS.sleep(1)", '    DBOS.sleep(1); x = """a\n    b"""\n    DBOS.sleep(2)')
    f = write(in_tmp / "s.py", text)
    code, out, err = run_inproc("check", "--add-noqa", "s.py")
    new = read(f)
    assert "    DBOS.sleep(2)  # noqa: DBOS101\n" in new
    assert '    DBOS.sleep(1); x = """a\n' in new  # the string is untouched
    assert "could not add a noqa comment for 1 finding" in err
    assert code == 1
    ast.parse(new)


def test_add_noqa_ignores_noqa_text_inside_strings():
    text = BAD.replace("    DBOS.sleep(1)", '    s = "# noqa: E501"; DBOS.sleep(1)')
    new, added, _ = add_noqa_comments(text, analyze(text).findings)
    assert '    s = "# noqa: E501"; DBOS.sleep(1)  # noqa: DBOS101\n' in new
    assert added == 1 and not analyze(new).findings


# ----- pre-commit hook and README -----------------------------------------------------------


def test_pre_commit_hook_definition():
    yaml = require_module("yaml")
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == "dbos-lsp"]
    assert hook["entry"] == "dbos-lsp check"
    assert hook["language"] == "python"
    assert hook["types"] == ["python"]
    assert hook["require_serial"] is False


def test_readme_continuous_integration_section():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = [line for line in readme.splitlines() if line.startswith("## ")]
    assert headings.index("## Continuous integration") == headings.index("## The command line") + 1
    section = readme.split("## Continuous integration", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "id: dbos-lsp",
        "dbos-lsp check --format sarif",
        "github/codeql-action/upload-sarif@v3",
        "sarif_file: dbos-lsp.sarif",
        "--format github",
    ):
        assert needle in section, needle


def test_fix_subprocess_entry_point(tmp_path):
    f = write(tmp_path / "bad.py", BAD)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "server") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-m", "dbos_lsp", "check", "--fix", "bad.py"],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Fixed 1 problem in 1 file" in proc.stderr
    assert "await DBOS.sleep_async(1)" in read(f)
