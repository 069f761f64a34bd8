"""chain heads: each hash chain's last event, so a truncated chain is detected (issue 7)

Revision ID: 0004_audit
Revises: 0002_deadlines
Create Date: 2026-11-27 22:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_audit'
down_revision = '0002_deadlines'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'chain_heads',
        sa.Column('chain', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('chain'),
    )
    # Anchor the chains written before this revision at their current end.
    op.execute(
        "INSERT INTO chain_heads (chain, seq, hash) "
        "SELECT e.chain, e.seq, e.hash FROM events e "
        "JOIN (SELECT chain, MAX(seq) AS seq FROM events GROUP BY chain) m "
        "ON e.chain = m.chain AND e.seq = m.seq"
    )


def downgrade() -> None:
    op.drop_table('chain_heads')
