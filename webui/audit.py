"""Auditors' pages: case search and CSV, a case's history, step-through replay, export.

Everything here is read-only (GET). ``init_app`` also installs the rule that makes the
auditor role read-only everywhere: any request that is not GET/HEAD/OPTIONS from an
auditor (who is not also an administrator) is refused with 403, whichever blueprint
would have handled it, except logging out and choosing a language.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    g,
    jsonify,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from engine import Actor, clock, history, runtime
from engine.history import audit, checkpoints, replay
from engine.history.audit import CaseSearch
from engine.queries import records
from engine.queries.views import CaseDetail

from . import get_docroute, timeline
from .auth import auditor_required, current_actor
from .timeline import user_names
from .views import (
    classification_label,
    en_name,
    is_english,
    kind_label,
    label,
    office_time,
    reminder_label,
    urgency_label,
)

bp = Blueprint("audit", __name__, url_prefix="/audit")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Session-only actions every signed-in person needs; they change no record.
AUDITOR_MAY_POST = frozenset({"auth.login", "auth.logout", "auth.set_language",
                              "checkpoints.verify"})  # verifying all history changes nothing
PAGE_SIZE = 50
HIDDEN_FIELDS = frozenset({"case_id", "started_by", "document_id"})


EVENT_LABELS = {
    "started": lazy_gettext("Case started"), "completed": lazy_gettext("Step completed"),
    "sent_back": lazy_gettext("Sent back"), "claimed": lazy_gettext("Claimed"),
    "unclaimed": lazy_gettext("Released"), "delegated": lazy_gettext("Delegated"),
    "reassigned": lazy_gettext("Reassigned by an administrator"),
    "timer_fired": lazy_gettext("Timer fired"), "reminder": lazy_gettext("Reminder sent"),
    "escalated": lazy_gettext("Escalated"), "incident": lazy_gettext("Incident"),
    "chased": lazy_gettext("Chased (催办)"),
    "retried": lazy_gettext("Retried"), "terminated": lazy_gettext("Case terminated"),
    "reclassified": lazy_gettext("Classification changed"),
    "suspended": lazy_gettext("Case suspended"), "resumed": lazy_gettext("Case resumed"),
    "migrated": lazy_gettext("Moved to a new process version"),
    "message": lazy_gettext("Message received"), "case_completed": lazy_gettext("Case closed"),
    "deadline": lazy_gettext("Deadline changed"),
    "linked": lazy_gettext("Linked case opened"),
}


def event_label(type_: str, payload: dict[str, Any] | None = None) -> str:
    """What an event is, in the user's language; unknown types show their raw name."""
    payload = payload or {}
    if type_ == "completed":
        if not payload.get("spec"):
            return str(EVENT_LABELS["case_completed"])
        if (payload.get("data") or {}).get("decision") == "return":
            return str(EVENT_LABELS["sent_back"])
    if type_ == "terminated" and "reason" not in payload:
        return str(EVENT_LABELS["terminated"])
    if type_.startswith("deadline_"):
        return f"{EVENT_LABELS['deadline']} ({type_[9:]})"
    if type_.startswith("message"):
        return str(EVENT_LABELS["message"])
    label = EVENT_LABELS.get(type_)
    return str(label) if label is not None else type_


def init_app(app: Flask) -> None:
    app.before_request(_auditors_read_only)
    app.jinja_env.globals["audit_event_label"] = event_label
    app.jinja_env.filters["audit_json"] = readable_json


def readable_json(value: Any) -> str:
    """A value as JSON with Chinese text left readable (Jinja's tojson escapes it)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _request_actor() -> Actor | None:
    actor = g.get("actor")
    if actor is not None or not request.path.startswith("/api/"):
        return actor
    # The API authenticates in its own blueprint hook, after this one; both share one
    # token lookup per request.
    from .api_base import bearer_actor

    return bearer_actor()


def _auditors_read_only() -> Any:
    if request.method in SAFE_METHODS or request.endpoint in AUDITOR_MAY_POST:
        return None
    actor = _request_actor()
    if actor is not None and actor.is_auditor and not actor.is_admin:
        abort(403)
    return None


# --- search --------------------------------------------------------------------------------


def _date_arg(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _search() -> CaseSearch:
    args = request.args
    status = args.get("status", "")
    try:
        page = max(1, int(args.get("page", "1")))
    except ValueError:
        page = 1
    return CaseSearch(q=args.get("q", "")[:200], doc_number=args.get("doc_number", "")[:128],
                      title=args.get("title", "")[:200],
                      department=args.get("department", "")[:64],
                      process=args.get("process", "")[:128],
                      status=status if status in audit.STATUSES else "",
                      date_from=_date_arg("from"), date_to=_date_arg("to"),
                      overdue=args.get("overdue") == "1",
                      limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)


@bp.get("/")
@auditor_required
def index() -> Any:
    from engine import definitions

    flt = _search()
    with get_docroute().session() as s:
        rows, total = audit.search_cases(s, current_actor(), flt)
        names = user_names(s)  # group keys shown as the groups' names
        processes = definitions.latest_names(s)
        departments = audit.departments(s, current_actor())
    page = flt.offset // PAGE_SIZE + 1
    return render_template("audit/index.html", rows=rows, total=total, flt=flt, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)), processes=processes,
                           departments=departments, statuses=audit.STATUSES, names=names,
                           args=request.args.to_dict())


@bp.get("/cases.csv")
@auditor_required
def export_csv() -> Response:
    flt = _search()
    flt = CaseSearch(**{**flt.__dict__, "limit": 100_000, "offset": 0})
    with get_docroute().session() as s:
        rows, _total = audit.search_cases(s, current_actor(), flt)
    headers = [_("Case"), _("Document number"), _("Title"), _("Department"), _("Process"),
               _("Version"), _("Status"), _("Classification"), _("Started by"),
               _("Started"), _("Ended"), _("Overdue")]
    body = audit.cases_csv(rows, headers)
    return Response(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": "attachment; filename=docroute-cases.csv"})


# --- one case ------------------------------------------------------------------------------


def _case(s: Any, instance_id: int) -> CaseDetail:
    return records.case_detail(s, current_actor(), instance_id)  # NotFound above clearance


def _check_case(s: Any, instance_id: int) -> None:
    """NotFound unless the auditor may see the case (``_case`` without reading it)."""
    runtime.get_instance(s, instance_id, current_actor())


@bp.get("/cases/<int:instance_id>")
@auditor_required
def case(instance_id: int) -> Any:
    with get_docroute().session() as s:
        detail = _case(s, instance_id)
        events = replay.case_event_rows(s, instance_id)
        names = user_names(s)
        check = audit.verify_case(s, instance_id, checkpoints.pins_for(
            s, history.case_chain(instance_id))) if request.args.get("verify") else None
        cache: dict[Any, Any] = {"english": is_english(),
                                 "schemas": timeline.field_schemas(
                                     s, detail.case.form_versions)}
        rows = [_event_row(e, names, cache) for e in events]
        context = {"instance": detail.case, "document": detail.document, "rows": rows,
                   "check": check, "final_hash": events[-1].hash if events else "", "names": names}
        return render_template("audit/case.html", **context)


def _short_time(value: datetime, english: bool) -> str:
    """views.office_time(value, "short") without Babel's per-call cost (1,000-row pages)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.UTC)
    local = value.astimezone(clock.OFFICE_TZ)
    # The same shape as views.office_time(..., "short"): with the year, in both languages.
    if english:
        return f"{MONTHS[local.month - 1]} {local.day}, {local.year} {local:%H:%M}"
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _event_row(event: Any, names: dict[str, str], cache: dict[Any, Any]) -> dict[str, Any]:
    """One history line; ``cache`` keeps translated names and labels for the request."""
    payload = json.loads(event.payload)
    step = event.task_name or ""
    if step and ("step", step) not in cache:
        cache["step", step] = en_name(step)
    kind = replay.classify(event.type, payload, event.task_id)
    variant = (event.type, kind, (payload.get("data") or {}).get("decision") == "return"
               if isinstance(payload.get("data"), dict) else False)
    if variant not in cache:
        cache[variant] = event_label(event.type, payload)
    return {"seq": event.seq, "type": event.type, "actor": event.actor,
            "actor_name": names.get(event.actor, event.actor), "at": event.at,
            "task_name": event.task_name, "step": cache.get(("step", step), ""),
            "payload": payload,
            "reason": payload.get("reason"),
            "submitted": _submitted(payload.get("data"), names, cache),
            "details": _details(event.type, payload, names),
            "kind": kind, "label": cache[variant],
            "time": _short_time(event.at, cache["english"])}


def _shown(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k not in HIDDEN_FIELDS}


def _submitted(data: Any, names: dict[str, str], cache: dict[Any, Any]
               ) -> list[tuple[str, str]]:
    """Submitted values labelled like their form, in the reader's language."""
    out = []
    for key, value in _shown(data).items():
        raw = ("submitted", key, json.dumps(value, sort_keys=True, default=str))
        if raw not in cache:
            label_, text = _labelled(key, value, cache["schemas"].get(key, {}), names)
            cache[raw] = (label_, text)
        out.append(cache[raw])
    return out


def _details(type_: str, payload: dict[str, Any], names: dict[str, str]
             ) -> list[tuple[str, str]]:
    """The event's own fields (not the submitted data, shown separately) as label/value."""
    skip = {"data", "services", "reason", "spec", "ordinal"}
    out = []
    for key, value in payload.items():
        if key in skip or value in (None, "", [], {}):
            continue
        if key in FIELD_LABELS:
            label_, text = _labelled(key, value, {}, names)
            out.append((label_, text))
            continue
        out.append((key, value if isinstance(value, str)
                    else json.dumps(value, ensure_ascii=False, default=str)))
    for s in payload.get("services") or []:
        out.append((f"service {s.get('service')}",
                    json.dumps(s.get("result"), ensure_ascii=False, default=str)))
    return out


@bp.get("/cases/<int:instance_id>/frames.json")
@auditor_required
def frames(instance_id: int) -> Any:
    """Every step's view at once, so the slider needs no further request."""
    with get_docroute().session() as s:
        _check_case(s, instance_id)
        rows = replay.case_event_rows(s, instance_id)
        # Replay is a function of the events alone: a digest of every stored field of every
        # event names the result (a direct edit of any row misses the cache).
        digest = hashlib.sha256()
        for row in rows:
            digest.update("\x1f".join(str(v) for v in row).encode("utf-8"))
        key = (str(get_docroute().engine.url), instance_id, digest.hexdigest(), is_english())
        body = _FRAMES.get(key)
        if body is None:
            result = replay.replay(s, instance_id, events=rows)
            names = user_names(s)
            used = sorted({f.definition_id for f in result.frames})
            xml = {str(d): x for d, x in records.definition_xml(s, used).items()}
            body = {
                "instance_id": instance_id, "events": result.events, "error": result.error,
                "unknown_types": result.unknown_types, "definitions": xml,
                "frames": [{**f.as_json(), "actor_name": names.get(f.actor, f.actor)}
                           for f in result.frames],
            }
            _FRAMES.put(key, body)
        shown = _labelled_frames(s, instance_id, body["frames"])
    return jsonify({**body, "shown": shown})


def _labelled_frames(s: Any, instance_id: int, frames: list[dict[str, Any]]
                     ) -> list[dict[str, list[str]]]:
    """Each frame's case data as {name: [label, shown value]} in the reader's language,
    labelled like the forms (never a bare variable such as ``level: yellow``)."""
    instance = records.case(s, instance_id)
    schemas = timeline.field_schemas(s, instance.form_versions) if instance is not None else {}
    names = user_names(s)
    seen: dict[tuple[str, str], list[str]] = {}
    out = []
    for frame in frames:
        labelled = {}
        for key, value in (frame.get("data") or {}).items():
            if key in HIDDEN_FIELDS:
                continue
            raw = json.dumps(value, sort_keys=True, default=str)
            if (key, raw) not in seen:
                seen[key, raw] = _labelled(key, value, schemas.get(key, {}), names)
            labelled[key] = seen[key, raw]
        out.append(labelled)
    return out


def _labelled(key: str, value: Any, sub: dict[str, Any], names: dict[str, str]) -> list[str]:
    """[label, value] of one variable: as its form shows it, else as the office names it."""
    if sub:
        return [label(sub) or key, timeline.shown_value(value, sub, names)]
    known = FIELD_LABELS.get(key)
    shown = VALUE_LABELS.get(key)
    if key == "to" and isinstance(value, list):
        text = (", " if is_english() else "、").join(names.get(str(v), str(v)) for v in value)
    elif shown is not None and isinstance(value, str | int) and not isinstance(value, bool):
        text = shown(value)
    else:
        text = timeline.shown_value(value, {}, names)
    return [str(known) if known is not None else key, text or "—"]


FIELD_LABELS = {
    "classification": lazy_gettext("Classification"), "level": lazy_gettext("Reminder level"),
    "urgency": lazy_gettext("Urgency"), "title": lazy_gettext("Title"),
    "doc_number": lazy_gettext("Document number"), "decision": lazy_gettext("Decision"),
    "due_at": lazy_gettext("Due"), "kind": lazy_gettext("Document kind"),
    "to": lazy_gettext("Sent to"), "overdue_workdays": lazy_gettext("Working days overdue"),
    "definition": lazy_gettext("Process"), "version": lazy_gettext("Version"),
}
VALUE_LABELS: dict[str, Callable[[Any], str]] = {
    "classification": classification_label, "level": reminder_label,
    "urgency": lambda v: urgency_label(v) or str(_("Routine")), "kind": kind_label,
    "due_at": lambda v: office_time(v, "short"),
}


class _FrameCache:
    """The last few cases' frames, so reopening a long case does not replay it again."""

    def __init__(self, size: int = 16):
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: tuple[Any, ...], body: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = body
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_FRAMES = _FrameCache()


@bp.get("/cases/<int:instance_id>/export.json")
@auditor_required
def export_json(instance_id: int) -> Response:
    with get_docroute().session() as s:
        _check_case(s, instance_id)
        body = audit.case_export(s, instance_id)
    text = json.dumps(body, ensure_ascii=False, indent=1, default=str)
    return Response(text.encode("utf-8"), mimetype="application/json; charset=utf-8",
                    headers={"Content-Disposition":
                             f"attachment; filename=docroute-case-{instance_id}.json"})


@bp.get("/cases/<int:instance_id>/print")
@auditor_required
def printable(instance_id: int) -> Any:
    with get_docroute().session() as s:
        instance = records.visible_case(s, current_actor(), instance_id)
        body = audit.case_export(s, instance_id)
        names = user_names(s)
        return render_template("audit/print.html", instance=instance, export=body,
                               names=names, back=url_for("audit.case",
                                                         instance_id=instance_id))

