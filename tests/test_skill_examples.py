"""Every example in the bundled skill documents must agree with the engine.

An Incorrect example must trigger the rule of its section; a Correct example
must parse and trigger no rule at all.
"""

from __future__ import annotations

import pytest

from dbos_lsp.knowledge.skills import load_library


def _cases():
    cases = []
    for doc in load_library().docs.values():
        for code, rule in sorted(doc.rule_docs.items()):
            counters = {"incorrect": 0, "correct": 0}
            for example in rule.examples:
                counters[example.kind] += 1
                case_id = f"{code}-{example.kind}-{counters[example.kind]}"
                cases.append(pytest.param(code, example, doc.path, id=case_id))
    return cases


CASES = _cases()


def test_examples_were_collected():
    assert len(CASES) >= 20


def _describe(example, path, analysis) -> str:
    found = ", ".join(f"{f.code} line {f.span.start.line + 1}: {f.message}" for f in analysis.findings)
    return f"{path}:{example.line} {example.label!r}: findings [{found}], syntax error {analysis.syntax_error}"


@pytest.mark.parametrize("code, example, path", CASES)
def test_example_matches_engine(code, example, path):
    from dbos_lsp.engine.pipeline import analyze

    assert example.language == "python", f"{path}:{example.line}: examples must be python blocks"
    analysis = analyze(example.code)
    codes = {f.code for f in analysis.findings}
    if example.kind == "incorrect":
        assert code in codes, _describe(example, path, analysis)
    else:
        assert codes == set(), _describe(example, path, analysis)
        assert analysis.syntax_error is None, _describe(example, path, analysis)


def test_sections_agree_with_rule_registry():
    from dbos_lsp.rules import REGISTRY

    library = load_library()
    for doc in library.docs.values():
        for code, section in doc.rule_docs.items():
            rule = REGISTRY.get(code)
            assert rule is not None, f"{doc.id}: {code} has a section but no registered rule"
            assert (section.name, section.doc_id) == (rule.name, rule.skill), code
            # "mixed" means the fix is safe for some findings and absent for others.
            assert section.fix_kind == rule.fix or (rule.fix == "mixed" and section.fix_kind != "none"), code
    for code, rule in REGISTRY.items():
        if rule.skill in library.docs:
            assert library.rule_doc(code) is not None, f"{code} is missing from {rule.skill}.md"
