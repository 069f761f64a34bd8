"""A case's history as people read it: who did what, when, with which opinion.

Built from the hash-chained events (engine.history) and the forms' field titles, so the
task page's "earlier opinions" and the document page's timeline show the same record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import forms, history
from engine.models import Form, Instance, User

from .views import choice_label, label

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

    @property
    def opinions(self) -> list[tuple[str, str, bool]]:
        return [f for f in self.fields if f[2]]


def field_schemas(s: Session, instance: Instance) -> dict[str, dict[str, Any]]:
    """Field name -> schema, from the case's pinned forms, then every latest form."""
    found: dict[str, dict[str, Any]] = {}
    pinned = instance.form_versions or {}
    for key, version in pinned.items():
        try:
            schema = forms.get(s, key, version).schema
        except Exception:  # a form removed by hand: fall back to the latest versions
            continue
        for name, sub in (schema.get("properties") or {}).items():
            found.setdefault(name, sub)
    for form in s.scalars(select(Form).order_by(Form.key, Form.version.desc())):
        for name, sub in (form.schema.get("properties") or {}).items():
            found.setdefault(name, sub)
    return found


def user_names(s: Session) -> dict[str, str]:
    return {u: n for u, n in s.execute(select(User.username, User.name))}


def is_opinion(sub: dict[str, Any]) -> bool:
    return sub.get("x-widget") == "opinion"


def _show(value: Any, sub: dict[str, Any], names: dict[str, str]) -> str:
    if isinstance(value, bool):
        from flask_babel import gettext as _

        return _("Yes") if value else _("No")
    choices = sub.get("items", sub) if sub.get("type") == "array" else sub
    if choices.get("x-choices", "").startswith("users"):
        values = value if isinstance(value, list) else [value]
        return "、".join(names.get(str(v), str(v)) for v in values)
    if "enum" in choices:
        return choice_label(value, sub)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{names.get(str(k), k)}: {v}" for k, v in value.items())
    return str(value)


def case_timeline(s: Session, instance: Instance) -> list[Entry]:
    """Every event of the case in order, with submitted fields labelled for the reader."""
    schemas = field_schemas(s, instance)
    names = user_names(s)
    entries = []
    for event in history.case_events(s, instance.id):
        payload = json.loads(event.payload)
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        shown = []
        if event.type == "completed":
            for key, value in data.items():
                sub = schemas.get(key, {})
                if key in HIDDEN or value in (None, "", []) or sub.get("readOnly"):
                    continue
                shown.append((label(sub) or key, _show(value, sub, names), is_opinion(sub)))
        note = ""
        if event.type == "delegated":
            note = names.get(str(payload.get("to")), str(payload.get("to") or ""))
        elif event.type == "incident":
            note = str(payload.get("message") or "")
        entries.append(Entry(event.at, event.actor, names.get(event.actor, event.actor),
                             event.type, event.task_name or "", shown, note))
    return entries


def opinions(entries: list[Entry]) -> list[Entry]:
    """Only the completions that carried an opinion (批示, 拟办意见, 会签意见, …)."""
    return [e for e in entries if e.type == "completed" and e.opinions]
