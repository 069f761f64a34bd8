"""case facts: the per-case row and steps the performance figures read (issue 16)

Revision ID: 0014_case_facts
Revises: 0009_authority
Create Date: 2026-12-03 11:30:00

The tables start empty; ``docroute kpi rebuild`` fills them from the events of the cases
that exist (and every step keeps them current from then on).
"""
import sqlalchemy as sa
from alembic import op

revision = '0014_case_facts'
down_revision = '0009_authority'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_facts',
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('process_key', sa.String(length=128), nullable=False),
        sa.Column('process_name', sa.String(length=256), nullable=False),
        sa.Column('unit', sa.String(length=64), nullable=False),
        sa.Column('started_on', sa.Date(), nullable=False),
        sa.Column('ended_on', sa.Date(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('deadline', sa.Date(), nullable=True),
        sa.Column('answered', sa.Boolean(), nullable=False),
        sa.Column('satisfaction', sa.String(length=32), nullable=False),
        sa.Column('delivered', sa.Boolean(), nullable=False),
        sa.Column('result_code', sa.String(length=32), nullable=False),
        sa.Column('applicant_type', sa.String(length=32), nullable=False),
        sa.Column('tracked', sa.Boolean(), nullable=False),
        sa.Column('last_seq', sa.Integer(), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=True),
        sa.Column('values', sa.JSON(), nullable=False),
        sa.Column('specs', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['instances.id']),
        sa.PrimaryKeyConstraint('instance_id'),
    )
    op.create_index('ix_case_facts_started_on', 'case_facts', ['started_on'])
    op.create_table(
        'case_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('started_on', sa.Date(), nullable=False),
        sa.Column('unit', sa.String(length=64), nullable=False),
        sa.Column('process_name', sa.String(length=256), nullable=False),
        sa.Column('step', sa.String(length=256), nullable=False),
        sa.Column('workdays', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['instances.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_case_steps_grouped', 'case_steps',
                    ['unit', 'process_name', 'step', 'started_on', 'workdays'])
    op.create_index('ix_case_steps_instance', 'case_steps', ['instance_id'])


def downgrade() -> None:
    op.drop_table('case_steps')
    op.drop_table('case_facts')
