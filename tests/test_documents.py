"""The document registry: fields per kind, clearance, search, routing rules, case sync."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine import Docroute, FormInvalid, NotAllowed, NotFound, runtime, wiring
from engine.models import Document
from engine.org.identity import Actor
from engine.registry import documents
from engine.registry.doctypes import BY_NAME, DOC_TYPES, check_routing, org_level
from engine.registry.documents import Search

DATA = Path(__file__).parent / "data"

INCOMING = {"title": "关于做好2026年防汛防旱防风工作的通知", "source_org": "深圳市人民政府",
            "source_number": "深府〔2026〕16号", "doc_type": "通知", "urgency": "加急",
            "copies": 2, "issued_on": "2026-02-27", "received_at": "2026-03-02T09:00:00+08:00"}
OUTGOING = {"title": "大鹏新区综合办公室关于国庆期间游客安全工作的通知", "doc_type": "通知",
            "principal_recipients": ["葵涌办事处", "大鹏办事处", "南澳办事处"],
            "drafting_department": "general_office", "urgency": "特急"}


def _create(app: Docroute, actor: Actor, kind: str, fields: dict) -> int:
    with app.session() as s:
        return documents.create_document(s, actor, kind, fields).id


# --- fields and clearance ---------------------------------------------------------------------


def test_create_and_get_incoming(docroute: Docroute, people: dict[str, Actor]) -> None:
    doc_id = _create(docroute, people["clerk"], "incoming", INCOMING)
    with docroute.session() as s:
        doc = documents.get_document(s, people["clerk"], doc_id)
        values = documents.field_values(doc)
    assert (doc.kind, doc.doc_type, doc.urgency, doc.status) == ("incoming", "通知", "加急", "open")
    assert doc.fields["source_number"] == "深府〔2026〕16号"
    assert values["copies"] == 2 and values["classification"] == "none"


@pytest.mark.parametrize(("kind", "fields", "field", "message"), [
    ("incoming", {"title": "x", "doc_type": "通知"}, "source_org", "this field is required"),
    ("incoming", {**INCOMING, "copies": 0}, "copies", "0 is less than the minimum of 1"),
    ("incoming", {**INCOMING, "issued_on": "2026-02-30"}, "issued_on",
     "'2026-02-30' is not a 'date'"),
    ("incoming", {**INCOMING, "colour": "red"}, "colour", "unknown field 'colour'"),
    ("outgoing", {**OUTGOING, "doc_number": "深鹏办〔2026〕012号"}, "doc_number",
     "发文字号格式应为“代字〔年份〕序号号” / '深鹏办〔2026〕012号' is not a document number "
     "like 深鹏办〔2026〕12号"),
    ("seal", {"title": "用印", "seal": "大鹏新区综合办公室印章"}, "copies",
     "this field is required"),
    ("memo", {"title": "x"}, "kind",
     "unknown document kind 'memo'; use one of incoming, outgoing, proposal, supervision, "
     "seal, disclosure"),
])
def test_field_validation(docroute: Docroute, people: dict[str, Actor], kind: str,
                          fields: dict, field: str, message: str) -> None:
    with pytest.raises(FormInvalid) as caught, docroute.session() as s:
        documents.create_document(s, people["clerk"], kind, fields)
    assert caught.value.errors[field] == message


def test_every_kind_registers(docroute: Docroute, people: dict[str, Actor]) -> None:
    samples = {
        "proposal": {"title": "关于加强大鹏所城保护利用的建议", "lead_proposer": "李代表",
                     "proposal_kind": "deputy_suggestion", "handling_mode": "lead_co"},
        "supervision": {"title": "落实湾长制巡查", "source_type": "leader_instruction",
                        "instructing_leader": "陈明", "deadline": "2026-03-20"},
        "seal": {"title": "用印申请：民宿管理通知", "seal": "大鹏新区综合办公室印章", "copies": 3},
        "disclosure": {"title": "申请公开国际生物谷规划", "applicant_name": "王某",
                       "request_content": "国际生物谷坝光片区规划文本", "received_via": "online"},
    }
    for kind, fields in samples.items():
        doc_id = _create(docroute, people["clerk"], kind, fields)
        with docroute.session() as s:
            assert documents.get_document(s, people["clerk"], doc_id).kind == kind


def test_clearance_hides_documents(docroute: Docroute, people: dict[str, Actor]) -> None:
    secret = _create(docroute, people["rev1"], "incoming",
                     {**INCOMING, "title": "机密 防风预案", "classification": "secret"})
    plain = _create(docroute, people["clerk"], "incoming", INCOMING)
    with docroute.session() as s:
        with pytest.raises(NotFound) as caught:
            documents.get_document(s, people["clerk"], secret)
        visible = {d.id for d in documents.list_documents(s, people["clerk"])}
        boss_sees = {d.id for d in documents.list_documents(s, people["boss"])}
        admin_sees = {d.id for d in documents.list_documents(s, people["admin"])}
    assert str(caught.value) == f"no document with id {secret}"
    assert visible == {plain}
    assert boss_sees == set()  # cleared for both, involved in neither (engine.org.access)
    assert admin_sees == {plain, secret}


def test_cannot_register_above_own_clearance(docroute: Docroute,
                                             people: dict[str, Actor]) -> None:
    with pytest.raises(NotAllowed) as caught, docroute.session() as s:
        documents.create_document(s, people["clerk"], "incoming",
                                  {**INCOMING, "classification": "机密"})
    assert str(caught.value) == "you may not register a document above your own clearance"


def test_search_filters(docroute: Docroute, people: dict[str, Actor], manual_clock) -> None:
    clerk = people["clerk"]
    first = _create(docroute, clerk, "incoming", INCOMING)
    manual_clock.set(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    second = _create(docroute, clerk, "incoming", {**INCOMING, "title": "关于森林防火的函",
                                                   "doc_type": "函"})
    third = _create(docroute, clerk, "outgoing", OUTGOING)
    with docroute.session() as s:
        def ids(**kw: object) -> list[int]:
            return [d.id for d in documents.list_documents(s, clerk, Search(**kw))]

        assert ids() == [third, second, first]
        assert ids(q="森林防火的函") == [second]
        assert ids(q="森林防火") == [second]
        assert ids(q="深圳市人民政府") == [second, first]  # the sending organ is searched too
        assert ids(kind="outgoing") == [third]
        assert ids(doc_type="通知", kind="incoming") == [first]
        assert ids(department="general_office") == [third]
        assert ids(date_to=date(2026, 3, 2)) == [first]
        assert ids(date_from=date(2026, 3, 10)) == [third, second]
        assert ids(limit=1, offset=1) == [second]
        assert ids(q="%") == []  # a typed % is a character, not a wildcard
        assert ids(q="2026") == [second, first]  # both carry 深府〔2026〕16号
        assert ids(q="深府[2026]16") == [second, first]


def test_link_case(docroute: Docroute, people: dict[str, Actor]) -> None:
    _deploy(docroute, "document_services.bpmn")
    admin = people["admin"]
    doc_id = _create(docroute, admin, "incoming", INCOMING)
    other = _create(docroute, admin, "incoming", {**INCOMING, "title": "另一份来文"})
    with docroute.session() as s:
        case_id = runtime.start_case(s, admin, "document_services").id
    with docroute.session() as s:
        instance = documents.link_case(s, admin, doc_id, case_id)
        assert instance.document_id == doc_id
        assert s.get(Document, doc_id).status == "in_progress"
        assert [c.id for c in documents.cases_of(s, admin, doc_id)] == [case_id]
    with pytest.raises(NotAllowed) as caught, docroute.session() as s:
        documents.link_case(s, admin, other, case_id)
    assert str(caught.value) == "this case already routes another document"
    with pytest.raises(NotFound), docroute.session() as s:
        documents.link_case(s, people["clerk"], doc_id, 999)


def test_update_revalidates(docroute: Docroute, people: dict[str, Actor]) -> None:
    doc_id = _create(docroute, people["clerk"], "outgoing", OUTGOING)
    with docroute.session() as s:
        doc = documents.update_document(s, people["clerk"], doc_id,
                                        {"signer": "陈明", "urgency": None})
        assert doc.fields["signer"] == "陈明" and doc.urgency == ""
    with pytest.raises(FormInvalid) as caught, docroute.session() as s:
        documents.update_document(s, people["clerk"], doc_id, {"doc_type": "请示"})
    message = caught.value.errors["principal_recipients"]
    assert message.startswith("请示只能主送一个上级机关，现有 3 个")


# --- doc types and routing rules ------------------------------------------------------------


def test_fifteen_types() -> None:
    assert len(DOC_TYPES) == 15
    assert [t.zh for t in DOC_TYPES if not t.enabled] == ["命令", "议案"]
    assert BY_NAME["函"].en == "Letter"


@pytest.mark.parametrize(("fields", "messages"), [
    ({"doc_type": "请示", "principal_recipients": ["深圳市人民政府", "深圳市人民政府办公厅"],
      "signer": "陈明"},
     ["请示只能主送一个上级机关，现有 2 个 / a 请示 (request for instructions) goes to "
      "exactly one principal recipient, not 2"]),
    ({"doc_type": "请示", "principal_recipients": ["深圳市人民政府"], "signer": "陈明",
      "cc_recipients": ["南澳办事处"]},
     ["请示不得抄送下级机关：南澳办事处 / a 请示 is never copied to subordinate units "
      "(南澳办事处)"]),
    ({"doc_type": "报告", "title": "关于台风“海葵”灾后恢复情况的报告", "signer": "陈明",
      "summary": "现将有关情况报告如下，妥否，请批示。",
      "principal_recipients": ["深圳市人民政府"]},
     ["报告中不得夹带请示事项（“请批示”“妥否”）/ a 报告 (report) must not contain a request "
      "(请批示, 妥否); send a separate 请示"]),
    ({"doc_type": "报告", "principal_recipients": ["深圳市人民政府"]},
     ["上行文须标注签发人 / an upward document needs its signing leader (签发人)"]),
    ({"doc_type": "函", "principal_recipients": ["深圳市规划和自然资源局"]},
     ["上行文须标注签发人 / an upward document needs its signing leader (签发人)"]),
    ({"doc_type": "命令", "principal_recipients": ["南澳办事处"]},
     ["本机关不使用“命令” / this office does not issue a 命令 (Order); choose another "
      "document type"]),
    ({"doc_type": "通知", "issuer": "深圳市大鹏新区管理委员会",
      "joint_issuers": ["深圳市人民政府"], "principal_recipients": ["南澳办事处"]},
     ["联合行文仅限同级机关 / only organs of the same level issue jointly "
      "(深圳市大鹏新区管理委员会: same, 深圳市人民政府: superior)"]),
    ({"doc_type": "请示", "principal_recipients": ["广东省人民政府"], "signer": "陈明"},
     ["越级行文须抄送被越过的上级机关 / a document to 广东省人民政府 skips a level: copy it to "
      "the superior organ that was skipped"]),
    ({"doc_type": "通知", "principal_recipients": ["葵涌办事处", "大鹏办事处"]}, []),
    ({"doc_type": "请示", "principal_recipients": ["深圳市人民政府"], "signer": "陈明",
      "cc_recipients": ["深圳市应急管理局"]}, []),
])
def test_routing_rules(fields: dict, messages: list[str]) -> None:
    assert check_routing(fields) == messages


def test_draft_routing_is_lenient() -> None:
    assert check_routing({"doc_type": "请示"}, complete=False) == []
    assert len(check_routing({"doc_type": "请示"})) == 2


def test_org_levels() -> None:
    assert org_level("深圳市人民政府") == "superior"
    assert org_level("深圳市光明区人民政府") == "same"
    assert org_level("南澳办事处") == "subordinate"
    assert org_level("大鹏新区应急管理局") == "subordinate"
    assert org_level("国务院办公厅") == "superior_2"
    assert org_level("某某公司") is None


def test_outgoing_create_refuses_routing_errors(docroute: Docroute,
                                                people: dict[str, Actor]) -> None:
    with pytest.raises(FormInvalid) as caught, docroute.session() as s:
        documents.create_document(s, people["clerk"], "outgoing", {
            **OUTGOING, "doc_type": "报告", "summary": "当否，请批示",
            "principal_recipients": ["深圳市人民政府"]})
    assert set(caught.value.errors) == {"summary"}


# --- cases, operators and the after-step sync ------------------------------------------------


def _deploy(app: Docroute, name: str) -> None:
    from engine.definitions import SourceFile

    with app.session() as s:
        app.deploy_forms(s, app.form_files(), "admin")
    with app.session() as s:
        app.deploy(s, [SourceFile(name, (DATA / "workflows" / name).read_bytes())],
                   actor="admin")


def test_operators_registered() -> None:
    names = set(wiring.operator_table())
    assert {"allocate_number", "register_seal_use", "assign_archive_code"} <= names


def test_case_flows_into_document(docroute: Docroute, people: dict[str, Actor]) -> None:
    _deploy(docroute, "document_services.bpmn")
    admin = people["admin"]
    doc_id = _create(docroute, admin, "outgoing", {**OUTGOING, "classification": "secret"})
    with docroute.session() as s:
        instance = runtime.start_case(s, admin, "document_services", document_id=doc_id)
        case_id = instance.id
    with docroute.session() as s:
        doc = s.get(Document, doc_id)
        # started: the number and the seal entry were allocated by the service tasks, in
        # the 机密 series (numbering.SERIES_MARKS)
        assert doc.doc_number == "深鹏办机〔2026〕1号"
        assert doc.fields["seal_register_number"] == "用印机〔2026〕1号"
        assert doc.fields["seal_register"][0]["copies"] == 3
        assert doc.status == "in_progress"
        assert [c.id for c in documents.cases_of(s, admin, doc_id)] == [case_id]
        row = _open_task(s, case_id)
    with docroute.session() as s:
        runtime.complete(s, row, people["boss"], {"signer": "陈明", "retention": "定期30年",
                                         "title": OUTGOING["title"] + "（修订）"})
    with docroute.session() as s:
        doc = s.get(Document, doc_id)
        instance = runtime.get_instance(s, case_id, admin)
        assert instance.status == "completed"
        assert doc.fields["signer"] == "陈明"
        assert doc.title.endswith("（修订）") and instance.title == doc.title
        assert doc.fields["archive_code"] == "DP01-WS·2026-D30-ZHB-0001"
        assert doc.fields["retention"] == "定期30年"
        assert doc.status == "archived"
        assert doc.fields["attachments_withheld"] is True  # classified: metadata only
    from engine.history import replay
    from engine.models import NumberLog

    with docroute.session() as s:
        # Replay hands the recorded numbers back: nothing is allocated a second time.
        assert replay.verify(s, case_id).ok
        assert s.query(NumberLog).count() == 3


def _open_task(s, case_id: int) -> str:
    from sqlalchemy import select

    from engine.models import Task

    return s.scalars(select(Task.id).where(Task.instance_id == case_id)).one()


def test_sync_skips_values_that_do_not_fit(docroute: Docroute, people: dict[str, Actor]) -> None:
    from engine.registry.document_ops import copy_fields

    doc_id = _create(docroute, people["clerk"], "incoming", INCOMING)
    with docroute.session() as s:
        doc = s.get(Document, doc_id)
        changed = copy_fields(doc, {"copies": "three", "issued_on": "yesterday",
                                    "classification": "confidential", "handled_on": "2026-03-05",
                                    "department": "housing_construction", "case_id": 7,
                                    "lead_department": "emergency_management",
                                    "unrelated_variable": 1})
        assert changed
        assert doc.fields["copies"] == 2 and doc.fields["issued_on"] == "2026-02-27"
        assert doc.classification == 1 and doc.fields["handled_on"] == "2026-03-05"
        assert doc.department == "emergency_management"
        assert "unrelated_variable" not in doc.fields and "case_id" not in doc.fields
        copy_fields(doc, {"classification": "none"})
        assert doc.classification == 1  # never lowered by case data


# --- the demo ------------------------------------------------------------------------------


def test_demo_documents_and_cases(db_url: str, tmp_path: Path, manual_clock,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import select

    from engine import Settings, demo
    from engine.config import PROJECT_ROOT
    from engine.models import Instance, Task

    app = Docroute(Settings(home=tmp_path / "home", database_url=db_url,
                            forms_dir=PROJECT_ROOT / "forms",
                            workflows_dir=PROJECT_ROOT / "workflows"))
    try:
        app.init()
        demo.seed(app)
        with app.session() as s:
            docs = s.scalars(select(Document).order_by(Document.id)).all()
            by_title = {d.title: d for d in docs}
            types = [d.doc_type for d in docs if d.kind in ("incoming", "outgoing")]
            waiting = {s.get(Instance, t.instance_id).document_id: t.spec
                       for t in s.scalars(select(Task))}
            finished = s.scalars(select(Instance).where(Instance.status == "completed")).all()
            statuses = {i.status for i in s.scalars(select(Instance))}
            count = len(docs)
            tasks = s.scalars(select(Task)).all()
        # Cases started days and weeks ago: every open task has a due date, and the inbox
        # shows every reminder colour.
        assert tasks and all(t.due_at is not None for t in tasks)
        assert {"blue", "yellow", "red", "escalated"} <= {t.reminder_level for t in tasks}
        assert sum(t in ("通知", "函") for t in types) / len(types) >= 0.55
        assert [d.classification for d in docs if d.classification] == [2, 1]
        assert statuses <= {"running", "completed"}, capsys.readouterr().out
        assert {"register", "propose", "instruct", "office_review"} <= set(waiting.values())
        archived = by_title["深圳市海洋发展局关于全面推行湾长制工作的函"]
        assert archived.status == "archived" and archived.fields["archive_code"].startswith(
            "DP01-WS·2026-D30-")
        letter = by_title["大鹏新区综合办公室关于商请协助做好乐高乐园周边交通保障工作的函"]
        assert letter.doc_number == "深鹏办函〔2026〕1号"
        assert len(finished) >= 2
        demo.seed(app)
        from engine.demo.documents import seed_documents

        seed_documents(app)  # idempotent even when called directly
        with app.session() as s:
            assert s.query(Document).count() == count
    finally:
        app.engine.dispose()


def test_demo_without_shipped_processes(docroute: Docroute,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from engine import demo
    from engine.models import Instance

    demo.seed(docroute)
    out = capsys.readouterr().out
    assert "demo: process 'incoming_document' is not deployed; document 1 has no case " \
           "(run 'docroute init' first)" in out
    with docroute.session() as s:
        assert s.query(Document).count() > 15 and s.query(Instance).count() == 0
