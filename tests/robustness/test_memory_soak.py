"""Memory over a long editing session: after warm-up, resident memory stays flat.

pygls 2.1 kept one finished future per notification (``didChange`` included) for good, about
2-3 MiB per 1,000 edits; ``lsp/protocol.py`` drops them.  This soak edits one generated
2,600-line module ``DBOS_LSP_SOAK_EDITS`` times (20,000 by default), pulling diagnostics
after each edit as an editor does, and reads the server's RSS every 1,000 edits.  It runs
in the long profile only (``DBOS_LSP_FUZZ_PROFILE=long``): minutes of editing are no CI test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rb_support import PROFILE
from test_edit_storm import _module
from test_protocol_hygiene import PULL, RawClient

EDITS = int(os.environ.get("DBOS_LSP_SOAK_EDITS", "20000"))
WARM_UP = 4000  # edits before the plateau is measured (caches fill, the allocator settles)
MAX_GROWTH_MIB = 4.0  # from the end of the warm-up to the last edit; the leak grew ~40 MiB

pytestmark = pytest.mark.skipif(PROFILE != "long", reason="a soak of minutes: DBOS_LSP_FUZZ_PROFILE=long")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_is_flat_after_warm_up(tmp_path: Path) -> None:
    assert EDITS > WARM_UP
    text = _module(2600)
    path = tmp_path / "soak.py"
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    lines = text.split("\n")
    markers = [i for i, line in enumerate(lines) if "rev-" in line]
    client = RawClient(tmp_path)
    curve: list[tuple[int, float]] = []
    try:
        client.initialize(tmp_path, PULL)
        client.open(uri, text)
        assert "result" in client.pull(uri)
        for edit in range(1, EDITS + 1):
            line = markers[edit % len(markers)]
            old = lines[line]
            at = old.index("rev-")
            end = at + 4
            while end < len(old) and old[end].isdigit():
                end += 1
            lines[line] = f"{old[:at]}rev-{edit}{old[end:]}"  # same kind of text, about the same size
            change = {
                "range": {"start": {"line": line, "character": at}, "end": {"line": line, "character": end}},
                "text": f"rev-{edit}",
            }
            client.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": edit + 1}, "contentChanges": [change]},
            )
            assert "result" in client.pull(uri)
            if edit % 1000 == 0:
                curve.append((edit, round(_rss_mib(client.proc.pid), 1)))
    finally:
        client.close()
    print("edits, RSS MiB:", curve)
    warm = next(rss for edit, rss in curve if edit == WARM_UP)
    assert curve[-1][1] - warm <= MAX_GROWTH_MIB, curve
