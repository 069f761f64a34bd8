"""The scheduler sleeps until its earliest timer and is woken when an earlier one is written.

PostgreSQL: the timers trigger's NOTIFY (migration 0012) reaches the scheduler's LISTEN
connection. SQLite: the writing session's commit sets the scheduler's event in-process.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine import Docroute, clock, runtime
from engine.definitions import SourceFile
from engine.models import Event
from engine.org import identity
from engine.runtime import timers

# A case that waits until ``due`` (an ISO date-time in its start data), then opens a task.
UNTIL_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_until" targetNamespace="http://docroute.example/test">
  <bpmn:process id="until" name="until" isExecutable="true">
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


@pytest.fixture
def until(docroute: Docroute) -> Docroute:
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("until.bpmn", UNTIL_BPMN)], actor="admin")
    return docroute


def start_until(docroute: Docroute, due: datetime) -> int:
    with docroute.session() as s:
        return runtime.start_case(s, identity.SYSTEM, "until", {"due": due.isoformat()}).id


def fired_at(docroute: Docroute, case: int) -> datetime | None:
    with docroute.session() as s:
        return s.scalar(select(Event.at).where(Event.instance_id == case,
                                               Event.type == "timer_fired"))


def test_it_sleeps_until_the_earliest_timer(until: Docroute,
                                            manual_clock: clock.ManualClock) -> None:
    start_until(until, clock.now() + timedelta(hours=3))
    start_until(until, clock.now() + timedelta(minutes=20))
    scheduler = timers.Scheduler(until, interval=86_400, reminder_interval=86_400)
    scheduler.tick()
    assert scheduler.sleep_for() == pytest.approx(20 * 60, abs=0.01)
    manual_clock.advance(minutes=25)
    assert scheduler.tick().fired == 1
    assert scheduler.sleep_for() == pytest.approx(155 * 60, abs=0.01)


def test_a_timer_that_fell_due_during_a_tick_fires_at_once(
        until: Docroute, manual_clock: clock.ManualClock) -> None:
    """A timer due after the tick looked is not a stuck row: no one-second back-off."""
    scheduler = timers.Scheduler(until, interval=86_400, reminder_interval=86_400)
    scheduler.tick()  # looks at the clock's time now
    start_until(until, clock.now() + timedelta(milliseconds=5))
    manual_clock.advance(seconds=1)  # the tick ran long: the timer fell due meanwhile
    assert scheduler.sleep_for() == 0.0


def test_a_timer_a_tick_left_due_is_retried_a_second_later(
        until: Docroute, manual_clock: clock.ManualClock) -> None:
    """A row the last tick saw due and did not fire (here: its case is backed off by
    ``exclude``, as after a failure) is retried after a second, not in a busy loop."""
    case = start_until(until, clock.now() + timedelta(minutes=1))
    manual_clock.advance(minutes=2)
    scheduler = timers.Scheduler(until, interval=86_400, reminder_interval=86_400)
    scheduler._looked_at = clock.now()  # a tick looked, and the row stayed
    assert fired_at(until, case) is None
    assert scheduler.sleep_for() == 1.0


def test_a_timer_written_while_it_sleeps_wakes_it(until: Docroute) -> None:
    """With a ten-minute safety interval, only the wake-up can fire the timer in time."""
    previous = clock.get_default_clock()
    clock.set_default_clock(clock.SystemClock())
    scheduler = timers.Scheduler(until, interval=600, reminder_interval=600)
    try:
        scheduler.start()
        time.sleep(0.3)  # asleep now, with nothing to wait for
        due = clock.now() + timedelta(seconds=0.5)
        case = start_until(until, due)
        deadline = time.monotonic() + 10
        while fired_at(until, case) is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.shutdown()
        clock.set_default_clock(previous)
    at = fired_at(until, case)
    assert at is not None, "the scheduler slept through the new timer"
    # Target: 100 ms; the margin allows for a machine busy with other test runs.
    assert timedelta(0) < at - due < timedelta(seconds=1), at - due
