"""calendar version: a token that changes with every change to the working-day calendar

Revision ID: 0015_calendar_version
Revises: 0014_case_facts
Create Date: 2026-12-03 14:20:00

Every process keeps the calendar in memory; reading this one row now and then tells a web
worker or ``docroute worker`` that an administrator changed it in another process.
"""
import sqlalchemy as sa
from alembic import op

revision = '0015_calendar_version'
down_revision = '0014_case_facts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'calendar_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(table, [{'id': 1, 'token': 'initial'}])


def downgrade() -> None:
    op.drop_table('calendar_version')
