"""docroute's engine: persistence, runtime, timers, history, identity, documents.

Never imports Flask. The web UI, the CLI and workers call the names below.
"""

from engine.org.identity import Actor

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
from .service import Docroute

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
