"""Memoized questions about a module model, each with a declared scope.

A query takes only the model and is answered once per model; the answer lives in
``model.memo``, never in ``model.__dict__``.  The scope says what the answer
depends on, which incremental analysis needs to know:

- ``"statement"``: the walk results that a statement view narrows (``functions``,
  ``calls``, ``attributes``, ``module_awaits``, ``annotated_assignments``, ``classes``);
  a view of one statement must answer it again.
- ``"module"``: only what every view shares with the whole model (the tree, the
  import table, module-level bindings); a view keeps the whole model's answer.

When unsure, declare ``"statement"``: it costs a recomputation, never a wrong answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

Scope = Literal["statement", "module"]
T = TypeVar("T")


@dataclass(frozen=True, eq=False)  # one object per query: hashed by identity, cheaply
class Query:
    name: str  # module and qualified name of the function that answers it
    scope: Scope


class QueryMemo(dict):
    """Answers by :class:`Query`."""

    def module_scoped(self) -> QueryMemo:
        """The answers a view of one statement may keep."""
        return QueryMemo({query: value for query, value in self.items() if query.scope == "module"})


class HasMemo(Protocol):
    memo: QueryMemo


M = TypeVar("M", bound=HasMemo)


def model_query(scope: Scope) -> Callable[[Callable[[M], T]], Callable[[M], T]]:
    """Memoize ``compute(model)`` in ``model.memo`` under a declared scope; works for
    model methods and for functions that take the model."""
    if scope not in ("statement", "module"):
        raise ValueError(f"unknown query scope {scope!r}")

    def decorate(compute: Callable[[M], T]) -> Callable[[M], T]:
        query = Query(f"{compute.__module__}.{compute.__qualname__}", scope)

        @functools.wraps(compute)
        def answer(model: M) -> T:
            memo: dict[Query, Any] = model.memo
            try:
                return memo[query]
            except KeyError:
                pass
            value = memo[query] = compute(model)
            return value

        answer.query = query  # type: ignore[attr-defined]
        return answer

    return decorate
