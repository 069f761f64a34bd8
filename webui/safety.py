"""Hostile input refused at the edge, once for every route: redirect targets, ids in URLs,
NUL characters, JSON nesting and size.

Each check answers a clear 4xx instead of letting the input reach a parser or the
database, where it would fail as a 500 (a RecursionError, a header injection, PostgreSQL's
refusal of NUL bytes or of ids past its int4 columns).
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter, Map

from engine.ids import MAX_ID

MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 2 * 1024 * 1024
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def safe_next(target: str | None, fallback: str) -> str:
    """``target`` when it is a path on this site, else ``fallback``.

    Refused: other hosts (``//evil``, ``/\\evil``), schemes, and any control character or
    whitespace, which browsers drop (``/\\t/evil.example`` becomes ``//evil.example``) or
    which would split the Location header (CR/LF).
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return fallback
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in target):
        return fallback
    return target


class IdConverter(IntegerConverter):
    """``<int:...>`` everywhere: ASCII digits, 1 to ``MAX_ID``; anything else is a 404."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text, brackets inside strings ignored.

    Runs at C speed (a regular expression and ``bytes.translate``), so it is safe on the
    input that would make ``json.loads`` recurse too deep.
    """
    outside = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", data)
    brackets = outside.translate(None, bytes(b for b in range(256) if b not in b"[]{}"))
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(accumulate(steps, initial=0))


def _has_nul(fields: Any) -> bool:
    """Whether any value (every value of repeated keys) or key of a MultiDict has a NUL."""
    return any((isinstance(key, str) and "\x00" in key)
               or any(isinstance(v, str) and "\x00" in v for v in values)
               for key, values in fields.lists())


def _json_limit() -> int | None:
    """The size limit when this request's body is JSON, else None."""
    if request.path == "/admin/processes/save":  # a diagram inside JSON, escaped
        from . import get_docroute

        return 2 * get_docroute().settings.max_diagram_bytes + 64 * 1024
    if request.path.startswith("/api/") and request.mimetype not in _FORM_TYPES:
        return MAX_JSON_BYTES
    return None


def _check_json(limit: int) -> None:
    if (request.content_length or 0) > limit:
        abort(413, f"a JSON body may have at most {limit // 1024} KB")
    data = request.get_data(cache=True)
    if len(data) > limit:
        abort(413, f"a JSON body may have at most {limit // 1024} KB")
    if b"\\u0000" in data or b"\x00" in data:
        abort(400, "the request contains a NUL character")
    if json_depth(data) > MAX_JSON_DEPTH:
        abort(400, f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")


def _check_request() -> None:
    if "\x00" in request.path or _has_nul(request.args):
        abort(400, "the address contains a NUL character")
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    limit = _json_limit()
    if limit is not None:
        _check_json(limit)
    elif request.mimetype in _FORM_TYPES and _has_nul(request.form):
        abort(400, "the form contains a NUL character")


def init_app(app: Flask) -> None:
    """Install the id converter (before any route is added) and the request checks."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(_check_request)
