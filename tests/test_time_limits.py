"""Time limits entered on forms (``x-deadline`` date fields, engine/forms.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from engine import clock
from engine.deadlines import workcalendar
from engine.definitions import forms
from engine.errors import FormInvalid

SCHEMA = {"type": "object", "properties": {
    "deadline": {"type": "string", "format": "date", "x-deadline": True},
    "met_on": {"type": "string", "format": "date"},
}}


@pytest.fixture(autouse=True)
def _thursday_3_december_2026() -> Iterator[None]:
    previous = clock.get_default_clock()
    clock.set_default_clock(clock.ManualClock(datetime(2026, 12, 3, 2, 0, tzinfo=UTC)))
    yield
    clock.set_default_clock(previous)


# Official data through 2026 only, whatever a newer chinese-calendar release ships.
THROUGH_2026 = workcalendar.WorkCalendar(workcalendar.builtin_calendar().rows(2026))


def test_a_time_limit_in_the_past_is_refused_with_the_reason() -> None:
    with pytest.raises(FormInvalid) as refused:
        forms.validate(SCHEMA, {"deadline": "2026-11-01"}, THROUGH_2026)
    assert refused.value.errors["deadline"] == (
        "办理时限 2026-11-01 已过 / the time limit 2026-11-01 is in the past: choose "
        "2026-12-03 or later")
    # Other dates may lie in the past: only time limits are checked.
    assert forms.validate(SCHEMA, {"met_on": "2026-11-01"}, THROUGH_2026) == {
        "met_on": "2026-11-01"}


@pytest.mark.parametrize(("entered", "stored"), [
    ("2026-12-03", "2026-12-03"),  # today is fine
    ("2026-12-12", "2026-12-14"),  # a Saturday rolls to Monday
    ("2027-01-01", "2027-01-04"),  # 元旦 (provisional 2027) rolls past the weekend
])
def test_a_time_limit_on_a_day_off_rolls_to_the_next_working_day(entered: str,
                                                                 stored: str) -> None:
    assert forms.validate(SCHEMA, {"deadline": entered}, THROUGH_2026) == {"deadline": stored}


def test_a_time_limit_beyond_the_calendar_is_refused() -> None:
    with pytest.raises(FormInvalid) as refused:
        forms.validate(SCHEMA, {"deadline": "2205-01-01"}, THROUGH_2026)
    assert "2205" in refused.value.errors["deadline"]
