"""KPI figures and the disclosure annual report, checked against a recount from the API.

Cases are run through the API alone; the test then recounts each figure from what the
API shows of every case (status, history events) and compares it with engine.queries.kpi's
answer, unit by unit, and checks the drill-down, the exports and who may read them.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import test_api_every_process as walk
from flask.testing import FlaskClient
from test_api_duties import _work
from test_api_every_process import _call, data_for

from engine import Docroute, clock

shipped, client, tokens = walk.shipped, walk.client, walk.tokens
TODAY = "2026-03-02"


def _start(client: FlaskClient, token: str, key: str, **data: Any) -> int:
    forms = {d["key"]: d["start_form"] for d in
             _call(client, token, "GET", "/definitions").get_json()}
    body = {**(data_for(forms[key]) if forms[key] else {}), **data}
    response = _call(client, token, "POST", f"/definitions/{key}/instances", {"data": body})
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


@pytest.fixture
def cases(client: FlaskClient, tokens: dict[str, str], shipped: Docroute,
          manual_clock: clock.ManualClock) -> list[int]:
    """A small office: finished and open cases of several processes and units."""
    ids = []
    for unit in ("economic_services", "eco_enforcement"):
        ids.append(_start(client, tokens["zhangli"], "item_approval",
                          applicant_department=unit, request_kind="overseas_trip"))
        _work(client, tokens, ids[-1], answers={})
    ids.append(_start(client, tokens["zhangli"], "item_approval",
                      applicant_department="dev_finance", request_kind="other"))
    # A follow-up with a deadline that passes while it is open: overdue.
    ids.append(_start(client, tokens["huangmin"], "supervision", deadline="2026-03-04",
                      lead_department="emergency_management"))
    _work(client, tokens, ids[-1], answers={}, last="supervision_assign")
    for applicant, code, finish in (("natural_person", "disclosed", True),
                                    ("business", "partly_disclosed", True),
                                    ("natural_person", "", False)):
        ids.append(_start(client, tokens["guoyan"], "disclosure_request",
                          applicant_type=applicant))
        if finish:
            _work(client, tokens, ids[-1], answers={
                "disclosure_check": {"completeness": "complete"},
                "disclosure_search": {"action": "submit", "third_party": False},
                "disclosure_answer": {"result_code": code}})
    manual_clock.advance(timedelta(days=5))
    return ids


def _recount(client: FlaskClient, token: str, ids: list[int]) -> dict[str, dict[str, Any]]:
    """Figures per unit ("" = all), recounted from the API's view of each case."""
    today = date.fromisoformat(TODAY) + timedelta(days=5)
    units: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    for case_id in ids:
        case = _call(client, token, "GET", f"/instances/{case_id}").get_json()
        events = _call(client, token, "GET", f"/instances/{case_id}/history").get_json()
        data: dict[str, Any] = {}
        for event in events:
            submitted = event["type"] == "completed" and "spec" in event["data"]
            if event["type"] == "started" or submitted:
                data.update(event["data"]["data"])
        unit = next((data[f] for f in ("lead_department", "holding_department",
                                       "applicant_department") if data.get(f)), "unassigned")
        ended = next((datetime.fromisoformat(e["at"]) for e in events
                      if e["type"] == "completed" and "spec" not in e["data"]), None)
        ended_on = ended.astimezone(clock.OFFICE_TZ).date() if ended else None
        deadline = date.fromisoformat(data["deadline"]) if data.get("deadline") else None
        for key in ("", unit):
            figures = units[key]
            figures["received"].append(case_id)
            if case["status"] == "completed":
                figures["closed"].append(case_id)
            if deadline and (ended_on or today) > deadline:
                figures["overdue"].append(case_id)
    return units


def test_kpi_figures_match_a_recount_from_the_cases(
        client: FlaskClient, tokens: dict[str, str], cases: list[int]) -> None:
    token = tokens["linhai"]
    body = _call(client, token, "GET", f"/reports/kpi?from={TODAY}&to={TODAY}").get_json()
    recount = _recount(client, tokens["admin"], cases)
    reported = {u["unit"]: u for u in body["units"]}
    assert set(reported) == set(recount)
    for unit, figures in recount.items():
        got = reported[unit]["figures"]
        assert got["received"]["value"] == len(figures["received"]), unit
        assert got["closed"]["value"] == len(figures["closed"]), unit
        assert got["overdue"]["value"] == len(figures["overdue"]), unit
        assert got["closure_rate"]["value"] == round(
            len(figures["closed"]) / len(figures["received"]), 4), unit
    everything = reported[""]["figures"]
    assert everything["received"]["value"] == len(cases) == 7
    assert everything["overdue"]["value"] == 1
    assert everything["disclosure_answer_rate"] == {"value": round(2 / 3, 4), "count": 2,
                                                    "denominator": 3}
    assert reported[""]["result_codes"] == {"disclosed": 1, "partly_disclosed": 1}
    steps = {(s["process"], s["step"]): s for s in reported[""]["steps"]}
    assert steps[("事项审批", "审批")]["count"] == 2
    # Drill-down from a figure to its cases.
    closed = _call(client, token, "GET",
                   f"/reports/kpi/cases?figure=closed&from={TODAY}&to={TODAY}").get_json()
    assert sorted(closed) == sorted(recount[""]["closed"])
    overdue = _call(client, token, "GET", "/reports/kpi/cases?figure=overdue&unit="
                    f"emergency_management&from={TODAY}&to={TODAY}").get_json()
    assert overdue == recount["emergency_management"]["overdue"]
    # Everything was done on the same day: no step took a working day.
    assert {s["average_workdays"] for s in reported[""]["steps"]} == {0}
    # A step taken since is in the next report (no stale figures).
    _work(client, tokens, cases[2], answers={})
    after = _call(client, token, "GET", f"/reports/kpi?from={TODAY}&to={TODAY}").get_json()
    assert after["units"][0]["figures"]["closed"]["count"] == everything["closed"]["count"] + 1
    _exports_and_rules(client, tokens)


def _exports_and_rules(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = _call(client, tokens["linhai"], "GET",
                     f"/reports/kpi.csv?from={TODAY}&to={TODAY}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][1].startswith("收件数") and rows[1][:2] == ["all", "7"]
    bad = _call(client, tokens["linhai"], "GET", "/reports/kpi?from=2026-03-09&to=2026-03-02")
    assert bad.status_code == 422 and "to" in bad.get_json()["errors"]
    worse = _call(client, tokens["linhai"], "GET", "/reports/kpi?from=yesterday&to=")
    assert worse.status_code == 422
    figure = _call(client, tokens["linhai"], "GET",
                   f"/reports/kpi/cases?figure=nope&from={TODAY}&to={TODAY}")
    assert figure.status_code == 422
    for path in (f"/reports/kpi?from={TODAY}&to={TODAY}", "/reports/disclosure/2026"):
        assert _call(client, tokens["zhaolei"], "GET", path).status_code == 403


def test_disclosure_annual_report(client: FlaskClient, tokens: dict[str, str],
                                  cases: list[int]) -> None:
    body = _call(client, tokens["guoyan"], "GET", "/reports/disclosure/2026").get_json()
    rows = {r["key"]: r["counts"] for r in body["rows"]}
    assert rows["new"] == {"natural_person": 2, "business": 1, "research": 0,
                           "public_welfare": 0, "legal_service": 0, "other": 0, "total": 3}
    assert (rows["disclosed"]["natural_person"], rows["partly_disclosed"]["business"]) == (1, 1)
    assert rows["results_total"]["total"] == 2
    assert rows["carried_forward"] == {**dict.fromkeys(rows["new"], 0),
                                       "natural_person": 1, "total": 1}
    assert rows["carried_over"]["total"] == 0
    # The next year: the open request is carried over; nothing new.
    following = _call(client, tokens["guoyan"], "GET", "/reports/disclosure/2027").get_json()
    counts = {r["key"]: r["counts"]["total"] for r in following["rows"]}
    assert (counts["new"], counts["carried_over"], counts["carried_forward"]) == (0, 1, 1)
    exported = _call(client, tokens["guoyan"], "GET", "/reports/disclosure/2026.csv")
    table = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert table[1][0].startswith("一、本年新收") and table[1][-1] == "3"
    assert _call(client, tokens["guoyan"], "GET", "/reports/disclosure/1900").status_code == 422
