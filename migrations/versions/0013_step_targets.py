"""step targets: how long a step may take by urgency, for tasks without a due date (issue 14)

Revision ID: 0013_step_targets
Revises: 0012_inbox_indexes
Create Date: 2026-12-03 08:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_step_targets'
down_revision = '0012_inbox_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'step_targets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('process_key', sa.String(length=128), nullable=False),
        sa.Column('step', sa.String(length=128), nullable=False),
        sa.Column('urgency', sa.String(length=16), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('unit', sa.String(length=16), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('process_key', 'step', 'urgency'),
    )


def downgrade() -> None:
    op.drop_table('step_targets')
