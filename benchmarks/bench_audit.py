"""Audit benchmarks (docs/benchmarks.md, "Audit").

1. Replay and verify one case of 1,000 events (target: under 1 s), in three shapes:
   ``passive``: a long-running document, 100 steps and 900 claims, releases and
   reminders; ``mixed``: a 200-round send-back loop, 40 % of the events move the
   workflow; ``loop``: every event a completion (the worst case).
2. The history page of that case (target: under 300 ms of server time), measured in the
   Flask app with a test client; the replay frames JSON is measured separately.
3. ``docroute audit verify`` over 100,000 synthetic cases (bulk-inserted chains): time and
   progress lines.

usage: .venv/bin/python benchmarks/bench_audit.py [--cases 100000] [--per-case 10]
       [--database-url URL] [--skip-verify-all]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from engine import Docroute, Settings, clock, history, runtime  # noqa: E402
from engine.definitions import SourceFile  # noqa: E402
from engine.history import (  # noqa: E402
    audit,
    replay,
)
from engine.models import Definition, Event, Instance, Task  # noqa: E402
from engine.org import identity  # noqa: E402

DATA = ROOT / "tests" / "data"


def make_app(url: str, home: Path) -> Docroute:
    app = Docroute(Settings(home=home, database_url=url, forms_dir=DATA / "forms",
                            workflows_dir=DATA / "workflows"))
    from engine import db

    db.upgrade_schema(app.engine)
    with app.session() as s:
        app.deploy_forms(s, app.form_files(), "bench")
    with app.session() as s:
        app.deploy(s, [SourceFile("review.bpmn",
                                  (DATA / "workflows" / "review.bpmn").read_bytes())],
                   actor="bench")
    with app.session() as s:
        identity.add_group(s, "clerks", "收发员", kind="role")
        identity.add_group(s, "reviewers", "核稿人", kind="role")
        identity.add_group(s, "leaders", "领导", kind="role")
        identity.add_user(s, "clerk", "张丽", "password1", groups=["clerks"])
        identity.add_user(s, "rev", "吴静", "password1", groups=["reviewers"])
        identity.add_user(s, "aud", "审计员", "password1", is_auditor=True, clearance="secret")
    return app


def build_case(app: Docroute, events: int, shape: str, manual: clock.ManualClock) -> int:
    """A review case whose history has exactly ``events`` events."""
    with app.session() as s:
        people = {u.username: identity.Actor.of(u) for u in identity.list_users(s)}
        case_id = runtime.start_case(s, people["clerk"], "review", {"rounds": 0}).id
    count = 1

    def row() -> Task:
        with app.session() as s:
            return s.scalars(select(Task).where(Task.instance_id == case_id)).one()

    noted: set[str] = set()
    while count < events:
        manual.advance(minutes=1)
        task = row()
        left = events - count
        with app.session() as s:
            if shape == "passive" and task.spec == "review_task" and left >= 20 \
                    and task.id not in noted:
                # a long-running document: reminders and hand-overs between its steps
                for _ in range(6):
                    runtime.claim(s, task.id, people["rev"])
                    runtime.unclaim(s, task.id, people["rev"])
                    history.append_case(s, case_id, "reminder", identity.SYSTEM_ACTOR,
                                        {"level": "blue"}, task_id=task.id,
                                        task_name=task.name)
                noted.add(task.id)
                count += 18
                continue
            if shape == "mixed" and task.spec == "review_task" and left >= 5 \
                    and task.id not in noted:
                # once per round: a claim, its release and a reminder
                runtime.claim(s, task.id, people["rev"])
                runtime.unclaim(s, task.id, people["rev"])
                history.append_case(s, case_id, "reminder", identity.SYSTEM_ACTOR,
                                    {"level": "blue"}, task_id=task.id, task_name=task.name)
                noted.add(task.id)
                count += 3
            elif task.spec == "draft":
                runtime.complete(s, task.id, people["clerk"], {"title": f"第{count}稿"})
                count += 1
            else:
                decision = "approve" if left == 1 else "return"
                runtime.complete(s, task.id, people["rev"], {"decision": decision})
                count += 1 + (decision == "approve")  # the end marker
    return case_id


def timed(fn: Callable[[], None], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_case(app: Docroute, shape: str, manual: clock.ManualClock) -> None:
    started = time.perf_counter()
    case_id = build_case(app, 1000, shape, manual)
    built = time.perf_counter() - started
    with app.session() as s:
        n = len(history.case_events(s, case_id))
        state_events = sum(1 for e in history.case_events(s, case_id)
                           if replay.classify(e.type, json.loads(e.payload), e.task_id)
                           == "state")
        verdict = audit.verify_case(s, case_id)
        assert verdict.ok, verdict.lines()

    def verify() -> None:
        with app.session() as s:
            assert audit.verify_case(s, case_id).ok

    def frames() -> None:
        with app.session() as s:
            replay.replay(s, case_id)

    print(f"[{shape}] case {case_id}: {n} events ({state_events} move the workflow), "
          f"built in {built:.1f} s")
    print(f"[{shape}] replay + verify (chain and state): {timed(verify) * 1000:.0f} ms median")
    print(f"[{shape}] replay with all frames (slider data): {timed(frames) * 1000:.0f} ms median")
    bench_page(app, case_id, shape)


def bench_page(app: Docroute, case_id: int, shape: str) -> None:
    from webui import create_app

    web = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": "bench"}, docroute=app)
    client = web.test_client()
    client.post("/login", data={"username": "aud", "password": "password1"})

    def page() -> None:
        response = client.get(f"/audit/cases/{case_id}")
        assert response.status_code == 200

    def frames_json() -> None:
        assert client.get(f"/audit/cases/{case_id}/frames.json").status_code == 200

    page()
    print(f"[{shape}] history page (server time, test client): "
          f"{timed(page, 9) * 1000:.0f} ms median")
    print(f"[{shape}] frames JSON (server time): {timed(frames_json, 3) * 1000:.0f} ms median")


def bulk_chains(app: Docroute, cases: int, per_case: int) -> None:
    """Insert ``cases`` synthetic cases of ``per_case`` chained events each, fast."""
    with app.session() as s:
        definition = s.scalars(select(Definition)).first()
        base = (s.scalar(select(Instance.id).order_by(Instance.id.desc()).limit(1)) or 0) + 1
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    batch = 2000
    for start in range(0, cases, batch):
        ids = range(base + start, base + min(start + batch, cases))
        instances, events, heads = [], [], []
        for i in ids:
            instances.append({"id": i, "definition_id": definition.id, "status": "completed",
                              "state": "{}", "serializer_version": "1.5", "version": 1,
                              "title": f"合成案件 {i}", "classification": 0,
                              "form_versions": {}, "started_by": "clerk", "started_at": at,
                              "updated_at": at})
            chain, prev = history.case_chain(i), history.GENESIS
            for seq in range(1, per_case + 1):
                when = at + timedelta(minutes=seq)
                payload = history.canonical_json({"spec": "draft", "ordinal": 0,
                                                  "data": {"title": f"第{seq}稿"}})
                digest = history.event_hash(prev, chain, seq, "completed", "clerk", when,
                                            None, None, payload, app.keys.mac_key)
                events.append({"chain": chain, "seq": seq, "instance_id": i,
                               "type": "completed", "actor": "clerk", "at": when,
                               "task_id": None, "task_name": None, "payload": payload,
                               "prev_hash": prev, "hash": digest})
                prev = digest
            heads.append({"chain": chain, "seq": per_case, "hash": prev,
                          "mac": history.head_mac(app.keys.mac_key, chain, per_case, prev)})
        with app.engine.begin() as conn:
            conn.execute(insert(Instance), instances)
            conn.execute(insert(Event), events)
            conn.execute(insert(audit.ChainHead), heads)


def bench_verify_all(app: Docroute, cases: int, per_case: int) -> None:
    started = time.perf_counter()
    bulk_chains(app, cases, per_case)
    print(f"[verify-all] inserted {cases} synthetic cases x {per_case} events in "
          f"{time.perf_counter() - started:.0f} s")

    def progress(chains: int, events: int, total: int) -> None:
        print(f"  checked {chains}/{total} chains, {events} events "
              f"({time.perf_counter() - began:.1f} s)")

    began = time.perf_counter()
    with app.session() as s:
        report = audit.verify_chains(s, progress=progress, every=20_000)
    print(f"[verify-all] {report.chains} chains, {report.events} events: "
          f"{'no problem' if report.ok else report.problems[:3]} in "
          f"{time.perf_counter() - began:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--per-case", type=int, default=10)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--skip-verify-all", action="store_true")
    parser.add_argument("--skip-case", action="store_true")
    parser.add_argument("--shapes", default="mixed,loop", help="comma-separated: mixed, loop")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    url = args.database_url or f"sqlite:///{home / 'bench.sqlite3'}"
    manual = clock.ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    clock.set_default_clock(manual)
    app = make_app(url, home)
    print(f"database: {app.engine.url.get_backend_name()}")
    if not args.skip_case:
        for shape in args.shapes.split(","):
            bench_case(app, shape.strip(), manual)
    if not args.skip_verify_all:
        bench_verify_all(app, args.cases, args.per_case)


if __name__ == "__main__":
    main()
