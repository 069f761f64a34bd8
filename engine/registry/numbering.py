"""Gapless document numbers: one counter per prefix and year, every allocation logged.

A number is ``PREFIX〔YEAR〕SERIAL号`` (发文字号 深鹏办〔2026〕12号, 收文号 深鹏办收〔2026〕3号,
answer number 深鹏公复〔2026〕8号, seal register 用印〔2026〕5号). The counter row is
incremented inside the caller's transaction, so a rolled-back step gives its number back
(no gap) and two concurrent steps never get the same one (no duplicate). A voided number
stays in the log as ``void`` and is never handed out again.

Classified documents are numbered in series of their own, one per level: the prefix gets
the level's mark (秘, 机, 绝), so 深鹏办收〔2026〕3号 is unclassified and 深鹏办收机〔2026〕1号
the first 机密 receipt. A gap in a series therefore never hints at a document above that
series' level; the marked prefixes are ordinary counters in the same tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, DocrouteError, NotFound
from engine.models import Document, NumberCounter, NumberLog

# DOMAIN.md §1.3: code + full year in 〔〕 + serial without padding + 号.
DOC_NUMBER = re.compile(r"^[\u4e00-\u9fa5]+〔\d{4}〕[1-9]\d*号$")
PREFIX = re.compile(r"^[\u4e00-\u9fa5]{1,20}$")
# The mark a classified series adds to its prefix, by level (none, 秘密, 机密, 绝密).
SERIES_MARKS = ("", "秘", "机", "绝")
_PARTS = re.compile(r"^(?P<prefix>[\u4e00-\u9fa5]+)〔(?P<year>\d{4})〕(?P<serial>[1-9]\d*)号$")


class NumberInvalid(DocrouteError):
    status = 422


@dataclass(frozen=True)
class Allocated:
    """One allocated number and its parts."""

    number: str
    prefix: str
    year: int
    serial: int


def office_year(at: datetime | None = None) -> int:
    """The year in the office's time zone (a number taken at 00:30 on 1 January is new-year)."""
    return (at or clock.now()).astimezone(clock.OFFICE_TZ).year


def format_number(prefix: str, year: int, serial: int) -> str:
    return f"{prefix}〔{year}〕{serial}号"


def is_doc_number(text: str) -> bool:
    """Whether ``text`` has the statutory form of a 发文字号."""
    return bool(DOC_NUMBER.match(text or ""))


def check_prefix(prefix: str) -> str:
    prefix = (prefix or "").strip()
    if not PREFIX.match(prefix):
        raise NumberInvalid(f"文号代字只能是汉字 / a number prefix is 1 to 20 Chinese "
                            f"characters (such as 深鹏办), not {prefix!r}")
    return prefix


def _ensure_counter(session: Session, prefix: str, year: int) -> None:
    # Two first allocations of a new year may race to create the row; the loser's insert
    # does nothing and both go on to the row-locked increment.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(NumberCounter).values(prefix=prefix, year=year, last=0)
                    .on_conflict_do_nothing())


def next_serial(session: Session, prefix: str, year: int) -> int:
    """Increment and return the counter of (prefix, year), creating it at 0 first."""
    # UPDATE ... RETURNING takes the same row lock as SELECT ... FOR UPDATE on PostgreSQL
    # (held to commit), in one round trip; SQLite's BEGIN IMMEDIATE already serialises.
    _ensure_counter(session, prefix, year)
    serial = session.execute(
        update(NumberCounter)
        .where(NumberCounter.prefix == prefix, NumberCounter.year == year)
        .values(last=NumberCounter.last + 1)
        .returning(NumberCounter.last)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(serial)


def series_prefix(prefix: str, classification: int) -> str:
    """The prefix of the series a document of that classification is numbered in."""
    return prefix + SERIES_MARKS[max(0, min(classification, len(SERIES_MARKS) - 1))]


def allocate(session: Session, prefix: str, actor: str, *, document_id: int | None = None,
             at: datetime | None = None, classification: int = 0) -> Allocated:
    """Take the next number of ``prefix`` (in the classification's series) and log it."""
    prefix = series_prefix(check_prefix(prefix), classification)
    when = at or clock.now()
    year = office_year(when)
    serial = next_serial(session, prefix, year)
    number = format_number(prefix, year, serial)
    session.add(NumberLog(prefix=prefix, year=year, serial=serial, number=number,
                          document_id=document_id, status="used", reason="", actor=actor,
                          at=when))
    session.flush()
    return Allocated(number, prefix, year, serial)


def void_number(session: Session, number: str, reason: str, actor: str) -> NumberLog:
    """Void an allocated number (logged, never reused); a document holding it loses it."""
    if not reason.strip():
        raise NumberInvalid("作废文号须说明理由 / give a reason for voiding a number")
    entry = session.scalars(select(NumberLog).where(NumberLog.number == number)
                            .with_for_update()).one_or_none()
    if entry is None:
        raise NotFound(f"文号 {number} 未曾编号 / the number {number} was never allocated")
    if entry.status == "void":
        raise Conflict(f"文号 {number} 已作废 / the number {number} is already void")
    entry.status, entry.reason = "void", reason.strip()
    entry.actor, entry.at = actor, clock.now()
    if entry.document_id is not None:
        document = session.get(Document, entry.document_id)
        if document is not None:
            _release(document, number)
    session.flush()
    return entry


def _release(document: Document, number: str) -> None:
    if document.doc_number == number:
        document.doc_number = None
    fields = dict(document.fields or {})
    for key, value in list(fields.items()):
        if value == number:
            del fields[key]
    fields.setdefault("voided_numbers", [])
    fields["voided_numbers"] = [*fields["voided_numbers"], number]
    document.fields = fields


def log_for(session: Session, prefix: str, year: int) -> list[NumberLog]:
    """The allocation log of one counter, in serial order."""
    return list(session.scalars(select(NumberLog).where(NumberLog.prefix == prefix,
                                                        NumberLog.year == year)
                                .order_by(NumberLog.serial)))


def parse_number(number: str) -> Allocated | None:
    match = _PARTS.match(number or "")
    if match is None:
        return None
    return Allocated(number, match["prefix"], int(match["year"]), int(match["serial"]))
