"""Service-task operators: the only way a diagram reaches the database.

Scripts do no IO. A ``serviceTask`` whose ``spiffworkflow:serviceTaskOperator id`` names
an operator of the ``Docroute``'s table (``RuntimeState.operators``, filled by
``engine.wiring``) runs it with the current unit of work; its result lands in
the task data (``resultVariable``) and in the case history, so replay feeds the recorded
result back instead of running the operator again (a document number is allocated once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from engine.errors import ScriptError


@dataclass
class ServiceCall:
    """What an operator gets: the unit of work, the case, who acted, and the task data."""

    session: Session
    instance_id: int
    document_id: int | None
    actor: str
    data: dict[str, Any]
    params: dict[str, Any]


Operator = Callable[[ServiceCall], Any]

MARK = "docroute_operator"


def operator(name: str) -> Callable[[Operator], Operator]:
    """Mark a service-task operator as ``name``; ``engine.wiring`` collects the marked ones."""

    def mark(fn: Operator) -> Operator:
        setattr(fn, MARK, name)
        return fn

    return mark


@dataclass
class ServiceScope:
    """Context of one engine step, so operators can reach the session; records results."""

    session: Session | None
    instance_id: int
    document_id: int | None
    actor: str
    # In replay: recorded results to hand back, in call order, instead of running operators.
    recorded: list[Any] | None = None
    # The operators of the Docroute running the step (a live step; replay calls none).
    operators: Mapping[str, Operator] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)


_scope: ContextVar[ServiceScope | None] = ContextVar("docroute_service_scope", default=None)


@contextmanager
def service_scope(scope: ServiceScope) -> Iterator[ServiceScope]:
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def call(name: str, params: dict[str, Any], data: dict[str, Any]) -> Any:
    scope = _scope.get()
    if scope is None:
        raise ScriptError(f"service {name!r} was called outside an engine step")
    if scope.recorded is not None:
        if not scope.recorded:
            raise ScriptError(f"replay has no recorded result for service {name!r}")
        result = scope.recorded.pop(0)
    else:
        run = scope.operators.get(name)
        if run is None:
            raise ScriptError(f"unknown service operator {name!r}")
        if scope.session is None:
            raise ScriptError(f"service {name!r} needs a database session")
        result = run(ServiceCall(scope.session, scope.instance_id, scope.document_id,
                                 scope.actor, data, params))
    scope.results.append({"service": name, "params": params, "result": result})
    return result
