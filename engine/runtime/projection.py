"""Keeping the ``tasks`` and ``timers`` tables in step with a case's workflow.

Inbox queries and the timer scheduler read only these tables, so they never
deserialize a workflow. Both are rewritten inside the same transaction as the case.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import clock
from engine.deadlines import calendar_calls, step_targets, workcalendar
from engine.definitions.bpmn import unwrap_expression
from engine.models import Instance, ProvisionalDate, Task, TaskGroup, Timer

from . import state

END_OF_DAY = time(23, 59, 59)


def ready_user_tasks(workflow: BpmnWorkflow) -> list[Any]:
    """READY tasks that wait for a person (user, manual and plain tasks), in tree order."""
    return workflow.get_tasks(state=TaskState.READY, manual=True)


def properties(task: Any) -> dict[str, str]:
    return dict((getattr(task.task_spec, "extensions", None) or {}).get("properties") or {})


def task_name(task: Any) -> str:
    spec = task.task_spec
    return getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name


def _evaluate(workflow: BpmnWorkflow, task: Any, value: str | None) -> Any:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.startswith(("${", "#{")):
        return workflow.script_engine.evaluate(task, unwrap_expression(text))
    return text


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple | set):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def parse_due(value: Any) -> datetime | None:
    """A due value (date, datetime or ISO string) as an aware UTC datetime.

    A bare date means the end of that day in the office's time zone.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        value = datetime.fromisoformat(text) if "T" in text or " " in text else \
            datetime.combine(datetime.fromisoformat(text).date(), END_OF_DAY)
    elif not isinstance(value, datetime):
        value = datetime.combine(value, END_OF_DAY)
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.OFFICE_TZ)
    return value.astimezone(clock.UTC)


def due(workflow: BpmnWorkflow, task: Any, cal: workcalendar.WorkCalendar
        ) -> tuple[datetime | None, list[calendar_calls.CalendarCall]]:
    """The task's due time from its ``dueDate`` on ``cal`` and the provisional calendar
    answers the expression used (recorded so importing the year's notice can recompute
    them)."""
    scope = calendar_calls.CallScope(calendar=cal)
    with calendar_calls.call_scope(scope):
        value = parse_due(_evaluate(workflow, task, properties(task).get("dueDate")))
    return value, scope.calls


def is_provisional(due_at: datetime | None, calls: list[Any],
                   cal: workcalendar.WorkCalendar) -> bool:
    """Whether a due time rests on a provisional year of ``cal``."""
    return bool(calls) or (due_at is not None and cal.is_provisional(due_at))


def assignment(workflow: BpmnWorkflow, task: Any, lanes: Mapping[str, str]) -> tuple[
        str | None, list[str]]:
    """(assignee, candidate group keys) from the task's attributes, or else its lane."""
    props = properties(task)
    assignee = _evaluate(workflow, task, props.get("assignee"))
    groups = _as_list(_evaluate(workflow, task, props.get("candidateGroups")))
    if not assignee and not groups and getattr(task.task_spec, "lane", None):
        lane = task.task_spec.lane
        groups = [lanes.get(lane, lane)]
    return (str(assignee) if assignee else None), [lanes.get(g, g) for g in groups]


def sync_tasks(session: Session, instance: Instance, workflow: BpmnWorkflow,
               lanes: Mapping[str, str], context: dict[str, Any]) -> list[Task]:
    """Rewrite the case's task rows; rows of tasks still open keep their claim.

    ``context`` carries document-level values: process_key, document_kind, title,
    classification, urgency. Returns the rows of tasks that became ready in this step.
    """
    existing = {row.id: row for row in session.scalars(
        select(Task).where(Task.instance_id == instance.id))}
    ready = ready_user_tasks(workflow) if instance.status == "running" else []
    ready_ids = {str(t.id) for t in ready}
    gone = [task_id for task_id in existing if task_id not in ready_ids]
    if gone:
        # (task_groups rows go with their task: ON DELETE CASCADE, on both databases)
        session.execute(delete(ProvisionalDate).where(ProvisionalDate.task_id.in_(gone)))
        session.execute(delete(Task).where(Task.id.in_(gone)))
    created = []
    targets: step_targets.Targets | None = None  # read once, only if a task needs them
    cal = workcalendar.of(session) if ready else None
    for task in ready:
        task_id = str(task.id)
        if task_id in existing:
            existing[task_id].title = context["title"]
            existing[task_id].classification = context["classification"]
            continue
        assert cal is not None
        with calendar_calls.call_scope(calendar_calls.CallScope(calendar=cal)):
            assignee, groups = assignment(workflow, task, lanes)
        props = properties(task)
        urgency = str(task.data.get("urgency") or context.get("urgency") or "")
        due_at, due_calls = due(workflow, task, cal)
        if due_at is None:
            # No due date from the diagram: the office's target for the step's urgency.
            targets = targets if targets is not None else state.of(session).memo.get(
                "step_targets", lambda: step_targets.load(session))
            due_at, due_calls = step_targets.due_after(clock.now(), step_targets.target_for(
                targets, context["process_key"], task.task_spec.name, urgency), cal)
        row = Task(
            id=task_id, instance_id=instance.id, spec=task.task_spec.name,
            name=task_name(task), form_key=props.get("formKey") or None,
            lane=getattr(task.task_spec, "lane", None), assignee=assignee,
            candidate_groups=groups, designated=assignee,
            due_at=due_at, due_provisional=is_provisional(due_at, due_calls, cal),
            urgency=urgency, reminder_level="", document_id=instance.document_id,
            process_key=context["process_key"], document_kind=context.get("document_kind", ""),
            title=context["title"], classification=context["classification"],
            created_at=clock.now(), claimed_at=clock.now() if assignee else None,
        )
        session.add(row)
        session.flush()
        session.add_all(TaskGroup(task_id=task_id, group_key=g) for g in dict.fromkeys(groups))
        session.add_all(ProvisionalDate(instance_id=instance.id, task_id=task_id, op=c.op,
                                        start=c.start, amount=c.amount, result=c.result)
                        for c in due_calls)
        created.append(row)
    session.flush()
    return created


def waiting_timers(workflow: BpmnWorkflow) -> list[tuple[Any, datetime]]:
    """Every waiting timer catch event (incl. subprocesses) with its next due time."""
    found = []
    for task in workflow.event_manager.tasks.values():
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):
            value = value.get("next") if value.get("cycles") != 0 else None
        if isinstance(value, str):
            found.append((task, TimerEventDefinition.get_datetime(value)))
    return found


def sync_timers(session: Session, instance: Instance, workflow: BpmnWorkflow, *,
                had_timers: bool = True) -> None:
    """Rewrite the case's timer rows; ``had_timers=False`` (the step knows the case had
    none) skips the delete when it has none now either."""
    waiting = waiting_timers(workflow) if instance.status == "running" else []
    if not had_timers and not waiting:
        return
    session.execute(delete(Timer).where(Timer.instance_id == instance.id))
    session.add_all(
        Timer(instance_id=instance.id, task_id=str(task.id), spec=task.task_spec.name,
              kind="timer", due_at=due)
        for task, due in waiting
    )
    session.flush()
