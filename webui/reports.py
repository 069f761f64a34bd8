"""Report pages: KPI figures per unit and period with drill-down, chart and exports, and
the 政府信息公开年度报告 table. Every figure comes from ``engine.queries.kpi`` (who may read
reports is its rule too); this module only lays them out and writes CSV/XLSX files."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, abort, render_template, request
from flask_babel import gettext as _
from openpyxl import Workbook

from engine import FormInvalid, clock
from engine.org import identity
from engine.queries import kpi, records

from . import get_docroute
from .auth import current_actor
from .views import is_english

if TYPE_CHECKING:
    pass

bp = Blueprint("reports", __name__, url_prefix="/reports")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def init_app(app: Flask) -> None:
    """The pages, and the navigation's question: may this person read reports?"""
    app.register_blueprint(bp)
    app.jinja_env.globals["may_read_reports"] = kpi.may_read


def _period() -> tuple[kpi.Period, dict[str, str]]:
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    start = request.args.get("from") or date(today.year, 1, 1).isoformat()
    end = request.args.get("to") or today.isoformat()
    try:
        return kpi.Period.parse(start, end), {}
    except FormInvalid as error:
        fallback = kpi.Period(date(today.year, 1, 1), today)
        return fallback, error.errors


def _strict_period() -> kpi.Period:
    return kpi.Period.parse(request.args.get("from", ""), request.args.get("to", ""))


def _allowed() -> None:
    if not kpi.may_read(current_actor()):
        abort(403)


def _unit_names() -> dict[str, str]:
    with get_docroute().session() as s:
        english = is_english()
        names = {g.key: (g.name_en or g.name) if english else g.name
                 for g in identity.list_groups(s)}
    return {kpi.UNASSIGNED: _("No unit named"), **names}


@bp.get("/")
def index() -> Any:
    _allowed()
    period, errors = _period()
    with get_docroute().session() as s:
        units = kpi.report(s, current_actor(), period)
    names = _unit_names()
    chart = {"labels": [names.get(u.unit, u.unit) for u in units[1:]],
             "received": [u.figures["received"].count for u in units[1:]],
             "closed": [u.figures["closed"].count for u in units[1:]],
             "overdue": [u.figures["overdue"].count for u in units[1:]]}
    return render_template("reports/kpi.html", units=units, period=period, errors=errors,
                           names=names, figures=kpi.FIGURES, figure_names=kpi.FIGURE_NAMES,
                           chart=chart)


@bp.get("/cases")
def cases() -> Any:
    _allowed()
    period = _strict_period()
    figure, unit = request.args.get("figure", ""), request.args.get("unit", "")
    with get_docroute().session() as s:  # a bad figure is FormInvalid: a 422 page
        ids = kpi.drill_down(s, current_actor(), period, figure, unit)
        rows = [{"id": i.id, "title": i.title, "process": i.definition_name,
                 "status": i.status, "started_at": i.started_at, "ended_at": i.ended_at}
                for i in records.cases(s, ids)]
    return render_template("reports/cases.html", rows=rows, period=period, figure=figure,
                           figure_names=kpi.FIGURE_NAMES, unit=_unit_names().get(unit, unit))


def _kpi_rows(units: list[kpi.UnitReport], names: dict[str, str]) -> list[list[Any]]:
    head = ["单位 Unit", *(f"{kpi.FIGURE_NAMES[k][0]} {kpi.FIGURE_NAMES[k][1]}"
                           for k in kpi.FIGURES)]
    return [head, *([names.get(u.unit, u.unit) or "全部 All",
                     *(u.figures[k].value for k in kpi.FIGURES)] for u in units)]


def _export(rows: list[list[Any]], name: str, fmt: str) -> Response:
    if fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return Response(out.getvalue(), mimetype=XLSX,
                        headers={"Content-Disposition": f"attachment; filename={name}.xlsx"})
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    # A byte-order mark so spreadsheet programs read the Chinese headings as UTF-8.
    return Response("\ufeff" + text.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}.csv"})


@bp.get("/kpi.<fmt>")
def kpi_export(fmt: str) -> Any:
    _allowed()
    if fmt not in ("csv", "xlsx"):
        abort(404)
    period = _strict_period()
    with get_docroute().session() as s:
        units = kpi.report(s, current_actor(), period)
    return _export(_kpi_rows(units, _unit_names()), f"kpi_{period.start}_{period.end}", fmt)


def _annual_rows(report: kpi.AnnualReport) -> list[list[Any]]:
    columns = [*kpi.APPLICANT_TYPES, "total"]
    return [["", *(kpi.APPLICANT_NAMES[c][0] for c in columns)],
            *([kpi.ANNUAL_ROW_NAMES[r][0], *(report.rows[r][c] for c in columns)]
              for r in kpi.ANNUAL_ROWS)]


def _year() -> int:
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    raw = request.args.get("year") or str((today - timedelta(days=90)).year)
    if not raw.isdigit():
        abort(400, "year must be a number like 2026")
    return int(raw)


@bp.get("/disclosure")
def annual() -> Any:
    _allowed()
    year = _year()
    with get_docroute().session() as s:
        report = kpi.annual_report(s, current_actor(), year)
    return render_template("reports/annual.html", report=report, year=year,
                           rows=kpi.ANNUAL_ROWS, row_names=kpi.ANNUAL_ROW_NAMES,
                           columns=[*kpi.APPLICANT_TYPES, "total"],
                           column_names=kpi.APPLICANT_NAMES)


@bp.get("/disclosure.<fmt>")
def annual_export(fmt: str) -> Any:
    _allowed()
    if fmt not in ("csv", "xlsx"):
        abort(404)
    year = _year()
    with get_docroute().session() as s:
        report = kpi.annual_report(s, current_actor(), year)
    return _export(_annual_rows(report), f"disclosure_annual_report_{year}", fmt)
