"""Firing due timers: the claim query, the firing loop, the scheduler and the worker.

Whether a timer is due is decided by the application clock (``engine.clock.now()``),
never by the database's ``now()``: every process that fires timers agrees with the
machine it runs on, and tests move time instead of sleeping.

Exactly once, with any number of workers: a worker claims a case's due timer rows
(PostgreSQL ``FOR UPDATE SKIP LOCKED``, so workers pass each other instead of queueing)
and fires the case in the same transaction, under the case's row lock. The claim is for
throughput; correctness rests on ``runtime.fire_timers`` re-reading the case under its
lock and firing only what its workflow still has due, so a worker that lost a race finds
nothing to do. On SQLite, ``BEGIN IMMEDIATE`` already serialises writers.
"""

from __future__ import annotations

import logging
import signal
import threading
import time as _time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from engine import clock
from engine.deadlines import calendar_recompute, notify, reminders
from engine.models import Timer
from engine.service import Docroute

from . import cases as runtime
from . import wakeup

log = logging.getLogger(__name__)

# A case is fired at most this often in one ``fire_due`` call (a cycle timer that fell
# due many times while nothing ran catches up over several ticks, never in a tight loop).
MAX_ROUNDS_PER_CASE = 3
# So many failing cases in one call means the database or the code is broken, not a case.
MAX_FAILURES = 100
# Due means strictly after the due time: wake this much later, not at the instant.
WAKE_MARGIN = 0.002

ErrorHook = Callable[[int, BaseException], None]


def due_query(now: datetime, limit: int, exclude: Collection[int] = ()) -> Select[int]:
    """The claim statement of ``due_instance_ids`` (exposed so benchmarks can EXPLAIN it)."""
    query = (select(Timer.instance_id).where(Timer.due_at < now)
             .order_by(Timer.due_at).limit(limit)
             .with_for_update(skip_locked=True))
    if exclude:
        query = query.where(Timer.instance_id.not_in(list(exclude)))
    return query


def due_instance_ids(session: Session, now: datetime, limit: int,
                     exclude: Collection[int] = ()) -> list[int]:
    """Claim up to ``limit`` due timer rows and return their cases, earliest due first.

    Due means ``due_at < now``, strictly, as SpiffWorkflow itself decides it.
    On PostgreSQL the rows stay locked (``FOR UPDATE SKIP LOCKED``) until the caller's
    transaction ends, and rows another transaction holds are skipped, not waited for.
    The query walks ``ix_timers_due_at`` from the oldest due row: no full scan.
    On SQLite ``with_for_update`` renders nothing: a plain select, since the caller's
    ``BEGIN IMMEDIATE`` holds the database's only write lock.
    """
    # FOR UPDATE cannot be combined with DISTINCT: de-duplicate here, keeping the order.
    return list(dict.fromkeys(session.scalars(due_query(now, limit, exclude))))


def _claim_case(session: Session, instance_id: int, now: datetime) -> bool:
    """Lock the case's due timer rows in this transaction; False if none are free.

    SQLite has no row locks and this transaction already holds the write lock, so there
    is nothing to claim: ``fire_timers`` re-checks what is due under that lock anyway.
    """
    if session.get_bind().dialect.name == "sqlite":
        return True
    query = (select(Timer.id).where(Timer.instance_id == instance_id, Timer.due_at < now)
             .with_for_update(skip_locked=True))
    return bool(session.scalars(query).all())


def fire_due(docroute: Docroute, now: datetime | None = None, batch: int = 100, *,
             exclude: Collection[int] = (), on_error: ErrorHook | None = None) -> int:
    """Fire every case with a timer due at ``now`` (default: the clock); return how many moved.

    Rounds of ``due_instance_ids(batch)`` find candidates; each case is then claimed and
    fired in its own transaction, so one case's failure is logged (and reported to
    ``on_error``) and the others go on. Loops until nothing due is left, except cases in
    ``exclude``, cases that failed, and cases already fired ``MAX_ROUNDS_PER_CASE`` times
    in this call. ``now`` only selects rows; ``fire_timers`` compares with ``clock.now()``,
    so pass nothing or the clock's own time.
    """
    now = now or clock.now()
    skip: set[int] = set(exclude)
    rounds: dict[int, int] = {}
    fired = failures = 0
    while True:
        with docroute.session() as session:
            candidates = due_instance_ids(session, now, batch, skip)
        if not candidates:
            return fired
        for instance_id in candidates:
            rounds[instance_id] = rounds.get(instance_id, 0) + 1
            if rounds[instance_id] >= MAX_ROUNDS_PER_CASE:
                skip.add(instance_id)
            try:
                with docroute.session() as session:
                    if not _claim_case(session, instance_id, now):
                        continue  # another worker holds it, or it fired meanwhile
                    moved = runtime.fire_timers(session, instance_id)
            except Exception as error:  # one broken case must not stop the others
                log.exception("firing the timers of case %s failed", instance_id)
                skip.add(instance_id)
                failures += 1
                if on_error is not None:
                    on_error(instance_id, error)
                if failures >= MAX_FAILURES:
                    log.error("stopped after %d failing cases; is the database up?", failures)
                    return fired
                continue
            if moved:
                fired += 1
            else:
                skip.add(instance_id)  # rows say due, the workflow says not: don't spin


# --- the scheduler ---------------------------------------------------------------------------


@dataclass
class _Backoff:
    """Cases whose firing raised, kept out of ticks for a growing while (1 s … 5 min)."""

    until: dict[int, tuple[int, datetime]] = field(default_factory=dict)

    def failed(self, instance_id: int, _error: BaseException) -> None:
        count = self.until.get(instance_id, (0, clock.now()))[0] + 1
        wait = min(2 ** (count - 1), 300)
        self.until[instance_id] = (count, clock.now() + timedelta(seconds=wait))

    def blocked(self, now: datetime) -> set[int]:
        return {i for i, (_, until) in self.until.items() if until > now}


@dataclass(frozen=True)
class TickResult:
    fired: int
    reminders: reminders.ReminderResult | None
    mailed: int


class Scheduler:
    """Fires due timers as they fall due: sleeps until the earliest one, woken early when
    a timer is written (``engine.runtime.wakeup``), at most ``interval`` seconds at a time.

    One thread runs ``tick`` after each wake-up, so ticks never overlap. The reminder
    pass and the mail outbox run every ``reminder_interval`` seconds (their state changes
    only at day boundaries and at due times; the pass is idempotent, so a shorter
    interval only costs queries). ``interval`` is only a safety net for a lost wake-up
    (and lets tests that move a manual clock be noticed); lateness does not depend on it.
    The working-day calendar needs no reload here: the ``Docroute``'s calendar notices a
    change made in another process by itself (``workcalendar.CalendarHolder``).
    """

    def __init__(self, docroute: Docroute, *, interval: float = 30.0,
                 reminder_interval: float = 60.0, batch: int = 100,
                 policy: reminders.ReminderPolicy | None = None,
                 mail: notify.MailSettings | None = None):
        self.docroute = docroute
        self.interval = interval
        self.reminder_interval = reminder_interval
        self.batch = batch
        self.policy = policy or reminders.ReminderPolicy()
        self.mail = mail
        self._backoff = _Backoff()
        self._last_reminders: float | None = None
        # The moment the last tick looked for due timers: a timer due before it that is
        # still there was not fired by that tick; one due after it simply fell due since.
        self._looked_at: datetime | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: wakeup.PostgresListener | None = None

    def tick(self) -> TickResult:
        """Fire due timers, then (when their interval has passed) reminders and mail."""
        self._looked_at = clock.now()
        fired = fire_due(self.docroute, self._looked_at, batch=self.batch,
                         exclude=self._backoff.blocked(clock.now()),
                         on_error=self._backoff.failed)
        result, mailed = None, 0
        monotonic = _time.monotonic()
        if (self._last_reminders is None
                or monotonic - self._last_reminders >= self.reminder_interval):
            self._last_reminders = monotonic
            result, mailed = run_side_passes(self.docroute, self.policy, self.mail)
        return TickResult(fired, result, mailed)

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("scheduler tick failed")

    def sleep_for(self) -> float:
        """Seconds until the next tick is needed: the earliest due timer, the next
        reminder pass, or ``interval``, whichever comes first."""
        now = clock.now()
        blocked = self._backoff.blocked(now)
        waits = [self.interval]
        if self._last_reminders is not None:
            waits.append(self.reminder_interval - (_time.monotonic() - self._last_reminders))
        waits.extend((until - now).total_seconds() for _, until in self._backoff.until.values()
                     if until > now)
        try:
            with self.docroute.session() as session:
                due = wakeup.earliest_due(session, blocked)
        except Exception:
            log.exception("reading the earliest due timer failed")
            due = None
        if due is not None:
            waits.append(self._wait_for(due, now))
        return max(0.0, min(waits))

    def _wait_for(self, due: datetime, now: datetime) -> float:
        """Seconds to wait for a timer due at ``due``. Due means strictly after due_at,
        hence the margin. A timer that fell due while the last tick ran is fired at once;
        one the last tick already saw due and left (the workflow disagreed, or a cycle
        catching up) is retried a second later rather than in a busy loop."""
        ahead = (due - now).total_seconds()
        if ahead >= 0:
            return ahead + WAKE_MARGIN
        if self._looked_at is not None and due < self._looked_at:
            return 1.0
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.sleep_for())
            if self._stop.is_set():
                return
            self._wake.clear()
            self._safe_tick()

    def start(self, *, catch_up: bool = True) -> None:
        """Start the scheduler thread. With ``catch_up`` (the default) one tick runs first,
        here, so everything that fell due while nothing was running has fired when this
        returns."""
        if self._thread is not None:
            raise RuntimeError("the scheduler is already running")
        wakeup.subscribe(self._wake)
        self._stop.clear()
        url = wakeup.libpq_url(self.docroute.engine)
        if url is not None:
            self._listener = wakeup.PostgresListener(url, self._wake, self._stop)
            self._listener.start()
            self._listener.listening.wait(5.0)
        if catch_up:
            self._safe_tick()
        self._thread = threading.Thread(target=self._run, name="docroute-scheduler",
                                        daemon=True)
        self._thread.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop; with ``wait``, let a running tick finish first."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        wakeup.unsubscribe(self._wake)
        if wait:
            self._thread.join()
            if self._listener is not None:  # it notices the stop within half a second
                self._listener.thread.join(2.0)
        self._thread = self._listener = None

    @property
    def running(self) -> bool:
        return self._thread is not None


def run_side_passes(docroute: Docroute, policy: reminders.ReminderPolicy,
                    mail: notify.MailSettings | None) -> tuple[reminders.ReminderResult | None,
                                                               int]:
    """One reminder pass, then the mail outbox, then a signed checkpoint when one is due;
    each in its own transaction, each logged and survived on failure."""
    result = None
    try:
        with docroute.session() as session:
            result = reminders.run_reminders(session, clock.now(), policy=policy, mail=mail)
            calendar_recompute.warn_missing_notice(
                session, clock.now().astimezone(clock.OFFICE_TZ).date())
    except Exception:
        log.exception("the reminder pass failed")
    mailed = 0
    if mail is not None:
        try:
            with docroute.session() as session:
                mailed = notify.send_outbox(session, mail)
        except Exception:
            log.exception("sending mail failed")
    write_checkpoint(docroute)
    return result, mailed


def write_checkpoint(docroute: Docroute) -> None:
    """Sign a checkpoint of the chains' ends when one is due (engine/checkpoints.py)."""
    from engine.history import (
        checkpoints,  # imported here: checkpoints -> audit -> replay -> runtime
    )

    try:
        with docroute.session() as session:
            checkpoints.write_due(session, clock.now())
    except Exception:
        log.exception("writing a checkpoint failed")


# --- the worker ------------------------------------------------------------------------------


def run_worker(docroute: Docroute, once: bool = False, *, interval: float = 30.0,
               policy: reminders.ReminderPolicy | None = None,
               mail: notify.MailSettings | None = None,
               stop: threading.Event | None = None) -> int:
    """``docroute worker [--once]``.

    ``once``: fire everything due now, run one reminder pass and send queued mail, then
    return the number of cases fired. Otherwise run the scheduler (after a catch-up tick)
    until SIGINT/SIGTERM or ``stop`` is set, and return 0.
    """
    policy = policy or reminders.ReminderPolicy()
    if once:
        fired = fire_due(docroute)
        run_side_passes(docroute, policy, mail)
        return fired
    stop = stop or threading.Event()
    _on_signals(stop)
    scheduler = Scheduler(docroute, interval=interval, policy=policy, mail=mail)
    scheduler.start()
    log.info("docroute worker running; stop with Ctrl-C")
    try:
        stop.wait()
    finally:
        scheduler.shutdown()
    return 0


def _on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be installed from the main thread

    def handle(_signum: int, _frame: Any) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)
