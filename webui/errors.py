"""Engine errors as pages (or JSON under /api): the error's sentence, never a traceback."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from engine import DocrouteError, FormInvalid, WorkflowInvalid


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_body(error: DocrouteError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": str(error)}
    if isinstance(error, FormInvalid):
        body["errors"] = error.errors
    if isinstance(error, WorkflowInvalid):
        body["problems"] = [p.__dict__ for p in error.problems]
    return body


def init_app(app: Flask) -> None:
    @app.errorhandler(DocrouteError)
    def docroute_error(error: DocrouteError) -> Any:
        if wants_json():
            return jsonify(error_body(error)), error.status
        return render_template("error.html", status=error.status, message=str(error)), \
            error.status

    @app.errorhandler(DataError)
    def data_error(error: DataError) -> Any:
        # The last line of defence: a value the database refuses (a number past its
        # columns' range) that no check before it caught. The transaction was rolled back.
        app.logger.warning("database refused a value: %s", error)
        message = _("A value in the request is out of range.")
        if wants_json():
            return jsonify({"error": message}), 422
        return render_template("error.html", status=422, message=message), 422

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Any:
        message = _("This form expired or was sent from elsewhere. Reload the page and "
                    "try again.")
        if wants_json():
            return jsonify({"error": message}), 400
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        messages = {
            401: _("Please log in."),
            403: _("You do not have permission to do this."),
            404: _("This page does not exist, or you may not see it."),
            405: _("This action is not allowed here."),
            413: _("The upload is too large."),
            429: _("Too many attempts. Wait a minute and try again."),
        }
        message = messages.get(error.code or 500, error.description or "")
        if wants_json():
            return jsonify({"error": message}), error.code
        return render_template("error.html", status=error.code, message=message), error.code
