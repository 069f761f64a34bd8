"""Demo cases of the office's other duties (issue 16) for ``docroute demo``.

Meetings (one whose decisions are already follow-up cases), 主动公开, 政务信息 and 事项审批
requests, some finished and some waiting at a step, and one leader's 批示 on a demo
incoming document opened as a follow-up case. Driven through ``engine.runtime.cases`` as the
demo users, with the same form filling as ``demo_documents``; seeding twice changes
nothing, and a process that is not deployed is skipped with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from engine.definitions import deployment as definitions
from engine.errors import DocrouteError
from engine.models import CaseLink, Definition, Instance
from engine.org.identity import Actor
from engine.registry import links
from engine.runtime import cases as runtime
from engine.service import Docroute

from .documents import _day, _moment, _users, drive


@dataclass
class DutyCase:
    """One demo case: who starts it, its start data, and how far it is driven."""

    process: str
    starter: str
    start: dict[str, Any]
    stop_at: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


def cases() -> list[DutyCase]:
    """The demo cases, dated from today (the application clock)."""
    meeting = {"title": "管委会2026年第5次常务会议", "meeting_type": "executive",
               "planned_on": _day(7), "chair": "chenming",
               "topic_units": ["emergency_management", "urban_management"],
               "topic_due": _day(4)}
    return [
        DutyCase("meeting", "zhangli", meeting, data={
            "topic": "关于做好2026年三防工作的议题（已征求各办事处意见，法律意见已附）",
            "agenda": "一、三防工作部署；二、民宿整治方案", "held_at": _moment(7),
            "venue": "管委会三楼第一会议室", "attendees": ["linhai", "wangfang", "chenming"],
            "attendance": "attend", "held_on": _day(7), "record": "会议听取了应急管理局的汇报。",
            "minutes_title": "管委会2026年第5次常务会议纪要",
            "minutes_text": "会议议定：一、应急管理局牵头做好三防物资储备；……",
            "has_decisions": True,
            "decision_item": "应急管理局牵头做好三防物资储备，城管局配合，汛前完成。",
            "lead_department": "emergency_management", "co_departments": ["urban_management"],
            "more_decisions": False}),
        DutyCase("meeting", "zhangli", {**meeting, "title": "大鹏所城保护专题会议",
                                        "meeting_type": "special",
                                        "topic_units": ["social_affairs"]},
                 stop_at=("approve_agenda",),
                 data={"topic": "大鹏所城修缮方案", "agenda": "大鹏所城修缮方案"}),
        DutyCase("proactive_disclosure", "guoyan", {
            "title": "大鹏新区2026年部门预算", "info_category": "budget",
            "source_department": "dev_finance", "formed_on": _day(-5), "content": "预算全文及说明"},
            data={"secrecy_opinion": "不涉及国家秘密，可以公开。", "published_on": _day(0),
                  "channel": "website", "index_number": "11440300589172269C/2026-00413"}),
        DutyCase("proactive_disclosure", "guoyan", {
            "title": "关于加强民宿消防安全管理的通知（政策解读）",
            "info_category": "interpretation",
            "source_department": "urban_management", "formed_on": _day(-2),
            "content": "解读全文"}, stop_at=("secrecy_review",)),
        DutyCase("government_information", "zhangli", {
            "title": "大鹏新区全力做好台风“海葵”防御工作", "info_type": "news",
            "source_department": "emergency_management",
            "content": "台风期间新区转移安置群众1200人，未发生人员伤亡。", "submit_to": "city"},
            data={"submitted_on": _day(0), "channel": "system", "adoption": "adopted",
                  "adopted_by": "《深圳信息》第12期", "adopted_on": _day(0),
                  "leader_instruction": "大鹏做法值得推广。", "instruction_level": "city"}),
        DutyCase("government_information", "zhangli", {
            "title": "国际生物谷项目建设进展", "info_type": "briefing",
            "source_department": "economic_services", "content": "……", "submit_to": "district"},
            stop_at=("review",)),
        DutyCase("item_approval", "fengtao", {
            "request_kind": "press_release", "title": "乐高乐园开园新闻发布",
            "applicant_department": "economic_services", "content": "拟举行开园新闻发布会。",
            "basis": "新区年度重点工作"},
            data={"secrecy_opinion": "稿件不涉密。", "result_note": "发布会已举行。"}),
        DutyCase("item_approval", "luobin", {
            "request_kind": "overseas_trip", "title": "赴新加坡考察海洋生态保护",
            "applicant_department": "eco_enforcement", "content": "3人，5天。",
            "basis": "湾长制工作交流"}, stop_at=("decide",)),
    ]


def seed_duties(app: Docroute) -> None:
    """Start and drive the demo cases of the other duties (idempotent)."""
    with app.session() as s:
        if s.scalar(select(Instance.id).join(Definition)
                    .where(Definition.key == "meeting")) is not None:
            return
        users = _users(s)
        todo = cases()
        deployed = {key for key in {c.process for c in todo} | {"supervision"}
                    if definitions.latest(s, key) is not None}
    for case in todo:
        if case.process not in deployed or "supervision" not in deployed:
            print(f"demo: process {case.process!r} is not deployed; run 'docroute init' first")
            continue
        _seed_case(app, case, users)
    _follow_up_an_instruction(app, users)


def _seed_case(app: Docroute, case: DutyCase, users: dict[str, Actor]) -> None:
    try:
        with app.session() as s:
            case_id = runtime.start_case(s, users[case.starter], case.process, case.start).id
        where = drive(app, case_id, users, stop_at=case.stop_at, overrides=case.data,
                      keep_people=True)
    except DocrouteError as error:
        print(f"demo: the {case.process} case stopped: {error}")
        return
    if where.startswith("incident") or where == "step limit":
        print(f"demo: the {case.process} case {case_id} stopped early ({where})")
        return
    with app.session() as s:
        opened = list(s.scalars(select(CaseLink.target_id)
                                .where(CaseLink.source_id == case_id)))
    for follow_up in opened:  # a meeting's decision: taken as far as handling
        drive(app, follow_up, users, stop_at=("handle",), keep_people=True)


def _follow_up_an_instruction(app: Docroute, users: dict[str, Actor]) -> None:
    """The first demo incoming document with a 批示 gets its follow-up case."""
    with app.session() as s:
        incoming = s.scalars(select(Instance.id).join(Definition)
                             .where(Definition.key == "incoming_document")
                             .order_by(Instance.id)).all()
        chosen = next((i for i in incoming if links.instruction_of(s, i) is not None), None)
    if chosen is None:
        return
    try:
        with app.session() as s:
            follow_up = links.supervise_instruction(s, users["huangmin"], chosen).id
        drive(app, follow_up, users, stop_at=("handle",), keep_people=True)
    except DocrouteError as error:
        print(f"demo: the follow-up of case {chosen} stopped: {error}")

