"""Names resolved like an IDE would, by syntax alone: every DBOS export under any alias,
types from annotations, annotated helper returns and ``if``/``else`` branches.

Each form has a positive case (an existing rule reports it: DBOS101 for a sync DBOS call in
``async def``, DBOS102 for a blocking queue, client or handle method, DBOS106 for an async
handle) and a clean counterpart that must stay silent.  The rules are not changed: they ask
the model (``api_of``, ``instance_type``, ``qualname``), which answers for these forms.
"""

from __future__ import annotations

import textwrap

import pytest

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.incremental import IncrementalAnalyzer
from dbos_lsp.engine.pipeline import analyze, module_model


def found(text: str) -> list[tuple[int, str]]:
    analysis = analyze(textwrap.dedent(text), Settings())
    assert analysis.rule_errors == []
    return sorted((f.span.start.line + 1, f.code) for f in analysis.findings)


# (id, text, expected findings).  Positive and clean forms side by side.
CASES = [
    # ----- aliases of DBOS and its methods
    (
        "import-dbos-as",
        """\
        import dbos as d

        async def f():
            d.DBOS.sleep(1)
        """,
        [(4, "DBOS101")],
    ),
    (
        "from-dbos-import-as",
        """\
        from dbos import DBOS as D

        async def f():
            D.sleep(1)
        """,
        [(4, "DBOS101")],
    ),
    (
        "class-rebound-at-module-level",
        """\
        from dbos import DBOS
        D = DBOS

        async def f():
            D.sleep(1)
        """,
        [(5, "DBOS101")],
    ),
    (
        "method-rebound-at-module-level",
        """\
        from dbos import DBOS
        sleep = DBOS.sleep

        async def f():
            sleep(1)
        """,
        [(5, "DBOS101")],
    ),
    (
        "alias-of-an-alias",
        """\
        import dbos
        D = dbos.DBOS
        nap = D.sleep

        async def f():
            nap(1)
        """,
        [(6, "DBOS101")],
    ),
    (
        "aliased-decorator-gives-the-role",
        """\
        from dbos import DBOS
        D = DBOS

        @D.workflow()
        async def child():
            return 1

        @D.workflow()
        async def parent():
            child()
        """,
        [(10, "DBOS104")],
    ),
    (
        "rebound-method-starting-a-workflow",
        """\
        from dbos import DBOS
        start = DBOS.start_workflow

        @DBOS.workflow()
        async def child():
            return 1

        async def f():
            start(child)
        """,
        [(9, "DBOS102")],
    ),
    (
        "clean-alias-in-sync-code",
        """\
        from dbos import DBOS
        sleep = DBOS.sleep

        def f():
            sleep(1)
        """,
        [],
    ),
    (
        "clean-alias-shadowed-by-a-local",
        """\
        from dbos import DBOS
        sleep = DBOS.sleep

        async def f():
            sleep = print
            sleep(1)
        """,
        [],
    ),
    (
        "clean-alias-bound-twice",
        """\
        import asyncio
        from dbos import DBOS
        sleep = DBOS.sleep
        sleep = asyncio.sleep

        async def f():
            sleep(1)
        """,
        [],
    ),
    (
        "clean-alias-rebound-through-global",
        """\
        from dbos import DBOS
        sleep = DBOS.sleep

        def configure():
            global sleep
            sleep = print

        async def f():
            sleep(1)
        """,
        [],
    ),
    (
        "clean-alias-rebound-in-a-module-loop",
        """\
        from dbos import DBOS
        sleep = DBOS.sleep
        for sleep in (print,):
            pass

        async def f():
            sleep(1)
        """,
        [],
    ),
    (
        "clean-alias-deleted",
        """\
        from dbos import DBOS
        sleep = DBOS.sleep
        del sleep

        async def f():
            sleep(1)
        """,
        [],
    ),
    # ----- types from annotations
    (
        "parameter-client",
        """\
        from dbos import DBOSClient

        async def f(client: DBOSClient):
            client.enqueue({"workflow_name": "w", "queue_name": "q"})
        """,
        [(4, "DBOS102")],
    ),
    (
        "parameter-queue",
        """\
        from dbos import Queue

        async def f(q: Queue, w):
            q.enqueue(w)
        """,
        [(4, "DBOS102")],
    ),
    (
        "parameter-optional-queue",
        """\
        from typing import Optional
        from dbos import Queue

        async def f(w, q: Optional[Queue] = None):
            q.enqueue(w)
        """,
        [(5, "DBOS102")],
    ),
    (
        "parameter-queue-or-none",
        """\
        from dbos import Queue

        async def f(w, q: Queue | None = None):
            q.enqueue(w)
        """,
        [(4, "DBOS102")],
    ),
    (
        "parameter-string-annotation",
        """\
        from dbos import Queue

        async def f(w, q: "Queue"):
            q.enqueue(w)
        """,
        [(4, "DBOS102")],
    ),
    (
        "parameter-aliased-class",
        """\
        from dbos import Queue as Q

        async def f(w, q: Q):
            q.enqueue(w)
        """,
        [(4, "DBOS102")],
    ),
    (
        "parameter-sync-handle-generic",
        """\
        from dbos import WorkflowHandle

        async def f(handle: WorkflowHandle[str]):
            return handle.get_result()
        """,
        [(4, "DBOS102")],
    ),
    (
        "parameter-async-handle-generic",
        """\
        from dbos import WorkflowHandleAsync

        async def f(handle: WorkflowHandleAsync[str]):
            print(handle.get_result())
        """,
        [(4, "DBOS106")],
    ),
    (
        "clean-parameter-async-form-awaited",
        """\
        from dbos import Queue

        async def f(q: Queue, w):
            await q.enqueue_async(w)
        """,
        [],
    ),
    (
        "clean-parameter-union-of-two-classes",
        """\
        from dbos import DBOSClient, Queue

        async def f(q: Queue | DBOSClient, w):
            q.enqueue(w)
        """,
        [],
    ),
    (
        "clean-parameter-rebound",
        """\
        from dbos import Queue

        async def f(q: Queue, w):
            q = make()
            q.enqueue(w)
        """,
        [],
    ),
    # ----- annotated helper returns
    (
        "helper-return-called-directly",
        """\
        from dbos import DBOS, Queue

        def get_queue() -> Queue:
            return QUEUES["q"]  # a plain lookup: DBOS.retrieve_queue raises in a loop (DBOS101)

        async def f(w):
            get_queue().enqueue(w)
        """,
        [(7, "DBOS102")],
    ),
    (
        "helper-return-bound-to-a-name",
        """\
        from dbos import DBOS, Queue

        def get_queue() -> Queue:
            return QUEUES["q"]  # a plain lookup: DBOS.retrieve_queue raises in a loop (DBOS101)

        async def f(w):
            q = get_queue()
            q.enqueue(w)
        """,
        [(8, "DBOS102")],
    ),
    (
        "helper-return-at-module-level",
        """\
        from dbos import DBOS, Queue

        def get_queue() -> Queue:
            return DBOS.retrieve_queue("q")

        q = get_queue()

        async def f(w):
            q.enqueue(w)
        """,
        [(9, "DBOS102")],
    ),
    (
        "async-helper-return-awaited",
        """\
        from dbos import DBOS, WorkflowHandleAsync

        async def get_handle(i) -> WorkflowHandleAsync[int]:
            return await DBOS.retrieve_workflow_async(i)

        async def f(i):
            (await get_handle(i)).get_status()
            h = await get_handle(i)
            h.get_result()
        """,
        [(7, "DBOS106"), (9, "DBOS106")],
    ),
    (
        "method-helper-return",
        """\
        from dbos import DBOS, Queue

        class Shop:
            def queue(self) -> Queue:
                return QUEUES["q"]  # a plain lookup: DBOS.retrieve_queue raises in a loop (DBOS101)

            async def f(self, w):
                self.queue().enqueue(w)
        """,
        [(8, "DBOS102")],
    ),
    (
        "nested-helper-return",
        """\
        from dbos import DBOS, Queue

        async def f(w):
            def queue() -> Queue:
                return QUEUES["q"]  # a plain lookup: DBOS.retrieve_queue raises in a loop (DBOS101)

            queue().enqueue(w)
        """,
        [(7, "DBOS102")],
    ),
    (
        "clean-helper-without-annotation",
        """\
        from dbos import DBOS

        def get_queue():
            return QUEUES["q"]  # a plain lookup: DBOS.retrieve_queue raises in a loop (DBOS101)

        async def f(w):
            get_queue().enqueue(w)
        """,
        [],
    ),
    (
        "clean-async-helper-not-awaited-is-a-coroutine",
        """\
        from dbos import Queue

        async def get_queue() -> Queue:
            ...

        async def f(w):
            q = get_queue()
            q.enqueue(w)
        """,
        [],
    ),
    (
        "clean-helper-shadowed-by-a-parameter",
        """\
        from dbos import DBOS, Queue

        def get_queue() -> Queue:
            return DBOS.retrieve_queue("q")

        async def f(w, get_queue):
            get_queue().enqueue(w)
        """,
        [],
    ),
    # ----- every branch of an if/else
    (
        "if-else-branches-same-type",
        """\
        from dbos import DBOS

        a = DBOS.register_queue("a")
        b = DBOS.register_queue("b")

        async def f(w, x):
            if x:
                q = a
            else:
                q = b
            q.enqueue(w)
        """,
        [(11, "DBOS102")],
    ),
    (
        "if-elif-else-branches-same-type",
        """\
        from dbos import DBOS, Queue

        a = DBOS.register_queue("a")

        def get_queue() -> Queue:
            return a

        async def f(w, x):
            q: Queue
            if x == 1:
                q = a
            elif x == 2:
                q = get_queue()
            else:
                q = a
            q.enqueue(w)
        """,
        [(16, "DBOS102")],
    ),
    (
        "module-level-if-else-same-type",
        """\
        import os
        from dbos import DBOS

        if os.environ.get("URGENT"):
            q = DBOS.register_queue("urgent")
        else:
            q = DBOS.register_queue("normal")

        async def f(w):
            q.enqueue(w)
        """,
        [(10, "DBOS102")],
    ),
    (
        "clean-branches-of-different-kinds",
        """\
        from dbos import DBOS

        a = DBOS.register_queue("a")

        async def f(w, x):
            if x:
                q = a
            else:
                q = make()
            q.enqueue(w)
        """,
        [],
    ),
    (
        "clean-one-branch-and-a-later-rebinding",
        """\
        from dbos import DBOS

        a = DBOS.register_queue("a")

        async def f(w, x):
            if x:
                q = a
            else:
                q = a
            q = make()
            q.enqueue(w)
        """,
        [],
    ),
    (
        "clean-sequential-rebinding",
        """\
        from dbos import DBOS

        a = DBOS.register_queue("a")
        b = DBOS.register_queue("b")

        async def f(w):
            q = a
            q = b
            q.enqueue(w)
        """,
        [],
    ),
    (
        "clean-branches-plus-a-loop-target",
        """\
        from dbos import DBOS

        a = DBOS.register_queue("a")

        async def f(w, x, items):
            if x:
                q = a
            else:
                q = a
            for q in items:
                q.enqueue(w)
        """,
        [],
    ),
]


@pytest.mark.parametrize("text, expected", [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_form(text: str, expected: list[tuple[int, str]]) -> None:
    assert found(text) == expected


def test_every_positive_form_has_a_clean_counterpart() -> None:
    positives = [c for c in CASES if c[2]]
    clean = [c for c in CASES if not c[2]]
    assert len(positives) >= 20 and len(clean) >= 15


def test_model_answers_for_aliases() -> None:
    text = textwrap.dedent(
        """\
        import dbos as d
        from dbos import DBOS as D, SetWorkflowID as WorkflowKey

        Durable = D
        sleep = Durable.sleep
        key = WorkflowKey

        async def f():
            sleep(1)
            d.DBOS.sleep(1)
            WorkflowKey("x")
        """
    )
    model = module_model(text)
    assert model is not None
    calls = {site.node.lineno: site for site in model.calls}
    assert model.api_of(calls[9].node, calls[9].fn) == ("dbos.DBOS", "sleep")
    assert model.api_of(calls[10].node, calls[10].fn) == ("dbos.DBOS", "sleep")
    assert model.qualname(calls[11].node.func, calls[11].fn) == "dbos.SetWorkflowID"
    # Call sites carry the name they stand for, so ``calls_named`` pre-filters find them.
    assert calls[9].tail == "sleep" and calls[11].tail == "SetWorkflowID"
    assert [s.node.lineno for s in model.calls_named({"SetWorkflowID"})] == [11]
    assert model.module_aliases.keys() == {"Durable", "sleep", "key"}


def test_alias_cycle_has_no_answer() -> None:
    model = module_model("a = b\nb = a\n\nasync def f():\n    a.sleep(1)\n")
    assert model is not None
    site = model.calls[0]
    assert model.qualname(site.node.func, site.fn) is None
    assert model.api_of(site.node, site.fn) is None


@pytest.mark.parametrize(
    "before, after",
    [
        ("sleep = DBOS.sleep", "sleep = print"),
        ("def get_queue() -> Queue:", "def get_queue() -> int:"),
        ("    q = b", "    q = make()"),
    ],
)
def test_incremental_analysis_follows_edits_of_aliases_and_annotations(before: str, after: str) -> None:
    text = textwrap.dedent(
        """\
        from dbos import DBOS, Queue

        sleep = DBOS.sleep
        a = DBOS.register_queue("a")
        b = DBOS.register_queue("b")


        def get_queue() -> Queue:
            return a


        async def uses_alias():
            sleep(1)


        async def uses_helper(w):
            get_queue().enqueue(w)


        async def uses_branches(w, x):
            if x:
                q = a
            else:
                q = b
            q.enqueue(w)
        """
    )
    analyzer = IncrementalAnalyzer()
    first = analyzer.analyze(text)
    edited = text.replace(before, after)
    assert edited != text
    again = analyzer.analyze(edited)
    full = analyze(edited)
    assert [(f.span, f.code) for f in again.findings] == [(f.span, f.code) for f in full.findings]
    assert len(again.findings) == len(first.findings) - 1
