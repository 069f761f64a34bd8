"""Scale-out: 2 web processes and 2 timer workers on one PostgreSQL, under load.

    .venv/bin/python benchmarks/bench_scaleout.py [--seconds 30] [--clients 8]

Starts, on a fresh database: two ``docroute serve --no-scheduler`` (one gunicorn worker
each, on two ports) and two ``docroute worker``. Then, for ``--seconds``:

* ``--clients`` API clients list their group's tasks on either server, claim one and
  complete it (a 409 for a task someone else took is expected and counted);
* a starter keeps five-task cases coming and starts cases whose timer falls due a few
  seconds later, including a burst of ``--burst`` timers due at one moment;
* right after the burst falls due, one worker is killed with SIGKILL (mid-tick: it is
  firing the burst) and started again.

Then it waits for every timer to fire and checks: no 5xx; no task completed twice; every
case's history and projection agree (no lost update); every timer fired exactly once;
``docroute audit verify`` passes. Prints completions/s and the checks (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import FIVE, database
from bench_timers import UNTIL_BPMN
from sqlalchemy import func, select

from engine import Docroute, Settings
from engine.definitions import SourceFile
from engine.models import Event, Instance, Task, Timer
from engine.org import identity

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """The processes of one deployment, sharing one database and one home."""

    def __init__(self, url: str, home: Path):
        self.env = {**os.environ, "DOCROUTE_DATABASE_URL": url, "DOCROUTE_HOME": str(home),
                    "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        self.ports = [free_port(), free_port()]
        self.web = [self._spawn("serve", "--no-scheduler", "--workers", "1", "--threads", "4",
                                "--port", str(port)) for port in self.ports]
        self.workers = [self._spawn("worker") for _ in range(2)]

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([PYTHON, "-m", "webui.cli", *args], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill_and_restart_worker(self) -> None:
        self.workers[0].send_signal(signal.SIGKILL)
        self.workers[0].wait()
        self.workers[0] = self._spawn("worker")

    def stop(self) -> None:
        for process in self.web + self.workers:
            process.send_signal(signal.SIGTERM)
        for process in self.web + self.workers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def call(port: int, method: str, path: str, token: str, body: Any = None
         ) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}", data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


class Load:
    def __init__(self, ports: list[int], token: str):
        self.ports, self.token = ports, token
        self.statuses: Counter[int] = Counter()
        self.completed = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            port = rng.choice(self.ports)
            status, tasks = call(port, "GET", "/tasks?scope=group&limit=20", self.token)
            self._count(status)
            if status != 200 or not tasks:
                time.sleep(0.05)
                continue
            task = rng.choice(tasks)["id"]
            status, _ = call(port, "POST", f"/tasks/{task}/claim", self.token)
            self._count(status)
            if status != 200:
                continue
            status, _ = call(rng.choice(self.ports), "POST", f"/tasks/{task}/complete",
                             self.token, {"data": {}})
            self._count(status)
            if status == 200:
                with self.lock:
                    self.completed += 1

    def _count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1


def start(port: int, token: str, key: str, data: dict[str, Any]) -> int:
    status, body = call(port, "POST", f"/definitions/{key}/instances", token, {"data": data})
    assert status == 201, (status, body)
    return int(body["id"])


def run(url: str, seconds: float, clients: int, burst: int) -> list[str]:
    home = Path(tempfile.mkdtemp(prefix="docroute-scaleout-"))
    app = Docroute(Settings(home=home, database_url=url))
    app.init()
    with app.session() as s:
        identity.add_group(s, "staff", "Staff", kind="role")
        identity.add_group(s, "clerks", "Clerks", kind="role")
        identity.add_user(s, "bench", "Bench", "password1", groups=["staff", "clerks"])
        app.deploy(s, [SourceFile("five.bpmn", FIVE.encode()),
                       SourceFile("until.bpmn", UNTIL_BPMN)], actor="bench")
    with app.session() as s:
        token = identity.create_token(s, "bench")
    cluster = Cluster(url, home)
    lines: list[str] = []
    try:
        for port in cluster.ports:
            _wait_for(port, token)
        load = Load(cluster.ports, token)
        for _ in range(40):
            start(cluster.ports[0], token, "five", {})
        # The burst is started before the load, due once the load is well under way.
        burst_at = datetime.now(UTC) + timedelta(seconds=seconds / 2 + burst * 0.3)
        for _ in range(burst):
            start(cluster.ports[1], token, "until", {"due": burst_at.isoformat()})
        timer_cases = burst
        threads = [threading.Thread(target=load.client, args=(i,)) for i in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        killed = False
        while time.monotonic() - started < seconds or not killed:
            start(cluster.ports[0], token, "five", {})
            due = datetime.now(UTC) + timedelta(seconds=random.uniform(3, 8))
            start(cluster.ports[1], token, "until", {"due": due.isoformat()})
            timer_cases += 1
            if not killed and datetime.now(UTC) > burst_at + timedelta(seconds=0.3):
                cluster.kill_and_restart_worker()
                killed = True
            time.sleep(0.2)
        load.stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        _wait_for_timers(app, timeout=120)
        lines += [f"- {elapsed:.0f} s, {clients} clients on 2 web processes, 2 workers "
                  f"(one killed with SIGKILL while firing a burst of {burst} timers, "
                  f"then restarted); load average {_load()} at the end.",
                  f"- completions: {load.completed} ({load.completed / elapsed:.1f}/s); "
                  f"responses by status: {dict(sorted(load.statuses.items()))}."]
        lines += check(app, url, home, timer_cases, load.statuses)
    finally:
        cluster.stop()
        app.engine.dispose()
        shutil.rmtree(home, ignore_errors=True)
    return lines


def _wait_for(port: int, token: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if call(port, "GET", "/definitions", token)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server on port {port} did not start")


def _wait_for_timers(app: Docroute, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.session() as s:
            if not s.scalar(select(func.count()).select_from(Timer)):
                return
        time.sleep(0.5)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def check(app: Docroute, url: str, home: Path, timer_cases: int,
          statuses: Counter[int]) -> list[str]:
    results: list[tuple[str, bool]] = []
    results.append(("no 5xx response", not any(code >= 500 for code in statuses)))
    with app.session() as s:
        completed = Counter(s.execute(select(Event.instance_id, Event.task_id).where(
            Event.type == "completed", Event.task_id.is_not(None))).all())
        results.append(("no task completed twice", max(completed.values(), default=1) == 1))
        fired = Counter(s.scalars(select(Event.instance_id).where(Event.type == "timer_fired")))
        until_cases = s.scalars(select(Instance.id).where(
            Instance.definition.has(key="until"))).all()
        spread = Counter(fired[c] for c in until_cases)
        # A case whose due time passed while its own start was running (a busy machine)
        # goes through the timer in that step, with no timer row and no firing: it must
        # be past the timer all the same (its task open, or the case completed).
        waiting = s.scalar(select(func.count()).select_from(Instance).where(
            Instance.definition.has(key="until"), Instance.status == "running",
            ~Instance.id.in_(select(Task.instance_id))))
        results.append((f"no timer fired twice ({len(until_cases)} timer cases of "
                        f"{timer_cases} started; cases by times fired: {dict(spread)})",
                        len(until_cases) == timer_cases and max(spread, default=0) <= 1))
        results.append(("every timer case is past its timer", waiting == 0))
        results.append(("no timer left waiting",
                        s.scalar(select(func.count()).select_from(Timer)) == 0))
        five = s.execute(select(Instance.id, Instance.status).where(
            Instance.definition.has(key="five"))).all()
        open_tasks = Counter(s.scalars(select(Task.instance_id)))
        agree = all(
            (status == "completed" and open_tasks[case] == 0
             and sum(1 for (i, _t) in completed if i == case) == 5)
            or (status == "running" and open_tasks[case] == 1
                and sum(1 for (i, _t) in completed if i == case) < 5)
            for case, status in five)
        results.append(("history and projection agree for every case (no lost update)",
                        agree))
    verify = subprocess.run([PYTHON, "-m", "webui.cli", "audit", "verify", "--quiet"],
                            env={**os.environ, "DOCROUTE_DATABASE_URL": url,
                                 "DOCROUTE_HOME": str(home)},
                            capture_output=True, text=True, check=False)
    results.append(("docroute audit verify passes", verify.returncode == 0))
    return [f"- {name}: **{'yes' if ok else 'NO'}**" for name, ok in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get(
        "DOCROUTE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()
    print(f"load average at start: {_load()}")
    with database("postgresql", args.pg_url) as url:
        print("\n".join(run(url, args.seconds, args.clients, args.burst)))


if __name__ == "__main__":
    main()
