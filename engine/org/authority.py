"""Who may hold a task: the one rule every route calls (claim, delegate, complete, admin
reassign, choice lists).

A person may hold a task when they are office staff (administrators and auditors are not,
unless they also belong to a unit or role), are cleared for its document, are among its
candidates (the person the diagram named, a member of its candidate groups, or someone
holding a 委托 from one of those), and did not do an earlier task of the same case that
the diagram declares separate from it (separation of duties).

Diagrams declare the per-task rules as Camunda extension properties, which the browser
modeller's properties panel edits::

    <camunda:properties>
      <camunda:property name="separateFrom" value="draft,office_review" />
      <camunda:property name="checks" value="signer" />
    </camunda:properties>

``separateFrom`` names earlier tasks (BPMN ids; ``start`` means whoever started the case)
whose performer may not do this one; ``checks`` names office rules run on completion
(``engine.org.task_checks``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from engine.definitions import deployment as definitions
from engine.errors import NotAllowed
from engine.models import Event, Group, Instance, Leader, Task, User

from . import orgchart


@dataclass(frozen=True)
class TaskRules:
    """The rules a diagram declares for one task."""

    separate_from: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()


def _split(value: Any) -> tuple[str, ...]:
    return tuple(v.strip() for v in str(value or "").split(",") if v.strip())


def rules_of(task_spec: Any) -> TaskRules:
    props = (getattr(task_spec, "extensions", None) or {}).get("properties") or {}
    return TaskRules(_split(props.get("separateFrom")), _split(props.get("checks")))


def rules(session: Session, instance: Instance, spec_name: str) -> TaskRules:
    """The declared rules of a task of this case, by its spec name."""
    spec, subprocesses = definitions.specs_of(session, instance.definition_id,
                                              lambda: instance.definition)
    for candidate in (spec, *subprocesses.values()):
        task_spec = candidate.task_specs.get(spec_name)
        if task_spec is not None:
            return rules_of(task_spec)
    return TaskRules()


def performers(session: Session, instance: Instance, specs: Iterable[str]) -> dict[str, str]:
    """Who did each of the named tasks in this case: username -> task name."""
    wanted = set(specs)
    found: dict[str, str] = {}
    if "start" in wanted:
        found[instance.started_by] = "发起 / start"
    events = session.scalars(select(Event).where(Event.instance_id == instance.id,
                                                 Event.type == "completed"))
    for event in events:
        if json.loads(event.payload).get("spec") in wanted:
            found.setdefault(event.actor, event.task_name or "")
    return found


def _candidates(session: Session, row: Task) -> set[str]:
    """Usernames the diagram gave the task to: the designated person, group members."""
    named = {row.designated} if row.designated else set()
    if row.candidate_groups:
        members = session.scalars(select(User.username).join(User.groups).where(
            User.active.is_(True), Group.active.is_(True),
            Group.key.in_(row.candidate_groups)))
        named |= set(members)
    return named


class _Facts:
    """What the rule needs about one task, read once (the picker asks for every user)."""

    def __init__(self, session: Session, instance: Instance, row: Task,
                 task_rules: TaskRules | None):
        self.session, self.instance, self.row = session, instance, row
        self.rules = task_rules if task_rules is not None else rules(session, instance,
                                                                      row.spec)
        self._candidates: set[str] | None = None
        self._done: dict[str, str] | None = None

    @property
    def candidates(self) -> set[str]:
        if self._candidates is None:
            self._candidates = _candidates(self.session, self.row)
        return self._candidates

    @property
    def done(self) -> dict[str, str]:
        if self._done is None:
            self._done = performers(self.session, self.instance, self.rules.separate_from) \
                if self.rules.separate_from else {}
        return self._done


def refusal(session: Session, instance: Instance, row: Task, user: User, *,
            task_rules: TaskRules | None = None, succession: bool = False) -> str | None:
    """Why ``user`` may not hold this task, as one sentence (zh / en); None if they may.

    ``succession``: an administrator names the successor of a person leaving the office;
    the successor takes the leaver's place, so need not be among the task's candidates
    (every other rule still holds).
    """
    return _refusal(_Facts(session, instance, row, task_rules), user, succession)


def _refusal(facts: _Facts, user: User, succession: bool = False) -> str | None:
    row = facts.row
    if not user.active:
        return f"{user.name} 已停用 / {user.name} is deactivated"
    if not any(g.active for g in user.groups):
        return (f"{user.name} 不是办公人员，不能办理任务 / {user.name} is not office staff "
                "(administrators and auditors hold no tasks unless they belong to a unit "
                "or role)")
    if user.clearance < row.classification:
        return f"{user.name} 无此密级的知悉权限 / {user.name} is not cleared for this document"
    if not succession and not _is_candidate(facts, user):
        return (f"“{row.name}”不属于 {user.name} 办理 / “{row.name}” is not for "
                f"{user.name}: it goes to {_describe_candidates(row)}")
    if user.username in facts.done:
        did = facts.done[user.username]
        return (f"{user.name} 已办理本件的“{did}”，不能再办理“{row.name}”（不相容职务分离）"
                f"/ {user.name} already did “{did}” for this document and may not also do "
                f"“{row.name}” (separation of duties)")
    return None


def _is_candidate(facts: _Facts, user: User) -> bool:
    row = facts.row
    if row.assignee == user.username and row.designated in (None, user.username):
        return True
    if not row.designated and not row.candidate_groups:
        return True  # a task the diagram gave to nobody in particular
    if user.username in facts.candidates:
        return True
    return bool(orgchart.delegators(facts.session, user.username, row.process_key)
                & facts.candidates)


def stands_in(session: Session, row: Task, username: str) -> bool:
    """Whether ``username`` holds a 委托 today from the person this task is assigned to,
    so may see, claim and complete it in their absence (the holder rule still applies)."""
    return bool(row.assignee) and row.assignee != username and str(row.assignee) in \
        orgchart.delegators(session, username, row.process_key)


def _describe_candidates(row: Task) -> str:
    parts = [row.designated] if row.designated else []
    parts += list(row.candidate_groups or [])
    return ", ".join(p for p in parts if p) or "nobody"


def require_may_hold(session: Session, instance: Instance, row: Task, user: User, *,
                     task_rules: TaskRules | None = None, succession: bool = False) -> None:
    """Raise NotAllowed with the reason when ``user`` may not hold the task."""
    reason = refusal(session, instance, row, user, task_rules=task_rules,
                     succession=succession)
    if reason is not None:
        raise NotAllowed(reason)


def holders(session: Session, instance: Instance, row: Task) -> list[User]:
    """Everyone who may hold the task (for the delegate and reassign pickers)."""
    facts = _Facts(session, instance, row, None)
    users = session.scalars(select(User).where(User.active.is_(True))
                            .options(selectinload(User.groups)).order_by(User.username))
    return [u for u in users if _refusal(facts, u) is None]


# --- 委托: who may be a delegate ------------------------------------------------------------


def _groups(user: User, kind: str) -> set[str]:
    return {g.key for g in user.groups if g.active and g.kind == kind}


def _is_leader(session: Session, username: str) -> bool:
    return session.get(Leader, username) is not None


def peer_refusal(session: Session, absent: User, delegate: User) -> str | None:
    """Whether ``delegate`` can stand in for ``absent`` at all: office staff, and a leader
    for a leader (a leader's authority passes only to another leader), else a colleague of
    the same unit or the same role (a records clerk's work to another General Office
    colleague, not to a handler of a bureau)."""
    if delegate.username == absent.username:
        return "委托需要两个不同的人 / a delegation needs two different people"
    if not delegate.active or not any(g.active for g in delegate.groups):
        return (f"{delegate.name} 不是办公人员 / {delegate.name} is not office staff and "
                "cannot hold tasks")
    if _is_leader(session, absent.username):
        if not _is_leader(session, delegate.username):
            return (f"{absent.name} 是领导，只能委托其他领导 / {absent.name} is a leader: only "
                    f"another leader may stand in, not {delegate.name}")
        return None
    if not any(_groups(absent, kind) & _groups(delegate, kind)
               for kind in ("department", "role")):
        return (f"{delegate.name} 与 {absent.name} 既不同单位也不同岗位，不能受托 / "
                f"{delegate.name} shares neither a unit nor a role with {absent.name}")
    return None


def delegation_refusal(session: Session, absent: User, delegate: User,
                       scope: Iterable[str]) -> str | None:
    """Why ``delegate`` may not take ``absent``'s tasks under a 委托 (None: they may).

    The pickers' rule: beyond being a peer (``peer_refusal``), the delegate must be able to
    hold every open task in scope that the absent person holds or was named for: cleared
    for its document and not barred by separation of duties (the delegation itself makes
    them a candidate).
    """
    reason = peer_refusal(session, absent, delegate)
    if reason is not None:
        return reason
    keys = set(scope)
    rows = session.scalars(select(Task).where(
        (Task.assignee == absent.username) | (Task.designated == absent.username)))
    for row in rows:
        if keys and row.process_key not in keys:
            continue
        instance = session.get(Instance, row.instance_id)
        if instance is None:
            continue
        reason = refusal(session, instance, row, delegate, succession=True)
        if reason is not None:
            return (f"{delegate.name} 不能办理 {absent.name} 的待办“{row.name}”：{reason} / "
                    f"{delegate.name} may not hold {absent.name}'s open task “{row.name}”")
    return None


def delegates(session: Session, absent: User) -> list[User]:
    """Who the absent person may choose as a delegate (the account page's picker)."""
    users = session.scalars(select(User).where(User.active.is_(True))
                            .options(selectinload(User.groups)).order_by(User.username))
    return [u for u in users if peer_refusal(session, absent, u) is None]
