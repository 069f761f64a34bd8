"""Administration: processes (list, edit in the modeler, upload, diff).

Only administrators reach anything under /admin: the blueprint (``admin_base``) refuses
everyone else before any view runs. JSON
endpoints use the session and the X-CSRFToken header. The other admin pages live in
``admin_forms``, ``admin_org``, ``admin_cases`` and ``admin_calendar``.
"""
from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from engine import WorkflowInvalid, definitions
from engine.definitions import SourceFile
from engine.definitions.diff import diff_xml
from engine.errors import Problem

from . import get_docroute
from .admin_base import bp, max_upload, read_upload, too_large_message
from .auth import current_actor

# --- processes ----------------------------------------------------------------------------


@bp.get("/")
def index() -> Any:
    return redirect(url_for("admin.processes"))


@bp.get("/processes")
def processes() -> Any:
    with get_docroute().session() as s:
        rows = definitions.list_all(s)
        grouped: dict[str, list[dict[str, Any]]] = {}
        for definition, running in rows:
            grouped.setdefault(definition.key, []).append({
                "id": definition.id, "key": definition.key, "version": definition.version,
                "name": definition.name, "filename": definition.filename,
                "sha256": definition.sha256, "deployed_by": definition.deployed_by,
                "deployed_at": definition.deployed_at, "running": running})
    return render_template("admin/processes.html", processes=grouped)


@bp.get("/processes/<int:definition_id>.bpmn")
def process_xml(definition_id: int) -> Any:
    with get_docroute().session() as s:
        definition = definitions.get(s, definition_id)
        xml, filename = definition.xml, definition.filename
    download = request.args.get("download") == "1"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if download else {}
    return Response(xml, mimetype="application/xml", headers=headers)


@bp.get("/processes/new")
def new_process() -> Any:
    return render_template("admin/editor.html", definition=None)


@bp.get("/processes/<int:definition_id>/edit")
def edit_process(definition_id: int) -> Any:
    with get_docroute().session() as s:
        definition = definitions.get(s, definition_id)
        latest = definitions.latest(s, definition.key)
        info = {"id": definition.id, "key": definition.key, "version": definition.version,
                "name": definition.name, "filename": definition.filename,
                "latest": latest.version if latest else definition.version}
    return render_template("admin/editor.html", definition=info)


def _problems_json(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"file": p.file, "line": p.line, "element": p.element, "message": p.message}
            for p in problems]


def _deploy(filename: str, data: bytes) -> list[dict[str, Any]]:
    app = get_docroute()
    with app.session() as s:
        results = app.deploy(s, [SourceFile(filename, data)], actor=current_actor().username)
    return [{"key": r.key, "version": r.version, "status": r.status} for r in results]


def _safe_filename(name: Any) -> str:
    name = PurePath(str(name or "")).name
    if not name.endswith((".bpmn", ".dmn")):
        name = (name or "diagram") + ".bpmn"
    return name


@bp.post("/processes/save")
def save_process() -> Any:
    """JSON {"xml", "filename"} -> 200 {"deployed": [...]} or 422 {"problems": [...]}.

    Runs exactly what ``docroute deploy`` runs; nothing is stored while any problem
    remains.
    """
    try:
        body = json.loads(request.get_data() or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        return jsonify({"error": _("Send the diagram as JSON: {\"xml\": ..., \"filename\": "
                                   "...}.")}), 400
    filename = _safe_filename(body.get("filename"))
    data = body["xml"].encode("utf-8")
    if len(data) > max_upload():
        return jsonify({"problems": [{"file": filename, "line": None, "element": "",
                                      "message": too_large_message()}]}), 422
    try:
        deployed = _deploy(filename, data)
    except WorkflowInvalid as error:
        return jsonify({"problems": _problems_json(error.problems)}), 422
    return jsonify({"deployed": deployed})


@bp.route("/processes/upload", methods=["GET", "POST"])
def upload_process() -> Any:
    problems: list[Problem] = []
    if request.method == "POST":
        upload = read_upload()
        if upload is not None:
            filename, data = upload
            try:
                deployed = _deploy(_safe_filename(filename), data)
            except WorkflowInvalid as error:
                problems = error.problems
            else:
                for item in deployed:
                    flash(_deployed_message(item), "success")
                return redirect(url_for("admin.processes"))
        return render_template("admin/upload.html", problems=problems, mb=_mb()), 422
    return render_template("admin/upload.html", problems=problems, mb=_mb())


def _mb() -> str:
    return f"{max_upload() / (1024 * 1024):g}"


def _deployed_message(item: dict[str, Any]) -> str:
    if item["status"] == "unchanged":
        return _("%(key)s is unchanged (still version %(version)s).", **item)
    return _("Deployed %(key)s version %(version)s.", **item)


@bp.get("/processes/<key>/diff")
def diff_process(key: str) -> Any:
    with get_docroute().session() as s:
        versions = [d for d, _n in definitions.list_all(s) if d.key == key]
        if not versions:
            abort(404)
        by_version = {d.version: d for d in versions}
        newest = max(by_version)
        new_v = request.args.get("to", type=int) or newest
        old_v = request.args.get("from", type=int) or max(new_v - 1, 1)
        if old_v not in by_version or new_v not in by_version:
            abort(404)
        old, new = by_version[old_v], by_version[new_v]
        changes = diff_xml(old.xml, new.xml)
        context = {"key": key, "name": new.name, "versions": sorted(by_version),
                   "old": {"id": old.id, "version": old.version},
                   "new": {"id": new.id, "version": new.version}}
    return render_template("admin/diff.html", changes=changes, **context)
