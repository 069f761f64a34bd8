"""Reading BPMN and DMN safely, in either modeller's dialect.

Uploaded XML is parsed here with a hardened lxml parser before SpiffWorkflow sees it
(SpiffWorkflow itself uses lxml's global default parser, which a library elsewhere may
have made unsafe). Then the tree is normalised so one parser reads both dialects:

* Camunda Modeler writes ``camunda:formKey``/``assignee``/``candidateGroups``/``dueDate``
  attributes and literal timers (``PT1H``); SpiffArena writes ``spiffworkflow:properties``
  and timer *expressions* (``"PT1H"``). Literal ISO 8601 timers are quoted, and
  ``${expr}`` (Camunda's expression syntax) is unwrapped to ``expr``.
* Camunda's user-task attributes are copied into the task's ``properties`` extension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import UserTaskParser
from SpiffWorkflow.spiff.specs.defaults import UserTask

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
DMN_NAMESPACES = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
)
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}

# Attributes docroute reads from a user task, in either dialect.
TASK_PROPERTIES = ("formKey", "assignee", "candidateGroups", "candidateUsers", "dueDate")

_ISO_DURATION = r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
_ISO_DATETIME = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
ISO_TIMER_LITERAL = re.compile(
    rf"^(R\d*/({_ISO_DATETIME}/)?{_ISO_DURATION}|{_ISO_DURATION}|{_ISO_DATETIME})$"
)
CAMUNDA_EXPRESSION = re.compile(r"^\s*[$#]\{(.*)\}\s*$", re.DOTALL)

SAFE_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
)


class XmlRefused(Exception):
    """The bytes are not XML we accept; carries a line number when one is known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def parse_xml(data: bytes, max_bytes: int) -> etree._ElementTree:
    """Parse untrusted XML: size limit, no DOCTYPE, no entities, no network."""
    if len(data) > max_bytes:
        raise XmlRefused(
            f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes"
        )
    if not data.strip():
        raise XmlRefused("the file is empty")
    try:
        root = etree.fromstring(data, SAFE_PARSER)
    except etree.XMLSyntaxError as error:
        raise XmlRefused(f"not well-formed XML: {error.msg}", error.lineno) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRefused("a DOCTYPE is not allowed in a diagram (it can hide entity attacks)", 1)
    for node in root.iter(etree.Entity):
        raise XmlRefused("entity references are not allowed", node.sourceline)
    return tree


def is_dmn(tree: etree._ElementTree) -> bool:
    return etree.QName(tree.getroot()).namespace in DMN_NAMESPACES


def unwrap_expression(text: str) -> str:
    """``${a == 1}`` (Camunda) -> ``a == 1``; anything else unchanged."""
    match = CAMUNDA_EXPRESSION.match(text or "")
    return match.group(1).strip() if match else (text or "")


def timer_expression(text: str) -> str:
    """A timer as SpiffWorkflow wants it: a Python expression yielding an ISO string."""
    stripped = unwrap_expression((text or "").strip())
    if ISO_TIMER_LITERAL.match(stripped):
        return repr(stripped)
    return stripped


def normalise(tree: etree._ElementTree) -> etree._ElementTree:
    """Return a copy of a BPMN tree rewritten into the one dialect the parser reads."""
    tree = etree.ElementTree(_copy_with_lines(tree.getroot()))
    root = tree.getroot()
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            node.text = timer_expression(node.text or "")
    for tag in ("conditionExpression", "completionCondition", "loopCardinality"):
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            node.text = unwrap_expression(node.text or "")
    for node in root.iter(f"{{{BPMN_NS}}}userTask"):
        _copy_camunda_properties(node)
    return tree


def _copy_with_lines(root: etree._Element) -> etree._Element:
    # deepcopy keeps sourceline, which located error messages rely on.
    import copy

    return copy.deepcopy(root)


def _copy_camunda_properties(node: etree._Element) -> None:
    found = {
        name: node.get(f"{{{CAMUNDA_NS}}}{name}")
        for name in TASK_PROPERTIES
        if node.get(f"{{{CAMUNDA_NS}}}{name}") is not None
    }
    # <camunda:properties> (the modeller's "Extension properties"): the per-task office
    # rules of engine.org.authority (separateFrom, checks).
    for prop in node.iterfind(f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}properties/"
                              f"{{{CAMUNDA_NS}}}property"):
        if prop.get("name") and prop.get("value") is not None:
            found.setdefault(prop.get("name", ""), prop.get("value", ""))
    if not found:
        return
    spiff = "http://spiffworkflow.org/bpmn/schema/1.0/core"
    extensions = node.find(f"{{{BPMN_NS}}}extensionElements")
    if extensions is None:
        extensions = etree.Element(f"{{{BPMN_NS}}}extensionElements")
        # The schema wants <documentation> first, then <extensionElements>.
        docs = node.findall(f"{{{BPMN_NS}}}documentation")
        node.insert(node.index(docs[-1]) + 1 if docs else 0, extensions)
    properties = extensions.find(f"{{{spiff}}}properties")
    if properties is None:
        properties = etree.SubElement(extensions, f"{{{spiff}}}properties")
    present = {p.get("name") for p in properties}
    for name, value in found.items():
        if name not in present:
            etree.SubElement(properties, f"{{{spiff}}}property", name=name, value=value)


class DocrouteUserTaskParser(UserTaskParser):
    """Spiff's user-task parser, plus the source line for located messages."""

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        extensions.setdefault("properties", {})
        extensions["sourceline"] = self.node.sourceline
        return extensions


class DocrouteParser(SpiffBpmnParser):
    """SpiffArena's parser, reading Camunda's user-task attributes too (via ``normalise``)."""

    OVERRIDE_PARSER_CLASSES: ClassVar[dict[str, Any]] = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (DocrouteUserTaskParser, UserTask),
    }


@dataclass(frozen=True)
class ElementIndex:
    """Where each element id stands in a file, for messages SpiffWorkflow leaves unlocated."""

    lines: dict[str, int]

    @classmethod
    def of(cls, tree: etree._ElementTree) -> ElementIndex:
        return cls({n.get("id"): n.sourceline for n in tree.iter() if isinstance(n.tag, str)
                    and n.get("id")})

    def line(self, element_id: str | None) -> int | None:
        return self.lines.get(element_id or "")
