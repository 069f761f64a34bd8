"""The report facts of every case: kept by the steps, rebuilt from the events alone, and the
figures read from them equal to a recount from the demo's events.

The recount below reads the events, cases, documents and deadlines directly and applies
the rules of docs/duties.md ("Reports") itself; it shares no code with engine.queries.kpi.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from test_cli import cli

from engine import Docroute, Settings, clock, demo
from engine.config import PROJECT_ROOT
from engine.deadlines import workcalendar
from engine.models import CaseFact, Deadline, Definition, Document, Event, Instance
from engine.org import identity
from engine.queries import kpi

UNIT_FIELDS = ("lead_department", "holding_department", "source_department",
               "applicant_department", "drafting_department", "department")


@pytest.fixture
def demo_app(db_url: str, tmp_path: Path, manual_clock: clock.ManualClock) -> Any:
    settings = Settings(home=tmp_path / "home", database_url=db_url,
                        forms_dir=PROJECT_ROOT / "forms",
                        workflows_dir=PROJECT_ROOT / "workflows")
    app = Docroute(settings)
    app.init()
    demo.seed(app)
    # Six weeks on: deadlines of the open cases have passed.
    manual_clock.advance(timedelta(days=42))
    yield app, settings
    app.engine.dispose()


def _office_day(moment: Any) -> date:
    return moment.astimezone(clock.OFFICE_TZ).date()


def _cases(s: Session) -> list[dict[str, Any]]:
    """Each case as its events, rows and deadlines say, folded here from scratch."""
    latest: dict[int, date] = {}
    for instance_id, due in s.execute(select(Deadline.instance_id, Deadline.legal_due)):
        latest[instance_id] = max(due, latest.get(instance_id, due))
    cases = []
    for case, key, name, department in s.execute(
            select(Instance, Definition.key, Definition.name, Document.department)
            .join(Definition, Instance.definition_id == Definition.id)
            .outerjoin(Document, Instance.document_id == Document.id)):
        data: dict[str, Any] = {}
        specs: set[str] = set()
        steps: list[tuple[str, int]] = []
        previous = None
        for event in s.scalars(select(Event).where(Event.chain == f"case:{case.id}")
                               .order_by(Event.seq)):
            if event.type not in ("started", "completed", "timer_fired"):
                continue
            body, day = json.loads(event.payload), _office_day(event.at)
            if event.type == "started" or (event.type == "completed" and "spec" in body):
                data.update(body.get("data") or {})
            if event.type == "completed" and "spec" in body:
                specs.add(body["spec"])
                if previous is not None and event.task_name:
                    steps.append((event.task_name,
                                  max(workcalendar.of(s).workdays_between(previous, day), 0)))
            previous = day
        unit = department or next((str(data[f]) for f in UNIT_FIELDS if data.get(f)),
                                  "unassigned")
        deadline = latest.get(case.id) or (date.fromisoformat(str(data["deadline"])[:10])
                                           if data.get("deadline") else None)
        cases.append({"id": case.id, "key": key, "process": name, "unit": unit,
                      "status": case.status, "deadline": deadline, "data": data,
                      "specs": specs, "steps": steps,
                      "ended": _office_day(case.ended_at) if case.ended_at else None})
    return cases


def _recount(cases: list[dict[str, Any]], today: date) -> dict[str, Any]:
    """(numerator ids, denominator size or None) per figure, steps and result codes."""
    closed = [c for c in cases if c["status"] == "completed" and c["ended"]]
    dated = [c for c in closed if c["deadline"]]
    proposals = [c for c in cases if c["key"] == "suggestion_proposal"]
    rated = [c for c in proposals if c["data"].get("satisfaction")]
    requests = [c for c in cases if c["key"] == "disclosure_request"]
    tracked = [c for c in cases if c["key"] == "supervision"
               and c["data"].get("track") == "track"]

    def ids(found: list[dict[str, Any]]) -> list[int]:
        return sorted(c["id"] for c in found)

    figures = {
        "received": (ids(cases), None), "closed": (ids(closed), None),
        "closure_rate": (ids(closed), len(cases)),
        "on_time_rate": (ids([c for c in dated if c["ended"] <= c["deadline"]]), len(dated)),
        "overdue": (ids([c for c in cases if c["deadline"]
                         and (c["ended"] or today) > c["deadline"]]), None),
        "proposal_answer_rate": (ids([c for c in proposals if "reply" in c["specs"]
                                      or c["data"].get("answer_number")]), len(proposals)),
        "proposal_satisfaction_rate": (ids([c for c in rated if c["data"]["satisfaction"]
                                            in ("satisfied", "basically_satisfied")]),
                                       len(rated)),
        "disclosure_answer_rate": (ids([c for c in requests if "deliver" in c["specs"]]),
                                   len(requests)),
        "supervision_completion_rate": (ids([c for c in tracked if c in closed]),
                                        len(tracked)),
    }
    days: dict[tuple[str, str], list[int]] = defaultdict(list)
    codes: dict[str, int] = defaultdict(int)
    for c in cases:
        for step, n in c["steps"]:
            days[(c["process"], step)].append(n)
        if c in requests and "deliver" in c["specs"] and c["data"].get("result_code"):
            codes[str(c["data"]["result_code"])] += 1
    steps = {k: (round(sum(v) / len(v), 2), len(v)) for k, v in days.items()}
    return {"figures": figures, "steps": steps, "codes": dict(codes)}


def test_figures_equal_a_recount_from_the_demo_events(demo_app: Any) -> None:
    app, _ = demo_app
    today = _office_day(clock.now())
    period = kpi.Period(date(2000, 1, 1), today)
    with app.session() as s:
        cases = _cases(s)
        reported = {u.unit: u for u in kpi.report(s, identity.SYSTEM, period)}
        units = {c["unit"] for c in cases}
        assert set(reported) == {"", *units}
        for unit in ("", *units):
            mine = [c for c in cases if unit in ("", c["unit"])]
            expected, got = _recount(mine, today), reported[unit]
            for key, (numerator, denominator) in expected["figures"].items():
                figure = got.figures[key]
                assert (figure.count, figure.denominator) == (len(numerator), denominator), \
                    (unit, key)
                drilled = kpi.drill_down(s, identity.SYSTEM, period, key, unit)
                assert drilled == numerator, (unit, key)
            assert got.steps == dict(sorted(expected["steps"].items())), unit
            assert got.result_codes == expected["codes"], unit
        one = kpi.report(s, identity.SYSTEM, period, "dev_finance")
        assert one[0].figures == reported["dev_finance"].figures
    # The demo gives every figure something to count.
    total = reported[""].figures
    assert total["received"].count == len(cases) > 20
    assert total["closed"].count and total["overdue"].count and total["on_time_rate"].denominator
    assert reported[""].steps and len(units) > 3


def test_rebuild_from_events_gives_the_facts_the_steps_kept(demo_app: Any) -> None:
    app, settings = demo_app
    with app.session() as s:
        kept = kpi.facts_snapshot(s)
        ids = sorted(kept)
        assert all(row is not None for row, _ in kept.values())
    result = cli(settings, "kpi", "rebuild", "--quiet")
    assert result.exit_code == 0, result.output
    assert f"{len(ids)} case(s) rebuilt" in result.output
    assert "the stored facts agreed" in result.output
    with app.session() as s:
        assert kpi.facts_snapshot(s) == kept
        # A lost row and a row edited by hand are named, and derived again.
        s.execute(delete(CaseFact).where(CaseFact.instance_id == ids[0]))
        s.execute(update(CaseFact).where(CaseFact.instance_id == ids[-1]).values(unit="x"))
    result = cli(settings, "kpi", "rebuild", "--quiet")
    assert f"2 differed from the stored facts: #{ids[0]}, #{ids[-1]}" in result.output
    with app.session() as s:
        assert kpi.facts_snapshot(s) == kept
