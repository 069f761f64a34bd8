"""Rebuilding a case from its history, step by step, and checking it against its state.

A case's events are the only input: the pinned definition version named by ``started``
(and by each ``migrated``), the submitted data of each completion, the clock time of each
step (``at``), the recorded service results, which are handed back instead of running
the operators again, and the recorded provisional calendar answers, handed back likewise.
Nothing is read from the stored state.

Each event is state-changing, passive or unknown by the one catalogue in
``engine.runtime.step``, and each state event is re-run by that module's ``rerun``: the
same step code as the live step. Unknown events are passed over and listed in
``Replay.unknown_types`` so an auditor sees what was not replayed.

``verify`` compares the rebuilt workflow with the stored state canonically: task UUIDs
are renamed by tree order, ``last_state_change`` stamps are dropped, and times (timer due
times, ``now()`` in scripts) may differ by up to ``TIME_TOLERANCE`` because a live step
reads the clock a few milliseconds after its event was stamped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.deadlines import workcalendar
from engine.definitions import deployment as definitions
from engine.definitions import forms
from engine.errors import DocrouteError, NotFound
from engine.models import Definition, Event, Instance
from engine.runtime import compaction, spiff, state, step
from engine.runtime.step import classify

from . import chain as history

STATE_EVENTS, PASSIVE_EVENTS = step.STATE_EVENTS, step.PASSIVE_EVENTS  # the one catalogue
TIME_TOLERANCE = timedelta(seconds=60)
ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
HIDDEN_DATA = frozenset({"__warningregistry__"})


class ReplayFailed(DocrouteError):
    """The history cannot be replayed (e.g. a completed task is not reachable)."""


# --- frames ---------------------------------------------------------------------------------


@dataclass
class Frame:
    """The case as it was right after one event (``index`` counts from 1)."""

    index: int
    seq: int
    type: str
    actor: str
    at: datetime
    task_id: str | None
    task_name: str | None
    payload: dict[str, Any]
    kind: str  # "state" | "passive" | "unknown"
    definition_id: int
    status: str
    data: dict[str, Any]
    completed: list[str]
    active: list[str]
    path: list[str]
    incidents: list[str]
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "seq": self.seq, "type": self.type, "actor": self.actor,
            "at": self.at.isoformat(), "task_id": self.task_id, "task_name": self.task_name,
            "payload": forms.json_safe(self.payload), "kind": self.kind,
            "definition_id": self.definition_id, "status": self.status,
            "data": self.data, "completed": self.completed, "active": self.active,
            "path": self.path, "incidents": self.incidents, "error": self.error,
        }


@dataclass
class Replay:
    """The result of replaying a case's first ``upto`` events."""

    instance_id: int
    workflow: BpmnWorkflow | None
    definition: Definition | None
    frames: list[Frame] = field(default_factory=list)
    events: int = 0
    unknown_types: list[str] = field(default_factory=list)
    last_hash: str = history.GENESIS
    error: str | None = None  # with frames: why the replay stopped early
    status: str = "running"  # the case's status after the last event replayed


@dataclass
class _Cursor:
    """Mutable replay position: the live workflow and what the case looks like now."""

    session: Session
    instance: Instance
    workflow: BpmnWorkflow | None = None
    definition: Definition | None = None
    status: str = "running"
    incident: str | None = None
    state_events: list[Any] = field(default_factory=list)


def _definition(session: Session, key: str, version: int | None,
                definition_id: int | None = None) -> Definition:
    if definition_id is not None:
        found = session.get(Definition, definition_id)
        if found is not None:
            return found
    row = session.scalars(select(Definition).where(Definition.key == key,
                                                   Definition.version == version)).first()
    if row is None:
        raise ReplayFailed(f"the case's process {key!r} version {version} is not deployed "
                           "any more, so the case cannot be replayed")
    return row


def _rerun(cursor: _Cursor, event: Any, payload: dict[str, Any]) -> str | None:
    """Run one recorded step with the live step's code (``engine.runtime.step``)."""
    assert cursor.workflow is not None
    recorded = step.Recorded(event.type, payload, event.at, event.actor, event.task_name)
    try:
        outcome = step.rerun(cursor.workflow, recorded, cursor.instance.id,
                             cursor.instance.document_id, workcalendar.of(cursor.session))
    except step.NotOpen as error:
        raise ReplayFailed(f"event {event.seq}: {error} of the replay") from None
    return outcome.incident


def _apply(cursor: _Cursor, event: Any, payload: dict[str, Any]) -> str:
    """Apply one event; returns its kind ("state", "passive" or "unknown")."""
    kind = classify(event.type, payload, event.task_id)
    if kind != "state":
        _apply_passive(cursor, event)
        return kind
    if event.type == "started":
        cursor.definition = _definition(cursor.session, payload.get("definition", ""),
                                        payload.get("version"))
        cursor.workflow = state.new_workflow(cursor.session, cursor.definition)
        _after(cursor, _rerun(cursor, event, payload))
        cursor.state_events.append(event)
        compaction.compact(cursor.workflow)
        return kind
    if cursor.workflow is None:
        raise ReplayFailed(f"event {event.seq} ({event.type}) comes before the case was "
                           "started")
    if event.type == "migrated":
        _migrate(cursor, payload)
    else:
        _step(cursor, event, payload)
        cursor.state_events.append(event)
    # As the runtime does after every step (runtime/compaction.py): the same tree, and each
    # step of a long loop costs the same.
    compaction.compact(cursor.workflow)
    return kind


def _step(cursor: _Cursor, event: Any, payload: dict[str, Any]) -> None:
    workflow = cursor.workflow
    assert workflow is not None
    if event.type == "terminated":
        workflow.cancel()
        cursor.status = "terminated"
        return
    if event.type == "retried":
        cursor.status = "running"
    _after(cursor, _rerun(cursor, event, payload))


def _after(cursor: _Cursor, error: str | None) -> None:
    workflow = cursor.workflow
    assert workflow is not None
    if error:
        cursor.incident = error
    if cursor.status != "suspended" or workflow.completed:
        # Walking the task tree is the expensive part of a step: look for failed tasks
        # only when the case is or was in error (a step without an exception adds none).
        if workflow.completed:
            cursor.status = "completed" if workflow.success else "terminated"
        elif error or (cursor.status == "error" and workflow.get_tasks(state=TaskState.ERROR)):
            cursor.status = "error"
        else:
            cursor.status = "running"
            cursor.incident = None


def _apply_passive(cursor: _Cursor, event: Any) -> None:
    if event.type == "suspended":
        cursor.status = "suspended"
    elif event.type == "resumed":
        cursor.status = "error" if cursor.incident else "running"


def _migrate(cursor: _Cursor, payload: dict[str, Any]) -> None:
    """Re-run every state event so far on the target version, as the migration did."""
    target = payload.get("to") or {}
    cursor.definition = _definition(cursor.session, target.get("key", ""),
                                    target.get("version"), target.get("definition_id"))
    status = cursor.status
    cursor.workflow = None
    for event in cursor.state_events:
        data = json.loads(event.payload)
        if event.type == "started":
            cursor.workflow = state.new_workflow(cursor.session, cursor.definition)
            _after(cursor, _rerun(cursor, event, data))
        else:
            _step(cursor, event, data)
    cursor.status = status




# --- what a frame shows ---------------------------------------------------------------------


def _all_tasks(workflow: BpmnWorkflow, same_file: bool = True) -> Iterable[Any]:
    yield from workflow.tasks.values()
    main_file = getattr(workflow.spec, "file", None)
    for sub in workflow.subprocesses.values():
        if not same_file or getattr(sub.spec, "file", None) == main_file:
            yield from sub.tasks.values()


def _bpmn_id(task: Any) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def case_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The case data as people see it: the open branches' data merged in tree order.

    A finished case shows its final data; between steps, the data of the tasks that are
    waiting (a parallel split contributes each branch).
    """
    if workflow.completed and workflow.data:
        data = dict(workflow.data)
    else:
        data = {}
        open_tasks = [t for t in workflow.get_tasks(state=ACTIVE)]
        if not open_tasks:
            done = [t for t in workflow.get_tasks(state=TaskState.COMPLETED)]
            open_tasks = done[-1:]
        for task in open_tasks:
            data.update(task.data)
    return {k: v for k, v in forms.json_safe(data).items() if k not in HIDDEN_DATA}


@lru_cache(maxsize=64)
def _flows(xml: str) -> tuple[tuple[str, str, str], ...]:
    from engine.definitions.bpmn import parse_xml

    tree = parse_xml(xml.encode(), max_bytes=1 << 30)
    ns = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
    return tuple((f.get("id"), f.get("sourceRef"), f.get("targetRef"))
                 for f in tree.getroot().iter(f"{ns}sequenceFlow"))


def markers(workflow: BpmnWorkflow, xml: str) -> dict[str, list[str]]:
    """Element ids to highlight: completed, active, incidents, and the flows taken."""
    # Rounds compaction dropped from the tree still count as done (engine/runtime/compaction.py).
    completed, pairs, above = compaction.summary(workflow)
    active: set[str] = set()
    incidents: set[str] = set()
    for task in _all_tasks(workflow):
        bpmn_id = _bpmn_id(task)
        if bpmn_id is None:
            continue
        if task.state == TaskState.COMPLETED:
            completed.add(bpmn_id)
        elif task.state & ACTIVE:
            active.add(bpmn_id)
            if task.state == TaskState.ERROR:
                incidents.add(bpmn_id)
        else:
            continue
        source = _named_ancestor(task, above if task.workflow is workflow else None)
        if source is not None:
            pairs.add((source, bpmn_id))
    path = sorted(fid for fid, src, dst in _flows(xml) if (src, dst) in pairs)
    return {"completed": sorted(completed - active), "active": sorted(active),
            "path": path, "incidents": sorted(incidents)}


def _named_ancestor(task: Any, above: str | None = None) -> str | None:
    parent = task.parent
    while parent is not None:
        bpmn_id = _bpmn_id(parent)
        if bpmn_id is not None:
            return bpmn_id if parent.state == TaskState.COMPLETED else None
        parent = parent.parent
    return above  # past a compacted tree's root: the (completed) element above it


# --- replaying --------------------------------------------------------------------------------


EVENT_COLUMNS = (Event.chain, Event.seq, Event.instance_id, Event.type, Event.actor, Event.at,
                 Event.task_id, Event.task_name, Event.payload, Event.prev_hash, Event.hash)


def case_event_rows(session: Session, instance_id: int, upto: int | None = None) -> list[Any]:
    """A case's events as plain rows (no ORM objects: a 1,000-event case loads in ms)."""
    query = select(*EVENT_COLUMNS).where(Event.chain == history.case_chain(instance_id)) \
        .order_by(Event.seq)
    if upto is not None:
        query = query.limit(max(0, upto))
    return list(session.execute(query))


def replay(session: Session, instance_id: int, upto: int | None = None, *,
           frames: bool = True, events: list[Any] | None = None) -> Replay:
    """Replay the first ``upto`` events of a case (all by default).

    With ``frames`` every event yields a ``Frame`` (the view at that step) and a history
    that cannot be replayed further stops early with ``Replay.error`` set; without, only
    the final workflow is built (for verification) and ReplayFailed is raised. Raises
    NotFound for an unknown case.
    """
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"no case with id {instance_id}")
    if events is None:
        events = case_event_rows(session, instance_id, upto)
    return _replay(session, instance, events, frames)


def replay_history(session: Session, events: list[Any], *,
                   document_id: int | None = None) -> Replay:
    """Replay a history given as events, with no case row: a checked-in golden history or
    an exported case. Each event needs ``seq``, ``type``, ``actor``, ``at``, ``task_id``,
    ``task_name``, ``payload`` (JSON text) and ``hash``; the definitions it names must be
    deployed. Raises ReplayFailed when the history cannot be replayed."""
    case = Instance(id=0, document_id=document_id, definition_id=0)
    return _replay(session, case, events, frames=False)


def _replay(session: Session, instance: Instance, events: list[Any], frames: bool) -> Replay:
    cursor = _Cursor(session, instance)
    result = Replay(instance.id, None, None)
    previous: Frame | None = None
    for index, event in enumerate(events, start=1):
        payload = json.loads(event.payload)
        try:
            kind = _apply(cursor, event, payload)
        except ReplayFailed as error:
            if not frames:
                raise
            result.error = str(error)  # the frames so far still show how the case went
            break
        if kind == "unknown" and event.type not in result.unknown_types:
            result.unknown_types.append(event.type)
        result.events, result.last_hash = index, event.hash
        if frames:
            previous = _frame(index, event, payload, kind, cursor, previous)
            result.frames.append(previous)
    result.workflow, result.definition = cursor.workflow, cursor.definition
    result.status = cursor.status
    return result


def _frame(index: int, event: Any, payload: dict[str, Any], kind: str, cursor: _Cursor,
           previous: Frame | None) -> Frame:
    # Only a state event changes what the diagram and the data show; reuse the last view.
    if cursor.workflow is None or cursor.definition is None:
        # An event an operator wrote during the first step stands before ``started``.
        data: dict[str, Any] = {}
        marks: dict[str, list[str]] = {"completed": [], "active": [], "path": [],
                                       "incidents": []}
        definition_id = cursor.instance.definition_id
    elif kind == "state" or previous is None:
        data = case_data(cursor.workflow)
        marks = markers(cursor.workflow, cursor.definition.xml)
    else:
        data = previous.data
        marks = {"completed": previous.completed, "active": previous.active,
                 "path": previous.path, "incidents": previous.incidents}
    if cursor.definition is not None:
        definition_id = cursor.definition.id
    shown = {k: v for k, v in payload.items() if k != "services"}
    if payload.get("services"):
        shown["services"] = [{"service": s.get("service"), "result": s.get("result")}
                             for s in payload["services"]]
    return Frame(index, event.seq, event.type, event.actor, event.at, event.task_id,
                 event.task_name, shown, kind, definition_id, cursor.status, data,
                 marks["completed"], marks["active"], marks["path"], marks["incidents"],
                 cursor.incident if kind == "state" else None)


# --- verifying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    instance_id: int
    ok: bool
    difference: str = ""
    events: int = 0
    last_hash: str = ""
    unknown_types: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.ok:
            return "verified"
        return f"case {self.instance_id} differs: {self.difference}"


def verify(session: Session, instance_id: int, events: list[Any] | None = None) -> Verdict:
    """Rebuild a case from its events and compare it canonically with the stored state."""
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"no case with id {instance_id}")
    try:
        result = replay(session, instance_id, frames=False, events=events)
    except ReplayFailed as error:
        return Verdict(instance_id, False, f"the history cannot be replayed: {error}")
    unknown = tuple(result.unknown_types)
    if result.workflow is None or result.definition is None:
        return Verdict(instance_id, False, "the history has no start event", result.events,
                       result.last_hash, unknown)
    if result.definition.id != instance.definition_id:
        return Verdict(instance_id, False,
                       f"the history ends on {result.definition.key} version "
                       f"{result.definition.version}, the case runs on version "
                       f"{instance.definition.version}", result.events, result.last_hash,
                       unknown)
    rebuilt = canonical(json.loads(spiff.dump_state(result.workflow)))
    difference = first_difference(_stored_state(session, instance), rebuilt)
    return Verdict(instance_id, difference is None, difference or "", result.events,
                   result.last_hash, unknown)


def _stored_state(session: Session, instance: Instance) -> Any:
    """The stored state, canonical and compacted as replay compacts: a case last written
    before compaction existed holds its finished rounds, which say nothing the events do
    not, and compacting is deterministic (``runtime/compaction.py``)."""
    spec, subprocesses = definitions.load_spec(session, instance.definition)
    workflow = spiff.load_state(instance.state, spec, subprocesses,
                                state.of(session).script_engine)
    if compaction.compact(workflow) == 0:
        return canonical(json.loads(instance.state))
    return canonical(json.loads(spiff.dump_state(workflow)))


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DROP = frozenset({"last_state_change", "serializer_version"})
_SETS = frozenset({"deletions"})


def canonical(state: dict[str, Any]) -> Any:
    """A stored state with task UUIDs renamed by tree order and volatile stamps dropped."""
    names: dict[str, str] = {}
    _name_tree(state, names)
    for key in sorted(state.get("subprocesses") or {}, key=lambda k: names.get(k, k)):
        _name_tree(state["subprocesses"][key], names)
    return _rename(state, names)


def _name_tree(tree: dict[str, Any], names: dict[str, str]) -> None:
    tasks = tree.get("tasks") or {}
    stack = [tree.get("root")]
    while stack:
        task_id = stack.pop()
        if task_id is None or task_id in names or task_id not in tasks:
            continue
        names[task_id] = f"task#{len(names)}"
        stack.extend(reversed(tasks[task_id].get("children") or []))


def _rename(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {_rename_str(k, names): _unordered(k, _rename(v, names))
                for k, v in value.items() if k not in _DROP}
    if isinstance(value, list):
        return [_rename(v, names) for v in value]
    if isinstance(value, str):
        return _rename_str(value, names)
    return value


def _unordered(key: str, value: Any) -> Any:
    # A data delta's deletions come from a set: their order depends on string hashing.
    if key in _SETS and isinstance(value, list):
        return sorted(value, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


def _rename_str(text: str, names: dict[str, str]) -> str:
    if _UUID.search(text) is None:
        return text
    return _UUID.sub(lambda m: names.get(m.group(0), "uuid"), text)


def first_difference(stored: Any, rebuilt: Any, path: str = "state") -> str | None:
    """Where two canonical states first differ, as a readable path; None if equal."""
    if isinstance(stored, dict) and isinstance(rebuilt, dict):
        for key in sorted(set(stored) | set(rebuilt), key=str):
            if key not in rebuilt:
                return f"{path}.{key}: stored {_short(stored[key])}, the replay has no such field"
            if key not in stored:
                return f"{path}.{key}: replay {_short(rebuilt[key])}, the stored state has none"
            found = first_difference(stored[key], rebuilt[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(stored, list) and isinstance(rebuilt, list):
        if len(stored) != len(rebuilt):
            return f"{path}: stored has {len(stored)} items, the replay {len(rebuilt)}"
        for i, (a, b) in enumerate(zip(stored, rebuilt, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if stored == rebuilt or _close_times(stored, rebuilt):
        return None
    return f"{path}: stored {_short(stored)}, replay {_short(rebuilt)}"


def _close_times(a: Any, b: Any) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    try:
        x, y = datetime.fromisoformat(a), datetime.fromisoformat(b)
    except ValueError:
        return False
    if (x.tzinfo is None) != (y.tzinfo is None):
        return False
    return abs(x - y) <= TIME_TOLERANCE


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
