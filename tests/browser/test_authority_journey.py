"""Issue 13 in a real Chromium: the chain of authority as staff and administrators meet it.

The cases are brought to the step in question through the engine (as earlier steps by
their own people would), then the step that went wrong is replayed in the browser.
"""

from __future__ import annotations

from typing import Any

import test_staff_journey as journey
from test_staff_journey import Site, Staff

from engine import clock, runtime
from engine.models import Event, Task
from engine.org import identity

pytestmark = journey.pytestmark
# The staff journey's fixtures: a browser, and the app on the shipped workflows.
browser = journey.browser
seeded_sqlite = journey.seeded_sqlite
site = journey.site

DRAFT = {"title": "关于做好国庆期间游客安全工作的通知", "doc_type": "通知",
         "drafting_department": "emergency_management", "number_prefix": "深鹏办",
         "principal_recipients": "各办事处，新区各部门", "classification": "none",
         "urgency": "", "copies": 5, "important": False, "normative": False,
         "cosign_departments": []}


def _step(site: Site, who: str, case_id: int, spec: str, data: dict[str, Any]) -> None:
    with site.docroute.session() as s:
        actor = identity.Actor.of(identity.get_user(s, who))
        row = next(t for t in s.query(Task).filter_by(instance_id=case_id) if t.spec == spec)
        runtime.complete(s, row.id, actor, data)


def _start(site: Site, who: str, key: str) -> int:
    with site.docroute.session() as s:
        actor = identity.Actor.of(identity.get_user(s, who))
        return runtime.start_case(s, actor, key, {}).id


def _to_signing(site: Site, drafter: str = "liuyang") -> int:
    case_id = _start(site, drafter, "outgoing_document")
    _step(site, drafter, case_id, "draft", DRAFT)
    _step(site, "zhouqiang", case_id, "section_review",
          {"section_opinion": "同意", "decision": "approve"})
    _step(site, "wujing", case_id, "office_review", {"review_opinion": "同意",
                                                     "decision": "approve"})
    _step(site, "wangfang", case_id, "leader_review", {"leader_opinion": "同意",
                                                       "decision": "approve"})
    return case_id


def _task_id(site: Site, case_id: int, spec: str) -> str:
    with site.docroute.session() as s:
        return next(t.id for t in s.query(Task).filter_by(instance_id=case_id)
                    if t.spec == spec)


def test_the_signer_signs_as_herself_and_delegates_only_to_who_may_sign(
        browser: Any, site: Site) -> None:
    case_id = _to_signing(site)
    leader = Staff(browser, site, "en").login("wangfang")
    leader.go(f"/tasks/{_task_id(site, case_id, 'sign_supervising')}")
    leader.page.wait_for_selector("form.taskform")
    # No list of signers to pick from: the signer is whoever signs.
    assert leader.page.locator("select[name=signer]").count() == 0
    options = leader.page.locator("#delegate_to option").all_inner_texts()
    assert not any("管理员" in o or "审计员" in o or "张丽" in o for o in options), options
    leader.shot("authority-sign-off")
    leader.page.fill("[name=signoff_opinion]", "同意")
    leader.submit()
    assert leader.page.locator(".flash.error").count() == 0, leader.flash()
    with site.docroute.session() as s:
        assert {t.spec for t in s.query(Task).filter_by(instance_id=case_id)} == {"recheck"}
    leader.close()
    assert not site.errors, site.errors


def test_the_drafter_is_refused_her_own_review_with_the_reason(browser: Any,
                                                               site: Site) -> None:
    case_id = _start(site, "wujing", "outgoing_document")
    _step(site, "wujing", case_id, "draft", {**DRAFT, "drafting_department": "general_office"})
    _step(site, "zhouqiang", case_id, "section_review",
          {"section_opinion": "同意", "decision": "approve"})
    reviewer = Staff(browser, site, "en").login("wujing")
    reviewer.go(f"/tasks/{_task_id(site, case_id, 'office_review')}")
    reviewer.page.wait_for_selector("form.taskform")
    reviewer.page.fill("[name=review_opinion]", "同意")
    reviewer.submit()
    assert "separation of duties" in reviewer.page.inner_text("body")
    reviewer.shot("authority-separation")
    with site.docroute.session() as s:
        assert {t.spec for t in s.query(Task).filter_by(instance_id=case_id)} == {
            "office_review"}
    reviewer.close()
    assert not site.errors, site.errors


def test_the_seal_supervisor_cannot_approve_with_a_failed_check(browser: Any,
                                                                site: Site) -> None:
    case_id = _start(site, "zhangli", "seal_use")
    _step(site, "zhangli", case_id, "request", {
        "seal": "general_office", "purpose": "出具工作证明", "title": "在职证明", "copies": 2,
        "basis": "人事部门申请", "signed_document": False,
        "applicant_department": "party_affairs"})
    _step(site, "linhai", case_id, "approve_director", {"approval_opinion": "同意",
                                                        "decision": "approve"})
    supervisor = Staff(browser, site, "en").login("xugang")
    supervisor.go(f"/tasks/{_task_id(site, case_id, 'supervise')}")
    supervisor.page.wait_for_selector("form.taskform")
    supervisor.page.check("input[name=seal_check][value=approve]")
    supervisor.submit()
    assert "the checks failed" in supervisor.page.inner_text("body")
    supervisor.shot("authority-seal-check")
    with site.docroute.session() as s:
        assert {t.spec for t in s.query(Task).filter_by(instance_id=case_id)} == {"supervise"}
    supervisor.close()
    assert not site.errors, site.errors


def test_an_administrator_records_a_delegation_for_leave(browser: Any,
                                                         site: Site) -> None:
    admin = Staff(browser, site, "en").login("admin")
    admin.go("/admin/authority")
    assert admin.page.locator("tr[data-leader=chenming]").inner_text().count("principal") == 1
    # The administrator account is not staff: it is never offered as a leader.
    assert "admin" not in admin.page.locator("#leader_username").inner_text()
    form = admin.page.locator("section#delegations form.cols")
    form.locator("[name=from_user]").select_option("wangfang")
    form.locator("[name=to_user]").select_option("linhai")
    form.locator("[name=starts_on]").fill("2026-03-01")
    form.locator("[name=ends_on]").fill("2026-03-31")
    form.locator("[name=reason]").fill("王芳休假")
    form.locator("button.primary").click()
    admin.page.wait_for_load_state("load")
    row = admin.page.locator("section#delegations tbody tr").first
    assert "王芳" in row.inner_text() and "林海" in row.inner_text()
    admin.shot("authority-admin")
    admin.close()
    assert not site.errors, site.errors


def test_a_leader_records_her_own_delegation_and_ends_it(browser: Any, site: Site) -> None:
    case_id = _to_signing(site)
    today = clock.now().astimezone(clock.OFFICE_TZ).date().isoformat()
    leader = Staff(browser, site, "en").login("wangfang")
    leader.page.click("a:text-is('My delegations')")
    leader.page.wait_for_selector("section#new-delegation")
    # Only someone who may hold her tasks is offered: another leader, never the clerk.
    offered = leader.page.locator("#delegate_to_user option").all_inner_texts()
    assert any("林海" in o for o in offered) and not any("张丽" in o for o in offered), offered
    form = leader.page.locator("section#new-delegation form")
    form.locator("[name=to_user]").select_option("linhai")
    form.locator("[name=starts_on]").fill(today)
    form.locator("[name=ends_on]").fill(today)
    form.locator("input[name=scope][value=outgoing_document]").check()
    form.locator("[name=reason]").fill("年休假")
    form.locator("button.primary").click()
    leader.page.wait_for_load_state("load")
    assert leader.page.locator(".flash.error").count() == 0, leader.flash()
    row = leader.page.locator("section#delegations tbody tr").first
    assert "林海" in row.inner_text() and "王芳" in row.inner_text()
    leader.shot("authority-own-delegation")

    # While she is away, 林海 finds her sign-off in his inbox and signs in her place.
    deputy = Staff(browser, site, "en").login("linhai")
    deputy.go(f"/tasks/{_task_id(site, case_id, 'sign_supervising')}")
    deputy.page.wait_for_selector("form.taskform")
    deputy.page.fill("[name=signoff_opinion]", "同意（代王芳签发）")
    deputy.submit()
    assert deputy.page.locator(".flash.error").count() == 0, deputy.flash()
    with site.docroute.session() as s:
        assert {t.spec for t in s.query(Task).filter_by(instance_id=case_id)} == {"recheck"}
    deputy.close()

    # Back early: she ends it, and the history says who did so and when.
    row.locator("[name=reason]").fill("提前返岗")
    row.locator("button.end-delegation").click()
    leader.page.wait_for_load_state("load")
    assert "ended" in leader.page.locator("section#delegations tbody tr").first.inner_text()
    with site.docroute.session() as s:
        ended = s.query(Event).filter_by(type="delegation_revoked").one()
        assert ended.actor == "wangfang"
    leader.close()
    assert not site.errors, site.errors
