#!/usr/bin/env bash
# Install everything the VS Code end-to-end test (tests/clients/test_vscode.py) and
# the .vsix build (scripts/build-vsix.sh) need. Idempotent and cached: a second run
# with everything in place takes a few seconds.
#
#   * Debian's chromium (/usr/bin/chromium), via apt, when missing
#   * code-server from npm, into  $DBOS_VSCODE_CACHE/code-server, in the release that matches
#     the node on PATH (each code-server release accepts exactly one node major; see below)
#   * playwright-core (drives chromium; never downloads a browser), into $DBOS_VSCODE_CACHE/playwright
#   * the extension's npm dependencies:  npm ci  in clients/vscode (package-lock.json is committed)
#
# DBOS_VSCODE_CACHE defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/dbos-lsp.
# Needs: node 20, 22 or 24 + npm (Debian's own nodejs, 18, is too old for any code-server that
# has VS Code >= 1.100, which the extension needs), root (or passwordless apt) for the apt
# packages, network to npm and Debian apt only (no GitHub: see the ripgrep workaround below).
# CODE_SERVER_VERSION=x.y.z overrides the choice.
set -euo pipefail

PLAYWRIGHT_VERSION=1.65.1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${DBOS_VSCODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dbos-lsp}
CS_DIR=$CACHE/code-server
PW_DIR=$CACHE/playwright

DIED=
die() { DIED=1; echo "install-vscode-test-deps: ERROR: $*" >&2; exit 1; }
say() { echo "install-vscode-test-deps: $*" >&2; }
trap 'rc=$?; [ $rc -eq 0 ] || [ -n "$DIED" ] || echo "install-vscode-test-deps: FAILED (exit $rc) at line $LINENO: $BASH_COMMAND" >&2' EXIT

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

# 0. node and the code-server release for it ------------------------------------------------
# code-server's postinstall refuses any node major but the one its release was built for
# (`npm view code-server@'>=4.100' engines.node`): 4.100.x -> 20, 4.103-4.117 -> 22,
# 4.133 and later -> 24. Each entry is the newest release of its line; the extension needs
# VS Code >= 1.100 (engines.vscode), so older lines (node 18) are no use.
code_server_for_node() {
    case "$1" in
        20) echo 4.100.3 ;;
        22) echo 4.117.0 ;;
        24) echo 4.139.1 ;;
        *) return 1 ;;
    esac
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    say "node/npm not found; trying Debian's nodejs and npm"
    apt_install nodejs npm
fi
command -v node >/dev/null || die "node not found; install Node.js 20, 22 or 24 with npm"
command -v npm >/dev/null || die "npm not found"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
if [ -z "${CODE_SERVER_VERSION:-}" ]; then
    CODE_SERVER_VERSION=$(code_server_for_node "$NODE_MAJOR") \
        || die "node $NODE_MAJOR ($(command -v node)) has no matching code-server release; install Node.js 20, 22 or 24 (e.g. from nodesource), or set CODE_SERVER_VERSION"
fi
say "node $NODE_MAJOR: code-server $CODE_SERVER_VERSION"

# 1. chromium --------------------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium still missing after apt-get install chromium"

# 2. code-server -----------------------------------------------------------------------
# @vscode/ripgrep's postinstall downloads rg from GitHub, unless the asset is already in its
# cache, os.tmpdir()/vscode-ripgrep-cache-<package version>/ripgrep-<rg tag>-<target>.tar.gz.
# Both versions differ between code-server releases, so read them from the packages: the
# version pinned in code-server's lib/vscode/npm-shrinkwrap.json, and the tag in that
# @vscode/ripgrep's lib/postinstall.js. The tarball then holds Debian's rg. (From 1.18 on,
# @vscode/ripgrep, and @vscode/ripgrep-universal that replaced it, take rg from npm packages.)
seed_ripgrep_cache() {
    local tmp rgpkg tag cache
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "code-server@$1" >/dev/null 2>&1 \
        && tar -xzf code-server-*.tgz package/lib/vscode/npm-shrinkwrap.json) \
        || die "could not read code-server@$1's npm-shrinkwrap.json from npm"
    rgpkg=$(node -p "(require('$tmp/package/lib/vscode/npm-shrinkwrap.json').packages['node_modules/@vscode/ripgrep'] || {}).version || ''")
    if [ -z "$rgpkg" ]; then # newer releases use @vscode/ripgrep-universal, which ships rg itself
        say "code-server $1 has no @vscode/ripgrep; nothing to download"
        rm -rf "$tmp"
        return 0
    fi
    (cd "$tmp" && npm pack --silent "@vscode/ripgrep@$rgpkg" >/dev/null 2>&1 && tar -xzf vscode-ripgrep-*.tgz package) \
        || die "could not read @vscode/ripgrep@$rgpkg from npm"
    if [ ! -f "$tmp/package/lib/postinstall.js" ]; then
        say "@vscode/ripgrep $rgpkg downloads nothing"
        rm -rf "$tmp"
        return 0
    fi
    tag=$(sed -n "s/^const VERSION = '\(v[^']*\)'.*/\1/p" "$tmp/package/lib/postinstall.js")
    [ -n "$tag" ] || die "no ripgrep VERSION in @vscode/ripgrep@$rgpkg's postinstall.js"
    cache="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-$rgpkg"
    mkdir -p "$cache"
    [ -s "$cache/ripgrep-$tag-x86_64-unknown-linux-musl.tar.gz" ] \
        || tar czf "$cache/ripgrep-$tag-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
    say "seeded @vscode/ripgrep $rgpkg's download cache (ripgrep $tag) with $(command -v rg)"
    rm -rf "$tmp"
}
CS_BIN=$CS_DIR/node_modules/.bin/code-server
CS_STAMP=$CS_DIR/.installed-$CODE_SERVER_VERSION
if [ -f "$CS_STAMP" ] && [ -x "$CS_BIN" ]; then
    say "code-server $CODE_SERVER_VERSION already installed in $CS_DIR"
else
    # native modules (node-pty, spdlog, argon2, kerberos, ...) are compiled with node-gyp;
    # ripgrep is used to seed @vscode/ripgrep's download cache (it would fetch from GitHub).
    apt_install build-essential python3 pkg-config libkrb5-dev ripgrep
    seed_ripgrep_cache "$CODE_SERVER_VERSION"
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
