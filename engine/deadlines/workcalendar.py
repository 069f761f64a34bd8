"""The official working-day calendar: working days, calendar periods and deadlines.

China's working days are not Monday to Friday: every year the State Council publishes
which days are holidays and which weekend days become make-up working days (调休上班).
This module keeps that calendar as data, one row per day of every covered year
(``CalendarDay``), and answers date questions from it:

- ``WorkCalendar``: an immutable in-memory calendar with the date arithmetic;
- ``builtin_calendar()``: the calendar shipped by the ``chinese_calendar`` package;
- ``seed``, ``load``, ``set_year``, ``set_day``, ``export_year`` and the CSV helpers:
  the database copy that administrators maintain (never committed here);
- ``CalendarHolder`` and ``of(session)``: one ``Docroute``'s calendar, loaded from its
  database, replaced when an administrator changes it (in any process: a version token
  tells the others), and ``script_helpers()``, which diagrams' expressions call with the
  calendar of the step they run in.

Rules (DOMAIN.md §3): the start day is never counted; a day or month period ending on a
non-working day rolls to the next working day. There is no Monday-to-Friday fallback.

Official and provisional years: a year with the State Council's notice (stored rows) is
*official*. A year without it, up to ``PROVISIONAL_HORIZON`` years after the current one,
is answered from a *provisional* year: the statutory holidays of 《全国年节及纪念日放假办法》
(2024 amendment; lunar dates computed by the ``holidays`` package) and ordinary weekends,
with no make-up working days (those are unknown until the notice). The office never stops
at a year boundary; results that touch a provisional year are flagged
(``touches_provisional``) and recomputed when the notice is imported
(``engine/calendar_recompute.py``). Beyond the horizon, or before the first official year,
a computation raises ``CalendarMissing`` naming the year (a typo like 2205 must not
compute silently).

Dates are office dates (Asia/Shanghai). Every function taking a day accepts a ``date``,
a ``datetime`` (aware ones are converted to the office zone; naive ones are taken as
office-local) or an ISO string (``'2026-10-09'``, ``'2026-10-09T10:00:00+08:00'``).
Results keep the input's kind: a date gives a date, a datetime gives a datetime at the
same office-local time on the result day (aware in the office zone if the input was
aware). A string gives the date or datetime it parses to.
"""

from __future__ import annotations

import calendar
import csv
import io
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from functools import cache
from importlib import metadata
from types import MappingProxyType
from typing import Any, NamedTuple, TypeAlias

import chinese_calendar as cc
from sqlalchemy import delete, extract, insert, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.clock import OFFICE_TZ
from engine.errors import DocrouteError, ScriptError
from engine.models import CalendarDay, CalendarVersion

from . import calendar_calls

log = logging.getLogger(__name__)

DayLike: TypeAlias = date | datetime | str
NOTE_MAX = 128
SOURCE_MAX = 256
OFFICIAL = "official"
PROVISIONAL = "provisional"
MISSING = "missing"
# Years after the current one that are answered provisionally when they have no notice.
PROVISIONAL_HORIZON = 2
PROVISIONAL_SOURCE = "《全国年节及纪念日放假办法》（2024年修订）法定节假日推算"


class CalendarMissing(DocrouteError):
    """A computation needed a day of a year the calendar has no data for."""

    status = 422

    def __init__(self, year: int):
        self.year = year
        super().__init__(
            f"没有 {year} 年的工作日历数据 / no working-day calendar for {year}: the year "
            "has no State Council notice and lies outside the years answered provisionally "
            f"(up to {PROVISIONAL_HORIZON} years ahead); check the date, or import that "
            "year's calendar"
        )


class CalendarInvalid(DocrouteError):
    """Calendar data an administrator supplied was refused; nothing was stored."""

    status = 422


class DayRow(NamedTuple):
    """One day of the calendar, as stored and exported; ``basis`` is official or provisional."""

    day: date
    is_workday: bool
    note: str = ""
    source: str = ""
    basis: str = OFFICIAL


# --- input and output kinds -----------------------------------------------------------


def _parse_iso(text: str) -> date | datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or date-time: {text!r}") from None


def _split(value: DayLike) -> tuple[date, Callable[[date], date | datetime]]:
    """The office date of ``value`` and a function giving a result of the same kind."""
    if isinstance(value, str):
        value = _parse_iso(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            naive = value.time()
            return value.date(), lambda d: datetime.combine(d, naive)
        local = value.astimezone(OFFICE_TZ)
        return local.date(), lambda d: datetime.combine(d, local.time(), tzinfo=OFFICE_TZ)
    if isinstance(value, date):
        return value, lambda d: d
    raise TypeError(f"expected a date, a datetime or an ISO string, got {type(value).__name__}")


def office_date(value: DayLike) -> date:
    """The office (Asia/Shanghai) date of a date, datetime or ISO string."""
    return _split(value)[0]


def _count(n: Any) -> int:
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"a number of days must be a whole number, got {n!r}")
    return n


def _non_negative(n: Any) -> int:
    n = _count(n)
    if n < 0:
        raise ValueError(f"a period must not be negative, got {n}")
    return n


def _days_in_year(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


# --- the calendar ---------------------------------------------------------------------------


class WorkCalendar:
    """An immutable calendar: every day of each covered year is a working day or not.

    Built from ``DayRow``s (the official years); every year that appears must be complete
    (all 365/366 days), otherwise ``CalendarInvalid`` is raised. A year without rows is
    answered from its provisional year while it lies between the first official year and
    ``PROVISIONAL_HORIZON`` years after the current one (by the application clock);
    ``provisional=False`` turns that off. Other years raise ``CalendarMissing``.
    """

    __slots__ = ("_extra", "_provisional", "_rows", "_workday", "_years")
    _rows: Mapping[date, DayRow]
    _workday: dict[date, bool]
    _years: tuple[int, ...]
    _extra: dict[int, Mapping[date, DayRow]]  # provisional years built so far
    _provisional: bool

    def __init__(self, rows: Iterable[DayRow], *, provisional: bool = True):
        by_day = {row.day: DayRow(*row) for row in rows}
        years: dict[int, int] = {}
        for day in by_day:
            years[day.year] = years.get(day.year, 0) + 1
        incomplete = sorted(y for y, n in years.items() if n != _days_in_year(y))
        if incomplete:
            raise CalendarInvalid(
                f"日历年份不完整 / incomplete calendar year(s): {incomplete}: every day "
                "of a year must be given"
            )
        object.__setattr__(self, "_rows", MappingProxyType(by_day))
        object.__setattr__(self, "_workday", {d: r.is_workday for d, r in by_day.items()})
        object.__setattr__(self, "_years", tuple(sorted(years)))
        object.__setattr__(self, "_extra", {})
        object.__setattr__(self, "_provisional", provisional)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("WorkCalendar is immutable")

    def __repr__(self) -> str:
        years = self._years
        span = f"{years[0]}–{years[-1]}" if years else "no years"
        return f"<WorkCalendar {span} ({len(years)} years)>"

    @classmethod
    def from_workdays(cls, workdays: Mapping[date, bool], source: str = "", *,
                      provisional: bool = True) -> WorkCalendar:
        """A calendar from a plain ``{date: is_workday}`` mapping (no notes)."""
        return cls((DayRow(d, bool(w), "", source) for d, w in workdays.items()),
                   provisional=provisional)

    # official and provisional years

    def _provisional_year(self, year: int) -> Mapping[date, DayRow] | None:
        """The provisional rows of ``year`` if it may be answered provisionally, else None."""
        built = self._extra.get(year)
        if built is not None:
            return built
        if not self._provisional or year in self._years:
            return None
        current = clock.now().astimezone(OFFICE_TZ).year
        first = self._years[0] if self._years else current
        if not first <= year <= current + PROVISIONAL_HORIZON:
            return None
        rows = {row.day: row for row in provisional_rows(year)}
        # Filling the lookup table once keeps the arithmetic loop a plain dict lookup; a
        # year once answered stays answered for this calendar's life (one process reload).
        self._extra[year] = MappingProxyType(rows)
        self._workday.update((d, r.is_workday) for d, r in rows.items())
        return self._extra[year]

    def basis(self, year: int) -> str:
        """``official``, ``provisional`` or ``missing`` for ``year``."""
        if year in self._years:
            return OFFICIAL
        return PROVISIONAL if self._provisional_year(year) is not None else MISSING

    def is_provisional(self, d: DayLike) -> bool:
        """Whether the office day of ``d`` is answered from a provisional year."""
        return self.basis(office_date(d).year) == PROVISIONAL

    def touches_provisional(self, a: DayLike, b: DayLike) -> bool:
        """Whether any day between ``a`` and ``b`` (either order) lies in a provisional year.

        A period whose start and end are both official can only cross official years, as
        provisional years always follow the official ones.
        """
        first, last = sorted((office_date(a), office_date(b)))
        return any(self.basis(y) == PROVISIONAL for y in range(first.year, last.year + 1))

    # lookups

    def covered_years(self) -> tuple[int, ...]:
        """The official years (with stored data), ascending."""
        return self._years

    def covers(self, year: int) -> bool:
        """Whether ``year`` is official."""
        return year in self._years

    def _is_workday(self, day: date) -> bool:
        try:
            return self._workday[day]
        except KeyError:
            if self._provisional_year(day.year) is None:
                raise CalendarMissing(day.year) from None
            return self._workday[day]

    def is_workday(self, d: DayLike) -> bool:
        """Whether the office day of ``d`` is a working day."""
        return self._is_workday(office_date(d))

    def day(self, d: DayLike) -> DayRow:
        """The row (working day, note, source, basis) of the office day of ``d``."""
        day = office_date(d)
        self._is_workday(day)
        return self._rows[day] if day in self._rows else self._extra[day.year][day]

    def rows(self, year: int) -> list[DayRow]:
        """Every day of ``year`` in order, official or provisional; else ``CalendarMissing``."""
        table = self._rows if year in self._years else self._provisional_year(year)
        if table is None:
            raise CalendarMissing(year)
        first = date(year, 1, 1)
        return [table[first + timedelta(i)] for i in range(_days_in_year(year))]

    # arithmetic

    def _step_workdays(self, day: date, n: int) -> date:
        step = timedelta(days=1 if n >= 0 else -1)
        remaining = abs(n)
        while remaining:
            day += step
            if self._is_workday(day):
                remaining -= 1
        return day

    def _roll(self, day: date) -> date:
        while not self._is_workday(day):
            day += timedelta(days=1)
        return day

    def add_workdays(self, start: DayLike, n: int) -> date | datetime:
        """The ``n``-th working day after ``start``; the start day is not counted.

        ``n == 0`` returns ``start`` unchanged; a negative ``n`` counts back (the
        ``|n|``-th working day before ``start``, e.g. for T-3 reminders).
        """
        day, back = _split(start)
        return back(self._step_workdays(day, _count(n)))

    def next_workday(self, d: DayLike) -> date | datetime:
        """The first working day strictly after ``d``."""
        return self.add_workdays(d, 1)

    def roll_forward(self, d: DayLike) -> date | datetime:
        """``d`` itself if it is a working day, else the next working day."""
        day, back = _split(d)
        return back(self._roll(day))

    def add_days(self, start: DayLike, n: int) -> date | datetime:
        """A period of ``n >= 0`` calendar days from ``start`` (start day not counted).

        The period ends ``n`` days after ``start``; if that day is not a working day the
        period ends on the next working day (so ``n == 0`` rolls a non-working start).
        """
        day, back = _split(start)
        return back(self._roll(day + timedelta(days=_non_negative(n))))

    def add_months(self, start: DayLike, n: int) -> date | datetime:
        """A period of ``n >= 0`` months: the same day-of-month ``n`` months later.

        Without that day (Jan 31 + 1 month) the period ends on the month's last day.
        A period ending on a non-working day rolls to the next working day.
        """
        day, back = _split(start)
        years, month0 = divmod(day.month - 1 + _non_negative(n), 12)
        year = day.year + years
        last = calendar.monthrange(year, month0 + 1)[1]
        end = date(year, month0 + 1, min(day.day, last))
        return back(self._roll(end))

    def workdays_between(self, a: DayLike, b: DayLike) -> int:
        """Working days after ``a`` up to and including ``b``; negative if ``b < a``.

        ``add_workdays(a, workdays_between(a, b))`` is the last working day up to ``b``
        (or ``a``); used to measure the working days a paused deadline consumed.
        """
        first, last = office_date(a), office_date(b)
        if last < first:
            return -self.workdays_between(last, first)
        return sum(
            self._is_workday(first + timedelta(days=i)) for i in range(1, (last - first).days + 1)
        )

    def missing_years(self, start: DayLike, days: int = 120) -> list[int]:
        """Years touched by the ``days`` after ``start`` without official data (warnings)."""
        first = office_date(start)
        years = range(first.year, (first + timedelta(days=_non_negative(days))).year + 1)
        return [y for y in years if y not in self._years]


# --- provisional years -------------------------------------------------------------------------

# 《全国年节及纪念日放假办法》 as amended in 2024: 元旦 1, 春节 4 (from 除夕), 清明 1, 劳动节 2,
# 端午 1, 中秋 1, 国庆 3: 13 days, 12 when 中秋 falls within 国庆. Substitute days (补假) and
# make-up working days are left to the notice: without them a provisional deadline can only
# come out earlier than the official one, never later, which is the safe side of a legal period.
FESTIVALS = frozenset({"元旦", "农历除夕", "春节", "清明节", "劳动节", "端午节", "中秋节",
                       "国庆节"})
STATUTORY_DAYS = 13


@cache
def provisional_rows(year: int) -> tuple[DayRow, ...]:
    """Every day of ``year`` from the statutory holidays and ordinary weekends.

    The lunar festivals are computed by the ``holidays`` package (``observed=False``: no
    substitute days, which only the State Council's notice decides). No make-up working
    days. Raises ``CalendarInvalid`` if the package does not yield every statutory festival.
    """
    import holidays  # deferred: only a year without a notice needs it

    all_zh = holidays.China(years=year, observed=False, language="zh_CN")
    en = holidays.China(years=year, observed=False, language="en_US")
    # Only the festivals themselves: for years it knows the package also lists the notice's
    # swapped days (休息日（由 … 调休）), which a provisional year must not guess.
    zh = {day: "；".join(n for n in all_zh.get_list(day) if n in FESTIVALS) for day in all_zh}
    zh = {day: name for day, name in zh.items() if name}
    names = {n for day in zh for n in zh[day].split("；")}
    if names != FESTIVALS or not STATUTORY_DAYS - 1 <= len(zh) <= STATUTORY_DAYS:
        raise CalendarInvalid(
            f"{year} 年法定节假日推算失败 / the statutory holidays of {year} could not be "
            f"computed ({len(zh)} days: {', '.join(sorted(names))}); import that year's "
            "calendar")
    first = date(year, 1, 1)
    rows = []
    for i in range(_days_in_year(year)):
        day = first + timedelta(days=i)
        if day in zh:
            note = f"{zh[day]}（暂按法定节假日） {en[day]} (provisional)"
            rows.append(DayRow(day, False, note, PROVISIONAL_SOURCE, PROVISIONAL))
        else:
            rows.append(DayRow(day, day.weekday() < 5, "", PROVISIONAL_SOURCE, PROVISIONAL))
    return tuple(rows)


def year_status(cal: WorkCalendar, through: int | None = None) -> list[tuple[int, str]]:
    """``(year, basis)`` from the first official year through ``through`` (default: the
    current year plus the horizon and one more, so the first missing year shows)."""
    current = clock.now().astimezone(OFFICE_TZ).year
    last = through if through is not None else current + PROVISIONAL_HORIZON + 1
    years = cal.covered_years()
    first = min(years[0] if years else current, current)
    return [(y, cal.basis(y)) for y in range(first, last + 1)]


def needs_notice_warning(cal: WorkCalendar, today: date) -> int | None:
    """The year an administrator should import now (next year from 1 October), or None."""
    if today.month >= 10 and not cal.covers(today.year + 1):
        return today.year + 1
    if not cal.covers(today.year):
        return today.year
    return None


# --- the built-in calendar ------------------------------------------------------------------

_CHINESE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def _builtin_row(day: date, source: str) -> DayRow:
    """One day as ``chinese_calendar.get_holiday_detail`` decides it, read off its tables
    directly (its per-call year validation made building the calendar take a second)."""
    if day in cc.workdays:
        workday, name = True, cc.workdays[day]
    elif day in cc.holidays:
        workday, name = False, cc.holidays[day]
    else:
        workday, name = day.weekday() < 5, None
    if not name:
        return DayRow(day, workday, "", source)
    zh = _CHINESE_NAMES.get(name, name)
    if workday:
        note = f"{zh}调休上班 {name} (make-up working day)"
    elif day in cc.in_lieu_days:
        note = f"{zh}（调休） {name} (day off in lieu)"
    else:
        note = f"{zh} {name}"
    return DayRow(day, workday, note, source)


def _package_version() -> str:
    for dist in ("chinesecalendar", "chinese-calendar"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


@cache
def builtin_calendar() -> WorkCalendar:
    """Every day of the years the ``chinese_calendar`` package covers (2004–2026 in 1.11).

    Notes carry the holiday's name; the source is ``"chinese-calendar <version>"``.
    """
    source = f"chinese-calendar {_package_version()}"
    known = [*cc.holidays, *cc.workdays]
    first, last = date(min(known).year, 1, 1), date(max(known).year, 12, 31)
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return WorkCalendar(_builtin_row(day, source) for day in days)


# --- one Docroute's calendar ---------------------------------------------------------------

KEY = "docroute_calendar"
# Seconds between two reads of the calendar's version token: how soon a change made in
# another process (a web worker, ``docroute worker``) takes effect in this one.
CHECK_EVERY = 30.0


class CalendarHolder:
    """The working-day calendar of one ``Docroute``, put in its sessions' ``info``.

    Loaded from the database on first use (the built-in calendar when the database has
    none); reloaded by the administrator's change (``calendar_recompute``) in the process
    that made it; and, in every other process, once the database's version token
    (``CalendarVersion``, changed by every write to the calendar) differs from the one
    it was loaded at. The token is read at most every ``check_every`` seconds, so a step
    almost never spends a statement on it.
    """

    def __init__(self, check_every: float = CHECK_EVERY) -> None:
        self.check_every = check_every
        self._calendar: WorkCalendar | None = None
        self._token: str | None = None  # the version it was loaded at; None: adopt the next
        self._checked = -math.inf
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Whether the next ``get`` reads the database."""
        return self._calendar is None or time.monotonic() - self._checked >= self.check_every

    def get(self, session: Session) -> WorkCalendar:
        """The calendar, checked against the database's version when a check is due."""
        cal = self._calendar
        if cal is not None and not self.due():
            return cal
        with self._lock:
            token = version(session)
            self._checked = time.monotonic()
            if self._calendar is None or (self._token is not None and token != self._token):
                self._calendar = _stored_or_builtin(session)
            self._token = token
            return self._calendar

    def peek(self) -> WorkCalendar | None:
        """The calendar in memory, without a check (None before the first use)."""
        return self._calendar

    def use(self, cal: WorkCalendar | None) -> None:
        """Answer from ``cal`` until the database's calendar next changes (``None``: load
        the database's calendar on next use)."""
        with self._lock:
            self._calendar = cal
            self._token = None

    def reload(self, session: Session) -> WorkCalendar:
        """Load the calendar as ``session`` sees it now (after a change it wrote).

        The token read with it is the change's own: once committed, no other reload
        follows; rolled back, the next check finds the old token and loads again.
        """
        with self._lock:
            self._calendar = _stored_or_builtin(session)
            self._token = version(session)
            self._checked = time.monotonic()
            return self._calendar


def holder_of(session: Session) -> CalendarHolder:
    """The calendar holder of the ``Docroute`` whose factory made this session."""
    holder = session.info.get(KEY)
    if holder is None:
        raise RuntimeError("this session was not made by Docroute.session(), so it has no "
                           "working-day calendar")
    return holder


def of(session: Session) -> WorkCalendar:
    """The working-day calendar of the ``Docroute`` whose factory made this session."""
    return holder_of(session).get(session)


def _stored_or_builtin(session: Session) -> WorkCalendar:
    stored = load(session)
    if stored.covered_years():
        return stored
    log.warning("the database has no working-day calendar (run `docroute init`): "
                "using the built-in one")
    return builtin_calendar()


def version(session: Session) -> str | None:
    """The database calendar's version token (None before migration 0015's row exists)."""
    return session.scalar(select(CalendarVersion.token).where(CalendarVersion.id == 1))


def _changed(session: Session) -> None:
    """Give the calendar a new version token, so other processes reload it."""
    token = uuid.uuid4().hex
    updated = session.execute(update(CalendarVersion).where(CalendarVersion.id == 1)
                              .values(token=token))
    if not getattr(updated, "rowcount", 0):
        session.add(CalendarVersion(id=1, token=token))
        session.flush()


# --- the script helpers: the calendar of the step that runs them --------------------------


def _step_calendar() -> WorkCalendar:
    cal = calendar_calls.step_calendar()
    if cal is None:
        raise ScriptError("the working-day helpers run only inside a step of a case")
    return cal


# The date-valued helpers: a result that touches a provisional year is recorded in the
# current engine step (``calendar_calls``), and handed back from the record in replay.
_DATE_OPS: dict[str, Callable[[WorkCalendar, DayLike, int], date | datetime]] = {
    "add_workdays": WorkCalendar.add_workdays,
    "add_days": WorkCalendar.add_days,
    "add_months": WorkCalendar.add_months,
}


def compute(op: str, start: DayLike, n: int, cal: WorkCalendar) -> date | datetime:
    """``op(start, n)`` on ``cal``, never recorded."""
    return _DATE_OPS[op](cal, start, n)


def _recorded(op: str, start: DayLike, n: int) -> date | datetime:
    cal = _step_calendar()
    return calendar_calls.evaluate(
        op, start, n, lambda: _DATE_OPS[op](cal, start, n),
        lambda result: cal.touches_provisional(start, result))


def add_workdays(start: DayLike, n: int) -> date | datetime:
    """``add_workdays`` of the step's calendar: the n-th working day after start (start
    not counted)."""
    return _recorded("add_workdays", start, n)


def add_days(start: DayLike, n: int) -> date | datetime:
    """``add_days`` of the step's calendar: n calendar days, rolled to a working day."""
    return _recorded("add_days", start, n)


def add_months(start: DayLike, n: int) -> date | datetime:
    """``add_months`` of the step's calendar: n months (clipped to month end), rolled to
    a working day."""
    return _recorded("add_months", start, n)


def is_workday(d: DayLike) -> bool:
    """``is_workday`` of the step's calendar."""
    return _step_calendar().is_workday(d)


def workdays_between(a: DayLike, b: DayLike) -> int:
    """``workdays_between`` of the step's calendar: working days after a up to and
    including b."""
    return _step_calendar().workdays_between(a, b)


def next_workday(d: DayLike) -> date | datetime:
    """``next_workday`` of the step's calendar: the first working day strictly after d."""
    return _recorded("add_workdays", d, 1)


def script_helpers() -> dict[str, Callable[..., Any]]:
    """Helpers for diagrams' expressions; each reads the calendar of the running step
    (``calendar_calls.CallScope.calendar``) when called."""
    return {
        "add_workdays": add_workdays,
        "add_days": add_days,
        "add_months": add_months,
        "is_workday": is_workday,
        "workdays_between": workdays_between,
        "next_workday": next_workday,
    }


# --- the database copy -----------------------------------------------------------------------


def _year_range(year: int) -> Any:
    return CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))


def stored_years(session: Session) -> list[int]:
    """Years with at least one ``CalendarDay`` row, ascending."""
    year = extract("year", CalendarDay.day)
    return sorted(int(y) for y in session.scalars(select(year).distinct()))


def _insert(session: Session, rows: Iterable[DayRow]) -> None:
    # Stored rows are official by definition: provisional years are never stored.
    values = [{"day": r.day, "is_workday": r.is_workday, "note": r.note, "source": r.source}
              for r in rows]
    if values:
        session.execute(insert(CalendarDay), values)


def seed(session: Session, cal: WorkCalendar | None = None) -> list[int]:
    """Insert every year of ``cal`` (default: the built-in calendar) with no rows yet.

    Years already in the database are left alone, so administrators' edits survive and
    seeding twice does nothing. Returns the years inserted. Does not commit.
    """
    cal = cal or builtin_calendar()
    present = set(stored_years(session))
    years = [y for y in cal.covered_years() if y not in present]
    _insert(session, (row for y in years for row in cal.rows(y)))
    if years:
        _changed(session)
    return years


def load(session: Session) -> WorkCalendar:
    """The calendar stored in the database.

    A year with missing days (which ``set_year``/``set_day`` never produce) is left out
    with a warning, so deadlines reaching it raise ``CalendarMissing``.
    """
    columns = (CalendarDay.day, CalendarDay.is_workday, CalendarDay.note, CalendarDay.source)
    result = session.execute(select(*columns))
    rows = [DayRow(d, bool(w), n or "", s or "") for d, w, n, s in result]
    counts: dict[int, int] = {}
    for row in rows:
        counts[row.day.year] = counts.get(row.day.year, 0) + 1
    partial = {y for y, n in counts.items() if n != _days_in_year(y)}
    if partial:
        log.warning("calendar years with missing days ignored: %s", sorted(partial))
    return WorkCalendar(r for r in rows if r.day.year not in partial)


def _check_text(note: str, source: str, where: str) -> None:
    if len(note) > NOTE_MAX:
        raise CalendarInvalid(f"{where}: note longer than {NOTE_MAX} characters")
    if len(source) > SOURCE_MAX:
        raise CalendarInvalid(f"source longer than {SOURCE_MAX} characters")


def _validate_year(year: int, days: Mapping[date, tuple[bool, str]], source: str) -> None:
    first = date(year, 1, 1)
    expected = {first + timedelta(days=i) for i in range(_days_in_year(year))}
    missing = sorted(expected - set(days))
    extra = sorted(set(days) - expected)
    if missing or extra:
        shown = ", ".join(d.isoformat() for d in (missing or extra)[:5])
        what = "missing" if missing else "outside the year"
        count = len(missing or extra)
        raise CalendarInvalid(
            f"{year} 年日历不完整 / the {year} calendar must list every day of the year "
            f"exactly once: {count} day(s) {what} ({shown}{', …' if count > 5 else ''}); "
            "nothing was stored"
        )
    for day, (_, note) in days.items():
        _check_text(note or "", source, day.isoformat())


def set_year(
    session: Session, year: int, days: Mapping[date, tuple[bool, str]], source: str
) -> None:
    """Replace ``year`` with ``days`` (``{day: (is_workday, note)}``), all of its days.

    Refuses (``CalendarInvalid``, nothing changed) unless every day of the year is given
    and no other. ``source`` names the notice, e.g. "国办发明电〔2026〕7号". Does not commit.
    """
    _validate_year(year, days, source)
    session.execute(delete(CalendarDay).where(_year_range(year)))
    _insert(
        session,
        (DayRow(d, bool(w), n or "", source) for d, (w, n) in sorted(days.items())),
    )
    _changed(session)


def set_day(session: Session, day: date, is_workday: bool, note: str, source: str) -> None:
    """Change one day of a year already stored; refuses a year without data. No commit."""
    _check_text(note, source, day.isoformat())
    row = session.get(CalendarDay, day)
    if row is None:
        raise CalendarInvalid(
            f"没有 {day.year} 年的日历 / the calendar has no year {day.year}: import the "
            "whole year first"
        )
    row.is_workday, row.note, row.source = bool(is_workday), note, source
    _changed(session)
    session.flush()


def export_year(session: Session, year: int) -> list[DayRow]:
    """The stored (official) rows of ``year`` in date order (empty if none)."""
    query = select(CalendarDay).where(_year_range(year)).order_by(CalendarDay.day)
    return [DayRow(r.day, r.is_workday, r.note, r.source) for r in session.scalars(query)]


def year_rows(session: Session, year: int) -> list[DayRow]:
    """The rows of ``year`` as deadlines see them: official if stored, else provisional
    within the horizon, else empty."""
    stored = export_year(session, year)
    if stored:
        return stored
    current = clock.now().astimezone(OFFICE_TZ).year
    within = current - 1 <= year <= current + PROVISIONAL_HORIZON
    return list(provisional_rows(year)) if within else []


# --- CSV (``docroute calendar import FILE`` / export) ----------------------------------------

CSV_HEADER = ("date", "is_workday", "note")
EXPORT_HEADER = (*CSV_HEADER, "basis")  # basis is informational; imports ignore it
_TRUE = {"1", "true", "yes", "y", "是", "班"}
_FALSE = {"0", "false", "no", "n", "否", "休"}
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")


def _parse_csv_row(cells: list[str]) -> tuple[date, bool, str]:
    cells = [*cells, "", ""]
    text, flag, note = (c.strip() for c in cells[:3])
    match = _DATE.match(text)
    try:
        day = date(*map(int, match.groups())) if match else None
    except ValueError:
        day = None
    if day is None:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD)")
    if flag.lower() not in _TRUE | _FALSE:
        raise ValueError(f"is_workday must be 1 or 0, got {flag!r}")
    return day, flag.lower() in _TRUE, note


def parse_csv(text: str) -> dict[int, dict[date, tuple[bool, str]]]:
    """Parse ``date,is_workday,note`` CSV into ``{year: {day: (is_workday, note)}}``.

    The header row is required; a UTF-8 BOM, blank lines, ``2026/1/1`` dates and
    ``1/0/true/false/yes/no/是/否/班/休`` flags are accepted. Raises ``CalendarInvalid``
    naming every bad line (up to ten).
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, [])
    if tuple(c.strip().lower() for c in header[:3]) != CSV_HEADER:
        raise CalendarInvalid("line 1: the header must be: date,is_workday,note")
    years: dict[int, dict[date, tuple[bool, str]]] = {}
    errors: list[str] = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        try:
            day, workday, note = _parse_csv_row(cells)
        except ValueError as error:
            errors.append(f"line {line}: {error}")
            continue
        if day in years.setdefault(day.year, {}):
            errors.append(f"line {line}: {day.isoformat()} is listed twice")
        years[day.year][day] = (workday, note)
    if errors:
        raise CalendarInvalid("\n".join(errors[:10]))
    return years


def import_csv(session: Session, text: str, source: str) -> list[int]:
    """Replace every year in the CSV (each must be complete); returns the years. No commit."""
    years = parse_csv(text)
    for year, days in years.items():
        _validate_year(year, days, source)
    for year, days in sorted(years.items()):
        set_year(session, year, days, source)
    return sorted(years)


def rows_to_csv(rows: Iterable[DayRow]) -> str:
    """CSV text in the import format plus each day's basis (round-trips through
    ``parse_csv``, which ignores the basis column)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_HEADER)
    writer.writerows((r.day.isoformat(), int(r.is_workday), r.note, r.basis) for r in rows)
    return out.getvalue()


def template_csv(year: int) -> str:
    """A starting sheet for ``year``: the statutory holidays and weekends, no make-up days.

    For an administrator to correct against the State Council notice (add the make-up
    working days and the days off in lieu) before importing; never data by itself.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows((r.day.isoformat(), int(r.is_workday), r.note.split("（")[0])
                     for r in provisional_rows(year))
    return out.getvalue()
