"""The registration forms for a new incoming document and a new outgoing draft.

Field names match the shipped forms and engine/kinds.py (``source_org``, ``issued_on``…),
so the started case's first tasks find them filled in. Titles follow DOMAIN.md §7.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine import Actor, FormInvalid, runtime
from engine.deadlines import workcalendar
from engine.definitions import forms
from engine.org import identity
from engine.registry import documents

if TYPE_CHECKING:
    from engine.models import Document

DOC_TYPES = ["决议", "决定", "命令", "公报", "公告", "通告", "意见", "通知", "通报", "报告",
             "请示", "批复", "议案", "函", "纪要"]
DOC_TYPES_EN = ["Resolution", "Decision", "Order", "Communiqué", "Announcement",
                "Public notice", "Opinions", "Notice", "Circular", "Report",
                "Request for instructions", "Reply", "Motion", "Letter", "Minutes"]


def startable_kinds(s: Session, actor: Actor) -> set[str]:
    """The registration forms this person may use: a button for anything else would 403."""
    return {kind for kind, (_schema, key) in FORMS.items()
            if runtime.may_start_key(s, actor, key)}


def _text(zh: str, en: str, max_length: int = 200, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "title": zh, "x-title-en": en, "maxLength": max_length, **extra}


COMMON: dict[str, dict[str, Any]] = {
    "title": _text("标题", "Title", minLength=1),
    "doc_type": {"type": "string", "title": "文种", "x-title-en": "Document type",
                 "enum": DOC_TYPES, "x-enum-labels": DOC_TYPES, "x-enum-labels-en": DOC_TYPES_EN},
    "classification": {
        "type": "string", "title": "密级", "x-title-en": "Classification",
        "enum": ["none", "confidential", "secret", "top_secret"],
        "x-enum-labels": ["非密", "秘密", "机密", "绝密"],
        "x-enum-labels-en": ["Unclassified", "Confidential", "Secret", "Top secret"],
        "description": "涉密公文不得在本系统流转正文，仅登记元数据。",
        "x-description-en": "Classified bodies never travel through this system; "
                            "register metadata only."},
    "urgency": {"type": "string", "title": "紧急程度", "x-title-en": "Urgency",
                "enum": ["", "加急", "特急"], "x-enum-labels": ["平件", "加急", "特急"],
                "x-enum-labels-en": ["Routine", "Urgent", "Extra urgent"], "x-widget": "radio"},
}

INCOMING: dict[str, Any] = {"type": "object", "properties": {
    "title": COMMON["title"],
    "source_org": _text("来文机关", "Sending organ", 100, minLength=1),
    "source_number": _text("来文字号", "Sender's document number", 50,
                           pattern="^[\\u4e00-\\u9fa5]+〔\\d{4}〕[1-9]\\d*号$",
                           examples=["深府〔2022〕16号"],
                           description="如 深府〔2022〕16号",
                           **{"x-description-en": "e.g. 深府〔2022〕16号"}),
    "doc_type": COMMON["doc_type"],
    "issued_on": {"type": "string", "format": "date", "title": "成文日期",
                  "x-title-en": "Date of issue"},
    "received_at": {"type": "string", "format": "date-time", "title": "收到时间",
                    "x-title-en": "Received at"},
    "copies": {"type": "integer", "minimum": 1, "maximum": 9999, "title": "份数",
               "x-title-en": "Copies"},
    "urgency": COMMON["urgency"],
    "classification": COMMON["classification"],
    "summary": _text("内容摘要", "Summary", 2000, **{"x-widget": "textarea"}),
}, "required": ["title", "source_org", "doc_type", "received_at", "copies", "urgency",
                "classification"]}

OUTGOING: dict[str, Any] = {"type": "object", "properties": {
    "title": COMMON["title"],
    "doc_type": COMMON["doc_type"],
    "urgency": COMMON["urgency"],
    "classification": COMMON["classification"],
    "summary": _text("内容摘要", "Summary", 2000, **{"x-widget": "textarea"}),
}, "required": ["title", "doc_type", "urgency", "classification"]}

# kind -> (registration schema, process started for it)
FORMS: dict[str, tuple[dict[str, Any], str]] = {
    "incoming": (INCOMING, "incoming_document"),
    "outgoing": (OUTGOING, "outgoing_document"),
}
COLUMNS = ("title", "doc_type", "urgency")


def create_document(s: Session, actor: Actor, kind: str, schema: dict[str, Any],
                    data: dict[str, Any]) -> Document:
    """Validate the registration and store the document (engine.registry.documents).

    Raises FormInvalid with one message per field.
    """
    clean = forms.validate(schema, data, workcalendar.of(s))
    if identity.clearance_level(clean.get("classification") or "none") > actor.clearance:
        raise FormInvalid({"classification": _("Your clearance is lower than this "
                                               "classification: ask a colleague who is "
                                               "cleared to register it.")})
    return documents.create_document(s, actor, kind, clean)

