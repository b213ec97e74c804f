"""README.md promises: its rule table matches the registry, .ci/run runs its test command, its
Quick start can be followed as written, and what it says about the project is true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from dbos_lsp.rules import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def test_rule_table_is_generated_from_the_registry() -> None:
    result = subprocess.run([sys.executable, "scripts/gen_rule_table.py", "--check"], cwd=ROOT)
    assert result.returncode == 0
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code, rule in REGISTRY.items():
        assert re.search(rf"^\| {code} \| `{rule.name}` \|", readme, re.M), code


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def test_quick_start_makes_a_virtual_environment_first() -> None:
    quick = _readme().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for block in _shell_blocks(quick) for line in block.splitlines() if line.strip()]
    assert commands[0].startswith("python3 -m venv .venv && . .venv/bin/activate"), commands
    assert commands.index("pip install . && dbos-lsp check examples/") > 0, commands
    assert "bash scripts/test.sh" in commands


def test_quick_start_check_does_what_the_readme_says() -> None:
    """`dbos-lsp check examples/` prints findings and exits 1 (the README says so)."""
    result = subprocess.run(
        [sys.executable, "-m", "dbos_lsp", "check", "examples/"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"^examples/\S+:\d+:\d+: DBOS\d{3} ", result.stdout, re.M), result.stdout
    assert "exits 1" in _readme()


def test_no_install_from_an_index_that_does_not_have_it() -> None:
    """dbos-lsp is not on PyPI yet: no doc may tell a user to `pip install dbos-lsp`."""
    docs = [ROOT / "README.md", *sorted((ROOT / "clients").glob("*/README.md"))]
    docs += [ROOT / "clients/neovim/lsp/dbos_lsp.lua", ROOT / "clients/emacs/dbos-lsp.el"]
    docs += [ROOT / "clients/helix/languages.toml", ROOT / "clients/vscode/src/extension.ts"]
    offenders = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in docs
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"pip install dbos-lsp(?![\w/-])", line)
    ]
    assert not offenders, offenders


def test_license_file_matches_pyproject() -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the dbos-lsp authors" in license_text
    assert re.search(r'^license = "MIT"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert "[LICENSE](LICENSE)" in _readme()


def test_test_command_states_its_system_requirements() -> None:
    readme = _readme()
    install_scripts = (ROOT / "scripts/install-editors.sh").read_text() + (
        ROOT / "scripts/install-vscode-test-deps.sh"
    ).read_text()
    for package in ("emacs-nox", "elpa-eglot", "elpa-lsp-mode", "chromium", "build-essential", "libkrb5-dev"):
        assert package in install_scripts, package  # the scripts still install it ...
        assert package in readme, package  # ... and the README says so
    assert "Node.js 20, 22 or 24" in readme


def test_ruff_and_code_lens_notes() -> None:
    readme = _readme()
    assert 'external = ["DBOS"]' in readme
    assert "enqueued on:" in readme and '"editor.codeLens": false' in readme
