"""Calls that make a workflow nondeterministic or do I/O, matched by qualified name.

One table: rules DBOS201 (nondeterministic values) and DBOS202 (I/O) read it.
Names are what ``ModuleModel.qualname`` produces, so ``import time as t;
t.time()`` and ``from time import time; time()`` both give ``time.time``,
while a local function called ``time`` gives nothing.  An entry ending in
``.*`` matches every attribute of that module.
"""

from __future__ import annotations

CLOCK = "reads the clock"
RANDOM = "draws random values"
ENVIRONMENT = "reads the process environment"
NETWORK = "does network I/O"
FILES = "does file I/O"
SUBPROCESS = "runs a subprocess"
DATABASE = "talks to a database directly"

NONDETERMINISTIC: dict[str, str] = {
    **{
        f"time.{name}": CLOCK
        for name in (
            "time time_ns monotonic monotonic_ns perf_counter perf_counter_ns localtime gmtime ctime asctime"
        ).split()
    },
    "datetime.datetime.now": CLOCK,
    "datetime.datetime.utcnow": CLOCK,
    "datetime.datetime.today": CLOCK,
    "datetime.date.today": CLOCK,
    "random.*": RANDOM,
    "secrets.*": RANDOM,
    "uuid.uuid1": RANDOM,
    "uuid.uuid4": RANDOM,
    "os.urandom": RANDOM,
    "os.getrandom": RANDOM,
    "os.getenv": ENVIRONMENT,
    "os.environ.get": ENVIRONMENT,
    "os.environ": ENVIRONMENT,  # attribute reads, e.g. os.environ["KEY"]
}

# Called with arguments these are deterministic (a fixed timestamp, a seeded generator).
DETERMINISTIC_WITH_ARGUMENTS = frozenset(
    {"time.localtime", "time.gmtime", "time.ctime", "time.asctime", "random.Random", "random.seed"}
)

IO: dict[str, str] = {
    "requests.*": NETWORK,
    "httpx.*": NETWORK,
    "aiohttp.ClientSession": NETWORK,
    "aiohttp.request": NETWORK,
    "urllib.request.urlopen": NETWORK,
    "urllib.request.urlretrieve": NETWORK,
    "http.client.HTTPConnection": NETWORK,
    "http.client.HTTPSConnection": NETWORK,
    "socket.*": NETWORK,
    "smtplib.SMTP": NETWORK,
    "smtplib.SMTP_SSL": NETWORK,
    "boto3.client": NETWORK,
    "boto3.resource": NETWORK,
    "builtins.open": FILES,
    "io.open": FILES,
    "os.remove": FILES,
    "os.unlink": FILES,
    "os.rename": FILES,
    "os.listdir": FILES,
    "os.makedirs": FILES,
    "os.mkdir": FILES,
    "shutil.*": FILES,
    "subprocess.*": SUBPROCESS,
    "os.system": SUBPROCESS,
    "os.popen": SUBPROCESS,
    "sqlalchemy.create_engine": DATABASE,
    "sqlalchemy.ext.asyncio.create_async_engine": DATABASE,
    "psycopg.connect": DATABASE,
    "psycopg2.connect": DATABASE,
    "sqlite3.connect": DATABASE,
    "asyncpg.connect": DATABASE,
    "asyncpg.create_pool": DATABASE,
    "pymysql.connect": DATABASE,
}

# Roots whose names the syntactic resolver must know to match the table above.
MODULE_ROOTS = frozenset(name.split(".")[0] for name in (*NONDETERMINISTIC, *IO))


def _lookup(table: dict[str, str], qualname: str) -> str | None:
    if qualname in table:
        return table[qualname]
    parts = qualname.split(".")
    for i in range(len(parts) - 1, 0, -1):
        wildcard = ".".join(parts[:i]) + ".*"
        if wildcard in table:
            return table[wildcard]
    return None


def nondeterministic(qualname: str, has_arguments: bool) -> str | None:
    if has_arguments and qualname in DETERMINISTIC_WITH_ARGUMENTS:
        return None
    return _lookup(NONDETERMINISTIC, qualname)


def io_kind(qualname: str) -> str | None:
    return _lookup(IO, qualname)
