"""Issue 13, replayed through the API: each observation as the scenario that failed.

The shipped processes and the demo organisation (docs/organisation.md) are used as a new
user would meet them; every action goes through /api/v1, and each scenario asserts that
the office's chain of authority now holds (or routes correctly).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import empty_postgres
from flask.testing import FlaskClient
from sqlalchemy import URL, create_engine, make_url, select, text

from engine import Docroute, NotAllowed, Settings, clock, demo
from engine.models import Event, Instance, Task
from engine.org import identity, orgchart

DRAFT = {"title": "关于做好国庆期间游客安全工作的通知", "doc_type": "通知",
         "drafting_department": "emergency_management", "number_prefix": "深鹏办",
         "principal_recipients": "各办事处，新区各部门", "classification": "none",
         "urgency": "", "copies": 5, "important": False, "normative": False,
         "cosign_departments": []}
REQUEST = {"title": "关于申请海岸带修复资金的请示", "doc_type": "请示",
           "principal_recipients": "深圳市人民政府", "number_prefix": "深鹏管"}


def _prepare(url: str, home: Path) -> None:
    """Deploy the shipped processes and seed the demo organisation into ``url``."""
    app = Docroute(Settings(home=home, database_url=url))
    app.init()
    with app.session() as s:
        demo.seed_organisation(s)
    app.engine.dispose()


@pytest.fixture(scope="module")
def prepared_sqlite(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Deploying every shipped diagram takes seconds: do it once, copy the file per test.
    path = tmp_path_factory.mktemp("authority") / "docroute.sqlite3"
    shutil.copy(sqlite_template, path)
    _prepare(f"sqlite:///{path}", path.parent / "home")
    return path


@pytest.fixture(scope="module")
def prepared_postgres(postgres_database: str, tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[tuple[URL, str]]:
    server = make_url(postgres_database)
    template = f"docroute_authority_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{template}" TEMPLATE "{server.database}"'))
    # The worker's database may hold rows of modules that ran before this one.
    empty_postgres(server.set(database=template).render_as_string(hide_password=False))
    _prepare(server.set(database=template).render_as_string(hide_password=False),
             tmp_path_factory.mktemp("authority_pg"))
    yield server, template
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def shipped_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "docroute.sqlite3"
        shutil.copy(request.getfixturevalue("prepared_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    server, template = request.getfixturevalue("prepared_postgres")
    name = f"docroute_authority_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def shipped(shipped_url: str, tmp_path: Path, manual_clock: clock.ManualClock
            ) -> Iterator[Docroute]:
    app = Docroute(Settings(home=tmp_path / "home", database_url=shipped_url))
    yield app
    app.engine.dispose()


class Office:
    """The API as each demo user sees it."""

    def __init__(self, app: Docroute, client: FlaskClient):
        self.app, self.client = app, client
        self.tokens: dict[str, str] = {}

    def token(self, who: str) -> str:
        if who not in self.tokens:
            with self.app.session() as s:
                self.tokens[who] = identity.create_token(s, who)
        return self.tokens[who]

    def call(self, who: str, method: str, path: str, body: Any = None) -> Any:
        response = self.client.open(f"/api/v1{path}", method=method, json=body,
                                    headers={"Authorization": f"Bearer {self.token(who)}"})
        assert response.status_code < 500, response.get_data(as_text=True)
        return response

    def start(self, who: str, key: str, data: dict[str, Any] | None = None) -> int:
        response = self.call(who, "POST", f"/definitions/{key}/instances", {"data": data or {}})
        assert response.status_code == 201, response.get_json()
        return int(response.get_json()["id"])

    def task(self, case_id: int, spec: str) -> Task:
        with self.app.session() as s:
            rows = [row for row in s.scalars(select(Task).where(Task.instance_id == case_id))
                    if row.spec in (spec, f"{spec} [child]")]
            s.expunge_all()
        assert rows, f"{spec} is not open in case {case_id}: {self.open_specs(case_id)}"
        return rows[0]

    def open_specs(self, case_id: int) -> list[str]:
        with self.app.session() as s:
            return sorted(s.scalars(select(Task.spec).where(Task.instance_id == case_id)))

    def complete(self, who: str, case_id: int, spec: str, data: dict[str, Any]) -> Any:
        task = self.task(case_id, spec)
        return self.call(who, "POST", f"/tasks/{task.id}/complete", {"data": data})

    def do(self, who: str, case_id: int, spec: str, data: dict[str, Any]) -> None:
        response = self.complete(who, case_id, spec, data)
        assert response.status_code == 200, (spec, who, response.get_json())

    def outgoing_to_signing(self, drafter: str = "liuyang", **draft: Any) -> int:
        case_id = self.start(drafter, "outgoing_document")
        self.do(drafter, case_id, "draft", {**DRAFT, **draft})
        self.do("zhouqiang", case_id, "section_review",
                {"section_opinion": "同意", "decision": "approve"})
        self.do("wujing", case_id, "office_review",
                {"review_opinion": "同意", "decision": "approve"})
        leader = self.task(case_id, "leader_review").assignee
        assert leader is not None
        self.do(leader, case_id, "leader_review",
                {"leader_opinion": "同意", "decision": "approve"})
        return case_id


@pytest.fixture
def office(shipped: Docroute) -> Office:
    from webui import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "t"}, docroute=shipped)
    return Office(shipped, app.test_client())


# --- 1. the signer level follows the document, not the drafter's tick --------------------------


def test_a_request_to_the_city_goes_to_the_principal_leader(office: Office) -> None:
    case_id = office.outgoing_to_signing(**REQUEST)
    assert office.open_specs(case_id) == ["sign_principal"]
    assert office.task(case_id, "sign_principal").assignee == "chenming"


def test_the_issuer_decides_the_signer_of_a_notice(office: Office) -> None:
    in_committee_name = office.outgoing_to_signing(number_prefix="深鹏管")
    assert office.task(in_committee_name, "sign_principal").assignee == "chenming"
    office_notice = office.outgoing_to_signing()
    # The leader in charge of the drafting unit (应急管理局: 王芳) signs the office's notice.
    assert office.task(office_notice, "sign_supervising").assignee == "wangfang"


def test_a_substantive_change_after_signing_goes_back_to_the_same_signer(office: Office) -> None:
    case_id = office.outgoing_to_signing()
    office.do("wangfang", case_id, "sign_supervising",
              {"signoff_opinion": "同意", "decision": "approve"})
    office.do("wujing", case_id, "recheck",
              {"recheck_opinion": "第三段有实质修改", "substantive_change": True})
    assert office.task(case_id, "sign_supervising").assignee == "wangfang"


# --- 2. nobody signs for someone else --------------------------------------------------------


def test_the_sign_off_form_offers_no_list_of_signers(office: Office) -> None:
    case_id = office.outgoing_to_signing()
    task = office.task(case_id, "sign_supervising")
    form = office.call("wangfang", "GET", f"/tasks/{task.id}").get_json()["form"]
    assert form["properties"]["signer"].get("readOnly") is True
    assert "enum" not in form["properties"]["signer"]


def test_the_administrator_cannot_sign(office: Office) -> None:
    case_id = office.outgoing_to_signing()
    response = office.complete("admin", case_id, "sign_supervising",
                               {"signoff_opinion": "同意", "decision": "approve"})
    assert response.status_code == 403
    assert "not office staff" in response.get_json()["error"]


def test_a_sign_off_cannot_be_delegated_to_the_records_clerk(office: Office) -> None:
    case_id = office.outgoing_to_signing()
    task = office.task(case_id, "sign_supervising")
    response = office.call("wangfang", "POST", f"/tasks/{task.id}/delegate", {"to": "zhangli"})
    assert response.status_code == 403
    assert "is not for 张丽" in response.get_json()["error"]
    assert office.task(case_id, "sign_supervising").assignee == "wangfang"


def test_a_signer_cannot_type_another_leaders_name(office: Office) -> None:
    case_id = office.outgoing_to_signing()
    response = office.complete("wangfang", case_id, "sign_supervising",
                               {"signoff_opinion": "同意", "decision": "approve",
                                "signer": "chenming"})
    assert response.status_code == 403
    assert "you sign as yourself" in response.get_json()["error"]
    office.do("wangfang", case_id, "sign_supervising",
              {"signoff_opinion": "同意", "decision": "approve"})
    with office.app.session() as s:
        payloads = [e.payload for e in s.scalars(select(Event).where(
            Event.instance_id == case_id, Event.task_name == "分管领导签发"))]
    assert any('"signer":"wangfang"' in p.replace(" ", "") for p in payloads)


def test_a_delegation_during_leave_lets_the_deputy_sign(office: Office) -> None:
    case_id = office.outgoing_to_signing()
    task = office.task(case_id, "sign_supervising")
    assert office.call("wangfang", "POST", f"/tasks/{task.id}/delegate",
                       {"to": "linhai"}).status_code == 403
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    with office.app.session() as s:
        wangfang = identity.Actor.of(identity.get_user(s, "wangfang"))
        orgchart.add_delegation(s, wangfang, "wangfang", "linhai", starts_on=today,
                                ends_on=today, scope=["outgoing_document"], reason="休假")
    response = office.call("wangfang", "POST", f"/tasks/{task.id}/delegate", {"to": "linhai"})
    assert response.status_code == 200, response.get_json()
    office.do("linhai", case_id, "sign_supervising",
              {"signoff_opinion": "同意", "decision": "approve"})
    with office.app.session() as s:
        recorded = s.scalar(select(Event).where(Event.type == "delegation_added"))
        assert recorded is not None and recorded.actor == "wangfang"


# --- 3. readers are people who can read --------------------------------------------------------


def _incoming_to_distribution(office: Office, *, classification: str = "none",
                              proposer: str = "zhouqiang", mode: str = "read",
                              lead: str = "emergency_management",
                              group: str = "supervising_leaders",
                              source: str = "深圳市应急管理局") -> int:
    case_id = office.start("zhangli", "incoming_document")
    office.do("zhangli", case_id, "sign_for", {
        "received_at": "2026-03-02T09:30:00+08:00", "source_org": source,
        "copies": 1, "urgency": "", "classification": classification})
    office.do("zhangli", case_id, "register", {
        "title": "关于开展安全生产大检查的通知", "doc_type": "通知",
        "source_org": source, "issued_on": "2026-02-27"})
    office.do("zhangli", case_id, "initial_check", {"check_result": "accept"})
    office.do(proposer, case_id, "propose", {
        "proposed_handling": "请王芳同志阅示", "handling_mode": mode,
        "deadline": "2026-03-20", "lead_department": lead, "instruction_group": group})
    return case_id


def test_the_reader_list_offers_neither_auditor_nor_administrator(office: Office) -> None:
    case_id = _incoming_to_distribution(office)
    office.do("wangfang", case_id, "instruct", {"instruction": "请各位阅", "handling_mode": "read",
                                                "deadline": "2026-03-20", "decision": "approve"})
    task = office.task(case_id, "distribute_read")
    form = office.call("zhangli", "GET", f"/tasks/{task.id}").get_json()["form"]
    readers = form["properties"]["readers"]["items"]["enum"]
    assert "auditor" not in readers and "admin" not in readers and "wangfang" in readers
    response = office.complete("zhangli", case_id, "distribute_read", {"readers": ["auditor"]})
    assert response.status_code == 422
    assert office.open_specs(case_id) == ["distribute_read"]


# --- 4. separation of duties -----------------------------------------------------------------


def test_the_drafter_cannot_review_her_own_draft(office: Office) -> None:
    case_id = office.start("wujing", "outgoing_document")
    office.do("wujing", case_id, "draft", {**DRAFT, "drafting_department": "general_office"})
    office.do("zhouqiang", case_id, "section_review",
              {"section_opinion": "同意", "decision": "approve"})
    response = office.complete("wujing", case_id, "office_review",
                               {"review_opinion": "同意", "decision": "approve"})
    assert response.status_code == 403
    assert "separation of duties" in response.get_json()["error"]


def test_a_section_head_cannot_review_his_own_draft(office: Office) -> None:
    case_id = office.start("zhouqiang", "outgoing_document")
    office.do("zhouqiang", case_id, "draft", {**DRAFT, "drafting_department": "general_office"})
    task = office.task(case_id, "section_review")
    refused = office.call("zhouqiang", "POST", f"/tasks/{task.id}/claim")
    assert refused.status_code == 403
    assert "separation of duties" in refused.get_json()["error"]


def test_the_director_cannot_instruct_on_his_own_proposal(office: Office) -> None:
    # 林海 stands in for 王芳 during her leave, then proposes the handling of a matter in
    # her portfolio: the 批示 is hers, and he still may not do it (separation of duties).
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    with office.app.session() as s:
        wangfang = identity.Actor.of(identity.get_user(s, "wangfang"))
        orgchart.add_delegation(s, wangfang, "wangfang", "linhai", starts_on=today,
                                ends_on=today, reason="休假")
    case_id = _incoming_to_distribution(office, proposer="linhai")
    assert office.task(case_id, "instruct").assignee == "wangfang"
    response = office.complete("linhai", case_id, "instruct", {
        "instruction": "同意", "handling_mode": "read", "deadline": "2026-03-20",
        "decision": "approve"})
    assert response.status_code == 403
    assert "拟办" in response.get_json()["error"]
    office.do("wangfang", case_id, "instruct", {"instruction": "同意", "handling_mode": "read",
                                                "deadline": "2026-03-20", "decision": "approve"})


def test_the_administrator_cannot_reassign_a_review_to_the_drafter(office: Office) -> None:
    case_id = office.start("wujing", "outgoing_document")
    office.do("wujing", case_id, "draft", {**DRAFT, "drafting_department": "general_office"})
    task = office.task(case_id, "section_review")
    with office.app.session() as s:
        from engine.runtime import admin

        actor = identity.Actor.of(identity.get_user(s, "admin"))
        with pytest.raises(NotAllowed) as refused:
            admin.reassign(s, actor, task.id, "顶岗", "wujing")
    assert "is not for 吴静" in str(refused.value)


# --- 5. seals ------------------------------------------------------------------------------


SEAL = {"seal": "management_committee", "purpose": "发文用印", "title": "某文件",
        "copies": 5, "basis": "已签发的发文稿纸", "signed_document": True,
        "applicant_department": "general_office"}


def test_a_seal_request_citing_an_unknown_number_is_refused(office: Office) -> None:
    case_id = office.start("zhangli", "seal_use")
    response = office.complete("zhangli", case_id, "request",
                               {**SEAL, "related_number": "深鹏管〔2026〕999号"})
    assert response.status_code == 422
    assert "related_number" in response.get_json()["errors"]
    assert office.open_specs(case_id) == ["request"]


def _outgoing_to_seal(office: Office, **draft: Any) -> int:
    case_id = office.outgoing_to_signing(**draft)
    signing = office.open_specs(case_id)[0]
    leader = office.task(case_id, signing).assignee
    assert leader is not None
    office.do(leader, case_id, signing, {"signoff_opinion": "同意", "decision": "approve",
                                         "signed_on": "2026-03-02"})
    office.do("wujing", case_id, "recheck", {"recheck_opinion": "无误",
                                             "substantive_change": False})
    office.do("zhangli", case_id, "typeset", {"printed_on": "2026-03-03", "copies": 5})
    return case_id


def test_a_document_of_one_issuer_takes_its_own_seal(office: Office) -> None:
    case_id = _outgoing_to_seal(office, number_prefix="深鹏发")
    request = {**SEAL, "seal": "general_office", "related_number": "深鹏发〔2026〕1号"}
    response = office.complete("liuyang", case_id, "request", request)
    assert response.status_code == 422
    assert "seal" in response.get_json()["errors"]


def test_more_copies_than_approved_are_refused_and_a_failed_check_blocks(office: Office
                                                                         ) -> None:
    case_id = _outgoing_to_seal(office, number_prefix="深鹏管")
    number = "深鹏管〔2026〕1号"
    too_many = office.complete("liuyang", case_id, "request",
                               {**SEAL, "copies": 50, "related_number": number})
    assert too_many.status_code == 422
    assert "copies" in too_many.get_json()["errors"]
    office.do("liuyang", case_id, "request", {**SEAL, "related_number": number})
    unticked = office.complete("xugang", case_id, "supervise", {
        "text_matches": False, "no_blank": False, "seal_check": "approve"})
    assert unticked.status_code == 422
    office.do("xugang", case_id, "supervise",
              {"text_matches": True, "no_blank": True, "seal_check": "approve"})
    stamped = office.complete("xugang", case_id, "stamp_and_file", {
        "stamped_at": "2026-03-03T10:00:00+08:00", "stamped_copies": 50})
    assert stamped.status_code == 422
    assert "stamped_copies" in stamped.get_json()["errors"]


# --- 6. 会签, 行文规则, 成文日期 ------------------------------------------------------------------


def test_a_co_signers_disagreement_returns_the_draft(office: Office) -> None:
    case_id = office.start("liuyang", "outgoing_document")
    office.do("liuyang", case_id, "draft", {**DRAFT, "cosign_departments": ["urban_management"]})
    office.do("zhouqiang", case_id, "section_review",
              {"section_opinion": "同意", "decision": "approve"})
    office.do("zhaolei", case_id, "cosign", {"cosign_opinion": "执法力量不足，不同意",
                                             "cosign_decision": "disagree"})
    assert office.open_specs(case_id) == ["draft"]


def test_routing_rules_are_checked_at_review(office: Office) -> None:
    case_id = office.start("liuyang", "outgoing_document")
    office.do("liuyang", case_id, "draft", {
        **DRAFT, **REQUEST, "principal_recipients": "深圳市人民政府、深圳市发展和改革委员会",
        "cc_recipients": "葵涌办事处"})
    office.do("zhouqiang", case_id, "section_review",
              {"section_opinion": "同意", "decision": "approve"})
    refused = office.complete("wujing", case_id, "office_review",
                              {"review_opinion": "同意", "decision": "approve"})
    assert refused.status_code == 422
    assert set(refused.get_json()["errors"]) == {"principal_recipients", "cc_recipients"}
    office.do("wujing", case_id, "office_review", {
        "review_opinion": "同意", "decision": "approve",
        "routing_override": "市政府要求同时报送市发改委"})
    assert office.open_specs(case_id) == ["leader_review"]


def test_the_date_of_issue_is_the_signing_date_and_never_before_it(office: Office) -> None:
    case_id = office.outgoing_to_signing()
    office.do("wangfang", case_id, "sign_supervising", {
        "signoff_opinion": "同意", "decision": "approve", "signed_on": "2026-03-02"})
    office.do("wujing", case_id, "recheck", {"recheck_opinion": "无误",
                                             "substantive_change": False})
    early = office.complete("zhangli", case_id, "typeset", {
        "issued_on": "2026-03-01", "printed_on": "2026-03-03", "copies": 5})
    assert early.status_code == 422
    assert "issued_on" in early.get_json()["errors"]
    office.do("zhangli", case_id, "typeset", {"printed_on": "2026-03-03", "copies": 5})
    with office.app.session() as s:
        event = s.scalars(select(Event).where(Event.instance_id == case_id,
                                              Event.task_name == "套红印制")).all()[-1]
    assert '"issued_on":"2026-03-02"' in event.payload.replace(" ", "")


def test_the_lead_unit_cannot_also_co_handle(office: Office) -> None:
    case_id = _incoming_to_distribution(office, mode="act")
    office.do("wangfang", case_id, "instruct", {"instruction": "请应急局办理",
                                                "handling_mode": "act",
                                                "deadline": "2026-03-20",
                                                "decision": "approve"})
    response = office.complete("zhangli", case_id, "distribute_act", {
        "lead_department": "emergency_management",
        "co_departments": ["emergency_management", "urban_management"]})
    assert response.status_code == 422
    assert "co_departments" in response.get_json()["errors"]


# --- 7. who may start ------------------------------------------------------------------------


def test_a_bureau_handler_cannot_start_incoming_document(office: Office) -> None:
    response = office.call("liuyang", "POST", "/definitions/incoming_document/instances",
                           {"data": {}})
    assert response.status_code == 403
    listed = {d["key"] for d in office.call("liuyang", "GET", "/definitions").get_json()}
    assert "incoming_document" not in listed and "outgoing_document" in listed


def test_a_case_without_a_document_takes_the_classification_signed_for(office: Office
                                                                        ) -> None:
    case_id = office.start("zhangli", "incoming_document")
    office.do("zhangli", case_id, "sign_for", {
        "received_at": "2026-03-02T09:30:00+08:00", "source_org": "深圳市国家保密局",
        "copies": 1, "urgency": "", "classification": "confidential"})
    status = office.call("liuyang", "GET", f"/instances/{case_id}")
    assert status.status_code == 404  # a handler without clearance no longer sees it
    task = office.task(case_id, "register")
    assert task.classification == identity.clearance_level("confidential")


# --- 8. 批示 goes to the leader in charge of the matter ----------------------------------------


INSTRUCTION = {"instruction": "请阅", "handling_mode": "read", "deadline": "2026-03-20",
               "decision": "approve"}


def test_the_instruction_goes_to_the_leader_in_charge_of_the_matter(office: Office) -> None:
    # 社会事务局 is in 林海's portfolio: he instructs, not every supervising leader.
    case_id = _incoming_to_distribution(office, lead="social_affairs")
    task = office.task(case_id, "instruct")
    assert task.assignee == "linhai" and not task.candidate_groups
    # Not hers: she cannot claim or complete it (it is not even in her view).
    assert office.call("wangfang", "POST", f"/tasks/{task.id}/claim").status_code == 404
    assert office.complete("wangfang", case_id, "instruct", INSTRUCTION).status_code == 404
    assert office.task(case_id, "instruct").assignee == "linhai"
    office.do("linhai", case_id, "instruct", INSTRUCTION)
    assert office.open_specs(case_id) == ["distribute_read"]
    # 应急管理局 is in 王芳's portfolio.
    other = _incoming_to_distribution(office, lead="emergency_management")
    assert office.task(other, "instruct").assignee == "wangfang"


def test_the_principal_leader_instructs_when_the_matter_needs_it(office: Office) -> None:
    proposed = _incoming_to_distribution(office, group="principal_leaders")
    assert office.task(proposed, "instruct").assignee == "chenming"
    assert office.complete("wangfang", proposed, "instruct", INSTRUCTION).status_code == 404
    # A document from the city government goes to the principal leader whatever 拟办 chose.
    from_above = _incoming_to_distribution(office, source="深圳市人民政府")
    assert office.task(from_above, "instruct").assignee == "chenming"
    # The leader in charge proposed the handling himself: the principal leader instructs.
    own = _incoming_to_distribution(office, proposer="linhai", lead="social_affairs")
    assert office.task(own, "instruct").assignee == "chenming"


def test_another_leader_instructs_only_under_a_delegation(office: Office) -> None:
    case_id = _incoming_to_distribution(office)
    assert office.complete("linhai", case_id, "instruct", INSTRUCTION).status_code == 404
    today = clock.now().astimezone(clock.OFFICE_TZ).date().isoformat()
    recorded = office.call("wangfang", "POST", "/delegations", {
        "to": "linhai", "starts_on": today, "ends_on": today,
        "scope": ["incoming_document"], "reason": "王芳出差"})
    assert recorded.status_code == 201, recorded.get_json()
    # Standing in for her, he finds it in his inbox and completes it.
    listed = office.call("linhai", "GET", "/tasks").get_json()
    assert any(t["id"] == office.task(case_id, "instruct").id for t in listed)
    office.do("linhai", case_id, "instruct", INSTRUCTION)
    with office.app.session() as s:
        done = s.scalars(select(Event).where(Event.instance_id == case_id,
                                             Event.type == "completed")).all()[-1]
    assert done.actor == "linhai"


# --- 9. staff record their own 委托 -----------------------------------------------------------


def _period() -> dict[str, str]:
    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    return {"starts_on": today.isoformat(), "ends_on": today.isoformat()}


def test_a_leader_records_ends_and_lists_her_own_delegation(office: Office) -> None:
    case_id = office.outgoing_to_signing()
    recorded = office.call("wangfang", "POST", "/delegations", {
        "to": "linhai", **_period(), "scope": ["outgoing_document"], "reason": "休假"})
    assert recorded.status_code == 201, recorded.get_json()
    delegation = recorded.get_json()
    assert delegation["from"] == "wangfang" and delegation["created_by"] == "wangfang"
    listed = office.call("linhai", "GET", "/delegations").get_json()
    assert [d["id"] for d in listed] == [delegation["id"]]
    assert office.call("zhangli", "GET", "/delegations").get_json() == []
    # Only the person who gave it (or an administrator) ends it.
    stranger = office.call("linhai", "POST", f"/delegations/{delegation['id']}/end",
                           {"reason": "不需要"})
    assert stranger.status_code == 403
    ended = office.call("wangfang", "POST", f"/delegations/{delegation['id']}/end",
                        {"reason": "提前返岗"})
    assert ended.status_code == 200 and ended.get_json()["ended_at"]
    # Ended early: the delegate no longer signs for her.
    refused = office.complete("linhai", case_id, "sign_supervising",
                              {"signoff_opinion": "同意", "decision": "approve"})
    assert refused.status_code == 404
    with office.app.session() as s:
        events = [(e.type, e.actor) for e in s.scalars(select(Event).where(
            Event.type.in_(["delegation_added", "delegation_revoked"])).order_by(Event.id))]
    assert events == [("delegation_added", "wangfang"), ("delegation_revoked", "wangfang")]


def test_nobody_records_a_delegation_in_someone_elses_name(office: Office) -> None:
    response = office.call("zhouqiang", "POST", "/delegations", {
        "from": "wangfang", "to": "linhai", **_period(), "reason": "代为登记"})
    assert response.status_code == 403
    assert office.call("admin", "GET", "/delegations").get_json() == []


def test_a_delegate_must_be_someone_who_may_hold_those_tasks(office: Office) -> None:
    office.outgoing_to_signing()
    # A leader's sign-off passes only to another leader, never to the records clerk.
    clerk = office.call("wangfang", "POST", "/delegations", {
        "to": "zhangli", **_period(), "reason": "休假"})
    assert clerk.status_code == 403
    assert "only another leader" in clerk.get_json()["error"]
    # A records clerk's work passes to a colleague of her unit or role, not to a bureau.
    handler = office.call("zhangli", "POST", "/delegations", {
        "to": "liuyang", **_period(), "reason": "休假"})
    assert handler.status_code == 403
    assert "neither a unit nor a role" in handler.get_json()["error"]
    colleague = office.call("zhangli", "POST", "/delegations", {
        "to": "dengyu", **_period(), "reason": "休假"})
    assert colleague.status_code == 201
    # Separation of duties holds for the delegate: 林海 proposed, so he cannot take
    # 王芳's 批示 of that document.
    _incoming_to_distribution(office, proposer="linhai")
    barred = office.call("wangfang", "POST", "/delegations", {
        "to": "linhai", **_period(), "scope": ["incoming_document"], "reason": "休假"})
    assert barred.status_code == 403
    assert "separation of duties" in barred.get_json()["error"]
    unknown = office.call("wangfang", "POST", "/delegations", {
        "to": "linhai", **_period(), "scope": ["no_such_process"], "reason": "休假"})
    assert unknown.status_code == 400
    assert "no_such_process" in unknown.get_json()["error"]
    with office.app.session() as s:
        added = s.scalars(select(Event).where(Event.type == "delegation_added")).all()
    assert [e.actor for e in added] == ["zhangli"]  # only the colleague's was recorded


# --- 10. joint documents: each co-issuer's leader signs before numbering -----------------------


def test_each_co_issuer_signs_before_numbering(office: Office) -> None:
    case_id = office.outgoing_to_signing(joint_issuers=["general_office", "social_affairs"])
    office.do("wangfang", case_id, "sign_supervising",
              {"signoff_opinion": "同意", "decision": "approve"})
    with office.app.session() as s:
        joint = {t.assignee for t in s.scalars(select(Task).where(
            Task.instance_id == case_id)) if t.spec.startswith("joint_sign")}
    # 综合办公室's head (林海) and 社会事务局's leader in charge (林海, no head): one each.
    assert office.open_specs(case_id) == ["joint_sign [child]", "joint_sign [child]"]
    assert joint == {"linhai"}
    refused = office.complete("wangfang", case_id, "joint_sign",
                              {"signoff_opinion": "同意", "joint_decision": "agree"})
    assert refused.status_code == 404
    office.do("linhai", case_id, "joint_sign", {"signoff_opinion": "同意",
                                                "joint_decision": "agree"})
    assert office.open_specs(case_id) == ["joint_sign [child]"]
    assert not _numbered(office, case_id)
    office.do("linhai", case_id, "joint_sign", {"signoff_opinion": "同意",
                                                "joint_decision": "agree"})
    assert office.open_specs(case_id) == ["recheck"]
    office.do("wujing", case_id, "recheck", {"recheck_opinion": "无误",
                                             "substantive_change": False})
    assert _numbered(office, case_id)


def _numbered(office: Office, case_id: int) -> bool:
    """Whether the case has passed 编号登记 (its number is allocated by a service call)."""
    with office.app.session() as s:
        return any('"allocate_number"' in e.payload for e in s.scalars(
            select(Event).where(Event.instance_id == case_id)))


def test_a_co_issuer_that_refuses_sends_the_draft_back(office: Office) -> None:
    case_id = office.outgoing_to_signing(joint_issuers=["general_office"])
    office.do("wangfang", case_id, "sign_supervising",
              {"signoff_opinion": "同意", "decision": "approve"})
    assert office.task(case_id, "joint_sign").assignee == "linhai"
    office.do("linhai", case_id, "joint_sign", {"signoff_opinion": "职责不符，不同意联合发文",
                                                "joint_decision": "disagree"})
    assert office.open_specs(case_id) == ["draft"]


def test_a_co_issuer_is_never_signed_for_by_the_drafter(office: Office) -> None:
    with office.app.session() as s:
        assert orgchart.joint_signer(s, "general_office") == "linhai"  # its head
        assert orgchart.joint_signer(s, "social_affairs") == "linhai"  # no head: in charge
        # 林海 drafted: the next in line (the principal leader) signs for his units.
        assert orgchart.joint_signer(s, "general_office", drafter="linhai") == "chenming"
        assert orgchart.joint_signer(s, "social_affairs", drafter="linhai") == "chenming"


# --- 11. the drafter cannot countersign for his own unit ---------------------------------------


def test_the_drafter_cannot_countersign_for_his_own_unit(office: Office) -> None:
    case_id = office.start("liuyang", "outgoing_document")
    office.do("liuyang", case_id, "draft",
              {**DRAFT, "cosign_departments": ["emergency_management", "urban_management"]})
    office.do("zhouqiang", case_id, "section_review",
              {"section_opinion": "同意", "decision": "approve"})
    with office.app.session() as s:
        own = next(t for t in s.scalars(select(Task).where(Task.instance_id == case_id))
                   if "emergency_management" in (t.candidate_groups or []))
        s.expunge(own)
    refused = office.call("liuyang", "POST", f"/tasks/{own.id}/complete", {"data": {
        "cosign_opinion": "同意", "cosign_decision": "agree"}})
    assert refused.status_code == 403
    assert "separation of duties" in refused.get_json()["error"]
    assert office.open_specs(case_id) == ["cosign [child]", "cosign [child]"]


# --- 12. who may start the other processes ---------------------------------------------------


@pytest.mark.parametrize(("key", "starter"), [
    ("suggestion_proposal", "huangmin"), ("supervision", "huangmin"),
    ("disclosure_request", "guoyan"), ("archiving", "mali")])
def test_a_bureau_handler_cannot_start_an_office_process(office: Office, key: str,
                                                         starter: str) -> None:
    refused = office.call("liuyang", "POST", f"/definitions/{key}/instances", {"data": {}})
    assert refused.status_code == 403
    listed = {d["key"] for d in office.call("liuyang", "GET", "/definitions").get_json()}
    assert key not in listed
    office.start(starter, key)


@pytest.mark.parametrize(("key", "starter"), [
    ("archiving", "mali"), ("supervision", "huangmin"), ("disclosure_request", "zhangli"),
    ("suggestion_proposal", "huangmin")])
def test_a_case_started_with_a_classification_takes_it(office: Office, key: str,
                                                       starter: str) -> None:
    case_id = office.start(starter, key, {"classification": "confidential"})
    with office.app.session() as s:
        instance = s.get(Instance, case_id)
        assert instance is not None
        assert instance.classification == identity.clearance_level("confidential")
    assert office.call("liuyang", "GET", f"/instances/{case_id}").status_code == 404
    assert office.call(starter, "GET", f"/instances/{case_id}").status_code == 200
