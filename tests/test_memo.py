"""Reference data a step reads from its Docroute's memo: group names for lanes, step targets.

A write through the same Docroute clears the memo at once; another process (here: a second
Docroute on the same database) is seen within the memo's time-to-live, and a lane naming
a group by a name the memo lacks is looked up afresh at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from engine import Docroute, runtime
from engine.config import Settings
from engine.deadlines import step_targets
from engine.definitions import SourceFile
from engine.models import Task
from engine.org import identity, organisation

LANES = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:collaboration id="c"><bpmn:participant id="p" processRef="laned"/></bpmn:collaboration>
  <bpmn:process id="laned" name="Laned" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="lane_a" name="{lane}"><bpmn:flowNodeRef>one</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="one"/>
    <bpmn:userTask id="one" name="One"/>
    <bpmn:sequenceFlow id="f2" sourceRef="one" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def other(settings: Settings, docroute: Docroute) -> Iterator[Docroute]:
    """A second Docroute on the same database: another web worker or the timer worker."""
    app = Docroute(settings)
    yield app
    app.engine.dispose()


def _groups_of_new_task(docroute: Docroute, key: str) -> list[str]:
    with docroute.session() as s:
        case = runtime.start_case(s, identity.SYSTEM, key)
        return list(s.scalars(select(Task).where(Task.instance_id == case.id)).one()
                    .candidate_groups)


def test_a_lane_named_after_a_group_renamed_elsewhere_finds_it_at_once(
        docroute: Docroute, other: Docroute, people: dict) -> None:
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("old.bpmn", LANES.format(lane="收发员")
                                       .replace("laned", "old_name").encode())], actor="admin")
        docroute.deploy(s, [SourceFile("new.bpmn", LANES.format(lane="收发室")
                                       .replace("laned", "new_name").encode())], actor="admin")
    assert _groups_of_new_task(docroute, "old_name") == ["clerks"]  # the memo holds names now
    with other.session() as s:
        organisation.update_group(s, people["admin"], "clerks", name="收发室", reason="改名")
    # The memo's copy still says 收发员 -> clerks; 收发室 is not in it, so it is read afresh.
    assert _groups_of_new_task(docroute, "new_name") == ["clerks"]


def test_a_step_target_set_through_this_docroute_applies_at_once(
        docroute: Docroute, people: dict) -> None:
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("l.bpmn", LANES.format(lane="clerks").encode())],
                        actor="admin")
    with docroute.session() as s:
        runtime.start_case(s, identity.SYSTEM, "laned")  # the memo holds "no targets" now
    assert docroute.runtime.memo.get("step_targets", lambda: {"unread": True}) == {}
    with docroute.session() as s:
        step_targets.set_target(s, people["admin"], "laned", "one", "", 3, "hours")
    with docroute.session() as s:
        case = runtime.start_case(s, identity.SYSTEM, "laned")
        row = s.scalars(select(Task).where(Task.instance_id == case.id)).one()
    cal = docroute.work_calendar()
    expected, _ = step_targets.due_after(row.created_at, step_targets.Target(3, "hours"), cal)
    default, _ = step_targets.due_after(row.created_at, step_targets.DEFAULTS[""], cal)
    assert row.due_at == expected != default
    assert ("laned", "one", "") in docroute.runtime.memo.get("step_targets", dict)


def test_another_process_s_change_is_seen_within_the_memo_s_lifetime(
        docroute: Docroute, other: Docroute, people: dict) -> None:
    memo = docroute.runtime.memo
    with docroute.session() as s:
        assert memo.get("step_targets", lambda: step_targets.load(s)) == {}
    with other.session() as s:
        step_targets.set_target(s, people["admin"], "laned", "one", "", 3, "hours")
    with docroute.session() as s:
        assert memo.get("step_targets", lambda: step_targets.load(s)) == {}  # within ttl
        memo.ttl = 0  # the lifetime has passed
        assert ("laned", "one", "") in memo.get("step_targets", lambda: step_targets.load(s))
