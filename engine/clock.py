"""The application's clock.

Every decision about time (timer due, deadlines, event stamps) reads ``now()`` from
here, never the database's clock, so tests move time instead of sleeping and every
process that fires timers agrees with the machine it runs on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

OFFICE_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved; for tests and replay."""

    def __init__(self, start: datetime | None = None):
        self._now = (start or datetime.now(UTC)).astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta or timedelta(**kwargs)
        return self._now


_default: Clock = SystemClock()
_current: ContextVar[Clock | None] = ContextVar("docroute_clock", default=None)


def now() -> datetime:
    """The current time as an aware UTC datetime."""
    return (_current.get() or _default).now()


def set_default_clock(clock: Clock) -> None:
    """Install the process-wide clock (the app factory and tests do this)."""
    global _default
    _default = clock


def get_default_clock() -> Clock:
    return _default


@contextmanager
def using_clock(clock: Clock) -> Iterator[Clock]:
    """Run a block against another clock (replay uses the recorded event times)."""
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)
