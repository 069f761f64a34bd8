"""Finding documents by what a clerk types: numbers, titles, 内容摘要.

People type document numbers in every form: 深鹏办收〔2026〕4号, 深鹏办收[2026]4号,
深鹏办收(2026)4号, or just the issuer's code 粤应急. So each document keeps one
``search_text`` column, written here whenever the row is inserted or updated: its title,
document number, receipt and sender's numbers, sending organ and summary, lower-cased,
with brackets and white space removed. A query is normalised the same way and matched
as a substring, which covers numbers with or without brackets, prefixes and words of the
title or summary alike.

The substring match is indexed on both backends (migration 0010): PostgreSQL uses a
``pg_trgm`` GIN index on ``documents.search_text`` (it serves ``LIKE '%…%'`` for Chinese
text, where word-splitting full-text search would need an extra tokenizer); SQLite keeps
an FTS5 table with the ``trigram`` tokenizer (``document_search``), filled by triggers,
which serves the same ``LIKE`` from its index.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, event, false, or_, select, text
from sqlalchemy.orm import Session

from engine.models import Document, Task

# Fields of ``Document.fields`` a clerk searches by, beside title and number.
SEARCHED_FIELDS = ("receipt_number", "source_number", "source_org", "summary",
                   "supervision_number", "proposal_number", "related_number")
_STRIPPED = re.compile(r"[\s〔〕\[\]【】()（）「」《》<>]+")
MAX_QUERY = 100
# Parts are joined with a character no query can contain after normalising, so a match
# never straddles two fields.
_SEPARATOR = "\x1f"


def normalise(value: str) -> str:
    """Lower-case, without brackets and white space: the form both sides are compared in."""
    return _STRIPPED.sub("", value).lower()


def search_text(document: Document) -> str:
    """The text a document is found by (see the module docstring)."""
    fields = document.fields or {}
    parts = [document.title or "", document.doc_number or ""]
    parts += [str(fields.get(name) or "") for name in SEARCHED_FIELDS]
    return _SEPARATOR.join(normalise(p) for p in parts if p)


def listen() -> None:
    """Keep ``documents.search_text`` current on every write (``engine.wiring`` installs this).

    A mapper event, so it stays on the ``Document`` class rather than on one ``Docroute``'s
    session factory: the column is derived from the row alone, the same for every
    ``Docroute`` in the process. Idempotent: every ``Docroute`` calls it.
    """
    for name in ("before_insert", "before_update"):
        if not event.contains(Document, name, _keep_search_text):
            event.listen(Document, name, _keep_search_text)


def _keep_search_text(_mapper: Any, _connection: Any, document: Document) -> None:
    # A mapper event, so every route that writes a document (registration, the case's
    # document operators, admin, API) keeps the column current without remembering to.
    document.search_text = search_text(document)


def _pattern(query: str) -> str | None:
    needle = normalise(query[:MAX_QUERY])
    if not needle:
        return None
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matching_documents(session: Session, query: str) -> Select[Any]:
    """Ids of the documents whose title, numbers, sending organ or summary contain ``query``.

    Brackets and white space in ``query`` are ignored, so 粤应急〔2026〕88号, 粤应急[2026]88号
    and 粤应急 all find 粤应急〔2026〕88号. Visibility is the caller's filter, applied with it.
    """
    pattern = _pattern(query)
    if pattern is None:
        return select(Document.id).where(false())
    if session.get_bind().dialect.name == "sqlite" and len(pattern) >= 5:
        # The FTS5 trigram index answers LIKE itself (its rowid is the document id), but
        # not a LIKE with an ESCAPE clause (only a query holding % or _ needs one), and it
        # matches nothing shorter than three characters: those scan the column instead.
        clause = "search_text LIKE :pattern" + (" ESCAPE '\\'" if "\\" in pattern else "")
        return select(text("rowid")).select_from(text("document_search")).where(
            text(clause).bindparams(pattern=pattern))
    return select(Document.id).where(Document.search_text.like(pattern, escape="\\"))


def document_matches(session: Session, query: str) -> ColumnElement[bool]:
    """A condition on ``Document``: it matches ``query`` (see ``matching_documents``)."""
    return Document.id.in_(matching_documents(session, query))


def task_matches(session: Session, query: str) -> ColumnElement[bool]:
    """A condition on ``Task``: its document matches ``query``, or its case title does."""
    pattern = _pattern(query)
    if pattern is None:
        return false()
    return or_(Task.document_id.in_(matching_documents(session, query)),
               Task.title.icontains(query.strip()[:MAX_QUERY], autoescape=True))
