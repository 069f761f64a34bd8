"""Signed checkpoints for auditors: the list, the public key, the export, and Verify.

Verify checks all history against the stored checkpoints and, when the auditor uploads
one, against the checkpoint file they exported earlier and kept. It changes nothing, so
auditors (read-only everywhere) may post it. Signing a checkpoint on demand is for
administrators; the worker signs one every ten minutes anyway.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import DocrouteError
from engine.history import audit, checkpoints, keys

from . import get_docroute
from .auth import auditor_required, current_actor

bp = Blueprint("checkpoints", __name__, url_prefix="/audit/checkpoints")
SHOWN = 50  # checkpoints listed; the export holds them all
PROBLEMS_SHOWN = 200


@bp.get("/")
@auditor_required
def index() -> Any:
    return _page()


def _page(report: audit.ChainReport | None = None, supplied: int = 0, status: int = 200) -> Any:
    docroute = get_docroute()
    with docroute.session() as s:
        rows = checkpoints.listing(s, SHOWN)
    body = render_template("audit/checkpoints.html", rows=rows, report=report,
                           supplied=supplied, key_id=docroute.keys.key_id,
                           problems=report.problems[:PROBLEMS_SHOWN] if report else [],
                           may_sign=current_actor().is_admin)
    return body, status


@bp.get("/public-key.pem")
@auditor_required
def public_key() -> Response:
    return Response(get_docroute().keys.public_pem, mimetype="application/x-pem-file",
                    headers={"Content-Disposition":
                             "attachment; filename=docroute-checkpoint-key.pem"})


@bp.get("/export.json")
@auditor_required
def export() -> Response:
    import json

    with get_docroute().session() as s:
        data = checkpoints.export(s)
    stamp = data["exported_at"][:10]
    return Response(json.dumps(data, ensure_ascii=False, indent=1),
                    mimetype="application/json",
                    headers={"Content-Disposition":
                             f"attachment; filename=docroute-checkpoints-{stamp}.json"})


@bp.post("/verify")
@auditor_required
def verify() -> Any:
    upload = request.files.get("checkpoints")
    supplied: list[checkpoints.Signed] = []
    public = None
    try:
        if upload is not None and upload.filename:
            supplied = checkpoints.parse_export(upload.read())
        key_upload = request.files.get("public_key")
        if key_upload is not None and key_upload.filename:
            public = keys.load_public_pem(key_upload.read())
    except (DocrouteError, keys.KeyProblem) as error:
        flash(str(error), "error")
        return _page(status=400)
    with audit.reading(get_docroute()) as s:
        report = checkpoints.verify(s, supplied=supplied, public=public)
    return _page(report, len(supplied))


@bp.post("/sign")
@auditor_required
def sign() -> Any:
    if not current_actor().is_admin:
        abort(403)
    with get_docroute().session() as s:
        row = checkpoints.write(s, force=True)
    if row is not None:
        flash(_("Checkpoint %(n)d signed.", n=row.number), "success")
    return redirect(url_for("checkpoints.index"))
