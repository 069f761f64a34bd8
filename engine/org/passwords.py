"""The password policy: long enough, not a common password, not made of the user's names.

The common passwords are zxcvbn's list (30,000 passwords from public breach corpora, the
list Dropbox's strength estimator ships); the package is a dependency, so the list is
updated with it and never fetched at run time.
"""

from __future__ import annotations

import re
from functools import lru_cache

from engine.errors import DocrouteError

MIN_LENGTH = 10
MAX_LENGTH = 256  # a longer "password" is a paste accident or an attempt to slow hashing


class PasswordRefused(DocrouteError):
    """A password the policy refuses; the message says why."""

    status = 422


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def _core(text: str) -> str:
    # "Zhangli2026!" and "zhang.li" are the same guess as "zhangli".
    return re.sub(r"[\W\d_]+", "", text.lower())


def _derived_from(password: str, names: list[str]) -> bool:
    core = _core(password)
    lowered = password.lower()
    for name in names:
        plain = _core(name) or name.lower().strip()
        if len(plain) < (3 if plain.isascii() else 2):  # Chinese names have 2-3 characters
            continue
        if plain in core or plain[::-1] in core or plain in lowered:
            return True
        if core and len(core) >= 3 and core in plain:
            return True
    return False


def problem(password: str, *, username: str = "", name: str = "") -> str | None:
    """Why the policy refuses ``password`` for this user, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password may have at most {MAX_LENGTH} characters"
    lowered = password.lower()
    if lowered in _common() or _core(password) in _common() or len(set(lowered)) < 4:
        return "this password is too common or too simple; choose another"
    if _derived_from(password, [username, name, *name.split()]):
        return "a password must not contain the user's name or username"
    return None


def require_acceptable(password: str, *, username: str = "", name: str = "") -> None:
    """Raise ``PasswordRefused`` unless the policy accepts ``password``."""
    reason = problem(password, username=username, name=name)
    if reason is not None:
        raise PasswordRefused(reason)
