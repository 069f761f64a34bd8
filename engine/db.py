"""Database engine, sessions, schema upgrades and the per-case row lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from .models import Instance

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and BEGIN IMMEDIATE transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # JIT compilation pays off for long analytic queries; docroute's are short, and the
    # planner's cost estimate for the inbox's "all" scope triggered it (10-197 ms per
    # query against 38 ms without).
    kwargs.setdefault("connect_args", {"options": "-c jit=off"})
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write, which lets
    # two writers read the same case before either locks it. Taking over BEGIN and issuing
    # BEGIN IMMEDIATE serialises writers at the start of every unit of work.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A unit of work that only reads needs no write lock: plain BEGIN lets it run
        # beside a writer (WAL), instead of queueing behind every step.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine, info: dict[str, Any] | None = None
                      ) -> sessionmaker[Session]:
    """Sessions that keep loaded rows after commit; ``info`` starts every session's info."""
    return sessionmaker(engine, expire_on_commit=False, info=info or {})


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    with factory.begin() as session:
        yield session


READ_ONLY = "docroute_read_only"


@contextmanager
def reading(factory: sessionmaker[Session], engine: Engine) -> Iterator[Session]:
    """One transaction that only reads: it never commits (anything written is rolled
    back), and on SQLite it does not wait for the write lock."""
    with factory(bind=engine.execution_options(**{READ_ONLY: True})) as session:
        session.begin()
        try:
            yield session
        finally:
            session.rollback()


def upgrade_schema(engine: Engine, *, history_key: bytes | None = None) -> None:
    """Bring the database to the newest Alembic revision (creating it if empty).

    ``history_key`` lets migration 0008 anchor the history written before keying; a
    database that already holds events cannot pass 0008 without it.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["history_key"] = history_key
        # "heads": migrations written side by side may branch from one revision; each
        # applies to its own tables, so all of them are applied.
        command.upgrade(config, "heads")


def lock_instance(session: Session, instance_id: int) -> Instance | None:
    """Load a case row for update; on PostgreSQL this takes the row lock.

    SQLite needs no row lock: every write transaction starts with BEGIN IMMEDIATE,
    which already holds the database's single write lock.
    """
    # populate_existing: the row as it is now, even if this session loaded it before the
    # lock (one statement instead of a lock and a refresh).
    return session.scalars(
        select(Instance).where(Instance.id == instance_id).with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
