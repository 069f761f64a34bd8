"""KPI benchmark (docs/benchmarks.md, "KPI reports").

Bulk-inserts synthetic cases of the shipped processes (a started event, a few completed
steps, an end marker for most; units, deadlines, result codes and satisfaction spread
over them), then times ``engine.queries.kpi.report`` for the whole year, one unit, the
drill-down of one figure, and the disclosure annual report.

usage: .venv/bin/python benchmarks/bench_kpi.py [--cases 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from engine import Docroute, Settings, clock  # noqa: E402
from engine.models import Deadline, Definition, Event, Instance  # noqa: E402
from engine.org import identity  # noqa: E402
from engine.queries import kpi  # noqa: E402

UNITS = ["emergency_management", "urban_management", "dev_finance", "social_affairs",
         "housing_construction", "economic_services", "dapeng_office", "nanao_office"]
KEYS = ["incoming_document", "supervision", "suggestion_proposal", "disclosure_request",
        "item_approval", "meeting"]
STEPS = ["登记", "拟办", "批示", "承办"]


def bulk_cases(app: Docroute, cases: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with app.session() as s:
        definitions = {d.key: d.id for d in s.scalars(select(Definition))}
    start = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    batch = 2000
    for first in range(0, cases, batch):
        instances, events, deadlines = [], [], []
        for i in range(first + 1, min(first + batch, cases) + 1):
            key = KEYS[i % len(KEYS)]
            began = start + timedelta(hours=rng.randrange(0, 24 * 300))
            done = rng.random() < 0.8
            ended = began + timedelta(days=rng.randrange(1, 40)) if done else None
            unit = UNITS[i % len(UNITS)]
            instances.append({"id": i, "definition_id": definitions[key],
                              "status": "completed" if done else "running", "state": "{}",
                              "serializer_version": "1.5", "version": 1,
                              "title": f"合成案件 {i}", "classification": 0,
                              "form_versions": {}, "started_by": "clerk", "started_at": began,
                              "updated_at": ended or began, "ended_at": ended})
            chain = f"case:{i}"
            data = {"lead_department": unit, "applicant_type": "natural_person",
                    "deadline": (began + timedelta(days=20)).date().isoformat()}
            rows = [("started", None, {"definition": key, "data": data})]
            for n, step in enumerate(STEPS):
                submitted = {"track": "track"} if n == 1 else {}
                if n == 3:
                    submitted = {"satisfaction": "satisfied", "result_code": "disclosed"}
                rows.append(("completed", step, {"spec": "reply" if n == 3 else
                                                 "deliver" if n == 2 else f"s{n}",
                                                 "ordinal": 0, "data": submitted}))
            if done:
                rows.append(("completed", None, {}))
            for seq, (type_, name, payload) in enumerate(rows, start=1):
                events.append({"chain": chain, "seq": seq, "instance_id": i, "type": type_,
                               "actor": "clerk", "at": began + timedelta(days=seq),
                               "task_id": None, "task_name": name,
                               "payload": json.dumps(payload, ensure_ascii=False),
                               "prev_hash": "0" * 64, "hash": "0" * 64})
            if i % 3 == 0:
                due = (began + timedelta(days=15)).date()
                deadlines.append({"instance_id": i, "name": "legal", "kind": "workdays",
                                  "amount": 15, "started_on": began.date(), "status":
                                  "closed" if done else "running", "legal_due": due,
                                  "updated_at": began})
        with app.engine.begin() as conn:
            conn.execute(insert(Instance), instances)
            conn.execute(insert(Event), events)
            if deadlines:
                conn.execute(insert(Deadline), deadlines)


def timed(label: str, fn: object) -> object:
    began = time.perf_counter()
    result = fn()  # type: ignore[operator]
    print(f"  {label}: {time.perf_counter() - began:.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = Docroute(Settings(home=Path(tmp), database_url=args.database_url))
        app.init()
        began = time.perf_counter()
        bulk_cases(app, args.cases)
        print(f"[kpi] inserted {args.cases} cases in {time.perf_counter() - began:.0f} s "
              f"({app.engine.dialect.name})")
        clock.set_default_clock(clock.ManualClock(datetime(2026, 12, 31, 1, tzinfo=UTC)))
        period = kpi.Period(date(2026, 1, 1), date(2026, 12, 31))
        with app.session() as s:
            actor = identity.SYSTEM
            units = timed("report, all units", lambda: kpi.report(s, actor, period))
            timed("report, one unit", lambda: kpi.report(s, actor, period, UNITS[0]))
            timed("drill-down (overdue)", lambda: kpi.drill_down(s, actor, period, "overdue"))
            timed("annual disclosure report", lambda: kpi.annual_report(s, actor, 2026))
        total = units[0].figures  # type: ignore[index]
        print(f"  received {total['received'].count}, closed {total['closed'].count}, "
              f"overdue {total['overdue'].count}")
        app.engine.dispose()


if __name__ == "__main__":
    main()
