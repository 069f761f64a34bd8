"""documents.classified_by: who set a document's classification (定密), for 解密/变更

Revision ID: 0007_classification
Revises: 0008_history_keys
Create Date: 2026-12-03 08:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_classification'
down_revision = '0008_history_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "" falls back to the registrar, who set the classification of every existing document.
    op.add_column('documents', sa.Column('classified_by', sa.String(length=64), nullable=False,
                                         server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.drop_column('classified_by')
