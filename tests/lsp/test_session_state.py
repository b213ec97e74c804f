"""The server's session state alone: no client, no pygls (``lsp/session.py``)."""

from __future__ import annotations

import sys

import pytest

from dbos_lsp.analysis.findings import Analysis
from dbos_lsp.lsp.session import KEEP_PARSED, Session, settings_section

SLEEPY = "from dbos import DBOS\n\n\n@DBOS.workflow()\nasync def wf() -> None:\n    DBOS.sleep(30)\n"
CLEAN = SLEEPY.replace("DBOS.sleep(30)", "await DBOS.sleep_async(30)")


def new_session(options=None) -> Session:
    session = Session()
    session.apply_settings(options if options is not None else {}, None, initial=True)
    return session


async def snapshot(session: Session, uri: str, version: int, text: str):
    snap, _problems = await session.snapshot(uri, version, text, None)
    return snap


def test_no_protocol_library_is_needed():
    import dbos_lsp.lsp.session as module

    source = open(module.__file__, encoding="utf-8").read()
    assert "pygls" not in source and "lsprotocol" not in source


# ----- settings layering -------------------------------------------------------------------


def test_settings_shapes():
    flat = {"ignore": ["DBOS101"]}
    assert settings_section(flat) is flat
    assert settings_section({"settings": flat}) is flat
    assert settings_section({"dbos": flat}) is flat
    assert settings_section({"settings": {"dbos": flat}}) is flat
    assert settings_section({"settings": [{"workspace": "file:///w", **flat}]})["ignore"] == ["DBOS101"]
    assert settings_section({"settings": 5}) == 5
    assert settings_section(None) is None


def test_configuration_overlays_initialization_options_key_by_key():
    session = new_session({"dbos": {"ignore": ["DBOS101"], "pushDebounceMs": 0}})
    assert session.settings.push_debounce_ms == 0
    changed, errors = session.change_editor_settings({"severity": {"DBOS104": "hint"}})
    assert changed and errors == []
    assert session.editor_settings == {"ignore": ["DBOS101"], "pushDebounceMs": 0, "severity": {"DBOS104": "hint"}}
    assert session.settings.push_debounce_ms == 0  # kept from the initialization options
    assert session.change_editor_settings({"severity": {"DBOS104": "hint"}}) == (False, [])


def test_invalid_settings_keep_defaults_and_are_reported_once_until_they_change():
    session = new_session()
    errors = session.apply_settings({"severity": "x"})
    assert errors and session.settings.severity == {}
    assert session.new_problems(errors) == errors
    assert session.new_problems(errors) == []
    changed, errors = session.change_editor_settings({"select": 3})
    assert changed and session.new_problems(errors) == errors  # a change makes problems news again


def test_settings_changes_invalidate_result_ids():
    session = new_session()
    before = session.current_result_id("file:///a.py", 1, SLEEPY)
    session.change_editor_settings({"ignore": ["DBOS101"]})
    assert session.current_result_id("file:///a.py", 1, SLEEPY) != before


# ----- what was reported -------------------------------------------------------------------


def test_rule_errors_are_reported_once_per_rule_and_version():
    session = new_session()
    broken = Analysis(rule_errors=[("DBOS101", "KeyError: 'x'"), ("DBOS102", "ValueError")])
    assert len(session.new_rule_errors("file:///a.py", 1, broken)) == 2
    assert session.new_rule_errors("file:///a.py", 1, broken) == []
    assert len(session.new_rule_errors("file:///a.py", 2, broken)) == 2


def test_one_report_per_kind_of_internal_error():
    session = new_session()
    assert [session.first_of_kind(k) for k in ("ValueError", "ValueError", "KeyError")] == [True, False, True]


# ----- analyses, result ids and epochs --------------------------------------------------------


async def test_an_analysis_is_computed_once_per_version_and_text():
    session = new_session()
    first = await snapshot(session, "file:///a.py", 1, SLEEPY)
    assert [f.code for f in first.analysis.findings] == ["DBOS101"]
    assert (await snapshot(session, "file:///a.py", 1, SLEEPY)).analysis is first.analysis
    other = await snapshot(session, "file:///a.py", 1, CLEAN)  # same version, other text (reopened)
    assert other.analysis is not first.analysis and other.analysis.findings == []


async def test_fix_all_is_computed_once_per_analysed_version(monkeypatch: pytest.MonkeyPatch):
    import dbos_lsp.lsp.session as module

    calls = []
    real = module.fix_all
    monkeypatch.setattr(module, "fix_all", lambda *a: calls.append(a) or real(*a))
    session = new_session()
    snap = await snapshot(session, "file:///a.py", 1, SLEEPY)
    fixed = session.fix_all_for(snap)
    assert fixed is not None and "sleep_async" in fixed[0].new_text
    assert session.fix_all_for(await snapshot(session, "file:///a.py", 1, SLEEPY)) is fixed
    assert len(calls) == 1  # cursor moves ask again; the file is not re-analysed
    assert session.fix_all_for(await snapshot(session, "file:///a.py", 2, CLEAN)) is None
    assert len(calls) == 2


async def test_result_ids_follow_the_text_not_only_the_version():
    session = new_session()
    uri = "file:///a.py"
    session.opened(uri)
    a = session.current_result_id(uri, 1, SLEEPY)
    assert session.current_result_id(uri, 1, SLEEPY) == a
    assert session.current_result_id(uri, 1, CLEAN) != a
    assert session.snapshot_result_id(await snapshot(session, uri, 1, SLEEPY)) == a


def test_reopening_the_same_text_gets_a_new_result_id():
    # Another file may have changed while this one was closed: nothing computed before counts.
    session = new_session()
    uri = "file:///a.py"
    session.opened(uri)
    first = session.current_result_id(uri, 1, SLEEPY)
    session.closed(uri)
    session.opened(uri)
    assert session.current_result_id(uri, 1, SLEEPY) != first


def test_index_changes_invalidate_the_other_documents_and_batch_their_refresh():
    session = new_session()
    uris = ["file:///a.py", "file:///b.py", "file:///c.py"]
    ids = {u: session.current_result_id(u, 1, SLEEPY) for u in uris}
    session.index_changed(uris, except_uri="file:///a.py")  # a's own change caused it
    assert session.current_result_id("file:///a.py", 1, SLEEPY) == ids["file:///a.py"]
    assert session.current_result_id("file:///b.py", 1, SLEEPY) != ids["file:///b.py"]
    session.index_changed(uris, except_uri="file:///b.py")  # now a is stale too
    assert session.take_refresh(uris) == ["file:///a.py", "file:///c.py"]
    assert session.take_refresh(uris) == []  # the batch was reset: nothing pending
    session.index_changed(uris)  # a file on disk: everyone
    assert session.take_refresh(uris) == uris


async def test_parsed_state_is_kept_for_the_most_recently_edited_documents_only():
    session = new_session()
    uris = [f"file:///m{i}.py" for i in range(KEEP_PARSED + 3)]
    for uri in uris:
        await snapshot(session, uri, 1, SLEEPY)
    assert session.parsed_documents() == uris[-KEEP_PARSED:]
    session.closed(uris[-1])
    assert uris[-1] not in session.parsed_documents()


def test_the_cpython_ast_race_is_retried(monkeypatch: pytest.MonkeyPatch):
    # gh-106905: concurrent AST construction can fail spuriously; the version must keep its findings.
    session = new_session()
    real = session._run
    calls = []

    def flaky(*args):
        calls.append(1)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=3, after=2)")
        return real(*args)

    monkeypatch.setattr(session, "_run", flaky)
    analysis, problems, excluded = session.analyze(SLEEPY, None, "file:///a.py")
    assert [f.code for f in analysis.findings] == ["DBOS101"] and not analysis.rule_errors


def test_an_engine_bug_degrades_to_a_rule_error(monkeypatch: pytest.MonkeyPatch):
    session = new_session()
    monkeypatch.setattr(session, "_run", lambda *a: (_ for _ in ()).throw(SystemError("something else")))
    analysis, _problems, _excluded = session.analyze(SLEEPY, None, "file:///a.py")
    assert analysis.findings == [] and analysis.rule_errors[0][0] == "engine"


def test_parsing_retries_the_ast_race(monkeypatch: pytest.MonkeyPatch):
    from dbos_lsp.analysis import parsing

    real = compile
    failures = [SystemError("AST constructor recursion depth mismatch (before=1, after=0)")]

    def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(parsing, "compile", flaky, raising=False)
    parsed = parsing.parse_tolerant(SLEEPY)
    assert parsed.tree is not None and parsed.error is None
    monkeypatch.setattr(parsing, "compile", lambda *a, **k: (_ for _ in ()).throw(SystemError("other")), raising=False)
    with pytest.raises(SystemError):
        parsing.parse_tolerant(SLEEPY)  # any other SystemError is a real bug


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="the race is fixed in CPython 3.13")
def test_parsing_from_many_threads_never_fails():
    from concurrent.futures import ThreadPoolExecutor

    from dbos_lsp.analysis.parsing import parse_tolerant

    text = SLEEPY * 50
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: parse_tolerant(text), range(64)))
    assert all(r.tree is not None and r.error is None for r in results)


async def test_background_work_waits_while_a_document_is_analysed(monkeypatch: pytest.MonkeyPatch):
    # The workspace scan calls wait_for_analyses before each file: it must not go on while
    # an open document's analysis runs (the file in front of the user comes first).
    import asyncio
    import threading

    session = new_session()
    release, started = threading.Event(), threading.Event()
    real = session.analyze

    def slow(text, path, uri=None):
        started.set()
        release.wait(30)
        return real(text, path, uri)

    monkeypatch.setattr(session, "analyze", slow)
    order: list[str] = []
    pending = asyncio.ensure_future(snapshot(session, "file:///a.py", 1, SLEEPY))
    await asyncio.to_thread(started.wait, 30)
    waiter = threading.Thread(target=lambda: (session.wait_for_analyses(most=30), order.append("scan goes on")))
    waiter.start()
    await asyncio.to_thread(waiter.join, 0.3)
    assert waiter.is_alive(), "the background work did not wait for the analysis"
    order.append("analysis released")
    release.set()
    snap = await pending
    await asyncio.to_thread(waiter.join, 30)
    assert order == ["analysis released", "scan goes on"]
    assert [f.code for f in snap.analysis.findings] == ["DBOS101"]


async def test_documents_are_analysed_one_at_a_time_in_the_order_asked(monkeypatch: pytest.MonkeyPatch):
    # Threads share one interpreter lock: the document asked for first (the one in front of
    # the user) gets its diagnostics before the others start, not after all of them.
    import asyncio
    import threading

    session = new_session()
    events: list[str] = []
    gate = threading.Event()
    real = session.analyze

    def recorded(text, path, uri=None):
        events.append(f"start {uri[-4:]}")
        if uri.endswith("a.py"):
            gate.wait(30)
        result = real(text, path, uri)
        events.append(f"end {uri[-4:]}")
        return result

    monkeypatch.setattr(session, "analyze", recorded)
    asks = [asyncio.ensure_future(snapshot(session, f"file:///{name}.py", 1, SLEEPY)) for name in "abc"]
    try:
        while not events:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # b and c had every chance to start beside a
        assert events == ["start a.py"]
    finally:
        gate.set()
    snaps = await asyncio.gather(*asks)
    assert events == ["start a.py", "end a.py", "start b.py", "end b.py", "start c.py", "end c.py"]
    assert all([f.code for f in s.analysis.findings] == ["DBOS101"] for s in snaps)


async def test_closing_a_document_drops_its_analysis_that_has_not_started(monkeypatch: pytest.MonkeyPatch):
    # Its text may be unsaved changes the user discarded: it must not be analysed, nor
    # reach the workspace index, after the close.
    import asyncio
    import threading

    session = new_session()
    started: list[str] = []
    indexed: list[str] = []
    gate = threading.Event()
    real = session.analyze

    def recorded(text, path, uri=None):
        started.append(uri)
        if uri.endswith("a.py"):
            gate.wait(30)
        return real(text, path, uri)

    monkeypatch.setattr(session, "analyze", recorded)
    monkeypatch.setattr(session, "on_analysed", lambda uri, *rest: indexed.append(uri))
    first = asyncio.ensure_future(snapshot(session, "file:///a.py", 1, SLEEPY))
    closed = asyncio.ensure_future(snapshot(session, "file:///b.py", 1, SLEEPY))
    try:
        while not started:
            await asyncio.sleep(0.01)
        session.forget("file:///b.py")
    finally:
        gate.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await closed
    assert started == ["file:///a.py"] and indexed == ["file:///a.py"]
