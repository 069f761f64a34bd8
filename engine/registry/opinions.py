"""Opinions in a case: whose they are, which were sent back, which no longer stand.

Forms echo earlier steps' opinions read-only (the 批示 form shows the 拟办意见), so the
submitted data of a step holds its own opinion and copies of others'. Only the fields a
step's form lets it write are that step's opinion. A step that sends the case back
(``decision`` or ``check_result`` = ``return``) writes a send-back note (退回意见), not an
opinion: it is nobody's 批示. When a case went back and a step was done again, that step's
earlier opinion is superseded by the new one.

The same rule decides what a form may be pre-filled with: a free-text field (opinion,
note) starts empty unless this very step wrote it before (a redo after a send-back), so
the archivist's 审查意见 never arrives holding the clerk's 初审意见.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.definitions import deployment as definitions
from engine.definitions import forms
from engine.definitions.bpmn import CAMUNDA_NS, parse_xml
from engine.errors import DocrouteError
from engine.history import chain as history
from engine.models import Event, Instance, Task

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
RETURN = "return"
# Fields whose value ``return`` sends the case back (forms/*.json).
DECISION_FIELDS = ("decision", "check_result")
FREE_TEXT_WIDGETS = ("opinion", "textarea")


@dataclass(frozen=True)
class Opinion:
    """One opinion written by one step: ``field`` of the step's form, as submitted."""

    seq: int
    spec: str
    task_name: str
    actor: str
    at: datetime
    field: str
    text: str
    send_back: bool = False  # a 退回 reason, not an opinion on the matter
    superseded: bool = False  # the step was done again after a send-back


def task_forms(session: Session, instance: Instance) -> dict[str, dict[str, Any]]:
    """User task id -> its form's schema, over the case's diagram and the ones it calls.

    The case's pinned form versions first; a form removed since falls back to its latest.
    """
    xmls = [instance.definition.xml]
    for definition_id in (instance.definition.dependencies or {}).values():
        try:
            xmls.append(definitions.get(session, int(definition_id)).xml)
        except (DocrouteError, TypeError, ValueError):
            continue
    pinned = instance.form_versions or {}
    found: dict[str, dict[str, Any]] = {}
    for xml in xmls:
        for task_id, key in _form_keys(xml).items():
            for version in (pinned.get(key), None):
                try:
                    found.setdefault(task_id, forms.get(session, key, version).schema)
                    break
                except DocrouteError:
                    continue
    return found


def _form_keys(xml: str) -> dict[str, str]:
    tree = parse_xml(xml.encode(), max_bytes=1 << 30)
    keys = {}
    for node in tree.getroot().iter(f"{{{BPMN_NS}}}userTask"):
        key = node.get(f"{{{CAMUNDA_NS}}}formKey")
        if not key:
            for prop in node.iter(f"{{{SPIFF_NS}}}property"):
                if prop.get("name") == "formKey":
                    key = prop.get("value")
        if key and node.get("id"):
            keys[node.get("id") or ""] = key
    return keys


def own_fields(schema: dict[str, Any], widgets: tuple[str, ...] = ("opinion",)) -> list[str]:
    """The fields of ``schema`` its step writes itself with one of ``widgets``."""
    return [name for name, sub in (schema.get("properties") or {}).items()
            if sub.get("x-widget") in widgets and not sub.get("readOnly")]


def is_send_back(data: dict[str, Any]) -> bool:
    return any(data.get(name) == RETURN for name in DECISION_FIELDS)


def completions(session: Session, instance: Instance
                ) -> list[tuple[Event, str, dict[str, Any]]]:
    """The case's completed user tasks in order: (event, task spec id, submitted data)."""
    found = []
    for event in history.case_events(session, instance.id):
        if event.type != "completed" or not event.task_id:
            continue
        payload = json.loads(event.payload)
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        found.append((event, str(payload.get("spec") or ""), data))
    return found


def case_opinions(session: Session, instance: Instance) -> list[Opinion]:
    """Every opinion and send-back note of the case, in order (see the module docstring)."""
    schemas = task_forms(session, instance)
    done = completions(session, instance)
    returns = [event.seq for event, _spec, data in done if is_send_back(data)]
    found = []
    for event, spec, data in done:
        schema = schemas.get(spec, {})
        send_back = is_send_back(data)
        names = own_fields(schema) or (own_fields(schema, FREE_TEXT_WIDGETS) if send_back
                                       else [])
        redone = any(seq > event.seq and any(
            later.seq > seq and later_spec == spec for later, later_spec, _d in done)
            for seq in returns)
        for name in names:
            text = data.get(name)
            if isinstance(text, str) and text.strip():
                found.append(Opinion(event.seq, spec, event.task_name or "", event.actor,
                                     event.at, name, text, send_back, redone and not send_back))
    return found


def prefill(session: Session, row: Task, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` for the task's form, without free text another step wrote.

    A field that this step's form lets it write as an opinion or a note starts empty
    unless this same step wrote it earlier in the case (a redo after a send-back).
    """
    instance = session.get(Instance, row.instance_id)
    if instance is None or not row.form_key:
        return data
    try:
        form = forms.get(session, row.form_key, (instance.form_versions or {}).get(row.form_key))
    except DocrouteError:
        return data
    free = [name for name in own_fields(form.schema, FREE_TEXT_WIDGETS) if name in data]
    if not free:
        return data
    writer: dict[str, str] = {}
    for _event, spec, done in completions(session, instance):
        for name in free:
            if name in done:
                writer[name] = spec
    return {k: v for k, v in data.items() if k not in free or writer.get(k, row.spec) == row.spec}
