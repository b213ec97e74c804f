"""Hostile and broken input through real LSP sessions: the server answers, stays up, shows at
most one message per cause and never runs workspace code."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from rb_support import (
    SERVER_DIR,
    SOURCES,
    Doc,
    LiveSession,
    LoopThread,
    action_edits,
    apply_text_edits,
    check_range,
    parses,
    position_of,
    server_env,
    whole_range,
)

from client_profiles import PULL_REFRESH

CLIENT_KINDS = ["visual-studio-code", PULL_REFRESH]

SLEEPY = "from dbos import DBOS\n\n\n@DBOS.workflow()\nasync def wf() -> None:\n    DBOS.sleep(30)\n"


@pytest.fixture(scope="module")
def loop_thread():
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture(scope="module", params=CLIENT_KINDS)
def live(request, loop_thread: LoopThread):
    session = loop_thread.run(LiveSession.start(request.param))
    yield session
    loop_thread.run(session.stop())
    assert session.client.error is None


async def exercise(live: LiveSession, doc: Doc, hover_offsets=(0, 5, 40), timeout: float = 30.0):
    """Diagnostics, hover and code actions (quick fixes and fix-all); every range checked."""
    text, enc = doc.text, live.encoding
    diags = await live.diagnostics(doc, timeout)
    for d in diags:
        check_range(text, d.range, enc, f"diagnostic {d.code}")
    for offset in hover_offsets:
        offset = min(offset, len(text))
        if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
            offset += 1
        hover = await live.hover(doc, position_of(text, offset, enc), timeout)
        if hover is not None and hover.range is not None:
            check_range(text, hover.range, enc, "hover")
    was_valid = parses(text)
    for only in (None, ["source.fixAll"]):
        for action in await live.code_actions(doc, whole_range(text, enc), only=only, timeout=timeout):
            action = await live.resolve(action, timeout)
            edits = action_edits(action, doc.uri, doc.version)
            fixed = apply_text_edits(text, edits, enc)
            if was_valid:
                assert parses(fixed), action.title
    return diags


def assert_healthy(live: LiveSession, loop_thread: LoopThread) -> None:
    """The session still answers, and nothing was shown or logged as a bug."""
    doc = live.open(SLEEPY)
    try:
        # (DBOS404 may join in when a test left a same-named workflow on disk in the workspace.)
        assert "DBOS101" in [d.code for d in loop_thread.run(live.diagnostics(doc))]
    finally:
        live.close(doc)
    assert live.client.messages == [], [m.message for m in live.client.messages]
    assert live.problems_logged() == []


def roundtrip(live: LiveSession, loop_thread: LoopThread, text: str, timeout: float = 30.0, **kw):
    doc = live.open(text)
    try:
        return loop_thread.run(exercise(live, doc, timeout=timeout, **kw), timeout=timeout * 4)
    finally:
        live.close(doc)


# ----- odd text ------------------------------------------------------------------------------


def test_undecodable_file_opened_with_replacement_characters(live, loop_thread):
    # What an editor sends for a latin-1 file it decoded as UTF-8: U+FFFD where bytes failed.
    raw = (
        "# caf\xe9\n".encode("latin-1")
        + SLEEPY.replace("def wf(", "def latin_wf(").encode()
        + b's = "\xff\xfe"; DBOS.sleep(1)\n'
    )
    text = raw.decode("utf-8", errors="replace")
    assert "\ufffd" in text
    # The file exists on disk with its latin-1 bytes, next to a latin-1 module it imports
    # (which jedi has to read to resolve the import).
    path = live.root / f"latin_{live.counter}.py"
    path.write_bytes(raw)
    (live.root / "legacy_steps.py").write_bytes(
        "# caf\xe9\nfrom dbos import DBOS\n\n\n@DBOS.step()\nasync def reserve() -> None:\n    s = '\xff'\n".encode(
            "latin-1"
        )
    )
    text += "from legacy_steps import reserve\n\n\n@DBOS.workflow()\nasync def latin_wf2() -> None:\n    reserve()\n"
    doc = live.open(text, uri=path.as_uri())
    try:
        diags = loop_thread.run(exercise(live, doc, hover_offsets=(2, 5, len(text) - 10, len(text) - 5)))
    finally:
        live.close(doc)
    assert "DBOS101" in {d.code for d in diags}
    assert_healthy(live, loop_thread)


def test_nul_bytes(live, loop_thread):
    for text in ("\x00", SLEEPY + "x = 1\x00\n", "\x00" + SLEEPY, SLEEPY.replace("sleep", "sl\x00eep")):
        roundtrip(live, loop_thread, text, hover_offsets=(0, 1, len(text) - 3))
    assert_healthy(live, loop_thread)


def test_deep_nesting(live, loop_thread):
    texts = [
        SLEEPY + "x = " + "(" * 2000 + ")" * 2000 + "\n",
        SLEEPY + "x = " + "(" * 2000 + "\n",  # unbalanced
        SLEEPY + "x = " + "[" * 2000 + "]" * 2000 + "\n",
        SLEEPY + "x = 1" + " + 1" * 30000 + "\n",  # a left-deep BinOp chain
        SLEEPY + "x = a" + ".b" * 20000 + "\n",
        SLEEPY + "x = f" + "()" * 20000 + "\n",
        SLEEPY + "x = " + "-" * 50000 + "1\n",
        "".join(" " * i + "if x:\n" for i in range(150)) + " " * 150 + "pass\n",
    ]
    for text in texts:
        roundtrip(live, loop_thread, text, hover_offsets=(5, len(text) // 2, len(text) - 2))
    assert_healthy(live, loop_thread)


def test_fifty_thousand_character_line(live, loop_thread):
    long_string = 'x = "' + "🚀a𝔘" * 16700 + '"\n'
    long_call = "    DBOS.sleep(sum([" + "1, " * 16700 + "]))\n"
    for text in (SLEEPY + long_string, SLEEPY + long_call, SLEEPY.rstrip("\n") + "  # " + "é" * 50000 + "\n"):
        diags = roundtrip(live, loop_thread, text, hover_offsets=(10, len(text) - 20_000, len(text) - 3))
        assert "DBOS101" in {d.code for d in diags}
    assert_healthy(live, loop_thread)


def _five_megabytes() -> str:
    body = "\n\n".join(SOURCES)
    text = body * (5_000_000 // len(body) + 1)
    assert len(text.encode()) >= 5_000_000
    return text


def test_buffer_over_max_file_bytes_is_not_analysed(loop_thread):
    """A buffer over ``maxFileBytes`` gets no analysis (a 20 MB file cost minutes and
    gigabytes per keystroke): no findings, one warning in the log per document, no hover,
    and the rest of the session is unaffected."""
    limit = 64 * 1024
    options = {"dbos": {"pushDebounceMs": 0, "maxFileBytes": limit}}
    session = loop_thread.run(LiveSession.start("visual-studio-code", options))
    try:
        filler = "".join(f"value_{i} = {i}\n" for i in range(limit // 12))
        text = SLEEPY + filler
        assert len(text.encode()) > limit
        big = session.open(text)
        assert loop_thread.run(session.diagnostics(big)) == []
        session.change_full(big, text + "x = 1\n")
        assert loop_thread.run(session.diagnostics(big)) == []
        sleep_offset = text.index("DBOS.sleep") + 6
        assert loop_thread.run(session.hover(big, position_of(text, sleep_offset, session.encoding))) is None
        skipped = [m.message for m in session.client.log_messages if big.uri in m.message]
        assert len(skipped) == 1 and "larger than 64 KB" in skipped[0], skipped
        # Under the limit again (the user deleted most of it): analysed as usual.
        session.change_full(big, SLEEPY)
        assert "DBOS101" in {d.code for d in loop_thread.run(session.diagnostics(big))}
        session.close(big)
        assert_healthy(session, loop_thread)
    finally:
        loop_thread.run(session.stop())


def test_five_megabyte_file_does_not_stall_the_server(loop_thread):
    # While a 5 MB document is being analysed, other documents are still served promptly.
    session = loop_thread.run(LiveSession.start("visual-studio-code"))  # push: analysis starts at didOpen
    try:
        big = session.open(_five_megabytes())
        time.sleep(0.5)
        start = time.monotonic()
        assert_healthy(session, loop_thread)
        elapsed = time.monotonic() - start
        assert elapsed < 20, f"a small document waited {elapsed:.1f} s behind a 5 MB one"
        session.close(big)
    finally:
        loop_thread.run(session.stop())  # exits at once, even with the analysis still running


def test_five_megabyte_file_answers_within_a_minute(loop_thread):
    # One client kind only (pull, UTF-8): the cost is in the engine, not the protocol.  The
    # limit is raised over the default 4 MB, above which buffers are not analysed at all.
    options = {"dbos": {"pushDebounceMs": 0, "maxFileBytes": 8 * 1024 * 1024}}
    session = loop_thread.run(LiveSession.start(PULL_REFRESH, options))
    try:
        doc = session.open(_five_megabytes())
        start = time.monotonic()
        try:
            diags = loop_thread.run(session.diagnostics(doc, timeout=60), timeout=70)
        except (asyncio.TimeoutError, TimeoutError):
            raise AssertionError(f"no diagnostics for a 5 MB file after {time.monotonic() - start:.0f} s") from None
        assert diags, "a 5 MB file of DBOS code has findings"
        hover = loop_thread.run(session.hover(doc, diags[-1].range.start, timeout=60), timeout=70)
        assert hover is not None
        session.close(doc)
        assert_healthy(session, loop_thread)
    finally:
        loop_thread.run(session.stop())


# ----- protocol misuse -------------------------------------------------------------------------


def test_requests_for_unopened_documents(live, loop_thread):
    ghost = Doc(live.new_uri("ghost.py"), "", 1)
    pos = types.Position(line=3, character=4)
    rng = types.Range(start=pos, end=pos)

    async def ask():
        assert await live.hover(ghost, pos) is None
        assert not await live.code_actions(ghost, rng)
        assert not await live.code_actions(ghost, rng, only=["source.fixAll"])
        if live.pull:
            report = await live.client.text_document_diagnostic_async(
                types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=ghost.uri))
            )
            assert list(report.items) == []

    loop_thread.run(ask())
    live.close(ghost)  # closing a document that was never opened
    live.close(ghost)
    assert_healthy(live, loop_thread)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_did_change_for_unopened_document(loop_thread, kind):
    live = loop_thread.run(LiveSession.start(kind))  # its own session: a failure must not leak
    try:
        did_change_for_unopened_document(live, loop_thread)
    finally:
        loop_thread.run(live.stop())


def did_change_for_unopened_document(live, loop_thread):
    ghost = Doc(live.new_uri("ghost.py"), "", 1)
    # A notification for a document that was never opened (or already closed) is ignored.
    live.notify(
        live.client.text_document_did_change,
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=ghost.uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="x = 1\n")],
        ),
    )
    live.close(ghost)
    live.close(ghost)
    assert_healthy(live, loop_thread)


def test_out_of_range_positions(live, loop_thread):
    doc = live.open(SLEEPY)
    try:

        async def ask():
            for line, char in ((0, 500), (5, 10_000), (6, 0), (99, 3)):
                pos = types.Position(line=line, character=char)
                await live.hover(doc, pos)
                await live.code_actions(doc, types.Range(start=types.Position(line=0, character=0), end=pos))

        loop_thread.run(ask())
    finally:
        live.close(doc)
    assert_healthy(live, loop_thread)


def test_out_of_order_and_duplicate_versions(live, loop_thread):
    doc = live.open(SLEEPY, version=10)
    try:
        clean = SLEEPY.replace("DBOS.sleep(30)", "await DBOS.sleep_async(30)")
        live.change_full(doc, clean, version=5)  # older than the open
        live.change_full(doc, clean, version=5)  # duplicate
        live.change_full(doc, SLEEPY + "\n", version=7)
        live.change_full(doc, SLEEPY + "\n\n", version=7)  # duplicate number, new text
        diags = loop_thread.run(exercise(live, doc))
        # Whatever the versions say, the last text sent is the text analysed.
        assert [(d.code, d.range.start.line) for d in diags] == [("DBOS101", 5)]
        live.change_full(doc, clean, version=3)
        assert loop_thread.run(live.diagnostics(doc)) == []
    finally:
        live.close(doc)
    assert_healthy(live, loop_thread)


def test_cancel_in_flight_request(live, loop_thread):
    body = "\n\n".join(SOURCES)
    doc = live.open(body)  # whole-document code actions take seconds here
    try:

        async def cancel_then_ask():
            protocol = live.client.protocol
            params = types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=doc.uri),
                range=whole_range(doc.text, live.encoding),
                context=types.CodeActionContext(diagnostics=[]),
            )
            ids = []
            for method, p in (
                (types.TEXT_DOCUMENT_CODE_ACTION, params),
                (
                    types.TEXT_DOCUMENT_HOVER,
                    types.HoverParams(text_document=params.text_document, position=types.Position(line=5, character=5)),
                ),
            ):
                msg_id = f"cancel-me-{method}-{doc.uri}"
                fut = asyncio.ensure_future(protocol.send_request_async(method, p, msg_id=msg_id))
                ids.append((msg_id, fut))
            await asyncio.sleep(0.2)  # sent and started, not finished
            for msg_id, _ in ids:
                protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
            for _, fut in ids:
                try:
                    await asyncio.wait_for(fut, 60)  # an answer or a "cancelled" error, never silence
                except asyncio.TimeoutError:
                    raise AssertionError("a cancelled request was never answered") from None
                except Exception as exc:  # the cancellation error response
                    assert "cancel" in str(exc).lower(), exc
            # Cancelling an unknown or finished request is harmless too.
            protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="no-such-request"))
            # The same document still answers (cheap requests: whole-document code actions on
            # this text take seconds, see the findings).
            diags = await live.diagnostics(doc, 60)
            one = diags[0].range
            await live.code_actions(doc, one, only=["quickfix"], timeout=60)
            await live.hover(doc, one.start, 60)
            return diags

        diags = loop_thread.run(cancel_then_ask(), timeout=180)
        assert diags
    finally:
        live.close(doc)
    assert_healthy(live, loop_thread)


# ----- configuration -------------------------------------------------------------------------


def test_malformed_skill_document_is_skipped_with_one_warning(loop_thread, tmp_path: Path):
    folder = tmp_path / "skills"
    folder.mkdir()
    (folder / "broken.md").write_text("---\ntitle: [unclosed\nno closing fence\n", encoding="utf-8")
    session = loop_thread.run(LiveSession.start("neovim@v0.11", {"dbos": {"extraSkillPaths": [str(folder)]}}))
    try:
        assert_healthy(session, loop_thread)
        mentions = [m for m in session.client.log_messages if "broken.md" in m.message]
        assert len(mentions) == 1, [m.message for m in mentions]
        assert mentions[0].type == types.MessageType.Warning
        assert session.client.messages == []
    finally:
        loop_thread.run(session.stop())


BROKEN_SETTINGS = [
    ("not-an-object", [1, 2, 3]),
    ("a-string", "select everything"),
    ("bad-severity", {"dbos": {"severity": {"DBOS101": "fatal"}}}),
    ("bad-types", {"dbos": {"extraSkillPaths": "/not/a/list", "select": [1, None], "pushDebounceMs": -5}}),
    ("bad-version", {"dbos": {"dbosVersion": 3, "environmentPath": {"path": 1}}}),
    ("nested-garbage", {"settings": {"dbos": {"ignore": {"DBOS101": True}, "severity": ["error"]}}}),
]


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_broken_settings_warn_at_most_once_per_cause(loop_thread, kind: str):
    _, first = BROKEN_SETTINGS[2]
    session = loop_thread.run(LiveSession.start(kind, first))
    try:
        doc = session.open(SLEEPY)
        assert [d.code for d in loop_thread.run(session.diagnostics(doc))] == ["DBOS101"]
        session.close(doc)
        expected = 1  # the initializationOptions
        for name, raw in BROKEN_SETTINGS:
            for _ in range(2):  # the same broken settings again: no second message
                session.notify(
                    session.client.workspace_did_change_configuration,
                    types.DidChangeConfigurationParams(
                        settings={"dbos": raw} if name not in ("not-an-object", "a-string") else raw
                    ),
                )
            doc = session.open(SLEEPY)
            diags = loop_thread.run(session.diagnostics(doc))
            session.close(doc)
            assert [d.code for d in diags] in (["DBOS101"], []), name
        shown = [m.message for m in session.client.messages]
        # At most one message per distinct cause; never an error dialog.
        assert len(shown) == len(set(shown)), shown
        assert len(shown) <= expected + len(BROKEN_SETTINGS), shown
        assert all(m.type != types.MessageType.Error for m in session.client.messages)
        assert session.problems_logged() == []
    finally:
        loop_thread.run(session.stop())


# ----- never execute workspace code ------------------------------------------------------------

EVIL = """import pathlib
pathlib.Path(__file__).with_name("EXECUTED-{name}").write_text("ran")
from dbos import DBOS
"""


@pytest.mark.parametrize("cwd", ["neutral", "workspace"])
def test_workspace_code_is_never_executed(loop_thread, tmp_path: Path, cwd: str):
    ws = tmp_path / "ws"
    pkg = ws / "app"
    pkg.mkdir(parents=True)
    (ws / "pyproject.toml").write_text('[project]\nname = "app"\n[tool.dbos-lsp]\nselect = ["ALL"]\n')
    for target in (
        ws / "sitecustomize.py",
        ws / "usercustomize.py",
        ws / "evil.py",
        ws / "conftest.py",
        pkg / "__init__.py",
        pkg / "steps.py",
        ws / "tomllib.py",
        ws / "difflib.py",
    ):
        target.write_text(EVIL.format(name=target.name))
    (pkg / "steps.py").write_text(EVIL.format(name="steps.py") + "\n@DBOS.step()\nasync def reserve() -> None: ...\n")
    text = (
        "import sitecustomize\nimport evil\nfrom evil import DBOS\nfrom .steps import reserve\n"
        "from app.steps import reserve as r2\nimport conftest, tomllib, difflib\n\n\n"
        "@DBOS.workflow()\nasync def wf() -> None:\n    reserve()\n    DBOS.sleep(1)\n    await r2()\n"
    )
    main = pkg / "main.py"
    main.write_text(text)
    env = server_env(PYTHONPATH=SERVER_DIR)  # the workspace itself is not on the path...
    for options in (
        {"dbos": {"pushDebounceMs": 0}},
        {"dbos": {"pushDebounceMs": 0, "environmentPath": sys.executable}},
    ):
        # ...and, in the second case, the server runs in the workspace, as editors often start it.
        async def start(options=options):
            from pytest_lsp import client_capabilities
            from rb_support import SERVER_COMMAND, make_recording_client

            client = make_recording_client()
            await client.start_io(*SERVER_COMMAND, env=env, cwd=str(ws if cwd == "workspace" else tmp_path))
            result = await client.initialize_session(
                types.InitializeParams(
                    capabilities=client_capabilities("visual-studio-code"),
                    root_uri=ws.as_uri(),
                    workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")],
                    initialization_options=options,
                )
            )
            s = LiveSession(client, "visual-studio-code", result, ws)
            s.encoding = "utf-16"
            s.loop = asyncio.get_running_loop()
            return s

        session = loop_thread.run(start())
        try:
            doc = session.open(text, uri=main.as_uri())
            loop_thread.run(
                exercise(
                    session,
                    doc,
                    hover_offsets=[
                        text.index(w) + 2 for w in ("sitecustomize", "evil", "reserve()", "r2()", "tomllib")
                    ],
                )
            )
            session.close(doc)
        finally:
            loop_thread.run(session.stop())
        executed = sorted(p.name for p in ws.rglob("EXECUTED-*"))
        assert executed == [], f"workspace code ran: {executed}"


# ----- the command line ----------------------------------------------------------------------


def test_cli_on_a_latin1_file(tmp_path: Path):
    bad = tmp_path / "latin.py"
    bad.write_bytes("# caf\xe9\nx = '\xff'\n".encode("latin-1"))
    good = tmp_path / "good.py"
    good.write_text(SLEEPY)
    proc = subprocess.run(
        [sys.executable, "-m", "dbos_lsp", "check", str(bad), str(good)],
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    about_bad = [line for line in out.splitlines() if "latin.py" in line]
    assert len(about_bad) == 1 and "UTF-8" in about_bad[0], out
    assert proc.returncode in (1, 2), out
    if proc.returncode == 1:  # it continued: the good file was still checked
        assert "good.py" in out and "DBOS101" in out


def test_cli_honours_a_coding_cookie(tmp_path: Path):
    legacy = tmp_path / "legacy.py"
    legacy.write_bytes(("# -*- coding: latin-1 -*-\ns = 'caf\xe9'\n" + SLEEPY).encode("latin-1"))
    proc = subprocess.run(
        [sys.executable, "-m", "dbos_lsp", "check", str(legacy)],
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=120,
    )
    assert "DBOS101" in proc.stdout, proc.stdout + proc.stderr
