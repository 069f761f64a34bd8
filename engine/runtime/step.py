"""One step of a workflow and the catalogue of events: the same code live, in replay, in migration.

A step is an action (start, complete a task, fire timers, retry failed scripts) followed by
running the engine to its next wait state. A live step records what the outside world
answered (service-task results, dates over a provisional calendar year) in its event;
replay and migration rebuild a case by running the *same* ``run`` on the recorded event,
with those answers handed back and the clock set to the event's time. Nothing else may
restate a step: a second copy drifts (a migration once refused a case that replay
accepted, because their lists of harmless events differed).

The event catalogue says, once, what each event type is:

* **state** events move the workflow: ``started``, ``completed`` (of a task),
  ``timer_fired``, ``retried``, ``terminated`` (an administrator's termination, with a
  reason), ``migrated`` and ``calendar_recomputed``;
* **passive** events record who did what without moving it: claims, delegation,
  reminders, suspension, deadlines, the end markers, incidents, document changes;
* any other type is **unknown** (written by a newer version): replay passes over it and
  reports it, a migration refuses the case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.deadlines.calendar_calls import (
    CalendarCall,
    CallScope,
    call_scope,
    date_changes,
    substitute,
)
from engine.deadlines.workcalendar import WorkCalendar
from engine.errors import DocrouteError

from . import projection
from .operators import ServiceScope, service_scope

STATE, PASSIVE, UNKNOWN = "state", "passive", "unknown"

STATE_EVENTS = frozenset({"started", "completed", "timer_fired", "retried", "terminated",
                          "migrated", "calendar_recomputed"})
PASSIVE_EVENTS = frozenset({
    "claimed", "unclaimed", "delegated", "reassigned", "suspended", "resumed", "incident",
    "reminder", "reminded", "escalated", "notified", "comment", "commented", "viewed",
    "linked", "chased",
    "attachment_added", "document_updated", "number_allocated", "reclassified",
    "deadline_started", "deadline_paused", "deadline_resumed", "deadline_restarted",
    "deadline_extended", "deadline_closed", "deadline_rebased",
})

# A timer becomes READY in one pass and runs in the next; a cycle may need more.
TIMER_PASSES = 3

Action = Callable[[], None]


def classify(type_: str, payload: dict[str, Any], task_id: str | None) -> str:
    """"state", "passive" or "unknown" for one event."""
    if type_ == "completed":
        return STATE if task_id or "spec" in payload else PASSIVE  # else: the end marker
    if type_ == "terminated":
        return STATE if "reason" in payload else PASSIVE  # else: the end marker
    if type_ in STATE_EVENTS:
        return STATE
    if type_ in PASSIVE_EVENTS or type_.startswith("deadline_"):
        return PASSIVE
    return UNKNOWN


@dataclass
class StepOutcome:
    """What a step produced besides the workflow: the answers to record, and an incident."""

    services: list[dict[str, Any]]
    incident: str | None
    # Dates the step computed over provisional calendar years (``calendar_calls``).
    calendar: list[CalendarCall] = field(default_factory=list)
    # Recorded answers a re-run did not ask for (a migration target calls fewer services).
    unused_answers: int = 0
    # Whether the case waited on a timer before the step: if neither before nor after,
    # its timer rows need no rewrite. Unknown counts as yes.
    had_timers: bool = True


class EndlessLoop(Exception):
    """The process loops without reaching a wait state (SpiffWorkflow recursed)."""


class NotOpen(DocrouteError):
    """A recorded completion names a task that is not open at that point of the re-run."""


def run(workflow: BpmnWorkflow, action: Action, scope: ServiceScope, calls: CallScope,
        *, timer_passes: bool = False) -> StepOutcome:
    """Apply ``action`` and run the engine to its next wait state; a script failure is an
    incident, not an exception."""
    with service_scope(scope), call_scope(calls):
        incident = _attempt(workflow, action)
        for _ in range(TIMER_PASSES if timer_passes else 0):
            if incident or not workflow.get_tasks(state=TaskState.READY, manual=False):
                break
            incident = _attempt(workflow, workflow.refresh_timers)
    return StepOutcome(scope.results, incident, calls.calls, len(scope.recorded or ()))


def _attempt(workflow: BpmnWorkflow, action: Action) -> str | None:
    try:
        action()
        workflow.do_engine_steps()
    except (SpiffWorkflowException, DocrouteError) as error:
        return describe(error)
    except RecursionError:
        raise EndlessLoop() from None
    return None


def describe(error: Exception) -> str:
    """The incident sentence for a failed step, naming the task and the script's line."""
    task = getattr(error, "task", None)
    where = f" in {projection.task_name(task)}" if task is not None else ""
    # SpiffWorkflow wraps the script's own error (e.g. CalendarMissing); show the cause.
    cause = getattr(error, "exception", None)
    if isinstance(cause, DocrouteError):
        return f"step failed{where}: {cause}"
    line = getattr(error, "line_number", None)
    at_line = f" (line {line})" if line else ""
    return f"script failed{where}{at_line}: {error}"


def ordinal(workflow: BpmnWorkflow, task: Any) -> int:
    """Position of a task among READY tasks of the same spec, in tree order (for re-runs)."""
    same = [t for t in workflow.get_tasks(state=TaskState.READY)
            if t.task_spec.name == task.task_spec.name]
    return next(i for i, t in enumerate(same) if t.id == task.id)


def nth_ready(workflow: BpmnWorkflow, spec_name: str, position: int) -> Any:
    """The READY task of ``spec_name`` at ``position`` (the inverse of ``ordinal``)."""
    same = [t for t in workflow.get_tasks(state=TaskState.READY)
            if t.task_spec.name == spec_name]
    return same[position] if 0 <= position < len(same) else None


# --- re-running a recorded event (replay and migration) -------------------------------------


@dataclass(frozen=True)
class Recorded:
    """The parts of a state event a re-run needs."""

    type: str
    payload: dict[str, Any]
    at: datetime
    actor: str
    task_name: str | None = None


def start(workflow: BpmnWorkflow, data: dict[str, Any]) -> None:
    """Put a case's start data on its start task (before the first step runs)."""
    workflow.get_next_task(state=TaskState.READY).data.update(data)


def rerun(workflow: BpmnWorkflow, event: Recorded, instance_id: int,
          document_id: int | None, calendar: WorkCalendar) -> StepOutcome:
    """Run one recorded state event again, as the live step ran it.

    The clock reads the event's time, service operators hand back the recorded results
    and provisional dates come back as they were answered. Raises ``NotOpen`` when a
    recorded completion's task is not open. ``terminated`` and ``migrated`` are the
    caller's to handle (they replace the workflow rather than step it).
    """
    payload = event.payload
    if event.type == "calendar_recomputed":
        substitute(workflow, date_changes(payload.get("changes") or []))
        return StepOutcome([], None)
    action, passes = _recorded_action(workflow, event)
    scope = ServiceScope(None, instance_id, document_id, event.actor,
                         recorded=[s.get("result") for s in payload.get("services") or []])
    calls = CallScope(calendar=calendar, recorded=[CalendarCall.from_dict(c)
                                for c in payload.get("calendar") or []])
    with clock.using_clock(clock.ManualClock(event.at)):
        return run(workflow, action, scope, calls, timer_passes=passes)


def _recorded_action(workflow: BpmnWorkflow, event: Recorded) -> tuple[Action, bool]:
    payload = event.payload
    if event.type == "started":
        start(workflow, payload.get("data") or {})
        return (lambda: None), False
    if event.type == "completed":
        spec = payload.get("spec", "")
        task = nth_ready(workflow, spec, int(payload.get("ordinal", 0)))
        if task is None:
            raise NotOpen(f"the completed task “{event.task_name}” ({spec}) is not open "
                          "at this point")
        data = payload.get("data") or {}

        def complete() -> None:
            task.data.update(data)
            task.run()

        return complete, False
    if event.type == "timer_fired":
        return workflow.refresh_timers, True
    if event.type == "retried":
        failed = workflow.get_tasks(state=TaskState.ERROR)

        def reset() -> None:
            for task in failed:
                workflow.reset_from_task_id(task.id)

        return reset, False
    raise ValueError(f"{event.type!r} is not a step")  # a caller's mistake, not the data's
