"""Statutory deadlines (engine/deadlines.py): arithmetic, changes, history, operators.

The disclosure case follows 《政府信息公开条例》: 20 working days (Art. 33), 补正 restarts
the clock (Art. 30), third-party consultation is excluded (Art. 32), an extension of at
most 20 working days needs the office head's approval. Dates were counted by hand on the
2026 calendar: Mid-Autumn 09-25..27, National Day 10-01..07, make-up days Sun 09-20 and
Sat 10-10.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select

from engine import Docroute, clock, deadlines, history, runtime
from engine.deadlines import workcalendar
from engine.deadlines.workcalendar import CalendarMissing, DayRow, WorkCalendar
from engine.definitions import SourceFile
from engine.errors import Conflict, DocrouteError
from engine.models import Deadline, Event, Instance, Task
from engine.org import identity

D = date.fromisoformat
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"


def service(task_id: str, name: str, op: str, params: dict[str, str]) -> str:
    rows = "".join(f'<spiffworkflow:parameter id="{k}" type="any" value="{v}"/>'
                   for k, v in params.items())
    return f"""
    <bpmn:serviceTask id="{task_id}" name="{name}">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="{op}" resultVariable="deadline">
          <spiffworkflow:parameters>{rows}</spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>"""


def chain(*steps: str) -> str:
    return "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
                   for i, (a, b) in enumerate(pairwise(steps)))


# 起算 -> 补正 -> 重新起算 -> 征求第三方意见 -> 暂停 -> 第三方答复 -> 恢复 -> 答复 -> 办结
DISCLOSURE_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:spiffworkflow="{SPIFF}"
                  id="defs_disclosure" targetNamespace="http://docroute.example/test">
  <bpmn:process id="disclosure" name="依申请公开" isExecutable="true">
    <bpmn:startEvent id="start"/>
    {service("s_start", "起算", "deadline_start",
             {"name": "'reply'", "kind": "'workdays'", "n": "20", "target": "15",
              "max_extension": "20", "start": "received_on"})}
    <bpmn:userTask id="correct" name="补正" camunda:candidateGroups="reviewers"/>
    {service("s_restart", "重新起算", "deadline_restart",
             {"name": "'reply'", "reason": "'补正后重新起算'"})}
    <bpmn:userTask id="consult" name="征求第三方意见" camunda:candidateGroups="reviewers"/>
    {service("s_pause", "暂停计时", "deadline_pause",
             {"name": "'reply'", "reason": "'第三方意见'"})}
    <bpmn:userTask id="reply_in" name="第三方答复" camunda:candidateGroups="reviewers"/>
    {service("s_resume", "恢复计时", "deadline_resume", {"name": "'reply'"})}
    <bpmn:userTask id="answer" name="答复" camunda:candidateGroups="reviewers"
                   camunda:dueDate="${{deadline['due_at']}}"/>
    {service("s_close", "办结", "deadline_close", {"name": "'reply'"})}
    <bpmn:endEvent id="end"/>
    {chain("start", "s_start", "correct", "s_restart", "consult", "s_pause", "reply_in",
           "s_resume", "answer", "s_close", "end")}
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def case(docroute: Docroute) -> int:
    """A bare case to hang deadlines on (started on 2026-03-02 by the manual clock)."""
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), "admin")
    with docroute.session() as s:
        docroute.deploy(s, docroute.workflow_files(), actor="admin")
    with docroute.session() as s:
        return runtime.start_case(s, identity.SYSTEM, "review").id


def on(day: str, hour: int = 10) -> datetime:
    return datetime.combine(D(day), time(hour), tzinfo=clock.OFFICE_TZ)


def events(docroute: Docroute, instance_id: int, prefix: str) -> list[dict]:
    with docroute.session() as s:
        rows = history.case_events(s, instance_id)
        assert list(history.verify_events(f"case:{instance_id}", rows,
                                             history.keys_for(s).mac_key)) == []
        return [{"type": e.type, **json.loads(e.payload)} for e in rows
                if e.type.startswith(prefix)]


# --- arithmetic ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "start", "n", "due"), [
    ("workdays", "2026-09-28", 20, "2026-10-30"),  # across National Day (DOMAIN.md §5)
    ("workdays", "2026-02-12", 1, "2026-02-13"),
    ("workdays", "2026-02-13", 1, "2026-02-14"),  # the make-up Saturday counts
    ("workdays", "2026-02-14", 1, "2026-02-24"),  # then the Spring Festival break
    ("days", "2026-09-24", 7, "2026-10-08"),  # ends on a holiday: rolls to a working day
    ("days", "2026-10-03", 7, "2026-10-10"),  # ends on the make-up Saturday: no roll
    ("months", "2026-01-31", 1, "2026-02-28"),  # month end; a make-up Saturday: no roll
    ("months", "2026-01-15", 1, "2026-02-24"),  # 02-15 is in the break: rolls
    ("months", "2025-12-31", 2, "2026-02-28"),
])
def test_due_dates_on_the_official_calendar(kind: str, start: str, n: int, due: str) -> None:
    assert deadlines.due_date(workcalendar.builtin_calendar(), kind, D(start), n) == D(due)


def strict_2026() -> WorkCalendar:
    """2026 only, without provisional years: a year is truly missing."""
    return WorkCalendar(workcalendar.builtin_calendar().rows(2026), provisional=False)


def test_a_year_without_calendar_data_is_refused_clearly(
        docroute: Docroute, case: int, manual_clock: clock.ManualClock) -> None:
    docroute.calendar.use(strict_2026())
    with docroute.session() as s, pytest.raises(CalendarMissing) as error:
        deadlines.start(s, case, "reply", kind="workdays", n=20, start_on="2026-12-10")
    assert error.value.year == 2027
    assert "no working-day calendar for 2027" in str(error.value)
    with docroute.session() as s:
        assert s.scalars(select(Deadline)).all() == []  # nothing stored
    # Once an administrator has entered 2027, the same deadline starts.
    days_2027 = (date(2027, 1, 1) + timedelta(days=i) for i in range(365))
    rows = [*workcalendar.builtin_calendar().rows(2026),
            *(DayRow(d, d.weekday() < 5) for d in days_2027)]
    docroute.calendar.use(WorkCalendar(rows))
    with docroute.session() as s:
        view = deadlines.start(s, case, "reply", kind="workdays", n=20, start_on="2026-12-10")
    assert view.legal_due == D("2027-01-07")


# --- changes, recorded in history ---------------------------------------------------------------


def test_pause_resume_restart_extend_close(docroute: Docroute, case: int,
                                          manual_clock: clock.ManualClock) -> None:
    with docroute.session() as s:
        view = deadlines.start(s, case, "reply", kind="workdays", n=20, target=15,
                               max_extension=20, start_on="2026-09-14")
    # 15th working day: the make-up Saturday 10-10; 20th: 10-16.
    assert (view.legal_due, view.target_due) == (D("2026-10-16"), D("2026-10-10"))
    with docroute.session() as s:
        view = deadlines.restart(s, case, "reply", on="2026-09-22", reason="补正", actor="clerk")
    assert (view.legal_due, view.target_due, view.restarts) == (D("2026-10-27"),
                                                                 D("2026-10-20"), 1)
    with docroute.session() as s:
        deadlines.pause(s, case, "reply", on="2026-09-29", reason="征求第三方意见")
    with docroute.session() as s, pytest.raises(Conflict):
        deadlines.pause(s, case, "reply", on="2026-09-30")
    with docroute.session() as s:
        view = deadlines.resume(s, case, "reply", on="2026-10-16")
    # 9 working days in (09-29, 10-16]: 09-30, 10-08, 10-09, 10-10 (Sat), 10-12..10-16.
    assert (view.paused_units, view.legal_due, view.target_due) == (9, D("2026-11-09"),
                                                                     D("2026-11-02"))
    with docroute.session() as s:
        view = deadlines.extend(s, case, "reply", n=20, approver="boss", reason="需要调取档案",
                                on="2026-11-02")
    assert (view.extension, view.legal_due) == (20, D("2026-12-07"))
    with docroute.session() as s, pytest.raises(Conflict) as refused:
        deadlines.extend(s, case, "reply", n=1, approver="boss", reason="再延", on="2026-11-03")
    assert "at most 20 workdays in total" in str(refused.value)
    with docroute.session() as s:
        view = deadlines.close(s, case, "reply", on="2026-12-04")
    assert (view.status, view.met) == ("closed", True)
    recorded = events(docroute, case, "deadline_")
    assert [e["type"] for e in recorded] == [
        "deadline_started", "deadline_restarted", "deadline_paused", "deadline_resumed",
        "deadline_extended", "deadline_closed"]
    assert recorded[1]["reason"] == "补正" and recorded[1]["previous_legal_due"] == "2026-10-16"
    assert (recorded[4]["approver"], recorded[4]["reason"]) == ("boss", "需要调取档案")
    assert recorded[4]["deadline"]["due_at"] == "2026-12-07T23:59:59+08:00"


def test_an_extension_must_come_before_the_due_date(docroute: Docroute, case: int,
                                                     manual_clock: clock.ManualClock) -> None:
    with docroute.session() as s:
        deadlines.start(s, case, "reply", kind="workdays", n=5, start_on="2026-03-02")
    with docroute.session() as s, pytest.raises(Conflict) as late:
        deadlines.extend(s, case, "reply", n=5, approver="boss", reason="迟了",
                         on="2026-03-10")
    assert "an extension must be approved before the due date" in str(late.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "weeks", "n": 2}, "unknown deadline kind 'weeks'"),
    ({"kind": "workdays", "n": 0}, "the period must be at least 1, not 0"),
    ({"kind": "workdays", "n": "二十"}, "the period must be a whole number, not '二十'"),
    ({"kind": "workdays", "n": 10, "target": 15},
     "the internal target must not be later than the legal period"),
])
def test_bad_deadlines_are_refused_with_a_reason(docroute: Docroute, case: int,
                                                 manual_clock: clock.ManualClock,
                                                 kwargs: dict, message: str) -> None:
    with docroute.session() as s, pytest.raises(DocrouteError) as error:
        deadlines.start(s, case, "reply", **kwargs)
    assert message in str(error.value)


# --- driven by a diagram --------------------------------------------------------------------------


def complete_open(docroute: Docroute, instance_id: int, actor: identity.Actor) -> str:
    with docroute.session() as s:
        task = s.scalar(select(Task).where(Task.instance_id == instance_id))
        assert task is not None
        runtime.complete(s, task.id, actor, {})
        return task.name


def test_a_disclosure_case_drives_its_deadline_from_the_diagram(
        docroute: Docroute, manual_clock: clock.ManualClock,
        people: dict[str, identity.Actor]) -> None:
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("disclosure.bpmn", DISCLOSURE_BPMN.encode())],
                        actor="admin")
    rev1 = people["rev1"]
    manual_clock.set(on("2026-09-14"))
    with docroute.session() as s:
        case = runtime.start_case(s, rev1, "disclosure", {"received_on": "2026-09-14"}).id
    with docroute.session() as s:
        assert deadlines.get(s, case, "reply").legal_due == D("2026-10-16")
    manual_clock.set(on("2026-09-22"))  # the corrected application arrives: 补正 restarts
    assert complete_open(docroute, case, rev1) == "补正"
    manual_clock.set(on("2026-09-29"))  # consultation letter sent: the clock stops
    assert complete_open(docroute, case, rev1) == "征求第三方意见"
    with docroute.session() as s:
        assert deadlines.get(s, case, "reply").status == "paused"
    manual_clock.set(on("2026-10-16"))  # the third party answered
    assert complete_open(docroute, case, rev1) == "第三方答复"
    with docroute.session() as s:
        view = deadlines.get(s, case, "reply")
        answer = s.scalar(select(Task).where(Task.instance_id == case))
        assert answer is not None and answer.name == "答复"
        assert answer.due_at == view.due_at  # the diagram's dueDate took the ISO result
    assert (view.legal_due, view.target_due, view.paused_units) == (D("2026-11-09"),
                                                                     D("2026-11-02"), 9)
    manual_clock.set(on("2026-11-05"))
    assert complete_open(docroute, case, rev1) == "答复"
    with docroute.session() as s:
        view = deadlines.get(s, case, "reply")
        assert s.get(Instance, case).status == "completed"
    assert (view.status, view.met) == ("closed", True)
    # The step events record each operator's call and result (and only they: an operator
    # never appends events itself, the runtime rewrites the step's event after the step).
    with docroute.session() as s:
        steps = s.scalars(select(Event).where(Event.instance_id == case)
                          .order_by(Event.seq)).all()
    services = [svc for e in steps for svc in json.loads(e.payload).get("services", [])]
    assert [svc["service"] for svc in services] == [
        "deadline_start", "deadline_restart", "deadline_pause", "deadline_resume",
        "deadline_close"]
    assert services[1]["result"]["legal_due"] == "2026-10-27"
    assert services[3]["result"]["due_at"] == "2026-11-09T23:59:59+08:00"
    assert events(docroute, case, "deadline_") == []


def test_a_diagram_deadline_reaching_a_missing_year_becomes_an_incident(
        docroute: Docroute, manual_clock: clock.ManualClock,
        people: dict[str, identity.Actor]) -> None:
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("disclosure.bpmn", DISCLOSURE_BPMN.encode())],
                        actor="admin")
    manual_clock.set(on("2026-12-10"))
    docroute.calendar.use(strict_2026())
    with docroute.session() as s:
        case = runtime.start_case(s, people["rev1"], "disclosure",
                                  {"received_on": "2026-12-10"}).id
    with docroute.session() as s:
        instance = s.get(Instance, case)
        assert instance.status == "error"
        assert "no working-day calendar for 2027" in (instance.incident or "")
        assert s.scalars(select(Deadline)).all() == []


def test_a_time_limit_set_by_a_person_extended_to_a_date_and_reopened(
        docroute: Docroute, case: int, manual_clock: clock.ManualClock) -> None:
    with docroute.session() as s:
        view = deadlines.set_due(s, case, "handling", due="2026-09-30", start_on="2026-09-24",
                                 reason="批示")
    # A working-day period of 3 (09-28, 09-29, 09-30), Mid-Autumn 09-25 off.
    assert (view.amount, view.legal_due, view.provisional) == (3, D("2026-09-30"), False)
    with docroute.session() as s:
        view = deadlines.set_due(s, case, "handling", due="2026-10-04", reason="改期")
    assert view.legal_due == D("2026-10-08")  # a day off rolls to the next working day
    with docroute.session() as s, pytest.raises(DocrouteError) as early:
        deadlines.set_due(s, case, "handling", due="2026-09-20")
    assert "before the period's start" in str(early.value)
    with docroute.session() as s:
        view = deadlines.extend(s, case, "handling", until="2026-10-10", approver="boss",
                                reason="需协调", on="2026-10-08")
    assert (view.extension, view.legal_due) == (2, D("2026-10-10"))  # 10-09, Sat 10-10
    with docroute.session() as s:
        deadlines.close(s, case, "handling", on="2026-10-09")
    with docroute.session() as s:
        view = deadlines.restart(s, case, "handling", on="2026-10-12", n=1, reason="重新办理")
    assert (view.status, view.amount, view.legal_due, view.closed_on) == (
        "running", 1, D("2026-10-13"), None)
    assert [e["type"] for e in events(docroute, case, "deadline_")] == [
        "deadline_started", "deadline_set", "deadline_extended", "deadline_closed",
        "deadline_restarted"]
