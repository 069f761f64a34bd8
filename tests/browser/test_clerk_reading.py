"""What a clerk sees, part two (issue 15), in a real Chromium, in Chinese and English.

Notifications in the page's language only, the inbox in a registry clerk's columns with
counts by reminder colour, attachments read in the page (pdf.js, images, Office files
offered for download), the reader's 已阅 default and the in-page send-back dialog.
Screenshots go to test-artifacts/clerk/ and, for the staff guide, docs/images/.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sample_files import docx_bytes, pdf_bytes, png_bytes
from sqlalchemy import select
from test_opinions import INCOMING, _start, _users, drive
from test_staff_journey import CHROMIUM, ROOT, Site, Staff, browser, seeded_sqlite, site

from engine import clock, runtime
from engine.deadlines import reminders
from engine.models import Document, Instance, Task
from engine.org import authority
from engine.registry import attachments

__all__ = ["browser", "seeded_sqlite", "site"]  # fixtures used by name below

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]
SHOTS = ROOT / "test-artifacts" / "clerk"
IMAGES = ROOT / "docs" / "images"
URGENT = {**INCOMING, "urgency": "加急", "title": "深圳市应急管理局关于开展汛期安全检查的紧急通知"}
EXTRA = {**INCOMING, "urgency": "特急", "title": "深圳市三防指挥部关于防御台风的特急通知",
         "source_org": "深圳市三防指挥部", "source_number": "深三防〔2026〕3号"}
CJK = re.compile(r"[\u4e00-\u9fff]")
TEXT = {
    "zh": {"blue": "蓝色提醒", "yellow": "黄色预警", "received": "收到时间", "limit": "办理时限",
           "organ": "来文机关", "number": "收文号", "date": "2026年3月2日",
           "word": "Word文档", "download": "下载", "read": "已阅", "cancel": "取消"},
    "en": {"blue": "Blue reminder", "yellow": "Yellow warning", "received": "Received at",
           "limit": "Time limit", "organ": "Sending organ", "number": "Receipt or document",
           "date": "Mar 2, 2026", "word": "Word document", "download": "Download",
           "read": "Read", "cancel": "Cancel"},
}


@pytest.fixture
def cases(site: Site) -> Iterator[dict[str, Any]]:
    """Two urgent incoming documents waiting at 签收 (yellow and red after a reminder
    pass), one with a PDF, a PNG and a .docx; one case at 传阅 (its multi-instance task
    is projected under the reader's own id) and one at 批示."""
    app = site.docroute
    users = _users(app)
    urgent, _ = _start(app, users["zhangli"], "incoming", URGENT, "incoming_document")
    _start(app, users["zhangli"], "incoming", EXTRA, "incoming_document")
    settings = app.settings
    limits = attachments.Limits(settings.attachments_dir, settings.max_attachment_bytes)
    with app.session() as s:
        document = s.get_one(Document, urgent)
        for name, content in (("正文.pdf", pdf_bytes(pages=2)), ("现场照片.png", png_bytes()),
                              ("附件1 检查表.docx", docx_bytes())):
            attachments.add(s, limits, users["zhangli"], document, name, io.BytesIO(content))
    _doc, reading = _start(app, users["zhangli"], "incoming", INCOMING, "incoming_document")
    assert drive(app, reading, users, stop_at=("distribute_read",),
                 overrides={"handling_mode": "read"}) == "distribute_read"
    with app.session() as s:
        row = s.scalars(select(Task).where(Task.instance_id == reading)).one()
        runtime.complete(s, row.id, users["zhangli"], {"readers": ["zhouqiang"]})
    _doc, instructing = _start(app, users["zhangli"], "incoming", INCOMING,
                               "incoming_document")
    assert drive(app, instructing, users, stop_at=("instruct",)) == "instruct"
    with app.session() as s:
        reminders.run_reminders(s, clock.now())
        read = s.scalars(select(Task).where(Task.instance_id == reading)).first()
        assert read is not None and read.form_key == "incoming_read"  # 传阅
        instruct = s.scalars(select(Task).where(Task.instance_id == instructing)).one()
        leader = authority.holders(s, s.get_one(Instance, instructing), instruct)[0].username
        found = {"document": urgent, "reader": read.assignee, "read_task": read.id,
                 "leader": leader, "instruct_task": instruct.id}
    yield found


def _shot(staff: Staff, name: str, guide: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    staff.page.screenshot(path=str(SHOTS / f"{name}-{staff.lang}.png"), full_page=True)
    if guide and staff.lang == "zh":
        IMAGES.mkdir(parents=True, exist_ok=True)
        staff.page.screenshot(path=str(IMAGES / f"{name}.png"), full_page=False)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_inbox_columns_counts_and_notifications(browser: Any, site: Site,
                                                cases: dict[str, Any], lang: str) -> None:
    words = TEXT[lang]
    clerk = Staff(browser, site, lang, width=1280).login("zhangli")
    counts = {level: clerk.page.inner_text(f".levels [data-level={level}] .n")
              for level in ("blue", "yellow", "red", "overdue", "escalated")}
    assert counts == {"blue": "0", "yellow": "1", "red": "1", "overdue": "0",
                      "escalated": "0"}
    levels = clerk.page.inner_text(".levels")
    assert words["yellow"] in levels and words["blue"] in levels
    head = clerk.page.inner_text(".taskhead")
    for word in (words["number"], words["organ"], words["received"], words["limit"]):
        assert word in head, word
    row = clerk.page.locator("li.taskrow", has_text=URGENT["title"])
    assert words["date"] in row.inner_text() and URGENT["source_org"] in row.inner_text()
    _shot(clerk, "inbox", guide=True)
    clerk.page.click(".levels [data-level=red]")
    clerk.page.wait_for_load_state("load")
    assert "level=red" in clerk.page.url
    assert clerk.page.locator("li.taskrow").count() == 1
    assert EXTRA["title"] in clerk.page.inner_text("ul.tasklist")
    clerk.page.click(f"li.taskrow a.doctitle:text-is('{EXTRA['title']}')")
    clerk.page.wait_for_load_state("load")
    assert re.search(r"/documents/\d+$", clerk.page.url)

    clerk.go("/notifications")
    notes = clerk.page.locator(".note .text").all_inner_texts()
    assert len(notes) == 2
    for note in notes:
        rest = note.replace(URGENT["title"], "").replace(EXTRA["title"], "")
        if lang == "en":
            assert "Sign for receipt" in note and not CJK.search(rest), note
        else:
            assert "签收" in note and not re.search(r"[A-Za-z]{3,}", rest), note
        assert "2026" in note
    _shot(clerk, "notifications")
    # The timeline names the reminder pass in the page's language.
    clerk.go(f"/documents/{cases['document']}")
    timeline = clerk.page.inner_text("ol.timeline")
    assert ("系统" in timeline and "system" not in timeline) if lang == "zh" \
        else ("System" in timeline and "系统" not in timeline)
    clerk.close()
    assert site.errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_attachments_read_in_the_page(browser: Any, site: Site, cases: dict[str, Any],
                                      lang: str) -> None:
    words = TEXT[lang]
    clerk = Staff(browser, site, lang, width=1280).login("zhangli")
    clerk.go(f"/documents/{cases['document']}")
    clerk.page.wait_for_selector(".pdf-view.ready", timeout=30000)
    pdf = clerk.page.locator(".pdf-view")
    assert pdf.get_attribute("data-pages") == "2"
    assert pdf.locator("canvas.pdf-page").count() == 2
    # pdf.js drew the text: the first page has dark pixels on white.
    inked = clerk.page.evaluate("""() => {
        const c = document.querySelector('.pdf-view canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height / 4).data;
        let dark = 0;
        for (let i = 0; i < d.length; i += 4) { if (d[i] < 100 && d[i + 3] > 0) dark++; }
        return dark;
    }""")
    assert inked > 50, inked
    image = clerk.page.locator("img.image-view")
    assert clerk.page.evaluate("(img) => img.complete && img.naturalWidth",
                               image.element_handle()) == 40
    office = clerk.page.inner_text(".preview-download")
    assert words["word"] in office and words["download"] in office
    assert re.search(r"\d+ B", office)
    _shot(clerk, "reading", guide=True)
    clerk.close()
    assert site.errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reader_default_and_send_back_dialog(browser: Any, site: Site,
                                             cases: dict[str, Any], lang: str) -> None:
    words = TEXT[lang]
    reader = Staff(browser, site, lang).login(cases["reader"])
    reader.go(f"/tasks/{cases['read_task']}")
    assert reader.page.input_value("[name=read_note]") == words["read"]
    reader.close()

    leader = Staff(browser, site, lang).login(cases["leader"])
    leader.go(f"/tasks/{cases['instruct_task']}")
    dialogs: list[str] = []
    leader.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    leader.page.click("form.taskform button[value=return]")
    dialog = leader.page.locator("dialog.confirm-dialog[open]")
    dialog.wait_for()
    assert dialog.locator(".confirm-no").inner_text() == words["cancel"]
    _shot(leader, "send-back-dialog")
    dialog.locator(".confirm-no").click()
    leader.page.locator("dialog.confirm-dialog").wait_for(state="detached")
    assert f"/tasks/{cases['instruct_task']}" in leader.page.url
    assert dialogs == []  # never the browser's own confirm()
    leader.close()
    assert site.errors == []
