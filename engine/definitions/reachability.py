"""Loops a case could never leave: refused at deploy time.

A cycle without a way out (A -> B -> A with no gateway, or a gateway whose every branch
leads back) keeps a case running forever; with script tasks it never even reaches a wait
state. Each process and subprocess is checked on its own: every step reachable from a
start must be able to reach an end (an end event, or a step with no outgoing flow, which
ends its path).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from lxml import etree

from .bpmn import BPMN_NS

_SCOPES = ("process", "subProcess", "transaction")


def _q(local: str) -> str:
    return f"{{{BPMN_NS}}}{local}"


def _edges(scope: etree._Element) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for flow in scope.iterchildren(_q("sequenceFlow")):
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        if source and target:
            edges[source].add(target)
    for boundary in scope.iterchildren(_q("boundaryEvent")):
        attached, own = boundary.get("attachedToRef"), boundary.get("id")
        if attached and own:
            edges[attached].add(own)  # the boundary event is a way out of its task
    return edges


def _reach(starts: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [s for s in starts]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return seen


def _trapped(scope: etree._Element) -> list[etree._Element]:
    """Steps of loops reachable from a start of ``scope`` from which no path reaches an end."""
    edges = _edges(scope)
    nodes = {n.get("id"): n for n in scope.iterchildren() if n.get("id")}
    targets = {t for ts in edges.values() for t in ts}
    starts = [i for i, n in nodes.items() if n.tag == _q("startEvent")]
    starts = starts or [i for i in nodes if i in edges and i not in targets]
    reverse: dict[str, set[str]] = defaultdict(set)
    for source, ts in edges.items():
        for target in ts:
            reverse[target].add(source)
    sinks = [i for i in nodes if not edges.get(i)]
    trapped = _reach(starts, edges) - _reach(sinks, reverse)
    # Name the loop's own steps, not the steps leading into it.
    looping = [i for i in sorted(trapped) if i in _reach(edges.get(i, ()), edges)]
    return [nodes[i] for i in looping if i in nodes]


def dead_loops(root: etree._Element) -> list[tuple[etree._Element, str]]:
    """(element, message) for every step caught in a loop that can never reach an end."""
    found = []
    for tag in _SCOPES:
        for scope in root.iter(_q(tag)):
            for node in _trapped(scope):
                label = node.get("name") or node.get("id")
                found.append((node, f"{label!r} is in a loop that can never reach an end "
                                    "event: add a gateway with a way out of the loop"))
    return found
