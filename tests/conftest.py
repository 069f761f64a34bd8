"""Shared fixtures: a real database (SQLite and PostgreSQL), a movable clock, users.

Every test that asks for ``docroute`` runs once per backend. PostgreSQL tests use a fresh
database created for this run on the server named by ``DOCROUTE_TEST_POSTGRES_URL``;
without it they are skipped locally, and under CI they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from engine import Docroute, Settings, clock, db
from engine.models import Base
from engine.org import identity

DATA = Path(__file__).parent / "data"
POSTGRES_URL = os.environ.get("DOCROUTE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "docroute.sqlite3"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade_schema(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("DOCROUTE_TEST_POSTGRES_URL must be set in CI")
        pytest.skip("DOCROUTE_TEST_POSTGRES_URL is not set")
    server = make_url(POSTGRES_URL)
    name = f"docroute_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.upgrade_schema(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "docroute.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    """A never-committed session with an empty calendar table: in-memory SQLite, or the
    run's PostgreSQL test database (for the calendar tests, which need no app)."""
    from sqlalchemy import delete

    from engine.models import CalendarDay

    if request.param == "sqlite":
        engine = db.make_engine("sqlite://")
        Base.metadata.create_all(engine)
    else:
        engine = db.make_engine(request.getfixturevalue("postgres_database"))
    with Session(engine) as s:
        s.execute(delete(CalendarDay))
        yield s
        s.rollback()
    engine.dispose()


@pytest.fixture
def manual_clock() -> Iterator[clock.ManualClock]:
    previous = clock.get_default_clock()
    fixed = clock.ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # Mon 09:00 in Shanghai
    clock.set_default_clock(fixed)
    yield fixed
    clock.set_default_clock(previous)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url,
                    forms_dir=DATA / "forms", workflows_dir=DATA / "workflows")


@pytest.fixture
def docroute(settings: Settings, manual_clock: clock.ManualClock) -> Iterator[Docroute]:
    app = Docroute(settings)
    yield app
    app.engine.dispose()


@pytest.fixture
def people(docroute: Docroute) -> dict[str, identity.Actor]:
    """A small organisation: a clerk, two reviewers in one group, a leader, an admin."""
    with docroute.session() as s:
        identity.add_group(s, "clerks", "收发员", kind="role")
        identity.add_group(s, "reviewers", "核稿人", kind="role")
        identity.add_group(s, "leaders", "领导", kind="role")
        identity.add_user(s, "clerk", "张丽", "password1", groups=["clerks"])
        identity.add_user(s, "rev1", "吴静", "password1", groups=["reviewers"],
                          clearance="secret")
        identity.add_user(s, "rev2", "周强", "password1", groups=["reviewers"])
        identity.add_user(s, "boss", "林海", "password1", groups=["leaders"],
                          clearance="top_secret")
        identity.add_user(s, "admin", "管理员", "password1", is_admin=True,
                          clearance="top_secret")
    with docroute.session() as s:
        return {u.username: identity.Actor.of(u) for u in identity.list_users(s)}


def empty_postgres(url: str) -> None:
    """Empty every table of a PostgreSQL test database (one per worker, shared by the
    modules that run there) so a module's data never starts with another's rows."""
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def shipped_office(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docroute]:
    """One app per backend and test module: shipped workflows and forms, demo organisation.

    For suites that run many requests against one database (the role x route matrix,
    confidentiality): each test makes its own documents and cases instead of a fresh
    database, which would cost a full ``init`` per test.
    """
    from engine import demo

    home = tmp_path_factory.mktemp("office")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'docroute.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")
        empty_postgres(url)
    previous = clock.get_default_clock()
    clock.set_default_clock(clock.ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))
    app = Docroute(Settings(home=home / "home", database_url=url))
    app.init()
    with app.session() as s:
        demo.seed_organisation(s)
    yield app
    app.engine.dispose()
    clock.set_default_clock(previous)
