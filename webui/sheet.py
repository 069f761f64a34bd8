"""The printable 办文单: 收文处理单 for incoming documents, 发文稿纸 for outgoing ones.

The 发文稿纸 carries the fields of GB/T 9704-2012 and the 条例 (Art. 9, 25): number,
classification, urgency, 主送/抄送, and 拟稿/核稿/签发 each with a name and a full date.
The 收文处理单 carries the receipt record, 拟办, 批示, the 承办 result and the 答复.
Opinions come from engine.registry.opinions: a send-back reason is printed as a send-back note,
never as an opinion, and an opinion superseded by a redo is left off.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.registry import opinions

from .timeline import field_schemas, shown_value
from .views import label, people_and_groups

if TYPE_CHECKING:
    from engine.models import Instance
    from engine.queries.views import DocumentView

# Opinions printed in their own box of the 发文稿纸, not in the list of other opinions.
SIGN_OFF, OFFICE_REVIEW = "signoff_opinion", "review_opinion"
# The steps of an incoming case whose results the 收文处理单 prints, by the fields they write.
HANDLING = ("handling_result", "handled_on")
REPLY = ("reply_content", "reply_method", "replied_on")


def _names(value: Any, names: dict[str, str]) -> str:
    values = value if isinstance(value, list) else [value] if value else []
    return "、".join(names.get(str(v), str(v)) for v in values)


def _signed(actor: str, at: datetime, names: dict[str, str]) -> dict[str, Any]:
    return {"name": names.get(actor, actor), "at": at}


def _latest_writes(s: Session, instance: Instance) -> dict[str, dict[str, Any]]:
    """Field -> {value, actor, at} of the last step that wrote it, over the case."""
    found: dict[str, dict[str, Any]] = {}
    for event, _spec, data in opinions.completions(s, instance):
        for key, value in data.items():
            found[key] = {"value": value, "actor": event.actor, "at": event.at}
    return found


def _opinion_rows(s: Session, instance: Instance, names: dict[str, str]
                  ) -> list[dict[str, Any]]:
    schemas = opinions.task_forms(s, instance)
    rows = []
    for o in opinions.case_opinions(s, instance):
        sub = (schemas.get(o.spec, {}).get("properties") or {}).get(o.field, {})
        rows.append({"label": label(sub) or o.field, "field": o.field, "text": o.text,
                     "task_name": o.task_name, "send_back": o.send_back,
                     "superseded": o.superseded, **_signed(o.actor, o.at, names)})
    return rows


def sheet_view(s: Session, document: DocumentView, cases: list[Instance]) -> dict[str, Any]:
    """Everything the sheet prints, as plain values."""
    names = people_and_groups(s)
    fields = dict(document.fields or {})
    rows: list[dict[str, Any]] = []
    writes: dict[str, dict[str, Any]] = {}
    for instance in cases:
        rows += _opinion_rows(s, instance, names)
        writes.update(_latest_writes(s, instance))
    standing = [r for r in rows if not r["send_back"] and not r["superseded"]]
    view: dict[str, Any] = {
        "send_backs": [r for r in rows if r["send_back"]],
        "recipients": _names(fields.get("principal_recipients"), names),
        "cc": _names(fields.get("cc_recipients"), names),
        "department": _names(fields.get("drafting_department"), names),
        "opinions": [r for r in standing if r["field"] not in (SIGN_OFF, OFFICE_REVIEW)
                     or document.kind != "outgoing"],
    }
    if document.kind == "outgoing":
        view.update(_outgoing(document, standing, writes, names))
    else:
        schemas: dict[str, dict[str, Any]] = {}
        for instance in cases:
            schemas.update(field_schemas(s, instance.form_versions or {}))
        view.update(_incoming(writes, names, schemas))
    return view


def _last(rows: list[dict[str, Any]], field: str) -> dict[str, Any] | None:
    found = [r for r in rows if r["field"] == field]
    return found[-1] if found else None


def _outgoing(document: DocumentView, standing: list[dict[str, Any]],
              writes: dict[str, dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    drafted = writes.get("drafting_department")
    drafter = (document.fields or {}).get("drafter") or names.get(document.created_by,
                                                                     document.created_by)
    return {
        "signoff": _last(standing, SIGN_OFF),
        "review": _last(standing, OFFICE_REVIEW),
        "drafted": {"name": drafter, "at": drafted["at"] if drafted else document.created_at},
    }


def _incoming(writes: dict[str, dict[str, Any]], names: dict[str, str],
              schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def step(keys: tuple[str, ...]) -> dict[str, Any] | None:
        first = writes.get(keys[0])
        if first is None:
            return None
        return {"values": {k: shown_value(writes[k]["value"], schemas.get(k, {}), names)
                           for k in keys if k in writes},
                **_signed(first["actor"], first["at"], names)}

    return {"handling": step(HANDLING), "reply": step(REPLY),
            "deadline": (writes.get("deadline") or {}).get("value")}
