"""The server's view of the project: the jedi index, the workspace index and its thread.

Everything the server knows about files other than the open documents goes through here,
so the project index can be swapped in one place.  No protocol types: paths, not URIs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from dbos_lsp.analysis.findings import Analysis
from dbos_lsp.analysis.settings import Settings
from dbos_lsp.project.config import is_excluded, settings_for
from dbos_lsp.project.index import JediProjectIndex
from dbos_lsp.project.workspace import WorkspaceIndex, facts_from_model

log = logging.getLogger(__name__)


class IndexWorker:
    """One daemon thread running index work in order (a scan never delays process exit).
    Jobs other than the scan are tracked, so a request can wait until they landed."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Any, asyncio.AbstractEventLoop, asyncio.Future]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.pending: set[asyncio.Future] = set()
        self.scanning = False

    def submit(self, fn: Callable[[], Any], track: bool = True) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dbos-lsp-index", daemon=True)
            self._thread.start()
        if track:
            self.pending.add(future)
            future.add_done_callback(self.pending.discard)
        self._queue.put((fn, loop, future))
        return future

    async def drained(self) -> None:
        """Until every tracked job submitted so far is done (not while a scan runs: a
        request must not wait for the whole workspace)."""
        while self.pending and not self.scanning:
            await asyncio.wait([asyncio.shield(f) for f in list(self.pending)])

    def _run(self) -> None:
        while True:
            fn, loop, future = self._queue.get()
            try:
                result, error = fn(), None
            except BaseException as exc:  # reported on the loop
                result, error = None, exc

            def settle(result=result, error=error, future=future) -> None:
                if future.done():
                    return
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # the loop is closed: the server is exiting
                return


class WorkspaceState:
    """Workspace folders, the jedi index, the workspace index and the thread that updates it."""

    def __init__(self) -> None:
        self.folders: list[str] = []
        self.index: JediProjectIndex | None = None
        self.workspace_index = WorkspaceIndex()
        self.worker = IndexWorker()

    def set_folders(self, folders: list[str]) -> None:
        self.folders = [os.path.abspath(f) for f in folders]
        self.workspace_index.roots = list(self.folders)

    def make_index(self, root: str | None, environment_path: str | None) -> JediProjectIndex:
        # The same index the CLI uses, over the server's own store: the background scan,
        # file events and open buffers keep it current, so the index never re-lists files.
        self.index = JediProjectIndex(root, environment_path, workspace=self.workspace_index)
        return self.index

    @staticmethod
    def settings_for(path: str | None, editor: dict[str, Any]) -> tuple[Settings, list[str]]:
        """A document's settings: its pyproject's ``[tool.dbos-lsp]``, the editor's on top."""
        return settings_for(path, editor)

    @staticmethod
    def excluded(path: str | None, settings: Settings) -> bool:
        return bool(path and settings.exclude and is_excluded(path, settings))

    def in_workspace(self, path: str) -> bool:
        path = os.path.abspath(path)
        return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in self.folders)

    # ----- index thread jobs (each returns whether the index changed) --------------------------

    def index_buffer(self, path: str, analysis: Analysis) -> bool:
        """An open document's facts from its model, without parsing again.  Only files that
        exist in the workspace on disk are indexed."""
        if not os.path.isfile(path):
            return False
        try:
            facts = facts_from_model(analysis.model, path, self.workspace_index.module_for(path))
        except Exception as exc:
            log.info("dbos-lsp: cannot index %s: %s", path, exc)
            return False
        return self.workspace_index.set_facts(facts)

    def reindex(self, path: str, excluded: bool, text: str | None = None) -> bool:
        """``path`` from ``text`` (an unsaved buffer) or the disk; gone or excluded: removed."""
        if excluded or (text is None and not os.path.isfile(path)):
            return self.workspace_index.remove(path)
        return self.workspace_index.update_file(path, text)

    def apply_file_events(self, work: list[tuple[str, str]], excluded: Callable[[str], bool]) -> bool:
        """``work`` is ``("remove" | "folder" | "update", path)`` from watched-file events."""
        changed = False
        for what, path in work:
            if what == "remove":
                changed = self.workspace_index.remove(path) or changed
            elif what == "folder":
                changed = self.workspace_index.remove_under(path) or changed
            else:
                changed = self.reindex(path, excluded(path)) or changed
        return changed

    def scan(self, excluded, progress, cancelled, skip, pause=None) -> int:
        return self.workspace_index.scan(
            excluded=excluded, progress=progress, cancelled=cancelled, skip=skip, pause=pause
        )


__all__ = ["IndexWorker", "WorkspaceState"]
