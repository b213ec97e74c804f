"""Names imported from the user's own modules, resolved syntax first (jedi only where syntax
cannot answer), cached per module version.

A relative import (``from .steps import charge``, ``from ..shared import q``) is resolved
exactly like its absolute twin (``from shop.steps import charge``): the module is found from
the importing file's path and its packages (``__init__.py``), the name read from that
module's model, re-exports and aliases followed.  The index counts its answers (``calls``)
and, separately, its jedi invocations (``jedi_calls``).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from dbos_lsp.analysis.names import PendingImport
from dbos_lsp.engine.pipeline import analyze
from dbos_lsp.project.index import JediProjectIndex


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


STEPS = """\
    from dbos import DBOS


    @DBOS.workflow()
    async def charge(order_id: str) -> str:
        return order_id


    @DBOS.step()
    def reserve(item: str) -> bool:
        return True
    """

SHARED = """\
    from dbos import DBOS, Queue

    q = DBOS.register_queue("orders")
    Durable = DBOS


    def get_queue() -> Queue:
        return q
    """


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """``shop/`` with ``steps``, ``shared`` (a queue and an alias) and a re-exporting
    ``__init__``; the code under test goes in ``shop/orders/``."""
    write(tmp_path, "pyproject.toml", '[project]\nname = "shop"\n')
    write(tmp_path, "shop/__init__.py", "from .steps import charge as charge\nfrom .setup_dbos import DBOS as DBOS\n")
    write(tmp_path, "shop/setup_dbos.py", "from dbos import DBOS\n\n__all__ = ['DBOS']\n")
    write(tmp_path, "shop/steps.py", STEPS)
    write(tmp_path, "shop/shared.py", SHARED)
    write(tmp_path, "shop/orders/__init__.py", "")
    return tmp_path


def findings(root: Path, name: str, text: str, index: JediProjectIndex | None = None) -> list[tuple[int, str]]:
    path = write(root, name, text)
    index = index or JediProjectIndex(str(root))
    analysis = analyze(path.read_text(encoding="utf-8"), index=index, path=str(path))
    assert analysis.rule_errors == []
    return sorted((f.span.start.line + 1, f.code) for f in analysis.findings)


BODY = textwrap.dedent(
    """\

    async def handler() -> None:
        charge("o-1")
        q.enqueue(charge, "o-2")
        Durable.sleep(1)
        get_queue().enqueue(charge, "o-3")
        await q.enqueue_async(charge, "o-4")
    """
)
EXPECTED = [(5, "DBOS104"), (6, "DBOS102"), (7, "DBOS101"), (8, "DBOS102")]


@pytest.mark.parametrize(
    "imports",
    [
        "from ..steps import charge\nfrom ..shared import Durable, get_queue, q\n",
        "from shop.steps import charge\nfrom shop.shared import Durable, get_queue, q\n",
    ],
    ids=["relative", "absolute"],
)
def test_relative_and_absolute_imports_resolve_alike_without_jedi(shop: Path, imports: str) -> None:
    index = JediProjectIndex(str(shop))
    assert findings(shop, "shop/orders/api.py", imports + BODY, index) == EXPECTED
    assert index.jedi_calls == 0  # every answer came from syntax


def test_same_level_relative_import(shop: Path) -> None:
    text = "from .steps import charge\nfrom .shared import Durable, get_queue, q\n" + BODY
    assert findings(shop, "shop/api.py", text) == EXPECTED


def test_clean_counterpart(shop: Path) -> None:
    text = """\
        from ..steps import charge, reserve
        from ..shared import get_queue, q


        async def handler() -> None:
            await charge("o-1")
            await q.enqueue_async(charge, "o-2")
            await get_queue().enqueue_async(charge, "o-3")


        def sync_handler() -> None:
            q.enqueue(charge, "o-4")
            reserve("book")
        """
    assert findings(shop, "shop/orders/api.py", text) == []


@pytest.mark.parametrize(
    "imports, call",
    [
        ("from .. import charge", 'charge("x")'),  # re-exported by shop/__init__.py
        ("from shop import charge", 'charge("x")'),
        ("from .. import steps", 'steps.charge("x")'),  # a module, then its member
        ("import shop.steps as st", 'st.charge("x")'),
    ],
)
def test_reexports_and_module_members(shop: Path, imports: str, call: str) -> None:
    text = f"{imports}\n\n\nasync def handler() -> None:\n    {call}\n"
    assert findings(shop, "shop/orders/api.py", text) == [(5, "DBOS104")]


@pytest.mark.parametrize(
    "imports, call",
    [
        ("from .. import shared", 'shared.q.enqueue(f, "x")'),
        ("from .. import shared", "shared.Durable.sleep(1)"),
        ("from .. import setup_dbos", "setup_dbos.DBOS.sleep(1)"),
        ("from .. import DBOS", "DBOS.sleep(1)"),  # DBOS re-exported through two modules
    ],
)
def test_members_of_imported_modules(shop: Path, imports: str, call: str) -> None:
    text = f"{imports}\n\n\nasync def handler(f) -> None:\n    {call}\n"
    assert len(findings(shop, "shop/orders/api.py", text)) == 1


@pytest.mark.parametrize(
    "imports, call",
    [
        ("import shop", 'shop.steps.charge("x")'),  # a package, its submodule, then its member
        ("import shop.steps", 'shop.steps.charge("x")'),
        ("import shop as s", 's.steps.charge("x")'),
        ("from .. import orders", 'orders.api_steps.charge("x")'),  # relative, then a submodule
    ],
)
def test_members_of_submodules_reached_by_attribute(shop: Path, imports: str, call: str) -> None:
    write(shop, "shop/orders/api_steps.py", STEPS)
    text = f"{imports}\n\n\nasync def handler() -> None:\n    {call}\n"
    index = JediProjectIndex(str(shop))
    assert findings(shop, "shop/orders/api.py", text, index) == [(5, "DBOS104")]
    assert index.jedi_calls == 0


@pytest.mark.parametrize(
    "init, call",
    [
        ("from .steps import charge as steps\n", 'shop.steps.charge("x")'),  # `steps` is a function here
        ("", 'shop.missing.charge("x")'),  # no such submodule
        ("", 'shop.steps.unknown("x")'),
    ],
)
def test_attribute_chains_that_are_not_submodule_members(shop: Path, init: str, call: str) -> None:
    write(shop, "shop/__init__.py", init)
    text = f"import shop\n\n\nasync def handler() -> None:\n    {call}\n"
    assert findings(shop, "shop/orders/api.py", text) == []


def test_a_local_named_like_the_package_is_not_resolved(shop: Path) -> None:
    text = """\
        import shop


        async def handler(shop) -> None:
            shop.steps.charge("x")
        """
    assert findings(shop, "shop/orders/api.py", text) == []


def test_two_dots_from_a_subpackage_and_a_local_shadow(shop: Path) -> None:
    text = """\
        from ..shared import q


        async def handler(f) -> None:
            q = make_another()
            q.enqueue(f)
        """
    assert findings(shop, "shop/orders/api.py", text) == []


def test_namespace_package_and_src_layout(tmp_path: Path) -> None:
    # No __init__.py anywhere: the folder is a namespace package, the project uses src/.
    write(tmp_path, "pyproject.toml", '[project]\nname = "app"\n')
    write(tmp_path, "src/app/steps.py", STEPS)
    text = "from app.steps import charge\n\n\nasync def handler() -> None:\n    charge('x')\n"
    index = JediProjectIndex(str(tmp_path))
    assert findings(tmp_path, "src/app/api.py", text, index) == [(5, "DBOS104")]
    relative = "from .steps import charge\n\n\nasync def handler() -> None:\n    charge('x')\n"
    assert findings(tmp_path, "src/app/api2.py", relative, index) == [(5, "DBOS104")]
    assert index.jedi_calls == 0


def test_answers_are_cached_per_module_version(shop: Path) -> None:
    text = "from ..shared import q\n\n\nasync def handler(f) -> None:\n    q.enqueue(f)\n"
    index = JediProjectIndex(str(shop))
    assert findings(shop, "shop/orders/api.py", text, index) == [(5, "DBOS102")]
    computed = index.calls
    for _ in range(3):
        findings(shop, "shop/orders/api.py", text, index)
    assert index.calls == computed  # cached
    shared = shop / "shop" / "shared.py"
    shared.write_text(shared.read_text().replace('q = DBOS.register_queue("orders")', "q = None"))
    os.utime(shared, ns=(1, 10**18))
    assert findings(shop, "shop/orders/api.py", text, index) == []  # the new version is read
    assert index.calls == computed + 1


def test_a_change_in_a_reexporting_module_drops_the_answer(shop: Path) -> None:
    text = "from .. import charge\n\n\nasync def handler() -> None:\n    charge('x')\n"
    index = JediProjectIndex(str(shop))
    assert findings(shop, "shop/orders/api.py", text, index) == [(5, "DBOS104")]
    init = shop / "shop" / "__init__.py"
    init.write_text("from .steps import reserve as charge\n")
    os.utime(init, ns=(1, 10**18))
    assert findings(shop, "shop/orders/api.py", text, index) == []  # now a sync step


def test_a_module_created_later_is_found(tmp_path: Path) -> None:
    text = "from .later import charge\n\n\nasync def handler() -> None:\n    charge('x')\n"
    index = JediProjectIndex(str(tmp_path))
    write(tmp_path, "pkg/__init__.py", "")
    assert findings(tmp_path, "pkg/api.py", text, index) == []
    write(tmp_path, "pkg/later.py", STEPS)
    folder = tmp_path / "pkg"
    os.utime(folder, ns=(1, 10**18))  # a new entry changes the folder (stamped in vain before)
    assert findings(tmp_path, "pkg/api.py", text, index) == [(5, "DBOS104")]


def test_import_cycles_terminate(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/a.py", "from .b import x as y\nfrom .b import DBOS\n")
    write(tmp_path, "pkg/b.py", "from .a import y as x\nfrom .a import DBOS\n")
    text = "from .a import y, DBOS\n\n\nasync def handler() -> None:\n    y()\n    DBOS.sleep(1)\n"
    index = JediProjectIndex(str(tmp_path))
    findings(tmp_path, "pkg/c.py", text, index)  # no RecursionError, no hang
    imp = PendingImport("a", 1, "y", 1, 0)
    assert index.resolve_syntactic(str(tmp_path / "pkg" / "c.py"), imp) is None


def test_jedi_answers_what_syntax_cannot(shop: Path) -> None:
    pytest.importorskip("jedi")
    pytest.importorskip("dbos")
    # A star import: the name is not bound syntactically in ``reexport``, so jedi is asked.
    write(shop, "shop/reexport.py", "from .setup_dbos import *\n")
    text = "from ..reexport import DBOS\n\n\nasync def handler() -> None:\n    DBOS.sleep(1)\n"
    index = JediProjectIndex(str(shop))
    assert findings(shop, "shop/orders/api.py", text, index) == [(5, "DBOS101")]
    assert index.jedi_calls == 1
    findings(shop, "shop/orders/api.py", text, index)
    assert index.jedi_calls == 1  # cached like the syntactic answers


def test_untracked_names_never_reach_jedi(shop: Path) -> None:
    # ``resolve_syntactic`` answers the model's questions about any imported name; names
    # syntax cannot place (an installed package) stay unknown instead of costing a jedi call.
    text = "from somewhere_installed import helper\n\n\nasync def handler() -> None:\n    helper.sleep(1)\n"
    index = JediProjectIndex(str(shop))
    assert findings(shop, "shop/orders/api.py", text, index) == []
    assert index.jedi_calls == 0


def test_locate_module(shop: Path) -> None:
    index = JediProjectIndex(str(shop))
    api = str(shop / "shop" / "orders" / "api.py")
    assert index.locate_module(api, "steps", 2)[0] == str(shop / "shop" / "steps.py")
    assert index.locate_module(api, "shop.steps", 0)[0] == str(shop / "shop" / "steps.py")
    assert index.locate_module(api, "", 2)[0] == str(shop / "shop" / "__init__.py")
    assert index.locate_module(api, "missing", 1)[0] is None


def test_imports_inside_a_function_body(shop: Path) -> None:
    # A name a body imports (once, and binds no other way) means what the import says:
    # ``from ..steps import charge`` there resolves like the module-level import.
    text = """\
        from dbos import DBOS


        async def handler() -> None:
            from ..steps import charge

            charge("o-1")


        @DBOS.workflow()
        def checkout(order_id: str) -> float:
            import random
            from datetime import datetime as dt

            return random.random() + dt.now().timestamp()


        @DBOS.workflow()
        async def pay(order_id: str) -> None:
            import time as clock

            clock.sleep(1)


        def outer() -> None:
            import time

            @DBOS.workflow()
            def inner() -> float:
                return time.time()


        @DBOS.workflow()
        def rebound(order_id: str) -> float:
            import random

            random = order_id.count
            return random("x")


        @DBOS.workflow()
        def not_a_workflow_start(order_id: str) -> None:
            from ..steps import reserve as charge

            charge("book")
        """
    index = JediProjectIndex(str(shop))
    got = findings(shop, "shop/orders/api.py", text, index)
    assert got == [(7, "DBOS104"), (15, "DBOS201"), (15, "DBOS201"), (22, "DBOS203"), (30, "DBOS201")]
    assert index.jedi_calls == 0
