"""Client capability profiles the LSP tests start sessions with.

pytest-lsp records real clients' ``initialize`` capabilities; a few profiles here adjust
one of them to stand for a client it has no recording of.  What the server negotiates:

- ``visual-studio-code`` (pytest-lsp's recording, no pull): push, UTF-16 positions;
- ``neovim@v0.11``: pull without ``workspace/diagnostic/refresh``, so the server pushes
  (a pull-only client would see other files' and settings' changes only at its next edit);
- ``PULL_REFRESH``: Neovim 0.11's capabilities plus refresh (as VS Code and Neovim 0.12
  send them): pull, UTF-8 positions;
- ``HELIX_MASTER``: the same capabilities, used by a client that never pulls (Helix master
  pulls only from servers its config enables pull for): the server falls back to push.
"""

from __future__ import annotations

from lsprotocol import types
from pytest_lsp import client_capabilities

PULL_REFRESH = "neovim@v0.11+refresh"
HELIX_MASTER = "helix-master"


def capabilities(name: str) -> types.ClientCapabilities:
    if name in (PULL_REFRESH, HELIX_MASTER):
        caps = client_capabilities("neovim@v0.11")
        assert caps.workspace is not None
        caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
        return caps
    return client_capabilities(name)
