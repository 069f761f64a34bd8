"""Every open task has a due date: the office's step targets by urgency
(engine/step_targets.py), configurable by administrators."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlalchemy import select

from engine import Docroute, clock, runtime
from engine.deadlines import step_targets, workcalendar
from engine.deadlines.step_targets import Target
from engine.definitions import SourceFile
from engine.errors import DocrouteError, NotAllowed
from engine.models import Event, Task
from engine.org import identity

D = date.fromisoformat

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_targets" targetNamespace="http://docroute.example/test">
  <bpmn:process id="targets" name="时限" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="read" name="阅办" camunda:candidateGroups="reviewers"/>
    <bpmn:userTask id="fixed" name="限期" camunda:candidateGroups="reviewers"
                   camunda:dueDate="${due_on}"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="read"/>
    <bpmn:sequenceFlow id="f2" sourceRef="read" targetRef="fixed"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fixed" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(D(day), time(hour), tzinfo=clock.OFFICE_TZ)


def office(value: datetime) -> datetime:
    return value.astimezone(clock.OFFICE_TZ)


@pytest.mark.parametrize(("urgency", "opened", "due"), [
    # 国庆 off, then the make-up Saturday 10-10 counts
    ("", at("2026-09-28"), at("2026-10-10", 23).replace(minute=59, second=59)),
    ("加急", at("2026-02-13"), at("2026-02-24", 23).replace(minute=59, second=59)),
    ("特急", at("2026-03-02", 9), at("2026-03-02", 13)),  # four hours on the clock
    ("特急", at("2026-09-30", 22), at("2026-10-08", 2)),  # lands in the holiday: rolls
])
def test_default_targets_by_urgency(urgency: str, opened: datetime, due: datetime) -> None:
    target = step_targets.target_for({}, "incoming_document", "handle", urgency)
    found, calls = step_targets.due_after(opened, target, workcalendar.builtin_calendar())
    assert office(found) == due
    assert calls == []  # official years: nothing to recompute


def test_the_most_specific_target_wins() -> None:
    targets = {("*", "*", ""): Target(7, "workdays"),
               ("incoming_document", "*", ""): Target(6, "workdays"),
               ("incoming_document", "handle", ""): Target(10, "workdays"),
               ("incoming_document", "handle", "特急"): Target(2, "hours")}
    assert step_targets.target_for(targets, "incoming_document", "handle", "") == \
        Target(10, "workdays")
    assert step_targets.target_for(targets, "incoming_document", "sign_for", "") == \
        Target(6, "workdays")
    assert step_targets.target_for(targets, "seal_use", "approve", "") == Target(7, "workdays")
    assert step_targets.target_for(targets, "incoming_document", "handle", "特急") == \
        Target(2, "hours")
    assert step_targets.target_for(targets, "seal_use", "approve", "加急") == \
        step_targets.DEFAULTS["加急"]


def test_every_task_gets_a_due_date_the_diagram_or_the_target(
        docroute: Docroute, manual_clock: clock.ManualClock,
        people: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-03-02", 9))
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("targets.bpmn", BPMN.encode())], actor="admin")
        step_targets.set_target(s, people["admin"], "targets", "read", "加急", 3, "workdays")
    with docroute.session() as s:
        case = runtime.start_case(s, people["clerk"], "targets",
                                  {"urgency": "加急", "due_on": "2026-03-20"}).id
    with docroute.session() as s:
        row = s.scalar(select(Task).where(Task.instance_id == case))
        assert office(row.due_at) == at("2026-03-05", 23).replace(minute=59, second=59)
        runtime.complete(s, row.id, people["rev1"], {})
    with docroute.session() as s:
        row = s.scalar(select(Task).where(Task.instance_id == case))
        assert office(row.due_at).date() == D("2026-03-20")  # the diagram's own due date
        recorded = s.scalars(select(Event.type).where(Event.chain == "system")).all()
        assert "step_target_set" in recorded


def test_only_administrators_set_targets_and_bad_values_are_refused(
        docroute: Docroute, people: dict[str, identity.Actor]) -> None:
    with docroute.session() as s:
        with pytest.raises(NotAllowed):
            step_targets.set_target(s, people["clerk"], "*", "*", "", 3, "workdays")
        for args, message in [
            (("*", "*", "紧急", 3, "workdays"), "urgency must be one of"),
            (("*", "*", "", 0, "workdays"), "the amount must be 1 to 250"),
            (("*", "*", "", "three", "workdays"), "whole number"),
            (("*", "*", "", 3, "weeks"), "hours or workdays"),
            (("*", "read", "", 3, "workdays"), "needs its process"),
        ]:
            with pytest.raises(DocrouteError, match=message):
                step_targets.set_target(s, people["admin"], *args)
        assert step_targets.list_rows(s) == []
