"""Rules DBOS501-DBOS508: launch order, configuration, queues and schedules.

Skill documents: ``lifecycle-config`` (DBOS501-DBOS504), ``queue-basics``
(DBOS505, DBOS506, DBOS508) and ``pattern-scheduled`` (DBOS507).  Every check
here reads literals only: a name, an f-string or any other dynamic value makes
the rule skip that argument.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator

from dbos_lsp.analysis.findings import Finding, Severity
from dbos_lsp.analysis.module_model import CallSite, FunctionInfo, ModuleModel
from dbos_lsp.knowledge import sdk_facts as sdk
from dbos_lsp.rules.registry import RuleContext, rule
from dbos_lsp.rules.toolkit import (
    api_sites,
    decorators_named,
    dict_entries,
    has_unpacking,
    keyword,
    mutated_names,
    str_constant,
)

CONFIG_SKILL = "lifecycle-config"
QUEUE_SKILL = "queue-basics"
SCHEDULE_SKILL = "pattern-scheduled"

_MISSING = object()  # an argument that is not there at all
_UNKNOWN = object()  # an argument whose value is not a literal


def _argument(call: ast.Call, position: int | None, name: str) -> object:
    """The expression passed for a parameter: ``_MISSING``, ``_UNKNOWN`` (hidden behind
    ``*args``/``**kwargs``), or the ``ast.expr``."""
    kw = keyword(call, name)
    if kw is not None:
        return kw.value
    if position is not None:
        for i, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                return _UNKNOWN
            if i == position:
                return arg
    if any(kw.arg is None for kw in call.keywords):
        return _UNKNOWN
    return _MISSING


def _literal(expr: object) -> object:
    """The Python value of a literal expression, ``_MISSING`` or ``_UNKNOWN``."""
    if expr is _MISSING or expr is _UNKNOWN:
        return expr
    try:
        return ast.literal_eval(expr)  # type: ignore[arg-type]
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNKNOWN


# ----- launch ordering (DBOS501-DBOS503) ------------------------------------------------------

_BEFORE_LAUNCH_FORBIDDEN = {
    sdk.DBOS: frozenset(
        """register_queue register_queue_async apply_schedules apply_schedules_async
        create_schedule create_schedule_async""".split()
    )
}


@rule(
    "DBOS501",
    "queue-register-before-launch",
    Severity.ERROR,
    CONFIG_SKILL,
    "Queues and schedules registered before `DBOS.launch()`, when there is no system database yet",
    min_version=(3, 0),
)
def queue_register_before_launch(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site, _cls, method in api_sites(model, _BEFORE_LAUNCH_FORBIDDEN):
        if model.relative_to_launch(site.node, site.fn) != "before":
            continue
        yield ctx.finding(site.node.func, f"`DBOS.{method}()` before `DBOS.launch()` fails")


_DATASOURCE_CREATE = {
    sdk.SQL_DATASOURCE: frozenset({"create"}),
    sdk.ASYNC_SQL_DATASOURCE: frozenset({"create"}),
}


@rule(
    "DBOS502",
    "datasource-after-launch",
    Severity.ERROR,
    CONFIG_SKILL,
    "A datasource created after `DBOS.launch()`, which DBOS 3.1+ rejects",
    min_version=(3, 1),
)
def datasource_after_launch(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    events = _launch_events(model)
    for site, cls, _method in api_sites(model, _DATASOURCE_CREATE):
        if not _while_launched(model, events, site.node, site.fn):
            continue
        kind = cls.rsplit(".", 1)[-1]
        yield ctx.finding(site.node.func, f"`{kind}.create()` after `DBOS.launch()` raises")


_AFTER_LAUNCH_FORBIDDEN = {sdk.DBOS: frozenset({"listen_queues", "alert_handler"})}


@rule(
    "DBOS503",
    "listen-queues-after-launch",
    Severity.ERROR,
    CONFIG_SKILL,
    "`DBOS.listen_queues` or an alert handler declared after `DBOS.launch()`",
)
def listen_queues_after_launch(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    events = _launch_events(model)
    for site, _cls, method in api_sites(model, _AFTER_LAUNCH_FORBIDDEN):
        if _while_launched(model, events, site.node, site.fn):
            yield ctx.finding(site.node.func, _after_launch_message(method))
    for info, dec in decorators_named(model, "dbos.DBOS.alert_handler"):
        if not isinstance(dec, ast.Call) and _while_launched(model, events, info.node, info.parent):
            yield ctx.finding(dec, _after_launch_message("alert_handler"))


_LAUNCH_AND_DESTROY = {sdk.DBOS: frozenset({"launch", "destroy"})}


def _launch_events(model: ModuleModel) -> dict[int, list[tuple[int, int, str]]]:
    """``DBOS.launch()`` and ``DBOS.destroy()`` calls of each body (by ``id`` of its function,
    of None: the module), as sorted ``(line, column, method)``."""
    events: dict[int, list[tuple[int, int, str]]] = {}
    for site, _cls, method in api_sites(model, _LAUNCH_AND_DESTROY):
        events.setdefault(id(site.fn), []).append((site.node.lineno, site.node.col_offset, method))
    for found in events.values():
        found.sort()
    return events


def _while_launched(
    model: ModuleModel,
    events: dict[int, list[tuple[int, int, str]]],
    node: ast.stmt | ast.expr,
    fn: FunctionInfo | None,
) -> bool:
    """``node`` comes after a launch of its body with no ``DBOS.destroy()`` in between: the
    SDK's ``destroy`` drops the launched instance (dbos 3.4.0 ``DBOS.destroy`` sets the global
    instance to None), so a call between it and the next launch sees an unlaunched DBOS.

    A datasource (DBOS502) asks the registry, which keeps the destroyed instance until a new
    ``DBOS(config=...)`` replaces it (``DBOSRegistry.register_datasource``): ``create`` right
    after a bare ``destroy()`` still raises.  That instance may be built anywhere (a test
    fixture, a helper), so any destroy ends the launch here too: a miss, never a false
    finding."""
    if model.relative_to_launch(node, fn) != "after":
        return False
    last = None
    for line, _col, method in events.get(id(fn), ()):
        if line >= node.lineno:
            break
        last = method
    return last == "launch"


def _after_launch_message(method: str) -> str:
    if method == "listen_queues":
        return "`DBOS.listen_queues()` after `DBOS.launch()` raises"
    return "`@DBOS.alert_handler` after `DBOS.launch()` raises"


# ----- DBOS504 ----------------------------------------------------------------------------------

_APP_NAME_RE = re.compile("^[a-z0-9-_]+$")


@rule(
    "DBOS504",
    "config-invalid-app-name",
    Severity.ERROR,
    CONFIG_SKILL,
    "A literal DBOSConfig `name` that DBOS rejects at startup",
)
def config_invalid_app_name(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    if "dbos" not in model.imports.modules and not any(m.startswith("dbos.") for m in model.imports.modules):
        return
    longest = 256 if ctx.version >= (3, 0) else 30
    for config in model.config_dicts():
        for key, value in dict_entries(config):
            if str_constant(key) != "name":
                continue
            name = str_constant(value)
            if name is None:
                continue
            problem = None
            if not 3 <= len(name) <= longest:
                problem = f"has {len(name)} characters, not 3 to {longest}"
            elif _APP_NAME_RE.match(name) is None:
                problem = "may contain only a-z, 0-9, `-` and `_`"
            if problem:
                yield ctx.finding(value, f"application name `{name}` {problem}")


# ----- DBOS505, DBOS506 -------------------------------------------------------------------------

_REGISTER_QUEUE = {
    sdk.DBOS: frozenset({"register_queue", "register_queue_async"}),
    sdk.CLIENT: frozenset({"register_queue", "register_queue_async"}),
}
RESERVED_QUEUE_PREFIX = "_dbos_"


@rule(
    "DBOS505",
    "queue-name-reserved",
    Severity.ERROR,
    QUEUE_SKILL,
    "A queue name starting with `_dbos_`, which DBOS reserves for its internal queues",
    scope="statement",
)
def queue_name_reserved(ctx: RuleContext) -> Iterator[Finding]:
    for site, _cls, method in api_sites(ctx.model, _REGISTER_QUEUE):
        expr = _argument(site.node, 0, "name")
        name = str_constant(expr)
        if name is not None and name.startswith(RESERVED_QUEUE_PREFIX):
            yield ctx.finding(
                expr,  # type: ignore[arg-type]
                f"`{method}()` rejects the reserved queue name `{name}`",
            )


_LIMIT_PARAMS = (
    "concurrency",
    "global_concurrency",
    "worker_concurrency",
    "partition_concurrency",
    "partition_worker_concurrency",
    "polling_interval_sec",
)


def _number(value: object) -> object:
    """A literal int/float (not bool), None, ``_MISSING``; anything else is ``_UNKNOWN``."""
    if value is _MISSING or value is None:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return _UNKNOWN


def _limiter_problem(expr: object) -> bool | None:
    """True when a literal rate-limit dict lacks ``limit`` or ``period`` (or sets it to None);
    None when unsure."""
    if not isinstance(expr, ast.Dict):
        return None
    present: dict[str, ast.expr] = {}
    for key, value in dict_entries(expr):
        if key is None:
            return None  # **spread
        name = str_constant(key)
        if name is None:
            return None
        present[name] = value
    for wanted in ("limit", "period"):
        given = present.get(wanted)
        if given is None or (isinstance(given, ast.Constant) and given.value is None):
            return True
    return False


def queue_limit_problem(values: dict[str, object], limiters: dict[str, object]) -> str | None:
    """The first ``_validate_queue`` check (dbos 3.4.0 ``_queue.py``) that certainly fails.

    ``values`` maps the numeric parameters to a number, None, ``_MISSING`` or
    ``_UNKNOWN``; ``limiters`` maps ``limiter``/``partition_limiter`` to their expressions.
    """

    def known(*names: str) -> bool:
        return all(values[n] is not _UNKNOWN for n in names)

    def val(name: str):
        v = values[name]
        return None if v is _MISSING else v

    if (
        known("concurrency", "global_concurrency")
        and val("concurrency") is not None
        and val("global_concurrency") is not None
    ):
        return "both `concurrency` and `global_concurrency` are set"
    for name in ("partition_concurrency", "partition_worker_concurrency"):
        if known(name) and val(name) is not None and val(name) < 1:
            return f"`{name}` < 1"
    if limiters.get("partition_limiter") is not _MISSING and _limiter_problem(limiters.get("partition_limiter")):
        return "`partition_limiter` lacks `limit` or `period`"

    def bigger(small: str, large: str) -> bool:
        return known(small, large) and val(small) is not None and val(large) is not None and val(small) > val(large)

    if bigger("partition_worker_concurrency", "partition_concurrency"):
        return "`partition_worker_concurrency` > `partition_concurrency`"
    if bigger("partition_worker_concurrency", "worker_concurrency"):
        return "`partition_worker_concurrency` > `worker_concurrency`"
    # The queue-wide limit: global_concurrency, else the deprecated concurrency.
    if values["global_concurrency"] is _UNKNOWN:
        queue_limit: object = _UNKNOWN
        limit_name = "global_concurrency"
    elif val("global_concurrency") is not None:
        queue_limit, limit_name = val("global_concurrency"), "global_concurrency"
    else:
        queue_limit, limit_name = values["concurrency"], "concurrency"
        queue_limit = None if queue_limit is _MISSING else queue_limit
    if queue_limit is not _UNKNOWN and queue_limit is not None:
        for small in ("worker_concurrency", "partition_concurrency", "partition_worker_concurrency"):
            if known(small) and val(small) is not None and val(small) > queue_limit:
                return f"`{small}` ({val(small)}) > `{limit_name}` ({queue_limit})"
    polling = values["polling_interval_sec"]
    if isinstance(polling, (int, float)) and polling <= 0:  # not _UNKNOWN, _MISSING or None
        return "`polling_interval_sec` <= 0"
    if limiters.get("limiter") is not _MISSING and _limiter_problem(limiters.get("limiter")):
        return "`limiter` lacks `limit` or `period`"
    return None


@rule(
    "DBOS506",
    "queue-invalid-limits",
    Severity.ERROR,
    QUEUE_SKILL,
    "Literal queue limits that DBOS rejects when the queue is registered",
    scope="statement",
)
def queue_invalid_limits(ctx: RuleContext) -> Iterator[Finding]:
    for site, _cls, method in api_sites(ctx.model, _REGISTER_QUEUE):
        call = site.node
        if has_unpacking(call):
            continue  # *args / **kwargs may hold any of the limits
        values = {name: _number(_literal(_argument(call, None, name))) for name in _LIMIT_PARAMS}
        limiters = {name: _argument(call, None, name) for name in ("limiter", "partition_limiter")}
        problem = queue_limit_problem(values, limiters)
        if problem:
            yield ctx.finding(call.func, f"`{method}()` raises ValueError: {problem}")


# ----- DBOS507 ----------------------------------------------------------------------------------

_SCHEDULE_APIS = {
    sdk.DBOS: frozenset({"create_schedule", "create_schedule_async", "apply_schedules", "apply_schedules_async"}),
    sdk.CLIENT: frozenset({"create_schedule", "create_schedule_async", "apply_schedules", "apply_schedules_async"}),
}


@rule(
    "DBOS507",
    "schedule-invalid-cron",
    Severity.ERROR,
    SCHEDULE_SKILL,
    "A literal cron schedule that DBOS's cron parser rejects",
    scope="statement",
)
def schedule_invalid_cron(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    for site, _cls, method in api_sites(model, _SCHEDULE_APIS):
        for expr in _cron_literals(model, site, method):
            cron = str_constant(expr)
            if cron is None or cron_is_valid(cron) is not False:
                continue
            yield ctx.finding(expr, f"`{method}()` rejects the cron schedule `{cron}`")


def _cron_literals(model: ModuleModel, site: CallSite, method: str) -> Iterator[ast.expr]:
    if method.startswith("create_schedule"):
        expr = _argument(site.node, None, "schedule")
        if isinstance(expr, ast.expr):
            yield expr
        return
    entries = _argument(site.node, 0, "schedules")
    if isinstance(entries, ast.Name):
        entries = model.single_value(entries.id, site.fn)
    if not isinstance(entries, (ast.List, ast.Tuple)):
        return
    for entry in entries.elts:
        if isinstance(entry, ast.Dict):
            for key, value in dict_entries(entry):
                if str_constant(key) == "schedule":
                    yield value


# Field bounds in croniter's internal order: minute, hour, day of month, month, day of
# week, second, year.  With six or seven fields DBOS puts the seconds first.
_CRON_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6), (0, 59), (1970, 2099))
_DOM, _MONTH, _DOW = 2, 3, 4
_CRON_NAMES: tuple[dict[str, int | str], ...] = (
    {},
    {},
    {"l": "l"},
    {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)},
    {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())},
    {},
    {},
)
_CRON_MACROS = frozenset({"@midnight", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually"})
_CRON_FIELD_RE = re.compile(r"\S+", re.ASCII)
_CRON_INT_RE = re.compile(r"^\d+$", re.ASCII)
_CRON_RANGE_RE = re.compile(r"^([^-]+)-([^-/]+)(/(\d+))?$", re.ASCII)
_CRON_HASH_RE = re.compile(r"^(h|r)(\((\d+)-(\d+)\))?(/(\d+))?$", re.ASCII)
_CRON_NTH_RE = re.compile(r"^(\w+#\d+|l\d+)$", re.ASCII)
_CRON_NEAREST_RE = re.compile(r"^(?:\d+w|w\d+)$", re.ASCII)


class _Unsure(Exception):
    """A construct the validator does not model (nth weekday, ``W``, ``R``)."""


class _BadCron(Exception):
    pass


def cron_is_valid(expr: str) -> bool | None:
    """Whether ``croniter.is_valid(expr, second_at_beginning=True)`` would accept
    ``expr``: True, False, or None when the expression uses syntax this checker does
    not model (``#`` and ``L<n>`` weekdays, ``W`` days, ``R`` random values)."""
    try:
        _check_cron(expr)
    except _BadCron:
        return False
    except _Unsure:
        return None
    return True


def _check_cron(expr: str) -> None:
    text = expr.lower()
    if text in _CRON_MACROS:
        return
    fields = _CRON_FIELD_RE.findall(text)
    if len(fields) not in (5, 6, 7):
        raise _BadCron("a cron expression has 5 fields (6 with seconds first, 7 with a year)")
    if len(fields) > 5:
        fields.insert(5, fields.pop(0))  # seconds first -> internal position 5
    for index, field in enumerate(fields):
        _check_cron_field(index, field)


def _check_cron_field(index: int, field: str) -> None:
    hashed = _CRON_HASH_RE.match(field)
    if hashed:
        if hashed.group(1) == "h":
            raise _BadCron("`H` needs a hash id, which DBOS does not pass")
        raise _Unsure()
    if "?" in field:
        if field != "?" or index not in (_DOM, _DOW):
            raise _BadCron("`?` is allowed only alone, in the day-of-month or day-of-week field")
        return
    for element in field.split(","):
        _check_cron_element(index, element)


def _cron_value(index: int, token: str) -> object:
    if _CRON_INT_RE.match(token):
        value = int(token)
        return 0 if index == _DOW and value == 7 else value
    try:
        return _CRON_NAMES[index][token]
    except KeyError:
        raise _BadCron(f"`{token}` is not a valid value here") from None


def _check_cron_element(index: int, element: str) -> None:
    low_bound, high_bound = _CRON_BOUNDS[index]
    if index == _DOW and _CRON_NTH_RE.match(element):
        raise _Unsure()
    if index == _DOM and _CRON_NEAREST_RE.match(element):
        raise _Unsure()
    token = element
    if token.startswith("*/"):
        token = f"{low_bound}-{high_bound}{token[1:]}"
    m = _CRON_RANGE_RE.match(token)
    if not m and "/" in token:
        start, _, step = token.rpartition("/")
        if start and step:
            m = _CRON_RANGE_RE.match(f"{start}-{high_bound}/{step}")
            if m is not None:
                token = f"{start}-{high_bound}/{step}"
    if m:
        low_text, high_text, step_text = m.group(1), m.group(2), m.group(4) or "1"
        if index == _DOM and high_text == "l":
            high_text = "31"
        low, high = _cron_value(index, low_text), _cron_value(index, high_text)
        if not isinstance(low, int) or not isinstance(high, int):
            raise _BadCron("a range needs numbers or names at both ends")
        if int(step_text) == 0:
            raise _BadCron("a step of 0 is not allowed")
        if max(low, high) > high_bound:
            raise _BadCron(f"a value above {high_bound}")
        # ``a-b`` expands to a..b (or wraps around the field when b < a) and every value
        # is checked again; an equal pair means the whole field.
        if low != high and low < low_bound:
            raise _BadCron(f"a value below {low_bound}")
        return
    if token.startswith("-"):
        raise _BadCron("negative numbers are not allowed")
    if token == "*":
        return
    value = _cron_value(index, token)
    if value == "l":
        return
    if not low_bound <= value <= high_bound:  # type: ignore[operator]
        raise _BadCron(f"`{token}` is outside {low_bound}-{high_bound}")


# ----- DBOS508 ----------------------------------------------------------------------------------

# ``EnqueueOptions`` keys in dbos 3.4.0 (``_enqueue_options.py``).
ENQUEUE_OPTION_KEYS = frozenset(
    """workflow_name queue_name workflow_id workflow_id_reuse_policy app_version workflow_timeout
    delay_seconds deduplication_id duplication_policy priority queue_partition_key
    authenticated_user authenticated_roles serialization_type class_name instance_name
    attributes application_name otel_context shard_key""".split()
)
_REQUIRED_ENQUEUE_KEYS = ("workflow_name", "queue_name")
# Unknown keys are judged against the 3.4.0 list, so only for releases up to 3.4.
_KEYS_KNOWN_FOR = ((3, 0), (3, 5))
_ENQUEUE_OPTION_TYPES = frozenset(
    {"dbos.EnqueueOptions", "dbos._client.EnqueueOptions", "dbos._enqueue_options.EnqueueOptions"}
)
# API -> position of its options argument.
_ENQUEUE_APIS = {
    sdk.CLIENT: {"enqueue": 0, "enqueue_async": 0, "enqueue_in_transaction": 1},
    sdk.DBOS: {"enqueue_workflow_with_options": 0, "enqueue_workflow_with_options_async": 0},
}


@rule(
    "DBOS508",
    "enqueue-options-invalid",
    Severity.ERROR,
    QUEUE_SKILL,
    "An `EnqueueOptions` literal with an unknown key, or without `workflow_name` / `queue_name`",
)
def enqueue_options_invalid(ctx: RuleContext) -> Iterator[Finding]:
    model = ctx.model
    check_keys = _KEYS_KNOWN_FOR[0] <= ctx.version < _KEYS_KNOWN_FOR[1]
    seen: set[int] = set()
    for options, name in _enqueue_option_dicts(model):
        if id(options) in seen:
            continue
        seen.add(id(options))
        yield from _check_enqueue_options(ctx, options, name, check_keys)


def _enqueue_option_dicts(model: ModuleModel) -> Iterator[tuple[ast.Dict, str | None]]:
    """Options dict literals, with the variable that holds them (None: passed inline)."""
    wanted = {cls: frozenset(methods) for cls, methods in _ENQUEUE_APIS.items()}
    for site, cls, method in api_sites(model, wanted):
        expr = _argument(site.node, _ENQUEUE_APIS[cls][method], "options")
        name = None
        if isinstance(expr, ast.Name):
            name = expr.id
            expr = model.single_value(expr.id, site.fn)
        if isinstance(expr, ast.Dict):
            yield expr, name
    if any(q in _ENQUEUE_OPTION_TYPES for q in model.imports.known.values()):
        for node in model.annotated_assignments:
            if isinstance(node.value, ast.Dict):
                if model.qualname(node.annotation, None) in _ENQUEUE_OPTION_TYPES:
                    target = node.target.id if isinstance(node.target, ast.Name) else None
                    yield node.value, target


def _check_enqueue_options(
    ctx: RuleContext, options: ast.Dict, holder: str | None, check_keys: bool
) -> Iterator[Finding]:
    names: set[str] = set()
    complete = True
    for key in options.keys:
        name = str_constant(key)
        if name is None:
            complete = False  # ``**spread`` or a computed key: it may hold anything
            continue
        names.add(name)
        if check_keys and name not in ENQUEUE_OPTION_KEYS:
            hint = difflib.get_close_matches(name, sorted(ENQUEUE_OPTION_KEYS), n=1, cutoff=0.75)
            message = f"`{name}` is not an EnqueueOptions key"
            if hint:
                message += f" (did you mean `{hint[0]}`?)"
            if name == "max_recovery_attempts":
                message = "`max_recovery_attempts` was removed from EnqueueOptions in DBOS 3.0"
            yield ctx.finding(key, message)  # type: ignore[arg-type]
    if not complete:
        return
    missing = [k for k in _REQUIRED_ENQUEUE_KEYS if k not in names]
    if missing and (holder is None or holder not in mutated_names(ctx.model)):
        listed = " and ".join(f"`{k}`" for k in missing)
        yield ctx.finding(options, f"EnqueueOptions lacks the required {listed}")
