"""Hostile input gets a clear 4xx before it reaches a parser or the database, never a 500
(issue 12 items 13-15): JSON nesting and size, ids out of range, NUL characters, redirect
targets."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import Docroute
from engine.ids import MAX_ID, parse_id
from engine.org import identity
from engine.org.identity import Actor
from webui import create_app
from webui.safety import MAX_JSON_DEPTH, json_depth, safe_next


@pytest.fixture
def app(docroute: Docroute, people: dict[str, Actor]) -> Iterator[Flask]:
    yield create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": "test"}, docroute=docroute)


@pytest.fixture
def bearer(docroute: Docroute, people: dict[str, Actor]) -> dict[str, str]:
    with docroute.session() as s:
        return {"Authorization": f"Bearer {identity.create_token(s, 'admin')}"}


def logged_in(app: Flask, username: str = "admin", next_url: str = "") -> FlaskClient:
    client = app.test_client()
    url = "/login" + (f"?next={next_url}" if next_url else "")
    response = client.post(url, data={"username": username, "password": "password1"})
    assert response.status_code == 302
    return client


# --- JSON ----------------------------------------------------------------------------------


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert json_depth(b'"\\"[[["') == 0
    assert json_depth(b"[" * 100_000) == 100_000


@pytest.mark.parametrize("path", ["/api/v1/definitions/x/instances", "/api/v1/documents",
                                  "/api/v1/tasks/x/complete"])
def test_deep_json_refused_before_parsing_on_the_api(app: Flask, bearer: dict[str, str],
                                                     path: str) -> None:
    response = app.test_client().post(path, data=b"[" * 100_000, headers=bearer,
                                      content_type="application/json")
    assert response.status_code == 400
    assert f"deeper than {MAX_JSON_DEPTH}" in response.json["error"]


def test_deep_json_refused_on_the_modeller_save(app: Flask) -> None:
    client = logged_in(app)
    body = b'{"xml": ' + b"[" * 100_000 + b"}"
    response = client.post("/admin/processes/save", data=body, content_type="application/json")
    assert response.status_code == 400


def test_oversize_json_refused(app: Flask, bearer: dict[str, str]) -> None:
    body = b'{"data": {"title": "' + b"x" * (3 * 1024 * 1024) + b'"}}'
    response = app.test_client().post("/api/v1/documents", data=body, headers=bearer,
                                      content_type="application/json")
    assert response.status_code == 413


# --- ids -----------------------------------------------------------------------------------


def test_parse_id() -> None:
    assert [parse_id(v) for v in ("1", "²", "٣", "0", "-1", str(MAX_ID), str(MAX_ID + 1),
                                  "9" * 5000, True, 7, 2**63)] == [
        1, None, None, None, None, MAX_ID, None, None, None, 7, None]


def _int_routes(app: Flask) -> list[str]:
    rules = [r for r in app.url_map.iter_rules()
             if "GET" in (r.methods or ()) and any(
                 type(c).__name__ == "IdConverter" for c in r._converters.values())]
    assert len(rules) > 10
    return [r.rule for r in rules]


@pytest.mark.parametrize("bad", [str(MAX_ID + 1), "99999999999999999999999", "0", "٣"])
def test_out_of_range_ids_are_404_on_every_route(app: Flask, bearer: dict[str, str],
                                                 bad: str) -> None:
    client = logged_in(app)
    for rule in _int_routes(app):
        url = re.sub(r"<int:\w+>", bad, rule)
        url = re.sub(r"<(?:\w+:)?\w+>", "x", url)
        response = client.get(url, headers=bearer if url.startswith("/api/") else {})
        assert response.status_code == 404, (url, response.status_code)


def test_api_ids_in_bodies_out_of_range(app: Flask, bearer: dict[str, str]) -> None:
    response = app.test_client().post("/api/v1/definitions/x/instances", headers=bearer,
                                      json={"document_id": MAX_ID + 1})
    assert response.status_code == 404


def test_notification_ids_that_are_not_ascii_digits(app: Flask) -> None:
    client = logged_in(app)
    for value in ("²", "٣", "9" * 30, "-1"):
        assert client.post("/notifications/read", data={"id": value}).status_code == 302


# --- NUL -----------------------------------------------------------------------------------


def test_nul_in_a_query_or_form_is_400(app: Flask, bearer: dict[str, str]) -> None:
    client = logged_in(app)
    assert client.get("/documents?q=a%00b").status_code == 400
    assert client.get("/?q=%00").status_code == 400
    assert client.post("/notifications/read", data={"next": "/x\x00"}).status_code == 400
    api = app.test_client()
    assert api.get("/api/v1/documents?q=%00", headers=bearer).status_code == 400
    response = api.post("/api/v1/documents", headers=bearer,
                        json={"kind": "incoming", "title": "a\u0000b"})
    assert response.status_code == 400 and "NUL" in response.json["error"]


# --- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "safe"), [
    ("/documents/1", True), ("/tasks/abc?x=1", True),
    ("//evil.example", False), ("/\\evil.example", False), ("/\t/evil.example", False),
    ("/\r\nSet-Cookie: x=1", False), ("https://evil.example/", False), ("evil", False),
    ("/ /evil.example", False), ("", False), (None, False),
])
def test_safe_next(target: str | None, safe: bool) -> None:
    assert safe_next(target, "/fallback") == (target if safe else "/fallback")


@pytest.mark.parametrize("next_url", ["/%0d%0aX", "/%09/evil.example", "//evil.example",
                                      "/%5Cevil.example"])
def test_login_next_is_made_safe(app: Flask, next_url: str) -> None:
    client = app.test_client()
    response = client.post(f"/login?next={next_url}",
                           data={"username": "clerk", "password": "password1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_upload_next_is_made_safe(app: Flask) -> None:
    client = logged_in(app, "clerk")
    response = client.post("/documents/1/attachments", data={"next": "/\t/evil.example"})
    assert response.status_code in (302, 404)
    assert "evil" not in response.headers.get("Location", "")


# --- CSV cells and text attachments --------------------------------------------------------


def test_every_csv_text_cell_is_kept_from_being_a_formula() -> None:
    from datetime import UTC, datetime

    from engine.history import audit

    row = audit.CaseRow(1, "=HYPERLINK(\"http://evil\")", "+深鹏办〔2026〕1号", "@SUM(A1)",
                        "p", "-cmd|' /C calc'!A0", 1, "\t=1", 0, "=x",
                        datetime(2026, 3, 2, tzinfo=UTC), None, False)
    body = audit.cases_csv([row]).decode("utf-8-sig").splitlines()[1]
    cells = body.split(",")
    for cell in cells:
        assert cell.lstrip('"')[:1] not in ("=", "+", "-", "@", "\t"), body


def test_txt_markup_anywhere_in_the_file_is_refused(tmp_path: object) -> None:
    import io
    from pathlib import Path

    from engine.registry.attachments import CHUNK, AttachmentRefused, Limits, store

    limits = Limits(Path(str(tmp_path)), 10 * 1024 * 1024)
    plain = "会议纪要\n".encode() * 50_000
    assert store(limits, "纪要.txt", io.BytesIO(plain)).content_type.startswith("text/plain")
    for evil in (b"<script>alert(1)</script>", b"<svg onload=alert(1)>", b"\x00"):
        with pytest.raises(AttachmentRefused):
            store(limits, "纪要.txt", io.BytesIO(plain + evil + plain))
    # A tag cut at a chunk boundary is still found.
    cut = b"a" * (CHUNK - 3) + b"<script>"
    with pytest.raises(AttachmentRefused):
        store(limits, "纪要.txt", io.BytesIO(cut))
