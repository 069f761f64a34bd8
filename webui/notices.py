"""Notifications in the reader's language.

The engine stores a notification as a message key and its parameters (engine.deadlines.notify);
this module turns them into one sentence in the page's language, with the step's name
from the diagram (English from workflows/labels.en.json) and dates written the way every
page writes them. Rows from before keyed messages were stored as "中文 / English" text:
the reader's half is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine.deadlines import notify

from .views import (
    en_name,
    is_english,
    office_date,
    office_time,
    one_language,
    people_and_groups,
    urgency_label,
)


@dataclass(frozen=True)
class Shown:
    """A notification as a page lists it."""

    id: int
    level: str
    text: str
    task_id: str | None
    created_at: Any
    read_at: Any


def render(s: Session, items: Sequence[notify.NotificationView]) -> list[Shown]:
    """The notifications as sentences in the reader's language (names looked up once)."""
    steps = notify.step_names(s, {(str(n.params.get("process")), str(n.params.get("task")))
                                  for n in items if n.key and n.params.get("task")})
    names = people_and_groups(s) if any(n.params.get("who") or n.params.get("by")
                                         for n in items) else {}
    return [Shown(n.id, n.level, text(n, steps, names), n.task_id, n.created_at, n.read_at)
            for n in items]


def text(n: notify.NotificationView, steps: dict[tuple[str, str], str],
         names: dict[str, str]) -> str:
    """One notification's sentence."""
    if not n.key:
        return one_language(n.message)
    render_one = MESSAGES.get(n.key)
    if render_one is None:
        return n.key  # a key this version does not know: say which, do not guess
    return render_one(n.params, steps, names)


def _what(p: dict[str, Any], steps: dict[tuple[str, str], str]) -> str:
    step = en_name(steps.get((str(p.get("process")), str(p.get("task"))), str(p.get("task"))))
    if p.get("title"):
        return _("“%(step)s” (%(title)s)", step=step, title=p["title"])
    return _("“%(step)s”", step=step)


def _due(p: dict[str, Any]) -> str:
    if not p.get("due"):
        return "—"
    return office_date(p["due"]) if p.get("date_only") or len(str(p["due"])) == 10 \
        else office_time(p["due"], "short")


Renderer = Callable[[dict[str, Any], dict[tuple[str, str], str], dict[str, str]], str]


def _urgent(p: dict[str, Any], steps: dict[tuple[str, str], str], _n: dict[str, str]) -> str:
    return _("%(urgency)s item %(what)s is waiting.",
             urgency=urgency_label(p.get("urgency")), what=_what(p, steps))


def _due_soon(p: dict[str, Any], steps: dict[tuple[str, str], str], _n: dict[str, str]) -> str:
    return _("%(what)s is due %(due)s, %(n)d working day(s) left.", what=_what(p, steps),
             due=_due(p), n=int(p.get("workdays_left") or 0))


def _due_today(p: dict[str, Any], steps: dict[tuple[str, str], str], _n: dict[str, str]
               ) -> str:
    return _("%(what)s is due today (%(due)s).", what=_what(p, steps), due=_due(p))


def _overdue(p: dict[str, Any], steps: dict[tuple[str, str], str], _n: dict[str, str]) -> str:
    return _("%(what)s is overdue (due %(due)s).", what=_what(p, steps), due=_due(p))


def _escalated(p: dict[str, Any], steps: dict[tuple[str, str], str], names: dict[str, str]
               ) -> str:
    who = [names.get(str(w), str(w)) for w in p.get("who") or []]
    return _("%(what)s is %(n)d working day(s) overdue (due %(due)s); now with %(who)s.",
             what=_what(p, steps), n=int(p.get("overdue_workdays") or 0), due=_due(p),
             who=(", " if is_english() else "、").join(who) or "—")


def _moved(p: dict[str, Any], steps: dict[tuple[str, str], str], _n: dict[str, str]) -> str:
    years = ", ".join(str(y) for y in p.get("years") or [])
    return _("Deadline moved: %(what)s is now due %(due)s (the official calendar for "
             "%(years)s was imported).", what=_what(p, steps), due=_due(p), years=years)


def _notice(p: dict[str, Any], _s: dict[tuple[str, str], str], _n: dict[str, str]) -> str:
    return _("The %(year)s working-day calendar has no State Council notice yet: deadlines "
             "reaching it are provisional until it is imported on the calendar page.",
             year=str(p.get("year") or ""))


def _chased(p: dict[str, Any], steps: dict[tuple[str, str], str], names: dict[str, str]
            ) -> str:
    by = names.get(str(p.get("by")), str(p.get("by") or ""))
    note = str(p.get("note") or "")
    sentence = _("%(who)s chased %(what)s: please deal with it.", who=by, what=_what(p, steps))
    return f"{sentence} {note}".strip()


MESSAGES: dict[str, Renderer] = {
    "reminder.urgent": _urgent, "reminder.due_soon": _due_soon,
    "reminder.due_today": _due_today, "reminder.overdue": _overdue,
    "reminder.escalated": _escalated, "deadline.moved": _moved,
    "calendar.notice_missing": _notice, "case.chased": _chased,
}
