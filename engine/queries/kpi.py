"""The office's performance figures (duty 12) and the disclosure annual report, from history.

Every figure is computed from the cases' events (what was submitted, when each step was
done) and the deadlines table, never from counters kept by hand. The rules:

* a case belongs to the period in which it started and to its unit: the department of
  the document it routes, else the last unit named in its submitted data;
* figures are as of the day the report is made: 办结率: cases closed / cases received;
  按期办结率: of the closed cases with a deadline, those closed on or before it; 超期件数:
  cases with a deadline that closed after it or are still open past it;
* the deadline of a case is its latest legal deadline in the deadlines table, else the
  last ``deadline`` submitted in a form (incoming documents, follow-ups);
* working days per step: from the case's previous step to the step's completion;
* 办复率/满意率 (建议提案), 答复率 and result codes (依申请公开), 督办办结率 (tracked follow-ups).

So that a report over 100,000 cases is a few aggregates, what the figures read of each
case is folded into one ``case_facts`` row and its ``case_steps`` (``record_facts``):
whenever a transaction writes events of a case, its new events are folded in just
before the commit, so the rows are never edited by hand, and ``rebuild_facts``
(``docroute kpi rebuild``) derives them again from the events alone. Each figure is one
SQL condition on those rows (``_conditions``): the counts and the drill-down to a
figure's cases use the same one.

The 政府信息公开年度报告 table counts disclosure requests by applicant type: new, carried
over, one result per request closed in the year, and carried forward.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Date, and_, case, delete, func, literal, select, update
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, sessionmaker

from engine import clock
from engine.deadlines import workcalendar
from engine.errors import FormInvalid, NotAllowed
from engine.models import CaseFact, CaseStep, Deadline, Definition, Document, Event, Instance
from engine.org import access
from engine.org.identity import Actor
from engine.runtime import state

READERS = frozenset({"office_director", "supervising_leaders", "principal_leaders",
                     "supervision_officers", "disclosure_officers"})
UNIT_FIELDS = ("lead_department", "holding_department", "source_department",
               "applicant_department", "drafting_department", "department")
# The submitted fields a figure reads; a case's facts keep the latest value of each.
WATCHED = (*UNIT_FIELDS, "deadline", "satisfaction", "result_code", "track",
           "applicant_type", "answer_number")
# The steps a figure asks about: 答复 of a suggestion, 送达 of a disclosure answer.
KPI_SPECS = ("reply", "deliver")
SATISFIED = ("satisfied", "basically_satisfied")
T = TypeVar("T")
STATE_EVENTS = ("started", "completed", "timer_fired")
# Events that change nothing a facts row reads (who holds a task, who was told, what was
# viewed or said): a transaction that writes only these needs no fold. A claim is one
# of every group task's three requests.
FACTS_NEUTRAL = frozenset({"claimed", "unclaimed", "delegated", "reassigned", "reminder",
                           "reminded", "escalated", "notified", "comment", "commented",
                           "viewed", "chased"})
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
    """A count, or a rate ``count / denominator``."""

    key: str
    count: int
    denominator: int | None = None

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


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _parse_day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


# --- the facts of each case ----------------------------------------------------------------


def record_facts(session: Session, instance_ids: Iterable[int], *,
                 rebuild: bool = False, written: dict[int, list[Event]] | None = None) -> None:
    """Fold the cases' events not yet read into their facts rows and steps.

    ``rebuild`` starts each case again from its first event. ``written``: the events
    this transaction wrote, by case; folded from memory instead of read back when they
    are all the case has beyond its facts row (``_written_rows``). Everything else a
    figure reads (status, end, unit of the document, deadlines) is read afresh each time.
    """
    workdays: dict[tuple[date, date], int] = {}
    for chunk in _chunks(sorted(set(instance_ids))):
        _record_chunk(session, chunk, rebuild, workdays, {} if rebuild else written or {})


class _CaseRow(NamedTuple):
    id: int
    status: str
    started_at: datetime
    ended_at: datetime | None
    key: str
    name: str
    department: str | None


def _case_rows(session: Session, chunk: list[int]) -> list[_CaseRow]:
    """Each case with its process and unit: from the rows this session holds (a step has
    them all), else one query."""
    held = [_held_case(session, i) for i in chunk]
    if all(row is not None for row in held):
        return [row for row in held if row is not None]
    return [_CaseRow(*row) for row in session.execute(
        select(Instance.id, Instance.status, Instance.started_at, Instance.ended_at,
               Definition.key, Definition.name, Document.department)
        .join(Definition, Instance.definition_id == Definition.id)
        .outerjoin(Document, Instance.document_id == Document.id)
        .where(Instance.id.in_(chunk)))]


def _held(session: Session, cls: type[T], key: int) -> T | None:
    obj = session.identity_map.get(session.identity_key(cls, key))
    return obj if isinstance(obj, cls) and not sa_inspect(obj).expired_attributes else None


def _held_case(session: Session, instance_id: int) -> _CaseRow | None:
    instance = _held(session, Instance, instance_id)
    document = (_held(session, Document, instance.document_id)
                if instance and instance.document_id is not None else None)
    if instance is None or (instance.document_id is not None and document is None):
        return None
    process = state.definition_info(session, instance)  # (remembered per Docroute)
    return _CaseRow(instance.id, instance.status, instance.started_at, instance.ended_at,
                    process.key, process.name, document.department if document else None)


def _record_chunk(session: Session, chunk: list[int], rebuild: bool,
                  workdays: dict[tuple[date, date], int],
                  written: dict[int, list[Event]]) -> None:
    facts = {f.instance_id: f for f in session.scalars(
        select(CaseFact).where(CaseFact.instance_id.in_(chunk)))}
    if rebuild:
        session.execute(delete(CaseStep).where(CaseStep.instance_id.in_(chunk)))
        for fact in facts.values():
            fact.last_seq, fact.last_day, fact.values, fact.specs = 0, None, {}, []
    own = _written_rows(chunk, facts, written)
    cases = _case_rows(session, chunk)
    for row in cases:
        if row.id not in facts:
            facts[row.id] = CaseFact(instance_id=row.id, last_seq=0, last_day=None,
                                     values={}, specs=[], unit="")
    deadlines: dict[int, date] = {i: due for i, due in session.execute(
        select(Deadline.instance_id, func.max(Deadline.legal_due))
        .where(Deadline.instance_id.in_(chunk)).group_by(Deadline.instance_id))}
    steps = _fold_events(session, facts, workdays, own)
    for row in cases:
        fact = facts[row.id]
        old_unit = fact.unit
        _derive(fact, row, deadlines.get(row.id))
        session.add(fact)  # (a new row is added once complete: queries flush)
        if old_unit and old_unit != fact.unit:
            session.execute(update(CaseStep).where(CaseStep.instance_id == row.id)
                            .values(unit=fact.unit))
        session.add_all(CaseStep(instance_id=row.id, seq=seq, started_on=fact.started_on,
                                 unit=fact.unit, process_name=fact.process_name, step=name,
                                 workdays=days) for seq, name, days in steps.get(row.id, ()))


EventRow = tuple[int | None, int, str, datetime, str | None, str]


def _written_rows(chunk: list[int], facts: dict[int, CaseFact],
                  written: dict[int, list[Event]]) -> list[EventRow] | None:
    """The chunk's new state events from the ones this transaction wrote, or None when
    they may not be all: a case without a facts row that did not start here, or an event
    a savepoint rolled back. (Every transaction that writes a case's events folds them at
    its commit, under the case's lock, so a facts row covers every earlier event.)"""
    rows: list[EventRow] = []
    for instance_id in chunk:
        events = written.get(instance_id)
        if not events or not all(sa_inspect(e).persistent for e in events):
            return None
        if instance_id not in facts and not any(e.type == "started" for e in events):
            return None
        rows.extend((e.instance_id, e.seq, e.type, e.at, e.task_name, e.payload)
                    for e in events if e.type in STATE_EVENTS)
    rows.sort(key=lambda r: (r[0] or 0, r[1]))
    return rows


def _fold_events(session: Session, facts: dict[int, CaseFact],
                 workdays: dict[tuple[date, date], int], own: list[EventRow] | None = None
                 ) -> dict[int, list[tuple[int, str, int]]]:
    """Fold the state events after each row's ``last_seq`` (``own``: already known, else
    read); the new steps by case."""
    if not facts:
        return {}
    steps: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    values: dict[int, dict[str, Any]] = {i: dict(f.values) for i, f in facts.items()}
    specs: dict[int, set[str]] = {i: set(f.specs) for i, f in facts.items()}
    since = min(f.last_seq for f in facts.values())
    rows: Iterable[Any] = own if own is not None else session.execute(
        select(Event.instance_id, Event.seq, Event.type, Event.at, Event.task_name,
               Event.payload)
        .where(Event.instance_id.in_(list(facts)), Event.type.in_(STATE_EVENTS),
               Event.seq > since)
        .order_by(Event.instance_id, Event.seq))
    for instance_id, seq, type_, at, task_name, payload in rows:
        assert instance_id is not None  # (selected by instance)
        fact = facts[instance_id]
        if seq <= fact.last_seq:
            continue
        body = json.loads(payload)
        day = _office_day(at)
        submitted = type_ == "completed" and "spec" in body
        if type_ == "started" or submitted:
            data = body.get("data")
            if isinstance(data, dict):
                values[instance_id].update((k, data[k]) for k in WATCHED if k in data)
        if submitted:
            if str(body["spec"]) in KPI_SPECS:
                specs[instance_id].add(str(body["spec"]))
            if fact.last_day is not None and task_name:
                pair = (fact.last_day, day)
                if pair not in workdays:
                    workdays[pair] = max(workcalendar.of(session).workdays_between(*pair), 0)
                steps[instance_id].append((seq, task_name, workdays[pair]))
        fact.last_seq, fact.last_day = seq, day
    for instance_id, fact in facts.items():
        if values[instance_id] != fact.values:
            fact.values = values[instance_id]  # a new object, so the change is written
        if specs[instance_id] != set(fact.specs):
            fact.specs = sorted(specs[instance_id])
    return steps


def _text(value: Any, size: int) -> str:
    return str(value)[:size] if value else ""


def _derive(fact: CaseFact, row: Any, legal_due: date | None) -> None:
    """The columns the figures read, from the folded values and the case's rows."""
    values = fact.values
    fact.process_key, fact.process_name, fact.status = row.key, row.name, row.status
    fact.started_on = _office_day(row.started_at)
    fact.ended_on = _office_day(row.ended_at) if row.ended_at else None
    fact.unit = _text(row.department or next(
        (values[f] for f in UNIT_FIELDS if values.get(f)), UNASSIGNED), 64)
    fact.deadline = legal_due or _parse_day(values.get("deadline"))
    fact.answered = "reply" in fact.specs or bool(values.get("answer_number"))
    fact.satisfaction = _text(values.get("satisfaction"), 32)
    fact.delivered = "deliver" in fact.specs
    fact.result_code = _text(values.get("result_code"), 32)
    fact.applicant_type = _text(values.get("applicant_type"), 32)
    fact.tracked = values.get("track") == "track"


_PENDING = "docroute_kpi_cases"
_WRITTEN = "docroute_kpi_events"


def listen(sessions: sessionmaker[Session]) -> None:
    """Keep each case's facts row at every commit that wrote its events, in the sessions
    ``sessions`` makes (``engine.wiring`` attaches this to each ``Docroute``'s factory)."""
    sa_event.listen(sessions, "before_flush", _note_cases)
    sa_event.listen(sessions, "before_commit", _record_before_commit)
    sa_event.listen(sessions, "after_rollback", _forget_cases)


def _note_cases(session: Session, _context: Any, _instances: Any) -> None:
    """Remember the cases this transaction writes events of, and the events."""
    events = [o for o in session.new if isinstance(o, Event) and o.instance_id is not None]
    if events:
        session.info.setdefault(_PENDING, set()).update(
            e.instance_id for e in events if e.type not in FACTS_NEUTRAL)
        written = session.info.setdefault(_WRITTEN, defaultdict(list))
        for e in events:
            written[e.instance_id].append(e)


def _record_before_commit(session: Session) -> None:
    # Every writer of a case's events (a step, a deadline action, an administrator's
    # change, a calendar recomputation) holds that case's lock, so its row is written
    # under the same lock. Reading back is harmless: a case noted whose events were
    # rolled back to a savepoint is folded from what is really there.
    while True:
        session.flush()  # (notes the events not flushed yet)
        ids = session.info.pop(_PENDING, None)
        if not ids:
            session.info.pop(_WRITTEN, None)
            return
        record_facts(session, ids, written=session.info.pop(_WRITTEN, None))


def _forget_cases(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)


FactsRow = tuple[Any, ...]


def _snapshot(session: Session, ids: list[int]) -> dict[int, FactsRow]:
    columns = [c for c in CaseFact.__table__.columns]
    facts = {row[0]: tuple(row) for row in session.execute(
        select(*columns).where(CaseFact.instance_id.in_(ids)))}
    steps: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(select(CaseStep.instance_id, CaseStep.seq, CaseStep.started_on,
                                      CaseStep.unit, CaseStep.process_name, CaseStep.step,
                                      CaseStep.workdays)
                               .where(CaseStep.instance_id.in_(ids))
                               .order_by(CaseStep.instance_id, CaseStep.seq)):
        steps[row[0]].append(tuple(row))
    return {i: (facts.get(i), tuple(steps.get(i, ()))) for i in ids}


def rebuild_facts(session: Session, progress: Callable[[int, int], None] | None = None
                  ) -> tuple[int, list[int]]:
    """Derive every case's facts again from its events alone.

    Returns the number of cases and the ids of those whose rows differed from what the
    steps had kept (none, unless rows were written by hand or lost).
    """
    ids = list(session.scalars(select(Instance.id).order_by(Instance.id)))
    session.execute(delete(CaseStep).where(CaseStep.instance_id.not_in(
        select(Instance.id))))
    session.execute(delete(CaseFact).where(CaseFact.instance_id.not_in(
        select(Instance.id))))
    differed: list[int] = []
    workdays: dict[tuple[date, date], int] = {}
    for done, chunk in enumerate(_chunks(ids), start=1):
        before = _snapshot(session, chunk)
        _record_chunk(session, chunk, True, workdays, {})
        session.flush()
        after = _snapshot(session, chunk)
        differed += [i for i in chunk if before[i] != after[i]]
        session.expunge_all()  # a long rebuild keeps no rows in memory
        if progress:
            progress(min(done * CHUNK, len(ids)), len(ids))
    return len(ids), differed


def facts_snapshot(session: Session) -> dict[int, FactsRow]:
    """Every case's facts row and steps as plain tuples (for comparisons)."""
    ids = list(session.scalars(select(Instance.id).order_by(Instance.id)))
    found: dict[int, FactsRow] = {}
    for chunk in _chunks(ids):
        found.update(_snapshot(session, chunk))
    return found


# --- the figures -----------------------------------------------------------------------------


def _conditions(today: date) -> dict[str, tuple[Any, Any]]:
    """Each figure as (the condition on its cases, the condition on its denominator's
    cases; None: every case for a numerator, no denominator for a count)."""
    f = CaseFact
    closed = and_(f.status == "completed", f.ended_on.is_not(None))
    dated = and_(closed, f.deadline.is_not(None))
    proposals = f.process_key == "suggestion_proposal"
    rated = and_(proposals, f.satisfaction != "")
    requests = f.process_key == "disclosure_request"
    tracked = and_(f.process_key == "supervision", f.tracked)
    overdue = and_(f.deadline.is_not(None),
                   func.coalesce(f.ended_on, literal(today, Date)) > f.deadline)
    return {
        "received": (None, False),
        "closed": (closed, False),
        "closure_rate": (closed, None),
        "on_time_rate": (and_(dated, f.ended_on <= f.deadline), dated),
        "overdue": (overdue, False),
        "proposal_answer_rate": (and_(proposals, f.answered), proposals),
        "proposal_satisfaction_rate": (and_(rated, f.satisfaction.in_(SATISFIED)), rated),
        "disclosure_answer_rate": (and_(requests, f.delivered), requests),
        "supervision_completion_rate": (and_(tracked, closed), tracked),
    }


def _in_period(table: Any, period: Period, unit: str) -> Any:
    clause = table.started_on.between(period.start, period.end)
    return and_(clause, table.unit == unit) if unit else clause


def _count(condition: Any) -> Any:
    return func.count() if condition is None else func.sum(case((condition, 1), else_=0))


def _figure_counts(session: Session, period: Period, unit: str, today: date
                   ) -> dict[str, dict[str, Figure]]:
    conditions = _conditions(today)
    columns: list[Any] = [CaseFact.unit]
    for numerator, denominator in conditions.values():
        columns.append(_count(numerator))
        columns.append(_count(denominator) if denominator is not False else literal(0))
    sums: dict[str, list[int]] = {unit: [0] * len(columns)} if unit else {}
    for row in session.execute(select(*columns).where(_in_period(CaseFact, period, unit))
                               .group_by(CaseFact.unit)):
        sums[row[0]] = [int(n or 0) for n in row[1:]]
    return {name: {key: Figure(key, numbers[2 * i], None if conditions[key][1] is False
                               else numbers[2 * i + 1])
                   for i, key in enumerate(FIGURES)}
            for name, numbers in _with_total(sums, len(FIGURES) * 2).items()}


def _with_total(sums: dict[str, list[int]], width: int) -> dict[str, list[int]]:
    total = [sum(numbers[i] for numbers in sums.values()) for i in range(width)]
    return {"": total, **dict(sorted(sums.items()))}


def _step_days(session: Session, period: Period, unit: str
               ) -> dict[str, dict[tuple[str, str], tuple[float, int]]]:
    raw: dict[str, dict[tuple[str, str], list[int]]] = defaultdict(dict)
    for name, process, step, days, n in session.execute(
            select(CaseStep.unit, CaseStep.process_name, CaseStep.step,
                   func.sum(CaseStep.workdays), func.count())
            .where(_in_period(CaseStep, period, unit))
            .group_by(CaseStep.unit, CaseStep.process_name, CaseStep.step)):
        for key in (name, ""):
            found = raw[key].setdefault((process, step), [0, 0])
            found[0] += int(days)
            found[1] += int(n)
    return {name: {k: (round(d / n, 2), n) for k, (d, n) in sorted(steps.items())}
            for name, steps in raw.items()}


def _result_codes(session: Session, period: Period, unit: str
                  ) -> dict[str, dict[str, int]]:
    """How the answered disclosure requests were answered, by the answer's result code."""
    codes: dict[str, Counter[str]] = defaultdict(Counter)
    for name, code, n in session.execute(
            select(CaseFact.unit, CaseFact.result_code, func.count())
            .where(_in_period(CaseFact, period, unit),
                   CaseFact.process_key == "disclosure_request", CaseFact.delivered,
                   CaseFact.result_code != "")
            .group_by(CaseFact.unit, CaseFact.result_code)):
        for key in (name, ""):
            codes[key][code] += int(n)
    return {name: dict(sorted(found.items())) for name, found in codes.items()}


def report(session: Session, actor: Actor, period: Period, unit: str = "") -> list[UnitReport]:
    """The figures per unit for cases started in the period, all units together first
    (unit ""); NotAllowed for those who may not read reports."""
    _check(actor)
    today = _office_day(clock.now())
    counts = _figure_counts(session, period, unit, today)
    steps, codes = _step_days(session, period, unit), _result_codes(session, period, unit)
    if unit:
        return [UnitReport(unit, counts[unit], steps.get(unit, {}), codes.get(unit, {}))]
    return [UnitReport(name, figures, steps.get(name, {}), codes.get(name, {}))
            for name, figures in counts.items()]


def drill_down(session: Session, actor: Actor, period: Period, figure: str,
               unit: str = "") -> list[int]:
    """The ids of the cases behind one figure, as far as the actor is cleared to see them."""
    if figure not in FIGURES:
        raise FormInvalid({"figure": f"unknown figure {figure!r}; use one of "
                                     f"{', '.join(FIGURES)}"})
    _check(actor)
    condition = _conditions(_office_day(clock.now()))[figure][0]
    query = (select(CaseFact.instance_id)
             .join(Instance, Instance.id == CaseFact.instance_id)
             # The figures count every case; the list of them names only cases the actor
             # may see (engine.org.access: clearance, then involvement), like every other list.
             .where(_in_period(CaseFact, period, unit), access.visible_cases_clause(actor))
             .order_by(CaseFact.instance_id))
    if condition is not None:
        query = query.where(condition)
    return list(session.scalars(query))


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
    """The statutory table for ``year`` from the disclosure cases' facts.

    A request closed without an answer (no correction received) counts as 其他处理.
    """
    _check(actor)
    if not 2000 <= year <= 2100:
        raise FormInvalid({"year": "the year must be between 2000 and 2100"})
    first, last = date(year, 1, 1), date(year, 12, 31)
    cases = session.execute(
        select(CaseFact.started_on, CaseFact.ended_on, CaseFact.applicant_type,
               CaseFact.delivered, CaseFact.result_code)
        .where(CaseFact.process_key == "disclosure_request",
               CaseFact.started_on.between(date(2000, 1, 1), last)))
    rows = {row: dict.fromkeys((*APPLICANT_TYPES, "total"), 0) for row in ANNUAL_ROWS}

    def add(row: str, applicant: str) -> None:
        kind = applicant if applicant in APPLICANT_TYPES else "other"
        rows[row][kind] += 1
        rows[row]["total"] += 1

    for started_on, ended_on, applicant, delivered, result_code in cases:
        open_at_start = started_on < first and (ended_on is None or ended_on >= first)
        if first <= started_on <= last:
            add("new", applicant)
        elif open_at_start:
            add("carried_over", applicant)
        if ended_on is not None and first <= ended_on <= last:
            add(RESULT_CLASS.get(result_code if delivered else "", "other"), applicant)
            add("results_total", applicant)
        elif ended_on is None or ended_on > last:
            add("carried_forward", applicant)  # (every case read started by the year's end)
    return AnnualReport(year, rows)
