"""The official working-day calendar (engine/workcalendar.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.deadlines import calendar_calls, workcalendar
from engine.deadlines.workcalendar import (
    CalendarInvalid,
    CalendarMissing,
    DayRow,
    WorkCalendar,
    builtin_calendar,
)
from engine.definitions.scripting import RestrictedEnvironment
from engine.errors import DocrouteError, ScriptError
from engine.models import CalendarDay

D = date.fromisoformat
SHANGHAI_OFFSET = "+08:00"


@pytest.fixture
def cal() -> WorkCalendar:
    return builtin_calendar()


@pytest.fixture
def builtin_step() -> Iterator[None]:
    """Script helpers called as inside a step on the built-in calendar."""
    with calendar_calls.call_scope(calendar_calls.CallScope(calendar=builtin_calendar())):
        yield


def full_year(year: int, cal: WorkCalendar | None = None) -> dict[date, tuple[bool, str]]:
    """A whole year as set_year takes it: from ``cal`` if it covers it, else Mon–Fri."""
    if cal is not None and cal.covers(year):
        return {r.day: (r.is_workday, r.note) for r in cal.rows(year)}
    first = date(year, 1, 1)
    days = (first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days))
    return {d: (d.weekday() < 5, "") for d in days}


# --- the built-in calendar ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        ("2026-02-14", True),  # Saturday, Spring Festival make-up working day
        ("2026-02-28", True),  # Saturday, Spring Festival make-up working day
        ("2026-02-16", False),  # Monday, Spring Festival
        ("2026-02-15", False),  # Sunday, Spring Festival
        ("2026-02-23", False),  # Monday, last day of the 2026 Spring Festival break
        ("2026-02-24", True),  # back to work
        ("2026-01-04", True),  # Sunday, New Year make-up working day
        ("2026-09-20", True),  # Sunday, National Day make-up working day
        ("2026-10-01", False),
        ("2026-10-07", False),
        ("2026-10-08", True),
        ("2026-10-10", True),  # Saturday, National Day make-up working day
        ("2026-09-27", False),  # Mid-Autumn
        ("2025-10-08", False),  # National Day 2025, day off in lieu
        ("2025-10-11", True),  # Saturday, National Day make-up working day
        ("2025-09-28", True),  # Sunday, National Day make-up working day
        ("2024-02-04", True),  # Sunday, Spring Festival make-up working day
        ("2026-03-02", True),  # an ordinary Monday
        ("2026-03-07", False),  # an ordinary Saturday
    ],
)
def test_holidays_and_make_up_days(cal: WorkCalendar, day: str, workday: bool) -> None:
    assert cal.is_workday(D(day)) is workday


def test_builtin_covers_the_package_years_and_matches_it(cal: WorkCalendar) -> None:
    assert cal.covered_years() == tuple(range(2004, 2027))
    for year in cal.covered_years():
        for row in cal.rows(year):
            assert row.is_workday == chinese_calendar.is_workday(row.day), row.day


def test_builtin_notes_and_source(cal: WorkCalendar) -> None:
    assert builtin_calendar() is cal  # cached
    assert cal.day("2026-02-16").note == "春节 Spring Festival"
    assert "make-up working day" in cal.day("2026-02-14").note
    assert "in lieu" in cal.day("2025-10-08").note
    assert cal.day("2026-03-02").note == ""
    assert cal.day("2026-03-02").source.startswith("chinese-calendar 1.")
    assert len(cal.rows(2024)) == 366


# --- working days ---------------------------------------------------------------------------


def test_domain_example_twenty_working_days(cal: WorkCalendar) -> None:
    # DOMAIN.md §5: spans Mid-Autumn/National Day 2026 and the 10-10 make-up Saturday.
    assert cal.add_workdays(D("2026-09-28"), 20) == D("2026-10-30")
    assert cal.add_workdays(D("2026-09-28"), 20) == chinese_calendar.find_workday(
        20, D("2026-09-28")
    )


def test_start_day_is_not_counted(cal: WorkCalendar) -> None:
    assert cal.add_workdays(D("2026-03-02"), 1) == D("2026-03-03")  # Monday -> Tuesday
    assert cal.add_workdays(D("2026-03-06"), 1) == D("2026-03-09")  # Friday -> Monday
    assert cal.add_workdays(D("2026-09-30"), 1) == D("2026-10-08")  # over National Day
    assert cal.add_workdays(D("2026-10-03"), 1) == D("2026-10-08")  # from inside a holiday
    assert cal.add_workdays(D("2026-10-08"), 2) == D("2026-10-10")  # make-up Saturday counts
    assert cal.add_workdays(D("2026-10-03"), 0) == D("2026-10-03")  # zero: unchanged


def test_negative_counts_back(cal: WorkCalendar) -> None:
    assert cal.add_workdays(D("2026-10-08"), -1) == D("2026-09-30")
    assert cal.add_workdays(D("2026-10-30"), -20) == D("2026-09-28")


def test_next_workday_is_strictly_after(cal: WorkCalendar) -> None:
    assert cal.next_workday(D("2026-03-02")) == D("2026-03-03")
    assert cal.next_workday(D("2026-02-13")) == D("2026-02-14")  # make-up Saturday
    assert cal.next_workday(D("2026-02-14")) == D("2026-02-24")
    assert cal.roll_forward(D("2026-03-02")) == D("2026-03-02")
    assert cal.roll_forward(D("2026-02-15")) == D("2026-02-24")


def test_workdays_between(cal: WorkCalendar) -> None:
    assert cal.workdays_between(D("2026-09-28"), D("2026-10-30")) == 20
    assert cal.workdays_between(D("2026-10-30"), D("2026-09-28")) == -20
    assert cal.workdays_between(D("2026-03-02"), D("2026-03-02")) == 0
    assert cal.workdays_between(D("2026-10-01"), D("2026-10-07")) == 0
    assert cal.workdays_between(D("2026-02-13"), D("2026-02-14")) == 1


def test_workdays_between_inverts_add_workdays(cal: WorkCalendar) -> None:
    start = D("2025-12-20")
    for offset in range(0, 90, 7):
        day = start + timedelta(days=offset)
        for n in (0, 1, 5, 20):
            assert cal.workdays_between(day, cal.add_workdays(day, n)) == n


# --- calendar periods -------------------------------------------------------------------


def test_add_days_rolls_off_holidays(cal: WorkCalendar) -> None:
    assert cal.add_days(D("2026-03-02"), 10) == D("2026-03-12")  # a Thursday: no roll
    assert cal.add_days(D("2026-09-28"), 3) == D("2026-10-08")  # ends 10-01: rolls
    assert cal.add_days(D("2026-03-02"), 5) == D("2026-03-09")  # ends Saturday: rolls
    assert cal.add_days(D("2026-02-10"), 4) == D("2026-02-14")  # ends make-up Saturday
    assert cal.add_days(D("2026-01-01"), 0) == D("2026-01-04")  # zero rolls a holiday


def test_add_months_clips_and_rolls(cal: WorkCalendar) -> None:
    assert cal.add_months(D("2026-01-31"), 1) == D("2026-02-28")  # clipped; make-up Saturday
    assert cal.add_months(D("2024-01-31"), 1) == D("2024-02-29")  # leap year
    assert cal.add_months(D("2024-05-31"), 1) == D("2024-07-01")  # clipped to Sun 06-30
    assert cal.add_months(D("2025-03-31"), 2) == D("2025-06-03")  # Dragon Boat 05-31..06-02
    assert cal.add_months(D("2025-12-31"), 2) == D("2026-02-28")  # across the year
    assert cal.add_months(D("2025-11-30"), 12) == D("2026-11-30")
    assert cal.add_months(D("2026-07-01"), 3) == D("2026-10-08")  # DOMAIN D2b: 3 months


def test_periods_must_not_be_negative(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_days(D("2026-03-02"), -1)
    with pytest.raises(ValueError):
        cal.add_months(D("2026-03-02"), -1)
    with pytest.raises(TypeError):
        cal.add_workdays(D("2026-03-02"), "3")  # type: ignore[arg-type]
    assert cal.add_workdays(D("2026-03-02"), 3.0) == D("2026-03-05")  # type: ignore[arg-type]


# --- input kinds ------------------------------------------------------------------------------


def test_aware_datetimes_use_the_office_date_and_keep_the_time(cal: WorkCalendar) -> None:
    # 2026-09-27 20:00 UTC is 2026-09-28 04:00 in Shanghai.
    result = cal.add_workdays(datetime(2026, 9, 27, 20, 0, tzinfo=UTC), 20)
    assert isinstance(result, datetime)
    assert result.isoformat() == "2026-10-30T04:00:00+08:00"
    assert result == datetime(2026, 10, 29, 20, 0, tzinfo=UTC)
    # Saturday 2026-10-10 16:30 UTC is Sunday 00:30 in Shanghai: not a working day.
    assert cal.is_workday(datetime(2026, 10, 10, 15, 59, tzinfo=UTC)) is True
    assert cal.is_workday(datetime(2026, 10, 10, 16, 30, tzinfo=UTC)) is False


def test_naive_datetimes_stay_naive(cal: WorkCalendar) -> None:
    result = cal.add_days(datetime(2026, 9, 28, 9, 30), 3)
    assert isinstance(result, datetime)
    assert result == datetime(2026, 10, 8, 9, 30)
    assert result.tzinfo is None


def test_iso_strings(cal: WorkCalendar) -> None:
    assert cal.add_workdays("2026-09-28", 20) == D("2026-10-30")
    result = cal.add_workdays("2026-10-09T10:00:00+08:00", 1)
    assert result.isoformat() == "2026-10-10T10:00:00+08:00"
    assert cal.add_workdays("2026-10-09T02:00:00Z", 1).isoformat() == "2026-10-10T10:00:00+08:00"
    assert cal.is_workday("2026-10-10") is True
    assert cal.workdays_between("2026-09-28", "2026-10-30T18:00:00+08:00") == 20
    with pytest.raises(ValueError, match="not an ISO date"):
        cal.is_workday("next Tuesday")
    with pytest.raises(TypeError):
        cal.is_workday(20261010)  # type: ignore[arg-type]


# --- years without data -------------------------------------------------------------------------


def test_a_year_beyond_the_provisional_horizon_raises_naming_the_year(cal: WorkCalendar
                                                                      ) -> None:
    with pytest.raises(CalendarMissing) as caught:
        cal.add_workdays(D("2205-12-20"), 20)  # a typo for 2025 must not compute silently
    assert caught.value.year == 2205
    assert isinstance(caught.value, DocrouteError)
    assert "没有 2205 年的工作日历数据" in str(caught.value)
    assert "provisionally" in str(caught.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.is_workday(D("2027-01-01")),
        lambda c: c.is_workday(D("2003-12-31")),
        lambda c: c.add_days(D("2026-12-20"), 20),
        lambda c: c.add_months(D("2026-12-01"), 1),
        lambda c: c.workdays_between(D("2026-12-01"), D("2027-01-10")),
        lambda c: c.next_workday(D("2026-12-31")),
        lambda c: c.rows(2027),
    ],
)
def test_never_falls_back_to_monday_to_friday(call) -> None:
    strict = WorkCalendar(builtin_calendar().rows(2026), provisional=False)
    with pytest.raises(CalendarMissing):
        call(strict)


def test_a_year_before_the_first_official_one_is_missing(cal: WorkCalendar) -> None:
    with pytest.raises(CalendarMissing, match="2003"):
        cal.is_workday(D("2003-12-31"))


def test_calendar_is_immutable_and_years_complete(cal: WorkCalendar) -> None:
    with pytest.raises(AttributeError):
        cal._workday = {}  # type: ignore[misc]
    partial = {D("2026-01-01"): True}
    with pytest.raises(CalendarInvalid, match="2026"):
        WorkCalendar.from_workdays(partial)


# --- the database copy ------------------------------------------------------------------------


def count_rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CalendarDay)) or 0


def test_seed_is_idempotent(session: Session, cal: WorkCalendar) -> None:
    assert workcalendar.seed(session) == list(range(2004, 2027))
    total = sum(len(cal.rows(y)) for y in cal.covered_years())
    assert count_rows(session) == total
    assert workcalendar.seed(session) == []
    assert count_rows(session) == total
    loaded = workcalendar.load(session)
    assert loaded.covered_years() == cal.covered_years()
    assert loaded.rows(2026) == cal.rows(2026)


def test_seed_keeps_edited_years(session: Session) -> None:
    workcalendar.seed(session)
    workcalendar.set_day(session, D("2026-10-09"), False, "台风停工", "深鹏办〔2026〕99号")
    assert workcalendar.seed(session) == []
    assert workcalendar.load(session).is_workday(D("2026-10-09")) is False


def test_set_year_refuses_an_incomplete_year(session: Session) -> None:
    workcalendar.seed(session)
    days = full_year(2027)
    del days[D("2027-06-15")]
    with pytest.raises(CalendarInvalid, match=r"2027.*2027-06-15"):
        workcalendar.set_year(session, 2027, days, "国办发明电〔2026〕")
    extra = {**full_year(2027), D("2028-01-01"): (False, "")}
    with pytest.raises(CalendarInvalid, match="outside the year"):
        workcalendar.set_year(session, 2027, extra, "国办发明电〔2026〕")
    assert workcalendar.export_year(session, 2027) == []
    assert not workcalendar.load(session).covers(2027)


def test_set_year_adds_a_year_and_replaces_one(session: Session) -> None:
    workcalendar.seed(session)
    days = full_year(2027)
    days[D("2027-01-01")] = (False, "元旦")
    workcalendar.set_year(session, 2027, days, "2027 notice")
    cal = workcalendar.load(session)
    assert cal.covers(2027)
    assert cal.add_workdays(D("2026-12-20"), 20) == D("2027-01-18")
    assert cal.day(D("2027-01-01")) == DayRow(D("2027-01-01"), False, "元旦", "2027 notice")

    days[D("2027-01-01")] = (True, "")
    workcalendar.set_year(session, 2027, days, "corrected notice")
    rows = workcalendar.export_year(session, 2027)
    assert len(rows) == 365
    assert rows[0] == DayRow(D("2027-01-01"), True, "", "corrected notice")


@contextmanager
def step_on(cal: WorkCalendar) -> Iterator[None]:
    """What an engine step sets up for the script helpers: its calendar."""
    with calendar_calls.call_scope(calendar_calls.CallScope(calendar=cal)):
        yield


def test_an_edited_day_takes_effect_at_the_holders_next_check(session: Session) -> None:
    workcalendar.seed(session)
    holder = workcalendar.CalendarHolder(check_every=3600)
    session.info[workcalendar.KEY] = holder  # as Docroute's session factory does
    helpers = workcalendar.script_helpers()  # taken once, like a script environment
    with step_on(workcalendar.of(session)):
        assert helpers["add_workdays"]("2026-10-08", 1) == D("2026-10-09")

    workcalendar.set_day(session, D("2026-10-09"), False, "台风停工", "深鹏办〔2026〕99号")
    with step_on(workcalendar.of(session)):  # no check due: the loaded calendar answers
        assert helpers["add_workdays"]("2026-10-08", 1) == D("2026-10-09")
    holder.check_every = 0  # the next use reads the version token, which set_day changed
    with step_on(workcalendar.of(session)):
        assert helpers["add_workdays"]("2026-10-08", 1) == D("2026-10-10")
        assert helpers["is_workday"]("2026-10-09") is False
    assert workcalendar.of(session).day("2026-10-09").note == "台风停工"


def test_a_holder_answers_from_the_builtin_calendar_when_the_database_has_none(
        session: Session) -> None:
    assert workcalendar.stored_years(session) == []
    assert workcalendar.CalendarHolder().get(session) is builtin_calendar()


def test_a_calendar_in_use_stays_until_the_database_changes(session: Session) -> None:
    workcalendar.seed(session)
    holder = workcalendar.CalendarHolder(check_every=0)
    only_2026 = WorkCalendar(builtin_calendar().rows(2026))
    holder.use(only_2026)
    assert holder.get(session) is only_2026  # the first check adopts the current version
    assert holder.get(session) is only_2026
    workcalendar.set_day(session, D("2026-10-09"), False, "台风停工", "x")
    assert holder.get(session).day("2026-10-09").note == "台风停工"
    assert holder.get(session).covers(2020)


def test_a_session_not_made_by_a_docroute_has_no_calendar(session: Session) -> None:
    with pytest.raises(RuntimeError, match="Docroute"):
        workcalendar.of(session)


def test_set_day_refuses_a_year_without_data(session: Session) -> None:
    workcalendar.seed(session)
    with pytest.raises(CalendarInvalid, match="2027"):
        workcalendar.set_day(session, D("2027-01-04"), True, "", "x")


def test_load_ignores_a_partial_year(session: Session) -> None:
    workcalendar.seed(session)
    session.add(CalendarDay(day=D("2027-01-01"), is_workday=False, note="", source="x"))
    session.flush()
    session.add(CalendarDay(day=D("2030-01-01"), is_workday=False, note="", source="x"))
    session.flush()
    cal = workcalendar.load(session)
    assert not cal.covers(2027)
    assert cal.basis(2027) == "provisional"  # answered from the statutory holidays instead
    with pytest.raises(CalendarMissing):
        cal.is_workday(D("2030-01-02"))  # beyond the provisional horizon: still refused


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_round_trip_and_import(session: Session, cal: WorkCalendar) -> None:
    text = workcalendar.rows_to_csv(cal.rows(2026))
    assert text.splitlines()[0] == "date,is_workday,note,basis"
    assert "2026-02-14,1," in text and text.splitlines()[1].endswith(",official")
    parsed = workcalendar.parse_csv(text)
    assert parsed[2026] == full_year(2026, cal)

    template = workcalendar.template_csv(2027)
    assert "2027-01-01,0,元旦\n" in template and "2027-02-05,0,农历除夕\n" in template
    template = template.replace("2027-02-20,0,", "2027-02-20,1,调休上班")
    assert workcalendar.import_csv(session, "\ufeff" + template, "2027 notice") == [2027]
    assert workcalendar.load(session).day("2027-01-01").note == "元旦"
    assert workcalendar.load(session).day("2027-02-20").basis == "official"
    assert workcalendar.export_year(session, 2027)[0].source == "2027 notice"


def test_csv_accepts_spreadsheet_spellings() -> None:
    text = "Date,Is_Workday,Note\n2027/1/1,否,元旦\n\n2027-1-2,休,\n2027-01-04,是\n"
    parsed = workcalendar.parse_csv(text)[2027]
    assert parsed == {
        D("2027-01-01"): (False, "元旦"),
        D("2027-01-02"): (False, ""),
        D("2027-01-04"): (True, ""),
    }


def test_csv_errors_name_the_lines(session: Session) -> None:
    with pytest.raises(CalendarInvalid, match="header"):
        workcalendar.parse_csv("day,work\n2027-01-01,1\n")
    bad = "date,is_workday,note\n2027-01-01,0,\n2027-01-02,maybe,\n2027-13-01,1,\n2027-01-01,0,\n"
    with pytest.raises(CalendarInvalid) as caught:
        workcalendar.parse_csv(bad)
    message = str(caught.value)
    assert message.splitlines() == [
        "line 3: is_workday must be 1 or 0, got 'maybe'",
        "line 4: not a date: '2027-13-01' (use YYYY-MM-DD)",
        "line 5: 2027-01-01 is listed twice",
    ]
    with pytest.raises(CalendarInvalid, match="2027"):
        workcalendar.import_csv(session, "date,is_workday,note\n2027-01-01,0,元旦\n", "x")
    assert workcalendar.export_year(session, 2027) == []


# --- script helpers -------------------------------------------------------------------------


def test_helpers_need_the_calendar_of_a_step() -> None:
    with pytest.raises(ScriptError, match="inside a step"):
        workcalendar.script_helpers()["is_workday"]("2026-02-14")


@pytest.mark.usefixtures("builtin_step")
def test_helpers_through_the_restricted_environment() -> None:
    env = RestrictedEnvironment()
    assert env.evaluate("add_workdays('2026-09-28', 20)", {}) == "2026-10-30"
    assert env.evaluate("add_workdays(received_on, 20)", {"received_on": "2026-09-28"}) == (
        "2026-10-30"
    )
    assert env.evaluate("add_days('2026-09-28', 3)", {}) == "2026-10-08"
    assert env.evaluate("add_months('2026-01-31', 1)", {}) == "2026-02-28"
    assert env.evaluate("is_workday('2026-02-14')", {}) is True
    assert env.evaluate("workdays_between('2026-09-28', '2026-10-30')", {}) == 20
    assert env.evaluate("next_workday('2026-09-30')", {}) == "2026-10-08"
    assert env.evaluate("add_workdays('2026-10-09T10:00:00+08:00', 1)", {}) == (
        "2026-10-10T10:00:00" + SHANGHAI_OFFSET
    )
    with step_on(WorkCalendar(builtin_calendar().rows(2026))):
        assert env.evaluate("add_workdays('2026-12-20', 20)", {}) == "2027-01-18"  # provisional
        with pytest.raises(CalendarMissing, match="2205"):
            env.evaluate("add_workdays('2205-12-20', 20)", {})


def test_script_helpers_names() -> None:
    assert set(workcalendar.script_helpers()) == {
        "add_workdays",
        "add_days",
        "add_months",
        "is_workday",
        "workdays_between",
        "next_workday",
    }


# --- cross-check --------------------------------------------------------------------------------


def test_matches_the_holidays_package_2020_to_2026(cal: WorkCalendar) -> None:
    holidays = pytest.importorskip("holidays")
    china = holidays.China(years=range(2019, 2028))
    mismatches = [
        row.day
        for year in range(2020, 2027)
        for row in cal.rows(year)
        if row.is_workday != china.is_working_day(row.day)
    ]
    assert mismatches == []
