"""The rule registry: every rule's identity, defaults and check function.

A rule module declares its rules with ``@rule(...)``; the engine iterates the
registry.  Adding a rule touches one place.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dbos_lsp.analysis.findings import Edit, Finding, Fix, Severity, Span
from dbos_lsp.analysis.module_model import ModuleModel
from dbos_lsp.analysis.settings import Settings
from dbos_lsp.analysis.source_text import SourceText


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    skill: str  # reference document id, e.g. "advanced-async"
    summary: str
    fix: str  # "safe", "unsafe", "mixed" or "none": what the catalog promises
    check: Callable[[RuleContext], Iterator[Finding]]
    min_version: tuple[int, ...] | None = None
    max_version: tuple[int, ...] | None = None  # exclusive
    # The finding depends on the DBOS version in a way users should see (3.x gates,
    # version-dependent severity): its message names the version assumed and why.
    version_sensitive: bool = False

    def applies_to(self, version: tuple[int, ...]) -> bool:
        if self.min_version is not None and version < self.min_version:
            return False
        if self.max_version is not None and version >= self.max_version:
            return False
        return True


REGISTRY: dict[str, Rule] = {}
BY_NAME: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity,
    skill: str,
    summary: str,
    fix: str = "none",
    min_version: tuple[int, ...] | None = None,
    max_version: tuple[int, ...] | None = None,
    version_sensitive: bool | None = None,
):
    if version_sensitive is None:
        version_sensitive = bool((min_version and min_version >= (3, 0)) or max_version)

    def register(check: Callable[[RuleContext], Iterator[Finding]]):
        if code in REGISTRY or name in BY_NAME:
            raise ValueError(f"duplicate rule {code} {name}")
        r = Rule(code, name, severity, skill, summary, fix, check, min_version, max_version, version_sensitive)
        REGISTRY[code] = r
        BY_NAME[name] = r
        return check

    return register


def lookup(code_or_name: str) -> Rule | None:
    key = code_or_name.strip()
    return REGISTRY.get(key.upper()) or BY_NAME.get(key.lower())


class RuleContext:
    """What a check function sees: the module model, the text, and a way to report."""

    def __init__(
        self,
        rule: Rule,
        model: ModuleModel,
        source: SourceText,
        settings: Settings,
        version: tuple[int, ...],
    ) -> None:
        self.rule = rule
        self.model = model
        self.source = source
        self.settings = settings
        self.version = version

    def finding(
        self,
        where: ast.AST | Span,
        message: str,
        fix_title: str | None = None,
        edits: list[Edit] | None = None,
        safe: bool = True,
    ) -> Finding:
        span = where if isinstance(where, Span) else self.source.span(where)
        fix = Fix(fix_title, safe, tuple(edits)) if fix_title and edits else None
        return Finding(self.rule.code, self.rule.name, message, span, self.rule.severity, fix)
