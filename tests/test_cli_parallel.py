"""``dbos-lsp check --jobs N``: files analysed in forked workers give the serial run's output.

Most tests lower ``parallel.MIN_PARALLEL_BYTES`` so that small projects go to the pool;
one builds a project over the real threshold from the benchmark's module generator.
"""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path

import pytest

from dbos_lsp.cli import parallel
from dbos_lsp.cli.main import main

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(parallel.fork_context() is None, reason="parallel check needs the fork start method")

BAD = """\
import asyncio
from dbos import DBOS


@DBOS.workflow()
async def wf_{n}() -> None:
    DBOS.sleep(1)
"""

DUPLICATE = """\
from dbos import DBOS


@DBOS.workflow()
def process(payment_id: str) -> str:
    return payment_id
"""

MAX_BYTES = 3000


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", *args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def serial_and_parallel(*args: str) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """The run with ``--jobs 1`` and with ``--jobs 2``, checking that the second used the pool."""
    serial = run(*args, "--jobs", "1")
    assert parallel.last_run.jobs == 1 and parallel.last_run.pids == {os.getpid()}
    par = run(*args, "--jobs", "2")
    assert parallel.last_run.jobs == 2
    # Every file was analysed in a worker, none in this process.
    assert parallel.last_run.pids and os.getpid() not in parallel.last_run.pids
    return serial, par


def build(root: Path) -> Path:
    """A project whose run has a notice of every kind, each where the serial run puts it.

    Sorted, ``shop/m00.py`` is the first file asking for the facts DBOS404 compares: the
    serial run's scan reports ``zz_huge.py`` and ``zz_pipe.py`` there, before the notice
    of ``n_latin1.py``; the config error of the shared pyproject is reported once."""
    shop, billing = root / "shop", root / "billing"
    shop.mkdir(parents=True)
    billing.mkdir()
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "shop"\n\n[tool.dbos-lsp]\nmax-file-bytes = {MAX_BYTES}\npush-debounce-ms = "soon"\n'
    )
    for n in range(12):
        (shop / f"m{n:02d}.py").write_text(BAD.format(n=n))
    (shop / "orders.py").write_text(DUPLICATE)  # DBOS404 with payments.py
    (shop / "payments.py").write_text(DUPLICATE)
    (shop / "n_latin1.py").write_bytes(b"x = '\xe9'\n")
    (shop / "broken.py").write_text("def f(:\n    pass\n")
    (shop / "zz_huge.py").write_text("x = 1\n" * (MAX_BYTES // 6 + 1))
    if hasattr(os, "mkfifo"):
        os.mkfifo(shop / "zz_pipe.py")
    # A second application (its own facts scan), same size limit so the run may go parallel.
    (billing / "pyproject.toml").write_text(
        f'[project]\nname = "billing"\n\n[tool.dbos-lsp]\nmax-file-bytes = {MAX_BYTES}\n'
    )
    (billing / "jobs.py").write_text(DUPLICATE)
    (billing / "tasks.py").write_text(DUPLICATE + BAD.format(n=99))
    return root


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 1)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_threshold: None) -> str:
    build(tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    return "proj"


def test_notices_keep_their_order_and_are_reported_once(project: str) -> None:
    serial, par = serial_and_parallel(project)
    assert par == serial
    code, out, err = serial
    assert code == 1
    lines = err.splitlines()
    assert len(set(lines)) == len(lines)  # each notice once
    # The project does produce what the comparison is about.
    assert [line for line in lines if "push-debounce-ms" in line] == [
        "warning: setting 'push-debounce-ms' must be a number of milliseconds (0..10000); ignored"
    ]
    expected = [
        "proj/shop/broken.py:1:7: syntax error",
        "proj/shop/zz_huge.py: skipped: larger than",
        *(["proj/shop/zz_pipe.py: skipped: not a regular file"] if hasattr(os, "mkfifo") else []),
        "proj/shop/n_latin1.py: cannot decode as UTF-8",
    ]
    found = [next(i for i, line in enumerate(lines) if line.startswith(prefix)) for prefix in expected]
    assert found == sorted(found)
    assert out.count("DBOS404") == 4  # shop/orders.py with shop/payments.py, billing/jobs.py with billing/tasks.py
    assert "proj/shop/orders.py" in out and "proj/billing/tasks.py" in out and "DBOS101" in out


@pytest.mark.parametrize("options", [["--format", "text"], ["--format", "json"], ["--format", "sarif"], ["--diff"]])
def test_formats_and_diff_match_the_serial_run(project: str, options: list[str]) -> None:
    serial, par = serial_and_parallel(project, *options)
    assert par == serial
    assert serial[0] == 1 and serial[1].strip()
    if "--diff" in options:
        assert "+    await DBOS.sleep_async(1)" in serial[1]


def test_fix_writes_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_threshold: None) -> None:
    results, trees = [], []
    for jobs in ("1", "2"):
        root = build(tmp_path / f"copy{jobs}")
        monkeypatch.chdir(root)
        results.append(run(".", "--fix", "--jobs", jobs))
        assert parallel.last_run.jobs == int(jobs)
        trees.append({p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.py")) if p.is_file()})
    assert results[1] == results[0]
    assert trees[1] == trees[0]
    fixed = trees[0][Path("shop/m00.py")].decode()
    assert "await DBOS.sleep_async(1)" in fixed and "Fixed 13 problems in 13 files" in results[0][2]


def test_over_the_real_threshold_the_pool_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    text = importlib.import_module("gen_module").generate(2600).text
    count = parallel.MIN_PARALLEL_BYTES // len(text.encode()) + 1
    app = tmp_path / "app"
    app.mkdir()
    (app / "pyproject.toml").write_text('[project]\nname = "app"\n')
    for n in range(count):
        (app / f"svc{n}.py").write_text(text)  # the same workflow names in every file: DBOS404 too
    monkeypatch.chdir(tmp_path)
    serial, par = serial_and_parallel("app", "--format", "json")
    assert par == serial
    assert serial[0] == 1 and '"code": "DBOS404"' in serial[1]


def test_a_small_run_stays_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(3):
        (tmp_path / f"m{n}.py").write_text(BAD.format(n=n))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(".", "--jobs", "2")
    assert code == 1 and out.count("DBOS101") == 3
    assert parallel.last_run.jobs == 1 and parallel.last_run.pids == {os.getpid()}


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
def test_jobs_must_be_a_positive_whole_number(tmp_path: Path, value: str) -> None:
    (tmp_path / "m.py").write_text(BAD.format(n=0))
    for option in (["--jobs", value], [f"-j{value}"]):
        code, out, err = run(str(tmp_path), *option)
        assert code == 2 and out == ""
        assert f"argument -j/--jobs: {value!r} is not a positive whole number" in err
