"""A case's history as its pages read it: each event with what it carried, the form of
the step that submitted it, and whether it was a send-back or was done again after one.

Read from the hash-chained events (``engine.history``) and the case's pinned forms
(``engine.registry.opinions``); labels and the reader's language are the web layer's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.history import chain as history
from engine.models import Instance
from engine.registry import opinions


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One event of a case. ``data`` is what a completion submitted ({} otherwise);
    ``form`` the properties of that step's own form, in the form's order."""

    seq: int
    at: datetime
    actor: str
    type: str
    task_id: str | None
    task_name: str
    payload: dict[str, Any]
    data: dict[str, Any]
    form: dict[str, Any]
    send_back: bool  # a 退回: its text is a reason, not an opinion on the matter
    superseded: bool  # the step was done again after a send-back

    @property
    def closes_case(self) -> bool:
        """The completion that ended the case (no task of its own)."""
        return self.type == "completed" and not self.task_id


def case_events(session: Session, instance_id: int) -> list[TimelineEvent]:
    """Every event of the case in order (the caller has applied the visibility rule)."""
    instance = session.get_one(Instance, instance_id)
    by_task = opinions.task_forms(session, instance)
    superseded = {o.seq for o in opinions.case_opinions(session, instance) if o.superseded}
    found = []
    for event in history.case_events(session, instance_id):
        payload = json.loads(event.payload)
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        form = (by_task.get(str(payload.get("spec") or "")) or {}).get("properties") or {}
        found.append(TimelineEvent(
            seq=event.seq, at=event.at, actor=event.actor, type=event.type,
            task_id=event.task_id, task_name=event.task_name or "", payload=payload,
            data=data, form=dict(form),
            send_back=(event.type == "completed" and bool(event.task_id)
                       and opinions.is_send_back(data)),
            superseded=event.seq in superseded))
    return found
