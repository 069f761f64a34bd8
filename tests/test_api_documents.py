"""The document calls of the JSON API, through the Flask test client."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import Docroute, runtime
from engine.definitions import SourceFile
from engine.org import identity
from engine.org.identity import Actor
from webui import create_app
from webui.openapi import OPENAPI

DATA = Path(__file__).parent / "data"
PDF = b"%PDF-1.7\n" + b"1" * 3000 + b"\n%%EOF\n"
INCOMING = {"title": "关于做好森林防火工作的通知", "source_org": "深圳市森林防火指挥部",
            "doc_type": "通知", "urgency": "加急", "copies": 1}


@pytest.fixture
def app(docroute: Docroute, people: dict[str, Actor]) -> Iterator[Flask]:
    docroute.settings.attachments_dir.mkdir(parents=True, exist_ok=True)
    limited = replace(docroute.settings, max_attachment_bytes=200 * 1024)
    docroute.settings = limited
    yield create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "test"},
                     docroute=docroute)


@pytest.fixture
def tokens(docroute: Docroute, people: dict[str, Actor]) -> dict[str, dict[str, str]]:
    with docroute.session() as s:
        identity.add_user(s, "auditor", "审计员", "password1", is_auditor=True)
    with docroute.session() as s:
        return {name: {"Authorization": f"Bearer {identity.create_token(s, name)}"}
                for name in ("clerk", "rev1", "boss", "auditor")}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _create(client: FlaskClient, headers: dict[str, str], kind: str, fields: dict) -> dict:
    response = client.post("/api/v1/documents", json={"kind": kind, "fields": fields},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_list_get(client: FlaskClient, tokens: dict) -> None:
    created = _create(client, tokens["clerk"], "incoming", INCOMING)
    assert created["kind"] == "incoming" and created["status"] == "open"
    assert created["fields"]["source_org"] == "深圳市森林防火指挥部"
    assert created["attachments"] == [] and created["cases"] == []
    listed = client.get("/api/v1/documents?q=森林&kind=incoming&limit=10",
                        headers=tokens["clerk"]).get_json()
    assert [d["id"] for d in listed] == [created["id"]]
    assert client.get("/api/v1/documents?q=台风", headers=tokens["clerk"]).get_json() == []
    one = client.get(f"/api/v1/documents/{created['id']}", headers=tokens["clerk"])
    assert one.status_code == 200 and one.get_json()["title"] == INCOMING["title"]


def test_field_errors_are_422(client: FlaskClient, tokens: dict) -> None:
    response = client.post("/api/v1/documents", headers=tokens["clerk"], json={
        "kind": "outgoing", "fields": {
            "title": "关于X的请示", "doc_type": "请示",
            "principal_recipients": ["深圳市人民政府", "深圳市应急管理局"]}})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "The form has errors."
    assert body["errors"]["principal_recipients"].startswith("请示只能主送一个上级机关")
    bad = client.post("/api/v1/documents", headers=tokens["clerk"], json={"kind": 3})
    assert bad.status_code == 400


def test_auth_and_auditors(client: FlaskClient, tokens: dict) -> None:
    assert client.get("/api/v1/documents").status_code == 401
    response = client.post("/api/v1/documents", headers=tokens["auditor"],
                           json={"kind": "incoming", "fields": INCOMING})
    assert response.status_code == 403


def test_clearance_is_404_everywhere(client: FlaskClient, tokens: dict) -> None:
    secret = _create(client, tokens["rev1"], "incoming", {**INCOMING, "title": "机密 防火部署",
                                                          "classification": "secret"})
    url = f"/api/v1/documents/{secret['id']}"
    upload = client.post(f"{url}/attachments", headers=tokens["rev1"],
                         data={"file": (io.BytesIO(PDF), "部署.pdf")})
    assert upload.status_code == 201
    att = upload.get_json()
    assert client.get(url, headers=tokens["clerk"]).status_code == 404
    assert client.get(f"{url}/attachments/{att['id']}", headers=tokens["clerk"]).status_code \
        == 404
    refused = client.post(f"{url}/attachments", headers=tokens["clerk"],
                          data={"file": (io.BytesIO(PDF), "x.pdf")})
    assert refused.status_code == 404
    assert client.get("/api/v1/documents", headers=tokens["clerk"]).get_json() == []
    # Cleared but not involved: as unknown as to the uncleared (engine.org.access).
    assert client.get("/api/v1/documents", headers=tokens["boss"]).get_json() == []
    assert client.get(url, headers=tokens["boss"]).status_code == 404
    assert [d["id"] for d in client.get("/api/v1/documents",
                                        headers=tokens["rev1"]).get_json()] == [secret["id"]]
    download = client.get(f"{url}/attachments/{att['id']}", headers=tokens["rev1"])
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_attachments_upload_versions_and_limits(client: FlaskClient, tokens: dict) -> None:
    doc = _create(client, tokens["clerk"], "incoming", INCOMING)
    url = f"/api/v1/documents/{doc['id']}/attachments"
    first = client.post(url, headers=tokens["clerk"], data={"file": (io.BytesIO(PDF), "通知.pdf")})
    second = client.post(url, headers=tokens["clerk"],
                         data={"file": (io.BytesIO(PDF + b"v2"), "通知.pdf")})
    assert (first.status_code, second.status_code) == (201, 201)
    assert [first.get_json()["version"], second.get_json()["version"]] == [1, 2]
    detail = client.get(f"/api/v1/documents/{doc['id']}", headers=tokens["clerk"]).get_json()
    assert [(a["name"], a["version"]) for a in detail["attachments"]] == [("通知.pdf", 1),
                                                                         ("通知.pdf", 2)]
    assert client.get(f"{url}/{first.get_json()['id']}", headers=tokens["clerk"]).data == PDF

    too_big = client.post(url, headers=tokens["clerk"],
                          data={"file": (io.BytesIO(b"%PDF-" + b"x" * 300 * 1024), "big.pdf")})
    assert too_big.status_code == 413
    assert too_big.get_json()["error"] == ("附件超过 0.195312 MB 的上限 / the attachment is "
                                           "larger than the 0.195312 MB limit")
    exe = client.post(url, headers=tokens["clerk"], data={"file": (io.BytesIO(b"MZ.."), "a.exe")})
    assert exe.status_code == 422 and ".exe are not accepted" in exe.get_json()["error"]
    svg = client.post(url, headers=tokens["clerk"], data={"file": (io.BytesIO(b"<svg/>"),
                                                                   "a.svg")})
    assert svg.status_code == 422
    missing = client.post(url, headers=tokens["clerk"], data={})
    assert missing.status_code == 400
    assert client.get(f"{url}/999999", headers=tokens["clerk"]).status_code == 404


def test_linked_cases_and_patch(client: FlaskClient, tokens: dict, docroute: Docroute,
                                people: dict[str, Actor]) -> None:
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), "admin")
    with docroute.session() as s:
        name = "document_services.bpmn"
        docroute.deploy(s, [SourceFile(name, (DATA / "workflows" / name).read_bytes())],
                        actor="admin")
    doc = _create(client, tokens["clerk"], "outgoing", {
        "title": "关于开展湾长制巡查的通知", "doc_type": "通知",
        "principal_recipients": ["南澳办事处"]})
    with docroute.session() as s:
        case = runtime.start_case(s, people["admin"], "document_services", document_id=doc["id"])
        case_id = case.id
    detail = client.get(f"/api/v1/documents/{doc['id']}", headers=tokens["clerk"]).get_json()
    assert [c["id"] for c in detail["cases"]] == [case_id]
    assert detail["cases"][0]["definition_key"] == "document_services"
    assert detail["doc_number"] == "深鹏办〔2026〕1号" and detail["status"] == "in_progress"
    patched = client.patch(f"/api/v1/documents/{doc['id']}", headers=tokens["clerk"],
                           json={"fields": {"cc_recipients": ["深圳市大鹏新区管理委员会"]}})
    assert patched.status_code == 200
    assert patched.get_json()["fields"]["cc_recipients"] == ["深圳市大鹏新区管理委员会"]


def test_openapi_lists_document_paths(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/documents", "/documents/{document_id}", "/documents/{document_id}/attachments",
            "/documents/{document_id}/attachments/{attachment_id}"} <= set(paths)
    assert set(paths["/documents"]) == {"get", "post"}
    assert OPENAPI["components"]["schemas"]["Document"]["required"][0] == "id"
