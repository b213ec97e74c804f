"""Version-gated rules: the DBOS 3 upgrade rules (DBOS601-DBOS610) fire only when the
project targets DBOS 3.0 or later, and DBOS611 changes meaning at DBOS 3.4."""

from __future__ import annotations

import ast
import textwrap

import pytest

from dbos_lsp.analysis.findings import Severity
from dbos_lsp.analysis.settings import Settings
from dbos_lsp.analysis.source_text import apply_edits
from dbos_lsp.engine.pipeline import analyze

# A DBOS 2.x application touching every API that DBOS 3 removed or renamed.
LEGACY_APP = textwrap.dedent(
    """\
    import os
    from datetime import datetime

    from dbos import DBOS, DBOSConfig, Queue
    from dbos._admin_server import AdminServer
    from fastapi import FastAPI
    from sqlalchemy import text

    app = FastAPI()
    config: DBOSConfig = {
        "name": "legacy-app",
        "database_url": os.environ["DATABASE_URL"],
        "admin_port": 3001,
    }
    DBOS(config=config, fastapi=app)
    reports = Queue("reports", concurrency=2, priority_enabled=True)


    @DBOS.transaction()
    def save_report(report_id: str) -> None:
        DBOS.sql_session.execute(text("SELECT 1"))


    @DBOS.scheduled("0 * * * *")
    @DBOS.workflow()
    def hourly(scheduled_time: datetime, actual_time: datetime) -> None:
        save_report("hourly")


    class Mailer:
        pass


    def main() -> None:
        DBOS.launch()
        DBOS.register_instance(Mailer())
        DBOS.register_queue("exports", concurrency=3)
        print(AdminServer)
    """
)

UPGRADE_CODES = {f"DBOS6{n:02d}" for n in range(1, 11)}


def _codes(text: str, version: str | None) -> set[str]:
    settings = Settings(dbos_version=version) if version else Settings()
    analysis = analyze(text, settings)
    assert analysis.rule_errors == []
    return {f.code for f in analysis.findings if f.code.startswith("DBOS6")}


@pytest.mark.parametrize("version", ["3.4", "3.0", None])
def test_legacy_code_gives_every_upgrade_finding_on_dbos_3(version):
    assert _codes(LEGACY_APP, version) == UPGRADE_CODES


@pytest.mark.parametrize("version", ["2.31", "2.0"])
def test_legacy_code_is_clean_on_dbos_2(version):
    assert _codes(LEGACY_APP, version) == set()


def test_upgrade_messages_name_the_assumed_version():
    analysis = analyze(LEGACY_APP, Settings(dbos_version="3.1"))
    upgrade = [f for f in analysis.findings if f.code in UPGRADE_CODES]
    assert upgrade
    assert all("DBOS 3.0" in f.message and f.message.endswith(" (DBOS 3.1)") for f in upgrade)


# ----- DBOS611 ---------------------------------------------------------------------------

PATCHING_APP = textwrap.dedent(
    """\
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {{"name": "patch-app"{extra}}}
    DBOS(config=config)


    @DBOS.workflow()
    def checkout() -> None:
        if DBOS.patch("wallet"):
            pass
        DBOS.deprecate_patch("old-flow")
    {tail}"""
)


def _patching(extra: str = "", tail: str = "", version: str | None = None):
    text = PATCHING_APP.format(extra=extra, tail=tail)
    settings = Settings(dbos_version=version) if version else Settings()
    analysis = analyze(text, settings)
    assert analysis.rule_errors == []
    return [f for f in analysis.findings if f.code == "DBOS611"]


@pytest.mark.parametrize("version", ["3.3", "3.0", "2.31", "2.7"])
def test_patch_without_enable_patching_is_an_error_before_3_4(version):
    found = _patching(version=version)
    assert [(f.span.start.line + 1, f.severity) for f in found] == [(9, Severity.ERROR), (11, Severity.ERROR)]
    assert "enable_patching" in found[0].message and version in found[0].message


@pytest.mark.parametrize("version", ["3.4", "3.5", None])
def test_patch_without_enable_patching_is_fine_from_3_4(version):
    assert _patching(version=version) == []


def test_patching_did_not_exist_before_2_7():
    assert _patching(version="2.6") == []


@pytest.mark.parametrize("value", ["True", "1"])
def test_enable_patching_true_satisfies_old_versions(value):
    assert _patching(extra=f', "enable_patching": {value}', version="3.2") == []


def test_enable_patching_false_is_an_error_before_3_4():
    assert len(_patching(extra=', "enable_patching": False', version="3.2")) == 2


@pytest.mark.parametrize(
    "extra, tail",
    [
        (", **BASE", ""),  # merged from elsewhere
        (', "enable_patching": FLAG', ""),  # not a literal
        ("", 'config["enable_patching"] = True\n'),  # set after the literal
        ("", "config.update(EXTRA)\n"),  # merged after the literal
    ],
)
def test_unsure_configs_stay_silent(extra, tail):
    assert _patching(extra=extra, tail=tail, version="3.2") == []


def test_no_config_literal_stays_silent():
    text = textwrap.dedent(
        """\
        from dbos import DBOS


        @DBOS.workflow()
        def checkout() -> None:
            if DBOS.patch("wallet"):
                pass
        """
    )
    assert [f for f in analyze(text, Settings(dbos_version="3.2")).findings if f.code == "DBOS611"] == []


@pytest.mark.parametrize("version", ["3.4", None])
def test_enable_patching_key_is_information_from_3_4(version):
    found = _patching(extra=', "enable_patching": True', version=version)
    assert [(f.span.start.line + 1, f.severity) for f in found] == [(3, Severity.INFORMATION)]
    assert "deprecated" in found[0].message


def test_severity_override_still_applies_to_dbos611():
    text = PATCHING_APP.format(extra=', "enable_patching": True', tail="")
    analysis = analyze(text, Settings(dbos_version="3.4", severity={"DBOS611": Severity.WARNING}))
    assert [f.severity for f in analysis.findings if f.code == "DBOS611"] == [Severity.WARNING]


# ----- DBOS605 with both keywords ----------------------------------------------------------


def test_concurrency_with_global_concurrency_has_no_rename():
    text = textwrap.dedent(
        """\
        from dbos import DBOS


        def declare() -> None:
            DBOS.register_queue("q", concurrency=1, global_concurrency=2)
        """
    )
    found = [f for f in analyze(text, Settings(dbos_version="3.4")).findings if f.code == "DBOS605"]
    assert len(found) == 1 and found[0].fix is None
    assert "ValueError" in found[0].message


# ----- argument and dict-entry deletion ------------------------------------------------------


@pytest.mark.parametrize(
    "before, after",
    [
        ("DBOS(config=c, fastapi=app)", "DBOS(config=c)"),
        ("DBOS(fastapi=app, config=c)", "DBOS(config=c)"),
        ("DBOS(fastapi=app)", "DBOS()"),
        ("DBOS(fastapi=app,)", "DBOS()"),
        ("DBOS(config=c, fastapi=app,)", "DBOS(config=c,)"),
        ("DBOS(config=c, fastapi=app, conductor_key=k)", "DBOS(config=c, conductor_key=k)"),
        ("DBOS(\n    config=c,\n    fastapi=app,\n)", "DBOS(\n    config=c,\n)"),
        ("DBOS(\n    fastapi=app,\n    config=c,\n)", "DBOS(\n    config=c,\n)"),
        ("DBOS(\n    config=c,\n    fastapi=app\n)", "DBOS(\n    config=c\n)"),
        ("DBOS(config=c,\n     fastapi=app)", "DBOS(config=c)"),
        ("DBOS(config=(c), fastapi=(app))", "DBOS(config=(c))"),
        ("DBOS(config=c, **kw, fastapi=app)", "DBOS(config=c, **kw)"),
        ("x = [DBOS(config=c, fastapi=app), 1]", "x = [DBOS(config=c), 1]"),
    ],
)
def test_removing_a_keyword_argument_keeps_valid_code(before, after):
    text = f"from dbos import DBOS\n{before}\n"
    found = [f for f in analyze(text).findings if f.code == "DBOS607"]
    assert len(found) == 1 and found[0].fix is not None
    fixed = apply_edits(text, found[0].fix.edits)
    ast.parse(fixed)
    assert fixed == f"from dbos import DBOS\n{after}\n"


@pytest.mark.parametrize(
    "before, after",
    [
        ('{"name": "app", "admin_port": 1}', '{"name": "app"}'),
        ('{"admin_port": 1, "name": "app"}', '{"name": "app"}'),
        ('{"admin_port": (1)}', "{}"),
        ('{"name": "app", "admin_port": (1)}', '{"name": "app"}'),
        ('{**base, "admin_port": 1}', "{**base}"),
        ('{"admin_port": 1, **base}', "{**base}"),
        ('{\n    "name": "app",\n    "admin_port": (\n        1\n    ),\n}', '{\n    "name": "app",\n}'),
        ('{\n    "name": "app",\n    "admin_port": 1  # old\n}', '{\n    "name": "app"\n}'),
    ],
)
def test_removing_a_config_entry_keeps_valid_code(before, after):
    head = "from dbos import DBOSConfig\nconfig: DBOSConfig = "
    text = f"{head}{before}\n"
    found = [f for f in analyze(text).findings if f.code == "DBOS608"]
    assert len(found) == 1 and found[0].fix is not None
    fixed = apply_edits(text, found[0].fix.edits)
    ast.parse(fixed)
    assert fixed == f"{head}{after}\n"
