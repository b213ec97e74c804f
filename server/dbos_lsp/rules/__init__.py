"""Rule modules register themselves in ``registry.REGISTRY`` on import."""

from dbos_lsp.rules import async_rules, decorators, determinism, lifecycle, meta, steps, upgrade_v3  # noqa: F401
from dbos_lsp.rules.registry import BY_NAME, REGISTRY, Rule, RuleContext, lookup

__all__ = ["BY_NAME", "REGISTRY", "Rule", "RuleContext", "lookup"]
