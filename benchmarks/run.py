"""Benchmark dbos-lsp the way an editor uses it.

    python benchmarks/run.py            # full run (about 2-3 minutes), writes benchmarks/results/latest.json
    python benchmarks/run.py --quick    # smaller sizes and fewer edits, for a smoke test
    python benchmarks/run.py --kinds typing,import --kinds-only --sizes 2600   # just those edit kinds
    python benchmarks/run.py --compare ../old-checkout   # edit kinds, this checkout vs another, interleaved

Not part of the test suite.  Measured per generated module size (~250, ~2,600 and
~12,000 lines, see gen_module.py):

* engine only: ``analyze()`` in this process vs bare ``ast.parse`` of the same text;
* pull diagnostics: ``didChange`` (one incremental edit inside one function) until
  the ``textDocument/diagnostic`` response arrives, median and p95 over ~30 edits,
  and the ratio to the median ``ast.parse`` time of the same edited texts, measured
  in the same run;
* push diagnostics with ``pushDebounceMs: 0``: ``didChange`` until the
  ``publishDiagnostics`` for that version arrives;
* edit kinds (``--kinds``, pull): ``body`` is the edit above; ``typing`` types
  ``x = DBOS.sleep(1)`` on a new line of an async workflow one character at a time
  (per keystroke); ``enter`` adds a blank line after a function's last line; ``import``
  adds ``import json`` at the top and removes it; ``cross-body`` is the body edit in a
  module that imports from another project module; ``cross-module`` edits and saves a
  helper module until the importing open module's pulled diagnostics show it;
* hover and code-action latency on a finding (analysis already cached);
* cold start: process spawn until the first diagnostics of the ~2,600-line module;
* ``dbos-lsp check`` throughput (lines/s) on a generated tree of ~200 modules, serial
  (``--jobs 1``) and with ``--jobs 2`` in the same run, and their ratio.

Peers, when installed (``pip install ruff jedi-language-server``), run in the same
session on the same inputs: ``ruff check`` on the same tree, ``ruff server`` and
``jedi-language-server`` diagnostics latency on the same modules with the same edits.

The real server is driven over stdio by pygls's ``LanguageClient``: no hand-written
JSON-RPC.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient
from pygls.protocol import LanguageServerProtocol

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVER_SRC = ROOT / "server"
sys.path.insert(0, str(HERE))

from gen_module import generate, generate_tree  # noqa: E402

TIMEOUT = 60.0  # seconds for any single LSP response
# Modules above this many lines get a third of the edits / repetitions (at least 10
# edits), so the whole run stays within about three minutes.
BIG_MODULE = 5000
REV = re.compile(r"rev-(\d+)")


# ----- statistics ---------------------------------------------------------------------------


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def p95(xs: list[float]) -> float:
    return percentile(xs, 0.95)


def p90(xs: list[float]) -> float:
    return percentile(xs, 0.90)


def ms(x: float) -> float:
    return round(x * 1000, 2)


def parse_time(text: str) -> float:
    t0 = time.perf_counter()
    ast.parse(text)
    return time.perf_counter() - t0


def parse_time_or(text: str, fallback: str) -> float:
    """``ast.parse`` time of ``text``, or of ``fallback`` (a text of the same size that
    parses) when ``text`` does not: a failed parse stops early, so it is no yardstick."""
    try:
        return parse_time(text)
    except SyntaxError:
        return parse_time(fallback)


# ----- the document being edited ------------------------------------------------------------


class Doc:
    """A client-side mirror of one open document, with the edit plan."""

    def __init__(self, path: Path, text: str, markers: list[tuple[int, int, int]]):
        self.path = path
        self.uri = path.as_uri()
        self.lines = text.split("\n")
        self.version = 1
        self.markers = markers

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def plan(self, edits: int) -> list[int]:
        """Marker lines for ``edits`` edits, spread evenly over the file."""
        lines = [m[0] for m in self.markers]
        if not lines:
            raise RuntimeError("generated module has no edit markers")
        return [lines[(k * len(lines)) // edits % len(lines)] for k in range(edits)]

    def marker_line(self, k: int, of: int) -> int:
        """The current line of the ``k``-th of ``of`` markers spread over the file (edits
        that add lines move them, so they are looked up again)."""
        lines = [n for n, text in enumerate(self.lines) if "rev-" in text]
        if not lines:
            raise RuntimeError("document has no edit markers")
        return lines[(k * len(lines)) // of % len(lines)]

    def replace(self, start: tuple[int, int], end: tuple[int, int], new: str) -> t.TextDocumentContentChangePartial:
        """Replace the text from ``start`` to ``end`` (line, column): one incremental change."""
        (sl, sc), (el, ec) = start, end
        merged = self.lines[sl][:sc] + new + self.lines[el][ec:]
        self.lines[sl : el + 1] = merged.split("\n")
        self.version += 1
        # ASCII text: code points == UTF-16 units == UTF-8 bytes.
        rng = t.Range(t.Position(sl, sc), t.Position(el, ec))
        return t.TextDocumentContentChangePartial(range=rng, text=new)

    def insert(self, line: int, col: int, new: str) -> t.TextDocumentContentChangePartial:
        return self.replace((line, col), (line, col), new)

    def edit(self, line: int) -> t.TextDocumentContentChangePartial:
        """Bump ``rev-N`` on ``line``: one small change inside one function body."""
        m = REV.search(self.lines[line])
        assert m is not None, self.lines[line]
        return self.replace((line, m.start()), (line, m.end()), f"rev-{int(m.group(1)) + 1}")

    def workflow_body_line(self, k: int, of: int) -> int:
        """The first body line (its ``rev-N`` marker) of the ``k``-th of ``of`` async
        workflows spread over the file."""
        lines = [
            n + 2
            for n, text in enumerate(self.lines[:-2])
            if text.startswith("@DBOS.workflow(")
            and self.lines[n + 1].startswith("async def ")
            and "rev-" in self.lines[n + 2]
        ]
        if not lines:
            raise RuntimeError("document has no async workflow")
        return lines[(k * len(lines)) // of % len(lines)]

    def function_end(self, line: int) -> int:
        """The last non-blank line of the top-level function whose body holds ``line``."""
        last = line
        for n in range(line + 1, len(self.lines)):
            text = self.lines[n]
            if text.strip() and not text[0].isspace():
                break
            if text.strip():
                last = n
        return last

    def first_import(self) -> int:
        """The first ``import``/``from`` line after ``from __future__`` (the top of the imports)."""
        for n, text in enumerate(self.lines):
            if text.startswith(("import ", "from ")) and not text.startswith("from __future__"):
                return n
        raise RuntimeError("document has no import")


class TolerantProtocol(LanguageServerProtocol):
    """pygls's client protocol, minus one strictness: lsprotocol 2025 rejects the
    ``notebookDocumentSync`` options some servers (ruff) send, which the benchmark
    never uses, so they are dropped before the reply is structured."""

    def structure_message(self, data):
        if "jsonrpc" in data and isinstance(data.get("result"), dict):
            caps = data["result"].get("capabilities")
            if isinstance(caps, dict):
                caps.pop("notebookDocumentSync", None)
        return super().structure_message(data)


# ----- an editor-like client session ------------------------------------------------------


class Session:
    """One language-server process driven over stdio by pygls's ``LanguageClient``."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        root: Path,
        pull: bool,
        init_options: Any = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.root = root
        self.pull_requested = pull
        self.init_options = init_options
        self.env = env
        self.client = LanguageClient("dbos-lsp-bench", "1", protocol_cls=TolerantProtocol)
        self.pull = False
        self.published: dict[str, tuple[int | None, list[t.Diagnostic]]] = {}
        self._push_waiters: list[tuple[Callable[[t.PublishDiagnosticsParams], bool], asyncio.Future]] = []
        self.stderr_tail: list[str] = []
        self.logs: list[str] = []
        self.indexed = asyncio.Event()  # dbos-lsp logged the end of its workspace scan
        self.refreshed = asyncio.Event()  # a workspace/diagnostic/refresh request came
        self.t_spawn = 0.0
        self.init_seconds = 0.0

        @self.client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _on_publish(ls, params: t.PublishDiagnosticsParams) -> None:
            self.published[params.uri] = (params.version, params.diagnostics)
            for w in list(self._push_waiters):
                wanted, fut = w
                if wanted(params):
                    if not fut.done():
                        fut.set_result((time.perf_counter(), params))
                    self._push_waiters.remove(w)

        @self.client.feature(t.WINDOW_LOG_MESSAGE)
        def _on_log(ls, params: t.LogMessageParams) -> None:
            self.logs = (self.logs + [params.message])[-50:]
            if params.message.startswith("dbos-lsp: indexed"):
                self.indexed.set()

        @self.client.feature(t.WINDOW_SHOW_MESSAGE)
        def _on_show(ls, params: t.ShowMessageParams) -> None:
            self.stderr_tail.append(f"showMessage: {params.message}")

        @self.client.feature(t.WORKSPACE_CONFIGURATION)
        def _on_configuration(ls, params: t.ConfigurationParams):
            return [self.init_options or {} for _ in params.items]

        @self.client.feature(t.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def _on_progress(ls, params):
            return None

        @self.client.feature(t.CLIENT_REGISTER_CAPABILITY)
        def _on_register(ls, params):
            return None

        @self.client.feature(t.WORKSPACE_DIAGNOSTIC_REFRESH)
        def _on_refresh(ls, params):
            self.refreshed.set()  # cross-module edits wait for it, as an editor re-pulls on it
            return None

    async def _drain_stderr(self) -> None:
        stream = self.client._server.stderr  # type: ignore[union-attr]
        while True:
            line = await stream.readline()
            if not line:
                return
            self.stderr_tail = (self.stderr_tail + [line.decode(errors="replace").rstrip()])[-20:]

    async def start(self) -> None:
        self.t_spawn = time.perf_counter()
        await self.client.start_io(*self.cmd, env=self.env, cwd=str(self.root))
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())
        td = t.TextDocumentClientCapabilities(
            synchronization=t.TextDocumentSyncClientCapabilities(dynamic_registration=False),
            publish_diagnostics=t.PublishDiagnosticsClientCapabilities(version_support=True),
            hover=t.HoverClientCapabilities(content_format=[t.MarkupKind.Markdown, t.MarkupKind.PlainText]),
            code_action=t.CodeActionClientCapabilities(
                code_action_literal_support=t.ClientCodeActionLiteralOptions(
                    code_action_kind=t.ClientCodeActionKindOptions(
                        value_set=[t.CodeActionKind.QuickFix, t.CodeActionKind.Source]
                    )
                ),
                # As VS Code: edits may come later, through codeAction/resolve (fix-all is deferred).
                data_support=True,
                resolve_support=t.ClientCodeActionResolveOptions(properties=["edit"]),
            ),
            diagnostic=t.DiagnosticClientCapabilities(dynamic_registration=False) if self.pull_requested else None,
        )
        caps = t.ClientCapabilities(
            text_document=td,
            workspace=t.WorkspaceClientCapabilities(
                configuration=True,
                workspace_folders=True,
                # As VS Code; dbos-lsp (since 1f42dde) offers pull diagnostics only with refresh.
                diagnostics=t.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
                if self.pull_requested
                else None,
            ),
            window=t.WindowClientCapabilities(work_done_progress=False),
            general=t.GeneralClientCapabilities(position_encodings=[t.PositionEncodingKind.Utf16]),
        )
        t0 = time.perf_counter()
        result = await asyncio.wait_for(
            self.client.initialize_async(
                t.InitializeParams(
                    capabilities=caps,
                    process_id=os.getpid(),
                    root_uri=self.root.as_uri(),
                    workspace_folders=[t.WorkspaceFolder(uri=self.root.as_uri(), name=self.root.name)],
                    initialization_options=self.init_options,
                )
            ),
            TIMEOUT,
        )
        self.init_seconds = time.perf_counter() - t0
        self.pull = self.pull_requested and result.capabilities.diagnostic_provider is not None
        self.client.initialized(t.InitializedParams())

    def open(self, doc: Doc) -> None:
        self.client.text_document_did_open(
            t.DidOpenTextDocumentParams(t.TextDocumentItem(doc.uri, "python", doc.version, doc.text))
        )

    def change(self, doc: Doc, change: t.TextDocumentContentChangePartial) -> None:
        self.client.text_document_did_change(
            t.DidChangeTextDocumentParams(t.VersionedTextDocumentIdentifier(version=doc.version, uri=doc.uri), [change])
        )

    def expect_push(self, uri: str, version: int | None) -> asyncio.Future:
        def wanted(p: t.PublishDiagnosticsParams) -> bool:
            return p.uri == uri and (version is None or p.version is None or p.version >= version)

        return self._expect(wanted)

    def _expect(self, wanted: Callable[[t.PublishDiagnosticsParams], bool]) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._push_waiters.append((wanted, fut))
        return fut

    async def diagnostics(self, doc: Doc) -> list[t.Diagnostic]:
        report = await asyncio.wait_for(
            self.client.text_document_diagnostic_async(
                t.DocumentDiagnosticParams(text_document=t.TextDocumentIdentifier(doc.uri))
            ),
            TIMEOUT,
        )
        return list(getattr(report, "items", None) or [])

    async def edit_and_wait(self, doc: Doc, line: int) -> tuple[float, list[t.Diagnostic]]:
        return await self.send_and_wait(doc, doc.edit(line))

    async def send_and_wait(
        self, doc: Doc, change: t.TextDocumentContentChangePartial
    ) -> tuple[float, list[t.Diagnostic]]:
        """Seconds from sending ``didChange`` with ``change`` (already applied to ``doc``)
        to having that version's diagnostics."""
        if self.pull:
            t0 = time.perf_counter()
            self.change(doc, change)
            items = await self.diagnostics(doc)
            return time.perf_counter() - t0, items
        fut = self.expect_push(doc.uri, doc.version)
        t0 = time.perf_counter()
        self.change(doc, change)
        t1, params = await asyncio.wait_for(fut, TIMEOUT)
        return t1 - t0, list(params.diagnostics)

    async def first_diagnostics(self, doc: Doc) -> tuple[float, list[t.Diagnostic]]:
        if self.pull:
            self.open(doc)
            items = await self.diagnostics(doc)
            return time.perf_counter(), items
        fut = self.expect_push(doc.uri, None)
        self.open(doc)
        t1, params = await asyncio.wait_for(fut, TIMEOUT)
        return t1, list(params.diagnostics)

    async def wait_indexed(self, timeout: float = 60.0) -> bool:
        """Until the server logs the end of its workspace scan (a server that never logs
        it, such as an older checkout, costs ``timeout``)."""
        try:
            await asyncio.wait_for(self.indexed.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            log(f"  {self.name}: no 'indexed' log within {timeout:.0f} s; measuring anyway")
            return False

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
            await asyncio.wait_for(self.client.stop(), 10)
        except Exception:
            proc = self.client._server
            if proc is not None and proc.returncode is None:
                proc.kill()
        finally:
            task = getattr(self, "_stderr_task", None)
            if task is not None:
                task.cancel()


def dbos_cmd() -> list[str]:
    return [sys.executable, "-m", "dbos_lsp"]


def dbos_env(server_src: Path = SERVER_SRC) -> dict[str, str]:
    """``python -m dbos_lsp`` imports the package from ``server_src``: PYTHONPATH comes
    before site-packages, where the editable install points at this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(server_src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def server_dir(path: str) -> Path:
    """The ``server/`` folder of a checkout, given the checkout or the folder itself."""
    p = Path(path).resolve()
    for cand in (p, p / "server"):
        if (cand / "dbos_lsp" / "__init__.py").is_file():
            return cand
    raise SystemExit(f"{path}: no dbos_lsp package here or in its server/ folder")


def load_engine(server_src: Path) -> tuple[Callable[[str], Any], str]:
    """``analyze`` and the version from the same tree the server processes run, so the
    in-process figures describe the same code."""
    sys.path.insert(0, str(server_src))
    from dbos_lsp import __version__
    from dbos_lsp.engine.pipeline import analyze

    return analyze, __version__


def peer_servers() -> list[tuple[str, list[str], Any, bool]]:
    """(name, command, initializationOptions, all sizes?) of the peers installed here."""
    peers = []
    if shutil.which("ruff"):
        peers.append(("ruff server", [shutil.which("ruff"), "server"], None, True))
    if shutil.which("jedi-language-server"):
        # Push only, with its own debounce of diagnostics on change: measured on the
        # mid-size module with fewer edits, for context.
        peers.append(
            (
                "jedi-language-server",
                [shutil.which("jedi-language-server")],
                {"diagnostics": {"enable": True, "didOpen": True, "didChange": True, "didSave": True}},
                False,
            )
        )
    return peers


# ----- measurements ------------------------------------------------------------------------


def engine_only(
    texts: dict[int, str], reps: dict[int, int], analyze: Callable[[str], Any]
) -> dict[int, dict[str, float]]:
    out = {}
    for size, text in texts.items():
        eng, par = [], []
        analyze(text)  # warm imports and caches
        for _ in range(reps[size]):
            par.append(parse_time(text))  # interleaved, so machine noise hits both alike
            t0 = time.perf_counter()
            analysis = analyze(text)
            eng.append(time.perf_counter() - t0)
        out[size] = {
            "engine_median_ms": ms(median(eng)),
            "engine_p95_ms": ms(p95(eng)),
            "ast_parse_median_ms": ms(median(par)),
            "ratio": round(median(eng) / median(par), 2),
            # min/min: less sensitive to other load on the machine than the medians.
            "ratio_min": round(min(eng) / min(par), 2),
            "findings": len(analysis.findings),
            "reps": reps[size],
        }
    return out


async def edit_latency(
    session: Session, doc: Doc, edits: int, warmup: int = 2, expected: int | None = None
) -> dict[str, Any]:
    _, first = await session.first_diagnostics(doc)
    for line in doc.plan(warmup):
        await session.edit_and_wait(doc, line)
    lat, par, counts = [], [], []
    for line in doc.plan(edits):
        seconds, items = await session.edit_and_wait(doc, line)
        lat.append(seconds)
        counts.append(len(items))
        par.append(parse_time(doc.text))  # the same text, after the response: no contention
    result = {
        "mode": "pull" if session.pull else "push",
        "edits": edits,
        "median_ms": ms(median(lat)),
        "p95_ms": ms(p95(lat)),
        "p90_ms": ms(p90(lat)),
        "ast_parse_median_ms": ms(median(par)),
        "ratio": round(median(lat) / median(par), 2),
        "ratio_min": round(min(lat) / min(par), 2),
        "diagnostics": counts[-1] if counts else len(first),
    }
    if expected is not None and counts and any(c != expected for c in counts):
        result["warning"] = f"diagnostic counts {sorted(set(counts))} differ from the engine's {expected}"
    return result


# ----- edit kinds ---------------------------------------------------------------------------
#
# Each kind is one repetition of an edit a person makes, measured over a pull session:
# ``didChange`` until the ``textDocument/diagnostic`` response for that version.  Every
# repetition leaves the document as it found it (reverting edits are waited for, and
# counted only where the kind says so), so repetitions and kinds do not drift.

KINDS = ("body", "typing", "enter", "import", "cross-module", "cross-body")
# Kinds measured on the cross-module trees (a module importing from a helper module).
CROSS_KINDS = ("cross-module", "cross-body")
TYPED = "x = DBOS.sleep(1)"  # typed into an async workflow: a DBOS101 once complete
ADDED_IMPORT = "import json\n"
# The helper module of the cross-module trees: its steps read the clock, which is fine in
# a step; deleting ``@DBOS.step()`` makes the helper a plain function that reads the clock,
# and every workflow of the importing module that awaits it nondeterministic (DBOS201,
# found through the workspace index).
HELPER = '''"""Helpers shared by the generated module (benchmarks/run.py, cross-module edits)."""

import time

from dbos import DBOS


@DBOS.step()
def record_audit(kind: str, subject: str) -> None:
    at = time.time()
    DBOS.logger.info("audit %s %s at %f", kind, subject, at)


@DBOS.step()
async def record_audit_async(kind: str, subject: str) -> None:
    at = time.time()
    DBOS.logger.info("audit %s %s at %f", kind, subject, at)
'''
TOGGLED = "async def record_audit_async("
CROSS_TRIES = 3  # pulls of the importing module after one helper edit, at most
CROSS_REFRESH_WAIT = 2.0  # seconds to wait for a refresh (dbos-lsp batches them for 0.25 s)


@dataclass
class Sample:
    seconds: float
    diagnostics: int
    parse: float  # ast.parse of the same text, timed after the response
    step: str = ""
    ok: bool | None = None  # the diagnostics were as expected (None: not checked)
    stale: bool = False  # cross-module: the answer never followed the edit (no latency)


@dataclass
class Target:
    """What one session edits at one size: the module, and the helper module it imports
    for cross-module edits; ``base`` is the unedited module's diagnostic count."""

    doc: Doc
    base: int = 0
    helper: Doc | None = None


def indent_of(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


async def timed(
    s: Session, doc: Doc, change: t.TextDocumentContentChangePartial, fallback: str, step: str, expect: int | None
) -> Sample:
    seconds, items = await s.send_and_wait(doc, change)
    ok = None if expect is None else len(items) == expect
    return Sample(seconds, len(items), parse_time_or(doc.text, fallback), step, ok)


async def rep_body(s: Session, tg: Target, k: int, of: int) -> list[Sample]:
    """Bump the ``rev-N`` marker inside one function body (the original benchmark edit)."""
    doc = tg.doc
    return [await timed(s, doc, doc.edit(doc.marker_line(k, of)), doc.text, "", tg.base)]


async def rep_typing(s: Session, tg: Target, k: int, of: int) -> list[Sample]:
    """Enter at the end of an async workflow's first body line (the editor indents the new
    line), then ``TYPED`` one character at a time: most intermediate texts do not parse;
    then the typed line is deleted (one change, waited for, not counted)."""
    doc = tg.doc
    line = doc.workflow_body_line(k, of)
    base, indent, col = doc.text, indent_of(doc.lines[line]), len(doc.lines[line])
    out = [await timed(s, doc, doc.insert(line, col, "\n" + indent), base, "enter", tg.base)]
    for i, ch in enumerate(TYPED):
        done = i == len(TYPED) - 1
        change = doc.insert(line + 1, len(indent) + i, ch)
        out.append(await timed(s, doc, change, base, "char", tg.base + 1 if done else None))
    await s.send_and_wait(doc, doc.replace((line, col), (line + 1, len(doc.lines[line + 1])), ""))
    return out


async def rep_enter(s: Session, tg: Target, k: int, of: int) -> list[Sample]:
    """Enter after a function's last line: a new (auto-indented) blank line; then deleted
    again (waited for, not counted)."""
    doc = tg.doc
    line = doc.function_end(doc.marker_line(k, of))
    indent, col = indent_of(doc.lines[line]), len(doc.lines[line])
    out = [await timed(s, doc, doc.insert(line, col, "\n" + indent), doc.text, "", tg.base)]
    await s.send_and_wait(doc, doc.replace((line, col), (line + 1, len(indent)), ""))
    return out


async def rep_import(s: Session, tg: Target, k: int, of: int) -> list[Sample]:
    """Add ``import json`` at the top of the imports, then remove it: both counted."""
    doc = tg.doc
    line = doc.first_import()
    added = await timed(s, doc, doc.insert(line, 0, ADDED_IMPORT), doc.text, "add", tg.base)
    removed = await timed(s, doc, doc.replace((line, 0), (line + 1, 0), ""), doc.text, "remove", tg.base)
    return [added, removed]


async def rep_cross(s: Session, tg: Target, k: int, of: int) -> list[Sample]:
    """Delete ``@DBOS.step()`` above the helper module's ``record_audit_async``, then type it
    back; each edit is saved (written, then ``didSave``: dbos-lsp reads other modules as
    saved on disk), both counted.  Measured as an editor shows it: ``didChange`` and save
    of the helper, pull the helper, pull the importing module; when that answer does not
    reflect the edit yet, wait for the server's ``workspace/diagnostic/refresh`` and pull
    again (``step`` gets a ``+refresh`` suffix), until it does, or ``CROSS_TRIES`` pulls
    went by, or no refresh came within ``CROSS_REFRESH_WAIT``: then the sample is stale,
    left out of the times and counted apart (and so is the restore after it, whose
    unchanged answer proves nothing)."""
    assert tg.helper is not None
    helper, doc = tg.helper, tg.doc
    line = next(n for n, text in enumerate(helper.lines) if text.startswith(TOGGLED)) - 1
    decorator = helper.lines[line] + "\n"
    out: list[Sample] = []
    for step, change in (
        ("remove", lambda: helper.replace((line, 0), (line + 1, 0), "")),
        ("restore", lambda: helper.insert(line, 0, decorator)),
    ):
        edit = change()
        s.refreshed.clear()
        t0 = time.perf_counter()
        s.change(helper, edit)
        helper.path.write_text(helper.text)
        s.client.text_document_did_save(t.DidSaveTextDocumentParams(t.TextDocumentIdentifier(helper.uri)))
        await s.diagnostics(helper)
        for tries in range(CROSS_TRIES):
            items = await s.diagnostics(doc)
            ok = (len(items) != tg.base) if step == "remove" else (len(items) == tg.base)
            if ok or tries == CROSS_TRIES - 1:
                break
            try:
                await asyncio.wait_for(s.refreshed.wait(), CROSS_REFRESH_WAIT)
            except asyncio.TimeoutError:
                break
            s.refreshed.clear()
        seconds = time.perf_counter() - t0
        label = step + ("+refresh" if tries else "")
        # A restore after a removal that never showed proves nothing: stale as well.
        stale = not ok or (step == "restore" and out[-1].stale)
        out.append(Sample(seconds, len(items), parse_time(doc.text), label, ok, stale=stale))
    return out


REPS = {
    "body": rep_body,
    "typing": rep_typing,
    "enter": rep_enter,
    "import": rep_import,
    "cross-module": rep_cross,
    "cross-body": rep_body,
}


def kind_reps(kind: str, edits: int, big: bool) -> int:
    """Repetitions of ``kind``: ``--edits`` for one-change kinds (a third, at least 10, on
    big modules, as for the body edits); fewer for kinds that type a whole statement or
    make the server analyse the whole module again."""
    if kind in ("body", "enter", "cross-body"):
        return max(10, edits // 3) if big else edits
    if kind == "typing":  # len(TYPED) + 1 keystrokes each
        return max(2, edits // 15) if big else max(2, edits // 10)
    return max(3, edits // 10) if big else max(3, edits // 5)


def summarize(samples: list[Sample]) -> dict[str, Any]:
    stale = [x for x in samples if x.stale]
    samples = [x for x in samples if not x.stale]
    lat, par = [x.seconds for x in samples], [x.parse for x in samples]
    out: dict[str, Any] = {
        "samples": len(samples),
        "median_ms": ms(median(lat)),
        "p90_ms": ms(p90(lat)),
        "p95_ms": ms(p95(lat)),
        "ast_parse_median_ms": ms(median(par)),
        "ratio": round(median(lat) / median(par), 2) if samples else None,
        "ratio_min": round(min(lat) / min(par), 2) if samples else None,
        "diagnostics": samples[-1].diagnostics if samples else None,
    }
    steps = sorted({x.step for x in samples if x.step})
    if len(steps) > 1:
        out["steps"] = {
            st: {"samples": len(v), "median_ms": ms(median(v))}
            for st in steps
            for v in [[x.seconds for x in samples if x.step == st]]
        }
    bad = [x for x in samples if x.ok is False]
    if stale:
        out["stale"] = len(stale)
        out["warning"] = (
            f"{len(stale)} of {len(stale) + len(samples)} edits ({', '.join(sorted({x.step for x in stale}))}) "
            "never showed in the importing module's diagnostics, even after a refresh; left out of the times"
        )
    elif bad:
        checked = sum(x.ok is not None for x in samples)
        out["warning"] = f"{len(bad)} of {checked} checked responses had unexpected diagnostics"
    return out


async def measure_kind(
    kind: str, pairs: list[tuple[Session, Target]], reps: int, warmup: int = 1
) -> list[dict[str, Any]]:
    """``reps`` repetitions of ``kind`` on each (session, target), interleaved repetition by
    repetition (alternating which goes first) so machine noise hits them alike."""
    fn = REPS[kind]
    for s, tg in pairs:
        for k in range(warmup):
            await fn(s, tg, k, max(warmup, 2))
    samples: list[list[Sample]] = [[] for _ in pairs]
    for k in range(reps):
        order = list(enumerate(pairs))
        for i, (s, tg) in order if k % 2 == 0 else order[::-1]:
            samples[i] += await fn(s, tg, k, reps)
    return [summarize(x) for x in samples]


def write_cross_tree(root: Path, size: int) -> tuple[Path, Path, Any]:
    """A package with the helper module and a generated module of about ``size`` lines
    that imports it; returns (helper path, module path, generated module)."""
    pkg = root / f"xmod_{size}" / "app"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "shared.py").write_text(HELPER)
    gen = generate(size, seed=size + 7, shared=True, first=size * 10 + 5)
    (pkg / "service.py").write_text(gen.text)
    return pkg / "shared.py", pkg / "service.py", gen


async def open_target(s: Session, path: Path, gen: Any, helper: Path | None = None) -> Target:
    """Open the module (and its helper first): pulled at once, so the server keeps pulling."""
    hdoc = None
    if helper is not None:
        hdoc = Doc(helper, helper.read_text(), [])
        s.open(hdoc)
        await s.diagnostics(hdoc)
    doc = Doc(path, gen.text, gen.markers)
    s.open(doc)
    items = await s.diagnostics(doc)
    return Target(doc, len(items), hdoc)


async def hover_and_actions(session: Session, doc: Doc, reps: int) -> dict[str, Any]:
    items = await session.diagnostics(doc) if session.pull else list(session.published.get(doc.uri, (None, []))[1])
    target = next((d for d in items if str(d.code) == "DBOS101"), items[0] if items else None)
    if target is None:
        return {"error": "no finding to hover"}
    pos = t.Position(target.range.start.line, target.range.start.character + 2)
    hov, act, res = [], [], []
    hover_ok = actions_n = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        h = await asyncio.wait_for(
            session.client.text_document_hover_async(t.HoverParams(t.TextDocumentIdentifier(doc.uri), pos)), TIMEOUT
        )
        hov.append(time.perf_counter() - t0)
        hover_ok = int(h is not None)
        t0 = time.perf_counter()
        a = await asyncio.wait_for(
            session.client.text_document_code_action_async(
                t.CodeActionParams(
                    t.TextDocumentIdentifier(doc.uri),
                    target.range,
                    t.CodeActionContext(diagnostics=[target], only=[t.CodeActionKind.QuickFix]),
                )
            ),
            TIMEOUT,
        )
        act.append(time.perf_counter() - t0)
        actions_n = len(a or [])
        deferred = next((x for x in a or [] if isinstance(x, t.CodeAction) and x.edit is None and x.data), None)
        if deferred is not None:
            # The user picks "Fix all": the edit is computed now, once per analysed version.
            t0 = time.perf_counter()
            await asyncio.wait_for(session.client.code_action_resolve_async(deferred), TIMEOUT)
            res.append(time.perf_counter() - t0)
    return {
        "code": str(target.code),
        "hover_median_ms": ms(median(hov)),
        "hover_p95_ms": ms(p95(hov)),
        "hover_returned": bool(hover_ok),
        "code_action_median_ms": ms(median(act)),
        "code_action_p95_ms": ms(p95(act)),
        "code_actions": actions_n,
        "fix_all_resolve_median_ms": ms(median(res)) if res else None,
        "fix_all_resolve_max_ms": ms(max(res)) if res else None,
        "reps": reps,
    }


async def edit_storm(session: Session, doc: Doc, edits: int) -> dict[str, Any]:
    """``edits`` body edits sent as fast as the client can write them, each followed by a
    diagnostic pull, a hover, a code action and ``workspace/symbol``, none awaited before
    the next edit (a user typing fast while the editor asks for everything).  Reports how
    long the server took to answer them all, per-kind medians (send to answer), how many
    were answered with ContentModified (stale hover or action: the client drops them), and
    whether the last pull equals a pull after the storm."""
    base = await session.diagnostics(doc)
    pending: list[tuple[str, float, asyncio.Future]] = []
    client = session.client
    ident = t.TextDocumentIdentifier(doc.uri)

    answered: dict[int, float] = {}

    def ask(kind: str, coro) -> None:
        fut = asyncio.ensure_future(coro)
        fut.add_done_callback(lambda f: answered.setdefault(id(f), time.perf_counter()))
        pending.append((kind, time.perf_counter(), fut))

    t0 = time.perf_counter()
    for k in range(edits):
        line = doc.marker_line(k, edits)
        session.change(doc, doc.edit(line))
        ask("pull", client.text_document_diagnostic_async(t.DocumentDiagnosticParams(text_document=ident)))
        pos = t.Position(line, 8)
        ask("hover", client.text_document_hover_async(t.HoverParams(ident, pos)))
        rng = t.Range(pos, pos)
        ask(
            "codeAction",
            client.text_document_code_action_async(t.CodeActionParams(ident, rng, t.CodeActionContext([]))),
        )
        ask("workspace/symbol", client.workspace_symbol_async(t.WorkspaceSymbolParams(query="wf")))
    latencies: dict[str, list[float]] = {}
    modified = errors = 0
    last_pull = None
    for kind, sent, fut in pending:
        try:
            value = await asyncio.wait_for(fut, TIMEOUT * 4)
            if kind == "pull":
                last_pull = value
        except Exception as exc:
            if "ContentModified" in type(exc).__name__ or "-32801" in str(exc) or "changed while" in str(exc):
                modified += 1
            else:
                errors += 1
            continue
        latencies.setdefault(kind, []).append(answered[id(fut)] - sent)
    drained = max(answered.values()) - t0
    after = await session.diagnostics(doc)
    last_items = list(getattr(last_pull, "items", None) or [])
    same = [(d.range, d.code) for d in last_items] == [(d.range, d.code) for d in after]
    return {
        "edits": edits,
        "requests": len(pending),
        "drained_seconds": round(drained, 2),
        "median_ms": {k: ms(median(v)) for k, v in latencies.items()},
        "content_modified": modified,
        "errors": errors,
        "last_pull_is_current": same,
        "findings_before": len(base),
    }


async def cold_start(
    name: str,
    cmd: list[str],
    root: Path,
    path: Path,
    text: str,
    markers,
    pull: bool,
    init_options: Any,
    env: dict[str, str] | None,
    reps: int,
) -> dict[str, Any]:
    totals, inits = [], []
    for _ in range(reps):
        s = Session(name, cmd, root, pull=pull, init_options=init_options, env=env)
        await s.start()
        t1, _items = await s.first_diagnostics(Doc(path, text, markers))
        totals.append(t1 - s.t_spawn)
        inits.append(s.init_seconds)
        await s.stop()
    return {"first_diagnostics_median_ms": ms(median(totals)), "initialize_median_ms": ms(median(inits)), "reps": reps}


def bare_pygls_import(reps: int) -> dict[str, Any]:
    """Spawn to exit of ``python -c "import pygls.lsp.server"``: the floor any pygls server's
    cold start sits on (lsprotocol's types are most of it), measured in the same run."""
    times = []
    for _ in range(max(reps, 3)):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import pygls.lsp.server"], check=True)
        times.append(time.perf_counter() - t0)
    return {"median_ms": ms(median(times)), "reps": len(times)}


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


async def memory_with_open_files(
    name: str, cmd: list[str], work: Path, env: dict[str, str] | None, opts: Any, count: int, lines: int
) -> dict[str, Any]:
    """Resident memory of a server after opening ``count`` generated modules and getting
    each one's diagnostics (pulled, so every file is analysed before the reading)."""
    folder = work / f"open_{name}"
    folder.mkdir(exist_ok=True)
    docs = []
    for i in range(count):
        gen = generate(lines, seed=1000 + i, first=100_000 + i * 1000)
        path = folder / f"mod_{i:03d}.py"
        path.write_text(gen.text)
        docs.append(Doc(path, gen.text, gen.markers))
    session = Session(name, cmd, folder, pull=True, init_options=opts, env=env)
    await session.start()
    try:
        pid = session.client._server.pid  # type: ignore[union-attr]
        before = rss_mib(pid)
        t0 = time.perf_counter()
        for doc in docs:
            if session.pull:
                session.open(doc)
                await session.diagnostics(doc)
            else:
                await session.first_diagnostics(doc)
        seconds = time.perf_counter() - t0
        await asyncio.sleep(0.5)
        return {
            "files": count,
            "lines_each": lines,
            "rss_before_mib": before,
            "rss_after_mib": rss_mib(pid),
            "open_all_seconds": round(seconds, 1),
        }
    finally:
        await session.stop()


def count_lines(root: Path) -> tuple[int, int]:
    files = lines = 0
    for p in root.rglob("*.py"):
        files += 1
        with open(p, "rb") as fh:
            lines += fh.read().count(b"\n")
    return files, lines


def check_throughput(tree: Path, lines: int, env: dict[str, str], src: Path = SERVER_SRC) -> dict[str, Any]:
    """``dbos-lsp check`` serial (``--jobs 1``, the historical figure) and over two worker
    processes (``--jobs 2``) in the same run, and ``ruff check`` when installed.  A server
    source from before ``--jobs`` (``--server-src``) runs serially only, without the option."""
    out: dict[str, Any] = {}
    outputs = {}
    runs = [("dbos-lsp check", ["--jobs", "1"]), ("dbos-lsp check --jobs 2", ["--jobs", "2"])]
    if not (src / "dbos_lsp" / "cli" / "parallel.py").is_file():
        runs = [("dbos-lsp check", [])]
    for key, jobs in runs:
        t0 = time.perf_counter()
        proc = subprocess.run(
            dbos_cmd() + ["check", "--format", "json", *jobs, str(tree)],
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - t0
        findings = len(json.loads(proc.stdout)) if proc.stdout.strip().startswith("[") else None
        outputs[key] = (proc.returncode, proc.stdout, proc.stderr)
        out[key] = {
            "seconds": round(seconds, 2),
            "lines_per_s": round(lines / seconds),
            "exit": proc.returncode,
            "findings": findings,
        }
    par = out.get("dbos-lsp check --jobs 2")
    if par:  # > 1: the parallel run checks more lines per second; its output must be the serial run's.
        par["ratio_to_serial"] = round(par["lines_per_s"] / out["dbos-lsp check"]["lines_per_s"], 2)
        par["same_output"] = outputs["dbos-lsp check --jobs 2"] == outputs["dbos-lsp check"]
    ruff = shutil.which("ruff")
    if ruff:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [ruff, "check", "--no-cache", "--isolated", "--output-format", "json", str(tree)],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - t0
        findings = len(json.loads(proc.stdout)) if proc.stdout.strip().startswith("[") else None
        out["ruff check"] = {
            "seconds": round(seconds, 3),
            "lines_per_s": round(lines / seconds),
            "exit": proc.returncode,
            "findings": findings,
        }
    return out


# ----- the run ---------------------------------------------------------------------------


def machine(version: str, src: Path = SERVER_SRC) -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "dbos_lsp": version,
    }
    try:
        import importlib.metadata as md

        info["pygls"] = md.version("pygls")
    except Exception:
        pass
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    if shutil.which("ruff"):
        info["ruff"] = subprocess.run(["ruff", "--version"], capture_output=True, text=True).stdout.strip()
    if shutil.which("jedi-language-server"):
        info["jedi-language-server"] = subprocess.run(
            ["jedi-language-server", "--version"], capture_output=True, text=True
        ).stdout.strip()
    try:
        info["commit"] = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        pass
    return info


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def write_modules(work: Path, sizes: list[int]) -> dict[int, Any]:
    (work / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    modules: dict[int, Any] = {}
    for size in sizes:
        gen = generate(size, seed=size, first=size * 10)  # distinct workflow names per module
        path = work / f"svc_{size}.py"
        path.write_text(gen.text)
        modules[size] = (path, gen)
    return modules


def parse_kinds(spec: str) -> list[str]:
    kinds = [k.strip() for k in spec.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"--kinds: unknown {', '.join(unknown)} (choose from {', '.join(KINDS)})")
    return kinds


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = parse_kinds(args.kinds)
    src = server_dir(args.server_src)
    analyze, version = load_engine(src)
    work = Path(tempfile.mkdtemp(prefix="dbos-lsp-bench-"))
    modules = write_modules(work, sizes)
    results: dict[str, Any] = {"machine": machine(version, src), "sizes": {}, "peers": {}, "settings": vars(args)}
    for size in sizes:
        results["sizes"][str(size)] = {"lines": modules[size][1].lines, "seeded_findings": len(modules[size][1].seeded)}

    log("engine only: analyze() vs ast.parse ...")
    reps = {
        s: (args.engine_reps if modules[s][1].lines <= BIG_MODULE else max(5, args.engine_reps // 3)) for s in sizes
    }
    engine = engine_only({s: modules[s][1].text for s in sizes}, reps, analyze)
    for s in sizes:
        results["sizes"][str(s)]["engine"] = engine[s]

    env = dbos_env(src)
    # "body" is the original measurement (pull, then push with debounce 0); the other
    # kinds run in the pull session after it, so its numbers stay comparable with history.
    modes = [("pull", True, None), ("push", False, {"pushDebounceMs": 0})]
    if "body" not in kinds:
        modes = modes[:1]
    for mode, pull, opts in modes:
        log(f"dbos-lsp {mode} diagnostics ...")
        session = Session("dbos-lsp", dbos_cmd(), work, pull=pull, init_options=opts, env=env)
        await session.start()
        if pull and not session.pull:
            log("  the server did not advertise pull diagnostics; skipping pull mode")
            await session.stop()
            continue
        try:
            docs: dict[int, Doc] = {}
            for size in sizes:
                path, gen = modules[size]
                doc = docs[size] = Doc(path, gen.text, gen.markers)
                big = gen.lines > BIG_MODULE
                if "body" not in kinds:
                    session.open(doc)
                    await session.diagnostics(doc)
                    continue
                edits = max(10, args.edits // 3) if big else args.edits
                res = await edit_latency(session, doc, edits, expected=engine[size]["findings"])
                results["sizes"][str(size)][mode] = res
                log(f"  {size}: median {res['median_ms']} ms, ratio {res['ratio']}")
                if pull:
                    reps = max(3, args.hover_reps // 3) if big else args.hover_reps
                    results["sizes"][str(size)]["hover_code_action"] = await hover_and_actions(session, doc, reps)
            if pull:
                for size in sizes:
                    r = results["sizes"][str(size)]
                    r["kinds"] = {"body": r["pull"]} if "body" in kinds else {}
                    target = Target(docs[size], len(await session.diagnostics(docs[size])))
                    for kind in kinds:
                        if kind == "body" or kind in CROSS_KINDS:
                            continue
                        n = kind_reps(kind, args.edits, modules[size][1].lines > BIG_MODULE)
                        (res,) = await measure_kind(kind, [(session, target)], n)
                        r["kinds"][kind] = res
                        log(f"  {size} {kind}: median {res['median_ms']} ms, p90 {res['p90_ms']}, ratio {res['ratio']}")
        finally:
            await session.stop()

    if any(kind in CROSS_KINDS for kind in kinds):
        # Its own folder and session: the trees must not be in the other sessions' index.
        log("dbos-lsp cross-module edits ...")
        xwork = Path(tempfile.mkdtemp(prefix="dbos-lsp-bench-x-"))
        (xwork / "pyproject.toml").write_text('[project]\nname = "bench-x"\nversion = "0"\n')
        trees = {size: write_cross_tree(xwork, size) for size in sizes}
        session = Session("dbos-lsp", dbos_cmd(), xwork, pull=True, env=env)
        await session.start()
        try:
            await session.wait_indexed()
            for size, (helper, path, gen) in trees.items():
                target = await open_target(session, path, gen, helper)
                for kind in [k for k in kinds if k in CROSS_KINDS]:
                    n = kind_reps(kind, args.edits, gen.lines > BIG_MODULE)
                    (res,) = await measure_kind(kind, [(session, target)], n)
                    res["module_lines"] = gen.lines
                    results["sizes"][str(size)].setdefault("kinds", {})[kind] = res
                    log(f"  {size} {kind}: median {res['median_ms']} ms, ratio {res['ratio']}")
        finally:
            await session.stop()
            shutil.rmtree(xwork, ignore_errors=True)

    if args.kinds_only:
        shutil.rmtree(work, ignore_errors=True)
        return results

    mid = min(sizes, key=lambda s: abs(s - 2600))
    log(f"cold start ({mid}-line module) ...")
    path, gen = modules[mid]
    results["cold_start"] = {
        "module_lines": gen.lines,
        "dbos-lsp pull": await cold_start(
            "dbos-lsp", dbos_cmd(), work, path, gen.text, gen.markers, True, None, env, args.cold_reps
        ),
        "dbos-lsp push": await cold_start(
            "dbos-lsp", dbos_cmd(), work, path, gen.text, gen.markers, False, {"pushDebounceMs": 0}, env, args.cold_reps
        ),
    }
    bare = bare_pygls_import(args.cold_reps)
    results["cold_start"]["bare pygls import"] = bare
    for mode in ("dbos-lsp pull", "dbos-lsp push"):
        v = results["cold_start"][mode]
        v["ratio_to_bare_import"] = round(v["first_diagnostics_median_ms"] / bare["median_ms"], 2)

    log(f"edit storm ({args.storm_edits} edits, 4 requests each, on the {mid}-line module) ...")
    path, gen = modules[mid]
    session = Session("dbos-lsp", dbos_cmd(), work, pull=True, env=env)
    await session.start()
    try:
        doc = Doc(path, gen.text, gen.markers)
        session.open(doc)
        results["storm"] = {"module_lines": gen.lines, **await edit_storm(session, doc, args.storm_edits)}
    finally:
        await session.stop()

    log(f"memory with {args.open_files} open files ...")
    results["memory"] = {
        "dbos-lsp": await memory_with_open_files(
            "dbos-lsp", dbos_cmd(), work, env, None, args.open_files, args.open_lines
        )
    }
    if not args.no_peers:
        for name, cmd, opts, _all in peer_servers():
            try:
                results["memory"][name] = await memory_with_open_files(
                    name, cmd, work, None, opts, args.open_files, args.open_lines
                )
            except Exception as exc:  # a peer that misbehaves is reported, not fatal
                results["memory"][name] = {"error": f"{type(exc).__name__}: {exc}"}

    if not args.no_peers:
        for name, cmd, opts, all_sizes in peer_servers():
            log(f"peer {name} ...")
            peer: dict[str, Any] = {}
            try:
                session = Session(name, cmd, work, pull=True, init_options=opts)
                await session.start()
                try:
                    for size in sizes if all_sizes else [mid]:
                        path, gen = modules[size]
                        doc = Doc(path, gen.text, gen.markers)
                        edits = args.edits if all_sizes and gen.lines <= BIG_MODULE else max(10, args.edits // 3)
                        peer[str(size)] = await edit_latency(session, doc, edits)
                finally:
                    await session.stop()
                peer["cold_start"] = await cold_start(
                    name,
                    cmd,
                    work,
                    modules[mid][0],
                    modules[mid][1].text,
                    modules[mid][1].markers,
                    True,
                    opts,
                    None,
                    args.cold_reps,
                )
            except Exception as exc:  # a peer that misbehaves is reported, not fatal
                peer["error"] = f"{type(exc).__name__}: {exc}"
            results["peers"][name] = peer

    log(f"check throughput on a {args.tree_modules}-module tree ...")
    tree = work / "tree"
    generate_tree(str(tree), args.tree_modules)
    files, lines = count_lines(tree)
    results["check"] = {"files": files, "lines": lines, **check_throughput(tree, lines, env, src)}
    shutil.rmtree(work, ignore_errors=True)
    return results


async def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    """The edit kinds on two server sources at once: one pull session each on the same
    files, repetitions interleaved, so load on the machine hits both alike.  Cross-module
    edits write the helper to disk, so each source gets its own copy of those trees (and
    its own session on it)."""
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = parse_kinds(args.kinds)
    srcs = {"current": server_dir(args.server_src), "other": server_dir(args.compare)}
    _analyze, version = load_engine(srcs["current"])
    work = Path(tempfile.mkdtemp(prefix="dbos-lsp-compare-"))
    modules = write_modules(work, sizes)
    cross = any(kind in CROSS_KINDS for kind in kinds)
    xroots = {name: Path(tempfile.mkdtemp(prefix=f"dbos-lsp-compare-{name}-")) for name in srcs} if cross else {}
    trees = {name: {size: write_cross_tree(root, size) for size in sizes} for name, root in xroots.items()}
    results: dict[str, Any] = {
        "machine": machine(version, srcs["current"]),
        "compare": {
            name: {"server_src": str(src), "commit": git_commit(src), "version": server_version(src)}
            for name, src in srcs.items()
        },
        "sizes": {},
        "settings": vars(args),
    }
    sessions = {
        name: Session(f"dbos-lsp ({name})", dbos_cmd(), work, pull=True, env=dbos_env(src))
        for name, src in srcs.items()
    }
    xsessions = {
        name: Session(f"dbos-lsp ({name}, cross-module)", dbos_cmd(), root, pull=True, env=dbos_env(srcs[name]))
        for name, root in xroots.items()
    }
    every = [*sessions.values(), *xsessions.values()]
    try:
        for session in every:
            await session.start()
            if not session.pull:
                raise SystemExit(f"{session.name}: the server did not advertise pull diagnostics")
        for session in every:
            await session.wait_indexed()
        for size in sizes:
            path, gen = modules[size]
            big = gen.lines > BIG_MODULE
            row: dict[str, Any] = {"lines": gen.lines, "kinds": {}}
            results["sizes"][str(size)] = row
            targets = [await open_target(s, path, gen) for s in sessions.values()]
            xtargets = []
            for name, xs in xsessions.items():
                helper, xpath, xgen = trees[name][size]
                xtargets.append(await open_target(xs, xpath, xgen, helper))
            for kind in kinds:
                if kind in CROSS_KINDS:
                    pairs = list(zip(xsessions.values(), xtargets, strict=True))
                else:
                    pairs = list(zip(sessions.values(), targets, strict=True))
                cur, oth = await measure_kind(kind, pairs, kind_reps(kind, args.edits, big))
                ratio = round(cur["median_ms"] / oth["median_ms"], 2) if oth["median_ms"] else None
                row["kinds"][kind] = {"current": cur, "other": oth, "current/other": ratio}
                log(f"  {size} {kind}: current {cur['median_ms']} ms, other {oth['median_ms']} ms, ratio {ratio}")
    finally:
        for session in every:
            await session.stop()
        for root in (work, *xroots.values()):
            shutil.rmtree(root, ignore_errors=True)
    return results


def git_commit(src: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


def server_version(src: Path) -> str | None:
    m = re.search(r"__version__\s*=\s*[\"']([^\"']+)", (src / "dbos_lsp" / "__init__.py").read_text())
    return m.group(1) if m else None


def kind_rows(results: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    return [
        (r["lines"], kind, v)
        for r in results["sizes"].values()
        for kind in KINDS
        for v in [r.get("kinds", {}).get(kind)]
        if v
    ]


def report_compare(results: dict[str, Any]) -> str:
    m, c = results["machine"], results["compare"]
    out = [
        f"dbos-lsp edit kinds, current vs other, {m['date']}: {m['cpu']} ({m['cpus']} CPUs), "
        f"Python {m['python']}, load {m.get('load_average')}",
        *(f"  {k}: {v['server_src']} (commit {v['commit']}, version {v['version']})" for k, v in c.items()),
        "",
        "Pull diagnostics after each edit, ms, interleaved in one run; "
        "ratio = median / median ast.parse of the same texts",
    ]
    head = (
        f"{'lines':>7} {'kind':<13} {'n':>4} | {'current':>8} {'p90':>7} {'ratio':>5} | "
        f"{'other':>8} {'p90':>7} {'ratio':>5} | {'current/other':>13}"
    )
    out += [head, "-" * len(head)]
    for r in results["sizes"].values():
        for kind, v in r["kinds"].items():
            cur, oth = v["current"], v["other"]
            out.append(
                f"{r['lines']:>7} {kind:<13} {cur['samples']:>4} | {cur['median_ms']:>8} {cur['p90_ms']:>7} "
                f"{cur['ratio']!s:>5} | {oth['median_ms']:>8} {oth['p90_ms']:>7} {oth['ratio']!s:>5} | "
                f"{v['current/other']!s:>13}"
            )
            for name, x in (("current", cur), ("other", oth)):
                if x.get("warning"):
                    out.append(f"        ! {name} {kind}: {x['warning']}")
    return "\n".join(out)


def markdown_compare(results: dict[str, Any]) -> str:
    m, c = results["machine"], results["compare"]
    out = [
        f"Run {m['date']}: {m['cpu']}, {m['cpus']} CPUs, Python {m['python']}; "
        + "; ".join(f"{k}: `{v['server_src']}` (commit {v['commit']})" for k, v in c.items())
        + f". Total run time {results.get('total_seconds', '?')} s.",
        "",
        "| module | edit | samples | current median / p90 | ratio | other median / p90 | ratio | **current / other** |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["sizes"].values():
        for kind, v in r["kinds"].items():
            cur, oth = v["current"], v["other"]
            out.append(
                f"| {r['lines']:,} lines | {kind} | {cur['samples']} | {cur['median_ms']} / {cur['p90_ms']} ms "
                f"| {cur['ratio']} | {oth['median_ms']} / {oth['p90_ms']} ms | {oth['ratio']} "
                f"| **{v['current/other']}** |"
            )
    return "\n".join(out) + "\n"


def report(results: dict[str, Any]) -> str:
    out = []
    m = results["machine"]
    out.append(
        f"dbos-lsp {m['dbos_lsp']} benchmarks, {m['date']}: {m['cpu']} ({m['cpus']} CPUs), "
        f"Python {m['python']}, pygls {m.get('pygls', '?')}, load {m.get('load_average')}"
    )
    out.append("")
    out.append(
        "Diagnostics latency (didChange -> diagnostics), ms; "
        "ratio = median latency / median ast.parse of the same texts"
    )
    head = (
        f"{'lines':>7} | {'engine':>8} {'parse':>7} {'ratio':>5} | "
        f"{'pull med':>8} {'p95':>7} {'parse':>7} {'ratio':>5} | {'push med':>8} {'p95':>7} {'ratio':>5}"
    )
    out.append(head)
    out.append("-" * len(head))
    for r in results["sizes"].values():
        e, pu, ps = r.get("engine", {}), r.get("pull", {}), r.get("push", {})
        out.append(
            f"{r['lines']:>7} | {e.get('engine_median_ms', '-'):>8} {e.get('ast_parse_median_ms', '-'):>7} "
            f"{e.get('ratio', '-'):>5} | "
            f"{pu.get('median_ms', '-'):>8} {pu.get('p95_ms', '-'):>7} {pu.get('ast_parse_median_ms', '-'):>7} "
            f"{pu.get('ratio', '-'):>5} | "
            f"{ps.get('median_ms', '-'):>8} {ps.get('p95_ms', '-'):>7} {ps.get('ratio', '-'):>5}"
        )
        for mode in ("pull", "push"):
            if r.get(mode, {}).get("warning"):
                out.append(f"        ! {mode}: {r[mode]['warning']}")
    rows = kind_rows(results)
    if rows:
        out.append("")
        out.append(
            "Edit kinds, pull (didChange -> diagnostic response), ms; typing: per keystroke; "
            "ratio = median / median ast.parse of the same texts (the last parsing text while typing)"
        )
        head = f"{'lines':>7} {'kind':<13} {'n':>4} | {'median':>8} {'p90':>7} {'parse':>7} {'ratio':>5} {'min/min':>7}"
        out += [head, "-" * len(head)]
        for lines, kind, v in rows:
            n = v.get("samples", v.get("edits"))
            out.append(
                f"{v.get('module_lines', lines):>7} {kind:<13} {n:>4} | {v['median_ms']:>8} {v['p90_ms']:>7} "
                f"{v['ast_parse_median_ms']:>7} {v['ratio']!s:>5} {v['ratio_min']!s:>7}"
            )
            if kind != "body" and v.get("warning"):
                out.append(f"        ! {kind}: {v['warning']}")
    out.append("")
    out.append("Hover / code action on a finding (analysis cached), ms")
    for r in results["sizes"].values():
        h = r.get("hover_code_action")
        if h and "error" not in h:
            out.append(
                f"{r['lines']:>7} lines: hover {h['hover_median_ms']} (p95 {h['hover_p95_ms']}), "
                f"code action {h['code_action_median_ms']} (p95 {h['code_action_p95_ms']}), "
                f"{h['code_actions']} actions on {h['code']}, "
                f"fix-all resolve {h.get('fix_all_resolve_median_ms', '-')} "
                f"(max {h.get('fix_all_resolve_max_ms', '-')})"
            )
        elif h:
            out.append(f"{r['lines']:>7} lines: {h['error']}")
    cs = results.get("cold_start", {})
    if cs:
        out.append("")
        out.append(f"Cold start (spawn -> first diagnostics, {cs['module_lines']}-line module), ms")
        for k, v in cs.items():
            if isinstance(v, dict) and "first_diagnostics_median_ms" in v:
                ratio = f", {v['ratio_to_bare_import']}x a bare pygls import" if "ratio_to_bare_import" in v else ""
                out.append(
                    f"  {k:<24} {v['first_diagnostics_median_ms']:>8} (initialize {v['initialize_median_ms']}{ratio})"
                )
        if "bare pygls import" in cs:
            out.append(f"  {'python -c import pygls.lsp.server':<24} {cs['bare pygls import']['median_ms']:>8}")
        for name, peer in results.get("peers", {}).items():
            if "cold_start" in peer:
                v = peer["cold_start"]
                out.append(
                    f"  {name:<24} {v['first_diagnostics_median_ms']:>8} (initialize {v['initialize_median_ms']})"
                )
    storm = results.get("storm")
    if storm:
        out.append("")
        out.append(
            f"Edit storm ({storm['module_lines']} lines): {storm['edits']} edits, {storm['requests']} requests "
            f"answered after {storm['drained_seconds']} s; medians {storm['median_ms']}; "
            f"ContentModified {storm['content_modified']}, errors {storm['errors']}, "
            f"last pull current: {storm['last_pull_is_current']}"
        )
    if results.get("peers"):
        out.append("")
        out.append("Peers: same modules, same edits, ms (dbos/peer = dbos-lsp pull median / peer median)")
        for name, peer in results["peers"].items():
            if "error" in peer:
                out.append(f"  {name}: {peer['error']}")
            for size, r in results["sizes"].items():
                p = peer.get(size)
                if not p:
                    continue
                ours = r.get("pull", r.get("push", {})).get("median_ms")
                rel = f"{ours / p['median_ms']:.2f}x" if ours and p["median_ms"] else "-"
                out.append(
                    f"  {name:<22} {r['lines']:>6} lines: {p['mode']} median {p['median_ms']} p95 {p['p95_ms']} "
                    f"(ratio to ast.parse {p['ratio']}), dbos/peer {rel}"
                )
    for k, v in (results.get("memory") or {}).items():
        if "rss_after_mib" in v:
            out.append(
                f"Memory, {k}: {v['rss_after_mib']} MiB after opening {v['files']} files of {v['lines_each']} lines "
                f"({v['rss_before_mib']} MiB before)"
            )
    c = results.get("check")
    if c:
        out.append("")
        out.append(f"Command-line throughput on {c['files']} files, {c['lines']} lines")
        for k in ("dbos-lsp check", "dbos-lsp check --jobs 2", "ruff check"):
            if k in c:
                v = c[k]
                ratio = ""
                if "ratio_to_serial" in v:
                    same = "same output" if v["same_output"] else "OUTPUT DIFFERS"
                    ratio = f", {v['ratio_to_serial']}x the serial lines/s, {same}"
                out.append(
                    f"  {k:<24} {v['seconds']:>7} s  {v['lines_per_s']:>10} lines/s  "
                    f"({v['findings']} findings, exit {v['exit']}{ratio})"
                )
    return "\n".join(out)


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown tables, for benchmarks/README.md."""
    m = results["machine"]
    out = [
        f"Run {m['date']}, commit {m.get('commit', '?')}: {m['cpu']}, {m['cpus']} CPUs, {m['platform']}, "
        f"Python {m['python']}, pygls {m.get('pygls', '?')}, {m.get('ruff', 'no ruff')}; "
        f"load average at start/end {m.get('load_average')} / {m.get('load_average_end')}. "
        f"Total run time {results.get('total_seconds', '?')} s.",
        "",
        "| module | engine `analyze()` | `ast.parse` | engine ratio (min/min) | pull median | pull p95 "
        "| `ast.parse` (same texts) | **pull ratio** (min/min) | push median (debounce 0) | push p95 | push ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["sizes"].values():
        e, pu, ps = r.get("engine", {}), r.get("pull", {}), r.get("push", {})
        out.append(
            f"| {r['lines']:,} lines | {e.get('engine_median_ms', '-')} ms | {e.get('ast_parse_median_ms', '-')} ms | "
            f"{e.get('ratio', '-')} ({e.get('ratio_min', '-')}) | "
            f"{pu.get('median_ms', '-')} ms | {pu.get('p95_ms', '-')} ms | {pu.get('ast_parse_median_ms', '-')} ms | "
            f"**{pu.get('ratio', '-')}** ({pu.get('ratio_min', '-')}) | "
            f"{ps.get('median_ms', '-')} ms | {ps.get('p95_ms', '-')} ms | {ps.get('ratio', '-')} |"
        )
    rows = kind_rows(results)
    if rows:
        out += [
            "",
            "| module | edit kind | samples | pull median | p90 | `ast.parse` (same texts) | **ratio** (min/min) |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for lines, kind, v in rows:
            out.append(
                f"| {v.get('module_lines', lines):,} lines | {kind} | {v.get('samples', v.get('edits'))} "
                f"| {v['median_ms']} ms | {v['p90_ms']} ms | {v['ast_parse_median_ms']} ms "
                f"| **{v['ratio']}** ({v['ratio_min']}) |"
            )
    out += [
        "",
        "| module | hover median / p95 | code action median / p95 | fix-all resolve median / max |",
        "|---:|---:|---:|---:|",
    ]
    for r in results["sizes"].values():
        h = r.get("hover_code_action") or {}
        if "hover_median_ms" in h:
            out.append(
                f"| {r['lines']:,} lines | {h['hover_median_ms']} / {h['hover_p95_ms']} ms | "
                f"{h['code_action_median_ms']} / {h['code_action_p95_ms']} ms "
                f"({h['code_actions']} actions on {h['code']}) | "
                f"{h.get('fix_all_resolve_median_ms', '-')} / {h.get('fix_all_resolve_max_ms', '-')} ms |"
            )
    cs = results.get("cold_start") or {}
    if cs:
        out += [
            "",
            f"| cold start, {cs['module_lines']:,}-line module | spawn to first diagnostics | of which `initialize` |",
            "|---|---:|---:|",
        ]
        rows = [(k, v) for k, v in cs.items() if isinstance(v, dict) and "first_diagnostics_median_ms" in v]
        rows += [(k, p["cold_start"]) for k, p in results.get("peers", {}).items() if "cold_start" in p]
        for k, v in rows:
            out.append(f"| {k} | {v['first_diagnostics_median_ms']} ms | {v['initialize_median_ms']} ms |")
        if "bare pygls import" in cs:
            bare = cs["bare pygls import"]["median_ms"]
            out.append(f'| `python -c "import pygls.lsp.server"`, same run | {bare} ms | |')
            out += [
                f"| {k} / bare import | {v['ratio_to_bare_import']} | |" for k, v in rows if "ratio_to_bare_import" in v
            ]
    if results.get("peers"):
        out += [
            "",
            "| peer, same module and edits | mode | median | p95 | ratio to `ast.parse` | dbos-lsp pull / peer |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for name, peer in results["peers"].items():
            for size, r in results["sizes"].items():
                p = peer.get(size)
                if not p:
                    continue
                ours = r.get("pull", r.get("push", {})).get("median_ms")
                rel = f"{ours / p['median_ms']:.2f}x" if ours and p["median_ms"] else "-"
                out.append(
                    f"| {name}, {r['lines']:,} lines | {p['mode']} | {p['median_ms']} ms | {p['p95_ms']} ms "
                    f"| {p['ratio']} | {rel} |"
                )
    mem = results.get("memory") or {}
    if mem:
        out += [
            "",
            "| resident memory | files open | before | after | opening them all |",
            "|---|---:|---:|---:|---:|",
        ]
        for k, v in mem.items():
            if "rss_after_mib" in v:
                out.append(
                    f"| {k} | {v['files']} × {v['lines_each']:,} lines | {v['rss_before_mib']} MiB "
                    f"| {v['rss_after_mib']} MiB | {v.get('open_all_seconds', '?')} s |"
                )
            else:
                out.append(f"| {k} | - | - | {v.get('error', '?')} | |")
    storm = results.get("storm")
    if storm:
        med = storm["median_ms"]
        out += [
            "",
            f"| edit storm, {storm['module_lines']:,} lines | value |",
            "|---|---:|",
            f"| edits, each with a pull, hover, code action, workspace/symbol, nothing awaited "
            f"| {storm['edits']} ({storm['requests']} requests) |",
            f"| all answered after | {storm['drained_seconds']} s |",
            *(f"| median {k}, sent to answered | {v} ms |" for k, v in med.items()),
            f"| ContentModified (stale hover/action, dropped by the client) | {storm['content_modified']} |",
            f"| other errors | {storm['errors']} |",
            f"| last pull equals a pull after the storm | {storm['last_pull_is_current']} |",
        ]
    c = results.get("check")
    if c:
        out += [
            "",
            f"| command line, {c['files']} files, {c['lines']:,} lines | time | lines/s | findings |",
            "|---|---:|---:|---:|",
        ]
        for k in ("dbos-lsp check", "dbos-lsp check --jobs 2", "ruff check"):
            if k in c:
                v = c[k]
                out.append(f"| `{k}` | {v['seconds']} s | {v['lines_per_s']:,} | {v['findings']} |")
        par = c.get("dbos-lsp check --jobs 2")
        if par and "ratio_to_serial" in par:
            same = "same output" if par["same_output"] else "**output differs**"
            out.append(f"| `--jobs 2` / serial, lines/s | | **{par['ratio_to_serial']}** | {same} |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="250,2600,12000", help="target module sizes in lines")
    ap.add_argument("--edits", type=int, default=30, help="measured edits per size and mode")
    ap.add_argument("--engine-reps", type=int, default=15)
    ap.add_argument("--hover-reps", type=int, default=15)
    ap.add_argument("--cold-reps", type=int, default=3)
    ap.add_argument("--tree-modules", type=int, default=1000)
    ap.add_argument("--open-files", type=int, default=100, help="files open at once for the memory figure")
    ap.add_argument("--open-lines", type=int, default=2600, help="lines of each of those files")
    ap.add_argument(
        "--storm-edits", type=int, default=200, help="edits of the edit storm, each with 4 requests, nothing awaited"
    )
    ap.add_argument("--no-peers", action="store_true", help="skip ruff and jedi-language-server")
    ap.add_argument("--quick", action="store_true", help="sizes 250,2600, 8 edits, 40-module tree")
    ap.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"edit kinds to measure, comma-separated, from {','.join(KINDS)} (default: all); "
        "without body, the original pull/push table and the push session are skipped",
    )
    ap.add_argument(
        "--kinds-only",
        action="store_true",
        help="only the engine figures and the edit kinds (no cold start, memory, check)",
    )
    ap.add_argument(
        "--server-src",
        default=str(SERVER_SRC),
        metavar="PATH",
        help="run the server (and the engine figures) from this checkout or its server/ folder, "
        "e.g. a git worktree of an older commit (default: this checkout)",
    )
    ap.add_argument(
        "--compare",
        metavar="PATH",
        help="only the edit kinds, on --server-src and on PATH (a checkout or its server/ folder) at once, "
        "interleaved; prints current/other per kind and size (results in results/compare.json)",
    )
    ap.add_argument("--out", help="results file (default results/latest.json, or results/compare.json with --compare)")
    args = ap.parse_args()
    if args.out is None:
        args.out = str(HERE / "results" / ("compare.json" if args.compare else "latest.json"))
    if args.quick:
        args.sizes, args.edits, args.engine_reps, args.hover_reps, args.cold_reps, args.tree_modules = (
            "250,2600",
            8,
            5,
            5,
            1,
            40,
        )
        args.open_files = min(args.open_files, 10)
        args.storm_edits = min(args.storm_edits, 40)
    t0 = time.perf_counter()
    results = asyncio.run(run_compare(args) if args.compare else run(args))
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    try:
        results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    text = report_compare(results) if args.compare else report(results)
    print(text)
    print(f"\ntotal {results['total_seconds']} s; results in {args.out}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(out)
    out.with_suffix(".md").write_text(markdown_compare(results) if args.compare else markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
