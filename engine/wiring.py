"""Everything that plugs into the engine, listed in one place and installed by ``Docroute``.

Nothing registers itself on import, and nothing is installed process-wide. Service-task
operators are functions marked with ``@operator("name")`` in the modules listed below;
the after-step hooks, the session and mapper listeners (chain heads, search text, the KPI
facts) and the demo seeders are listed here too, so a newcomer finds every extension
point, and what is plugged into it, here.

``install(docroute)`` plugs them into one ``Docroute``: the operator table and the
after-step hooks go into its ``RuntimeState`` (``docroute.runtime``), the session
listeners onto its session factory (``listen``). Two ``Docroute`` objects in one process
never share them. Only the search-text listener is a mapper event on the ``Document``
class, installed once for every ``Docroute``: it depends on the row alone.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from engine.deadlines import periods
from engine.history import audit, chain, checkpoints
from engine.org import orgchart
from engine.queries import kpi
from engine.registry import document_ops, links, search
from engine.runtime import operators, state

if TYPE_CHECKING:
    from engine.service import Docroute

# Modules whose ``@operator`` functions diagrams may call (serviceTaskOperator ids).
OPERATOR_MODULES: tuple[ModuleType, ...] = (orgchart, document_ops, links, periods)

# Tables defined beside their code rather than in engine/models.py: the metadata must know them.
TABLE_MODULES: tuple[ModuleType, ...] = (checkpoints,)

# Run after every step, inside its transaction: case data flows into the document.
AFTER_STEP: tuple[state.StepHook, ...] = (document_ops.sync_document,)


def operator_table() -> dict[str, operators.Operator]:
    """Every operator by name, from ``OPERATOR_MODULES``; a name used twice is an error."""
    table: dict[str, operators.Operator] = {}
    for module in OPERATOR_MODULES:
        for fn in vars(module).values():
            name = getattr(fn, operators.MARK, None)
            if name is None or getattr(fn, "__module__", None) != module.__name__:
                continue
            if name in table:
                raise ValueError(f"service operator {name!r} is defined twice")
            table[name] = fn
    return table


def demo_seeders() -> tuple[Callable[[Docroute], None], ...]:
    """What ``docroute demo`` seeds after the organisation, in order."""
    from engine.demo import documents, duties

    return (documents.seed_documents, duties.seed_duties, audit.seed_demo_cases)


def listen(sessions: sessionmaker[Session]) -> None:
    """Attach the session listeners to one session factory, in the order they must run."""
    chain.listen(sessions)
    audit.listen(sessions)
    kpi.listen(sessions)  # after the chain heads: the facts fold the events just written


def install(docroute: Docroute) -> None:
    """Plug everything into ``docroute`` (once, when it is built)."""
    docroute.runtime.operators.update(operator_table())
    docroute.runtime.after_step.extend(AFTER_STEP)
    listen(docroute.sessions)
    search.listen()
