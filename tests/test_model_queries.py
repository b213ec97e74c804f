"""Memoized model queries (``analysis/queries.py``) and what a statement view keeps of them."""

import ast
import pathlib

import pytest

from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.analysis.queries import model_query
from dbos_lsp.engine.incremental import statement_view
from dbos_lsp.rules import toolkit

SOURCE = """\
from dbos import DBOS

@DBOS.workflow()
def first():
    DBOS.sleep(1)

@DBOS.workflow()
def second():
    DBOS.recv("topic")
    first()

if __name__ == "__main__":
    second()
"""


def _model(text: str = SOURCE) -> ModuleModel:
    return ModuleModel(ast.parse(text), text.splitlines())


def test_a_query_is_answered_once_and_kept_in_the_memo():
    model = _model()
    calls = model.api_calls()
    assert model.api_calls() is calls
    assert model.api_calls.query in model.memo  # type: ignore[attr-defined]
    assert {method for _site, _cls, method in calls} == {"workflow", "sleep", "recv"}


def test_a_statement_view_drops_statement_answers_and_keeps_module_answers():
    model = _model()
    model.api_calls()
    toolkit.loaders(model)
    main_called = model.main_guard_functions()
    view = statement_view(model, 1)  # ``def first``
    kept = set(view.memo)
    assert model.main_guard_functions.query in kept  # type: ignore[attr-defined]
    assert model.api_calls.query not in kept  # type: ignore[attr-defined]
    assert toolkit.loaders.query not in kept  # type: ignore[attr-defined]
    assert view.main_guard_functions() is main_called
    # Asked again, the view answers for its own statement only.
    assert [method for _site, _cls, method in view.api_calls()] == ["workflow", "sleep"]
    assert "first" not in toolkit.loaders(view)
    assert "first" in toolkit.loaders(model)
    # The whole model's answers are untouched.
    assert {method for _site, _cls, method in model.api_calls()} == {"workflow", "sleep", "recv"}


def test_an_unknown_scope_is_refused():
    with pytest.raises(ValueError):
        model_query("project")  # type: ignore[arg-type]


def test_no_rule_module_writes_the_model_dict():
    rules = pathlib.Path(toolkit.__file__).parent
    offenders = [p.name for p in rules.glob("*.py") if "__dict__" in p.read_text(encoding="utf-8")]
    assert offenders == []
