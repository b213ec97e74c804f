"""Regenerate the rule table in README.md from the rule registry.

Usage: python scripts/gen_rule_table.py [--check]
With --check, exit 1 when README.md is out of date instead of writing it.
Every column comes from ``@rule(...)``: severities and version gates as the engine
applies them, e.g. "error (2.7-3.3), information (3.4+)" and "2.7+".
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from dbos_lsp.rules import REGISTRY  # noqa: E402

BEGIN = "<!-- rule-table:begin -->"
END = "<!-- rule-table:end -->"


def render() -> str:
    rows = [
        "| code | name | severity | fix | DBOS versions | scope | what it catches |",
        "|---|---|---|---|---|---|---|",
    ]
    for code in sorted(REGISTRY):
        r = REGISTRY[code]
        link = f"[{r.skill}](skills/dbos-python/references/{r.skill}.md)"
        rows.append(
            f"| {code} | `{r.name}` | {r.severity_text()} | {r.fix} | {r.versions_text()} | {r.scope} "
            f"| {r.summary} ({link}) |"
        )
    return "\n".join(rows)


def updated(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + render() + "\n" + readme[end:]


def main() -> int:
    path = ROOT / "README.md"
    current = path.read_text(encoding="utf-8")
    new = updated(current)
    if "--check" in sys.argv:
        if new != current:
            print("README.md rule table is out of date: run python scripts/gen_rule_table.py")
            return 1
        return 0
    path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
