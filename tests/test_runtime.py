"""Running cases through the engine on both backends: tasks, forms, assignment,
visibility, multi-instance, send-back loops and the stored state's shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import Conflict, Docroute, FormInvalid, NotAllowed, NotFound, history, runtime
from engine.clock import now
from engine.definitions import SourceFile, forms
from engine.definitions.scripting import make_script_engine
from engine.models import Document, Instance, Task
from engine.org.identity import Actor
from engine.queries.inbox import InboxFilter, list_tasks

DATA = Path(__file__).parent / "data"
REVIEW = DATA / "workflows" / "review.bpmn"

ASSIGNING = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="assigning" name="Assigning" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="route"/>
    <bpmn:userTask id="route" name="Route" camunda:formKey="route"
                   camunda:candidateGroups="clerks"/>
    <bpmn:sequenceFlow id="f2" sourceRef="route" targetRef="handle"/>
    <bpmn:userTask id="handle" name="Handle" camunda:candidateGroups="${dept}"/>
    <bpmn:sequenceFlow id="f3" sourceRef="handle" targetRef="answer"/>
    <bpmn:userTask id="answer" name="Answer" camunda:assignee="${handler}"/>
    <bpmn:sequenceFlow id="f4" sourceRef="answer" targetRef="countersign"/>
    <bpmn:userTask id="countersign" name="会签" camunda:formKey="opinion"
                   camunda:candidateGroups="${dept_item}">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>depts</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>opinions</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="dept_item" name="dept_item"/>
        <bpmn:outputDataItem id="opinion" name="opinion"/>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f5" sourceRef="countersign" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
FORMS = {
    "route": {"type": "object", "required": ["dept", "handler"], "properties": {
        "dept": {"type": "string", "x-choices": "roles"},
        "handler": {"type": "string", "x-choices": "users:reviewers"},
        "depts": {"type": "array", "items": {"type": "string", "x-choices": "roles"}}}},
    "opinion": {"type": "object", "required": ["opinion"], "properties": {
        "opinion": {"type": "string", "minLength": 1}}},
}


@pytest.fixture
def deployed(docroute: Docroute, people: dict[str, Actor]) -> Docroute:
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), actor="test")
        docroute.deploy_forms(s, [forms.FormFile(k, f"{k}.json", json.dumps(v).encode())
                                  for k, v in FORMS.items()], actor="test")
        docroute.deploy(s, [SourceFile("review.bpmn", REVIEW.read_bytes()),
                            SourceFile("assigning.bpmn", ASSIGNING.encode())], actor="test")
    return docroute


def start(docroute: Docroute, actor: Actor, key: str, data: dict[str, Any] | None = None,
          **kwargs: Any) -> int:
    with docroute.session() as s:
        return runtime.start_case(s, actor, key, data, **kwargs).id


def tasks(docroute: Docroute, case_id: int) -> list[Task]:
    with docroute.session() as s:
        return list(s.scalars(select(Task).where(Task.instance_id == case_id)
                              .order_by(Task.created_at, Task.id)))


def only(docroute: Docroute, case_id: int, spec: str) -> Task:
    [row] = [t for t in tasks(docroute, case_id) if t.spec == spec]
    return row


def complete(docroute: Docroute, actor: Actor, task_id: str,
             data: dict[str, Any] | None = None) -> Instance:
    with docroute.session() as s:
        return runtime.complete(s, task_id, actor, data)


def status(docroute: Docroute, case_id: int) -> str:
    with docroute.session() as s:
        return s.get(Instance, case_id).status


# --- claim, unclaim, delegate, complete ------------------------------------------------------


def test_lanes_claim_unclaim_delegate_complete(deployed: Docroute, people: dict) -> None:
    clerk, rev1, rev2 = (people[n] for n in ("clerk", "rev1", "rev2"))
    case = start(deployed, clerk, "review", {"rounds": 0})
    draft = only(deployed, case, "draft")
    assert (draft.candidate_groups, draft.assignee) == (["clerks"], None)  # lane "收发员"
    complete(deployed, clerk, draft.id, {"title": "关于印发通知"})
    review = only(deployed, case, "review_task")
    assert review.candidate_groups == ["reviewers"]
    with deployed.session() as s:
        assert [t.id for t in list_tasks(s, rev2, InboxFilter(scope="group"))] == [review.id]
        assert list_tasks(s, clerk, InboxFilter()) == []
        with pytest.raises(NotFound):
            runtime.claim(s, review.id, clerk)
    with deployed.session() as s:
        assert runtime.claim(s, review.id, rev1).assignee == "rev1"
    with deployed.session() as s:
        assert list_tasks(s, rev2, InboxFilter()) == []  # claimed: gone from the group
        with pytest.raises(Conflict, match="already claimed by rev1"):
            runtime.get_task_row(s, review.id, rev2)
        with pytest.raises(Conflict, match="already claimed by rev1"):
            runtime.claim(s, review.id, rev2)
        with pytest.raises(NotFound):
            runtime.get_task_row(s, review.id, clerk)  # never in the clerk's group
    with deployed.session() as s, pytest.raises(Conflict):
        runtime.unclaim(s, review.id, rev2)
    with deployed.session() as s:
        runtime.unclaim(s, review.id, rev1)
    with deployed.session() as s:
        runtime.claim(s, review.id, rev2)
    with deployed.session() as s, pytest.raises(Conflict, match="claimed by rev2"):
        runtime.complete(s, review.id, rev1, {"decision": "approve"})
    with deployed.session() as s, pytest.raises(NotAllowed, match="is not for 林海"):
        runtime.delegate(s, review.id, rev2, "boss")  # not a reviewer: may not hold it
    with deployed.session() as s:
        row = runtime.delegate(s, review.id, rev2, "rev1")
        assert row.assignee == "rev1"
    with deployed.session() as s, pytest.raises(NotFound):
        runtime.delegate(s, review.id, rev1, "nobody")
    complete(deployed, rev1, review.id, {"decision": "approve", "opinion": "同意"})
    assert status(deployed, case) == "completed"
    with pytest.raises(Conflict, match="no longer open"):
        complete(deployed, rev1, review.id, {"decision": "approve"})
    with deployed.session() as s:
        types = [e.type for e in history.case_events(s, case)]
    assert types == ["started", "completed", "claimed", "unclaimed", "claimed", "delegated",
                     "completed", "completed"]


def test_form_validation(deployed: Docroute, people: dict) -> None:
    clerk, rev1 = people["clerk"], people["rev1"]
    case = start(deployed, clerk, "review", {"rounds": 0})
    draft = only(deployed, case, "draft")
    with pytest.raises(FormInvalid) as caught:
        complete(deployed, clerk, draft.id, {"title": "x", "colour": "red"})
    assert set(caught.value.errors) == {"title", "colour"}
    assert "unknown field" in caught.value.errors["colour"]
    with pytest.raises(FormInvalid) as caught:
        complete(deployed, clerk, draft.id, {})
    assert caught.value.errors == {"title": "this field is required"}
    with pytest.raises(FormInvalid):
        complete(deployed, clerk, draft.id, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(FormInvalid) as caught:
        complete(deployed, clerk, draft.id, {"title": 12})
    assert "title" in caught.value.errors
    assert only(deployed, case, "draft").id == draft.id  # nothing moved
    complete(deployed, clerk, draft.id, {"title": "标题"})
    review = only(deployed, case, "review_task")
    with deployed.session() as s:
        schema = runtime.task_form(s, s.get(Instance, case), review)
    assert schema["properties"]["handler"]["enum"] == ["rev1", "rev2"]
    assert schema["properties"]["handler"]["x-enum-labels"] == ["吴静", "周强"]
    with pytest.raises(FormInvalid) as caught:
        complete(deployed, rev1, review.id, {"decision": "maybe", "handler": "clerk"})
    assert set(caught.value.errors) == {"decision", "handler"}
    complete(deployed, rev1, review.id, {"decision": "approve", "handler": "rev2"})
    assert status(deployed, case) == "completed"


def test_task_without_form_key_gets_empty_form(deployed: Docroute, people: dict) -> None:
    case = start(deployed, people["clerk"], "assigning")
    complete(deployed, people["clerk"], only(deployed, case, "route").id,
             {"dept": "reviewers", "handler": "rev2", "depts": ["reviewers"]})
    handle = only(deployed, case, "handle")
    assert handle.form_key is None
    with deployed.session() as s:
        assert runtime.task_form(s, s.get(Instance, case), handle) == {
            "type": "object", "properties": {}}
    with pytest.raises(FormInvalid):
        complete(deployed, people["rev1"], handle.id, {"anything": 1})


def test_expressions_assign_from_task_data_and_multi_instance_out_of_order(
        deployed: Docroute, people: dict) -> None:
    clerk, rev1, rev2, boss = (people[n] for n in ("clerk", "rev1", "rev2", "boss"))
    case = start(deployed, clerk, "assigning")
    complete(deployed, clerk, only(deployed, case, "route").id,
             {"dept": "leaders", "handler": "rev2", "depts": ["reviewers", "leaders", "clerks"]})
    handle = only(deployed, case, "handle")
    assert (handle.candidate_groups, handle.assignee) == (["leaders"], None)
    with deployed.session() as s, pytest.raises(NotFound):
        runtime.claim(s, handle.id, rev1)
    complete(deployed, boss, handle.id)
    answer = only(deployed, case, "answer")
    assert (answer.assignee, answer.candidate_groups) == ("rev2", [])
    with deployed.session() as s, pytest.raises(NotFound):
        runtime.get_task_row(s, answer.id, rev1)
    complete(deployed, rev2, answer.id)
    children = [t for t in tasks(deployed, case) if t.spec.startswith("countersign")]
    by_group = {t.candidate_groups[0]: t for t in children}
    assert set(by_group) == {"reviewers", "leaders", "clerks"}
    # Last first, then first, then middle.
    for group, actor in (("clerks", clerk), ("reviewers", rev1), ("leaders", boss)):
        assert status(deployed, case) == "running"
        complete(deployed, actor, by_group[group].id, {"opinion": f"{group} agrees"})
    assert status(deployed, case) == "completed"
    with deployed.session() as s:
        data = runtime.load_workflow(s, s.get(Instance, case)).data
    # SpiffWorkflow appends list outputs in completion order (DESIGN: replay logs it).
    assert data["opinions"] == ["clerks agrees", "reviewers agrees", "leaders agrees"]


def _secret_document(docroute: Docroute, level: int) -> int:
    with docroute.session() as s:
        document = Document(kind="incoming", title="密件", classification=level,
                            created_by="clerk", created_at=now())
        s.add(document)
        s.flush()
        return document.id


def test_lower_clearance_never_sees_the_task(deployed: Docroute, people: dict) -> None:
    clerk, rev1, rev2 = people["clerk"], people["rev1"], people["rev2"]
    secret = _secret_document(deployed, 2)
    with deployed.session() as s, pytest.raises(NotFound):
        runtime.start_case(s, clerk, "review", {"rounds": 0}, document_id=secret)
    _as_staff(deployed, "admin")
    case = start(deployed, people["admin"], "review", {"rounds": 0}, document_id=secret)
    complete(deployed, people["admin"], only(deployed, case, "draft").id, {"title": "密件"})
    review = only(deployed, case, "review_task")
    assert review.classification == 2
    with deployed.session() as s:
        assert list_tasks(s, rev2, InboxFilter()) == []
        assert [t.id for t in list_tasks(s, rev1, InboxFilter())] == [review.id]
        for call in (runtime.get_task_row, runtime.claim, runtime.unclaim):
            with pytest.raises(NotFound):  # not NotAllowed: its existence is not revealed
                call(s, review.id, rev2)
        with pytest.raises(NotFound):
            runtime.complete(s, review.id, rev2, {"decision": "approve"})
        with pytest.raises(NotFound):
            runtime.get_instance(s, case, rev2)
    with deployed.session() as s, pytest.raises(NotAllowed):
        runtime.delegate(s, review.id, rev1, "rev2")  # rev2 is not cleared
    complete(deployed, rev1, review.id, {"decision": "approve"})


# --- loops and state size ------------------------------------------------------------------


def _as_staff(docroute: Docroute, username: str) -> None:
    """Make an administrator also office staff (every group): only staff hold tasks."""
    from engine.org import identity

    with docroute.session() as s:
        user = identity.get_user(s, username)
        user.groups = identity.list_groups(s)


def _round(docroute: Docroute, admin: Actor, case: int, decision: str) -> None:
    complete(docroute, admin, only(docroute, case, "draft").id, {"title": "往返"})
    complete(docroute, admin, only(docroute, case, "review_task").id, {"decision": decision})


def test_send_back_loop(deployed: Docroute, people: dict) -> None:
    admin = people["admin"]
    _as_staff(deployed, "admin")
    case = start(deployed, admin, "review", {"rounds": 0})
    for _ in range(3):
        _round(deployed, admin, case, "return")
        assert [t.spec for t in tasks(deployed, case)] == ["draft"]
    _round(deployed, admin, case, "approve")
    assert status(deployed, case) == "completed"
    with deployed.session() as s:
        data = runtime.load_workflow(s, s.get(Instance, case)).data
    assert data["rounds"] == 1 and data["summary"] == "往返 / approve"


def test_stored_state_has_no_spec_and_is_small(deployed: Docroute, people: dict) -> None:
    case = start(deployed, people["admin"], "review", {"rounds": 0})
    with deployed.session() as s:
        state = json.loads(s.get(Instance, case).state)
    assert "spec" not in state and "subprocess_specs" not in state
    assert len(s.get(Instance, case).state) < 8_000


LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="loop" name="Loop" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:userTask id="work" name="Work" camunda:formKey="loop"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="check"/>
    <bpmn:exclusiveGateway id="check" default="again"/>
    <bpmn:sequenceFlow id="done" sourceRef="check" targetRef="end">
      <bpmn:conditionExpression>finished</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="again" sourceRef="check" targetRef="work"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
ROUNDS = 600


@pytest.fixture(scope="module")
def six_hundred_rounds() -> str:
    """The stored state of a loop case after 600 send-backs, driven in memory once.

    Through the database each of 600 steps rewrites a growing snapshot; driving the
    engine's own workflow object in memory makes the same tree in a fraction of the time.
    """
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    from engine.definitions.bpmn import DocrouteParser, normalise, parse_xml
    from engine.runtime import spiff

    parser = DocrouteParser()
    parser.add_bpmn_xml(normalise(parse_xml(LOOP.encode(), 1 << 20)).getroot(), filename="l")
    workflow = BpmnWorkflow(parser.get_spec("loop"), parser.get_subprocess_specs("loop"),
                            script_engine=make_script_engine())
    workflow.get_next_task(state=TaskState.READY).data.update(finished=False)
    workflow.do_engine_steps()
    for _ in range(ROUNDS):
        task = workflow.get_next_task(state=TaskState.READY, manual=True)
        task.data["finished"] = False
        task.run()
        workflow.do_engine_steps()
    assert len(workflow.get_tasks()) > 2 * ROUNDS  # deeper than the library's 1000 limit
    return spiff.dump_state(workflow)


def test_six_hundred_send_back_rounds_still_run(docroute: Docroute, people: dict,
                                               six_hundred_rounds: str) -> None:
    """SpiffWorkflow's task iterator stops at depth 1000 and its ancestor walks recurse
    once per task; a long-running loop must still find its ready task and move on."""
    from engine.org import identity
    from engine.runtime import projection

    admin = people["admin"]
    with docroute.session() as s:
        docroute.deploy_forms(s, [forms.FormFile("loop", "loop.json", json.dumps(
            {"type": "object", "properties": {"finished": {"type": "boolean"}}}).encode())],
            actor="test")
        docroute.deploy(s, [SourceFile("loop.bpmn", LOOP.encode())], actor="test")
    _as_staff(docroute, "admin")
    case = start(docroute, admin, "loop", {"finished": False})
    with docroute.session() as s:  # put the long history in place of the fresh state
        instance = s.get(Instance, case)
        instance.state = six_hundred_rounds
        instance.version += 1
        workflow = runtime.load_workflow(s, instance)
        projection.sync_tasks(s, instance, workflow, identity.group_keys_by_name(s), {
            "process_key": "loop", "title": instance.title, "classification": 0})
    docroute.runtime.cache.clear()
    complete(docroute, admin, only(docroute, case, "work").id, {"finished": False})
    docroute.runtime.cache.clear()  # the next step loads the 601-round state from the database
    complete(docroute, admin, only(docroute, case, "work").id, {"finished": True})
    assert status(docroute, case) == "completed"
