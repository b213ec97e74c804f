"""The package's layers import one way only (see ARCHITECTURE.md).

Every ``import`` in ``server/dbos_lsp`` (module level, inside functions, and under
``TYPE_CHECKING``) is checked: a module may import its own layer and the layers
below it, never one above.  A new module in a new folder must be placed here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "server" / "dbos_lsp"

# Lowest first.  lsp and cli are peers at the top and never import each other,
# except that the command line starts the server.
LAYERS = ["knowledge", "analysis", "rules", "engine", "project", "features", "lsp", "cli"]
ALLOWED_UPWARD = {("cli", "lsp")}  # `dbos-lsp` with no arguments starts the server
TOP_LEVEL_MODULES = {"__init__", "__main__"}


def _layer_of_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "dbos_lsp" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            if node.module == "dbos_lsp":
                out.extend((node.lineno, f"dbos_lsp.{a.name}") for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: use absolute imports (from dbos_lsp.x import ...)")
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
    return out


def test_every_module_sits_in_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) == 1:
            assert rel.stem in TOP_LEVEL_MODULES, f"{rel}: put it in one of {LAYERS}"
        else:
            assert rel.parts[0] in LAYERS, f"{rel}: unknown layer {rel.parts[0]!r}"


def test_imports_go_down_only() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) == 1:
            continue
        here = rel.parts[0]
        for lineno, module in _imports(path):
            there = _layer_of_module(module)
            if there is None or there == here or (here, there) in ALLOWED_UPWARD:
                continue
            if LAYERS.index(there) > LAYERS.index(here):
                problems.append(f"{rel}:{lineno}: {here} imports {module} (layer {there} is above)")
    assert problems == []


def test_analysis_and_rules_do_no_io_through_protocol_libraries() -> None:
    """The pure layers never import the protocol or jedi."""
    pure = ["knowledge", "analysis", "rules", "engine", "features"]
    problems = []
    for layer in pure:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for lineno, module in _imports(path):
                if module.split(".")[0] in {"pygls", "lsprotocol", "jedi"}:
                    problems.append(f"{path.relative_to(PACKAGE)}:{lineno}: imports {module}")
    assert problems == []
