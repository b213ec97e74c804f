"""The settings table in README.md and clients/vscode/README.md, and the VS Code extension's
contributed settings, agree with the settings code (server/dbos_lsp/analysis/settings.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dbos_lsp.analysis.settings import Settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_JSON = ROOT / "clients" / "vscode" / "package.json"
# Settings of the extension itself (how to find and start the server); the server ignores them.
EXTENSION_ONLY = {"dbos.path", "dbos.interpreter", "dbos.importStrategy", "dbos.trace.server"}


def _generator():
    spec = importlib.util.spec_from_file_location("gen_settings_table", ROOT / "scripts" / "gen_settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen = _generator()
ROWS = gen.rows()


def _contributed() -> dict[str, dict]:
    return json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["contributes"]["configuration"]["properties"]


def _json_default(field: dataclasses.Field) -> object:
    value = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    return list(value) if isinstance(value, tuple) else value


def test_readmes_are_generated_from_the_settings_code() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_settings_table.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for readme in gen.READMES:
        text = readme.read_text(encoding="utf-8")
        assert text.count(gen.BEGIN) == 1 and text.count(gen.END) == 1, readme
        for row in ROWS:
            assert f"| `{row.editor}` | {f'`{row.pyproject}`' if row.pyproject else '—'}" in text, (readme, row.editor)


def test_check_fails_on_a_stale_readme() -> None:
    stale = f"intro\n{gen.BEGIN}\n| `select` | old |\n{gen.END}\nrest\n"
    new = gen.updated(stale)
    assert new != stale and new.startswith("intro\n") and new.endswith(f"{gen.END}\nrest\n")
    assert gen.updated(new) == new


def test_every_user_setting_has_a_row_with_a_meaning() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    internal = {"config_root"}  # set by the server from the pyproject's folder, not by users
    assert {r.field for r in ROWS} == fields - internal
    assert all(r.meaning for r in ROWS), [r.editor for r in ROWS if not r.meaning]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.editor)
def test_row_names_are_accepted_by_the_parser(row) -> None:
    """The camelCase and the kebab-case name both reach the field (a wrong name would be ignored)."""
    field = next(f for f in dataclasses.fields(Settings) if f.name == row.field)
    value = _json_default(field)
    sample = {list: ["DBOS1"], dict: {}, bool: not value, int: 7, str: "full", type(None): "3.4"}[type(value)]
    sample = {"severity": {"DBOS101": "hint"}, "per_file_ignores": {"tests/*": ["DBOS303"]}}.get(row.field, sample)
    for key in (row.editor, row.field.replace("_", "-")):
        parsed, errors = parse_settings({key: sample})
        assert errors == [], (key, errors)
        assert getattr(parsed, row.field) != getattr(Settings(), row.field), key


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.editor)
def test_vscode_contributes_each_server_setting(row) -> None:
    props = _contributed()
    key = f"dbos.{row.editor}"
    assert key in props, f"clients/vscode/package.json does not contribute {key}"
    prop = props[key]
    field = next(f for f in dataclasses.fields(Settings) if f.name == row.field)
    default = _json_default(field)
    assert prop.get("default") == default, (key, prop.get("default"), default)
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    kinds = {list: "array", dict: "object", bool: "boolean", int: "integer", str: "string", type(None): "string"}
    expected = kinds[type(default)]
    assert expected in types, (key, types)
    if expected == "array":
        assert prop.get("items") == {"type": "string"}, key


def test_vscode_contributes_nothing_else() -> None:
    server_keys = {f"dbos.{r.editor}" for r in ROWS}
    extra = set(_contributed()) - server_keys - EXTENSION_ONLY
    assert not extra, f"package.json contributes settings the server does not know: {sorted(extra)}"
    vscode_readme = (ROOT / "clients" / "vscode" / "README.md").read_text(encoding="utf-8")
    for key in EXTENSION_ONLY:
        assert f"| `{key}` |" in vscode_readme, key


def test_keys_a_repository_may_not_set_are_marked(tmp_path: Path) -> None:
    """A `[tool.dbos-lsp]` key the project config drops must not be offered as a pyproject key."""
    from dbos_lsp.project.config import read_tool_table

    for row in ROWS:
        if row.pyproject:
            continue
        with_key = tmp_path / row.field
        with_key.mkdir()
        pyproject = with_key / "pyproject.toml"
        pyproject.write_text(f'[tool.dbos-lsp]\n{row.field.replace("_", "-")} = "x"\n', encoding="utf-8")
        table, errors = read_tool_table(pyproject)
        assert table == {} and errors, (row.field, table, errors)
