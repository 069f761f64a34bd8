"""The JSON API under /api/v1 with real tokens, on both backends; and the login page's
security (CSRF, redirect, rate limit)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import select

from engine import Docroute
from engine.clock import now
from engine.definitions import SourceFile
from engine.models import Document, Task
from engine.org import identity

DATA = Path(__file__).parent / "data"
REVIEW = DATA / "workflows" / "review.bpmn"
USERS = ("clerk", "rev1", "rev2", "boss", "admin", "auditor")


@pytest.fixture
def app(docroute: Docroute, people: dict) -> Flask:
    from webui import create_app

    with docroute.session() as s:
        identity.add_user(s, "auditor", "审计员", "password1", is_auditor=True,
                          clearance="secret")
        docroute.deploy_forms(s, docroute.form_files(), actor="test")
        docroute.deploy(s, [SourceFile("review.bpmn", REVIEW.read_bytes())], actor="test")
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret"}, docroute=docroute)


@pytest.fixture
def tokens(docroute: Docroute, app: Flask) -> dict[str, str]:
    with docroute.session() as s:
        return {name: identity.create_token(s, name) for name in USERS}


class Api:
    """A test client that speaks as one user."""

    def __init__(self, client: FlaskClient, token: str | None):
        self.client, self.token = client, token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self._headers())

    def post(self, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        if raw is not None:
            return self.client.post(f"/api/v1{path}", data=raw, headers=self._headers(),
                                    content_type="application/json")
        return self.client.post(f"/api/v1{path}", json=body, headers=self._headers())


@pytest.fixture
def as_user(app: Flask, tokens: dict[str, str]) -> Any:
    return lambda name: Api(app.test_client(), tokens.get(name, name))


def start(api: Api, data: dict[str, Any] | None = None) -> int:
    response = api.post("/definitions/review/instances", {"data": data or {"rounds": 0}})
    assert response.status_code == 201, response.json
    return response.json["id"]


def task_of(docroute: Docroute, case_id: int, spec: str) -> str:
    with docroute.session() as s:
        return s.scalars(select(Task.id).where(Task.instance_id == case_id,
                                               Task.spec == spec)).one()


def to_review(docroute: Docroute, as_user: Any) -> tuple[int, str]:
    """A case whose review task is open for the reviewers' group."""
    case = start(as_user("clerk"))
    draft = task_of(docroute, case, "draft")
    response = as_user("clerk").post(f"/tasks/{draft}/complete", {"data": {"title": "通知"}})
    assert response.status_code == 200, response.json
    return case, task_of(docroute, case, "review_task")


# --- authentication and the route list -----------------------------------------------------


def _api_rules(app: Flask) -> list[tuple[str, str]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                rules.append((rule.rule, method))
    return rules


def _sample(rule: str) -> str:
    return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", rule)


def test_every_call_needs_a_valid_token(app: Flask) -> None:
    client = app.test_client()
    checked = 0
    for rule, method in _api_rules(app):
        if rule.endswith("/openapi.json"):
            continue
        url = _sample(rule)
        for headers in ({}, {"Authorization": "Bearer drt_nope"}, {"Authorization": "Basic x"},
                        {"Authorization": "Bearer "}):
            response = client.open(url, method=method, headers=headers, json={})
            assert response.status_code == 401, (rule, method, headers)
            assert "error" in response.json
        checked += 1
    assert checked >= 9


def test_openapi_document_lists_every_route(app: Flask) -> None:
    response = app.test_client().get("/api/v1/openapi.json")  # public: no token
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"] == [{"url": "/api/v1"}]
    paths = document["paths"]
    for rule, method in _api_rules(app):
        if rule.endswith("/openapi.json"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.removeprefix("/api/v1"))
        assert path in paths, path
        assert method.lower() in paths[path], (path, method)
        for parameter in re.findall(r"{(\w+)}", path):
            declared = paths[path][method.lower()].get("parameters", []) + \
                paths[path].get("parameters", [])
            assert parameter in {p["name"] for p in declared}, (path, parameter)
    try:
        from openapi_spec_validator import validate
    except ImportError:  # optional: validated when the package is installed
        return
    validate(document)


# --- definitions and starting ----------------------------------------------------------------


def test_definitions_list(as_user: Any) -> None:
    response = as_user("clerk").get("/definitions")
    assert response.status_code == 200
    assert [(d["key"], d["version"], d["start_form"]) for d in response.json] == [
        ("review", 1, None)]
    assert as_user("auditor").get("/definitions").json == []  # auditors start nothing


def test_start_case(as_user: Any, docroute: Docroute) -> None:
    response = as_user("clerk").post("/definitions/review/instances",
                                     {"data": {"rounds": 0, "title": "关于开会的通知"}})
    assert response.status_code == 201
    body = response.json
    assert isinstance(body["id"], int) and body["status"] == "running"
    assert (body["definition_key"], body["definition_version"]) == ("review", 1)
    assert as_user("clerk").post("/definitions/nope/instances", {}).status_code == 404
    assert as_user("auditor").post("/definitions/review/instances", {}).status_code == 403
    bad = as_user("clerk").post("/definitions/review/instances", {"data": {"Bad-Name": 1}})
    assert bad.status_code == 422 and "Bad-Name" in bad.json["errors"]


START_FUZZ = [
    (b"not json", 400), (b"[1, 2]", 400), (b"\xff\xfe", 400), (b'"text"', 400),
    (b'{"data": [1]}', 422), (b'{"data": "x"}', 422), (b'{"document_id": "1"}', 400),
    (b'{"document_id": 1e400}', 400), (b'{"document_id": 99999999999999999999999}', 404),
    (b'{"document_id": -1}', 404),
    (b'{"data": {"rounds": 99999999999999999999999999999999}}', 201),
]


def test_start_never_500(as_user: Any) -> None:
    for raw, expected in START_FUZZ:
        response = as_user("clerk").post("/definitions/review/instances", raw=raw)
        assert response.status_code == expected, (raw, response.json)
        assert response.is_json and ("error" in response.json or "id" in response.json)


# --- instances and history -------------------------------------------------------------------


def test_instance_and_history_visibility(as_user: Any, docroute: Docroute) -> None:
    case, _ = to_review(docroute, as_user)
    for who, code in (("clerk", 200), ("rev2", 200), ("admin", 200), ("auditor", 200),
                      ("boss", 404)):
        assert as_user(who).get(f"/instances/{case}").status_code == code, who
        assert as_user(who).get(f"/instances/{case}/history").status_code == code, who
    body = as_user("clerk").get(f"/instances/{case}").json
    assert (body["id"], body["status"], body["definition_key"]) == (case, "running", "review")
    events = as_user("clerk").get(f"/instances/{case}/history").json
    assert isinstance(events, list)
    assert [e["type"] for e in events] == ["started", "completed"]
    assert as_user("admin").get("/instances/999999").status_code == 404
    assert as_user("admin").get("/instances/99999999999999999999999").status_code == 404
    assert as_user("admin").get("/instances/abc").status_code == 404


def test_secret_case_is_invisible_below_clearance(as_user: Any, docroute: Docroute) -> None:
    with docroute.session() as s:
        document = Document(kind="incoming", title="机密件", classification=2,
                            created_by="admin", created_at=now())
        s.add(document)
        s.flush()
        document_id = document.id
        # Only office staff hold tasks: this administrator also works as a clerk.
        admin_user = identity.get_user(s, "admin")
        admin_user.groups.append(identity.get_group(s, "clerks"))
    response = as_user("admin").post("/definitions/review/instances",
                                     {"data": {"rounds": 0}, "document_id": document_id})
    assert response.status_code == 201
    case = response.json["id"]
    draft = task_of(docroute, case, "draft")
    as_user("admin").post(f"/tasks/{draft}/complete", {"data": {"title": "机密件"}})
    review = task_of(docroute, case, "review_task")
    assert as_user("rev1").get(f"/tasks/{review}").status_code == 200
    for call in (lambda a: a.get(f"/tasks/{review}"),
                 lambda a: a.post(f"/tasks/{review}/claim"),
                 lambda a: a.post(f"/tasks/{review}/complete", {"data": {"decision": "approve"}}),
                 lambda a: a.get(f"/instances/{case}"),
                 lambda a: a.get(f"/instances/{case}/history")):
        assert call(as_user("rev2")).status_code == 404  # not 403: existence is not revealed
    assert review not in [t["id"] for t in as_user("rev2").get("/tasks").json]
    assert as_user("auditor").get(f"/instances/{case}").status_code == 200  # cleared: secret


# --- tasks ------------------------------------------------------------------------------------


def test_task_list_is_an_array_with_limit_and_offset(as_user: Any, docroute: Docroute) -> None:
    cases = [start(as_user("clerk")) for _ in range(3)]
    everything = as_user("clerk").get("/tasks").json
    assert isinstance(everything, list) and len(everything) == 3
    for field in ("id", "name", "instance_id", "form_key", "assignee", "candidate_groups",
                  "due_at", "urgency", "reminder_level"):
        assert field in everything[0]
    assert {t["instance_id"] for t in everything} == set(cases)
    page = as_user("clerk").get("/tasks?limit=2").json
    rest = as_user("clerk").get("/tasks?limit=2&offset=2").json
    assert len(page) == 2 and len(rest) == 1
    assert {t["id"] for t in page + rest} == {t["id"] for t in everything}
    assert as_user("clerk").get("/tasks?scope=mine").json == []
    assert len(as_user("clerk").get("/tasks?scope=group").json) == 3
    assert as_user("rev1").get("/tasks").json == []
    for query in ("scope=nobody", "limit=abc", "offset=-x"):
        response = as_user("clerk").get(f"/tasks?{query}")
        assert response.status_code == 400 and "error" in response.json
    assert len(as_user("clerk").get(f"/tasks?limit={10**30}").json) == 3


def _assert_complete_schema(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "x-choices" in node:
                assert isinstance(node.get("enum"), list), node
            for value in node.values():
                visit(value)

    visit(schema)


def test_get_task_includes_complete_form(as_user: Any, docroute: Docroute) -> None:
    case, review = to_review(docroute, as_user)
    response = as_user("rev1").get(f"/tasks/{review}")
    assert response.status_code == 200
    body = response.json
    assert (body["instance_id"], body["form_key"], body["candidate_groups"]) == (
        case, "review", ["reviewers"])
    _assert_complete_schema(body["form"])
    assert body["form"]["properties"]["handler"]["enum"] == ["rev1", "rev2"]
    assert as_user("clerk").get(f"/tasks/{review}").status_code == 404
    assert as_user("rev1").get("/tasks/no-such-task").status_code == 404


def test_claim_unclaim_delegate(as_user: Any, docroute: Docroute) -> None:
    _, review = to_review(docroute, as_user)
    assert as_user("auditor").post(f"/tasks/{review}/claim").status_code == 403
    response = as_user("rev1").post(f"/tasks/{review}/claim")
    assert (response.status_code, response.json["assignee"]) == (200, "rev1")
    assert as_user("rev1").post(f"/tasks/{review}/claim").status_code == 200  # idempotent
    other = as_user("rev2").post(f"/tasks/{review}/claim")
    assert other.status_code == 409 and "rev1" in other.json["error"]
    assert as_user("rev2").post(f"/tasks/{review}/unclaim").status_code == 409
    assert as_user("rev2").post(f"/tasks/{review}/complete",
                                {"data": {"decision": "approve"}}).status_code == 409
    assert as_user("rev1").post(f"/tasks/{review}/unclaim").json["assignee"] is None
    assert as_user("rev1").post(f"/tasks/{review}/delegate", {}).status_code == 400
    assert as_user("rev1").post(f"/tasks/{review}/delegate", {"to": "ghost"}).status_code == 404
    delegated = as_user("rev1").post(f"/tasks/{review}/delegate", {"to": "rev2"})
    assert (delegated.status_code, delegated.json["assignee"]) == (200, "rev2")
    assert as_user("auditor").post(f"/tasks/{review}/unclaim").status_code == 403


INVALID_COMPLETIONS = [
    ({"data": {}}, {"decision"}),
    ({"data": {"decision": "perhaps"}}, {"decision"}),
    ({"data": {"decision": "approve", "colour": "red"}}, {"colour"}),
    ({"data": {"decision": 7, "opinion": ["a"]}}, {"decision", "opinion"}),
    ({"data": {"decision": "approve", "handler": "clerk"}}, {"handler"}),
    ({"data": {"decision": "approve", "opinion": "x" * 2001}}, {"opinion"}),
    ({"data": {"decision": "approve", "opinion": 10**400}}, {"opinion"}),
]


def test_complete_refuses_bad_input_never_500(as_user: Any, docroute: Docroute) -> None:
    _, review = to_review(docroute, as_user)
    for body, fields in INVALID_COMPLETIONS:
        response = as_user("rev1").post(f"/tasks/{review}/complete", body)
        assert response.status_code == 422, (body, response.json)
        assert set(response.json["errors"]) == fields
    for raw in (b"{", b"[]", b"null", b"\x00\x01", b'{"data": 5}', b'{"data": []}'):
        response = as_user("rev1").post(f"/tasks/{review}/complete", raw=raw)
        assert response.status_code in (400, 422), raw
        assert "error" in response.json
    assert as_user("rev1").get(f"/tasks/{review}").status_code == 200  # still open


def test_complete_and_double_completion(as_user: Any, docroute: Docroute) -> None:
    case, review = to_review(docroute, as_user)
    response = as_user("rev1").post(f"/tasks/{review}/complete",
                                    {"data": {"decision": "approve", "handler": "rev2"}})
    assert (response.status_code, response.json["status"]) == (200, "completed")
    again = as_user("rev1").post(f"/tasks/{review}/complete", {"data": {"decision": "approve"}})
    assert again.status_code == 409 and "no longer open" in again.json["error"]
    assert as_user("auditor").post(f"/tasks/{review}/complete", {}).status_code == 403
    assert as_user("rev1").get(f"/instances/{case}").json["status"] == "completed"


# --- the login page ------------------------------------------------------------------------------


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_login_page_and_redirect(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = client.get("/login").get_data(as_text=True)
    for name in ("username", "password", "csrf_token"):
        assert re.search(rf'name="{name}"', page), name
    refused = client.post("/login", data={"username": "clerk", "password": "password1"})
    assert refused.status_code == 400
    token = _csrf(client.get("/login").get_data(as_text=True))
    ok = client.post("/login", data={"username": "clerk", "password": "password1",
                                     "csrf_token": token})
    assert ok.status_code == 302
    assert client.get("/").status_code == 200


def test_login_is_rate_limited(app: Flask) -> None:
    client = app.test_client()
    codes = []
    for _ in range(12):
        token = _csrf(client.get("/login").get_data(as_text=True))
        codes.append(client.post("/login", data={"username": "clerk", "password": "wrong",
                                                 "csrf_token": token}).status_code)
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]
