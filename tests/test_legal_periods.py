"""Every legal and internal period runs in the deadline engine, in working days.

Real database, shipped diagrams and forms, the demo organisation, a moved clock: the
disclosure answer, the proposal answer and co-opinions, the supervision and incoming time
limits, 催办, and the demo's coverage. The dates are counted on the official 2026
calendar (Mid-Autumn 09-25, National Day 10-01..07, make-up Saturday 10-10) and on the
provisional 2027 year (Spring Festival from 除夕 2027-02-05, 4 days, no make-up days:
Fri 02-05 to Mon 02-08 are off).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import Docroute, clock, deadlines, demo, runtime
from engine.config import Settings
from engine.deadlines import chase
from engine.errors import Conflict, FormInvalid, NotAllowed, NotFound
from engine.models import Event, Notification, Task
from engine.org import identity

D = date.fromisoformat


@pytest.fixture
def office(db_url: str, tmp_path: Path, manual_clock: clock.ManualClock) -> Iterator[Docroute]:
    app = Docroute(Settings(home=tmp_path / "home", database_url=db_url))
    app.init()
    with app.session() as s:
        demo.seed_organisation(s)
    yield app
    app.engine.dispose()


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(D(day), time(hour), tzinfo=clock.OFFICE_TZ)


def actor(app: Docroute, username: str) -> identity.Actor:
    with app.session() as s:
        user = identity.find_user(s, username)
        assert user is not None
        return identity.Actor.of(user)


def step(app: Docroute, case: int, spec: str, data: dict[str, Any],
         who: str | None = None) -> None:
    """Complete the case's open ``spec`` task as ``who`` or someone who may hold it."""
    with app.session() as s:
        task = s.scalars(select(Task).where(Task.instance_id == case, Task.spec.in_(
            [spec, f"{spec} [child]"]))).first()
        assert task is not None, [t.spec for t in s.scalars(select(Task).where(
            Task.instance_id == case))]
        if who is not None:
            pass
        elif task.assignee:
            who = task.assignee
        else:
            who = next(u.username for g in task.candidate_groups
                       for u in identity.members(s, g) if u.clearance >= task.classification)
        task_id = task.id
    with app.session() as s:
        runtime.complete(s, task_id, actor(app, who), data)


def answer(app: Docroute, case: int) -> deadlines.DeadlineView:
    with app.session() as s:
        return deadlines.get(s, case, "answer")


def start(app: Docroute, manual_clock: clock.ManualClock, received: str) -> int:
    manual_clock.set(at(received))
    with app.session() as s:
        case = runtime.start_case(s, actor(app, "guoyan"), "disclosure_request").id
    step(app, case, "register", {
        "applicant_name": "王某", "applicant_type": "natural_person", "contact": "138",
        "received_via": "online", "received_on": received, "title": "申请公开海岸带修复资金",
        "request_content": "2026年海岸带修复项目资金使用情况"})
    return case


def test_registration_starts_the_legal_and_internal_dates(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    case = start(office, manual_clock, "2026-09-28")
    view = answer(office, case)
    # 20 working days across Mid-Autumn/National Day and the 10-10 make-up Saturday.
    assert (view.legal_due, view.target_due, view.status) == (D("2026-10-30"),
                                                              D("2026-10-23"), "running")


def test_the_answer_period_runs_before_the_first_step_then_follows_the_typed_date(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    manual_clock.set(at("2026-09-28"))  # Monday: both cases start today
    guoyan, zhangli = actor(office, "guoyan"), actor(office, "zhangli")
    with office.session() as s:
        request = runtime.start_case(s, guoyan, "disclosure_request").id
        suggestion = runtime.start_case(s, zhangli, "suggestion_proposal").id
    # Waiting at 登记申请 / 交办, each case already has its row, counted from the start day.
    view = answer(office, request)
    assert (view.started_on, view.legal_due, view.target_due, view.status) == (
        D("2026-09-28"), D("2026-10-30"), D("2026-10-23"), "running")
    view = answer(office, suggestion)
    assert (view.started_on, view.legal_due, view.status) == (
        D("2026-09-28"), D("2026-12-28"), "running")
    # The first step types an earlier date: the period is counted from it instead.
    step(office, request, "register", {
        "applicant_name": "王某", "applicant_type": "natural_person", "contact": "138",
        "received_via": "post", "received_on": "2026-09-24", "title": "申请公开海岸带修复资金",
        "request_content": "2026年海岸带修复项目资金使用情况"})
    view = answer(office, request)
    # 20 (15) working days from Thu 09-24: Mid-Autumn 09-25 and National Day off, 10-10 on.
    assert (view.started_on, view.legal_due, view.target_due, view.status) == (
        D("2026-09-24"), D("2026-10-29"), D("2026-10-22"), "running")
    step(office, suggestion, "assign", {
        "proposal_kind": "deputy_suggestion", "session_label": "七届人大三次会议",
        "proposal_number": "第0124号", "title": "关于完善大鹏半岛公交线路的建议",
        "lead_proposer": "李代表", "key_item": False, "assigned_on": "2026-09-22",
        "handling_mode": "lead_co", "lead_department": "urban_management",
        "co_departments": []})
    view = answer(office, suggestion)
    # 3 months from Tue 09-22: Tue 12-22 (the start day's would be Mon 12-28).
    assert (view.started_on, view.legal_due, view.status) == (
        D("2026-09-22"), D("2026-12-22"), "running")
    # Moving the clock to the typed day is not a restart (补正): nothing says 重新计时.
    with office.session() as s:
        assert [deadlines.get(s, c, "answer").restarts for c in (request, suggestion)] == [0, 0]


def test_consultation_pause_across_spring_festival_and_a_late_extension_is_refused(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    case = start(office, manual_clock, "2027-01-25")
    view = answer(office, case)
    assert view.provisional  # 2027 has no State Council notice in the built-in data
    # 20 working days from Mon 01-25, Spring Festival 02-05..02-08 off.
    assert view.legal_due == D("2027-02-24")
    step(office, case, "check", {"completeness": "complete", "correction_days": 15})
    step(office, case, "route", {"holding_department": "dev_finance"})
    manual_clock.set(at("2027-02-01"))
    step(office, case, "search", {"action": "submit", "third_party": True,
                                  "search_result": "涉及企业"})
    assert answer(office, case).status == "paused"
    manual_clock.set(at("2027-02-18"))
    step(office, case, "consult", {"third_party_name": "某公司", "consulted_on": "2027-02-01",
                                   "replied_on": "2027-02-18", "third_party_reply": "agree",
                                   "public_interest_override": False})
    view = answer(office, case)
    # Paused (02-01, 02-18]: 02-02..02-04, 02-09..02-12, 02-15..02-18 = 11 working days.
    assert (view.status, view.paused_units, view.legal_due) == ("running", 11,
                                                                D("2027-03-11"))
    step(office, case, "secrecy_review", {"decision": "return", "secrecy_opinion": "再查"})
    step(office, case, "search", {"action": "extend", "third_party": False,
                                  "extension_reason": "需调取档案"})
    manual_clock.set(at("2027-03-12"))  # the day after the legal due date
    with pytest.raises(FormInvalid) as late:
        step(office, case, "approve_extension", {"decision": "approve",
                                                 "extension_opinion": "同意"})
    assert "an extension must be approved before the due date" in str(late.value)
    assert answer(office, case).extension == 0  # nothing moved


def test_extension_before_the_due_date_notifies_the_applicant(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    case = start(office, manual_clock, "2026-09-28")
    step(office, case, "check", {"completeness": "complete", "correction_days": 15})
    step(office, case, "route", {"holding_department": "dev_finance"})
    step(office, case, "search", {"action": "extend", "third_party": False,
                                  "extension_reason": "需调取档案"})
    manual_clock.set(at("2026-10-30"))  # the last day still counts
    step(office, case, "approve_extension", {"decision": "approve", "extension_opinion": "同意"})
    view = answer(office, case)
    assert (view.extension, view.legal_due) == (20, D("2026-11-27"))
    step(office, case, "notify_extension", {"notice_method": "email",
                                            "notified_on": "2026-10-30"})
    with office.session() as s:
        types = [e.type for e in s.scalars(select(Event).where(Event.instance_id == case))]
    assert types.count("completed") >= 5
    # A second extension is refused at the approval form: the cap is one of 20 days.
    step(office, case, "search", {"action": "extend", "third_party": False,
                                  "extension_reason": "再延"})
    with pytest.raises(FormInvalid) as capped:
        step(office, case, "approve_extension", {"decision": "approve",
                                                 "extension_opinion": "同意"})
    assert "at most 20" in str(capped.value)


def test_the_correction_restarts_and_abandonment_records_a_result(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    case = start(office, manual_clock, "2026-09-28")
    step(office, case, "check", {"completeness": "correct", "correction_notice": "请明确年份",
                                 "correction_days": 5})
    manual_clock.set(at("2026-10-20"))
    from engine.runtime import timers
    timers.fire_due(office)
    view = answer(office, case)
    assert view.status == "closed"
    with office.session() as s:
        from engine.models import Instance
        instance = s.get(Instance, case)
        assert instance is not None and instance.status != "running"


def test_chase_notifies_the_holders_once_and_is_recorded(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    case = start(office, manual_clock, "2026-09-28")
    with office.session() as s, pytest.raises((NotAllowed, NotFound)):
        chase.chase(s, actor(office, "wangfang"), case)  # not involved, no authority
    with office.session() as s:
        result = chase.chase(s, actor(office, "guoyan"), case, "请今日审查")
    assert result.tasks == ["审查申请"] and result.notified
    with office.session() as s:
        notes = s.scalars(select(Notification).where(Notification.instance_id == case)).all()
        assert {n.level for n in notes} == {"red"} and len(notes) == len(result.notified)
        event = s.scalar(select(Event).where(Event.instance_id == case,
                                             Event.type == "chased"))
        assert event is not None and "请今日审查" in event.payload
    with office.session() as s, pytest.raises(Conflict) as again:
        chase.chase(s, actor(office, "guoyan"), case)
    assert "already chased" in str(again.value)
    manual_clock.set(at("2026-09-28", 13))
    with office.session() as s:
        chase.chase(s, actor(office, "guoyan"), case)


# --- the demo: every running case of a process with a period has its row -------------------

PERIOD_PROCESSES = {"disclosure_request", "suggestion_proposal", "supervision",
                    "proactive_disclosure", "incoming_document", "outgoing_document"}


def test_every_running_case_of_the_demo_has_its_deadline(
        db_url: str, tmp_path: Path, manual_clock: clock.ManualClock) -> None:
    from engine.config import PROJECT_ROOT
    from engine.models import Deadline, Instance

    app = Docroute(Settings(home=tmp_path / "home", database_url=db_url,
                            forms_dir=PROJECT_ROOT / "forms",
                            workflows_dir=PROJECT_ROOT / "workflows"))
    try:
        app.init()
        demo.seed(app)
        with app.session() as s:
            running = [(i.id, i.definition.key) for i in s.scalars(
                select(Instance).where(Instance.status == "running"))
                if i.definition.key in PERIOD_PROCESSES]
            with_rows = set(s.scalars(select(Deadline.instance_id)))
        assert {key for _, key in running} == PERIOD_PROCESSES  # the demo shows each
        assert [(i, key) for i, key in running if i not in with_rows] == []
    finally:
        app.engine.dispose()


# --- 催办 on the document page and through the API ------------------------------------------


def test_chase_from_the_document_page_and_the_api(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    from webui import create_app

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": "t"}, docroute=office)
    with office.session() as s:
        tokens = {name: identity.create_token(s, name) for name in ("zhangli", "guoyan")}
    api = app.test_client()

    def call(who: str, method: str, path: str, body: Any = None) -> Any:
        return api.open(f"/api/v1{path}", method=method, json=body,
                        headers={"Authorization": f"Bearer {tokens[who]}"})

    document = call("zhangli", "POST", "/documents", {"kind": "incoming", "fields": {
        "title": "关于做好防汛工作的通知", "source_org": "深圳市三防指挥部", "doc_type": "通知",
        "classification": "none"}}).get_json()["id"]
    case = call("zhangli", "POST", "/definitions/incoming_document/instances",
                {"document_id": document, "data": {}}).get_json()["id"]
    page = app.test_client()
    assert page.post("/login", data={"username": "zhangli",
                                     "password": demo.PASSWORD}).status_code == 302
    html = page.get(f"/documents/{document}").get_data(as_text=True)
    assert f'action="/cases/{case}/chase"' in html
    response = page.post(f"/cases/{case}/chase", data={"note": "请今日签收"})
    assert response.status_code == 302 and response.location.endswith(f"/documents/{document}")
    with office.session() as s:
        chased = s.scalars(select(Event).where(Event.instance_id == case,
                                               Event.type == "chased")).all()
        assert len(chased) == 1 and "请今日签收" in chased[0].payload
        assert s.scalars(select(Notification).where(Notification.instance_id == case)).all()
    timeline = page.get(f"/documents/{document}").get_data(as_text=True)
    assert "请今日签收" in timeline
    # A second chase at once is refused with the reason, on the page and through the API.
    page.post(f"/cases/{case}/chase", data={})
    # The refusal shows in the page's language only (zh here): "… 已于 … 催办，请稍后再催".
    assert "请稍后再催" in page.get(f"/documents/{document}").get_data(as_text=True)
    refused = call("zhangli", "POST", f"/cases/{case}/chase", {"note": "再催"})
    assert refused.status_code == 409, refused.get_json()
    # Someone neither involved nor supervising may not chase (the case is invisible to them).
    assert call("guoyan", "POST", f"/cases/{case}/chase", {}).status_code == 404
    manual_clock.advance(timedelta(hours=3))
    done = call("zhangli", "POST", f"/cases/{case}/chase", {"note": "再催"})
    assert done.status_code == 200 and done.get_json()["tasks"] == ["签收"]


# --- the other processes' periods, with a moved clock --------------------------------------


def test_other_organ_consultation_pause_across_national_day(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    case = start(office, manual_clock, "2026-09-21")
    # 20 working days from 09-21: Mid-Autumn 09-25, National Day 10-01..07, 10-10 worked.
    assert answer(office, case).legal_due == D("2026-10-26")
    step(office, case, "check", {"completeness": "complete", "correction_days": 15})
    step(office, case, "route", {"holding_department": "dev_finance"})
    manual_clock.set(at("2026-09-29"))
    step(office, case, "search", {"action": "submit", "third_party": False, "other_organ": True,
                                  "search_result": "需征求区规划和自然资源局意见"})
    manual_clock.set(at("2026-10-12"))
    step(office, case, "consult", {"third_party_name": "区规划和自然资源局",
                                   "consulted_on": "2026-09-29", "replied_on": "2026-10-12",
                                   "third_party_reply": "agree",
                                   "public_interest_override": False})
    view = answer(office, case)
    # (09-29, 10-12]: 09-30, 10-08, 10-09, 10-10 (make-up Sat), 10-12 = 5 working days.
    assert (view.paused_units, view.legal_due) == (5, D("2026-11-02"))


def proposal(office: Docroute, manual_clock: clock.ManualClock, assigned: str) -> int:
    manual_clock.set(at(assigned))
    with office.session() as s:
        case = runtime.start_case(s, actor(office, "zhangli"), "suggestion_proposal").id
    step(office, case, "assign", {
        "proposal_kind": "deputy_suggestion", "session_label": "七届人大三次会议",
        "proposal_number": "第0123号", "title": "关于加强大鹏所城文物保护的建议",
        "lead_proposer": "李代表", "key_item": False, "assigned_on": assigned,
        "handling_mode": "lead_co", "lead_department": "urban_management",
        "co_departments": ["housing_construction"]})
    return case


def test_proposal_answer_across_spring_festival_and_the_extension_cap(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    case = proposal(office, manual_clock, "2026-11-05")
    with office.session() as s:
        periods = {d.name: d for d in deadlines.list_for_case(s, case)}
    # 3 months: 2027-02-05 is 除夕 (provisional 2027: 02-05..02-08 off) -> Tue 02-09.
    assert periods["answer"].legal_due == D("2027-02-09") and periods["answer"].provisional
    step(office, case, "sign_for", {"sign_result": "accept"})
    # Co-opinions within a month: Sat 12-05 rolls to Mon 12-07.
    with office.session() as s:
        assert deadlines.get(s, case, "co_opinions").legal_due == D("2026-12-07")
    step(office, case, "give_co_opinion", {"co_opinion": "配合修缮"})
    with office.session() as s:
        assert deadlines.get(s, case, "co_opinions").status == "closed"
    step(office, case, "consult", {"consulted_on": "2026-11-20", "consult_method": "visit",
                                   "consult_record": "登门听取意见"})
    step(office, case, "answer", {"action": "extend", "result_category": "B",
                                  "extension_reason": "需专家论证"})
    manual_clock.set(at("2027-02-09"))  # the last day of the period: still in time
    step(office, case, "approve_extension", {"extension_months": 3, "extension_opinion": "同意",
                                             "decision": "approve"})
    view = answer(office, case)
    assert (view.extension, view.legal_due) == (3, D("2027-05-05"))
    step(office, case, "answer", {"action": "extend", "result_category": "B",
                                  "extension_reason": "再延"})
    with pytest.raises(FormInvalid) as capped:
        step(office, case, "approve_extension", {"extension_months": 1,
                                                 "extension_opinion": "同意",
                                                 "decision": "approve"})
    assert "at most 3" in str(capped.value)


def test_supervision_time_limit_and_a_late_extension_request(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    manual_clock.set(at("2026-09-24"))
    with office.session() as s:
        case = runtime.start_case(s, actor(office, "zhangli"), "supervision").id
    with office.session() as s:
        # 15 working days by default from registration (Mid-Autumn, National Day off).
        assert deadlines.get(s, case, "handling").legal_due == D("2026-10-22")
    step(office, case, "register", {
        "source_type": "leader_instruction", "title": "落实国庆游客安全保障",
        "instruction_text": "请应急管理局牵头抓好落实", "instructing_leader": "陈明",
        "instructed_on": "2026-09-24", "difficulty": "normal", "urgency": "",
        "deadline": "2026-10-09"})
    step(office, case, "propose", {"track": "track", "propose_note": "建议立项"})
    step(office, case, "approve", {"approve_opinion": "同意", "decision": "approve"})
    step(office, case, "assign", {"lead_department": "emergency_management",
                                  "requirements": "制定方案", "deadline": "2026-10-09",
                                  "feedback_cycle": "weekly"})
    with office.session() as s:
        assert deadlines.get(s, case, "handling").legal_due == D("2026-10-09")
    manual_clock.set(at("2026-10-12"))
    with pytest.raises(FormInvalid) as late:
        step(office, case, "handle", {"action": "extend", "extension_reason": "需协调交警"})
    assert "an extension must be approved before the due date" in str(late.value)


def test_incoming_time_limit_by_urgency_then_the_instruction(
        office: Docroute, manual_clock: clock.ManualClock) -> None:
    manual_clock.set(at("2026-09-30"))
    with office.session() as s:
        case = runtime.start_case(s, actor(office, "zhangli"), "incoming_document").id
    step(office, case, "sign_for", {"received_at": "2026-09-30T09:30:00+08:00",
                                    "source_org": "深圳市人民政府", "copies": 2,
                                    "urgency": "特急", "classification": "none"})
    step(office, case, "register", {"title": "关于做好国庆假期安全工作的通知", "doc_type": "通知",
                                    "source_org": "深圳市人民政府",
                                    "issued_on": "2026-09-29"})
    with office.session() as s:
        # 特急: one working day, and the next one is after National Day.
        assert deadlines.get(s, case, "handling").legal_due == D("2026-10-08")
    step(office, case, "initial_check", {"check_result": "accept"})
    step(office, case, "propose", {"proposed_handling": "请应急管理局办理", "handling_mode": "act",
                                   "deadline": "2026-10-09",
                                   "lead_department": "emergency_management",
                                   "instruction_group": "supervising_leaders"})
    step(office, case, "instruct", {"instruction": "请应急管理局牵头", "handling_mode": "act",
                                    "deadline": "2026-10-10", "decision": "approve"},
         who="chenming")  # from the city government: the principal leader instructs
    step(office, case, "distribute_act", {"lead_department": "emergency_management",
                                          "co_departments": []})
    with office.session() as s:
        view = deadlines.get(s, case, "handling")
        task = s.scalar(select(Task).where(Task.instance_id == case, Task.spec == "handle"))
    assert view.legal_due == D("2026-10-10")  # the make-up Saturday is a working day
    assert task is not None and task.due_at == datetime(2026, 10, 10, 15, 59, 59,
                                                        tzinfo=clock.UTC)
