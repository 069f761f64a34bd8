"""How far a case has come, as diagram element ids (for the viewer's highlights).

Read-only: loads a copy of the case's workflow and never writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine.definitions.bpmn import parse_xml
from engine.models import Instance
from engine.runtime import compaction

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DONE = TaskState.COMPLETED
ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
REACHED = DONE | ACTIVE


@dataclass(frozen=True)
class Progress:
    """Element ids of the case's own diagram (not of called processes).

    ``completed``: elements that finished at least once and are not running now;
    ``active``: elements waiting, ready or running (a call activity while its called
    process runs); ``path``: sequence flows the case has taken.
    """

    completed: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)


def case_progress(session: Session, instance: Instance) -> Progress:
    """The case's progress on its pinned definition's diagram."""
    from engine.runtime.cases import load_workflow  # runtime imports much; keep this module light

    workflow = load_workflow(session, instance)
    flows = _flows(instance.definition.xml, instance.definition.key)
    return progress_of(workflow, flows)


@dataclass(frozen=True, slots=True)
class Diagram:
    """A case's own diagram (its pinned definition's XML) and its progress on it."""

    xml: str
    progress: Progress


def case_diagram(session: Session, instance_id: int) -> Diagram:
    """The diagram and progress of a case (the caller has applied the visibility rule)."""
    instance = session.get_one(Instance, instance_id)
    return Diagram(instance.definition.xml, case_progress(session, instance))


def progress_of(workflow: BpmnWorkflow, flows: dict[tuple[str, str], str]) -> Progress:
    """Progress from a live workflow and its ``(source, target) -> flow id`` map."""
    # Rounds compaction dropped from the tree still count as done (engine/runtime/compaction.py).
    completed, pairs, above = compaction.summary(workflow)
    active: set[str] = set()
    path = {flows[pair] for pair in pairs if pair in flows}
    for task in workflow.get_tasks(state=REACHED):
        if task.workflow is not workflow:
            continue  # a called process: its elements are not on this diagram
        bpmn_id = _bpmn_id(task)
        if bpmn_id is None:
            continue
        (active if task.state & ACTIVE else completed).add(bpmn_id)
        source = _nearest_bpmn_ancestor(task, above)
        if source is not None and (source, bpmn_id) in flows:
            path.add(flows[(source, bpmn_id)])
    completed -= active
    return Progress(sorted(completed), sorted(active), sorted(path))


def _bpmn_id(task: Any) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _nearest_bpmn_ancestor(task: Any, above: str | None = None) -> str | None:
    parent = task.parent
    while parent is not None:
        bpmn_id = _bpmn_id(parent)
        if bpmn_id is not None:
            return bpmn_id
        parent = parent.parent
    return above  # past a compacted tree's root: the element above it


def _flows(xml: str, process_key: str) -> dict[tuple[str, str], str]:
    tree = parse_xml(xml.encode(), max_bytes=1 << 30)
    found: dict[tuple[str, str], str] = {}
    for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
        if process.get("id") != process_key:
            continue
        for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
            source, target = flow.get("sourceRef"), flow.get("targetRef")
            if source and target and flow.get("id"):
                found.setdefault((source, target), flow.get("id") or "")
    return found
