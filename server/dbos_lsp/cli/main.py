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
import gc
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from dbos_lsp import __version__
from dbos_lsp.analysis.findings import Finding
from dbos_lsp.cli import rule_doc
from dbos_lsp.cli.report_formats import Notice, finding_to_json, related_lines, text_line

if TYPE_CHECKING:
    from dbos_lsp.analysis.settings import Settings
    from dbos_lsp.project.index import JediProjectIndex

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
    check.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="analyse files in N processes (default: the number of usable cores; 1: in this process)",
    )
    rule_doc.add_parser(sub)
    return parser


# ----- file discovery ---------------------------------------------------------------------


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return n


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


@dataclass
class FileOutcome:
    """What checking one file adds to a :class:`CheckResult`, in the order the checks ran.
    Plain data (it pickles): a worker process of a parallel run sends it back as is."""

    path: str
    # ("config", message) | ("skip", path, reason) | ("fill", folder) | ("note", Notice):
    # deduplicated and turned into notices by CheckResult.add, in file order.
    notes: list[tuple] = field(default_factory=list)
    checked: bool = False
    failed: bool = False
    problems: list[Problem] = field(default_factory=list)
    change: FileChange | None = None
    lines: list[str] | None = None
    unsuppressible: int = 0
    version_assumed: str | None = None
    pid: int = 0  # the process that analysed the file (tests check the pool ran)

    def note(self, notice: Notice) -> None:
        self.notes.append(("note", notice))


class FileChecker:
    """Checks one file at a time with what one run shares: each file's settings, the
    project-root cache, the file facts (each application folder is scanned once, for
    DBOS404) and one project index per (root, environment, size limit)."""

    def __init__(
        self,
        paths: Sequence[str],
        overrides: dict | None = None,
        fix: str | None = None,
        add_noqa: bool = False,
    ) -> None:
        from dbos_lsp.project.config import exclusion_test
        from dbos_lsp.project.files import ProjectRoots
        from dbos_lsp.project.workspace import WorkspaceIndex

        self.overrides = overrides or {}
        self.fix = fix
        self.add_noqa = add_noqa
        self.common = _common_dir(paths)
        self.facts = WorkspaceIndex()
        self.roots = ProjectRoots(ttl=None)
        self.excluded = exclusion_test(self.overrides)
        self.indexes: dict[tuple[str, str | None, int], JediProjectIndex] = {}
        self._settings: dict[str, tuple[Settings, list[str]]] = {}
        self._outcome = FileOutcome("")  # the file being checked: where notes go

    def settings(self, path: str) -> tuple[Settings, list[str]]:
        """(settings, configuration errors) of ``path``, computed once per run."""
        from dbos_lsp.project.config import settings_for

        abspath = os.path.abspath(path)
        found = self._settings.get(abspath)
        if found is None:
            found = self._settings[abspath] = settings_for(abspath, self.overrides)
        return found

    def index_root(self, path: str) -> str:
        """The folder of ``path``'s project index: its project folder, else the common folder."""
        return self.roots.find(os.path.abspath(path)) or self.common

    def note_skip(self, path: str, reason: str) -> None:
        self._outcome.notes.append(("skip", path, reason))

    def note_fill(self, folder: str) -> None:
        """An analysis asked for the facts of ``folder``, scanned before (parallel runs)."""
        self._outcome.notes.append(("fill", os.path.abspath(folder)))

    def check(self, path: str, explicit: bool) -> FileOutcome:
        outcome = self._outcome = FileOutcome(path, pid=os.getpid())
        try:
            self._check(outcome, path, explicit)
        finally:
            self._outcome = FileOutcome("")
        return outcome

    def _check(self, out: FileOutcome, path: str, explicit: bool) -> None:
        from dbos_lsp.analysis.settings import parse_version
        from dbos_lsp.engine.pipeline import analyze
        from dbos_lsp.features.code_actions import parses
        from dbos_lsp.project.config import is_excluded
        from dbos_lsp.project.files import SkippedFile, read_source
        from dbos_lsp.project.index import JediProjectIndex
        from dbos_lsp.rules import REGISTRY
        from dbos_lsp.rules.registry import version_text

        settings, config_errors = self.settings(path)
        out.notes.extend(("config", error) for error in config_errors)
        abspath = os.path.abspath(path)
        if not explicit and settings.exclude and is_excluded(abspath, settings):
            return
        try:
            source = read_source(path, settings.max_file_bytes)
            text, bom, encoding = source.text, source.bom, source.encoding
        except SkippedFile as exc:  # a FIFO, device or socket, or over max-file-bytes
            self.note_skip(path, exc.reason)
            return
        except UnicodeDecodeError as exc:
            out.checked = out.failed = True
            byte = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
            out.note(Notice(f"cannot decode as UTF-8 ({byte}); skipped", path=path, kind="unreadable"))
            return
        except OSError as exc:
            out.checked = out.failed = True
            out.note(Notice(f"cannot read: {exc.strerror or exc}; skipped", path=path, kind="unreadable"))
            return
        out.checked = True
        root = self.index_root(abspath)
        key = (root, settings.environment_path, settings.max_file_bytes)
        index = self.indexes.get(key)
        if index is None:
            index = self.indexes[key] = JediProjectIndex(
                root=root,
                environment_path=settings.environment_path,
                workspace=self.facts,
                scan=True,
                roots=self.roots,
                excluded=self.excluded,
                skipped=self.note_skip,
                max_file_bytes=settings.max_file_bytes,
            )

        def reanalyze(t: str):
            return analyze(t, settings, index, abspath)

        analysis = reanalyze(text)
        if analysis.syntax_error is not None:
            pos = analysis.syntax_error.span.start
            message = f"syntax error: {analysis.syntax_error.message}"
            out.note(Notice(message, path=path, line=pos.line + 1, column=pos.character + 1, kind="syntax-error"))
            out.failed = True
            if self.fix or self.add_noqa:
                out.note(Notice("not changed: the file has a syntax error", path=path))
        elif self.fix or self.add_noqa:
            new, count, analysis = _transform(text, analysis, reanalyze, self.fix, self.add_noqa, out)
            if new != text:
                if parses(new):
                    out.change = FileChange(path, text, new, count, bom, encoding)
                    text = new
                else:  # never write text that does not parse
                    out.note(Notice("not changed: the changed text would not parse", path=path))
                    analysis = reanalyze(text)
        for code, error in analysis.rule_errors:
            out.note(Notice(f"internal error in rule {code}: {error}", path=path, kind="rule-error"))
        if analysis.findings:
            from dbos_lsp.analysis.source_text import split_lines

            out.lines = split_lines(text)
        out.problems = [Problem(path, f) for f in analysis.findings]
        if any(REGISTRY[f.code].version_sensitive for f in analysis.findings):
            assumed = parse_version(analysis.dbos_version or "")
            shown = version_text(assumed) if assumed else analysis.dbos_version
            out.version_assumed = f"DBOS {shown} assumed from {analysis.dbos_version_source}"


class _Merge:
    """Adds outcomes to a result in file order, as the serial loop did: each configuration
    error and each skipped path noted once; a folder scanned before the files were
    analysed (``prescanned``: folder -> its skipped entries) reports them where the first
    file asking for it stands."""

    def __init__(self, result: CheckResult, prescanned: dict[str, list[tuple[str, str]]]) -> None:
        self.result = result
        self.prescanned = prescanned
        self.config: set[str] = set()
        self.skipped: set[str] = set()
        self.filled: set[str] = set()

    def add(self, out: FileOutcome) -> None:
        result = self.result
        for entry in out.notes:
            kind = entry[0]
            if kind == "config" and entry[1] not in self.config:
                self.config.add(entry[1])
                result.note(Notice(entry[1], level="warning"))
            elif kind == "skip":
                self._skip(entry[1], entry[2])
            elif kind == "fill" and entry[1] not in self.filled:
                self.filled.add(entry[1])
                for path, reason in self.prescanned.get(entry[1], ()):
                    self._skip(path, reason)
            elif kind == "note":
                result.note(entry[1])
        result.files_checked += out.checked
        result.files_failed += out.failed
        result.problems.extend(out.problems)
        if out.change is not None:
            result.changes.append(out.change)
        if out.lines is not None:
            result.lines[out.path] = out.lines
        result.unsuppressible += out.unsuppressible
        if out.version_assumed:
            result.versions_assumed.setdefault(out.version_assumed)

    def _skip(self, path: str, reason: str) -> None:
        key = os.path.abspath(path)
        if key not in self.skipped:
            self.skipped.add(key)
            if os.path.isabs(path):  # found by the project scan: shown like the files named
                rel = os.path.relpath(path)
                path = rel if not rel.startswith("..") else path
            self.result.note(Notice(reason, level="warning", path=path))


def check_files(
    files: Sequence[str] | Sequence[tuple[str, bool]],
    overrides: dict | None = None,
    fix: str | None = None,
    add_noqa: bool = False,
    jobs: int = 1,
) -> CheckResult:
    """Analyse ``files`` with the settings of each file's ``pyproject.toml``
    (``[tool.dbos-lsp]``), the command-line ``overrides`` on top, key by key.

    ``fix`` (``"safe"`` or ``"unsafe"``) or ``add_noqa`` compute new text for each file
    that parses (recorded in ``changes``, never written here); the problems reported are
    then those of the new text.  ``jobs`` > 1 analyses the files in that many worker
    processes when the run is big enough (:mod:`.parallel`); the result is the same."""
    from dbos_lsp.cli import parallel

    entries = [(f, True) if isinstance(f, str) else f for f in files]
    checker = FileChecker([f for f, _ in entries], overrides, fix, add_noqa)
    result = CheckResult()
    prescanned: dict[str, list[tuple[str, str]]] = {}
    merge = _Merge(result, prescanned)
    for outcome in parallel.check_outcomes(checker, entries, jobs, prescanned):
        merge.add(outcome)
    result.problems.sort(key=lambda p: (p.path, p.finding.span.start, p.finding.span.end, p.finding.code))
    return result


def _transform(text, analysis, reanalyze, fix, add_noqa, out: FileOutcome):
    """(new text, count, analysis of the new text) for --fix/--diff or --add-noqa."""
    from dbos_lsp.features.code_actions import fix_text

    if fix:
        fixed = fix_text(text, analysis, reanalyze, unsafe=(fix == "unsafe"), rounds=FIX_ROUNDS)
        if fixed.text == text:
            return text, 0, analysis
        return fixed.text, len(fixed.applied), fixed.analysis or reanalyze(fixed.text)
    new, added, skipped = add_noqa_comments(text, analysis.findings)
    if skipped:
        out.unsuppressible += skipped
        why = "its line ends inside a string or after a `\\` continuation"
        out.note(Notice(f"could not add a noqa comment for {_plural(skipped, 'finding')}: {why}", "warning", out.path))
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
    from dbos_lsp.cli.parallel import default_jobs

    jobs = args.jobs or default_jobs()
    result = check_files(files, overrides, fix=fix, add_noqa=args.add_noqa, jobs=jobs)

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
        entries = [finding_to_json(p.path, p.finding) for p in problems]
        entries += [rf.notice_to_json(n) for n in result.notices if n.kind is not None]
        json.dump(entries, stdout, indent=2, ensure_ascii=False)
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
    # The server's imports (lsprotocol's types above all) create hundreds of thousands of
    # long-lived objects: collecting while they load only costs start-up time, and frozen
    # afterwards (lsp.server.start) they are never scanned again during analyses.
    gc.disable()
    from dbos_lsp.lsp.server import start

    start()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
