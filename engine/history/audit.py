"""Tamper evidence, case search and case export for auditors.

Chain heads
    A pure hash chain cannot tell a chain whose last events were deleted from a shorter
    one. Every transaction that appends to (or rewrites) a chain therefore records the
    chain's last ``seq`` and ``hash`` in ``chain_heads`` (migration 0004_audit), in the
    same transaction, through a session hook installed when this module is imported
    (``engine/__init__`` does). ``verify_chains`` checks every chain against its head.

Keys and checkpoints (migration 0008)
    Event hashes are keyed with the history key (``engine/history.py``), and every head
    carries a keyed mark (``mac``), so a rewrite through the database alone shows as an
    edited event or an edited end. Events written before keying are checked with plain
    SHA-256 up to the chain's anchor (``chain_anchors``, itself keyed). Verification can
    also be given *pins*: each chain's end as recorded in signed checkpoints
    (``engine/checkpoints.py``); a chain that no longer reaches, or differs at, a pinned
    event was rewritten or truncated after the checkpoint was signed.

Verification streams the events ordered by (chain, seq) with ``yield_per``, so memory
stays flat however many cases the database holds.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, create_engine, event, exists, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from engine import clock
from engine.definitions import forms
from engine.models import Base, Definition, Document, Event, Instance, Task
from engine.org import access
from engine.org.identity import Actor

from . import chain as history
from . import replay


class ChainHead(Base):
    """The last event of one chain, written with every append: anchors the chain's end."""

    __tablename__ = "chain_heads"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column()
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)  # history.head_mac


class ChainAnchor(Base):
    """A chain's end when history became keyed (migration 0008): events up to ``seq``
    carry plain SHA-256 hashes, and ``mac`` (history.anchor_mac) proves the boundary."""

    __tablename__ = "chain_anchors"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column()
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))
    anchored_at: Mapped[datetime] = mapped_column()


@dataclass(frozen=True)
class Pin:
    """A chain's end as a signed checkpoint recorded it."""

    seq: int
    hash: str
    checkpoint: int


@dataclass(frozen=True)
class ChainKeys:
    """What one chain is checked against besides itself."""

    key: bytes
    head: tuple[int, str, str | None] | None = None  # seq, hash, mac
    anchor: tuple[int, str, str] | None = None  # seq, hash, mac
    pins: tuple[Pin, ...] = ()  # every genuine checkpoint's record of this chain


# --- keeping the heads ---------------------------------------------------------------------

_TOUCHED = "docroute_touched_chains"


def listen(sessions: sessionmaker[Session]) -> None:
    """Keep every chain's head at every commit of the sessions ``sessions`` makes
    (``engine.wiring`` attaches this to each ``Docroute``'s factory)."""
    event.listen(sessions, "after_flush", _note_chains)
    event.listen(sessions, "before_commit", _write_heads)
    event.listen(sessions, "after_rollback", _forget_chains)


def _note_chains(session: Session, _context: Any) -> None:
    touched = {obj.chain for obj in list(session.new) + list(session.dirty)
               if isinstance(obj, Event)}
    if touched:
        session.info.setdefault(_TOUCHED, set()).update(touched)


def _write_heads(session: Session) -> None:
    session.flush()  # events changed after the last flush (a rewritten payload) count too
    history.seal_pending(session)  # the system chain's events are sealed at commit
    chains = session.info.pop(_TOUCHED, None)
    if not chains:
        return
    key = history.keys_for(session).mac_key
    for chain in sorted(chains):
        # The end this transaction sealed (the usual case), else read it back.
        last = history.sealed_end(session, chain) or session.execute(
            select(Event.seq, Event.hash).where(Event.chain == chain)
            .order_by(Event.seq.desc()).limit(1)).first()
        if last is None:
            continue
        mac = history.head_mac(key, chain, last.seq, last.hash)
        moved = session.execute(update(ChainHead).where(ChainHead.chain == chain)
                                .values(seq=last.seq, hash=last.hash, mac=mac))
        if moved.rowcount == 0:  # type: ignore[attr-defined]
            session.add(ChainHead(chain=chain, seq=last.seq, hash=last.hash, mac=mac))
    session.info.pop(_TOUCHED, None)


def _forget_chains(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: chains touched before it still need their heads moved
    session.info.pop(_TOUCHED, None)


# --- verifying chains ----------------------------------------------------------------------

CHECKPOINTS = "checkpoints"  # the Problem.chain of a problem with a checkpoint itself


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one chain; ``seq`` is the position (1-based) in the chain."""

    chain: str
    seq: int
    kind: str  # edited | deleted | inserted | reordered | truncated | unanchored | checkpoint
    detail: str

    @property
    def where(self) -> str:
        if self.chain.startswith("case:"):
            return f"case {self.chain[5:]}, event {self.seq}"
        if self.chain == CHECKPOINTS:
            return f"checkpoint {self.seq}"
        return f"{self.chain} chain, event {self.seq}"

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.detail}"


@dataclass
class ChainReport:
    chains: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    checkpoints: int = 0  # signed checkpoints checked (engine/checkpoints.py)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def broken_chains(self) -> list[str]:
        return sorted({p.chain for p in self.problems})


def _recomputed(event_row: Any, seq: int, key: bytes | None) -> str:
    return history.event_hash(event_row.prev_hash, event_row.chain, seq, event_row.type,
                              event_row.actor, event_row.at, event_row.task_id,
                              event_row.task_name, event_row.payload, key)


def check_chain(chain: str, rows: Iterator[Any] | list[Any],
                against: ChainKeys) -> tuple[int, list[Problem]]:
    """Check one chain's rows (in seq order) against its head, anchor and pins; (events
    seen, problems)."""
    problems: list[Problem] = []
    unkeyed_to, anchor_hash = _anchor(chain, against, problems)
    expected_seq, expected_prev, count = 1, history.GENESIS, 0
    last_seq, last_hash = 0, history.GENESIS
    pinned = _by_seq(against.pins)
    moved = False  # the previous row was reordered: this row's broken link is explained
    for row in rows:
        count += 1
        if row.seq > expected_seq:
            missing = (f"event {expected_seq}" if row.seq == expected_seq + 1
                       else f"events {expected_seq} to {row.seq - 1}")
            problems.append(Problem(chain, expected_seq, "deleted", f"{missing} missing"))
        key = None if row.seq <= unkeyed_to else against.key
        if _recomputed(row, row.seq, key) != row.hash:
            problems.append(_altered(chain, row, key))
        elif row.prev_hash != expected_prev and row.seq == expected_seq and not moved:
            problems.append(Problem(chain, row.seq, "inserted",
                                    "does not follow the event before it: an event was "
                                    "inserted, deleted or replaced before this one"))
        moved = bool(problems) and problems[-1].seq == row.seq \
            and problems[-1].kind == "reordered"
        if not _owner_matches(chain, row):
            problems.append(Problem(chain, row.seq, "edited",
                                    f"belongs to chain {chain} but names case "
                                    f"{row.instance_id}"))
        if row.seq == unkeyed_to and row.hash != anchor_hash:
            problems.append(Problem(chain, row.seq, "edited",
                                    "the history written before keying was rewritten "
                                    "(this event is not the one anchored at the upgrade)"))
        if row.seq in pinned:
            problems.extend(_check_pins(chain, row.hash, pinned[row.seq]))
        expected_seq, expected_prev = row.seq + 1, row.hash
        last_seq, last_hash = row.seq, row.hash
    problems.extend(_check_head(chain, last_seq, last_hash, count, against))
    problems.extend(_pins_beyond(chain, last_seq, against.pins))
    return count, problems


def _anchor(chain: str, against: ChainKeys, problems: list[Problem]) -> tuple[int, str]:
    """(last unkeyed seq, its hash): 0 unless a genuine anchor says otherwise."""
    if against.anchor is None:
        return 0, ""
    seq, hash_, mac = against.anchor
    if mac != history.anchor_mac(against.key, chain, seq, hash_):
        problems.append(Problem(chain, seq, "edited",
                                "the chain's anchor of the history written before keying "
                                "was not made with this server's history key"))
        return 0, ""
    return seq, hash_


def _altered(chain: str, row: Any, key: bytes | None) -> Problem:
    for other in (row.seq - 1, row.seq + 1, row.seq - 2, row.seq + 2):
        if other > 0 and _recomputed(row, other, key) == row.hash:
            return Problem(chain, row.seq, "reordered",
                           f"this event was recorded as event {other}")
    return Problem(chain, row.seq, "edited",
                   "its content no longer matches its keyed hash (payload, actor, time, "
                   "type or task was changed, or the event was not written by docroute)")


def _owner_matches(chain: str, row: Any) -> bool:
    if chain.startswith("case:"):
        return str(row.instance_id) == chain[5:]
    return row.instance_id is None


def _check_head(chain: str, last_seq: int, last_hash: str, count: int,
                against: ChainKeys) -> list[Problem]:
    head = against.head
    if head is None:
        if count:
            return [Problem(chain, last_seq, "unanchored",
                            "the chain has no recorded head (events were inserted into a "
                            "chain that was never written by docroute)")]
        return []
    head_seq, head_hash, mac = head
    if mac != history.head_mac(against.key, chain, head_seq, head_hash):
        return [Problem(chain, head_seq, "edited",
                        "the chain's recorded end was not written by docroute (its keyed "
                        "mark does not match)")]
    if count == 0:
        return [Problem(chain, 1, "deleted", f"all {head_seq} events of the chain are gone")]
    if last_seq < head_seq:
        return [Problem(chain, last_seq + 1, "truncated",
                        f"the chain ends at event {last_seq} but {head_seq} were recorded")]
    if last_seq > head_seq:
        return [Problem(chain, head_seq + 1, "inserted",
                        f"events after the recorded end (event {head_seq}) were added")]
    if last_hash != head_hash:
        return [Problem(chain, last_seq, "edited",
                        "the last event is not the one recorded as the chain's end")]
    return []


def _by_seq(pins: tuple[Pin, ...]) -> dict[int, list[Pin]]:
    out: dict[int, list[Pin]] = {}
    for pin in pins:
        out.setdefault(pin.seq, []).append(pin)
    return out


def _check_pins(chain: str, hash_: str, pins: list[Pin]) -> list[Problem]:
    # Every checkpoint counts, not only the latest: a rewrite between two checkpoints
    # agrees with the later one and only the earlier one still shows it.
    for pin in pins:
        if hash_ != pin.hash:
            return [Problem(chain, pin.seq, "edited",
                            f"this event differs from the one signed checkpoint "
                            f"{pin.checkpoint} recorded: history before it was rewritten")]
    return []


def _pins_beyond(chain: str, last_seq: int, pins: tuple[Pin, ...]) -> list[Problem]:
    furthest = max(pins, key=lambda p: (p.seq, p.checkpoint), default=None)
    if furthest is None or furthest.seq <= last_seq:
        return []
    return [Problem(chain, last_seq + 1, "truncated",
                    f"signed checkpoint {furthest.checkpoint} recorded {furthest.seq} events; "
                    f"the chain now ends at event {last_seq}")]


Progress = Callable[[int, int, int], None]  # (chains done, events done, chains in total)


@contextmanager
def reading(docroute: Any) -> Iterator[Session]:
    """A session for a long read (verifying every chain) that never blocks writers.

    docroute's SQLite engine starts every transaction with BEGIN IMMEDIATE (the write
    lock); a plain pysqlite connection reads a WAL snapshot without it. PostgreSQL reads
    never block writers, so the normal session is used there.
    """
    if docroute.engine.dialect.name != "sqlite":
        with docroute.session() as session:
            yield session
        return
    engine = create_engine(docroute.engine.url, connect_args={"timeout": 30})
    history.use_keys(engine, docroute.keys)
    try:
        # Read only: it commits nothing, so it needs none of the session listeners.
        with Session(engine, info=dict(docroute.session_info)) as session:
            yield session
    finally:
        engine.dispose()


def verify_chains(session: Session, *, pins: dict[str, tuple[Pin, ...]] | None = None,
                  progress: Progress | None = None, every: int = 1000,
                  batch: int = 5000) -> ChainReport:
    """Check every chain (cases and system) and every case's anchor; streams the events.

    ``pins`` (``checkpoints.pins``) are the chains' ends as signed checkpoints recorded
    them: a chain must still reach every event a pin names, unchanged.
    """
    key = history.keys_for(session).mac_key
    pins = pins or {}
    heads = {c: (s, h, m) for c, s, h, m in session.execute(
        select(ChainHead.chain, ChainHead.seq, ChainHead.hash, ChainHead.mac))}
    anchors = {c: (s, h, m) for c, s, h, m in session.execute(
        select(ChainAnchor.chain, ChainAnchor.seq, ChainAnchor.hash, ChainAnchor.mac))}

    def against(chain: str) -> ChainKeys:
        return ChainKeys(key, heads.get(chain), anchors.get(chain), pins.get(chain, ()))

    total = session.scalar(select(func.count(func.distinct(Event.chain)))) or 0
    report = ChainReport()
    seen: set[str] = set()
    columns = (Event.chain, Event.seq, Event.instance_id, Event.type, Event.actor, Event.at,
               Event.task_id, Event.task_name, Event.payload, Event.prev_hash, Event.hash)
    stream = session.execute(select(*columns).order_by(Event.chain, Event.seq)
                             .execution_options(yield_per=batch))
    for chain, rows in _by_chain(stream):
        count, problems = check_chain(chain, rows, against(chain))
        seen.add(chain)
        report.chains += 1
        report.events += count
        report.problems.extend(problems)
        if progress is not None and report.chains % every == 0:
            progress(report.chains, report.events, total)
    for chain in sorted((set(heads) | set(pins)) - seen):
        report.problems.extend(check_chain(chain, [], against(chain))[1])
    for (instance_id,) in session.execute(select(Instance.id).order_by(Instance.id)
                                          .execution_options(yield_per=batch)):
        if history.case_chain(instance_id) not in seen and \
                history.case_chain(instance_id) not in heads:
            report.problems.append(Problem(history.case_chain(instance_id), 1, "deleted",
                                           "the case has no history at all"))
    if progress is not None:
        progress(report.chains, report.events, total)
    return report


def _by_chain(stream: Any) -> Iterator[tuple[str, Iterator[Any]]]:
    """Group a (chain, seq)-ordered row stream into one lazy iterator per chain."""
    iterator = iter(stream)
    pending = next(iterator, None)
    while pending is not None:
        chain = pending.chain
        state = {"row": pending}

        def rows(chain: str = chain, state: dict[str, Any] = state) -> Iterator[Any]:
            while state["row"] is not None and state["row"].chain == chain:
                yield state["row"]
                state["row"] = next(iterator, None)

        yield chain, rows()
        for _ in rows():  # drain what the consumer left
            pass
        pending = state["row"]


def verify_case_chain(session: Session, instance_id: int, rows: list[Any] | None = None,
                      pins: tuple[Pin, ...] = ()) -> list[Problem]:
    chain = history.case_chain(instance_id)
    if rows is None:
        rows = replay.case_event_rows(session, instance_id)
    head = session.get(ChainHead, chain)
    anchor = session.get(ChainAnchor, chain)
    against = ChainKeys(history.keys_for(session).mac_key,
                        (head.seq, head.hash, head.mac) if head else None,
                        (anchor.seq, anchor.hash, anchor.mac) if anchor else None, pins)
    return check_chain(chain, rows, against)[1]


@dataclass(frozen=True)
class CaseVerification:
    """Both checks of one case: its chain is intact, and replay rebuilds its state."""

    instance_id: int
    chain_problems: tuple[Problem, ...]
    replay: replay.Verdict
    final_hash: str
    events: int

    @property
    def ok(self) -> bool:
        return not self.chain_problems and self.replay.ok

    def lines(self) -> list[str]:
        if self.ok:
            return ["verified"]
        out = [str(p) for p in self.chain_problems]
        if not self.replay.ok:
            out.append(f"replay differs: {self.replay.difference}")
        return out


def verify_case(session: Session, instance_id: int,
                pins: tuple[Pin, ...] = ()) -> CaseVerification:
    rows = replay.case_event_rows(session, instance_id)
    problems = tuple(verify_case_chain(session, instance_id, rows, pins))
    verdict = replay.verify(session, instance_id, rows)
    last = rows[-1] if rows else None
    return CaseVerification(instance_id, problems, verdict, last.hash if last else "",
                            last.seq if last else 0)


# --- searching cases -----------------------------------------------------------------------

STATUSES = ("running", "suspended", "error", "completed", "terminated")


@dataclass(frozen=True)
class CaseSearch:
    """Filters for ``search_cases``; empty values do not filter."""

    q: str = ""  # title or document number
    doc_number: str = ""
    title: str = ""
    department: str = ""
    process: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    overdue: bool = False
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class CaseRow:
    id: int
    title: str
    doc_number: str
    department: str
    process_key: str
    process_name: str
    version: int
    status: str
    classification: int
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    overdue: bool


def _office_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.OFFICE_TZ)


def _overdue_clause(now: datetime) -> Any:
    return exists(select(Task.id).where(Task.instance_id == Instance.id,
                                        Task.due_at.is_not(None), Task.due_at < now))


def search_cases(session: Session, actor: Actor, flt: CaseSearch) -> tuple[list[CaseRow], int]:
    """Cases of every process the actor is cleared for, newest first; (page, total)."""
    now = clock.now()
    overdue = _overdue_clause(now)
    query = (select(Instance, Document, Definition, overdue.label("overdue"))
             .join(Definition, Definition.id == Instance.definition_id)
             .outerjoin(Document, Document.id == Instance.document_id)
             .where(access.visible_cases_clause(actor)))
    if flt.q.strip():
        pattern = f"%{flt.q.strip()}%"
        query = query.where(or_(Instance.title.ilike(pattern), Document.title.ilike(pattern),
                                Document.doc_number.ilike(pattern)))
    if flt.title.strip():
        pattern = f"%{flt.title.strip()}%"
        query = query.where(or_(Instance.title.ilike(pattern), Document.title.ilike(pattern)))
    if flt.doc_number.strip():
        query = query.where(Document.doc_number.ilike(f"%{flt.doc_number.strip()}%"))
    if flt.department.strip():
        query = query.where(Document.department == flt.department.strip())
    if flt.process:
        query = query.where(Definition.key == flt.process)
    if flt.status:
        query = query.where(Instance.status == flt.status)
    if flt.date_from:
        query = query.where(Instance.started_at >= _office_start(flt.date_from))
    if flt.date_to:
        query = query.where(Instance.started_at < _office_start(flt.date_to + timedelta(1)))
    if flt.overdue:
        query = query.where(and_(Instance.status.in_(("running", "suspended", "error")),
                                 overdue))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(Instance.started_at.desc(), Instance.id.desc()) \
        .limit(max(0, min(flt.limit, 100_000))).offset(max(0, flt.offset))
    rows = [CaseRow(i.id, i.title, (d.doc_number or "") if d else "",
                    d.department if d else "", p.key, p.name, p.version, i.status,
                    i.classification, i.started_by, i.started_at, i.ended_at, bool(late))
            for i, d, p, late in session.execute(page)]
    return rows, total


def departments(session: Session, actor: Actor) -> list[str]:
    """The departments of the documents the actor may see, for the search filter.

    Only these: a department named by nothing but a secret document would reveal it.
    """
    query = (select(Document.department).distinct()
             .where(Document.id.in_(access.visible_document_ids(actor)),
                    Document.department != ""))
    return sorted(session.scalars(query))


CSV_COLUMNS = ("id", "doc_number", "title", "department", "process", "version", "status",
               "classification", "started_by", "started_at", "ended_at", "overdue")


def cases_csv(rows: list[CaseRow], headers: list[str] | None = None) -> bytes:
    """Search results as CSV: UTF-8 with a BOM, so Excel opens Chinese text correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers or list(CSV_COLUMNS))
    for r in rows:
        writer.writerow([r.id, *map(_cell, (r.doc_number, r.title, r.department,
                                            r.process_name)),
                         r.version, *map(_cell, (r.status, r.classification, r.started_by)),
                         _office(r.started_at), _office(r.ended_at), "yes" if r.overdue else ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(text: object) -> str:
    # Every text cell: one starting with = + - @ (or a tab or CR before one) is a formula
    # to Excel and LibreOffice; the apostrophe keeps it text (OWASP's CSV injection advice).
    text = "" if text is None else str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _office(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.UTC)
    return value.astimezone(clock.OFFICE_TZ).strftime("%Y-%m-%d %H:%M")


# --- export --------------------------------------------------------------------------------


def case_export(session: Session, instance_id: int) -> dict[str, Any]:
    """One case's complete history with its verification result and the chain's end hash."""
    instance = session.get(Instance, instance_id)
    if instance is None:
        from engine.errors import NotFound

        raise NotFound(f"no case with id {instance_id}")
    check = verify_case(session, instance_id)
    document = instance.document
    events = [{"seq": e.seq, "type": e.type, "actor": e.actor, "at": e.at.isoformat(),
               "task_id": e.task_id, "task_name": e.task_name,
               "payload": json.loads(e.payload), "prev_hash": e.prev_hash, "hash": e.hash}
              for e in history.case_events(session, instance_id)]
    return {
        "case": {"id": instance.id, "title": instance.title, "status": instance.status,
                 "process": instance.definition.key, "process_name": instance.definition.name,
                 "version": instance.definition.version,
                 "classification": instance.classification,
                 "started_by": instance.started_by,
                 "started_at": instance.started_at.isoformat(),
                 "ended_at": instance.ended_at.isoformat() if instance.ended_at else None,
                 "document": ({"id": document.id, "doc_number": document.doc_number,
                               "title": document.title, "department": document.department}
                              if document else None)},
        "events": forms.json_safe(events),
        "verification": {"ok": check.ok, "chain_intact": not check.chain_problems,
                         "replay_matches": check.replay.ok, "problems": check.lines()
                         if not check.ok else [],
                         "unknown_event_types": list(check.replay.unknown_types),
                         "events": check.events, "final_hash": check.final_hash,
                         "verified_at": clock.now().isoformat()},
    }


# --- demo cases ------------------------------------------------------------------------------
# ``docroute demo`` runs this (a demo seeder): two seal requests driven through the
# shipped process by the demo users, one finished after a send-back, one still waiting, so
# an auditor has a finished case to step through and verify right after ``make run``.

_DEMO_DECISIONS = {"approve_director": ["return", "approve"],
                   "approve_leader": ["return", "approve"]}


def _demo_value(name: str, schema: dict[str, Any], task_spec: str, seen: dict[str, int],
                title: str = "") -> Any:
    if name == "decision" and task_spec in _DEMO_DECISIONS:
        plan = _DEMO_DECISIONS[task_spec]
        return plan[min(seen.get(task_spec, 0), len(plan) - 1)]
    enum = schema.get("enum")
    if enum:
        for preferred in ("approve", "management_committee"):
            if preferred in enum:
                return preferred
        return enum[0]
    kind = schema.get("type")
    if kind == "boolean":
        return name != "signed_document"  # unsigned: the approvals run
    if kind in ("integer", "number"):
        return max(int(schema.get("minimum", 1)), 2)
    if schema.get("format") == "date-time":
        return clock.now().astimezone(clock.OFFICE_TZ).isoformat(timespec="seconds")
    if schema.get("format") == "date":
        return clock.now().astimezone(clock.OFFICE_TZ).date().isoformat()
    # Text fields (title, purpose, basis) describe this case's own request, never another's.
    return "同意。演示数据。" if "opinion" in name else title or "用印申请"


def _demo_worker(session: Session, row: Task) -> Actor | None:
    from engine.org import identity

    if row.assignee:
        user = identity.find_user(session, row.assignee)
        return Actor.of(user) if user else None
    for group in row.candidate_groups or []:
        for user in identity.members(session, group):
            if user.active and not user.is_auditor and user.clearance >= row.classification:
                return Actor.of(user)
    return None


def _demo_drive(app: Any, instance_id: int, steps: int) -> None:
    from engine.runtime import cases as runtime

    seen: dict[str, int] = {}
    for _ in range(steps):
        with app.session() as session:
            row = session.scalars(select(Task).where(Task.instance_id == instance_id)
                                  .order_by(Task.created_at, Task.id)).first()
            if row is None:
                return
            instance = session.get(Instance, instance_id)
            schema = runtime.task_form(session, instance, row)
            required = set(schema.get("required") or [])
            data = {k: _demo_value(k, sub, row.spec, seen, instance.title or "")
                    for k, sub in (schema.get("properties") or {}).items()
                    if k in required and not sub.get("readOnly")}
            worker = _demo_worker(session, row)
            if worker is None:
                return
            if row.assignee is None:
                runtime.claim(session, row.id, worker)
            runtime.complete(session, row.id, worker, data)
            seen[row.spec] = seen.get(row.spec, 0) + 1


def seed_demo_cases(app: Any) -> None:
    """Start two seal requests as 张丽; finish the first (with one send-back)."""
    from engine.errors import DocrouteError
    from engine.org import identity
    from engine.runtime import cases as runtime

    try:
        with app.session() as session:
            clerk = identity.find_user(session, "zhangli")
            if clerk is None or runtime.definitions.latest(session, "seal_use") is None:
                return
            actor = Actor.of(clerk)
        ids = []
        for title in ("关于2026年防汛应急演练通知的用印申请", "关于签订物业服务合同的用印申请"):
            with app.session() as session:
                ids.append(runtime.start_case(session, actor, "seal_use", {},
                                              title=title).id)
        _demo_drive(app, ids[0], 20)
        _demo_drive(app, ids[1], 1)
    except DocrouteError as error:
        import sys

        print(f"docroute demo: the audit demo cases were not created: {error}", file=sys.stderr)

