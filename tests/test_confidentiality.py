"""Confidentiality in every route (issue 12 items 1-5): one visibility rule, 定密/解密 as its
own recorded act, raises that reach every task, no classification above one's clearance,
and the smaller leaks (number series, 409 vs 404, audit filters, delegation targets).

One shipped app per backend for the whole module (``shipped_office``); each test makes its
own documents and cases, so the tests do not depend on each other.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import Conflict, Docroute, NotAllowed, clock, demo, runtime
from engine.history import audit, replay
from engine.models import Document, Event, Instance, Task
from engine.org import access, identity
from engine.org.identity import Actor
from engine.registry import numbering
from engine.runtime import admin

PDF = b"%PDF-1.7\n" + b"1" * 2000 + b"\n%%EOF\n"
STAFF = ["zhangli", "zhouqiang", "wujing", "linhai", "chenming", "liuyang", "jiangli",
         "dengyu", "sunli"]
Call = Callable[..., Any]


@pytest.fixture(scope="module")
def flask_app(shipped_office: Docroute) -> Flask:
    from webui import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                       "SECRET_KEY": "t"}, docroute=shipped_office)


@pytest.fixture(scope="module")
def api(shipped_office: Docroute, flask_app: Flask) -> Call:
    with shipped_office.session() as s:
        tokens = {name: identity.create_token(s, name) for name in [*STAFF, "admin", "auditor"]}
    client = flask_app.test_client()

    def call(who: str, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body
        response = client.open(f"/api/v1{path}", method=method,
                               headers={"Authorization": f"Bearer {tokens[who]}"}, **kwargs)
        assert response.status_code < 500, response.get_data(as_text=True)
        return response

    return call


@pytest.fixture(scope="module")
def pages(flask_app: Flask) -> Iterator[Callable[[str], FlaskClient]]:
    clients: dict[str, FlaskClient] = {}

    def login(username: str) -> FlaskClient:
        if username not in clients:
            client = flask_app.test_client()
            response = client.post("/login", data={"username": username,
                                                   "password": demo.PASSWORD})
            assert response.status_code == 302
            clients[username] = client
        return clients[username]

    yield login


def actor(app: Docroute, username: str) -> Actor:
    with app.session() as s:
        return Actor.of(identity.get_user(s, username))


def register(api: Call, who: str, title: str, classification: str = "none") -> int:
    response = api(who, "POST", "/documents", {"kind": "incoming", "fields": {
        "title": title, "source_org": "深圳市三防指挥部", "doc_type": "通知",
        "classification": classification}})
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def start(api: Call, who: str, key: str, document_id: int | None = None,
          data: dict[str, Any] | None = None) -> int:
    body: dict[str, Any] = {"data": data or {}}
    if document_id is not None:
        body["document_id"] = document_id
    response = api(who, "POST", f"/definitions/{key}/instances", body)
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def open_task(app: Docroute, instance_id: int, spec: str) -> str:
    with app.session() as s:
        return s.scalars(select(Task.id).where(Task.instance_id == instance_id,
                                               Task.spec == spec)).one()


def sign_for(classification: str) -> dict[str, Any]:
    return {"received_at": "2026-03-02T09:00:00+08:00", "source_org": "深圳市三防指挥部",
            "copies": 1, "urgency": "", "classification": classification}


# --- item 1: one rule for pages and API -----------------------------------------------------


def test_uninvolved_people_get_404_on_pages_and_api(shipped_office: Docroute, api: Call,
                                                    pages: Callable[[str], FlaskClient]) -> None:
    title = "关于做好台风“摩羯”防御工作的紧急通知"
    doc = register(api, "zhangli", title)
    url = f"/documents/{doc}"
    upload = api("zhangli", "POST", f"{url}/attachments",
                 data={"file": (io.BytesIO(PDF), "预案.pdf")})
    assert upload.status_code == 201
    att = upload.get_json()["id"]
    case = start(api, "zhangli", "incoming_document", doc)
    for who in ("liuyang", "chenming"):  # no clearance / top secret: neither is involved
        assert api(who, "GET", url).status_code == 404, who
        assert doc not in [d["id"] for d in api(who, "GET", "/documents?limit=500").get_json()]
        assert api(who, "GET", f"{url}/attachments/{att}").status_code == 404
        assert api(who, "POST", f"{url}/attachments",
                   data={"file": (io.BytesIO(PDF), "x.pdf")}).status_code == 404
        assert api(who, "PATCH", url, {"fields": {"copies": 3}}).status_code == 404
        assert api(who, "POST", "/definitions/archiving/instances",
                   {"data": {}, "document_id": doc}).status_code == 404
        assert api(who, "GET", f"/instances/{case}").status_code == 404
        assert api(who, "GET", f"/instances/{case}/history").status_code == 404
        browser = pages(who)
        for path in (url, f"{url}/sheet", f"/cases/{case}", f"{url}/attachments/{att}"):
            assert browser.get(path).status_code == 404, (who, path)
        assert title not in browser.get("/documents").get_data(as_text=True)
    for who in ("zhangli", "jiangli", "admin", "auditor"):  # registrar, 保密员, office-wide
        assert api(who, "GET", url).status_code == 200, who
    assert pages("zhangli").get(url).status_code == 200


def test_acting_in_a_case_or_holding_its_task_makes_one_involved(
        shipped_office: Docroute, api: Call) -> None:
    doc = register(api, "dengyu", "关于开展森林防火检查的通知")
    case = start(api, "dengyu", "incoming_document", doc)  # the 机要员 registers and routes
    # The open 签收 is for the records clerks: 张丽 sees the document, 刘洋 does not.
    assert api("zhangli", "GET", f"/documents/{doc}").status_code == 200
    assert api("liuyang", "GET", f"/documents/{doc}").status_code == 404
    task = open_task(shipped_office, case, "sign_for")
    done = api("zhangli", "POST", f"/tasks/{task}/complete", {"data": sign_for("none")})
    assert done.status_code == 200
    # Having acted, she keeps seeing it after the task has moved on.
    assert api("zhangli", "GET", f"/documents/{doc}").status_code == 200
    clerk = actor(shipped_office, "zhangli")
    with shipped_office.session() as s:
        assert doc in set(s.scalars(access.visible_document_ids(clerk)))


# --- item 2: 定密/解密 is its own recorded act -------------------------------------------------


def test_patch_never_changes_a_classification(shipped_office: Docroute, api: Call) -> None:
    doc = register(api, "zhouqiang", "机密 关于应急物资储备的报告", "secret")
    url = f"/documents/{doc}"
    refused = api("zhouqiang", "PATCH", url, {"fields": {"classification": "none"}})
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["classification"].startswith("密级只能通过定密/解密变更")
    assert api("zhouqiang", "PATCH", url, {"fields": {"classification": None}}).status_code \
        == 422
    same = api("zhouqiang", "PATCH", url, {"fields": {"classification": "机密", "copies": 2}})
    assert same.status_code == 200 and same.get_json()["classification"] == "secret"
    # Cleared for secret but not involved: the document does not exist for her.
    assert api("wujing", "PATCH", url, {"fields": {"classification": "none"}}).status_code \
        == 404
    assert api("zhouqiang", "GET", url).get_json()["classification"] == "secret"


def test_reclassification_is_authorised_reasoned_and_recorded(shipped_office: Docroute,
                                                              api: Call) -> None:
    doc = register(api, "dengyu", "秘密 关于调整值班安排的通知", "confidential")
    case = start(api, "dengyu", "incoming_document", doc)  # the 机要员 registers and routes
    url = f"/documents/{doc}/classification"
    # 张丽 holds the 签收 (involved, cleared) but set nothing: not hers to decide.
    assert api("zhangli", "GET", f"/documents/{doc}").status_code == 200
    assert api("zhangli", "POST", url, {"classification": "none", "reason": "公开"}) \
        .status_code == 403
    assert api("wujing", "POST", url, {"classification": "none", "reason": "x"}) \
        .status_code == 404
    assert api("auditor", "POST", url, {"classification": "none", "reason": "x"}) \
        .status_code == 403
    no_reason = api("dengyu", "POST", url, {"classification": "none", "reason": " "})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]
    assert api("dengyu", "POST", url, {"classification": "绝密", "reason": "x"}) \
        .status_code == 422  # above the setter's own clearance
    assert api("dengyu", "POST", url, {"classification": "level9", "reason": "x"}) \
        .status_code == 422
    lowered = api("dengyu", "POST", url, {"classification": "none",
                                             "reason": "保密期限届满，经审查解密"})
    assert lowered.status_code == 200 and lowered.get_json()["classification"] == "none"
    raised = api("jiangli", "POST", url, {"classification": "secret",
                                          "reason": "经保密审查，涉及应急部署，定为机密"})
    assert raised.status_code == 200
    with shipped_office.session() as s:
        events = s.scalars(select(Event).where(Event.instance_id == case,
                                               Event.type == "reclassified")
                           .order_by(Event.seq)).all()
        assert [(e.actor, json.loads(e.payload)["to"]) for e in events] == [
            ("dengyu", "none"), ("jiangli", "secret")]
        assert json.loads(events[0].payload)["reason"] == "保密期限届满，经审查解密"
        system = s.scalars(select(Event).where(Event.type == "document_reclassified")).all()
        assert [json.loads(e.payload)["document_id"] for e in system].count(doc) == 2
        document = s.get(Document, doc)
        assert (document.classification, document.classified_by) == (2, "jiangli")
        assert s.get(Instance, case).classification == 2
        assert replay.verify(s, case).ok  # the event is passive: replay still matches


def test_reclassify_page_action(shipped_office: Docroute, api: Call,
                                pages: Callable[[str], FlaskClient]) -> None:
    doc = register(api, "zhouqiang", "关于做好节日值守工作的通知")
    page = pages("zhouqiang").get(f"/documents/{doc}").get_data(as_text=True)
    assert f'action="/documents/{doc}/classification"' in page
    other = register(api, "zhangli", "关于报送值班表的通知")
    assert pages("zhangli").get(f"/documents/{other}").status_code == 200
    response = pages("zhangli").post(f"/documents/{doc}/classification",
                                     data={"level": "confidential", "reason": "x"})
    assert response.status_code == 404  # she cannot see it, so it does not exist
    done = pages("zhouqiang").post(f"/documents/{doc}/classification",
                                   data={"level": "confidential", "reason": "涉及值班人员信息"})
    assert done.status_code == 302
    assert api("zhouqiang", "GET", f"/documents/{doc}").get_json()["classification"] \
        == "confidential"


# --- item 3: a raise reaches cases and tasks ------------------------------------------------


def test_raising_takes_the_task_from_lower_cleared_people(
        shipped_office: Docroute, api: Call, pages: Callable[[str], FlaskClient]) -> None:
    title = "关于大鹏所城文物保护专项检查的通知"
    doc = register(api, "dengyu", title)
    case = start(api, "dengyu", "incoming_document", doc)  # the 机要员 registers and routes
    task = open_task(shipped_office, case, "sign_for")
    clerk = pages("zhangli")
    assert task in [t["id"] for t in api("zhangli", "GET", "/tasks").get_json()]
    assert api("zhangli", "GET", f"/instances/{case}").get_json()["title"] == title
    assert title in clerk.get("/").get_data(as_text=True)
    assert clerk.get(f"/tasks/{task}").status_code == 200
    assert api("jiangli", "POST", f"/documents/{doc}/classification",
               {"classification": "secret", "reason": "涉及文物安防部署"}).status_code == 200
    assert task not in [t["id"] for t in api("zhangli", "GET", "/tasks").get_json()]
    assert api("zhangli", "GET", f"/tasks/{task}").status_code == 404
    assert api("zhangli", "GET", f"/instances/{case}").status_code == 404
    assert title not in clerk.get("/").get_data(as_text=True)
    moved = clerk.get(f"/tasks/{task}", follow_redirects=True)
    assert title not in moved.get_data(as_text=True)
    with shipped_office.session() as s:
        assert s.get(Task, task).classification == 2


# --- item 4: no classification above one's own clearance ------------------------------------


def test_a_form_cannot_classify_above_the_submitters_clearance(shipped_office: Docroute,
                                                               api: Call) -> None:
    doc = register(api, "zhangli", "关于转发森林防火紧急通知的函")
    case = start(api, "zhangli", "incoming_document", doc)
    task = open_task(shipped_office, case, "sign_for")
    refused = api("zhangli", "POST", f"/tasks/{task}/complete",
                  {"data": sign_for("top_secret")})
    assert refused.status_code == 422
    assert "clearance" in refused.get_json()["errors"]["classification"]
    assert api("zhangli", "GET", f"/documents/{doc}").get_json()["classification"] == "none"
    assert open_task(shipped_office, case, "sign_for") == task  # nothing moved
    done = api("zhangli", "POST", f"/tasks/{task}/complete", {"data": sign_for("confidential")})
    assert done.status_code == 200
    with shipped_office.session() as s:
        assert s.get(Document, doc).classification == 1
        assert {t.classification for t in s.scalars(
            select(Task).where(Task.instance_id == case))} == {1}


def test_a_case_started_with_classification_data_is_classified(shipped_office: Docroute,
                                                                api: Call) -> None:
    case = start(api, "zhangli", "seal_use", None, {"classification": "confidential"})
    with shipped_office.session() as s:
        assert s.get(Instance, case).classification == 1
    refused = api("zhangli", "POST", "/definitions/seal_use/instances",
                  {"data": {"classification": "secret"}})
    assert refused.status_code == 422 and "classification" in refused.get_json()["errors"]
    assert api("liuyang", "GET", f"/instances/{case}").status_code == 404


# --- item 5: smaller leaks ------------------------------------------------------------------


def test_each_classification_is_numbered_in_its_own_series(shipped_office: Docroute) -> None:
    with shipped_office.session() as s:
        numbers = [numbering.allocate(s, "鹏测收", "zhangli", classification=level).number
                   for level in (0, 2, 0, 1, 2)]
    assert numbers == ["鹏测收〔2026〕1号", "鹏测收机〔2026〕1号", "鹏测收〔2026〕2号",
                       "鹏测收秘〔2026〕1号", "鹏测收机〔2026〕2号"]
    assert all(numbering.is_doc_number(n) for n in numbers)


def test_a_finished_task_above_clearance_is_404_not_409(shipped_office: Docroute,
                                                        api: Call) -> None:
    with shipped_office.session() as s:  # a records clerk cleared for 机密 signs for it
        user = identity.get_user(s, "dengyu")
        group = identity.get_group(s, "records_clerks")
        if group not in user.groups:
            user.groups.append(group)
    doc = register(api, "dengyu", "机密 关于防汛物资调拨的请示", "secret")
    case = start(api, "dengyu", "incoming_document", doc)  # the 机要员 registers and routes
    task = open_task(shipped_office, case, "sign_for")
    assert api("dengyu", "POST", f"/tasks/{task}/complete",
               {"data": sign_for("secret")}).status_code == 200
    assert api("liuyang", "GET", f"/tasks/{task}").status_code == 404
    assert api("zhangli", "POST", f"/tasks/{task}/complete",
               {"data": sign_for("none")}).status_code == 404
    assert api("wujing", "GET", f"/tasks/{task}").status_code == 409  # cleared: it moved on


def test_audit_department_filter_stays_within_clearance(shipped_office: Docroute,
                                                        pages: Callable[[str], FlaskClient]
                                                        ) -> None:
    with shipped_office.session() as s:
        for level, department in ((3, "绝密专案组"), (2, "机密协调组"), (0, "公开办")):
            s.add(Document(kind="incoming", title=f"{department}文件", classification=level,
                           department=department, created_by="admin",
                           created_at=clock.now()))
    auditor, administrator = actor(shipped_office, "auditor"), actor(shipped_office, "admin")
    with shipped_office.session() as s:
        seen = audit.departments(s, auditor)  # cleared for secret
        assert {"机密协调组", "公开办"} <= set(seen) and "绝密专案组" not in seen
        assert "绝密专案组" in audit.departments(s, administrator)
    page = pages("auditor").get("/audit/").get_data(as_text=True)
    assert "机密协调组" in page and "绝密专案组" not in page


def test_tasks_go_only_to_people_who_can_complete_them(shipped_office: Docroute,
                                                       api: Call) -> None:
    doc = register(api, "zhangli", "秘密 关于值班人员调整的通知", "confidential")
    case = start(api, "zhangli", "incoming_document", doc)
    task = open_task(shipped_office, case, "sign_for")
    assert api("zhangli", "POST", f"/tasks/{task}/claim").status_code == 200
    administrator = actor(shipped_office, "admin")
    for target, why in (("auditor", "auditor"), ("admin", "administrator account"),
                        ("liuyang", "not cleared")):
        refused = api("zhangli", "POST", f"/tasks/{task}/delegate", {"to": target})
        assert refused.status_code == 403 and why in refused.get_json()["error"], target
        with pytest.raises(Conflict) as caught, shipped_office.session() as s:
            admin.reassign(s, administrator, task, "交接", target)
        assert why in str(caught.value)
    # Cleared but not a candidate of 签收 (records clerks): the authority rule refuses too.
    refused = api("zhangli", "POST", f"/tasks/{task}/delegate", {"to": "sunli"})
    assert refused.status_code == 403 and "is not for" in refused.get_json()["error"]
    clerk = actor(shipped_office, "zhangli")
    with pytest.raises(NotAllowed), shipped_office.session() as s:
        runtime.delegate(s, task, clerk, "auditor")
    with shipped_office.session() as s:
        assert s.get(Task, task).assignee == "zhangli"


def test_linked_cases_are_listed_only_when_visible(shipped_office: Docroute, api: Call) -> None:
    from engine.registry import links

    mine = start(api, "zhangli", "seal_use")
    theirs = start(api, "liuyang", "seal_use")
    clerk, administrator = actor(shipped_office, "zhangli"), actor(shipped_office, "admin")
    with shipped_office.session() as s:
        links.link(s, mine, theirs, "instruction", "admin")
    with shipped_office.session() as s:
        assert links.linked_cases(s, clerk, mine) == []  # 刘洋's case is not hers to see
        assert [c.instance_id for c in links.linked_cases(s, administrator, mine)] == [theirs]
