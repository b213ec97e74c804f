"""Command line: ``dbos-lsp`` starts the language server, ``dbos-lsp check`` lints files.

``dbos-lsp check`` runs the same engine the server runs, on files and directories,
for CI and pre-commit.  It parses the code and asks jedi about imports; it never
imports or executes the code it checks.  Each file gets the settings of its nearest
``pyproject.toml`` (``[tool.dbos-lsp]``: select, ignore, severity, per-file-ignores,
exclude, dbos-version); ``--select``, ``--ignore``, ``--dbos-version`` and
``--environment-path`` override those keys.  ``exclude`` applies to files found by
walking a directory; a file named on the command line is always checked.

Output formats: ``text`` (one line per finding), ``json``, ``sarif`` (SARIF 2.1.0 for
GitHub code scanning) and ``github`` (workflow-command annotations).  ``--fix`` applies
safe fixes in place (``--unsafe-fixes`` adds the rest), ``--diff`` shows them without
writing, ``--add-noqa`` suppresses every current finding with a ``# noqa`` comment.  A
file with a syntax error is never written.

Exit codes: 0 no problems, 1 problems found (findings, syntax errors or unreadable
files; with ``--diff``: changes to show), 2 usage error (unknown option, missing or
nonexistent path, bad value).  ``--exit-zero`` turns 1 into 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from dbos_lsp import __version__
from dbos_lsp.analysis.findings import Finding
from dbos_lsp.cli import rule_doc
from dbos_lsp.cli.report_formats import Notice, finding_to_json, related_lines, text_line

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

FORMATS = ("text", "json", "sarif", "github")
# Fix rounds for --fix: each round applies non-overlapping fixes and re-analyses, so a
# fix that uncovers or unblocks another lands in a later round; stop when none applies.
FIX_ROUNDS = 20


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main()`` can return 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}\n{self.format_usage().rstrip()}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbos-lsp",
        description="Live guidance for DBOS durable workflows. Without a command, runs the language server over stdio.",
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
        "--format",
        choices=FORMATS,
        default="text",
        help="output format: text, json, sarif (SARIF 2.1.0, for GitHub code scanning) or "
        "github (GitHub Actions annotations); default: text",
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
    modes = check.add_mutually_exclusive_group()
    modes.add_argument("--fix", action="store_true", help="apply safe fixes, writing the files in place")
    modes.add_argument(
        "--diff", action="store_true", help="print the fixes as a unified diff without writing (exit 1 if any)"
    )
    modes.add_argument(
        "--add-noqa",
        action="store_true",
        help="add `# noqa: CODE` comments that suppress every current finding, writing the files in place",
    )
    check.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix or --diff, also apply fixes that may change behaviour",
    )
    check.add_argument(
        "--statistics",
        action="store_true",
        help="print the number of findings per rule instead of the findings (text or json)",
    )
    check.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when problems are found (usage errors still exit 2)"
    )
    rule_doc.add_parser(sub)
    return parser


# ----- file discovery ---------------------------------------------------------------------


def _split(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


def iter_python_files(root: str) -> Iterator[str]:
    """``*.py`` entries under ``root`` (the project walker's skip list).  Entries that are
    not regular files are listed too: checking reports them as skipped, without opening."""
    from dbos_lsp.project.files import walk_python_files

    odd: list[str] = []
    yield from walk_python_files([root], max_bytes=sys.maxsize, skipped=lambda path, _why: odd.append(path))
    yield from odd


def collect_files(paths: Sequence[str]) -> list[tuple[str, bool]]:
    """``(file, explicit)`` pairs, sorted and without duplicates; ``explicit`` is True
    for a file named on the command line (checked even when ``exclude`` matches it)."""
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise UsageError("\n".join(f"dbos-lsp check: error: {p}: no such file or directory" for p in missing))
    found: dict[str, tuple[str, bool]] = {}
    for p in paths:
        explicit = not os.path.isdir(p)
        for f in [p] if explicit else iter_python_files(p):
            key = os.path.realpath(f)
            if key not in found or explicit:
                found[key] = (os.path.normpath(f), explicit)
    return sorted(found.values())


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
    finding: Finding


@dataclass
class FileChange:
    """New text for one file, from ``--fix``, ``--diff`` or ``--add-noqa``."""

    path: str
    old: str
    new: str
    count: int  # problems fixed, or noqa codes added
    bom: bool = False  # the file started with a UTF-8 byte order mark
    encoding: str = "utf-8"  # written back in the encoding it was read in


@dataclass
class CheckResult:
    problems: list[Problem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # lines for stderr, in file order
    notices: list[Notice] = field(default_factory=list)  # the same, structured
    files_checked: int = 0
    files_failed: int = 0  # unreadable, undecodable or with a syntax error
    changes: list[FileChange] = field(default_factory=list)
    lines: dict[str, list[str]] = field(default_factory=dict)  # path -> lines of the analysed text
    unsuppressible: int = 0  # --add-noqa: findings no comment could be added for
    # "DBOS 3.4 assumed from ..." for each version a version-sensitive finding assumed (the
    # findings' messages say only "(DBOS 3.4)"), in first-seen order; shown in the text summary.
    versions_assumed: dict[str, None] = field(default_factory=dict)

    def note(self, notice: Notice) -> None:
        self.notices.append(notice)
        self.errors.append(notice.text())


def read_source(path: str) -> str:
    """The file's text; raises ``OSError``, ``UnicodeDecodeError`` or ``SkippedFile``."""
    from dbos_lsp.project.files import read_source as read

    return read(path).text


def check_files(
    files: Sequence[str] | Sequence[tuple[str, bool]],
    overrides: dict | None = None,
    fix: str | None = None,
    add_noqa: bool = False,
) -> CheckResult:
    """Analyse ``files`` with the settings of each file's ``pyproject.toml``
    (``[tool.dbos-lsp]``), the command-line ``overrides`` on top, key by key.

    ``fix`` (``"safe"`` or ``"unsafe"``) or ``add_noqa`` compute new text for each file
    that parses (recorded in ``changes``, never written here); the problems reported are
    then those of the new text."""
    from dbos_lsp.analysis.settings import parse_version
    from dbos_lsp.engine.pipeline import analyze
    from dbos_lsp.features.code_actions import parses
    from dbos_lsp.project.config import exclusion_test, is_excluded, settings_for
    from dbos_lsp.project.files import ProjectRoots, SkippedFile, read_source
    from dbos_lsp.project.index import JediProjectIndex
    from dbos_lsp.project.workspace import WorkspaceIndex
    from dbos_lsp.rules import REGISTRY
    from dbos_lsp.rules.registry import version_text

    entries = [(f, True) if isinstance(f, str) else f for f in files]
    result = CheckResult()
    common = _common_dir([f for f, _ in entries])
    # One project index per run: every file shares the file facts (each application folder
    # is scanned once, for DBOS404) and the project-root cache.
    facts = WorkspaceIndex()
    roots = ProjectRoots(ttl=None)
    excluded = exclusion_test(overrides or {})
    skip_noted: set[str] = set()

    def note_skip(path: str, reason: str) -> None:
        key = os.path.abspath(path)
        if key not in skip_noted:
            skip_noted.add(key)
            if os.path.isabs(path):  # found by the project scan: shown like the files named
                rel = os.path.relpath(path)
                path = rel if not rel.startswith("..") else path
            result.note(Notice(reason, level="warning", path=path))

    indexes: dict[tuple[str, str | None, int], JediProjectIndex] = {}
    reported_config: set[str] = set()
    for path, explicit in entries:
        settings, config_errors = settings_for(os.path.abspath(path), overrides or {})
        for error in config_errors:
            if error not in reported_config:
                reported_config.add(error)
                result.note(Notice(error, level="warning"))
        if not explicit and settings.exclude and is_excluded(os.path.abspath(path), settings):
            continue
        try:
            source = read_source(path, settings.max_file_bytes)
            text, bom, encoding = source.text, source.bom, source.encoding
        except SkippedFile as exc:  # a FIFO, device or socket, or over max-file-bytes
            note_skip(path, exc.reason)
            continue
        except UnicodeDecodeError as exc:
            result.files_checked += 1
            result.note(
                Notice(
                    f"cannot decode as UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); skipped",
                    path=path,
                )
            )
            result.files_failed += 1
            continue
        except OSError as exc:
            result.files_checked += 1
            result.note(Notice(f"cannot read: {exc.strerror or exc}; skipped", path=path))
            result.files_failed += 1
            continue
        result.files_checked += 1
        abspath = os.path.abspath(path)
        root = roots.find(abspath) or common
        key = (root, settings.environment_path, settings.max_file_bytes)
        index = indexes.get(key)
        if index is None:
            index = indexes[key] = JediProjectIndex(
                root=root,
                environment_path=settings.environment_path,
                workspace=facts,
                scan=True,
                roots=roots,
                excluded=excluded,
                skipped=note_skip,
                max_file_bytes=settings.max_file_bytes,
            )

        def reanalyze(t: str, settings=settings, index=index, abspath=abspath):
            return analyze(t, settings, index, abspath)

        analysis = reanalyze(text)
        if analysis.syntax_error is not None:
            pos = analysis.syntax_error.span.start
            message = f"syntax error: {analysis.syntax_error.message}"
            result.note(Notice(message, path=path, line=pos.line + 1, column=pos.character + 1))
            result.files_failed += 1
            if fix or add_noqa:
                result.note(Notice("not changed: the file has a syntax error", path=path))
        elif fix or add_noqa:
            new, count, analysis = _transform(text, analysis, reanalyze, fix, add_noqa, result, path)
            if new != text:
                if parses(new):
                    result.changes.append(FileChange(path, text, new, count, bom, encoding))
                    text = new
                else:  # never write text that does not parse
                    result.note(Notice("not changed: the changed text would not parse", path=path))
                    analysis = reanalyze(text)
        for code, error in analysis.rule_errors:
            result.note(Notice(f"internal error in rule {code}: {error}", path=path))
        if analysis.findings:
            from dbos_lsp.analysis.source_text import split_lines

            result.lines[path] = split_lines(text)
        for f in analysis.findings:
            result.problems.append(Problem(path, f))
        if any(REGISTRY[f.code].version_sensitive for f in analysis.findings):
            assumed = parse_version(analysis.dbos_version or "")
            shown = version_text(assumed) if assumed else analysis.dbos_version
            result.versions_assumed.setdefault(f"DBOS {shown} assumed from {analysis.dbos_version_source}")
    result.problems.sort(key=lambda p: (p.path, p.finding.span.start, p.finding.span.end, p.finding.code))
    return result


def _transform(text, analysis, reanalyze, fix, add_noqa, result: CheckResult, path: str):
    """(new text, count, analysis of the new text) for --fix/--diff or --add-noqa."""
    from dbos_lsp.features.code_actions import fix_text

    if fix:
        fixed = fix_text(text, analysis, reanalyze, unsafe=(fix == "unsafe"), rounds=FIX_ROUNDS)
        if fixed.text == text:
            return text, 0, analysis
        return fixed.text, len(fixed.applied), fixed.analysis or reanalyze(fixed.text)
    new, added, skipped = add_noqa_comments(text, analysis.findings)
    if skipped:
        result.unsuppressible += skipped
        why = "its line ends inside a string or after a `\\` continuation"
        result.note(Notice(f"could not add a noqa comment for {_plural(skipped, 'finding')}: {why}", "warning", path))
    if new == text:
        return text, 0, analysis
    return new, added, reanalyze(new)


# ----- --add-noqa ---------------------------------------------------------------------------


def _comment_columns(text: str) -> tuple[dict[int, int], set[int]]:
    """(0-based line -> column of its comment, lines whose end is inside a token or a
    backslash continuation, where a comment cannot go)."""
    import io
    import tokenize

    comments: dict[int, int] = {}
    blocked: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            (srow, scol), (erow, _) = tok.start, tok.end
            if tok.type == tokenize.COMMENT:
                comments[srow - 1] = scol
            elif erow > srow and tok.type not in (tokenize.NL, tokenize.NEWLINE):
                blocked.update(range(srow - 1, erow - 1))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return comments, blocked


def add_noqa_comments(text: str, findings: Sequence) -> tuple[str, int, int]:
    """``text`` with ``# noqa: CODE`` on each finding's first line (extending an existing
    ``# noqa: ...`` list there); returns (new text, codes added, findings skipped)."""
    from dbos_lsp.analysis.findings import Edit, Position, Span
    from dbos_lsp.analysis.source_text import SourceText, apply_edits
    from dbos_lsp.analysis.suppression import disable_comment_edit

    source = SourceText(text)
    by_line: dict[int, list[str]] = {}
    for f in findings:
        codes = by_line.setdefault(f.span.start.line, [])
        if f.code not in codes:
            codes.append(f.code)
    comments, blocked = _comment_columns(text)
    edits: list[Edit] = []
    added = skipped = 0
    for index, codes in sorted(by_line.items()):
        original = line = source.line(index)
        if index in blocked or line.rstrip().endswith("\\"):
            skipped += sum(1 for f in findings if f.span.start.line == index)
            continue
        comment_col = comments.get(index)
        for code in sorted(codes):
            start, end, new_text = disable_comment_edit(line, code)
            if start == end and not new_text:
                continue  # already suppressed
            if new_text.startswith(",") and (comment_col is None or start < comment_col):
                # The `# noqa: ...` found is inside a string: add a comment of our own.
                stripped = line.rstrip()
                start, end, new_text = len(stripped), len(line), f"  # noqa: {code}"
            if comment_col is None and new_text.startswith("  #"):
                comment_col = start + 2
            line = line[:start] + new_text + line[end:]
            added += 1
        if line != original:
            edits.append(Edit(Span(Position(index, 0), Position(index, len(original))), line))
    return apply_edits(text, edits), added, skipped


def write_change(change: FileChange) -> str | None:
    """Write the new text (keeping a BOM); an error message on failure."""
    try:
        data = change.new.encode(change.encoding)
    except (UnicodeEncodeError, LookupError) as exc:
        return f"{change.path}: not written: the new text cannot be encoded as {change.encoding}: {exc}"
    if change.bom:
        data = b"\xef\xbb\xbf" + data
    try:
        with open(change.path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        return f"{change.path}: cannot write: {exc.strerror or exc}"
    return None


# ----- output -------------------------------------------------------------------------------


def format_text(problem: Problem) -> str:
    return "\n".join([text_line(problem.path, problem.finding), *related_lines(problem.path, problem.finding)])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run_check(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from dbos_lsp.analysis.settings import parse_version
    from dbos_lsp.rules import REGISTRY

    select, ignore = _split(args.select), _split(args.ignore)
    for sel in select + ignore:
        s = sel.upper()
        if s != "ALL" and not any(r.code.startswith(s) or r.name == sel.lower() for r in REGISTRY.values()):
            raise UsageError(f"dbos-lsp check: error: unknown rule selector {sel!r}")
    if args.dbos_version is not None and parse_version(args.dbos_version) is None:
        raise UsageError(f"dbos-lsp check: error: --dbos-version {args.dbos_version!r} is not a version like '3.4'")
    if args.environment_path and not os.path.exists(args.environment_path):
        raise UsageError(
            f"dbos-lsp check: error: --environment-path {args.environment_path}: no such file or directory"
        )
    if args.statistics and args.format not in ("text", "json"):
        raise UsageError("dbos-lsp check: error: --statistics works with --format text or json")
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
    fix = None
    if args.fix or args.diff:
        fix = "unsafe" if args.unsafe_fixes else "safe"
    result = check_files(files, overrides, fix=fix, add_noqa=args.add_noqa)

    status = _report(args, result, stdout, stderr)
    return EXIT_OK if args.exit_zero else status


def _report(args: argparse.Namespace, result: CheckResult, stdout: TextIO, stderr: TextIO) -> int:
    from dbos_lsp import __version__
    from dbos_lsp.cli import report_formats as rf

    cwd = os.getcwd()
    changes = result.changes
    if args.diff:
        for change in changes:
            stdout.write(rf.unified_diff(rf.relative_path(change.path, cwd), change.old, change.new))
        stdout.flush()
        for line in result.errors:
            stderr.write(line + "\n")
        if changes:
            total = sum(c.count for c in changes)
            stderr.write(f"Would fix {_plural(total, 'problem')} in {_plural(len(changes), 'file')}\n")
        stderr.flush()
        return EXIT_FINDINGS if (changes or result.files_failed) else EXIT_OK

    if args.fix or args.add_noqa:
        written = []
        for change in changes:
            error = write_change(change)
            if error is None:
                written.append(change)
            else:
                result.note(Notice(error))
                result.files_failed += 1
        if args.add_noqa:
            for line in result.errors:
                stderr.write(line + "\n")
            total = sum(c.count for c in written)
            stderr.write(f"Added {_plural(total, 'noqa directive')} to {_plural(len(written), 'file')}\n")
            for change in written:
                stderr.write(f"  {change.path}: {change.count}\n")
            stderr.flush()
            return EXIT_FINDINGS if (result.files_failed or result.unsuppressible) else EXIT_OK
        if written:
            total = sum(c.count for c in written)
            stderr.write(f"Fixed {_plural(total, 'problem')} in {_plural(len(written), 'file')}\n")
            for change in written:
                stderr.write(f"  {change.path}: {change.count} fixed\n")

    problems = result.problems
    if args.statistics:
        stats = rf.statistics(problems, unsafe_fixes=args.unsafe_fixes)
        if args.format == "json":
            json.dump(rf.statistics_json(stats), stdout, indent=2, ensure_ascii=False)
            stdout.write("\n")
        else:
            for line in rf.statistics_lines(stats):
                stdout.write(line + "\n")
    elif args.format == "json":
        json.dump([finding_to_json(p.path, p.finding) for p in problems], stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
    elif args.format == "sarif":
        log = rf.sarif_log(problems, __version__, cwd=cwd, lines=result.lines, notices=result.notices)
        json.dump(log, stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
    elif args.format == "github":
        for line in rf.github_lines(problems, result.notices, cwd=cwd):
            stdout.write(line + "\n")
    else:
        for p in problems:
            stdout.write(format_text(p) + "\n")
    stdout.flush()
    for line in result.errors:
        stderr.write(line + "\n")
    n = len(problems)
    if n or result.files_failed:
        with_problems = len({p.path for p in problems})
        summary = f"Found {_plural(n, 'problem')} in {_plural(with_problems, 'file')}"
        summary += f" ({_plural(result.files_checked, 'file')} checked"
        if result.files_failed:
            summary += f", {result.files_failed} with errors"
        if args.format == "text" and result.versions_assumed:
            summary += "; " + "; ".join(result.versions_assumed)
        summary += ")"
        stderr.write(summary + "\n")
    stderr.flush()
    return EXIT_FINDINGS if (n or result.files_failed) else EXIT_OK


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
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
        if args.command == "rule":
            return rule_doc.run(args, stdout, stderr)
    except UsageError as exc:
        stderr.write(f"{exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `dbos-lsp check --diff . | head`
        try:
            sys.stdout = open(os.devnull, "w")  # no second error when Python flushes at exit
        except OSError:
            pass
        return EXIT_FINDINGS
    from dbos_lsp.lsp.server import start

    start()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
