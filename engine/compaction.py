"""Keeping a long-running case's live task tree small: finished rounds leave the tree.

SpiffWorkflow keeps every finished task in the tree, so a case that is sent back many
times carries all its rounds: the stored state grows by ~1.2 KB a round and every step
walks all of it (SPIFFWORKFLOW_NOTES §4, §7.9). The finished tasks of earlier rounds are
not needed to run the case (their data flows forward), and the history already records
every step, so ``compact`` re-roots the tree a few levels above the lowest task that is
an ancestor of every unfinished task, and forgets what lies above.

The result depends only on the tree, never on when it ran: the kept part is the
subtree of the ancestor ``MARGIN`` levels above that common ancestor, and the common
ancestor only ever moves down (new tasks are children of existing ones). So compacting
after every step (the runtime and replay both do) or once at the end gives the same
tree, and replay still rebuilds exactly the stored state (engine/replay.py verifies
it). What the diagram highlights from the forgotten part (elements completed, flows
taken) is kept in the new root's ``internal_data`` under ``SUMMARY``.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.task import TaskState

# Levels kept above the common ancestor of the unfinished tasks: the step that just ran
# and the gateway before it stay (about two rounds of a draft → review loop).
MARGIN = 6
SUMMARY = "docroute_compacted"
# ERROR counts as open: ``retry`` resets the failed task and runs on from there.
OPEN = TaskState.NOT_FINISHED_MASK | TaskState.ERROR


def compact(workflow: BpmnWorkflow, margin: int = MARGIN) -> int:
    """Drop the finished tasks above the kept subtree; returns how many were dropped."""
    if not compactable(workflow.spec):
        return 0
    tasks = workflow.tasks
    open_tasks = [t for t in tasks.values() if t.state & OPEN]
    if not open_tasks:
        return 0  # a finished case does not step again; keep its whole tree
    path = _path_from_root(open_tasks[0])
    position = {task.id: i for i, task in enumerate(path)}
    common = len(path) - 1
    for task in open_tasks[1:]:
        node = task
        while node.id not in position:
            node = node.parent
        common = min(common, position[node.id])
    if common - margin <= 0:
        return 0
    root = path[common - margin]
    keep = _subtree(root)
    dropped = [task for task_id, task in tasks.items() if task_id not in keep]
    if any(task.state & OPEN for task in dropped):
        return 0  # cannot happen (every open task is below ``root``); never lose one
    _summarize(root, path[0], dropped)
    for task in dropped:
        del tasks[task.id]
    root._parent = None
    workflow.task_tree = root
    if workflow.last_task is not None and workflow.last_task.id not in keep:
        workflow.last_task = None
    _drop_subprocesses(workflow, {task.id for task in dropped})
    return len(dropped)


def compactable(spec: Any) -> bool:
    """Whether a process may be compacted: it has no parallel or inclusive gateway that
    merges flows.

    SpiffWorkflow decides whether such a join may fire by climbing from predicted tasks
    through every ancestor, up to the root if need be (a gateway that both enters and
    closes a loop finds its entering flow only at the top of the tree), so dropping
    ancestors could leave it waiting for ever. The end join only looks at open tasks.
    """
    cached = _COMPACTABLE.get(id(spec))
    if cached is None or cached[0] is not spec:
        merges = any(isinstance(task_spec, UnstructuredJoin)
                     and not isinstance(task_spec, _EndJoin) and len(task_spec.inputs) > 1
                     for task_spec in spec.task_specs.values())
        cached = _COMPACTABLE[id(spec)] = (spec, not merges)
    return cached[1]


_COMPACTABLE: dict[int, tuple[Any, bool]] = {}


def _path_from_root(task: Any) -> list[Any]:
    path = []
    node = task
    while node is not None:
        path.append(node)
        node = node.parent
    path.reverse()
    return path


def _subtree(root: Any) -> set[Any]:
    keep = set()
    stack = [root]
    while stack:
        node = stack.pop()
        keep.add(node.id)
        stack.extend(node.children)
    return keep


def _drop_subprocesses(workflow: BpmnWorkflow, dropped: set[Any]) -> None:
    # A finished call activity's subprocess goes with its task, and so do its own.
    while True:
        gone = [key for key, sub in workflow.subprocesses.items()
                if key in dropped or sub.parent_task_id in dropped]
        if not gone:
            return
        for key in gone:
            dropped.update(workflow.subprocesses.pop(key).tasks)


def _summarize(root: Any, old_root: Any, dropped: list[Any]) -> None:
    """Carry what the diagram shows of the dropped tasks over to the new root.

    ``above`` is the element just above the root (the source of the flows into the
    root's unnamed descendants); pairs are found the same way whether the dropped
    tasks go at once or over several compactions.
    """
    previous = old_root.internal_data.get(SUMMARY) or {}
    above = previous.get("above")
    completed = set(previous.get("completed") or [])
    pairs = {tuple(p) for p in previous.get("pairs") or []}
    for task in dropped:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id is None or task.state != TaskState.COMPLETED:
            continue
        completed.add(bpmn_id)
        source = named_parent(task, above)
        if source is not None:
            pairs.add((source, bpmn_id))
    new_above = named_parent(root, above)
    bpmn_id = getattr(root.task_spec, "bpmn_id", None)
    if bpmn_id is not None and new_above is not None:
        pairs.add((new_above, bpmn_id))  # the flow into the root: its parent goes now
    root.internal_data[SUMMARY] = {
        "completed": sorted(completed), "pairs": sorted(list(p) for p in pairs),
        "above": new_above, "dropped": int(previous.get("dropped") or 0) + len(dropped)}


def named_parent(task: Any, above: str | None) -> str | None:
    """The nearest ancestor element's id; past the root, the element that was above it."""
    parent = task.parent
    while parent is not None:
        bpmn_id = getattr(parent.task_spec, "bpmn_id", None)
        if bpmn_id is not None:
            return bpmn_id
        parent = parent.parent
    return above


def summary(workflow: BpmnWorkflow) -> tuple[set[str], set[tuple[str, str]], str | None]:
    """What compaction forgot: elements completed and (source, target) element pairs
    taken in dropped rounds, and the element above the root."""
    found = workflow.task_tree.internal_data.get(SUMMARY) or {}
    return (set(found.get("completed") or []),
            {(a, b) for a, b in found.get("pairs") or []}, found.get("above"))


def was_compacted(state: dict[str, Any]) -> bool:
    """Whether a stored state (``spiff.dump_state`` as JSON) was ever compacted."""
    root = (state.get("tasks") or {}).get(state.get("root") or "") or {}
    return SUMMARY in (root.get("internal_data") or {})


def dropped_count(workflow: BpmnWorkflow) -> int:
    """How many finished tasks compaction has dropped from this case's tree so far."""
    return int((workflow.task_tree.internal_data.get(SUMMARY) or {}).get("dropped") or 0)
