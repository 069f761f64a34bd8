"""The append-only, hash-chained event log.

Every case has its own chain (``case:<id>``); deployments and administrative actions
that belong to no case form the ``system`` chain. Each event's hash covers the previous
hash and every stored field, so editing, deleting, inserting or reordering any row is
detected by ``verify``.

Keyed chain
    Since migration 0008 an event's hash is an HMAC-SHA256 under the history key
    (``engine/keys.py``), which is kept outside the database: someone with access to the
    database alone can no longer recompute the hashes of a rewritten history. Events
    written before keying keep their plain SHA-256 hashes; the upgrade recorded each
    chain's end at that moment in ``chain_anchors`` with a keyed mark, so they still
    verify and cannot be rewritten either (``engine/audit.py`` checks both).

One writer per chain
    Appends to one chain are serialised by a per-chain lock (a PostgreSQL advisory
    transaction lock; SQLite's BEGIN IMMEDIATE already serialises every writer). Case
    chains are appended at once, under the case row lock their callers hold. The system
    chain is written by unrelated transactions (registrations, users, tokens, deploys)
    that may also hold case or counter locks, so its events are sealed (numbered, linked
    and hashed) just before the transaction commits: its lock is then the last one any
    transaction takes, and no two transactions can wait on each other through it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, select, text
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, sessionmaker

from engine import clock
from engine.models import Event

from .keys import HistoryKeys

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"


# Advisory locks of docroute's history live under this first key ("dr" + 1), apart from
# any other user of advisory locks in the same database.
_LOCK_SPACE = 0x64720001
_PENDING = "docroute_pending_system_events"
# The last event this transaction sealed per chain: the next append and the chain head
# (engine/audit.py) need not read it back.
SEALED = "docroute_sealed_chain_ends"
_KEYS: weakref.WeakKeyDictionary[Engine, HistoryKeys] = weakref.WeakKeyDictionary()


class NoHistoryKey(RuntimeError):
    """History was written or checked through an engine that no ``Docroute`` set up."""


def use_keys(engine: Engine, keys: HistoryKeys) -> None:
    """Make every session bound to ``engine`` hash and check history with ``keys``."""
    _KEYS[engine] = keys


def keys_for(session: Session) -> HistoryKeys:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    keys = _KEYS.get(engine)
    if keys is None:
        raise NoHistoryKey("this database engine has no history key: build it with "
                           "engine.Docroute, which loads the keys from DOCROUTE_HOME")
    return keys


def case_chain(instance_id: int) -> str:
    return f"case:{instance_id}"


def lock_chain(session: Session, chain: str) -> None:
    """Hold the chain's append lock until the transaction ends (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:chain))"),
                        {"space": _LOCK_SPACE, "chain": chain})


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
               task_id: str | None, task_name: str | None, payload: str,
               key: bytes | None = None) -> str:
    """The event's hash: keyed (HMAC-SHA256) with ``key``, plain SHA-256 (before 0008)
    without."""
    fields = [prev_hash, chain, str(seq), type_, actor, _stamp(at), task_id or "",
              task_name or "", payload]
    message = "\x1f".join(fields).encode("utf-8")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.digest(key, b"event\x1f" + message, "sha256").hex()


def head_mac(key: bytes, chain: str, seq: int, hash_: str) -> str:
    """The keyed mark of a chain's recorded end: a forger cannot move the end."""
    return _mark(key, "head", chain, seq, hash_)


def anchor_mac(key: bytes, chain: str, seq: int, hash_: str) -> str:
    """The keyed mark of a chain's end at keying: events up to ``seq`` are unkeyed."""
    return _mark(key, "anchor", chain, seq, hash_)


def _mark(key: bytes, kind: str, chain: str, seq: int, hash_: str) -> str:
    message = "\x1f".join((kind, chain, str(seq), hash_)).encode("utf-8")
    return hmac.digest(key, message, "sha256").hex()


def _stamp(at: datetime) -> str:
    # SQLite hands back naive datetimes; hash the UTC wall time in one fixed format.
    if at.tzinfo is not None:
        at = at.astimezone(clock.UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _last(session: Session, chain: str) -> Any:
    """The chain's last (seq, hash), or None (only those two columns: a payload can be big)."""
    return session.execute(
        select(Event.seq, Event.hash).where(Event.chain == chain).order_by(Event.seq.desc())
        .limit(1)
    ).first()


def append(session: Session, chain: str, type_: str, actor: str, payload: dict[str, Any], *,
           instance_id: int | None = None, task_id: str | None = None,
           task_name: str | None = None, at: datetime | None = None) -> Event:
    """Append one event to a chain.

    A case chain's event is written at once (its caller holds the case lock); a system
    event is sealed at commit (see the module docstring), so its ``seq`` and ``hash`` are
    set only then.
    """
    event = Event(chain=chain, instance_id=instance_id, type=type_, actor=actor,
                  at=at or clock.now(), task_id=task_id, task_name=task_name,
                  payload=canonical_json(payload))
    if chain == SYSTEM_CHAIN:
        keys_for(session)  # fail now, not at commit, when the engine has no key
        session.info.setdefault(_PENDING, []).append(event)
        return event
    _seal(session, event)
    return event


def _seal(session: Session, event: Event) -> None:
    key = keys_for(session).mac_key
    lock_chain(session, event.chain)
    previous = sealed_end(session, event.chain) or _last(session, event.chain)
    event.seq = previous.seq + 1 if previous else 1
    event.prev_hash = previous.hash if previous else GENESIS
    event.hash = event_hash(event.prev_hash, event.chain, event.seq, event.type, event.actor,
                            event.at, event.task_id, event.task_name, event.payload, key)
    session.add(event)
    session.flush()
    session.info.setdefault(SEALED, {})[event.chain] = event


def sealed_end(session: Session, chain: str) -> Event | None:
    """The chain's last event if this transaction sealed it and it is still written.

    Not after a savepoint rolled it back, nor once anything changed it since.
    """
    event = session.info.get(SEALED, {}).get(chain)
    if event is None:
        return None
    state = sa_inspect(event)
    if not state.persistent or state.session is not session or event in session.dirty:
        return None
    return event


def seal_pending(session: Session) -> None:
    """Write the system events this transaction appended (before it commits)."""
    for event in session.info.pop(_PENDING, None) or ():
        _seal(session, event)


def _seal_before_commit(session: Session) -> None:
    seal_pending(session)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(SEALED, None)


@sa_event.listens_for(Session, "after_commit")
def _forget_sealed(session: Session) -> None:
    session.info.pop(SEALED, None)


def listen(sessions: sessionmaker[Session]) -> None:
    """Seal the system chain's events at every commit of the sessions ``sessions`` makes
    (``engine.wiring`` attaches this to each ``Docroute``'s factory)."""
    sa_event.listen(sessions, "before_commit", _seal_before_commit)
    sa_event.listen(sessions, "after_rollback", _drop_pending)


def append_case(session: Session, instance_id: int, type_: str, actor: str,
                payload: dict[str, Any], **kwargs: Any) -> Event:
    return append(session, case_chain(instance_id), type_, actor, payload,
                  instance_id=instance_id, **kwargs)


def append_system(session: Session, type_: str, actor: str, payload: dict[str, Any]) -> Event:
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


def verify_events(chain: str, events: Iterable[Event],
                  key: bytes | None = None) -> Iterator[ChainBreak]:
    """Check one chain's events (in seq order) and yield every break found.

    With ``key`` every event must carry its keyed hash; without it, plain SHA-256 (a
    chain written before keying). ``engine.history.audit`` checks chains that hold both.
    """
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
                            event.at, event.task_id, event.task_name, event.payload, key)
        if actual != event.hash:
            yield ChainBreak(chain, event.seq, "content was altered (hash mismatch)")
        expected_prev, expected_seq = event.hash, expected_seq + 1
