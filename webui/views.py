"""Template helpers: office-time formatting, labels in the user's language, page context.

Everything a template shows that depends on the language goes through here, so pages
stay dumb: diagram names come from ``workflows/labels.en.json`` in English, document
terms from the catalog (DOMAIN.md §7 glossary).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import dates
from flask import Flask, g, request
from flask_babel import format_decimal, get_locale, lazy_gettext
from flask_babel import gettext as _
from markupsafe import Markup, escape

from engine import clock
from engine.deadlines import notify, workcalendar

from . import get_docroute
from .formdata import input_value

URGENCY = {"特急": lazy_gettext("Extra urgent"), "加急": lazy_gettext("Urgent")}
CLASSIFICATION = [lazy_gettext("Unclassified"), lazy_gettext("Confidential"),
                  lazy_gettext("Secret"), lazy_gettext("Top secret")]
CLASSIFICATION_ZH_NAMES = ["非密", "秘密", "机密", "绝密"]
# Colours, not statements about time (an urgent item starts at yellow or red whatever
# its due date); the due date beside the badge says when.
REMINDER = {"blue": lazy_gettext("Blue reminder"), "yellow": lazy_gettext("Yellow warning"),
            "red": lazy_gettext("Red: urgent"), "escalated": lazy_gettext("Escalated")}
KIND = {"incoming": lazy_gettext("Incoming document"),
        "outgoing": lazy_gettext("Outgoing document"),
        "proposal": lazy_gettext("Suggestion or proposal"),
        "supervision": lazy_gettext("Follow-up item"),
        "seal": lazy_gettext("Seal request"),
        "seal_request": lazy_gettext("Seal request"),
        "disclosure": lazy_gettext("Disclosure request"),
        "disclosure_request": lazy_gettext("Disclosure request")}
STATUS = {"running": lazy_gettext("In progress"), "completed": lazy_gettext("Closed"),
          "suspended": lazy_gettext("Suspended"), "terminated": lazy_gettext("Terminated"),
          "error": lazy_gettext("Needs attention"), "open": lazy_gettext("Open"),
          "archived": lazy_gettext("Filed"), "closed": lazy_gettext("Closed"),
          "in_progress": lazy_gettext("In progress"), "returned": lazy_gettext("Returned")}
EVENT = {"started": lazy_gettext("started the case"),
         "completed": lazy_gettext("completed"),
         "claimed": lazy_gettext("claimed"),
         "unclaimed": lazy_gettext("released"),
         "delegated": lazy_gettext("delegated"),
         "timer_fired": lazy_gettext("timer fired"),
         "incident": lazy_gettext("a step failed"),
         "retried": lazy_gettext("retried"),
         "terminated": lazy_gettext("case terminated"),
         "suspended": lazy_gettext("case suspended"),
         "resumed": lazy_gettext("case resumed"),
         "closed": lazy_gettext("the case is closed"),
         "reminder": lazy_gettext("sent a reminder"),
         "escalated": lazy_gettext("reported the overdue step to the leaders"),
         "reassigned": lazy_gettext("reassigned"),
         "reclassified": lazy_gettext("changed the classification"),
         "migrated": lazy_gettext("moved the case to a new process version"),
         "calendar_recomputed": lazy_gettext("recomputed the dates on the official calendar"),
         "linked": lazy_gettext("linked a case")}
# Actors that are not people: the scheduler and the reminder pass act as "system".
SYSTEM_NAMES = {"system": lazy_gettext("System")}


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        office_time=office_time, office_date=office_date, label=label, en=en_name,
        urgency=urgency_label, classification=classification_label,
        reminder=reminder_label, kind=kind_label, status=status_label,
        event=event_label, choice=choice_label, filesize=filesize,
        multiline=multiline, doctype=doctype_label, number=number,
        one_language=one_language, filekind=file_kind,
    )
    app.jinja_env.globals["input_value"] = input_value
    app.jinja_env.globals["provisional_badge"] = provisional_badge
    app.jinja_env.tests["provisional"] = is_provisional_day

    # Counted before the view runs: views render inside their own unit of work, and a
    # second session opened while rendering would wait for SQLite's write lock.
    app.before_request(_count_unread)

    @app.context_processor
    def _common() -> dict[str, Any]:
        return {"actor": g.get("actor"), "lang": current_lang(),
                "unread_count": g.get("unread", 0), "calendar_warning": _calendar_warning()}


def provisional_badge() -> Markup:
    """The marker of a date computed over a year without the State Council's notice."""
    return Markup('<span class="badge provisional" title="{}">{}</span>').format(
        _("No State Council notice for that year yet: computed from the statutory holidays; "
          "it will be recomputed when the notice is imported."),
        _("provisional: computed from the statutory holidays"))


def is_provisional_day(value: date | datetime | str | None) -> bool:
    """Whether a date lies in a year answered from the statutory holidays only."""
    if value in (None, ""):
        return False
    try:
        return get_docroute().work_calendar().is_provisional(value)
    except (ValueError, TypeError, workcalendar.CalendarMissing):
        return False


def _calendar_warning() -> int | None:
    """For administrators: the year whose official calendar should be imported now."""
    actor = g.get("actor")
    if actor is None or not actor.is_admin:
        return None
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    return workcalendar.needs_notice_warning(get_docroute().work_calendar(), today)


def current_lang() -> str:
    return "en" if str(get_locale() or "zh").startswith("en") else "zh"


def is_english() -> bool:
    return current_lang() == "en"


_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def one_language(text: Any) -> str:
    """An engine message written "中文 / English" in the reader's language only.

    The engine speaks both languages in one string (it knows no reader); the split is at
    the first " / " with Chinese before it. Text without that shape is returned as is.
    """
    text = str(text or "")
    at = text.find(" / ")
    while at != -1 and not _CJK.search(text[:at]):
        at = text.find(" / ", at + 3)
    if at == -1:
        return text
    return text[at + 3:].strip() if is_english() else text[:at].strip()


# --- times ---------------------------------------------------------------------------------


def office_time(value: datetime | str | None, fmt: str = "medium") -> str:
    """A stored UTC time shown in the office's zone, in the user's locale."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.UTC)
    if fmt == "short":
        # Always with the year: a sheet or list printed in January still says which
        # December it means, and every page writes a time the same way.
        fmt = "MMM d, y HH:mm" if is_english() else "y年M月d日 HH:mm"
    # babel directly: Flask-Babel would convert to its own default zone (UTC) again.
    return dates.format_datetime(value, fmt, tzinfo=clock.OFFICE_TZ, locale=_locale())


def office_date(value: date | datetime | str | None, fmt: str = "medium") -> str:
    """A date (or the office-local date of a time) in the user's locale."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = date.fromisoformat(text[:10])
        except ValueError:
            return text
    if isinstance(value, datetime):
        value = value.astimezone(clock.OFFICE_TZ).date()
    return dates.format_date(value, fmt, locale=_locale())


def _locale() -> str:
    return "en" if is_english() else "zh_Hans_CN"


# --- names and labels ----------------------------------------------------------------------


@lru_cache(maxsize=4)
def _labels(path: Path, mtime: float) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def english_labels() -> dict[str, str]:
    """Chinese diagram names -> English (workflows/labels.en.json; reread when changed)."""
    path = get_docroute().settings.workflows_dir / "labels.en.json"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    return _labels(path, mtime)


def en_name(name: str | None) -> str:
    """A diagram element or process name in the user's language."""
    if not name:
        return ""
    if is_english():
        return english_labels().get(name, name)
    return name


def label(node: dict[str, Any], key: str = "title") -> str:
    """A schema's zh text or its ``x-…-en`` English text, by the current language."""
    if is_english():
        return str(node.get(f"x-{key}-en") or node.get(key) or "")
    return str(node.get(key) or node.get(f"x-{key}-en") or "")


def choice_label(value: Any, node: dict[str, Any]) -> str:
    """The display label of an enum value of a schema field (or of its items)."""
    node = node.get("items", node) if node.get("type") == "array" else node
    values = node.get("enum") or []
    labels = node.get("x-enum-labels-en" if is_english() else "x-enum-labels") \
        or node.get("x-enum-labels") or []
    if isinstance(value, list):
        return "、".join(choice_label(v, node) for v in value) if not is_english() \
            else ", ".join(choice_label(v, node) for v in value)
    if value in values and values.index(value) < len(labels):
        return str(labels[values.index(value)])
    return "" if value is None else str(value)


def people_and_groups(s: Any) -> dict[str, str]:
    """Usernames and group keys -> display names in the user's language."""
    from engine.queries import records

    names = {key: str(name) for key, name in SYSTEM_NAMES.items()}
    names.update(records.display_names(s, english=is_english()))
    return names


def urgency_label(value: str | None) -> str:
    return str(URGENCY.get(value or "", ""))


def classification_label(value: int | str | None) -> str:
    if isinstance(value, str):
        names = ["none", "confidential", "secret", "top_secret"]
        value = names.index(value) if value in names else 0
    level = max(0, min(int(value or 0), len(CLASSIFICATION) - 1))
    return str(CLASSIFICATION[level])


def reminder_label(value: str | None) -> str:
    return str(REMINDER.get(value or "", ""))


def kind_label(value: str | None) -> str:
    return str(KIND.get(value or "", value or ""))


def status_label(value: str | None) -> str:
    return str(STATUS.get(value or "", value or ""))


def event_label(value: str | None) -> str:
    return str(EVENT.get(value or "", value or ""))


def doctype_label(value: str | None) -> str:
    """A 文种 (通知, 请示 …) in the user's language."""
    from .registration import DOC_TYPES, DOC_TYPES_EN

    if is_english() and value in DOC_TYPES:
        return DOC_TYPES_EN[DOC_TYPES.index(value)]
    return value or ""


FILE_KINDS = {"doc": lazy_gettext("Word document"), "docx": lazy_gettext("Word document"),
              "wps": lazy_gettext("WPS document"), "xls": lazy_gettext("Excel workbook"),
              "xlsx": lazy_gettext("Excel workbook"), "ofd": lazy_gettext("OFD document"),
              "zip": lazy_gettext("ZIP archive"), "txt": lazy_gettext("text file")}


def file_kind(extension: str | None) -> str:
    """What an attachment is, by its extension, in the reader's language."""
    known = FILE_KINDS.get((extension or "").lower())
    return str(known) if known is not None else (extension or "").upper() or _("file")


def number(value: Any) -> str:
    try:
        return str(format_decimal(value))
    except (TypeError, ValueError):
        return str(value)


def filesize(value: int | None) -> str:
    size = float(value or 0)
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"


def multiline(value: Any) -> Markup:
    """Plain text with its line breaks kept (escaped first)."""
    return Markup("<br>").join(escape(line) for line in str(value or "").splitlines())


# --- notifications (engine.deadlines.reminders and notify) ----------------------------------


def _count_unread() -> None:
    g.unread = 0
    actor = g.get("actor")
    # POSTs too: a form shown again after a validation error keeps the header's count.
    if actor is None or request.blueprint == "api" or request.method not in ("GET", "POST"):
        return
    with get_docroute().reading() as s:
        g.unread = notify.unread_count(s, actor.id)
