"""Importing an official year moves every open provisional date (engine/calendar_recompute.py).

The scenario of issue 10: a case computes a 20-working-day deadline in December 2026 that
reaches 2027, which has no State Council notice yet. It is answered from the statutory
holidays and flagged; when the official 2027 arrives with a make-up Saturday (2 January),
the deadline, the task's due date and the case data move one day earlier, in one
transaction, with a history event, a notification, and a case that still replays.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time

import pytest
from sqlalchemy import select

from engine import Docroute, clock, history, runtime
from engine.deadlines import calendar_recompute, notify, workcalendar
from engine.deadlines.workcalendar import WorkCalendar, builtin_calendar
from engine.definitions import SourceFile
from engine.history import replay
from engine.models import Deadline, Instance, Notification, ProvisionalDate, Task, User
from engine.org import identity

D = date.fromisoformat
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NOTICE = "国办发明电〔2026〕9号"

BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:spiffworkflow="{SPIFF}"
                  id="defs_answer" targetNamespace="http://docroute.example/test">
  <bpmn:process id="answer_by" name="限期答复" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="s_start" name="起算">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="deadline_start" resultVariable="deadline">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="name" type="any" value="'reply'"/>
            <spiffworkflow:parameter id="kind" type="any" value="'workdays'"/>
            <spiffworkflow:parameter id="n" type="any" value="20"/>
            <spiffworkflow:parameter id="start" type="any" value="received_on"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:scriptTask id="plan" name="计算期限">
      <bpmn:script>due_on = str(add_workdays(parse_date(received_on), 20))
check_by = str(add_workdays(parse_date(received_on), 3))</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="answer" name="答复" camunda:candidateGroups="reviewers"
                   camunda:dueDate="${{due_on}}"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="s_start"/>
    <bpmn:sequenceFlow id="f2" sourceRef="s_start" targetRef="plan"/>
    <bpmn:sequenceFlow id="f3" sourceRef="plan" targetRef="answer"/>
    <bpmn:sequenceFlow id="f4" sourceRef="answer" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture(autouse=True)
def _through_2026(request: pytest.FixtureRequest) -> None:
    # Official data through 2026 only, whatever a newer chinese-calendar release ships.
    if "docroute" in request.fixturenames:
        request.getfixturevalue("docroute").calendar.use(
            WorkCalendar(builtin_calendar().rows(2026)))


def official_2027() -> str:
    """The 2027 notice as CSV: the statutory holidays plus a make-up Saturday on 2 January."""
    text = workcalendar.template_csv(2027)
    assert "2027-01-02,0,\n" in text
    return text.replace("2027-01-02,0,\n", "2027-01-02,1,元旦调休上班\n")


@pytest.fixture
def case(docroute: Docroute, manual_clock: clock.ManualClock,
         people: dict[str, identity.Actor]) -> int:
    with docroute.session() as s:
        workcalendar.seed(s, WorkCalendar(builtin_calendar().rows(2026)))
        docroute.deploy(s, [SourceFile("answer_by.bpmn", BPMN.encode())], actor="admin")
    manual_clock.set(datetime.combine(D("2026-12-10"), time(10), tzinfo=clock.OFFICE_TZ))
    with docroute.session() as s:
        return runtime.start_case(s, people["clerk"], "answer_by",
                                  {"received_on": "2026-12-10"}).id


def task_row(docroute: Docroute, case: int) -> Task:
    with docroute.session() as s:
        row = s.scalar(select(Task).where(Task.instance_id == case))
        assert row is not None
        s.expunge(row)
        return row


def case_data(docroute: Docroute, case: int) -> dict:
    with docroute.session() as s:
        return replay.case_data(runtime.load_workflow(s, s.get(Instance, case)))


def test_a_deadline_into_next_year_runs_provisionally(docroute: Docroute, case: int) -> None:
    with docroute.session() as s:
        instance = s.get(Instance, case)
        assert instance.status == "running", instance.incident
        deadline = s.scalar(select(Deadline).where(Deadline.instance_id == case))
        assert (deadline.legal_due, deadline.provisional) == (D("2027-01-08"), True)
        ledger = s.scalars(select(ProvisionalDate).where(ProvisionalDate.instance_id == case))
        assert [(r.op, r.start, r.amount, r.result) for r in ledger] == [
            ("add_workdays", "2026-12-10", 20, "2027-01-08")]  # check_by stays in 2026
    row = task_row(docroute, case)
    assert row.due_provisional is True
    assert row.due_at.astimezone(clock.OFFICE_TZ).date() == D("2027-01-08")
    data = case_data(docroute, case)
    assert data["due_on"] == "2027-01-08" and data["check_by"] == "2026-12-15"
    started = next(e for e in events(docroute, case) if e["type"] == "started")
    assert started["calendar"] == [{"op": "add_workdays", "start": "2026-12-10",
                                    "amount": 20, "result": "2027-01-08"}]


def events(docroute: Docroute, case: int) -> list[dict]:
    with docroute.session() as s:
        return [{"type": e.type, **json.loads(e.payload)}
                for e in history.case_events(s, case)]


def test_importing_the_notice_moves_every_provisional_date(docroute: Docroute, case: int,
                                                           manual_clock: clock.ManualClock
                                                           ) -> None:
    manual_clock.set(datetime.combine(D("2026-12-15"), time(9), tzinfo=clock.OFFICE_TZ))
    with docroute.session() as s:
        change = calendar_recompute.import_csv(s, official_2027(), NOTICE, "admin")
    assert change.years == [2027] and change.cases == [case]
    assert docroute.work_calendar().basis(2027) == "official"

    with docroute.session() as s:
        deadline = s.scalar(select(Deadline).where(Deadline.instance_id == case))
        assert (deadline.legal_due, deadline.provisional) == (D("2027-01-07"), False)
        assert s.scalars(select(ProvisionalDate)).all() == []  # nothing left to recompute
        told = {u.username for u in s.scalars(select(User).join(
            Notification, Notification.user_id == User.id).where(
            Notification.instance_id == case))}
        assert told == {"rev1", "rev2"}  # the candidates of the moved task
    row = task_row(docroute, case)
    assert row.due_provisional is False
    assert row.due_at.astimezone(clock.OFFICE_TZ).date() == D("2027-01-07")
    data = case_data(docroute, case)
    assert data["due_on"] == "2027-01-07"
    assert data["deadline"]["legal_due"] == "2027-01-07"
    assert data["deadline"]["due_at"].startswith("2027-01-07T23:59:59")
    assert data["check_by"] == "2026-12-15"  # an official answer never moves

    recomputed = [e for e in events(docroute, case) if e["type"] == "calendar_recomputed"]
    assert len(recomputed) == 1
    event = recomputed[0]
    assert event["years"] == [2027] and NOTICE in event["reason"]
    assert {"old": "2027-01-08", "new": "2027-01-07"} in event["changes"]
    assert event["deadlines"][0]["old"] == "2027-01-08"
    assert event["deadlines"][0]["new"] == "2027-01-07"
    assert event["tasks"][0]["name"] == "答复"

    # The history still proves the state: replay hands back the provisional answer at the
    # start and applies the recompute event, arriving where the case is.
    with docroute.session() as s:
        verdict = replay.verify(s, case)
    assert verdict.ok, verdict.difference

    # And the case runs on to its end.
    with docroute.session() as s:
        rev1 = identity.Actor.of(identity.get_user(s, "rev1"))
        runtime.complete(s, row.id, rev1, {})
    with docroute.session() as s:
        assert s.get(Instance, case).status == "completed"


def test_an_import_that_moves_nothing_records_nothing(docroute: Docroute, case: int) -> None:
    # An official 2027 identical to the provisional year: every date stays where it was.
    with docroute.session() as s:
        change = calendar_recompute.import_csv(s, workcalendar.template_csv(2027), NOTICE,
                                               "admin")
    assert change.cases == []
    assert [e for e in events(docroute, case) if e["type"] == "calendar_recomputed"] == []
    row = task_row(docroute, case)
    assert row.due_provisional is False  # no longer a guess, though the date is the same
    with docroute.session() as s:
        assert s.scalar(select(Deadline.provisional)) is False


def test_a_refused_import_changes_nothing(docroute: Docroute, case: int) -> None:
    broken = official_2027().replace("2027-03-01,1,\n", "")
    with docroute.session() as s, pytest.raises(workcalendar.CalendarInvalid):
        calendar_recompute.import_csv(s, broken, NOTICE, "admin")
    assert docroute.work_calendar().basis(2027) == "provisional"
    assert task_row(docroute, case).due_provisional is True


def test_pages_and_api_mark_the_provisional_date(docroute: Docroute, case: int) -> None:
    from webui import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "t", "WTF_CSRF_ENABLED": False},
                     docroute=docroute)
    with docroute.session() as s:
        token = identity.create_token(s, "rev1")
        document_id = s.get(Instance, case).document_id
    client = app.test_client()
    tasks = client.get("/api/v1/tasks?scope=all",
                       headers={"Authorization": f"Bearer {token}"}).get_json()
    mine = [t for t in tasks if t["instance_id"] == case]
    assert mine and mine[0]["due_provisional"] is True
    login = client.post("/login", data={"username": "rev1", "password": "password1"})
    assert login.status_code in (302, 303)
    inbox = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "暂按法定节假日推算" in inbox
    task_page = client.get(f"/tasks/{mine[0]['id']}",
                           headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "provisional: computed from the statutory holidays" in task_page
    if document_id is not None:
        detail = client.get(f"/documents/{document_id}").get_data(as_text=True)
        assert "provisional" in detail or "暂按法定节假日推算" in detail


def test_administrators_are_told_once_from_october(docroute: Docroute,
                                                   manual_clock: clock.ManualClock,
                                                   people: dict[str, identity.Actor]) -> None:
    with docroute.session() as s:
        workcalendar.seed(s, WorkCalendar(builtin_calendar().rows(2026)))
        assert calendar_recompute.warn_missing_notice(s, D("2026-09-30")) == 0
        assert calendar_recompute.warn_missing_notice(s, D("2026-10-01")) == 1  # admin only
        assert calendar_recompute.warn_missing_notice(s, D("2026-10-02")) == 0  # once
        (message,) = s.scalars(select(Notification.message))
    assert notify.decode(message) == ("calendar.notice_missing", {"year": 2027})
    with docroute.session() as s:
        calendar_recompute.import_csv(s, official_2027(), NOTICE, "admin")
        assert calendar_recompute.warn_missing_notice(s, D("2026-12-01")) == 0
