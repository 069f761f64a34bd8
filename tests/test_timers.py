"""Firing due timers (engine/timers.py): claims, the worker, the scheduler, many workers.

Time is moved with the manual clock; nothing sleeps to make a timer due. Tests marked
``postgres_only`` start real OS processes (each with its own Docroute and engine) that
coordinate only through PostgreSQL row locks.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import Docroute, Settings, clock, runtime
from engine.definitions import SourceFile
from engine.models import Event, Instance, Task, Timer
from engine.org import identity
from engine.runtime import timers

WAIT_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_wait" targetNamespace="http://docroute.example/test">
  <bpmn:process id="wait" name="等待" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pause"/>
    <bpmn:intermediateCatchEvent id="pause" name="等一小时">
      <bpmn:timerEventDefinition id="pause_def">
        <bpmn:timeDuration>PT1H</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="pause" targetRef="after"/>
    <bpmn:userTask id="after" name="到时办理" camunda:candidateGroups="reviewers"/>
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def deploy(docroute: Docroute, *files: tuple[str, str]) -> None:
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), "admin")
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile(n, x.encode()) for n, x in files]
                        + docroute.workflow_files(), actor="admin")


def start_waiting(docroute: Docroute, count: int) -> list[int]:
    """``count`` cases of the wait process, each on a 1-hour intermediate timer."""
    ids = []
    with docroute.session() as s:
        for _ in range(count):
            ids.append(runtime.start_case(s, identity.SYSTEM, "wait").id)
    return ids


def open_tasks(docroute: Docroute, instance_id: int) -> list[str]:
    with docroute.session() as s:
        return sorted(s.scalars(select(Task.name).where(Task.instance_id == instance_id)))


def fired_events(docroute: Docroute) -> dict[int, int]:
    with docroute.session() as s:
        rows = s.execute(select(Event.instance_id, func.count()).where(
            Event.type == "timer_fired").group_by(Event.instance_id))
        return {i: n for i, n in rows}


def start_review(docroute: Docroute, people: dict[str, identity.Actor]) -> int:
    """A review case whose 核稿 task has just opened with its 1-hour boundary timer."""
    with docroute.session() as s:
        instance = runtime.start_case(s, people["clerk"], "review", {})
    with docroute.session() as s:
        draft = s.scalar(select(Task).where(Task.instance_id == instance.id))
        assert draft is not None and draft.name == "拟稿"
        runtime.complete(s, draft.id, people["clerk"], {"title": "关于防台风工作的通知"})
    assert open_tasks(docroute, instance.id) == ["核稿"]
    return instance.id


# --- claiming --------------------------------------------------------------------------------


def test_due_instance_ids_returns_due_cases_earliest_first(
        docroute: Docroute, manual_clock: clock.ManualClock) -> None:
    deploy(docroute, ("wait.bpmn", WAIT_BPMN))
    first = start_waiting(docroute, 2)
    manual_clock.advance(minutes=30)
    later = start_waiting(docroute, 1)
    with docroute.session() as s:
        assert timers.due_instance_ids(s, clock.now(), 10) == []
        assert timers.due_instance_ids(s, clock.now() + timedelta(minutes=45), 10) == first
        in_90 = clock.now() + timedelta(minutes=90)
        assert timers.due_instance_ids(s, in_90, 10) == [*first, *later]
        assert timers.due_instance_ids(s, in_90, 1) == first[:1]
        assert timers.due_instance_ids(s, in_90, 10, exclude=first) == later


def test_fire_due_fires_each_due_case_once(docroute: Docroute,
                                           manual_clock: clock.ManualClock) -> None:
    deploy(docroute, ("wait.bpmn", WAIT_BPMN))
    ids = start_waiting(docroute, 5)
    manual_clock.advance(hours=1)
    assert timers.fire_due(docroute) == 0  # due means strictly after the due time
    manual_clock.advance(microseconds=1)
    assert timers.fire_due(docroute, batch=2) == 5  # several rounds of two
    assert timers.fire_due(docroute) == 0
    assert fired_events(docroute) == dict.fromkeys(ids, 1)
    assert all(open_tasks(docroute, i) == ["到时办理"] for i in ids)
    with docroute.session() as s:
        assert s.scalar(select(func.count()).select_from(Timer)) == 0


# --- the done-when: review.bpmn's boundary timer opens 督办 -----------------------------


def test_review_escalation_opens_after_the_hour_and_not_before(
        docroute: Docroute, manual_clock: clock.ManualClock,
        people: dict[str, identity.Actor]) -> None:
    deploy(docroute)
    case = start_review(docroute, people)
    manual_clock.advance(minutes=59, seconds=59)
    assert timers.run_worker(docroute, once=True) == 0
    assert open_tasks(docroute, case) == ["核稿"]
    manual_clock.advance(seconds=2)
    assert timers.run_worker(docroute, once=True) == 1
    assert open_tasks(docroute, case) == ["督办"]  # interrupting: 核稿 is gone
    assert timers.run_worker(docroute, once=True) == 0
    assert fired_events(docroute) == {case: 1}
    with docroute.session() as s:
        task = s.scalar(select(Task).where(Task.instance_id == case))
        assert task is not None and task.candidate_groups == ["leaders"]


def test_catch_up_after_downtime_fires_on_start(docroute: Docroute,
                                                manual_clock: clock.ManualClock) -> None:
    deploy(docroute, ("wait.bpmn", WAIT_BPMN))
    ids = start_waiting(docroute, 3)
    manual_clock.advance(days=3)  # nothing ran over a long weekend
    scheduler = timers.Scheduler(docroute, interval=3600)  # only the catch-up tick runs
    try:
        scheduler.start()
        assert fired_events(docroute) == dict.fromkeys(ids, 1)
    finally:
        scheduler.shutdown()
    assert not scheduler.running


def test_scheduler_fires_a_timer_that_falls_due_while_it_runs(
        docroute: Docroute, manual_clock: clock.ManualClock) -> None:
    deploy(docroute, ("wait.bpmn", WAIT_BPMN))
    [case] = start_waiting(docroute, 1)
    scheduler = timers.Scheduler(docroute, interval=0.05)
    scheduler.start()
    try:
        manual_clock.advance(hours=1, seconds=1)
        # Real time passes only for APScheduler's own interval, never to make a timer due.
        deadline = time.monotonic() + 10
        while not fired_events(docroute) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.shutdown()
    assert fired_events(docroute) == {case: 1}


def test_a_broken_case_is_logged_and_the_others_fire(
        docroute: Docroute, manual_clock: clock.ManualClock,
        caplog: pytest.LogCaptureFixture) -> None:
    deploy(docroute, ("wait.bpmn", WAIT_BPMN))
    broken, *good = start_waiting(docroute, 3)
    with docroute.session() as s:
        s.get(Instance, broken).state = "{not json"  # e.g. a damaged row
    docroute.runtime.cache.clear()
    manual_clock.advance(hours=2)
    failures: list[int] = []
    with caplog.at_level(logging.ERROR, logger="engine.runtime.timers"):
        fired = timers.fire_due(docroute, on_error=lambda i, _e: failures.append(i))
    assert fired == 2
    assert failures == [broken]
    assert f"case {broken} failed" in caplog.text
    assert fired_events(docroute) == dict.fromkeys(good, 1)
    # The scheduler backs off: the next tick at the same moment leaves the case alone.
    scheduler = timers.Scheduler(docroute)
    scheduler.tick()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="engine.runtime.timers"):
        assert scheduler.tick().fired == 0
    assert caplog.text == ""


# --- several workers (PostgreSQL) ------------------------------------------------------------


def _worker_process(url: str, home: str, now: str, once: bool, barrier: Any,
                    results: Any) -> None:
    """One worker in its own OS process: its own clock, Docroute and connection pool."""
    logging.basicConfig(level=logging.WARNING)
    clock.set_default_clock(clock.ManualClock(datetime.fromisoformat(now)))
    app = Docroute(Settings(home=Path(home), database_url=url))
    try:
        barrier.wait(timeout=60)
        count = timers.run_worker(app, once=True) if once else timers.fire_due(app, batch=20)
        results.put(count)
    finally:
        app.engine.dispose()


def run_workers(url: str, home: Path, *, once: bool, workers: int = 2) -> list[int]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    now = clock.now().isoformat()
    processes = [ctx.Process(target=_worker_process,
                             args=(url, str(home), now, once, barrier, results))
                 for _ in range(workers)]
    for p in processes:
        p.start()
    counts = [results.get(timeout=240) for _ in processes]
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    return counts


# Two processes coordinating through row locks: PostgreSQL only (SQLite is one machine,
# one process by design; its BEGIN IMMEDIATE is covered by the tests above).
postgres_only = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres_only)], indirect=True)


@postgres_only
def test_two_workers_fire_500_timers_exactly_once(
        docroute: Docroute, manual_clock: clock.ManualClock, db_url: str,
        tmp_path: Path) -> None:
    deploy(docroute, ("wait.bpmn", WAIT_BPMN))
    ids = start_waiting(docroute, 500)
    manual_clock.advance(hours=1, seconds=1)
    counts = run_workers(db_url, tmp_path, once=False)
    assert sum(counts) == 500, counts
    assert fired_events(docroute) == dict.fromkeys(ids, 1)
    with docroute.session() as s:
        assert s.scalar(select(func.count()).select_from(Task)) == 500
        assert s.scalar(select(func.count()).select_from(Timer)) == 0


@postgres_only
def test_two_workers_open_the_review_escalation_exactly_once(
        docroute: Docroute, manual_clock: clock.ManualClock, db_url: str, tmp_path: Path,
        people: dict[str, identity.Actor]) -> None:
    deploy(docroute)
    case = start_review(docroute, people)
    manual_clock.advance(minutes=59)
    assert run_workers(db_url, tmp_path, once=True) == [0, 0]
    assert open_tasks(docroute, case) == ["核稿"]
    manual_clock.advance(minutes=2)
    assert sorted(run_workers(db_url, tmp_path, once=True)) == [0, 1]
    assert open_tasks(docroute, case) == ["督办"]
    assert fired_events(docroute) == {case: 1}


def test_due_ness_follows_the_application_clock_not_the_database(
        docroute: Docroute, manual_clock: clock.ManualClock) -> None:
    deploy(docroute, ("wait.bpmn", WAIT_BPMN))
    manual_clock.set(datetime(2031, 1, 1, tzinfo=UTC))  # years ahead of the server's clock
    [case] = start_waiting(docroute, 1)
    manual_clock.advance(hours=1, seconds=1)
    assert timers.fire_due(docroute) == 1
    assert fired_events(docroute) == {case: 1}
