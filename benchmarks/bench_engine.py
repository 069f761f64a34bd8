"""The engine's step cost against its floor, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_engine.py --db sqlite|postgresql|both

Measures (medians, milliseconds):

* floor: plain SpiffWorkflow completing one task of a 5-user-task process in memory,
  with serialize/deserialize (the stock serializer, spec included) between tasks;
* a bare database commit (one small UPDATE);
* docroute's complete-task through the engine (load, validate, step, persist, commit),
  warm (live-workflow cache) and cold (``Docroute.runtime.cache`` cleared before each step);
* the same with 100 and with 100,000 cases in the database (synthetic rows bulk-inserted);
* one task in a case with 1 and with 100 completed send-back rounds.

Prints a Markdown report with the verdict per target; docs/benchmarks.md records it.
PostgreSQL runs in a private database created on the server named by ``--pg-url``
(default: DOCROUTE_TEST_POSTGRES_URL, else postgres@127.0.0.1), dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, create_engine, select, text, update
from sqlalchemy.engine import make_url

from engine import Docroute, Settings, db, runtime
from engine.definitions import SourceFile
from engine.models import Instance, Task
from engine.org import identity

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"')


def _five_tasks() -> str:
    tasks = "".join(f'<bpmn:userTask id="t{i}" name="Task {i}" camunda:candidateGroups="staff"/>'
                    f'<bpmn:sequenceFlow id="f{i}" sourceRef="t{i}" targetRef="'
                    f'{"t" + str(i + 1) if i < 5 else "end"}"/>' for i in range(1, 6))
    return (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {NS} id="d" '
            f'targetNamespace="http://docroute.example/bench"><bpmn:process id="five" '
            f'name="Five" isExecutable="true"><bpmn:startEvent id="start"/>'
            f'<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="t1"/>{tasks}'
            f'<bpmn:endEvent id="end"/></bpmn:process></bpmn:definitions>')


SENDBACK = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="d" targetNamespace="http://docroute.example/bench">
  <bpmn:process id="sendback" name="Send back" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="draft"/>
    <bpmn:userTask id="draft" name="Draft" camunda:candidateGroups="staff"/>
    <bpmn:sequenceFlow id="f2" sourceRef="draft" targetRef="review"/>
    <bpmn:userTask id="review" name="Review" camunda:candidateGroups="staff"/>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="decide"/>
    <bpmn:exclusiveGateway id="decide" default="back"/>
    <bpmn:sequenceFlow id="ok" sourceRef="decide" targetRef="end">
      <bpmn:conditionExpression>approved</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="back" sourceRef="decide" targetRef="draft"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
FIVE = _five_tasks()


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# --- the floor: plain SpiffWorkflow ------------------------------------------------------------


def floor(reps: int) -> float:
    """Median seconds to deserialize, complete one task, step and serialize (5-task process)."""
    parser = SpiffBpmnParser()
    from lxml import etree

    parser.add_bpmn_xml(etree.fromstring(FIVE.encode()), filename="five.bpmn")
    spec, subs = parser.get_spec("five"), parser.get_subprocess_specs("five")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    samples = []
    for _ in range(max(1, reps // 5)):
        workflow = BpmnWorkflow(spec, subs)
        workflow.do_engine_steps()
        state = serializer.serialize_json(workflow)
        for _ in range(5):
            started = time.perf_counter()
            workflow = serializer.deserialize_json(state)
            task = workflow.get_next_task(state=TaskState.READY, manual=True)
            task.data.update({"note": "ok"})
            task.run()
            workflow.do_engine_steps()
            state = serializer.serialize_json(workflow)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


# --- databases -----------------------------------------------------------------------------------


@contextmanager
def database(kind: str, pg_url: str) -> Iterator[str]:
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="docroute-bench-"))
        try:
            yield f"sqlite:///{folder / 'bench.sqlite3'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    server = make_url(pg_url)
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


class Bench:
    """One Docroute on one database, with the two benchmark processes deployed."""

    def __init__(self, url: str, home: Path):
        self.app = Docroute(Settings(home=home, database_url=url))
        db.upgrade_schema(self.app.engine)
        with self.app.session() as s:
            identity.add_group(s, "staff", "Staff", kind="role")
            identity.add_user(s, "bench", "Bench", "password1", groups=["staff"])
            self.app.deploy(s, [SourceFile("five.bpmn", FIVE.encode()),
                                SourceFile("sendback.bpmn", SENDBACK.encode())], actor="bench")
        with self.app.session() as s:
            self.actor = identity.Actor.of(identity.get_user(s, "bench"))

    def start(self, key: str, data: dict[str, Any] | None = None) -> int:
        with self.app.session() as s:
            return runtime.start_case(s, self.actor, key, data).id

    def open_task(self, case_id: int) -> str:
        with self.app.session() as s:
            return s.scalars(select(Task.id).where(Task.instance_id == case_id)).one()

    def complete(self, case_id: int, data: dict[str, Any] | None = None, cold: bool = False,
                 ) -> float:
        task_id = self.open_task(case_id)
        if cold:
            self.app.runtime.cache.clear()

        def step() -> None:
            with self.app.session() as s:
                runtime.complete(s, task_id, self.actor, data)

        return timed(step)

    # --- through the HTTP API (the real Flask app in-process: server time, no network) ---

    def api(self) -> tuple[Any, dict[str, str]]:
        from webui import create_app

        web = create_app({"TESTING": True, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False},
                         docroute=self.app)
        with self.app.session() as s:
            token = identity.create_token(s, "bench")
        client = web.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/tasks?limit=1", headers=headers).status_code == 200
        return client, headers

    def api_steps(self, reps: int) -> float:
        """POST /api/v1/tasks/<id>/complete, warm, through the five-task process."""
        client, headers = self.api()
        samples: list[float] = []
        while len(samples) < reps:
            case = self.start("five")
            for _ in range(5):
                path = f"/api/v1/tasks/{self.open_task(case)}/complete"
                started = time.perf_counter()
                response = client.post(path, json={"data": {}}, headers=headers)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200, response.get_data(as_text=True)
        return statistics.median(samples)

    def api_starts(self, reps: int) -> float:
        """POST /api/v1/definitions/five/instances: a case up to its first task."""
        return self._api_median(reps, "post", "/api/v1/definitions/five/instances", 201)

    def api_least(self, reps: int) -> float:
        """The least an API call costs: authenticate, read one row, answer (a 404)."""
        return self._api_median(reps, "get", "/api/v1/instances/999999999", 404)

    def _api_median(self, reps: int, method: str, path: str, status: int) -> float:
        client, headers = self.api()
        send = getattr(client, method)
        body = {"json": {"data": {}}} if method == "post" else {}
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            response = send(path, headers=headers, **body)
            samples.append(time.perf_counter() - started)
            assert response.status_code == status, response.get_data(as_text=True)
        return statistics.median(samples)

    def bare_commit(self, reps: int) -> float:
        case = self.start("five")
        samples = []
        for i in range(reps):
            def step(i: int = i) -> None:
                with self.app.session() as s:
                    s.execute(update(Instance).where(Instance.id == case)
                              .values(title=f"commit {i}"))
            samples.append(timed(step))
        return statistics.median(samples)

    def five_task_steps(self, reps: int, cold: bool) -> float:
        samples = []
        while len(samples) < reps:
            case = self.start("five")
            for _ in range(5):
                samples.append(self.complete(case, None, cold=cold))
        return statistics.median(samples)

    def bulk_cases(self, total: int) -> None:
        """Fill the database up to ``total`` cases with synthetic rows (never loaded).

        Rows are generated by the database itself (a recursive CTE, valid SQL on both
        backends): one case, one open task with its group and two events per case.
        """
        with self.app.session() as s:
            first = (s.scalar(select(Instance.id).order_by(Instance.id.desc()).limit(1)) or 0) + 1
            count = s.scalar(text("SELECT count(*) FROM instances"))
            definition_id = s.scalar(text("SELECT id FROM definitions WHERE key = 'five'"))
        last = first + total - count - 1
        if last < first:
            return
        series = ("WITH RECURSIVE n(i) AS (SELECT CAST(:first AS INTEGER) UNION ALL "
                  "SELECT i + 1 FROM n WHERE i < :last) ")
        stamp = bindparam("now", value=datetime.now(UTC),
                          type_=Instance.__table__.c.started_at.type)
        statements = [
            "INSERT INTO instances (id, definition_id, status, state, serializer_version, "
            "version, title, classification, form_versions, started_by, started_at, updated_at) "
            f"{series}SELECT i, :definition, 'running', '{{}}', '1.5', 1, 'synthetic', 0, '{{}}', "
            "'bench', :now, :now FROM n",
            "INSERT INTO tasks (id, instance_id, spec, name, candidate_groups, urgency, "
            "reminder_level, process_key, document_kind, title, classification, created_at) "
            f"{series}SELECT 'synthetic-' || CAST(i AS VARCHAR(20)), i, 't1', 'Task 1', "
            "'[\"staff\"]', '', '', 'five', '', 'synthetic', 0, :now FROM n",
            "INSERT INTO task_groups (task_id, group_key) "
            f"{series}SELECT 'synthetic-' || CAST(i AS VARCHAR(20)), 'staff' FROM n",
        ] + [
            "INSERT INTO events (chain, seq, instance_id, type, actor, at, payload, prev_hash, "
            f"hash) {series}SELECT 'case:' || CAST(i AS VARCHAR(20)), {seq}, i, '{kind}', "
            f"'bench', :now, '{{}}', '{'0' * 64}', '{'f' * 64}' FROM n"
            for seq, kind in ((1, "started"), (2, "claimed"))
        ]
        for sql in statements:
            # One transaction each, fresh statistics and a fresh connection: PostgreSQL caches
            # foreign-key check plans per connection, planned for the table's old size.
            self.app.engine.dispose()
            statement = text(sql).bindparams(stamp) if ":now" in sql else text(sql)
            with self.app.session() as s:
                s.execute(statement, {"first": first, "last": last, "definition": definition_id})
            self._analyze()
        self.app.engine.dispose()
        if self.app.engine.dialect.name == "postgresql":
            with self.app.engine.begin() as conn:  # ids were given explicitly
                conn.execute(text("SELECT setval(pg_get_serial_sequence('instances', 'id'), "
                                  "(SELECT max(id) FROM instances))"))

    def _analyze(self) -> None:
        with self.app.engine.connect() as conn:
            if self.app.engine.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
            else:
                conn.execute(text("ANALYZE"))
                conn.commit()

    def sendback_case(self, rounds: int) -> int:
        case = self.start("sendback", {"approved": False})
        for _ in range(rounds * 2):
            self.complete(case, None)
        return case

    def sendback_step(self, case_id: int, reps: int, cold: bool) -> float:
        return statistics.median(self.complete(case_id, None, cold=cold) for _ in range(reps))


# --- the run ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    return {"cpu": cpu or platform.processor(), "cores": str(os.cpu_count()),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "os": platform.platform(), "load": " ".join(f"{x:.1f}" for x in load)}


def run_backend(kind: str, pg_url: str, reps: int, big: int, rounds: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with database(kind, pg_url) as url, tempfile.TemporaryDirectory() as home:
        bench = Bench(url, Path(home))
        try:
            if kind == "postgresql":
                with bench.app.engine.connect() as conn:
                    results["server"] = conn.execute(text("SHOW server_version")).scalar()
            print(f"[{kind}] warming up", file=sys.stderr)
            bench.five_task_steps(10, cold=False)
            results["commit"] = bench.bare_commit(reps)
            results["api_least"] = bench.api_least(reps)
            results["api_warm"] = bench.api_steps(reps)
            results["api_start"] = bench.api_starts(reps)
            results["warm"] = bench.five_task_steps(reps, cold=False)
            results["cold"] = bench.five_task_steps(reps, cold=True)
            print(f"[{kind}] 100 cases", file=sys.stderr)
            bench.bulk_cases(100)
            results["warm_100"] = bench.five_task_steps(reps, cold=False)
            results["cold_100"] = bench.five_task_steps(reps, cold=True)
            print(f"[{kind}] {big:,} cases (bulk insert)", file=sys.stderr)
            started = time.perf_counter()
            bench.bulk_cases(big)
            results["bulk_seconds"] = time.perf_counter() - started
            results["warm_big"] = bench.five_task_steps(reps, cold=False)
            results["cold_big"] = bench.five_task_steps(reps, cold=True)
            print(f"[{kind}] send-back rounds", file=sys.stderr)
            one = bench.sendback_case(1)
            results["round_1_warm"] = bench.sendback_step(one, reps, cold=False)
            one = bench.sendback_case(1)
            results["round_1_cold"] = bench.sendback_step(one, reps, cold=True)
            started = time.perf_counter()
            many = bench.sendback_case(rounds)
            results["rounds_build_seconds"] = time.perf_counter() - started
            results["round_n_warm"] = bench.sendback_step(many, reps, cold=False)
            results["round_n_cold"] = bench.sendback_step(many, reps, cold=True)
            with bench.app.session() as s:
                results["round_n_state_bytes"] = len(s.get(Instance, many).state)
                one_state = len(s.get(Instance, one).state)
            results["round_1_state_bytes"] = one_state
        finally:
            bench.app.engine.dispose()
    return results


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(floor_s: float, results: dict[str, dict[str, float]], big: int, rounds: int) -> str:
    info = machine()
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['os']}; Python {info['python']}; "
        f"SQLite {info['sqlite']}"
        + "".join(f"; PostgreSQL {r['server']}" for r in results.values() if "server" in r)
        + f". Load average at the end of the run: {info['load']}.",
        "",
        f"Floor (plain SpiffWorkflow, deserialize + complete + step + serialize, in memory): "
        f"**{floor_s * 1000:.2f} ms** per task.",
        "",
        "| measure (median ms, × floor) | " + " | ".join(results) + " |",
        "| --- |" + " --- |" * len(results),
    ]
    rows = [
        ("bare commit", "commit"),
        ("API: the least call (authenticate, read one row, 404)", "api_least"),
        ("API: complete-task, warm", "api_warm"),
        ("API: start a case (to its first task)", "api_start"),
        ("complete-task, warm (cache)", "warm"),
        ("complete-task, cold (cache cleared)", "cold"),
        ("warm, 100 cases in the database", "warm_100"),
        (f"warm, {big:,} cases in the database", "warm_big"),
        ("cold, 100 cases", "cold_100"),
        (f"cold, {big:,} cases", "cold_big"),
        ("send-back: task in a case with 1 round, warm", "round_1_warm"),
        (f"send-back: task in a case with {rounds} rounds, warm", "round_n_warm"),
        ("send-back: 1 round, cold", "round_1_cold"),
        (f"send-back: {rounds} rounds, cold", "round_n_cold"),
    ]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(
            f"{r[key] * 1000:.2f} ({r[key] / floor_s:.1f}×)" for r in results.values()) + " |")
    lines.append("| stored state, 1 round / "
                 f"{rounds} rounds (bytes) | " + " | ".join(
                     f"{int(r['round_1_state_bytes']):,} / {int(r['round_n_state_bytes']):,}"
                     for r in results.values()) + " |")
    lines.append(f"| bulk insert of {big:,} cases (s) | " + " | ".join(
        f"{r['bulk_seconds']:.1f}" for r in results.values()) + " |")
    lines += ["", "| target | " + " | ".join(results) + " |", "| --- |" + " --- |" * len(results)]
    targets = [
        ("API complete-task ≤ 4 × floor", lambda r: (r["api_warm"], 4 * floor_s)),
        ("API start-case ≤ 4 × floor", lambda r: (r["api_start"], 4 * floor_s)),
        ("engine step ≤ 3 × floor", lambda r: (r["warm"], 3 * floor_s)),
        ("warm complete-task ≤ 3 × floor + one commit",
         lambda r: (r["warm"], 3 * floor_s + r["commit"])),
        ("cold complete-task ≤ 3 × floor + one commit",
         lambda r: (r["cold"], 3 * floor_s + r["commit"])),
        (f"warm cost flat within 20 % (100 vs {big:,} cases)",
         lambda r: (r["warm_big"], 1.2 * r["warm_100"])),
        (f"cold cost flat within 20 % (100 vs {big:,} cases)",
         lambda r: (r["cold_big"], 1.2 * r["cold_100"])),
        (f"{rounds} rounds ≤ 2 × 1 round, warm", lambda r: (r["round_n_warm"],
                                                            2 * r["round_1_warm"])),
        (f"{rounds} rounds ≤ 2 × 1 round, cold", lambda r: (r["round_n_cold"],
                                                            2 * r["round_1_cold"])),
    ]
    for label, measure in targets:
        cells = []
        for r in results.values():
            value, limit = measure(r)
            cells.append(f"{verdict(value <= limit)} ({value * 1000:.2f} vs ≤ {limit * 1000:.2f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get(
        "DOCROUTE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--reps", type=int, default=30, help="samples per median")
    parser.add_argument("--big", type=int, default=100_000, help="cases in the large database")
    parser.add_argument("--rounds", type=int, default=100, help="send-back rounds")
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    floor_s = floor(max(args.reps, 50))
    results = {kind: run_backend(kind, args.pg_url, args.reps, args.big, args.rounds)
               for kind in kinds}
    print(report(floor_s, results, args.big, args.rounds))


if __name__ == "__main__":
    main()
