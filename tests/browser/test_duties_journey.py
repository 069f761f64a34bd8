"""A request for a decision (事项审批) from start to end in a real Chromium, then the report
page with its chart drawn. Same harness as test_staff_journey (app in a thread, shipped
workflows, demo organisation, SQLite and PostgreSQL; no JavaScript error allowed)."""

from __future__ import annotations

from typing import Any

import pytest
import test_staff_journey as journey
from sqlalchemy import select
from test_staff_journey import CHROMIUM, Site, Staff

from engine.models import Instance, Task

# The staff journey's fixtures: one Chromium, the app serving the shipped workflows.
browser, seeded_sqlite, site = journey.browser, journey.seeded_sqlite, journey.site
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]


def _task(site: Site, case_id: int) -> str:
    with site.docroute.session() as s:
        return str(s.scalars(select(Task.id).where(Task.instance_id == case_id)).one())


def _decide(staff: Staff, site: Site, case_id: int) -> None:
    staff.go(f"/tasks/{_task(site, case_id)}")
    staff.page.check("[name=decision][value=approve]")
    staff.submit()
    assert "flash error" not in staff.page.content()


def test_a_request_for_a_decision_through_the_browser(browser: Any, site: Site) -> None:
    applicant = Staff(browser, site, "zh").login("zhaolei")
    applicant.go("/")
    applicant.page.click("nav.mainnav a:has-text('发起事项')")
    applicant.page.click("li.taskrow:has-text('事项审批') button[type=submit]")
    applicant.page.wait_for_selector("form.taskform")  # the first task: 填写申请
    assert "已发起" in applicant.flash()
    applicant.page.select_option("[name=request_kind]", "other")
    applicant.page.fill("[name=title]", "大鹏所城文化节活动方案")
    applicant.page.select_option("[name=applicant_department]", "urban_management")
    applicant.page.fill("[name=content]", "拟于国庆期间举办文化节。")
    applicant.submit()
    with site.docroute.session() as s:
        case_id = s.scalars(select(Instance.id).order_by(Instance.id.desc())).first()
    assert case_id is not None
    leader = Staff(browser, site, "zh").login("linhai")
    _decide(leader, site, case_id)  # 审核 (office director)
    _decide(leader, site, case_id)  # 审批 (supervising leader)
    applicant.go(f"/tasks/{_task(site, case_id)}")
    applicant.page.fill("[name=result_note]", "活动方案已落实。")
    applicant.submit()
    with site.docroute.session() as s:
        assert s.get(Instance, case_id).status == "completed"
    leader.go("/reports/?from=2020-01-01&to=2100-12-31")
    leader.page.wait_for_function(
        "() => { const c = document.getElementById('kpi-chart');"
        " return c && c.getContext('2d').getImageData(0, 0, c.width, c.height)"
        ".data.some(v => v !== 0); }")
    assert "办结率" in leader.page.inner_text("main")
    leader.shot("duties-report")
    assert site.errors == []
    applicant.close()
    leader.close()
