"""Dates a step computed over provisional calendar years: recorded live, handed back in replay.

A script's ``add_workdays(received_on, 20)`` that reaches a year without the State
Council's notice is answered from the provisional year (``workcalendar``). Such a call's
inputs and result are recorded with the step's event (``calendar`` in its payload) and in
the ``provisional_dates`` ledger, because:

- replay must rebuild the case as it ran, even after the notice changed the answer, so it
  hands the recorded results back instead of asking today's calendar;
- importing the notice must know which dates to recompute (``calendar_recompute``), and
  ``substitute`` then moves the old date to the new one in the case's open tasks, the
  same way live and in replay.

Calls answered entirely from official years are not recorded: their answer cannot move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.clock import OFFICE_TZ

if TYPE_CHECKING:
    from engine.deadlines.workcalendar import WorkCalendar

LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


@dataclass(frozen=True)
class CalendarCall:
    """One calendar computation: ``op(start, amount) == result`` (ISO texts)."""

    op: str
    start: str
    amount: int
    result: str

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "start": self.start, "amount": self.amount,
                "result": self.result}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> CalendarCall:
        return cls(str(value["op"]), str(value["start"]), int(value["amount"]),
                   str(value["result"]))


@dataclass
class CallScope:
    """The calendar calls of one engine step.

    ``calendar``: the working-day calendar of the ``Docroute`` running the step, which
    the diagrams' date helpers (``workcalendar.script_helpers``) compute on.
    ``recorded`` (replay): results to hand back, in call order, while the calls match.
    ``calls``: what this step computed over provisional years (or was handed back).
    """

    calendar: WorkCalendar | None = None
    recorded: list[CalendarCall] | None = None
    calls: list[CalendarCall] = field(default_factory=list)


_scope: ContextVar[CallScope | None] = ContextVar("docroute_calendar_calls", default=None)


@contextmanager
def call_scope(scope: CallScope) -> Iterator[CallScope]:
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def step_calendar() -> WorkCalendar | None:
    """The calendar of the running step, if a step is running."""
    scope = _scope.get()
    return scope.calendar if scope is not None else None


def iso(value: date | datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def from_iso(text: str) -> date | datetime:
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)


def evaluate(op: str, start: Any, amount: Any, compute: Callable[[], date | datetime],
             provisional: Callable[[date | datetime], bool]) -> date | datetime:
    """``compute()``, recorded in the current step when its answer is provisional.

    In replay, the recorded result of a matching call is handed back instead.
    """
    scope = _scope.get()
    if scope is None:
        return compute()
    key = iso(start) if isinstance(start, date | datetime | str) else str(start)
    if scope.recorded:
        head = scope.recorded[0]
        if (head.op, head.start, head.amount) == (op, key, amount):
            scope.recorded.pop(0)
            scope.calls.append(head)
            return from_iso(head.result)
    result = compute()
    if provisional(result):
        scope.calls.append(CalendarCall(op, key, int(amount), iso(result)))
    return result


# --- moving recomputed dates into a case ---------------------------------------------------


def _moved(value: Any, changes: Mapping[date, date]) -> Any:
    """``value`` with an old date replaced by its new one (same kind, same time of day)."""
    if isinstance(value, datetime):
        local = value.astimezone(OFFICE_TZ) if value.tzinfo else value
        new = changes.get(local.date())
        if new is None:
            return value
        moved = local.replace(year=new.year, month=new.month, day=new.day)
        return moved.astimezone(value.tzinfo) if value.tzinfo else moved
    if isinstance(value, date):
        return changes.get(value, value)
    if isinstance(value, str):
        return _moved_text(value, changes)
    if isinstance(value, list):
        return [_moved(v, changes) for v in value]
    if isinstance(value, dict):
        return {k: _moved(v, changes) for k, v in value.items()}
    return value


def _moved_text(text: str, changes: Mapping[date, date]) -> str:
    # Only whole ISO dates and date-times: '2027-02-08', '2027-02-08T23:59:59+08:00'.
    if len(text) < 10 or (len(text) > 10 and text[10] not in "T "):
        return text
    try:
        parsed = from_iso(text)
    except ValueError:
        return text
    moved = _moved(parsed, changes)
    if moved is parsed:
        return text
    return moved.isoformat() if len(text) > 10 else moved.isoformat()[:10]


def office_day(text: str) -> date:
    """The office date of an ISO date or date-time."""
    value = from_iso(text)
    if isinstance(value, datetime):
        return (value.astimezone(OFFICE_TZ) if value.tzinfo else value).date()
    return value


def date_changes(changes: list[dict[str, str]]) -> dict[date, date]:
    """``{old office date: new office date}`` from an event's ``changes`` list."""
    pairs = ((office_day(c["old"]), office_day(c["new"])) for c in changes)
    return {old: new for old, new in pairs if old != new}


def substitute(workflow: BpmnWorkflow, changes: Mapping[date, date]) -> int:
    """Move old dates to new ones in the data of the case's open tasks and in its waiting
    timers' due times; returns how many values moved. Completed tasks keep their history.
    """
    if not changes:
        return 0
    moved = 0
    for task in workflow.get_tasks(state=LIVE):
        for key, value in list(task.data.items()):
            new = _moved(value, changes)
            if new != value:
                task.data[key] = new
                moved += 1
        event_value = task.internal_data.get("event_value")
        if event_value is not None:
            new_value = _moved(event_value, changes)
            if new_value != event_value:
                task.internal_data["event_value"] = new_value
                moved += 1
    return moved
