"""Administrators' case operations, migration, diff and organisation (engine/admin.py …)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import Conflict, Docroute, DocrouteError, NotAllowed, history, runtime
from engine.definitions import SourceFile
from engine.definitions.diff import diff_xml
from engine.history import replay
from engine.models import Event, Instance, Task, User
from engine.org import organisation
from engine.org.identity import Actor
from engine.runtime import admin
from engine.runtime.admin import MigrationRefused

REVIEW = (Path(__file__).parent / "data" / "workflows" / "review.bpmn").read_text()

# v2: a plain task 归档 between 记录 and the end.
REVIEW_V2 = REVIEW.replace(
    '<bpmn:sequenceFlow id="f4" sourceRef="stamp" targetRef="end"/>',
    '<bpmn:sequenceFlow id="f4" sourceRef="stamp" targetRef="file_it"/>\n'
    '    <bpmn:userTask id="file_it" name="归档" camunda:candidateGroups="clerks"/>\n'
    '    <bpmn:sequenceFlow id="f5" sourceRef="file_it" targetRef="end"/>')
# v3 (from v1): a task 初审 before 拟稿, so a case waiting at 拟稿 cannot move.
REVIEW_BEFORE = REVIEW.replace(
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="draft"/>',
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>\n'
    '    <bpmn:userTask id="check" name="初审" camunda:candidateGroups="clerks"/>\n'
    '    <bpmn:sequenceFlow id="f0" sourceRef="check" targetRef="draft"/>')
# the review task removed: a case waiting there cannot move.
REVIEW_NO_REVIEW = REVIEW.replace(
    '<bpmn:sequenceFlow id="f2" sourceRef="draft" targetRef="review_task"/>',
    '<bpmn:sequenceFlow id="f2" sourceRef="draft" targetRef="decide"/>').replace(
    '<bpmn:userTask id="review_task" name="核稿" camunda:formKey="review"/>', "").replace(
    '<bpmn:sequenceFlow id="f3" sourceRef="review_task" targetRef="decide"/>', "").replace(
    'attachedToRef="review_task"', 'attachedToRef="draft"')


def deploy(docroute: Docroute, xml: str) -> int:
    with docroute.session() as s:
        result = docroute.deploy(s, [SourceFile("review.bpmn", xml.encode())], actor="admin")
        return result[0].version


def definition_id(docroute: Docroute, version: int) -> int:
    from engine.models import Definition

    with docroute.session() as s:
        return s.scalar(select(Definition.id).where(Definition.key == "review",
                                                    Definition.version == version))


@pytest.fixture
def ready(docroute: Docroute, people: dict[str, Actor]) -> dict[str, Actor]:
    docroute.init()
    return people


def start(docroute: Docroute, actor: Actor, title: str = "关于防汛工作的通知") -> int:
    with docroute.session() as s:
        return runtime.start_case(s, actor, "review", {"rounds": 0}, title=title).id


def tasks(docroute: Docroute, case_id: int) -> list[Task]:
    with docroute.session() as s:
        return list(s.scalars(select(Task).where(Task.instance_id == case_id)))


def complete_only(docroute: Docroute, case_id: int, actor: Actor, data: dict) -> None:
    (row,) = tasks(docroute, case_id)
    with docroute.session() as s:
        runtime.complete(s, row.id, actor, data)


def events(docroute: Docroute, case_id: int) -> list[tuple[str, str, dict]]:
    with docroute.session() as s:
        return [(e.type, e.actor, json.loads(e.payload))
                for e in history.case_events(s, case_id)]


def verified(docroute: Docroute, case_id: int) -> bool:
    """The case's history replays to exactly its stored state (engine/replay.py)."""
    with docroute.session() as s:
        verdict = replay.verify(s, case_id)
    assert verdict.ok, str(verdict)
    return True


def status(docroute: Docroute, case_id: int) -> str:
    with docroute.session() as s:
        return s.get(Instance, case_id).status


# --- suspend, resume, terminate --------------------------------------------------------


def test_suspend_hides_tasks_and_resume_gives_claims_back(docroute: Docroute, ready) -> None:
    case_id = start(docroute, ready["clerk"])
    (row,) = tasks(docroute, case_id)
    with docroute.session() as s:
        runtime.claim(s, row.id, ready["clerk"])
    with docroute.session() as s:
        admin.suspend(s, ready["admin"], case_id, "来文单位要求暂缓")
    assert status(docroute, case_id) == "suspended"
    assert tasks(docroute, case_id) == []
    with docroute.session() as s, pytest.raises(Conflict):
        admin.suspend(s, ready["admin"], case_id, "again")
    with docroute.session() as s:
        admin.resume(s, ready["admin"], case_id, "恢复办理")
    (back,) = tasks(docroute, case_id)
    assert back.id == row.id and back.assignee == "clerk"
    kinds = [(t, a, p.get("reason")) for t, a, p in events(docroute, case_id)]
    assert ("suspended", "admin", "来文单位要求暂缓") in kinds
    assert ("resumed", "admin", "恢复办理") in kinds
    assert verified(docroute, case_id)


def test_every_action_needs_a_reason_and_an_administrator(docroute: Docroute, ready) -> None:
    case_id = start(docroute, ready["clerk"])
    with docroute.session() as s, pytest.raises(DocrouteError, match="give a reason"):
        admin.suspend(s, ready["admin"], case_id, "   ")
    with docroute.session() as s, pytest.raises(NotAllowed):
        admin.terminate(s, ready["clerk"], case_id, "I want to")
    assert status(docroute, case_id) == "running"


def test_terminate_ends_the_case_with_the_reason(docroute: Docroute, ready) -> None:
    case_id = start(docroute, ready["clerk"])
    with docroute.session() as s:
        admin.terminate(s, ready["admin"], case_id, "重复登记")
    assert status(docroute, case_id) == "terminated"
    assert tasks(docroute, case_id) == []
    ends = [e for e in events(docroute, case_id) if e[0] == "terminated"]
    assert ends == [("terminated", "admin", {"reason": "重复登记", "previous": "running"})]
    with docroute.session() as s, pytest.raises(Conflict):
        admin.terminate(s, ready["admin"], case_id, "again")
    assert verified(docroute, case_id)


# --- reassign and deactivate -------------------------------------------------------------


def test_reassign_to_a_person_and_back_to_the_group(docroute: Docroute, ready) -> None:
    case_id = start(docroute, ready["clerk"])
    complete_only(docroute, case_id, ready["clerk"], {"title": "防汛通知"})
    (row,) = tasks(docroute, case_id)  # 核稿, for the reviewers group
    with docroute.session() as s:
        admin.reassign(s, ready["admin"], row.id, "吴静出差", "rev2")
    assert tasks(docroute, case_id)[0].assignee == "rev2"
    with docroute.session() as s:
        admin.reassign(s, ready["admin"], row.id, "退回科室", None)
    assert tasks(docroute, case_id)[0].assignee is None
    moves = [p for t, _, p in events(docroute, case_id) if t == "reassigned"]
    assert [(m["from"], m["to"], m["reason"]) for m in moves] == [
        (None, "rev2", "吴静出差"), ("rev2", None, "退回科室")]


def test_deactivating_a_user_returns_their_tasks(docroute: Docroute, ready) -> None:
    case_id = start(docroute, ready["clerk"])
    complete_only(docroute, case_id, ready["clerk"], {"title": "防汛通知"})
    (row,) = tasks(docroute, case_id)
    with docroute.session() as s:
        runtime.claim(s, row.id, ready["rev1"])
    with docroute.session() as s:
        handed = admin.deactivate_user(s, ready["admin"], "rev1", "调离")
    assert [(h.task_id, h.to) for h in handed] == [(row.id, None)]
    assert tasks(docroute, case_id)[0].assignee is None
    with docroute.session() as s:
        assert s.scalar(select(User).where(User.username == "rev1")).active is False
        system = s.scalars(select(Event).where(Event.chain == "system",
                                               Event.type == "user_deactivated")).one()
        assert json.loads(system.payload)["reason"] == "调离"
    assert [p["reason"] for t, _, p in events(docroute, case_id) if t == "reassigned"] == ["调离"]


def test_deactivating_hands_over_to_a_successor(docroute: Docroute, ready) -> None:
    case_id = start(docroute, ready["clerk"])
    complete_only(docroute, case_id, ready["clerk"], {"title": "防汛通知"})
    (row,) = tasks(docroute, case_id)
    with docroute.session() as s:
        runtime.claim(s, row.id, ready["rev2"])
    with docroute.session() as s:
        admin.deactivate_user(s, ready["admin"], "rev2", "退休", successor="rev1")
    assert tasks(docroute, case_id)[0].assignee == "rev1"


# --- migration -------------------------------------------------------------------------------


def test_migrate_moves_a_case_and_keeps_its_claim(docroute: Docroute, ready) -> None:
    old_case = start(docroute, ready["clerk"], "旧案")
    complete_only(docroute, old_case, ready["clerk"], {"title": "旧案"})
    (row,) = tasks(docroute, old_case)
    with docroute.session() as s:
        runtime.claim(s, row.id, ready["rev1"])
    assert deploy(docroute, REVIEW_V2) == 2
    with docroute.session() as s:
        plan, _ = admin.plan_migration(s, ready["admin"], old_case)
    assert plan.possible, plan.reasons
    assert plan.target.version == 2
    with docroute.session() as s:
        admin.migrate(s, ready["admin"], old_case, "新增归档环节")
    with docroute.session() as s:
        assert s.get(Instance, old_case).definition.version == 2
    (moved,) = tasks(docroute, old_case)
    assert (moved.spec, moved.assignee) == ("review_task", "rev1")
    # the case goes on on version 2: after the review it reaches the new task
    complete_only(docroute, old_case, ready["rev1"], {"decision": "approve"})
    (new_task,) = tasks(docroute, old_case)
    assert new_task.spec == "file_it"
    assert verified(docroute, old_case)
    migrated = [p for t, _, p in events(docroute, old_case) if t == "migrated"]
    assert migrated[0]["reason"] == "新增归档环节"
    assert (migrated[0]["from"]["version"], migrated[0]["to"]["version"]) == (1, 2)


def test_migration_refused_when_a_task_is_inserted_before_the_waiting_one(
        docroute: Docroute, ready) -> None:
    case_id = start(docroute, ready["clerk"])
    deploy(docroute, REVIEW_BEFORE)
    with docroute.session() as s:
        plan, _ = admin.plan_migration(s, ready["admin"], case_id)
    assert not plan.possible
    assert "would wait at “初审” (check) instead of “拟稿” (draft)" in str(plan.reasons[0])
    assert plan.reasons[0].code == "waits_elsewhere"
    with docroute.session() as s, pytest.raises(MigrationRefused):
        admin.migrate(s, ready["admin"], case_id, "试试")
    with docroute.session() as s:
        assert s.get(Instance, case_id).definition.version == 1
    assert "migrated" not in [t for t, _, _ in events(docroute, case_id)]


def test_migration_refused_when_the_waiting_task_is_gone(docroute: Docroute, ready) -> None:
    case_id = start(docroute, ready["clerk"])
    complete_only(docroute, case_id, ready["clerk"], {"title": "防汛通知"})
    deploy(docroute, REVIEW_NO_REVIEW)
    with docroute.session() as s:
        plan, _ = admin.plan_migration(s, ready["admin"], case_id)
    assert [str(r) for r in plan.reasons] == [
        "the case waits at “核稿” (review_task), which the new version does not have."]


def test_new_cases_start_on_the_new_version_old_ones_finish_on_theirs(
        docroute: Docroute, ready) -> None:
    old_case = start(docroute, ready["clerk"])
    deploy(docroute, REVIEW_V2)
    new_case = start(docroute, ready["clerk"])
    for case_id in (old_case, new_case):
        complete_only(docroute, case_id, ready["clerk"], {"title": "防汛通知"})
        complete_only(docroute, case_id, ready["rev1"], {"decision": "approve"})
    assert status(docroute, old_case) == "completed"
    assert [t.spec for t in tasks(docroute, new_case)] == ["file_it"]


# --- organisation ---------------------------------------------------------------------------


def test_organisation_edits_are_recorded(docroute: Docroute, ready) -> None:
    with docroute.session() as s:
        organisation.add_group(s, ready["admin"], "archivists", "档案员", reason="新设岗位",
                               kind="role", name_en="Archivists")
        organisation.update_user(s, ready["admin"], "clerk", reason="兼任档案员",
                                 groups=["clerks", "archivists"], clearance="secret")
    with docroute.session() as s:
        user = s.scalar(select(User).where(User.username == "clerk"))
        assert sorted(g.key for g in user.groups) == ["archivists", "clerks"]
        assert user.clearance == 2
        changed = s.scalars(select(Event).where(Event.type == "user_changed")).one()
        payload = json.loads(changed.payload)
        assert payload["reason"] == "兼任档案员"
        assert payload["changes"]["groups"]["to"] == ["archivists", "clerks"]
    with docroute.session() as s, pytest.raises(Conflict, match="wait for the group"):
        case_id = start(docroute, ready["clerk"])
        complete_only(docroute, case_id, ready["clerk"], {"title": "防汛通知"})
        organisation.set_group_active(s, ready["admin"], "reviewers", False, "撤销")


def test_diff_names_what_changed() -> None:
    changes = {c.id: c for c in diff_xml(REVIEW, REVIEW_V2)}
    assert changes["file_it"].kind == "added" and changes["file_it"].name == "归档"
    assert [(d.field, d.old, d.new) for d in changes["f4"].details] == [
        ("target", "end", "file_it")]
    assert set(changes) == {"file_it", "f4", "f5"}
    timer = REVIEW.replace(">PT1H<", ">PT2H<").replace('camunda:formKey="review"',
                                                       'camunda:formKey="review2"')
    changes = {c.id: c for c in diff_xml(REVIEW, timer)}
    assert [(d.field, d.new) for d in changes["deadline"].details] == [
        ("timer", "timeDuration PT2H")]
    assert [(d.field, d.new) for d in changes["review_task"].details] == [("formKey", "review2")]


def test_a_reminder_in_the_history_does_not_stop_a_migration(docroute: Docroute, ready,
                                                            manual_clock) -> None:
    from engine.deadlines import reminders

    case_id = start(docroute, ready["clerk"], "提醒过的案件")
    complete_only(docroute, case_id, ready["clerk"], {"title": "提醒过的案件"})
    manual_clock.advance(days=30)  # long past the step target: reminded and escalated
    with docroute.session() as s:
        reminders.run_reminders(s, manual_clock.now())
    assert {"reminder"} <= {t for t, _, _ in events(docroute, case_id)}
    assert deploy(docroute, REVIEW_V2) == 2
    with docroute.session() as s:
        plan, _ = admin.plan_migration(s, ready["admin"], case_id)
    assert plan.possible, plan.reasons  # replay counts a reminder as passive; so does this
