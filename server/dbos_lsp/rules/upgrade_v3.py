"""Rules DBOS601-DBOS611: code written for DBOS 2.x that breaks on DBOS 3.

DBOS601-DBOS610 belong to the skill document ``advanced-upgrading-v3`` and fire
only when the project targets DBOS 3.0 or later (the engine appends which
version was assumed).  DBOS611 (``advanced-patching``) spans both sides of 3.4:
an error on 2.7-3.3 when ``DBOS.patch`` is used without ``"enable_patching":
True`` in the config, and an information on 3.4+, where that key is deprecated.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator

from dbos_lsp.analysis.findings import Edit, Finding, Position, Severity, Span
from dbos_lsp.analysis.module_model import FunctionInfo, ModuleModel
from dbos_lsp.analysis.names import public_name
from dbos_lsp.knowledge import sdk_facts as sdk
from dbos_lsp.rules.registry import RuleContext, rule
from dbos_lsp.rules.toolkit import (
    api_sites,
    decorators_named,
    dict_entries,
    keyword,
    mutated_names,
    queue_aliases,
    rename_attribute,
    str_constant,
    tail_name,
)

SKILL = "advanced-upgrading-v3"
PATCHING_SKILL = "advanced-patching"
V3 = (3, 0)
PATCHING_NEEDS_NO_CONFIG = (3, 4)  # patch() stopped checking enable_patching in 3.4
PATCHING_SINCE = (2, 7)

_QUEUE_REGISTRARS = {
    (sdk.DBOS, "register_queue"),
    (sdk.DBOS, "register_queue_async"),
    (sdk.CLIENT, "register_queue"),
    (sdk.CLIENT, "register_queue_async"),
}
_PATCH_APIS = frozenset({"patch", "patch_async", "deprecate_patch", "deprecate_patch_async"})
_PRIVATE_MODULES = ("_fastapi", "_flask", "_admin_server", "_scheduler_decorator")
# DBOSConfig keys removed in 3.0: the first raise at DBOS(...) when set (to a non-empty
# value), the rest are silently ignored.
_RAISING_KEYS = frozenset({"database_url", "application_database_url"})
_IGNORED_KEYS = frozenset({"admin_port", "run_admin_server", "sys_db_name"})


# ----- shared helpers ---------------------------------------------------------------------


def _qualname(model: ModuleModel, expr: ast.expr, fn: FunctionInfo | None) -> str | None:
    q = model.qualname(expr, fn)
    return public_name(q) if q else None


def _may_name(func: ast.expr, name: str) -> bool:
    """Cheap pre-check: ``func`` could resolve to a class called ``name`` (a bare name may
    be an import alias, an attribute chain must end in ``name``)."""
    if isinstance(func, ast.Name):
        return True
    return isinstance(func, ast.Attribute) and func.attr == name


def _is_queue_constructor(model: ModuleModel, call: ast.Call, fn: FunctionInfo | None) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        if func.id not in queue_aliases(model):
            return False
    elif not (isinstance(func, ast.Attribute) and func.attr == "Queue"):
        return False
    return _qualname(model, func, fn) == sdk.QUEUE


def _queue_call_kind(model: ModuleModel, call: ast.Call, fn: FunctionInfo | None) -> str | None:
    """``Queue(...)`` or the ``register_queue`` method a call resolves to, else None."""
    if _is_queue_constructor(model, call, fn):
        return "Queue(...)"
    tail = tail_name(call.func)
    if tail not in ("register_queue", "register_queue_async"):
        return None
    api = model.api_of(call, fn)
    if api in _QUEUE_REGISTRARS:
        return "DBOS.register_queue(...)" if api[0] == sdk.DBOS else "DBOSClient.register_queue(...)"
    return None


def _queue_calls(model: ModuleModel, keywords: tuple[str, ...]) -> Iterator[tuple[ast.Call, str]]:
    """``Queue(...)`` and ``register_queue`` calls passing one of ``keywords``, with their kind."""
    for site in model.calls:
        call = site.node
        if call.keywords and any(kw.arg in keywords for kw in call.keywords):
            kind = _queue_call_kind(model, call, site.fn)
            if kind is not None:
                yield call, kind


def _rename_span(start: Position, old: str) -> Span:
    return Span(start, Position(start.line, start.character + len(old)))


# ----- deleting one element of a call or a dict -------------------------------------------

_SKIP_TOKENS = (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)


def _delete_element(ctx: RuleContext, container: ast.Call | ast.Dict, element_start: Position) -> Edit | None:
    """An edit removing the argument or dict entry that starts at ``element_start`` from
    ``container`` (an ``ast.Call`` or ``ast.Dict``), with its comma, so the rest still parses.

    Works on the tokens of the container's own text, so parentheses, strings and comments
    inside neighbouring elements cannot confuse the comma search.  Returns None when unsure.
    """
    try:
        return _delete_element_unchecked(ctx, container, element_start)
    except (tokenize.TokenError, IndentationError, SyntaxError, ValueError, IndexError):
        return None


def _delete_element_unchecked(ctx: RuleContext, container: ast.Call | ast.Dict, element_start: Position) -> Edit | None:
    src = ctx.source
    origin = src.start(container)
    text = src.node_text(container)

    def absolute(row: int, col: int) -> Position:
        return Position(origin.line + row - 1, col + (origin.character if row == 1 else 0))

    # For a call, the brackets of interest open after the callee expression.
    after: Position = src.end(container.func) if isinstance(container, ast.Call) else origin
    depth = 0
    # Elements at depth 1: [first token start, last token end, comma token start or None]
    elements: list[list[Position | None]] = []
    close: Position | None = None
    significant: list[tuple[Position, Position]] = []  # depth-1 token starts and ends, in order
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in _SKIP_TOKENS or tok.type == tokenize.ENDMARKER:
            continue
        start, end = absolute(*tok.start), absolute(*tok.end)
        if start < after:
            continue
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
            if depth == 1:
                elements.append([None, None, None])
                continue
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
            if depth == 0:
                close = start
                break
        elif depth == 1 and tok.type == tokenize.OP and tok.string == ",":
            elements[-1][2] = start
            elements.append([None, None, None])
            continue
        if depth >= 1:
            current = elements[-1]
            if current[0] is None:
                current[0] = start
            current[1] = end
        significant.append((start, end))
    if close is None:
        return None
    elements = [e for e in elements if e[0] is not None]
    index = next((i for i, e in enumerate(elements) if e[0] <= element_start <= e[1]), None)  # type: ignore[operator]
    if index is None:
        return None
    first, last, comma = elements[index]
    if first is None or last is None:
        return None
    if comma is not None:
        comma_end = Position(comma.line, comma.character + 1)
        rest = src.line(comma.line)[comma_end.character :].strip()
        before = src.line(first.line)[: first.character]
        following = next((s for s, _ in significant if s >= comma_end), close)
        if not before.strip() and (not rest or rest.startswith("#")) and first.line > origin.line:
            # The element has lines of its own: remove them whole.
            span = Span(Position(first.line, 0), Position(comma.line + 1, 0))
        elif following.line == comma.line:
            kept = before.rstrip()
            if following == close and kept.endswith(","):
                span = Span(Position(first.line, len(kept)), comma_end)  # " x=1," in "f(a, x=1,)"
            else:
                span = Span(first, following)  # "x=1, " in "f(a, x=1, b)"
        else:
            # The next element is on a later line: keep that line break, drop spaces before us.
            kept = before.rstrip()
            start = Position(first.line, len(kept)) if kept and kept[-1] == "," else first
            span = Span(start, comma_end)
    elif index > 0 and elements[index - 1][2] is not None:
        end = last  # ", x=1" at the end
        last_line = src.line(last.line)
        own_line = not src.line(first.line)[: first.character].strip()
        if own_line and last_line[last.character :].strip().startswith("#"):
            end = Position(last.line, len(last_line))  # its trailing comment goes too
        span = Span(elements[index - 1][2], end)  # type: ignore[arg-type]
    else:
        span = Span(first, last)
    edit = Edit(span, "")
    if not _still_parses(ctx, container, text, origin, edit):
        return None
    return edit


def _still_parses(ctx: RuleContext, container: ast.AST, text: str, origin: Position, edit: Edit) -> bool:
    rows = text.split("\n")

    def offset(pos: Position) -> int:
        row = pos.line - origin.line
        col = pos.character - (origin.character if row == 0 else 0)
        return sum(len(r) + 1 for r in rows[:row]) + col

    new = text[: offset(edit.span.start)] + edit.new_text + text[offset(edit.span.end) :]
    try:
        ast.parse("(" + new + "\n)", mode="eval")
    except SyntaxError:
        return False
    return True


# ----- DBOS601 ----------------------------------------------------------------------------


@rule(
    "DBOS601",
    "v3-transaction-decorator-removed",
    Severity.ERROR,
    SKILL,
    "`@DBOS.transaction` was removed in DBOS 3: use a datasource's `@ds.transaction()`",
    min_version=V3,
    scope="statement",
)
def v3_transaction_decorator_removed(ctx: RuleContext) -> Iterator[Finding]:
    for _info, dec in decorators_named(ctx.model, "dbos.DBOS.transaction", public=True):
        yield ctx.finding(dec, "`@DBOS.transaction` was removed in DBOS 3.0")


# ----- DBOS602 ----------------------------------------------------------------------------


@rule(
    "DBOS602",
    "v3-sql-session-removed",
    Severity.ERROR,
    SKILL,
    "`DBOS.sql_session` was removed in DBOS 3: use the datasource's `ds.sql_session()`",
    min_version=V3,
    scope="statement",
)
def v3_sql_session_removed(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.attributes:
        node = site.node
        if node.attr != "sql_session":
            continue
        if _qualname(model, node, site.fn) != "dbos.DBOS.sql_session":
            continue
        yield ctx.finding(node, "`DBOS.sql_session` was removed in DBOS 3.0")


# ----- DBOS603 ----------------------------------------------------------------------------


@rule(
    "DBOS603",
    "v3-queue-constructor-removed",
    Severity.ERROR,
    SKILL,
    "`Queue(...)` cannot be constructed in DBOS 3: use `DBOS.register_queue(...)` after launch",
    min_version=V3,
    scope="statement",
)
def v3_queue_constructor_removed(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        if not _is_queue_constructor(model, site.node, site.fn):
            continue
        if keyword(site.node, "token") is not None:
            continue  # DBOS's own construction, with its private token (dbos 3.4.0 _queue.py:109)
        yield ctx.finding(site.node.func, "`Queue(...)` raises DBOSException since DBOS 3.0")


# ----- DBOS604 ----------------------------------------------------------------------------


@rule(
    "DBOS604",
    "v3-queue-legacy-params",
    Severity.ERROR,
    SKILL,
    "`priority_enabled=` / `partition_queue=` are no longer queue parameters in DBOS 3",
    fix="mixed",
    min_version=V3,
    scope="statement",
)
def v3_queue_legacy_params(ctx: RuleContext) -> Iterator[Finding]:
    for call, _kind in _queue_calls(ctx.model, ("priority_enabled", "partition_queue")):
        for kw in call.keywords:
            if kw.arg == "priority_enabled":
                edit = _delete_element(ctx, call, ctx.source.start(kw))
                yield ctx.finding(
                    kw,
                    "`priority_enabled=` raises TypeError since DBOS 3.0",
                    "Remove `priority_enabled=...`",
                    [edit] if edit else None,
                )
            elif kw.arg == "partition_queue":
                yield ctx.finding(kw, "`partition_queue=` raises TypeError since DBOS 3.0")


# ----- DBOS605 ----------------------------------------------------------------------------


@rule(
    "DBOS605",
    "v3-concurrency-deprecated",
    Severity.WARNING,
    SKILL,
    "`concurrency` on queues is deprecated in DBOS 3: use `global_concurrency`",
    fix="safe",
    min_version=V3,
    scope="statement",
)
def v3_concurrency_deprecated(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls_named(_DEPRECATED_QUEUE_METHODS):
        yield from _deprecated_queue_method(ctx, site.node, site.fn, site.tail or "")
    for call, _kind in _queue_calls(model, ("concurrency",)):
        kw = keyword(call, "concurrency")
        if kw is None or keyword(call, "partition_queue") is not None:
            continue  # with partition_queue=, DBOS604 explains the partition_* mapping
        message = "`concurrency=` is deprecated since DBOS 3.0"
        if keyword(call, "global_concurrency") is not None:
            yield ctx.finding(kw, "`concurrency=` and `global_concurrency=` together raise ValueError")
            continue
        start = ctx.source.start(kw)
        yield ctx.finding(
            kw,
            message,
            "Rename to `global_concurrency=`",
            [Edit(_rename_span(start, "concurrency"), "global_concurrency")],
        )
    for attr_site in model.attributes:
        node = attr_site.node
        if node.attr != "concurrency" or not isinstance(node.ctx, ast.Load):
            continue
        if not isinstance(node.value, ast.Name):
            continue
        if model.instance_type(node.value.id, attr_site.fn) != sdk.QUEUE:
            continue
        yield ctx.finding(
            node,
            f"`{node.value.id}.concurrency` is deprecated since DBOS 3.0",
            "Use `.global_concurrency`",
            [rename_attribute(ctx.source, node, "global_concurrency")],
        )


_DEPRECATED_QUEUE_METHODS = frozenset({"set_concurrency", "set_concurrency_async", "get_concurrency_async"})


def _deprecated_queue_method(
    ctx: RuleContext, call: ast.Call, fn: FunctionInfo | None, method: str
) -> Iterator[Finding]:
    api = ctx.model.api_of(call, fn)
    if api != (sdk.QUEUE, method):
        return
    func = call.func
    if not isinstance(func, ast.Attribute):
        return
    new = method.replace("concurrency", "global_concurrency")
    yield ctx.finding(
        func,
        f"`Queue.{method}()` is deprecated since DBOS 3.0",
        f"Use `.{new}()`",
        [rename_attribute(ctx.source, func, new)],
    )


# ----- DBOS606 ----------------------------------------------------------------------------


@rule(
    "DBOS606",
    "v3-scheduled-decorator-removed",
    Severity.ERROR,
    SKILL,
    "`@DBOS.scheduled(cron)` was removed in DBOS 3: use `DBOS.apply_schedules([...])` after launch",
    min_version=V3,
    scope="statement",
)
def v3_scheduled_decorator_removed(ctx: RuleContext) -> Iterator[Finding]:
    for _info, dec in decorators_named(ctx.model, "dbos.DBOS.scheduled", public=True):
        yield ctx.finding(dec, "`@DBOS.scheduled` was removed in DBOS 3.0")


# ----- DBOS607 ----------------------------------------------------------------------------


@rule(
    "DBOS607",
    "v3-web-framework-param-removed",
    Severity.ERROR,
    SKILL,
    "`DBOS(fastapi=app)` / `DBOS(flask=app)` are no longer accepted in DBOS 3",
    fix="safe",
    min_version=V3,
    scope="statement",
)
def v3_web_framework_param_removed(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site in model.calls:
        call = site.node
        if not call.keywords or not _may_name(call.func, "DBOS"):
            continue
        if not any(kw.arg in ("fastapi", "flask") for kw in call.keywords):
            continue
        if _qualname(model, call.func, site.fn) != sdk.DBOS:
            continue
        for kw in call.keywords:
            if kw.arg not in ("fastapi", "flask"):
                continue
            edit = _delete_element(ctx, call, ctx.source.start(kw))
            yield ctx.finding(
                kw,
                f"`DBOS({kw.arg}=...)` raises TypeError since DBOS 3.0",
                f"Remove `{kw.arg}=...` (then call `DBOS.launch()` yourself)",
                [edit] if edit else None,
            )


# ----- DBOS608 ----------------------------------------------------------------------------


@rule(
    "DBOS608",
    "v3-config-key-removed",
    Severity.ERROR,
    SKILL,
    "A DBOSConfig key that DBOS 3 rejects or ignores",
    fix="mixed",
    min_version=V3,
)
def v3_config_key_removed(ctx: RuleContext) -> Iterator[Finding]:
    for config in ctx.model.config_dicts():
        for key, value in dict_entries(config):
            name = str_constant(key)
            if name is None or key is None:
                continue
            falsy = isinstance(value, ast.Constant) and not value.value
            if name in _RAISING_KEYS and not falsy:
                yield ctx.finding(key, f'`"{name}"` makes `DBOS()` raise since DBOS 3.0')
            elif name in _IGNORED_KEYS or name in _RAISING_KEYS:
                edit = _delete_element(ctx, config, ctx.source.start(key))
                yield ctx.finding(
                    key,
                    f'`"{name}"` is ignored since DBOS 3.0',
                    f'Remove `"{name}"`',
                    [edit] if edit else None,
                )


# ----- DBOS609 ----------------------------------------------------------------------------


@rule(
    "DBOS609",
    "v3-register-instance-removed",
    Severity.ERROR,
    SKILL,
    "`DBOS.register_instance(...)` was removed in DBOS 3: subclass `DBOSConfiguredInstance`",
    min_version=V3,
    scope="statement",
)
def v3_register_instance_removed(ctx: RuleContext) -> Iterator[Finding]:
    for site, _cls, _method in api_sites(ctx.model, {sdk.DBOS: ("register_instance",)}):
        yield ctx.finding(site.node.func, "`DBOS.register_instance()` was removed in DBOS 3.0")


# ----- DBOS610 ----------------------------------------------------------------------------


def _private_module(name: str) -> str | None:
    for private in _PRIVATE_MODULES:
        full = "dbos." + private
        if name == full or name.startswith(full + "."):
            return full
    return None


@rule(
    "DBOS610",
    "v3-private-module-import",
    Severity.ERROR,
    SKILL,
    "An import of a private DBOS 2.x module that DBOS 3 no longer ships",
    min_version=V3,
    scope="module",  # walks every import of the file at once, not one statement's
)
def v3_private_module_import(ctx: RuleContext) -> Iterator[Finding]:
    text = ctx.source.text
    if "dbos" not in text or not any(p in text for p in _PRIVATE_MODULES):
        return
    for node in _statements(ctx.model.tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = _private_module(alias.name)
                if module:
                    yield _private_import_finding(ctx, alias if hasattr(alias, "lineno") else node, module)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = _private_module(node.module)
            if module:
                yield _private_import_finding(ctx, node, module)
            elif node.module == "dbos":
                for alias in node.names:
                    module = _private_module("dbos." + alias.name)
                    if module:
                        yield _private_import_finding(ctx, alias if hasattr(alias, "lineno") else node, module)


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested blocks and function and class bodies included (imports are
    statements, so expressions need no visit)."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Expr, ast.Assign, ast.Return)):
            continue
        blocks: list[list[ast.stmt]] = []
        for name in ("body", "orelse", "finalbody"):
            block = getattr(stmt, name, None)
            if isinstance(block, list):
                blocks.append(block)
        for handler in getattr(stmt, "handlers", None) or ():
            blocks.append(handler.body)
        for case in getattr(stmt, "cases", None) or ():
            blocks.append(case.body)
        for block in reversed(blocks):
            stack.extend(reversed([b for b in block if isinstance(b, ast.stmt)]))


def _private_import_finding(ctx: RuleContext, node: ast.stmt | ast.alias, module: str) -> Finding:
    return ctx.finding(node, f"private module `{module}` was removed in DBOS 3.0")


# ----- DBOS611 ----------------------------------------------------------------------------


def _enable_patching_value(config: ast.Dict) -> tuple[bool, ast.expr | None]:
    """(is the dict fully literal, value of its ``enable_patching`` key or None)."""
    value: ast.expr | None = None
    for key, v in dict_entries(config):
        if key is None:
            return False, None  # ``**other``: its keys are unknown
        name = str_constant(key)
        if name is None:
            return False, None
        if name == "enable_patching":
            value = v
    return True, value


def _config_mutated(ctx: RuleContext) -> bool:
    """The config may gain keys after its literal: ``config["k"] = v``, ``config.update(...)``."""
    names: set[str] = set()
    model = ctx.model
    for site in model.calls:
        if not site.node.keywords or not _may_name(site.node.func, "DBOS"):
            continue
        if model.qualname(site.node.func, site.fn) != sdk.DBOS:
            continue
        kw = keyword(site.node, "config")
        if kw is not None and isinstance(kw.value, ast.Name):
            names.add(kw.value.id)
    configs = {id(d) for d in model.config_dicts()}
    for name, value in model.module_values.items():
        if id(value) in configs:
            names.add(name)
    if names & mutated_names(model):
        return True
    text = ctx.source.text
    return any(re.search(r"\b" + re.escape(n) + r"\s*(\[|\|=)", text) for n in names)


@rule(
    "DBOS611",
    "patching-config",
    Severity.ERROR,
    PATCHING_SKILL,
    "`DBOS.patch` needs `enable_patching: True` before DBOS 3.4; from 3.4 that key is deprecated",
    min_version=PATCHING_SINCE,
    severity_since={PATCHING_NEEDS_NO_CONFIG: Severity.INFORMATION},
    version_sensitive=True,
)
def patching_config(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.version >= PATCHING_NEEDS_NO_CONFIG:
        yield from _enable_patching_deprecated(ctx)
    else:
        yield from _patch_without_enable_patching(ctx)


def _enable_patching_deprecated(ctx: RuleContext) -> Iterator[Finding]:
    if "enable_patching" not in ctx.source.text:
        return
    for config in ctx.model.config_dicts():
        for key in config.keys:
            if str_constant(key) != "enable_patching":
                continue
            yield ctx.finding(key, '`"enable_patching"` is deprecated since DBOS 3.4')  # type: ignore[arg-type]


def _patch_without_enable_patching(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    patch_sites = [site for site, _cls, _method in api_sites(model, {sdk.DBOS: _PATCH_APIS})]
    if not patch_sites:
        return
    configs = model.config_dicts()
    if not configs:
        return  # the config is built elsewhere: unsure
    literal_keys = 0
    for config in configs:
        literal, value = _enable_patching_value(config)
        if not literal:
            return
        if value is not None:
            literal_keys += 1
            if not isinstance(value, ast.Constant) or value.value is True or value.value == 1:
                return
    if ctx.source.text.count("enable_patching") > literal_keys or _config_mutated(ctx):
        return  # set somewhere we cannot follow
    line = configs[0].lineno
    for site in patch_sites:
        func = site.node.func
        method = func.attr if isinstance(func, ast.Attribute) else "patch"
        yield ctx.finding(
            func,
            f'`DBOS.{method}()` raises DBOSException: the config on line {line} lacks `"enable_patching": True`',
        )
