"""The real server on a ~1,800-line file: what happens, and timings printed with ``-s``
(speed claims come from benchmarks/run.py, not from assertions here)."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_lsp
from conftest import CONFIG, Session
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_session import CLIENTS, SLEEPY, start

pytestmark = pytest.mark.asyncio(loop_scope="module")

_BODY = """

@DBOS.step()
async def s1_N() -> int:
    return 1


@ds.transaction()
def tx_N(x: int) -> int:
    return x


@DBOS.workflow()
async def wf_N() -> None:
    DBOS.sleep(30)
    DBOS.set_event("k", "v")
    await asyncio.gather(s1_N(), s1_N())
    tx_N(1)
"""
BIG = (
    'import asyncio\n\nfrom dbos import DBOS, SQLAlchemyDatasource\n\nds = SQLAlchemyDatasource.create("postgresql://localhost/app")\n'
    + "".join(_BODY.replace("_N", f"_{i}") for i in range(100))
)


@pytest_lsp.fixture(params=CLIENTS, config=CONFIG, scope="module")
async def client(request, lsp_client: LanguageClient):
    lsp_client.session = await start(lsp_client, request.param)
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def session(client: LanguageClient) -> Session:
    return client.session


async def test_big_file_latency(session: Session):
    lines = BIG.count("\n")
    t0 = time.perf_counter()
    uri = session.open("big.py", BIG)
    diags = await session.diagnostics(uri)
    first = time.perf_counter() - t0
    assert len(diags) >= 400  # 4 per workflow block
    # An edit: push waits for the debounce (150 ms) then analyses; pull answers at once.
    t0 = time.perf_counter()
    session.change(uri, BIG + "\n# edit\n")
    diags = await session.diagnostics(uri)
    edit = time.perf_counter() - t0
    t0 = time.perf_counter()
    line = BIG.splitlines().index("    DBOS.sleep(30)", 1000)
    hover = await session.hover(uri, line, 6)
    assert hover is not None
    hover_ms = time.perf_counter() - t0
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
    t0 = time.perf_counter()
    actions = await session.code_actions(uri, whole, only=["source.fixAll"])
    fix_all = time.perf_counter() - t0
    print(
        f"\n[{session.name}] {lines} lines: first diagnostics {first * 1000:.0f} ms, after edit {edit * 1000:.0f} ms, "
        f"hover {hover_ms * 1000:.0f} ms, fix-all {fix_all * 1000:.0f} ms"
    )
    # Speed claims live in benchmarks/run.py (ratios in one run); here only what happened.
    assert len(actions) == 1


def big_file(blocks: int) -> str:
    return BIG.split("\n\n\n@DBOS.step()", 1)[0] + "".join(_BODY.replace("_N", f"_{i}") for i in range(blocks))


async def test_loop_stays_responsive_during_a_big_analysis(session: Session):
    small = session.open("small.py", SLEEPY)
    await session.diagnostics(small)
    await session.hover(small, 5, 6)  # warm the small document's caches
    # The event loop is not blocked by a big analysis: a small request is answered while it
    # runs.  A run where the big one finished first proves nothing: try a bigger file.
    for blocks in (100, 300, 900):
        text = big_file(blocks)
        big = session.open("big.py", text)
        session.change(big, text + "\n# again\n")  # a second analysis queued behind the first
        big_diags = asyncio.ensure_future(session.diagnostics(big, timeout=120))
        hover = await session.hover(small, 5, 6)
        assert hover is not None
        answered_first = not big_diags.done()
        assert len(await big_diags) >= 4 * blocks
        if answered_first:
            return
    raise AssertionError("the small hover never came back before the big file's diagnostics")
