"""Signed checkpoints of every chain's end, as Certificate Transparency signs tree heads.

A checkpoint records, for every chain whose end moved since the previous checkpoint, its
last event number and hash, and is signed with the server's Ed25519 signing key (kept
outside the database, ``engine/keys.py``). Checkpoints form a chain of their own: each
names the SHA-256 of the previous one's body.

The timer worker writes one periodically when anything changed (``write``), and
``docroute audit checkpoint`` or an administrator writes one on demand. Auditors export
them (``export``) with the public key and keep the file: ``verify`` then checks history
against the stored checkpoints and against the copies they supply, so a rewrite or a
truncation after a checkpoint is caught even if the database's own checkpoints were
rolled back too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import String, Text, func, insert, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine import clock
from engine.errors import DocrouteError
from engine.models import Base

from . import audit, keys
from . import chain as history
from .audit import CHECKPOINTS, ChainHead, ChainReport, Pin, Problem

FORMAT = "docroute-checkpoint/1"
EXPORT_FORMAT = "docroute-checkpoints/1"


class Checkpoint(Base):
    """One signed checkpoint; ``body`` is the signed canonical JSON, kept verbatim."""

    __tablename__ = "checkpoints"

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(16))
    heads: Mapped[int] = mapped_column()  # chains recorded in the body


class CheckpointHead(Base):
    """Each chain's end as last checkpointed: tells the next checkpoint what moved.

    Bookkeeping only: verification trusts signed bodies, never this table.
    """

    __tablename__ = "checkpoint_heads"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column()
    hash: Mapped[str] = mapped_column(String(64))


class CheckpointFileInvalid(DocrouteError):
    """A supplied checkpoint file that cannot be read."""


@dataclass(frozen=True)
class Signed:
    """A checkpoint as stored or supplied: its number, signed body and signature."""

    number: int
    body: str
    signature: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()

    def content(self) -> dict[str, Any]:
        value = json.loads(self.body)
        return value if isinstance(value, dict) else {}


# --- writing ---------------------------------------------------------------------------------


def write(session: Session, *, force: bool = False) -> Checkpoint | None:
    """Sign a checkpoint of every chain end that moved; None when nothing moved (unless
    ``force``: an on-demand checkpoint also attests that nothing changed)."""
    keys_ = history.keys_for(session)
    history.lock_chain(session, CHECKPOINTS)  # one writer at a time (PostgreSQL)
    previous = session.scalars(select(Checkpoint).order_by(Checkpoint.number.desc())
                               .limit(1)).first()
    moved = session.execute(
        select(ChainHead.chain, ChainHead.seq, ChainHead.hash)
        .outerjoin(CheckpointHead, CheckpointHead.chain == ChainHead.chain)
        .where(or_(CheckpointHead.chain.is_(None), CheckpointHead.seq != ChainHead.seq,
                   CheckpointHead.hash != ChainHead.hash))
        .order_by(ChainHead.chain)).all()
    if not moved and not force:
        return None
    number = previous.number + 1 if previous else 1
    now = clock.now()
    body = history.canonical_json({
        "format": FORMAT, "number": number, "at": now.isoformat(),
        "previous": Signed(previous.number, previous.body, "").digest if previous
        else history.GENESIS,
        "key_id": keys_.key_id, "heads": {c: [s, h] for c, s, h in moved}})
    row = Checkpoint(number=number, at=now, body=body, key_id=keys_.key_id, heads=len(moved),
                     signature=keys_.sign(body.encode("utf-8")))
    session.add(row)
    _remember(session, moved)
    session.flush()
    return row


def write_due(session: Session, now: datetime,
              every: timedelta = timedelta(minutes=10)) -> Checkpoint | None:
    """The worker's periodic checkpoint: written when the last one is ``every`` old (or
    there is none) and some chain's end moved since."""
    last = session.scalar(select(func.max(Checkpoint.at)))
    if last is not None and now - last < every:
        return None
    return write(session)


def _remember(session: Session, moved: Sequence[Any]) -> None:
    names = [c for c, _, _ in moved]
    known: set[str] = set()
    for start in range(0, len(names), 500):
        known.update(session.scalars(select(CheckpointHead.chain)
                                     .where(CheckpointHead.chain.in_(names[start:start + 500]))))
    fresh = [{"chain": c, "seq": s, "hash": h} for c, s, h in moved if c not in known]
    changed = [{"chain": c, "seq": s, "hash": h} for c, s, h in moved if c in known]
    if fresh:
        session.execute(insert(CheckpointHead), fresh)
    if changed:
        session.execute(update(CheckpointHead), changed)


# --- reading, exporting ----------------------------------------------------------------------


def stored(session: Session) -> list[Signed]:
    return [Signed(n, b, s) for n, b, s in session.execute(
        select(Checkpoint.number, Checkpoint.body, Checkpoint.signature)
        .order_by(Checkpoint.number))]


def listing(session: Session, limit: int = 100) -> list[Checkpoint]:
    return list(session.scalars(select(Checkpoint).order_by(Checkpoint.number.desc())
                                .limit(limit)))


def export(session: Session) -> dict[str, Any]:
    """Every stored checkpoint with the public key: the file auditors keep."""
    keys_ = history.keys_for(session)
    return {"format": EXPORT_FORMAT, "exported_at": clock.now().isoformat(),
            "key_id": keys_.key_id, "public_key": keys_.public_pem,
            "checkpoints": [{"number": c.number, "body": c.body, "signature": c.signature}
                            for c in stored(session)]}


def parse_export(data: bytes | str) -> list[Signed]:
    """The checkpoints of an exported file; CheckpointFileInvalid naming what is wrong."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise CheckpointFileInvalid(f"the checkpoint file is not JSON: {error}") from None
    if not isinstance(value, dict) or value.get("format") != EXPORT_FORMAT:
        raise CheckpointFileInvalid(f"the checkpoint file is not a docroute checkpoint export "
                                    f"(its \"format\" must be \"{EXPORT_FORMAT}\")")
    items = value.get("checkpoints")
    if not isinstance(items, list):
        raise CheckpointFileInvalid("the checkpoint file has no \"checkpoints\" list")
    out = []
    for index, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("number"), int)
                and isinstance(item.get("body"), str)
                and isinstance(item.get("signature"), str)):
            raise CheckpointFileInvalid(f"checkpoint #{index + 1} in the file needs a whole "
                                        f"\"number\", a \"body\" and a \"signature\"")
        out.append(Signed(item["number"], item["body"], item["signature"]))
    return out


# --- checking --------------------------------------------------------------------------------


def check(held: list[Signed], supplied: list[Signed],
          public: Ed25519PublicKey) -> tuple[dict[str, tuple[Pin, ...]], list[Problem]]:
    """The pins of every genuine checkpoint, and the problems with the checkpoints."""
    problems: list[Problem] = []
    good = _check_stored(held, public, problems)
    by_number = {c.number: c for c in held}
    for copy in supplied:
        if not _genuine(copy, public):
            problems.append(Problem(CHECKPOINTS, copy.number, "checkpoint",
                                    "the supplied copy is not signed by this server's key"))
            continue
        good.append(copy)
        mine = by_number.get(copy.number)
        if mine is None:
            problems.append(Problem(CHECKPOINTS, copy.number, "checkpoint",
                                    "the supplied checkpoint is missing from the database: "
                                    "its checkpoints were deleted or rolled back"))
        elif mine.body != copy.body:
            problems.append(Problem(CHECKPOINTS, copy.number, "checkpoint",
                                    "the database's checkpoint differs from the supplied "
                                    "copy"))
    return pins(good), problems


def _check_stored(held: list[Signed], public: Ed25519PublicKey,
                  problems: list[Problem]) -> list[Signed]:
    good: list[Signed] = []
    expected, previous = 1, history.GENESIS
    for row in held:
        if row.number > expected:
            problems.append(Problem(CHECKPOINTS, expected, "checkpoint",
                                    f"checkpoints {expected} to {row.number - 1} are "
                                    f"missing from the database"))
        if not _genuine(row, public):
            problems.append(Problem(CHECKPOINTS, row.number, "checkpoint",
                                    "its signature does not match: the stored checkpoint "
                                    "was altered"))
        else:
            if row.number == expected and row.content().get("previous") != previous:
                problems.append(Problem(CHECKPOINTS, row.number, "checkpoint",
                                        "it does not follow the checkpoint before it"))
            good.append(row)
        expected, previous = row.number + 1, row.digest
    return good


def _genuine(item: Signed, public: Ed25519PublicKey) -> bool:
    if not keys.signature_ok(public, item.body.encode("utf-8"), item.signature):
        return False
    try:
        content = item.content()
    except ValueError:
        return False
    return content.get("format") == FORMAT and content.get("number") == item.number


def pins(items: Iterable[Signed]) -> dict[str, tuple[Pin, ...]]:
    """Every chain end the given (genuine) checkpoints recorded, oldest checkpoint first."""
    out: dict[str, list[Pin]] = {}
    for item in sorted(items, key=lambda c: c.number):
        for chain, (seq, hash_) in (item.content().get("heads") or {}).items():
            out.setdefault(chain, []).append(Pin(int(seq), str(hash_), item.number))
    return {chain: tuple(found) for chain, found in out.items()}


def pins_for(session: Session, chain: str) -> tuple[Pin, ...]:
    """The chain's ends in every genuine stored checkpoint that names it (one case's
    Verify; the sequence of checkpoints itself is checked by ``verify``)."""
    public = history.keys_for(session).public_key
    rows = session.execute(select(Checkpoint.number, Checkpoint.body, Checkpoint.signature)
                           .where(Checkpoint.body.contains(f'"{chain}":'))
                           .order_by(Checkpoint.number))
    genuine = [item for item in (Signed(n, b, s) for n, b, s in rows)
               if _genuine(item, public)]
    return pins(genuine).get(chain, ())


def verify(session: Session, *, supplied: list[Signed] | None = None,
           public: Ed25519PublicKey | None = None, progress: audit.Progress | None = None,
           every: int = 1000) -> ChainReport:
    """Every chain, checked against itself, its keyed end, and every genuine checkpoint
    (stored and supplied); problems with the checkpoints themselves come first."""
    public = public or history.keys_for(session).public_key
    held = stored(session)
    chain_pins, problems = check(held, supplied or [], public)
    report = audit.verify_chains(session, pins=chain_pins, progress=progress, every=every)
    report.problems[:0] = problems
    report.checkpoints = len(held) + len(supplied or [])
    return report
