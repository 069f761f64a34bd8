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

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from engine.definitions import deployment as definitions
from engine.definitions.scripting import make_script_engine
from engine.models import Definition, Instance
from engine.runtime.operators import Operator

KEY = "docroute_runtime"
T = TypeVar("T")

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


class Memo:
    """Reference data every step reads and administrators rarely change (group names for
    lanes, step targets), kept for ``ttl`` seconds instead of read on every step.

    A write to a table behind it, through this ``Docroute``'s engine, clears it at once
    (``watch_writes``); another process's write is seen within ``ttl``. Values must be
    plain data, never ORM rows: they outlive the session that loaded them.
    """

    # Tables whose rows the memo's values are built from.
    TABLES = ("groups", "memberships", "step_targets")

    def __init__(self, ttl: float = 5.0):
        self.ttl = ttl
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            item = self._items.get(key)
        if item is not None and now - item[0] < self.ttl:
            return item[1]  # type: ignore[no-any-return]
        value = load()
        with self._lock:
            self._items[key] = (now, value)
        return value

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_WRITE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


def watch_writes(engine: Engine, memo: Memo) -> None:
    """Clear ``memo`` whenever a statement on this engine writes one of its tables
    (recognised by the statement's text, so ORM and Core writes alike)."""

    @event.listens_for(engine, "after_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        match = _WRITE.match(statement)
        if match and match.group(1).lower() in Memo.TABLES:
            memo.clear()


class FreshOnMiss(Mapping[str, str]):
    """A memoised mapping that is loaded afresh once when asked for a key it lacks: a
    group renamed in another process is found by its new name at once."""

    def __init__(self, memo: Memo, key: str, load: Callable[[], dict[str, str]]):
        self._memo, self._key, self._load = memo, key, load
        self._data = memo.get(key, load)
        self._fresh = False

    def __getitem__(self, name: str) -> str:
        if name not in self._data and not self._fresh:
            self._memo.drop(self._key)
            self._data, self._fresh = self._memo.get(self._key, self._load), True
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True, slots=True)
class DefinitionInfo:
    """What a case shows of its process: key, version and name."""

    key: str
    version: int
    name: str


@dataclass
class RuntimeState:
    """One ``Docroute``'s live workflows, script engine, operators, after-step hooks and
    memoised reference data."""

    cache: WorkflowCache = field(default_factory=WorkflowCache)
    script_engine: PythonScriptEngine = field(default_factory=make_script_engine)
    # serviceTaskOperator id -> operator (``wiring.operator_table()``; tests may add one).
    operators: dict[str, Operator] = field(default_factory=dict)
    after_step: list[StepHook] = field(default_factory=list)
    memo: Memo = field(default_factory=Memo)
    # A deployed definition never changes, nor do the versions it calls (pinned at deploy):
    # its process key and parsed specs by id, so a step need not load its row.
    definitions: dict[int, DefinitionInfo] = field(default_factory=dict)


def of(session: Session) -> RuntimeState:
    """The state of the ``Docroute`` whose factory made this session."""
    state = session.info.get(KEY)
    if state is None:
        raise RuntimeError("this session was not made by Docroute.session(), so it has no "
                           "runtime state and cannot load or run a case")
    return state


def definition_info(session: Session, instance: Instance) -> DefinitionInfo:
    """The case's process key, version and name, without loading its definition row (and
    diagram) when this Docroute has seen it; a session not made by a ``Docroute`` loads it."""
    runtime = session.info.get(KEY)
    known = runtime.definitions if isinstance(runtime, RuntimeState) else {}
    info = known.get(instance.definition_id)
    if info is None:
        row = instance.definition
        info = known[instance.definition_id] = DefinitionInfo(row.key, row.version, row.name)
    return info


def spec_of(session: Session, instance: Instance) -> tuple[Any, dict[str, Any]]:
    """The case's parsed process spec and subprocess specs (``definitions.specs_of``)."""
    return definitions.specs_of(session, instance.definition_id, lambda: instance.definition)


def new_workflow(session: Session, definition: Definition) -> BpmnWorkflow:
    """A fresh workflow of a deployed definition, with this Docroute's script engine: how
    a live start, a replay and a migration all begin a case."""
    spec, subprocesses = definitions.specs_of(session, definition.id, lambda: definition)
    return BpmnWorkflow(spec, subprocesses, script_engine=of(session).script_engine)
