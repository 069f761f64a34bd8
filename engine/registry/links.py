"""Cases that belong together: a meeting's decisions and a leader's 批示, and their 督办 cases.

A link runs from the case that gave rise to another (the source) to the case it opened
(the target); ``relation`` says why:

* ``meeting_decision``: a decision recorded from a meeting's signed minutes (the
  ``open_supervision`` service task of ``workflows/meeting.bpmn``);
* ``instruction``: a leader's 批示 on an incoming document, opened as a follow-up in one
  action (``supervise_instruction``), carrying the instruction's text, deadline and units.

Both cases list each other with their progress (``linked_cases``). The follow-up case
reports back to the instructing leader (``instructing_leader_user`` in its data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, NotAllowed, NotFound, ScriptError
from engine.history import chain as history
from engine.models import CaseLink, Instance, Task, User
from engine.org import access, identity
from engine.org.identity import Actor
from engine.runtime import cases as runtime
from engine.runtime.operators import ServiceCall, operator

RELATIONS = ("meeting_decision", "instruction")
SUPERVISION = "supervision"
# Who may turn a leader's instruction into a follow-up case, besides that leader.
SUPERVISION_GROUPS = frozenset({"supervision_officers", "office_director"})
TITLE_MAX = 200


@dataclass(frozen=True)
class LinkedCase:
    """A case linked to the one being viewed, with what it is waiting for."""

    relation: str
    # "opened": the viewed case opened this one; "opened_by": this one opened the viewed case
    direction: str
    instance_id: int
    process_key: str
    process_name: str
    title: str
    status: str
    open_tasks: tuple[str, ...]
    due_at: datetime | None
    started_at: datetime
    ended_at: datetime | None


def link(session: Session, source_id: int, target_id: int, relation: str, actor: str
         ) -> CaseLink:
    """Record that ``source_id`` opened ``target_id``; the event goes into both histories."""
    if relation not in RELATIONS:
        raise ValueError(f"unknown link relation {relation!r}")
    row = CaseLink(source_id=source_id, target_id=target_id, relation=relation,
                   created_by=actor, created_at=clock.now())
    session.add(row)
    session.flush()
    history.append_case(session, source_id, "linked", actor,
                        {"relation": relation, "opened": target_id})
    history.append_case(session, target_id, "linked", actor,
                        {"relation": relation, "opened_by": source_id})
    return row


def linked_cases(session: Session, actor: Actor, instance_id: int) -> list[LinkedCase]:
    """The cases linked to a case either way, oldest first, as far as the actor is cleared.

    NotFound unless the actor may read the case itself (``runtime.get_instance``).
    """
    runtime.get_instance(session, instance_id, actor)
    rows = list(session.scalars(select(CaseLink).where(
        or_(CaseLink.source_id == instance_id, CaseLink.target_id == instance_id))
        .order_by(CaseLink.id)))
    other = {r.id: (r.target_id if r.source_id == instance_id else r.source_id) for r in rows}
    cases = {i.id: i for i in session.scalars(
        select(Instance).where(Instance.id.in_(set(other.values()))))}
    tasks: dict[int, list[Task]] = {}
    for task in session.scalars(select(Task).where(Task.instance_id.in_(set(cases)))
                                .order_by(Task.created_at)):
        tasks.setdefault(task.instance_id, []).append(task)
    result = []
    for row in rows:
        case = cases[other[row.id]]
        if not access.may_see_case(session, actor, case):  # the one rule, not clearance alone
            continue
        open_tasks = tasks.get(case.id, [])
        dues = [t.due_at for t in open_tasks if t.due_at is not None]
        result.append(LinkedCase(
            relation=row.relation,
            direction="opened" if row.source_id == instance_id else "opened_by",
            instance_id=case.id, process_key=case.definition.key,
            process_name=case.definition.name, title=case.title, status=case.status,
            open_tasks=tuple(t.name for t in open_tasks), due_at=min(dues) if dues else None,
            started_at=case.started_at, ended_at=case.ended_at))
    return result


# --- a meeting's decisions ------------------------------------------------------------------


def _actor_of(session: Session, username: str) -> Actor:
    user = session.scalar(select(User).where(User.username == username))
    return Actor.of(user) if user is not None else identity.SYSTEM


def _text(value: Any) -> str:
    return str(value or "").strip()


@operator("open_supervision")
def open_supervision(call: ServiceCall) -> int:
    """Open a 督办 case for the decision in the task data and link it; returns its id."""
    item = _text(call.data.get("decision_item"))
    if not item:
        raise ScriptError("open_supervision needs the decision's text (decision_item)")
    relation = _text(call.params.get("relation")) or "meeting_decision"
    meeting = _text(call.data.get("minutes_title")) or _text(call.data.get("title"))
    number = _text(call.data.get("minutes_number"))
    data: dict[str, Any] = {
        "source_type": "meeting_decision",
        "title": f"{meeting}：{item}"[:TITLE_MAX] if meeting else item[:TITLE_MAX],
        "instruction_text": f"{item}（{number}）" if number else item,
        "instructed_on": clock.now().astimezone(clock.OFFICE_TZ).date().isoformat(),
        "difficulty": "normal", "urgency": "",
        "co_departments": list(call.data.get("co_departments") or []),
    }
    for source, target in (("lead_department", "lead_department"),
                           ("decision_deadline", "deadline"), ("chair", "instructing_leader_user")):
        if _text(call.data.get(source)):
            data[target] = _text(call.data.get(source))[:10] if target == "deadline" \
                else _text(call.data.get(source))
    case = runtime.start_case(call.session, _actor_of(call.session, call.actor), SUPERVISION,
                              data)
    link(call.session, call.instance_id, case.id, relation, call.actor)
    return case.id


# --- a leader's instruction ----------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """A leader's 批示 as the incoming case's history records it."""

    leader: str
    text: str
    instructed_on: str
    deadline: str
    lead_department: str
    co_departments: tuple[str, ...]


def instruction_of(session: Session, instance_id: int) -> Instruction | None:
    """The latest approved 批示 of an incoming case, from its events; None if none yet.

    The units come from the later 分办 (distribution) when it has happened.
    """
    found: Instruction | None = None
    units: dict[str, Any] = {}
    for event in history.case_events(session, instance_id):
        if event.type != "completed":
            continue
        payload = json.loads(event.payload)
        data = payload.get("data") or {}
        if payload.get("spec") == "instruct" and data.get("decision", "approve") == "approve":
            found = Instruction(
                leader=event.actor, text=_text(data.get("instruction")),
                instructed_on=event.at.astimezone(clock.OFFICE_TZ).date().isoformat(),
                deadline=_text(data.get("deadline"))[:10], lead_department="",
                co_departments=())
            units = {}
        elif found is not None and data.get("lead_department"):
            units = data
    if found is None or not found.text:
        return None
    return Instruction(found.leader, found.text, found.instructed_on, found.deadline,
                       _text(units.get("lead_department")),
                       tuple(units.get("co_departments") or ()))


def may_supervise(actor: Actor, instruction: Instruction) -> bool:
    """The instructing leader, follow-up officers and the office director may open it."""
    if actor.is_auditor and not actor.is_admin:
        return False
    return actor.is_admin or actor.username == instruction.leader \
        or bool(actor.groups & SUPERVISION_GROUPS)


def may_open_supervision(session: Session, actor: Actor, instance_id: int) -> bool:
    """Whether ``supervise_instruction`` would open a follow-up for this actor now."""
    incoming = session.get(Instance, instance_id)
    if incoming is None or incoming.definition.key != "incoming_document":
        return False
    instruction = instruction_of(session, instance_id)
    if instruction is None or not may_supervise(actor, instruction):
        return False
    return session.scalar(select(CaseLink.id).where(
        CaseLink.source_id == instance_id, CaseLink.relation == "instruction")) is None


def supervise_instruction(session: Session, actor: Actor, instance_id: int) -> Instance:
    """Open a 督办 case from an incoming document's 批示, in one action, linked both ways.

    Raises NotFound (no such case, or not the actor's to see), Conflict (no instruction
    yet, or a follow-up case already opened from it) or NotAllowed.
    """
    incoming = session.get(Instance, instance_id)
    if incoming is None or not actor.may_see(incoming.classification) \
            or not (actor.is_admin or runtime.is_participant(session, instance_id, actor)
                    or actor.groups & SUPERVISION_GROUPS):
        raise NotFound(f"no case with id {instance_id}")
    if incoming.definition.key != "incoming_document":
        raise Conflict("only an incoming document's instruction can be opened as a follow-up")
    instruction = instruction_of(session, instance_id)
    if instruction is None:
        raise Conflict("this document has no leader's instruction yet")
    if not may_supervise(actor, instruction):
        raise NotAllowed("only the instructing leader, follow-up officers or the office "
                         "director may open a follow-up case")
    already = session.scalar(select(CaseLink).where(CaseLink.source_id == instance_id,
                                                    CaseLink.relation == "instruction"))
    if already is not None:
        raise Conflict(f"a follow-up case (#{already.target_id}) was already opened from "
                       "this instruction")
    leader = session.scalar(select(User).where(User.username == instruction.leader))
    data: dict[str, Any] = {
        "source_type": "leader_instruction", "title": (incoming.title or "")[:TITLE_MAX]
        or instruction.text[:TITLE_MAX],
        "instruction_text": instruction.text[:4000],
        "instructing_leader": (leader.name if leader else instruction.leader)[:30],
        "instructing_leader_user": instruction.leader if leader else "",
        "instructed_on": instruction.instructed_on, "difficulty": "normal",
        "urgency": incoming.document.urgency if incoming.document else "",
        "co_departments": list(instruction.co_departments),
    }
    today = clock.now().astimezone(clock.OFFICE_TZ).date().isoformat()
    # A time limit already past is not carried (forms refuse past limits): the follow-up
    # gets its default one, which 交办 may change; the instruction's text keeps the date.
    if instruction.deadline and instruction.deadline >= today:
        data["deadline"] = instruction.deadline
    if instruction.lead_department:
        data["lead_department"] = instruction.lead_department
    if not data["instructing_leader_user"]:
        del data["instructing_leader_user"]
    # The follow-up is a case of its own: routing the incoming document too would copy its
    # data into the document's fields.
    case = runtime.start_case(session, actor, SUPERVISION, data)
    link(session, instance_id, case.id, "instruction", actor.username)
    return case
