"""document search: normalised search_text, trigram index (PostgreSQL) or FTS5 (SQLite)

Revision ID: 0010_search
Revises: 0005_calendar
Create Date: 2026-12-03 08:15:00

Clerks search by document number with or without brackets, by a number's prefix and by
words of the title or summary (issue 15 item 8): substring matches, which only a trigram
index serves. engine/search.py writes ``search_text``; this fills it for existing rows.
"""
import json

import sqlalchemy as sa
from alembic import op

from engine.registry.search import SEARCHED_FIELDS, normalise

revision = '0010_search'
down_revision = '0005_calendar'
branch_labels = None
depends_on = None

_SEPARATOR = "\x1f"


def _text(title: str, number: str | None, fields: object) -> str:
    # Same rule as engine.registry.search.search_text, on plain column values.
    if isinstance(fields, str):
        fields = json.loads(fields or "{}")
    values = fields if isinstance(fields, dict) else {}
    parts = [title or "", number or ""] + [str(values.get(n) or "") for n in SEARCHED_FIELDS]
    return _SEPARATOR.join(normalise(p) for p in parts if p)


def upgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.add_column(sa.Column('search_text', sa.Text(), nullable=False,
                                   server_default=''))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, title, doc_number, fields FROM documents")).all()
    for row in rows:
        bind.execute(sa.text("UPDATE documents SET search_text = :t WHERE id = :id"),
                     {"t": _text(row.title, row.doc_number, row.fields), "id": row.id})
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_documents_search_trgm ON documents "
                   "USING gin (search_text gin_trgm_ops)")
        return
    op.execute("CREATE VIRTUAL TABLE document_search USING fts5("
               "search_text, content='documents', content_rowid='id', tokenize='trigram')")
    op.execute("CREATE TRIGGER documents_search_ai AFTER INSERT ON documents BEGIN "
               "INSERT INTO document_search(rowid, search_text) "
               "VALUES (new.id, new.search_text); END")
    op.execute("CREATE TRIGGER documents_search_ad AFTER DELETE ON documents BEGIN "
               "INSERT INTO document_search(document_search, rowid, search_text) "
               "VALUES ('delete', old.id, old.search_text); END")
    op.execute("CREATE TRIGGER documents_search_au AFTER UPDATE OF search_text ON documents "
               "BEGIN INSERT INTO document_search(document_search, rowid, search_text) "
               "VALUES ('delete', old.id, old.search_text); "
               "INSERT INTO document_search(rowid, search_text) "
               "VALUES (new.id, new.search_text); END")
    op.execute("INSERT INTO document_search(document_search) VALUES ('rebuild')")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_documents_search_trgm")
    else:
        for name in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS documents_search_{name}")
        op.execute("DROP TABLE IF EXISTS document_search")
    with op.batch_alter_table('documents') as batch:
        batch.drop_column('search_text')
