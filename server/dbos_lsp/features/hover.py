"""Hover text: rule docs for suppressions and findings, signatures and guidance for DBOS APIs.

Pure functions of (text, position, analysis, skill library); the server only
converts positions and wraps the Markdown.  Positions are code points.

Two levels of detail (the ``hoverDetail`` setting).  "compact", the default, fits a
character budget: the signature and a short summary first, a finding's rule in a few
lines, and links to the full explanation; it reads as plain text too (Emacs' echo
area), so it uses no tables or HTML and bold lines instead of headings.  "full"
shows every rule section inline.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dbos_lsp.analysis.findings import Analysis, Finding, Position, Span
from dbos_lsp.analysis.settings import parse_version
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
_MAX_EXPLANATION = 1200  # characters of a rule explanation in a full API hover
HOVER_DETAILS = ("compact", "full")
HOVER_BUDGET = 600  # characters of a compact hover: a hard cap


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
    detail: str = "compact",
    budget: int = HOVER_BUDGET,
) -> tuple[str, Span] | None:
    """The hover at ``(line, character)``: Markdown and the span it describes, or None.
    ``detail`` "full" shows every rule section; anything else is compact, at most
    ``budget`` characters."""
    if analysis.skipped is not None:
        return None  # a file too large to analyse is too large to parse for hover
    if detail != "full":
        return _compact_hover(text, line, character, analysis, library, model, budget)
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
    api_markdown = _api_markdown(cls, member, analysis, library)
    return (api_markdown, span) if api_markdown else None


# ----- rule documentation -------------------------------------------------------------------


def _fix_line(rule: Rule) -> str:
    if rule.fix == "safe":
        return "**Fix:** safe, applied by *Fix all DBOS problems*."
    if rule.fix == "mixed":
        return "**Fix:** safe in some cases (applied by *Fix all*), otherwise a quick fix that may change behaviour."
    if rule.fix == "unsafe":
        return "**Fix:** offered as a quick fix, but it may change behaviour, so *Fix all* skips it."
    return "**Fix:** none automatic."


def _metadata_line(rule: Rule) -> str:
    # From ``@rule(...)``: severities and gates as the engine applies them.
    return f"**Severity:** {rule.severity_text()} · **DBOS versions:** {rule.versions_text()}"


def _correct_example(doc: RuleDoc | None) -> str:
    if doc is None or not doc.correct:
        return ""
    ex = doc.correct[0]
    return f"**{ex.label}:**\n\n```python\n{ex.code.rstrip()}\n```"


def rule_markdown(rule: Rule, library: SkillLibrary | None) -> str:
    doc = library.rule_doc(rule.code) if library is not None else None
    parts = [f"### {rule.code} {rule.name}", _metadata_line(rule), doc.explanation if doc else rule.summary]
    example = _correct_example(doc)
    if example:
        parts.append(example)
    parts.append(_fix_line(rule))
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
    for node in _nodes_on_line(model.tree, pos.line):
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


def _nodes_on_line(tree: ast.Module, line: int) -> Iterator[ast.AST]:
    """Every node of the top-level statements that span 0-based ``line`` (decorators
    included): a hover walks one statement, not a 10,000-line module."""
    for stmt in tree.body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        if first - 1 <= line <= (stmt.end_lineno or stmt.lineno) - 1:
            yield from ast.walk(stmt)


def _function_at(model: ModuleModel, node: ast.expr) -> FunctionInfo | None:
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
    if library is not None:  # else ``docs`` is empty
        parts.extend(_guidance(doc, api, library) for doc in docs)
    if analysis.dbos_version:
        parts.append(
            f"*DBOS version assumed by the analysis: {analysis.dbos_version}, from "
            f"{analysis.dbos_version_source}. Signature from dbos {SIGNATURES_VERSION}.*"
        )
    return "\n\n".join(parts)


# ----- compact hover ------------------------------------------------------------------------

# Parts of a compact hover are trimmed kind by kind, in this order, until it fits its
# budget: examples shortened, explanation detail, examples dropped, extra rule links
# (left as bare codes), the API's docstring summary, the version note, the signature's
# annotations, then the async fact and the rule summaries.  Other kinds (headings,
# metadata, links) stay.  "kind:shrink" only shortens, it does not drop.
_TRIM_ORDER = (
    "example:shrink",
    "detail",
    "example",
    "related",
    "api_summary",
    "version",
    "signature",
    "fact",
    "summary",
)
_ELASTIC = frozenset({"detail", "api_summary", "fact", "summary"})  # shortened before dropped
_MIN_ELASTIC = 40  # a shortened text shorter than this is dropped instead
_EXAMPLE_LINES = 3  # changed lines of a compact Correct example, besides its header line
_SIGNATURE_SHORT = 160  # characters of a signature without annotations, beyond which parameters go
_LINE = 100  # prose is wrapped at this width: Emacs' echo area shows it as plain text


@dataclass(frozen=True)
class _Part:
    kind: str
    text: str
    gap: bool = False  # a blank line before it (a new paragraph); else a line break
    # Shorter texts to use, in turn, once the part's kind is trimmed ("" drops the part).
    alts: tuple[str, ...] = ("",)


def _render(parts: list[_Part]) -> str:
    out: list[str] = []
    prev: _Part | None = None
    for p in parts:
        if not p.text:
            continue
        if prev is not None:
            if p.gap:
                out.append("\n\n")
            elif prev.text.endswith("```") or p.text.startswith("```"):
                out.append("\n")
            else:
                out.append("  \n")  # a Markdown hard line break, invisible as plain text
        out.append(p.text if p.kind in ("signature", "example") or "](" in p.text else _wrap(p.text))
        prev = p
    return "".join(out)


def _wrap(text: str) -> str:
    """Short lines for plain-text readers; Markdown joins them again.  A code span is never
    split, and a line never starts with what Markdown reads as a list or a quote."""
    lines: list[str] = []
    for word in re.findall(r"(?:`[^`]*`|\S)+", text):
        if lines and (len(lines[-1]) + 1 + len(word) <= _LINE or re.match(r"([-+*>#=]|\d+[.)])", word)):
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def _fit(parts: list[_Part], budget: int) -> str:
    parts = list(parts)
    history: list[tuple[int, _Part]] = []  # (index, the part before a trim), in trim order
    text = _render(parts)
    for step in _TRIM_ORDER:
        kind, _, mode = step.partition(":")
        for i in reversed(range(len(parts))):
            if len(text) <= budget:
                break
            p = parts[i]
            if p.kind != kind or not p.text:
                continue
            keep = len(p.text) - (len(text) - budget) - 1
            alts = [a for a in p.alts if a or mode != "shrink"]
            if kind in _ELASTIC and keep >= _MIN_ELASTIC:
                new = replace(p, text=_cut_words(p.text, keep))
            elif alts:  # the first shorter text that fits, else the shortest
                over = len(text) - budget
                alt = next((a for a in alts if len(p.text) - len(a) >= over), alts[-1])
                new = replace(p, text=alt, alts=tuple(a for a in p.alts if len(a) < len(alt)))
            else:
                continue
            history.append((i, p))
            parts[i] = new
            text = _render(parts)
    if len(text) > budget:
        return _hard_cut(text, budget)
    # A later trim (a long signature shortened) may have made room for an earlier one.
    for i, before in reversed(history):
        restored = _render([*parts[:i], before, *parts[i + 1 :]])
        if len(restored) <= budget and len(before.text) > len(parts[i].text):
            parts[i], text = before, restored
    return text


def _cut_words(text: str, size: int) -> str:
    """``text`` cut to at most ``size`` characters at a word boundary, plus "…", with no
    code span or link left open."""
    cut = text[:size].rsplit(" ", 1)[0] if len(text) > size else text
    if cut.count("`") % 2:
        cut = cut[: cut.rfind("`")]
    if "[" in cut and cut.rfind("[") > cut.rfind(")"):
        cut = cut[: cut.rfind("[")]
    return cut.rstrip(" ,;:(") + "…"


def _hard_cut(text: str, budget: int) -> str:
    """The last resort: whole lines up to the budget, an open code block closed."""
    kept: list[str] = []
    size = len("\n```\n…")
    for line in text.split("\n"):
        if size + len(line) + 1 > budget:
            break
        kept.append(line)
        size += len(line) + 1
    if sum(1 for line in kept if line.startswith("```")) % 2:
        kept.append("```")
    return "\n".join(kept).rstrip() + "\n…"


def _fence(code: str) -> str:
    return f"```python\n{code}\n```"


def _sentence(text: str) -> str:
    """The first sentence of a Markdown paragraph, on one line."""
    flat = " ".join(text.split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`(*])", flat)
    return flat[: match.start()] if match else flat


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", ")", "`")) else text + "."


def _short_signature(signature: str) -> str:
    """The signature without annotations, and with fewer parameters when still long:
    ``DBOS.list_workflows(*, workflow_ids=None, status=None, …) -> List[WorkflowStatus]``."""
    open_at = signature.find("(")
    depth, close_at = 0, -1
    for i in range(open_at, len(signature)):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(signature[i], 0)
        if depth == 0:
            close_at = i
            break
    if open_at < 0 or close_at < 0:
        return signature
    head, params, tail = signature[: open_at + 1], signature[open_at + 1 : close_at], signature[close_at:]
    try:
        args = ast.parse(f"def _f({params}): pass").body[0].args  # type: ignore[attr-defined]
    except SyntaxError:
        return signature
    names = _parameter_names(args)
    room = _SIGNATURE_SHORT - len(head) - len(tail)
    shown: list[str] = []
    for i, name in enumerate(names):
        if len(", ".join([*shown, name])) > room and i < len(names) - 1:
            shown.append("…")
            break
        shown.append(name)
    return head + ", ".join(shown) + tail


def _parameter_names(args: ast.arguments) -> list[str]:
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    names: list[str] = []
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        names.append(arg.arg if default is None else f"{arg.arg}={ast.unparse(default)}")
        if args.posonlyargs and i == len(args.posonlyargs) - 1:
            names.append("/")
    if args.vararg is not None:
        names.append(f"*{args.vararg.arg}")
    elif args.kwonlyargs:
        names.append("*")
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        names.append(arg.arg if kw_default is None else f"{arg.arg}={ast.unparse(kw_default)}")
    if args.kwarg is not None:
        names.append(f"**{args.kwarg.arg}")
    return names


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(("import ", "from "))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def short_example(doc: RuleDoc | None, lines: int = _EXAMPLE_LINES, label: bool = True) -> str:
    """The rule's first Correct example, cut to what differs from its Incorrect one: the
    last changed lines (at most ``lines``) under the line that opens their block, or at
    the top level with the lines up to the next ``def``.  ``label``: the example's own
    label ("Correct (await the async twins)"), else just "Correct"."""
    if doc is None or not doc.correct:
        return ""
    good = doc.correct[0]
    code = good.code.rstrip().split("\n")
    bad = doc.incorrect[0].code.split("\n") if doc.incorrect else []
    snippet = _changed_snippet(bad, code, lines) or [s for s in code if s.strip()][: lines + 1]
    margin = min(_indent(s) for s in snippet)
    body = "\n".join(s[margin:] for s in snippet)
    return f"{good.label if label else 'Correct'}:\n{_fence(body)}"


def _changed_snippet(bad: list[str], good: list[str], size: int) -> list[str]:
    matcher = difflib.SequenceMatcher(None, [s.strip() for s in bad], [s.strip() for s in good], autojunk=False)
    hunks = [
        (j1, j2)
        for tag, _, _, j1, j2 in matcher.get_opcodes()
        if tag in ("replace", "insert") and any(_is_code(s) for s in good[j1:j2])
    ]
    if not hunks:
        return []
    j1, j2 = hunks[-1]
    changed = [k for k in range(j1, j2) if good[k].strip()]
    # A hunk that ends one function and starts the next: keep the last outermost statement.
    outer = min(_indent(good[k]) for k in changed)
    tops = [i for i, k in enumerate(changed) if _indent(good[k]) == outer]
    if tops and tops[0] > 0:
        first = tops[-1]
        while first > 0 and first - 1 in tops:
            first -= 1
        changed = changed[first:]
    shown = [good[k] for k in changed[:size]]
    if len(changed) > size:
        shown.append(" " * _indent(good[changed[size]]) + "...")
    depth = _indent(shown[0])
    before = [k for k in range(changed[0]) if good[k].strip()]
    if depth:  # the def/with/for line that opens the changed lines' block
        opener = next((k for k in reversed(before) if _indent(good[k]) < depth), None)
        if opener is None:
            return shown
        gap = [" " * depth + "..."] if opener != before[-1] else []
        return [good[opener], *gap, *shown]
    # Top level: through the decorators to the def line that follows, if any.
    after: list[str] = []
    for k in range(changed[-1] + 1, min(changed[-1] + 3, len(good))):
        if not good[k].strip() or _indent(good[k]) or shown[-1].rstrip().endswith(":"):
            break
        after.append(good[k])
        if good[k].rstrip().endswith(":"):
            break
    return shown + after


def _what_is_wrong(rule: Rule, doc: RuleDoc | None, message: str = "") -> str:
    """One line on what the rule flags; never the diagnostic message again."""
    summary = _as_sentence(rule.summary)
    if _same_words(summary, message) and doc is not None:
        return _as_sentence(_sentence(doc.explanation))
    return summary


def _same_words(a: str, b: str) -> bool:
    def words(s: str) -> str:
        return " ".join(re.findall(r"\w+", s.lower()))

    return bool(b) and (words(a) == words(b) or words(b).startswith(words(a)))


def _example_part(doc: RuleDoc | None) -> _Part:
    shorter = (short_example(doc, label=False), short_example(doc, lines=1, label=False), "")
    return _Part("example", short_example(doc), alts=shorter)


def _full_explanation_link(rule: Rule) -> _Part:
    return _Part("link", f"[{rule.code}: full explanation]({rule_url(rule)})")


def _finding_parts(f: Finding, library: SkillLibrary | None, example: bool = True) -> list[_Part]:
    parts = [_Part("head", f"**{f.code} {f.name}**", gap=True)]
    if f.fix is not None:
        safety = "" if f.fix.safe else " (may change behaviour)"
        parts.append(_Part("quickfix", f"Quick fix: {f.fix.title}{safety}"))
    rule = lookup(f.code)
    if rule is None:
        return [*parts, _Part("summary", f.message)]
    doc = library.rule_doc(rule.code) if library is not None else None
    parts.append(_Part("summary", _what_is_wrong(rule, doc, f.message)))
    if example:
        parts.append(_example_part(doc))
    parts.append(_full_explanation_link(rule))
    return parts


def _rule_parts(rule: Rule, library: SkillLibrary | None) -> list[_Part]:
    """A rule code or name in a suppression comment: no diagnostic is shown there, so the
    summary is followed by the explanation's first sentence."""
    doc = library.rule_doc(rule.code) if library is not None else None
    meta = f"**Fix:** {rule.fix} · {rule.severity_text()} · DBOS versions: {rule.versions_text()}"
    return [
        _Part("head", f"### {rule.code} {rule.name}"),
        _Part("summary", _as_sentence(rule.summary)),
        _Part("detail", _as_sentence(_sentence(doc.explanation)) if doc is not None else ""),
        _Part("meta", meta),
        _example_part(doc),
        _full_explanation_link(rule),
    ]


def _related_rules(api: str, docs: list[SkillDoc]) -> list[Rule]:
    found: dict[str, Rule] = {}
    for doc in docs:
        for r in doc.rule_docs.values():
            rule = lookup(r.code)
            if rule is not None and _mentions(r.explanation, api):
                found.setdefault(rule.code, rule)
    return list(found.values())


def _version_part(analysis: Analysis) -> _Part:
    if not analysis.dbos_version:
        return _Part("version", "")
    source = re.sub(r"\s*\([^)]*\)", "", analysis.dbos_version_source)  # the why, not the details
    text = f"DBOS version assumed: {analysis.dbos_version}, from {source}"
    if parse_version(analysis.dbos_version) != parse_version(SIGNATURES_VERSION):
        text += f"; signature from dbos {SIGNATURES_VERSION}"
    return _Part("version", f"*{text}.*", gap=True)


def _api_parts(
    cls: str, member: str, analysis: Analysis, library: SkillLibrary | None, guidance: bool = True
) -> list[_Part] | None:
    """Signature and summary; with ``guidance``, the async fact, links to the rules that
    mention the API, upstream documents and the version assumed."""
    api = _short(cls) if member == "__init__" else f"{_short(cls)}.{member}"
    entry = SIGNATURES.get(api)
    fact = async_fact(cls, member)
    docs = library.docs_for_api(api) if library is not None else []
    if entry is None and not fact and not docs:
        return None  # not a DBOS member we know (a typo, or a user attribute)
    signature = entry["signature"] if entry is not None else api
    parts = [_Part("signature", _fence(signature), alts=(_fence(_short_signature(signature)),))]
    if entry is not None and entry.get("summary"):
        parts.append(_Part("api_summary", _sentence(entry["summary"])))
    if not guidance:
        return parts
    if fact:
        parts.append(_Part("fact", fact))
    rules = _related_rules(api, docs)
    if rules:
        first, rest = rules[0], rules[1:]
        parts.append(_Part("link", f"[{first.code} {first.name}]({rule_url(first)})", gap=True))
        if rest:
            links = "  \n".join(f"[{r.code} {r.name}]({rule_url(r)})" for r in rest)
            parts.append(_Part("related", links, alts=("Also: " + ", ".join(r.code for r in rest),)))
    for doc in docs:
        upstream = library.extra_for(doc.id) if library is not None else None
        if upstream is None:
            continue
        title = f"Upstream: {upstream.title}"
        if upstream.reference is not None:
            title = f"Upstream: [{upstream.title}]({upstream.reference[1]})"
        parts.append(_Part("link", title, gap=True))
        if upstream.intro:
            parts.append(_Part("detail", _sentence(upstream.intro)))
    parts.append(_version_part(analysis))
    return parts


def _compact_hover(
    text: str,
    line: int,
    character: int,
    analysis: Analysis,
    library: SkillLibrary | None,
    model: ModuleModel | None,
    budget: int,
) -> tuple[str, Span] | None:
    source = SourceText(text)
    pos = Position(line, character)
    findings = [f for f in analysis.findings if f.span.contains(pos)]
    hit = suppression_at(source.line(line), character)
    if hit is not None:
        rule = lookup(hit[0])
        if rule is not None:
            parts = _rule_parts(rule, library)
            for f in findings:  # e.g. "unused suppression" on this very comment
                parts += _finding_parts(f, library, example=False)
            return _fit(parts, budget), Span(Position(line, hit[1]), Position(line, hit[2]))
    if model is None:
        model = analysis.model or module_model(text)
    api = _api_at(model, source, pos) if model is not None else None
    if findings:
        # The signature first; the finding replaces the API's general guidance.
        parts = (_api_parts(*api[0], analysis, library, guidance=False) or []) if api is not None else []
        for f in findings:
            parts += _finding_parts(f, library)
        return _fit(parts, budget), findings[0].span
    if api is None:
        return None
    (cls, member), span = api
    markdown = api_hover(cls, member, analysis, library, budget)
    return (markdown, span) if markdown else None


def api_hover(
    cls: str, member: str, analysis: Analysis, library: SkillLibrary | None, budget: int = HOVER_BUDGET
) -> str | None:
    """The compact hover of ``cls.member`` (``member`` "__init__": the class itself), or
    None for a member DBOS does not have."""
    parts = _api_parts(cls, member, analysis, library)
    return _fit(parts, budget) if parts else None
