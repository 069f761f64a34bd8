"""The report pages and linked cases in the web UI: KPI table and chart data, drill-down,
CSV/XLSX exports, the annual report, a meeting's follow-ups and 批示 -> 督办 in one click."""

from __future__ import annotations

import io
import re

import test_api_every_process as walk
from flask.testing import FlaskClient
from openpyxl import load_workbook
from test_api_duties import INSTRUCTION, _work
from test_kpi import _start
from test_webui_staff import _compiled_catalog, login, make_app  # noqa: F401  (autouse: zh catalog)

from engine import Docroute

shipped, client, tokens = walk.shipped, walk.client, walk.tokens
PERIOD = "from=2026-03-02&to=2026-03-02"


def test_report_pages_and_exports(client: FlaskClient, tokens: dict[str, str],
                                  shipped: Docroute) -> None:
    meeting = _start(client, tokens["zhangli"], "meeting")
    _work(client, tokens, meeting, answers={})
    app = make_app(shipped)
    leader = login(app, "linhai")
    page = leader.get(f"/reports/?{PERIOD}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-chart="kpi-chart-data"' in html and "vendor/docroute-charts.js" in html
    assert "全部单位" in html and "办结率" in html
    drill = re.search(r'href="(/reports/cases\?[^"]*figure=closed[^"]*)"', html)
    assert drill is not None
    cases = leader.get(drill.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert f"#{meeting}" in cases
    book = load_workbook(io.BytesIO(leader.get(f"/reports/kpi.xlsx?{PERIOD}").data))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][0] == "单位 Unit" and rows[1][:3] == ("全部 All", 2, 1)
    annual = leader.get("/reports/disclosure?year=2026").get_data(as_text=True)
    assert "一、本年新收政府信息公开申请数量" in annual
    table = load_workbook(io.BytesIO(leader.get("/reports/disclosure.xlsx?year=2026").data))
    assert list(table.active.iter_rows(values_only=True))[1][0].startswith("一、")
    assert leader.get("/reports/kpi.csv?from=x&to=y").status_code == 422
    handler = login(app, "zhaolei")
    assert handler.get("/reports/").status_code == 403
    assert "/reports/" not in handler.get("/").get_data(as_text=True)
    assert 'href="/reports/"' in leader.get("/").get_data(as_text=True)


def test_linked_cases_on_the_case_page_and_one_click_follow_up(
        client: FlaskClient, tokens: dict[str, str], shipped: Docroute) -> None:
    meeting = _start(client, tokens["zhangli"], "meeting")
    _work(client, tokens, meeting, answers={})
    follow_up = walk._call(client, tokens["admin"], "GET",
                           f"/instances/{meeting}/links").get_json()[0]["id"]
    app = make_app(shipped)
    officer = login(app, "huangmin")
    page = officer.get(f"/cases/{meeting}").get_data(as_text=True)
    assert "关联件" in page and f"#{follow_up}" in page and "决定事项督办件" in page
    incoming = _start(client, tokens["zhangli"], "incoming_document")
    done = _work(client, tokens, incoming, answers={"incoming_instruct": INSTRUCTION},
                 last="incoming_instruct")
    # The leader who gave the instruction opens it as a follow-up from the case page.
    leader = login(app, next(user for user, key in done if key == "incoming_instruct"))
    found = leader.get(f"/cases/{incoming}", follow_redirects=True).get_data(as_text=True)
    assert "批示转督办" in found
    assert "批示转督办" not in login(app, "zhaolei").get(
        f"/cases/{incoming}", follow_redirects=True).get_data(as_text=True)
    opened = leader.post(f"/cases/{incoming}/supervision")
    assert opened.status_code == 302
    new_case = int(opened.headers["Location"].rstrip("/").split("/")[-1])
    shown = leader.get(f"/cases/{new_case}").get_data(as_text=True)
    assert "督办的批示" in shown and "批示已转为督办件" in shown
    again = leader.get(f"/cases/{incoming}", follow_redirects=True).get_data(as_text=True)
    assert "批示转督办" not in again and f"#{new_case}" in again
