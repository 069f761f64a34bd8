"""The shipped diagrams (workflows/*.bpmn) and forms (forms/*.json) keep docs/diagrams.md.

No database: every check reads the files and runs the engine's own parser and checkers.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from lxml import etree
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from engine import definitions
from engine.definitions import forms
from engine.definitions.bpmn import (
    DocrouteParser,
    normalise,
    parse_xml,
    timer_expression,
    unwrap_expression,
)
from engine.definitions.scripting import check_expression, check_script
from engine.errors import WorkflowInvalid

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
FORMS = ROOT / "forms"
BPMN_FILES = sorted(WORKFLOWS.glob("*.bpmn"))
FORM_FILES = sorted(FORMS.glob("*.json"))
MAX_BYTES = 5 << 20

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
CAMUNDA = "{{{}}}".format(NS["camunda"])
FLOW_NODES = ("startEvent", "endEvent", "userTask", "serviceTask", "scriptTask", "callActivity",
              "exclusiveGateway", "parallelGateway", "inclusiveGateway", "boundaryEvent",
              "intermediateCatchEvent", "intermediateThrowEvent", "task", "manualTask",
              "subProcess", "sendTask", "receiveTask", "businessRuleTask", "eventBasedGateway")
CJK = re.compile(r"[\u4e00-\u9fff]")
SHIPPED = {"incoming_document", "outgoing_document", "seal_use", "suggestion_proposal",
           "supervision", "disclosure_request", "archiving", "meeting", "proactive_disclosure",
           "government_information", "item_approval"}
DMN_FILES = sorted(WORKFLOWS.glob("*.dmn"))


def bpmn(tag: str) -> str:
    return "{{{}}}{}".format(NS["bpmn"], tag)


@cache
def tree(path: Path) -> etree._ElementTree:
    return parse_xml(path.read_bytes(), max_bytes=MAX_BYTES)


@cache
def organisation() -> dict[str, str]:
    """Group display name -> key, from the tables in docs/organisation.md."""
    groups: dict[str, str] = {}
    text = (ROOT / "docs" / "organisation.md").read_text(encoding="utf-8")
    for key, name in re.findall(r"^\| ([a-z_]+) \| ([^|]+?) \|", text, re.M):
        groups[name.strip()] = key
    return groups


def flow_nodes(root: etree._Element) -> list[etree._Element]:
    return [n for tag in FLOW_NODES for n in root.iter(bpmn(tag))]


def user_tasks() -> list[tuple[Path, etree._Element]]:
    return [(p, t) for p in BPMN_FILES for t in tree(p).getroot().iter(bpmn("userTask"))]


def load_form(key: str) -> dict[str, Any]:
    return json.loads((FORMS / f"{key}.json").read_text(encoding="utf-8"))


# --- parsing ---------------------------------------------------------------------------------

def test_the_shipped_processes_are_all_there() -> None:
    keys = {p.get("id") for path in BPMN_FILES for p in tree(path).getroot().iter(bpmn("process"))}
    assert keys == SHIPPED
    assert {path.stem for path in BPMN_FILES} == SHIPPED
    assert [path.stem for path in DMN_FILES] == ["item_approval_route"]


def test_spiffworkflow_parses_every_process_with_its_called_processes() -> None:
    parser = DocrouteParser(validator=VALIDATOR)  # BPMN 2.0 + Spiff XSDs
    for path in BPMN_FILES:
        parser.add_bpmn_xml(normalise(tree(path)).getroot(), filename=path.name)
    for path in DMN_FILES:
        parser.add_dmn_xml(tree(path).getroot(), filename=path.name)
    assert set(parser.get_process_ids()) == SHIPPED
    for key in SHIPPED:
        spec = parser.get_spec(key)
        assert spec.name == key
        subprocesses = parser.get_subprocess_specs(key)
        assert all(sub is not None for sub in subprocesses.values())
    assert set(parser.get_subprocess_specs("outgoing_document")) == {"seal_use", "archiving"}
    for key in ("incoming_document", "supervision", "disclosure_request"):
        assert set(parser.get_subprocess_specs(key)) == {"archiving"}


def test_the_engines_deploy_check_accepts_them() -> None:
    files = [definitions.SourceFile(p.name, p.read_bytes()) for p in BPMN_FILES + DMN_FILES]
    # No session: every called process is in the upload, so none is looked up.
    checked = definitions.check_files(
        None,  # type: ignore[arg-type]
        files, lambda key: (FORMS / f"{key}.json").exists(), max_bytes=MAX_BYTES)
    assert {p.key for c in checked for p in c.processes} == SHIPPED | {"item_approval_route"}


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_ids_are_unique_within_a_file(path: Path) -> None:
    # SpiffWorkflow finds nodes by id anywhere in the file: a service parameter or a
    # multi-instance data item sharing a task's id makes the parser pick the wrong element.
    # Service parameters are named by id too, and two service tasks may both take a
    # ``name``: those may repeat among themselves, never as an element's id.
    root = tree(path).getroot()
    spiff = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
    ids = [e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")
           and not e.tag.startswith(spiff)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    named = {e.get("id") for e in root.iter() if isinstance(e.tag, str)
             and e.tag.startswith(spiff) and e.get("id")}
    assert sorted(named & set(ids)) == []


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_namespaces_are_declared(path: Path) -> None:
    declared = tree(path).getroot().nsmap
    for prefix, uri in NS.items():
        assert declared.get(prefix) == uri, prefix


# --- user tasks and forms ------------------------------------------------------------------------

@pytest.mark.parametrize("path, task", user_tasks(), ids=lambda v: getattr(v, "stem", None)
                         or (v.get("id") if hasattr(v, "get") else str(v)))
def test_user_task_has_a_form_and_someone_to_do_it(path: Path, task: etree._Element) -> None:
    key = task.get(CAMUNDA + "formKey")
    assert key, "every user task names its form"
    assert (FORMS / f"{key}.json").exists(), f"forms/{key}.json is missing"
    groups = task.get(CAMUNDA + "candidateGroups")
    assignee = task.get(CAMUNDA + "assignee")
    lane = [lane.get("name") for lane in tree(path).getroot().iter(bpmn("lane"))
            if task.get("id") in [r.text for r in lane.iterfind("bpmn:flowNodeRef", NS)]]
    assert groups or assignee or lane
    if groups and not groups.startswith("${"):
        known = set(organisation().values())
        assert {g.strip() for g in groups.split(",")} <= known
    for value in (groups, assignee, task.get(CAMUNDA + "dueDate")):
        if value and value.startswith("${"):
            assert check_expression(unwrap_expression(value)) is None, value


def test_every_lane_is_a_group_of_the_organisation() -> None:
    names = organisation()
    for path in BPMN_FILES:
        for lane in tree(path).getroot().iter(bpmn("lane")):
            assert lane.get("name") in names, f"{path.name}: lane {lane.get('name')}"


def test_every_form_is_used_and_every_used_form_exists() -> None:
    used = {t.get(CAMUNDA + "formKey") for _, t in user_tasks()}
    assert used == {p.stem for p in FORM_FILES}


@pytest.mark.parametrize("path", FORM_FILES, ids=lambda p: p.stem)
def test_form_is_a_valid_bilingual_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    try:  # the engine's own form rules (keywords, field names, patterns with examples)
        forms.check_schema(path.name, path.read_bytes(), MAX_BYTES)
    except WorkflowInvalid as error:  # pragma: no cover - shows the problems
        pytest.fail("; ".join(f"{p.element}: {p.message}" for p in error.problems))
    assert schema["type"] == "object"
    assert CJK.search(schema["title"]) and schema["x-title-en"]
    assert schema["properties"], "a form with no fields should have no form key"
    for name, field in schema["properties"].items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert CJK.search(field.get("title", "")), f"{name}: Chinese title"
        assert field.get("x-title-en"), f"{name}: English title"
        if "description" in field:
            assert field.get("x-description-en"), f"{name}: English description"
        if "enum" in field:
            labels, labels_en = field["x-enum-labels"], field["x-enum-labels-en"]
            assert len(labels) == len(field["enum"]) == len(labels_en)
        if "pattern" in field:
            assert all(re.search(field["pattern"], e) for e in field["examples"])
        if field.get("readOnly"):
            assert "default" not in field, f"{name}: a read-only default would overwrite data"
            assert name not in schema["required"]
    assert set(schema["required"]) <= set(schema["properties"])


# --- expressions ----------------------------------------------------------------------

@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_expressions_compile_in_the_sandbox(path: Path) -> None:
    root = tree(path).getroot()
    for node in root.iter(bpmn("script")):
        assert check_script(node.text or "") is None, node.text
    for node in root.iter(bpmn("conditionExpression")):
        assert check_expression(unwrap_expression(node.text or "")) is None, node.text
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for node in root.iter(bpmn(tag)):
            assert check_expression(timer_expression(node.text or "")) is None, node.text
    for node in root.iter("{{{}}}parameter".format(NS["spiffworkflow"])):
        assert check_expression(node.get("value")) is None


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_exclusive_gateways_always_have_a_way_out(path: Path) -> None:
    root = tree(path).getroot()
    flows = {f.get("id"): f for f in root.iter(bpmn("sequenceFlow"))}
    for gateway in root.iter(bpmn("exclusiveGateway")):
        outgoing = [f for f in flows.values() if f.get("sourceRef") == gateway.get("id")]
        if len(outgoing) < 2:
            continue
        for flow in outgoing:
            has_condition = flow.find("bpmn:conditionExpression", NS) is not None
            assert has_condition or gateway.get("default") == flow.get("id"), flow.get("id")
        assert gateway.get("default") in {f.get("id") for f in outgoing}, gateway.get("id")


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_multi_instance_collections_resolve_in_modellers(path: Path) -> None:
    # bpmn-js drops a loopDataInputRef/OutputRef that names no element on save; the
    # process declares each collection as a bpmn:property (SpiffWorkflow ignores those).
    root = tree(path).getroot()
    properties = {p.get("id") for p in root.iterfind("bpmn:process/bpmn:property", NS)}
    for tag in ("loopDataInputRef", "loopDataOutputRef"):
        for ref in root.iter(bpmn(tag)):
            assert ref.text in properties, ref.text


# --- names and translations ------------------------------------------------------------

def named_elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and e.get("name") is not None
            and etree.QName(e).namespace == NS["bpmn"]
            and etree.QName(e).localname not in ("inputDataItem", "outputDataItem")]


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_every_element_has_a_chinese_name(path: Path) -> None:
    root = tree(path).getroot()
    for node in [*flow_nodes(root), *root.iter(bpmn("process")), *root.iter(bpmn("lane")),
                 *root.iter(bpmn("participant"))]:
        assert CJK.search(node.get("name") or ""), node.get("id")


def test_english_labels_cover_every_name() -> None:
    labels = json.loads((WORKFLOWS / "labels.en.json").read_text(encoding="utf-8"))
    names = {e.get("name") for p in BPMN_FILES for e in named_elements(tree(p).getroot())}
    assert sorted(names - set(labels)) == []
    assert sorted(set(labels) - names) == []  # no stale entries
    for zh, en in labels.items():
        assert en.strip() and not CJK.search(en), zh


# --- diagram interchange ------------------------------------------------------------

def bounds(shape: etree._Element) -> tuple[float, float, float, float]:
    b = shape.find("dc:Bounds", NS)
    return (float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height")))


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_diagram_interchange_draws_everything(path: Path) -> None:
    root = tree(path).getroot()
    diagrams = root.findall("bpmndi:BPMNDiagram", NS)
    assert len(diagrams) == 1
    plane = diagrams[0].find("bpmndi:BPMNPlane", NS)
    collaboration = root.find("bpmn:collaboration", NS)
    assert plane.get("bpmnElement") == collaboration.get("id")
    shapes = {s.get("bpmnElement"): s for s in plane.iterfind("bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in plane.iterfind("bpmndi:BPMNEdge", NS)}
    process = root.find("bpmn:process", NS)
    participant = collaboration.find("bpmn:participant", NS)
    assert participant.get("processRef") == process.get("id")
    assert participant.get("id") in shapes
    for node in flow_nodes(root):
        assert node.get("id") in shapes, f"no shape for {node.get('id')}"
    lanes = list(root.iter(bpmn("lane")))
    assert lanes, "processes are drawn in lanes"
    for lane in lanes:
        assert lane.get("id") in shapes
        lx, ly, lw, lh = bounds(shapes[lane.get("id")])
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            x, y, w, h = bounds(shapes[ref.text])
            cx, cy = x + w / 2, y + h / 2
            inside = lx <= cx <= lx + lw and ly <= cy <= ly + lh
            assert inside, f"{ref.text} outside {lane.get('name')}"
    in_lanes = {r.text for lane in lanes for r in lane.iterfind("bpmn:flowNodeRef", NS)}
    assert in_lanes == {n.get("id") for n in flow_nodes(root)}
    for flow in root.iter(bpmn("sequenceFlow")):
        edge = edges.get(flow.get("id"))
        assert edge is not None, f"no edge for {flow.get('id')}"
        points = edge.findall("di:waypoint", NS)
        assert len(points) >= 2
        for a, b in pairwise(points):  # orthogonal routing
            assert a.get("x") == b.get("x") or a.get("y") == b.get("y"), flow.get("id")


# --- time: working days only ---------------------------------------------------------

WORKING_DAY_HELPERS = ("add_workdays", "add_days", "add_months", "next_workday", "due_at",
                       "target_at")


def opens_a_task(root: etree._Element, event: etree._Element) -> bool:
    """Whether a token leaving ``event`` reaches a user task (through gateways, scripts…)."""
    flows = {f.get("id"): f.get("targetRef") for f in root.iter(bpmn("sequenceFlow"))}
    nodes = {n.get("id"): n for n in root.iter() if isinstance(n.tag, str) and n.get("id")}
    seen: set[str] = set()
    todo = [f.text for f in event.iter(bpmn("outgoing"))]
    while todo:
        target = nodes.get(flows.get(todo.pop()) or "")
        if target is None or target.get("id") in seen:
            continue
        seen.add(target.get("id", ""))
        if etree.QName(target).localname in ("userTask", "manualTask", "callActivity",
                                             "subProcess"):
            return True
        todo.extend(f.text for f in target.iter(bpmn("outgoing")))
    return False


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_no_calendar_day_timer_opens_a_task(path: Path) -> None:
    """Chasing is the reminder engine's job, in working days; a timer that leads to work
    is a timeDate computed on the working-day calendar (a helper or a deadline's date),
    never a duration or cycle of calendar days (docs/deadlines.md)."""
    root = tree(path).getroot()
    offenders = []
    for definition in root.iter(bpmn("timerEventDefinition")):
        event = definition.getparent()
        if not opens_a_task(root, event):
            continue
        timer = next(iter(definition), None)
        text = (timer.text or "") if timer is not None else ""
        working = (timer is not None and etree.QName(timer).localname == "timeDate"
                   and any(helper in text for helper in WORKING_DAY_HELPERS))
        if not working:
            offenders.append(event.get("id"))
    assert offenders == []


def test_the_timer_rule_catches_a_calendar_day_chase() -> None:
    # The rule above must be able to fail: the chase timer this project used to ship.
    xml = f"""<bpmn:definitions xmlns:bpmn="{NS['bpmn']}"><bpmn:process id="p">
      <bpmn:userTask id="handle"/>
      <bpmn:boundaryEvent id="chase_timer" attachedToRef="handle" cancelActivity="false">
        <bpmn:outgoing>f1</bpmn:outgoing>
        <bpmn:timerEventDefinition><bpmn:timeCycle>R/P1D</bpmn:timeCycle>
        </bpmn:timerEventDefinition></bpmn:boundaryEvent>
      <bpmn:exclusiveGateway id="gw"><bpmn:outgoing>f2</bpmn:outgoing></bpmn:exclusiveGateway>
      <bpmn:userTask id="chase"/>
      <bpmn:sequenceFlow id="f1" sourceRef="chase_timer" targetRef="gw"/>
      <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="chase"/>
    </bpmn:process></bpmn:definitions>"""
    root = etree.fromstring(xml.encode())
    event = next(root.iter(bpmn("boundaryEvent")))
    assert opens_a_task(root, event)
