"""docroute's engine: persistence, runtime, timers, history, identity, documents.

Never imports Flask. The web UI, the CLI and workers call the names below.
"""

from . import audit as _audit  # noqa: F401  (keeps every hash chain's head; engine/audit.py)
from . import checkpoints as _checkpoints  # noqa: F401  (the signed checkpoints' tables)
from . import deadlines as _deadlines  # noqa: F401  (registers the deadline_* service operators)
from . import documents as _documents  # noqa: F401  (registers document operators and sync)
from . import kpi as _kpi  # noqa: F401  (keeps each case's facts for the reports)
from . import links as _links  # noqa: F401  (registers the open_supervision operator)
from . import search as _search  # noqa: F401  (keeps documents.search_text current)
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
from .identity import Actor
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
