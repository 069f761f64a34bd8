"""Document pages: register incoming / start outgoing, detail, attachments, 办文单.

Who sees a document is decided by ``engine.org.access`` alone (clearance and involvement), the
same rule as the API's; anything else answers 404, so nobody learns that a document exists.
A classification changes only through its own action (定密/解密,
``engine.registry.classification``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine import (
    Actor,
    DocrouteError,
    FormInvalid,
    NotAllowed,
    NotFound,
    clock,
    deadlines,
    runtime,
)
from engine.deadlines import chase
from engine.errors import Conflict
from engine.org import access, identity
from engine.queries import handled, records
from engine.registry import attachments as files
from engine.registry import classification, documents

from . import case_links, get_docroute
from .auth import current_actor, staff_required
from .diagram import diagram_state
from .formdata import friendly_errors, parse_form
from .registration import FORMS, create_document, startable_kinds
from .safety import safe_next
from .sheet import sheet_view
from .timeline import case_timeline, shown_fields
from .views import people_and_groups

if TYPE_CHECKING:
    from engine.models import Document
    from engine.queries.views import AttachmentView, CaseView, DocumentView

bp = Blueprint("documents", __name__)
# Shown by the summary card (documents/_parts.html); the detail page lists the rest.
SUMMARY_FIELDS = {"receipt_number", "source_org", "source_number", "issued_on", "received_at",
                  "copies", "summary", "title", "doc_type", "urgency", "classification"}


# --- who sees what --------------------------------------------------------------------------


def get_document(s: Session, actor: Actor, document_id: int) -> Document:
    """The document row if the actor may see it, for a write that takes the row (attach,
    download); 404 otherwise (no existence leak)."""
    try:
        return documents.get_document(s, actor, document_id)
    except NotFound:
        abort(404)


def visible_document(s: Session, actor: Actor, document_id: int) -> DocumentView:
    """The document as plain values (the API's document call reads the same); 404 unless
    the actor may see it."""
    try:
        return documents.visible_document(s, actor, document_id)
    except NotFound:
        abort(404)


def document_view(document: DocumentView | None) -> dict[str, Any] | None:
    """Plain values of a document for templates (no ORM objects while rendering)."""
    if document is None:
        return None
    return {"id": document.id, "kind": document.kind, "title": document.title,
            "doc_number": document.doc_number, "doc_type": document.doc_type,
            "classification": document.classification, "urgency": document.urgency,
            "status": document.status, "fields": dict(document.fields),
            "created_by": document.created_by, "created_at": document.created_at}


def attachment_views(s: Session, document_id: int | None) -> list[dict[str, Any]]:
    """Attachments grouped by name, newest version first within each name."""
    if document_id is None:
        return []
    groups: dict[str, list[AttachmentView]] = {}
    for row in files.list_for(s, document_id):
        groups.setdefault(row.name, []).append(row)
    return [{"name": name, "versions": [
        {"id": r.id, "version": r.version, "size": r.size, "uploaded_by": r.uploaded_by,
         "uploaded_at": r.uploaded_at, "preview": files.preview_kind(r.content_type),
         "extension": files.extension(r.name)} for r in reversed(rows)]}
        for name, rows in groups.items()]


def _limits() -> files.Limits:
    settings = get_docroute().settings
    return files.Limits(settings.attachments_dir, settings.max_attachment_bytes)


# --- list and registration ------------------------------------------------------------------


@bp.get("/documents")
def index() -> Any:
    actor = current_actor()
    q = request.args.get("q", "").strip()[:100]
    kind = request.args.get("kind", "")[:32]
    with get_docroute().session() as s:
        shown = [document_view(d) for d in records.visible_documents(s, actor, q=q, kind=kind)]
        steps = handled.open_steps(s, [d["id"] for d in shown if d])
        names = people_and_groups(s)
        for d in shown:
            if d is not None:
                d["holders"] = [(st.name, names.get(st.assignee, st.assignee) if st.assignee
                                 else "、".join(names.get(g, g) for g in st.groups))
                                for st in steps.get(d["id"], [])]
                d["due_at"] = next((st.due_at for st in steps.get(d["id"], []) if st.due_at),
                                   None)
        startable = startable_kinds(s, actor)
    return render_template("documents/index.html", documents=shown, q=q, kind=kind,
                           startable=startable)


@bp.route("/documents/new/<kind>", methods=["GET", "POST"])
@staff_required
def new(kind: str) -> Any:
    if kind not in FORMS:
        abort(404)
    schema, process_key = FORMS[kind]
    values: dict[str, Any] = {"received_at": clock.now().isoformat(), "copies": 1,
                              "classification": "none", "urgency": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = parse_form(schema, request.form)
        values = dict(data)
        try:
            with get_docroute().session() as s:
                document = create_document(s, current_actor(), kind, schema, data)
                instance = runtime.start_case(s, current_actor(), process_key,
                                              document_id=document.id)
                first = _first_task(s, current_actor(), instance.id)
                document_id = document.id
        except FormInvalid as error:
            errors = friendly_errors(schema, data, error.errors)
            flash(_("Please correct the marked fields."), "error")
        except NotAllowed:
            flash(_("You may not start this kind of case."), "error")
        except NotFound:
            flash(_("This process is not deployed yet. Ask an administrator."), "error")
        else:
            flash(_("Registered. The case has started."), "success")
            if first is not None:
                return redirect(url_for("tasks.task", task_id=first))
            return redirect(url_for("documents.detail", document_id=document_id))
    return render_template("documents/new.html", kind=kind, schema=schema, values=values,
                           errors=errors)


def _first_task(s: Session, actor: Actor, instance_id: int) -> str | None:
    task = records.first_task_for(s, actor, instance_id)
    return None if task is None else task.id


# --- detail ----------------------------------------------------------------------------------


def _case_view(s: Session, instance: CaseView) -> dict[str, Any]:
    names = people_and_groups(s)
    return {"id": instance.id, "status": instance.status, "title": instance.title,
            "process_key": instance.definition_key, "process_name": instance.definition_name,
            "version": instance.definition_version, "started_at": instance.started_at,
            "ended_at": instance.ended_at, "timeline": case_timeline(s, instance),
            "diagram": diagram_state(s, instance.id),
            "deadlines": deadlines.list_for_case(s, instance.id),
            **case_links.view(s, instance),
            "open_tasks": [{"id": t.id, "name": t.name, "due_at": t.due_at,
                            "due_provisional": t.due_provisional,
                            "who": names.get(t.assignee, t.assignee) if t.assignee else
                            "、".join(names.get(g, g) for g in t.candidate_groups)}
                           for t in records.case_tasks(s, instance.id)]}


@bp.get("/documents/<int:document_id>")
def detail(document_id: int) -> Any:
    actor = current_actor()
    with get_docroute().session() as s:
        document = visible_document(s, actor, document_id)
        cases = [_case_view(s, i) for i in records.document_cases(s, document_id)]
        for c in cases:
            c["may_chase"] = (c["status"] == "running" and bool(c["open_tasks"])
                              and chase.refusal(s, actor, c["id"]) is None)
        extra = shown_fields(s, dict(document.fields), SUMMARY_FIELDS)
        levels = [name for level, name in enumerate(identity.CLEARANCES)
                  if actor.may_see(level) and level != document.classification]
        return render_template("documents/detail.html", document=document_view(document),
                               attachments=attachment_views(s, document_id), cases=cases,
                               extra=extra, levels=levels,
                               may_reclassify=classification.may_reclassify(actor, document))


@bp.post("/documents/<int:document_id>/classification")
@staff_required
def reclassify(document_id: int) -> Any:
    """定密/解密: raise or lower the classification, with a reason."""
    actor = current_actor()
    try:
        with get_docroute().session() as s:
            classification.reclassify(s, actor, document_id, request.form.get("level", ""),
                                      request.form.get("reason", ""))
            visible = access.may_see_document(s, actor, document_id)
    except NotFound:
        abort(404)
    except NotAllowed:
        flash(_("Only a confidentiality officer, the person who set this classification or "
                "an administrator may change it."), "error")
    except FormInvalid as error:
        flash(_("The classification was not changed: %(why)s",
                why="; ".join(error.errors.values())), "error")
    else:
        flash(_("The classification has been changed and recorded in the history."),
              "success")
        if not visible:
            return redirect(url_for("documents.index"))
    return redirect(url_for("documents.detail", document_id=document_id))


@bp.post("/cases/<int:instance_id>/chase")
@staff_required
def chase_case(instance_id: int) -> Any:
    """催办: notify the holders of the case's open tasks (engine.deadlines.chase)."""
    actor = current_actor()
    try:
        with get_docroute().session() as s:
            result = chase.chase(s, actor, instance_id, request.form.get("note", ""))
            document_id = records.case_of_id(s, instance_id).document_id
    except NotFound:
        abort(404)
    except (NotAllowed, Conflict, DocrouteError) as error:
        flash(_("Not chased: %(why)s", why=str(error)), "error")
        return redirect(request.referrer or url_for("documents.index"))
    flash(_("Chased: %(count)d people were notified.", count=len(result.notified)), "success")
    if document_id is None:
        return redirect(url_for("documents.case", instance_id=instance_id))
    return redirect(url_for("documents.detail", document_id=document_id))


@bp.get("/cases/<int:instance_id>")
def case(instance_id: int) -> Any:
    actor = current_actor()
    with get_docroute().session() as s:
        try:
            instance = records.visible_case(s, actor, instance_id)  # engine.org.access's rule
        except NotFound:
            abort(404)
        if instance.document_id is not None:
            return redirect(url_for("documents.detail", document_id=instance.document_id))
        return render_template("documents/detail.html", document=None, attachments=[],
                               cases=[_case_view(s, instance)], extra=[])


@bp.get("/documents/<int:document_id>/sheet")
def sheet(document_id: int) -> Any:
    """The printable processing sheet (办文单)."""
    actor = current_actor()
    with get_docroute().session() as s:
        document = visible_document(s, actor, document_id)
        # The 办文单 reads each case's opinions and writes from its row.
        instances = records.document_case_rows(s, document_id)
        cases = [{"process_name": i.definition.name, "status": i.status,
                  "ended_at": i.ended_at} for i in instances]
        return render_template("documents/sheet.html", document=document_view(document),
                               attachments=attachment_views(s, document_id), cases=cases,
                               sheet=sheet_view(s, document, instances),
                               printed_at=clock.now())


# --- attachments --------------------------------------------------------------------------


@bp.post("/documents/<int:document_id>/attachments")
@staff_required
def upload(document_id: int) -> Any:
    actor = current_actor()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a file to upload."), "error")
        return redirect(url_for("documents.detail", document_id=document_id))
    try:
        with get_docroute().session() as s:
            document = get_document(s, actor, document_id)
            row = files.add(s, _limits(), actor, document, upload.filename, upload.stream,
                            request.content_length)
            name, version = row.name, row.version
    except files.AttachmentTooLarge:
        flash(_("The file is too large; the limit is %(limit)s MB.",
                limit=_limits().max_bytes // (1024 * 1024)), "error")
    except files.AttachmentRefused as error:
        flash(str(error), "error")
    except DocrouteError as error:
        flash(str(error), "error")
    else:
        flash(_("Uploaded %(name)s (version %(version)d).", name=name, version=version),
              "success")
    return redirect(safe_next(request.form.get("next"),
                              url_for("documents.detail", document_id=document_id)))


@bp.get("/documents/<int:document_id>/attachments/<int:attachment_id>")
def download(document_id: int, attachment_id: int) -> Any:
    return _send_attachment(document_id, attachment_id, inline=False)


@bp.get("/documents/<int:document_id>/attachments/<int:attachment_id>/view")
def view(document_id: int, attachment_id: int) -> Any:
    """The file itself for the page's inline preview (PDF, image); the same check as a
    download, and nothing a browser would run."""
    return _send_attachment(document_id, attachment_id, inline=True)


def _send_attachment(document_id: int, attachment_id: int, *, inline: bool) -> Any:
    actor = current_actor()
    with get_docroute().session() as s:
        document = get_document(s, actor, document_id)
        try:
            row, path = files.content_path(_limits(), s, document, attachment_id)
        except NotFound:
            abort(404)
        except files.AttachmentRefused as error:
            flash(str(error), "error")
            return redirect(url_for("documents.detail", document_id=document_id))
        name, content_type = row.name, row.content_type
    if not inline:
        return send_file(path, mimetype=content_type, as_attachment=True, download_name=name)
    if files.preview_kind(content_type) == "download":
        abort(404)
    response = send_file(path, mimetype=content_type, as_attachment=False,
                         download_name=name, conditional=True)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
