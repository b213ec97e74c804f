"""scripts/new_rule.py: the stubs it prints are valid input for the registry, the fixture
test and the skill loader, so a new rule starts from something the tooling accepts."""

from __future__ import annotations

import ast
import importlib.util
import inspect
from pathlib import Path

import pytest

from dbos_lsp.analysis.findings import Severity
from dbos_lsp.knowledge.skills import parse_skill_document
from dbos_lsp.rules.registry import rule
from test_rule_fixtures import parse_expectations

ROOT = Path(__file__).resolve().parents[1]
CODE, NAME = "DBOS299", "workflow-scaffold-example"


def _load_script():
    spec = importlib.util.spec_from_file_location("new_rule", ROOT / "scripts" / "new_rule.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


new_rule = _load_script()


def _decorator_call(stub: str) -> tuple[ast.FunctionDef, ast.Call]:
    (fn,) = [n for n in ast.parse(stub).body if isinstance(n, ast.FunctionDef)]
    (call,) = fn.decorator_list
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "rule"
    return fn, call


def _value(node: ast.expr) -> object:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Severity":
        return Severity[node.attr]
    return ast.literal_eval(node)


@pytest.mark.parametrize("fix", new_rule.FIXES)
def test_rule_stub_binds_to_the_registry_signature(fix: str) -> None:
    fn, call = _decorator_call(new_rule.rule_stub(CODE, NAME, "pattern-sleep", "error", fix))
    args = [_value(a) for a in call.args]
    kwargs = {k.arg: _value(k.value) for k in call.keywords if k.arg is not None}
    bound = inspect.signature(rule).bind(*args, **kwargs)  # raises TypeError on a stale stub
    assert bound.arguments["code"] == CODE and bound.arguments["name"] == NAME
    assert bound.arguments["severity"] is Severity.ERROR and bound.arguments["fix"] == fix
    assert fn.name == "workflow_scaffold_example"
    assert [a.arg for a in fn.args.args] == ["ctx"]


def test_rule_stub_is_a_generator_that_reports_nothing_yet() -> None:
    fn, _ = _decorator_call(new_rule.rule_stub(CODE, NAME, "pattern-sleep"))
    assert any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(fn))


def test_fixture_stub_parses_and_expects_one_pinned_finding() -> None:
    text = new_rule.fixture_stub(CODE, NAME)
    ast.parse(text)
    (expectation,) = parse_expectations(text)
    assert expectation.code == CODE and expectation.pattern is not None
    assert expectation.span is not None
    line, col, end_line, end_col = expectation.span
    assert (line, end_line) == (expectation.line, expectation.line)
    assert text.splitlines()[line - 1][col - 1 : end_col - 1] == "pass"
    assert new_rule.fixture_path(CODE, NAME) == Path("tests/fixtures/rules/dbos299_workflow_scaffold_example.py")


@pytest.mark.parametrize("fix, kind", [("none", "none"), ("safe", "safe"), ("unsafe", "unsafe"), ("mixed", "safe")])
def test_skill_section_has_what_the_loader_needs(fix: str, kind: str) -> None:
    document = f"---\ntitle: Scaffold\nrules: {CODE}\n---\n\n## Scaffold\n\nIntro.\n\n"
    doc = parse_skill_document(document + new_rule.skill_section(CODE, NAME, fix), "scaffold")
    section = doc.rule_docs[CODE]
    assert section.name == NAME and section.fix_kind == kind
    assert len(section.incorrect) == 1 and len(section.correct) == 1
    for example in section.examples:
        assert example.language == "python"
        ast.parse(example.code)


def _tree(tmp_path: Path) -> Path:
    (tmp_path / new_rule.RULES_DIR).mkdir(parents=True)
    (tmp_path / new_rule.RULES_DIR / "steps.py").write_text('"""Steps."""\n', encoding="utf-8")
    (tmp_path / new_rule.FIXTURES_DIR).mkdir(parents=True)
    (tmp_path / new_rule.SKILLS_DIR).mkdir(parents=True)
    existing = (ROOT / new_rule.SKILLS_DIR / "pattern-sleep.md").read_text(encoding="utf-8")
    (tmp_path / new_rule.SKILLS_DIR / "pattern-sleep.md").write_text(existing, encoding="utf-8")
    return tmp_path


def test_write_adds_the_three_stubs(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    argv = [CODE, NAME, "--family", "steps", "--skill", "pattern-sleep", "--write", "--root", str(root)]
    assert new_rule.main(argv) == 0

    module = (root / new_rule.RULES_DIR / "steps.py").read_text(encoding="utf-8")
    assert module.startswith('"""Steps."""\n')
    ast.parse(module)
    ast.parse((root / new_rule.fixture_path(CODE, NAME)).read_text(encoding="utf-8"))
    text = (root / new_rule.SKILLS_DIR / "pattern-sleep.md").read_text(encoding="utf-8")
    doc = parse_skill_document(text, "pattern-sleep")
    assert doc.rules == ("DBOS203", CODE)
    assert set(doc.rule_docs) == {"DBOS203", CODE}
    assert doc.reference is not None and text.rstrip().splitlines()[-1].startswith("Reference:")

    with pytest.raises(SystemExit):  # the fixture exists now: never overwrite
        new_rule.main(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["DBOS203", NAME, "--family", "steps", "--skill", "pattern-sleep"],  # code taken
        [CODE, "workflow-nondurable-sleep", "--family", "steps", "--skill", "pattern-sleep"],  # name taken
        [CODE, "Not_Kebab", "--family", "steps", "--skill", "pattern-sleep"],
        [CODE, NAME, "--family", "registry", "--skill", "pattern-sleep"],
        [CODE, NAME, "--family", "steps", "--skill", "no-such-document"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        new_rule.main(argv)
    assert capsys.readouterr().out == ""  # nothing printed as if it were usable
