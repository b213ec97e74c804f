"""``dbos-lsp rule CODE``: one rule's metadata and documentation, like ``ruff rule``.

The metadata comes from the rule registry (``@rule(...)``), the documentation is the
rule's section of its skill document, printed as the markdown it is written in.
``dbos-lsp rule --all`` lists every rule, one per line.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from dbos_lsp.rules import Rule

EXIT_OK = 0
EXIT_USAGE = 2

_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING_RE = re.compile(r"^#{1,3}\s")


def add_parser(sub: argparse._SubParsersAction) -> None:
    rule = sub.add_parser(
        "rule",
        help="explain a rule: its severity, versions, scope, fix and documentation",
        description="Print a rule's metadata and its documentation (markdown).",
    )
    rule.add_argument("code", nargs="?", metavar="CODE", help="a rule code (DBOS101) or name (async-sync-dbos-call)")
    rule.add_argument("--all", action="store_true", help="list every rule, one per line")


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from dbos_lsp.rules import REGISTRY, lookup

    if args.all:
        for code in sorted(REGISTRY):
            r = REGISTRY[code]
            stdout.write(f"{r.code}  {r.name}  ({r.severity_text()}; {r.versions_text()}): {r.summary}\n")
        return EXIT_OK
    if not args.code:
        stderr.write("dbos-lsp rule: give a rule code or name, or --all\n")
        return EXIT_USAGE
    found = lookup(args.code)
    if found is None:
        stderr.write(f"dbos-lsp rule: unknown rule {args.code!r} (`dbos-lsp rule --all` lists them)\n")
        return EXIT_USAGE
    stdout.write(render(found))
    return EXIT_OK


def render(rule: Rule) -> str:
    """The metadata block, then the rule's skill section (or its summary without one)."""
    from dbos_lsp.knowledge.skills import load_library

    doc = load_library().docs.get(rule.skill)
    section = rule_section(Path(doc.path).read_text(encoding="utf-8"), rule.code) if doc and doc.path else None
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        rule.summary,
        "",
        f"- Severity: {rule.severity_text()}",
        f"- DBOS versions: {rule.versions_text()}",
        f"- Scope: {rule.scope}",
        f"- Fix: {rule.fix}",
        f"- Skill document: {rule.skill}",
        "",
    ]
    if section:
        lines += [section, ""]
    return "\n".join(lines)


def rule_section(markdown: str, code: str) -> str | None:
    """The body of the ``### CODE name`` section, up to the next heading (not counting
    ``#`` lines inside code blocks); None when the document has no such section."""
    out: list[str] | None = None
    fence: str | None = None
    for line in markdown.replace("\r\n", "\n").split("\n"):
        m = _FENCE_RE.match(line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
            if not line.strip().strip(fence[0]):
                fence = None
        elif fence is None and _HEADING_RE.match(line):
            if out is not None:
                break
            if re.match(rf"^### {code}\b", line):
                out = []
                continue
        if out is not None:
            out.append(line)
    return "\n".join(out).strip() if out is not None else None
