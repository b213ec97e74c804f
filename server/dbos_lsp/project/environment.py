"""A Python environment's import path, read from its files: no interpreter is ever started.

jedi normally asks an environment's own ``python`` for its ``sys.path``, which runs
that interpreter and the ``.pth`` files of its site-packages: code the checked
repository may control.  Here the layout is read as data instead: ``pyvenv.cfg``,
``lib/python3.*/site-packages`` and the path lines of ``.pth`` files (their ``import``
lines are never run).  jedi then works in this process
(:func:`jedi_environment`), on that fixed path.
"""

from __future__ import annotations

import glob
import os
import sys
import sysconfig


def environment_prefix(environment: str) -> str:
    """The environment folder of a venv folder or of a ``python`` inside one
    (``.venv/bin/python`` -> ``.venv``); never resolves the executable's symlink."""
    path = os.path.abspath(environment)
    if os.path.isdir(path):
        return path
    parent = os.path.dirname(path)
    if os.path.basename(parent) in ("bin", "Scripts"):
        return os.path.dirname(parent)
    return parent


def _pyvenv_cfg(prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open(os.path.join(prefix, "pyvenv.cfg"), encoding="utf-8", errors="replace") as fh:
            for line in fh.read(64 * 1024).splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    out[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return out


def _site_dirs(prefix: str, version: str | None) -> list[str]:
    """``site-packages`` folders of an environment prefix, the configured version first."""
    found: list[str] = []
    for lib in ("lib", "lib64"):
        for sub in ("site-packages", "dist-packages"):
            found.extend(sorted(glob.glob(os.path.join(glob.escape(prefix), lib, "python3*", sub))))
    found.extend(glob.glob(os.path.join(glob.escape(prefix), "Lib", "site-packages")))
    if version:
        short = "python" + ".".join(version.split(".")[:2])
        found.sort(key=lambda p: os.path.basename(os.path.dirname(p)) != short)
    out: list[str] = []
    for d in found:
        real = os.path.realpath(d)
        if os.path.isdir(d) and real not in out:
            out.append(real)
    return out


def _pth_paths(site_dir: str) -> list[str]:
    """Folders that the site dir's ``.pth`` files add, as ``site.addpackage`` would, except
    that ``import`` lines are ignored (Python would execute them)."""
    out: list[str] = []
    try:
        names = sorted(n for n in os.listdir(site_dir) if n.endswith(".pth"))
    except OSError:
        return out
    for name in names:
        path = os.path.join(site_dir, name)
        try:
            if not os.path.isfile(path) or os.path.getsize(path) > 1024 * 1024:
                continue
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.rstrip()
            if not line or line.startswith("#") or line.startswith(("import ", "import\t")):
                continue
            folder = os.path.normpath(os.path.join(site_dir, line))
            if os.path.isdir(folder) and folder not in out:
                out.append(folder)
    return out


def _own_stdlib() -> list[str]:
    """This interpreter's standard library folders (jedi reads the stdlib's sources)."""
    paths = sysconfig.get_paths()
    out = []
    for key in ("stdlib", "platstdlib"):
        p = paths.get(key)
        if p and os.path.isdir(p) and p not in out:
            out.append(p)
    dynload = os.path.join(paths.get("platstdlib", ""), "lib-dynload")
    if os.path.isdir(dynload):
        out.append(dynload)
    return out


def environment_sys_path(environment: str | None) -> list[str]:
    """The import path jedi should search for ``environment`` (a venv folder or a python
    executable in one), from files only; without one, this interpreter's ``sys.path``."""
    if not environment:
        return [p for p in sys.path if p]
    prefix = environment_prefix(environment)
    cfg = _pyvenv_cfg(prefix)
    out = _own_stdlib()
    for site_dir in _site_dirs(prefix, cfg.get("version") or cfg.get("version_info")):
        for p in (site_dir, *_pth_paths(site_dir)):
            if p not in out:
                out.append(p)
    if cfg.get("include-system-site-packages", "").lower() == "true" and cfg.get("home"):
        base = os.path.dirname(os.path.abspath(cfg["home"]))
        for site_dir in _site_dirs(base, cfg.get("version")):
            for p in (site_dir, *_pth_paths(site_dir)):
                if p not in out:
                    out.append(p)
    return out


def jedi_environment():
    """jedi's in-process environment: jedi never starts a subprocess with it."""
    from jedi.api.environment import InterpreterEnvironment

    return InterpreterEnvironment()


def jedi_project(root: str, sys_path: list[str]):
    """A jedi project searching exactly ``sys_path`` (plus the project's own folders).

    Extension modules (``.so``) are imported by jedi to inspect them; with an
    in-process environment that would run their code here, so jedi may only import them
    from this interpreter's own library folders, never from the checked environment or
    project."""
    import jedi

    trusted = _trusted_paths(root)

    class _Project(jedi.Project):
        def _get_base_sys_path(self, inference_state):  # what jedi may import in-process
            return trusted

    return _Project(root, sys_path=sys_path, environment_path=None, load_unsafe_extensions=False)


def _trusted_paths(root: str) -> list[str]:
    inside = [os.path.abspath(root), os.getcwd()]

    def under(p: str) -> bool:
        p = os.path.abspath(p)
        return any(p == d or p.startswith(d.rstrip(os.sep) + os.sep) for d in inside)

    return [p for p in sys.path if p and not under(p)]


__all__ = ["environment_prefix", "environment_sys_path", "jedi_environment", "jedi_project"]
