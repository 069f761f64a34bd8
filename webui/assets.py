"""Static files under content-hashed URLs, cached by browsers for a year.

Every ``url_for('static', filename=...)`` gets ``?v=`` and the first 12 hex digits of
the file's SHA-256, so a changed file has a new URL. A request whose ``v`` matches the
file as served is marked immutable for a year; any other (an old page asking for an
old version, or no ``v``) is served with ``no-cache``, so the browser revalidates it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

from flask import Flask, Response, current_app, request

YEAR = 365 * 24 * 3600
_hashes: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def init_app(app: Flask) -> None:
    app.url_defaults(_add_version)
    app.after_request(_cache_headers)


def version(filename: str) -> str | None:
    """The content hash of a static file (recomputed when its mtime changes), or None."""
    folder = current_app.static_folder
    if folder is None:
        return None
    path = os.path.join(folder, filename)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return None
    with _lock:
        cached = _hashes.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()[:12]
    with _lock:
        _hashes[path] = (mtime, digest)
    return digest


def _add_version(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint == "static" and "v" not in values and "filename" in values:
        digest = version(values["filename"])
        if digest is not None:
            values["v"] = digest


def _cache_headers(response: Response) -> Response:
    if request.endpoint != "static" or response.status_code not in (200, 304):
        return response
    filename = (request.view_args or {}).get("filename", "")
    wanted = request.args.get("v")
    if wanted is not None and wanted == version(filename):
        response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response
