"""The append-only, hash-chained event log.

Every case has its own chain (``case:<id>``); deployments and administrative actions
that belong to no case form the ``system`` chain. Each event's hash covers the previous
hash and every stored field, so editing, deleting, inserting or reordering any row is
detected by ``verify``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock
from .models import Event

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"


def case_chain(instance_id: int) -> str:
    return f"case:{instance_id}"


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot record a {type(value).__name__} in history")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_default)


def event_hash(prev_hash: str, chain: str, seq: int, type_: str, actor: str, at: datetime,
               task_id: str | None, task_name: str | None, payload: str) -> str:
    fields = [prev_hash, chain, str(seq), type_, actor, _stamp(at), task_id or "",
              task_name or "", payload]
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()


def _stamp(at: datetime) -> str:
    # SQLite hands back naive datetimes; hash the UTC wall time in one fixed format.
    if at.tzinfo is not None:
        at = at.astimezone(clock.UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _last(session: Session, chain: str) -> Event | None:
    return session.scalars(
        select(Event).where(Event.chain == chain).order_by(Event.seq.desc()).limit(1)
    ).first()


def append(session: Session, chain: str, type_: str, actor: str, payload: dict[str, Any], *,
           instance_id: int | None = None, task_id: str | None = None,
           task_name: str | None = None, at: datetime | None = None) -> Event:
    """Append one event to a chain. The caller holds the lock that serialises the chain."""
    previous = _last(session, chain)
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS
    at = at or clock.now()
    body = canonical_json(payload)
    event = Event(chain=chain, seq=seq, instance_id=instance_id, type=type_, actor=actor, at=at,
                  task_id=task_id, task_name=task_name, payload=body, prev_hash=prev_hash,
                  hash=event_hash(prev_hash, chain, seq, type_, actor, at, task_id, task_name,
                                  body))
    session.add(event)
    session.flush()
    return event


def append_case(session: Session, instance_id: int, type_: str, actor: str,
                payload: dict[str, Any], **kwargs: Any) -> Event:
    return append(session, case_chain(instance_id), type_, actor, payload,
                  instance_id=instance_id, **kwargs)


def append_system(session: Session, type_: str, actor: str, payload: dict[str, Any]) -> Event:
    # The system chain has no case row to lock; a unique (chain, seq) makes a concurrent
    # append fail and roll back rather than fork the chain.
    return append(session, SYSTEM_CHAIN, type_, actor, payload)


def case_events(session: Session, instance_id: int) -> list[Event]:
    return list(session.scalars(
        select(Event).where(Event.chain == case_chain(instance_id)).order_by(Event.seq)
    ))


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"{self.chain} event {self.seq}: {self.problem}"


def verify_events(chain: str, events: Iterable[Event]) -> Iterator[ChainBreak]:
    """Check one chain's events (in seq order) and yield every break found."""
    expected_prev, expected_seq = GENESIS, 1
    for event in events:
        if event.seq != expected_seq:
            kind = "missing or deleted" if event.seq > expected_seq else "duplicated or reordered"
            yield ChainBreak(chain, expected_seq, f"event {kind} (found seq {event.seq})")
            expected_seq = event.seq
        if event.prev_hash != expected_prev:
            yield ChainBreak(chain, event.seq, "does not follow the previous event "
                                               "(an event was inserted, removed or altered)")
        actual = event_hash(event.prev_hash, event.chain, event.seq, event.type, event.actor,
                            event.at, event.task_id, event.task_name, event.payload)
        if actual != event.hash:
            yield ChainBreak(chain, event.seq, "content was altered (hash mismatch)")
        expected_prev, expected_seq = event.hash, expected_seq + 1
