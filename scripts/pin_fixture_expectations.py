"""Rewrite the ``# expect:`` comments of the rule fixtures from the engine's current output.

    python scripts/pin_fixture_expectations.py [--check] [FIXTURE.py ...]

Each finding becomes ``CODE@START-END "PATTERN"`` on its start line (the syntax is described
in ``tests/test_rule_fixtures.py``): its code-point column range and a short, stable fragment
of its message (the first clause, without the " (DBOS x.y)" version note that changes with the
newest release).  Only the text of ``# expect:`` comments changes; a finding on a line that
has no such comment, or a comment on a line without findings, is reported and left alone,
since the fixture (or the engine) needs a person's look.  Review the diff before keeping it:
the current output becomes the specification.  ``--check`` changes nothing and exits 1 if
a fixture is not pinned to the current output.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "tests")]

from dbos_lsp.analysis.findings import Finding  # noqa: E402
from dbos_lsp.engine.pipeline import analyze  # noqa: E402
from test_rule_fixtures import EXPECT, FIXTURES, mismatches, parse_expectations, span_of, written  # noqa: E402

FRAGMENT_MAX = 64  # characters of message text, before escaping
_REGEX_SPECIAL = set(".^$*+?{}[]()|\\")
_VERSION_NOTE = re.compile(r" \(DBOS [0-9][0-9.]*\)$")  # finish() appends " (DBOS 3.4)" to version-sensitive messages


def fragment(message: str) -> str:
    """The message's first clause (up to `;` or `. ` outside `code` and 'quotes'), cut to
    FRAGMENT_MAX characters at a space outside quotes."""
    message = _VERSION_NOTE.sub("", message)
    spaces: list[int] = []
    quote, end = None, len(message)
    for i, ch in enumerate(message):
        if quote:
            quote = None if ch == quote else quote
        elif ch == "`" or (ch == "'" and (i == 0 or not message[i - 1].isalnum())):
            quote = ch  # an apostrophe (DBOS's) opens nothing
        elif ch in ";." and message[i + 1 : i + 2] in (" ", ""):
            end = i
            break
        elif ch == " ":
            spaces.append(i)
    clause = message[:end]
    if len(clause) <= FRAGMENT_MAX:
        return clause
    fitting = [i for i in spaces if i <= FRAGMENT_MAX]
    return clause[: fitting[-1]] if fitting else clause


def escape(text: str) -> str:
    """A regex matching ``text`` literally, readable in a comment (only what must be escaped)."""
    return "".join("\\" + ch if ch in _REGEX_SPECIAL or ch == '"' else ch for ch in text)


def expectation(f: Finding) -> str:
    return f'{f.code}{written(span_of(f))} "{escape(fragment(f.message))}"'


def pinned(text: str, findings: list[Finding]) -> tuple[str, list[str]]:
    """(text with every expect comment rewritten, problems for a person to look at)."""
    by_line: dict[int, list[Finding]] = {}
    for f in findings:
        by_line.setdefault(f.span.start.line, []).append(f)
    lines = text.splitlines(keepends=True)
    problems = []
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        m = EXPECT.search(body)
        here = sorted(by_line.pop(i, []), key=lambda f: (f.span.start, f.span.end, f.code))
        if m is None:
            if here:
                problems.append(f"line {i + 1}: {len(here)} finding(s) but no `# expect:` comment")
            continue
        if not here:
            problems.append(f"line {i + 1}: `# expect:` comment but no finding")
            continue
        comment = "# expect: " + ", ".join(expectation(f) for f in here)
        lines[i] = body[: m.start()] + comment + line[len(body) :]
    return "".join(lines), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a fixture is not pinned")
    parser.add_argument("fixtures", nargs="*", type=Path)
    args = parser.parse_args(argv)
    status = 0
    for path in args.fixtures or FIXTURES:
        text = path.read_text(encoding="utf-8")
        before = analyze(text)
        new, problems = pinned(text, before.findings)
        after = analyze(new)
        # Comments must not change what the engine says (a suppression comment nearby could).
        if [(f.code, f.span, f.message) for f in after.findings] != [
            (f.code, f.span, f.message) for f in before.findings
        ]:
            problems.append("rewriting the comments changed the findings; not written")
            new = text
        problems += mismatches(parse_expectations(new), after.findings) if new != text else []
        for p in problems:
            print(f"{path.name}: {p}", file=sys.stderr)
        status |= bool(problems)
        if new != text:
            if args.check:
                print(f"{path.name}: not pinned to the current output", file=sys.stderr)
                status = 1
            else:
                path.write_text(new, encoding="utf-8", newline="")
                print(f"pinned {path.name}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
