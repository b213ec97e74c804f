"""Scaffold a new rule: the ``@rule`` stub, a fixture and a skill-document section.

Usage::

    python scripts/new_rule.py DBOS207 workflow-reads-env --family determinism --skill workflow-determinism
    python scripts/new_rule.py ... --write   # append/write the three stubs instead of printing them

Every stub is meant to fail the tests until it is filled in: the fixture expects a finding
on a placeholder line and the skill examples are placeholders, so a half-done rule cannot
pass ``pytest`` by accident.  See CONTRIBUTING.md, "Adding a rule".
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from dbos_lsp.rules import BY_NAME, REGISTRY  # noqa: E402
from dbos_lsp.rules.registry import rule as _rule  # noqa: E402

CODE_RE = re.compile(r"^DBOS\d{3}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")  # what the skill loader's section heading accepts
SEVERITIES = ("error", "warning", "information", "hint")
FIXES = ("none", "safe", "unsafe", "mixed")
RULES_DIR = Path("server/dbos_lsp/rules")
FIXTURES_DIR = Path("tests/fixtures/rules")
SKILLS_DIR = Path("skills/dbos-python/references")
_NOT_FAMILIES = {"__init__", "registry"}


def families(root: Path = ROOT) -> list[str]:
    return sorted(p.stem for p in (root / RULES_DIR).glob("*.py") if p.stem not in _NOT_FAMILIES)


def function_name(name: str) -> str:
    return name.replace("-", "_")


def fixture_path(code: str, name: str) -> Path:
    return FIXTURES_DIR / f"{code.lower()}_{function_name(name)}.py"


def _optional_arguments() -> str:
    """The ``@rule`` keywords the stub leaves at their defaults, read from the registry so
    the hint follows its current signature."""
    params = inspect.signature(_rule).parameters.values()
    optional = [p.name for p in params if p.default is not inspect.Parameter.empty and p.name != "fix"]
    text = "Optional, see rules/registry.py: " + ", ".join(optional)
    return "\n".join(f"    # {line}" for line in textwrap.wrap(text, 90))


def rule_stub(code: str, name: str, skill: str, severity: str = "warning", fix: str = "none") -> str:
    """A check function to append to ``rules/<family>.py`` (which already imports
    ``Iterator``, ``Finding``, ``Severity``, ``RuleContext`` and ``rule``)."""
    return f'''

@rule(
    "{code}",
    "{name}",
    Severity.{severity.upper()},
    "{skill}",
    "TODO: one line for the README table: what is wrong and what to use instead",
    fix="{fix}",
{_optional_arguments()}
)
def {function_name(name)}(ctx: RuleContext) -> Iterator[Finding]:
    """TODO: what the rule reports, and the cases it deliberately leaves alone."""
    for site in ctx.model.calls:
        fn = site.fn  # the function holding the call (None at module level)
        if fn is None:  # TODO: the precise condition; a false finding costs more than a missed one
            continue
        # TODO: yield ctx.finding(site.node, "message", fix_title=..., edits=[...])
    yield from ()
'''


def fixture_stub(code: str, name: str) -> str:
    """A fixture with one expected finding (on a placeholder) and one silent case."""
    return f'''"""{code} {name}: TODO: what this fixture covers."""

from dbos import DBOS


@DBOS.workflow()
def flagged() -> None:
    # TODO: replace ``pass`` with code the rule reports, and pin the span and message.
    pass  # expect: {code}@5-9 "TODO: a regular expression for the message"


@DBOS.workflow()
def not_flagged() -> None:
    pass  # ok: TODO: a near miss the rule must stay silent on
'''


def skill_section(code: str, name: str, fix: str = "none") -> str:
    """A section for ``skills/dbos-python/references/<skill>.md`` in the format
    ``knowledge/skills.py`` parses: heading, explanation, labelled examples, ``Fix:``."""
    fix_kind = "safe" if fix == "mixed" else fix  # "mixed": safe where a fix is offered
    fence = "```"
    return f"""### {code} {name}

TODO: what goes wrong at run time (in a recovered or replayed workflow), and when the rule stays silent.

**Incorrect (TODO: why it breaks):**

{fence}python
from dbos import DBOS


@DBOS.workflow()
def example() -> None:
    pass  # TODO: code the rule reports
{fence}

**Correct (TODO: why it is fine):**

{fence}python
from dbos import DBOS


@DBOS.workflow()
def example() -> None:
    pass  # TODO: the same, written correctly
{fence}

Fix: {fix_kind}. TODO: what the quick fix does, or why there is none.
"""


def add_to_document(text: str, code: str, section: str) -> str:
    """``text`` with ``section`` before the closing ``Reference:`` line (or at the end) and
    ``code`` added to the frontmatter's one-line ``rules:`` list."""
    rules = re.search(r"^rules:[ \t]*(.*)$", text, re.MULTILINE)
    if rules is None:
        raise SystemExit("the skill document has no one-line 'rules:' frontmatter entry; add the section by hand")
    listed = [c.strip() for c in rules.group(1).strip("[]").split(",") if c.strip()]
    line = "rules: " + ", ".join(sorted([*listed, code]))
    text = text[: rules.start()] + line + text[rules.end() :]
    reference = re.search(r"^Reference:.*\Z", text.rstrip("\n"), re.MULTILINE)
    if reference is None:
        return text.rstrip("\n") + "\n\n" + section
    head = text[: reference.start()].rstrip("\n")
    return head + "\n\n" + section + "\n" + text[reference.start() :]


def _check(args: argparse.Namespace, root: Path) -> None:
    problems = []
    if not CODE_RE.match(args.code):
        problems.append(f"code {args.code!r} is not DBOSnnn")
    elif args.code in REGISTRY:
        problems.append(f"{args.code} is already {REGISTRY[args.code].name}")
    if not NAME_RE.match(args.name):
        problems.append(f"name {args.name!r} is not kebab-case (a-z, 0-9, '-')")
    elif args.name in BY_NAME:
        problems.append(f"name {args.name!r} is already {BY_NAME[args.name].code}")
    if args.family not in families(root):
        problems.append(f"family {args.family!r} is not one of {', '.join(families(root))}")
    if not (root / SKILLS_DIR / f"{args.skill}.md").is_file():
        problems.append(f"no skill document {SKILLS_DIR / (args.skill + '.md')} (create it first, with frontmatter)")
    if problems:
        raise SystemExit("new_rule.py: " + "; ".join(problems))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("code", help="DBOSnnn, unused")
    ap.add_argument("name", help="kebab-case rule name, unused")
    ap.add_argument("--family", required=True, help="rule module in server/dbos_lsp/rules/, e.g. determinism")
    ap.add_argument("--skill", required=True, help="skill document id, e.g. workflow-determinism")
    ap.add_argument("--severity", choices=SEVERITIES, default="warning")
    ap.add_argument("--fix", choices=FIXES, default="none", help="what the fix promises (as in @rule)")
    ap.add_argument("--write", action="store_true", help="write the stubs into the tree instead of printing them")
    ap.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # for the scaffold's own test
    args = ap.parse_args(argv)
    root: Path = args.root
    _check(args, root)

    stub = rule_stub(args.code, args.name, args.skill, args.severity, args.fix)
    fixture = fixture_stub(args.code, args.name)
    section = skill_section(args.code, args.name, args.fix)
    module = root / RULES_DIR / f"{args.family}.py"
    fixture_file = root / fixture_path(args.code, args.name)
    document = root / SKILLS_DIR / f"{args.skill}.md"
    if not args.write:
        print(f"# ---- append to {module.relative_to(root)}{stub}")
        print(f"# ---- {fixture_file.relative_to(root)}\n{fixture}")
        print(f"<!-- ---- add to {document.relative_to(root)} (and {args.code} to its 'rules:' list) -->\n{section}")
        return 0
    if fixture_file.exists():
        raise SystemExit(f"new_rule.py: {fixture_file} exists")
    new_document = add_to_document(document.read_text(encoding="utf-8"), args.code, section)
    with module.open("a", encoding="utf-8") as f:
        f.write(stub)
    fixture_file.write_text(fixture, encoding="utf-8")
    document.write_text(new_document, encoding="utf-8")
    for path in (module, fixture_file, document):
        print(f"wrote {path}")
    print("next: fill in the TODOs, then python scripts/gen_rule_table.py and python -m pytest -q")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
