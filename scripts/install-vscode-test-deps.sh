#!/usr/bin/env bash
# Install everything the VS Code end-to-end test (tests/clients/test_vscode.py) and
# the .vsix build (scripts/build-vsix.sh) need. Idempotent and cached: a second run
# with everything in place takes a few seconds.
#
#   * Debian's chromium (/usr/bin/chromium), via apt, when missing
#   * code-server 4.100.3 (= VS Code 1.100.3, the newest code-server that runs on node 20),
#     from npm, into  $DBOS_VSCODE_CACHE/code-server
#   * playwright-core (drives chromium; never downloads a browser), into $DBOS_VSCODE_CACHE/playwright
#   * the extension's npm dependencies:  npm ci  in clients/vscode (package-lock.json is committed)
#
# DBOS_VSCODE_CACHE defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/dbos-lsp.
# Needs: node 20 + npm, root (or passwordless apt) for the apt packages, network to
# npm and Debian apt only (no GitHub: see the ripgrep workaround below).
set -euo pipefail

CODE_SERVER_VERSION=4.100.3
PLAYWRIGHT_VERSION=1.65.1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${DBOS_VSCODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dbos-lsp}
CS_DIR=$CACHE/code-server
PW_DIR=$CACHE/playwright

DIED=
die() { DIED=1; echo "install-vscode-test-deps: ERROR: $*" >&2; exit 1; }
say() { echo "install-vscode-test-deps: $*" >&2; }
trap 'rc=$?; [ $rc -eq 0 ] || [ -n "$DIED" ] || echo "install-vscode-test-deps: FAILED (exit $rc) at line $LINENO: $BASH_COMMAND" >&2' EXIT

command -v node >/dev/null || die "node not found (need node 20 for code-server $CODE_SERVER_VERSION)"
command -v npm >/dev/null || die "npm not found"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" = 20 ] || die "node $NODE_MAJOR found; code-server $CODE_SERVER_VERSION requires exactly node 20"

APT_UPDATED=
apt_install() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found; please install: ${missing[*]}"
    local SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

# 1. chromium --------------------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium still missing after apt-get install chromium"

# 2. code-server -----------------------------------------------------------------------
CS_BIN=$CS_DIR/node_modules/.bin/code-server
CS_STAMP=$CS_DIR/.installed-$CODE_SERVER_VERSION
if [ -f "$CS_STAMP" ] && [ -x "$CS_BIN" ]; then
    say "code-server $CODE_SERVER_VERSION already installed in $CS_DIR"
else
    # native modules (node-pty, spdlog, argon2, kerberos, ...) are compiled with node-gyp;
    # ripgrep is used to seed @vscode/ripgrep's download cache (it would fetch from GitHub).
    apt_install build-essential python3 pkg-config libkrb5-dev ripgrep
    RG_CACHE="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-1.15.11"
    mkdir -p "$RG_CACHE"
    RG_TGZ=$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
    [ -s "$RG_TGZ" ] || tar czf "$RG_TGZ" -C "$(dirname "$(command -v rg)")" rg
    rm -rf "$CS_DIR"
    mkdir -p "$CS_DIR"
    printf '{"name":"dbos-lsp-code-server","version":"0.0.0","private":true}\n' > "$CS_DIR/package.json"
    say "npm install code-server@$CODE_SERVER_VERSION into $CS_DIR (takes 1-3 minutes, log: $CS_DIR/npm-install.log)"
    # unsafe_perm: code-server's postinstall refuses to run as root without it.
    # yes: node-pty's postinstall runs `npx node-gyp`, which npx refuses when npmrc says yes=false.
    if ! (cd "$CS_DIR" && npm_config_unsafe_perm=true npm_config_yes=true npm_config_fund=false \
            npm_config_audit=false npm install --no-save --foreground-scripts \
            "code-server@$CODE_SERVER_VERSION" > "$CS_DIR/npm-install.log" 2>&1); then
        tail -40 "$CS_DIR/npm-install.log" >&2
        die "npm install code-server@$CODE_SERVER_VERSION failed (full log: $CS_DIR/npm-install.log)"
    fi
    "$CS_BIN" --version >/dev/null 2>&1 || die "code-server installed but '$CS_BIN --version' fails"
    touch "$CS_STAMP"
fi
say "$("$CS_BIN" --version | head -1)"

# 3. playwright-core -------------------------------------------------------------------
PW_STAMP=$PW_DIR/.installed-$PLAYWRIGHT_VERSION
if [ -f "$PW_STAMP" ] && [ -f "$PW_DIR/node_modules/playwright-core/package.json" ]; then
    say "playwright-core $PLAYWRIGHT_VERSION already installed in $PW_DIR"
else
    rm -rf "$PW_DIR"
    mkdir -p "$PW_DIR"
    printf '{"name":"dbos-lsp-playwright","version":"0.0.0","private":true}\n' > "$PW_DIR/package.json"
    say "npm install playwright-core@$PLAYWRIGHT_VERSION into $PW_DIR"
    # playwright-core has no install script and never downloads a browser; we use /usr/bin/chromium.
    (cd "$PW_DIR" && npm_config_fund=false npm_config_audit=false \
        npm install --no-save "playwright-core@$PLAYWRIGHT_VERSION" >"$PW_DIR/npm-install.log" 2>&1) \
        || { tail -20 "$PW_DIR/npm-install.log" >&2; die "npm install playwright-core failed"; }
    touch "$PW_STAMP"
fi

# 4. the extension's own npm deps --------------------------------------------------------
EXT=$ROOT/clients/vscode
[ -f "$EXT/package-lock.json" ] || die "$EXT/package-lock.json missing"
LOCK_HASH=$(sha256sum "$EXT/package-lock.json" | cut -c1-16)
if [ -f "$EXT/node_modules/.dbos-lock-$LOCK_HASH" ]; then
    say "clients/vscode node_modules up to date"
else
    say "npm ci in clients/vscode"
    (cd "$EXT" && npm_config_fund=false npm_config_audit=false npm ci --no-progress >&2) \
        || die "npm ci in $EXT failed"
    touch "$EXT/node_modules/.dbos-lock-$LOCK_HASH"
fi

say "OK"
# machine-readable summary for scripts/tests
echo "CODE_SERVER=$CS_BIN"
echo "PLAYWRIGHT_DIR=$PW_DIR"
echo "CHROMIUM=/usr/bin/chromium"
