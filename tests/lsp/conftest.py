"""Shared pieces for the end-to-end LSP tests: the server command and a recording client."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

REPO = Path(__file__).resolve().parents[2]
SERVER_DIR = str(REPO / "server")


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SERVER_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def make_recording_client() -> LanguageClient:
    """pytest-lsp's client, plus every publishDiagnostics kept with its version, and an
    event set whenever the server sends something tests wait for (see :func:`until`)."""
    client = LanguageClient(converter_factory=default_converter)
    client.publishes = []  # type: ignore[attr-defined]
    client.publish_event = asyncio.Event()  # type: ignore[attr-defined]
    client.news = asyncio.Event()  # type: ignore[attr-defined]

    def publish(c: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        c.diagnostics[params.uri] = params.diagnostics
        c.publishes.append(params)  # type: ignore[attr-defined]
        c.publish_event.set()  # type: ignore[attr-defined]
        c.news.set()  # type: ignore[attr-defined]

    def announcing(handler):
        def wrapped(c: LanguageClient, params):
            result = handler(c, params)
            c.news.set()  # type: ignore[attr-defined]
            return result

        return wrapped

    client.registrations = []  # type: ignore[attr-defined]
    client.code_lens_refresh_count = 0  # type: ignore[attr-defined]

    def register(c: LanguageClient, params: types.RegistrationParams) -> None:
        c.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    def unregister(c: LanguageClient, params: types.UnregistrationParams) -> None:
        gone = {u.id for u in params.unregisterations}
        c.registrations[:] = [r for r in c.registrations if r.id not in gone]  # type: ignore[attr-defined]

    def code_lens_refresh(c: LanguageClient, params: None) -> None:
        c.code_lens_refresh_count += 1  # type: ignore[attr-defined]
        c.news.set()  # type: ignore[attr-defined]

    features = dict(DEFAULT_CLIENT_FEATURES)
    for method in (types.WINDOW_LOG_MESSAGE, types.WORKSPACE_DIAGNOSTIC_REFRESH, types.PROGRESS):
        features[method] = announcing(features[method])
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = register
    features[types.CLIENT_UNREGISTER_CAPABILITY] = unregister
    features[types.WORKSPACE_CODE_LENS_REFRESH] = code_lens_refresh
    register_lsp_features(client, features)
    return client


async def until(client: LanguageClient, predicate, timeout: float = 10.0, what: str = "the condition"):
    """Wait, without polling, until ``predicate()`` holds: it is checked again whenever the
    server sends a notification or request the recording client keeps."""

    async def wait():
        while not predicate():
            client.news.clear()  # type: ignore[attr-defined]
            if predicate():
                return
            await client.news.wait()  # type: ignore[attr-defined]

    try:
        await asyncio.wait_for(wait(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


CONFIG = ClientServerConfig(
    server_command=[sys.executable, "-m", "dbos_lsp"],
    server_env=server_env(),
    client_factory=make_recording_client,
)


class Session:
    """A started client plus what was negotiated: diagnostics mode and position encoding."""

    def __init__(self, client: LanguageClient, name: str, result: types.InitializeResult) -> None:
        self.client = client
        self.name = name
        self.result = result
        encoding = result.capabilities.position_encoding or "utf-16"
        self.encoding = getattr(encoding, "value", encoding)
        self.pull = result.capabilities.diagnostic_provider is not None
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}

    # ----- documents -----

    def open(self, name: str, text: str) -> str:
        # Unique per call: a module-scoped server sees many tests' documents.
        stem, _, ext = name.rpartition(".")
        uri = (REPO / "tests" / "lsp" / "_virtual" / f"{stem}_{len(self.versions)}.{ext}").as_uri()
        self.texts[uri] = text
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )
        return uri

    def open_file(self, path, text: str | None = None) -> str:
        """Open a file that exists on disk (a workspace file), with its text or ``text``."""
        path = Path(path)
        text = path.read_text(encoding="utf-8") if text is None else text
        uri = path.as_uri()
        self.texts[uri] = text
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )
        return uri

    def change(self, uri: str, text: str) -> None:
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    # ----- diagnostics, whichever way this client gets them -----

    async def diagnostics(self, uri: str, timeout: float = 10.0) -> list[types.Diagnostic]:
        if self.pull:
            report = await self.client.text_document_diagnostic_async(
                types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
            )
            return list(report.items)
        return list((await self.wait_publish(uri, self.versions[uri], timeout)).diagnostics)

    async def wait_publish(self, uri: str, version, timeout: float = 10.0) -> types.PublishDiagnosticsParams:
        async def find():
            while True:
                for p in reversed(self.client.publishes):
                    if p.uri == uri and p.version == version:
                        return p
                self.client.publish_event.clear()
                await self.client.publish_event.wait()

        return await asyncio.wait_for(find(), timeout)

    # ----- requests -----

    def position(self, uri: str, line: int, column: int) -> types.Position:
        """Client units for a code-point column."""
        text_line = self.texts[uri].splitlines()[line]
        return types.Position(line=line, character=units(text_line[:column], self.encoding))

    async def hover(self, uri: str, line: int, column: int):
        return await self.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=self.position(uri, line, column)
            )
        )

    async def code_actions(self, uri: str, rng: types.Range, only=None, diagnostics=()):
        return await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=rng,
                context=types.CodeActionContext(diagnostics=list(diagnostics), only=only),
            )
        )

    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        """The action with its edit, as an editor asks for it when the user picks it."""
        if action.edit is not None:
            return action
        return await self.client.code_action_resolve_async(action)

    def apply(self, uri: str, action: types.CodeAction) -> str:
        """The document text after applying the action's edits, as an editor would."""
        edit = action.edit
        if edit.document_changes:
            edits = [e for dc in edit.document_changes for e in dc.edits]
        else:
            edits = edit.changes[uri]
        return apply_text_edits(self.texts[uri], edits, self.encoding)


def units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _offset(text: str, pos: types.Position, encoding: str) -> int:
    lines = text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: pos.line])
    if pos.line >= len(lines):
        return len(text)
    line = lines[pos.line].rstrip("\r\n")
    col = 0
    while col < len(line) and units(line[: col + 1], encoding) <= pos.character:
        col += 1
    return start + col


def apply_text_edits(text: str, edits, encoding: str) -> str:
    spans = sorted(
        ((_offset(text, e.range.start, encoding), _offset(text, e.range.end, encoding), e.new_text) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text
