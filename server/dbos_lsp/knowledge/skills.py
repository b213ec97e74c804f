"""Loader for the skill reference documents (``skills/dbos-python/references/*.md``).

Each document has a small YAML frontmatter and a markdown body with one
``### DBOSnnn rule-name`` section per rule (explanation, labelled examples and a
``Fix:`` line).  The frontmatter parser is hand-written so the server does not
depend on PyYAML; it understands ``key: value`` lines, comma lists, flow lists
(``[a, b]``) and block lists (``- item``), which is all these files use.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Example",
    "RuleDoc",
    "SkillDoc",
    "SkillFormatError",
    "SkillLibrary",
    "bundled_skills_dir",
    "load_library",
    "parse_skill_document",
]

LIST_KEYS = ("tags", "rules", "apis")
# Files in a references folder that are not reference documents.
_SKIP_FILES = {"SKILL.md", "AGENTS.md", "README.md", "CLAUDE.md"}

_KEY_RE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?:\s+(.*)|\s*)$")
_RULE_RE = re.compile(r"^### (DBOS\d{3})\s+([a-z0-9-]+)")
_HEADING_RE = re.compile(r"^(#{1,3})\s+(.*?)\s*#*\s*$")
_LABEL_RE = re.compile(r"^\*\*(Incorrect|Correct)\b[^*]*\*\*\s*$")
_FENCE_OPEN_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_FIX_RE = re.compile(r"^Fix:\s*(.*?)\s*$")
_FIX_KIND_RE = re.compile(r"^(safe|unsafe|none)\b", re.IGNORECASE)
_REFERENCE_RE = re.compile(r"^Reference:\s*\[([^\]]+)\]\(([^)\s]+)\)")


class SkillFormatError(ValueError):
    """A reference document does not follow the expected format."""


@dataclass(frozen=True)
class Example:
    kind: str  # "incorrect" | "correct"
    label: str  # the bold label without asterisks or colon, e.g. "Incorrect (reason)"
    code: str
    line: int  # 1-based line of the first code line in the .md file
    language: str = ""


@dataclass(frozen=True)
class RuleDoc:
    code: str
    name: str
    explanation: str  # markdown
    examples: tuple[Example, ...]
    fix_note: str  # text after "Fix:", starts with safe/unsafe/none
    doc_id: str

    @property
    def incorrect(self) -> tuple[Example, ...]:
        return tuple(e for e in self.examples if e.kind == "incorrect")

    @property
    def correct(self) -> tuple[Example, ...]:
        return tuple(e for e in self.examples if e.kind == "correct")

    @property
    def fix_kind(self) -> str:
        m = _FIX_KIND_RE.match(self.fix_note)
        return m.group(1).lower() if m else ""


@dataclass(frozen=True)
class SkillDoc:
    id: str
    path: str
    title: str
    impact: str
    impact_description: str
    tags: tuple[str, ...]
    rules: tuple[str, ...]
    apis: tuple[str, ...]
    intro: str
    reference: tuple[str, str] | None
    rule_docs: dict[str, RuleDoc] = field(hash=False, compare=False)


# ---------------------------------------------------------------- frontmatter


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _split_list(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [item for item in (_unquote(part) for part in value.split(",")) if item]


def _parse_frontmatter(lines: list[str], first: int) -> dict[str, object]:
    """Parse frontmatter lines; ``first`` is the 1-based file line of ``lines[0]``."""
    data: dict[str, object] = {}
    key: str | None = None
    for offset, raw in enumerate(lines):
        lineno = first + offset
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[0] in " \t":
            if key is None:
                raise SkillFormatError(f"line {lineno}: indented frontmatter line without a key")
            text = raw.strip()
            current = data[key]
            if text.startswith("- ") or text == "-":
                if current == "":
                    current = data[key] = []
                if isinstance(current, list):
                    current.append(_unquote(text[1:]))
                    continue
            if isinstance(current, str) and current not in ("|", ">") and not _KEY_RE.match(text):
                data[key] = (current + " " + text).strip()
            elif current in ("|", ">"):
                data[key] = _unquote(text)
            # Anything else is a nested map (e.g. SKILL.md "metadata:"), which we ignore.
            continue
        m = _KEY_RE.match(raw.rstrip())
        if not m:
            raise SkillFormatError(f"line {lineno}: frontmatter line is not 'key: value': {raw.strip()!r}")
        key = m.group(1)
        value = (m.group(2) or "").strip()
        data[key] = _split_list(value) if value.startswith("[") else _unquote(value)
    return data


def _as_str(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    return str(value or "")


def _as_tuple(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else _split_list(str(value or ""))
    return tuple(str(item).strip() for item in items if str(item).strip())


# ----------------------------------------------------------------------- body


def _tokenize(lines: list[str], first: int) -> list[tuple]:
    """Split body lines into ("line", lineno, text) and
    ("fence", lineno, language, code, code_line, raw) tokens (1-based line numbers)."""
    tokens: list[tuple] = []
    i = 0
    while i < len(lines):
        lineno = first + i
        m = _FENCE_OPEN_RE.match(lines[i])
        if not m:
            tokens.append(("line", lineno, lines[i]))
            i += 1
            continue
        indent, marker, language = len(m.group(1)), m.group(2), m.group(3).lower()
        close = re.compile(r"^ {0,3}" + re.escape(marker[0]) + "{" + str(len(marker)) + r",}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j])), None)
        if end is None:
            raise SkillFormatError(f"line {lineno}: code block is never closed")
        # Strip the fence's own indentation (at most) from each code line.
        body = [ln[min(indent, len(ln) - len(ln.lstrip(" "))) :] for ln in lines[i + 1 : end]]
        code = "\n".join(body) + "\n" if body else ""
        tokens.append(("fence", lineno, language, code, lineno + 1, "\n".join(lines[i : end + 1])))
        i = end + 1
    return tokens


def _text(token: tuple) -> str:
    return token[2] if token[0] == "line" else token[5]


def _join(tokens: list[tuple]) -> str:
    return "\n".join(_text(t) for t in tokens).strip()


def _parse_rule(code: str, name: str, tokens: list[tuple], doc_id: str, lineno: int) -> RuleDoc:
    explanation: list[tuple] = []
    examples: list[Example] = []
    fix_note: str | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok[0] == "line":
            label = _LABEL_RE.match(tok[2].strip())
            if label:
                while i < len(tokens) and tokens[i][0] == "line" and not tokens[i][2].strip():
                    i += 1
                if i >= len(tokens) or tokens[i][0] != "fence":
                    raise SkillFormatError(f"line {tok[1]}: {code} label is not followed by a code block")
                fence = tokens[i]
                i += 1
                text = tok[2].strip().strip("*").strip().rstrip(":").strip()
                examples.append(Example(label.group(1).lower(), text, fence[3], fence[4], fence[2]))
                continue
            fix = _FIX_RE.match(tok[2])
            if fix:
                if fix_note is None:
                    fix_note = fix.group(1)
                continue
        if not examples:
            explanation.append(tok)
    where = f"line {lineno}: {code} {name}"
    if fix_note is None:
        raise SkillFormatError(f"{where}: missing 'Fix:' line")
    if not _FIX_KIND_RE.match(fix_note):
        raise SkillFormatError(f"{where}: the 'Fix:' line must start with safe, unsafe or none")
    kinds = {e.kind for e in examples}
    if kinds != {"incorrect", "correct"}:
        raise SkillFormatError(f"{where}: needs at least one Incorrect and one Correct example")
    return RuleDoc(code, name, _join(explanation), tuple(examples), fix_note, doc_id)


def parse_skill_document(text: str, doc_id: str, path: str = "") -> SkillDoc:
    """Parse one reference document; raises SkillFormatError on malformed input."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise SkillFormatError("empty document")
    lines = text.split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.strip())
    if lines[start].strip() != "---":
        raise SkillFormatError("missing frontmatter: the document must start with a '---' line")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise SkillFormatError(f"line {start + 1}: frontmatter is never closed with '---'")
    meta = _parse_frontmatter(lines[start + 1 : end], start + 2)
    tokens = _tokenize(lines[end + 1 :], end + 2)

    heading_title = ""
    intro: list[tuple] = []
    in_intro = False
    reference: tuple[str, str] | None = None
    rule_docs: dict[str, RuleDoc] = {}
    section: tuple[str, str, int] | None = None
    section_tokens: list[tuple] = []

    def close_section() -> None:
        if section is None:
            return
        code, name, lineno = section
        if code in rule_docs:
            raise SkillFormatError(f"line {lineno}: {code} has more than one section")
        rule_docs[code] = _parse_rule(code, name, section_tokens, doc_id, lineno)

    for tok in tokens:
        line = tok[2] if tok[0] == "line" else ""
        ref = _REFERENCE_RE.match(line)
        if ref:
            reference = (ref.group(1).strip(), ref.group(2).strip())
            continue
        heading = _HEADING_RE.match(line)
        if heading:
            close_section()
            section, section_tokens = None, []
            in_intro = False
            rule = _RULE_RE.match(line)
            if rule:
                section = (rule.group(1), rule.group(2), tok[1])
            elif len(heading.group(1)) == 2 and not heading_title:
                heading_title, in_intro = heading.group(2), True
            continue
        if section is not None:
            section_tokens.append(tok)
        elif in_intro:
            if _LABEL_RE.match(line.strip()):
                in_intro = False
            else:
                intro.append(tok)
    close_section()

    title = _as_str(meta.get("title")) or heading_title
    if not title:
        raise SkillFormatError("missing 'title' in the frontmatter")
    declared = _as_tuple(meta.get("rules"))
    if declared and set(declared) != set(rule_docs):
        missing = sorted(set(declared) - set(rule_docs))
        extra = sorted(set(rule_docs) - set(declared))
        raise SkillFormatError(
            f"'rules' does not match the rule sections (no section: {missing or '-'}, undeclared: {extra or '-'})"
        )
    return SkillDoc(
        id=doc_id,
        path=path,
        title=title,
        impact=_as_str(meta.get("impact")),
        impact_description=_as_str(meta.get("impactDescription", meta.get("impact_description"))),
        tags=_as_tuple(meta.get("tags")),
        rules=declared or tuple(rule_docs),
        apis=_as_tuple(meta.get("apis")),
        intro=_join(intro),
        reference=reference,
        rule_docs=rule_docs,
    )


# -------------------------------------------------------------------- library


def _normalize_api(api: str) -> str:
    # "dbos._dbos.DBOS.sleep" -> "DBOS.sleep": keep from the first class-like part.
    parts = api.strip().split(".")
    for i, part in enumerate(parts):
        if part[:1].isupper():
            return ".".join(parts[i:])
    return api.strip()


class SkillLibrary:
    def __init__(self, docs: dict[str, SkillDoc], extra: dict[str, SkillDoc], warnings: list[str]):
        self.docs = docs
        self.extra = extra
        self.warnings = warnings
        self._rules: dict[str, RuleDoc] = {}
        self._apis: dict[str, list[SkillDoc]] = {}
        for doc in list(docs.values()) + list(extra.values()):
            for code, rule in doc.rule_docs.items():
                self._rules.setdefault(code, rule)  # bundled documents win
                self._rules.setdefault(rule.name, rule)
            for api in doc.apis:
                self._apis.setdefault(_normalize_api(api), []).append(doc)

    def rule_doc(self, code: str) -> RuleDoc | None:
        """Look up by code ("DBOS101") or rule name ("async-sync-dbos-call")."""
        key = code.strip()
        return self._rules.get(key.upper()) or self._rules.get(key.lower())

    def docs_for_api(self, api: str) -> list[SkillDoc]:
        return list(self._apis.get(_normalize_api(api), ()))

    def extra_for(self, doc_id: str) -> SkillDoc | None:
        return self.extra.get(doc_id)


def bundled_skills_dir() -> Path:
    # Installed wheel: the build copies skills/ into the package.
    packaged = Path(__file__).resolve().parents[1] / "skills" / "dbos-python" / "references"
    if packaged.is_dir():
        return packaged
    # Source checkout or editable install: <repo>/server/dbos_lsp/knowledge/skills.py.
    return Path(__file__).resolve().parents[3] / "skills" / "dbos-python" / "references"


def _document_files(folder: Path) -> list[Path]:
    files = (p for p in folder.glob("*.md") if p.is_file())
    return sorted(p for p in files if not p.name.startswith("_") and p.name not in _SKIP_FILES)


def _load_file(path: Path) -> SkillDoc:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SkillFormatError(f"not valid UTF-8 (byte {exc.start})") from None
    return parse_skill_document(text, path.stem, str(path))


def _load_files(files: Sequence[Path], warnings: list[str]) -> list[SkillDoc]:
    docs = []
    for path in files:
        try:
            docs.append(_load_file(path))
        except OSError as exc:
            warnings.append(f"{path}: cannot read skill document: {exc.strerror or exc}")
        except ValueError as exc:  # SkillFormatError included
            warnings.append(f"{path}: skipped malformed skill document: {exc}")
        except Exception as exc:  # a parser bug must not take the server down
            warnings.append(f"{path}: skipped skill document after an internal error: {exc!r}")
    return docs


@functools.lru_cache(maxsize=8)
def _load_bundled(folder: str) -> tuple[tuple[SkillDoc, ...], tuple[str, ...]]:
    warnings: list[str] = []
    path = Path(folder)
    if not path.is_dir():
        return (), (f"{folder}: bundled skill documents not found",)
    return tuple(_load_files(_document_files(path), warnings)), tuple(warnings)


def _extra_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder] if folder.suffix == ".md" else []
    if (folder / "references").is_dir():
        return _document_files(folder / "references")
    files = _document_files(folder)
    if files:
        return files
    # A skills/ folder holding one or more skill roots.
    roots = [sub / "references" for sub in sorted(folder.iterdir()) if (sub / "references").is_dir()]
    return [f for refs in roots for f in _document_files(refs)]


def load_library(extra_paths: Sequence[str] = ()) -> SkillLibrary:
    """Bundled documents plus documents from user-configured folders; never raises."""
    bundled, bundled_warnings = _load_bundled(str(bundled_skills_dir()))
    warnings = list(bundled_warnings)
    docs: dict[str, SkillDoc] = {}
    for doc in bundled:
        docs.setdefault(doc.id, doc)
    extra: dict[str, SkillDoc] = {}
    for raw in extra_paths:
        folder = Path(os.path.expandvars(os.path.expanduser(str(raw))))
        try:
            if not folder.exists():
                warnings.append(f"{folder}: skill folder does not exist")
                continue
            files = _extra_files(folder)
        except OSError as exc:
            warnings.append(f"{folder}: cannot list skill folder: {exc.strerror or exc}")
            continue
        for doc in _load_files(files, warnings):
            if doc.id in extra:
                first = extra[doc.id].path
                warnings.append(f"{doc.path}: ignored, document id {doc.id!r} was already loaded from {first}")
                continue
            extra[doc.id] = doc
    return SkillLibrary(docs, extra, warnings)
