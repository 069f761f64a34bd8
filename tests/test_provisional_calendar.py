"""Provisional calendar years (engine/workcalendar.py): the office never stops at a year
boundary, and every answer that rests on a guess says so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from engine import clock
from engine.deadlines import calendar_calls, workcalendar
from engine.deadlines.workcalendar import (
    OFFICIAL,
    PROVISIONAL,
    CalendarMissing,
    WorkCalendar,
    builtin_calendar,
    provisional_rows,
)

D = date.fromisoformat


def through_2026() -> WorkCalendar:
    """The official years 2025–2026 only, whatever a newer chinese-calendar release ships."""
    builtin = builtin_calendar()
    return WorkCalendar([*builtin.rows(2025), *builtin.rows(2026)])


@pytest.fixture(autouse=True)
def _december_2026(request: pytest.FixtureRequest) -> Iterator[clock.ManualClock]:
    previous = clock.get_default_clock()
    fixed = clock.ManualClock(datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    clock.set_default_clock(fixed)
    if "docroute" in request.fixturenames:
        request.getfixturevalue("docroute").calendar.use(through_2026())
    yield fixed
    clock.set_default_clock(previous)


def test_a_provisional_year_has_the_thirteen_statutory_days_and_no_make_up_days() -> None:
    rows = provisional_rows(2027)
    holidays = [r.day for r in rows if not r.is_workday and r.day.weekday() < 5]
    statutory = [r for r in rows if r.note]
    assert [r.day for r in statutory] == [
        D("2027-01-01"),  # 元旦 1
        D("2027-02-05"), D("2027-02-06"), D("2027-02-07"), D("2027-02-08"),  # 春节 4, from 除夕
        D("2027-04-05"),  # 清明 1
        D("2027-05-01"), D("2027-05-02"),  # 劳动节 2
        D("2027-06-09"),  # 端午 1
        D("2027-09-15"),  # 中秋 1
        D("2027-10-01"), D("2027-10-02"), D("2027-10-03"),  # 国庆 3
    ]
    assert "春节" in statutory[2].note and "provisional" in statutory[2].note
    # No make-up working day: every Saturday and Sunday is a day off.
    assert not [r for r in rows if r.is_workday and r.day.weekday() >= 5]
    assert D("2027-02-08") in holidays and D("2027-09-15") in holidays
    assert {r.basis for r in rows} == {PROVISIONAL}
    assert len(rows) == 365


def test_deadlines_cross_into_next_year_instead_of_stopping() -> None:
    cal = through_2026()
    # 9 working days left in December 2026, 元旦 off, then 11 more.
    assert cal.add_workdays(D("2026-12-20"), 20) == D("2027-01-18")
    assert cal.add_months(D("2026-12-08"), 3) == D("2027-03-08")
    assert cal.add_days(D("2027-01-29"), 9) == D("2027-02-09")  # 02-07 Spring Festival rolls
    assert cal.basis(2026) == OFFICIAL
    assert cal.basis(2027) == PROVISIONAL
    assert cal.basis(2028) == PROVISIONAL
    assert cal.basis(2029) == "missing"
    assert cal.touches_provisional(D("2026-12-20"), D("2027-01-18"))
    assert not cal.touches_provisional(D("2026-11-20"), D("2026-12-18"))
    assert cal.day(D("2027-02-05")).basis == PROVISIONAL


def test_the_horizon_moves_with_the_clock(_december_2026: clock.ManualClock) -> None:
    with pytest.raises(CalendarMissing, match="2029"):
        through_2026().add_months(D("2028-12-01"), 3)
    _december_2026.set(datetime(2027, 11, 3, 2, 0, tzinfo=UTC))
    assert through_2026().add_months(
        D("2028-12-01"), 3) == D("2029-03-01")


def test_a_step_records_what_it_computed_over_a_provisional_year() -> None:
    scope = calendar_calls.CallScope(calendar=through_2026())
    with calendar_calls.call_scope(scope):
        official = workcalendar.add_workdays(D("2026-11-02"), 5)
        provisional = workcalendar.add_workdays(D("2026-12-20"), 20)
    assert official == D("2026-11-09")
    assert provisional == D("2027-01-18")
    assert scope.calls == [calendar_calls.CalendarCall("add_workdays", "2026-12-20", 20,
                                                       "2027-01-18")]
    # Replay hands the recorded answer back, whatever the calendar says now.
    replayed = calendar_calls.CallScope(calendar=through_2026(), recorded=[
        calendar_calls.CalendarCall("add_workdays", "2026-12-20", 20, "2027-01-19")])
    with calendar_calls.call_scope(replayed):
        assert workcalendar.add_workdays(D("2026-12-20"), 20) == D("2027-01-19")
        assert workcalendar.add_workdays(D("2026-12-21"), 20) == D("2027-01-19")  # computed


def test_substitute_moves_dates_in_every_form() -> None:
    changes = {D("2027-01-18"): D("2027-01-15")}
    moved = calendar_calls._moved({
        "due_on": "2027-01-18", "at": "2027-01-18T23:59:59+08:00",
        "utc": "2027-01-18T15:59:59+00:00", "day": D("2027-01-18"),
        "other": "2027-01-19", "text": "2027-01-18 is the day", "list": ["2027-01-18"],
    }, changes)
    assert moved == {
        "due_on": "2027-01-15", "at": "2027-01-15T23:59:59+08:00",
        "utc": "2027-01-15T15:59:59+00:00", "day": D("2027-01-15"),
        "other": "2027-01-19", "text": "2027-01-18 is the day", "list": ["2027-01-15"],
    }


def test_status_and_warning(session: Session) -> None:
    workcalendar.seed(session, through_2026())
    cal = workcalendar.load(session)
    status = dict(workcalendar.year_status(cal))
    assert status[2026] == OFFICIAL
    assert status[2027] == PROVISIONAL and status[2028] == PROVISIONAL
    assert status[2029] == "missing"
    assert workcalendar.needs_notice_warning(cal, D("2026-09-30")) is None
    assert workcalendar.needs_notice_warning(cal, D("2026-10-01")) == 2027
    rows = workcalendar.year_rows(session, 2027)
    assert len(rows) == 365 and rows[0].basis == PROVISIONAL
    csv = workcalendar.rows_to_csv(rows)
    assert csv.splitlines()[0] == "date,is_workday,note,basis"
    assert csv.splitlines()[1].startswith("2027-01-01,0,元旦") and csv.splitlines()[1].endswith(
        ",provisional")
    assert workcalendar.rows_to_csv(workcalendar.year_rows(session, 2026)).splitlines()[
        1].endswith(",official")
    assert workcalendar.year_rows(session, 2031) == []
