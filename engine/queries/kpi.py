"""The office's performance figures (duty 12) and the disclosure annual report, from history.

Every figure is computed here, from the cases' events (what was submitted, when each
step was done) and the deadlines table, never from counters kept by hand; each figure
keeps the ids of its cases so a reader can drill down to them. The rules:

* a case belongs to the period in which it started and to its unit: the department of
  the document it routes, else the last unit named in its submitted data;
* figures are as of the day the report is made: 办结率: cases closed / cases received;
  按期办结率: of the closed cases with a deadline, those closed on or before it; 超期件数:
  cases with a deadline that closed after it or are still open past it;
* the deadline of a case is its latest legal deadline in the deadlines table, else the
  last ``deadline`` submitted in a form (incoming documents, follow-ups);
* working days per step: from the case's previous step to the step's completion;
* 办复率/满意率 (建议提案), 答复率 and result codes (依申请公开), 督办办结率 (tracked follow-ups).

The 政府信息公开年度报告 table counts disclosure requests by applicant type: new, carried
over, one result per request closed in the year, and carried forward.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.deadlines import workcalendar
from engine.errors import FormInvalid, NotAllowed
from engine.models import Deadline, Definition, Document, Event, Instance
from engine.org import access
from engine.org.identity import Actor

READERS = frozenset({"office_director", "supervising_leaders", "principal_leaders",
                     "supervision_officers", "disclosure_officers"})
UNIT_FIELDS = ("lead_department", "holding_department", "source_department",
               "applicant_department", "drafting_department", "department")
STATE_EVENTS = ("started", "completed", "timer_fired")
UNASSIGNED = "unassigned"  # the unit of a case that names none (yet)
CHUNK = 900  # ids per IN (...) list: below every backend's parameter limit
MAX_DAYS = 3660

FIGURES = ("received", "closed", "closure_rate", "on_time_rate", "overdue",
           "proposal_answer_rate", "proposal_satisfaction_rate", "disclosure_answer_rate",
           "supervision_completion_rate")
FIGURE_NAMES = {
    "received": ("收件数", "Cases received"), "closed": ("办结数", "Cases closed"),
    "closure_rate": ("办结率", "Closure rate"), "on_time_rate": ("按期办结率", "On-time rate"),
    "overdue": ("超期件数", "Overdue cases"),
    "proposal_answer_rate": ("建议提案办复率", "Suggestions answered"),
    "proposal_satisfaction_rate": ("建议提案满意率", "Proposers satisfied"),
    "disclosure_answer_rate": ("依申请公开答复率", "Disclosure requests answered"),
    "supervision_completion_rate": ("督办办结率", "Follow-ups completed"),
}
# The annual report's result classes (国办公开办函〔2021〕30号), from the answer's result code;
# the same classes the disclosure diagram's "归入年报类别" step assigns.
RESULT_CLASS = {"already_public": "disclosed", "disclosed": "disclosed",
                "partly_disclosed": "partly_disclosed", "refused": "refused",
                "not_held": "cannot_provide", "not_ours": "cannot_provide",
                "repeat": "not_processed", "not_processed": "not_processed",
                "special_register": "other", "other": "other"}
RESULT_CLASSES = ("disclosed", "partly_disclosed", "refused", "cannot_provide",
                  "not_processed", "other")
APPLICANT_TYPES = ("natural_person", "business", "research", "public_welfare",
                   "legal_service", "other")


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both included (office dates)."""

    start: date
    end: date

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        """A period from ISO dates; FormInvalid names the bad field."""
        errors: dict[str, str] = {}
        days: dict[str, date] = {}
        for name, raw in (("from", start), ("to", end)):
            try:
                days[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = f"{name} must be a date like 2026-03-02"
        if not errors and days["to"] < days["from"]:
            errors["to"] = "to must not be before from"
        if not errors and (days["to"] - days["from"]).days > MAX_DAYS:
            errors["to"] = "a report covers at most ten years"
        if errors:
            raise FormInvalid(errors)
        return cls(days["from"], days["to"])


@dataclass(frozen=True)
class Figure:
    """A count, or a rate ``len(cases) / denominator``; ``cases`` are the numerator's."""

    key: str
    cases: tuple[int, ...]
    denominator: int | None = None

    @property
    def count(self) -> int:
        return len(self.cases)

    @property
    def value(self) -> float | int | None:
        if self.denominator is None:
            return self.count
        return round(self.count / self.denominator, 4) if self.denominator else None


@dataclass
class UnitReport:
    unit: str
    figures: dict[str, Figure]
    # (process name, step name) -> (average working days, steps measured)
    steps: dict[tuple[str, str], tuple[float, int]]
    result_codes: dict[str, int]


@dataclass
class _Case:
    id: int
    key: str
    process: str
    classification: int
    started_on: date
    ended_on: date | None
    status: str
    unit: str = ""
    deadline: date | None = None
    data: dict[str, Any] = field(default_factory=dict)
    specs: set[str] = field(default_factory=set)
    steps: list[tuple[str, int]] = field(default_factory=list)


def may_read(actor: Actor) -> bool:
    """Office leaders, follow-up and disclosure officers, administrators and auditors."""
    return actor.is_admin or actor.is_auditor or bool(actor.groups & READERS)


def _check(actor: Actor) -> None:
    if not may_read(actor):
        raise NotAllowed("performance reports are for the office's leaders and officers")


# China has kept UTC+8 without daylight saving since 1991: a fixed offset gives the office
# date of any moment a case can have, several times faster than a zone lookup per event.
_UTC8 = timezone(timedelta(hours=8))


def _office_day(moment: datetime) -> date:
    return moment.astimezone(_UTC8).date()


def _bounds(period: Period) -> tuple[datetime, datetime]:
    start = datetime.combine(period.start, time(0), tzinfo=clock.OFFICE_TZ)
    return start, datetime.combine(period.end + timedelta(1), time(0), tzinfo=clock.OFFICE_TZ)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _parse_day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


class _Recent:
    """The cases of the last few reports, keyed by the newest event id.

    Events are append-only and every change a figure reads (a step, a deadline, a
    document's fields, a calendar recomputation) appends one, so the same newest id means
    the same cases: the one-unit view and the drill-down after a report reuse its pass.
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], list[_Case]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, period: Period) -> list[_Case]:
        newest = session.scalar(select(func.max(Event.id)))
        key = (str(session.get_bind().engine.url), period, newest)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        cases = load_cases(session, period)
        with self._lock:
            self._items[key] = cases
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return cases


RECENT = _Recent()


def load_cases(session: Session, period: Period, keys: Iterable[str] = ()) -> list[_Case]:
    """The cases started in the period, with what their events and deadlines say."""
    start, end = _bounds(period)
    query = (select(Instance.id, Definition.key, Definition.name, Instance.classification,
                    Instance.started_at, Instance.ended_at, Instance.status,
                    Document.department)
             .join(Definition, Instance.definition_id == Definition.id)
             .outerjoin(Document, Instance.document_id == Document.id)
             .where(Instance.started_at >= start, Instance.started_at < end)
             .order_by(Instance.id))
    if keys:
        query = query.where(Definition.key.in_(list(keys)))
    cases = {row.id: _Case(row.id, row.key, row.name, row.classification,
                           _office_day(row.started_at),
                           _office_day(row.ended_at) if row.ended_at else None,
                           row.status, unit=row.department or "")
             for row in session.execute(query)}
    ids, workdays = list(cases), dict[tuple[date, date], int]()
    for chunk in _chunks(ids):
        _read_events(session, cases, chunk, workdays)
        for deadline in session.scalars(select(Deadline).where(Deadline.instance_id.in_(chunk))):
            case = cases[deadline.instance_id]
            if case.deadline is None or deadline.legal_due > case.deadline:
                case.deadline = deadline.legal_due
    for case in cases.values():
        case.unit = case.unit or next(
            (str(case.data[f]) for f in UNIT_FIELDS if case.data.get(f)), UNASSIGNED)
        if case.deadline is None:
            case.deadline = _parse_day(case.data.get("deadline"))
    return list(cases.values())


def _read_events(session: Session, cases: dict[int, _Case], chunk: list[int],
                 workdays: dict[tuple[date, date], int]) -> None:
    """Fold the chunk's state events into its cases; ``workdays`` memoises day pairs (steps
    start and end on the same few hundred days) for one report, so a calendar change
    shows in the next one."""
    previous: dict[int, date] = {}
    rows = session.execute(select(Event.instance_id, Event.type, Event.at, Event.task_name,
                                  Event.payload)
                           .where(Event.instance_id.in_(chunk), Event.type.in_(STATE_EVENTS))
                           .order_by(Event.instance_id, Event.seq))
    for instance_id, type_, at, task_name, payload in rows:
        if instance_id is None:
            continue
        case = cases[instance_id]
        body = json.loads(payload)
        if type_ == "started":
            case.data.update(body.get("data") or {})
        elif type_ == "completed" and "spec" in body:
            case.data.update(body.get("data") or {})
            case.specs.add(str(body["spec"]))
            day = _office_day(at)
            if instance_id in previous and task_name:
                pair = (previous[instance_id], day)
                if pair not in workdays:
                    workdays[pair] = max(workcalendar.workdays_between(*pair), 0)
                case.steps.append((task_name, workdays[pair]))
            previous[instance_id] = day
            continue
        previous[instance_id] = _office_day(at)


def _rate(key: str, numerator: list[_Case], denominator: list[_Case]) -> Figure:
    return Figure(key, tuple(c.id for c in numerator), len(denominator))


def _figures(cases: list[_Case], today: date) -> dict[str, Figure]:
    closed = [c for c in cases if c.status == "completed" and c.ended_on]
    dated = [c for c in closed if c.deadline is not None]
    on_time = [c for c in dated if c.ended_on and c.deadline and c.ended_on <= c.deadline]
    overdue = [c for c in cases if c.deadline is not None
               and ((c.ended_on or today) > c.deadline)]
    proposals = [c for c in cases if c.key == "suggestion_proposal"]
    answered = [c for c in proposals if "reply" in c.specs or c.data.get("answer_number")]
    rated = [c for c in proposals if c.data.get("satisfaction")]
    satisfied = [c for c in rated if c.data["satisfaction"] in ("satisfied",
                                                                "basically_satisfied")]
    requests = [c for c in cases if c.key == "disclosure_request"]
    delivered = [c for c in requests if "deliver" in c.specs]
    tracked = [c for c in cases if c.key == "supervision" and c.data.get("track") == "track"]
    closed_ids = {c.id for c in closed}
    completed = [c for c in tracked if c.id in closed_ids]
    return {
        "received": Figure("received", tuple(c.id for c in cases)),
        "closed": Figure("closed", tuple(c.id for c in closed)),
        "closure_rate": _rate("closure_rate", closed, cases),
        "on_time_rate": _rate("on_time_rate", on_time, dated),
        "overdue": Figure("overdue", tuple(c.id for c in overdue)),
        "proposal_answer_rate": _rate("proposal_answer_rate", answered, proposals),
        "proposal_satisfaction_rate": _rate("proposal_satisfaction_rate", satisfied, rated),
        "disclosure_answer_rate": _rate("disclosure_answer_rate", delivered, requests),
        "supervision_completion_rate": _rate("supervision_completion_rate", completed,
                                             tracked),
    }


def _steps(cases: list[_Case]) -> dict[tuple[str, str], tuple[float, int]]:
    days: dict[tuple[str, str], list[int]] = defaultdict(list)
    for case in cases:
        for name, n in case.steps:
            days[(case.process, name)].append(n)
    return {k: (round(sum(v) / len(v), 2), len(v)) for k, v in sorted(days.items())}


def report(session: Session, actor: Actor, period: Period, unit: str = "") -> list[UnitReport]:
    """The figures per unit for cases started in the period, all units together first
    (unit ""); NotAllowed for those who may not read reports."""
    _check(actor)
    today = _office_day(clock.now())
    cases = RECENT.get(session, period)
    by_unit: dict[str, list[_Case]] = defaultdict(list)
    for case in cases:
        by_unit[case.unit].append(case)
    groups = [(unit, by_unit.get(unit, []))] if unit else [("", cases),
                                                           *sorted(by_unit.items())]
    return [UnitReport(name, _figures(group, today), _steps(group),
                       _result_codes(group)) for name, group in groups]


def _result_codes(cases: list[_Case]) -> dict[str, int]:
    """How the answered disclosure requests were answered, by the answer's result code."""
    return dict(Counter(str(c.data.get("result_code")) for c in cases
                        if c.key == "disclosure_request" and "deliver" in c.specs
                        and c.data.get("result_code")))


def drill_down(session: Session, actor: Actor, period: Period, figure: str,
               unit: str = "") -> list[int]:
    """The ids of the cases behind one figure, as far as the actor is cleared to see them."""
    if figure not in FIGURES:
        raise FormInvalid({"figure": f"unknown figure {figure!r}; use one of "
                                     f"{', '.join(FIGURES)}"})
    found = report(session, actor, period, unit)[0].figures[figure].cases
    # The figures count every case; the list of them names only cases the actor may see
    # (engine.org.access: clearance, then involvement), like every other list of cases.
    visible = set(session.scalars(select(Instance.id).where(
        Instance.id.in_(found), access.visible_cases_clause(actor)))) if found else set()
    return [i for i in found if i in visible]


# --- 政府信息公开年度报告 ----------------------------------------------------------------------


@dataclass
class AnnualReport:
    """Rows (new, carried_over, each result class, results_total, carried_forward) by
    applicant type (and "total")."""

    year: int
    rows: dict[str, dict[str, int]]


ANNUAL_ROWS = ("new", "carried_over", *RESULT_CLASSES, "results_total", "carried_forward")
ANNUAL_ROW_NAMES = {
    "new": ("一、本年新收政府信息公开申请数量", "New requests this year"),
    "carried_over": ("二、上年结转政府信息公开申请数量", "Carried over from last year"),
    "disclosed": ("三、（一）予以公开", "Disclosed"),
    "partly_disclosed": ("三、（二）部分公开", "Partly disclosed"),
    "refused": ("三、（三）不予公开", "Refused"),
    "cannot_provide": ("三、（四）无法提供", "Cannot be provided"),
    "not_processed": ("三、（五）不予处理", "Not processed"),
    "other": ("三、（六）其他处理", "Other"),
    "results_total": ("三、（七）总计", "Results in total"),
    "carried_forward": ("四、结转下年度继续办理", "Carried forward"),
}
APPLICANT_NAMES = {"natural_person": ("自然人", "Natural persons"),
                   "business": ("商业企业", "Businesses"),
                   "research": ("科研机构", "Research institutions"),
                   "public_welfare": ("社会公益组织", "Public-welfare organisations"),
                   "legal_service": ("法律服务机构", "Legal-service organisations"),
                   "other": ("其他", "Others"), "total": ("总计", "Total")}


def annual_report(session: Session, actor: Actor, year: int) -> AnnualReport:
    """The statutory table for ``year`` from the disclosure cases' events.

    A request closed without an answer (no correction received) counts as 其他处理.
    """
    _check(actor)
    if not 2000 <= year <= 2100:
        raise FormInvalid({"year": "the year must be between 2000 and 2100"})
    first, last = date(year, 1, 1), date(year, 12, 31)
    cases = load_cases(session, Period(date(2000, 1, 1), last), ["disclosure_request"])
    rows = {row: dict.fromkeys((*APPLICANT_TYPES, "total"), 0) for row in ANNUAL_ROWS}

    def add(row: str, case: _Case) -> None:
        kind = str(case.data.get("applicant_type") or "other")
        kind = kind if kind in APPLICANT_TYPES else "other"
        rows[row][kind] += 1
        rows[row]["total"] += 1

    for case in cases:
        open_at_start = case.started_on < first and (case.ended_on is None
                                                     or case.ended_on >= first)
        if first <= case.started_on <= last:
            add("new", case)
        elif open_at_start:
            add("carried_over", case)
        if case.ended_on is not None and first <= case.ended_on <= last:
            code = str(case.data.get("result_code") or "") if "deliver" in case.specs else ""
            add(RESULT_CLASS.get(code, "other"), case)
            add("results_total", case)
        elif case.ended_on is None or case.ended_on > last:
            add("carried_forward", case)  # (every case loaded started by the year's end)
    return AnnualReport(year, rows)
