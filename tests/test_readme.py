"""README.md promises: its rule table matches the registry, and .ci/run runs its test command."""

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
