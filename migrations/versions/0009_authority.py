"""authority: unit heads and leaders, leaders' portfolios, issuers, 委托, tasks.designated

Revision ID: 0009_authority
Revises: 0006_accounts
Create Date: 2026-12-03 08:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_authority'
down_revision = '0006_accounts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('groups') as batch:
        batch.add_column(sa.Column('head', sa.String(length=64), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('deputies', sa.JSON(), nullable=False,
                                   server_default='[]'))
        batch.add_column(sa.Column('leader', sa.String(length=64), nullable=False,
                                   server_default=''))
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('designated', sa.String(length=64), nullable=True))
    op.create_table(
        'leaders',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('rank', sa.String(length=16), nullable=False),
        sa.Column('matters', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('username'),
    )
    op.create_table(
        'issuers',
        sa.Column('prefix', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('signer_level', sa.String(length=16), nullable=False),
        sa.Column('seals', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('prefix'),
    )
    op.create_table(
        'delegations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('from_user', sa.String(length=64), nullable=False),
        sa.Column('to_user', sa.String(length=64), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('scope', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_delegations_to', 'delegations', ['to_user', 'ends_on'])


def downgrade() -> None:
    op.drop_index('ix_delegations_to', table_name='delegations')
    op.drop_table('delegations')
    op.drop_table('issuers')
    op.drop_table('leaders')
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('designated')
    with op.batch_alter_table('groups') as batch:
        batch.drop_column('leader')
        batch.drop_column('deputies')
        batch.drop_column('head')
