"""Settings from pyproject.toml, merged with the editor's, and the suppression forms that span files."""

from __future__ import annotations

import textwrap
from pathlib import Path

from dbos_lsp.analysis.settings import Settings
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.project.config import find_pyproject, is_excluded, settings_for

CODE = "from dbos import DBOS\n\n@DBOS.workflow()\nasync def w():\n    DBOS.sleep(1)\n    DBOS.sleep_async(2)\n"


def project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n\n[tool.dbos-lsp]\n" + textwrap.dedent(table))
    src = tmp_path / "src" / "pkg"
    src.mkdir(parents=True)
    path = src / "app.py"
    path.write_text(CODE)
    return path


def codes(path: Path, settings: Settings) -> list[str]:
    return [f.code for f in analyze(path.read_text(), settings, None, str(path)).findings]


def test_pyproject_found_by_walking_up(tmp_path: Path) -> None:
    path = project(tmp_path, 'ignore = ["DBOS104"]\n')
    assert find_pyproject(path) == tmp_path / "pyproject.toml"
    settings, errors = settings_for(str(path))
    assert errors == [] and settings.ignore == ("DBOS104",)
    assert codes(path, settings) == ["DBOS101"]


def test_editor_values_override_the_file(tmp_path: Path) -> None:
    path = project(tmp_path, 'ignore = ["DBOS104"]\nseverity = { DBOS101 = "warning" }\n')
    settings, _ = settings_for(str(path), {"ignore": [], "dbosVersion": "2.9"})
    assert settings.ignore == () and settings.dbos_version == "2.9"
    assert settings.severity["DBOS101"].label == "warning"  # not overridden: kept from the file
    assert codes(path, settings) == ["DBOS104"]  # 2.9 predates the check_async guard


def test_per_file_ignores_and_exclude(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        """
        exclude = ["build/", "src/generated/*"]
        [tool.dbos-lsp.per-file-ignores]
        "src/pkg/*.py" = ["async-missing-await"]
        "tests/*" = ["DBOS1"]
        """,
    )
    settings, errors = settings_for(str(path))
    assert errors == []
    assert codes(path, settings) == ["DBOS101"]
    assert is_excluded(str(tmp_path / "build" / "x.py"), settings)
    assert is_excluded(str(tmp_path / "src" / "generated" / "x.py"), settings)
    assert not is_excluded(str(path), settings)


def test_broken_pyproject_gives_one_message_and_defaults(tmp_path: Path) -> None:
    path = project(tmp_path, 'select = ["DBOS101"\n')  # unterminated array
    settings, errors = settings_for(str(path))
    assert len(errors) == 1 and "pyproject.toml" in errors[0]
    assert settings.select == ()
    settings, errors = settings_for(str(path), editor=["not", "a", "mapping"])  # type: ignore[arg-type]
    assert len(errors) == 2


def test_file_level_suppression() -> None:
    assert [f.code for f in analyze("# dbos: ignore-file\n" + CODE).findings] == []
    assert [f.code for f in analyze("# dbos: ignore-file[DBOS104]\n" + CODE).findings] == ["DBOS101"]
    assert [f.code for f in analyze(CODE + "x = '# dbos: ignore-file'\n").findings] == ["DBOS101", "DBOS104"]
