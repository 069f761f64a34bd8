"""Demo documents and cases (DOMAIN.md §6) for ``docroute demo``.

Documents on the district's real topics (三防 and typhoons, forest fire, 湾长制, 民宿,
大鹏所城, 国际生物谷, a 特急 National Day visitor-safety notice …), about 60% 通知/函, two
classified ones registered as metadata only. Cases of the shipped processes are driven
through ``engine.runtime.cases`` as the demo users (docs/organisation.md) and left at various
steps; one incoming case runs to the end, archiving included, so auditors can replay it.

Form data is built from each task's own (resolved) form, with realistic values for the
fields that matter; so a diagram or form that changes keeps the demo working. A process
that is not deployed is skipped with a printed note. Seeding twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.deadlines import reminders
from engine.definitions import deployment as definitions
from engine.errors import DocrouteError
from engine.models import Document, Instance, Task
from engine.org import authority, identity
from engine.org.identity import Actor
from engine.registry import documents
from engine.runtime import cases as runtime
from engine.service import Docroute

MAX_STEPS = 40


def _today() -> date:
    return clock.now().astimezone(clock.OFFICE_TZ).date()


def _day(offset: int) -> str:
    return (_today() + timedelta(days=offset)).isoformat()


def _moment(offset_days: int, hour: int = 9) -> str:
    day = _today() + timedelta(days=offset_days)
    return f"{day.isoformat()}T{hour:02d}:30:00+08:00"


@dataclass
class Demo:
    """One demo document, who registers it, and how far its case is driven."""

    kind: str
    author: str
    fields: dict[str, Any]
    process: str | None = None
    stop_at: tuple[str, ...] = ()  # task specs to leave the case waiting at
    steps: int = 0  # or: complete this many tasks (0 with no stop_at = run to the end)
    data: dict[str, Any] = field(default_factory=dict)  # form values for this case
    start_data: dict[str, Any] = field(default_factory=dict)
    # Calendar days ago the case was started and worked: the office clock is moved back
    # while it is driven, so due dates, reminders and history read like a lived-in office.
    age: int = 0


def _incoming(title: str, source_org: str, number: str, doc_type: str = "通知",
              urgency: str = "", days_ago: int = 3, **extra: Any) -> dict[str, Any]:
    return {"title": title, "source_org": source_org, "source_number": number,
            "doc_type": doc_type, "urgency": urgency, "copies": 2,
            "issued_on": _day(-days_ago - 1), "received_at": _moment(-days_ago), **extra}


def _outgoing(title: str, doc_type: str, recipients: list[str], prefix: str = "深鹏办",
              urgency: str = "", **extra: Any) -> dict[str, Any]:
    return {"title": title, "doc_type": doc_type, "principal_recipients": recipients,
            "number_prefix": prefix, "urgency": urgency, "issuer": "深圳市大鹏新区管理委员会",
            "drafting_department": "general_office", "drafter": "周强", **extra}


SUBDISTRICTS = ["葵涌办事处", "大鹏办事处", "南澳办事处"]
UNITS = ["新区各部门", *SUBDISTRICTS]

# Values for task form fields, by field name, whatever the task (overridden per case).
COMMON_DATA: dict[str, Any] = {
    "check_result": "accept", "decision": "approve", "items_complete": True,
    "text_matches": True, "no_blank": True,  # 监印 ticks both checks (never pre-ticked)
    "check_opinion": "材料齐全，格式规范。", "handling_mode": "act",
    "proposed_handling": "拟请王芳副主任阅示，由应急管理局牵头办理，各办事处配合。",
    "instruction_group": "supervising_leaders",
    "instruction": "请应急管理局牵头抓好落实，按期报送办理情况。",
    "lead_department": "emergency_management", "co_departments": [],
    "handling_result": "已按要求部署落实，相关情况已书面报送。",
    "reply_content": "来文收悉，已按要求办理完毕，特此函复。", "reply_method": "letter",
    "retention": "定期30年", "storage_location": "综合办公室档案室 2-3-12",
    "paper_location": "综合办公室档案室机要柜 1-2", "review_opinion": "文种恰当，格式规范，同意。",
    "read_note": "已阅。", "sign_note": "份数无误，已签收。",
    "summary": "来文要求做好相关工作并按期报送落实情况。",
    "archive_year": _today().year,
}

DEMOS: list[Demo] = [
    # --- incoming, at various steps -----------------------------------------------------
    Demo("incoming", "zhangli", _incoming(
        "深圳市三防指挥部关于防御今年第18号台风“海鸥”的紧急通知", "深圳市三防指挥部",
        "深三防〔2026〕18号", urgency="特急", days_ago=0),
        "incoming_document", stop_at=("register",)),
    Demo("incoming", "zhangli", _incoming(
        "深圳市人民政府办公厅关于做好2026年“三防”工作的通知", "深圳市人民政府办公厅",
        "深府办函〔2026〕21号", urgency="加急", days_ago=2),
        "incoming_document", stop_at=("propose",), age=2),
    Demo("incoming", "zhangli", _incoming(
        "深圳市森林防火指挥部关于加强冬春季森林防火工作的通知", "深圳市森林防火指挥部",
        "深森防〔2026〕7号", days_ago=30),
        "incoming_document", stop_at=("instruct",),
        data={"lead_department": "urban_management"}, age=30),
    Demo("incoming", "zhangli", _incoming(
        "深圳市文化广电旅游体育局关于规范民宿经营管理的通知", "深圳市文化广电旅游体育局",
        "深文广旅体〔2026〕35号", days_ago=4),
        "incoming_document", stop_at=("sign_for",), age=4),
    Demo("incoming", "zhangli", _incoming(
        "深圳市海洋发展局关于全面推行湾长制工作的函", "深圳市海洋发展局",
        "深海洋函〔2026〕12号", doc_type="函", days_ago=40),
        "incoming_document", age=40, data={
            "lead_department": "urban_management",
            "proposed_handling": "拟请王芳副主任阅示，由城市管理和综合执法局牵头办理。",
            "instruction": "请城市管理和综合执法局牵头研究落实。"}),
    Demo("incoming", "zhangli", _incoming(
        "深圳市人民政府关于国庆期间旅游景区游客安全工作的通知", "深圳市人民政府",
        "深府〔2026〕16号", urgency="特急", days_ago=1)),
    Demo("incoming", "linhai", _incoming(
        "深圳市应急管理局关于LNG接收站安全风险评估情况的通报", "深圳市应急管理局",
        "深应急〔2026〕9号", doc_type="通报", days_ago=6, classification="secret",
        classification_period="10年",
        note="涉密公文，正文经机要渠道传递，本系统仅登记目录。")),
    # --- outgoing -------------------------------------------------------------------------
    Demo("outgoing", "xuwen", _outgoing(
        "大鹏新区综合办公室关于做好国庆期间游客安全工作的通知", "通知", UNITS,
        urgency="特急", summary="国庆期间游客集中，请各单位落实景区限流、海上安全和交通疏导措施。"),
        "outgoing_document", stop_at=("office_review",), age=1),
    Demo("outgoing", "xuwen", _outgoing(
        "大鹏新区管理委员会关于大鹏所城文物保护修缮工程有关事项的请示", "请示",
        ["深圳市人民政府"], prefix="深鹏管", signer="陈明", direction="upward",
        summary="大鹏所城修缮工程涉及资金安排和审批事项，请市政府予以支持。")),
    Demo("outgoing", "xuwen", _outgoing(
        "大鹏新区综合办公室关于2026年第三季度湾长制工作情况的报告", "报告",
        ["深圳市人民政府办公厅"], signer="陈明",
        summary="第三季度湾长巡湾、入海河流整治和海漂垃圾清理情况。")),
    Demo("outgoing", "xuwen", _outgoing(
        "大鹏新区综合办公室关于召开国际生物谷建设推进会的通知", "通知", UNITS,
        summary="定于下周三在新区管委会会议室召开国际生物谷坝光片区建设推进会。")),
    Demo("outgoing", "xuwen", _outgoing(
        "大鹏新区综合办公室关于商请协助做好乐高乐园周边交通保障工作的函", "函",
        ["深圳市交通运输局"], prefix="深鹏办函", signer="林海",
        summary="商请协助做好乐高乐园开园期间周边道路交通组织和公交接驳。"),
        "outgoing_document", data={"retention": "定期10年"}),
    Demo("outgoing", "xuwen", _outgoing(
        "大鹏新区管理委员会主任办公会议纪要（2026年第21期）", "纪要", UNITS, prefix="深鹏管",
        summary="研究大鹏所城保护修缮、民宿规范管理和台风灾后恢复等事项。")),
    Demo("outgoing", "xuwen", _outgoing(
        "大鹏新区综合办公室关于2026年第三季度督查督办工作情况的通报", "通报", UNITS)),
    Demo("outgoing", "xuwen", _outgoing(
        "大鹏新区管理委员会关于促进民宿产业规范发展的实施意见", "意见", UNITS,
        prefix="深鹏管")),
    Demo("outgoing", "linhai", _outgoing(
        "大鹏新区综合办公室关于2026年度保密工作自查情况的报告", "报告", ["中共深圳市委保密办"],
        signer="林海", classification="confidential", classification_period="5年",
        note="涉密公文，本系统仅登记目录。")),
    # --- other kinds ------------------------------------------------------------------------
    # The seal for the signed letter above (深鹏办函〔2026〕1号, registered earlier in this list).
    Demo("seal", "zhouqiang", {
        "title": "用印申请：关于商请协助做好乐高乐园周边交通保障工作的函", "seal": "general_office",
        "copies": 1, "purpose": "发文用印", "basis": "已签发的发文稿纸",
        "applicant_department": "general_office"},
        "seal_use", steps=1, data={"seal": "general_office", "signed_document": True,
                                   "related_number": "深鹏办函〔2026〕1号", "copies": 1,
                                   "applicant_department": "general_office"}, age=9),
    Demo("proposal", "huangmin", {
        "title": "关于加强大鹏所城历史文化街区保护利用的建议", "lead_proposer": "李建华代表",
        "proposal_kind": "deputy_suggestion", "session_label": "市七届人大五次会议",
        "proposal_number": "20260123", "handling_mode": "lead_co",
        "lead_department": "social_affairs"},
        # Assigned three weeks ago: late in the year the 3-month answer deadline reaches
        # a year without the State Council's notice and shows as provisional.
        "suggestion_proposal", steps=2, age=21,
        data={"lead_department": "social_affairs", "assigned_on": _day(-21),
              "co_proposers": "陈晓东、黄丽"}),
    Demo("proposal", "huangmin", {
        "title": "关于完善南澳墟镇民宿消防设施的提案", "lead_proposer": "张伟委员",
        "proposal_kind": "cppcc_proposal", "session_label": "市政协七届五次会议",
        "proposal_number": "20260456", "handling_mode": "lead_co",
        "lead_department": "urban_management"}),
    Demo("supervision", "huangmin", {
        "title": "落实陈明主任关于台风“海鸥”灾后恢复重建工作的批示",
        "source_type": "leader_instruction",
        "instructing_leader": "陈明", "instructed_on": _day(-2),
        "instruction_text": "请应急管理局牵头，十日内完成受损设施排查修复并报结果。",
        "lead_department": "emergency_management", "deadline": _day(10)},
        "supervision", steps=2, data={"difficulty": "urgent"}),
    Demo("disclosure", "guoyan", {
        "title": "申请公开国际生物谷坝光片区控制性详细规划", "applicant_name": "王某",
        "applicant_type": "natural_person", "contact": "wang@example.com",
        "request_content": "国际生物谷坝光片区控制性详细规划及其批复文件。",
        "received_via": "online", "received_on": _day(-3), "purpose": "了解居住地周边规划"},
        "disclosure_request", steps=1, data={"delivery_preference": "email"}, age=3),
]


# --- filling forms --------------------------------------------------------------------------


def _value(name: str, prop: dict[str, Any], current: dict[str, Any],
           overrides: dict[str, Any], username: str) -> tuple[bool, Any]:
    """A valid value for one form field: the case's own, an override, or a sensible one."""
    if str(prop.get("x-choices", "")).startswith("users") and username in prop.get("enum", []):
        return True, username  # signer, reader …: the person acting
    for source in (overrides, COMMON_DATA):
        if name in source and _fits(prop, source[name]):
            return True, source[name]
    value = current.get(name)
    if isinstance(value, list) and prop.get("type") == "string":
        value = "、".join(str(v) for v in value)  # a document's list in a one-line field
    if value not in (None, "") and _fits(prop, value):
        return True, value
    if "default" in prop:
        return True, prop["default"]
    if "enum" in prop:
        return True, prop["enum"][0]
    kind = prop.get("type")
    if kind == "boolean":
        return True, False
    if kind in ("integer", "number"):
        return True, max(1, int(prop.get("minimum", 1)))
    if kind == "array":
        items = prop.get("items", {})
        count = int(prop.get("minItems", 0))
        if count and "enum" in items:
            return True, list(items["enum"][:count])
        return count == 0, []
    if prop.get("format") == "date":
        return True, _day(7 if "due" in name or "deadline" in name else 0)
    if prop.get("format") == "date-time":
        return True, clock.now().astimezone(clock.OFFICE_TZ).isoformat(timespec="seconds")
    if prop.get("examples"):
        return True, prop["examples"][0]
    return True, f"{prop.get('title') or name}：已按要求办理。"[: prop.get("maxLength", 200)]


def _fits(prop: dict[str, Any], value: Any) -> bool:
    if "enum" in prop:
        return value in prop["enum"]
    kind = prop.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "array": lambda v: isinstance(v, list)}
    if kind == "array" and isinstance(value, list) and "enum" in prop.get("items", {}):
        return all(v in prop["items"]["enum"] for v in value)
    return checks.get(str(kind), lambda v: True)(value)


def form_data(schema: dict[str, Any], current: dict[str, Any],
              overrides: dict[str, Any], username: str = "") -> dict[str, Any]:
    """Data for a task's resolved form: every writable field filled with a valid value."""
    data: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("readOnly"):
            continue
        ok, value = _value(name, prop, current, overrides, username)
        if ok:
            data[name] = value
    return data


# --- driving cases --------------------------------------------------------------------------


def _actor_for(session: Session, row: Task, users: dict[str, Actor]) -> Actor:
    """Who does the step in the demo: its holder, else the first person the office's one
    rule allows (engine.org.authority: candidates, clearance, separation of duties)."""
    if row.assignee and row.assignee in users:
        return users[row.assignee]
    instance = session.get_one(Instance, row.instance_id)
    allowed = authority.holders(session, instance, row)
    if allowed:
        return users[allowed[0].username]
    return users["admin"]


def _open_tasks(session: Session, instance_id: int) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.instance_id == instance_id)
                                .order_by(Task.created_at, Task.id)))


def drive(app: Docroute, instance_id: int, users: dict[str, Actor], *,
          stop_at: tuple[str, ...] = (), steps: int = 0,
          overrides: dict[str, Any] | None = None, keep_people: bool = False) -> str:
    """Complete tasks of a case as the users who would, until it waits at ``stop_at``,
    ``steps`` tasks are done, or it ends. Returns where it stopped.

    A person field becomes whoever completes the task, unless ``keep_people``: then it
    keeps the case's value (a leader to report to, a chair)."""
    for done in range(MAX_STEPS):
        with app.session() as s:
            tasks = _open_tasks(s, instance_id)
            if not tasks:
                return "finished"
            waiting = [t.spec for t in tasks]
            if any(spec in stop_at for spec in waiting) or (steps and done >= steps):
                return ", ".join(waiting)
            row = tasks[0]
            actor = _actor_for(s, row, users)
            schema = runtime.task_form(s, s.get_one(Instance, instance_id), row)
            data = form_data(schema, runtime.task_data(s, row), overrides or {},
                             "" if keep_people else actor.username)
            task_id = row.id
        with app.session() as s:
            runtime.complete(s, task_id, actor, data)
        with app.session() as s:
            instance = s.get_one(Instance, instance_id)
            if instance.status == "error":
                return f"incident: {instance.incident}"
    return "step limit"


def _users(session: Session) -> dict[str, Actor]:
    return {u.username: Actor.of(u) for u in identity.list_users(session)}


def seed_documents(app: Docroute) -> None:
    """Register the demo documents and drive their cases (idempotent)."""
    with app.session() as s:
        first = DEMOS[0].fields["title"]
        if s.scalar(select(Document.id).where(Document.title == first)) is not None:
            return
        users = _users(s)
    for item in DEMOS:
        started = clock.now() - timedelta(days=item.age)
        with clock.using_clock(clock.ManualClock(started)):
            _seed_one(app, item, users)
    # One reminder pass, so the inbox shows each task's colour at once.
    with app.session() as s:
        reminders.run_reminders(s, clock.now())


def _seed_one(app: Docroute, item: Demo, users: dict[str, Actor]) -> None:
    author = users[item.author]
    with app.session() as s:
        document = documents.create_document(s, author, item.kind, item.fields)
        doc_id = document.id
        missing = item.process and definitions.latest(s, item.process) is None
    if not item.process:
        return
    if missing:
        print(f"demo: process {item.process!r} is not deployed; "
              f"document {doc_id} has no case (run 'docroute init' first)")
        return
    try:
        with app.session() as s:
            instance = runtime.start_case(s, author, item.process, item.start_data,
                                          document_id=doc_id)
            case_id = instance.id
        where = drive(app, case_id, users, stop_at=item.stop_at, steps=item.steps,
                      overrides=item.data)
    except DocrouteError as error:
        details = getattr(error, "errors", None)
        print(f"demo: the {item.process} case of document {doc_id} stopped: {error}"
              + (f" {details}" if details else ""))
        return
    if where.startswith("incident") or where == "step limit":
        print(f"demo: the {item.process} case {case_id} stopped early ({where})")

