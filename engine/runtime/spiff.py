"""SpiffWorkflow glue: state (de)serialization without the spec, and two library fixes.

Fixes applied once, at import:

* ``max_depth``: the library's task iterator stops at depth 1000, so a case with ~500
  send-back rounds silently stalls. The limit is raised to 10**7.
* ``Task.is_descendant_of``/``find_ancestor`` recurse once per ancestor and overflow
  Python's stack in long-running loops; they are replaced by loops.
* Timers read ``datetime.now(timezone.utc)`` directly; they are pointed at the
  application clock (``engine.clock``) so tests and replay move time instead of sleeping.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module
from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task

from engine import clock

MAX_DEPTH = 10**7


class _ClockDatetime(datetime):
    """``datetime`` whose ``now()`` is the application clock."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.astimezone(UTC)


def _patch() -> None:
    original = BpmnBaseWorkflow.get_tasks_iterator
    if getattr(original, "_docroute", False):
        return

    def get_tasks_iterator(self: Any, first_task: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("max_depth", MAX_DEPTH)
        return original(self, first_task, **kwargs)

    get_tasks_iterator._docroute = True  # type: ignore[attr-defined]
    BpmnBaseWorkflow.get_tasks_iterator = get_tasks_iterator  # type: ignore[method-assign]
    # The library walks ancestors recursively, one frame per task: a case with ~250
    # send-back rounds is deeper than Python's recursion limit. Walk them in a loop.
    Task.is_descendant_of = _is_descendant_of  # type: ignore[method-assign]
    Task.find_ancestor = _find_ancestor  # type: ignore[method-assign]
    _timer_module.datetime = _ClockDatetime  # type: ignore[misc]


def _is_descendant_of(self: Task, task: Task) -> bool:
    ancestor = self.parent
    while ancestor is not None:
        if ancestor == task:
            return True
        ancestor = ancestor.parent
    return False


def _find_ancestor(self: Task, spec_name: str) -> Task | None:
    ancestor = self.parent
    while ancestor is not None:
        if ancestor.task_spec.name == spec_name:
            return ancestor
        ancestor = ancestor.parent
    return None


_patch()


def _make_serializer() -> BpmnWorkflowSerializer:
    registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
    # Form data holds plain dates; the stock registry knows only datetime.
    registry.register(date, lambda v: {"value": v.isoformat()},
                      lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer(registry)


SERIALIZER = _make_serializer()
SERIALIZER_VERSION: str = SERIALIZER.VERSION


def dump_state(workflow: BpmnWorkflow) -> str:
    """The workflow's state as JSON, without its spec (stored once per definition)."""
    SERIALIZER.registry._encoder_mode = True  # as serialize_json does
    try:
        data = SERIALIZER.to_dict(workflow)
        data.pop("spec", None)
        data.pop("subprocess_specs", None)
        data[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
        return json.dumps(data, cls=SERIALIZER._encoder_cls, separators=(",", ":"))
    finally:
        SERIALIZER.registry._encoder_mode = False


def load_state(state: str, spec: Any, subprocess_specs: dict[str, Any],
               script_engine: Any) -> BpmnWorkflow:
    """Rebuild a workflow from stored state and its (cached) parsed spec."""
    data = json.loads(state, cls=SERIALIZER.json_decoder_cls)
    data["spec"] = spec
    data["subprocess_specs"] = subprocess_specs
    SERIALIZER.migrate(data)
    workflow = SERIALIZER.from_dict(data)
    # The script engine is not serialized: without this the unrestricted default runs.
    workflow.script_engine = script_engine
    return workflow


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
