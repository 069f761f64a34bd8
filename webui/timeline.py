"""A case's history as people read it: who did what, when, with which opinion.

Built from the case's events (engine.queries.timeline) and the forms' field titles, so the
task page's "earlier opinions" and the document page's timeline show the same record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.definitions import forms
from engine.queries import records, timeline

from .views import (
    choice_label,
    label,
    office_date,
    office_time,
    people_and_groups,
    reminder_label,
)

if TYPE_CHECKING:
    from engine.queries.views import CaseView

HIDDEN = {"case_id", "started_by", "document_id"}


@dataclass
class Entry:
    """One line of the timeline; ``fields`` are (label, shown value, is_opinion)."""

    at: datetime
    actor: str
    actor_name: str
    type: str
    task_name: str
    fields: list[tuple[str, str, bool]] = field(default_factory=list)
    note: str = ""
    send_back: bool = False  # its text is a 退回 reason, not an opinion (engine.registry.opinions)
    superseded: bool = False  # the step was done again after a send-back

    @property
    def opinions(self) -> list[tuple[str, str, bool]]:
        return [f for f in self.fields if f[2]]


def field_schemas(s: Session, pinned: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Field name -> schema, from a case's pinned forms (key -> version), then every
    latest form."""
    found: dict[str, dict[str, Any]] = {}
    for key, version in pinned.items():
        try:
            schema = forms.get(s, key, version).schema
        except Exception:  # a form removed by hand: fall back to the latest versions
            continue
        _collect(found, schema)
    for name, sub in global_field_schemas(s).items():
        found.setdefault(name, sub)
    return found


def global_field_schemas(s: Session) -> dict[str, dict[str, Any]]:
    """Field name -> schema over every deployed form (newest versions first)."""
    found: dict[str, dict[str, Any]] = {}
    for form in records.newest_forms_first(s):
        _collect(found, form.schema)
    return found


def shown_fields(s: Session, fields: dict[str, Any], skip: set[str]) -> list[tuple[str, str]]:
    """A document's other fields as (label, shown value), labelled like the forms."""
    schemas = global_field_schemas(s)
    names = user_names(s)
    shown = []
    for key, value in fields.items():
        if key in skip or key in HIDDEN or value in (None, "", [], {}) or _structured(value):
            continue
        sub = schemas.get(key, {})
        shown.append((label(sub) or key, _show(value, sub, names)))
    return shown


def _structured(value: Any) -> bool:
    # Records kept for the machine (a seal register entry, a list of them) have their own
    # page; printed here they would show internal keys to people.
    return isinstance(value, dict) or (isinstance(value, list)
                                       and any(isinstance(v, dict) for v in value))


def _collect(found: dict[str, dict[str, Any]], schema: dict[str, Any]) -> None:
    # A field is shown as the form that asks for it describes it, not as a later form
    # that only echoes it read-only.
    for name, sub in (schema.get("properties") or {}).items():
        if name not in found or (found[name].get("readOnly") and not sub.get("readOnly")):
            found[name] = sub


def user_names(s: Session) -> dict[str, str]:
    """Usernames and group keys -> display names (the user's language for groups)."""
    return people_and_groups(s)


def is_opinion(sub: dict[str, Any]) -> bool:
    # A read-only opinion is an earlier step's, echoed for the reader: not this step's.
    return sub.get("x-widget") == "opinion" and not sub.get("readOnly")


def shown_value(value: Any, sub: dict[str, Any], names: dict[str, str]) -> str:
    """A submitted value as people read it: names, choice labels, dates with the year."""
    return _show(value, sub, names)


def _show(value: Any, sub: dict[str, Any], names: dict[str, str]) -> str:
    if isinstance(value, bool):
        from flask_babel import gettext as _

        return _("Yes") if value else _("No")
    choices = sub.get("items", sub) if sub.get("type") == "array" else sub
    if choices.get("x-choices"):  # users, departments, groups, roles: show their names
        values = value if isinstance(value, list) else [value]
        return "、".join(names.get(str(v), str(v)) for v in values)
    if "enum" in choices:
        return choice_label(value, sub)
    if sub.get("format") == "date-time":
        return office_time(value, "short")
    if sub.get("format") == "date":
        return office_date(value)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{names.get(str(k), k)}: {v}" for k, v in value.items())
    return str(value)


def case_timeline(s: Session, case: CaseView) -> list[Entry]:
    """Every event of the case in order, with submitted fields labelled for the reader."""
    schemas = field_schemas(s, case.form_versions)
    names = user_names(s)
    entries = []
    for event in timeline.case_events(s, case.id):
        payload, data, own = event.payload, event.data, event.form
        shown = []
        if event.type == "completed":
            # In the order the form asks, not the stored (sorted) order.
            order = {name: i for i, name in enumerate(own)}
            for key, value in sorted(data.items(), key=lambda kv: order.get(kv[0], 999)):
                sub = own.get(key) or schemas.get(key, {})
                if key in HIDDEN or value in (None, "", []):
                    continue
                shown.append((label(sub) or key, _show(value, sub, names), is_opinion(sub)))
        note = ""
        if event.type == "delegated":
            note = names.get(str(payload.get("to")), str(payload.get("to") or ""))
        elif event.type == "incident":
            note = str(payload.get("message") or "")
        elif event.type == "chased":
            held = "、".join(str(t.get("name") or "") for t in payload.get("tasks") or [])
            note = "；".join(x for x in (held, str(payload.get("note") or "")) if x)
        elif event.type in ("reminder", "escalated"):
            note = reminder_label(str(payload.get("level") or ""))
        kind = "closed" if event.closes_case else event.type
        entries.append(Entry(event.at, event.actor, names.get(event.actor, event.actor),
                             kind, event.task_name, shown, note, send_back=event.send_back,
                             superseded=event.superseded))
    return entries


def opinion_entries(entries: list[Entry]) -> list[Entry]:
    """Only the completions that carried an opinion (批示, 拟办意见, 会签意见, …)."""
    return [e for e in entries if e.type == "completed" and e.opinions]
