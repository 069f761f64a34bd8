"""Validating, deploying and loading process definitions.

A deployment is immutable: (key, version, sha256, xml, deployed_by, deployed_at).
Validation happens once, here, at the edge: every problem is reported with its file,
line and element, and nothing is stored while any problem remains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import NotFound, Problem, WorkflowInvalid
from engine.history import chain as history
from engine.models import Definition, Instance

from . import reachability
from .bpmn import (
    BPMN_NS,
    CAMUNDA_NS,
    NS,
    DocrouteParser,
    ElementIndex,
    XmlRefused,
    is_dmn,
    normalise,
    parse_xml,
    unwrap_expression,
)
from .diff import same_diagram
from .scripting import check_expression, check_script

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_ALL_NS = {**NS, "spiffworkflow": SPIFF_NS}

UNSUPPORTED = {
    "complexGateway": "complex gateways are not supported; use exclusive or inclusive gateways",
    "adHocSubProcess": "ad-hoc subprocesses are not supported",
    "compensateEventDefinition": "compensation is not supported",
    "linkEventDefinition": "link events are not supported; draw the sequence flow instead",
    "conditionalEventDefinition": (
        "conditional events are not supported; use a gateway or a timer instead"
    ),
}


@dataclass(frozen=True)
class SourceFile:
    name: str
    data: bytes


@dataclass(frozen=True)
class ProcessInfo:
    key: str
    name: str
    file: str
    form_keys: frozenset[str]
    calls: frozenset[str]


@dataclass(frozen=True)
class CheckedFile:
    source: SourceFile
    tree: etree._ElementTree
    sha256: str
    processes: tuple[ProcessInfo, ...]
    dmn: bool


@dataclass(frozen=True)
class DeployResult:
    key: str
    version: int
    status: str  # deployed | unchanged | ok (check only)

    def __str__(self) -> str:
        return f"{self.status} {self.key}" + ("" if self.status == "ok" else f" v{self.version}")


FormExists = Callable[[str], bool]


# --- validation ------------------------------------------------------------------------


def check_files(
    session: Session,
    files: Iterable[SourceFile],
    form_exists: FormExists,
    *,
    max_bytes: int,
    installed: Mapping[str, SourceFile] | None = None,
) -> list[CheckedFile]:
    """Validate BPMN/DMN files together; raise WorkflowInvalid listing every problem.

    ``installed``: files (by the process or decision id they provide) that calls may
    name as if deployed: the shipped workflows, when checking before ``docroute init``.
    """
    files = list(files)
    problems: list[Problem] = []
    checked: list[CheckedFile] = []
    for source in files:
        try:
            checked.append(_check_one(source, form_exists, max_bytes))
        except WorkflowInvalid as error:
            problems.extend(error.problems)
    if not problems:
        problems.extend(_check_together(session, checked, installed or {}))
    if problems:
        raise WorkflowInvalid(problems)
    if not any(c.processes for c in checked) and not any(c.dmn for c in checked):
        raise WorkflowInvalid([Problem(files[0].name if files else "-", None, "",
                                       "no executable process in the upload")])
    return checked


def _check_one(source: SourceFile, form_exists: FormExists, max_bytes: int) -> CheckedFile:
    name = source.name
    try:
        tree = parse_xml(source.data, max_bytes)
    except XmlRefused as error:
        raise WorkflowInvalid([Problem(name, error.line, "", str(error))]) from None
    sha = hashlib.sha256(source.data).hexdigest()
    if is_dmn(tree):
        problems = _dmn_problems(tree, name)
        if problems:
            raise WorkflowInvalid(problems)
        return CheckedFile(source, tree, sha, tuple(_decision_info(tree, name)), True)
    root = tree.getroot()
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise WorkflowInvalid([Problem(name, root.sourceline, "",
                                       "not a BPMN 2.0 file: the root must be bpmn:definitions")])
    problems = list(_schema_problems(tree, name))
    if problems:
        raise WorkflowInvalid(problems)
    problems = _static_problems(tree, name, form_exists)
    if problems:
        raise WorkflowInvalid(problems)
    processes = tuple(_process_info(tree, name))
    return CheckedFile(source, tree, sha, processes, False)


def _schema_problems(tree: etree._ElementTree, name: str) -> list[Problem]:
    try:
        VALIDATOR.validate(tree.getroot(), name)
    except ValidationException as error:
        line = error.line_number if isinstance(error.line_number, int) else None
        return [Problem(name, line, error.id or "", f"BPMN 2.0 schema: {error}")]
    return []


def _located(node: etree._Element) -> tuple[int, str]:
    element = node
    while element is not None and not element.get("id"):
        element = element.getparent()
    return node.sourceline or 0, (element.get("id") if element is not None else "")


def _static_problems(tree: etree._ElementTree, name: str, form_exists: FormExists) -> list[Problem]:
    """Unsupported elements, form keys, and every expression compiled in the sandbox."""
    problems: list[Problem] = []
    root = tree.getroot()

    def add(node: etree._Element, message: str) -> None:
        line, element = _located(node)
        problems.append(Problem(name, line, element, message))

    for local, message in UNSUPPORTED.items():
        for node in root.iter(f"{{{BPMN_NS}}}{local}"):
            add(node, message)
    for node in root.iter(f"{{{BPMN_NS}}}subProcess"):
        if node.get("triggeredByEvent") == "true":
            for start in node.iter(f"{{{BPMN_NS}}}startEvent"):
                if start.get("isInterrupting", "true") != "false":
                    add(start, "interrupting event subprocesses do not interrupt in this "
                               "engine; use a boundary event on a subprocess instead")
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("isExecutable") == "true" and not process.findall(
            f".//{{{BPMN_NS}}}endEvent"
        ):
            add(process, "the process has no end event, so its cases could never finish")
    for node, message in reachability.dead_loops(root):
        add(node, message)
    for node in root.iter(f"{{{BPMN_NS}}}userTask"):
        problems.extend(_user_task_problems(node, name, form_exists))
    for node in root.iter(f"{{{BPMN_NS}}}script"):
        if (reason := check_script(node.text or "")) is not None:
            add(node, f"script refused: {reason}")
    for tag in ("conditionExpression", "completionCondition", "loopCardinality",
                "timeDuration", "timeDate", "timeCycle"):
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            text = (node.text or "").strip()
            if not text:
                add(node, f"{tag} is empty")
                continue
            expression = _expression_for(tag, text)
            if (reason := check_expression(expression)) is not None:
                add(node, f"{tag} refused: {reason}")
    for node in root.iter(f"{{{SPIFF_NS}}}parameter", f"{{{SPIFF_NS}}}messagePayload"):
        text = node.get("value") if node.tag.endswith("parameter") else node.text
        if text and (reason := check_expression(text)) is not None:
            add(node, f"expression refused: {reason}")
    return problems


def _dmn_problems(tree: etree._ElementTree, name: str) -> list[Problem]:
    """Every DMN input expression, input entry and output entry compiled in the sandbox."""
    problems: list[Problem] = []
    namespace = etree.QName(tree.getroot()).namespace
    for tag in ("inputExpression", "inputEntry", "outputEntry"):
        for node in tree.getroot().iter(f"{{{namespace}}}{tag}"):
            text = (node.findtext(f"{{{namespace}}}text") or "").strip()
            if not text or (tag == "inputEntry" and text == "-"):
                continue
            # The DMN engine evaluates an input entry as ``input <entry>`` or
            # ``(input) == (entry)``; either form compiling is enough.
            candidates = ([f"dmninputexpr {text}", f"(dmninputexpr) == ({text})"]
                          if tag == "inputEntry" else [text])
            reasons = [check_expression(c) for c in candidates]
            if all(reasons):
                line, element = _located(node)
                problems.append(Problem(name, line, element, f"{tag} refused: {reasons[-1]}"))
    return problems


def _decision_info(tree: etree._ElementTree, name: str) -> Iterable[ProcessInfo]:
    namespace = etree.QName(tree.getroot()).namespace
    for decision in tree.getroot().iter(f"{{{namespace}}}decision"):
        key = decision.get("id", "")
        yield ProcessInfo(key, decision.get("name") or key, name, frozenset(), frozenset())


def is_decision(definition: Definition) -> bool:
    """Whether a deployed definition is a DMN decision (called by processes, never started)."""
    return _diagram_facts(definition.xml)[0]


def starter_groups(definition: Definition) -> frozenset[str] | None:
    """The groups whose members may start the process (``candidateStarterGroups``);
    None when the diagram names none (anyone may)."""
    return _diagram_facts(definition.xml)[2].get(definition.key)


@lru_cache(maxsize=256)
def _diagram_facts(xml: str) -> tuple[bool, frozenset[str], dict[str, frozenset[str]]]:
    """(is it DMN, its user tasks' form keys, starter groups by process id): read once per
    diagram text, not per case start (a deployed diagram never changes; a shipped one is
    tens of kilobytes)."""
    root = parse_xml(xml.encode("utf-8"), max_bytes=1 << 30).getroot()
    keys = frozenset(key for task in root.iter(f"{{{BPMN_NS}}}userTask")
                     if (key := _task_property(task, "formKey")))
    starters = {str(p.get("id")): frozenset(g.strip() for g in names.split(",") if g.strip())
                for p in root.iter(f"{{{BPMN_NS}}}process")
                if (names := p.get(f"{{{CAMUNDA_NS}}}candidateStarterGroups"))}
    return is_dmn(root.getroottree()), keys, starters


def _expression_for(tag: str, text: str) -> str:
    from .bpmn import timer_expression

    if tag.startswith("time"):
        return timer_expression(text)
    return unwrap_expression(text)


def _task_property(node: etree._Element, name: str) -> str | None:
    value = node.get(f"{{{CAMUNDA_NS}}}{name}")
    if value is not None:
        return value
    for path in ("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property",
                 "bpmn:extensionElements/camunda:properties/camunda:property"):
        for prop in node.iterfind(path, _ALL_NS):
            if prop.get("name") == name:
                return prop.get("value")
    return None


def _rule_problems(node: etree._Element) -> list[str]:
    """Unknown office checks, or separateFrom naming no task of the diagram."""
    from engine.org import task_checks

    problems = []
    for check in (_task_property(node, "checks") or "").split(","):
        if check.strip() and check.strip() not in task_checks.CHECKS:
            problems.append(f"unknown check {check.strip()!r} (known: "
                            f"{', '.join(sorted(task_checks.CHECKS))})")
    ids = {n.get("id") for n in node.getroottree().iter() if n.get("id")} | {"start"}
    for other in (_task_property(node, "separateFrom") or "").split(","):
        if other.strip() and other.strip() not in ids:
            problems.append(f"separateFrom names {other.strip()!r}, which is no task here")
    return problems


def _user_task_problems(node: etree._Element, name: str, form_exists: FormExists) -> list[Problem]:
    problems = []
    line, element = node.sourceline or 0, node.get("id", "")
    form_key = _task_property(node, "formKey")
    if form_key and not form_exists(form_key):
        problems.append(Problem(name, line, element, f"form {form_key!r} does not exist "
                                                     f"(expected forms/{form_key}.json)"))
    for prop in ("assignee", "candidateGroups", "candidateUsers", "dueDate"):
        value = _task_property(node, prop)
        if value and value.strip().startswith(("${", "#{")):
            reason = check_expression(unwrap_expression(value))
            if reason is not None:
                problems.append(Problem(name, line, element, f"{prop} refused: {reason}"))
    problems += [Problem(name, line, element, message) for message in _rule_problems(node)]
    return problems


def _process_info(tree: etree._ElementTree, name: str) -> Iterable[ProcessInfo]:
    for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
        if process.get("isExecutable") != "true":
            continue
        forms = {
            key for task in process.iter(f"{{{BPMN_NS}}}userTask")
            if (key := _task_property(task, "formKey"))
        }
        calls = {c.get("calledElement") for c in process.iter(f"{{{BPMN_NS}}}callActivity")
                 if c.get("calledElement")}
        calls |= {(d.text or "").strip() for d in process.iter(f"{{{SPIFF_NS}}}calledDecisionId")
                  if (d.text or "").strip()}
        yield ProcessInfo(process.get("id", ""), process.get("name") or process.get("id", ""),
                          name, frozenset(forms), frozenset(calls))


def _check_together(session: Session, checked: list[CheckedFile],
                    installed: Mapping[str, SourceFile]) -> list[Problem]:
    """Parse everything with SpiffWorkflow, resolving call activities across files."""
    parser = DocrouteParser()
    index = {c.source.name: ElementIndex.of(c.tree) for c in checked}
    problems: list[Problem] = []
    for item in checked:
        try:
            if item.dmn:
                parser.add_dmn_xml(item.tree.getroot(), filename=item.source.name)
            else:
                parser.add_bpmn_xml(normalise(item.tree).getroot(), filename=item.source.name)
        except ValidationException as error:
            problems.append(_problem_from(error, item.source.name, index))
    if problems:
        return problems
    uploaded = {p.key for c in checked for p in c.processes}
    missing = {k for c in checked for p in c.processes for k in p.calls} - uploaded
    for key in sorted(missing):
        deployed = latest(session, key)
        if deployed is not None:
            _add_definition_xml(parser, session, deployed, set(parser.get_process_ids()))
        elif key in installed:
            _add_definition_xml(parser, session, _unstored(installed[key]),
                                set(parser.get_process_ids()))
        else:
            problems.extend(_unresolved_call(item, key) for item in checked
                            if any(key in p.calls for p in item.processes))
    if problems:
        return problems
    for item in checked:
        for process in () if item.dmn else item.processes:
            try:
                parser.get_spec(process.key)
                parser.get_subprocess_specs(process.key)
            except ValidationException as error:
                problems.append(_problem_from(error, item.source.name, index))
    return problems


def _unresolved_call(item: CheckedFile, key: str) -> Problem:
    """A located problem for the first call activity or business rule task naming ``key``."""
    for node in item.tree.getroot().iter(f"{{{BPMN_NS}}}callActivity",
                                         f"{{{SPIFF_NS}}}calledDecisionId"):
        target = node.get("calledElement") if node.tag.endswith("callActivity") else node.text
        if (target or "").strip() == key:
            line, element = _located(node)
            what = "process" if node.tag.endswith("callActivity") else "decision"
            return Problem(item.source.name, line, element,
                           f"calls the {what} {key!r}, which is neither in this upload nor "
                           f"deployed")
    return Problem(item.source.name, None, "", f"calls {key!r}, which is not deployed")


def _problem_from(error: ValidationException, default_file: str,
                  index: dict[str, ElementIndex]) -> Problem:
    file = error.file_name or default_file
    line = error.line_number if isinstance(error.line_number, int) else None
    if line is None and file in index:
        line = index[file].line(error.id)
    message = str(error).split("\n")[0]
    return Problem(file, line, error.id or "", message)


# --- deployment --------------------------------------------------------------------------


def deploy(
    session: Session,
    files: Iterable[SourceFile],
    form_exists: FormExists,
    *,
    actor: str,
    max_bytes: int,
    check_only: bool = False,
    installed: Mapping[str, SourceFile] | None = None,
) -> list[DeployResult]:
    """Validate, then store each changed executable process as its next version
    (``installed``: see ``check_files``; only with ``check_only``)."""
    if installed and not check_only:
        raise ValueError("only a check may count files that are not deployed")
    checked = check_files(session, files, form_exists, max_bytes=max_bytes,
                          installed=installed)
    results: list[DeployResult] = []
    stored: dict[str, Definition] = {}
    for item in checked:
        for process in item.processes:
            if check_only:
                results.append(DeployResult(process.key, 0, "ok"))
                continue
            current = latest(session, process.key)
            if current is not None and (current.sha256 == item.sha256 or same_diagram(
                    current.xml, item.source.data.decode("utf-8"))):
                results.append(DeployResult(process.key, current.version, "unchanged"))
                stored[process.key] = current
                continue
            definition = Definition(
                key=process.key,
                version=(current.version + 1) if current else 1,
                name=process.name,
                filename=item.source.name,
                sha256=item.sha256,
                xml=item.source.data.decode("utf-8"),
                dependencies={},
                deployed_by=actor,
                deployed_at=clock.now(),
            )
            session.add(definition)
            session.flush()
            stored[process.key] = definition
            results.append(DeployResult(process.key, definition.version, "deployed"))
            history.append_system(session, "deployed", actor, {
                "key": definition.key, "version": definition.version,
                "sha256": definition.sha256, "file": definition.filename,
            })
    for item in checked:
        for process in item.processes:
            found = stored.get(process.key)
            if found is None or found.dependencies:
                continue
            definition = found
            deps = {}
            for called in sorted(process.calls):
                target = stored.get(called) or latest(session, called)
                if target is not None:
                    deps[called] = target.id
            definition.dependencies = deps
    return results


def latest(session: Session, key: str) -> Definition | None:
    return session.scalars(
        select(Definition).where(Definition.key == key).order_by(Definition.version.desc())
    ).first()


def get(session: Session, definition_id: int) -> Definition:
    definition = session.get(Definition, definition_id)
    if definition is None:
        raise NotFound(f"no process definition with id {definition_id}")
    return definition


def list_latest(session: Session) -> list[Definition]:
    """The newest version of every deployed process, by key."""
    newest = (select(Definition.key, func.max(Definition.version).label("v"))
              .group_by(Definition.key).subquery())
    return list(session.scalars(
        select(Definition).join(newest, (Definition.key == newest.c.key)
                                & (Definition.version == newest.c.v))
        .order_by(Definition.key)
    ))


def latest_names(session: Session) -> list[tuple[str, str]]:
    """(key, name) of the newest version of every deployed process, by key: what a filter
    list needs, without loading every diagram's text as ``list_latest`` does."""
    newest = (select(Definition.key, func.max(Definition.version).label("v"))
              .group_by(Definition.key).subquery())
    return [(key, name) for key, name in session.execute(
        select(Definition.key, Definition.name).join(
            newest, (Definition.key == newest.c.key) & (Definition.version == newest.c.v))
        .order_by(Definition.key))]


def list_all(session: Session) -> list[tuple[Definition, int]]:
    """Every version with the number of cases still running on it."""
    running = (select(Instance.definition_id, func.count().label("n"))
               .where(Instance.status.in_(("running", "suspended", "error")))
               .group_by(Instance.definition_id).subquery())
    rows = session.execute(
        select(Definition, func.coalesce(running.c.n, 0))
        .outerjoin(running, running.c.definition_id == Definition.id)
        .order_by(Definition.key, Definition.version.desc())
    )
    return [(d, int(n)) for d, n in rows]


# --- loading specs -------------------------------------------------------------------------

_spec_cache: dict[str, tuple[Any, dict[str, Any]]] = {}
_spec_lock = Lock()


def _content_key(session: Session, definition: Definition) -> str:
    # Content, not row ids: ids repeat across databases (tests, restores), content doesn't.
    # The key too: one file may hold several processes, all with the file's sha256.
    parts = [f"{definition.key}@{definition.sha256}"]
    for key, dependency_id in sorted((definition.dependencies or {}).items()):
        parts.append(f"{key}={_content_key(session, get(session, dependency_id))}")
    return "|".join(parts)


def load_spec(session: Session, definition: Definition) -> tuple[Any, dict[str, Any]]:
    """The parsed spec and subprocess specs of a definition; cached (versions are immutable)."""
    cache_key = _content_key(session, definition)
    with _spec_lock:
        cached = _spec_cache.get(cache_key)
    if cached is not None:
        return cached
    parser = DocrouteParser()
    _add_definition_xml(parser, session, definition, set())
    spec = parser.get_spec(definition.key)
    subprocesses = parser.get_subprocess_specs(definition.key)
    with _spec_lock:
        _spec_cache[cache_key] = (spec, subprocesses)
    return spec, subprocesses


# Key of a ``Docroute``'s sessions' ``info``: its parsed specs by definition id.
SPECS_KEY = "docroute_specs"


def specs_of(session: Session, definition_id: int,
             row: Callable[[], Definition]) -> tuple[Any, dict[str, Any]]:
    """The parsed specs of definition ``definition_id``, remembered by id for the
    ``Docroute`` that made the session (a deployed definition and the versions it calls
    never change, and none is ever deleted), so a step need not load the definition row
    and its diagram; ``row()`` loads it the first time."""
    known: dict[int, tuple[Any, dict[str, Any]]] | None = session.info.get(SPECS_KEY)
    found = known.get(definition_id) if known is not None else None
    if found is None:
        found = load_spec(session, row())
        if known is not None:
            known[definition_id] = found
    return found


def provided_ids(source: SourceFile, max_bytes: int) -> set[str]:
    """The process or decision ids a BPMN or DMN file provides (none if it cannot be read)."""
    try:
        tree = parse_xml(source.data, max_bytes)
    except XmlRefused:
        return set()
    if is_dmn(tree):
        namespace = etree.QName(tree.getroot()).namespace
        return {str(d.get("id")) for d in tree.getroot().iter(f"{{{namespace}}}decision")}
    return {str(p.get("id")) for p in tree.getroot().iter(f"{{{BPMN_NS}}}process")}


def _unstored(source: SourceFile) -> Definition:
    # A shipped file read like a deployed one; never added to a session.
    return Definition(key="", version=0, name="", filename=source.name, sha256="",
                      xml=source.data.decode("utf-8"), dependencies={}, deployed_by="",
                      deployed_at=clock.now())


def _add_definition_xml(parser: DocrouteParser, session: Session, definition: Definition,
                        seen: set[str]) -> None:
    tree = parse_xml(definition.xml.encode("utf-8"), max_bytes=1 << 30)
    if is_dmn(tree):
        namespace = etree.QName(tree.getroot()).namespace
        ids = {d.get("id") for d in tree.getroot().iter(f"{{{namespace}}}decision")}
        if not ids & seen:
            parser.add_dmn_xml(tree.getroot(), filename=definition.filename)
            seen |= ids
        return
    ids = {p.get("id") for p in tree.getroot().iter(f"{{{BPMN_NS}}}process")}
    if ids & seen:
        return
    parser.add_bpmn_xml(normalise(tree).getroot(), filename=definition.filename)
    seen |= ids
    for dependency_id in (definition.dependencies or {}).values():
        _add_definition_xml(parser, session, get(session, dependency_id), seen)


def form_keys(session: Session, definition: Definition) -> set[str]:
    """Every form key used by a definition and the processes it calls."""
    keys = set(_diagram_facts(definition.xml)[1])
    for dependency_id in (definition.dependencies or {}).values():
        keys |= form_keys(session, get(session, dependency_id))
    return keys
