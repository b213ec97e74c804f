"""Command line: ``dbos-lsp`` starts the language server, ``dbos-lsp check`` lints files.

``dbos-lsp check`` runs the same engine the server runs, on files and directories,
for CI and pre-commit.  It parses the code and asks jedi about imports; it never
imports or executes the code it checks.  Each file gets the settings of its nearest
``pyproject.toml`` (``[tool.dbos-lsp]``: select, ignore, severity, per-file-ignores,
exclude, dbos-version); ``--select``, ``--ignore``, ``--dbos-version`` and
``--environment-path`` override those keys.  ``exclude`` applies to files found by
walking a directory; a file named on the command line is always checked.

Exit codes: 0 no problems, 1 problems found (findings, syntax errors or unreadable
files), 2 usage error (unknown option, missing or nonexistent path, bad value).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional, Sequence, TextIO

from . import __version__

# Directories never descended into when a directory is given.
SKIP_DIRS = frozenset({".venv", "venv", "node_modules", ".git", "__pycache__", "build", "dist"})
# Files that mark the root of a project (the root jedi resolves imports against).
_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main()`` can return 2."""

    def error(self, message: str) -> "None":  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}\n{self.format_usage().rstrip()}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbos-lsp",
        description="Live guidance for DBOS durable workflows. Without a command, "
        "runs the language server over stdio.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    # Editors' LSP clients often pass --stdio; stdio is the only transport, so accept it.
    parser.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sub.add_parser("serve", help="run the language server over stdio (the default)")

    check = sub.add_parser(
        "check",
        help="check Python files and directories from the command line",
        description="Check Python files for DBOS mistakes with the language server's rules. "
        "Directories are searched for *.py files.",
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="files or directories to check")
    check.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    check.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="RULES",
        help="only these rules: codes, code prefixes or names, comma-separated (repeatable)",
    )
    check.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="RULES",
        help="skip these rules: codes, code prefixes or names, comma-separated (repeatable)",
    )
    check.add_argument(
        "--dbos-version",
        metavar="X.Y",
        help="the DBOS version the code targets (default: the newest release)",
    )
    check.add_argument(
        "--environment-path",
        metavar="PATH",
        help="Python interpreter or virtualenv used to resolve imports (default: $VIRTUAL_ENV)",
    )
    return parser


# ----- file discovery ---------------------------------------------------------------------


def _split(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


def iter_python_files(root: str) -> Iterator[str]:
    """``*.py`` files under ``root``, skipping virtualenvs, caches and build output."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def collect_files(paths: Sequence[str]) -> list[tuple[str, bool]]:
    """``(file, explicit)`` pairs, sorted and without duplicates; ``explicit`` is True
    for a file named on the command line (checked even when ``exclude`` matches it)."""
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise UsageError("\n".join(f"dbos-lsp check: error: {p}: no such file or directory" for p in missing))
    found: dict[str, tuple[str, bool]] = {}
    for p in paths:
        explicit = not os.path.isdir(p)
        for f in ([p] if explicit else iter_python_files(p)):
            key = os.path.realpath(f)
            if key not in found or explicit:
                found[key] = (os.path.normpath(f), explicit)
    return sorted(found.values())


def _project_root(file: str, fallback: str) -> str:
    """The nearest ancestor holding a project marker, else ``fallback``."""
    d = os.path.dirname(os.path.abspath(file))
    while True:
        if any(os.path.exists(os.path.join(d, m)) for m in _PROJECT_MARKERS):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return fallback
        d = parent


def _common_dir(files: Sequence[str]) -> str:
    dirs = [os.path.dirname(os.path.abspath(f)) for f in files]
    try:
        return os.path.commonpath(dirs) if dirs else os.getcwd()
    except ValueError:  # different drives on Windows
        return os.getcwd()


# ----- checking -----------------------------------------------------------------------------


@dataclass
class Problem:
    path: str
    finding: object  # model.Finding


@dataclass
class CheckResult:
    problems: list[Problem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # lines for stderr, in file order
    files_checked: int = 0
    files_failed: int = 0  # unreadable, undecodable or with a syntax error


def read_source(path: str) -> str:
    """The file's text; raises ``OSError`` or ``UnicodeDecodeError``."""
    with open(path, "rb") as fh:
        data = fh.read()
    # utf-8-sig drops a leading BOM, which Python itself accepts.
    return data.decode("utf-8-sig")


def check_files(
    files: Sequence[str] | Sequence[tuple[str, bool]], overrides: Optional[dict] = None
) -> CheckResult:
    """Analyse ``files`` with the settings of each file's ``pyproject.toml``
    (``[tool.dbos-lsp]``), the command-line ``overrides`` on top, key by key."""
    from .engine import analyze
    from .project_config import is_excluded, settings_for
    from .project_index import JediProjectIndex

    entries = [(f, True) if isinstance(f, str) else f for f in files]
    result = CheckResult()
    common = _common_dir([f for f, _ in entries])
    indexes: dict[tuple[str, Optional[str]], JediProjectIndex] = {}
    reported_config: set[str] = set()
    for path, explicit in entries:
        settings, config_errors = settings_for(os.path.abspath(path), overrides or {})
        for error in config_errors:
            if error not in reported_config:
                reported_config.add(error)
                result.errors.append(f"warning: {error}")
        if not explicit and settings.exclude and is_excluded(os.path.abspath(path), settings):
            continue
        result.files_checked += 1
        try:
            text = read_source(path)
        except UnicodeDecodeError as exc:
            result.errors.append(
                f"{path}: cannot decode as UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); skipped"
            )
            result.files_failed += 1
            continue
        except OSError as exc:
            result.errors.append(f"{path}: cannot read: {exc.strerror or exc}; skipped")
            result.files_failed += 1
            continue
        root = _project_root(path, common)
        key = (root, settings.environment_path)
        index = indexes.get(key)
        if index is None:
            index = indexes[key] = JediProjectIndex(root=root, environment_path=settings.environment_path)
        analysis = analyze(text, settings, index, os.path.abspath(path))
        if analysis.syntax_error is not None:
            pos = analysis.syntax_error.span.start
            result.errors.append(
                f"{path}:{pos.line + 1}:{pos.character + 1}: syntax error: {analysis.syntax_error.message}"
            )
            result.files_failed += 1
        for code, error in analysis.rule_errors:
            result.errors.append(f"{path}: internal error in rule {code}: {error}")
        for f in analysis.findings:
            result.problems.append(Problem(path, f))
    result.problems.sort(key=lambda p: (p.path, p.finding.span.start, p.finding.span.end, p.finding.code))
    return result


# ----- output -------------------------------------------------------------------------------


def _pos(p) -> dict:
    return {"line": p.line + 1, "column": p.character + 1}


def finding_to_json(path: str, f) -> dict:
    fix = None
    if f.fix is not None:
        fix = {
            "title": f.fix.title,
            "safe": f.fix.safe,
            "edits": [
                {"start": _pos(e.span.start), "end": _pos(e.span.end), "new_text": e.new_text} for e in f.fix.edits
            ],
        }
    return {
        "path": path,
        "line": f.span.start.line + 1,
        "column": f.span.start.character + 1,
        "end_line": f.span.end.line + 1,
        "end_column": f.span.end.character + 1,
        "code": f.code,
        "name": f.name,
        "severity": f.severity.label,
        "message": f.message,
        "fix": fix,
    }


def format_text(problem: Problem) -> str:
    f = problem.finding
    return f"{problem.path}:{f.span.start.line + 1}:{f.span.start.character + 1}: {f.code} [{f.name}] {f.message}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run_check(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from .rules import REGISTRY
    from .settings import parse_version

    select, ignore = _split(args.select), _split(args.ignore)
    for sel in select + ignore:
        s = sel.upper()
        if s != "ALL" and not any(r.code.startswith(s) or r.name == sel.lower() for r in REGISTRY.values()):
            raise UsageError(f"dbos-lsp check: error: unknown rule selector {sel!r}")
    if args.dbos_version is not None and parse_version(args.dbos_version) is None:
        raise UsageError(f"dbos-lsp check: error: --dbos-version {args.dbos_version!r} is not a version like '3.4'")
    if args.environment_path and not os.path.exists(args.environment_path):
        raise UsageError(f"dbos-lsp check: error: --environment-path {args.environment_path}: no such file or directory")
    files = collect_files(args.paths)
    # Command-line values override the pyproject's [tool.dbos-lsp] key by key.
    overrides: dict = {}
    if select:
        overrides["select"] = list(select)
    if ignore:
        overrides["ignore"] = list(ignore)
    if args.dbos_version:
        overrides["dbosVersion"] = args.dbos_version
    if args.environment_path:
        overrides["environmentPath"] = args.environment_path
    result = check_files(files, overrides)

    if args.format == "json":
        json.dump([finding_to_json(p.path, p.finding) for p in result.problems], stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
    else:
        for p in result.problems:
            stdout.write(format_text(p) + "\n")
    stdout.flush()
    for line in result.errors:
        stderr.write(line + "\n")
    n = len(result.problems)
    if n or result.files_failed:
        with_problems = len({p.path for p in result.problems})
        summary = f"Found {_plural(n, 'problem')} in {_plural(with_problems, 'file')}"
        summary += f" ({_plural(result.files_checked, 'file')} checked"
        if result.files_failed:
            summary += f", {result.files_failed} with errors"
        summary += ")"
        stderr.write(summary + "\n")
    stderr.flush()
    return EXIT_FINDINGS if (n or result.files_failed) else EXIT_OK


def main(argv: Optional[Sequence[str]] = None, stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        if args.version:
            stdout.write(f"dbos-lsp {__version__}\n")
            return EXIT_OK
        if args.command == "check":
            return run_check(args, stdout, stderr)
    except UsageError as exc:
        stderr.write(f"{exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    from .server import start

    start()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
