"""Waking the timer scheduler when a timer is written, instead of polling for it.

The scheduler sleeps until its earliest due timer. A step that writes a timer row may
make an earlier one, so the scheduler must hear of it:

* PostgreSQL: a statement trigger on ``timers`` (migration 0012) sends
  ``NOTIFY docroute_timers`` when a transaction that inserted or updated timer rows
  commits; every scheduler, in any process on any machine, ``LISTEN``\\s on a connection
  of its own.
* SQLite (one machine, one process): the session that wrote timer rows sets an
  in-process event after its commit. Statements are recognised by their text, so this
  holds whether the projection writes through the ORM or through Core.

A missed signal costs lateness, never correctness: the scheduler also wakes at its
``max_sleep`` and re-reads the earliest due time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from engine.models import Timer

log = logging.getLogger(__name__)

CHANNEL = "docroute_timers"
_WRITES = ("INSERT INTO timers", "UPDATE timers")

_waiters: set[threading.Event] = set()
_waiters_lock = threading.Lock()
_pending = threading.local()
_installed = False


def earliest_due(session: Session, exclude: Collection[int] = ()) -> datetime | None:
    """The due time of the earliest timer (of cases not in ``exclude``); one index probe."""
    query = select(func.min(Timer.due_at))
    if exclude:
        query = query.where(Timer.instance_id.not_in(list(exclude)))
    return session.scalar(query)


def subscribe(waiter: threading.Event) -> None:
    """Set ``waiter`` whenever a transaction in this process commits timer rows."""
    _install()
    with _waiters_lock:
        _waiters.add(waiter)


def unsubscribe(waiter: threading.Event) -> None:
    with _waiters_lock:
        _waiters.discard(waiter)


def notify_local() -> None:
    with _waiters_lock:
        for waiter in _waiters:
            waiter.set()


def _install() -> None:
    # Global listeners, installed once and only in processes that run a scheduler.
    global _installed
    if _installed:
        return
    _installed = True
    event.listen(Engine, "after_cursor_execute", _seen_statement)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)


def _seen_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if statement.startswith(_WRITES):
        _pending.timers = True


def _after_commit(_session: Session) -> None:
    if getattr(_pending, "timers", False):
        _pending.timers = False
        notify_local()


def _after_rollback(_session: Session) -> None:
    _pending.timers = False


class PostgresListener:
    """A thread that ``LISTEN``\\s for timer writes on its own connection and sets ``waiter``.

    It reconnects after a lost connection (setting ``waiter`` then too, since
    notifications sent meanwhile are lost) and stops when ``stop`` is set.
    """

    def __init__(self, url: str, waiter: threading.Event, stop: threading.Event):
        self.url, self.waiter, self.stop = url, waiter, stop
        self.thread = threading.Thread(target=self._run, name="docroute-listen", daemon=True)
        self.listening = threading.Event()

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        import psycopg

        while not self.stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.waiter.set()  # anything written before LISTEN: look again
                    while not self.stop.is_set():
                        for _note in conn.notifies(timeout=0.5, stop_after=1):
                            self.waiter.set()
            except Exception:
                self.listening.clear()
                log.exception("listening for timer writes failed; retrying in 1 s")
                self.stop.wait(1.0)


def libpq_url(engine: Engine) -> str | None:
    """The engine's PostgreSQL address as psycopg takes it; None for other databases."""
    if engine.dialect.name != "postgresql":
        return None
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
