"""Hover text: rule docs for suppressions and findings, signatures and guidance for DBOS APIs.

Pure functions of (text, position, analysis, skill library); the server only
converts positions and wraps the Markdown.  Positions are code points.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from dbos_lsp.analysis.findings import Analysis, Finding, Position, Span
from dbos_lsp.analysis.source_text import SourceText
from dbos_lsp.analysis.suppression import suppression_at
from dbos_lsp.engine.pipeline import module_model
from dbos_lsp.knowledge import sdk_facts as sdk
from dbos_lsp.knowledge.api_signatures import DBOS_VERSION as SIGNATURES_VERSION
from dbos_lsp.knowledge.api_signatures import SIGNATURES
from dbos_lsp.rules import Rule, lookup

if TYPE_CHECKING:
    from dbos_lsp.analysis.module_model import FunctionInfo, ModuleModel
    from dbos_lsp.knowledge.skills import RuleDoc, SkillDoc, SkillLibrary

DOCS_BASE = "https://github.com/dbos-lsp/dbos-lsp/blob/main/skills/dbos-python/references"
_MAX_EXPLANATION = 1200  # characters of a rule explanation in an API hover


def rule_url(rule: Rule) -> str:
    # GitHub's anchor for the "### DBOS101 async-sync-dbos-call" heading.
    return f"{DOCS_BASE}/{rule.skill}.md#{rule.code.lower()}-{rule.name}"


def hover_markdown(
    text: str,
    line: int,
    character: int,
    analysis: Analysis,
    library: SkillLibrary | None,
    model: ModuleModel | None = None,
) -> tuple[str, Span] | None:
    source = SourceText(text)
    current = source.line(line)
    pos = Position(line, character)
    findings = [f for f in analysis.findings if f.span.contains(pos)]
    hit = suppression_at(current, character)
    if hit is not None:
        rule = lookup(hit[0])
        if rule is not None:
            span = Span(Position(line, hit[1]), Position(line, hit[2]))
            markdown = rule_markdown(rule, library)
            if findings:  # e.g. "unused suppression" on this very comment
                markdown += "\n\n---\n\n" + "\n\n".join(f"**{f.code} {f.name}**: {f.message}" for f in findings)
            return markdown, span
    if model is None:
        model = analysis.model or module_model(text)
    api = _api_at(model, source, pos) if model is not None else None
    if findings:
        markdown = _findings_markdown(findings, library)
        if api is not None:  # the signature too, without repeating the guidance
            (cls, member), _ = api
            extra = _api_markdown(cls, member, analysis, None)
            markdown += f"\n\n---\n\n{extra}" if extra else ""
        return markdown, findings[0].span
    if api is None:
        return None
    (cls, member), span = api
    markdown = _api_markdown(cls, member, analysis, library)
    return (markdown, span) if markdown else None


# ----- rule documentation -------------------------------------------------------------------


def _fix_line(rule: Rule, doc: RuleDoc | None) -> str:
    kind = doc.fix_kind if doc is not None else rule.fix
    if kind == "safe":
        return "**Fix:** safe, applied by *Fix all DBOS problems*."
    if kind in ("unsafe", "mixed"):
        return "**Fix:** offered as a quick fix, but it may change behaviour, so *Fix all* skips it."
    return "**Fix:** none automatic."


def _correct_example(doc: RuleDoc | None) -> str:
    if doc is None or not doc.correct:
        return ""
    ex = doc.correct[0]
    return f"**{ex.label}:**\n\n```python\n{ex.code.rstrip()}\n```"


def rule_markdown(rule: Rule, library: SkillLibrary | None) -> str:
    doc = library.rule_doc(rule.code) if library is not None else None
    parts = [f"### {rule.code} {rule.name}", doc.explanation if doc else rule.summary]
    example = _correct_example(doc)
    if example:
        parts.append(example)
    parts.append(_fix_line(rule, doc))
    parts.append(f"[{rule.code} documentation]({rule_url(rule)})")
    return "\n\n".join(p for p in parts if p)


def _findings_markdown(findings: list[Finding], library: SkillLibrary | None) -> str:
    blocks: list[str] = []
    for f in findings:
        rule = lookup(f.code)
        head = f"**{f.code} {f.name}**: {f.message}"
        if rule is None:
            blocks.append(head)
            continue
        doc = library.rule_doc(rule.code) if library is not None else None
        parts = [head, doc.explanation if doc else rule.summary, _correct_example(doc), *f.notes]
        if f.fix is not None:
            safety = "safe" if f.fix.safe else "may change behaviour"
            parts.append(f"Quick fix: {f.fix.title} ({safety}).")
        parts.append(f"[{rule.code} documentation]({rule_url(rule)})")
        blocks.append("\n\n".join(p for p in parts if p))
    return "\n\n---\n\n".join(blocks)


# ----- DBOS APIs ----------------------------------------------------------------------------


def _short(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]  # "dbos.DBOS" -> "DBOS"


def _api_at(model: ModuleModel, source: SourceText, pos: Position) -> tuple[tuple[str, str], Span] | None:
    """The innermost DBOS attribute (``DBOS.sleep``, ``q.enqueue``) or class name under ``pos``."""
    best: tuple[tuple[str, str], Span] | None = None
    for node in ast.walk(model.tree):
        if not isinstance(node, (ast.Attribute, ast.Name)) or not hasattr(node, "end_lineno"):
            continue
        if not (node.lineno - 1 <= pos.line <= (node.end_lineno or node.lineno) - 1):
            continue
        span = source.span(node)
        if not span.contains(pos):
            continue
        if best is not None and not (best[1].start <= span.start and span.end <= best[1].end):
            continue
        fn = _function_at(model, node)
        if isinstance(node, ast.Attribute):
            api = model.api_of_attribute(node, fn)
            if api is not None:
                best = (api, span)
        else:
            q = model.qualname(node, fn)
            if q is not None and q.startswith("dbos.") and _short(q) in SIGNATURES:
                # A bare class name; skip it when it is the receiver of a resolved attribute.
                if best is None:
                    best = ((q, "__init__"), span)
    return best


def _function_at(model: ModuleModel, node: ast.AST) -> FunctionInfo | None:
    """The function whose body holds ``node`` (decorators belong to the outer scope)."""
    found = None
    key = (node.lineno, node.col_offset)
    for info in model.functions:
        body = info.node.body
        first = body if isinstance(body, ast.AST) else body[0]
        start = (first.lineno, first.col_offset)
        end = (info.node.end_lineno or 0, info.node.end_col_offset or 0)
        if start <= key <= end and (found is None or start >= _body_start(found)):
            found = info
    return found


def _body_start(info: FunctionInfo) -> tuple[int, int]:
    body = info.node.body
    first = body if isinstance(body, ast.AST) else body[0]
    return first.lineno, first.col_offset


def async_fact(cls: str, member: str) -> str | None:
    """One sentence about calling ``cls.member`` from sync or async code."""
    name = f"{_short(cls)}.{member}"
    twin = sdk.async_twin(cls, member)
    if sdk.raises_in_loop(cls, member):
        since = ".".join(map(str, sdk.CHECK_ASYNC_SINCE))
        tail = (
            f"in async code use `await {name}_async(...)`" if twin else "in async code use the async handle's methods"
        )
        return f"Raises RuntimeError inside a running event loop (DBOS ≥ {since}); {tail}."
    if sdk.blocks_in_loop(cls, member):
        tail = f"; use `await {_short(cls)}.{twin}(...)` there" if twin else ""
        return f"Blocks the event loop when called from async code{tail}."
    if member in sdk.BLOCKS_WITHOUT_PAIR.get(cls, ()):
        return "Blocks until done; in async code use an async handle (`WorkflowHandleAsync`) and `await` it."
    if member in sdk.NOT_COROUTINES.get(cls, ()):
        return "A plain function despite its name: call it without `await`."
    if sdk.is_async_generator(cls, member):
        return "An async generator: iterate with `async for`, do not `await` it."
    if sdk.is_coroutine_api(cls, member):
        base = sdk.sync_twin(cls, member)
        tail = f"; in sync code use `{_short(cls)}.{base}(...)`" if base else ""
        return f"A coroutine: `await` it inside `async def`{tail}."
    if member in sdk.SYNC_ONLY.get(cls, ()):
        return "Sync only: it returns a plain value, never `await` it."
    return None


def _mentions(explanation: str, api: str) -> bool:
    return re.search(re.escape(api) + r"(?![\w])", explanation) is not None


def _guidance(doc: SkillDoc, api: str, library: SkillLibrary) -> str:
    parts = [f"**{doc.title}**"]
    rules = [r for r in doc.rule_docs.values() if _mentions(r.explanation, api)][:2]
    for r in rules:
        text = r.explanation
        if len(text) > _MAX_EXPLANATION:
            text = text[:_MAX_EXPLANATION].rsplit(" ", 1)[0] + " …"
        parts.append(f"*{r.code} {r.name}:* {text}")
    if not rules and doc.intro:
        parts.append(doc.intro)
    upstream = library.extra_for(doc.id)
    if upstream is not None:
        parts.append(f"**Upstream: {upstream.title}**")
        if upstream.intro:
            parts.append(upstream.intro)
        if upstream.reference is not None:
            parts.append(f"Reference: [{upstream.reference[0]}]({upstream.reference[1]})")
    return "\n\n".join(parts)


def _api_markdown(cls: str, member: str, analysis: Analysis, library: SkillLibrary | None) -> str | None:
    api = _short(cls) if member == "__init__" else f"{_short(cls)}.{member}"
    entry = SIGNATURES.get(api)
    parts: list[str] = []
    if entry is not None:
        parts.append(f"```python\n{entry['signature']}\n```")
        if entry.get("summary"):
            parts.append(entry["summary"])
    fact = async_fact(cls, member)
    docs = library.docs_for_api(api) if library is not None else []
    if entry is None and not fact and not docs:
        return None  # not a DBOS member we know (a typo, or a user attribute)
    if entry is None:
        parts.append(f"```python\n{api}\n```")
    if fact:
        parts.append(fact)
    for doc in docs:
        parts.append(_guidance(doc, api, library))
    if analysis.dbos_version:
        parts.append(
            f"*DBOS version assumed by the analysis: {analysis.dbos_version}, from "
            f"{analysis.dbos_version_source}. Signature from dbos {SIGNATURES_VERSION}.*"
        )
    return "\n\n".join(parts)
