"""The analysis: a pure function of (text, settings, project index) to findings.

The server, the CLI and the tests all call :func:`analyze`; nothing here knows
about editors.  A rule that raises is recorded in ``Analysis.rule_errors`` and
contributes nothing; it never takes the other rules down with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from dbos_lsp.analysis.findings import Analysis, Finding, Position, Span, SyntaxProblem
from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.analysis.parsing import Parsed, SyntaxErrorAt, parse_tolerant
from dbos_lsp.analysis.path_patterns import per_file_ignored
from dbos_lsp.analysis.resolution import ProjectIndex
from dbos_lsp.analysis.settings import Settings, parse_version
from dbos_lsp.analysis.source_text import SourceText
from dbos_lsp.analysis.suppression import comment_line, file_suppression, is_suppressed
from dbos_lsp.knowledge import sdk_facts
from dbos_lsp.rules import REGISTRY, Rule, RuleContext
from dbos_lsp.rules.meta import unused_suppressions
from dbos_lsp.rules.registry import version_text


def selected_rules(settings: Settings, version: tuple[int, ...]) -> list[Rule]:
    return [
        r
        for r in REGISTRY.values()
        if r.applies_to(version) and _matches(r, settings.select, True) and not _matches(r, settings.ignore, False)
    ]


def _matches(r: Rule, selectors: Iterable[str], empty_means_all: bool) -> bool:
    selectors = tuple(selectors)
    if not selectors:
        return empty_means_all
    for sel in selectors:
        s = sel.strip()
        if s.upper() == "ALL" or r.code.startswith(s.upper()) or r.name == s.lower():
            return True
    return False


def effective_version(
    settings: Settings, index: ProjectIndex | None = None, path: str | None = None
) -> tuple[tuple[int, ...], str, str]:
    """(version tuple, version text, why) for the rules' version gates of the file ``path``:
    the setting, else what the nearest project files around ``path`` declare."""
    if settings.dbos_version:
        parsed = parse_version(settings.dbos_version)
        if parsed:
            return parsed, settings.dbos_version, "the dbosVersion setting"
    detected = index.dbos_version(path) if index is not None else None
    if detected:
        parsed = parse_version(detected[0])
        if parsed:
            return parsed, detected[0], detected[1]
    newest = sdk_facts.NEWEST_RELEASE
    return parse_version(newest) or (3,), newest, "the newest release (no DBOS version configured)"


@dataclass
class RunSetup:
    """What one analysis run needs besides the text: settings with per-file ignores
    applied, the version the rules assume, and the rules to run."""

    settings: Settings
    version: tuple[int, ...]
    version_text: str
    version_source: str
    rules: list[Rule]


def setup(settings: Settings | None, index: ProjectIndex | None, path: str | None) -> RunSetup:
    settings = settings or Settings()
    version, version_text, version_source = effective_version(settings, index, path)
    extra_ignores = per_file_ignored(path, settings)
    if extra_ignores:
        settings = settings.with_overrides(ignore=(*settings.ignore, *extra_ignores))
    return RunSetup(settings, version, version_text, version_source, selected_rules(settings, version))


def run_rules(
    rules: Iterable[Rule], model: ModuleModel, source: SourceText, run: RunSetup, errors: list[tuple[str, str]]
) -> list[Finding]:
    findings: list[Finding] = []
    for r in rules:
        ctx = RuleContext(r, model, source, run.settings, run.version)
        try:
            findings.extend(r.check(ctx))
        except Exception as exc:  # a broken rule must not take the others down
            errors.append((r.code, f"{type(exc).__name__}: {exc}"))
    return findings


def finish(result: Analysis, raw: list[Finding], source: SourceText, run: RunSetup) -> Analysis:
    """Version notes, DBOS901, severity overrides and suppressions, on copies of ``raw``
    (an incremental run keeps the raw findings of unchanged code for the next edit)."""
    findings = [replace(f) for f in raw]
    # Only the version: where it came from is in ``Analysis.dbos_version_source`` (hover, CLI summary).
    note = f" (DBOS {version_text(run.version)})"
    for f in findings:
        if REGISTRY[f.code].version_sensitive:
            f.message += note
    rule_901 = REGISTRY.get("DBOS901")
    if rule_901 is not None and rule_901 in run.rules:
        findings.extend(unused_suppressions(source, findings, run.rules, rule_901))
    overrides = {k.upper(): v for k, v in run.settings.severity.items()}
    if overrides:
        for f in findings:
            sev = overrides.get(f.code) or overrides.get(f.name.upper())
            if sev is not None:
                f.severity = sev
    whole_file = file_suppression(source.text)
    if whole_file is not None:
        findings = [f for f in findings if whole_file and f.code not in whole_file and f.name.upper() not in whole_file]
    result.findings = sorted(
        (f for f in findings if not is_suppressed(f, source.line(comment_line(source.lines, f.span.start.line)))),
        key=lambda f: (f.span.start, f.code),
    )
    return result


def analyze(
    text: str,
    settings: Settings | None = None,
    index: ProjectIndex | None = None,
    path: str | None = None,
) -> Analysis:
    return analyze_full(text, setup(settings, index, path), index, path)[0]


def syntax_problem(error: SyntaxErrorAt) -> SyntaxProblem:
    line, col, message = error
    pos = Position(max(line - 1, 0), max(col, 0))
    return SyntaxProblem(message, Span(pos, pos))


def analyze_full(
    text: str, run: RunSetup, index: ProjectIndex | None, path: str | None
) -> tuple[Analysis, list[Finding], Parsed]:
    """The whole pipeline on the whole text; also returns the raw findings and the parse
    (how a broken text was repaired)."""
    result = Analysis(dbos_version=run.version_text, dbos_version_source=run.version_source)
    source = SourceText(text)
    parsed = parse_tolerant(text)
    if parsed.error is not None:
        result.syntax_error = syntax_problem(parsed.error)
    if parsed.tree is None:
        return result, [], parsed
    model = ModuleModel(parsed.tree, source.lines, path, index)
    result.model = model
    raw = run_rules(run.rules, model, source, run, result.rule_errors)
    return finish(result, raw, source, run), raw, parsed


def module_model(text: str, index: ProjectIndex | None = None, path: str | None = None) -> ModuleModel | None:
    """The model alone, for hover; None when nothing parses."""
    parsed = parse_tolerant(text)
    if parsed.tree is None:
        return None
    return ModuleModel(parsed.tree, SourceText(text).lines, path, index)


__all__ = [
    "RunSetup",
    "analyze",
    "analyze_full",
    "effective_version",
    "finish",
    "module_model",
    "run_rules",
    "selected_rules",
    "setup",
    "syntax_problem",
]
