"""Drive every shipped process end to end, in memory, through each gateway branch.

No database: SpiffWorkflow runs with docroute's restricted script engine, the
application clock is a ManualClock (timers fire by moving it), service operators get
their results from a recorded list (as in replay), and every submitted form is checked
against its JSON Schema with the engine's own ``forms.validate``. After every step the
case is saved and reloaded (state without spec, as the runtime stores it) and must
serialize identically.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.deadlines import calendar_calls, workcalendar
from engine.definitions import forms, scripting
from engine.definitions.bpmn import DocrouteParser, normalise, parse_xml
from engine.runtime import projection
from engine.runtime.operators import ServiceScope, service_scope
from engine.runtime.spiff import dump_state, load_state

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
FORMS = ROOT / "forms"
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shenzhen

# Lanes are named by the groups' display names; the runtime maps them to keys.
LANES = {
    "综合办公室": "general_office", "收发员": "records_clerks", "机要员": "confidential_clerks",
    "处室负责人": "section_heads", "核稿人": "office_reviewers", "法制审核": "legal_reviewers",
    "办公室主任": "office_director", "分管领导": "supervising_leaders",
    "主要领导": "principal_leaders", "监印人": "seal_supervisors", "督查员": "supervision_officers",
    "承办人": "handlers", "信息公开专员": "disclosure_officers", "档案员": "archivists",
    "保密员": "confidentiality_officers",
}
DEPARTMENTS = ["general_office", "dev_finance", "economic_services", "party_affairs",
               "housing_construction", "urban_management", "social_affairs",
               "emergency_management", "eco_enforcement", "kuichong_office", "dapeng_office",
               "nanao_office"]
USERS = ["zhangli", "zhouqiang", "wujing", "linhai", "wangfang", "chenming", "liuyang",
         "zhaolei", "sunli", "xugang", "huangmin", "guoyan", "mali"]


# --- working-day stand-ins ---------------------------------------------------------------
# engine/workcalendar.py is written concurrently; until it provides these helpers the
# tests use Monday-to-Friday stand-ins. Real helpers, once present, take precedence.

def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _add_workdays(start: Any, n: int) -> date:
    day, step = _as_date(start), (1 if n >= 0 else -1)
    for _ in range(abs(n)):
        day += timedelta(days=step)
        while day.weekday() >= 5:
            day += timedelta(days=step)
    return day


def _roll(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _add_days(start: Any, n: int) -> date:
    return _roll(_as_date(start) + timedelta(days=n))


def _add_months(start: Any, n: int) -> date:
    day = _as_date(start)
    month = day.month - 1 + n
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in range(day.day, 0, -1):
        try:
            return _roll(date(year, month, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _workdays_between(a: Any, b: Any) -> int:
    count, day, end = 0, _as_date(a), _as_date(b)
    while day < end:
        day = _add_workdays(day, 1)
        if day <= end:
            count += 1
    return count


STAND_INS = {"add_workdays": _add_workdays, "add_days": _add_days, "add_months": _add_months,
             "workdays_between": _workdays_between}


def make_engine() -> Any:
    engine = scripting.make_script_engine()
    env = engine.environment
    helpers = dict(env.helpers)
    for name, fn in STAND_INS.items():
        helpers.setdefault(name, fn)
    env._helpers = helpers  # test-only: fill in helpers the calendar module lacks
    return engine


# --- parsing -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def parser() -> DocrouteParser:
    p = DocrouteParser()
    for path in sorted(WORKFLOWS.glob("*.bpmn")):
        tree = parse_xml(path.read_bytes(), max_bytes=5 << 20)
        p.add_bpmn_xml(normalise(tree).getroot(), filename=path.name)
    return p


def load_form(key: str) -> dict[str, Any]:
    schema = json.loads((FORMS / f"{key}.json").read_text(encoding="utf-8"))

    def resolve(node: Any) -> None:
        # What the engine does at request time (forms.resolve), without a database.
        if not isinstance(node, dict):
            return
        source = node.get("x-choices")
        if source:
            node["enum"] = DEPARTMENTS if source == "departments" else USERS
        for sub in (node.get("properties") or {}).values():
            resolve(sub)
        resolve(node.get("items"))

    resolve(schema)
    return schema


class Case:
    """One in-memory case: complete tasks by BPMN id, move the clock, fire timers."""

    def __init__(self, parser: DocrouteParser, key: str, recorded: list[Any] | None = None,
                 data: dict[str, Any] | None = None):
        self.key = key
        self.spec = parser.get_spec(key)
        self.subprocesses = parser.get_subprocess_specs(key)
        self.engine = make_engine()
        self.clock = clock.ManualClock(START)
        self.scope = ServiceScope(session=None, instance_id=1, document_id=None, actor="t",
                                  recorded=list(recorded or []))
        # The calendar a Docroute gives its steps: the built-in one, as on an empty database.
        self.calendar = workcalendar.builtin_calendar()
        self.log: list[str] = []
        with self._context():
            self.wf = BpmnWorkflow(self.spec, self.subprocesses, script_engine=self.engine)
            # What engine.runtime.start_case puts into every new case.
            initial = {"case_id": 1, "started_by": "zhaolei", **(data or {})}
            self.wf.get_next_task(state=TaskState.READY).data.update(initial)
            self.wf.do_engine_steps()
            self._round_trip()

    def _context(self) -> Any:
        case = self

        class _Both:
            def __enter__(self) -> None:
                self.c = clock.using_clock(case.clock)
                self.s = service_scope(case.scope)
                self.d = calendar_calls.call_scope(calendar_calls.CallScope(case.calendar))
                self.c.__enter__()
                self.s.__enter__()
                self.d.__enter__()

            def __exit__(self, *exc: Any) -> None:
                self.d.__exit__(*exc)
                self.s.__exit__(*exc)
                self.c.__exit__(*exc)

        return _Both()

    def _round_trip(self) -> None:
        state = dump_state(self.wf)
        self.wf = load_state(state, self.spec, self.subprocesses, self.engine)
        assert dump_state(self.wf) == state
        assert not self.wf.get_events() or all(
            e.event_definition.__class__.__name__ != "ErrorEventDefinition"
            for e in self.wf.get_events())

    # --- inspection ------------------------------------------------------------------
    def ready(self) -> list[Any]:
        return self.wf.get_tasks(state=TaskState.READY, manual=True)

    def ready_ids(self) -> list[str]:
        return sorted(t.task_spec.bpmn_id for t in self.ready())

    def data(self) -> dict[str, Any]:
        if self.wf.completed:
            return self.wf.data
        tasks = self.ready()
        return tasks[0].data if tasks else {}

    def assignment(self, task: Any) -> tuple[str | None, list[str], datetime | None]:
        with self._context():  # as the projection evaluates them, after the step
            assignee, groups = projection.assignment(self.wf, task, LANES)
            due = projection.parse_due(projection._evaluate(
                self.wf, task, projection.properties(task).get("dueDate")))
        return assignee, groups, due

    # --- actions ---------------------------------------------------------------------
    def complete(self, bpmn_id: str, data: dict[str, Any] | None = None, *,
                 who: str | None = None, derived: dict[str, Any] | None = None) -> Any:
        """``derived``: what the task's office checks add (engine/task_checks.py)."""
        with self._context():
            candidates = [t for t in self.ready() if t.task_spec.bpmn_id == bpmn_id]
            assert candidates, f"{bpmn_id} is not ready; ready: {self.ready_ids()}"
            task = candidates[0]
            if who is not None:
                matches = [t for t in candidates if self.assignment(t)[0] == who
                           or who in self.assignment(t)[1]]
                found = [self.assignment(t) for t in candidates]
                assert matches, f"no {bpmn_id} for {who}: {found}"
                task = matches[0]
            assignee, groups, _ = self.assignment(task)
            assert assignee or groups, f"{bpmn_id} has nobody to do it"
            for group in groups:
                assert group in LANES.values() or group in DEPARTMENTS, (bpmn_id, group)
            key = projection.properties(task).get("formKey")
            assert key, f"{bpmn_id} has no form key"
            clean = forms.validate(load_form(key), dict(data or {}), self.calendar)
            task.data.update(clean)
            task.data.update(derived or {})
            task.run()
            self.wf.do_engine_steps()
            self.log.append(bpmn_id)
            self._round_trip()
            return task

    def helper(self, name: str) -> Any:
        """A script helper, called as inside one of this case's steps."""
        function = self.engine.environment.helpers[name]

        def in_step(*args: Any) -> Any:
            with self._context():
                return function(*args)

        return in_step

    def advance(self, **delta: float) -> None:
        """Move the clock and let due timers fire (the scheduler's two phases)."""
        with self._context():
            self.clock.advance(timedelta(**delta))
            self.wf.refresh_timers()
            self.wf.do_engine_steps()
            self.wf.refresh_timers()
            self.wf.do_engine_steps()
            self._round_trip()

    def next_timer(self) -> datetime | None:
        due = [d for _, d in projection.waiting_timers(self.wf)]
        return min(due) if due else None

    def finished(self) -> bool:
        return self.wf.completed and not self.ready()

    def services_left(self) -> list[Any]:
        return list(self.scope.recorded or [])


def run_archiving(case: Case, *, classified: bool = False, send_back: bool = False) -> None:
    """The archiving call activity, as reached from any other process."""
    if send_back:
        case.complete("check", {"title": case.data()["title"], "classification": "none",
                                "items_complete": False, "decision": "return",
                                "check_opinion": "缺发文稿纸"})
        case.complete("supplement", {"supplement_note": "已补发文稿纸"})
    case.complete("check", {"title": case.data()["title"],
                            "classification": "secret" if classified else "none",
                            "items_complete": True, "decision": "approve"})
    case.complete("set_retention", {"retention": "定期30年", "archive_year": 2026, "page_count": 3})
    if classified:
        case.complete("metadata_only", {"paper_location": "机要室2号柜", "filed_on": "2026-03-20"})
    else:
        case.complete("file_electronic", {"filed_on": "2026-03-20"})


# --- archiving ---------------------------------------------------------------------------

@pytest.mark.parametrize("classified", [False, True])
def test_archiving_alone(parser: DocrouteParser, classified: bool) -> None:
    case = Case(parser, "archiving", recorded=["1001-WS·2026-D30-ZHB-0001"])
    assert case.ready_ids() == ["check"]
    case.complete("check", {"title": "关于做好2026年防汛工作的通知", "classification": "none",
                            "items_complete": False, "decision": "return"})
    case.complete("supplement", {"supplement_note": "补充定稿"})
    case.complete("check", {"title": "关于做好2026年防汛工作的通知",
                            "classification": "confidential" if classified else "none",
                            "items_complete": True, "decision": "approve"})
    case.complete("set_retention", {"retention": "定期30年", "archive_year": 2026})
    assert case.ready_ids() == (["metadata_only"] if classified else ["file_electronic"])
    assert case.data()["archive_code"] == "1001-WS·2026-D30-ZHB-0001"
    if classified:
        case.complete("metadata_only", {"paper_location": "机要室", "filed_on": "2026-03-04"})
    else:
        case.complete("file_electronic", {"filed_on": "2026-03-04"})
    assert case.finished()
    assert case.scope.results == [{"service": "assign_archive_code",
                                   "params": {"retention": "定期30年"},
                                   "result": "1001-WS·2026-D30-ZHB-0001"}]


# --- incoming ----------------------------------------------------------------------------

def answer_clock(legal: str, target: str | None = None, **extra: Any) -> dict[str, Any]:
    """What a ``deadline_*`` operator answers (the arithmetic itself is tested on the real
    calendar in tests/test_legal_periods.py); ``name`` defaults to the disclosure answer."""
    extra.setdefault("name", "answer")
    return {"kind": "workdays", "legal_due": legal,
            "due_at": f"{legal}T23:59:59+08:00", "target_due": target,
            "target_at": f"{target}T23:59:59+08:00" if target else None, "status": "running",
            "paused_on": None, "paused_units": 0, "extension": 0, "restarts": 0, **extra}


def calls(case: Case, service: str) -> list[dict[str, Any]]:
    return [r["params"] for r in case.scope.results if r["service"] == service]


# What org_instructing_leader answers for a document from the city government.
INSTRUCTED = {"leader": "chenming", "level": "principal", "reason": "上级机关来文由主要领导批示"}


def incoming_to_instruction(case: Case, *, send_back: bool = False) -> None:
    case.complete("sign_for", {"received_at": "2026-03-02T09:30:00+08:00",
                               "source_org": "深圳市人民政府",
                               "copies": 2, "urgency": "加急", "classification": "none"})
    case.complete("register", {"title": "关于做好2026年三防工作的通知", "doc_type": "通知",
                               "source_org": "深圳市人民政府", "source_number": "深府〔2026〕16号",
                               "issued_on": "2026-02-27"})
    assert case.data()["receipt_number"] == "深鹏办收〔2026〕8号"
    case.complete("initial_check", {"check_result": "accept"})
    propose = {"proposed_handling": "建议请王芳同志阅示，应急管理局牵头办理。",
               "handling_mode": "act", "deadline": "2026-03-13",
               "lead_department": "emergency_management",
               "instruction_group": "supervising_leaders"}
    case.complete("propose", propose)
    # 批示 goes to the one leader the organisation names (engine.org.orgchart), not a group.
    assert case.assignment(case.ready()[0])[:2] == ("chenming", [])
    assert case.scope.results[-1]["service"] == "org_instructing_leader"
    assert case.scope.results[-1]["params"] == {"unit": "emergency_management"}
    if send_back:
        case.complete("instruct", {"instruction": "请补充往年办理情况", "handling_mode": "act",
                                   "deadline": "2026-03-13", "decision": "return"})
        assert case.ready_ids() == ["propose"]
        case.complete("propose", {**propose, "instruction_group": "principal_leaders"})
        assert case.assignment(case.ready()[0])[:2] == ("chenming", [])


def test_incoming_returned_to_sender(parser: DocrouteParser) -> None:
    case = Case(parser, "incoming_document", recorded=[
        answer_clock("2026-03-16", name="handling"), "深鹏办收〔2026〕8号",
        answer_clock("2026-03-16", name="handling"),
        answer_clock("2026-03-16", name="handling", status="closed")])
    assert case.ready_ids() == ["sign_for"]
    assert case.assignment(case.ready()[0])[1] == ["records_clerks"]
    case.complete("sign_for", {"received_at": "2026-03-02T09:30:00+08:00", "source_org": "某公司",
                               "copies": 1, "urgency": "", "classification": "none"})
    case.complete("register", {"title": "关于申请补贴的函", "doc_type": "函",
                               "source_org": "某公司",
                               "issued_on": "2026-02-27"})
    case.complete("initial_check", {"check_result": "return", "check_opinion": "非行政机关来文"})
    assert case.ready_ids() == ["return_doc"]
    case.complete("return_doc", {"return_reason": "不属本机关受理范围", "return_method": "post",
                                 "returned_on": "2026-03-03"})
    assert case.finished()
    # A routine item: 10 working days by default, closed when the document goes back.
    assert calls(case, "deadline_start") == [{"name": "handling", "kind": "workdays", "n": 10}]
    assert calls(case, "deadline_set") == [{"name": "handling", "due": "2026-03-16",
                                            "reason": "按紧急程度"}]
    assert calls(case, "deadline_close") == [{"name": "handling"}]
    assert case.services_left() == []


def test_incoming_for_reading(parser: DocrouteParser) -> None:
    case = Case(parser, "incoming_document", recorded=[
        answer_clock("2026-03-16", name="handling"), "深鹏办收〔2026〕8号",
        answer_clock("2026-03-05", name="handling"), INSTRUCTED, INSTRUCTED,
        answer_clock("2026-03-06", name="handling"),
        answer_clock("2026-03-06", name="handling", status="closed"),
        "1001-WS·2026-D10-ZHB-0007"])
    incoming_to_instruction(case, send_back=True)
    case.complete("instruct", {"instruction": "请林海、王芳、陈明同志阅。", "handling_mode": "read",
                               "deadline": "2026-03-06", "decision": "approve"})
    assert case.ready_ids() == ["distribute_read"]
    case.complete("distribute_read", {"readers": ["linhai", "wangfang", "chenming"]})
    circulating = case.ready()
    readers = sorted(str(case.assignment(t)[0]) for t in circulating)
    assert readers == ["chenming", "linhai", "wangfang"]
    assert {case.assignment(t)[2] for t in circulating} == {
        datetime(2026, 3, 6, 15, 59, 59, tzinfo=UTC)}
    case.complete("circulate", {"read_note": "已阅，请应急管理局关注。"}, who="wangfang")
    case.complete("circulate", {}, who="chenming")  # the default note "已阅"
    case.complete("circulate", {"read_note": "阅"}, who="linhai")
    assert case.data()["read_receipts"] == {"linhai": "阅", "wangfang": "已阅，请应急管理局关注。",
                                            "chenming": "已阅"}
    run_archiving(case)
    assert case.finished()
    assert case.services_left() == []


@pytest.mark.parametrize("co_departments", [[], ["urban_management", "housing_construction"]])
def test_incoming_for_action(parser: DocrouteParser, co_departments: list[str]) -> None:
    case = Case(parser, "incoming_document", recorded=[
        answer_clock("2026-03-16", name="handling"), "深鹏办收〔2026〕8号",
        answer_clock("2026-03-05", name="handling"), INSTRUCTED,
        answer_clock("2026-03-13", name="handling"),
        answer_clock("2026-03-13", name="handling", status="closed"),
        "1001-WS·2026-D30-ZHB-0008"])
    incoming_to_instruction(case)
    case.complete("instruct", {"instruction": "请应急管理局牵头抓好落实。", "handling_mode": "act",
                               "deadline": "2026-03-13", "decision": "approve"})
    case.complete("distribute_act", {"lead_department": "emergency_management",
                                     "co_departments": co_departments})
    expected = ["handle"] + (["cohandle"] * len(co_departments))
    assert case.ready_ids() == sorted(expected)
    handle = next(t for t in case.ready() if t.task_spec.bpmn_id == "handle")
    assert case.assignment(handle)[1] == ["emergency_management"]
    # 加急: 3 working days by default, then the time limit the instruction set.
    assert calls(case, "deadline_set") == [
        {"name": "handling", "due": "2026-03-05", "reason": "按紧急程度"},
        {"name": "handling", "due": "2026-03-13", "reason": "批示确定办理时限"}]
    # Overdue: nothing opens in the diagram; the reminder engine chases in working days.
    assert case.assignment(handle)[2] == datetime(2026, 3, 13, 15, 59, 59, tzinfo=UTC)
    assert case.next_timer() is None
    case.advance(days=11, hours=1)
    assert sorted(set(case.ready_ids())) == sorted({"handle", *(["cohandle"] if co_departments
                                                                else [])})
    for department in co_departments:
        case.complete("cohandle", {"co_opinion": f"{department} 已配合"}, who=department)
    case.complete("handle", {"handling_result": "已部署三防工作", "handled_on": "2026-03-16"})
    assert case.next_timer() is None
    assert case.ready_ids() == ["reply"]
    assert case.data().get("co_opinions", {}) == {d: f"{d} 已配合" for d in co_departments}
    case.complete("reply", {"reply_content": "已按要求部署", "replied_on": "2026-03-17"})
    run_archiving(case, classified=False, send_back=True)
    assert case.finished()
    assert case.services_left() == []


# --- outgoing (with the seal_use and archiving call activities) ---------------------------

# What the org_authority operator answers (engine.org.orgchart) for the demo organisation.
SUPERVISED = {"unit_head": "", "unit_leader": "wangfang", "principal": "chenming",
              "signer": "wangfang", "signer_level": "unit_leader", "reason": "分管领导"}
PRINCIPAL = {**SUPERVISED, "signer": "chenming", "signer_level": "principal",
             "reason": "上行文"}

DRAFT = {"title": "关于做好2026年国庆期间游客安全工作的通知", "doc_type": "通知",
         "drafting_department": "emergency_management", "number_prefix": "深鹏办",
         "principal_recipients": "各办事处，新区各部门", "classification": "none",
         "urgency": "特急", "copies": 30}


def outgoing_seal(case: Case, *, refuse: bool = False) -> None:
    """seal_use as called from outgoing: the signed sheet is the authority, no approval."""
    task = case.ready()[0]
    assert task.task_spec.bpmn_id == "request"
    assert case.assignment(task)[0] == "zhaolei"  # the drafter who started the case
    data = task.data
    assert data["signed_document"] is True and data["related_number"] == data["doc_number"]
    case.complete("request", {"seal": "general_office", "purpose": data["purpose"],
                              "title": data["title"], "related_number": data["related_number"],
                              "copies": data["copies"], "basis": data["basis"],
                              "signed_document": True,
                              "applicant_department": "emergency_management"})
    assert case.ready_ids() == ["supervise"]
    case.complete("supervise", {"text_matches": not refuse, "no_blank": True,
                                "seal_check": "refuse" if refuse else "approve"})
    if not refuse:
        case.complete("stamp_and_file", {"stamped_at": "2026-03-05T10:00:00+08:00",
                                         "stamped_copies": data["copies"]})


def test_outgoing_cosigned_normative(parser: DocrouteParser) -> None:
    stage = answer_clock("2026-03-09", name="stage")
    case = Case(parser, "outgoing_document",
                recorded=[stage, stage, stage, stage, stage, SUPERVISED, stage,
                          "深鹏办〔2026〕12号", "用印〔2026〕5号", stage,
                          "DP01-WS·2026-D30-ZHB-0001"])
    assert calls(case, "deadline_start") == [{"name": "stage", "kind": "workdays", "n": 5}]
    assert case.ready_ids() == ["draft"]
    assert case.assignment(case.ready()[0])[0] == "zhaolei"
    draft = {**DRAFT, "normative": True,
             "cosign_departments": ["urban_management", "eco_enforcement"]}
    case.complete("draft", draft)
    case.complete("section_review", {"section_opinion": "请补充依据", "decision": "return"})
    assert case.ready_ids() == ["draft"]
    assert case.assignment(case.ready()[0])[0] == "zhaolei"
    case.complete("draft", draft)
    case.complete("section_review", {"section_opinion": "同意", "decision": "approve"})
    assert case.ready_ids() == ["cosign", "cosign"]
    case.complete("cosign", {"cosign_opinion": "同意", "cosign_decision": "agree"},
                  who="urban_management")
    case.complete("cosign", {"cosign_opinion": "建议增加海岸线巡查", "cosign_decision": "agree"},
                  who="eco_enforcement")
    assert case.data()["cosign_decisions"] == {"urban_management": "agree",
                                               "eco_enforcement": "agree"}
    case.complete("office_review", {"review_opinion": "文种不当", "decision": "return"})
    case.complete("draft", {**draft, "cosign_departments": []})
    case.complete("section_review", {"section_opinion": "同意", "decision": "approve"})
    case.complete("office_review", {"review_opinion": "同意", "decision": "approve"})
    assert case.ready_ids() == ["legal_review"]
    case.complete("legal_review", {"legal_opinion": "合法", "decision": "approve"})
    case.complete("leader_review", {"leader_opinion": "同意", "decision": "approve"})
    assert case.ready_ids() == ["sign_supervising"]
    assert case.assignment(case.ready()[0])[0] == "wangfang"  # the leader in charge
    case.complete("sign_supervising", {"signer": "wangfang", "signed_on": "2026-03-04",
                                       "decision": "approve"})
    case.complete("recheck", {"recheck_opinion": "无误", "substantive_change": False})
    assert case.data()["doc_number"] == "深鹏办〔2026〕12号"
    case.complete("typeset", {"issued_on": "2026-03-04", "printed_on": "2026-03-05", "copies": 30})
    outgoing_seal(case)
    assert case.data()["seal_register_number"] == "用印〔2026〕5号"
    case.complete("distribute", {"distribution_method": "exchange", "publication": "public",
                                 "distributed_on": "2026-03-05"})
    run_archiving(case)
    assert case.finished()
    results = [r for r in case.scope.results if not r["service"].startswith("deadline_")]
    assert [r["service"] for r in results] == [
        "org_authority", "allocate_number", "register_seal_use", "assign_archive_code"]
    assert results[0]["params"] == {"unit": "emergency_management"}
    assert results[1]["params"] == {"prefix": "深鹏办"}
    assert results[2]["params"] == {"seal": "general_office", "copies": 30}
    # A target per stage, by urgency (特急 here), restarted whenever a stage begins again.
    assert [(c["n"], c["reason"]) for c in calls(case, "deadline_restart")] == [
        (1, "审核、会签、核稿")] * 3 + [(1, "签发"), (1, "复核、编号、印制、用印、分发")]
    assert calls(case, "deadline_close") == [{"name": "stage"}]
    assert case.services_left() == []


def test_outgoing_upward_changed_after_signing(parser: DocrouteParser) -> None:
    stage = answer_clock("2026-03-09", name="stage")
    case = Case(parser, "outgoing_document",
                recorded=[stage, stage, stage, PRINCIPAL, stage, stage, PRINCIPAL, stage, stage,
                          "深鹏管〔2026〕3号", "用印〔2026〕6号", stage,
                          "DP01-WS·2026-Y-ZHB-0002"])
    draft = {**DRAFT, "doc_type": "请示", "title": "关于申请海岸带修复资金的请示",
             "number_prefix": "深鹏管"}
    case.complete("draft", draft)
    case.complete("section_review", {"section_opinion": "同意", "decision": "approve"})
    assert case.ready_ids() == ["office_review"]  # no co-signing
    case.complete("office_review", {"review_opinion": "同意", "decision": "approve"})
    assert case.ready_ids() == ["leader_review"]  # not normative: no legality review
    case.complete("leader_review", {"leader_opinion": "同意", "decision": "approve"})
    assert case.ready_ids() == ["sign_principal"]
    assert case.assignment(case.ready()[0])[0] == "chenming"  # the principal leader
    case.complete("sign_principal", {"signer": "chenming", "signed_on": "2026-03-04",
                                     "decision": "return"})
    case.complete("draft", draft)
    case.complete("section_review", {"section_opinion": "同意", "decision": "approve"})
    case.complete("office_review", {"review_opinion": "同意", "decision": "approve"})
    case.complete("leader_review", {"leader_opinion": "同意", "decision": "approve"})
    case.complete("sign_principal", {"signer": "chenming", "signed_on": "2026-03-05",
                                     "decision": "approve"})
    case.complete("recheck", {"recheck_opinion": "第三段有实质修改", "substantive_change": True})
    assert case.ready_ids() == ["sign_principal"]  # back to the signer
    case.complete("sign_principal", {"signer": "chenming", "signed_on": "2026-03-06",
                                     "decision": "approve"})
    case.complete("recheck", {"recheck_opinion": "无误", "substantive_change": False})
    case.complete("typeset", {"issued_on": "2026-03-06", "printed_on": "2026-03-06", "copies": 5})
    outgoing_seal(case, refuse=True)
    assert case.ready_ids() == ["typeset"]  # reprint; the number is kept
    case.complete("typeset", {"issued_on": "2026-03-06", "printed_on": "2026-03-09", "copies": 5})
    outgoing_seal(case)
    case.complete("distribute", {"distribution_method": "confidential", "publication": "not_public",
                                 "distributed_on": "2026-03-09"})
    run_archiving(case, classified=True)
    assert case.finished()
    assert [r["service"] for r in case.scope.results].count("allocate_number") == 1
    assert case.services_left() == []


def test_outgoing_joint_document_signed_by_each_co_issuer(parser: DocrouteParser) -> None:
    joint = {"general_office": "linhai", "party_affairs": "linhai"}
    stage = answer_clock("2026-03-09", name="stage")
    case = Case(parser, "outgoing_document",
                recorded=[stage, stage, stage, SUPERVISED, joint, stage, stage, SUPERVISED,
                          joint, stage, "深鹏办〔2026〕13号", "用印〔2026〕8号", stage,
                          "DP01-WS·2026-D30-ZHB-0003"])
    draft = {**DRAFT, "joint_issuers": ["general_office", "party_affairs"]}
    case.complete("draft", draft)
    case.complete("section_review", {"section_opinion": "同意", "decision": "approve"})
    case.complete("office_review", {"review_opinion": "同意", "decision": "approve"})
    case.complete("leader_review", {"leader_opinion": "同意", "decision": "approve"})
    case.complete("sign_supervising", {"signed_on": "2026-03-04", "decision": "approve"})
    # One sign-off per co-issuing unit, each by the person the organisation names.
    assert case.ready_ids() == ["joint_sign", "joint_sign"]
    assert [case.assignment(t)[:2] for t in case.ready()] == [("linhai", [])] * 2
    assert case.scope.results[-1]["params"] == {"units": ["general_office", "party_affairs"],
                                                "drafter": "zhaolei"}
    case.complete("joint_sign", {"joint_decision": "agree"})
    case.complete("joint_sign", {"joint_decision": "disagree"})
    assert case.ready_ids() == ["draft"]  # a co-issuer refused: back for coordination
    case.complete("draft", draft)
    case.complete("section_review", {"section_opinion": "同意", "decision": "approve"})
    case.complete("office_review", {"review_opinion": "同意", "decision": "approve"})
    case.complete("leader_review", {"leader_opinion": "同意", "decision": "approve"})
    case.complete("sign_supervising", {"signed_on": "2026-03-05", "decision": "approve"})
    case.complete("joint_sign", {"joint_decision": "agree"})
    assert "doc_number" not in case.data()  # numbering waits for every co-issuer
    case.complete("joint_sign", {"joint_decision": "agree"})
    assert case.data()["joint_decisions"] == {"general_office": "agree",
                                              "party_affairs": "agree"}
    assert case.ready_ids() == ["recheck"]
    case.complete("recheck", {"recheck_opinion": "无误", "substantive_change": False})
    assert case.data()["doc_number"] == "深鹏办〔2026〕13号"
    case.complete("typeset", {"issued_on": "2026-03-05", "printed_on": "2026-03-05", "copies": 30})
    outgoing_seal(case)
    case.complete("distribute", {"distribution_method": "exchange", "publication": "public",
                                 "distributed_on": "2026-03-05"})
    run_archiving(case)
    assert case.finished()
    assert case.services_left() == []


# --- seal use on its own ------------------------------------------------------------------

SEAL_REQUEST = {"seal": "general_office", "purpose": "出具工作证明",
                "title": "关于张某某在职情况的证明",
                "copies": 2, "basis": "人事部门申请", "signed_document": False,
                "applicant_department": "party_affairs"}


def test_seal_office_seal_sent_back_then_stamped(parser: DocrouteParser) -> None:
    case = Case(parser, "seal_use", recorded=["用印〔2026〕7号"])
    assert case.assignment(case.ready()[0])[0] == "zhaolei"
    case.complete("request", SEAL_REQUEST)
    assert case.ready_ids() == ["approve_director"]
    assert case.assignment(case.ready()[0])[1] == ["office_director"]
    case.complete("approve_director", {"approval_opinion": "请附申请表", "decision": "return"})
    case.complete("request", {**SEAL_REQUEST, "basis": "人事部门申请表（已附）"})
    case.complete("approve_director", {"approval_opinion": "同意", "decision": "approve"})
    case.complete("supervise", {"text_matches": True, "no_blank": True, "seal_check": "approve"})
    case.complete("stamp_and_file", {"stamped_at": "2026-03-03T15:00:00+08:00",
                                     "stamped_copies": 2})
    assert case.finished()
    assert case.data()["seal_register_number"] == "用印〔2026〕7号"


@pytest.mark.parametrize("refused_by", ["leader", "supervisor"])
def test_seal_committee_seal_refused(parser: DocrouteParser, refused_by: str) -> None:
    case = Case(parser, "seal_use")
    case.complete("request", {**SEAL_REQUEST, "seal": "management_committee"})
    assert case.ready_ids() == ["approve_leader"]
    assert case.assignment(case.ready()[0])[1] == ["supervising_leaders"]
    if refused_by == "leader":
        case.complete("approve_leader", {"approval_opinion": "不符合规定", "decision": "refuse"})
    else:
        case.complete("approve_leader", {"approval_opinion": "同意", "decision": "approve"})
        case.complete("supervise", {"text_matches": False, "no_blank": True,
                                    "seal_check": "refuse"})
    assert case.finished()
    assert case.scope.results == []


# --- NPC suggestions and CPPCC proposals -------------------------------------------------

ASSIGN = {"proposal_kind": "deputy_suggestion", "session_label": "七届人大三次会议",
          "proposal_number": "第0123号", "title": "关于加强大鹏所城文物保护的建议",
          "lead_proposer": "李代表", "key_item": False, "assigned_on": "2026-03-02",
          "handling_mode": "lead_co", "lead_department": "urban_management"}


def answer_and_sign(case: Case, category: str, *, send_back: bool = False) -> None:
    case.complete("answer", {"action": "submit", "answer_text": "已列入计划",
                             "result_category": category})
    if send_back:
        case.complete("sign_off", {"signoff_opinion": "请补充时间表", "decision": "return"})
        case.complete("answer", {"action": "submit", "answer_text": "已列入计划，年底完成",
                                 "result_category": category})
    case.complete("sign_off", {"decision": "approve"})
    case.complete("reply", {"answer_number": "深鹏管函〔2026〕5号", "answered_on": "2026-05-20"})


def test_suggestion_objection_extension_rehandle_follow_up(parser: DocrouteParser) -> None:
    answered = answer_clock("2026-06-02", status="closed")
    case = Case(parser, "suggestion_proposal", recorded=[
        answer_clock("2026-06-02", kind="months"),
        answer_clock("2026-06-02", kind="months", restarts=1),
        answer_clock("2026-04-02", name="co_opinions", kind="months"),
        answer_clock("2026-04-02", name="co_opinions", status="closed"),
        answer_clock("2026-09-02", kind="months", extension=3, restarts=1),
        answered, answer_clock("2026-10-19", kind="months", restarts=2),
        answered, answer_clock("2026-12-01", kind="months", restarts=3), answered])
    # The answer period runs from the start day until 交办 gives the date.
    assert case.ready_ids() == ["assign"]
    assert calls(case, "deadline_start") == [{"name": "answer", "kind": "months", "n": 3,
                                              "max_extension": 3}]
    co = ["housing_construction", "eco_enforcement"]
    case.complete("assign", {**ASSIGN, "co_departments": co})
    # 3 months from 交办; an extension may add at most 3 more (6 in all).
    assert calls(case, "deadline_rebase") == [{"name": "answer", "on": "2026-03-02",
                                               "reason": "按交办日期起算"}]
    sign_for = case.ready()[0]
    assert case.assignment(sign_for)[1] == ["urban_management"]
    case.complete("sign_for", {"sign_result": "object", "objection_reason": "属文物部门职责"})
    assert case.ready_ids() == ["handle_objection"]
    case.complete("handle_objection", {"lead_department": "social_affairs",
                                       "co_departments": co,
                                       "objection_handling": "调整由社会事务局主办"})
    assert case.assignment(case.ready()[0])[1] == ["social_affairs"]
    # No objection within 10 days (a period ending on a day off rolls to the next working
    # day): the sign-for is taken as accepted after the end of the 10th day.
    case.advance(days=10, hours=1)
    assert case.ready_ids() == ["sign_for"]
    case.advance(days=1)
    assert case.ready_ids() == ["give_co_opinion", "give_co_opinion"]
    # Co-handlers answer the lead unit within a month of 交办.
    assert calls(case, "deadline_start")[1] == {"name": "co_opinions", "kind": "months",
                                                "n": 1, "start_on": "2026-03-02"}
    assert case.assignment(case.ready()[0])[2] == datetime(2026, 4, 2, 15, 59, 59, tzinfo=UTC)
    case.complete("give_co_opinion", {"co_opinion": "配合修缮"}, who="housing_construction")
    case.complete("give_co_opinion", {"co_opinion": "配合执法"}, who="eco_enforcement")
    assert case.data()["co_opinions"] == {"housing_construction": "配合修缮",
                                          "eco_enforcement": "配合执法"}
    case.complete("consult", {"consulted_on": "2026-03-20", "consult_method": "visit",
                              "consult_record": "登门听取意见"})
    case.complete("answer", {"action": "extend", "result_category": "B",
                             "extension_reason": "需专家论证"})
    assert calls(case, "deadline_close") == [{"name": "co_opinions"}]
    case.complete("approve_extension", {"extension_months": 3, "extension_opinion": "同意",
                                        "decision": "approve"},
                  derived={"extension_approver": "linhai"})
    assert calls(case, "deadline_extend") == [{"name": "answer", "n": 3, "approver": "linhai",
                                               "reason": "需专家论证"}]
    # Past the (extended) due date nothing opens in the diagram: reminders chase.
    case.advance(days=200)
    assert case.ready_ids() == ["answer"]
    answer_and_sign(case, "B", send_back=True)
    # Follow-ups nobody handled are withdrawn once the answer is submitted.
    assert case.ready_ids() == ["feedback"]
    case.complete("feedback", {"satisfaction": "dissatisfied", "feedback_on": "2026-05-25"})
    assert case.ready_ids() == ["answer"]  # handled again within a month
    assert calls(case, "deadline_restart") == [{"name": "answer", "n": 1,
                                                    "reason": "不满意，重新办理"}]
    assert calls(case, "deadline_close")[1] == {"name": "answer", "on": "2026-05-20"}
    answer_and_sign(case, "B")
    case.complete("feedback", {"satisfaction": "basically_satisfied", "feedback_on": "2026-06-25"})
    assert case.ready_ids() == ["follow_up"]
    case.complete("follow_up", {"follow_up_note": "施工中", "follow_up_status": "ongoing"})
    case.complete("follow_up", {"follow_up_note": "已完工", "follow_up_status": "solved"})
    answer_and_sign(case, "A")
    case.complete("feedback", {"satisfaction": "satisfied", "feedback_on": "2026-12-01"})
    case.complete("close", {"closed_on": "2026-12-02"})
    assert case.finished()
    assert calls(case, "deadline_restart")[1]["reason"] == "跟踪办理后再次答复"
    assert case.services_left() == []


@pytest.mark.parametrize("mode, co", [("split", ["nanao_office"]), ("lead_co", [])])
def test_suggestion_split_or_alone(parser: DocrouteParser, mode: str, co: list[str]) -> None:
    case = Case(parser, "suggestion_proposal", recorded=[
        answer_clock("2026-06-02", kind="months"),
        answer_clock("2026-06-02", kind="months", restarts=1),
        answer_clock("2026-06-02", status="closed")])
    case.complete("assign", {**ASSIGN, "handling_mode": mode, "co_departments": co})
    case.complete("sign_for", {"sign_result": "accept"})
    if co:
        assert case.ready_ids() == ["answer_split"]
        case.complete("answer_split", {"split_answer": "南澳办事处负责部分已答复"},
                      who="nanao_office")
        assert case.data()["split_answers"] == {"nanao_office": "南澳办事处负责部分已答复"}
    assert case.ready_ids() == ["consult"]
    case.complete("consult", {"consulted_on": "2026-03-20", "consult_method": "phone",
                              "consult_record": "电话沟通"})
    answer_and_sign(case, "C")
    case.complete("feedback", {"satisfaction": "satisfied", "feedback_on": "2026-05-25"})
    case.complete("follow_up", {"follow_up_note": "条件不具备", "follow_up_status": "closed"})
    case.complete("close", {"closed_on": "2026-05-30"})
    assert case.finished()
    assert case.services_left() == []


# --- follow-up supervision ----------------------------------------------------------------

REGISTER = {"source_type": "leader_instruction", "title": "落实国庆游客安全保障",
            "instruction_text": "请应急管理局牵头抓好落实", "instructing_leader": "陈明",
            "instructed_on": "2026-03-01", "difficulty": "normal", "urgency": ""}


def test_supervision_not_tracked(parser: DocrouteParser) -> None:
    case = Case(parser, "supervision", recorded=[
        answer_clock("2026-03-23", name="handling"), "深鹏督〔2026〕1号",
        answer_clock("2026-03-23", name="handling", status="closed")])
    case.complete("register", REGISTER)
    assert case.data()["supervision_number"] == "深鹏督〔2026〕1号"
    case.complete("propose", {"track": "no_track", "propose_note": "阅知件，不立项"})
    assert case.finished()
    assert calls(case, "deadline_close") == [{"name": "handling"}]
    assert case.services_left() == []


def test_supervision_full_cycle(parser: DocrouteParser) -> None:
    case = Case(parser, "supervision", recorded=[
        answer_clock("2026-03-23", name="handling"), "深鹏督〔2026〕2号",
        answer_clock("2026-03-23", name="handling"),
        answer_clock("2026-04-10", name="handling", extension=14),
        answer_clock("2026-04-10", name="handling", status="closed"),
        "DP01-WS·2026-D10-ZHB-0003"])
    case.complete("register", REGISTER)
    case.complete("propose", {"track": "track", "propose_note": "建议立项"})
    case.complete("approve", {"approve_opinion": "明确责任单位", "decision": "return"})
    case.complete("propose", {"track": "track", "propose_note": "建议立项，应急管理局牵头"})
    case.complete("approve", {"approve_opinion": "同意", "decision": "approve"})
    data = case.data()
    assert data["deadline"] == str(case.helper("add_workdays")(date(2026, 3, 2), 15))
    assert data["feedback_cycle"] == "weekly"
    case.complete("assign", {"lead_department": "emergency_management", "requirements": "制定方案",
                             "deadline": data["deadline"], "feedback_cycle": "weekly"})
    assert case.assignment(case.ready()[0])[1] == ["emergency_management"]
    # In time: an extension is approved and the deadline moves.
    case.complete("handle", {"action": "extend", "extension_reason": "需协调交警"})
    assert calls(case, "deadline_start") == [{"name": "handling", "kind": "workdays", "n": 15}]
    assert calls(case, "deadline_set") == [{"name": "handling", "due": data["deadline"],
                                            "reason": "交办确定办理时限"}]
    case.complete("approve_extension", {"new_deadline": "2026-04-10", "extension_opinion": "同意",
                                        "decision": "approve"},
                  derived={"extension_approver": "linhai"})
    assert calls(case, "deadline_extend") == [{"name": "handling", "until": "2026-04-10",
                                               "approver": "linhai",
                                               "reason": "需协调交警"}]
    assert case.assignment(case.ready()[0])[2] == datetime(2026, 4, 10, 15, 59, 59, tzinfo=UTC)
    case.advance(days=7, hours=1)
    assert case.ready_ids() == ["handle", "progress"]
    case.complete("progress", {"progress_note": "方案已起草", "progress_percent": 40})
    # Overdue: the reminder engine chases; a late extension request goes straight back.
    case.advance(days=33)
    assert case.ready_ids() == ["handle"]
    case.complete("handle", {"action": "extend", "extension_reason": "再延"})
    assert "handle" in case.ready_ids() and "approve_extension" not in case.ready_ids()
    case.complete("handle", {"action": "complete", "completion_report": "已完成"})
    assert "progress" not in case.ready_ids()  # reports stop once handling is done
    case.complete("verify", {"verify_opinion": "缺佐证材料", "decision": "return"})
    case.complete("handle", {"action": "complete", "completion_report": "已完成，附照片"})
    case.complete("verify", {"verify_opinion": "同意审结", "decision": "approve"})
    case.complete("bulletin", {"reported_to_leader": True, "bulletin_scope": "internal"})
    run_archiving(case)
    assert case.finished()


# --- on-request disclosure ----------------------------------------------------------------

APPLICATION = {"applicant_name": "王某", "applicant_type": "natural_person",
               "contact": "13800000000", "received_via": "online", "received_on": "2026-03-02",
               "title": "申请公开海岸带修复资金",
               "request_content": "2025年海岸带修复项目资金使用情况"}


def test_disclosure_abandoned_without_correction(parser: DocrouteParser) -> None:
    case = Case(parser, "disclosure_request",
                recorded=[answer_clock("2026-03-30", "2026-03-23"),
                          answer_clock("2026-03-30", "2026-03-23", restarts=1),
                          answer_clock("2026-03-30", status="closed")])
    # The answer period runs from the start day until registration gives the receipt date.
    assert case.ready_ids() == ["register"]
    assert calls(case, "deadline_start") == [{
        "name": "answer", "kind": "workdays", "n": 20, "target": 15, "max_extension": 20}]
    case.complete("register", APPLICATION)
    assert calls(case, "deadline_rebase") == [{"name": "answer", "on": "2026-03-02",
                                               "reason": "按登记的收到日期起算"}]
    case.complete("check", {"completeness": "correct", "correction_notice": "请明确年份",
                            "correction_days": 10})
    assert case.ready_ids() == ["await_correction"]
    case.advance(days=20)
    assert case.finished()
    # Every ending records its result, and the answer period is closed.
    assert case.data()["result_code"] == "not_corrected"
    assert case.data()["answer_type"] == "other"
    assert calls(case, "deadline_close") == [{"name": "answer"}]
    assert case.services_left() == []


def test_disclosure_full(parser: DocrouteParser) -> None:
    case = Case(parser, "disclosure_request", recorded=[
        answer_clock("2026-03-30", "2026-03-23"),                       # case start
        answer_clock("2026-03-30", "2026-03-23"),                       # registration
        answer_clock("2026-04-07", "2026-03-31", restarts=1),           # 补正
        answer_clock("2026-05-08", "2026-04-29", extension=20),         # extension
        answer_clock("2026-05-08", "2026-04-29", status="paused",       # consultation
                     paused_on="2026-03-02"),
        answer_clock("2026-05-22", "2026-05-13", paused_units=14),      # reply received
        answer_clock("2026-05-22", "2026-05-13", status="paused", paused_on="2026-03-02"),
        answer_clock("2026-05-25", "2026-05-14", paused_units=15),
        "深鹏公复〔2026〕8号",
        answer_clock("2026-05-25", "2026-05-14", status="closed"),      # answered
        "DP01-WS·2026-D10-ZHB-0004"])
    case.complete("register", APPLICATION)
    check = case.ready()[0]
    assert case.assignment(check)[2] is not None
    case.complete("check", {"completeness": "correct", "correction_notice": "请明确年份"})
    case.complete("await_correction", {"received_on": "2026-03-09"})
    assert calls(case, "deadline_restart") == [{"name": "answer", "on": "2026-03-09",
                                                "reason": "补正"}]
    case.complete("check", {"completeness": "complete"})
    # Inner steps are due at the internal target, the answer itself at the legal date.
    assert case.assignment(case.ready()[0])[2] == datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)
    case.complete("route", {"holding_department": "dev_finance"})
    assert case.assignment(case.ready()[0])[1] == ["dev_finance"]
    case.complete("search", {"action": "extend", "extension_reason": "涉及多个项目"})
    case.complete("approve_extension", {"extension_opinion": "同意", "decision": "approve"},
                  derived={"extension_approver": "wangfang"})
    assert calls(case, "deadline_extend") == [{"name": "answer", "n": 20,
                                               "approver": "wangfang",
                                               "reason": "涉及多个项目"}]
    # The applicant is told of the extension before the unit goes on.
    assert case.ready_ids() == ["notify_extension"]
    case.complete("notify_extension", {"notice_method": "email", "notified_on": "2026-03-10"})
    assert case.data()["notice_text"].startswith("因需要")
    search = case.ready()[0]
    assert case.assignment(search)[2] == datetime(2026, 4, 29, 15, 59, 59, tzinfo=UTC)
    case.complete("search", {"action": "extend", "extension_reason": "再次延期"})
    case.complete("approve_extension", {"extension_opinion": "已延长过", "decision": "return"})
    assert len(calls(case, "deadline_extend")) == 1
    case.complete("search", {"action": "submit", "search_result": "部分涉及企业商业秘密",
                             "third_party": True})
    assert calls(case, "deadline_pause") == [{"name": "answer", "reason": "征求意见"}]
    case.complete("consult", {"third_party_name": "某建设公司", "consulted_on": "2026-03-02",
                              "replied_on": "2026-03-20", "third_party_reply": "object"})
    assert calls(case, "deadline_resume") == [{"name": "answer", "on": "2026-03-20"}]
    case.complete("secrecy_review", {"secrecy_opinion": "需删除个人信息", "decision": "return"})
    assert case.ready_ids() == ["search"]
    # Another organ must be consulted: its time is excluded too (第三十三条).
    case.complete("search", {"action": "submit", "search_result": "涉及区规划部门",
                             "third_party": False, "other_organ": True})
    case.complete("consult", {"third_party_name": "区规划和自然资源局",
                              "consulted_on": "2026-03-02", "replied_on": "2026-03-03",
                              "third_party_reply": "agree"})
    assert calls(case, "deadline_resume")[-1] == {"name": "answer", "on": "2026-03-03"}
    case.complete("secrecy_review", {"secrecy_opinion": "同意", "decision": "approve"})
    answer = {"result_code": "partly_disclosed", "answer_text": "部分公开", "remedy_notice": True}
    case.complete("draft_answer", answer)
    assert case.data()["answer_type"] == "partly_disclosed"
    case.complete("sign_off", {"signoff_opinion": "补充救济途径", "decision": "return"})
    case.complete("draft_answer", {**answer, "result_code": "not_ours"})
    assert case.data()["answer_type"] == "cannot_provide"
    case.complete("sign_off", {"decision": "approve"})
    assert case.data()["answer_number"] == "深鹏公复〔2026〕8号"
    case.complete("deliver", {"delivery_method": "email", "answered_on": "2026-05-20"})
    assert calls(case, "deadline_close") == [{"name": "answer", "on": "2026-05-20"}]
    run_archiving(case)
    assert case.finished()
    assert case.data()["result_code"] == "not_ours"
    assert case.services_left() == []
