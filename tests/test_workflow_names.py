"""Workspace workflow names (DBOS404) and the literal validators of DBOS506/DBOS507."""

from __future__ import annotations

import os
import random
import textwrap
import time
from pathlib import Path

import pytest

from ci_requirements import require_module
from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.project.workflow_names import WorkflowNameIndex, file_registrations
from dbos_lsp.rules.lifecycle import cron_is_valid


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


class StubIndex:
    """The project-index surface the engine uses, with workflow names from a folder."""

    def __init__(self, root: Path) -> None:
        self.names = WorkflowNameIndex(str(root))

    def resolve_import(self, path, imp):
        return None

    def dbos_version(self, path=None):
        return None

    def workflow_registrations(self):
        return self.names.registrations()

    def workflow_registrations_for(self, path):
        return self.names.registrations_for(path)


ORDERS = """
    from dbos import DBOS


    @DBOS.workflow()
    def process(order_id: str) -> str:
        return order_id


    class Billing:
        @DBOS.workflow(name="charge")
        def run(self) -> None:
            pass
    """

PAYMENTS = """
    from dbos import DBOS as D


    @D.workflow()
    def process(payment_id: str) -> str:
        return payment_id


    @D.workflow(name="charge")
    def charge_card() -> None:
        pass


    @D.workflow()
    def refund() -> None:
        pass
    """


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    write(tmp_path, "pyproject.toml", "[project]\nname = 'shop'\n")
    write(tmp_path, "shop/orders.py", ORDERS)
    write(tmp_path, "shop/payments.py", PAYMENTS)
    write(tmp_path, ".venv/lib/site.py", PAYMENTS)  # skipped folder
    return tmp_path


def findings(path: Path, index: object, text: str | None = None, **settings):
    text = text if text is not None else path.read_text()
    return [f for f in analyze(text, Settings(**settings), index, str(path)).findings if f.code == "DBOS404"]


def test_registrations_cover_functions_methods_and_names(workspace: Path) -> None:
    regs = WorkflowNameIndex(str(workspace)).registrations()
    orders, payments = str(workspace / "shop/orders.py"), str(workspace / "shop/payments.py")
    assert sorted(regs["process"]) == [(orders, 5), (payments, 5)]
    assert sorted(regs["charge"]) == [(orders, 11), (payments, 10)]
    assert regs["refund"] == [(payments, 15)]
    assert "Billing.run" not in regs  # name= replaces the qualified name
    assert all(".venv" not in p for entries in regs.values() for p, _ in entries)


def test_collision_reported_on_the_current_files_decorator(workspace: Path) -> None:
    index = StubIndex(workspace)
    got = findings(workspace / "shop/orders.py", index)
    assert [(f.span.start.line + 1, f.code) for f in got] == [(5, "DBOS404"), (11, "DBOS404")]
    assert "payments.py:5" in got[0].message and "`process`" in got[0].message
    assert "payments.py:10" in got[1].message


def test_unsaved_rename_clears_the_collision(workspace: Path) -> None:
    index = StubIndex(workspace)
    path = workspace / "shop/orders.py"
    text = path.read_text().replace("def process(", "def process_order(").replace('name="charge"', 'name="bill"')
    assert findings(path, index, text) == []


def test_qualified_method_names_collide(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.py",
        "from dbos import DBOS\n\nclass Job:\n"
        "    @DBOS.workflow()\n    @staticmethod\n    def run() -> None:\n        pass\n",
    )
    write(tmp_path, "b.py", "from dbos import DBOS\n\n@DBOS.workflow(name='Job.run')\ndef other() -> None:\n    pass\n")
    got = findings(tmp_path / "b.py", StubIndex(tmp_path))
    assert len(got) == 1 and "a.py:4" in got[0].message


def test_silent_without_index_path_or_before_3(workspace: Path) -> None:
    path = workspace / "shop/orders.py"
    assert findings(path, None) == []
    text = path.read_text()
    assert [f for f in analyze(text, Settings(), StubIndex(workspace), None).findings if f.code == "DBOS404"] == []
    assert findings(path, StubIndex(workspace), dbos_version="2.31") == []

    class NoNames:
        def resolve_import(self, path, imp):
            return None

        def dbos_version(self, path=None):
            return None

    assert findings(path, NoNames()) == []


def test_separate_projects_may_reuse_names(tmp_path: Path) -> None:
    write(tmp_path, "app_one/pyproject.toml", "")
    write(tmp_path, "app_two/pyproject.toml", "")
    write(tmp_path, "app_one/main.py", ORDERS)
    write(tmp_path, "app_two/main.py", PAYMENTS)
    assert findings(tmp_path / "app_one/main.py", StubIndex(tmp_path)) == []


def test_same_module_duplicates_and_type_checking_are_ignored(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.py",
        """
        from typing import TYPE_CHECKING
        from dbos import DBOS

        if TYPE_CHECKING:
            @DBOS.workflow()
            def shared() -> None: ...

        @DBOS.workflow()
        def local() -> None:
            pass

        @DBOS.workflow(name=compute_name())
        def dynamic() -> None:
            pass
        """,
    )
    write(
        tmp_path,
        "b.py",
        "from dbos import DBOS\n\n@DBOS.workflow()\ndef shared() -> None:\n    pass\n\n"
        "@DBOS.workflow(name='local')\ndef x() -> None:\n    pass\n",
    )
    regs = WorkflowNameIndex(str(tmp_path)).registrations()
    assert [p for p, _ in regs["shared"]] == [str(tmp_path / "b.py")]
    assert "dynamic" not in regs
    assert len(findings(tmp_path / "b.py", StubIndex(tmp_path))) == 1  # 'local' only


def test_files_are_cached_until_they_change(workspace: Path) -> None:
    index = WorkflowNameIndex(str(workspace))
    index.registrations()
    parsed = index.parses
    index._listed_at = float("-inf")  # force a new listing
    index.registrations()
    assert index.parses == parsed
    path = workspace / "shop/payments.py"
    path.write_text(path.read_text().replace("def refund", "def refund_all"))
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    index._listed_at = float("-inf")
    regs = index.registrations()
    assert index.parses == parsed + 1
    assert "refund_all" in regs and "refund" not in regs


def test_large_and_broken_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "broken.py", "from dbos import DBOS\n@DBOS.workflow()\ndef f(:\n")
    big = (
        "x = 1\n" * (2 * 1024 * 1024 // 6 + 10)
        + "from dbos import DBOS\n@DBOS.workflow()\ndef big() -> None:\n    pass\n"
    )
    (tmp_path / "big.py").write_text(big)
    assert WorkflowNameIndex(str(tmp_path)).registrations() == {}
    assert file_registrations("x.py", "from dbos import DBOS\n@DBOS.workflow\ndef bare():\n    pass\n") == [("bare", 2)]


# ----- DBOS506: a case whose line other rules also flag ---------------------------------------


def test_concurrency_and_global_concurrency_together() -> None:
    text = "from dbos import DBOS\n\nDBOS.launch()\nDBOS.register_queue('q', concurrency=2, global_concurrency=3)\n"
    codes = [f.code for f in analyze(text).findings if f.code == "DBOS506"]
    assert codes == ["DBOS506"]


# ----- DBOS507: the cron checker agrees with croniter -----------------------------------------

ATOMS = """* ? 0 1 5 7 12 13 23 24 31 32 59 60 0-5 5-0 1-7 3-7 0-7 7-7 */0 */5 */60 5/15 59/15 70/5 mon MON
sun-sat fri-mon jan JAN-MAR dec/3 l 5-l l-5 h H/5 r 1#3 l5 15w 1,2 1,,2 -5 5- /5 5/ 1-5-7 */5/2 x
1-5/2 jan/2 sat/2 7/2 0-0 2099 1970 1969 monday +5 05 *-5 a-b 1-2099 12-1 l-l 5-l/2 1-31/l */1
jan-dec/0 R(1-5) h(0-5) r/0 L SUN-7 7-SUN sat-sun/3 apr-jan/3 1-12/5 1/1 0/5 60/1 00 007 1.5 **
*/* mon#2 2#6 LW W ?/2""".split()


def _generated(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = ["@hourly", "@DAILY", "@reboot", " @hourly", "", "* * * *", "* * * * * * * *", "0 9 * * 1-5\u00a0"]
    while len(out) < count:
        fields = ["*"] * rng.choice([5, 6, 7])
        for i in rng.sample(range(len(fields)), rng.randint(1, 2)):
            fields[i] = ",".join(rng.choice(ATOMS) for _ in range(rng.choice([1, 1, 2])))
        out.append(" ".join(fields))
    return out


def test_cron_checker_matches_croniter() -> None:
    croniter = require_module("croniter").croniter
    checked = 0
    for expr in _generated(1500):
        mine = cron_is_valid(expr)
        if mine is None:
            continue
        checked += 1
        assert mine == croniter.is_valid(expr, second_at_beginning=True), expr
    assert checked > 1200


def test_cron_checker_knows_common_forms() -> None:
    assert cron_is_valid("*/5 * * * *") is True
    assert cron_is_valid("0 */2 * * * *") is True  # seconds first
    assert cron_is_valid("0 9 * * MON-FRI") is True
    assert cron_is_valid("0 0 L * *") is True
    assert cron_is_valid("0 0 * * 1#2") is None  # nth weekday: not modelled
    assert cron_is_valid("0 25 * * *") is False
    assert cron_is_valid("H * * * *") is False  # DBOS passes no hash id
    assert cron_is_valid("* * * *") is False
