"""KPI benchmark (docs/benchmarks.md, "KPI reports").

Bulk-inserts 100,000 synthetic cases of six shipped processes with their report facts
(``case_facts``, four ``case_steps`` each; eight units, 80 % closed, a deadline for all,
result codes, ratings and tracked follow-ups spread over them), then times
``engine.queries.kpi`` (the year for all units, one unit, the drill-down of one figure, the
disclosure annual report) and the KPI page and API through the real Flask app
in-process (server time, no network). The facts are what the steps keep from each
case's events (tests/test_kpi_facts.py checks that they equal a rebuild and a recount);
inserting them directly keeps the set-up to seconds.

usage: .venv/bin/python benchmarks/bench_kpi.py [--db sqlite|postgresql|both]
       [--cases 100000] [--reps 10]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_engine import database  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from engine import Docroute, Settings, clock  # noqa: E402
from engine.models import CaseFact, CaseStep, Definition, Instance  # noqa: E402
from engine.org import identity  # noqa: E402
from engine.queries import kpi  # noqa: E402

UNITS = ["emergency_management", "urban_management", "dev_finance", "social_affairs",
         "housing_construction", "economic_services", "dapeng_office", "nanao_office"]
KEYS = ["incoming_document", "supervision", "suggestion_proposal", "disclosure_request",
        "item_approval", "meeting"]
STEPS = ["登记", "拟办", "批示", "承办"]
CODES = ["disclosed", "partly_disclosed", "refused", "not_held", "repeat", "other"]
BATCH = 5000
CASES_AT_SCALE = 100_000  # spread over 300 days


def _case(i: int, rng: random.Random, definitions: dict[str, tuple[int, str]]
          ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    key = KEYS[i % len(KEYS)]
    # Cases are numbered as they start: ids follow the start times (a few an hour).
    began = datetime(2026, 1, 5, 1, 0, tzinfo=UTC) + timedelta(hours=i * 7200 / CASES_AT_SCALE)
    ended = began + timedelta(days=rng.randrange(1, 40)) if rng.random() < 0.8 else None
    unit, started_on = UNITS[i % len(UNITS)], began.date()
    instance = {"id": i, "definition_id": definitions[key][0],
                "status": "completed" if ended else "running", "state": "{}",
                "serializer_version": "1.5", "version": 1, "title": f"合成案件 {i}",
                "classification": 0, "form_versions": {}, "started_by": "clerk",
                "started_at": began, "updated_at": ended or began, "ended_at": ended}
    fact = {"instance_id": i, "process_key": key, "process_name": definitions[key][1],
            "unit": unit, "started_on": started_on,
            "ended_on": ended.date() if ended else None, "status": instance["status"],
            "deadline": started_on + timedelta(days=20 + rng.randrange(-5, 10)),
            "answered": rng.random() < 0.7,
            "satisfaction": rng.choice(["", "satisfied", "basically_satisfied",
                                        "dissatisfied"]),
            "delivered": ended is not None, "result_code": rng.choice(CODES),
            "applicant_type": rng.choice(kpi.APPLICANT_TYPES),
            "tracked": rng.random() < 0.5, "last_seq": 6,
            "last_day": (ended or began).date(), "values": {}, "specs": []}
    steps = [{"instance_id": i, "seq": n + 2, "started_on": started_on, "unit": unit,
              "process_name": definitions[key][1], "step": step,
              "workdays": rng.randrange(0, 6)} for n, step in enumerate(STEPS)]
    return instance, fact, steps


def bulk_cases(app: Docroute, cases: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with app.session() as s:
        definitions = {d.key: (d.id, d.name) for d in s.scalars(select(Definition))}
    for first in range(1, cases + 1, BATCH):
        rows = [_case(i, rng, definitions) for i in range(first, min(first + BATCH, cases + 1))]
        with app.engine.begin() as conn:
            conn.execute(insert(Instance), [r[0] for r in rows])
            conn.execute(insert(CaseFact), [r[1] for r in rows])
            conn.execute(insert(CaseStep), [step for r in rows for step in r[2]])
    with app.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def timed(reps: int, call: Callable[[], Any]) -> tuple[float, float, float, Any]:
    """Median and slowest wall time of ``reps`` calls after one warm-up, the median CPU
    time of this process (in ms; on SQLite all the work, so a figure the machine's load
    hardly moves), and the result."""
    result = call()
    samples, cpu = [], []
    for _ in range(reps):
        began, began_cpu = time.perf_counter(), time.process_time()
        call()
        samples.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return (statistics.median(samples) * 1000, max(samples) * 1000,
            statistics.median(cpu) * 1000, result)


def web_client(app: Docroute) -> Any:
    from webui import create_app

    web = create_app({"TESTING": True, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False},
                     docroute=app)
    with app.session() as s:
        identity.add_user(s, "bench", "Bench", "password1", is_admin=True)
    with app.session() as s:
        user = identity.get_user(s, "bench")
        user_id, epoch = user.id, user.session_epoch
    client = web.test_client()
    with client.session_transaction() as session:
        session["user_id"], session["epoch"] = user_id, epoch
    return client


def run_backend(kind: str, pg_url: str, cases: int, reps: int) -> None:
    with database(kind, pg_url) as url, tempfile.TemporaryDirectory() as home:
        app = Docroute(Settings(home=Path(home), database_url=url))
        app.init()
        began = time.perf_counter()
        bulk_cases(app, cases)
        print(f"\n### {kind}: {cases:,} cases, {cases * len(STEPS):,} steps; inserted in "
              f"{time.perf_counter() - began:.1f} s; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
        clock.set_default_clock(clock.ManualClock(datetime(2026, 12, 31, 1, tzinfo=UTC)))
        period = kpi.Period(date(2026, 1, 1), date(2026, 12, 31))
        actor, client = identity.SYSTEM, web_client(app)
        span = "from=2026-01-01&to=2026-12-31"
        def engine_call(fn: Callable[[Any], Any]) -> Callable[[], Any]:
            def call() -> Any:
                with app.session() as s:  # one transaction per call, like a request
                    return fn(s)
            return call

        calls: dict[str, Callable[[], Any]] = {
            "kpi.report, all units": engine_call(lambda s: kpi.report(s, actor, period)),
            "kpi.report, one unit":
                engine_call(lambda s: kpi.report(s, actor, period, UNITS[0])),
            "kpi.drill_down (overdue, all units)":
                engine_call(lambda s: kpi.drill_down(s, actor, period, "overdue")),
            "kpi.annual_report 2026": engine_call(lambda s: kpi.annual_report(s, actor, 2026)),
            "KPI page /reports/": lambda: client.get(f"/reports/?{span}"),
            "KPI export /reports/kpi.xlsx": lambda: client.get(f"/reports/kpi.xlsx?{span}"),
            "annual report page": lambda: client.get("/reports/disclosure?year=2026"),
        }
        print("| call | median ms | slowest ms | CPU ms (this process) | target (page < 1 s) |")
        print("| --- | --- | --- | --- | --- |")
        for name, call in calls.items():
            median, slowest, cpu, result = timed(reps, call)
            assert getattr(result, "status_code", 200) == 200, name
            target = ("met" if slowest < 1000 else "MISSED") if "page" in name else ""
            print(f"| {name} | {median:.0f} | {slowest:.0f} | {cpu:.0f} | {target} |")
        total = engine_call(lambda s: kpi.report(s, actor, period))()[0].figures
        print(f"\nreceived {total['received'].count:,}, closed {total['closed'].count:,}, "
              f"overdue {total['overdue'].count:,}; load average now "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        app.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get(
        "DOCROUTE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        run_backend(kind, args.pg_url, args.cases, args.reps)


if __name__ == "__main__":
    main()
