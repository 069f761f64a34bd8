"""Each ``Docroute`` owns its runtime state: operators, after-step hooks, session
listeners and the working-day calendar. Two in one process (tests, a CLI beside a server)
never see each other's; two on one database (web workers, ``docroute worker``) see each
other's calendar changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine import Docroute, Settings, clock, runtime, wiring
from engine.deadlines import calendar_recompute, workcalendar
from engine.definitions import SourceFile
from engine.errors import ScriptError
from engine.history import audit, chain
from engine.models import Instance, Task
from engine.org import identity
from engine.queries import kpi
from engine.runtime import operators

D = date.fromisoformat

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="echoing" name="Echoing" isExecutable="true">
    <bpmn:startEvent id="e_start"/>
    <bpmn:sequenceFlow id="e1" sourceRef="e_start" targetRef="echo"/>
    <bpmn:serviceTask id="echo" name="Echo">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="docroute_test_echo" resultVariable="out">
          <spiffworkflow:parameters/>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="e2" sourceRef="echo" targetRef="e_after"/>
    <bpmn:userTask id="e_after" name="After" camunda:candidateGroups="reviewers"/>
    <bpmn:sequenceFlow id="e3" sourceRef="e_after" targetRef="e_end"/>
    <bpmn:endEvent id="e_end"/>
  </bpmn:process>
  <bpmn:process id="dated" name="Dated" isExecutable="true">
    <bpmn:startEvent id="d_start"/>
    <bpmn:sequenceFlow id="d1" sourceRef="d_start" targetRef="reply"/>
    <bpmn:userTask id="reply" name="Reply" camunda:candidateGroups="reviewers"
                   camunda:dueDate="${add_workdays('2026-09-28', 1)}"/>
    <bpmn:sequenceFlow id="d2" sourceRef="reply" targetRef="d_end"/>
    <bpmn:endEvent id="d_end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def pair(docroute: Docroute, settings: Settings,
         people: dict[str, identity.Actor]) -> Iterator[tuple[Docroute, Docroute]]:
    """The test's Docroute and a second one on the same database."""
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("state.bpmn", DIAGRAM.encode())], actor="test")
    other = Docroute(settings)
    yield docroute, other
    other.engine.dispose()


def start(app: Docroute, key: str) -> Instance:
    with app.session() as s:
        return runtime.start_case(s, identity.SYSTEM, key)


def due_day(app: Docroute, case: int) -> date:
    with app.session() as s:
        due = s.scalar(select(Task.due_at).where(Task.instance_id == case))
    assert due is not None
    return due.astimezone(clock.OFFICE_TZ).date()


def test_two_docroutes_do_not_share_operators(pair: tuple[Docroute, Docroute]) -> None:
    with_echo, without = pair
    with_echo.runtime.operators["docroute_test_echo"] = lambda call: {"echo": call.actor}
    assert "docroute_test_echo" not in without.runtime.operators
    assert set(wiring.operator_table()) <= set(without.runtime.operators)

    echoed = start(with_echo, "echoing")
    assert echoed.status == "running" and echoed.incident is None
    refused = start(without, "echoing")
    assert refused.status == "error"
    assert "unknown service operator 'docroute_test_echo'" in (refused.incident or "")


def test_a_live_step_without_an_operator_table_refuses_the_call() -> None:
    scope = operators.ServiceScope(None, 1, None, "t")
    with operators.service_scope(scope), pytest.raises(ScriptError, match="unknown service"):
        operators.call("doc_number_allocate", {}, {})


def test_two_docroutes_compute_deadlines_on_their_own_calendars(
        pair: tuple[Docroute, Docroute]) -> None:
    builtin, typhoon = pair
    # The second office closed on Tuesday 29 September 2026 (a typhoon).
    rows = [r._replace(is_workday=False) if r.day == D("2026-09-29") else r
            for r in workcalendar.builtin_calendar().rows(2026)]
    typhoon.calendar.use(workcalendar.WorkCalendar(rows))
    assert due_day(builtin, start(builtin, "dated").id) == D("2026-09-29")
    assert due_day(typhoon, start(typhoon, "dated").id) == D("2026-09-30")
    assert builtin.work_calendar().is_workday("2026-09-29")
    assert not typhoon.work_calendar().is_workday("2026-09-29")


def test_a_calendar_change_reaches_another_docroute_on_the_database(
        pair: tuple[Docroute, Docroute]) -> None:
    admin_side, worker_side = pair
    admin_side.init()  # the database's calendar, as a real office has it
    assert worker_side.work_calendar().is_workday("2026-09-29")  # loaded once
    assert due_day(worker_side, start(worker_side, "dated").id) == D("2026-09-29")

    with admin_side.session() as s:
        calendar_recompute.set_day(s, D("2026-09-29"), False, "台风停工", "深鹏办〔2026〕9号",
                                   "admin")
    assert not admin_side.work_calendar().is_workday("2026-09-29")  # at once, here
    # The other process checks the version token at most every CHECK_EVERY seconds...
    assert worker_side.calendar.check_every == workcalendar.CHECK_EVERY
    assert worker_side.work_calendar().is_workday("2026-09-29")
    # ... and, once a check is due, loads the changed calendar.
    worker_side.calendar.check_every = 0
    assert due_day(worker_side, start(worker_side, "dated").id) == D("2026-09-30")
    assert worker_side.work_calendar().day("2026-09-29").note == "台风停工"


def test_a_rolled_back_change_is_undone_at_the_next_check(docroute: Docroute) -> None:
    docroute.init()
    docroute.calendar.check_every = 0
    with pytest.raises(RuntimeError), docroute.session() as s:
        calendar_recompute.set_day(s, D("2026-09-29"), False, "", "x", "admin")
        assert not workcalendar.of(s).is_workday("2026-09-29")
        raise RuntimeError("the transaction fails after the change")
    assert docroute.work_calendar().is_workday("2026-09-29")


def test_session_listeners_sit_on_each_docroutes_factory(pair: tuple[Docroute, Docroute]
                                                         ) -> None:
    first, second = pair
    for app in (first, second):
        assert event.contains(app.sessions, "before_commit", chain._seal_before_commit)
        assert event.contains(app.sessions, "before_commit", audit._write_heads)
        assert event.contains(app.sessions, "before_commit", kpi._record_before_commit)
    # Nothing is installed on the Session class: a plain session commits untouched.
    assert not event.contains(Session, "before_commit", chain._seal_before_commit)
    assert not event.contains(Session, "before_commit", audit._write_heads)
    assert not event.contains(Session, "before_commit", kpi._record_before_commit)


def test_the_after_step_hooks_belong_to_the_docroute(pair: tuple[Docroute, Docroute]) -> None:
    first, second = pair
    seen: list[int] = []
    first.runtime.after_step.append(lambda session, instance, workflow: seen.append(
        instance.id))
    case = start(first, "dated").id
    start(second, "dated")
    assert seen == [case]
    assert second.runtime.after_step == list(wiring.AFTER_STEP)


def test_the_web_layer_asks_its_docroute(docroute: Docroute,
                                         manual_clock: clock.ManualClock) -> None:
    manual_clock.set(datetime.combine(D("2026-12-15"), time(9), tzinfo=clock.OFFICE_TZ))
    only_2026 = workcalendar.WorkCalendar(workcalendar.builtin_calendar().rows(2026))
    docroute.calendar.use(only_2026)
    assert docroute.work_calendar() is only_2026
    assert docroute.work_calendar().is_provisional("2027-01-04")
