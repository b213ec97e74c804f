"""The incremental analyzer re-checks only what a rule's declared scope allows, and
still equals a full analysis.

``@rule(scope="statement")`` lets an edit inside one top-level statement re-run the
rule on that statement alone; a rule that looks further (DBOS610 walks every import
of the module, DBOS304 counts bindings in every function) must not claim it, or each
edited function collects another copy of, or keeps a stale, finding.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.incremental import IncrementalAnalyzer
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.rules import REGISTRY

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "rules").glob("*.py"))


def fingerprint(analysis):
    # In order, so a duplicated finding counts.
    findings = [(f.code, f.span, f.message, f.severity, f.fix) for f in analysis.findings]
    syntax = analysis.syntax_error.span if analysis.syntax_error else None
    return findings, syntax, sorted(analysis.rule_errors)


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Top-level functions and the methods of top-level classes, in order."""
    out = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(stmt)
        elif isinstance(stmt, ast.ClassDef):
            out.extend(s for s in stmt.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return out


def _insert_pass(text: str, index: int) -> tuple[str, int] | None:
    """``pass`` on a new line before the first statement of function ``index``
    (the line below moves down); None when that body starts on the ``def`` line."""
    fn = _functions(ast.parse(text))[index]
    first = fn.body[0]
    line = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", ()))]) - 1
    if line + 1 == fn.lineno:
        return None
    lines = text.split("\n")
    lines.insert(line, " " * first.col_offset + "pass")
    return "\n".join(lines), line


def _change_constant(text: str, index: int) -> str | None:
    """The first integer literal in function ``index``'s body, plus one (same lines)."""
    fn = _functions(ast.parse(text))[index]
    lines = text.split("\n")
    for stmt in fn.body:
        for node in ast.walk(stmt):
            if not (isinstance(node, ast.Constant) and type(node.value) is int and node.lineno == node.end_lineno):
                continue
            line = lines[node.lineno - 1]
            if not line.isascii() or line[node.col_offset : node.end_col_offset] != str(node.value):
                continue
            lines[node.lineno - 1] = line[: node.col_offset] + str(node.value + 1) + line[node.end_col_offset :]
            return "\n".join(lines)
    return None


def _edits(text: str):
    """Texts after edits inside each function in turn, cumulative: a ``pass`` line, a
    changed constant, and the ``pass`` line removed again."""
    for index in range(len(_functions(ast.parse(text)))):
        inserted = _insert_pass(text, index)
        if inserted is not None:
            text, line = inserted
            yield text
        changed = _change_constant(text, index)
        if changed is not None:
            text = changed
            yield text
        if inserted is not None:
            lines = text.split("\n")
            del lines[line]
            text = "\n".join(lines)
            yield text


def _session(text: str, settings: Settings | None = None) -> tuple[int, int]:
    """Edits through one analyzer, each compared with a full analysis; returns
    (edits, how many took the incremental path)."""
    analyzer = IncrementalAnalyzer()
    assert fingerprint(analyzer.analyze(text, settings)) == fingerprint(analyze(text, settings))
    edits = incremental = 0
    for edited in _edits(text):
        result = analyzer.analyze(edited, settings)
        assert fingerprint(result) == fingerprint(analyze(edited, settings)), edited
        edits += 1
        incremental += analyzer.last_was_incremental
    return edits, incremental


# ----- the DBOS610 duplication ------------------------------------------------------------

PRIVATE_IMPORTS = """\
import dbos._fastapi
from dbos import DBOS


@DBOS.workflow()
def first(x: int) -> int:
    return x + 1


@DBOS.workflow()
def second(x: int) -> int:
    from dbos._scheduler_decorator import scheduled

    return x + 2
"""


def test_edits_in_two_functions_do_not_duplicate_dbos610() -> None:
    analyzer = IncrementalAnalyzer()
    assert [f.code for f in analyzer.analyze(PRIVATE_IMPORTS).findings] == ["DBOS610", "DBOS610"]
    text = PRIVATE_IMPORTS
    for old, new in (("x + 1", "x + 10"), ("x + 2", "x + 20")):
        text = text.replace(old, new)
        result = analyzer.analyze(text)
        assert analyzer.last_was_incremental  # the path under test, not the fallback
        assert fingerprint(result) == fingerprint(analyze(text))
        assert [f.code for f in result.findings] == ["DBOS610", "DBOS610"]


def test_dbos304_follows_a_binding_in_another_function() -> None:
    # DBOS304 trusts `TIMEOUT` only while nothing else binds the name, anywhere in the file.
    text = (
        "from dbos import DBOS\n\nTIMEOUT = 30\n\n\n@DBOS.step(timeout_seconds=TIMEOUT)\ndef s():\n    return 1\n\n\n"
        "def other():\n    y = 1\n    return y\n"
    )
    analyzer = IncrementalAnalyzer()
    assert [f.code for f in analyzer.analyze(text).findings] == ["DBOS304"]
    edited = text.replace("    y = 1\n    return y", "    TIMEOUT = 1\n    return TIMEOUT")
    result = analyzer.analyze(edited)
    assert analyzer.last_was_incremental
    assert fingerprint(result) == fingerprint(analyze(edited))
    assert result.findings == []


def test_project_rules_rerun_when_the_index_changes(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    path = str(tmp_path / "a.py")
    other = str(tmp_path / "b.py")

    class Index:
        names: dict[str, list[tuple[str, int]]] = {}

        def resolve_import(self, path, imp):
            return None

        def workflow_registrations(self):
            return {name: [*files, (path, 6)] for name, files in self.names.items()}

        def workflow_registrations_for(self, current):
            return self.names

        def dbos_version(self, path=None):
            return None

    text = "from dbos import DBOS\n\n\n@DBOS.workflow()\ndef process():\n    return 1\n"
    index = Index()
    analyzer = IncrementalAnalyzer()
    assert analyzer.analyze(text, None, index, path).findings == []
    index.names = {"process": [(other, 5)]}  # another file now registers the same name
    result = analyzer.analyze(text, None, index, path)
    assert analyzer.last_was_incremental
    assert fingerprint(result) == fingerprint(analyze(text, None, index, path))
    assert [f.code for f in result.findings] == ["DBOS404"]


def test_statement_scope_rules_are_declared_in_the_registry() -> None:
    statement = {code for code, r in REGISTRY.items() if r.scope == "statement"}
    assert "DBOS101" in statement
    assert not statement & {"DBOS304", "DBOS404", "DBOS610", "DBOS611", "DBOS901"}
    assert REGISTRY["DBOS404"].scope == "project"


# ----- every rule fixture -----------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_incremental_equals_full_on_every_fixture(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    edits, _ = _session(text)
    if _functions(ast.parse(text)):
        assert edits > 0


@pytest.mark.parametrize("version", ["2.9", "3.2"])
def test_incremental_equals_full_on_fixtures_for_older_versions(version: str) -> None:
    # Version-gated rules (DBOS611's 2.x error, DBOS601-DBOS610 off) on the same edits.
    settings = Settings(dbos_version=version)
    for fixture in FIXTURES:
        _session(fixture.read_text(encoding="utf-8"), settings)


def test_fixture_edits_mostly_take_the_incremental_path() -> None:
    edits = incremental = 0
    for fixture in FIXTURES:
        n, k = _session(fixture.read_text(encoding="utf-8"))
        edits += n
        incremental += k
    assert edits >= 100 and incremental >= 0.8 * edits
