"""Administration of the chain of authority: leaders and portfolios, unit heads, issuers, 委托.

Every change goes through ``engine.org.orgchart`` (which records it with its reason); this
module only reads the posted form and shows the model.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import DocrouteError, definitions
from engine.org import organisation, orgchart

from . import get_docroute
from .admin_base import bp
from .auth import current_actor


def _list(name: str) -> list[str]:
    """A form field of comma- or 、-separated values."""
    text = request.form.get(name, "").replace("、", ",").replace("，", ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def _day(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise DocrouteError(_("Give the dates as YYYY-MM-DD.")) from None


def _apply(action: str) -> None:
    actor, reason = current_actor(), request.form.get("reason", "")
    with get_docroute().session() as s:
        if action == "leader":
            orgchart.set_leader(s, actor, request.form.get("username", ""), reason=reason,
                                rank=request.form.get("rank", "deputy"),
                                matters=_list("matters"))
        elif action == "remove_leader":
            orgchart.remove_leader(s, actor, request.form.get("username", ""), reason=reason)
        elif action == "unit":
            orgchart.set_unit(s, actor, request.form.get("key", ""), reason=reason,
                              head=request.form.get("head", ""), deputies=_list("deputies"),
                              leader=request.form.get("leader", ""))
        elif action == "issuer":
            orgchart.set_issuer(s, actor, request.form.get("prefix", ""), reason=reason,
                                name=request.form.get("name", ""),
                                signer_level=request.form.get("signer_level", ""),
                                seals=request.form.getlist("seals"))
        elif action == "delegation":
            orgchart.add_delegation(s, actor, request.form.get("from_user", ""),
                                    request.form.get("to_user", ""),
                                    starts_on=_day("starts_on"), ends_on=_day("ends_on"),
                                    scope=request.form.getlist("scope"), reason=reason)
        elif action == "revoke":
            orgchart.revoke_delegation(s, actor, request.form.get("id", type=int) or 0,
                                       reason=reason)
        else:
            raise DocrouteError(_("Unknown action."))


@bp.route("/authority", methods=["GET", "POST"])
def authority() -> Any:
    status = 200
    if request.method == "POST":
        try:
            _apply(request.form.get("action", ""))
            flash(_("Saved. The change is recorded with its reason."), "success")
            return redirect(url_for("admin.authority"))
        except (DocrouteError, ValueError) as error:
            flash(str(error), "error")
            status = 422
    with get_docroute().session() as s:
        view = _view(s)
    return render_template("admin/authority.html", form=request.form, **view), status


def _view(s: Any) -> dict[str, Any]:
    staff = [{"username": u.username, "name": u.name}
             for u in organisation.active_users(s) if any(g.active for g in u.groups)]
    names = {p["username"]: p["name"] for p in staff}
    units = [{"key": g.key, "name": g.name, "head": g.head, "deputies": g.deputies or [],
              "leader": g.leader}
             for g in organisation.list_groups(s) if g.kind == "department" and g.active]
    leaders = [{"username": r.username, "name": names.get(r.username, r.username),
                "rank": r.rank, "matters": r.matters or [],
                "units": orgchart.portfolio(s, r.username)} for r in orgchart.leaders(s)]
    issuers = [{"prefix": i.prefix, "name": i.name, "signer_level": i.signer_level,
                "seals": i.seals or []} for i in orgchart.issuers(s)]
    delegations = [{"id": d.id, "from_user": d.from_user, "to_user": d.to_user,
                    "starts_on": d.starts_on, "ends_on": d.ends_on, "scope": d.scope or [],
                    "reason": d.reason, "revoked": d.revoked_at is not None}
                   for d in orgchart.delegations(s)]
    processes = definitions.latest_names(s)
    return {"staff": staff, "names": names, "units": units, "leaders": leaders,
            "issuers": issuers, "delegations": delegations, "processes": processes,
            "seals": orgchart.SEALS, "signer_levels": orgchart.SIGNER_LEVELS}
