"""case links: a meeting decision or a leader's instruction and the follow-up it opened (issue 16)

Revision ID: 0011_case_links
Revises: 0010_search
Create Date: 2026-12-03 08:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_case_links'
down_revision = '0010_search'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source_id', sa.Integer(), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('relation', sa.String(length=32), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['source_id'], ['instances.id']),
        sa.ForeignKeyConstraint(['target_id'], ['instances.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source_id', 'target_id'),
    )
    op.create_index('ix_case_links_source_id', 'case_links', ['source_id'])
    op.create_index('ix_case_links_target_id', 'case_links', ['target_id'])


def downgrade() -> None:
    op.drop_index('ix_case_links_target_id', table_name='case_links')
    op.drop_index('ix_case_links_source_id', table_name='case_links')
    op.drop_table('case_links')
