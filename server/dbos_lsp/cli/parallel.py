"""``dbos-lsp check`` on every core: files are analysed in forked worker processes.

A run big enough to repay a pool goes in two phases, each over a ``ProcessPoolExecutor``
with the ``fork`` start method: workers inherit what the parent built (each file's
settings, the project-root cache, the file facts), so only paths and results cross a pipe.

1. The file facts DBOS404 compares workflow names with: the parent walks each application
   folder, workers read and parse its files, the parent stores the facts.  A serial run
   scans a folder when the first file asks; scanning up front, once, keeps each worker
   from scanning it again.
2. The analysis: workers check contiguous chunks of the sorted files with the same
   :meth:`FileChecker.check` a serial run calls and send back one picklable
   :class:`FileOutcome` per file; the caller merges them in file order, so the output
   (findings, notices, changes, exit code) is the serial run's, byte for byte.

Serial instead: one job, no ``fork`` (Windows; macOS, where forking is unsafe), a small
run, or files whose settings differ in ``max-file-bytes`` (the facts scan's limit would
then depend on which file asks first).  Nothing here changes how files are analysed or
how jedi is set up: the checked project's code is never run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbos_lsp.project.workspace import WorkspaceIndex

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

    from dbos_lsp.cli.main import FileChecker, FileOutcome

# Below this many bytes of source the run stays serial: starting the pools and sending
# results back costs more than the second core saves (measured: about 0.1 s of overhead,
# break-even near 150 KB on a 2-core machine; see benchmarks/run.py check throughput).
MIN_PARALLEL_BYTES = 256 * 1024
# Chunks per worker: small enough that workers finish together, big enough that a
# chunk's round trip stays cheap next to its analysis.
CHUNKS_PER_JOB = 8


@dataclass
class RunInfo:
    """How the last check ran, for tests and benchmarks."""

    jobs: int = 1  # worker processes used (1: serial, in this process)
    pids: set[int] = field(default_factory=set)  # processes that analysed files


last_run = RunInfo()


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def fork_context() -> BaseContext | None:
    if sys.platform == "darwin" or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def check_outcomes(
    checker: FileChecker,
    entries: Sequence[tuple[str, bool]],
    jobs: int,
    prescanned: dict[str, list[tuple[str, str]]],
) -> Iterator[FileOutcome]:
    """One outcome per entry, in order: in this process, or over ``jobs`` workers.
    ``prescanned`` receives each folder scanned up front and its skipped entries."""
    global last_run
    context = fork_context() if jobs > 1 and len(entries) > 1 else None
    sizes = [_size(path) for path, _ in entries] if context is not None else []
    if context is None or sum(sizes) < MIN_PARALLEL_BYTES or not _one_size_limit(checker, entries):
        last_run = RunInfo(1, {os.getpid()})
        for path, explicit in entries:
            yield checker.check(path, explicit)
        return
    global _RUN
    _RUN = _Run(checker, entries)
    last_run = RunInfo(jobs)
    try:
        _prescan(checker, entries, context, jobs, prescanned)
        for chunk in _in_pool(context, jobs, _check_chunk, _ranges(sizes, jobs * CHUNKS_PER_JOB)):
            for outcome in chunk:
                last_run.pids.add(outcome.pid)
                yield outcome
    finally:
        _RUN = None


# ----- what the workers inherit ----------------------------------------------------------------


@dataclass
class _Run:
    checker: FileChecker
    entries: Sequence[tuple[str, bool]]


_RUN: _Run | None = None  # set before forking; a worker reads it, never the parent's later changes


class _Prescanned(WorkspaceIndex):
    """File facts scanned before the fork.  An analysis asking for a folder scanned then
    is noted (``FileOutcome`` "fill") instead of scanning again: the merge reports the
    folder's skipped entries there, as the serial run's first asker does."""

    def __init__(self, folders: Mapping[str, object], asked: Callable[[str], None]) -> None:
        super().__init__()
        self.folders = folders
        self.asked = asked

    def ensure_scanned(
        self,
        folder: str,
        excluded: Callable[[str], bool] | None = None,
        skipped: Callable[[str, str], None] | None = None,
    ) -> None:
        if os.path.abspath(folder) in self.folders:
            self.asked(folder)
        else:  # not foreseen: scan here, as a serial run would
            super().ensure_scanned(folder, excluded, skipped)


def _prescan(
    checker: FileChecker,
    entries: Sequence[tuple[str, bool]],
    context: BaseContext,
    jobs: int,
    prescanned: dict[str, list[tuple[str, str]]],
) -> None:
    """Phase 1: the facts of each folder a project-scope rule (DBOS404) may ask about."""
    from dbos_lsp.project.files import walk_python_files

    store = _Prescanned(prescanned, checker.note_fill)
    store.max_file_bytes = checker.settings(entries[0][0])[0].max_file_bytes
    checker.facts = store
    folders = {checker.index_root(path): None for path, _ in entries if _wants_facts(checker, path)}
    todo: dict[str, None] = {}
    for folder in map(os.path.abspath, folders):
        store.mark_scanned(folder)
        skips = prescanned.setdefault(folder, [])

        def skipped(path: str, reason: str, skips: list[tuple[str, str]] = skips) -> None:
            skips.append((path, reason))

        for path in walk_python_files([folder], checker.excluded, store.max_file_bytes, skipped):
            todo.setdefault(path, None)
    paths = list(todo)
    step = max(1, -(-len(paths) // (jobs * CHUNKS_PER_JOB)))
    chunks = [paths[i : i + step] for i in range(0, len(paths), step)]
    for read in _in_pool(context, jobs, _read_facts, chunks):
        for path, stamp, facts in read:
            store.store_read(path, stamp, facts)


def _wants_facts(checker: FileChecker, path: str) -> bool:
    from dbos_lsp.analysis.settings import parse_version
    from dbos_lsp.engine.pipeline import selected_rules
    from dbos_lsp.knowledge.sdk_facts import NEWEST_RELEASE

    settings = checker.settings(path)[0]
    version = parse_version(settings.dbos_version or "") or parse_version(NEWEST_RELEASE) or ()
    return any(rule.scope == "project" for rule in selected_rules(settings, version))


# ----- in the workers ----------------------------------------------------------------------------


def _read_facts(paths: list[str]) -> list[tuple[str, Any, Any]]:
    from dbos_lsp.project.workspace import file_stamp

    assert _RUN is not None
    store = _RUN.checker.facts
    out = []
    for path in paths:
        stamp = file_stamp(path)
        out.append((path, stamp, store.read_facts(path) if stamp is not None else None))
    return out


def _check_chunk(bounds: tuple[int, int]) -> list[FileOutcome]:
    assert _RUN is not None
    run = _RUN
    return [run.checker.check(*run.entries[i]) for i in range(*bounds)]


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides, and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ----- plumbing ------------------------------------------------------------------------------------


def _in_pool(context: BaseContext, jobs: int, work: Callable[[Any], Any], chunks: Sequence[Any]) -> Iterator[Any]:
    """``work(chunk)`` for each chunk, in order, over up to ``jobs`` forked workers.  A chunk
    a broken pool (a worker killed, say by the OOM killer) did not finish runs here."""
    if not chunks:
        return
    pool = ProcessPoolExecutor(min(jobs, len(chunks)), mp_context=context, initializer=_ignore_sigint)
    try:
        futures = [pool.submit(work, chunk) for chunk in chunks]
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                result = future.result()
            except BrokenProcessPool:
                result = work(chunk)
            yield result
    except BaseException:  # Ctrl-C, or the consumer stopped: end our workers now
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True)


def _ranges(sizes: Sequence[int], parts: int) -> list[tuple[int, int]]:
    """Contiguous index ranges of about ``sum(sizes) / parts`` bytes each."""
    target = max(1, sum(sizes) // max(1, parts))
    out: list[tuple[int, int]] = []
    start = total = 0
    for i, size in enumerate(sizes):
        total += size
        if total >= target:
            out.append((start, i + 1))
            start, total = i + 1, 0
    if start < len(sizes):
        out.append((start, len(sizes)))
    return out


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _one_size_limit(checker: FileChecker, entries: Sequence[tuple[str, bool]]) -> bool:
    """Whether every file has the same ``max-file-bytes`` (also reads every file's settings
    before the fork, for the workers to inherit)."""
    return len({checker.settings(path)[0].max_file_bytes for path, _ in entries}) == 1


__all__ = ["MIN_PARALLEL_BYTES", "RunInfo", "check_outcomes", "default_jobs", "fork_context", "last_run"]
