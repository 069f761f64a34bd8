"""An auditor's journey in a real Chromium, on the shipped processes and the demo data.

The auditor opens a finished demo case, steps through it on its diagram from start to
end, verifies it and exports it (JSON and printable page), in Chinese and in English;
then an event is edited directly in the database and both the case page and the chain
check report it. Screenshots go to test-artifacts/audit/.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from werkzeug.serving import make_server

from engine import Docroute, Settings, demo
from engine.history import audit
from engine.models import Instance

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "audit"
FINISHED = "关于2026年防汛应急演练通知的用印申请"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
    pytest.mark.skipif(not (ROOT / "webui/static/vendor/docroute-viewer.js").is_file(),
                       reason="frontend not built: run scripts/build-frontend.sh"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    subprocess.run([str(ROOT / ".venv/bin/pybabel"), "compile", "-d",
                    str(ROOT / "webui/translations"), "-f"], capture_output=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Docroute]]:
    from webui import create_app

    docroute = Docroute(Settings(home=tmp_path / "home", database_url=db_url))
    docroute.init()
    demo.seed(docroute)
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "test"},
                     docroute=docroute)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", docroute
    server.shutdown()
    docroute.engine.dispose()


def new_page(browser: Any, lang: str, errors: list[str]) -> Any:
    context = browser.new_context(locale="zh-CN" if lang == "zh" else "en-US",
                                  viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    return page


def login(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.fill("[name=username]", "auditor")
    page.fill("[name=password]", demo.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def markers(page: Any) -> tuple[int, int]:
    return (page.locator("#replay-diagram .djs-shape.dr-completed").count(),
            page.locator("#replay-diagram .djs-shape.dr-active").count())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_auditor_steps_through_verifies_and_exports_a_finished_case(
        browser: Any, site: tuple[str, Docroute], lang: str, tmp_path: Path) -> None:
    url, docroute = site
    with docroute.session() as s:
        case_id = s.scalar(select(Instance.id).where(Instance.title == FINISHED))
        assert s.get(Instance, case_id).status == "completed"
    errors: list[str] = []
    page = new_page(browser, lang, errors)
    login(page, url)
    page.click("nav.mainnav a[href='/audit/']")
    page.select_option("#f-status", "completed")
    page.click(".audit-filters button[type=submit]")
    shot(page, f"search-{lang}")
    page.click(f"a:text-is('{FINISHED}')")
    page.wait_for_selector("#replay.loaded")
    page.wait_for_selector("#replay-diagram.ready")
    rows = page.locator("table.history tbody tr").count()
    assert rows >= 10

    # step from the start to the end: the path grows, the case ends with nothing open
    page.click("[data-step=first]")
    assert page.input_value("#replay-slider") == "1"
    first_done, first_active = markers(page)
    assert first_active >= 1
    seen_done = [first_done]
    for _ in range(rows - 1):
        page.click("[data-step=next]")
        seen_done.append(markers(page)[0])
    assert page.input_value("#replay-slider") == str(rows)
    last_done, last_active = markers(page)
    assert last_active == 0 and last_done > first_done
    assert seen_done == sorted(seen_done) or max(seen_done) == last_done
    position = page.inner_text("#replay-position")
    assert str(rows) in position
    # the slider jumps straight to a step; the send-back is visible in its details
    page.locator("#replay-slider").fill("4")
    assert "4" in page.inner_text("#replay-position")
    # Submitted values and the case data read as the form labels them, in the page's
    # language: never a bare variable such as ``decision: return``.
    assert ("审批结论: 退回修改" if lang == "zh" else "Decision: Send back") in \
        page.inner_text("#replay-event")
    data_panel = page.inner_text("#replay-data")
    assert ("审批结论" if lang == "zh" else "Decision") in data_panel
    assert "decision" not in data_panel and "return" not in data_panel
    assert page.locator("table.history tr.current").get_attribute("data-index") == "4"
    shot(page, f"replay-step4-{lang}")
    assert page.locator("td.changes li").count() > 0  # data before -> after in the history

    # auditors get no action: the only forms are language and logout
    actions = page.locator("main form[method=post], main button[type=submit]")
    assert actions.count() == 0

    page.click("#verify")
    page.wait_for_selector(".verdict.ok")
    page.wait_for_selector("#replay.loaded")
    assert page.input_value("#replay-slider") == "4"  # Verify keeps the step in view
    assert "4" in page.inner_text("#replay-position")
    with docroute.session() as s:
        final = audit.verify_case(s, case_id).final_hash
    assert final in page.inner_text(".verdict")
    shot(page, f"case-verified-{lang}")

    with page.expect_download() as download:
        page.click("a[href$='export.json']")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported["verification"]["ok"] is True
    assert exported["verification"]["final_hash"] == final
    assert len(exported["events"]) == rows

    page.click("a[href$='/print']")
    page.wait_for_selector(".verdict.ok")
    assert final in page.inner_text(".verdict")
    shot(page, f"print-{lang}")
    assert errors == []


def test_a_database_edit_shows_on_the_case_page_and_in_the_chain_check(
        browser: Any, site: tuple[str, Docroute]) -> None:
    url, docroute = site
    with docroute.session() as s:
        case_id = s.scalar(select(Instance.id).where(Instance.title == FINISHED))
    with docroute.engine.begin() as conn:
        conn.execute(text("UPDATE events SET payload = REPLACE(payload, 'return', 'approve') "
                          "WHERE chain = :c AND seq = 4"), {"c": f"case:{case_id}"})
    with docroute.session() as s:
        report = audit.verify_chains(s)
    assert [str(p) for p in report.problems] == [
        f"case {case_id}, event 4: edited: its content no longer matches its keyed hash "
        "(payload, actor, time, type or task was changed, or the event was not written by "
        "docroute)"]
    errors: list[str] = []
    page = new_page(browser, "zh", errors)
    login(page, url)
    page.goto(f"{url}/audit/cases/{case_id}?verify=1")
    page.wait_for_selector(".verdict.bad")
    assert f"case {case_id}, event 4: edited" in page.inner_text(".verdict")
    # the edited send-back no longer replays: the steps up to it are still shown
    page.wait_for_selector("#replay-status.error")
    assert "not open at this point" in page.inner_text("#replay-status")
    assert page.locator("#replay-slider").get_attribute("max") == "4"
    shot(page, "case-tampered-zh")
    assert errors == []
