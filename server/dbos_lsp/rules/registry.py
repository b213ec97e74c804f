"""The rule registry: the one place that says what each rule is.

A rule module declares its rules with ``@rule(...)``: code, name, severity (and how it
varies by DBOS version or by case), version gates, scope, fix availability and skill
document.  The engine, the incremental analyzer, hover, SARIF, the README table and
``dbos-lsp rule`` all read it from here; a check function only reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from dbos_lsp.analysis.findings import Edit, Finding, Fix, Related, Severity, Span
from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.analysis.settings import Settings
from dbos_lsp.analysis.source_text import Located, SourceText

Version = tuple[int, ...]

# What a finding may depend on, which decides what the incremental analyzer re-runs:
# "statement": findings inside a top-level statement depend only on that statement and
#   module-level context (imports, module bindings, other functions' names, roles and
#   async-ness), so after an edit inside one statement only that statement is re-checked;
# "module": anything in the module (the safe default), re-run on the whole module;
# "project": other files too (through the project index), re-run whenever asked.
SCOPES = ("statement", "module", "project")
FIXES = ("safe", "unsafe", "mixed", "none")


@dataclass(frozen=True)
class SeverityCase:
    """A second severity a rule reports in a named case (not a version), e.g. DBOS404's
    warning when both registrations are in one module, where DBOS only logs."""

    key: str  # what the check passes: ``ctx.finding(..., case=key)``
    severity: Severity
    when: str  # shown in the rule table, hover and ``dbos-lsp rule``


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity  # below the first ``severity_since`` version, outside every case
    skill: str  # reference document id, e.g. "advanced-async"
    summary: str
    fix: str  # "safe", "unsafe", "mixed" or "none": what the catalog promises
    check: Callable[[RuleContext], Iterator[Finding]]
    min_version: Version | None = None
    max_version: Version | None = None  # exclusive
    # The finding depends on the DBOS version in a way users should see (3.x gates,
    # version-dependent severity): its message names the version assumed and why.
    version_sensitive: bool = False
    scope: str = "module"
    # ((version, severity from that version on), ...), ascending.
    severity_since: tuple[tuple[Version, Severity], ...] = ()
    severity_when: tuple[SeverityCase, ...] = ()
    # A statement-scope rule whose findings also follow calls into plain helpers defined
    # elsewhere in the module: an edit to a helper re-runs it on the whole module.
    follows_calls: bool = False
    # ... and into sync steps and workflows too (called directly, they run inline).
    follows_sync_dbos: bool = False

    def applies_to(self, version: Version) -> bool:
        if self.min_version is not None and version < self.min_version:
            return False
        if self.max_version is not None and version >= self.max_version:
            return False
        return True

    def severity_for(self, version: Version, case: str | None = None) -> Severity:
        """The severity a finding gets on ``version`` (in ``case``, if the check names one)."""
        if case is not None:
            for c in self.severity_when:
                if c.key == case:
                    return c.severity
            raise ValueError(f"{self.code} declares no severity case {case!r}")
        severity = self.severity
        for since, sev in self.severity_since:
            if version >= since:
                severity = sev
        return severity

    # ----- the same facts as text, for the rule table, hover, SARIF and ``dbos-lsp rule`` ---

    def versions_text(self) -> str:
        """The DBOS versions the rule runs on: "all", "3.0+", "2.7-3.3", "before 3.0"."""
        return _range_text(self.min_version, self.max_version) or "all"

    def severity_text(self) -> str:
        """ "error", "error (2.7-3.3), information (3.4+)", "error; warning when ..."."""
        if self.severity_since:
            bounds = [self.min_version, *(v for v, _ in self.severity_since)]
            ends = [v for v, _ in self.severity_since] + [self.max_version]
            severities = [self.severity, *(s for _, s in self.severity_since)]
            text = ", ".join(
                f"{sev.label} ({_range_text(lo, hi) or 'all'})"
                for sev, lo, hi in zip(severities, bounds, ends, strict=True)
            )
        else:
            text = self.severity.label
        for c in self.severity_when:
            text += f"; {c.severity.label} when {c.when}"
        return text


def version_text(version: Version) -> str:
    parts = list(version)
    while len(parts) > 2 and parts[-1] == 0:
        parts.pop()
    return ".".join(map(str, parts))


def _last_before(version: Version) -> str:
    """The release line just below ``version`` (exclusive upper bounds read better inclusive)."""
    major, minor = version[0], (version[1] if len(version) > 1 else 0)
    if any(version[2:]):
        return f"before {version_text(version)}"
    return f"{major}.{minor - 1}" if minor > 0 else f"{major - 1}.x"


def _range_text(low: Version | None, high: Version | None) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f"{version_text(low)}+"  # type: ignore[arg-type]
    last = _last_before(high)
    if low is None:
        return last if last.startswith("before") else f"up to {last}"
    return f"{version_text(low)}-{last}"


REGISTRY: dict[str, Rule] = {}
BY_NAME: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity,
    skill: str,
    summary: str,
    fix: str = "none",
    min_version: Version | None = None,
    max_version: Version | None = None,
    version_sensitive: bool | None = None,
    scope: str = "module",
    severity_since: Mapping[Version, Severity] | None = None,
    severity_when: Sequence[SeverityCase] = (),
    follows_calls: bool = False,
    follows_sync_dbos: bool = False,
):
    """Register a check.  ``severity_since={(3, 4): Severity.INFORMATION}``: from DBOS 3.4
    on, findings are information (``severity`` below); ``severity_when``: severities the
    check selects with ``ctx.finding(..., case=...)``."""
    since = tuple(sorted((severity_since or {}).items()))
    if version_sensitive is None:
        version_sensitive = bool((min_version and min_version >= (3, 0)) or max_version or since)
    if scope not in SCOPES:
        raise ValueError(f"{code}: scope {scope!r} is not one of {', '.join(SCOPES)}")
    if follows_calls and scope != "statement":
        raise ValueError(f"{code}: follows_calls is for statement-scope rules (others see the whole module)")
    if follows_sync_dbos and not follows_calls:
        raise ValueError(f"{code}: follows_sync_dbos extends follows_calls")
    if fix not in FIXES:
        raise ValueError(f"{code}: fix {fix!r} is not one of {', '.join(FIXES)}")
    if len({c.key for c in severity_when}) != len(severity_when):
        raise ValueError(f"{code}: duplicate severity case")

    def register(check: Callable[[RuleContext], Iterator[Finding]]):
        if code in REGISTRY or name in BY_NAME:
            raise ValueError(f"duplicate rule {code} {name}")
        r = Rule(
            code,
            name,
            severity,
            skill,
            summary,
            fix,
            check,
            min_version,
            max_version,
            version_sensitive,
            scope,
            since,
            tuple(severity_when),
            follows_calls,
            follows_sync_dbos,
        )
        REGISTRY[code] = r
        BY_NAME[name] = r
        return check

    return register


def lookup(code_or_name: str) -> Rule | None:
    key = code_or_name.strip()
    return REGISTRY.get(key.upper()) or BY_NAME.get(key.lower())


class RuleContext:
    """What a check function sees: the module model, the text, and a way to report.
    Findings get the severity the rule declares for the run's DBOS version."""

    def __init__(
        self,
        rule: Rule,
        model: ModuleModel,
        source: SourceText,
        settings: Settings,
        version: Version,
    ) -> None:
        self.rule = rule
        self.model = model
        self.source = source
        self.settings = settings
        self.version = version
        self._severity = rule.severity_for(version)

    def finding(
        self,
        where: Located | Span,
        message: str,
        fix_title: str | None = None,
        edits: list[Edit] | None = None,
        safe: bool = True,
        case: str | None = None,
        related: Sequence[Related] = (),
    ) -> Finding:
        span = where if isinstance(where, Span) else self.source.span(where)
        fix = Fix(fix_title, safe, tuple(edits)) if fix_title and edits else None
        severity = self._severity if case is None else self.rule.severity_for(self.version, case)
        return Finding(self.rule.code, self.rule.name, message, span, severity, fix, related=tuple(related))
