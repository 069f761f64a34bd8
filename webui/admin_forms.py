"""Administration of user-task forms: list, edit the JSON Schema, live preview, deploy.

A form is versioned like a diagram: saving stores the next version (identical content is
a no-op), and a case keeps the form versions it started with.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import WorkflowInvalid
from engine.definitions import forms
from engine.errors import Problem
from engine.queries import records

from . import get_docroute
from .admin_base import bp, max_upload, too_large_message
from .auth import current_actor

FORM_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@bp.get("/forms")
def forms_list() -> Any:
    with get_docroute().session() as s:
        rows: dict[str, list[dict[str, Any]]] = {}
        for form in records.newest_forms_first(s):
            rows.setdefault(form.key, []).append({
                "version": form.version, "deployed_by": form.deployed_by,
                "deployed_at": form.deployed_at, "sha256": form.sha256,
                "title": form.schema.get("title", "")})
    return render_template("admin/forms.html", forms=rows)


def _check(key: str, text: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    # A submitted <textarea> arrives with CRLF, the live preview's JSON with LF: one text.
    data = text.replace("\r\n", "\n").encode("utf-8")
    if len(data) > max_upload():
        return None, [Problem(f"{key}.json", None, "", too_large_message())]
    try:
        return forms.check_schema(f"{key}.json", data, max_upload()), []
    except WorkflowInvalid as error:
        return None, error.problems


def _editor(key: str, text: str, problems: list[Problem], versions: list[int],
            version: int | None, is_new: bool, status: int = 200) -> Any:
    return render_template("admin/form_editor.html", key=key, text=text, problems=problems,
                           versions=versions, version=version, is_new=is_new), status


@bp.route("/forms/new", methods=["GET", "POST"])
def form_new() -> Any:
    text = json.dumps({"type": "object", "title": "", "x-title-en": "", "required": [],
                       "properties": {}}, ensure_ascii=False, indent=2)
    if request.method == "POST":
        key = request.form.get("key", "").strip()
        if not FORM_KEY.match(key):
            flash(_("A form key is lower-case letters, digits and '_' and starts with a "
                    "letter, e.g. incoming_register."), "error")
            return _editor(key, request.form.get("schema", text), [], [], None, True, 422)
        with get_docroute().session() as s:
            exists = forms.exists(s, key)
        if exists:
            flash(_("The form %(key)s already exists; edit it instead.", key=key), "error")
            return _editor(key, request.form.get("schema", text), [], [], None, True, 422)
        return _save(key, request.form.get("schema", ""), [], True)
    return _editor("", text, [], [], None, True)


@bp.route("/forms/<key>", methods=["GET", "POST"])
def form_edit(key: str) -> Any:
    with get_docroute().session() as s:
        versions = sorted((f.version for f in records.newest_forms_first(s) if f.key == key),
                          reverse=True)
        if not versions:
            return redirect(url_for("admin.forms_list"))
        version = request.args.get("version", type=int) or versions[0]
        form = forms.get(s, key, version)
        text = json.dumps(form.schema, ensure_ascii=False, indent=2)
    if request.method == "POST":
        return _save(key, request.form.get("schema", ""), versions, False)
    return _editor(key, text, [], versions, version, False)


def _save(key: str, text: str, versions: list[int], is_new: bool) -> Any:
    schema, problems = _check(key, text)
    if schema is None:
        return _editor(key, text, problems, versions, None, is_new, 422)
    if request.form.get("action") == "check":
        flash(_("The form is valid."), "success")
        return _editor(key, text, [], versions, None, is_new)
    app = get_docroute()
    data = json.dumps(schema, ensure_ascii=False, indent=2).encode("utf-8")
    with app.session() as s:
        ((_key, version, status),) = app.deploy_forms(
            s, [forms.FormFile(key, f"{key}.json", data)], current_actor().username)
    if status == "unchanged":
        flash(_("%(key)s is unchanged (still version %(version)s).", key=key,
                version=version), "success")
    else:
        flash(_("Saved form %(key)s as version %(version)s. Cases already running keep "
                "the version they started with.", key=key, version=version), "success")
    return redirect(url_for("admin.form_edit", key=key))


@bp.post("/forms/preview")
def form_preview() -> Any:
    """JSON {"schema": text} -> {"html": the form as staff see it, "problems": [...]}."""
    body = request.get_json(silent=True) or {}
    text = body.get("schema") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return jsonify({"error": _("Send the schema as JSON text.")}), 400
    schema, problems = _check(str(body.get("key") or "form"), text)
    if schema is None:
        return jsonify({"html": "", "problems": [
            {"element": p.element, "line": p.line, "message": p.message} for p in problems]})
    with get_docroute().session() as s:
        resolved = forms.resolve(s, schema)
    html = render_template("admin/_form_preview.html", schema=resolved, values={}, errors={})
    return jsonify({"html": html, "problems": []})
