"""The organisation model routing relies on: who heads a unit, who is in charge of it,
the principal leader, the issuers (发文机关) with their number prefixes and seals, and 委托.

Groups stay the way people are found (lanes, candidate groups); this module answers the
questions a diagram cannot answer from groups alone ("the leader in charge of the
drafting unit", "the signer for a 请示 in the 管委会's name"). Diagrams reach it through
the service operators at the end of this module. Every change is one event on the
``system`` history chain, with who made it and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.definitions import deployment as definitions
from engine.errors import Conflict, DocrouteError, NotAllowed, NotFound
from engine.history import chain as history
from engine.models import Delegation, Group, Issuer, Leader, User
from engine.registry import doctypes
from engine.runtime.operators import ServiceCall, operator

from . import identity
from .identity import Actor
from .organisation import require_admin, require_reason

PRINCIPAL, DEPUTY = "principal", "deputy"
SIGNER_LEVELS = ("principal", "unit_leader")
# Seal keys the shipped seal forms offer (forms/seal_request.json).
SEALS = ("management_committee", "party_committee", "general_office",
         "general_office_contract")


# --- reading the model ----------------------------------------------------------------------


def _unit(session: Session, key: str) -> Group | None:
    return session.scalar(select(Group).where(Group.key == key))


def unit_head(session: Session, unit: str) -> str | None:
    group = _unit(session, unit)
    return group.head or None if group is not None else None


def unit_leader(session: Session, unit: str) -> str | None:
    """The leader in charge of a unit (分管领导), or None when nobody is."""
    group = _unit(session, unit)
    return group.leader or None if group is not None else None


def principal_leader(session: Session) -> str | None:
    return session.scalar(select(Leader.username).where(Leader.rank == PRINCIPAL))


def leaders(session: Session) -> list[Leader]:
    return list(session.scalars(select(Leader).order_by(Leader.rank.desc(), Leader.username)))


def portfolio(session: Session, username: str) -> list[str]:
    """The units a leader is in charge of."""
    return list(session.scalars(select(Group.key).where(Group.leader == username)
                                .order_by(Group.key)))


def issuers(session: Session) -> list[Issuer]:
    return list(session.scalars(select(Issuer).order_by(Issuer.prefix)))


def issuer(session: Session, prefix: str) -> Issuer | None:
    return session.get(Issuer, prefix) if prefix else None


def issuer_of_number(session: Session, number: str) -> Issuer | None:
    """The issuer of a document number (深鹏管〔2026〕3号 -> 深鹏管), or None."""
    prefix = number.split("〔", 1)[0].strip()
    return issuer(session, prefix)


@dataclass(frozen=True)
class Signing:
    """Who signs a document and why: ``level`` is principal or unit_leader."""

    level: str
    signer: str
    reason: str


def signing_for(session: Session, fields: dict[str, Any]) -> Signing:
    """The signer the regulation requires for a document, from its type, recipients and issuer.

    条例 第二十条: important and upward documents are signed by the principal leader; the
    issuer decides whether documents in its name need the principal leader; otherwise the
    leader in charge of the drafting unit signs. The drafter's own ticks cannot lower it.
    """
    principal = principal_leader(session)
    if principal is None:
        raise DocrouteError("the organisation has no principal leader; an administrator "
                            "sets one on the organisation page")
    upward_fields = {k: fields.get(k) for k in ("doc_type", "principal_recipients")}
    if doctypes.is_upward(upward_fields):
        return Signing("principal", principal, "上行文由主要领导签发 / upward document")
    if fields.get("important") is True:
        return Signing("principal", principal, "重要公文由主要领导签发 / important document")
    found = issuer(session, str(fields.get("number_prefix") or ""))
    if found is not None and found.signer_level == "principal":
        return Signing("principal", principal, f"以{found.name}名义发文 / in the name of "
                                               f"{found.name}")
    leader = unit_leader(session, str(fields.get("drafting_department") or ""))
    if leader:
        return Signing("unit_leader", leader, "起草单位的分管领导 / the leader in charge of "
                                              "the drafting unit")
    return Signing("principal", principal, "起草单位无分管领导 / nobody is in charge of "
                                           "the drafting unit")


def instructing_for(session: Session, fields: dict[str, Any], proposer: str = "") -> Signing:
    """Who instructs (批示) on an incoming document: the leader in charge of the matter.

    The matter is the lead unit named at 拟办 (``lead_department``): its leader in charge
    instructs. The principal leader does when 拟办 submits it to them (``instruction_group``
    = ``principal_leaders``), when the document comes from a superior government or party
    committee (``engine.registry.doctypes.is_superior_government``), when nobody is in charge of the
    unit, or when the leader in charge is the one who proposed (whoever proposed may not
    also instruct). ``level`` is ``principal`` or ``unit_leader``.
    """
    principal = principal_leader(session)
    if principal is None:
        raise DocrouteError("the organisation has no principal leader; an administrator "
                            "sets one on the organisation page")
    if fields.get("instruction_group") == "principal_leaders":
        return Signing("principal", principal, "拟办呈主要领导批示 / submitted to the "
                                               "principal leader at 拟办")
    source = str(fields.get("source_org") or "")
    if doctypes.is_superior_government(source):
        return Signing("principal", principal, f"上级机关来文由主要领导批示 / a document from "
                                               f"a superior organ ({source})")
    unit = str(fields.get("lead_department") or "")
    leader = unit_leader(session, unit)
    if not leader:
        return Signing("principal", principal, "该事项无分管领导 / nobody is in charge of "
                                               "the unit concerned")
    if leader == proposer:
        return Signing("principal", principal, "分管领导已拟办，呈主要领导批示 / the leader "
                                               "in charge proposed the handling")
    return Signing("unit_leader", leader, "分管该事项的领导 / the leader in charge of the "
                                          "matter")


def joint_signer(session: Session, unit: str, drafter: str = "") -> str:
    """Who signs for a co-issuing unit of a joint document (联合发文): its head, else the
    leader in charge of it, else the principal leader; never the drafter (who may not
    sign his own draft), so the next in that order signs instead."""
    order = (unit_head(session, unit), unit_leader(session, unit), principal_leader(session))
    found = next((who for who in order if who and who != drafter), None)
    if not found:
        raise DocrouteError("the organisation has no principal leader; an administrator "
                            "sets one on the organisation page")
    return found


# --- editing the model (administrators) ---------------------------------------------------------


def _active_user(session: Session, username: str, what: str) -> User:
    user = identity.find_user(session, username)
    if user is None or not user.active:
        raise NotFound(f"{what}: no active user named {username!r}")
    if not user.groups:
        raise Conflict(f"{what}: {user.name} belongs to no unit or role, so cannot hold "
                       "office tasks")
    return user


def set_unit(session: Session, actor: Actor, key: str, *, reason: str, head: str = "",
             deputies: Iterable[str] = (), leader: str = "") -> Group:
    """Set a unit's head, deputy heads and the leader in charge of it ("" = nobody)."""
    require_admin(actor)
    reason = require_reason(reason)
    group = identity.get_group(session, key)
    if group.kind != "department":
        raise DocrouteError(f"{group.name} is a role, not a unit; only units have heads")
    deputy_list = [d.strip() for d in deputies if d.strip()]
    for username, what in [(head, "head"), (leader, "leader in charge"),
                           *((d, "deputy head") for d in deputy_list)]:
        if username:
            _active_user(session, username, what)
    if leader and session.get(Leader, leader) is None:
        raise Conflict(f"{leader} is not a leader; add them as a leader first")
    if head and head in deputy_list:
        raise Conflict("the head cannot also be a deputy head")
    before = {"head": group.head, "deputies": list(group.deputies or []),
              "leader": group.leader}
    group.head, group.deputies, group.leader = head, deputy_list, leader
    after = {"head": head, "deputies": deputy_list, "leader": leader}
    if before != after:
        history.append_system(session, "unit_changed", actor.username,
                              {"key": key, "from": before, "to": after, "reason": reason})
    session.flush()
    return group


def set_leader(session: Session, actor: Actor, username: str, *, reason: str,
               rank: str = DEPUTY, matters: Iterable[str] = ()) -> Leader:
    """Add or change a leader; making one principal makes the previous principal a deputy."""
    require_admin(actor)
    reason = require_reason(reason)
    if rank not in (PRINCIPAL, DEPUTY):
        raise DocrouteError("a leader's rank is 'principal' or 'deputy'")
    _active_user(session, username, "leader")
    row = session.get(Leader, username)
    if row is None:
        row = Leader(username=username, rank=rank, matters=[])
        session.add(row)
    if rank == PRINCIPAL:
        for other in session.scalars(select(Leader).where(Leader.rank == PRINCIPAL,
                                                          Leader.username != username)):
            other.rank = DEPUTY
    row.rank, row.matters = rank, [m.strip() for m in matters if m.strip()]
    history.append_system(session, "leader_set", actor.username, {
        "username": username, "rank": rank, "matters": row.matters, "reason": reason})
    session.flush()
    return row


def remove_leader(session: Session, actor: Actor, username: str, *, reason: str) -> None:
    require_admin(actor)
    reason = require_reason(reason)
    row = session.get(Leader, username)
    if row is None:
        raise NotFound(f"{username} is not a leader")
    units = portfolio(session, username)
    if units:
        raise Conflict(f"{username} is still in charge of {', '.join(units)}; give those "
                       "units another leader first")
    session.delete(row)
    history.append_system(session, "leader_removed", actor.username,
                          {"username": username, "reason": reason})
    session.flush()


def set_issuer(session: Session, actor: Actor, prefix: str, *, reason: str, name: str,
               signer_level: str, seals: Iterable[str]) -> Issuer:
    require_admin(actor)
    reason = require_reason(reason)
    prefix = prefix.strip()
    if not prefix or any(c in prefix for c in "〔〕 ") or len(prefix) > 32:
        raise DocrouteError("an issuer's number prefix is a short code such as 深鹏办")
    if signer_level not in SIGNER_LEVELS:
        raise DocrouteError(f"the signer level is one of {', '.join(SIGNER_LEVELS)}")
    seal_list = [s.strip() for s in seals if s.strip()]
    unknown = [s for s in seal_list if s not in SEALS]
    if unknown:
        raise DocrouteError(f"unknown seal(s): {', '.join(unknown)}; use {', '.join(SEALS)}")
    row = session.get(Issuer, prefix)
    if row is None:
        row = Issuer(prefix=prefix, name="", signer_level=signer_level, seals=[])
        session.add(row)
    row.name, row.signer_level, row.seals = name.strip() or prefix, signer_level, seal_list
    history.append_system(session, "issuer_set", actor.username, {
        "prefix": prefix, "name": row.name, "signer_level": signer_level,
        "seals": seal_list, "reason": reason})
    session.flush()
    return row


# --- 委托 (delegation of authority for a period) ------------------------------------------


def add_delegation(session: Session, actor: Actor, from_user: str, to_user: str, *,
                   starts_on: date, ends_on: date, scope: Iterable[str] = (),
                   reason: str) -> Delegation:
    """Record a 委托: ``to_user`` may hold ``from_user``'s tasks from ``starts_on`` to
    ``ends_on`` (inclusive), for the listed process keys (none = every process).

    The absent person or an administrator records it; the delegate must be someone who
    may hold those tasks (``authority.delegation_refusal``, the pickers' rule).
    """
    reason = require_reason(reason)
    if not actor.is_admin and actor.username != from_user:
        raise NotAllowed("only the person going on leave or an administrator can record "
                         "a delegation")
    if from_user == to_user:
        raise DocrouteError("a delegation needs two different people")
    if ends_on < starts_on:
        raise DocrouteError("the delegation ends before it starts")
    absent = _active_user(session, from_user, "delegating person")
    delegate = _active_user(session, to_user, "delegate")
    scope = [s.strip() for s in scope if s.strip()]
    unknown = [key for key in scope if definitions.latest(session, key) is None]
    if unknown:
        raise DocrouteError(f"no process with key {', '.join(unknown)}; the scope lists "
                            "process keys such as outgoing_document")
    from .authority import delegation_refusal  # authority reads 委托 from this module

    refused = delegation_refusal(session, absent, delegate, scope)
    if refused is not None:
        raise NotAllowed(refused)
    row = Delegation(from_user=from_user, to_user=to_user, starts_on=starts_on,
                     ends_on=ends_on, scope=sorted({s.strip() for s in scope if s.strip()}),
                     reason=reason, created_by=actor.username, created_at=clock.now())
    session.add(row)
    session.flush()
    session.info.pop(_STANDING, None)
    history.append_system(session, "delegation_added", actor.username, {
        "id": row.id, "from": from_user, "to": to_user, "starts_on": starts_on.isoformat(),
        "ends_on": ends_on.isoformat(), "scope": row.scope, "reason": reason})
    return row


def revoke_delegation(session: Session, actor: Actor, delegation_id: int, *,
                      reason: str) -> Delegation:
    reason = require_reason(reason)
    row = session.get(Delegation, delegation_id)
    if row is None:
        raise NotFound(f"no delegation with id {delegation_id}")
    if not actor.is_admin and actor.username != row.from_user:
        raise NotAllowed("only the delegating person or an administrator can revoke it")
    if row.revoked_at is not None:
        raise Conflict("this delegation is already revoked")
    row.revoked_at = clock.now()
    session.info.pop(_STANDING, None)
    history.append_system(session, "delegation_revoked", actor.username,
                          {"id": row.id, "reason": reason})
    return row


def delegations(session: Session) -> list[Delegation]:
    return list(session.scalars(select(Delegation).order_by(Delegation.id.desc())))


def delegations_of(session: Session, username: str) -> list[Delegation]:
    """The 委托 a person gave or received, newest first (their account page)."""
    return list(session.scalars(select(Delegation).where(
        (Delegation.from_user == username) | (Delegation.to_user == username))
        .order_by(Delegation.id.desc())))


_STANDING = "docroute_standing_in_for"


def standing_in_for(session: Session, username: str) -> dict[str, list[str]]:
    """Whom this person stands in for today under a 委托: absent person -> process keys
    (an empty list: every process). Read once per unit of work (an inbox page asks for
    its list and each tab count); adding or revoking a 委托 forgets it."""
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    known = session.info.setdefault(_STANDING, {})
    if (username, today) not in known:
        known[(username, today)] = _standing_in_for(session, username, today)
    return {person: list(keys) for person, keys in known[(username, today)].items()}


def _standing_in_for(session: Session, username: str, today: date) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in session.scalars(select(Delegation).where(
            Delegation.to_user == username, Delegation.revoked_at.is_(None),
            Delegation.starts_on <= today, Delegation.ends_on >= today)):
        keys = found.setdefault(row.from_user, list(row.scope or []))
        if keys and row.scope:
            keys.extend(k for k in row.scope if k not in keys)
        else:
            found[row.from_user] = []  # one delegation without a scope covers everything
    return found


def delegators(session: Session, username: str, process_key: str) -> set[str]:
    """Whose tasks of ``process_key`` this person may hold today under a 委托."""
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    rows = session.scalars(select(Delegation).where(
        Delegation.to_user == username, Delegation.revoked_at.is_(None),
        Delegation.starts_on <= today, Delegation.ends_on >= today))
    return {r.from_user for r in rows if not r.scope or process_key in r.scope}


# --- service operators: how diagrams address people through the organisation -----------


@operator("org_authority")
def org_authority(call: ServiceCall) -> dict[str, Any]:
    """``{"unit_head", "unit_leader", "principal", "signer", "signer_level", "reason"}``.

    Parameters: ``unit`` (the unit concerned, e.g. ``drafting_department``); the signer is
    derived from the task data (doc_type, principal_recipients, number_prefix, important).
    """
    unit = str(call.params.get("unit") or "")
    signing = signing_for(call.session, call.data)
    principal = principal_leader(call.session) or ""
    return {"unit_head": unit_head(call.session, unit) or "",
            "unit_leader": unit_leader(call.session, unit) or principal,
            "principal": principal, "signer": signing.signer,
            "signer_level": signing.level, "reason": signing.reason}


@operator("org_instructing_leader")
def org_instructing_leader(call: ServiceCall) -> dict[str, Any]:
    """``{"leader", "level", "reason"}``: who instructs (批示) on an incoming document.

    Parameter ``unit``: the lead unit named at 拟办; instruction_group and source_org come
    from the task data; the proposer
    is whoever completed 拟办 (the step that reached this service task).
    """
    fields = {**call.data, "lead_department": call.params.get("unit") or ""}
    found = instructing_for(call.session, fields, call.actor)
    return {"leader": found.signer, "level": found.level, "reason": found.reason}


@operator("org_joint_signers")
def org_joint_signers(call: ServiceCall) -> dict[str, str]:
    """``{unit: signer}`` for each co-issuing unit (parameter ``units``, 联合发文); the
    parameter ``drafter`` is never named."""
    drafter = str(call.params.get("drafter") or "")
    return {str(unit): joint_signer(call.session, str(unit), drafter)
            for unit in call.params.get("units") or []}
