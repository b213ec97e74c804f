"""How diagnostics reach the client: pulled (``textDocument/diagnostic``) or pushed.

Pull is chosen only when the client can also be told to pull again
(``workspace/diagnostic/refresh``): without it, another file's change or a settings
change would reach an open buffer only at its next edit (Neovim 0.11).  A client that
advertised pull but does not pull a document it opened (Helix master, for a server its
config does not enable pull for) is pushed to from then on, so it is never left without
diagnostics.  No protocol I/O here: the server acts on the answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lsprotocol import types

# Responsive event-loop time a client gets to pull a document it opened.  Ticks that
# arrive late (the loop was busy) count as one short tick, so a slow analysis cannot
# make a pulling client look like one that never pulls.
PULL_GRACE_S = 3.0
_TICK_S = 0.25


def chooses_pull(capabilities: types.ClientCapabilities) -> bool:
    td, ws = capabilities.text_document, capabilities.workspace
    pulls = td is not None and td.diagnostic is not None
    refreshes = ws is not None and ws.diagnostics is not None and bool(ws.diagnostics.refresh_support)
    return pulls and refreshes


class PullWatch:
    """Which open documents the client has pulled; falls back to push when one is not."""

    def __init__(self, fall_back: Callable[[str], None]) -> None:
        self._fall_back = fall_back  # called once, with the document that was never pulled
        self._pulled: set[str] = set()
        self._watches: dict[str, asyncio.Task] = {}
        self.fell_back = False

    def opened(self, uri: str) -> None:
        self._pulled.discard(uri)
        self._cancel(uri)
        if not self.fell_back:
            self._watches[uri] = asyncio.ensure_future(self._watch(uri))

    def pulled(self, uri: str) -> None:
        self._pulled.add(uri)
        self._cancel(uri)

    def closed(self, uri: str) -> None:
        self._pulled.discard(uri)
        self._cancel(uri)

    def _cancel(self, uri: str) -> None:
        task = self._watches.pop(uri, None)
        if task is not None:
            task.cancel()

    async def _watch(self, uri: str) -> None:
        loop = asyncio.get_running_loop()
        waited = 0.0
        while waited < PULL_GRACE_S:
            started = loop.time()
            await asyncio.sleep(_TICK_S)
            waited += min(loop.time() - started, 2 * _TICK_S)
        self._watches.pop(uri, None)
        if uri in self._pulled or self.fell_back:
            return
        self.fell_back = True
        for other in list(self._watches):
            self._cancel(other)
        self._fall_back(uri)


__all__ = ["PULL_GRACE_S", "PullWatch", "chooses_pull"]
