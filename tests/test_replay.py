"""Replay rebuilds every kind of case from its events alone and matches the stored state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import Docroute, runtime
from engine.definitions import SourceFile
from engine.history import replay
from engine.models import Instance, Task
from engine.org.identity import Actor
from engine.runtime import admin

AUDIT_DATA = Path(__file__).parent / "data" / "audit"


@pytest.fixture
def ready(docroute: Docroute, people: dict[str, Actor]) -> dict[str, Actor]:
    setup(docroute)
    return people


def setup(docroute: Docroute) -> None:
    """Forms and the two test processes (not ``init``: it deploys every file in the folder)."""
    workflows = Path(__file__).parent / "data" / "workflows"
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), "admin")
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("review.bpmn", (workflows / "review.bpmn").read_bytes()),
                            SourceFile("countersign.bpmn",
                                       (AUDIT_DATA / "countersign.bpmn").read_bytes())],
                        actor="admin")


def open_tasks(docroute: Docroute, case_id: int) -> list[Task]:
    with docroute.session() as s:
        return list(s.scalars(select(Task).where(Task.instance_id == case_id)
                              .order_by(Task.created_at, Task.id)))


def complete(docroute: Docroute, case_id: int, actor: Actor, data: dict | None = None,
             name: str | None = None) -> None:
    rows = [t for t in open_tasks(docroute, case_id) if name in (None, t.name)]
    with docroute.session() as s:
        runtime.complete(s, rows[0].id, actor, data or {})


def verified(docroute: Docroute, case_id: int) -> replay.Verdict:
    with docroute.session() as s:
        return replay.verify(s, case_id)


DRAFT = {"title": "关于防汛工作的通知"}


def start_review(docroute: Docroute, actor: Actor) -> int:
    with docroute.session() as s:
        return runtime.start_case(s, actor, "review", {"rounds": 0}, title="关于防汛工作的通知").id


def test_send_back_loop_verifies_and_frames_follow_the_path(docroute: Docroute, ready) -> None:
    case_id = start_review(docroute, ready["clerk"])
    complete(docroute, case_id, ready["clerk"], DRAFT)
    (row,) = open_tasks(docroute, case_id)
    with docroute.session() as s:
        runtime.claim(s, row.id, ready["rev1"])
    complete(docroute, case_id, ready["rev1"], {"decision": "return", "opinion": "请修改"})
    complete(docroute, case_id, ready["clerk"], {"title": "关于防汛工作的通知（修改稿）"})
    complete(docroute, case_id, ready["rev2"], {"decision": "approve"})
    with docroute.session() as s:
        assert s.get(Instance, case_id).status == "completed"
    verdict = verified(docroute, case_id)
    assert verdict.ok, verdict.difference
    with docroute.session() as s:
        result = replay.replay(s, case_id)
    types = [f.type for f in result.frames]
    assert types[:3] == ["started", "completed", "claimed"]
    assert types[-1] == "completed" and result.frames[-1].kind == "passive"
    first = result.frames[0]
    assert first.active == ["draft"] and "f1" in first.path
    returned = result.frames[3]
    assert returned.payload["data"]["decision"] == "return"
    assert returned.active == ["draft"] and "f_back" in returned.path
    last = result.frames[-1]
    assert last.active == [] and {"stamp", "end"} <= set(last.completed)
    assert last.data["summary"] == "关于防汛工作的通知（修改稿） / approve"
    with docroute.session() as s:
        partial = replay.replay(s, case_id, upto=2)
    assert len(partial.frames) == 2 and partial.frames[-1].active == ["deadline", "review_task"]


def fire(docroute: Docroute, case_id: int) -> bool:
    with docroute.session() as s:
        return runtime.fire_timers(s, case_id)


def test_boundary_timer_case_verifies(docroute: Docroute, ready, manual_clock) -> None:
    case_id = start_review(docroute, ready["clerk"])
    complete(docroute, case_id, ready["clerk"], DRAFT)
    manual_clock.advance(hours=1, seconds=1)
    assert fire(docroute, case_id)
    (row,) = open_tasks(docroute, case_id)
    assert row.name == "督办"
    manual_clock.advance(minutes=5)
    complete(docroute, case_id, ready["boss"])
    verdict = verified(docroute, case_id)
    assert verdict.ok, verdict.difference
    with docroute.session() as s:
        frames = replay.replay(s, case_id).frames
    fired = next(f for f in frames if f.type == "timer_fired")
    assert fired.active == ["escalate"] and "f_esc" in fired.path
    assert "deadline" in fired.completed


def test_out_of_order_countersign_call_activity_and_timer_verify(
        docroute: Docroute, ready, manual_clock) -> None:
    with docroute.session() as s:
        case_id = runtime.start_case(s, ready["clerk"], "countersign",
                                     {"departments": ["财政", "住建", "城管"]}).id
    signs = open_tasks(docroute, case_id)
    assert len(signs) == 3
    for row in reversed(signs):  # the last department signs first
        manual_clock.advance(minutes=7)
        with docroute.session() as s:
            runtime.complete(s, row.id, ready["rev1"], {})
        mid = verified(docroute, case_id)
        assert mid.ok, mid.difference
    (filing,) = open_tasks(docroute, case_id)
    assert filing.name == "归档"
    complete(docroute, case_id, ready["clerk"])
    verdict = verified(docroute, case_id)
    assert verdict.ok, verdict.difference  # waiting on the one-day timer
    manual_clock.advance(days=1, seconds=1)
    assert fire(docroute, case_id)
    with docroute.session() as s:
        assert s.get(Instance, case_id).status == "completed"
    verdict = verified(docroute, case_id)
    assert verdict.ok, verdict.difference
    with docroute.session() as s:
        frames = replay.replay(s, case_id).frames
    assert frames[-1].data["finished"] is True
    assert frames[0].active == ["sign"]
    in_filing = next(f for f in frames if "filing" in f.active)
    assert "cs_f2" in in_filing.path and "sign" in in_filing.completed


def test_administrative_actions_verify(docroute: Docroute, ready, manual_clock) -> None:
    case_id = start_review(docroute, ready["clerk"])
    (row,) = open_tasks(docroute, case_id)
    with docroute.session() as s:
        runtime.claim(s, row.id, ready["clerk"])
    with docroute.session() as s:
        admin.suspend(s, ready["admin"], case_id, "来文单位要求暂缓")
    with docroute.session() as s:
        admin.resume(s, ready["admin"], case_id, "恢复办理")
    (row,) = open_tasks(docroute, case_id)
    with docroute.session() as s:
        admin.reassign(s, ready["admin"], row.id, "人员调整", None)  # back to the clerks
    manual_clock.advance(minutes=3)
    complete(docroute, case_id, ready["clerk"], DRAFT)
    assert verified(docroute, case_id).ok
    with docroute.session() as s:
        admin.terminate(s, ready["admin"], case_id, "来文撤回")
    verdict = verified(docroute, case_id)
    assert verdict.ok, verdict.difference
    with docroute.session() as s:
        frames = replay.replay(s, case_id).frames
    kinds = {f.type: f.kind for f in frames}
    assert kinds["suspended"] == kinds["reassigned"] == kinds["claimed"] == "passive"
    assert kinds["terminated"] == "state"
    assert frames[-1].status == "terminated" and frames[-1].active == []
    suspended = next(f for f in frames if f.type == "suspended")
    assert suspended.status == "suspended" and suspended.payload["reason"] == "来文单位要求暂缓"


def test_migrated_case_verifies_on_the_new_version(docroute: Docroute, ready) -> None:
    workflows = Path(__file__).parent / "data" / "workflows"
    case_id = start_review(docroute, ready["clerk"])
    complete(docroute, case_id, ready["clerk"], DRAFT)
    v2 = (workflows / "review.bpmn").read_text().replace(
        '<bpmn:sequenceFlow id="f4" sourceRef="stamp" targetRef="end"/>',
        '<bpmn:sequenceFlow id="f4" sourceRef="stamp" targetRef="file_it"/>\n'
        '    <bpmn:userTask id="file_it" name="归档" camunda:candidateGroups="clerks"/>\n'
        '    <bpmn:sequenceFlow id="f5" sourceRef="file_it" targetRef="end"/>')
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("review.bpmn", v2.encode())], actor="admin")
    with docroute.session() as s:
        admin.migrate(s, ready["admin"], case_id, "新版本增加归档")
    complete(docroute, case_id, ready["rev1"], {"decision": "approve"})
    (row,) = open_tasks(docroute, case_id)
    assert row.name == "归档"
    verdict = verified(docroute, case_id)
    assert verdict.ok, verdict.difference
    with docroute.session() as s:
        frames = replay.replay(s, case_id).frames
    migrated = next(f for f in frames if f.type == "migrated")
    assert migrated.definition_id != frames[0].definition_id
    assert frames[-1].active == ["file_it"]


def test_unknown_event_types_are_listed_not_replayed(docroute: Docroute, ready) -> None:
    from engine import history

    case_id = start_review(docroute, ready["clerk"])
    with docroute.session() as s:
        runtime.get_instance(s, case_id, ready["admin"])
        history.append_case(s, case_id, "stamped_by_future_feature", "admin", {"x": 1})
    complete(docroute, case_id, ready["clerk"], DRAFT)
    verdict = verified(docroute, case_id)
    assert verdict.ok and verdict.unknown_types == ("stamped_by_future_feature",)
    with docroute.session() as s:
        frames = replay.replay(s, case_id).frames
    assert frames[1].kind == "unknown" and frames[1].active == frames[0].active


def test_a_changed_state_or_history_is_reported_with_the_first_difference(
        docroute: Docroute, ready) -> None:
    case_id = start_review(docroute, ready["clerk"])
    complete(docroute, case_id, ready["clerk"], DRAFT)
    with docroute.session() as s:
        instance = s.get(Instance, case_id)
        state = json.loads(instance.state)
        root = state["tasks"][state["root"]]
        root["data"]["title"] = "篡改后的标题"
        instance.state = json.dumps(state)
    verdict = verified(docroute, case_id)
    assert not verdict.ok
    assert "title" in verdict.difference and "篡改后的标题" in verdict.difference
