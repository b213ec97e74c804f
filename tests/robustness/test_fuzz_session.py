"""Random edit sequences through one real LSP session per client kind.

A push client with UTF-16 positions (pytest-lsp's ``visual-studio-code``) and a pull
client with UTF-8 positions (Neovim 0.11's capabilities plus refresh, ``PULL_REFRESH``)
each open documents built from DBOS fragments, then send incremental ``didChange`` events (insertions, deletions, pasted
fragments, brackets, tabs, CRLF, emoji, astral-plane characters).  After every edit the
server must answer diagnostics, hover and code actions without error; every range must lie
inside the client's text (checked in the client's units by an independent implementation);
every offered edit must apply cleanly and keep a parsing file parsing.  At the end a full
sync of the client's text must give the same diagnostics as the incremental history, which
proves the two copies of the text stayed identical.

``DBOS_LSP_FUZZ_PROFILE=long`` runs many more examples.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types
from rb_support import (
    Doc,
    LiveSession,
    LoopThread,
    action_edits,
    apply_op,
    apply_text_edits,
    check_range,
    comparable,
    documents,
    edit_ops,
    fuzz_settings,
    parses,
    position_of,
    whole_range,
)

from client_profiles import PULL_REFRESH

CLIENT_KINDS = ["visual-studio-code", PULL_REFRESH]
STATS = {"examples": 0, "edits": 0, "actions_applied": 0}


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


def test_negotiated_kinds(live: LiveSession):
    if live.kind == PULL_REFRESH:
        assert live.pull and live.encoding == "utf-8"
    else:
        assert not live.pull and live.encoding == "utf-16"


async def check_round(live: LiveSession, doc: Doc, hover_positions: list[types.Position]) -> list[types.Diagnostic]:
    text, enc = doc.text, live.encoding
    diags = await live.diagnostics(doc)
    for d in diags:
        check_range(text, d.range, enc, f"diagnostic {d.code}")
    for pos in hover_positions:
        hover = await live.hover(doc, pos)
        if hover is not None and hover.range is not None:
            check_range(text, hover.range, enc, "hover range")
    was_valid = parses(text)
    actions = await live.code_actions(doc, whole_range(text, enc), diagnostics=diags)
    for action in actions:
        for d in action.diagnostics or ():
            check_range(text, d.range, enc, f"code action diagnostic {d.code}")
        action = await live.resolve(action)
        edits = action_edits(action, doc.uri, doc.version)
        fixed = apply_text_edits(text, edits, enc)
        STATS["actions_applied"] += 1
        if was_valid:
            assert parses(fixed), f"{action.title!r} breaks a file that parsed:\n--- before\n{text}\n--- after\n{fixed}"
    return diags


def _positions(data, text: str, enc: str, count: int) -> list[types.Position]:
    offsets = data.draw(st.lists(st.integers(0, len(text)), max_size=count), label="hover offsets")
    out = []
    for o in offsets:
        if 0 < o < len(text) and text[o - 1] == "\r" and text[o] == "\n":
            o += 1
        out.append(position_of(text, o, enc))
    return out


def test_random_edit_sequences(live: LiveSession, loop_thread: LoopThread):
    @fuzz_settings(ci_examples=25, long_examples=500)
    @given(data=st.data())
    def run(data):
        STATS["examples"] += 1
        doc = live.open(data.draw(documents(), label="document"))
        try:
            loop_thread.run(check_round(live, doc, _positions(data, doc.text, live.encoding, 2)))
            for _ in range(data.draw(st.integers(1, 5), label="edits")):
                ops, text = [], doc.text
                for _ in range(data.draw(st.integers(1, 3), label="changes in one didChange")):
                    op = data.draw(edit_ops(text), label="change")
                    ops.append(op)
                    text = apply_op(text, op)
                live.change_incremental(doc, ops)
                STATS["edits"] += len(ops)
                loop_thread.run(check_round(live, doc, _positions(data, doc.text, live.encoding, 3)))
            # The server's text must equal ours: a full sync must not change the diagnostics.
            incremental = loop_thread.run(live.diagnostics(doc))
            live.change_full(doc, doc.text)
            full = loop_thread.run(live.diagnostics(doc))
            assert comparable(incremental) == comparable(full), "the server's text drifted from the client's"
            assert live.client.messages == [], [m.message for m in live.client.messages]
            assert live.problems_logged() == []
        finally:
            live.close(doc)

    run()
    print(f"\n{live.kind}: {STATS}")
