"""One id type and range for every route, form and API: the databases' int4 keys.

Primary keys are ``Integer`` columns (PostgreSQL int4), so an id past 2^31 - 1 cannot
exist; comparing with one fails on PostgreSQL instead of finding nothing.
"""

from __future__ import annotations

MAX_ID = 2**31 - 1


def parse_id(value: object) -> int | None:
    """An id from untrusted input (form, query, JSON): ASCII digits in range, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= MAX_ID else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
        return number if 1 <= number <= MAX_ID else None
    return None
