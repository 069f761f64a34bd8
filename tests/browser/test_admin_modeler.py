"""An administrator changes the incoming-document process in the browser.

The real app runs in a thread (werkzeug) on SQLite with the shipped workflows and forms;
Playwright drives Debian's Chromium through the real pages: the modeler (bpmn-js driven
through its own API, then the page's save button), the version diff, and the other
administration pages, screenshotted in Chinese and English under /tmp/admin-*.png.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from engine import Docroute, Settings, runtime
from engine.demo import seed_organisation
from engine.models import Definition, Instance, Task
from engine.org.identity import Actor, get_user
from webui import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (ROOT / "webui/static/vendor/docroute-modeler.js").is_file(),
                       reason="frontend not built: run scripts/build-frontend.sh"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]

SIGN_FOR = {"received_at": "2026-03-02T09:00:00+08:00", "source_org": "深圳市应急管理局",
            "copies": 1, "urgency": "", "classification": "none"}

# Insert a user task 核对来文 between 签收 and 登记, through bpmn-js's modeling API.
ADD_TASK = """() => {
  const m = window.docrouteEditor.modeler;
  const registry = m.get('elementRegistry'), modeling = m.get('modeling');
  const signFor = registry.get('sign_for'), register = registry.get('register');
  const flow = registry.get('Flow_sign_for_register');
  const task = modeling.createShape({type: 'bpmn:UserTask'},
      {x: signFor.x + 125, y: signFor.y + 200}, signFor.parent);
  modeling.updateProperties(task, {id: 'verify', name: '核对来文',
                                   'camunda:candidateGroups': 'records_clerks'});
  modeling.reconnectEnd(flow, task, {x: task.x + task.width / 2, y: task.y});
  modeling.connect(task, register);
  return task.id;
}"""

# Two mistakes, saved one after the other: a gateway branch loses its condition; a user
# task names a form that does not exist.
BREAK_CONDITION = """() => {
  const m = window.docrouteEditor.modeler;
  m.get('modeling').updateProperties(m.get('elementRegistry').get('Flow_gw_check_return_doc'),
                                     {conditionExpression: undefined});
}"""
BREAK_FORM = """() => {
  const m = window.docrouteEditor.modeler;
  m.get('modeling').updateProperties(m.get('elementRegistry').get('propose'),
                                     {'camunda:formKey': 'no_such_form'});
}"""
MARKED = ("() => [...document.querySelectorAll('.djs-element.dr-problem')]"
          ".map(e => e.dataset.elementId).sort()")


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url,
                    forms_dir=ROOT / "forms", workflows_dir=ROOT / "workflows")


@pytest.fixture
def site(docroute: Docroute) -> Iterator[str]:
    docroute.init()
    with docroute.session() as s:
        seed_organisation(s)
    app = create_app({"RATELIMIT_ENABLED": False, "SECRET_KEY": "browser-test"},
                     docroute=docroute)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def page(site: str) -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1400, "height": 900},
                                      locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        page.on("console", lambda msg: errors.append(msg.text)
                if msg.type == "error" and "status of 422" not in msg.text else None)
        page.goto(f"{site}/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "demo1234")
        page.locator("form button[type=submit], form button").last.click()
        page.wait_for_url(f"{site}/")
        yield page
        browser.close()
        assert errors == [], errors


def actor(docroute: Docroute, username: str) -> Actor:
    with docroute.session() as s:
        return Actor.of(get_user(s, username))


def start_and_sign(docroute: Docroute) -> int:
    clerk = actor(docroute, "zhangli")
    with docroute.session() as s:
        case_id = runtime.start_case(s, clerk, "incoming_document", {},
                                     title="关于做好汛期安全防范工作的通知").id
    return case_id


def complete_sign_for(docroute: Docroute, case_id: int) -> str:
    clerk = actor(docroute, "zhangli")
    with docroute.session() as s:
        row = s.scalars(select(Task).where(Task.instance_id == case_id)).one()
        assert row.spec == "sign_for"
        runtime.complete(s, row.id, clerk, SIGN_FOR)
    with docroute.session() as s:
        return s.scalars(select(Task.spec).where(Task.instance_id == case_id)).one()


def versions(docroute: Docroute) -> list[int]:
    with docroute.session() as s:
        return list(s.scalars(select(Definition.version)
                              .where(Definition.key == "incoming_document")
                              .order_by(Definition.version)))


def open_editor(page: object, site: str, docroute: Docroute) -> None:
    with docroute.session() as s:
        v1 = s.scalar(select(Definition.id).where(Definition.key == "incoming_document",
                                                  Definition.version == 1))
    page.goto(f"{site}/admin/processes/{v1}/edit")  # type: ignore[attr-defined]
    page.wait_for_selector("#modeler[data-ready=true]")  # type: ignore[attr-defined]


def v1_id(docroute: Docroute) -> int:
    with docroute.session() as s:
        return s.scalar(select(Definition.id).where(Definition.key == "incoming_document",
                                                    Definition.version == 1))


def shoot(page: object, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=False)  # type: ignore[attr-defined]


def test_admin_changes_the_incoming_process_in_the_browser(docroute: Docroute, site: str,
                                                           page: object) -> None:
    old_case = start_and_sign(docroute)
    waiting_case = start_and_sign(docroute)
    page.goto(f"{site}/")  # type: ignore[attr-defined]
    page.click("text=系统管理")  # type: ignore[attr-defined]
    page.wait_for_selector("h1")  # type: ignore[attr-defined]
    shoot(page, "processes-zh")

    # 1. a broken edit is refused, the elements are marked, nothing is deployed
    open_editor(page, site, docroute)
    page.evaluate(BREAK_CONDITION)  # type: ignore[attr-defined]
    page.click("#save-diagram")  # type: ignore[attr-defined]
    page.wait_for_selector("#save-status.error")  # type: ignore[attr-defined]
    marked = page.evaluate(MARKED)  # type: ignore[attr-defined]
    assert "Flow_gw_check_return_doc" in marked or "gw_check" in marked, marked
    shoot(page, "editor-condition-zh")
    page.evaluate("() => window.docrouteEditor.modeler.get('commandStack').undo()")  # type: ignore[attr-defined]
    page.evaluate(BREAK_FORM)  # type: ignore[attr-defined]
    page.click("#save-diagram")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('diagram-problems').innerText.includes('no_such_form')")
    assert page.evaluate(MARKED) == ["propose"]  # type: ignore[attr-defined]
    shoot(page, "editor-problems-zh")
    assert versions(docroute) == [1]

    # 2. the administrator adds a task and deploys version 2 with the save button
    open_editor(page, site, docroute)
    assert page.evaluate(ADD_TASK) == "verify"  # type: ignore[attr-defined]
    page.click("#save-diagram")  # type: ignore[attr-defined]
    page.wait_for_selector("#save-status.success")  # type: ignore[attr-defined]
    assert "incoming_document v2" in page.inner_text("#save-status")  # type: ignore[attr-defined]
    shoot(page, "editor-deployed-zh")
    assert versions(docroute) == [1, 2]
    with docroute.session() as s:
        v2 = s.scalars(select(Definition).where(Definition.key == "incoming_document",
                                                Definition.version == 2)).one()
        assert v2.deployed_by == "admin"

    # 3. a new case runs on v2; the older case goes on on v1
    new_case = start_and_sign(docroute)
    assert complete_sign_for(docroute, new_case) == "verify"
    assert complete_sign_for(docroute, old_case) == "register"
    with docroute.session() as s:
        assert s.get(Instance, old_case).definition.version == 1
        assert s.get(Instance, new_case).definition.version == 2

    # 4. the diff of v1 and v2 shows the added task, on the diagram and in the list
    page.goto(f"{site}/admin/processes/incoming_document/diff?from=1&to=2")  # type: ignore[attr-defined]
    page.wait_for_selector("#diff[data-ready=true]")  # type: ignore[attr-defined]
    added = page.evaluate(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('#diff-right .djs-element.dr-added')]"
        ".map(e => e.dataset.elementId)")
    assert "verify" in added
    row = page.locator("tr[data-element=verify]")  # type: ignore[attr-defined]
    assert "核对来文" in row.inner_text()
    shoot(page, "diff-zh")

    # 5. moving cases to v2 where safe: the old case has passed 签收, so on v2 it would
    #    wait at the new task instead of 登记 and is refused with that reason; a case still
    #    waiting at 签收 moves, and then reaches the new task
    page.goto(f"{site}/admin/cases/{old_case}")  # type: ignore[attr-defined]
    page.click("form.migrate-check button")  # type: ignore[attr-defined]
    refusal = page.inner_text(".problems")  # type: ignore[attr-defined]
    assert "“核对来文” (verify)" in refusal and "“登记” (register)" in refusal
    shoot(page, "case-refused-zh")
    page.goto(f"{site}/admin/cases/{waiting_case}")  # type: ignore[attr-defined]
    page.click("form.migrate-check button")  # type: ignore[attr-defined]
    page.fill("form[action$='/migrate'] input[name=reason]", "新增核对环节")  # type: ignore[attr-defined]
    page.click("form[action$='/migrate'] button")  # type: ignore[attr-defined]
    page.wait_for_selector(".flash.success")  # type: ignore[attr-defined]
    shoot(page, "case-moved-zh")
    with docroute.session() as s:
        assert s.get(Instance, waiting_case).definition.version == 2
        assert s.get(Instance, old_case).definition.version == 1
    assert complete_sign_for(docroute, waiting_case) == "verify"

    # every admin page in both languages, for a person to look at
    pages = {"processes": "/admin/processes", "forms": "/admin/forms/incoming_sign_for",
             "users": "/admin/users", "user": "/admin/users/zhangli", "groups": "/admin/groups",
             "cases": "/admin/cases", "case": f"/admin/cases/{old_case}",
             "calendar": "/admin/calendar?year=2026", "upload": "/admin/processes/upload",
             "diff": "/admin/processes/incoming_document/diff?from=1&to=2",
             "migrate": f"/admin/processes/{v1_id(docroute)}/migrate"}
    for lang in ("zh", "en"):
        if lang == "en":
            page.click("button[name=lang][value=en]")  # type: ignore[attr-defined]
            page.wait_for_load_state()  # type: ignore[attr-defined]
        for name, url in pages.items():
            page.goto(f"{site}{url}")  # type: ignore[attr-defined]
            if name == "diff":
                page.wait_for_selector("#diff[data-ready=true]")  # type: ignore[attr-defined]
            if name == "forms":
                page.wait_for_selector("#preview[data-ready=true]")  # type: ignore[attr-defined]
            shoot(page, f"{name}-{lang}")
    assert "Move cases" in page.content()
