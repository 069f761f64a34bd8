"""Administration of the working-day calendar: a year as a month grid (official or
provisional), toggle days, import a year from CSV (docs/calendar.md), export, and a template
from the statutory holidays. Changes go through ``engine.deadlines.calendar_recompute``, which moves
every open provisional deadline in the same transaction."""

from __future__ import annotations

import calendar as pycalendar
from datetime import date
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import DocrouteError, clock
from engine.deadlines import calendar_recompute, workcalendar

from . import get_docroute
from .admin_base import bp, read_upload
from .auth import current_actor


def _recomputed(change: calendar_recompute.CalendarChange) -> None:
    if change.cases:
        flash(_("%(n)s provisional date(s) in %(cases)s case(s) were recomputed.",
                n=change.dates_moved, cases=len(change.cases)), "success")


@bp.get("/calendar")
def calendar() -> Any:
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    year = request.args.get("year", type=int) or today.year
    with get_docroute().session() as s:
        rows = {r.day: r for r in workcalendar.year_rows(s, year)}
        status = workcalendar.year_status(workcalendar.load(s))
    years = [y for y, _basis in status]
    status = [(y, b) for y, b in status if y >= today.year - 3]  # the years that matter now
    basis = next((r.basis for r in rows.values()), workcalendar.MISSING)
    months = []
    for month in range(1, 13):
        weeks = []
        for week in pycalendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            weeks.append([{"day": d, "row": rows.get(d)} if d.month == month else None
                          for d in week])
        months.append({"month": month, "weeks": weeks})
    workdays = sum(1 for r in rows.values() if r.is_workday)
    return render_template("admin/calendar.html", year=year, months=months, years=years,
                           stored=bool(rows), workdays=workdays, today=today, basis=basis,
                           status=status)


@bp.post("/calendar/day")
def calendar_day() -> Any:
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        flash(_("Pick a day."), "error")
        return redirect(url_for("admin.calendar"))
    source = request.form.get("source", "").strip()
    try:
        if not source:
            raise DocrouteError(_("Name the notice (source) this change follows, e.g. "
                                  "国办发明电〔2026〕7号."))
        with get_docroute().session() as s:
            current = workcalendar.export_year(s, day.year)
            row = next((r for r in current if r.day == day), None)
            if row is None:
                raise DocrouteError(_("%(year)s has no official calendar yet: import the "
                                      "State Council's notice for the whole year first (the "
                                      "template starts from the statutory holidays).",
                                      year=day.year))
            workday = not row.is_workday
            note = request.form.get("note", "").strip() or (row.note if workday ==
                                                             row.is_workday else "")
            change = calendar_recompute.set_day(s, day, workday, note, source,
                                                current_actor().username)
        flash(_("%(day)s is now a %(kind)s.", day=day.isoformat(),
                kind=_("working day") if workday else _("day off")), "success")
        _recomputed(change)
    except DocrouteError as error:
        flash(str(error), "error")
    return redirect(url_for("admin.calendar", year=day.year, source=source))


@bp.post("/calendar/import")
def calendar_import() -> Any:
    source = request.form.get("source", "").strip()
    upload = read_upload()
    if upload is None:
        return redirect(url_for("admin.calendar"))
    _name, data = upload
    try:
        if not source:
            raise DocrouteError(_("Name the notice (source) the file follows, e.g. "
                                  "国办发明电〔2026〕7号."))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise DocrouteError(_("The file is not UTF-8 text.")) from None
        with get_docroute().session() as s:
            change = calendar_recompute.import_csv(s, text, source, current_actor().username)
        years = change.years
        flash(_("Imported %(years)s.", years=", ".join(map(str, years))), "success")
        _recomputed(change)
        return redirect(url_for("admin.calendar", year=years[0] if years else None))
    except DocrouteError as error:
        for line in str(error).splitlines():
            flash(line, "error")
    return redirect(url_for("admin.calendar"))


@bp.get("/calendar/<int:year>.csv")
def calendar_export(year: int) -> Any:
    with get_docroute().session() as s:
        rows = workcalendar.year_rows(s, year)
    if not rows:
        abort(404)
    text = workcalendar.rows_to_csv(rows)
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{year}.csv"'})


@bp.get("/calendar/<int:year>/template.csv")
def calendar_template(year: int) -> Any:
    if not 1949 < year < 2200:
        abort(404)
    try:
        text = workcalendar.template_csv(year)
    except DocrouteError:
        abort(404)
    return Response(text, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{year}-template.csv"'})
