"""The office's other duties, driven end to end in memory through each gateway branch.

Meetings, 主动公开, 政务信息 and the generic 事项审批 (with its decision table), plus the
follow-up (督办) case's co-units and its report to the instructing leader. Same harness
as test_workflow_paths: restricted scripts, a manual clock, recorded service results, and
a save/load round trip after every step.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from test_workflow_paths import WORKFLOWS, Case, answer_clock, run_archiving

from engine.definitions.bpmn import DocrouteParser, normalise, parse_xml


@pytest.fixture(scope="module")
def parser() -> DocrouteParser:
    p = DocrouteParser()
    for path in sorted(WORKFLOWS.glob("*.bpmn")):
        tree = parse_xml(path.read_bytes(), max_bytes=5 << 20)
        p.add_bpmn_xml(normalise(tree).getroot(), filename=path.name)
    for path in sorted(WORKFLOWS.glob("*.dmn")):
        p.add_dmn_xml(parse_xml(path.read_bytes(), max_bytes=5 << 20).getroot(),
                      filename=path.name)
    return p


# --- meetings ---------------------------------------------------------------------------

PLAN = {"title": "管委会2026年第5次常务会议", "meeting_type": "executive",
        "planned_on": "2026-03-12", "chair": "chenming",
        "topic_units": ["emergency_management", "urban_management"], "topic_due": "2026-03-09"}


def test_meeting_topics_agenda_minutes_and_decisions(parser: DocrouteParser) -> None:
    case = Case(parser, "meeting", recorded=["深鹏会纪〔2026〕3号", 41, 42])
    case.complete("plan", PLAN)
    topics = case.ready()
    assert sorted(case.assignment(t)[1][0] for t in topics) == ["emergency_management",
                                                                "urban_management"]
    assert {case.assignment(t)[2] for t in topics} == {
        case.assignment(topics[0])[2]} != {None}  # due by the topic deadline
    case.complete("submit_topic", {"topic": "三防工作部署（已征求各办事处意见）"},
                  who="emergency_management")
    case.complete("submit_topic", {"topic": "民宿整治方案（法律意见已附）"}, who="urban_management")
    assert case.data()["topics"] == {"emergency_management": "三防工作部署（已征求各办事处意见）",
                                     "urban_management": "民宿整治方案（法律意见已附）"}
    assert case.assignment(case.ready()[0])[1] == ["office_director"]
    case.complete("review_agenda", {"agenda": "1. 三防工作", "decision": "return"})
    assert case.ready_ids() == ["plan"]  # collected again
    case.complete("plan", PLAN)
    case.complete("submit_topic", {"topic": "三防工作部署"}, who="emergency_management")
    case.complete("submit_topic", {"topic": "民宿整治方案"}, who="urban_management")
    case.complete("review_agenda", {"agenda": "1. 三防工作 2. 民宿整治", "decision": "approve"})
    assert case.assignment(case.ready()[0])[1] == ["principal_leaders"]
    case.complete("approve_agenda", {"decision": "return", "approve_opinion": "民宿议题下次再议"})
    case.complete("review_agenda", {"agenda": "1. 三防工作", "decision": "approve"})
    case.complete("approve_agenda", {"decision": "approve"})
    case.complete("notify", {"held_at": "2026-03-12T09:00:00+08:00", "venue": "管委会三楼会议室",
                             "attendees": ["linhai", "wangfang"]})
    receipts = case.ready()
    assert sorted(str(case.assignment(t)[0]) for t in receipts) == ["linhai", "wangfang"]
    case.complete("receipt", {"attendance": "attend"}, who="linhai")
    case.complete("receipt", {"attendance": "substitute"}, who="wangfang")
    assert case.data()["receipts"] == {"linhai": "attend", "wangfang": "substitute"}
    case.complete("hold", {"held_on": "2026-03-12", "record": "会议研究了三防工作"})
    case.complete("draft_minutes", {"minutes_title": "管委会2026年第5次常务会议纪要",
                                    "minutes_text": "会议议定：……", "has_decisions": True})
    case.complete("review_minutes", {"decision": "return", "review_opinion": "补充责任单位"})
    case.complete("draft_minutes", {"minutes_title": "管委会2026年第5次常务会议纪要",
                                    "minutes_text": "会议议定：一、……", "has_decisions": True})
    case.complete("review_minutes", {"decision": "approve"})
    case.complete("sign_minutes", {"decision": "approve"})
    assert case.data()["minutes_number"] == "深鹏会纪〔2026〕3号"
    assert case.assignment(case.ready()[0])[1] == ["supervision_officers"]
    case.complete("record_decision", {"decision_item": "应急管理局牵头做好三防物资储备",
                                      "lead_department": "emergency_management",
                                      "more_decisions": True})
    case.complete("record_decision", {"decision_item": "各办事处开展隐患排查",
                                      "lead_department": "dapeng_office",
                                      "co_departments": ["nanao_office"],
                                      "decision_deadline": "2026-04-30",
                                      "more_decisions": False})
    assert case.finished()
    opened = [r for r in case.scope.results if r["service"] == "open_supervision"]
    assert [r["result"] for r in opened] == [41, 42]
    assert opened[0]["params"] == {"relation": "meeting_decision"}


def test_meeting_without_decisions(parser: DocrouteParser) -> None:
    case = Case(parser, "meeting", recorded=["深鹏会纪〔2026〕4号"])
    case.complete("plan", {**PLAN, "topic_units": ["dev_finance"]})
    case.complete("submit_topic", {"topic": "预算执行情况"})
    case.complete("review_agenda", {"agenda": "预算执行情况", "decision": "approve"})
    case.complete("approve_agenda", {"decision": "approve"})
    case.complete("notify", {"held_at": "2026-03-12T09:00:00+08:00", "venue": "会议室",
                             "attendees": ["linhai"]})
    case.complete("receipt", {"attendance": "absent"})
    case.complete("hold", {"held_on": "2026-03-12", "record": "通报情况"})
    case.complete("draft_minutes", {"minutes_title": "纪要", "minutes_text": "通报",
                                    "has_decisions": False})
    case.complete("review_minutes", {"decision": "approve"})
    case.complete("sign_minutes", {"decision": "return", "sign_opinion": "改"})
    case.complete("draft_minutes", {"minutes_title": "纪要", "minutes_text": "通报（改）",
                                    "has_decisions": False})
    case.complete("review_minutes", {"decision": "approve"})
    case.complete("sign_minutes", {"decision": "approve"})
    assert case.finished()
    assert [r["service"] for r in case.scope.results] == ["allocate_number"]


# --- proactive disclosure -------------------------------------------------------------

INFO = {"title": "大鹏新区2026年部门预算", "info_category": "budget",
        "source_department": "dev_finance", "formed_on": "2026-03-02", "content": "预算全文"}


def test_proactive_disclosure_published_after_changes(parser: DocrouteParser) -> None:
    case = Case(parser, "proactive_disclosure", recorded=[
        answer_clock("2026-03-30", name="publication"),
        answer_clock("2026-03-30", name="publication", status="closed")])
    case.complete("register", INFO)
    # 20 working days from forming (《条例》第二十六条), in the deadline engine.
    assert case.scope.results[0]["params"] == {"name": "publication", "kind": "workdays",
                                               "n": 20, "start_on": "2026-03-02"}
    review = case.ready()[0]
    assert case.assignment(review)[1] == ["confidentiality_officers"]
    assert case.assignment(review)[2] is not None
    case.complete("secrecy_review", {"secrecy_opinion": "删除个人信息", "decision": "return"})
    assert case.assignment(case.ready()[0])[1] == ["dev_finance"]
    case.complete("revise", {"content": "预算全文（已删除个人信息）"})
    case.complete("secrecy_review", {"secrecy_opinion": "可以公开", "decision": "approve"})
    case.complete("approve", {"decision": "return", "approve_opinion": "补充说明"})
    case.complete("revise", {"content": "预算全文及说明"})
    case.complete("secrecy_review", {"secrecy_opinion": "可以公开", "decision": "approve"})
    case.complete("approve", {"decision": "approve"})
    case.complete("publish", {"published_on": "2026-03-20", "channel": "website",
                              "index_number": "11440300589172269C/2026-00123"})
    assert case.finished()
    assert case.next_timer() is None


def test_proactive_disclosure_overdue_opens_no_task(parser: DocrouteParser) -> None:
    # Chasing an overdue publication is the reminder engine's job (working days, once per
    # level); the diagram opens no escalation task of its own.
    case = Case(parser, "proactive_disclosure", recorded=[
        answer_clock("2026-03-30", name="publication"),
        answer_clock("2026-03-30", name="publication", status="closed")])
    case.complete("register", INFO)
    case.complete("secrecy_review", {"secrecy_opinion": "可以公开", "decision": "approve"})
    due = case.helper("add_workdays")(date(2026, 3, 2), 20)
    case.advance(days=(due - date(2026, 3, 2)).days + 5)
    assert case.ready_ids() == ["approve"]
    assert case.next_timer() is None
    case.complete("approve", {"decision": "approve"})
    case.complete("publish", {"published_on": "2026-04-03", "channel": "gazette"})
    assert case.finished()


def test_proactive_disclosure_withheld(parser: DocrouteParser) -> None:
    case = Case(parser, "proactive_disclosure", recorded=[
        answer_clock("2026-03-30", name="publication"),
        answer_clock("2026-03-30", name="publication", status="closed")])
    case.complete("register", {**INFO, "info_category": "personnel"})
    case.complete("secrecy_review", {"secrecy_opinion": "涉及国家秘密", "decision": "not_public"})
    assert case.finished()
    assert case.wf.data["decision"] == "not_public"
    assert case.scope.results[-1]["service"] == "deadline_close"
    assert case.services_left() == []


# --- government information --------------------------------------------------------------

def test_government_information_to_adoption(parser: DocrouteParser) -> None:
    case = Case(parser, "government_information", recorded=["深鹏信息〔2026〕15号"])
    report = {"title": "大鹏新区全力做好台风防御工作", "info_type": "news",
              "source_department": "emergency_management", "content": "……",
              "submit_to": "city"}
    case.complete("collect", report)
    assert case.assignment(case.ready()[0])[1] == ["office_reviewers"]
    case.complete("review", {"decision": "return", "review_opinion": "补充数据"})
    case.complete("collect", {**report, "content": "……转移群众1200人"})
    case.complete("review", {"decision": "approve"})
    case.complete("sign_off", {"decision": "return"})
    case.complete("collect", report)
    case.complete("review", {"decision": "approve"})
    case.complete("sign_off", {"decision": "approve"})
    assert case.data()["issue_number"] == "深鹏信息〔2026〕15号"
    case.complete("submit", {"submit_to": "city", "submitted_on": "2026-03-03",
                             "channel": "system"})
    adoption = case.ready()[0]
    assert case.assignment(adoption)[2] is not None
    case.complete("record_adoption", {"adoption": "adopted", "adopted_by": "《深圳信息》第12期",
                                      "adopted_on": "2026-03-10",
                                      "leader_instruction": "大鹏做法值得推广",
                                      "instruction_level": "city"})
    assert case.finished()
    assert case.wf.data["instruction_level"] == "city"


# --- generic approval ------------------------------------------------------------------

REQUEST = {"title": "2026年乐高乐园开园新闻发布", "applicant_department": "economic_services",
           "content": "拟于3月20日举行新闻发布会", "basis": "工作安排"}


@pytest.mark.parametrize("kind, review_group, approver_group, secrecy, days", [
    ("press_release", "office_director", "supervising_leaders", True, 5),
    ("overseas_trip", "office_director", "principal_leaders", False, 15),
    ("power_list", "legal_reviewers", "supervising_leaders", False, 15),
    ("other", "office_director", "supervising_leaders", False, 10),
])
def test_item_approval_route_comes_from_the_decision_table(
        parser: DocrouteParser, kind: str, review_group: str, approver_group: str,
        secrecy: bool, days: int) -> None:
    case = Case(parser, "item_approval")
    assert case.assignment(case.ready()[0])[0] == "zhaolei"  # whoever started it
    case.complete("request", {**REQUEST, "request_kind": kind})
    data = case.data()
    assert (data["review_group"], data["approver_group"]) == (review_group, approver_group)
    assert data["due_on"] == str(case.helper("add_workdays")(date(2026, 3, 2), days))
    if secrecy:
        assert case.ready_ids() == ["secrecy_review"]
        case.complete("secrecy_review", {"secrecy_opinion": "无涉密内容", "decision": "approve"})
    assert case.assignment(case.ready()[0])[1] == [review_group]
    case.complete("review", {"decision": "approve"})
    assert case.assignment(case.ready()[0])[1] == [approver_group]
    case.complete("decide", {"decision": "approve", "decision_opinion": "同意"})
    assert case.assignment(case.ready()[0])[0] == "zhaolei"
    case.complete("close", {"result_note": "已按批准实施"})
    assert case.finished()


def test_item_approval_sent_back_then_refused(parser: DocrouteParser) -> None:
    case = Case(parser, "item_approval")
    case.complete("request", {**REQUEST, "request_kind": "press_release"})
    case.complete("secrecy_review", {"secrecy_opinion": "删去未公开数据", "decision": "return"})
    assert case.ready_ids() == ["request"]
    case.complete("request", {**REQUEST, "request_kind": "reform_proposal"})
    assert case.ready_ids() == ["review"]  # the new kind needs no confidentiality review
    case.complete("review", {"decision": "approve"})
    case.complete("decide", {"decision": "return", "decision_opinion": "补充论证"})
    case.complete("request", {**REQUEST, "request_kind": "reform_proposal"})
    case.complete("review", {"decision": "refuse", "review_opinion": "不符合改革方向"})
    assert case.ready_ids() == ["close"]
    assert case.data()["decision"] == "refuse"
    case.complete("close", {})
    assert case.finished()


# --- follow-up: co-units and the report to the instructing leader -------------------------

def test_supervision_co_units_and_report_to_the_instructing_leader(
        parser: DocrouteParser) -> None:
    case = Case(parser, "supervision", recorded=[
        answer_clock("2026-03-23", name="handling"), "深鹏督〔2026〕5号",
        answer_clock("2026-03-31", name="handling"),
        answer_clock("2026-03-31", name="handling", status="closed"),
        "DP01-WS·2026-D10-ZHB-0009"])
    case.complete("register", {"source_type": "leader_instruction", "title": "落实三防物资储备",
                               "instruction_text": "请应急管理局牵头，城管局、住建局配合",
                               "instructing_leader": "陈明", "instructed_on": "2026-03-01",
                               "difficulty": "normal", "urgency": "",
                               "instructing_leader_user": "chenming",
                               "lead_department": "emergency_management",
                               "deadline": "2026-03-31"})
    case.complete("propose", {"track": "track", "propose_note": "建议立项"})
    case.complete("approve", {"approve_opinion": "同意", "decision": "approve"})
    assert case.data()["deadline"] == "2026-03-31"  # carried over, not the default
    co = ["urban_management", "housing_construction"]
    case.complete("assign", {"lead_department": "emergency_management", "co_departments": co,
                             "requirements": "储备到位", "deadline": "2026-03-31",
                             "feedback_cycle": "monthly"})
    assert sorted(case.ready_ids()) == ["cohandle", "cohandle", "handle"]
    assert sorted(case.assignment(t)[1][0] for t in case.ready()) == [
        "emergency_management", "housing_construction", "urban_management"]
    case.complete("cohandle", {"co_report": "已调配抢险车辆"}, who="urban_management")
    case.complete("handle", {"action": "complete", "completion_report": "物资已储备"})
    case.complete("verify", {"verify_opinion": "同意", "decision": "approve"})
    # Closure waits for the last co-unit's report.
    assert case.ready_ids() == ["cohandle"]
    case.complete("cohandle", {"co_report": "已检查在建工地"}, who="housing_construction")
    assert case.data()["co_reports"] == {"urban_management": "已调配抢险车辆",
                                         "housing_construction": "已检查在建工地"}
    review = case.ready()[0]
    assert review.task_spec.bpmn_id == "leader_review"
    assert case.assignment(review)[0] == "chenming"
    case.complete("leader_review", {"leader_decision": "close", "leader_opinion": "同意"})
    case.complete("bulletin", {"reported_to_leader": True, "bulletin_scope": "internal"})
    run_archiving(case)
    assert case.finished()
    assert case.services_left() == []


def test_supervision_deadline_defaults_when_none_is_carried(parser: DocrouteParser) -> None:
    case = Case(parser, "supervision", recorded=[
        answer_clock("2026-03-23", name="handling"), "深鹏督〔2026〕6号"])
    case.complete("register", {"source_type": "meeting_decision", "title": "隐患排查",
                               "instruction_text": "各办事处开展隐患排查",
                               "instructed_on": "2026-03-01", "difficulty": "normal",
                               "urgency": ""})
    case.complete("propose", {"track": "track", "propose_note": "立项"})
    case.complete("approve", {"approve_opinion": "同意", "decision": "approve"})
    today = case.clock.now().date()
    assert case.data()["deadline"] == str(case.helper("add_workdays")(today, 20))
    assert case.data()["instructing_leader_user"] == ""
    assert timedelta(0) < date.fromisoformat(case.data()["deadline"]) - today
