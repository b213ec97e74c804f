"""The workspace index's pure logic: per-file facts, search, registrations, code lens text."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.features.code_lens import lens_title, workflow_lenses
from dbos_lsp.project.workspace import (
    Enqueue,
    QueueRegistration,
    WorkspaceIndex,
    fuzzy_score,
    module_name,
    python_files,
    scan_text,
)

APP = textwrap.dedent(
    """\
    from dbos import DBOS, DBOSClient, SQLAlchemyDatasource

    ds = SQLAlchemyDatasource.create("postgresql://localhost/app")
    q = DBOS.register_queue("orders", concurrency=3)


    @DBOS.step()
    def reserve(item: str) -> bool:
        return True


    @DBOS.step(name="charge_card")
    async def charge(amount: int) -> None:
        pass


    @ds.transaction()
    def record(x: int) -> int:
        return x


    @DBOS.workflow()
    def checkout(item: str) -> None:
        reserve(item)
        reserve(item)
        record(1)
        DBOS.run_step(None, lambda: 1)

        def helper() -> None:
            reserve("nested")  # a plain helper inside the workflow: counted once (same step)

        helper()


    @DBOS.workflow(name="async-checkout")
    async def checkout_async() -> None:
        await charge(1)


    @DBOS.dbos_class()
    class Billing:
        @DBOS.workflow()
        def refund(self) -> None:
            pass


    def main() -> None:
        emails = DBOS.register_queue("emails")
        DBOS.enqueue_workflow("orders", checkout, "x")
        q.enqueue(checkout_async)
        emails.enqueue_async(Billing.refund)
        client = DBOSClient("postgresql://localhost/app")
        client.enqueue({"queue_name": "remote", "workflow_name": "checkout"}, "y")
        not_a_queue.enqueue(checkout)  # unknown receiver: kept, resolved (or not) workspace-wide
    """
)


def test_scan_finds_workflows_steps_and_transactions():
    facts = scan_text("/w/shop/app.py", APP, "shop.app")
    rows = [(s.name, s.registered_name, s.kind, s.line, s.column, s.is_async, s.class_name) for s in facts.symbols]
    assert rows == [
        ("reserve", "reserve", "step", 7, 4, False, None),
        ("charge", "charge_card", "step", 12, 10, True, None),
        ("record", "record", "transaction", 17, 4, False, None),
        ("checkout", "checkout", "workflow", 22, 4, False, None),
        ("checkout_async", "async-checkout", "workflow", 35, 10, True, None),
        ("refund", "Billing.refund", "workflow", 42, 8, False, "Billing"),
    ]
    assert all(s.module == "shop.app" and s.path == "/w/shop/app.py" for s in facts.symbols)
    assert facts.registrations == [("checkout", 22), ("async-checkout", 35), ("Billing.refund", 42)]


def test_scan_finds_queues_and_enqueues():
    facts = scan_text("/w/shop/app.py", APP)
    assert facts.queues == [QueueRegistration("orders", 3, "q"), QueueRegistration("emails", 47, "emails")]
    assert facts.enqueues == [
        Enqueue("checkout", 48, "orders"),
        Enqueue("checkout_async", 49, "orders", typed=True),
        Enqueue("refund", 50, "emails", typed=True),
        Enqueue("checkout", 52, "remote"),
        Enqueue("checkout", 53, None, "not_a_queue"),
    ]


def test_unparsable_file_has_no_facts():
    facts = scan_text("/w/broken.py", "def (:\n")
    assert facts.symbols == [] and facts.registrations == []


def test_module_names():
    assert module_name("/w/shop/app.py", "/w") == "shop.app"
    assert module_name("/w/shop/__init__.py", "/w") == "shop"
    assert module_name("/elsewhere/x.py", "/w") == "x"
    assert module_name("/w/tool.py") == "tool"


def test_fuzzy_score_orders_exact_prefix_substring_subsequence():
    assert fuzzy_score("checkout", "checkout") == 0
    assert fuzzy_score("CHECK", "checkout_async") == 1
    assert fuzzy_score("async", "checkout_async") == 2
    assert fuzzy_score("cka", "checkout_async") == 3
    assert fuzzy_score("zz", "checkout") is None
    assert fuzzy_score("", "anything") is not None


def _index(tmp_path: Path, files: dict[str, str]) -> WorkspaceIndex:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    index = WorkspaceIndex([str(tmp_path)])
    index.scan()
    return index


QUEUES = "from dbos import DBOS\n\nbulk = DBOS.register_queue('bulk')\n"
JOBS = """\
from dbos import DBOS
from .queues import bulk
from .app import checkout


@DBOS.workflow()
def nightly() -> None:
    pass


def go():
    bulk.enqueue(checkout)
    bulk.enqueue(nightly)
    unrelated.enqueue(nightly)
"""


def test_index_search_registrations_and_queues(tmp_path: Path):
    index = _index(tmp_path, {"shop/app.py": APP, "shop/queues.py": QUEUES, "shop/jobs.py": JOBS})
    assert len(index) == 3
    found = index.search("check")
    assert [(s.name, s.module) for s in found] == [("checkout", "shop.app"), ("checkout_async", "shop.app")]
    assert [s.name for s in index.search("charge_card")] == ["charge"]  # the registered name matches too
    assert [s.name for s in index.search("NIGHT")] == ["nightly"]
    regs = index.workflow_registrations()
    assert regs["nightly"] == [(str(tmp_path / "shop/jobs.py"), 6)]
    # An imported queue variable resolves through the file that registers it.
    assert index.queues_for("checkout") == ["bulk", "orders", "remote"]
    assert index.queues_for("nightly") == ["bulk"]
    assert index.queues_for("refund", "Billing.refund") == ["emails"]
    assert index.queues_for("reserve") == []


def test_index_updates_and_reports_only_name_changes(tmp_path: Path):
    index = _index(tmp_path, {"a.py": "from dbos import DBOS\n\n@DBOS.workflow()\ndef one(): pass\n"})
    path = str(tmp_path / "a.py")
    # Moving a workflow down a line is not news for other files...
    assert not index.update_file(path, "from dbos import DBOS\n\n\n@DBOS.workflow()\ndef one(): pass\n")
    assert index.workflow_registrations() == {"one": [(path, 4)]}  # ...but the line is current
    # ...a rename is.
    assert index.update_file(path, "from dbos import DBOS\n\n@DBOS.workflow()\ndef two(): pass\n")
    assert list(index.workflow_registrations()) == ["two"]
    assert index.remove(path) and index.workflow_registrations() == {}


def test_python_files_skips_venvs_build_output_big_files_and_excluded(tmp_path: Path):
    for name in ["a.py", "pkg/b.py", ".venv/c.py", "node_modules/d.py", "build/e.py", "gen/f.py", "notes.txt"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    (tmp_path / "big.py").write_text("x = 1\n" * 10)
    files = python_files([str(tmp_path)], excluded=lambda p: "/gen" in p, max_bytes=30)
    assert sorted(Path(f).relative_to(tmp_path).as_posix() for f in files) == ["a.py", "pkg/b.py"]


def test_scan_reports_progress_and_drops_deleted_files(tmp_path: Path):
    index = _index(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n"})
    (tmp_path / "b.py").unlink()
    seen = []
    assert index.scan(progress=lambda done, total, path: seen.append((done, total))) == 1
    assert seen == [(1, 1)] and index.paths() == [str(tmp_path / "a.py")]


def _model(text: str) -> ModuleModel:
    return ModuleModel(ast.parse(text), text.splitlines(), "/w/shop/app.py", None)


def test_code_lens_counts_distinct_steps_and_lists_queues():
    index_queues = {"checkout": ["orders", "remote"], "Billing.refund": ["emails"]}
    lenses = workflow_lenses(_model(APP), lambda *names: sorted({q for n in names for q in index_queues.get(n, [])}))
    assert [(lens.line, lens.title) for lens in lenses] == [
        (21, "3 steps · enqueued on: orders, remote"),  # reserve, record, the run_step lambda
        (34, "1 step · not enqueued"),
        (41, "0 steps · enqueued on: emails"),
    ]
    assert lenses[0].steps[:2] == ("reserve", "record")


def test_lens_title():
    assert lens_title(0, []) == "0 steps · not enqueued"
    assert lens_title(1, ["q1", "q2"]) == "1 step · enqueued on: q1, q2"
