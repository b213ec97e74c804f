"""Cross-module resolution through jedi, against the real dbos SDK."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from ci_requirements import require_module
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.project.index import JediProjectIndex

require_module("dbos")


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "shop/__init__.py", "")
    write(
        tmp_path,
        "shop/setup_dbos.py",
        """
        from dbos import DBOS

        __all__ = ["DBOS"]
        """,
    )
    write(
        tmp_path,
        "shop/steps.py",
        """
        from dbos import DBOS, SQLAlchemyDatasource

        ds = SQLAlchemyDatasource.create("postgresql://localhost/shop")


        @DBOS.step()
        async def reserve(item: str) -> bool:
            return True


        @ds.transaction()
        def record(item: str) -> None:
            ds.sql_session()


        def not_a_step() -> None:
            pass
        """,
    )
    return tmp_path


def codes_by_line(text: str, index: JediProjectIndex, path: Path) -> set[tuple[int, str]]:
    analysis = analyze(text, index=index, path=str(path))
    return {(f.span.start.line + 1, f.code) for f in analysis.findings}


def test_dbos_reexported_from_user_module(project: Path) -> None:
    text = textwrap.dedent(
        """\
        from .setup_dbos import DBOS


        @DBOS.workflow()
        async def checkout() -> None:
            DBOS.sleep(3)
        """
    )
    path = write(project, "shop/app.py", text)
    index = JediProjectIndex(str(project))
    assert codes_by_line(text, index, path) == {(6, "DBOS101")}
    # Without the index the name is unknown and the rule stays silent.
    assert analyze(text).findings == []


def test_imported_step_and_transaction_roles(project: Path) -> None:
    text = textwrap.dedent(
        """\
        from dbos import DBOS

        from .steps import not_a_step, record, reserve


        @DBOS.workflow()
        async def checkout() -> None:
            reserve("book")
            record("book")
            not_a_step()
        """
    )
    path = write(project, "shop/app.py", text)
    index = JediProjectIndex(str(project))
    assert codes_by_line(text, index, path) == {(8, "DBOS104"), (9, "DBOS109")}


def test_answers_are_cached_and_invalidated(project: Path) -> None:
    text = "from dbos import DBOS\nfrom .steps import reserve\n\n@DBOS.workflow()\nasync def w():\n    reserve('x')\n"
    path = write(project, "shop/app.py", text)
    index = JediProjectIndex(str(project))
    codes_by_line(text, index, path)
    first = index.calls
    for _ in range(3):
        codes_by_line(text, index, path)
    assert index.calls == first  # cached: keystrokes do not pay for jedi
    steps = project / "shop" / "steps.py"
    steps.write_text(steps.read_text().replace("async def reserve", "def reserve"))
    os.utime(steps, ns=(1, 10**18))
    assert codes_by_line(text, index, path) == set()  # now a sync step: nothing dropped
    assert index.calls == first + 1


def test_no_jedi_when_syntax_answers(project: Path) -> None:
    text = "from dbos import DBOS\n\n@DBOS.workflow()\nasync def w():\n    DBOS.sleep(1)\n"
    path = write(project, "shop/plain.py", text)
    index = JediProjectIndex(str(project))
    assert codes_by_line(text, index, path) == {(5, "DBOS101")}
    assert index.calls == 0


def test_incremental_analysis_sees_changes_in_other_files(project: Path) -> None:
    from dbos_lsp.engine.incremental import IncrementalAnalyzer

    text = "from dbos import DBOS\nfrom .steps import reserve\n\n@DBOS.workflow()\nasync def w():\n    reserve('x')\n"
    path = write(project, "shop/app.py", text)
    index = JediProjectIndex(str(project))
    analyzer = IncrementalAnalyzer()
    first = analyzer.analyze(text, index=index, path=str(path))
    assert [(f.span.start.line + 1, f.code) for f in first.findings] == [(6, "DBOS104")]
    steps = project / "shop" / "steps.py"
    steps.write_text(steps.read_text().replace("async def reserve", "def reserve"))
    os.utime(steps, ns=(1, 10**18))
    again = analyzer.analyze(text, index=index, path=str(path))  # same text, other file changed
    assert again.findings == []
