"""Offline validation of clients/helix/languages.toml.

Helix cannot be installed on these machines (no package in apt/PyPI/npm, and a
source build needs crates.io), so instead of `hx --health python` this checks
the file against Helix's documented schema (book/src/languages.md and the serde
structs in helix-core/src/syntax/config.rs, Helix 25.07 / master 2026-07), as
each of the two versions reads it, works out which features each version then
enables for dbos-lsp, and checks that the command it names resolves on PATH,
which is what `hx --health python` reports for a server.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from editor_support import CLIENTS, search_path

LANGUAGES_TOML = CLIENTS / "helix" / "languages.toml"

TOP_KEYS = {"use-grammars", "language-server", "language", "grammar"}
# [language-server.NAME]: not deny_unknown_fields in Helix, so typos are silently ignored there.
LS_KEYS = {"command", "args", "config", "timeout", "environment", "required-root-patterns"}
# [[language]]: deny_unknown_fields, an unknown key makes Helix reject the whole file.
# (The pre-23.10 `language-server = { command = ... }` inside [[language]] is such a key.)
LANG_KEYS = {
    "name",
    "language-id",
    "scope",
    "injection-regex",
    "file-types",
    "shebangs",
    "roots",
    "auto-format",
    "diagnostic-severity",
    "comment-token",
    "comment-tokens",
    "block-comment-tokens",
    "indent",
    "language-servers",
    "grammar",
    "formatter",
    "soft-wrap",
    "text-width",
    "rulers",
    "path-completion",
    "word-completion",
    "workspace-lsp-roots",
    "persistent-diagnostic-sources",
    "rainbow-brackets",
    "code-actions-on-save",
    "auto-pairs",
    "debugger",
}
ENTRY_KEYS = {"name", "only-features", "except-features"}
FEATURES = {
    "format",
    "goto-declaration",
    "goto-definition",
    "goto-type-definition",
    "goto-reference",
    "goto-implementation",
    "signature-help",
    "hover",
    "document-highlight",
    "completion",
    "code-action",
    "document-links",
    "workspace-command",
    "document-symbols",
    "workspace-symbols",
    "diagnostics",
    "pull-diagnostics",
    "rename-symbol",
    "inlay-hints",
    "document-colors",
    "call-hierarchy",
}
# Feature names the 25.07 release knows. `only-features` / `except-features` are sets of an enum
# there, inside an untagged enum, so one unknown name makes Helix reject the whole file.
FEATURES_25_07 = FEATURES - {"document-links", "pull-diagnostics", "document-colors", "call-hierarchy"}
FEATURES_BY_VERSION = {"25.07": FEATURES_25_07, "master": FEATURES}
# What dbos-lsp advertises in `initialize`, in Helix's feature names. Helix uses a feature of a
# server only when the entry enables it (LanguageServerFeatures::has_feature) AND the server
# advertises it; "diagnostics" (accepting pushed ones) needs no capability. "pull-diagnostics"
# is the diagnosticProvider capability, which only master acts on.
DBOS_LSP_OFFERS = {"diagnostics", "pull-diagnostics", "hover", "code-action", "workspace-symbols"}
# What a user must get from dbos-lsp in each version (master pulls instead of accepting pushes).
REQUIRED_BY_VERSION = {
    "25.07": {"diagnostics", "hover", "code-action"},
    "master": {"diagnostics", "pull-diagnostics", "hover", "code-action"},
}
# The version-specific entries clients/helix/README.md offers (verbatim there).
README_ENTRIES = {
    "25.07": '{ name = "dbos-lsp", only-features = ["diagnostics", "hover", "code-action"] },',
    "master": '{ name = "dbos-lsp", only-features = ["diagnostics", "pull-diagnostics", "hover", "code-action"] },',
}
# Servers Helix itself defines, python-relevant subset.
HELIX_BUILTIN_SERVERS = {"ty", "ruff", "jedi", "pylsp", "zuban", "pyright", "basedpyright", "pylyzer", "pyrefly"}
# Helix 25.07.1's default `language-servers` for python (master adds "zuban").
HELIX_PYTHON_DEFAULTS = ["ty", "ruff", "jedi", "pylsp"]


def validate(
    data: dict, require_on_path: bool = False, path: str | None = None, features: set[str] = FEATURES
) -> list[str]:
    """Errors in a parsed languages.toml, as a Helix that knows ``features`` would see them."""
    errs: list[str] = []
    errs += [f"unknown top-level key {k!r}" for k in sorted(data.keys() - TOP_KEYS)]
    servers = data.get("language-server", {})
    if not isinstance(servers, dict):
        return errs + ["[language-server] must be a table"]
    for name, ls in servers.items():
        if not isinstance(ls, dict):
            errs.append(f"[language-server.{name}] must be a table")
            continue
        errs += [
            f"[language-server.{name}] unknown key {k!r} (Helix silently ignores it)"
            for k in sorted(ls.keys() - LS_KEYS)
        ]
        cmd = ls.get("command")
        if not isinstance(cmd, str) or not cmd:
            errs.append(f"[language-server.{name}] 'command' (string) is required")
        elif require_on_path and not shutil.which(cmd, path=path):
            errs.append(f"[language-server.{name}] command {cmd!r} not found on PATH")
        args = ls.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            errs.append(f"[language-server.{name}] 'args' must be a list of strings")
        envs = ls.get("environment", {})
        if not isinstance(envs, dict) or not all(isinstance(v, str) for v in envs.values()):
            errs.append(f"[language-server.{name}] 'environment' must map names to strings")
        if "timeout" in ls and (
            not isinstance(ls["timeout"], int) or isinstance(ls["timeout"], bool) or ls["timeout"] <= 0
        ):
            errs.append(f"[language-server.{name}] 'timeout' must be a positive integer (seconds)")
        roots = ls.get("required-root-patterns", [])
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            errs.append(f"[language-server.{name}] 'required-root-patterns' must be a list of strings")
    known = set(servers) | HELIX_BUILTIN_SERVERS
    languages = data.get("language", [])
    if not isinstance(languages, list):
        return errs + ["'language' must be an array of tables ([[language]])"]
    for lang in languages:
        lname = lang.get("name", "?")
        if not isinstance(lang.get("name"), str):
            errs.append("[[language]] entry without a 'name'")
        errs += [
            f"[[language]] {lname}: unknown key {k!r} (Helix rejects the file)" for k in sorted(lang.keys() - LANG_KEYS)
        ]
        entries = lang.get("language-servers", [])
        if not isinstance(entries, list):
            errs.append(f"{lname}: 'language-servers' must be an array")
            continue
        for entry in entries:
            if isinstance(entry, str):
                sname = entry
            elif isinstance(entry, dict):
                sname = entry.get("name")
                if not isinstance(sname, str):
                    errs.append(f"{lname}: language-servers entry {entry!r} needs a 'name'")
                    continue
                extra = entry.keys() - ENTRY_KEYS
                if extra:
                    errs.append(f"{lname}: language-servers entry {sname!r} has unknown keys {sorted(extra)}")
                if "only-features" in entry and "except-features" in entry:
                    errs.append(f"{lname}: {sname!r} sets both only-features and except-features")
                for key in ("only-features", "except-features"):
                    feats = entry.get(key, [])
                    if not isinstance(feats, list):
                        errs.append(f"{lname}: {sname!r} {key} must be a list")
                        continue
                    errs += [f"{lname}: {sname!r} unknown feature {f!r}" for f in feats if f not in features]
            else:
                errs.append(f"{lname}: bad language-servers entry {entry!r}")
                continue
            if sname not in known:
                errs.append(f"{lname}: language server {sname!r} is not defined in [language-server]")
    return errs


@pytest.fixture(scope="module")
def config() -> dict:
    with open(LANGUAGES_TOML, "rb") as f:
        return tomllib.load(f)


def _python(config: dict) -> dict:
    langs = [lang for lang in config.get("language", []) if lang.get("name") == "python"]
    assert len(langs) == 1, 'expected exactly one [[language]] name = "python"'
    return langs[0]


def _entry(python: dict, name: str):
    for e in python["language-servers"]:
        if (e if isinstance(e, str) else e.get("name")) == name:
            return e
    return None


def enabled_features(entry: str | dict) -> set[str]:
    """Features Helix uses from dbos-lsp for this `language-servers` entry (has_feature)."""
    if isinstance(entry, str):
        return set(DBOS_LSP_OFFERS)
    only = set(entry.get("only-features", []))
    excluded = set(entry.get("except-features", []))
    return {f for f in DBOS_LSP_OFFERS if (not only or f in only) and f not in excluded}


@pytest.mark.parametrize("version", sorted(FEATURES_BY_VERSION))
def test_helix_config_matches_schema(config, version):
    """The one shipped file loads in released Helix (25.07) and in master."""
    assert validate(config, features=FEATURES_BY_VERSION[version]) == []


@pytest.mark.parametrize("version", sorted(FEATURES_BY_VERSION))
def test_helix_config_enables_what_each_version_needs(config, version):
    entry = _entry(_python(config), "dbos-lsp")
    assert entry is not None, "dbos-lsp is not in python's language-servers"
    missing = REQUIRED_BY_VERSION[version] - enabled_features(entry)
    assert not missing, f"Helix {version} would not use dbos-lsp for {sorted(missing)}"


def test_helix_config_dbos_server(config):
    ls = config["language-server"]["dbos-lsp"]
    assert ls["command"] == "dbos-lsp"
    assert ls.get("args", []) == []
    # config is sent as initializationOptions; the server reads its "dbos" section.
    assert isinstance(ls.get("config", {}).get("dbos", {}), dict)


def _with_entry(line: str) -> dict:
    return tomllib.loads(
        '[language-server.dbos-lsp]\ncommand = "dbos-lsp"\n'
        f'[[language]]\nname = "python"\nlanguage-servers = [\n{line}\n]\n'
    )


@pytest.mark.parametrize("version", sorted(README_ENTRIES))
def test_readme_version_specific_entries(version):
    """Each entry the README offers loads and works in the Helix it is labelled for."""
    readme = (CLIENTS / "helix" / "README.md").read_text(encoding="utf-8")
    line = README_ENTRIES[version]
    assert line in readme
    data = _with_entry(line)
    assert validate(data, features=FEATURES_BY_VERSION[version]) == []
    entry = _entry(_python(data), "dbos-lsp")
    assert REQUIRED_BY_VERSION[version] <= enabled_features(entry)


def test_validator_models_both_failures():
    """The two ways an only-features list fails, which the shipped file avoids."""
    old, new = _with_entry(README_ENTRIES["25.07"]), _with_entry(README_ENTRIES["master"])
    # the master entry is rejected by 25.07 ...
    assert any("unknown feature 'pull-diagnostics'" in e for e in validate(new, features=FEATURES_25_07))
    # ... and the 25.07 entry loads on master but does not enable pull there (the server then
    # falls back to pushing, tests/lsp/test_delivery.py).
    assert validate(old, features=FEATURES) == []
    assert "pull-diagnostics" not in enabled_features(_entry(_python(old), "dbos-lsp"))


def test_helix_config_repeats_default_python_servers(config):
    # `language-servers` replaces Helix's list (merge depth 3), so the defaults must be repeated,
    # in Helix's order, before dbos-lsp.
    names = [e if isinstance(e, str) else e["name"] for e in _python(config)["language-servers"]]
    assert names[: len(HELIX_PYTHON_DEFAULTS)] == HELIX_PYTHON_DEFAULTS
    assert names[-1] == "dbos-lsp"


def test_helix_command_on_path(config):
    """What `hx --health python` reports: the server binary resolves on PATH (after `pip install -e .`)."""
    cmd = config["language-server"]["dbos-lsp"]["command"]
    found = shutil.which(cmd, path=search_path())
    hint = f"{cmd!r} not found on PATH: run `pip install -e .` (scripts dir of {sys.executable})"
    if found is None and not os.environ.get("CI"):
        pytest.skip(hint)
    assert found, hint
    assert validate(config, require_on_path=True, path=search_path()) == []


@pytest.mark.parametrize(
    "bad, expected",
    [
        ('[language-server.x]\ncomand = "x"\n', "unknown key 'comand'"),
        ("[language-server.x]\nargs = []\n", "'command' (string) is required"),
        ('[[language]]\nname = "python"\nlanguage-server = { command = "x" }\n', "unknown key 'language-server'"),
        (
            '[[language]]\nname = "python"\nlanguage-servers = [{ name = "ty", only-features = ["hovr"] }]\n',
            "unknown feature 'hovr'",
        ),
        ('[[language]]\nname = "python"\nlanguage-servers = ["nope"]\n', "'nope' is not defined"),
        (
            '[[language]]\nname = "python"\nlanguage-servers = [{ name = "ty", features = ["hover"] }]\n',
            "unknown keys ['features']",
        ),
    ],
)
def test_validator_catches_mistakes(bad, expected):
    errs = validate(tomllib.loads(bad))
    assert any(expected in e for e in errs), errs


def test_validator_require_on_path(tmp_path):
    data = tomllib.loads('[language-server.x]\ncommand = "definitely-not-a-real-binary-xyz"\n')
    assert any("not found on PATH" in e for e in validate(data, require_on_path=True, path=str(tmp_path)))
    exe = tmp_path / "definitely-not-a-real-binary-xyz"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert validate(data, require_on_path=True, path=str(tmp_path)) == []


if __name__ == "__main__":  # python tests/clients/test_helix.py [languages.toml]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else LANGUAGES_TOML
    problems = validate(tomllib.loads(target.read_text()), require_on_path=True, path=search_path())
    print("\n".join(f"ERROR {p}" for p in problems) or "OK")
    sys.exit(1 if problems else 0)
