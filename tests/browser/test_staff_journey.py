"""Staff work in a real Chromium: an incoming document from registration to archive.

The app runs in a background thread on the shipped workflows and the demo organisation,
on SQLite and on PostgreSQL. Every page visited must log no JavaScript error (console
errors and uncaught exceptions are collected). Screenshots go to test-artifacts/staff/;
look at them after a change to the UI.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from engine import Docroute, demo

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "staff"
PASSWORD = demo.PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Site:
    url: str
    docroute: Docroute
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    subprocess.run([str(ROOT / ".venv/bin/pybabel"), "compile", "-d",
                    str(ROOT / "webui/translations"), "-f"], check=True, capture_output=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_webui_staff import make_seeded_sqlite

    return make_seeded_sqlite(tmp_path_factory.mktemp("seeded"))


@pytest.fixture
def site(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    from test_webui_staff import shipped_docroute

    from webui import create_app

    seeded = request.getfixturevalue("seeded_sqlite") if db_url.startswith("sqlite") else None
    docroute = shipped_docroute(db_url, tmp_path / "home", seeded)
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "test"},
                     docroute=docroute)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.server_port}", docroute)
    server.shutdown()
    docroute.engine.dispose()


class Staff:
    """One person's browser context: logs in, works tasks, takes screenshots."""

    def __init__(self, browser: Any, site: Site, lang: str, *, width: int = 1280):
        self.site, self.lang = site, lang
        self.context = browser.new_context(
            locale="zh-CN" if lang == "zh" else "en-US",
            viewport={"width": width, "height": 900 if width > 600 else 844})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.page.on("console", lambda m: site.errors.append(f"{self.page.url}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: site.errors.append(f"{self.page.url}: {e}"))

    def go(self, path: str) -> None:
        self.page.goto(self.site.url + path)

    def login(self, username: str) -> Staff:
        self.go("/")
        assert "/login" in self.page.url
        self.page.fill("[name=username]", username)
        self.page.fill("[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("h1")
        assert "/login" not in self.page.url, self.page.inner_text("main")
        return self

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}-{self.lang}.png"), full_page=True)

    def open_task(self, name: str) -> None:
        """Open the inbox task whose link text is ``name``."""
        self.go("/")
        self.page.click(f"a.taskname:text-is('{name}')")
        self.page.wait_for_selector("form.taskform")

    def submit(self, label: str | None = None) -> None:
        button = self.page.locator("form.taskform button[value=complete]") if label is None \
            else self.page.get_by_role("button", name=label)
        button.click()
        self.page.wait_for_load_state("load")

    def flash(self) -> str:
        return " ".join(self.page.locator(".flash").all_inner_texts())

    def close(self) -> None:
        self.context.close()


WORDS = {
    "zh": {"register": "收文登记", "sign_for": "签收", "register_task": "登记",
           "check": "初审", "propose": "拟办", "instruct": "批示", "distribute": "分送传阅",
           "read": "传阅", "archive_check": "归档审查", "retention": "划定保管期限",
           "file": "电子文件归档", "closed": "已办结", "required": "此项必填。",
           "title": "关于做好第18号台风“海燕”防御工作的通知"},
    "en": {"register": "Register incoming document", "sign_for": "Sign for receipt",
           "register_task": "Register", "check": "Initial check", "propose": "Proposed handling",
           "instruct": "Leader's instruction", "distribute": "Distribute for reading",
           "read": "Circulate", "archive_check": "Filing check",
           "retention": "Set the retention period", "file": "File electronically",
           "closed": "Closed", "required": "Please fill in this field.",
           "title": "Notice on preparing for Typhoon No. 18"},
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_incoming_document_journey(browser: Any, site: Site, lang: str) -> None:
    w = WORDS[lang]
    clerk = Staff(browser, site, lang).login("zhangli")
    clerk.shot("inbox-empty")

    # 1. The clerk registers what arrived; an invalid form shows its errors first.
    clerk.page.click(f"a.button:has-text('{w['register']}')")
    clerk.page.fill("[name=source_number]", "深府2022-16")
    clerk.page.click("form.taskform button[type=submit]")
    assert clerk.page.locator(".field.invalid[data-field=title] .error").inner_text() \
        .endswith(w["required"])
    assert clerk.page.locator(".field.invalid[data-field=source_number] .error").count() == 1
    clerk.shot("register-invalid")
    clerk.page.fill("[name=title]", w["title"])
    clerk.page.fill("[name=source_org]", "深圳市三防指挥部")
    clerk.page.fill("[name=source_number]", "深三防〔2026〕18号")
    clerk.page.select_option("[name=doc_type]", "通知")
    clerk.page.fill("[name=issued_on]", "2026-11-26")
    clerk.page.check("input[name=urgency][value=特急]")
    clerk.page.click("form.taskform button[type=submit]")
    clerk.page.wait_for_selector("form.taskform")

    # 2. Sign for receipt -> register -> initial check follow on one after another.
    assert clerk.page.locator("h1").inner_text() == w["sign_for"]
    clerk.shot("task-sign-for")
    clerk.submit()
    assert clerk.page.locator("h1").inner_text() == w["register_task"]
    assert clerk.page.input_value("[name=title]") == w["title"]
    clerk.submit()
    assert clerk.page.locator("h1").inner_text() == w["check"]
    clerk.page.check("input[name=check_result][value=accept]")
    clerk.submit()
    assert "/tasks/" not in clerk.page.url  # the clerk has nothing more in this case
    clerk.close()

    # 3. The office director proposes handling and names the lead unit; the leader in
    # charge of it (应急管理局: 王芳) instructs.
    director = Staff(browser, site, lang).login("linhai")
    director.shot("inbox")
    director.open_task(w["propose"])
    director.page.fill("[name=proposed_handling]", "建议送王芳、周强同志传阅。")
    director.page.check("input[name=handling_mode][value=read]")
    director.page.fill("[name=deadline]", "2026-12-10")
    director.page.select_option("[name=lead_department]", "emergency_management")
    director.page.check("input[name=instruction_group][value=supervising_leaders]")
    director.submit()
    director.close()
    leader = Staff(browser, site, lang).login("wangfang")
    leader.page.locator("a.taskname", has_text=w["instruct"]).first.click()
    leader.page.wait_for_selector("form.taskform")
    assert "建议送王芳、周强同志传阅。" in leader.page.locator(".opinions").inner_text()
    leader.page.fill("[name=instruction]", "请王芳、周强同志阅，抓好落实。")
    leader.shot("task-instruct")
    leader.submit()
    assert "/tasks/" not in leader.page.url
    leader.close()

    # 4. The clerk distributes it for reading to two readers.
    clerk = Staff(browser, site, lang).login("zhangli")
    clerk.open_task(w["distribute"])
    clerk.page.check("input[name=readers][value=wangfang]")
    clerk.page.check("input[name=readers][value=zhouqiang]")
    clerk.submit()
    clerk.close()

    # 5. Both readers circulate it (阅文意见 defaults to 已阅).
    for reader in ("wangfang", "zhouqiang"):
        person = Staff(browser, site, lang).login(reader)
        person.open_task(w["read"])
        assert "请王芳、周强同志阅" in person.page.locator(".opinions").inner_text()
        person.submit()
        person.close()

    # 6. The archivist files it.
    archivist = Staff(browser, site, lang).login("mali")
    archivist.open_task(w["archive_check"])
    archivist.page.check("[name=items_complete]")
    archivist.submit()  # the primary button is the form's "approve"
    assert archivist.page.locator("h1").inner_text() == w["retention"]
    archivist.page.check("input[name=retention][value=定期30年]") \
        if archivist.page.locator("input[name=retention]").count() \
        else archivist.page.select_option("[name=retention]", "定期30年")
    archivist.page.fill("[name=archive_year]", "2026")
    archivist.submit()
    assert archivist.page.locator("h1").inner_text() == w["file"]
    archivist.page.fill("[name=filed_on]", "2026-11-27")
    archivist.submit()
    archivist.close()

    # 7. The clerk sees the closed case: timeline, diagram, processing sheet.
    clerk = Staff(browser, site, lang).login("zhangli")
    clerk.go("/documents")
    clerk.page.click(f"a.taskname:text-is('{w['title']}')")
    clerk.page.wait_for_selector(".diagram.ready")
    assert w["closed"] in clerk.page.locator(".case h2").inner_text()
    timeline = clerk.page.locator(".timeline").inner_text()
    assert "请王芳、周强同志阅，抓好落实。" in timeline and "林海" in timeline
    assert clerk.page.locator(".diagram .djs-element.dr-completed").count() > 5
    clerk.shot("document")
    clerk.page.click("a.button[href$='/sheet']")
    assert "请王芳、周强同志阅，抓好落实。" in clerk.page.locator(".sheet").inner_text()
    clerk.shot("sheet")
    clerk.close()
    assert site.errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_phone_width_pages(browser: Any, site: Site, lang: str) -> None:
    phone = Staff(browser, site, lang, width=390)
    phone.go("/login")
    phone.shot("phone-login")
    phone.login("zhangli")
    phone.page.click("a.button.primary[href$='/documents/new/incoming']")
    phone.page.fill("[name=title]", WORDS[lang]["title"])
    phone.page.fill("[name=source_org]", "深圳市三防指挥部")
    phone.page.select_option("[name=doc_type]", "通知")
    phone.page.check("input[name=urgency][value=加急]")
    phone.page.click("form.taskform button[type=submit]")
    phone.page.wait_for_selector("form.taskform")
    phone.shot("phone-task")
    # Nothing is wider than the screen.
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"
    phone.go("/")
    phone.shot("phone-inbox")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.page.click("a.taskname")
    phone.page.click("a:has-text('→')")
    phone.page.wait_for_selector(".diagram.ready")
    phone.shot("phone-document")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()
    desktop = Staff(browser, site, lang)
    desktop.go("/login")
    desktop.shot("login")
    desktop.close()
    assert site.errors == []


def test_secret_document_hidden_from_uncleared_user(browser: Any, site: Site) -> None:
    """liuyang (clearance none) never sees a 秘密 document: not in search, not by URL."""
    clerk = Staff(browser, site, "zh").login("zhangli")
    clerk.page.goto(site.url + "/documents/new/incoming")
    clerk.page.fill("[name=title]", "涉密来文测试")
    clerk.page.fill("[name=source_org]", "深圳市国家保密局")
    clerk.page.select_option("[name=doc_type]", "函")
    clerk.page.check("input[name=classification][value=confidential]") \
        if clerk.page.locator("input[name=classification]").count() \
        else clerk.page.select_option("[name=classification]", "confidential")
    clerk.page.click("form.taskform button[type=submit]")
    clerk.page.wait_for_selector("form.taskform")
    task_url = clerk.page.url
    clerk.go("/documents")
    clerk.page.click("a.taskname:text-is('涉密来文测试')")
    document_url = clerk.page.url
    assert re.search(r"/documents/\d+$", document_url)
    clerk.close()

    other = Staff(browser, site, "zh").login("liuyang")
    other.go("/documents?q=涉密")
    assert "涉密来文测试" not in other.page.inner_text("main")
    other.go("/?q=涉密")
    assert "涉密来文测试" not in other.page.inner_text("main")
    response = other.page.goto(document_url)
    assert response is not None and response.status == 404
    assert "涉密来文测试" not in other.page.inner_text("body")
    other.page.goto(task_url)
    assert "/tasks/" not in other.page.url  # back to the inbox with a message
    assert "涉密来文测试" not in other.page.inner_text("body")
    other.close()
    # The deliberate 404 above is the only resource the browser may report as failed.
    expected = f"{document_url}: Failed to load resource: the server responded with a " \
               "status of 404 (NOT FOUND)"
    assert [e for e in site.errors if e != expected] == []
