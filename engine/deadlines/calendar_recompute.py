"""Changing the official calendar, and moving every open date that rested on a guess.

Deadlines reaching a year without the State Council's notice are computed from the
provisional year (``workcalendar``) and flagged. When an administrator imports or edits an
official year (page, CLI or CSV, all through this module), in the same transaction:

1. the year is stored (with a new calendar version token) and the calendar of the
   ``Docroute`` that made the session replaced;
2. every open case with provisional dates is recomputed under its lock: the dates its
   steps computed (``provisional_dates`` ledger, see ``calendar_calls``) are moved in its
   open tasks' data and waiting timers, its tasks' due dates and its statutory deadlines
   are recomputed;
3. each case where anything moved gets one ``calendar_recomputed`` history event (every
   old and new date, and the reason), and the holders of the moved tasks a notification.

Replay applies the same event with ``calendar_calls.substitute``, so a recomputed case
still verifies. Other processes (web workers, ``docroute worker``) see the new version
token within ``workcalendar.CHECK_EVERY`` seconds and load the new calendar.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from engine.history import chain as history
from engine.models import Deadline, Instance, ProvisionalDate, Task, User
from engine.org import identity
from engine.runtime import cases as runtime
from engine.runtime.cases import projection

from . import calendar_calls, notify
from . import periods as deadlines
from . import workcalendar as wc


@dataclass(frozen=True)
class CalendarChange:
    """What a calendar change did: the years stored and the cases whose dates moved."""

    years: list[int]
    cases: list[int]
    dates_moved: int


def import_csv(session: Session, text: str, source: str, actor: str) -> CalendarChange:
    """Import official years from CSV (``workcalendar.parse_csv``) and recompute."""
    with _activating(session):
        years = wc.import_csv(session, text, source)
        history.append_system(session, "calendar_imported", actor,
                              {"years": years, "source": source})
        return _recompute(session, years, source, actor)


def set_year(session: Session, year: int, days: Mapping[date, tuple[bool, str]], source: str,
             actor: str) -> CalendarChange:
    """Store one official year (every day) and recompute."""
    with _activating(session):
        wc.set_year(session, year, days, source)
        history.append_system(session, "calendar_imported", actor,
                              {"years": [year], "source": source})
        return _recompute(session, [year], source, actor)


def set_day(session: Session, day: date, is_workday: bool, note: str, source: str,
            actor: str) -> CalendarChange:
    """Change one day of an official year and recompute."""
    with _activating(session):
        wc.set_day(session, day, is_workday, note, source)
        history.append_system(session, "calendar_day_changed", actor, {
            "day": day.isoformat(), "is_workday": is_workday, "note": note, "source": source})
        return _recompute(session, [day.year], source, actor)


@contextmanager
def _activating(session: Session) -> Iterator[None]:
    """Run a change with the new calendar in use; put the old one back if it fails."""
    holder = wc.holder_of(session)
    previous = holder.peek()
    try:
        yield
    except BaseException:
        holder.use(previous)
        raise


def _recompute(session: Session, years: list[int], source: str, actor: str) -> CalendarChange:
    session.flush()
    wc.holder_of(session).reload(session)
    reason = f"{', '.join(map(str, years))} 年日历已按正式通知更新 / official calendar for " \
             f"{', '.join(map(str, years))} imported ({source})"
    cases, moved = [], 0
    for instance_id in _candidates(session):
        count = recompute_case(session, instance_id, years, reason, actor)
        if count:
            cases.append(instance_id)
            moved += count
    return CalendarChange(sorted(years), cases, moved)


def _candidates(session: Session) -> list[int]:
    """Open cases with any provisional date: ledger rows, task due dates, deadlines."""
    query = union(
        select(ProvisionalDate.instance_id),
        select(Task.instance_id).where(Task.due_provisional.is_(True)),
        select(Deadline.instance_id).where(Deadline.provisional.is_(True),
                                           Deadline.status != "closed"),
    ).subquery()
    open_cases = select(Instance.id).where(Instance.id.in_(select(query.c[0])),
                                           Instance.status.in_(runtime.OPEN_STATUSES))
    return sorted(session.scalars(open_cases))


def recompute_case(session: Session, instance_id: int, years: list[int], reason: str,
                   actor: str) -> int:
    """Recompute one case's provisional dates on the session's calendar; returns how many
    moved (0: nothing recorded). Takes the case lock."""
    instance = runtime.lock_case(session, instance_id)
    cal = wc.of(session)
    data_moves, due_moves = _ledger_moves(session, instance_id, cal)
    moved_deadlines = deadlines.recompute_provisional(session, instance_id)
    # A deadline operator's result (legal and target dates) also sits in the case data.
    for moved in moved_deadlines:
        data_moves.append({"old": moved["old"], "new": moved["new"]})
        if moved["target_old"] and moved["target_new"]:
            data_moves.append({"old": moved["target_old"], "new": moved["target_new"]})
    changes = calendar_calls.date_changes(data_moves)
    workflow = runtime.load_workflow(session, instance) if changes or _has_provisional_tasks(
        session, instance_id) else None
    if workflow is not None:
        calendar_calls.substitute(workflow, changes)
    tasks = _task_moves(session, instance_id, workflow, due_moves, cal)
    if not (changes or tasks or moved_deadlines):
        return 0
    history.append_case(session, instance_id, "calendar_recomputed", actor, {
        "years": years, "reason": reason, "changes": data_moves,
        "tasks": [t for t, _ in tasks], "deadlines": moved_deadlines})
    if changes and workflow is not None:
        runtime.persist(session, instance, workflow, runtime.StepOutcome([], None), actor)
    _notify(session, instance, [row for _, row in tasks], reason, years)
    return len(changes) + len(tasks) + len(moved_deadlines)


def _ledger_moves(session: Session, instance_id: int, cal: wc.WorkCalendar
                  ) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Recompute the case's ledger: (data moves as event changes, {task id: new due})."""
    data_moves: list[dict[str, str]] = []
    due_moves: dict[str, str] = {}
    rows = session.scalars(select(ProvisionalDate).where(
        ProvisionalDate.instance_id == instance_id).order_by(ProvisionalDate.id))
    for row in rows:
        start = calendar_calls.from_iso(row.start)
        new = wc.compute(row.op, start, row.amount, cal)
        new_text = calendar_calls.iso(new)
        if new_text != row.result:
            if row.task_id is None:
                data_moves.append({"old": row.result, "new": new_text})
            else:
                due_moves[row.task_id] = new_text
            row.result = new_text
        if not cal.touches_provisional(start, new):
            session.delete(row)
    return data_moves, due_moves


def _has_provisional_tasks(session: Session, instance_id: int) -> bool:
    return session.scalar(select(Task.id).where(
        Task.instance_id == instance_id, Task.due_provisional.is_(True)).limit(1)) is not None


def _task_moves(session: Session, instance_id: int, workflow: Any,
                due_moves: dict[str, str], cal: wc.WorkCalendar
                ) -> list[tuple[dict[str, Any], Task]]:
    """New due dates of the case's provisional tasks: from the ledger when the due
    expression computed one, else the expression again over the moved data."""
    moved = []
    rows = session.scalars(select(Task).where(Task.instance_id == instance_id,
                                              Task.due_provisional.is_(True)))
    for row in rows:
        calls: list[Any] = []
        if row.id in due_moves:
            new = projection.parse_due(due_moves[row.id])
        else:
            task = workflow.get_task_from_id(UUID(row.id)) if workflow is not None else None
            if task is None:
                continue
            new, calls = projection.due(workflow, task, cal)
        old = row.due_at
        row.due_provisional = projection.is_provisional(new, calls, cal)
        if new != old:
            row.due_at = new
            moved.append(({"task_id": row.id, "name": row.name,
                           "old": old.isoformat() if old else None,
                           "new": new.isoformat() if new else None}, row))
    return moved


def _notify(session: Session, instance: Instance, tasks: list[Task], reason: str,
            years: list[int]) -> None:
    for row in tasks:
        due = wc.office_date(row.due_at).isoformat() if row.due_at else "—"
        text = (f"【期限调整】{instance.title}：“{row.name}”的办理期限调整为 {due}（{reason}） / "
                f"Deadline moved: “{row.name}” of {instance.title} is now due {due}")
        params = {"process": row.process_key, "task": row.spec, "title": instance.title,
                  "due": due if row.due_at else None, "years": years}
        for user in _holders(session, row):
            notify.add(session, user, "info", "deadline.moved", params, instance_id=instance.id,
                       task_id=row.id, mail_text=text)


def _holders(session: Session, row: Task) -> list[User]:
    if row.assignee:
        user = identity.find_user(session, row.assignee)
        return [user] if user is not None else []
    seen: dict[str, User] = {}
    for group in row.candidate_groups or []:
        for user in identity.members(session, group):
            seen.setdefault(user.username, user)
    return list(seen.values())


# --- warning ahead ---------------------------------------------------------------------------

NOTICE_MARK = "【工作日历】"


def warn_missing_notice(session: Session, today: date) -> int:
    """From 1 October, tell every administrator once that next year has no official
    calendar yet (and at any time, that the current year has none). Returns how many
    were told; idempotent per year and administrator."""
    year = wc.needs_notice_warning(wc.of(session), today)
    if year is None:
        return 0
    text = (f"{NOTICE_MARK}{year} 年尚未导入国务院放假通知，涉及该年的期限暂按法定节假日推算；"
            f"通知发布后请在“工作日历”中导入 / The {year} calendar has no State Council notice "
            "yet: deadlines reaching it are provisional until it is imported.")
    told = 0
    admins = session.scalars(select(User).where(User.is_admin.is_(True),
                                                User.active.is_(True)))
    for admin in admins:
        if (notify.has_key(session, admin.id, "calendar.notice_missing", {"year": year})
                or notify.has_message(session, admin.id, f"{NOTICE_MARK}{year} ")):
            continue
        notify.add(session, admin, "info", "calendar.notice_missing", {"year": year},
                   instance_id=None, task_id=None, mail_text=text)
        told += 1
    return told
