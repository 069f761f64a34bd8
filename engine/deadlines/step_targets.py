"""How long a step may take: the office's targets by urgency, for tasks without a due date.

A diagram gives a task its due date where the law or the case decides it
(``camunda:dueDate``: the 办理时限 set at 拟办, a statutory deadline). Every other user task
is due after the office's target for its urgency, so every open task has a due date and
the reminder engine can chase it:

- 特急 (extra urgent): hours, counted on the clock; a due time on a day off moves to the
  same time on the next working day;
- 加急 (urgent) and routine items: working days after the day the task opened (that day
  not counted), due at the end of the day.

Administrators set targets per process and step (``*`` for any) on the administration
page; the most specific row wins, then ``DEFAULTS``. Every change is recorded on the
system history chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import clock
from engine.definitions import deployment as definitions
from engine.errors import DocrouteError, NotAllowed
from engine.history import chain as history
from engine.models import StepTarget
from engine.org.identity import Actor

from . import calendar_calls, workcalendar

URGENCIES = ("特急", "加急", "")
UNITS = ("hours", "workdays")
ANY = "*"
END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class Target:
    """``amount`` hours or working days."""

    amount: int
    unit: str

    def describe(self) -> str:
        return f"{self.amount} 小时 / hours" if self.unit == "hours" else \
            f"{self.amount} 个工作日 / working days"


# Defaults (docs/deadlines.md): extra urgent within half a working day, urgent within
# two working days, routine within five.
DEFAULTS: Mapping[str, Target] = {"特急": Target(4, "hours"), "加急": Target(2, "workdays"),
                                  "": Target(5, "workdays")}


@dataclass(frozen=True)
class TargetRow:
    """One configured target."""

    process_key: str
    step: str
    urgency: str
    target: Target
    updated_by: str
    updated_at: datetime


Targets = dict[tuple[str, str, str], Target]


def load(session: Session) -> Targets:
    """Every configured target by (process key, step, urgency)."""
    return {(r.process_key, r.step, r.urgency): Target(r.amount, r.unit)
            for r in session.scalars(select(StepTarget))}


def target_for(targets: Targets, process_key: str, step: str, urgency: str) -> Target:
    """The most specific target: this step, this process, any process, then the default."""
    level = urgency if urgency in URGENCIES else ""
    for key in ((process_key, step, level), (process_key, ANY, level), (ANY, ANY, level)):
        if key in targets:
            return targets[key]
    return DEFAULTS[level]


def due_after(opened: datetime, target: Target, cal: workcalendar.WorkCalendar
              ) -> tuple[datetime, list[calendar_calls.CalendarCall]]:
    """When a task opened at ``opened`` is due under ``target`` on ``cal``, and the
    provisional calendar answer it used (recorded so importing a notice can move it)."""
    local = opened.astimezone(clock.OFFICE_TZ)
    if target.unit == "hours":
        due = local + timedelta(hours=target.amount)
        day = workcalendar.office_date(cal.roll_forward(due.date()))
        due = datetime.combine(day, due.timetz())
        calls = []
    else:
        day = workcalendar.office_date(cal.add_workdays(local.date(), target.amount))
        due = datetime.combine(day, END_OF_DAY, tzinfo=clock.OFFICE_TZ)
        calls = [calendar_calls.CalendarCall("add_workdays", local.date().isoformat(),
                                             target.amount, day.isoformat())]
    if not cal.touches_provisional(local, due):
        calls = []
    return due.astimezone(clock.UTC), calls


# --- administration ----------------------------------------------------------------------


def user_steps(session: Session) -> list[tuple[str, str, str]]:
    """(process key, step id, step name) of every user task in the newest versions."""
    found = []
    for definition in definitions.list_latest(session):
        if definitions.is_decision(definition):
            continue
        spec, subprocesses = definitions.load_spec(session, definition)
        for process in (spec, *subprocesses.values()):
            for task_spec in process.task_specs.values():
                if getattr(task_spec, "manual", False):
                    name = getattr(task_spec, "bpmn_name", None) or task_spec.name
                    found.append((definition.key, task_spec.name, name))
    return sorted(set(found))


def list_rows(session: Session) -> list[TargetRow]:
    rows = session.scalars(select(StepTarget).order_by(
        StepTarget.process_key, StepTarget.step, StepTarget.urgency))
    return [TargetRow(r.process_key, r.step, r.urgency, Target(r.amount, r.unit),
                      r.updated_by, r.updated_at) for r in rows]


def _check(actor: Actor, process_key: str, step: str, urgency: str) -> None:
    if not actor.is_admin:
        raise NotAllowed("only administrators set step targets")
    if urgency not in URGENCIES:
        raise DocrouteError(f"紧急程度须为特急、加急或平件 / urgency must be one of 特急, 加急 "
                            f"or routine (empty), not {urgency!r}")
    for what, value in (("process", process_key), ("step", step)):
        if not value or len(value) > 128 or "\x00" in value:
            raise DocrouteError(f"name the {what} (its key, or * for any)")
    if process_key == ANY and step != ANY:
        raise DocrouteError("a step target needs its process: name the process key")


def set_target(session: Session, actor: Actor, process_key: str, step: str, urgency: str,
               amount: Any, unit: str) -> TargetRow:
    """Set (or replace) one target; recorded on the system chain."""
    process_key, step = process_key.strip(), step.strip()
    _check(actor, process_key, step, urgency)
    if unit not in UNITS:
        raise DocrouteError(f"单位须为小时或工作日 / the unit must be hours or workdays, "
                            f"not {unit!r}")
    try:
        count = int(amount)
    except (TypeError, ValueError):
        raise DocrouteError(f"时限须为整数 / the amount must be a whole number, not "
                            f"{amount!r}") from None
    limit = 24 * 30 if unit == "hours" else 250
    if not 1 <= count <= limit:
        raise DocrouteError(f"时限须在 1 到 {limit} 之间 / the amount must be 1 to {limit}")
    row = session.scalar(select(StepTarget).where(
        StepTarget.process_key == process_key, StepTarget.step == step,
        StepTarget.urgency == urgency))
    if row is None:
        row = StepTarget(process_key=process_key, step=step, urgency=urgency)
        session.add(row)
    row.amount, row.unit = count, unit
    row.updated_by, row.updated_at = actor.username, clock.now()
    session.flush()
    history.append_system(session, "step_target_set", actor.username, {
        "process": process_key, "step": step, "urgency": urgency, "amount": count,
        "unit": unit})
    return TargetRow(process_key, step, urgency, Target(count, unit), actor.username,
                     row.updated_at)


def remove_target(session: Session, actor: Actor, process_key: str, step: str,
                  urgency: str) -> None:
    """Remove one target (the next more general one applies again); recorded."""
    _check(actor, process_key, step, urgency)
    session.execute(delete(StepTarget).where(
        StepTarget.process_key == process_key, StepTarget.step == step,
        StepTarget.urgency == urgency))
    history.append_system(session, "step_target_removed", actor.username, {
        "process": process_key, "step": step, "urgency": urgency})
