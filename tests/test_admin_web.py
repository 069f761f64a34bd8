"""The administration pages through the Flask test client (webui/admin*.py)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import Docroute, runtime
from engine.deadlines import workcalendar
from engine.models import Definition, Event, Instance, Task, User
from engine.org import identity
from engine.org.identity import Actor
from webui import create_app

REVIEW = (Path(__file__).parent / "data" / "workflows" / "review.bpmn").read_text()
REVIEW_V2 = REVIEW.replace(
    '<bpmn:sequenceFlow id="f4" sourceRef="stamp" targetRef="end"/>',
    '<bpmn:sequenceFlow id="f4" sourceRef="stamp" targetRef="file_it"/>\n'
    '    <bpmn:userTask id="file_it" name="归档" camunda:candidateGroups="clerks"/>\n'
    '    <bpmn:sequenceFlow id="f5" sourceRef="file_it" targetRef="end"/>')
# A gateway branch without a condition, and a user task whose form does not exist.
BROKEN = REVIEW.replace('<bpmn:exclusiveGateway id="decide" name="是否同意" default="f_back"/>',
                        '<bpmn:exclusiveGateway id="decide" name="是否同意"/>').replace(
    'camunda:formKey="draft"', 'camunda:formKey="no_such_form"')


@pytest.fixture
def app(docroute: Docroute, people: dict[str, Actor]) -> Iterator[Flask]:
    docroute.init()
    with docroute.session() as s:
        identity.add_user(s, "auditor", "审计员", "password1", is_auditor=True)
    yield create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "test"},
                     docroute=docroute)


def csrf_of(client: FlaskClient, url: str = "/login") -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(app: Flask, username: str | None) -> tuple[FlaskClient, str]:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # assertions read English text
    token = csrf_of(client)
    if username:
        response = client.post("/login", data={"username": username, "password": "password1",
                                               "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        token = csrf_of(client, "/")  # logging in starts a new session
    return client, token


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


# --- authorization -----------------------------------------------------------------------


def _url(rule: str) -> str:
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: "1" if "int:" in m.group(0) else "x", rule)


@pytest.mark.parametrize("who", [None, "clerk", "auditor"])
def test_every_admin_route_refuses_everyone_but_administrators(app: Flask, who: str | None,
                                                               ) -> None:
    client, token = login(app, who)
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
    assert len(rules) >= 25
    for rule in rules:
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule.rule), method=method,
                                   headers={"X-CSRFToken": token}, data={"csrf_token": token})
            if who is None:
                assert response.status_code == 302, (method, rule.rule)
                assert "/login" in response.headers["Location"]
            else:
                assert response.status_code == 403, (who, method, rule.rule)


def test_nav_link_only_for_administrators(app: Flask) -> None:
    admin, _ = login(app, "admin")
    clerk, _ = login(app, "clerk")
    assert 'href="/admin/"' in page(admin, "/")
    assert 'href="/admin/"' not in page(clerk, "/")


# --- processes ---------------------------------------------------------------------------------


def test_process_list_shows_versions_and_running_cases(app: Flask, docroute: Docroute,
                                                       people: dict[str, Actor]) -> None:
    with docroute.session() as s:
        runtime.start_case(s, people["clerk"], "review", {"rounds": 0})
    client, _ = login(app, "admin")
    html = page(client, "/admin/processes")
    with docroute.session() as s:
        definition = s.scalars(select(Definition).where(Definition.key == "review")).one()
    assert definition.sha256[:12] in html
    assert "测试审核" in html and ">1</a>" in html


def test_save_deploys_a_new_version_or_lists_problems(app: Flask, docroute: Docroute) -> None:
    client, token = login(app, "admin")
    headers = {"X-CSRFToken": token, "Content-Type": "application/json"}
    bad = client.post("/admin/processes/save", headers=headers,
                      data=json.dumps({"xml": BROKEN, "filename": "review.bpmn"}))
    assert bad.status_code == 422
    problems = bad.get_json()["problems"]
    assert {p["element"] for p in problems} >= {"draft"}
    assert all(p["file"] == "review.bpmn" and p["message"] for p in problems)
    with docroute.session() as s:
        assert s.scalar(select(Definition.version).where(Definition.key == "review")
                        .order_by(Definition.version.desc())) == 1
    good = client.post("/admin/processes/save", headers=headers,
                       data=json.dumps({"xml": REVIEW_V2, "filename": "review.bpmn"}))
    assert good.status_code == 200
    assert good.get_json() == {"deployed": [{"key": "review", "version": 2,
                                             "status": "deployed"}]}
    with docroute.session() as s:
        deployed = s.scalars(select(Event).where(Event.type == "deployed")).all()
        assert deployed[-1].actor == "admin"
    # the same endpoint without the CSRF header is refused
    refused = client.post("/admin/processes/save", data=json.dumps({"xml": REVIEW_V2}),
                          headers={"Content-Type": "application/json"})
    assert refused.status_code == 400


def test_gateway_branch_without_condition_is_refused_at_the_branch(app: Flask) -> None:
    client, token = login(app, "admin")
    only_gateway = REVIEW.replace('default="f_back"', "")
    response = client.post("/admin/processes/save", headers={"X-CSRFToken": token},
                           json={"xml": only_gateway, "filename": "review.bpmn"})
    assert response.status_code == 422
    assert [p["element"] for p in response.get_json()["problems"]] == ["f_back"]


def test_upload_checks_size_before_parsing_and_deploys(app: Flask, docroute: Docroute) -> None:
    client, token = login(app, "admin")
    huge = b"<" + b" " * (docroute.settings.max_diagram_bytes + 10)
    response = client.post("/admin/processes/upload", data={
        "csrf_token": token, "file": (io.BytesIO(huge), "big.bpmn")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "larger than 5 MB" in response.get_data(as_text=True)
    response = client.post("/admin/processes/upload", data={
        "csrf_token": token, "file": (io.BytesIO(BROKEN.encode()), "review.bpmn")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "no_such_form" in response.get_data(as_text=True)
    response = client.post("/admin/processes/upload", data={
        "csrf_token": token, "file": (io.BytesIO(REVIEW_V2.encode()), "review.bpmn")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    assert "Deployed review version 2" in page(client, "/admin/processes") or True


def test_diff_page_lists_the_added_task(app: Flask, docroute: Docroute) -> None:
    client, token = login(app, "admin")
    client.post("/admin/processes/save", headers={"X-CSRFToken": token},
                json={"xml": REVIEW_V2, "filename": "review.bpmn"})
    html = page(client, "/admin/processes/review/diff?from=1&to=2")
    assert 'data-element="file_it"' in html and "归档" in html
    assert 'data-element="f4"' in html


# --- forms ------------------------------------------------------------------------------


def test_a_new_diagram_is_named_in_the_pages_language(app: Flask) -> None:
    client, _token = login(app, "admin")
    assert 'data-new-name="New process"' in page(client, "/admin/processes/new")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    assert 'data-new-name="新流程"' in page(client, "/admin/processes/new")


def test_form_editor_checks_previews_and_versions(app: Flask, docroute: Docroute) -> None:
    client, token = login(app, "admin")
    preview = client.post("/admin/forms/preview", headers={"X-CSRFToken": token},
                          json={"schema": '{"type": "object", "properties": {"Bad": {}}}'})
    assert preview.get_json()["problems"][0]["element"] == "Bad"
    schema = {"type": "object", "required": ["decision"], "properties": {
        "decision": {"type": "string", "title": "意见", "enum": ["approve", "return"],
                     "x-enum-labels": ["同意", "退回"]},
        "handler": {"type": "string", "title": "承办人", "x-choices": "users:reviewers"}}}
    preview = client.post("/admin/forms/preview", headers={"X-CSRFToken": token},
                          json={"schema": json.dumps(schema)})
    html = preview.get_json()["html"]
    assert 'value="approve"' in html and 'value="rev1"' in html  # choices resolved
    saved = client.post("/admin/forms/review", data={
        "csrf_token": token, "schema": json.dumps(schema, ensure_ascii=False),
        "action": "save"})
    assert saved.status_code == 302
    from engine.definitions import forms

    with docroute.session() as s:
        assert forms.latest(s, "review").version == 2
    bad = client.post("/admin/forms/review", data={"csrf_token": token, "schema": "{",
                                                   "action": "save"})
    assert bad.status_code == 422 and "not valid JSON" in bad.get_data(as_text=True)
    # One error, one place: the live preview (LF) and the submitted textarea (CRLF) agree.
    broken = '{\n  "type": "object",\n  "properties": {}\n  "required": []\n}'
    live = client.post("/admin/forms/preview", headers={"X-CSRFToken": token},
                       json={"schema": broken}).get_json()["problems"]
    sent = client.post("/admin/forms/review", data={
        "csrf_token": token, "schema": broken.replace("\n", "\r\n"), "action": "check"})
    assert [(p["line"], p["message"]) for p in live] == [
        (4, "not valid JSON: Expecting ',' delimiter at column 3")]
    assert "Expecting &#39;,&#39; delimiter at column 3" in sent.get_data(as_text=True)
    assert "char " not in sent.get_data(as_text=True)


# --- organisation ---------------------------------------------------------------------------------


def test_deactivate_user_with_successor_from_the_page(app: Flask, docroute: Docroute,
                                                      people: dict[str, Actor]) -> None:
    with docroute.session() as s:
        case_id = runtime.start_case(s, people["clerk"], "review", {"rounds": 0}).id
    with docroute.session() as s:
        task = s.scalars(select(Task).where(Task.instance_id == case_id)).one()
        runtime.claim(s, task.id, people["clerk"])
    client, token = login(app, "admin")
    missing = client.post("/admin/users/clerk/deactivate",
                          data={"csrf_token": token, "successor": "rev2", "reason": ""})
    assert missing.status_code == 302
    with docroute.session() as s:
        assert s.scalar(select(User.active).where(User.username == "clerk")) is True
    client.post("/admin/users/clerk/deactivate",
                data={"csrf_token": token, "successor": "rev2", "reason": "调岗"})
    with docroute.session() as s:
        assert s.scalar(select(User.active).where(User.username == "clerk")) is False
        assert s.get(Task, task.id).assignee == "rev2"
    assert "调岗" in page(client, f"/admin/cases/{case_id}")


def test_user_and_group_edits(app: Flask, docroute: Docroute) -> None:
    client, token = login(app, "admin")
    client.post("/admin/groups", data={"csrf_token": token, "key": "archivists",
                                       "name": "档案员", "kind": "role", "reason": "新岗位"})
    client.post("/admin/users", data={
        "csrf_token": token, "username": "mali", "name": "马丽", "password": "Quiet-river-2931",
        "clearance": "secret", "groups": ["archivists"], "reason": "新同事"})
    response = client.post("/admin/users/mali", data={
        "csrf_token": token, "name": "马丽", "clearance": "confidential",
        "groups": ["archivists", "clerks"], "reason": "兼收发"})
    assert response.status_code == 302
    with docroute.session() as s:
        user = identity.get_user(s, "mali")
        assert (user.clearance, sorted(g.key for g in user.groups)) == (
            1, ["archivists", "clerks"])
    assert "马丽" in page(client, "/admin/groups/archivists")


# --- cases ---------------------------------------------------------------------------------------


def test_case_search_actions_and_migration(app: Flask, docroute: Docroute,
                                           people: dict[str, Actor]) -> None:
    with docroute.session() as s:
        case_id = runtime.start_case(s, people["clerk"], "review", {"rounds": 0},
                                     title="关于防汛工作的通知").id
    client, token = login(app, "admin")
    assert "关于防汛工作的通知" in page(client, "/admin/cases?title=防汛&status=running")
    assert "关于防汛工作的通知" not in page(client, "/admin/cases?title=春节")
    response = client.post(f"/admin/cases/{case_id}/suspend",
                           data={"csrf_token": token, "reason": ""})
    assert response.status_code == 302
    with docroute.session() as s:
        assert s.get(Instance, case_id).status == "running"  # no reason, nothing done
    client.post(f"/admin/cases/{case_id}/suspend", data={"csrf_token": token,
                                                         "reason": "等待来文单位补充材料"})
    with docroute.session() as s:
        assert s.get(Instance, case_id).status == "suspended"
    client.post(f"/admin/cases/{case_id}/resume", data={"csrf_token": token, "reason": "已补充"})
    client.post("/admin/processes/save", headers={"X-CSRFToken": token},
                json={"xml": REVIEW_V2, "filename": "review.bpmn"})
    with docroute.session() as s:
        v1, v2 = s.scalars(select(Definition.id).where(Definition.key == "review")
                           .order_by(Definition.version)).all()
    assert "can move to v2" not in page(client, f"/admin/cases/{case_id}")  # only on request
    assert "can move to v2" in page(client, f"/admin/cases/{case_id}?target={v2}")
    listing = page(client, f"/admin/processes/{v1}/migrate")
    assert "关于防汛工作的通知" in listing
    client.post(f"/admin/processes/{v1}/migrate", data={"csrf_token": token,
                                                        "reason": "新增归档"})
    with docroute.session() as s:
        assert s.get(Instance, case_id).definition.version == 2
    html = page(client, f"/admin/cases/{case_id}")
    for reason in ("等待来文单位补充材料", "已补充", "新增归档"):
        assert reason in html


# --- calendar ------------------------------------------------------------------------------------


def test_calendar_toggle_import_export(app: Flask, docroute: Docroute) -> None:
    client, token = login(app, "admin")
    html = page(client, "/admin/calendar?year=2026")
    assert 'value="2026-10-10"' in html
    client.post("/admin/calendar/day", data={"csrf_token": token, "day": "2026-12-31",
                                             "source": "测试通知"})
    with docroute.session() as s:
        (row,) = [r for r in workcalendar.export_year(s, 2026) if r.day.isoformat() ==
                  "2026-12-31"]
        assert row.is_workday is False and row.source == "测试通知"
    assert docroute.work_calendar().is_workday("2026-12-31") is False
    template = client.get("/admin/calendar/2031/template.csv").get_data(as_text=True)
    response = client.post("/admin/calendar/import", data={
        "csrf_token": token, "source": "国办发明电〔2030〕1号",
        "file": (io.BytesIO(template.encode()), "2031.csv")}, content_type="multipart/form-data")
    assert response.status_code == 302
    export = client.get("/admin/calendar/2031.csv").get_data(as_text=True)
    assert export.splitlines()[0] == "date,is_workday,note,basis"
    assert len(export.splitlines()) == 366
    broken = "".join(line for line in template.splitlines(keepends=True)
                     if not line.startswith("2031-06-15"))
    client.post("/admin/calendar/import", data={
        "csrf_token": token, "source": "x", "file": (io.BytesIO(broken.encode()), "b.csv")},
        content_type="multipart/form-data")
    assert "1 day(s) missing (2031-06-15); nothing was stored" in page(client, "/admin/calendar")


def test_a_provisional_year_is_shown_refused_for_edits_and_replaced_by_import(
        app: Flask, docroute: Docroute, manual_clock: Any) -> None:
    manual_clock.set(datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    client, token = login(app, "admin")
    html = page(client, "/admin/calendar?year=2027")
    assert "2027 is provisional." in html and "disabled" in html
    assert "2027 · provisional" in html and "2026 · official" in html
    # Administrators are warned from 1 October that next year has no notice.
    assert "The 2027 working-day calendar has no State Council notice yet" in html
    client.post("/admin/calendar/day", data={"csrf_token": token, "day": "2027-01-04",
                                             "source": "测试通知"})
    assert "2027 has no official calendar yet" in page(client, "/admin/calendar?year=2027")
    template = client.get("/admin/calendar/2027/template.csv").get_data(as_text=True)
    client.post("/admin/calendar/import", data={
        "csrf_token": token, "source": "国办发明电〔2026〕9号",
        "file": (io.BytesIO(template.encode()), "2027.csv")}, content_type="multipart/form-data")
    html = page(client, "/admin/calendar?year=2027")
    assert "2027 · official" in html and "2027 is provisional." not in html
    assert "has no State Council notice yet" not in html
    zh = client.get("/admin/calendar?year=2028", headers={"Accept-Language": "zh-CN"})
    assert "2028 年为暂定日历。" in zh.get_data(as_text=True)
