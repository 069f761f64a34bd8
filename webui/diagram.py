"""A case's diagram for the bpmn-js viewer: the XML (names in the user's language) and
which elements are done, active, and which flows were taken (engine.queries.progress)."""

from __future__ import annotations

import json
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from engine.definitions.bpmn import parse_xml
from engine.queries.progress import case_diagram

from .views import english_labels, is_english

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def translated_xml(xml: str) -> str:
    """The diagram with every element name in English when the UI is English."""
    if not is_english():
        return xml
    labels = english_labels()
    tree = parse_xml(xml.encode(), max_bytes=1 << 30)
    for node in tree.getroot().iter():
        if not isinstance(node.tag, str) or not node.tag.startswith(f"{{{BPMN_NS}}}"):
            continue
        name = node.get("name")
        if name and name in labels:
            node.set("name", labels[name])
    return etree.tostring(tree, encoding="unicode")


def diagram_state(s: Session, instance_id: int) -> str:
    """JSON for ``DocrouteViewer.mount(el, {xml, completed, active, path})``."""
    diagram = case_diagram(s, instance_id)
    progress = diagram.progress
    state: dict[str, Any] = {"xml": translated_xml(diagram.xml),
                             "completed": progress.completed, "active": progress.active,
                             "path": progress.path}
    # Embedded in a <script type="application/json">: keep "</" out of the text.
    return json.dumps(state, ensure_ascii=False).replace("</", "<\\/")
