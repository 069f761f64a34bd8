"""Loops a case could never leave are refused at deploy, and a case of one stored earlier
never starts into a 500 (issue 12 item 9)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from engine import Docroute, WorkflowInvalid, runtime
from engine.clock import now
from engine.definitions import SourceFile
from engine.models import Definition, Instance

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="loop" name="Loop" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="A"/>
"""
TAIL = """    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

PLAIN_CYCLE = HEAD + """    <bpmn:task id="A" name="甲"/>
    <bpmn:sequenceFlow id="f1" sourceRef="A" targetRef="B"/>
    <bpmn:task id="B" name="乙"/>
    <bpmn:sequenceFlow id="f2" sourceRef="B" targetRef="A"/>
""" + TAIL
USER_CYCLE = PLAIN_CYCLE.replace("bpmn:task", "bpmn:userTask")
GATEWAY_NO_EXIT = HEAD + """    <bpmn:scriptTask id="A" name="甲">
      <bpmn:script>n = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f1" sourceRef="A" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw"/>
    <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="A">
      <bpmn:conditionExpression>n == 1</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="A">
      <bpmn:conditionExpression>n != 1</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
""" + TAIL
GATEWAY_WITH_EXIT = HEAD + """    <bpmn:userTask id="A" name="甲"/>
    <bpmn:sequenceFlow id="f1" sourceRef="A" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f3"/>
    <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="A">
      <bpmn:conditionExpression>again == True</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="end"/>
""" + TAIL
BOUNDARY_EXIT = HEAD + """    <bpmn:userTask id="A" name="甲"/>
    <bpmn:sequenceFlow id="f1" sourceRef="A" targetRef="B"/>
    <bpmn:userTask id="B" name="乙"/>
    <bpmn:sequenceFlow id="f2" sourceRef="B" targetRef="A"/>
    <bpmn:boundaryEvent id="late" attachedToRef="B">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="end"/>
""" + TAIL
SUBPROCESS_CYCLE = HEAD + """    <bpmn:subProcess id="A" name="子流程">
      <bpmn:startEvent id="s2"/>
      <bpmn:sequenceFlow id="g1" sourceRef="s2" targetRef="X"/>
      <bpmn:task id="X" name="丙"/>
      <bpmn:sequenceFlow id="g2" sourceRef="X" targetRef="X"/>
      <bpmn:endEvent id="e2"/>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f1" sourceRef="A" targetRef="end"/>
""" + TAIL


@pytest.mark.parametrize(("xml", "elements"), [
    (PLAIN_CYCLE, ["A", "B"]),
    (USER_CYCLE, ["A", "B"]),
    (GATEWAY_NO_EXIT, ["A", "gw"]),
    (SUBPROCESS_CYCLE, ["X"]),
])
def test_loops_without_a_way_out_are_refused_with_their_location(
        docroute: Docroute, xml: str, elements: list[str]) -> None:
    with pytest.raises(WorkflowInvalid) as caught, docroute.session() as s:
        docroute.deploy(s, [SourceFile("loop.bpmn", xml.encode())], actor="test")
    problems = [p for p in caught.value.problems
                if "loop that can never reach an end" in p.message]
    assert sorted(p.element for p in problems) == elements
    assert all(p.file == "loop.bpmn" and p.line for p in problems)
    with docroute.session() as s:
        assert s.scalar(select(func.count()).select_from(Definition)) == 0


@pytest.mark.parametrize("xml", [GATEWAY_WITH_EXIT, BOUNDARY_EXIT])
def test_loops_with_a_way_out_deploy(docroute: Docroute, xml: str) -> None:
    with docroute.session() as s:
        results = docroute.deploy(s, [SourceFile("loop.bpmn", xml.encode())], actor="test")
    assert [r.status for r in results] == ["deployed"]


def test_a_stored_endless_loop_refuses_to_start_and_stores_nothing(
        docroute: Docroute, people: dict) -> None:
    # As if deployed by a release that did not check loops yet.
    with docroute.session() as s:
        s.add(Definition(key="loop", version=1, name="Loop", filename="loop.bpmn",
                         sha256=hashlib.sha256(PLAIN_CYCLE.encode()).hexdigest(),
                         xml=PLAIN_CYCLE, dependencies={}, deployed_by="test",
                         deployed_at=now()))
    with pytest.raises(WorkflowInvalid, match="loops without ever reaching"), \
            docroute.session() as s:
        runtime.start_case(s, people["admin"], "loop", {})
    with docroute.session() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == 0
