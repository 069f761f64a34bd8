"""history keys: a keyed chain, keyed chain ends, anchors of the unkeyed past, checkpoints

From this revision on, event hashes are HMAC-SHA256 under the history key, which lives
outside the database (engine/keys.py). Events written before it keep their SHA-256
hashes: this upgrade re-anchors every chain at its current end, with a keyed mark
(``chain_anchors``), so the unkeyed past still verifies and cannot be rewritten by
someone who holds the database alone. The upgrade needs the history key for that, so a
database that holds events is upgraded by ``docroute init`` (which hands the key over),
never by a bare ``alembic upgrade``.

Revision ID: 0008_history_keys
Revises: 0013_step_targets
Create Date: 2026-12-03 08:10:00
"""
import hmac

import sqlalchemy as sa
from alembic import context, op

revision = '0008_history_keys'
down_revision = '0013_step_targets'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chain_heads') as batch:
        batch.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    op.create_table(
        'chain_anchors',
        sa.Column('chain', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('mac', sa.String(length=64), nullable=False),
        sa.Column('anchored_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('chain'),
    )
    op.create_table(
        'checkpoints',
        sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('signature', sa.String(length=128), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('heads', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('number'),
    )
    op.create_table(
        'checkpoint_heads',
        sa.Column('chain', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('chain'),
    )
    _anchor_unkeyed_history()


def _mark(key: bytes, kind: str, chain: str, seq: int, hash_: str) -> str:
    # Frozen copy of engine.history._mark: a migration must not change with the code.
    message = "\x1f".join((kind, chain, str(seq), hash_)).encode("utf-8")
    return hmac.digest(key, message, "sha256").hex()


def _anchor_unkeyed_history() -> None:
    from datetime import UTC, datetime

    connection = op.get_bind()
    heads = connection.execute(sa.text("SELECT chain, seq, hash FROM chain_heads")).all()
    if not heads:
        return
    key = context.config.attributes.get("history_key")
    if not key:
        raise RuntimeError("this database holds history written before keying; upgrade it "
                           "with `docroute init`, which anchors it with the history key")
    now = datetime.now(UTC)
    anchors = sa.table('chain_anchors', sa.column('chain'), sa.column('seq'),
                       sa.column('hash'), sa.column('mac'),
                       sa.column('anchored_at', sa.DateTime(timezone=True)))
    op.bulk_insert(anchors, [
        {"chain": c, "seq": s, "hash": h, "mac": _mark(key, "anchor", c, s, h),
         "anchored_at": now} for c, s, h in heads])
    for chain, seq, hash_ in heads:
        connection.execute(sa.text("UPDATE chain_heads SET mac = :mac WHERE chain = :chain"),
                           {"mac": _mark(key, "head", chain, seq, hash_), "chain": chain})


def downgrade() -> None:
    op.drop_table('checkpoint_heads')
    op.drop_table('checkpoints')
    op.drop_table('chain_anchors')
    with op.batch_alter_table('chain_heads') as batch:
        batch.drop_column('mac')
