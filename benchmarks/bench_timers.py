"""Timer benchmarks: lateness with the real scheduler, and the cost of one tick.

    .venv/bin/python benchmarks/bench_timers.py --db sqlite
    .venv/bin/python benchmarks/bench_timers.py --db postgresql [--url URL]

1. Lateness: cases wait on timers due at scattered moments over the next seconds; the
   real APScheduler scheduler (default 1 s interval, system clock) fires them. Lateness =
   the ``timer_fired`` event's time minus the due time. Target: every timer within 2 s.
2. Tick cost: 100,000 waiting timer rows (synthetic cases inserted directly, plus real
   ones), of which 100 real cases are due. One ``fire_due`` is timed, and the time spent
   inside ``runtime.fire_timers`` (the work of the 100), in the per-case claims and in
   the due-timer queries is measured separately. Target: finding the due ones under
   50 ms plus the work of the 100. An idle tick (nothing due) is timed too, and the claim
   statement is EXPLAINed.

PostgreSQL runs in a fresh database created for the run and dropped afterwards.
Prints a Markdown report (for docs/benchmarks.md, section "Timers").
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from engine import Docroute, Settings, clock, db, runtime
from engine.deadlines import workcalendar
from engine.definitions import SourceFile
from engine.models import Definition, Event, Instance, Timer
from engine.org import identity
from engine.runtime import timers

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# A case that waits until ``due`` (an ISO date-time in its start data), then opens a task.
UNTIL_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_until" targetNamespace="http://docroute.example/bench">
  <bpmn:process id="until" name="bench" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition id="wait_def">
        <bpmn:timeDate>${due}</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="after"/>
    <bpmn:userTask id="after" name="after" camunda:candidateGroups="clerks"/>
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@contextmanager
def database(kind: str, url: str | None) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    server = make_url(url or os.environ.get("DOCROUTE_TEST_POSTGRES_URL") or DEFAULT_PG)
    name = f"docroute_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_app(url: str, home: Path) -> Docroute:
    app = Docroute(Settings(home=home, database_url=url))
    db.upgrade_schema(app.engine)
    with app.session() as s:
        workcalendar.seed(s)  # as `docroute init` does: the scheduler loads it
        app.deploy(s, [SourceFile("until.bpmn", UNTIL_BPMN)], actor="bench")
    return app


def start_cases(app: Docroute, dues: list[datetime]) -> list[int]:
    ids = []
    with app.session() as s:
        for due in dues:
            ids.append(runtime.start_case(s, identity.SYSTEM, "until",
                                          {"due": due.isoformat()}).id)
    return ids


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- 1. lateness ----------------------------------------------------------------------------


def lateness(app: Docroute, count: int) -> list[str]:
    clock.set_default_clock(clock.SystemClock())
    # After the cases are started and the catch-up tick is done, on a busy machine too.
    base = clock.now() + timedelta(seconds=3 + count * 0.15)
    rng = random.Random(7)
    dues = sorted(base + timedelta(seconds=rng.uniform(0, 8)) for _ in range(count))
    ids = start_cases(app, dues)
    due_of = dict(zip(ids, dues, strict=True))
    scheduler = timers.Scheduler(app)  # the defaults: woken by timer writes, 30 s at most
    scheduler.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with app.session() as s:
                fired = s.scalar(select(func.count()).where(Event.type == "timer_fired"))
            if fired == count:
                break
            time.sleep(0.2)
    finally:
        scheduler.shutdown()
    with app.session() as s:
        rows = s.execute(select(Event.instance_id, Event.at).where(Event.type == "timer_fired"))
        late = sorted((at - due_of[i]).total_seconds() for i, at in rows)
    assert len(late) == count, f"only {len(late)} of {count} timers fired"
    p99 = late[min(len(late) - 1, round(0.99 * (len(late) - 1)))]
    return [
        f"- {count} timers due at scattered moments over 8 s, the real scheduler (sleeps "
        f"until the earliest timer, woken by timer writes), system clock.",
        f"- lateness (fired − due): min {late[0] * 1000:.0f} ms, median "
        f"{statistics.median(late) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max "
        f"{late[-1] * 1000:.0f} ms (target: p99 ≤ 100 ms: "
        f"**{'met' if p99 <= 0.1 else 'MISSED'}**).",
    ]


# --- 2. the cost of one tick ------------------------------------------------------------------


def insert_synthetic(app: Docroute, count: int, after: datetime) -> None:
    """``count`` synthetic running cases, one future timer each, inserted directly."""
    rng = random.Random(11)
    with app.session() as s:
        definition_id = s.scalar(select(Definition.id).where(Definition.key == "until"))
        first = (s.scalar(select(func.max(Instance.id))) or 0) + 1
    now = clock.now()
    for start in range(0, count, 10_000):
        chunk = range(first + start, first + min(start + 10_000, count))
        with app.session() as s:
            s.execute(insert(Instance), [
                {"id": i, "definition_id": definition_id, "status": "running", "state": "",
                 "serializer_version": "", "version": 1, "title": "synthetic",
                 "classification": 0, "form_versions": {}, "started_by": "bench",
                 "started_at": now, "updated_at": now} for i in chunk])
            s.execute(insert(Timer), [
                {"instance_id": i, "task_id": str(uuid.UUID(int=i)), "spec": "wait",
                 "kind": "timer",
                 "due_at": after + timedelta(seconds=rng.uniform(0, 30 * 86400))}
                for i in chunk])
    if app.engine.dialect.name == "postgresql":
        with app.engine.connect() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('instances', 'id'), "
                              "(SELECT max(id) FROM instances))"))
            conn.commit()
    with app.engine.connect() as conn:  # fresh statistics, as autovacuum would keep them
        conn.execute(text("ANALYZE"))
        conn.commit()


class _Timed:
    """Wraps a module function to add up the time spent in it."""

    def __init__(self, module: Any, name: str):
        self.module, self.name = module, name
        self.fn: Callable[..., Any] = getattr(module, name)
        self.seconds, self.calls = 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def __enter__(self) -> _Timed:
        setattr(self.module, self.name, self)
        return self

    def __exit__(self, *_: object) -> None:
        setattr(self.module, self.name, self.fn)


def explain(app: Docroute, now: datetime, limit: int) -> list[str]:
    statement = timers.due_query(now, limit)
    compiled = statement.compile(app.engine, compile_kwargs={"literal_binds": True})
    prefix = ("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
              if app.engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN ")
    with app.engine.connect() as conn:
        rows = conn.execute(text(prefix + str(compiled))).all()
        conn.rollback()
    return [str(row[-1]) for row in rows]


def tick_cost(app: Docroute, waiting: int, due: int, rounds: int) -> list[str]:
    manual = clock.ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    clock.set_default_clock(manual)
    base = manual.now() + timedelta(hours=1)
    # Round k's cases fall due at base + k hours; synthetic timers wait beyond them all.
    real = [base + timedelta(hours=k, seconds=random.Random(k).uniform(0, 60))
            for k in range(rounds) for _ in range(due)]
    started = time.perf_counter()
    start_cases(app, real)
    setup_real = time.perf_counter() - started
    insert_synthetic(app, waiting - len(real), base + timedelta(hours=rounds + 1))
    with app.session() as s:
        total = s.scalar(select(func.count()).select_from(Timer))
    idle = []
    for _ in range(20):
        t0 = time.perf_counter()
        assert timers.fire_due(app) == 0
        idle.append(time.perf_counter() - t0)
    ticks, works, finds, claims = [], [], [], []
    for k in range(rounds):
        manual.set(base + timedelta(hours=k, minutes=2))
        app.runtime.cache.clear()  # a worker rarely has the case in memory
        with (_Timed(timers.runtime, "fire_timers") as work,
              _Timed(timers, "due_instance_ids") as find,
              _Timed(timers, "_claim_case") as claim):
            t0 = time.perf_counter()
            fired = timers.fire_due(app)
            tick = time.perf_counter() - t0
        assert fired == due and work.calls == due, (fired, work.calls)
        ticks.append(tick)
        works.append(work.seconds)
        finds.append(find.seconds)
        claims.append(claim.seconds)
    # A day on, thousands of synthetic timers are due: the plan shows the scan stopping at
    # the LIMIT instead of reading them all.
    plan = explain(app, base + timedelta(days=rounds + 1), 100)
    med = statistics.median
    claim_how = ("`FOR UPDATE SKIP LOCKED`" if app.engine.dialect.name == "postgresql"
                 else "nothing to claim on SQLite")
    return [
        f"- {total:,} waiting timer rows ({waiting - len(real):,} synthetic cases inserted "
        f"directly, {len(real)} real ones started in {setup_real:.1f} s); {rounds} ticks, "
        f"each with {due} real cases due.",
        f"- idle tick (nothing due), median of 20: **{ms(med(idle))} ms**.",
        f"- tick with {due} due, medians: finding them among {total:,}: "
        f"**{ms(med(finds))} ms** (the due-timer queries of the tick; target under 50 ms: "
        f"**{'met' if med(finds) < 0.05 else 'MISSED'}**). Per case: claiming its rows "
        f"{ms(med(claims) / due)} ms ({claim_how}), firing it {ms(med(works) / due)} ms "
        f"(`runtime.fire_timers`: lock, load, fire, persist), opening and committing its "
        f"transaction "
        f"{ms((med(ticks) - med(works) - med(finds) - med(claims)) / due)} ms. "
        f"The whole tick: {ms(med(ticks))} ms.",
        "- plan of the claim statement a day later, with thousands due:",
        "",
        "```",
        *plan,
        "```",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--url", help="PostgreSQL server URL (default: "
                                      "$DOCROUTE_TEST_POSTGRES_URL or the local server)")
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lateness-timers", type=int, default=40)
    parser.add_argument("--lateness-only", action="store_true", help="skip the tick cost")
    args = parser.parse_args(argv)
    lines = [f"### {args.db}", "",
             f"{platform.python_implementation()} {platform.python_version()}, "
             f"{os.cpu_count()} CPUs, load average "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at start, "
             f"{datetime.now(UTC):%Y-%m-%d}.", ""]
    with database(args.db, args.url) as url, tempfile.TemporaryDirectory() as home:
        app = make_app(url, Path(home))
        try:
            lines += ["Lateness:", "", *lateness(app, args.lateness_timers), ""]
        finally:
            app.engine.dispose()
    if args.lateness_only:
        print("\n".join(lines))
        return 0
    with database(args.db, args.url) as url, tempfile.TemporaryDirectory() as home:
        app = make_app(url, Path(home))
        try:
            lines += ["Tick cost:", "", *tick_cost(app, args.waiting, args.due, args.rounds)]
        finally:
            app.engine.dispose()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
