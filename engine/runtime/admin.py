"""Administrators' operations on cases: suspend, resume, terminate, retry, reassign,
migrate to a newer process version, and deactivate a user with task handover.

Every operation takes the acting administrator and a reason (required), runs in the
caller's transaction under the case's row lock, and writes one history event on the
case's chain (or the system chain for actions on no case) with who, when and why.

Migration re-runs the case's recorded history on the new version's diagram (the same
way replay rebuilds a case), so the migrated state is exactly what the new version
would have produced from the same actions, and a later replay on the new version
reproduces it. It is refused, with the reasons, whenever that is not safe.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from engine import clock
from engine.deadlines import workcalendar
from engine.definitions import deployment as definitions
from engine.definitions import forms
from engine.errors import Conflict, DocrouteError, NotFound
from engine.history import chain as history
from engine.models import Definition, Document, Event, Instance, Task, User
from engine.org import authority, identity
from engine.org.access import hold_refusal
from engine.org.identity import Actor
from engine.org.organisation import require_admin, require_reason

from . import cases as runtime
from . import projection, state, step

# --- finding cases -------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    process: str = ""
    status: str = ""
    title: str = ""
    doc_number: str = ""
    version: int | None = None
    limit: int = 200


def find_cases(session: Session, actor: Actor, flt: CaseFilter) -> list[Instance]:
    """Cases matching every given filter, newest first (up to the actor's clearance)."""
    require_admin(actor)
    query: Select[Instance] = (select(Instance).join(Definition)
                               .outerjoin(Document, Instance.document_id == Document.id)
                               .where(Instance.classification <= actor.clearance))
    if flt.process:
        query = query.where(Definition.key == flt.process)
    if flt.version is not None:
        query = query.where(Definition.version == flt.version)
    if flt.status:
        query = query.where(Instance.status == flt.status)
    if flt.title:
        query = query.where(Instance.title.contains(flt.title.strip(), autoescape=True))
    if flt.doc_number:
        query = query.where(Document.doc_number.contains(flt.doc_number.strip(),
                                                         autoescape=True))
    return list(session.scalars(query.order_by(Instance.id.desc()).limit(flt.limit)))


def case(session: Session, actor: Actor, instance_id: int) -> Instance:
    require_admin(actor)
    return runtime.get_instance(session, instance_id, actor)


def open_tasks(session: Session, instance_id: int) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.instance_id == instance_id)
                                .order_by(Task.created_at, Task.id)))


# --- suspend, resume, terminate, retry -------------------------------------------------------


def _locked(session: Session, actor: Actor, instance_id: int) -> Instance:
    require_admin(actor)
    instance = runtime.lock_case(session, instance_id)
    if not actor.may_see(instance.classification):
        raise NotFound(f"no case with id {instance_id}")
    return instance


def _resync(session: Session, instance: Instance) -> None:
    """Rewrite the case's task and timer rows for its (unchanged) state and status."""
    workflow = runtime.load_workflow(session, instance)
    runtime.project(session, instance, workflow)
    instance.version += 1  # cached copies of the workflow are stale now
    instance.updated_at = clock.now()
    session.flush()


def suspend(session: Session, actor: Actor, instance_id: int, reason: str) -> Instance:
    """Stop a case: its tasks leave every inbox and its timers stop until it resumes.

    Claims are remembered in the event and given back on resume.
    """
    reason = require_reason(reason)
    instance = _locked(session, actor, instance_id)
    if instance.status not in ("running", "error"):
        raise Conflict(f"only a running case can be suspended; this one is {instance.status}")
    claims = {t.id: t.assignee for t in open_tasks(session, instance.id) if t.assignee}
    history.append_case(session, instance.id, "suspended", actor.username,
                        {"reason": reason, "previous": instance.status, "claims": claims})
    instance.status = "suspended"
    _resync(session, instance)
    return instance


def resume(session: Session, actor: Actor, instance_id: int, reason: str) -> Instance:
    reason = require_reason(reason)
    instance = _locked(session, actor, instance_id)
    if instance.status != "suspended":
        raise Conflict(f"only a suspended case can be resumed; this one is {instance.status}")
    history.append_case(session, instance.id, "resumed", actor.username, {"reason": reason})
    instance.status = "error" if instance.incident else "running"
    _resync(session, instance)
    for row in open_tasks(session, instance.id):
        previous = _claims_at_suspension(session, instance.id).get(row.id)
        if previous and row.assignee is None:
            row.assignee, row.claimed_at = previous, clock.now()
    session.flush()
    return instance


def _claims_at_suspension(session: Session, instance_id: int) -> dict[str, str]:
    event = session.scalars(select(Event).where(Event.chain == history.case_chain(instance_id),
                                                Event.type == "suspended")
                            .order_by(Event.seq.desc()).limit(1)).first()
    return dict(json.loads(event.payload).get("claims") or {}) if event else {}


def terminate(session: Session, actor: Actor, instance_id: int, reason: str) -> Instance:
    """End a case for good: open tasks are cancelled and it can never continue."""
    reason = require_reason(reason)
    instance = _locked(session, actor, instance_id)
    if instance.status in ("completed", "terminated"):
        raise Conflict(f"this case is already {instance.status}")
    workflow = runtime._workflow(session, instance)
    history.append_case(session, instance.id, "terminated", actor.username,
                        {"reason": reason, "previous": instance.status})
    workflow.cancel()
    instance.ended_at = clock.now()  # so the step below does not record a second end event
    instance.status = "terminated"
    runtime.persist(session, instance, workflow, step.StepOutcome([], None), actor.username)
    return instance


def retry(session: Session, actor: Actor, instance_id: int, reason: str) -> Instance:
    """Run the failed steps of a case in incident again, after the cause was fixed."""
    reason = require_reason(reason)
    _locked(session, actor, instance_id)
    return runtime.retry(session, instance_id, actor, reason)


# --- reassigning tasks ------------------------------------------------------------------------


def reassign(session: Session, actor: Actor, task_id: str, reason: str,
             to_username: str | None) -> Task:
    """Give an open task to another person, or (``None``) back to its candidate groups."""
    reason = require_reason(reason)
    require_admin(actor)
    row = session.get(Task, task_id)
    if row is None or not actor.may_see(row.classification):
        raise NotFound(f"no open task with id {task_id}")
    instance = _locked(session, actor, row.instance_id)
    row = session.get(Task, task_id, populate_existing=True)
    if row is None:
        raise Conflict("this task is no longer open")
    if instance.status == "suspended":
        raise Conflict("this case is suspended; resume it first")
    _hand_over(session, actor, instance, row, to_username, reason)
    return row


def _hand_over(session: Session, actor: Actor, instance: Instance, row: Task,
               to_username: str | None, reason: str, *, succession: bool = False) -> None:
    previous = row.assignee
    if to_username:
        target = identity.find_user(session, to_username)
        if target is None or not target.active:
            raise NotFound(f"no active user named {to_username!r}")
        refusal = hold_refusal(target, row.classification)
        if refusal is not None:
            raise Conflict(f"{refusal}: “{row.name}” ({instance.title}) cannot go to them")
        authority.require_may_hold(session, instance, row, target, succession=succession)
        row.assignee, row.claimed_at = target.username, clock.now()
    else:
        if not row.candidate_groups:
            raise Conflict(f"“{row.name}” ({instance.title}) has no group to return to; "
                           "name a person to take it over")
        row.assignee, row.claimed_at = None, None
    history.append_case(session, instance.id, "reassigned", actor.username,
                        {"from": previous, "to": row.assignee,
                         "groups": list(row.candidate_groups or []), "reason": reason},
                        task_id=row.id, task_name=row.name)
    session.flush()


# --- deactivating a user --------------------------------------------------------------------


@dataclass(frozen=True)
class Handover:
    task_id: str
    task_name: str
    instance_id: int
    to: str | None  # username, or None: back to the task's groups


def deactivate_user(session: Session, actor: Actor, username: str, reason: str,
                    successor: str | None = None) -> list[Handover]:
    """Deactivate a user and hand every open task they hold over.

    Tasks go to ``successor`` if named, else back to their candidate groups. A task with
    no group and no successor refuses the whole action (nothing changes) naming the task.
    """
    reason = require_reason(reason)
    require_admin(actor)
    user = identity.get_user(session, username)
    if not user.active:
        raise Conflict(f"{user.name} is already deactivated")
    if user.username == actor.username:
        raise Conflict("you cannot deactivate yourself")
    if successor == username:
        raise DocrouteError("the successor must be someone else")
    rows = list(session.scalars(select(Task).where(Task.assignee == username)
                                .order_by(Task.instance_id, Task.created_at)))
    orphans = [r for r in rows if not successor and not r.candidate_groups]
    if orphans:
        names = "; ".join(f"“{r.name}” (case {r.instance_id})" for r in orphans[:5])
        raise Conflict(f"{len(orphans)} task(s) were assigned to {user.name} alone and have "
                       f"no group to return to: {names}. Name a successor.")
    handed: list[Handover] = []
    for row in rows:
        instance = runtime.lock_case(session, row.instance_id)
        _hand_over(session, actor, instance, row, successor, reason, succession=True)
        handed.append(Handover(row.id, row.name, row.instance_id, row.assignee))
    user.active = False
    identity.end_access(session, user)  # a copied cookie or a token must not outlive it
    history.append_system(session, "user_deactivated", actor.username, {
        "username": username, "reason": reason, "successor": successor,
        "tasks": [h.task_id for h in handed]})
    session.flush()
    return handed


def active_user(session: Session, username: str) -> User:
    user = identity.get_user(session, username)
    if not user.active:
        raise NotFound(f"no active user named {username!r}")
    return user


# --- migration ---------------------------------------------------------------------------------


# Why a case cannot move: code -> English sentence. The web layer translates by code.
REFUSALS = {
    "status": "only running or suspended cases can move; this one is {status}.",
    "same_version": "the case already runs on version {version}.",
    "task_missing": "the case waits at {task}, which the new version does not have.",
    "task_type": "the case waits at {task}, which is a {new_type} in the new version, "
                 "not a {old_type}.",
    "no_start": "the case's history does not begin with its start.",
    "not_reached": "the completed step {task} is not reached on version {version}, so the "
                   "path the case took would be invalidated.",
    "incident": "the case has had an incident; cases with incidents are not moved "
                "automatically.",
    "unknown_event": "the case's history has a “{event}” event that a migration cannot "
                     "carry over.",
    "step_fails": "replaying the step “{step}” on version {version} fails: {error}",
    "waits_elsewhere": "on version {version} the case would wait at {would} instead of "
                       "{was}.",
    "ends": "on the new version the case would end at once.",
}


@dataclass(frozen=True)
class Refusal:
    """One reason a case cannot move: a stable ``code`` and the values its sentence needs."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return REFUSALS[self.code].format(**self.params)


class MigrationRefused(Conflict):
    """The case cannot move to that version; ``reasons`` says why, one sentence each."""

    def __init__(self, reasons: list[Refusal]):
        self.reasons = reasons
        super().__init__("this case cannot be moved: " + " ".join(map(str, reasons)))


@dataclass
class MigrationPlan:
    """What moving one case would do: possible or not, and why."""

    instance_id: int
    source: Definition
    target: Definition
    reasons: list[Refusal] = field(default_factory=list)
    waiting_at: list[str] = field(default_factory=list)

    @property
    def possible(self) -> bool:
        return not self.reasons


def _target(session: Session, instance: Instance, target_id: int | None) -> Definition:
    target = (definitions.get(session, target_id) if target_id is not None
              else definitions.latest(session, instance.definition.key))
    if target is None or target.key != instance.definition.key:
        raise NotFound("the target version is not a version of this case's process")
    return target


def _active(workflow: BpmnWorkflow) -> list[Any]:
    """Tasks the case waits at: ready user tasks and waiting events (not gateways)."""
    found = []
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
        spec = task.task_spec
        if getattr(spec, "bpmn_id", None) is None or "Gateway" in type(spec).__name__:
            continue
        if task.state == TaskState.WAITING and not hasattr(spec, "event_definition"):
            continue  # a subprocess or call activity waiting for its children
        found.append(task)
    return found


def _describe(task: Any) -> str:
    return f"“{projection.task_name(task)}” ({task.task_spec.bpmn_id})"


def _precheck(old: BpmnWorkflow, new_specs: dict[str, Any]) -> list[Refusal]:
    reasons = []
    for task in _active(old):
        spec = task.task_spec
        candidate = new_specs.get(spec.name)
        if candidate is None:
            reasons.append(Refusal("task_missing", {"task": _describe(task)}))
        elif type(candidate).__name__ != type(spec).__name__:
            reasons.append(Refusal("task_type", {"task": _describe(task),
                                                 "new_type": type(candidate).__name__,
                                                 "old_type": type(spec).__name__}))
    return reasons


def _all_specs(spec: Any, subprocesses: dict[str, Any]) -> dict[str, Any]:
    specs = dict(spec.task_specs)
    for sub in subprocesses.values():
        specs.update(sub.task_specs)
    return specs


def _rerun(session: Session, instance: Instance, target: Definition) -> tuple[
        BpmnWorkflow | None, list[Refusal]]:
    """Rebuild the case on ``target`` from its history with the live step's code
    (``engine.runtime.step``); (workflow, reasons it failed)."""
    workflow: BpmnWorkflow | None = None
    for event in history.case_events(session, instance.id):
        payload = json.loads(event.payload)
        kind = step.classify(event.type, payload, event.task_id)
        if kind == step.UNKNOWN:
            return None, [Refusal("unknown_event", {"event": event.type})]
        if event.type in ("incident", "retried"):
            return None, [Refusal("incident")]
        if kind == step.PASSIVE or event.type in ("terminated", "migrated"):
            continue
        if event.type == "started":
            workflow = state.new_workflow(session, target)
        elif workflow is None:
            return None, [Refusal("no_start")]
        recorded = step.Recorded(event.type, payload, event.at, "migration", event.task_name)
        try:
            outcome = step.rerun(workflow, recorded, instance.id, instance.document_id,
                                 workcalendar.of(session))
        except step.NotOpen:
            task_label = f"“{event.task_name}” ({payload.get('spec')})"
            return None, [Refusal("not_reached", {"task": task_label,
                                                  "version": target.version})]
        error = outcome.incident or (
            "the new version calls fewer services at this step than the case did"
            if outcome.unused_answers else None)
        if error:
            return None, [Refusal("step_fails", {"step": event.task_name or event.type,
                                                 "version": target.version, "error": error})]
    if workflow is None:
        return None, [Refusal("no_start")]
    return workflow, []


def plan_migration(session: Session, actor: Actor, instance_id: int,
                   target_id: int | None = None) -> tuple[MigrationPlan, BpmnWorkflow | None]:
    """Check whether a case can move to ``target_id`` (default: the newest version)."""
    require_admin(actor)
    instance = runtime.get_instance(session, instance_id, actor)
    target = _target(session, instance, target_id)
    plan = MigrationPlan(instance.id, instance.definition, target)
    if instance.status not in ("running", "suspended"):
        plan.reasons.append(Refusal("status", {"status": instance.status}))
        return plan, None
    if target.id == instance.definition_id:
        plan.reasons.append(Refusal("same_version", {"version": target.version}))
        return plan, None
    old = runtime.load_workflow(session, instance)
    new_spec, new_subprocesses = definitions.load_spec(session, target)
    plan.reasons.extend(_precheck(old, _all_specs(new_spec, new_subprocesses)))
    if plan.reasons:
        return plan, None
    new, reasons = _rerun(session, instance, target)
    plan.reasons.extend(reasons)
    if new is None:
        return plan, None
    before = Counter(t.task_spec.name for t in _active(old))
    after = Counter(t.task_spec.name for t in _active(new))
    if before != after:
        was = ", ".join(sorted(_describe(t) for t in _active(old))) or "nothing"
        would = ", ".join(sorted(_describe(t) for t in _active(new))) or "nothing"
        plan.reasons.append(Refusal("waits_elsewhere", {"version": target.version,
                                                        "would": would, "was": was}))
    if old.completed != new.completed:
        plan.reasons.append(Refusal("ends"))
    plan.waiting_at = sorted(_describe(t) for t in _active(new))
    return plan, (None if plan.reasons else new)


def migrate(session: Session, actor: Actor, instance_id: int, reason: str,
            target_id: int | None = None) -> Instance:
    """Move a running case to a newer version of its process, or raise MigrationRefused.

    Open tasks keep their claims; form versions the case started with stay pinned (forms
    new in the target version are pinned at their newest version).
    """
    reason = require_reason(reason)
    instance = _locked(session, actor, instance_id)
    plan, workflow = plan_migration(session, actor, instance_id, target_id)
    if workflow is None:
        raise MigrationRefused(plan.reasons)
    old = runtime.load_workflow(session, instance)
    claims = _claims_by_position(session, instance, old)
    source = instance.definition
    history.append_case(session, instance.id, "migrated", actor.username, {
        "reason": reason, "from": {"key": source.key, "version": source.version,
                                   "definition_id": source.id},
        "to": {"key": plan.target.key, "version": plan.target.version,
               "definition_id": plan.target.id}})
    # Never reuse the workflow built on the old spec.
    state.of(session).cache.take(instance.id, instance.version)
    instance.definition_id, instance.definition = plan.target.id, plan.target
    pinned = dict(instance.form_versions or {})
    newest = forms.latest_versions(session, definitions.form_keys(session, plan.target))
    instance.form_versions = {**newest, **{k: v for k, v in pinned.items() if k in newest}}
    runtime.persist(session, instance, workflow, step.StepOutcome([], None),
                     actor.username)
    _restore_claims(session, instance, workflow, claims)
    return instance


def _positions(workflow: BpmnWorkflow) -> dict[str, tuple[str, int]]:
    seen: Counter[str] = Counter()
    positions = {}
    for task in projection.ready_user_tasks(workflow):
        positions[str(task.id)] = (task.task_spec.name, seen[task.task_spec.name])
        seen[task.task_spec.name] += 1
    return positions


def _claims_by_position(session: Session, instance: Instance,
                        workflow: BpmnWorkflow) -> dict[tuple[str, int], str]:
    positions = _positions(workflow)
    return {positions[row.id]: row.assignee for row in open_tasks(session, instance.id)
            if row.assignee and row.id in positions}


def _restore_claims(session: Session, instance: Instance, workflow: BpmnWorkflow,
                    claims: dict[tuple[str, int], str]) -> None:
    positions = _positions(workflow)
    for row in open_tasks(session, instance.id):
        previous = claims.get(positions.get(row.id, ("", -1)))
        if previous and row.assignee != previous:
            row.assignee, row.claimed_at = previous, clock.now()
    session.flush()


@dataclass(frozen=True)
class BulkResult:
    instance_id: int
    title: str
    moved: bool
    reasons: tuple[Refusal, ...]


def migratable_cases(session: Session, actor: Actor, definition_id: int) -> list[Instance]:
    require_admin(actor)
    return list(session.scalars(
        select(Instance).where(Instance.definition_id == definition_id,
                               Instance.status.in_(("running", "suspended")),
                               Instance.classification <= actor.clearance)
        .order_by(Instance.id)))
