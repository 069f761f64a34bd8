"""accounts: a session epoch per user (logout, password reset and deactivation end every
session), failed-login counting and a temporary lock, and named API tokens with expiry,
last use and revocation (issue 12 items 10-12)

Revision ID: 0006_accounts
Revises: 0007_classification
Create Date: 2026-12-03 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006_accounts'
down_revision = '0007_classification'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('name', sa.String(length=128), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        for column in ('revoked_at', 'last_used_at', 'expires_at', 'name'):
            batch.drop_column(column)
    with op.batch_alter_table('users') as batch:
        for column in ('locked_until', 'failed_logins', 'session_epoch'):
            batch.drop_column(column)
