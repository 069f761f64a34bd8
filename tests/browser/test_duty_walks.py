"""The meeting, 主动公开 and 政务信息 processes from start to end in a real Chromium.

Each case is started from the start page and every task is worked on its task page by
the person whose inbox holds it (looked up as their inbox would list it), filling the
form as a person would: a valid answer for every field the form offers, the first
choice where there is one (the same answers the API walk gives, so the case goes
forward). One app and one server serve the whole module (SQLite, shipped workflows,
demo organisation); no JavaScript error is allowed. Screenshots of each finished case
go to test-artifacts/staff/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import test_staff_journey as journey
from sqlalchemy import select
from test_api_every_process import data_for, value_for
from test_staff_journey import CHROMIUM, Site, Staff
from werkzeug.serving import make_server

from engine import clock, definitions, demo, runtime
from engine.definitions import forms
from engine.models import Event, Instance, Task
from engine.org import identity
from engine.queries import inbox

browser, seeded_sqlite = journey.browser, journey.seeded_sqlite
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]
USERS = [u[0] for u in demo.USERS]
MAX_STEPS = 40


@pytest.fixture(scope="module")
def site(seeded_sqlite: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server for the module: each walk starts its own case on it."""
    from test_webui_staff import shipped_docroute

    from webui import create_app

    folder = tmp_path_factory.mktemp("walks")
    docroute = shipped_docroute(f"sqlite:///{folder / 'docroute.sqlite3'}", folder / "home",
                                seeded_sqlite)
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "test"},
                     docroute=docroute)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.server_port}", docroute)
    server.shutdown()
    docroute.engine.dispose()


def _next_task(site: Site, case_id: int) -> tuple[str, str, dict[str, Any]] | None:
    """(user, task id, the task's form) of an open task of the case, for the first demo
    user whose inbox lists it."""
    with site.docroute.session() as s:
        for username in USERS:
            actor = identity.Actor.of(identity.get_user(s, username))
            for row in inbox.list_tasks(s, actor, inbox.InboxFilter(scope="all", limit=500)):
                if row.instance_id == case_id:
                    instance = s.get_one(Instance, case_id)
                    task = s.get_one(Task, row.id)
                    return username, row.id, runtime.task_form(s, instance, task)
    return None


def _set(page: Any, name: str, field: dict[str, Any], value: Any) -> None:
    """Give one field of the task form a value through its widget."""
    if field.get("type") == "array":
        boxes = page.locator(f"input[type=checkbox][name='{name}']")
        for i in range(boxes.count()):
            box = boxes.nth(i)
            box.set_checked(box.get_attribute("value") in value)
    elif field.get("type") == "boolean":
        page.set_checked(f"#f_{name}", bool(value))
    elif field.get("enum") and (field.get("x-widget") == "radio" or len(field["enum"]) <= 3):
        page.check(f"input[type=radio][name='{name}'][value='{value}']")
    elif field.get("enum"):
        page.select_option(f"#f_{name}", str(value))
    elif field.get("format") == "date-time":
        moment = datetime.fromisoformat(str(value)).astimezone(clock.OFFICE_TZ)
        page.fill(f"#f_{name}", moment.strftime("%Y-%m-%dT%H:%M"))
    else:
        page.fill(f"#f_{name}", str(value))


def _work(staff: Staff, task_id: str, form: dict[str, Any]) -> str:
    """Open the task page, fill every field the form offers, submit; the task's name."""
    staff.go(f"/tasks/{task_id}")
    staff.page.wait_for_selector("form.taskform")
    name = staff.page.inner_text("h1")
    for field_name, field in (form.get("properties") or {}).items():
        # A field the page does not show is answered by the buttons (complete / send
        # back stand for the decision).
        shown = staff.page.locator(f"[data-field='{field_name}']").count()
        if shown and not field.get("readOnly"):
            _set(staff.page, field_name, field, value_for(field))
    staff.submit()
    assert "flash error" not in staff.page.content(), (name, staff.page.inner_text("main"))
    return name


def _walk(browser: Any, site: Site, key: str, starter: str, lang: str) -> tuple[int, list[str]]:
    """Start a case of ``key`` as ``starter`` and work it to its end; its id and the
    (user, step) of every task done."""
    people: dict[str, Staff] = {starter: Staff(browser, site, lang).login(starter)}
    first = people[starter]
    first.go("/start/")
    first.page.click(f"form[action='/start/{key}'] button[type=submit]")
    first.page.wait_for_load_state("load")
    with site.docroute.session() as s:
        case_id = s.scalars(select(Instance.id).where(Instance.started_by == starter)
                            .order_by(Instance.id.desc())).first()
    assert case_id is not None
    done: list[str] = []
    try:
        for _ in range(MAX_STEPS):
            found = _next_task(site, case_id)
            if found is None:
                break
            user, task_id, form = found
            if user not in people:
                people[user] = Staff(browser, site, lang).login(user)
            done.append(f"{user}: {_work(people[user], task_id, form)}")
        with site.docroute.session() as s:
            status = s.get_one(Instance, case_id).status
            left = list(s.scalars(select(Task.name).where(Task.instance_id == case_id)))
        assert status == "completed", (status, left, done)
        first.go(f"/cases/{case_id}")
        first.shot(f"walk-{key}")
    finally:
        for staff in people.values():
            staff.close()
    assert site.errors == []
    return case_id, done


def _users_of(done: list[str]) -> set[str]:
    return {line.split(":")[0] for line in done}


def test_meeting_through_the_browser(browser: Any, site: Site) -> None:
    case_id, done = _walk(browser, site, "meeting", "zhangli", "zh")
    steps = " ".join(done)
    for step in ("会议筹备", "报送议题", "审核议题", "审定议程", "发会议通知", "会议回执",
                 "召开会议", "起草纪要", "审核纪要", "签发纪要", "登记决定事项"):
        assert step in steps, (step, done)
    # The director checks the topics and the minutes; the principal leader approves the
    # agenda and signs the minutes; the follow-up officer registers the decisions.
    assert {"linhai", "chenming", "huangmin"} <= _users_of(done)
    with site.docroute.session() as s:  # 纪要编号登记: the number register's next 会纪 number
        payloads = s.scalars(select(Event.payload).where(Event.instance_id == case_id))
        assert any("深鹏会纪〔" in p for p in payloads)
    page = Staff(browser, site, "zh").login("huangmin")
    page.go(f"/cases/{case_id}")
    assert "决定事项督办件" in page.page.inner_text("main")  # the decision's 督办 case
    page.close()


def test_proactive_disclosure_through_the_browser(browser: Any, site: Site) -> None:
    _, done = _walk(browser, site, "proactive_disclosure", "guoyan", "en")
    # Registered and published by the disclosure officer, reviewed by the confidentiality
    # officer, approved by the office director: each step by its holder.
    assert [line.split(":")[0] for line in done] == ["guoyan", "jiangli", "linhai",
                                                     "guoyan"], done


def test_government_information_through_the_browser(browser: Any, site: Site) -> None:
    _, done = _walk(browser, site, "government_information", "xuwen", "zh")
    steps = " ".join(done)
    for step in ("采编", "审核", "签发", "报送", "登记采用和批示"):
        assert step in steps, (step, done)
    assert {"wujing", "linhai"} <= _users_of(done), done


@pytest.fixture(scope="module")
def demo_cases(site: Site) -> Site:
    """The demo's documents and cases (the organisation is already there), and a request
    for disclosure for the annual table."""
    from engine.wiring import demo_seeders

    for seeder in demo_seeders():
        seeder(site.docroute)
    with site.docroute.session() as s:
        form = runtime.start_form_key(s, definitions.latest(s, "disclosure_request"))
        schema = forms.resolve(s, forms.get(s, form, None).schema) if form else {}
        runtime.start_case(s, identity.Actor.of(identity.get_user(s, "guoyan")),
                           "disclosure_request",
                           {**data_for(schema), "applicant_type": "business"})
    return site


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_pages_show_the_figures(browser: Any, demo_cases: Site, lang: str) -> None:
    """The KPI page and the annual report over the demo's cases, in both languages: the
    numbers on the page are the engine's."""
    from engine.queries import kpi

    site = demo_cases
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    with site.docroute.session() as s:
        figures = kpi.report(s, identity.SYSTEM, kpi.Period(date(2020, 1, 1), today))[0].figures
        annual = kpi.annual_report(s, identity.SYSTEM, today.year)
    leader = Staff(browser, site, lang).login("linhai")
    leader.go(f"/reports/?from=2020-01-01&to={today.isoformat()}")
    leader.page.wait_for_function(  # the chart is drawn
        "() => { const c = document.getElementById('kpi-chart');"
        " return c && c.getContext('2d').getImageData(0, 0, c.width, c.height)"
        ".data.some(v => v !== 0); }")
    total = leader.page.locator("table.kpi tr.total td")
    assert total.nth(0).inner_text() == str(figures["received"].count)
    assert total.nth(1).inner_text() == str(figures["closed"].count)
    assert total.nth(4).inner_text() == str(figures["overdue"].count)
    head = leader.page.inner_text("table.kpi thead")
    assert ("办结率" if lang == "zh" else "Closure rate") in head
    assert ("全部单位" if lang == "zh" else "All units") in leader.page.inner_text("table.kpi")
    leader.shot("report-kpi")
    leader.go(f"/reports/disclosure?year={today.year}")
    row = leader.page.locator("table.annual tbody tr").first
    assert row.locator("td").last.inner_text() == str(annual.rows["new"]["total"])
    assert annual.rows["new"]["total"] > 0
    leader.shot("report-annual")
    leader.close()
    assert site.errors == []
