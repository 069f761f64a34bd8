"""docroute's engine: persistence, runtime, timers, history, identity, documents.

Never imports Flask. The web UI, the CLI and workers call the names below.

The names are loaded on first use (PEP 562), so importing a light module such as
``engine.ids`` or ``engine.constants`` does not pull in SQLAlchemy and SpiffWorkflow:
the command line answers ``--help`` without them. What plugs into the engine
(operators, listeners, hooks) is installed by ``Docroute`` from ``engine/wiring.py``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Actor": "org.identity",
    "Conflict": "errors",
    "Docroute": "service",
    "DocrouteError": "errors",
    "FormInvalid": "errors",
    "NotAllowed": "errors",
    "NotFound": "errors",
    "Problem": "errors",
    "ScriptError": "errors",
    "Settings": "config",
    "WorkflowInvalid": "errors",
}

__all__ = [
    "Actor",
    "Conflict",
    "Docroute",
    "DocrouteError",
    "FormInvalid",
    "NotAllowed",
    "NotFound",
    "Problem",
    "ScriptError",
    "Settings",
    "WorkflowInvalid",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:  # also lets ``from engine import runtime`` import the submodule
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .config import Settings
    from .errors import (
        Conflict,
        DocrouteError,
        FormInvalid,
        NotAllowed,
        NotFound,
        Problem,
        ScriptError,
        WorkflowInvalid,
    )
    from .org.identity import Actor
    from .service import Docroute
