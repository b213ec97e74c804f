"""Shared pieces for the robustness tests: LSP sessions on a background event loop, an
independent client-side model of positions and text edits, and hypothesis strategies.

Kept out of ``conftest.py`` on purpose: ``tests/lsp`` imports its own ``conftest`` by name.

The client-side helpers here do not reuse the server's or pygls's position code: line
splitting, UTF-8 / UTF-16 units and edit application are re-implemented so that a bug in
the server's conversions cannot cancel out in the check.
"""

from __future__ import annotations

import ast
import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from client_profiles import capabilities

REPO = Path(__file__).resolve().parents[2]
SERVER_DIR = str(REPO / "server")

# ----- hypothesis profiles ---------------------------------------------------------------------

PROFILE = os.environ.get("DBOS_LSP_FUZZ_PROFILE", "ci")
_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile("dbos-lsp-ci", derandomize=True, print_blob=False, **_COMMON)
settings.register_profile("dbos-lsp-long", derandomize=False, print_blob=True, **_COMMON)


def fuzz_settings(ci_examples: int, long_examples: int) -> settings:
    """Per-test settings (the global hypothesis profile is left alone for other suites)."""
    if PROFILE == "long":
        return settings(settings.get_profile("dbos-lsp-long"), max_examples=long_examples)
    return settings(settings.get_profile("dbos-lsp-ci"), max_examples=ci_examples)


# ----- client-side text model (LSP semantics, independent of the server) ----------------------

_BREAK = re.compile(r"\r\n|\r|\n")


def lsp_lines(text: str) -> list[str]:
    """Line contents as the LSP defines them: only CRLF, CR and LF end a line.
    Always one entry more than there are line breaks ("a\\n" has lines "a" and "")."""
    return _BREAK.split(text)


def line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in _BREAK.finditer(text))
    return starts


def units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2


class BadPosition(AssertionError):
    pass


def offset_of(text: str, pos: types.Position, encoding: str) -> int:
    """Code-point offset of an LSP position; raises BadPosition when the position lies
    outside the document or inside a character (half a surrogate pair, a partial UTF-8
    sequence) instead of clamping, as a strict client-side check."""
    lines = lsp_lines(text)
    if pos.line < 0 or pos.character < 0:
        raise BadPosition(f"negative position {pos}")
    if pos.line >= len(lines):
        raise BadPosition(f"line {pos.line} beyond the document's {len(lines)} lines")
    line = lines[pos.line]
    count = 0
    for i, ch in enumerate(line):
        if count == pos.character:
            return line_starts(text)[pos.line] + i
        count += units(ch, encoding)
        if count > pos.character:
            raise BadPosition(f"{pos} splits the character {ch!r} ({encoding})")
    if count == pos.character:
        return line_starts(text)[pos.line] + len(line)
    raise BadPosition(f"character {pos.character} beyond line {pos.line}'s {count} {encoding} units: {line!r}")


def position_of(text: str, offset: int, encoding: str) -> types.Position:
    starts = line_starts(text)
    line = 0
    while line + 1 < len(starts) and starts[line + 1] <= offset:
        line += 1
    return types.Position(line=line, character=units(text[starts[line] : offset], encoding))


def check_range(text: str, rng: types.Range, encoding: str, what: str = "range") -> tuple[int, int]:
    try:
        start = offset_of(text, rng.start, encoding)
        end = offset_of(text, rng.end, encoding)
    except BadPosition as exc:
        raise BadPosition(f"{what}: {exc}") from None
    if start > end:
        raise BadPosition(f"{what}: start after end: {rng}")
    return start, end


def apply_text_edits(text: str, edits: Iterable[types.TextEdit], encoding: str) -> str:
    """Apply TextEdits as an editor does (all positions refer to the original text);
    overlapping edits are an error (the LSP forbids them)."""
    resolved = []
    for i, e in enumerate(edits):
        start, end = check_range(text, e.range, encoding, f"edit {i}")
        resolved.append((start, end, i, e.new_text))
    resolved.sort()
    for a, b in itertools.pairwise(resolved):
        if b[0] < a[1]:
            raise BadPosition(f"overlapping edits {a[:2]} and {b[:2]}")
    for start, end, _, new in reversed(resolved):
        text = text[:start] + new + text[end:]
    return text


def whole_range(text: str, encoding: str) -> types.Range:
    lines = lsp_lines(text)
    return types.Range(
        start=types.Position(line=0, character=0),
        end=types.Position(line=len(lines) - 1, character=units(lines[-1], encoding)),
    )


_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def parses(text: str) -> bool:
    try:
        compile(text, "<robustness>", "exec", _FLAGS, dont_inherit=True)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def action_edits(action: types.CodeAction, uri: str, version: int | None) -> list[types.TextEdit]:
    edit = action.edit
    assert edit is not None, f"code action without an edit: {action.title}"
    if edit.document_changes:
        edits = []
        for dc in edit.document_changes:
            assert isinstance(dc, types.TextDocumentEdit), f"unexpected document change {dc!r}"
            assert dc.text_document.uri == uri, f"edit for another document: {dc.text_document.uri}"
            assert dc.text_document.version in (None, version), (
                f"edit for version {dc.text_document.version}, document is at {version}"
            )
            edits.extend(dc.edits)
        return edits
    assert edit.changes is not None and set(edit.changes) <= {uri}, f"edit for another document: {edit}"
    return list(edit.changes.get(uri, []))


# ----- DBOS code fragments ---------------------------------------------------------------------


def _source_files() -> list[Path]:
    files = sorted((REPO / "tests" / "corpus").rglob("*.py")) + sorted(
        (REPO / "tests" / "fixtures" / "rules").glob("*.py")
    )
    return [f for f in files if f.is_file()]


SOURCES: list[str] = [f.read_text(encoding="utf-8") for f in _source_files()]
SOURCE_LINES: list[list[str]] = [s.splitlines(keepends=True) for s in SOURCES if s.strip()]

# Characters str.splitlines breaks lines at; Python and the LSP break only at CR, LF, CRLF.
OTHER_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

NASTY = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "((",
    "))",
    ":",
    ",",
    "\t",
    "    ",
    "\n",
    "\r\n",
    "\r",
    "\\\n",
    '"',
    "'",
    '"""',
    "'''",
    "#",
    "# noqa",
    "  # noqa: DBOS101",
    "# dbos: ignore[DBOS101]",
    "🚀",
    "𝔘",
    "é",
    "日本",
    "\u200d",
    "\ufeff",
    "\x00",
    "😀x😀",
    "𝔘𝔘𝔘",
    "async ",
    "await ",
    "def ",
    "class ",
    "@DBOS.workflow()\n",
    "@DBOS.step()\n",
    "lambda: ",
    "DBOS.sleep(1)",
    "await DBOS.sleep_async(1)",
    "from dbos import DBOS\n",
    "import asyncio\n",
    "asyncio.gather(a(), b())",
    "DBOS.launch()\n",
    "time.sleep(1)",
    "return ",
    "yield ",
    "f'{x}'",
    # Line breaks for str.splitlines, not for Python or the LSP.
    "\x0c",
    "# \x0c\n",
    "\u2028",
    "'\u2029'",
    "\x85",
    "\x1c",
]

safe_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def fragments(draw, max_lines: int = 12) -> str:
    lines = draw(st.sampled_from(SOURCE_LINES))
    start = draw(st.integers(0, max(len(lines) - 1, 0)))
    count = draw(st.integers(1, max_lines))
    return "".join(lines[start : start + count])


insert_texts = st.one_of(
    st.sampled_from(NASTY),
    fragments(),
    safe_text,
    st.lists(st.sampled_from(NASTY), min_size=2, max_size=5).map("".join),
)


@st.composite
def documents(draw) -> str:
    """A starting document: a whole corpus/fixture file or a slice of one, sometimes with
    CRLF or CR line endings, sometimes with a non-ASCII prefix line."""
    if draw(st.booleans()):
        text = draw(st.sampled_from(SOURCES))
    else:
        text = draw(fragments(max_lines=40))
    ending = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    if ending != "\n":
        text = text.replace("\n", ending)
    if draw(st.integers(0, 3)) == 0:
        text = draw(st.sampled_from(["# café 🚀\n", "# 𝔘𝔘\t\n", "\ufeff", "x = '🚀'; "])) + text
    return text


@dataclass(frozen=True)
class TextEditOp:
    """Replace text[start:end] with new_text (code-point offsets into the current text)."""

    start: int
    end: int
    new_text: str


def _snap(text: str, i: int) -> int:
    # LSP positions cannot point between the CR and LF of one line break.
    if 0 < i < len(text) and text[i - 1] == "\r" and text[i] == "\n":
        return i + 1
    return i


@st.composite
def edit_ops(draw, text: str) -> TextEditOp:
    n = len(text)
    kind = draw(st.sampled_from(["insert", "insert", "delete", "replace", "paste-line"]))
    start = _snap(text, draw(st.integers(0, n)))
    if kind == "paste-line":
        # Insert a fragment at the start of a line, which keeps code structure plausible.
        starts = line_starts(text)
        start = draw(st.sampled_from(starts))
        return TextEditOp(start, start, draw(fragments()))
    if kind == "insert":
        return TextEditOp(start, start, draw(insert_texts))
    end = _snap(text, min(n, start + draw(st.integers(0, 40))))
    new = "" if kind == "delete" else draw(insert_texts)
    return TextEditOp(start, end, new)


def apply_op(text: str, op: TextEditOp) -> str:
    return text[: op.start] + op.new_text + text[op.end :]


# ----- sessions on a background event loop ------------------------------------------------------


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SERVER_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("DBOS_LSP_FUZZ_PROFILE", None)
    env.update(extra)
    return env


SERVER_COMMAND = [sys.executable, "-m", "dbos_lsp"]


# ----- raw JSON-RPC over pipes, with no client library in between ------------------------------


def frame(obj: dict) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream) -> dict:
    """The next framed message on ``stream``; EOFError when the server closed it."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("server closed stdout")
        if line in (b"\r\n", b"\n"):
            if length is not None:
                return json.loads(stream.read(length))
            continue
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())


def spawn_server(cwd: Path | None = None) -> subprocess.Popen:
    """The server as an editor starts it, with pipes for stdin and stdout."""
    return subprocess.Popen(
        SERVER_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=server_env(),
        cwd=cwd,
    )


def make_recording_client() -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    client.publishes = []  # type: ignore[attr-defined]
    client.publish_event = asyncio.Event()  # type: ignore[attr-defined]

    def publish(c: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        c.diagnostics[params.uri] = params.diagnostics
        c.publishes.append(params)  # type: ignore[attr-defined]
        c.publish_event.set()  # type: ignore[attr-defined]

    def register_capability(c: LanguageClient, params: types.RegistrationParams) -> None:
        c.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    def unregister_capability(c: LanguageClient, params: types.UnregistrationParams) -> None:
        pass

    client.registrations = []  # type: ignore[attr-defined]
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = register_capability
    features[types.CLIENT_UNREGISTER_CAPABILITY] = unregister_capability
    register_lsp_features(client, features)
    return client


class LoopThread:
    """An event loop in a daemon thread, so synchronous (hypothesis) tests can drive
    an asynchronous LSP client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="robustness-loop", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Doc:
    uri: str
    text: str
    version: int


@dataclass
class LiveSession:
    """One real server process driven as a given client kind."""

    client: LanguageClient
    kind: str
    result: types.InitializeResult
    root: Path
    encoding: str = "utf-16"
    pull: bool = False
    counter: int = 0
    docs: dict[str, Doc] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None

    def notify(self, send, params) -> None:
        """Send a notification from any thread.  pygls writes to an asyncio transport, which
        is not thread-safe: a large message written from the test thread while the loop
        thread answers a server request interleaves the two on the pipe."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.loop is None or running is self.loop:
            send(params)
            return

        async def on_loop() -> None:
            send(params)

        asyncio.run_coroutine_threadsafe(on_loop(), self.loop).result(60)

    @classmethod
    async def start(
        cls,
        kind: str,
        options: Any = None,
        root: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> LiveSession:
        client = make_recording_client()
        await client.start_io(*SERVER_COMMAND, env=env or server_env())
        root = root or Path(tempfile.mkdtemp(prefix="dbos-lsp-robustness-"))
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities(kind),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="robustness")],
                initialization_options=options if options is not None else {"dbos": {"pushDebounceMs": 0}},
            )
        )
        session = cls(client, kind, result, root)
        session.loop = asyncio.get_running_loop()
        enc = result.capabilities.position_encoding or "utf-16"
        session.encoding = getattr(enc, "value", enc)
        session.pull = result.capabilities.diagnostic_provider is not None
        return session

    async def stop(self) -> None:
        await self.client.shutdown_session()
        await self.client.stop()

    # ----- documents -----

    def new_uri(self, name: str = "doc.py") -> str:
        self.counter += 1
        stem, _, ext = name.rpartition(".")
        return (self.root / f"{stem}_{self.counter}.{ext}").as_uri()

    def open(self, text: str, uri: str | None = None, version: int = 1) -> Doc:
        uri = uri or self.new_uri()
        doc = Doc(uri, text, version)
        self.docs[uri] = doc
        self.notify(
            self.client.text_document_did_open,
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
            ),
        )
        return doc

    def close(self, doc: Doc) -> None:
        self.docs.pop(doc.uri, None)
        self.notify(
            self.client.text_document_did_close,
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=doc.uri)),
        )

    def change_incremental(self, doc: Doc, ops: list[TextEditOp]) -> None:
        """Send the ops as incremental changes of one didChange (each relative to the text
        after the previous one), applying them to the client-side copy too."""
        changes = []
        for op in ops:
            rng = types.Range(
                start=position_of(doc.text, op.start, self.encoding),
                end=position_of(doc.text, op.end, self.encoding),
            )
            # Our own client-side application must agree with the op.
            assert apply_text_edits(
                doc.text, [types.TextEdit(range=rng, new_text=op.new_text)], self.encoding
            ) == apply_op(doc.text, op)
            doc.text = apply_op(doc.text, op)
            changes.append(types.TextDocumentContentChangePartial(range=rng, text=op.new_text))
        doc.version += 1
        self.notify(
            self.client.text_document_did_change,
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
                content_changes=changes,
            ),
        )

    def change_full(self, doc: Doc, text: str, version: int | None = None) -> None:
        doc.text = text
        doc.version = version if version is not None else doc.version + 1
        self.notify(
            self.client.text_document_did_change,
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            ),
        )

    # ----- requests -----

    async def diagnostics(self, doc: Doc, timeout: float = 30.0) -> list[types.Diagnostic]:
        if self.pull:
            report = await asyncio.wait_for(
                self.client.text_document_diagnostic_async(
                    types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=doc.uri))
                ),
                timeout,
            )
            return list(report.items)
        return list((await self.wait_publish(doc.uri, doc.version, timeout)).diagnostics)

    async def wait_publish(self, uri: str, version: int | None, timeout: float = 30.0):
        client = self.client

        async def find():
            while True:
                for p in reversed(client.publishes):
                    if p.uri == uri and p.version == version:
                        return p
                client.publish_event.clear()
                await client.publish_event.wait()

        return await asyncio.wait_for(find(), timeout)

    async def hover(self, doc: Doc, pos: types.Position, timeout: float = 30.0):
        return await asyncio.wait_for(
            self.client.text_document_hover_async(
                types.HoverParams(text_document=types.TextDocumentIdentifier(uri=doc.uri), position=pos)
            ),
            timeout,
        )

    async def code_actions(self, doc: Doc, rng: types.Range, only=None, diagnostics=(), timeout: float = 30.0):
        return await asyncio.wait_for(
            self.client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=doc.uri),
                    range=rng,
                    context=types.CodeActionContext(diagnostics=list(diagnostics), only=only),
                )
            ),
            timeout,
        )

    async def resolve(self, action: types.CodeAction, timeout: float = 30.0) -> types.CodeAction:
        """The action with its edit: a deferred one (fix-all) is resolved, as when the user picks it."""
        if action.edit is not None or action.data is None:
            return action
        return await asyncio.wait_for(self.client.code_action_resolve_async(action), timeout)

    def problems_logged(self) -> list[str]:
        """Log lines that reveal a server or engine bug."""
        bad = ("internal error", "failed on", "Traceback")
        return [m.message for m in self.client.log_messages if any(b in m.message for b in bad)]


def comparable(diags: list[types.Diagnostic]) -> list[tuple]:
    return sorted(
        (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character, str(d.code), d.message)
        for d in diags
    )
