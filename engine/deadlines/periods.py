"""Statutory case deadlines: start, pause, resume, restart, extend, close.

A deadline belongs to one case and has a name (a case may run several, e.g. the
disclosure answer and a third party's reply). Its period parameters are stored and both
dates are derived from them on the working-day calendar (``workcalendar.of(session)``):

- ``legal_due``: the start day (the receipt date) is not counted; ``n`` working days,
  calendar days or months later, a day or month period ending on a non-working day rolls
  to the next working day (DOMAIN.md §3);
- ``target_due``: the office's internal target, a shorter period of the same kind; kept
  apart from the legal date and shifted by the same pauses and extensions.

Changes:

- **pause** / **resume** (e.g. third-party consultation, 《条例》 Art. 32): the days after
  the pause day up to and including the resume day do not count; they are added back
  (working days for a working-day period, calendar days otherwise);
- **restart** (补正, Art. 30): the clock starts again from the new receipt date; earlier
  pauses and extensions belonged to the old period and are dropped;
- **extend**: ``n`` more units with the approver and reason recorded; refused after the
  legal due date has passed and beyond the deadline's ``max_extension``;
- **close**: the case answered; ``met`` says whether it was on time.

Each change made through these functions is recorded in the case history under the case
lock. Diagrams drive the same changes through service-task operators (``deadline_start``
…); there the step's own history event records the call and its result (the runtime
rewrites that event after the step, so an operator must not append events itself).
A year without calendar data raises ``CalendarMissing``: no weekday fallback.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, DocrouteError, NotFound
from engine.history import chain as history
from engine.models import Deadline
from engine.org import identity
from engine.runtime import cases as runtime
from engine.runtime.operators import ServiceCall, operator

from . import workcalendar
from .workcalendar import WorkCalendar

KINDS = ("workdays", "days", "months")
END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class DeadlineView:
    """A deadline's state; ``as_dict()`` is what service tasks get (ISO strings)."""

    name: str
    kind: str
    amount: int
    started_on: date
    legal_due: date
    target_due: date | None
    status: str
    paused_on: date | None
    paused_units: int
    extension: int
    restarts: int
    closed_on: date | None
    provisional: bool = False

    @property
    def due_at(self) -> datetime:
        """The end of the legal due day in the office's zone (what a timeDate timer takes)."""
        return datetime.combine(self.legal_due, END_OF_DAY, tzinfo=clock.OFFICE_TZ)

    @property
    def met(self) -> bool | None:
        """Whether a closed deadline was met; None while it runs."""
        return None if self.closed_on is None else self.closed_on <= self.legal_due

    def as_dict(self) -> dict[str, Any]:
        target_at = (datetime.combine(self.target_due, END_OF_DAY, tzinfo=clock.OFFICE_TZ)
                     if self.target_due else None)
        return {
            "name": self.name, "kind": self.kind, "amount": self.amount,
            "started_on": self.started_on.isoformat(), "legal_due": self.legal_due.isoformat(),
            "due_at": self.due_at.isoformat(),
            "target_due": self.target_due.isoformat() if self.target_due else None,
            "target_at": target_at.isoformat() if target_at else None,
            "status": self.status,
            "paused_on": self.paused_on.isoformat() if self.paused_on else None,
            "paused_units": self.paused_units, "extension": self.extension,
            "restarts": self.restarts,
            "closed_on": self.closed_on.isoformat() if self.closed_on else None,
            "met": self.met, "provisional": self.provisional,
        }


def _view(row: Deadline) -> DeadlineView:
    return DeadlineView(row.name, row.kind, row.amount, row.started_on, row.legal_due,
                        row.target_due, row.status, row.paused_on, row.paused_units,
                        row.extension, row.restarts, row.closed_on, bool(row.provisional))


# --- date arithmetic -------------------------------------------------------------------------


def _month_end(start: date, months: int) -> date:
    years, month0 = divmod(start.month - 1 + months, 12)
    year = start.year + years
    return date(year, month0 + 1, min(start.day, calendar.monthrange(year, month0 + 1)[1]))


def due_date(cal: WorkCalendar, kind: str, start: date, n: int, paused: int = 0) -> date:
    """The end of a period of ``n`` units after ``start`` plus ``paused`` units added back,
    on the calendar ``cal``.

    Months are months; paused units of a month period are calendar days.
    Raises ``CalendarMissing`` when the period reaches a year without calendar data.
    """
    if kind == "workdays":
        return workcalendar.office_date(cal.add_workdays(start, n + paused))
    if kind == "days":
        return workcalendar.office_date(cal.add_days(start, n + paused))
    if kind == "months":
        return workcalendar.office_date(
            cal.roll_forward(_month_end(start, n) + timedelta(days=paused)))
    raise DocrouteError(f"unknown deadline kind {kind!r}; use one of {', '.join(KINDS)}")


def _elapsed(cal: WorkCalendar, kind: str, since: date, until: date) -> int:
    """Units in (since, until]: what a pause from ``since`` to ``until`` consumed."""
    if until < since:
        raise DocrouteError(f"the resume day {until} is before the pause day {since}")
    if kind == "workdays":
        return cal.workdays_between(since, until)
    return (until - since).days


def _dates(cal: WorkCalendar, row: Deadline, *, started_on: date | None = None,
           extension: int | None = None, paused: int | None = None
           ) -> tuple[date, date | None]:
    """(legal due, internal target) of ``row`` with some parameters replaced.

    Computed before anything is assigned, so a ``CalendarMissing`` leaves the row as it was
    (inside an engine step the error becomes an incident and the step still commits).
    """
    start_day = row.started_on if started_on is None else started_on
    extra = row.extension if extension is None else extension
    units = row.paused_units if paused is None else paused
    legal = due_date(cal, row.kind, start_day, row.amount + extra, units)
    target = (due_date(cal, row.kind, start_day, row.target_amount + extra, units)
              if row.target_amount is not None else None)
    return legal, target


def _set_dates(cal: WorkCalendar, row: Deadline, **changes: Any) -> None:
    """Store ``_dates(row, **changes)``, flagged provisional when the period reaches a year
    without the State Council's notice (recomputed when it is imported)."""
    legal, target = _dates(cal, row, **changes)
    start = changes.get("started_on") or row.started_on
    row.legal_due, row.target_due = legal, target
    row.provisional = cal.touches_provisional(start, legal)


# --- changes ---------------------------------------------------------------------------------


def _today() -> date:
    return clock.now().astimezone(clock.OFFICE_TZ).date()


def _day(value: Any, what: str) -> date:
    if value is None or value == "":
        return _today()
    try:
        return workcalendar.office_date(value)
    except (TypeError, ValueError):
        raise DocrouteError(f"{what} must be a date (YYYY-MM-DD), not {value!r}") from None


def _whole(value: Any, what: str, minimum: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None:
        raise DocrouteError(f"{what} must be a whole number, not {value!r}")
    if number < minimum:
        raise DocrouteError(f"{what} must be at least {minimum}, not {number}")
    return number


def get(session: Session, instance_id: int, name: str) -> DeadlineView:
    """The case's deadline called ``name``; NotFound if it was never started."""
    return _view(_row(session, instance_id, name))


def list_for_case(session: Session, instance_id: int) -> list[DeadlineView]:
    rows = session.scalars(select(Deadline).where(Deadline.instance_id == instance_id)
                           .order_by(Deadline.id))
    return [_view(r) for r in rows]


def _row(session: Session, instance_id: int, name: str) -> Deadline:
    row = session.scalar(select(Deadline).where(Deadline.instance_id == instance_id,
                                                Deadline.name == name))
    if row is None:
        raise NotFound(f"this case has no deadline named {name!r}")
    return row


def _record(session: Session, instance_id: int, action: str, actor: str, row: Deadline,
            extra: dict[str, Any], record: bool) -> DeadlineView:
    row.updated_at = clock.now()
    session.flush()
    view = _view(row)
    if record:
        history.append_case(session, instance_id, f"deadline_{action}", actor,
                            {**extra, "deadline": view.as_dict()})
    return view


def start(session: Session, instance_id: int, name: str, *, kind: str, n: int | str,
          start_on: date | str | None = None, target: int | str | None = None,
          max_extension: int | str | None = None, actor: str = identity.SYSTEM_ACTOR,
          record: bool = True) -> DeadlineView:
    """Start a deadline of ``n`` ``kind`` units counted from ``start_on`` (default today).

    Raises Conflict if the case already has one by that name (use ``restart``),
    ``CalendarMissing`` if the period reaches a year without calendar data.
    """
    cal = workcalendar.of(session)
    if kind not in KINDS:
        raise DocrouteError(f"unknown deadline kind {kind!r}; use one of {', '.join(KINDS)}")
    amount = _whole(n, "the period", 1)
    target_amount = None if target in (None, "") else _whole(target, "the internal target", 1)
    if target_amount is not None and target_amount > amount:
        raise DocrouteError("the internal target must not be later than the legal period")
    cap = None if max_extension in (None, "") else _whole(max_extension, "the extension cap", 0)
    if record:
        runtime.lock_case(session, instance_id)
    existing = session.scalar(select(Deadline.id).where(Deadline.instance_id == instance_id,
                                                        Deadline.name == name))
    if existing is not None:
        raise Conflict(f"the deadline {name!r} has already started; restart it instead")
    row = Deadline(instance_id=instance_id, name=name, kind=kind, amount=amount,
                   target_amount=target_amount, max_extension=cap,
                   started_on=_day(start_on, "the start day"), extension=0, paused_units=0,
                   restarts=0, status="running")
    _set_dates(cal, row)  # a missing calendar year stores nothing
    session.add(row)
    return _record(session, instance_id, "started", actor, row, {}, record)


def pause(session: Session, instance_id: int, name: str, *, on: date | str | None = None,
          reason: str = "", actor: str = identity.SYSTEM_ACTOR, record: bool = True
          ) -> DeadlineView:
    """Stop the clock from ``on`` (default today); the due dates move when it resumes."""
    if record:
        runtime.lock_case(session, instance_id)
    row = _row(session, instance_id, name)
    if row.status != "running":
        raise Conflict(f"the deadline {name!r} is {row.status}, not running")
    row.status, row.paused_on = "paused", _day(on, "the pause day")
    return _record(session, instance_id, "paused", actor, row, {"reason": reason}, record)


def resume(session: Session, instance_id: int, name: str, *, on: date | str | None = None,
           actor: str = identity.SYSTEM_ACTOR, record: bool = True) -> DeadlineView:
    """Start the clock again on ``on`` (default today), adding the paused units back."""
    cal = workcalendar.of(session)
    if record:
        runtime.lock_case(session, instance_id)
    row = _row(session, instance_id, name)
    if row.status != "paused" or row.paused_on is None:
        raise Conflict(f"the deadline {name!r} is not paused")
    resumed = _day(on, "the resume day")
    units = _elapsed(cal, row.kind, row.paused_on, resumed)
    paused_on = row.paused_on
    _set_dates(cal, row, paused=row.paused_units + units)
    row.paused_units += units
    row.status, row.paused_on = "running", None
    return _record(session, instance_id, "resumed", actor, row,
                   {"paused_on": paused_on.isoformat(), "resumed_on": resumed.isoformat(),
                    "units": units}, record)


def restart(session: Session, instance_id: int, name: str, *, on: date | str | None = None,
            reason: str = "", n: int | str | None = None, actor: str = identity.SYSTEM_ACTOR,
            record: bool = True) -> DeadlineView:
    """Count the period again from the new receipt date ``on`` (补正: not a pause).

    ``n`` gives the new period a different length (重新办理: a second answer within one
    month). A closed deadline is reopened (the case is handled again).
    """
    cal = workcalendar.of(session)
    amount = None if n in (None, "") else _whole(n, "the period", 1)
    if record:
        runtime.lock_case(session, instance_id)
    row = _row(session, instance_id, name)
    previous = row.legal_due
    received = _day(on, "the new receipt day")
    if amount is not None:
        row.amount = amount
        if row.target_amount is not None and row.target_amount > amount:
            row.target_amount = None
    _set_dates(cal, row, started_on=received, extension=0, paused=0)
    row.started_on, row.paused_units, row.extension, row.paused_on = received, 0, 0, None
    row.status, row.restarts, row.closed_on = "running", row.restarts + 1, None
    return _record(session, instance_id, "restarted", actor, row,
                   {"reason": reason, "previous_legal_due": previous.isoformat()}, record)


def rebase(session: Session, instance_id: int, name: str, *, on: date | str | None,
           reason: str = "", actor: str = identity.SYSTEM_ACTOR, record: bool = True
           ) -> DeadlineView:
    """Count the period from the receipt day the first step gives.

    A case's clock starts with the case, on the start day, because the day the application
    or the assignment arrived is typed only at registration; this moves it to that day.
    It is not a restart (补正): the restart count stays, so the page says 重新计时 only
    when the law's restart happened.
    """
    cal = workcalendar.of(session)
    if record:
        runtime.lock_case(session, instance_id)
    row = _row(session, instance_id, name)
    previous = row.legal_due
    received = _day(on, "the receipt day")
    _set_dates(cal, row, started_on=received, extension=row.extension, paused=row.paused_units)
    row.started_on = received
    return _record(session, instance_id, "rebased", actor, row,
                   {"reason": reason, "previous_legal_due": previous.isoformat()}, record)


def extend(session: Session, instance_id: int, name: str, *, n: int | str | None = None,
           approver: str, reason: str, until: date | str | None = None,
           on: date | str | None = None, actor: str = identity.SYSTEM_ACTOR,
           record: bool = True) -> DeadlineView:
    """Add ``n`` units to both dates (or as many as reach the date ``until``, the new time
    limit a leader approved), approved by ``approver`` for ``reason``.

    Refused (Conflict) once the legal due date has passed, or beyond ``max_extension``.
    """
    cal = workcalendar.of(session)
    if not str(approver or "").strip() or not str(reason or "").strip():
        raise DocrouteError("an extension needs the approver and the reason")
    if record:
        runtime.lock_case(session, instance_id)
    row = _row(session, instance_id, name)
    if until not in (None, ""):
        units = _units_until(cal, row.kind, row.legal_due, _day(until, "the new time limit"))
        if units < 1:
            raise DocrouteError(f"the new time limit must be after the current one "
                                f"({row.legal_due})")
    else:
        units = _whole(n, "the extension", 1)
    day = _day(on, "the extension day")
    if (problem := _extension_problem(row, day, units)) is not None:
        raise Conflict(problem)
    previous = row.legal_due
    _set_dates(cal, row, extension=row.extension + units)
    row.extension += units
    return _record(session, instance_id, "extended", actor, row,
                   {"units": units, "approver": approver, "reason": reason,
                    "approved_on": day.isoformat(), "previous_legal_due": previous.isoformat()},
                   record)


def _units_until(cal: WorkCalendar, kind: str, start: date, due: date) -> int:
    """The units from ``start`` to ``due`` (rolled to a working day, as forms roll a typed
    time limit): what a date chosen by a person amounts to as a period."""
    due = workcalendar.office_date(cal.roll_forward(due))
    if kind == "workdays":
        return cal.workdays_between(start, due)
    if kind == "days":
        return (due - start).days
    raise DocrouteError("a date can set only a workdays or days period, not months")


def set_due(session: Session, instance_id: int, name: str, *, due: date | str,
            start_on: date | str | None = None, reason: str = "",
            actor: str = identity.SYSTEM_ACTOR, record: bool = True) -> DeadlineView:
    """The time limit a person decided (办理时限 at 拟办/批示, a leader's date): a working-day
    period from the start day (default today; an existing deadline keeps its own) that ends
    on ``due``. Starts the deadline if the case has none by that name."""
    cal = workcalendar.of(session)
    day = _day(due, "the time limit")
    if record:
        runtime.lock_case(session, instance_id)
    row = session.scalar(select(Deadline).where(Deadline.instance_id == instance_id,
                                                Deadline.name == name))
    if row is None:
        start_day = _day(start_on, "the start day")
        if day < start_day:
            raise DocrouteError(f"the time limit {day} is before the start day {start_day}")
        # Zero units is allowed: a time limit of the start day itself (特急, same day).
        row = Deadline(instance_id=instance_id, name=name, kind="workdays",
                       amount=_units_until(cal, "workdays", start_day, day), target_amount=None,
                       max_extension=None, started_on=start_day, extension=0,
                       paused_units=0, restarts=0, status="running")
        _set_dates(cal, row)
        row.provisional = False  # a date a person chose is never recomputed (calendar.md)
        session.add(row)
        return _record(session, instance_id, "started", actor, row, {"reason": reason}, record)
    if row.status == "closed":
        raise Conflict(f"the deadline {name!r} is closed")
    amount = _units_until(cal, row.kind, row.started_on, day) - row.paused_units - row.extension
    if day < row.started_on or amount < 0:
        raise DocrouteError(f"the time limit {day} is before the period's start "
                            f"({row.started_on}) plus its pauses and extensions")
    previous = row.legal_due
    row.amount = amount
    if row.target_amount is not None and row.target_amount > amount:
        row.target_amount = None
    _set_dates(cal, row)
    row.provisional = False  # a date a person chose is never recomputed (calendar.md)
    return _record(session, instance_id, "set", actor, row,
                   {"reason": reason, "previous_legal_due": previous.isoformat()}, record)


def _extension_problem(row: Deadline, day: date, units: int) -> str | None:
    """Why ``units`` more cannot be granted on ``day`` (zh / en), or None."""
    if row.status == "closed":
        return f"期限已终结 / the deadline {row.name!r} is closed"
    if day > row.legal_due:
        return (f"法定期限已于 {row.legal_due} 届满，延期须在届满前批准 / the deadline "
                f"{row.name!r} passed on {row.legal_due}; an extension must be approved "
                "before the due date")
    if row.max_extension is not None and row.extension + units > row.max_extension:
        return (f"最多延长 {row.max_extension} 个单位，已延长 {row.extension} / the deadline "
                f"{row.name!r} may be extended by at most {row.max_extension} {row.kind} in "
                f"total ({row.extension} already granted)")
    return None


def extension_problem(session: Session, instance_id: int, name: str, *, on: date,
                      n: int | None = None, until: date | str | None = None) -> str | None:
    """Why the case's deadline ``name`` cannot be extended on ``on`` (by ``n`` units, or up to
    the date ``until``; default the rest of its cap), or None: what an approval form checks
    before anything moves."""
    cal = workcalendar.of(session)
    row = _row(session, instance_id, name)
    if until not in (None, ""):
        new_due = _day(until, "the new time limit")
        units = _units_until(cal, row.kind, row.legal_due, new_due)
        if units < 1 and row.status != "closed" and on <= row.legal_due:
            return (f"新时限须晚于现时限 {row.legal_due} / the new time limit must be after "
                    f"the current one ({row.legal_due})")
        units = max(units, 1)
    else:
        units = n if n is not None else max(1, (row.max_extension or 1) - row.extension)
    return _extension_problem(row, on, units)


def close(session: Session, instance_id: int, name: str, *, on: date | str | None = None,
          actor: str = identity.SYSTEM_ACTOR, record: bool = True) -> DeadlineView:
    """Stop the deadline for good (the case answered on ``on``); ``met`` tells if in time."""
    cal = workcalendar.of(session)
    if record:
        runtime.lock_case(session, instance_id)
    row = _row(session, instance_id, name)
    if row.status == "closed":
        raise Conflict(f"the deadline {name!r} is already closed")
    closed = _day(on, "the close day")
    if row.status == "paused" and row.paused_on is not None:
        # Closing during a pause: the paused days up to the close do not count either.
        units = row.paused_units + _elapsed(cal, row.kind, row.paused_on, closed)
        _set_dates(cal, row, paused=units)
        row.paused_units = units
    row.status, row.paused_on, row.closed_on = "closed", None, closed
    return _record(session, instance_id, "closed", actor, row, {}, record)


# --- service-task operators ---------------------------------------------------------------------
# Parameters are diagram expressions (``spiffworkflow:parameter``); every operator returns
# the deadline's ``as_dict()``, so ``resultVariable`` gets e.g. ``deadline['due_at']`` for a
# timeDate timer or a task's dueDate. ``record=False``: the step's event records the call.


def _param(call: ServiceCall, key: str, default: Any = None) -> Any:
    value = call.params.get(key, default)
    return default if value is None else value


def _name(call: ServiceCall) -> str:
    name = str(_param(call, "name", "") or "").strip()
    if not name or len(name) > 64:
        raise DocrouteError("a deadline operator needs a name parameter (1 to 64 characters)")
    return name


@operator("deadline_start")
def _op_start(call: ServiceCall) -> dict[str, Any]:
    return start(call.session, call.instance_id, _name(call),
                 kind=str(_param(call, "kind", "workdays")), n=_param(call, "n"),
                 start_on=_param(call, "start_on", _param(call, "start")),
                 target=_param(call, "target"),
                 max_extension=_param(call, "max_extension"), actor=call.actor,
                 record=False).as_dict()


@operator("deadline_pause")
def _op_pause(call: ServiceCall) -> dict[str, Any]:
    return pause(call.session, call.instance_id, _name(call), on=_param(call, "on"),
                 reason=str(_param(call, "reason", "")), actor=call.actor,
                 record=False).as_dict()


@operator("deadline_resume")
def _op_resume(call: ServiceCall) -> dict[str, Any]:
    return resume(call.session, call.instance_id, _name(call), on=_param(call, "on"),
                  actor=call.actor, record=False).as_dict()


@operator("deadline_restart")
def _op_restart(call: ServiceCall) -> dict[str, Any]:
    return restart(call.session, call.instance_id, _name(call), on=_param(call, "on"),
                   reason=str(_param(call, "reason", "")), n=_param(call, "n"),
                   actor=call.actor, record=False).as_dict()


@operator("deadline_rebase")
def _op_rebase(call: ServiceCall) -> dict[str, Any]:
    return rebase(call.session, call.instance_id, _name(call), on=_param(call, "on"),
                  reason=str(_param(call, "reason", "")), actor=call.actor,
                  record=False).as_dict()


@operator("deadline_set")
def _op_set(call: ServiceCall) -> dict[str, Any]:
    return set_due(call.session, call.instance_id, _name(call), due=_param(call, "due"),
                   start_on=_param(call, "start_on"), reason=str(_param(call, "reason", "")),
                   actor=call.actor, record=False).as_dict()


@operator("deadline_extend")
def _op_extend(call: ServiceCall) -> dict[str, Any]:
    return extend(call.session, call.instance_id, _name(call), n=_param(call, "n"),
                  approver=str(_param(call, "approver", "")),
                  reason=str(_param(call, "reason", "")), until=_param(call, "until"),
                  on=_param(call, "on"),
                  actor=call.actor, record=False).as_dict()


@operator("deadline_close")
def _op_close(call: ServiceCall) -> dict[str, Any]:
    return close(call.session, call.instance_id, _name(call), on=_param(call, "on"),
                 actor=call.actor, record=False).as_dict()


def recompute_provisional(session: Session, instance_id: int) -> list[dict[str, Any]]:
    """Recompute the case's open provisional deadlines on the session's calendar (after a
    year's notice was imported); returns what moved. The caller holds the case lock."""
    cal = workcalendar.of(session)
    moved = []
    rows = session.scalars(select(Deadline).where(
        Deadline.instance_id == instance_id, Deadline.provisional.is_(True),
        Deadline.status != "closed"))
    for row in rows:
        before = (row.legal_due, row.target_due)
        _set_dates(cal, row)
        if (row.legal_due, row.target_due) != before:
            row.updated_at = clock.now()
            moved.append({
                "name": row.name, "old": before[0].isoformat(), "new": row.legal_due.isoformat(),
                "target_old": before[1].isoformat() if before[1] else None,
                "target_new": row.target_due.isoformat() if row.target_due else None})
    return moved
