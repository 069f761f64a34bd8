"""Opinions, send-back notes and the 办文单, on the shipped workflows (SQLite and PostgreSQL).

Cases are driven by engine.demo.documents.drive, as the demo is, with distinct texts so
the sheet shows which opinion came from where.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import Docroute, NotAllowed, clock, runtime
from engine.demo.documents import form_data
from engine.models import Instance, Task
from engine.org import identity
from engine.org.identity import Actor
from engine.queries import handled
from engine.registry import documents, opinions

ROOT = Path(__file__).resolve().parents[1]

INCOMING = {"title": "深圳市应急管理局关于开展汛期安全检查的通知", "source_org": "深圳市应急管理局",
            "source_number": "深应急〔2026〕88号", "doc_type": "通知", "copies": 2,
            "issued_on": "2026-02-27", "received_at": "2026-03-02T09:00:00+08:00"}
OUTGOING = {"title": "大鹏新区综合办公室关于商请协助做好交通保障工作的函", "doc_type": "函",
            "principal_recipients": ["深圳市交通运输局"], "number_prefix": "深鹏办函",
            "issuer": "深圳市大鹏新区管理委员会", "drafting_department": "general_office",
            "drafter": "吴静", "cc_recipients": "深圳市公安局交通警察局"}
FIRST, SECOND = "拟请王芳副主任阅示（初拟）。", "拟请王芳副主任阅示，应急管理局牵头办理。"
REASON, INSTRUCTION = "请写明牵头单位后再报。", "同意，请应急管理局牵头落实。"


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalog() -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    folder = ROOT / "webui" / "translations" / "zh" / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po, open(folder / "messages.mo", "wb") as mo:
        write_mo(mo, read_po(po, locale="zh"))


@pytest.fixture
def shipped(db_url: str, tmp_path: Path, manual_clock: clock.ManualClock,
            request: pytest.FixtureRequest) -> Iterator[Docroute]:
    from test_webui_staff import make_seeded_sqlite, shipped_docroute

    seeded = make_seeded_sqlite(tmp_path / "seed") if db_url.startswith("sqlite") else None
    docroute = shipped_docroute(db_url, tmp_path / "home", seeded)
    yield docroute
    docroute.engine.dispose()


def _deadline() -> str:
    # A time limit is never in the past (engine.definitions.forms), whatever the test's clock says.
    return (clock.now() + timedelta(days=14)).date().isoformat()


def _users(docroute: Docroute) -> dict[str, Actor]:
    with docroute.session() as s:
        return {u.username: Actor.of(u) for u in identity.list_users(s)}


def _start(docroute: Docroute, author: Actor, kind: str, fields: dict[str, Any],
           process: str) -> tuple[int, int]:
    with docroute.session() as s:
        document = documents.create_document(s, author, kind, fields)
        instance = runtime.start_case(s, author, process, document_id=document.id)
        return document.id, instance.id


def _open(docroute: Docroute, case_id: int, spec: str) -> Task:
    with docroute.session() as s:
        row = s.scalars(select(Task).where(Task.instance_id == case_id, Task.spec == spec)).one()
        s.expunge(row)
        return row


def drive(docroute: Docroute, case_id: int, users: dict[str, Actor], *,
          stop_at: tuple[str, ...] = (), overrides: dict[str, Any] | None = None) -> str:
    """Complete the case's tasks (as the demo does) until one of ``stop_at`` or the end."""
    for _ in range(60):
        with docroute.session() as s:
            rows = list(s.scalars(select(Task).where(Task.instance_id == case_id)
                                  .order_by(Task.created_at, Task.id)))
            if not rows:
                return "finished"
            if any(r.spec in stop_at for r in rows):
                return ", ".join(r.spec for r in rows)
            row = rows[0]
            schema = runtime.task_form(s, s.get_one(Instance, case_id), row)
            data = form_data(schema, runtime.task_data(s, row), overrides or {},
                             row.assignee or "")
            s.expunge(row)
        _complete_as_someone(docroute, row, users, data)
    return "step limit"


def _complete_as_someone(docroute: Docroute, row: Task, users: dict[str, Actor],
                         data: dict[str, Any]) -> None:
    """Complete as the assignee, else as the first candidate the office's rules allow."""
    names = [row.assignee] if row.assignee else sorted(
        u for u, a in users.items() if set(row.candidate_groups or []) & a.groups
        and a.may_see(row.classification) and not (a.is_admin or a.is_auditor))
    for name in names:
        try:
            with docroute.session() as s:
                runtime.complete(s, row.id, users[name], data)
            return
        except NotAllowed:
            continue
    raise AssertionError(f"nobody may complete {row.spec}")


def _send_back_once(docroute: Docroute, users: dict[str, Actor]) -> tuple[int, int]:
    """An incoming case whose 批示 sent the 拟办 back once, then approved the redone one."""
    doc_id, case_id = _start(docroute, users["zhangli"], "incoming", INCOMING,
                             "incoming_document")
    assert drive(docroute, case_id, users, stop_at=("instruct",),
                 overrides={"proposed_handling": FIRST}) == "instruct"
    row = _open(docroute, case_id, "instruct")
    _complete_as_someone(docroute, row, users, {
        "instruction": REASON, "handling_mode": "act", "deadline": _deadline(),
        "decision": "return"})
    # The proposer sees their own earlier text again (a redo of the same step) ...
    propose = _open(docroute, case_id, "propose")
    with docroute.session() as s:
        assert runtime.task_data(s, propose)["proposed_handling"] == FIRST
    assert drive(docroute, case_id, users, stop_at=("instruct",),
                 overrides={"proposed_handling": SECOND}) == "instruct"
    _complete_as_someone(docroute, _open(docroute, case_id, "instruct"), users, {
        "instruction": INSTRUCTION, "handling_mode": "act", "deadline": _deadline(),
        "decision": "approve"})
    return doc_id, case_id


def test_send_back_notes_and_superseded_opinions(shipped: Docroute) -> None:
    users = _users(shipped)
    _doc_id, case_id = _send_back_once(shipped, users)
    with shipped.session() as s:
        found = opinions.case_opinions(s, s.get_one(Instance, case_id))
    shown = [(o.field, o.text, o.send_back, o.superseded) for o in found]
    assert shown == [("proposed_handling", FIRST, False, True),
                     ("instruction", REASON, True, False),
                     ("proposed_handling", SECOND, False, False),
                     ("instruction", INSTRUCTION, False, False)]


def test_no_form_opens_with_another_steps_opinion(shipped: Docroute) -> None:
    users = _users(shipped)
    _doc_id, case_id = _start(shipped, users["zhangli"], "incoming", INCOMING,
                              "incoming_document")
    drive(shipped, case_id, users, stop_at=("propose",),
          overrides={"check_opinion": "初审：材料齐全。"})
    with shipped.session() as s:
        # 初审 wrote check_opinion; 拟办's own field starts empty although the case has data.
        row = s.scalars(select(Task).where(Task.instance_id == case_id)).one()
        data = runtime.task_data(s, row)
        events = opinions.completions(s, s.get_one(Instance, case_id))
    assert any(d.get("check_opinion") == "初审：材料齐全。" for _e, _s, d in events)
    assert "proposed_handling" not in data


def test_archive_check_is_not_prefilled_with_the_clerks_check(shipped: Docroute) -> None:
    users = _users(shipped)
    _doc_id, case_id = _start(shipped, users["zhangli"], "incoming", INCOMING,
                              "incoming_document")
    where = drive(shipped, case_id, users, stop_at=("check",),
                  overrides={"check_opinion": "初审：材料齐全。", "handling_mode": "read"})
    assert where == "check"
    with shipped.session() as s:
        row = s.scalars(select(Task).where(Task.spec == "check")).one()
        assert runtime.task_data(s, row).get("check_opinion") in (None, "")


def _client(docroute: Docroute, username: str, lang: str = "zh") -> FlaskClient:
    from test_webui_staff import login, make_app

    app: Flask = make_app(docroute)
    return login(app, username, lang)


def test_incoming_sheet_prints_send_back_apart_and_leaves_superseded_off(
        shipped: Docroute) -> None:
    users = _users(shipped)
    doc_id, case_id = _send_back_once(shipped, users)
    drive(shipped, case_id, users, overrides={
        "handling_result": "已完成辖区危化品企业汛期检查，整改隐患3处。",
        "reply_content": "检查情况已书面报市应急管理局。", "handling_mode": "act"})
    page = _client(shipped, "zhangli").get(f"/documents/{doc_id}/sheet").data.decode()
    assert "收文处理单" in page
    rows = page.split('<tr class="send-back-row">')
    assert len(rows) == 2 and REASON in rows[1] and REASON not in rows[0]
    assert FIRST not in page and SECOND in page and INSTRUCTION in page
    assert "已完成辖区危化品企业汛期检查" in page and "检查情况已书面报市应急管理局" in page
    assert "2026年3月2日 09:00" in page  # 收到时间 with its year
    assert "打印于 2026年" in page


def test_outgoing_sheet_is_a_draft_sheet(shipped: Docroute) -> None:
    users = _users(shipped)
    doc_id, case_id = _start(shipped, users["guoyan"], "outgoing",
                             {**OUTGOING, "drafter": "郭燕"}, "outgoing_document")
    drive(shipped, case_id, users, stop_at=("typeset",), overrides={
        "review_opinion": "文种恰当，格式规范。", "signoff_opinion": "同意印发。"})
    for lang, words in (("zh", ["发文稿纸", "主送", "抄送", "拟稿", "核稿", "签发",
                                "深圳市交通运输局", "深圳市公安局交通警察局",
                                "文种恰当，格式规范。", "同意印发。", "深鹏办函〔2026〕1号",
                                "2026年3月2日"]),
                        ("en", ["Outgoing document draft sheet", "Principal recipients",
                                "Copied to", "Drafted by", "Reviewed by", "Signed off"])):
        page = _client(shipped, "guoyan", lang).get(f"/documents/{doc_id}/sheet")
        text = page.data.decode()
        for word in words:
            assert word in text, (lang, word)
        assert "收文号" not in text and "Receipt number" not in text
    with shipped.session() as s:
        signer = s.scalars(select(Task)).first()
    assert signer is not None and signer.spec == "typeset"
    review = text.split('class="review-row"')[1].split("</tr>")[0]
    drafted = text.split('class="drafted-row"')[1].split("</tr>")[0]
    assert "吴静" in review and "郭燕" in drafted


def test_read_only_no_is_shown(shipped: Docroute) -> None:
    users = _users(shipped)
    _doc_id, case_id = _start(shipped, users["wujing"], "outgoing",
                              OUTGOING, "outgoing_document")
    drive(shipped, case_id, users, stop_at=("office_review",), overrides={"normative": False})
    row = _open(shipped, case_id, "office_review")
    page = _client(shipped, "wujing").get(f"/tasks/{row.id}").data.decode()
    field = page.split('data-field="normative"')[1].split("</div>")[0]
    assert "否" in field


def test_done_list(shipped: Docroute) -> None:
    users = _users(shipped)
    doc_id, case_id = _start(shipped, users["zhangli"], "incoming", INCOMING,
                             "incoming_document")
    drive(shipped, case_id, users, stop_at=("propose",))
    with shipped.session() as s:
        steps = handled.handled_steps(s, users["zhangli"])
        nobody = handled.handled_steps(s, users["liuyang"])
    assert [st.task_name for st in steps] == ["初审", "登记", "签收"]
    assert {st.document_id for st in steps} == {doc_id} and nobody == []
    assert steps[0].case_status == "running" and steps[0].open_steps[0][0] == "拟办"
    for lang, words in (("zh", ["已办", "初审", "拟办", "办理中"]),
                        ("en", ["Done by me", "Proposed handling"])):
        page = _client(shipped, "zhangli", lang).get("/done").data.decode()
        for word in words:
            assert word in page, (lang, word)
        assert INCOMING["title"] in page


def test_auditor_sees_no_action_it_cannot_take(shipped: Docroute) -> None:
    auditor = _client(shipped, "auditor")  # the demo organisation's read-only auditor
    clerk = _client(shipped, "zhangli")
    for path in ("/", "/documents"):
        assert "/documents/new/incoming" not in auditor.get(path).data.decode()
        assert "/documents/new/incoming" in clerk.get(path).data.decode()
    assert auditor.get("/documents/new/incoming").status_code == 403


def test_demo_seal_requests_describe_their_own_request(shipped: Docroute) -> None:
    from engine.history import audit

    audit.seed_demo_cases(shipped)
    with shipped.session() as s:
        cases = list(s.scalars(select(Instance).where(Instance.title.like("%用印申请"))))
        written = {i.title: [d.get("title") for _e, _s, d in opinions.completions(s, i)
                             if "title" in d] for i in cases}
    assert len(written) == 2
    for title, titles in written.items():
        assert titles and set(titles) == {title}
