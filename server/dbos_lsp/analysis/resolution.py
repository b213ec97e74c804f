"""What the analysis may ask of the project, and the shape of the answers.

The analysis layer is pure: it never walks the file system or runs jedi.  When syntax
cannot tell what an imported name is, the module model asks a :class:`ProjectIndex`
(implemented in :mod:`dbos_lsp.project`), passed in by the caller.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dbos_lsp.analysis.names import PendingImport

if TYPE_CHECKING:
    from dbos_lsp.analysis.module_model import FunctionInfo, ModuleModel


class Role(enum.Enum):
    WORKFLOW = "workflow"
    STEP = "step"
    TRANSACTION = "transaction"
    HTTP_HANDLER = "HTTP handler"
    PLAIN = "function"


@dataclass
class Callee:
    """What a called function is, whether defined here or found by the index."""

    name: str
    role: Role
    is_async: bool
    # "sync" or "async" for datasource transactions; "legacy" for 2.x @DBOS.transaction.
    tx_kind: str | None = None
    info: FunctionInfo | None = None  # set when defined in this file
    # DBOS type its return annotation names (``-> Queue``), of the awaited value when async.
    returns: str | None = None
    # The file that defines it when found by the index (another module of the project).
    source_path: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Resolution:
    qualname: str | None = None  # e.g. "dbos.DBOS" when the import is the DBOS class
    function: Callee | None = None  # when the import is a function
    # DBOS type of a module-level object (``q = DBOS.register_queue(...)`` -> "dbos.Queue").
    instance_type: str | None = None
    # The file that defines it: a change there invalidates the cached answer.
    source_path: str | None = field(default=None, compare=False)


class ProjectIndex(Protocol):
    def resolve_import(self, path: str | None, imp: PendingImport) -> Resolution | None: ...

    def workflow_registrations(self) -> dict[str, list[tuple[str, int]]]:
        """Registered workflow name -> [(file, line)] across the workspace."""
        ...

    def workflow_registrations_for(self, path: str) -> Mapping[str, Sequence[tuple[str, int]]]:
        """Registered workflow name -> [(file, 1-based line)] in the *other* files of ``path``'s
        application (its nearest project folder: ``pyproject.toml``, ``setup.py``,
        ``setup.cfg``, ``requirements*.txt`` or ``uv.lock``), excluded files left out (for
        DBOS404)."""
        ...

    def module_model(self, path: str) -> ModuleModel | None:
        """The model of another project file as saved (for what its helpers do), or None."""
        ...

    def dbos_version(self, path: str | None = None) -> tuple[str, str] | None:
        """(version, where it came from) for the file ``path`` (None: the project as a
        whole), or None when the project does not say."""
        ...
