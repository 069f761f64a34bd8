"""Long loops stay flat: finished rounds leave the live task tree, history keeps them.

Counted, not timed: tasks in the tree and bytes of stored state after many send-back
rounds against the first rounds, and replay still rebuilding exactly the stored state.
"""

from __future__ import annotations

import json

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from test_replay import DRAFT, complete, open_tasks, start_review, verified
from test_replay import ready as ready

from engine import Docroute, runtime
from engine.definitions.bpmn import DocrouteParser, normalise, parse_xml
from engine.definitions.scripting import make_script_engine
from engine.history import replay
from engine.models import Instance
from engine.org.identity import Actor
from engine.queries import progress
from engine.runtime import compaction, spiff

ROUNDS = 30


def _send_back(docroute: Docroute, case_id: int, people: dict[str, Actor]) -> None:
    complete(docroute, case_id, people["clerk"], DRAFT, name="拟稿")
    complete(docroute, case_id, people["rev1"], {"decision": "return", "opinion": "再改"},
             name="核稿")


def _snapshot(docroute: Docroute, case_id: int) -> tuple[int, int]:
    with docroute.session() as s:
        instance = s.get(Instance, case_id)
        assert instance is not None
        return len(instance.state), len(json.loads(instance.state)["tasks"])


def test_a_long_send_back_loop_keeps_tree_and_state_bounded_and_still_verifies(
        docroute: Docroute, ready: dict[str, Actor]) -> None:
    case_id = start_review(docroute, ready["clerk"])
    sizes = []
    for _ in range(ROUNDS):
        _send_back(docroute, case_id, ready)
        sizes.append(_snapshot(docroute, case_id))
    first_bytes, first_tasks = sizes[2]
    last_bytes, last_tasks = sizes[-1]
    # Without compaction: ~1.2 KB and 4+ tasks more every round (30 rounds: ~4x round 3).
    assert last_tasks <= first_tasks + 2, sizes
    assert last_bytes <= 1.2 * first_bytes, sizes
    docroute.runtime.cache.clear()  # the next step loads the compacted state from the database
    complete(docroute, case_id, ready["clerk"], DRAFT, name="拟稿")
    complete(docroute, case_id, ready["rev2"], {"decision": "approve"}, name="核稿")
    with docroute.session() as s:
        instance = s.get(Instance, case_id)
        assert instance is not None and instance.status == "completed"
        workflow = runtime.load_workflow(s, instance)
        assert compaction.dropped_count(workflow) > 4 * (ROUNDS - 3)
        shown = progress.case_progress(s, instance)
        result = replay.replay(s, case_id)
    verdict = verified(docroute, case_id)
    assert verdict.ok, verdict.difference
    # What the diagram shows still includes the rounds that left the tree.
    assert {"start", "draft", "review_task", "decide", "stamp", "end"} <= set(shown.completed)
    assert {"f1", "f2", "f3", "f_back", "f_ok", "f4"} <= set(shown.path)
    last = result.frames[-1]
    assert {"start", "draft", "stamp", "end"} <= set(last.completed)
    assert {"f1", "f_back", "f_ok"} <= set(last.path)
    assert last.data["summary"] == "关于防汛工作的通知 / approve"


def test_a_case_stored_before_compaction_still_verifies_and_is_compacted_by_its_next_step(
        docroute: Docroute, ready: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:  # the engine as it was: every task kept
        patch.setattr(compaction, "compact", lambda workflow, margin=0: 0)
        case_id = start_review(docroute, ready["clerk"])
        for _ in range(8):
            _send_back(docroute, case_id, ready)
    legacy_bytes, legacy_tasks = _snapshot(docroute, case_id)
    with docroute.session() as s:  # the stored state keeps every round
        assert compaction.dropped_count(runtime.load_workflow(s, s.get(Instance, case_id))) == 0
    verdict = verified(docroute, case_id)  # the stored state compacted, as replay compacts
    assert verdict.ok, verdict.difference
    docroute.runtime.cache.clear()
    _send_back(docroute, case_id, ready)  # the first steps since: compacted at once
    now_bytes, now_tasks = _snapshot(docroute, case_id)
    assert now_tasks < legacy_tasks / 2 and now_bytes < legacy_bytes / 2
    verdict = verified(docroute, case_id)  # replayed with compaction after every event
    assert verdict.ok, verdict.difference
    complete(docroute, case_id, ready["clerk"], DRAFT, name="拟稿")
    complete(docroute, case_id, ready["rev2"], {"decision": "approve"}, name="核稿")
    verdict = verified(docroute, case_id)
    assert verdict.ok, verdict.difference


def test_a_short_case_is_not_compacted(docroute: Docroute, ready: dict[str, Actor]) -> None:
    case_id = start_review(docroute, ready["clerk"])
    _send_back(docroute, case_id, ready)
    with docroute.session() as s:
        instance = s.get(Instance, case_id)
        assert instance is not None
        workflow = runtime.load_workflow(s, instance)
    assert compaction.dropped_count(workflow) == 0
    assert workflow.task_tree.task_spec.name == "Start"  # the library's own root
    assert len(open_tasks(docroute, case_id)) == 1


LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="loop" name="Loop" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="%(entry)s"/>
    %(body)s
    <bpmn:userTask id="a" name="A"/>
    <bpmn:userTask id="b" name="B"/>
    <bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="check"/>
    <bpmn:exclusiveGateway id="check" default="again"/>
    <bpmn:sequenceFlow id="done" sourceRef="check" targetRef="end">
      <bpmn:conditionExpression>finished</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="again" sourceRef="check" targetRef="%(entry)s"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
# A then B, one after the other (compacted), or side by side (never compacted).
SEQUENCE = {"entry": "a", "body": """
    <bpmn:sequenceFlow id="ab" sourceRef="a" targetRef="b"/>
    <bpmn:sequenceFlow id="b2" sourceRef="b" targetRef="join"/>
    <bpmn:exclusiveGateway id="join"/>"""}
PARALLEL = {"entry": "split", "body": """
    <bpmn:parallelGateway id="split"/>
    <bpmn:sequenceFlow id="a1" sourceRef="split" targetRef="a"/>
    <bpmn:sequenceFlow id="b1" sourceRef="split" targetRef="b"/>
    <bpmn:sequenceFlow id="a2" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="b2" sourceRef="b" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>"""}


def _loop(shape: dict[str, str], rounds: int, every_step: bool, finish: bool = True
          ) -> BpmnWorkflow:
    parser = DocrouteParser()
    xml = LOOP % shape
    parser.add_bpmn_xml(normalise(parse_xml(xml.encode(), 1 << 20)).getroot(), filename="l")
    workflow = BpmnWorkflow(parser.get_spec("loop"), parser.get_subprocess_specs("loop"),
                            script_engine=make_script_engine())
    workflow.get_next_task(state=TaskState.READY).data.update(finished=False)
    workflow.do_engine_steps()
    for step in range(2 * rounds):
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        task = ready[-1] if step % 4 == 1 else ready[0]  # branches finish in either order
        task.data.update(finished=finish and step == 2 * rounds - 1, seen=step)
        task.run()
        workflow.do_engine_steps()
        if every_step:
            compaction.compact(workflow)
    return workflow


def test_compacting_after_every_step_or_once_gives_the_same_tree() -> None:
    """Replay compacts after each event, a migration once at the end: both must agree."""
    for rounds in (3, 12, 13):
        stepwise = _loop(SEQUENCE, rounds, every_step=True, finish=False)
        once = _loop(SEQUENCE, rounds, every_step=False, finish=False)
        assert compaction.compact(once) > 0
        a = replay.canonical(json.loads(spiff.dump_state(stepwise)))
        b = replay.canonical(json.loads(spiff.dump_state(once)))
        assert replay.first_difference(a, b) is None
        assert len(stepwise.tasks) < 30
    finished = _loop(SEQUENCE, 20, every_step=True)
    assert finished.completed and finished.success and finished.data["seen"] == 39
    assert compaction.dropped_count(finished) > 60


def test_a_loop_through_a_merging_parallel_gateway_is_left_whole() -> None:
    # The gateway that enters the loop finds its entering flow only at the tree's top.
    workflow = _loop(PARALLEL, 20, every_step=True)
    assert workflow.completed and workflow.success
    assert compaction.dropped_count(workflow) == 0
    assert not compaction.compactable(workflow.spec)

