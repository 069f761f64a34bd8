"""Office rules checked when a task is completed, named by the diagram (``checks``).

Each check gets the submitted data (already validated against the form) and the case's
data, may fill in what the engine derives (the signer is whoever signs), and refuses
with field errors (FormInvalid, 422) or NotAllowed (403). Nothing is written when a
check refuses. The registry is one mapping, so a diagram naming an unknown check is
refused at deploy time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import FormInvalid, NotAllowed
from engine.models import Document, Instance
from engine.registry import doctypes

from . import orgchart
from .identity import Actor


@dataclass
class CheckContext:
    """What a check sees: the case, who acts, the raw and clean submission, case data."""

    session: Session
    instance: Instance
    actor: Actor
    raw: dict[str, Any]
    clean: dict[str, Any]
    case_data: dict[str, Any]

    def value(self, name: str) -> Any:
        return self.clean[name] if name in self.clean else self.case_data.get(name)


Check = Callable[[CheckContext], None]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        if name in CHECKS:
            raise ValueError(f"task check {name!r} is registered twice")
        CHECKS[name] = fn
        return fn

    return register


def run(names: tuple[str, ...], context: CheckContext) -> None:
    for name in names:
        CHECKS[name](context)


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


@check("signer")
def _signer(ctx: CheckContext) -> None:
    """The signer is whoever signs: a name typed for someone else is refused (条例 第二十条)."""
    typed = str(ctx.raw.get("signer") or "").strip()
    if typed and typed != ctx.actor.username:
        raise NotAllowed(f"签发人只能是签发者本人 / you sign as yourself ({ctx.actor.username}),"
                         f" not as {typed}")
    ctx.clean["signer"] = ctx.actor.username
    ctx.clean["signer_name"] = ctx.actor.name
    if not ctx.clean.get("signed_on"):
        ctx.clean["signed_on"] = clock.now().astimezone(clock.OFFICE_TZ).date().isoformat()


def _routing(ctx: CheckContext, *, complete: bool) -> None:
    fields = {**ctx.case_data, **ctx.clean}
    problems = doctypes.routing_problems(fields, complete=complete)
    override = str(ctx.value("routing_override") or "").strip()
    if problems and not override:
        errors: dict[str, str] = {}
        for problem in problems:
            errors.setdefault(problem.field, problem.message)
        raise FormInvalid(errors, "行文规则未满足；退回修改，或写明理由后放行 / the document "
                                  "breaks the routing rules: send it back, or give a reason "
                                  "to let it through (routing_override)")


@check("routing_draft")
def _routing_draft(ctx: CheckContext) -> None:
    """核稿: the routing rules that a draft can already be held to."""
    if ctx.clean.get("decision") != "return":
        _routing(ctx, complete=False)


@check("routing")
def _routing_complete(ctx: CheckContext) -> None:
    """复核, before numbering: every routing rule, the signer included."""
    if not ctx.clean.get("substantive_change"):
        _routing(ctx, complete=True)


@check("issue_date")
def _issue_date(ctx: CheckContext) -> None:
    """成文日期 is the signing date unless given, and never before it."""
    signed = _date(ctx.case_data.get("signed_on"))
    issued = _date(ctx.clean.get("issued_on"))
    if issued is None and signed is not None:
        ctx.clean["issued_on"] = signed.isoformat()
    elif issued is not None and signed is not None and issued < signed:
        raise FormInvalid({"issued_on": f"成文日期不能早于签发日期 {signed.isoformat()} / the "
                                        f"date of issue cannot precede the signing date "
                                        f"({signed.isoformat()})"})


@check("lead_unit")
def _lead_unit(ctx: CheckContext) -> None:
    lead = ctx.clean.get("lead_department")
    if lead and lead in (ctx.clean.get("co_departments") or []):
        raise FormInvalid({"co_departments": "主办单位不能同时是协办单位 / the lead unit "
                                             "cannot also be a co-handling unit"})


def _approved_outgoing(ctx: CheckContext, number: str) -> tuple[bool, int | None]:
    """Whether ``number`` is a signed outgoing document, and its approved copies."""
    data = ctx.case_data
    if (ctx.instance.definition.key == "outgoing_document" and data.get("doc_number") == number
            and data.get("signer") and data.get("signed_on")):
        return True, _int(data.get("copies"))
    document = ctx.session.scalar(select(Document).where(Document.doc_number == number))
    if document is None or document.kind != "outgoing":
        return False, None
    fields = document.fields or {}
    return bool(fields.get("signer") and fields.get("signed_on")), _int(fields.get("copies"))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@check("seal_request")
def _seal_request(ctx: CheckContext) -> None:
    """A seal on a signed document: the document exists, is signed, the seal is its
    issuer's, and the copies do not exceed the approved number."""
    number = str(ctx.value("related_number") or "").strip()
    seal = str(ctx.value("seal") or "")
    errors: dict[str, str] = {}
    if ctx.value("signed_document"):
        approved, copies = _approved_outgoing(ctx, number) if number else (False, None)
        if not approved:
            errors["related_number"] = (f"“{number or '（空）'}”不是已签发的发文 / "
                                        f"{number or 'no number'} is not a signed outgoing "
                                        "document; without one the seal needs approval")
        elif copies is not None and (_int(ctx.value("copies")) or 0) > copies:
            errors["copies"] = (f"用印份数超过核定的 {copies} 份 / more copies than the "
                                f"{copies} approved")
    # A seal on a document is its issuer's; other uses (certificates, letters) go to the
    # director or a leader for approval instead.
    found = orgchart.issuer_of_number(ctx.session, number) \
        if number and ctx.value("signed_document") else None
    if found is not None and found.seals and seal not in found.seals:
        errors["seal"] = (f"{found.name}的文件只能加盖其印章 / a document of {found.name} takes "
                          f"its own seal ({', '.join(found.seals)}), not {seal}")
    if errors:
        raise FormInvalid(errors)


@check("seal_supervise")
def _seal_supervise(ctx: CheckContext) -> None:
    if ctx.clean.get("seal_check") == "approve" and not (
            ctx.clean.get("text_matches") and ctx.clean.get("no_blank")):
        raise FormInvalid({"seal_check": "核对未通过，不能准予用印 / the checks failed: the "
                                         "seal cannot be approved"})


@check("seal_stamp")
def _seal_stamp(ctx: CheckContext) -> None:
    approved = _int(ctx.case_data.get("copies"))
    stamped = _int(ctx.clean.get("stamped_copies"))
    if approved is not None and stamped is not None and stamped > approved:
        raise FormInvalid({"stamped_copies": f"实际用印份数不能超过核定的 {approved} 份 / "
                                             f"more copies stamped than the {approved} "
                                             "approved"})


def narrow_seals(session: Session, schema: dict[str, Any], data: dict[str, Any]
                 ) -> dict[str, Any]:
    """Offer only the issuer's seals for a request on a numbered document.

    The form then lists valid choices alone, so a client can fill it from the schema.
    """
    seal = (schema.get("properties") or {}).get("seal")
    number = str(data.get("related_number") or data.get("doc_number") or "")
    found = orgchart.issuer_of_number(session, number) if number else None
    if not seal or not seal.get("enum") or found is None or not found.seals:
        return schema
    keep = [i for i, value in enumerate(seal["enum"]) if value in found.seals]
    if keep:
        for key in ("enum", "x-enum-labels", "x-enum-labels-en"):
            if key in seal:
                seal[key] = [seal[key][i] for i in keep]
    return schema


@check("deadline_extension")
def _deadline_extension(ctx: CheckContext) -> None:
    """延期审批: approved only before the legal due date and within the cap (条例 第三十三条).

    The deadline is the case's ``extension_deadline`` (default: its ``answer`` deadline,
    else ``handling``); the length is
    ``extension_months`` or the date ``new_deadline`` when the form asks for one. A refusal
    (``decision: return``) is always possible; an approval records who approved it.
    """
    from engine.deadlines import periods as deadlines  # deadlines -> runtime -> task_checks

    if ctx.clean.get("decision") != "approve":
        return
    name = _extended_deadline(ctx)
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    months = ctx.clean.get("extension_months")
    problem = deadlines.extension_problem(
        ctx.session, ctx.instance.id, name, on=today,
        n=int(months) if isinstance(months, int) else None, until=ctx.clean.get("new_deadline"))
    if problem:
        raise FormInvalid({"decision": problem}, problem)
    ctx.clean["extension_approver"] = ctx.actor.username
    ctx.clean["extension_approved_on"] = today.isoformat()


def _extended_deadline(ctx: CheckContext) -> str:
    from engine.deadlines import periods as deadlines

    named = ctx.case_data.get("extension_deadline")
    if named:
        return str(named)
    names = {d.name for d in deadlines.list_for_case(ctx.session, ctx.instance.id)}
    return "answer" if "answer" in names or "handling" not in names else "handling"


@check("deadline_extension_request")
def _deadline_extension_request(ctx: CheckContext) -> None:
    """申请延期 is made before the due date (督查督办); afterwards the form says why not."""
    from engine.deadlines import periods as deadlines

    if ctx.clean.get("action") != "extend":
        return
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    problem = deadlines.extension_problem(ctx.session, ctx.instance.id, _extended_deadline(ctx),
                                          on=today, n=1)
    if problem:
        raise FormInvalid({"action": problem}, problem)
