"""provisional calendar years: deadlines and task due dates know they are provisional,
and a ledger of the dates steps computed over provisional years (issue 10)

Revision ID: 0005_calendar
Revises: 0004_audit
Create Date: 2026-12-03 08:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005_calendar'
down_revision = '0004_audit'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deadlines') as batch:
        batch.add_column(sa.Column('provisional', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('due_provisional', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        'provisional_dates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.String(length=36), nullable=True),
        sa.Column('op', sa.String(length=16), nullable=False),
        sa.Column('start', sa.String(length=40), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('result', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['instances.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_provisional_dates_instance_id', 'provisional_dates', ['instance_id'])


def downgrade() -> None:
    op.drop_index('ix_provisional_dates_instance_id', table_name='provisional_dates')
    op.drop_table('provisional_dates')
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('due_provisional')
    with op.batch_alter_table('deadlines') as batch:
        batch.drop_column('provisional')
