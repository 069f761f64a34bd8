"""Every route x every role: who is refused where, and that no secret ever shows.

The routes come from the app's URL map (every page, form post and API call) and are
checked against the OpenAPI document, so a new route joins the matrix by existing. One
top-secret document, with a case, an open task and an attachment, is the target of every
route that takes an id; each role calls each route once:

* anonymous: the API answers 401, pages send to the login page;
* unrelated staff (no clearance), a low-cleared clerk (秘密), a top-secret leader who is
  not involved, and the auditor (机密): never a 5xx, never a success on the secret
  document's routes, never the administrator pages, the auditor pages only for the
  auditor, and never the secret's title, number or attachment name in any body;
* the administrator (绝密, office-wide): never a 5xx.

One shared app per backend (``shipped_office``); the administrator runs last because some
of its calls change things.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Rule

from engine import Docroute, demo, runtime
from engine.models import Document, Task
from engine.org import identity
from engine.org.identity import Actor
from engine.registry import attachments, documents

SECRET_TITLE = "绝密矩阵测试文件甲乙丙"
SECRET_NUMBER = "鹏矩测〔2026〕99号"
SECRET_FILE = "绝密矩阵附件.pdf"
PDF = b"%PDF-1.7\n" + b"1" * 2000 + b"\n%%EOF\n"
ROLES = ["anonymous", "liuyang", "zhangli", "chenming", "auditor", "admin"]
LOGGED_IN = [r for r in ROLES if r != "anonymous"]
PUBLIC = {"auth.login", "auth.set_language", "static", "api.openapi"}
# Answers that reveal nothing about the document a route names.
DENIED = {302, 400, 401, 403, 404, 405, 422}
SKIP = {"static", "auth.logout"}  # logging out would turn the rest of a role's run anonymous


@pytest.fixture(scope="module")
def secret(shipped_office: Docroute) -> dict[str, Any]:
    """A top-secret document registered and routed by the administrator."""
    app = shipped_office
    with app.session() as s:
        boss = Actor.of(identity.get_user(s, "admin"))
    with app.session() as s:
        document = documents.create_document(s, boss, "incoming", {
            "title": SECRET_TITLE, "source_org": "深圳市国家安全局", "doc_type": "通知",
            "classification": "top_secret"})
        document.doc_number = SECRET_NUMBER
        limits = attachments.Limits(app.settings.attachments_dir, 1 << 20)
        limits.storage.mkdir(parents=True, exist_ok=True)
        row = attachments.add(s, limits, boss, document, SECRET_FILE, io.BytesIO(PDF), None)
        ids = {"document_id": document.id, "attachment_id": row.id}
    with app.session() as s:
        case = runtime.start_case(s, boss, "incoming_document", document_id=ids["document_id"])
        ids["instance_id"] = ids["case_id"] = case.id
    with app.session() as s:
        ids["task_id"] = s.scalars(select(Task.id).where(
            Task.instance_id == ids["instance_id"])).first()
        assert s.get(Document, ids["document_id"]).classification == 3
    return ids


@pytest.fixture(scope="module")
def flask_app(shipped_office: Docroute) -> Flask:
    from webui import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                       "SECRET_KEY": "t"}, docroute=shipped_office)


def _path_template(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def routes(app: Flask) -> list[tuple[Rule, str]]:
    """(rule, method) for every route, write methods last, logout excluded."""
    found = [(rule, method) for rule in app.url_map.iter_rules()
             if rule.endpoint not in SKIP
             for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
    return sorted(found, key=lambda item: (item[1] != "GET", item[0].rule, item[1]))


def test_the_openapi_document_is_part_of_the_url_map(flask_app: Flask) -> None:
    served = {(_path_template(r.rule), m.lower()) for r, m in routes(flask_app)}
    spec = flask_app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {("/api/v1" + path, method) for path, item in spec["paths"].items()
                  for method in item if method in ("get", "post", "patch", "put", "delete")}
    assert documented and documented <= served, documented - served


VALUES = {"key": "incoming_document", "username": "zhangli", "year": 2026,
          "definition_id": 1, "action": "suspend", "kind": "incoming",
          "filename": "css/app.css", "fmt": "csv"}
ENDPOINT_VALUES = {"admin.form_edit": {"key": "incoming_sign_for"},
                   "admin.group": {"key": "general_office"},
                   "api.start_instance": {"key": "archiving"}}


def _url(rule: Rule, ids: dict[str, Any]) -> str:
    values = {**VALUES, **ids, **ENDPOINT_VALUES.get(rule.endpoint, {})}
    # A parameter the matrix does not know yet still gets a value of its converter's type.
    default = {name: 1 if isinstance(converter, IntegerConverter) else "x"
               for name, converter in rule._converters.items()}
    return _path_template(rule.rule).format(**{a: values.get(a, default.get(a, "x"))
                                               for a in rule.arguments})


def _api_body(endpoint: str, ids: dict[str, Any]) -> dict[str, Any]:
    bodies: dict[str, dict[str, Any]] = {
        "api.start_instance": {"json": {"data": {}, "document_id": ids["document_id"]}},
        "api.update_document": {"json": {"fields": {"copies": 2}}},
        "api.reclassify": {"json": {"classification": "none", "reason": ""}},
        "api.upload_attachment": {"data": {"file": (io.BytesIO(PDF), "矩阵.pdf")}},
        "api.complete": {"json": {"data": {}}},
        "api.delegate": {"json": {"to": "zhangli"}},
        "api.create_document": {"json": {"kind": "incoming", "fields": {
            "title": "矩阵登记", "source_org": "深圳市", "doc_type": "通知"}}},
    }
    return bodies.get(endpoint, {"json": {}})


def _form(endpoint: str) -> dict[str, Any]:
    forms: dict[str, dict[str, Any]] = {
        "documents.upload": {"file": (io.BytesIO(PDF), "矩阵.pdf")},
        "documents.reclassify": {"level": "none", "reason": ""},
        "inbox.delegate": {"to": "zhangli"},
        "admin.task_reassign": {"to": "zhangli", "reason": ""},
    }
    return forms.get(endpoint, {})


@pytest.fixture(scope="module")
def callers(shipped_office: Docroute, flask_app: Flask) -> dict[str, Callable[..., Any]]:
    with shipped_office.session() as s:
        tokens = {name: identity.create_token(s, name) for name in LOGGED_IN}
    made: dict[str, Callable[..., Any]] = {}
    for role in ROLES:
        page_client, api_client = flask_app.test_client(), flask_app.test_client()
        if role != "anonymous":
            login = page_client.post("/login", data={"username": role,
                                                     "password": demo.PASSWORD})
            assert login.status_code == 302, role

        def call(rule: Rule, method: str, ids: dict[str, Any], role: str = role,
                 pages: FlaskClient = page_client, api: FlaskClient = api_client) -> Any:
            url = _url(rule, ids)
            if rule.endpoint.startswith("api."):
                headers = {"Authorization": f"Bearer {tokens[role]}"} \
                    if role in tokens else {}
                return api.open(url, method=method, headers=headers,
                                **_api_body(rule.endpoint, ids))
            return pages.open(url, method=method, data=_form(rule.endpoint))

        made[role] = call
    return made


def _expected(role: str, rule: Rule, status: int, location: str) -> str | None:
    """Why this answer is wrong for this role and route, or None."""
    endpoint = rule.endpoint
    if status >= 500:
        return "server error"
    if role == "admin":
        return None
    if role == "anonymous":
        if endpoint in PUBLIC:
            return None
        if endpoint.startswith("api."):
            return None if status == 401 else "the API must answer 401"
        return None if status in (302, 401, 403) and (status != 302 or "/login" in location) \
            else "pages must send to the login page"
    if rule.rule.startswith("/admin") and status not in (403, 404):
        return "administrator pages must refuse"
    if rule.rule.startswith("/audit") and role != "auditor" and status not in (403, 404):
        return "auditor pages must refuse staff"
    names_secret = bool(set(rule.arguments) & {"document_id", "attachment_id", "instance_id",
                                               "case_id", "task_id"})
    if names_secret and status not in DENIED:
        return f"the secret document's route answered {status}"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(role: str, flask_app: Flask, secret: dict[str, Any],
                                    callers: dict[str, Callable[..., Any]]) -> None:
    wrong: list[str] = []
    leaked: list[str] = []
    calls = 0
    for rule, method in routes(flask_app):
        response = callers[role](rule, method, secret)
        calls += 1
        reason = _expected(role, rule, response.status_code,
                           response.headers.get("Location", ""))
        if reason:
            wrong.append(f"{method} {rule.rule} -> {response.status_code}: {reason}")
        if role != "admin":
            body = response.get_data(as_text=True)
            for marker in (SECRET_TITLE, SECRET_NUMBER, SECRET_FILE):
                if marker in body:
                    leaked.append(f"{method} {rule.rule} shows {marker}")
    assert calls > 60  # the URL map was walked
    assert wrong == []
    assert leaked == []
