"""催办: chasing the people a case is waiting on, by hand, from the document page or the API.

Automatic chasing is the reminder engine's (engine/deadlines/reminders.py: working days, once per
level). This is the explicit action: someone responsible for the case's progress tells the
current holders to get on with it. The rule, in one place for every route:

- the chaser may see the case and has the authority to chase: a member of one of
  ``CHASER_GROUPS`` (registry, supervision, the office);
- and is involved in it (acted in it or holds one of its tasks), unless they belong to the
  office-wide ``SUPERVISING_GROUPS`` (supervision staff and the office director follow up
  every case they can see);
- the case is running and someone holds an open task;
- the case was not already chased within ``MIN_INTERVAL`` (a second click, or two people
  chasing at once, would only repeat the same notice).

Each holder (the assignee, else every cleared member of the candidate groups) gets a
notification, and the case history records a ``chased`` event with the note, the tasks
and who was notified (shown in the timeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, DocrouteError, NotAllowed
from engine.history import chain as history
from engine.models import Event, Task
from engine.org import access
from engine.org.identity import Actor
from engine.runtime import cases as runtime

from . import notify, reminders

CHASER_GROUPS = frozenset({"general_office", "records_clerks", "confidential_clerks",
                           "supervision_officers", "office_director", "disclosure_officers"})
SUPERVISING_GROUPS = frozenset({"supervision_officers", "office_director"})
MIN_INTERVAL = timedelta(hours=2)
MAX_NOTE = 500


@dataclass(frozen=True)
class ChaseResult:
    instance_id: int
    tasks: list[str]
    notified: list[str]


def refusal(session: Session, actor: Actor, instance_id: int) -> str | None:
    """Why the actor may not chase this case (zh / en), or None; the page hides the button."""
    if not (actor.groups & CHASER_GROUPS or actor.is_admin):
        return ("只有登记、督查或办公室人员可以催办 / only registry, supervision or office "
                "staff may chase a case")
    if not (actor.groups & SUPERVISING_GROUPS or actor.is_admin
            or access.case_participant(session, instance_id, actor)):
        return "只能催办您参与的案件 / you may chase only cases you are involved in"
    return None


def _last_chase(session: Session, instance_id: int) -> Event | None:
    return session.scalar(select(Event).where(Event.instance_id == instance_id,
                                              Event.type == "chased")
                          .order_by(Event.seq.desc()).limit(1))


def chase(session: Session, actor: Actor, instance_id: int, note: str = "") -> ChaseResult:
    """Notify the holders of the case's open tasks and record it; see the module rules.

    Raises NotFound (case not visible), NotAllowed, Conflict (finished, nobody holds a
    task, chased too recently) or DocrouteError (note too long); nothing is written then.
    """
    note = str(note or "").strip()
    if len(note) > MAX_NOTE:
        raise DocrouteError(f"催办说明最多 {MAX_NOTE} 字 / the note is longer than {MAX_NOTE}"
                            " characters")
    instance = access.get_case(session, actor, instance_id)
    if (reason := refusal(session, actor, instance_id)) is not None:
        raise NotAllowed(reason)
    runtime.lock_case(session, instance_id)
    if instance.status != "running":
        raise Conflict("案件已办结，无需催办 / the case is not running")
    tasks = list(session.scalars(select(Task).where(Task.instance_id == instance_id)
                                 .order_by(Task.id)))
    if not tasks:
        raise Conflict("没有待办环节可催办 / nobody holds an open task in this case")
    now = clock.now()
    last = _last_chase(session, instance_id)
    if last is not None and now - last.at < MIN_INTERVAL:
        at = last.at.astimezone(clock.OFFICE_TZ).strftime("%Y-%m-%d %H:%M")
        raise Conflict(f"{last.actor} 已于 {at} 催办，请稍后再催 / {last.actor} already chased "
                       f"this case at {at}; chase again later")
    notified: dict[str, None] = {}
    for task in tasks:
        mail_text = (f"催办：请尽快办理「{task.name}」（{task.title}）。{note} / Chased by "
                     f"{actor.name}: please deal with “{task.name}”.")
        params = {"process": task.process_key, "task": task.spec, "title": task.title,
                  "by": actor.username, "note": note}
        for user in reminders.recipients(session, task):
            notify.add(session, user, "red", "case.chased", params, instance_id=instance_id,
                       task_id=task.id, mail_text=mail_text, subject=f"催办：{task.title}"[:200])
            notified[user.username] = None
    history.append_case(session, instance_id, "chased", actor.username,
                        {"note": note, "tasks": [{"id": t.id, "name": t.name,
                                                  "holder": t.assignee
                                                  or "、".join(t.candidate_groups)}
                                                 for t in tasks],
                         "notified": list(notified)})
    return ChaseResult(instance_id, [t.name for t in tasks], list(notified))
