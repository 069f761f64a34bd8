"""What a ``Docroute`` keeps in memory for running cases, reached through its sessions.

Each ``Docroute`` owns one ``RuntimeState``: the live-workflow cache, the script engine
built with its ``Settings.script_timeout_seconds``, the service-task operators diagrams
may call and the hooks run after every step (both filled by ``engine.wiring``). Its
session factory puts the state in every session's ``info``, so engine functions, which
receive only a session, find the state of the ``Docroute`` they serve. Two ``Docroute``
objects in one process (tests, a CLI beside a server) never share a cached workflow, a
time limit or an operator. (The working-day calendar sits beside it in the session's
``info``: ``engine.deadlines.workcalendar.of``.)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from sqlalchemy.orm import Session

from engine.definitions import deployment as definitions
from engine.definitions.scripting import make_script_engine
from engine.models import Definition, Instance
from engine.runtime.operators import Operator

KEY = "docroute_runtime"

# Run after every step with the live workflow, inside its transaction (documents sync fields).
StepHook = Callable[[Session, Instance, BpmnWorkflow], None]


class WorkflowCache:
    """Live workflows of recently touched cases, keyed by case id and row version.

    Deserializing grows with a case's history; reusing the live object after a commit
    keeps a step's cost flat. An entry is taken out while a step uses it and put back
    only after that transaction commits, so a failed step never leaves a mutated object.
    """

    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: int, version: int) -> BpmnWorkflow | None:
        with self._lock:
            item = self._items.pop(instance_id, None)
        return item[1] if item and item[0] == version else None

    def put(self, instance_id: int, version: int, workflow: BpmnWorkflow) -> None:
        with self._lock:
            self._items[instance_id] = (version, workflow)
            self._items.move_to_end(instance_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class RuntimeState:
    """One ``Docroute``'s live workflows, script engine, operators and after-step hooks."""

    cache: WorkflowCache = field(default_factory=WorkflowCache)
    script_engine: PythonScriptEngine = field(default_factory=make_script_engine)
    # serviceTaskOperator id -> operator (``wiring.operator_table()``; tests may add one).
    operators: dict[str, Operator] = field(default_factory=dict)
    after_step: list[StepHook] = field(default_factory=list)


def of(session: Session) -> RuntimeState:
    """The state of the ``Docroute`` whose factory made this session."""
    state = session.info.get(KEY)
    if state is None:
        raise RuntimeError("this session was not made by Docroute.session(), so it has no "
                           "runtime state and cannot load or run a case")
    return state


def new_workflow(session: Session, definition: Definition) -> BpmnWorkflow:
    """A fresh workflow of a deployed definition, with this Docroute's script engine: how
    a live start, a replay and a migration all begin a case."""
    spec, subprocesses = definitions.load_spec(session, definition)
    return BpmnWorkflow(spec, subprocesses, script_engine=of(session).script_engine)
