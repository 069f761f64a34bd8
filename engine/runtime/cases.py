"""Running cases: start, claim, unclaim, delegate, complete, fire timers, retry.

Every public function is one step of one case and runs inside the caller's
transaction: lock the case row, load its workflow, apply the action, run engine steps
to the next wait state, then write the state, the task projection, the timer rows and
the history events. The caller commits; any exception rolls all of it back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, db
from engine.deadlines import workcalendar
from engine.deadlines.calendar_calls import CallScope
from engine.definitions import deployment as definitions
from engine.definitions import forms
from engine.errors import Conflict, NotAllowed, NotFound, Problem, WorkflowInvalid
from engine.history import chain as history
from engine.models import Definition, Document, Event, Instance, ProvisionalDate, Task
from engine.org import access, authority, identity, task_checks
from engine.org.identity import Actor
from engine.registry import classification, opinions

from . import compaction, drafts, projection, spiff, state, step
from .operators import ServiceScope
from .step import StepOutcome

OPEN_STATUSES = ("running", "error", "suspended")
StepHook = state.StepHook




def _cache_after_commit(session: Session, instance: Instance, workflow: BpmnWorkflow) -> None:
    pending = session.info.setdefault("docroute_cache", {})
    if not pending:
        sa_event.listen(session, "after_commit", _flush_pending, once=True)
        sa_event.listen(session, "after_rollback", _drop_pending, once=True)
    pending[instance.id] = (instance.version, workflow)


def _flush_pending(session: Session) -> None:
    for instance_id, (version, workflow) in session.info.pop("docroute_cache", {}).items():
        state.of(session).cache.put(instance_id, version, workflow)


def _drop_pending(session: Session) -> None:
    session.info.pop("docroute_cache", None)


# --- loading -------------------------------------------------------------------------------


def lock_case(session: Session, instance_id: int) -> Instance:
    """The case row, locked for this transaction and freshly read; NotFound if absent."""
    instance = db.lock_instance(session, instance_id)  # read afresh by the locking SELECT
    if instance is None:
        raise NotFound(f"no case with id {instance_id}")
    return instance


def _workflow(session: Session, instance: Instance) -> BpmnWorkflow:
    cached = state.of(session).cache.take(instance.id, instance.version)
    if cached is not None:
        return cached
    spec, subprocesses = state.spec_of(session, instance)
    return spiff.load_state(instance.state, spec, subprocesses, state.of(session).script_engine)


def load_workflow(session: Session, instance: Instance) -> BpmnWorkflow:
    """A read-only copy of a case's workflow (for display, replay and checks)."""
    spec, subprocesses = state.spec_of(session, instance)
    return spiff.load_state(instance.state, spec, subprocesses, state.of(session).script_engine)


# --- running steps -----------------------------------------------------------------------------


def _run(session: Session, instance: Instance, actor: str, workflow: BpmnWorkflow,
         action: step.Action, *, timer_passes: bool = False) -> StepOutcome:
    """One live step (``engine.runtime.step``): operators run for real, answers recorded."""
    scope = ServiceScope(session, instance.id, instance.document_id, actor,
                         operators=state.of(session).operators)
    had_timers = bool(projection.waiting_timers(workflow))
    try:
        outcome = step.run(workflow, action, scope, CallScope(calendar=workcalendar.of(session)),
                           timer_passes=timer_passes)
    except step.EndlessLoop:
        raise _endless(instance.definition) from None
    outcome.had_timers = had_timers
    return outcome


def _endless(definition: Definition) -> WorkflowInvalid:
    # A loop without a way out (deployed before deploy refused them) recurses inside
    # SpiffWorkflow: refuse the step, so no runaway case is stored and nothing 500s.
    return WorkflowInvalid([Problem(
        definition.filename, None, definition.key,
        "the process loops without ever reaching a wait state or an end event; "
        "an administrator must correct the diagram")])


def _status(workflow: BpmnWorkflow, incident: str | None) -> str:
    if workflow.completed:
        return "completed" if workflow.success else "terminated"
    if incident or workflow.get_tasks(state=TaskState.ERROR):
        return "error"
    return "running"


def persist(session: Session, instance: Instance, workflow: BpmnWorkflow,
            outcome: StepOutcome, actor: str) -> list[Task]:
    """Write a step's result: state, status, incident, projection, timers, end event."""
    if instance.status != "suspended" or workflow.completed:
        instance.status = _status(workflow, outcome.incident)
    if outcome.incident:
        instance.incident = outcome.incident
        history.append_case(session, instance.id, "incident", actor,
                            {"message": outcome.incident})
    elif instance.status != "error":
        instance.incident = None
    # Finished rounds leave the live tree (the history keeps them): a step's cost and the
    # stored state stay flat however often a case loops. Replay compacts identically.
    compaction.compact(workflow)
    instance.state = spiff.dump_state(workflow)
    instance.serializer_version = spiff.SERIALIZER_VERSION
    instance.version += 1
    instance.updated_at = clock.now()
    if instance.status in ("completed", "terminated") and instance.ended_at is None:
        instance.ended_at = clock.now()
        history.append_case(session, instance.id, instance.status, actor, {})
    for hook in state.of(session).after_step:
        hook(session, instance, workflow)
    created = project(session, instance, workflow, had_timers=outcome.had_timers)
    session.flush()
    _cache_after_commit(session, instance, workflow)
    return created


def project(session: Session, instance: Instance, workflow: BpmnWorkflow, *,
            had_timers: bool = True) -> list[Task]:
    """Rewrite the case's task and timer rows (what inboxes and the scheduler read) for
    its state; returns the rows of tasks that became ready."""
    lanes = state.FreshOnMiss(state.of(session).memo, "lanes",
                              lambda: identity.group_keys_by_name(session))
    created = projection.sync_tasks(session, instance, workflow, lanes,
                                    _context(session, instance))
    projection.sync_timers(session, instance, workflow, had_timers=had_timers)
    return created


def _context(session: Session, instance: Instance) -> dict[str, Any]:
    document = instance.document
    return {
        "process_key": state.definition_info(session, instance).key,
        "document_kind": document.kind if document else "",
        "title": instance.title,
        "classification": instance.classification,
        "urgency": document.urgency if document else "",
    }


# --- starting --------------------------------------------------------------------------------


def start_form_key(session: Session, definition: Definition) -> str | None:
    spec, _ = definitions.load_spec(session, definition)
    start = spec.task_specs.get(spec.start.outputs[0].name) if spec.start.outputs else None
    props = (getattr(start, "extensions", None) or {}).get("properties") or {}
    return props.get("formKey")


def may_start_key(session: Session, actor: Actor, key: str) -> bool:
    """Whether the actor may start the newest deployed version of process ``key``."""
    definition = definitions.latest(session, key)
    return definition is not None and may_start(definition, actor)


def may_start(definition: Definition, actor: Actor) -> bool:
    """Administrators may start anything; others as the process's starter groups allow."""
    if definitions.is_decision(definition):
        return False  # a DMN decision is called by processes, never started
    if actor.is_admin:
        return True
    if actor.is_auditor:
        return False
    starters = definitions.starter_groups(definition)
    return starters is None or bool(starters & actor.groups)


def start_case(session: Session, actor: Actor, key: str, data: dict[str, Any] | None = None,
               *, document_id: int | None = None, title: str | None = None) -> Instance:
    """Start a case of the newest version of ``key``, optionally routing a document."""
    definition = definitions.latest(session, key)
    if definition is None or definitions.is_decision(definition):
        raise NotFound(f"no deployed process with key {key!r}")
    # A document the actor may not see is unknown to them (404) before anything else.
    document = _document_for(session, actor, document_id)
    if not may_start(definition, actor):
        raise NotAllowed(f"you may not start {definition.name}")
    form_key = start_form_key(session, definition)
    if data is not None and not isinstance(data, dict):
        raise forms.FormInvalid({"": "the data must be a JSON object"})
    data = dict(data or {})
    if form_key:
        form = forms.get(session, form_key, None)
        data = forms.validate(forms.resolve(session, form.schema), data,
                              workcalendar.of(session))
    else:
        data = _plain_data(data)
    classification.check_submitted(actor, data)
    now = clock.now()
    instance = Instance(
        definition_id=definition.id, definition=definition, document_id=document_id,
        document=document, status="running", state="", serializer_version="", version=0,
        title=title or (document.title if document else "") or str(data.get("title") or "")
        or definition.name,
        classification=_start_level(document, data),
        form_versions=forms.latest_versions(session, definitions.form_keys(session, definition)),
        started_by=actor.username, started_at=now, updated_at=now,
    )
    session.add(instance)
    session.flush()
    try:
        workflow = state.new_workflow(session, definition)
    except RecursionError:
        raise _endless(definition) from None
    initial = {**data, "case_id": instance.id, "started_by": actor.username}
    if document is not None:
        initial.update(document_id=document.id, **_document_data(document))
    start = workflow.get_next_task(state=TaskState.READY)
    start.data.update(initial)
    outcome = _run(session, instance, actor.username, workflow, lambda: None)
    _step_event(session, instance, "started", actor.username, {
        "definition": definition.key, "version": definition.version, "data": initial,
        "document_id": document_id,
    }, outcome, at=now)
    persist(session, instance, workflow, outcome, actor.username)
    return instance


def _classify_from_data(instance: Instance, data: dict[str, Any]) -> None:
    """A case routing no document takes the classification a step records (签收, 拟稿).

    Only ever raised here: lowering a classification (解密) is its own recorded action.
    """
    if instance.document_id is not None or "classification" not in data:
        return
    try:
        level = identity.clearance_level(str(data["classification"]))
    except ValueError:
        return
    instance.classification = max(instance.classification, level)


def _plain_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise forms.FormInvalid({"": "the data must be a JSON object"})
    bad = [k for k in data if not isinstance(k, str) or not forms.FIELD_NAME.match(k)]
    if bad:
        raise forms.FormInvalid({k: "field names must match ^[a-z][a-z0-9_]*$" for k in bad})
    return data


def _document_for(session: Session, actor: Actor, document_id: int | None) -> Document | None:
    # Only someone who may see the document (engine.org.access) may route it; anyone else
    # would open its whole history by starting a case on it.
    if document_id is None:
        return None
    return access.get_document(session, actor, document_id)


def _start_level(document: Document | None, data: dict[str, Any]) -> int:
    """The case's level: its document's, or the start data's when that is higher.

    Start data can only raise it (check_submitted bounds it by the starter's clearance);
    a raise also reaches the document, like a raise by any later step.
    """
    level = max(document.classification if document else 0,
                classification.level_of(data.get(classification.FIELD)) or 0)
    if document is not None and level > document.classification:
        document.classification = level
    return level


def _document_data(document: Document) -> dict[str, Any]:
    data = {"title": document.title, "doc_type": document.doc_type,
            "classification": identity.clearance_name(document.classification),
            "urgency": document.urgency}
    if document.doc_number:
        data["doc_number"] = document.doc_number
    data.update(forms.json_safe(document.fields or {}))
    return data


def _step_event(session: Session, instance: Instance, type_: str, actor: str,
                payload: dict[str, Any], outcome: StepOutcome, *, at: datetime,
                **kwargs: Any) -> Event:
    """Append the event of a step that has run, with its service results.

    Written after the step (stamped with the time it started) so the service results can
    be part of it: replay hands them back instead of running the operators again. Events
    an operator wrote during the step stand before it; replay passes over them.
    """
    if outcome.services:
        payload = {**payload, "services": outcome.services}
    if outcome.calendar:
        payload = {**payload, "calendar": [c.as_dict() for c in outcome.calendar]}
        session.add_all(ProvisionalDate(instance_id=instance.id, op=c.op, start=c.start,
                                        amount=c.amount, result=c.result)
                        for c in outcome.calendar)
    return history.append_case(session, instance.id, type_, actor, payload, at=at, **kwargs)


# --- tasks ---------------------------------------------------------------------------------------


def get_task_row(session: Session, task_id: str, actor: Actor) -> Task:
    """The open task, if the actor may see it; NotFound otherwise (no existence leak)."""
    row = session.get(Task, task_id, populate_existing=True)
    if row is None or not (can_see_task(row, actor) or (
            actor.may_see(row.classification)
            and authority.stands_in(session, row, actor.username))):
        if row is None and _was_task(session, task_id, actor):
            raise Conflict("this task is no longer open: someone has already completed it "
                           "or the case moved on")
        if row is not None and _claimed_in_my_group(row, actor):
            raise Conflict(f"this task is already claimed by {row.assignee}")
        raise NotFound(f"no open task with id {task_id}")
    return row


def _claimed_in_my_group(row: Task, actor: Actor) -> bool:
    # A group member saw this task before someone claimed it: say so (409), not 404.
    return (actor.may_see(row.classification) and row.assignee is not None
            and bool(set(row.candidate_groups) & actor.groups))


def _was_task(session: Session, task_id: str, actor: Actor) -> bool:
    # A finished task of a case above the caller's clearance is as unknown as any other.
    level = session.scalar(select(Instance.classification).join(
        Event, Event.instance_id == Instance.id).where(Event.task_id == task_id).limit(1))
    return level is not None and actor.may_see(level)


def can_see_task(row: Task, actor: Actor) -> bool:
    if not actor.may_see(row.classification):
        return False
    if actor.is_admin or row.assignee == actor.username:
        return True
    return row.assignee is None and bool(set(row.candidate_groups) & actor.groups)


def _open_task(session: Session, task_id: str, actor: Actor) -> tuple[Instance, Task]:
    row = get_task_row(session, task_id, actor)
    instance = lock_case(session, row.instance_id)
    if session.get_bind().dialect.name != "sqlite":
        # Re-read under the row lock. SQLite's transaction took the one write lock with
        # its first statement (BEGIN IMMEDIATE), so the first read was already under it.
        row = get_task_row(session, task_id, actor)
    if instance.status == "suspended":
        raise Conflict("this case is suspended; no task can be worked on until it resumes")
    if instance.status not in ("running", "error"):
        raise Conflict(f"this case is {instance.status}")
    return instance, row


def claim(session: Session, task_id: str, actor: Actor) -> Task:
    instance, row = _open_task(session, task_id, actor)
    if row.assignee == actor.username:
        return row
    if row.assignee is not None and not authority.stands_in(session, row, actor.username):
        raise Conflict(f"this task is already claimed by {row.assignee}")
    authority.require_may_hold(session, instance, row, identity.get_user(session, actor.username))
    row.assignee, row.claimed_at = actor.username, clock.now()
    history.append_case(session, instance.id, "claimed", actor.username, {},
                        task_id=row.id, task_name=row.name)
    return row


def unclaim(session: Session, task_id: str, actor: Actor) -> Task:
    instance, row = _open_task(session, task_id, actor)
    if row.assignee != actor.username and not actor.is_admin:
        raise Conflict("only the person who claimed this task can release it")
    if not row.candidate_groups:
        raise Conflict("this task was assigned to one person and has no group to return to")
    previous = row.assignee
    row.assignee, row.claimed_at = None, None
    history.append_case(session, instance.id, "unclaimed", actor.username,
                        {"previous": previous}, task_id=row.id, task_name=row.name)
    return row


def delegate(session: Session, task_id: str, actor: Actor, to_username: str) -> Task:
    instance, row = _open_task(session, task_id, actor)
    if row.assignee not in (actor.username, None) and not actor.is_admin:
        raise Conflict(f"this task is claimed by {row.assignee}")
    target = identity.find_user(session, to_username)
    if target is None or not target.active:
        raise NotFound(f"no active user named {to_username!r}")
    refusal = access.hold_refusal(target, row.classification)
    if refusal is not None:
        raise NotAllowed(refusal)
    authority.require_may_hold(session, instance, row, target)
    previous = row.assignee
    row.assignee, row.claimed_at = target.username, clock.now()
    history.append_case(session, instance.id, "delegated", actor.username,
                        {"from": previous, "to": target.username},
                        task_id=row.id, task_name=row.name)
    return row


def task_form(session: Session, instance: Instance, row: Task) -> dict[str, Any]:
    """The task's form (pinned version, choices resolved); an empty form without a key."""
    if not row.form_key:
        return dict(forms.EMPTY_FORM)
    version = (instance.form_versions or {}).get(row.form_key)
    form = forms.get(session, row.form_key, version)
    schema = forms.resolve(session, form.schema, clearance=row.classification)
    if "seal" in (schema.get("properties") or {}):
        schema = task_checks.narrow_seals(session, schema, task_data(session, row))
    return schema


def task_data(session: Session, row: Task) -> dict[str, Any]:
    """The data a task's form opens with: the case's data, less other steps' free text."""
    instance = session.get_one(Instance, row.instance_id)
    workflow = _peek(session, instance)
    task = _spiff_task(workflow, row.id)
    data = forms.json_safe(dict(task.data)) if task is not None else {}
    return opinions.prefill(session, row, data)


def _peek(session: Session, instance: Instance) -> BpmnWorkflow:
    return load_workflow(session, instance)


def _spiff_task(workflow: BpmnWorkflow, task_id: str) -> Any:
    from uuid import UUID

    try:
        return workflow.get_task_from_id(UUID(task_id))
    except Exception:  # the library raises its own TaskNotFoundException
        return None


def complete(session: Session, task_id: str, actor: Actor, data: dict[str, Any] | None = None
             ) -> Instance:
    """Complete a user task with form data; a group task is claimed on the way."""
    instance, row = _open_task(session, task_id, actor)
    if row.assignee not in (None, actor.username) and not actor.is_admin \
            and not authority.stands_in(session, row, actor.username):
        raise Conflict(f"this task is claimed by {row.assignee}")
    schema = task_form(session, instance, row)
    clean = forms.validate(schema, data or {}, workcalendar.of(session))
    classification.check_submitted(actor, clean)
    # The cached workflow is taken out here; if anything below fails it is simply not put
    # back, so the next step reloads the committed state.
    workflow = _workflow(session, instance)
    task = _spiff_task(workflow, row.id)
    if task is None or task.state != TaskState.READY:
        raise Conflict("this task is no longer open")
    declared = authority.rules_of(task.task_spec)
    authority.require_may_hold(session, instance, row, identity.get_user(session, actor.username),
                               task_rules=declared)
    task_checks.run(declared.checks, task_checks.CheckContext(
        session, instance, actor, dict(data or {}), clean, dict(task.data)))
    _classify_from_data(instance, clean)
    position, spec_name, started = step.ordinal(workflow, task), task.task_spec.name, clock.now()

    def act() -> None:
        task.data.update(clean)
        task.run()

    outcome = _run(session, instance, actor.username, workflow, act)
    _step_event(session, instance, "completed", actor.username, {
        "spec": spec_name, "ordinal": position, "data": clean,
    }, outcome, at=started, task_id=row.id, task_name=row.name)
    drafts.discard(session, row.id)
    persist(session, instance, workflow, outcome, actor.username)
    return instance


# --- timers and administration -------------------------------------------------------------------


def fire_timers(session: Session, instance_id: int, actor: str = identity.SYSTEM_ACTOR) -> bool:
    """Fire whatever timers of one case are due by the application clock.

    Returns True when the case moved. The caller has claimed the case's due timer rows.
    """
    instance = lock_case(session, instance_id)
    if instance.status != "running":
        return False
    workflow = _workflow(session, instance)
    before = {(str(t.id), due) for t, due in projection.waiting_timers(workflow)}
    now = clock.now()
    # Strictly after: SpiffWorkflow's has_fired is ``due < now``; at ``due == now`` it would
    # record a timer_fired event while the workflow does not move.
    due = [(tid, at) for tid, at in before if at < now]
    if not due:
        state.of(session).cache.put(instance.id, instance.version, workflow)
        return False
    outcome = _run(session, instance, actor, workflow, workflow.refresh_timers,
                   timer_passes=True)
    _step_event(session, instance, "timer_fired", actor,
                {"timers": sorted(tid for tid, _ in due)}, outcome, at=now)
    persist(session, instance, workflow, outcome, actor)
    return True


def retry(session: Session, instance_id: int, actor: Actor, reason: str) -> Instance:
    """Run a case's failed script tasks again (after an administrator fixed the cause)."""
    if not actor.is_admin:
        raise NotAllowed("only administrators can retry a case")
    instance = lock_case(session, instance_id)
    if instance.status != "error":
        raise Conflict("this case has no incident to retry")
    workflow = _workflow(session, instance)
    failed = workflow.get_tasks(state=TaskState.ERROR)
    failed_specs, started = [t.task_spec.name for t in failed], clock.now()

    def act() -> None:
        for task in failed:
            workflow.reset_from_task_id(task.id)

    outcome = _run(session, instance, actor.username, workflow, act)
    _step_event(session, instance, "retried", actor.username,
                {"reason": reason, "tasks": failed_specs}, outcome, at=started)
    instance.status = "running"
    persist(session, instance, workflow, outcome, actor.username)
    return instance


def get_instance(session: Session, instance_id: int, actor: Actor) -> Instance:
    """The case if the actor may see it (``engine.org.access``); NotFound otherwise."""
    return access.get_case(session, actor, instance_id)


def is_participant(session: Session, instance_id: int, actor: Actor) -> bool:
    """Whether the actor started, acted in, or may work an open task of the case."""
    return access.case_participant(session, instance_id, actor)
