"""`dbos-lsp check` and the language server report the same findings on one project.

The tree has findings of every rule family (DBOS1xx through DBOS9xx), one that needs
jedi (a DBOS class re-exported from a user module), a workflow-name collision across
files (DBOS404) and an excluded folder that would collide too.  The CLI's JSON output
and the server's diagnostics, for every file, must give the same
(path, line, column, code) set.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from conftest import CONFIG, server_env
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_workspace import start

from client_profiles import PULL_REFRESH

pytest.importorskip("dbos")  # the jedi finding resolves through the SDK's sources

ORDERS = """\
import random
import time

from dbos import DBOS

from .setup_dbos import DBOS as D


@DBOS.workflow()
async def checkout() -> None:
    DBOS.sleep(3)


@D.workflow()
async def ship() -> None:
    D.sleep(3)


@DBOS.workflow()
def process(order_id: str) -> float:
    return time.time() + random.random()


@DBOS.step()
def charge() -> None:
    DBOS.start_workflow(process, "x")


DBOS.register_queue("q", concurrency=2, global_concurrency=3)
x = 1  # noqa: DBOS101
"""

PAYMENTS = """\
from dbos import DBOS


@DBOS.workflow()
def process(payment_id: str) -> str:
    return payment_id


@DBOS.transaction()
def record() -> None:
    pass
"""

FILES = {
    "pyproject.toml": '[project]\nname = "shop"\n\n[tool.dbos-lsp]\nexclude = ["generated"]\n',
    "shop/__init__.py": "",
    "shop/setup_dbos.py": 'from dbos import DBOS\n\n__all__ = ["DBOS"]\n',
    "shop/orders.py": ORDERS,
    "shop/payments.py": PAYMENTS,
    "generated/stub.py": PAYMENTS,  # excluded: neither checked nor a collision
    "generated/orders_copy.py": ORDERS,
}
PYTHON_FILES = sorted(name for name in FILES if name.endswith(".py"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def cli_json(root: Path) -> list[dict]:
    """``dbos-lsp check --format json .`` in ``root``, which has findings (exit 1)."""
    proc = subprocess.run(
        [sys.executable, "-m", "dbos_lsp.cli.main", "check", "--format", "json", "."],
        cwd=root,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    return json.loads(proc.stdout)


def cli_findings(root: Path) -> set[tuple[str, int, int, str]]:
    return {(f["path"], f["line"] - 1, f["column"] - 1, f["code"]) for f in cli_json(root)}


@pytest_lsp.fixture(params=["visual-studio-code", PULL_REFRESH], config=CONFIG)
async def parity_client(request, tree: Path, lsp_client: LanguageClient):
    lsp_client.session = await start(lsp_client, request.param, tree)
    lsp_client.root = tree
    yield
    await lsp_client.shutdown_session()


async def test_cli_and_server_agree(parity_client: LanguageClient) -> None:
    session, root = parity_client.session, parity_client.root
    expected = cli_findings(root)
    # Every family, jedi and the cross-file collision are in the set being compared.
    assert {code[:5] for *_, code in expected} >= {"DBOS1", "DBOS2", "DBOS3", "DBOS4", "DBOS5", "DBOS6", "DBOS9"}
    assert ("shop/orders.py", 15, 4, "DBOS101") in expected  # only jedi knows D is DBOS
    assert {p for p, *_, c in expected if c == "DBOS404"} == {"shop/orders.py", "shop/payments.py"}
    got: set[tuple[str, int, int, str]] = set()
    for name in PYTHON_FILES:
        uri = session.open_file(root / name)
        for d in await session.diagnostics(uri, timeout=30.0):
            got.add((name, d.range.start.line, d.range.start.character, str(d.code)))
    assert got == expected
    assert all(m.type != types.MessageType.Error for m in session.client.log_messages)


# ----- every rule code: the rule fixtures as one project --------------------------------------

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "rules").glob("*.py"))


def cli_report(root: Path) -> set[tuple[str, int, int, int, int, str, str]]:
    return {
        (f["path"], f["line"] - 1, f["column"] - 1, f["end_line"] - 1, f["end_column"] - 1, f["code"], f["message"])
        for f in cli_json(root)
    }


@pytest.fixture
def fixture_tree(tmp_path: Path) -> Path:
    root = tmp_path / "fx"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "fx"\n', encoding="utf-8")
    for fixture in FIXTURES:
        (root / "app" / fixture.name).write_text(fixture.read_text(encoding="utf-8"), encoding="utf-8")
    return root


@pytest_lsp.fixture(config=CONFIG)
async def fixture_client(fixture_tree: Path, lsp_client: LanguageClient):
    lsp_client.session = await start(lsp_client, PULL_REFRESH, fixture_tree)
    lsp_client.root = fixture_tree
    yield
    await lsp_client.shutdown_session()


async def test_cli_and_server_agree_on_every_rule_code(fixture_client: LanguageClient) -> None:
    """Range, code and message of every finding, for every rule code the fixtures show
    (the fixtures are ASCII, so the client's position encoding does not shift columns)."""
    session, root = fixture_client.session, fixture_client.root
    expected = cli_report(root)
    fixture_codes = {f.name[:7].upper() for f in FIXTURES}
    assert {code for *_, code, _msg in expected} >= fixture_codes
    got: set[tuple[str, int, int, int, int, str, str]] = set()
    for fixture in FIXTURES:
        name = f"app/{fixture.name}"
        uri = session.open_file(root / name)
        for d in await session.diagnostics(uri, timeout=30.0):
            r = d.range
            got.add((name, r.start.line, r.start.character, r.end.line, r.end.character, str(d.code), d.message))
    assert sorted(got - expected) == [] and sorted(expected - got) == []
