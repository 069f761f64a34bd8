"""Everything that plugs into the engine, listed in one place and installed by ``Docroute``.

Nothing registers itself on import. Service-task operators are functions marked with
``@operator("name")`` in the modules listed below; the after-step hooks, the session and
mapper listeners (chain heads, search text, the KPI facts) and the demo seeders are listed
here too, so a newcomer finds every extension point, and what is plugged into it, here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from engine.deadlines import periods
from engine.history import audit, chain, checkpoints
from engine.org import orgchart
from engine.queries import kpi
from engine.registry import document_ops, links, search
from engine.runtime import cases, operators

if TYPE_CHECKING:
    from engine.service import Docroute

# Modules whose ``@operator`` functions diagrams may call (serviceTaskOperator ids).
OPERATOR_MODULES: tuple[ModuleType, ...] = (orgchart, document_ops, links, periods)

# Tables defined beside their code rather than in engine/models.py: the metadata must know them.
TABLE_MODULES: tuple[ModuleType, ...] = (checkpoints,)

# Run after every step, inside its transaction: case data flows into the document.
AFTER_STEP: tuple[cases.StepHook, ...] = (document_ops.sync_document,)

_installed = False


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


def install() -> None:
    """Plug everything in (idempotent: every ``Docroute`` calls it)."""
    global _installed
    if _installed:
        return
    operators.OPERATORS.update(operator_table())
    cases.AFTER_STEP[:] = list(AFTER_STEP)
    chain.listen()
    audit.listen()
    search.listen()
    kpi.listen()  # after the chain heads: the facts fold the events just written
    _installed = True
