"""What the suite needs from the environment: a skip on a developer's machine, a failure in CI.

A missing package or program skips the tests that need it locally, but under CI (``CI``
set, as GitHub Actions does) it fails them, so a broken install cannot pass as a green run
with tests quietly skipped.  The same rule as ``tests/clients/editor_support.missing_editor``.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def missing(message: str) -> NoReturn:
    """Fail under CI, skip otherwise (also at module level, during collection)."""
    if in_ci():
        pytest.fail(f"{message} (required when CI is set)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_module(name: str, hint: str = "install the test extra: pip install -e '.[test]'") -> ModuleType:
    """The imported module, like ``pytest.importorskip``, but a hard requirement under CI."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"module {name!r} is not importable ({exc}); {hint}")


def require_binary(name: str, hint: str = "") -> str:
    """The program's path on PATH; skipped locally, a failure under CI when missing."""
    found = shutil.which(name)
    if found is None:
        missing(f"program {name!r} is not on PATH" + (f"; {hint}" if hint else ""))
    return found
