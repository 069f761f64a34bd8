"""What a clerk sees, in a real Chromium, in Chinese and English (issue 15).

Covers the 发文稿纸 and the 收文处理单 (items 1-2), send-back notes and superseded
opinions (3), names instead of keys (5), dates with their year and one status glossary
(6), search by document number (8), no action a person cannot take (9), the diagram's
zoom buttons and current step (10) and the 已办 list. The Chinese sheets are saved to
docs/images/ for the staff guide.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_opinions import (
    FIRST,
    INCOMING,
    INSTRUCTION,
    OUTGOING,
    REASON,
    SECOND,
    _send_back_once,
    _start,
    _users,
    drive,
)
from test_staff_journey import CHROMIUM, ROOT, Site, Staff, browser, seeded_sqlite, site

__all__ = ["browser", "seeded_sqlite", "site"]  # fixtures used by name below

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]
IMAGES = ROOT / "docs" / "images"
HANDLED = "已完成辖区危化品企业汛期检查，整改隐患3处。"
REPLY = "检查情况已书面报市应急管理局。"
OTHER = {**INCOMING, "title": "深圳市森林防火指挥部关于加强冬春季森林防火工作的通知",
         "source_org": "深圳市森林防火指挥部", "source_number": "深森防〔2026〕7号"}
TEXT = {
    "zh": {"outgoing": "发文稿纸", "incoming": "收文处理单", "recipients": "主送",
           "cc": "抄送", "drafted": "拟稿", "reviewed": "核稿", "signed": "签发",
           "handling": "承办结果", "reply": "答复", "send_back": "退回意见",
           "office": "综合办公室", "done": "已办", "check": "初审", "closed": "已办结",
           "year": "2026年"},
    "en": {"outgoing": "Outgoing document draft sheet",
           "incoming": "Incoming document processing sheet",
           "recipients": "Principal recipients", "cc": "Copied to", "drafted": "Drafted by",
           "reviewed": "Reviewed by", "signed": "Signed off", "handling": "Handling result",
           "reply": "Reply to the sender", "send_back": "Send-back notes",
           "office": "General Office", "done": "Done by me", "check": "Initial check",
           "closed": "Closed", "year": ", 2026"},
}


@pytest.fixture
def cases(site: Site) -> Iterator[dict[str, int]]:
    """An incoming case sent back once and run to its end, an outgoing one waiting for
    typesetting, and an incoming one waiting for 拟办."""
    app = site.docroute
    users = _users(app)
    incoming, case_id = _send_back_once(app, users)
    drive(app, case_id, users, overrides={"handling_result": HANDLED, "reply_content": REPLY,
                                          "handling_mode": "act"})
    outgoing, out_case = _start(app, users["guoyan"], "outgoing",
                                {**OUTGOING, "drafter": "郭燕"}, "outgoing_document")
    drive(app, out_case, users, stop_at=("typeset",), overrides={
        "review_opinion": "文种恰当，格式规范。", "signoff_opinion": "同意印发。"})
    waiting, waiting_case = _start(app, users["zhangli"], "incoming", OTHER,
                                   "incoming_document")
    assert drive(app, waiting_case, users, stop_at=("propose",)) == "propose"
    yield {"incoming": incoming, "outgoing": outgoing, "waiting": waiting}


def _text(staff: Staff, selector: str = "main") -> str:
    return staff.page.inner_text(selector)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_sheets(browser: Any, site: Site, cases: dict[str, int], lang: str) -> None:
    words = TEXT[lang]
    staff = Staff(browser, site, lang, width=1000).login("zhangli")
    staff.go(f"/documents/{cases['outgoing']}/sheet")
    sheet = _text(staff, "article.sheet")
    for word in (words["outgoing"], words["recipients"], words["cc"], words["drafted"],
                 words["reviewed"], words["signed"], "深圳市交通运输局", "郭燕", "吴静",
                 "同意印发。", "深鹏办函〔2026〕1号"):
        assert word in sheet, word
    assert words["incoming"] not in sheet
    if lang == "zh":
        IMAGES.mkdir(parents=True, exist_ok=True)
        staff.page.screenshot(path=str(IMAGES / "sheet-outgoing.png"), full_page=True)
    staff.go(f"/documents/{cases['incoming']}/sheet")
    sheet = _text(staff, "article.sheet")
    for word in (words["incoming"], words["handling"], words["reply"], HANDLED, REPLY,
                 SECOND, INSTRUCTION, words["year"]):
        assert word in sheet, word
    send_back = _text(staff, "tr.send-back-row")
    assert words["send_back"] in send_back and REASON in send_back
    opinions = " ".join(staff.page.locator("tr.opinion-row").all_inner_texts())
    assert REASON not in opinions and FIRST not in sheet
    if lang == "zh":
        staff.page.screenshot(path=str(IMAGES / "sheet-incoming.png"), full_page=True)
    # The timeline marks the send-back and the superseded 拟办 instead of hiding them.
    staff.go(f"/documents/{cases['incoming']}")
    assert staff.page.locator(".ev.send-back .tag.send-back").count() == 1
    assert staff.page.locator(".ev.superseded .tag.superseded").count() == 1
    assert words["year"] in _text(staff, "ol.timeline")
    staff.close()
    assert site.errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_search_actions_names_and_done(browser: Any, site: Site, cases: dict[str, int],
                                       lang: str) -> None:
    words = TEXT[lang]
    clerk = Staff(browser, site, lang).login("zhangli")
    for query in ("深应急[2026]88号", "深应急〔2026〕88号", "深应急"):
        clerk.go("/documents")
        clerk.page.fill("#q", query)
        clerk.page.press("#q", "Enter")
        clerk.page.wait_for_load_state("load")
        listed = _text(clerk)
        assert INCOMING["title"] in listed and OTHER["title"] not in listed, query
    assert clerk.page.locator("a[href='/documents/new/incoming']").count() >= 1
    clerk.go("/done")
    done = _text(clerk)
    assert words["done"] in done and words["check"] in done and OTHER["title"] in done
    clerk.close()

    leader = Staff(browser, site, lang).login("linhai")
    leader.page.fill("#q", "深森防[2026]7号")
    leader.page.press("#q", "Enter")
    leader.page.wait_for_load_state("load")
    assert OTHER["title"] in _text(leader, "ul.tasklist")
    leader.close()

    auditor = Staff(browser, site, lang).login("auditor")
    for path in ("/", "/documents"):
        auditor.go(path)
        assert auditor.page.locator("a[href^='/documents/new/']").count() == 0, path
    auditor.go("/audit/")
    listing = _text(auditor)
    assert words["office"] in listing and "general_office" not in listing
    auditor.close()

    admin = Staff(browser, site, lang).login("admin")
    admin.go("/admin/users")
    users = _text(admin, "table")
    assert "records_clerks" not in users and "general_office" not in users
    admin.go("/admin/cases")
    assert words["closed"] in _text(admin)
    admin.close()
    assert site.errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_diagram_fits_zooms_and_centres_the_current_step(browser: Any, site: Site,
                                                         cases: dict[str, int],
                                                         lang: str) -> None:
    staff = Staff(browser, site, lang).login("linhai")
    staff.go(f"/documents/{cases['waiting']}")
    page = staff.page
    page.wait_for_selector(".diagram.ready .dr-zoom")
    box = page.locator(".diagram").bounding_box()
    active = page.locator(".diagram .djs-element.dr-active").first.bounding_box()
    assert box and active
    centre = (active["x"] + active["width"] / 2, active["y"] + active["height"] / 2)
    assert box["x"] < centre[0] < box["x"] + box["width"]
    assert box["y"] < centre[1] < box["y"] + box["height"]
    assert abs(centre[0] - (box["x"] + box["width"] / 2)) < box["width"] / 4

    def viewbox() -> str:
        return str(page.evaluate("document.querySelector('.diagram .viewport')"
                                 ".getAttribute('transform')"))

    before = viewbox()
    page.mouse.move(centre[0], centre[1])
    page.mouse.wheel(0, 600)
    page.wait_for_timeout(200)
    assert viewbox() == before  # a plain wheel leaves the diagram where it is
    title = page.locator(".dr-zoom-in").get_attribute("title")
    assert title == ("放大" if lang == "zh" else "Zoom in")
    page.click(".dr-zoom-in")
    page.wait_for_timeout(200)
    assert viewbox() != before
    page.click(".dr-zoom-fit")
    page.wait_for_timeout(200)
    assert viewbox() == before
    staff.close()
    assert site.errors == []



@pytest.mark.parametrize("lang", ["zh", "en"])
def test_modeler_speaks_the_pages_language_and_saves_nothing_unchanged(
        browser: Any, site: Site, lang: str) -> None:
    from sqlalchemy import func, select

    from engine.models import Definition

    with site.docroute.session() as s:
        v1 = s.scalar(select(Definition.id).where(Definition.key == "incoming_document"))
    admin = Staff(browser, site, lang).login("admin")
    admin.go(f"/admin/processes/{v1}/edit")
    page = admin.page
    page.wait_for_selector("#modeler[data-ready=true]")
    titles = [t for t in page.locator(".djs-palette .entry").evaluate_all(
        "els => els.map(e => e.getAttribute('title') || '')") if t]
    assert titles, "palette entries have tooltips"
    if lang == "zh":
        assert "新建开始事件" in titles and "新建任务" in titles
    else:
        assert "Create start event" in titles or "Create StartEvent" in titles
    page.click("#save-diagram")
    page.wait_for_selector("#save-status.success")
    with site.docroute.session() as s:
        count = s.scalar(select(func.count()).select_from(Definition)
                         .where(Definition.key == "incoming_document"))
    assert count == 1  # the untouched diagram was not deployed again
    admin.close()
    assert site.errors == []
