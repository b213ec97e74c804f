#!/usr/bin/env bash
# Build the DBOS VS Code extension into a .vsix and print its path (the only line on stdout).
#
#   bash scripts/build-vsix.sh            ->  clients/vscode/dist/dbos-lsp-<version>.vsix
#
# Steps: npm ci (when package-lock.json changed), vendor the server's pure-Python deps into
# clients/vscode/bundled/libs (pinned in requirements-bundled.txt, when that file changed),
# copy the server source (server/dbos_lsp + skills/) into clients/vscode/bundled/tool,
# typecheck, esbuild-bundle (vscode:prepublish) and `vsce package`.
# All of bundled/libs, bundled/tool/dbos_lsp, dist/ and node_modules/ are gitignored build output.
#
# Env: PYTHON (default python3) runs pip; DBOS_LSP_SERVER_SRC / DBOS_LSP_SKILLS_SRC override the
# server package / skills folder that get bundled; VSIX_OUT overrides the output path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXT=$ROOT/clients/vscode
PYTHON=${PYTHON:-python3}
SERVER_SRC=${DBOS_LSP_SERVER_SRC:-$ROOT/server/dbos_lsp}
SKILLS_SRC=${DBOS_LSP_SKILLS_SRC:-$ROOT/skills}

die() { echo "build-vsix: ERROR: $*" >&2; exit 1; }
say() { echo "build-vsix: $*" >&2; }

command -v node >/dev/null || die "node not found (need node >= 20)"
command -v npm >/dev/null || die "npm not found"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "'$PYTHON -m pip' does not work (set PYTHON=...)"
[ -f "$SERVER_SRC/__main__.py" ] || die "server package not found at $SERVER_SRC (no __main__.py)"

cd "$EXT"
VERSION=$(node -p 'require("./package.json").version')
OUT=${VSIX_OUT:-$EXT/dist/dbos-lsp-$VERSION.vsix}

# 1. npm deps ---------------------------------------------------------------------------
LOCK_HASH=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "node_modules/.dbos-lock-$LOCK_HASH" ]; then
    say "npm ci"
    npm_config_fund=false npm_config_audit=false npm ci --no-progress >&2 || die "npm ci failed in $EXT"
    touch "node_modules/.dbos-lock-$LOCK_HASH"
fi

# 2. bundled pure-Python libs -------------------------------------------------------------
REQ_HASH=$(cat requirements-bundled.txt | sha256sum | cut -c1-16)
if [ ! -f "bundled/libs/.dbos-req-$REQ_HASH" ]; then
    say "vendoring pure-Python deps into bundled/libs"
    rm -rf bundled/libs
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --target bundled/libs --no-deps \
        --implementation py --only-binary=:all: -r requirements-bundled.txt >&2 \
        || die "pip install --target bundled/libs failed"
    # only pure-Python code may be shipped: the .vsix must run on every OS and Python >= 3.10
    if find bundled/libs -name '*.so' -o -name '*.pyd' | grep -q .; then
        die "bundled/libs contains compiled extension modules: $(find bundled/libs -name '*.so' -o -name '*.pyd' | head -3)"
    fi
    find bundled/libs -name __pycache__ -type d -prune -exec rm -rf {} +
    touch "bundled/libs/.dbos-req-$REQ_HASH"
fi

# 3. server source ------------------------------------------------------------------------
say "copying server source from $SERVER_SRC"
rm -rf bundled/tool/dbos_lsp
cp -R "$SERVER_SRC" bundled/tool/dbos_lsp
if [ -d "$SKILLS_SRC" ] && [ ! -e bundled/tool/dbos_lsp/skills ]; then
    # same place as the wheel's force-include: dbos_lsp/skills
    cp -R "$SKILLS_SRC" bundled/tool/dbos_lsp/skills
fi
find bundled/tool -name __pycache__ -type d -prune -exec rm -rf {} +
find bundled/tool -name '*.pyc' -delete

# 4. typecheck + bundle + package -----------------------------------------------------------
say "typecheck"
npx --no-install tsc --noEmit -p . >&2 || die "TypeScript typecheck failed"
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
say "vsce package"
# vsce runs vscode:prepublish (esbuild --minify -> dist/extension.js) first. Its secret scan is
# skipped: it takes ~30 s over the 1000 vendored files, which are only pinned PyPI wheels + our source.
npx --no-install vsce package --no-dependencies --allow-package-all-secrets --allow-package-env-file \
    -o "$OUT" </dev/null >&2 \
    || die "vsce package failed"
[ -s "$OUT" ] || die "vsce did not produce $OUT"
say "$(du -h "$OUT" | cut -f1) $OUT"
echo "$OUT"
