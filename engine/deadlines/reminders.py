"""Reminders and escalation for open tasks with a due time (DOMAIN.md §2 D2a, §3).

Levels, by office day (Asia/Shanghai) on the working-day calendar:

- ``blue``: from the 3rd working day before the due day; notified on T-3 and T-1;
- ``yellow``: on the due day;
- ``red``: once the due time has passed; notified when it turns red and then on every
  working day while it stays overdue;
- ``escalated``: after ``escalate_after`` full overdue working days (default 1) the
  responsible leaders are told once (``ReminderPolicy``); red reminders go on.

Urgent items start higher (DOMAIN.md: "urgent items may start at orange or red"): 加急
starts at yellow, 特急 at red (red reminders every working day), even without a due time.
A task that enters a level late (created on T-2, or the worker was down) is notified on
the first pass that sees it.

A pass is idempotent: each level is notified at most once per task and office day, and
a task is looked at again only at its ``next_check_at`` (the next office midnight or its
due time) or when its due time or urgency changed. Each notification, and each history
event (``reminder``, ``escalated``), is written under the case lock.

Reminders never fail for want of calendar data: a missing year is logged and counted in
calendar days (a reminder comes early rather than late). Deadlines, in contrast, refuse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import clock, db
from engine.history import chain as history
from engine.models import Task, TaskReminder, User
from engine.org import identity

from . import notify, workcalendar
from .notify import MailSettings, list_notifications, mark_read, unread_count
from .workcalendar import CalendarMissing

__all__ = ["Assessment", "ReminderPolicy", "ReminderResult", "assess", "list_notifications",
           "mark_read", "run_reminders", "unread_count"]

log = logging.getLogger(__name__)

RANK = {"": 0, "blue": 1, "yellow": 2, "red": 3, "escalated": 4}
# The colour's name, never a statement about time: an urgent item starts at yellow or red
# (``urgent_floor``) however far its due date is; the message says how much time is left.
LABELS = {"blue": ("蓝色提醒", "Reminder"), "yellow": ("黄色预警", "Warning"),
          "red": ("红色督办", "Urgent"), "escalated": ("超期上报", "Escalation")}


@dataclass(frozen=True)
class ReminderPolicy:
    """What the office configures.

    ``group_leaders`` maps a candidate group to the group of its responsible leaders
    (e.g. ``{"disclosure": "disclosure_heads"}``); a task whose groups have no entry is
    escalated to ``leader_group``. ``urgent_floor`` maps urgency to the starting level.
    """

    blue_days: tuple[int, ...] = (3, 1)
    escalate_after: int = 1
    leader_group: str = "supervising_leaders"
    group_leaders: Mapping[str, str] = field(default_factory=dict)
    urgent_floor: Mapping[str, str] = field(
        default_factory=lambda: {"加急": "yellow", "特急": "red"})


@dataclass(frozen=True)
class Assessment:
    """Where a task stands at one moment: its level, and what to send today."""

    level: str  # '' | blue | yellow | red | escalated
    notify: str | None  # the level to notify now, if any
    escalate: bool  # tell the leaders now
    overdue: bool  # the due time has passed
    overdue_workdays: int  # working days after the due day up to today
    workdays_left: int  # working days after today up to the due day
    next_check: datetime | None


@dataclass(frozen=True)
class ReminderResult:
    assessed: int
    notifications: int
    escalations: int
    more: bool  # the pass stopped at its limit; run it again


# --- assessing one task ----------------------------------------------------------------------


class _Days:
    """Calendar questions with the reminder fallback: a missing year counts calendar days."""

    def __init__(self, cal: workcalendar.WorkCalendar):
        self.cal = cal
        self.warned: set[int] = set()  # one warning per year and pass

    def _missing(self, error: CalendarMissing) -> None:
        if error.year not in self.warned:
            self.warned.add(error.year)
            log.warning("no working-day calendar for %s: reminders count calendar days",
                        error.year)

    def is_workday(self, day: date) -> bool:
        try:
            return self.cal.is_workday(day)
        except CalendarMissing as error:
            self._missing(error)
            return True

    def before(self, day: date, n: int) -> date:
        try:
            return workcalendar.office_date(self.cal.add_workdays(day, -n))
        except CalendarMissing as error:
            self._missing(error)
            return day - timedelta(days=n)

    def between(self, a: date, b: date) -> int:
        try:
            return self.cal.workdays_between(a, b)
        except CalendarMissing as error:
            self._missing(error)
            return (b - a).days


def _office_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.OFFICE_TZ).astimezone(UTC)


def assess(due_at: datetime | None, urgency: str, now: datetime, notified: Mapping[str, str],
           escalated: bool, policy: ReminderPolicy,
           cal: workcalendar.WorkCalendar | _Days) -> Assessment:
    """The level of a task at ``now`` and what to send, given what was sent before.

    ``notified`` maps each level to the ISO office date it was last notified on;
    ``cal`` is the working-day calendar (``workcalendar.of(session)``).
    """
    days = cal if isinstance(cal, _Days) else _Days(cal)
    today = now.astimezone(clock.OFFICE_TZ).date()
    stamp = today.isoformat()
    tomorrow = _office_midnight(today + timedelta(days=1))
    floor = policy.urgent_floor.get(urgency, "")

    def fresh(level: str, scheduled: bool) -> bool:
        # Once per office day; on schedule, or the first time the task is at that level.
        return notified.get(level) != stamp and (scheduled or level not in notified)

    if due_at is None:
        notify_level = floor if floor and fresh(floor, floor == "red" and
                                                days.is_workday(today)) else None
        return Assessment(floor, notify_level, False, False, 0, 0, tomorrow if floor else None)
    due_day = due_at.astimezone(clock.OFFICE_TZ).date()
    if now > due_at:
        overdue = days.between(due_day, today) if today > due_day else 0
        yesterday = today - timedelta(days=1)
        completed = days.between(due_day, yesterday) if yesterday > due_day else 0
        escalate = not escalated and completed >= policy.escalate_after
        level = "escalated" if escalated or escalate else "red"
        notify_level = "red" if fresh("red", days.is_workday(today)) else None
        return Assessment(level, notify_level, escalate, True, overdue, 0, tomorrow)
    left = days.between(today, due_day)
    reminder_days = {days.before(due_day, n) for n in policy.blue_days}
    if today == due_day:
        base = "yellow"
    elif policy.blue_days and today >= days.before(due_day, max(policy.blue_days)):
        base = "blue"
    else:
        base = ""
    level = max(base, floor, key=RANK.__getitem__)
    scheduled = {"blue": today in reminder_days, "yellow": today == due_day,
                 "red": days.is_workday(today)}.get(level, False)
    notify_level = level if level and fresh(level, scheduled) else None
    turns_red = due_at + timedelta(microseconds=1)
    return Assessment(level, notify_level, False, False, 0, left, min(tomorrow, turns_red))


# --- the pass --------------------------------------------------------------------------------


def _cleared(users: list[User], classification: int) -> list[User]:
    # A user below the document's classification never learns that it exists.
    return [u for u in dict((u.id, u) for u in users).values()
            if u.active and u.clearance >= classification]


def recipients(session: Session, task: Task) -> list[User]:
    if task.assignee:
        user = identity.find_user(session, task.assignee)
        return _cleared([user] if user else [], task.classification)
    users = [u for g in task.candidate_groups for u in identity.members(session, g)]
    return _cleared(users, task.classification)


def _leaders(session: Session, task: Task, policy: ReminderPolicy) -> list[User]:
    groups = list(task.candidate_groups)
    if not groups and task.assignee:
        user = identity.find_user(session, task.assignee)
        groups = [g.key for g in user.groups] if user else []
    leader_groups = [policy.group_leaders[g] for g in groups if g in policy.group_leaders]
    users = [u for g in leader_groups for u in identity.members(session, g)]
    if not users:
        users = identity.members(session, policy.leader_group)
    return _cleared(users, task.classification)


def _message(level: str, task: Task, a: Assessment, now: datetime, who: str = ""
             ) -> tuple[str, str]:
    """(subject, bilingual text) of one reminder's e-mail, read outside any page."""
    zh, en = LABELS[level]
    subject = f"[docroute] {zh} {en}: {task.name}"
    what = f"「{task.name}」（{task.title}）" if task.title else f"「{task.name}」"
    what_en = f"“{task.name}” ({task.title})" if task.title else f"“{task.name}”"
    if task.due_at is None:
        return subject, (f"【{zh}】{task.urgency}件{what}待办理。 / {en}: urgent item "
                         f"{what_en} is waiting.")
    local = task.due_at.astimezone(clock.OFFICE_TZ)
    due = (local.strftime("%Y-%m-%d") if local.time() >= time(23, 59)
           else local.strftime("%Y-%m-%d %H:%M"))
    if level == "escalated":
        text = (f"【{zh}】{what}已超期 {a.overdue_workdays} 个工作日（期限 {due}），"
                f"承办：{who}。 / {en}: {what_en} is {a.overdue_workdays} working day(s) "
                f"overdue (due {due}); with: {who}.")
    elif a.overdue:
        text = f"【{zh}】{what}已超期（期限 {due}）。 / {en}: {what_en} is overdue (due {due})."
    elif local.date() == now.astimezone(clock.OFFICE_TZ).date():
        text = f"【{zh}】{what}今天（{due}）到期。 / {en}: {what_en} is due today ({due})."
    else:
        text = (f"【{zh}】{what}将于 {due} 到期，还有 {a.workdays_left} 个工作日。 / {en}: "
                f"{what_en} is due {due}, {a.workdays_left} working day(s) left.")
    return subject, text


def message_key(level: str, task: Task, a: Assessment, now: datetime) -> str:
    """Which message a notification of ``level`` carries (webui renders it per language)."""
    if task.due_at is None:
        return "reminder.urgent"
    if level == "escalated":
        return "reminder.escalated"
    if a.overdue:
        return "reminder.overdue"
    if task.due_at.astimezone(clock.OFFICE_TZ).date() == now.astimezone(clock.OFFICE_TZ).date():
        return "reminder.due_today"
    return "reminder.due_soon"


def message_params(level: str, task: Task, a: Assessment, who: list[str]) -> dict[str, Any]:
    """The facts a reminder states, language-neutral: the step as process key and task id."""
    local = task.due_at.astimezone(clock.OFFICE_TZ) if task.due_at else None
    return {"level": level, "process": task.process_key, "task": task.spec,
            "title": task.title, "urgency": task.urgency,
            "due": task.due_at.isoformat() if task.due_at else None,
            "date_only": bool(local and local.time() >= time(23, 59)),
            "workdays_left": a.workdays_left, "overdue_workdays": a.overdue_workdays,
            "who": who}


def _send(session: Session, task: Task, level: str, users: list[User], a: Assessment,
          now: datetime, mail: MailSettings | None, who: list[str] | None = None) -> None:
    subject, text = _message(level, task, a, now, "、".join(who or []))
    key, params = message_key(level, task, a, now), message_params(level, task, a, who or [])
    for user in users:
        notify.add(session, user, level, key, params, instance_id=task.instance_id,
                   task_id=task.id, mail_text=text, subject=subject, mail=mail)
    event = "escalated" if level == "escalated" else "reminder"
    history.append_case(session, task.instance_id, event, identity.SYSTEM_ACTOR, {
        "level": level, "due_at": task.due_at, "urgency": task.urgency,
        "overdue_workdays": a.overdue_workdays, "to": sorted(u.username for u in users),
    }, task_id=task.id, task_name=task.name)


def _apply(session: Session, task: Task, state: TaskReminder, now: datetime,
           policy: ReminderPolicy, days: _Days, mail: MailSettings | None) -> tuple[int, int]:
    if state.due_at != task.due_at:
        state.escalated_at = None  # a new due time may be missed (and escalated) again
    a = assess(task.due_at, task.urgency, now, state.notified or {},
               state.escalated_at is not None, policy, days)
    level, sent, escalations = a.level, 0, 0
    if a.notify:
        users = recipients(session, task)
        if not users:
            log.warning("task %s of case %s has nobody to remind", task.id, task.instance_id)
        _send(session, task, a.notify, users, a, now, mail)
        sent += len(users)
        stamp = now.astimezone(clock.OFFICE_TZ).date().isoformat()
        state.notified = {**(state.notified or {}), a.notify: stamp}
    if a.escalate:
        leaders = _leaders(session, task, policy)
        if leaders:
            who = [task.assignee] if task.assignee else list(task.candidate_groups)
            _send(session, task, "escalated", leaders, a, now, mail, who)
            state.escalated_at, sent, escalations = now, sent + len(leaders), 1
        else:
            level = "red"  # retried at the next check
            log.warning("nobody to escalate task %s of case %s to (group %r is empty)",
                        task.id, task.instance_id, policy.leader_group)
    task.reminder_level = level
    state.due_at, state.urgency, state.next_check_at = task.due_at, task.urgency, a.next_check
    return sent, escalations


def run_reminders(session: Session, now: datetime, *, policy: ReminderPolicy | None = None,
                  mail: MailSettings | None = None, limit: int = 500) -> ReminderResult:
    """Assess every open task that needs it at ``now``; notify, escalate, set its level.

    Looks at up to ``limit`` tasks (``more`` tells the caller to run again in a new
    transaction, so a pass never holds many case locks at once). With ``mail``, each
    notification also queues an e-mail (``notify.send_outbox`` sends it after commit).
    """
    policy = policy or ReminderPolicy()
    urgent = list(policy.urgent_floor)
    query = (select(Task.id, Task.instance_id)
             .outerjoin(TaskReminder, TaskReminder.task_id == Task.id)
             .where(or_(Task.due_at.is_not(None), Task.urgency.in_(urgent)))
             .where(or_(TaskReminder.task_id.is_(None), TaskReminder.next_check_at <= now,
                        TaskReminder.due_at.is_distinct_from(Task.due_at),
                        TaskReminder.urgency != Task.urgency))
             .order_by(Task.instance_id, Task.id).limit(limit + 1))
    found = session.execute(query).all()
    more = len(found) > limit
    days = _Days(workcalendar.of(session))
    assessed = sent = escalations = 0
    # Case by case in id order, so two passes running at once lock cases in one order.
    for instance_id, group in groupby(found[:limit], key=lambda row: row[1]):
        instance = db.lock_instance(session, instance_id)
        for task_id, _ in group:
            task = session.get(Task, task_id, populate_existing=True)  # re-read under lock
            if task is None:
                continue  # the task closed meanwhile (its state row went with it)
            state = session.get(TaskReminder, task_id, populate_existing=True)
            if state is None:
                state = TaskReminder(task_id=task.id, instance_id=task.instance_id,
                                     notified={}, urgency="")
                session.add(state)
            if instance is None or instance.status != "running":
                # The projection drops tasks of stopped cases; should one linger, look
                # again later rather than select it on every pass.
                state.next_check_at = now + timedelta(hours=1)
                continue
            n, e = _apply(session, task, state, now, policy, days, mail)
            assessed, sent, escalations = assessed + 1, sent + n, escalations + e
    session.flush()
    return ReminderResult(assessed, sent, escalations, more)
