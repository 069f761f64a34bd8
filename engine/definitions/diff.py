"""What changed between two versions of a process diagram, element by element.

Elements are matched by id (bpmn-js and Camunda Modeler keep ids stable while editing).
Only what a reviewer of a new version cares about is compared: type, name, forms,
assignment, due dates, conditions, default flows, wiring, timers and other event
definitions, scripts, called processes, lanes and multi-instance settings. Layout
(diagram interchange) is ignored, so moving a shape is not a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from .bpmn import BPMN_NS, CAMUNDA_NS, TASK_PROPERTIES, parse_xml

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_SKIP = {"laneSet", "extensionElements", "incoming", "outgoing", "documentation",
         "ioSpecification", "property", "dataInputAssociation", "dataOutputAssociation",
         "multiInstanceLoopCharacteristics", "standardLoopCharacteristics", "text",
         "flowNodeRef", "conditionExpression", "script"}
_CONTAINERS = {"subProcess", "transaction", "lane"}
_EVENT_DEFINITIONS = ("timerEventDefinition", "messageEventDefinition",
                      "signalEventDefinition", "errorEventDefinition",
                      "escalationEventDefinition", "terminateEventDefinition",
                      "conditionalEventDefinition", "linkEventDefinition")


@dataclass(frozen=True)
class Detail:
    """One changed property: ``field`` is a stable key (``name``, ``formKey``, ``timer``…)."""

    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Change:
    id: str
    kind: str  # added | removed | changed
    type: str  # the BPMN element's local name, e.g. "userTask"
    name: str
    details: tuple[Detail, ...] = ()


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _bpmn(node: etree._Element, local: str) -> list[etree._Element]:
    return list(node.findall(f"{{{BPMN_NS}}}{local}"))


def _text(node: etree._Element | None) -> str | None:
    if node is None:
        return None
    return " ".join((node.text or "").split()) or None


def _elements(root: etree._Element) -> Iterator[etree._Element]:
    """Processes, their flow elements (also inside subprocesses) and lanes."""
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        yield process
        yield from _children(process)


def _children(node: etree._Element) -> Iterator[etree._Element]:
    for child in node:
        local = _local(child)
        if local in ("laneSet", "childLaneSet"):
            yield from _children(child)
        elif local and local not in _SKIP and child.get("id"):
            yield child
            if local in _CONTAINERS:
                yield from _children(child)


def _task_property(node: etree._Element, name: str) -> str | None:
    value = node.get(f"{{{CAMUNDA_NS}}}{name}")
    if value is not None:
        return str(value)
    for prop in node.iterfind(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}properties/"
                              f"{{{SPIFF_NS}}}property"):
        if prop.get("name") == name:
            found = prop.get("value")
            return None if found is None else str(found)
    return None


def _event_definitions(node: etree._Element) -> Iterator[tuple[str, str]]:
    for local in _EVENT_DEFINITIONS:
        for definition in _bpmn(node, local):
            kind = local.removesuffix("EventDefinition")
            if kind == "timer":
                for part in ("timeDuration", "timeDate", "timeCycle"):
                    for value in _bpmn(definition, part):
                        yield "timer", f"{part} {_text(value) or ''}".strip()
                continue
            ref = next((definition.get(a) for a in ("messageRef", "signalRef", "errorRef",
                                                    "escalationRef") if definition.get(a)), "")
            yield "event", f"{kind} {ref}".strip()


def _loop(node: etree._Element) -> str | None:
    for loop in _bpmn(node, "multiInstanceLoopCharacteristics"):
        parts = ["sequential" if loop.get("isSequential") == "true" else "parallel"]
        for attr in ("collection", "elementVariable"):
            if loop.get(f"{{{CAMUNDA_NS}}}{attr}"):
                parts.append(f"{attr}={loop.get(f'{{{CAMUNDA_NS}}}{attr}')}")
        for child in ("loopCardinality", "loopDataInputRef", "completionCondition"):
            if (value := _text(next(iter(_bpmn(loop, child)), None))) is not None:
                parts.append(f"{child}={value}")
        return ", ".join(parts)
    for loop in _bpmn(node, "standardLoopCharacteristics"):
        return f"loop while {_text(next(iter(_bpmn(loop, 'loopCondition')), None)) or ''}"
    return None


def properties(node: etree._Element, lanes: dict[str, str]) -> dict[str, str]:
    """The compared properties of one element, as display strings (absent = not set)."""
    props: dict[str, str | None] = {"name": node.get("name")}
    local = _local(node)
    if local in ("userTask", "manualTask", "task", "startEvent"):
        for key in TASK_PROPERTIES:
            props[key] = _task_property(node, key)
    if local == "sequenceFlow":
        props["source"] = node.get("sourceRef")
        props["target"] = node.get("targetRef")
        props["condition"] = _text(next(iter(_bpmn(node, "conditionExpression")), None))
    props["default"] = node.get("default")
    props["attachedTo"] = node.get("attachedToRef")
    if local == "boundaryEvent":
        props["interrupting"] = node.get("cancelActivity", "true")
    props["calledElement"] = node.get("calledElement")
    props["script"] = _text(next(iter(_bpmn(node, "script")), None))
    for kind, value in _event_definitions(node):
        props[kind] = f"{props[kind]}; {value}" if props.get(kind) else value
    props["loop"] = _loop(node)
    props["lane"] = lanes.get(node.get("id", ""))
    return {k: v for k, v in props.items() if v not in (None, "")}


def _index(xml: str) -> dict[str, tuple[str, dict[str, str]]]:
    root = parse_xml(xml.encode("utf-8"), max_bytes=1 << 30).getroot()
    lanes: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        for ref in _bpmn(lane, "flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id", "")
    return {node.get("id", ""): (_local(node), properties(node, lanes))
            for node in _elements(root)}


def diff_xml(old_xml: str, new_xml: str) -> list[Change]:
    """Changes from ``old_xml`` to ``new_xml``: removed, then changed, then added.

    Within each kind the order is that of the element in its diagram.
    """
    old, new = _index(old_xml), _index(new_xml)
    changes: list[Change] = []
    for element_id, (local, props) in old.items():
        if element_id not in new:
            changes.append(Change(element_id, "removed", local, props.get("name", "")))
    for element_id, (local, props) in old.items():
        if element_id not in new:
            continue
        new_local, new_props = new[element_id]
        details = []
        if new_local != local:
            details.append(Detail("type", local, new_local))
        for key in dict.fromkeys([*props, *new_props]):
            if props.get(key) != new_props.get(key):
                details.append(Detail(key, props.get(key), new_props.get(key)))
        if details:
            changes.append(Change(element_id, "changed", new_local,
                                  new_props.get("name") or props.get("name", ""),
                                  tuple(details)))
    for element_id, (local, props) in new.items():
        if element_id not in old:
            changes.append(Change(element_id, "added", local, props.get("name", ""),
                                  tuple(Detail(k, None, v) for k, v in props.items()
                                        if k != "name")))
    return changes


BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"


def _layout(xml: str) -> dict[str, tuple[tuple[int, ...], ...]]:
    """Where each shape and edge is drawn, rounded to whole pixels."""
    root = parse_xml(xml.encode("utf-8"), max_bytes=1 << 30).getroot()
    found: dict[str, tuple[tuple[int, ...], ...]] = {}
    for shape in root.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge"):
        points: list[tuple[str | None, ...]] = [
            (b.get("x"), b.get("y"), b.get("width"), b.get("height"))
            for b in shape.iter(f"{{{DC_NS}}}Bounds")]
        points += [(w.get("x"), w.get("y")) for w in shape.iter(f"{{{DI_NS}}}waypoint")]
        found[shape.get("bpmnElement") or ""] = tuple(
            tuple(round(float(v or 0)) for v in p) for p in points)
    return found


def same_diagram(old_xml: str, new_xml: str) -> bool:
    """Whether two files draw the same process the same way, however they are written.

    A modeler re-serialises what it loaded (namespace prefixes, attribute order, white
    space), so comparing bytes would call an untouched diagram changed.
    """
    return not diff_xml(old_xml, new_xml) and _layout(old_xml) == _layout(new_xml)
