"""Report calls of the JSON API: KPI figures per unit and period, their cases, CSV exports,
and the 政府信息公开年度报告 table. Registered on ``webui.api.bp``; every figure comes from
``engine.queries.kpi`` (who may read reports is its rule too)."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, jsonify, request

from engine.queries import kpi
from engine.queries.kpi import AnnualReport, UnitReport

from . import get_docroute
from .api_base import api_actor, bp


def _period() -> kpi.Period:
    return kpi.Period.parse(request.args.get("from", ""), request.args.get("to", ""))


def unit_json(report: UnitReport) -> dict[str, Any]:
    return {"unit": report.unit,
            "figures": {key: {"value": f.value, "count": f.count,
                              "denominator": f.denominator}
                        for key, f in report.figures.items()},
            "steps": [{"process": process, "step": step, "average_workdays": days,
                       "count": n} for (process, step), (days, n) in report.steps.items()],
            "result_codes": report.result_codes}


@bp.get("/reports/kpi")
def kpi_report() -> Any:
    actor, period = api_actor(), _period()
    with get_docroute().session() as s:
        units = kpi.report(s, actor, period, request.args.get("unit", ""))
        return jsonify({"from": period.start.isoformat(), "to": period.end.isoformat(),
                        "units": [unit_json(u) for u in units]})


@bp.get("/reports/kpi/cases")
def kpi_cases() -> Any:
    actor, period = api_actor(), _period()
    with get_docroute().session() as s:
        return jsonify(kpi.drill_down(s, actor, period, request.args.get("figure", ""),
                                      request.args.get("unit", "")))


def _csv(rows: list[list[Any]], name: str) -> Response:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    # A byte-order mark so spreadsheet programs read the Chinese headings as UTF-8.
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.get("/reports/kpi.csv")
def kpi_csv() -> Any:
    actor, period = api_actor(), _period()
    with get_docroute().session() as s:
        units = kpi.report(s, actor, period, request.args.get("unit", ""))
    head = ["unit", *(f"{kpi.FIGURE_NAMES[k][0]} {k}" for k in kpi.FIGURES)]
    rows = [[u.unit or "all", *(u.figures[k].value for k in kpi.FIGURES)] for u in units]
    return _csv([head, *rows], f"kpi_{period.start}_{period.end}.csv")


def annual_json(report: AnnualReport) -> dict[str, Any]:
    return {"year": report.year,
            "rows": [{"key": row, "name": kpi.ANNUAL_ROW_NAMES[row][0],
                      "name_en": kpi.ANNUAL_ROW_NAMES[row][1], "counts": report.rows[row]}
                     for row in kpi.ANNUAL_ROWS]}


@bp.get("/reports/disclosure/<int:year>")
def disclosure_report(year: int) -> Any:
    with get_docroute().session() as s:
        return jsonify(annual_json(kpi.annual_report(s, api_actor(), year)))


@bp.get("/reports/disclosure/<int:year>.csv")
def disclosure_report_csv(year: int) -> Any:
    with get_docroute().session() as s:
        report = kpi.annual_report(s, api_actor(), year)
    columns = [*kpi.APPLICANT_TYPES, "total"]
    head = ["", *(kpi.APPLICANT_NAMES[c][0] for c in columns)]
    rows = [[kpi.ANNUAL_ROW_NAMES[r][0], *(report.rows[r][c] for c in columns)]
            for r in kpi.ANNUAL_ROWS]
    return _csv([head, *rows], f"disclosure_annual_report_{year}.csv")
