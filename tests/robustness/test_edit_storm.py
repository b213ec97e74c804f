"""An edit storm over raw stdio: a client that sends 800 edits faster than the server
analyses them, each followed by a diagnostic pull, and every other one by a hover, every
fourth by a code-action request, every eighth by a workspace symbol search (about 1,500
requests), without waiting for any answer, and cancels every fifth hover right away.

Every request gets an answer; the only errors allowed are ContentModified for a hover or
code action whose text changed while it waited (LSP's answer for a stale request) and
RequestCancelled for a cancelled one; and the last pull gives exactly what
``dbos-lsp check`` finds in the final text.  How fast: ``benchmarks/run.py`` (edit storm),
not a timed test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rb_support import SERVER_DIR, server_env
from test_protocol_hygiene import PULL, TIMEOUT, RawClient

ROOT = Path(__file__).resolve().parents[2]
CONTENT_MODIFIED, REQUEST_CANCELLED = -32801, -32800
EDITS = 800


def _module(lines: int) -> str:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gen_module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return gen_module.generate(lines).text


def _check_findings(path: Path) -> list[tuple[int, int, str]]:
    out = subprocess.run(
        [sys.executable, "-m", "dbos_lsp", "check", "--format", "json", "--exit-zero", str(path)],
        capture_output=True,
        text=True,
        env=server_env(PYTHONPATH=SERVER_DIR),
        check=True,
    ).stdout
    return sorted((f["line"] - 1, f["column"] - 1, f["code"]) for f in json.loads(out))


def test_every_request_in_an_edit_storm_is_answered_and_the_last_pull_is_current(tmp_path: Path) -> None:
    text = _module(600)
    path = tmp_path / "storm.py"
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client = RawClient(tmp_path)
    try:
        client.initialize(tmp_path, {**PULL, "textDocument": {**PULL["textDocument"], "hover": {}, "codeAction": {}}})
        client.open(uri, text)
        assert "result" in client.pull(uri)
        lines = text.split("\n")
        target = next(i for i, line in enumerate(lines) if i > 40 and line.startswith("    return"))
        kinds: dict[int, str] = {}

        cancelled: set[int] = set()

        def send(method: str, params: dict, kind: str) -> int:
            client.next_id += 1
            kinds[client.next_id] = kind
            client._write({"id": client.next_id, "method": method, "params": params})
            return client.next_id

        here = {"line": target, "character": 4}
        for version in range(2, EDITS + 2):
            line = f"    step_{version} = {version}\n"
            lines.insert(target, line[:-1])
            change = {"range": {"start": {"line": target, "character": 0}, "end": {"line": target, "character": 0}}}
            client.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{**change, "text": line}]},
            )
            send("textDocument/diagnostic", {"textDocument": {"uri": uri}}, "pull")
            if version % 2:
                hover = send("textDocument/hover", {"textDocument": {"uri": uri}, "position": here}, "hover")
                if version % 10 == 1:
                    client.notify("$/cancelRequest", {"id": hover})
                    cancelled.add(hover)
            if version % 4 == 0:
                context = {"diagnostics": []}
                send(
                    "textDocument/codeAction",
                    {"textDocument": {"uri": uri}, "range": {"start": here, "end": here}, "context": context},
                    "action",
                )
            if version % 8 == 0:
                send("workspace/symbol", {"query": "wf"}, "symbol")
        answers: dict[int, dict] = {}
        while len(answers) < len(kinds):
            msg = client.inbox.get(timeout=TIMEOUT)
            if "method" in msg and "id" in msg:  # configuration, registration, refresh
                client._write({"id": msg["id"], "result": None})
            elif msg.get("id") in kinds:
                answers[msg["id"]] = msg
        assert len(kinds) > 1400
        for msg_id, kind in kinds.items():
            answer = answers[msg_id]
            if "error" in answer:
                code = answer["error"]["code"]
                stale = kind in ("hover", "action") and code == CONTENT_MODIFIED
                assert stale or (msg_id in cancelled and code == REQUEST_CANCELLED), (kind, answer)
        final = "\n".join(lines)
        path.write_text(final, encoding="utf-8")
        last_pull = answers[max(i for i, k in kinds.items() if k == "pull")]["result"]
        pulled = sorted(
            (d["range"]["start"]["line"], d["range"]["start"]["character"], d["code"]) for d in last_pull["items"]
        )
        assert pulled == _check_findings(path)
        assert pulled, "the generated module has findings"
        # After the storm a hover at the final text is answered, not dropped as stale.
        hover = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": here})
        assert "result" in hover, hover
    finally:
        client.close()
