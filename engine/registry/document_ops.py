"""Where cases meet documents: service-task operators and the after-step field sync.

Operators (``spiffworkflow:serviceTaskOperator id=...`` in a diagram):

* ``allocate_number(prefix)`` -> ``深鹏办〔2026〕12号``: the next number of that prefix in
  the office year (a classified document's in its level's own series, see ``numbering``),
  logged with the case's document, and set on the document (an incoming document's
  receipt number, a disclosure request's answer number, otherwise the 发文字号; the
  optional ``field`` parameter names the field explicitly).
* ``register_seal_use(seal, copies)`` -> ``用印〔2026〕5号``: a seal-register entry.
* ``assign_archive_code(retention)`` -> ``DP01-WS·2026-Y-ZHB-0007``: the 档号
  (全宗号-门类·年度-期限-机构-件号, DA/T 22-2015) with a gapless item number per fonds,
  year, retention and unit.

After every step of a case that routes a document, the document's known fields are
copied from the case's latest task data, and its status follows the case.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine import clock
from engine.definitions.forms import FORMAT_CHECKER, json_safe
from engine.errors import ScriptError
from engine.models import Document, Instance, NumberLog
from engine.org import identity
from engine.runtime.operators import ServiceCall, operator

from . import classification, kinds, numbering
from .documents import archive_document
from .documents import department_of as _department

FONDS_CODE = "DP01"  # 全宗号 of the General Office; confirm with the district archive
CATEGORY = "WS"  # 门类: 文书
RETENTION_CODES = {"永久": "Y", "定期30年": "D30", "定期10年": "D10",
                   "Y": "Y", "D30": "D30", "D10": "D10",
                   "permanent": "Y", "30": "D30", "10": "D10"}
RETENTION_NAMES = {"Y": "永久", "D30": "定期30年", "D10": "定期10年"}
# 机构 (unit) codes for the 档号, by department group key.
UNIT_CODES = {
    "general_office": "ZHB", "dev_finance": "FCJ", "economic_services": "JFJ",
    "party_affairs": "DQB", "housing_construction": "ZJJ", "urban_management": "CGJ",
    "social_affairs": "SWJ", "emergency_management": "YJJ", "eco_enforcement": "STJ",
    "kuichong_office": "KCB", "dapeng_office": "DPB", "nanao_office": "NAB",
}
DEFAULT_UNIT = "ZHB"
# Which field an allocated number fills, by document kind.
NUMBER_FIELD = {"incoming": "receipt_number", "disclosure": "answer_number",
                "seal": "seal_register_number", "supervision": "supervision_number"}


def _document(call: ServiceCall) -> Document | None:
    if call.document_id is None:
        return None
    return call.session.get(Document, call.document_id)


def _level(call: ServiceCall, document: Document | None) -> int:
    # The step may have just raised the level (签收 records 机密) before the document
    # follows after the step: number in the higher series straight away.
    known = document.classification if document is not None else 0
    return max(known, classification.level_of(call.data.get(classification.FIELD)) or 0)


def _set_field(document: Document, field: str, value: Any) -> None:
    if field == "doc_number":
        document.doc_number = value
    else:
        document.fields = {**(document.fields or {}), field: value}


@operator("allocate_number")
def allocate_number(call: ServiceCall) -> str:
    prefix = str(call.params.get("prefix") or "")
    document = _document(call)
    allocated = numbering.allocate(call.session, prefix, call.actor,
                                   document_id=call.document_id,
                                   classification=_level(call, document))
    if document is not None:
        field = str(call.params.get("field") or NUMBER_FIELD.get(document.kind, "doc_number"))
        _set_field(document, field, allocated.number)
    return allocated.number


@operator("register_seal_use")
def register_seal_use(call: ServiceCall) -> str:
    seal = str(call.params.get("seal") or call.data.get("seal") or "").strip()
    if not seal:
        raise ScriptError("register_seal_use needs the seal's name")
    try:
        copies = int(call.params.get("copies") or call.data.get("copies") or 0)
    except (TypeError, ValueError):
        raise ScriptError("register_seal_use needs the number of copies as a whole "
                          "number") from None
    document = _document(call)
    allocated = numbering.allocate(call.session, str(call.params.get("prefix") or "用印"),
                                   call.actor, document_id=call.document_id,
                                   classification=_level(call, document))
    if document is not None:
        entry = {"number": allocated.number, "seal": seal, "copies": copies,
                 "actor": call.actor, "case_id": call.instance_id}
        fields = dict(document.fields or {})
        fields["seal_register"] = [*fields.get("seal_register", []), entry]
        fields["seal_register_number"] = allocated.number
        document.fields = fields
    return allocated.number


def retention_code(value: Any) -> str:
    code = RETENTION_CODES.get(str(value or "").strip())
    if code is None:
        raise ScriptError(f"unknown retention period {value!r}; use 永久, 定期30年 or 定期10年")
    return code


def archive_code(fonds: str, year: int, retention: str, unit: str, item: int) -> str:
    """全宗号-门类·年度-期限-机构-件号, e.g. DP01-WS·2026-Y-ZHB-0007."""
    return f"{fonds}-{CATEGORY}·{year}-{retention}-{unit}-{item:04d}"


@operator("assign_archive_code")
def assign_archive_code(call: ServiceCall) -> str:
    code = retention_code(call.params.get("retention") or call.data.get("retention"))
    document = _document(call)
    fonds = str(call.params.get("fonds") or FONDS_CODE)
    unit = UNIT_CODES.get(document.department if document else "", DEFAULT_UNIT)
    try:
        year = int(call.data.get("archive_year") or numbering.office_year())
    except (TypeError, ValueError):
        year = numbering.office_year()
    key = f"{fonds}-{CATEGORY}-{code}-{unit}"
    item = numbering.next_serial(call.session, key, year)
    number = archive_code(fonds, year, code, unit, item)
    call.session.add(NumberLog(prefix=key, year=year, serial=item, number=number,
                               document_id=call.document_id, status="used", reason="",
                               actor=call.actor, at=clock.now()))
    if document is not None:
        document.fields = {**(document.fields or {}), "archive_code": number,
                           "retention": RETENTION_NAMES[code], "archive_year": year}
    call.session.flush()
    return number


# --- after-step sync ----------------------------------------------------------------------

# Case variables that are not document fields although a schema names them alike
# (``department`` is the running co-handler of a multi-instance task, not the owner).
NOT_SYNCED = frozenset({"case_id", "document_id", "started_by", "department"})


def _all_tasks(workflow: BpmnWorkflow) -> list[Any]:
    # get_tasks(state=COMPLETED) skips tasks below unfinished ones; scan the task dicts.
    tasks = list(workflow.tasks.values())
    for sub in workflow.subprocesses.values():
        tasks.extend(sub.tasks.values())
    return tasks


def latest_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The data of the most recently completed task (the case's latest data)."""
    done = [t for t in _all_tasks(workflow) if t.state == TaskState.COMPLETED]
    if not done:
        return {}
    latest = max(done, key=lambda t: t.last_state_change)
    return dict(latest.data)


@lru_cache(maxsize=512)
def _validator(kind: str, name: str) -> Draft202012Validator | None:
    prop = kinds.schema(kind)["properties"].get(name)
    return Draft202012Validator(prop, format_checker=FORMAT_CHECKER) if prop else None


def copy_fields(document: Document, data: dict[str, Any]) -> bool:
    """Copy the document's known fields from case data; returns whether anything changed.

    Values that do not fit the field (a number where a date belongs) are left out, so a
    diagram's data can never make a document invalid; a classification is only raised.
    """
    changed = False
    fields = dict(document.fields or {})
    for name, raw in json_safe(data).items():
        if raw is None or name in NOT_SYNCED:
            continue
        check = _validator(document.kind, name)
        if check is None or not check.is_valid(raw):
            continue
        if name == "classification":
            # Raising follows the case; lowering is the classifying organ's explicit act
            # (update_document), never a side effect of a form default.
            level = max(document.classification, identity.clearance_level(raw))
            changed |= document.classification != level
            document.classification = level
        elif name in ("title", "doc_number", "doc_type", "urgency"):
            if name == "doc_number" and document.kind == "outgoing" \
                    and not numbering.is_doc_number(raw):
                continue
            if name == "title" and not raw.strip():
                continue
            changed |= getattr(document, name) != raw
            setattr(document, name, raw)
        elif fields.get(name) != raw:
            fields[name] = raw
            changed = True
    if fields != (document.fields or {}):
        document.fields = fields
    department = _department(fields) or document.department
    changed |= department != document.department
    document.department = department
    return changed


def _status(instance: Instance, document: Document, data: dict[str, Any]) -> str:
    if document.status == "archived":
        return "archived"
    if instance.status == "completed":
        if (document.fields or {}).get("archive_code"):
            return "archived"
        if data.get("check_result") == "return" or data.get("decision") == "reject":
            return "returned"
        return "closed"
    if instance.status == "terminated":
        return "closed"
    return "in_progress"


def sync_document(session: Session, instance: Instance, workflow: BpmnWorkflow) -> None:
    """After-step hook (``wiring.AFTER_STEP``): case data flows into the case's document,
    and its status follows."""
    if instance.document_id is None:
        return
    document = instance.document or session.get(Document, instance.document_id)
    if document is None:
        return
    data = latest_data(workflow)
    level = document.classification
    copy_fields(document, data)
    if document.classification != level:
        # A raise reaches the document's other cases and their inbox rows at once.
        classification.propagate(session, document)
    status = _status(instance, document, data)
    if status == "archived" and document.status != "archived":
        archive_document(session, document)
    document.status = status
    # The case row and its task projection show the document's current title and level.
    instance.title = document.title or instance.title
    instance.classification = document.classification

