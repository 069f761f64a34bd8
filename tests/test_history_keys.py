"""A database-only rewrite of history is caught (issue 12 item 7).

Forgers here work as insiders would, with plain SQL against the real database, on SQLite
and PostgreSQL: one holds the database alone; another has also stolen the history key
(but not the signing key), so only the signed checkpoints can catch them.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from engine import Docroute, Settings, clock, db, history
from engine.history import audit, checkpoints, keys
from engine.history.audit import ChainReport
from engine.models import Event
from engine.org import identity
from webui.cli import main as cli


@pytest.fixture
def office(docroute: Docroute) -> Docroute:
    """Some system history: groups and users, each one event on the system chain."""
    with docroute.session() as s:
        identity.add_group(s, "clerks", "收发员", kind="role")
    for name in ("clerk", "rev1", "rev2", "boss"):
        with docroute.session() as s:
            identity.add_user(s, name, name, "password1", groups=["clerks"])
    return docroute


def sql(docroute: Docroute, statement: str, **params: object) -> None:
    with docroute.engine.begin() as conn:
        conn.execute(text(statement), params)


def rows(docroute: Docroute, chain: str) -> list[Event]:
    with docroute.session() as s:
        return list(s.scalars(select(Event).where(Event.chain == chain).order_by(Event.seq)))


def rewrite(docroute: Docroute, chain: str, seq: int, actor: str,
            key: bytes | None = None) -> None:
    """Edit one event, recompute its hash and every later one, and move the chain's head:
    with ``key`` as a thief of the history key would, without it as a database-only
    insider would (plain SHA-256)."""
    events = rows(docroute, chain)
    prev = events[seq - 2].hash if seq > 1 else history.GENESIS
    with docroute.engine.begin() as conn:
        for event in events[seq - 1:]:
            who = actor if event.seq == seq else event.actor
            digest = history.event_hash(prev, chain, event.seq, event.type, who, event.at,
                                        event.task_id, event.task_name, event.payload, key)
            conn.execute(text("UPDATE events SET actor = :a, prev_hash = :p, hash = :h "
                              "WHERE id = :id"), {"a": who, "p": prev, "h": digest,
                                                  "id": event.id})
            prev = digest
        _move_head(conn, chain, events[-1].seq, prev, key)


def truncate(docroute: Docroute, chain: str, key: bytes | None = None) -> int:
    """Delete the chain's last event and point its head at the one before."""
    events = rows(docroute, chain)
    with docroute.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE id = :id"), {"id": events[-1].id})
        _move_head(conn, chain, events[-2].seq, events[-2].hash, key)
    return events[-1].seq


def _move_head(conn: object, chain: str, seq: int, digest: str, key: bytes | None) -> None:
    mac = history.head_mac(key, chain, seq, digest) if key else None
    conn.execute(text("UPDATE chain_heads SET seq = :s, hash = :h"  # type: ignore[attr-defined]
                      + (", mac = :m" if mac else "") + " WHERE chain = :c"),
                 {"s": seq, "h": digest, "m": mac, "c": chain})


def verify(docroute: Docroute, supplied: list[checkpoints.Signed] | None = None) -> ChainReport:
    with docroute.session() as s:
        return checkpoints.verify(s, supplied=supplied)


def found(report: ChainReport) -> list[tuple[str, int, str]]:
    return [(p.chain, p.seq, p.kind) for p in report.problems]


def sign(docroute: Docroute) -> checkpoints.Checkpoint:
    with docroute.session() as s:
        row = checkpoints.write(s, force=True)
    assert row is not None
    return row


# --- the keyed chain alone: the database-only forger ----------------------------------------


def test_untouched_history_verifies_with_keyed_hashes(office: Docroute) -> None:
    sign(office)
    report = verify(office)
    assert report.ok, report.problems
    assert report.chains == 1 and report.events == 5 and report.checkpoints == 1
    first = rows(office, "system")[0]
    plain = history.event_hash(first.prev_hash, "system", 1, first.type, first.actor,
                               first.at, first.task_id, first.task_name, first.payload)
    assert first.hash != plain  # keyed, not plain SHA-256


def test_recomputed_rewrite_without_the_key_is_caught(office: Docroute) -> None:
    rewrite(office, "system", 2, "intruder")
    problems = found(verify(office))
    assert ("system", 2, "edited") in problems
    assert ("system", 5, "edited") in problems  # the forged recorded end


def test_truncation_without_the_key_is_caught(office: Docroute) -> None:
    truncate(office, "system")
    assert found(verify(office)) == [("system", 4, "edited")]
    assert "recorded end was not written by docroute" in str(verify(office).problems[0])


# --- signed checkpoints: the forger who stole the history key --------------------------------


def test_key_thief_rewrite_is_caught_by_the_checkpoint(office: Docroute) -> None:
    sign(office)
    rewrite(office, "system", 2, "intruder", office.keys.mac_key)
    with office.session() as s:
        assert audit.verify_chains(s).ok  # what the key alone cannot protect
    report = verify(office)
    assert found(report) == [("system", 5, "edited")]
    assert "signed checkpoint 1 recorded" in str(report.problems[0])


def test_key_thief_truncation_is_caught_by_the_checkpoint(office: Docroute) -> None:
    sign(office)
    last = truncate(office, "system", office.keys.mac_key)
    report = verify(office)
    assert found(report) == [("system", last, "truncated")]
    assert "signed checkpoint 1 recorded 5 events" in str(report.problems[0])


def test_rolled_back_checkpoints_are_caught_by_the_auditors_copy(office: Docroute) -> None:
    sign(office)
    with office.session() as s:
        identity.add_user(s, "late", "late", "password1")
    sign(office)
    with office.session() as s:
        kept = checkpoints.parse_export(json.dumps(checkpoints.export(s)))
    truncate(office, "system", office.keys.mac_key)
    sql(office, "DELETE FROM checkpoints WHERE number = 2")
    assert verify(office).ok  # the database alone no longer shows it
    report = verify(office, kept)
    assert found(report) == [("checkpoints", 2, "checkpoint"), ("system", 6, "truncated")]
    assert "missing from the database" in str(report.problems[0])


def test_altered_or_deleted_checkpoints_are_reported(office: Docroute) -> None:
    for _ in range(3):
        sign(office)
    sql(office, "UPDATE checkpoints SET body = REPLACE(body, '\"system\"', '\"sys\"') "
                "WHERE number = 1")
    sql(office, "DELETE FROM checkpoints WHERE number = 2")
    problems = found(verify(office))
    assert ("checkpoints", 1, "checkpoint") in problems
    assert ("checkpoints", 2, "checkpoint") in problems
    with office.session() as s:
        forged = checkpoints.Signed(9, json.dumps({"format": checkpoints.FORMAT}), "00" * 64)
        _, trouble = checkpoints.check(checkpoints.stored(s), [forged], office.keys.public_key)
    assert "not signed by this server's key" in str(trouble[-1])


def test_checkpoints_record_only_moved_ends_and_chain_to_each_other(office: Docroute,
                                                                    manual_clock) -> None:
    first = sign(office)
    with office.session() as s:
        assert checkpoints.write(s) is None  # nothing moved
        assert checkpoints.write_due(s, clock.now()) is None
    with office.session() as s:
        identity.add_user(s, "late", "late", "password1")
    with office.session() as s:
        assert checkpoints.write_due(s, clock.now()) is None  # the last one is recent
    manual_clock.advance(timedelta(minutes=11))
    with office.session() as s:
        second = checkpoints.write_due(s, clock.now())
    assert second is not None and second.number == 2
    body = json.loads(second.body)
    assert body["heads"] == {"system": [6, rows(office, "system")[-1].hash]}
    assert body["previous"] == checkpoints.Signed(1, first.body, "").digest
    assert keys.signature_ok(office.keys.public_key, second.body.encode(), second.signature)


def test_one_chain_is_checked_against_every_checkpoint(office: Docroute) -> None:
    """A key thief rewrites an event between two checkpoints: the later checkpoint pins
    the forgery, the earlier one still shows it."""
    sign(office)
    rewrite(office, "system", 3, "intruder", office.keys.mac_key)
    with office.session() as s:
        identity.add_user(s, "late", "late", "password1")
    sign(office)
    events = rows(office, "system")
    with office.session() as s:
        pins = checkpoints.pins_for(s, "system")
        head = s.get(audit.ChainHead, "system")
    assert [(p.seq, p.checkpoint) for p in pins] == [(5, 1), (6, 2)]
    against = audit.ChainKeys(office.keys.mac_key, (head.seq, head.hash, head.mac), None, pins)
    problems = audit.check_chain("system", events, against)[1]
    assert [(p.seq, p.kind) for p in problems] == [(5, "edited")]
    assert "signed checkpoint 1 recorded" in str(problems[0])
    assert found(verify(office)) == [("system", 5, "edited")]


# --- the keys --------------------------------------------------------------------------------


def test_key_files_are_private_and_kept(tmp_path: Path) -> None:
    first = keys.load(tmp_path / "home")
    for name in (keys.HISTORY_KEY_FILE, keys.SIGNING_KEY_FILE):
        mode = stat.S_IMODE(os.stat(tmp_path / "home" / name).st_mode)
        assert mode == 0o600, name
    again = keys.load(tmp_path / "home")
    assert again.mac_key == first.mac_key and again.key_id == first.key_id
    assert keys.load_public_pem(first.public_pem).public_bytes_raw() == \
        first.public_key.public_bytes_raw()


def test_history_key_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCROUTE_HOME": str(tmp_path),
                                  "DOCROUTE_HISTORY_KEY": "ab" * 32})
    assert keys.load(settings.home, settings.history_key).mac_key == b"\xab" * 32
    assert not (tmp_path / keys.HISTORY_KEY_FILE).exists()
    with pytest.raises(keys.KeyProblem) as short:
        keys.load(tmp_path, "abcd")
    assert str(short.value) == ("DOCROUTE_HISTORY_KEY must hold at least 32 bytes "
                                "(64 hex digits), not 2")
    with pytest.raises(keys.KeyProblem) as bad:
        keys.load(tmp_path, "xyz")
    assert str(bad.value) == "DOCROUTE_HISTORY_KEY must be hexadecimal digits"


# --- history written before keying -----------------------------------------------------------


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same backend (the shared ones are already migrated)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
        return
    server = make_url(db_url)
    name = f"docroute_legacy_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _legacy_database(url: str) -> None:
    """A database at 0004 with three unkeyed system events, as before keying."""
    engine = db.make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004_audit")
    prev = history.GENESIS
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            at = datetime(2026, 1, seq, 2, 0, tzinfo=UTC)
            payload = history.canonical_json({"username": f"old{seq}"})
            digest = history.event_hash(prev, "system", seq, "user_added", "admin", at, None,
                                        None, payload)
            conn.execute(text("INSERT INTO events (chain, seq, type, actor, at, payload, "
                              "prev_hash, hash) VALUES ('system', :s, 'user_added', 'admin', "
                              ":at, :p, :prev, :h)"),
                         {"s": seq, "at": at, "p": payload, "prev": prev, "h": digest})
            prev = digest
        conn.execute(text("INSERT INTO chain_heads (chain, seq, hash) "
                          "VALUES ('system', 3, :h)"), {"h": prev})
    engine.dispose()


def test_history_before_keying_is_anchored_at_upgrade(fresh_url: str, tmp_path: Path,
                                                      manual_clock) -> None:
    _legacy_database(fresh_url)
    bare = db.make_engine(fresh_url)
    with pytest.raises(RuntimeError, match="upgrade it with `docroute init`"):
        db.upgrade_schema(bare)
    bare.dispose()
    app = Docroute(Settings(home=tmp_path / "home", database_url=fresh_url))
    try:
        app.init()
        with app.session() as s:
            identity.add_user(s, "new", "new", "password1")  # event 4, keyed
        report = verify(app)
        assert report.ok and report.events == len(rows(app, "system")), report.problems
        with app.session() as s:
            assert s.get(audit.ChainAnchor, "system").seq == 3
        rewrite(app, "system", 2, "intruder")  # all recomputed in plain SHA-256
        problems = found(verify(app))
        assert ("system", 3, "edited") in problems  # no longer the anchored event
        assert any(p.seq >= 4 and p.kind == "edited" for p in verify(app).problems)
    finally:
        app.engine.dispose()


# --- the command line ------------------------------------------------------------------------


def test_cli_checkpoint_export_and_verify_with_a_file(office: Docroute, settings: Settings,
                                                      tmp_path: Path) -> None:
    env = {"DOCROUTE_DATABASE_URL": settings.db_url, "DOCROUTE_HOME": str(settings.home)}
    runner = CliRunner()
    made = runner.invoke(cli, ["audit", "checkpoint"], env=env)
    assert made.exit_code == 0, made.output
    assert made.output.startswith("checkpoint 1 signed: 1 chain end(s) moved")
    kept = tmp_path / "checkpoints.json"
    assert runner.invoke(cli, ["audit", "export-checkpoints", "-o", str(kept)],
                         env=env).exit_code == 0
    pem = runner.invoke(cli, ["audit", "public-key"], env=env).output
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "key.pem").write_text(pem)
    args = ["audit", "verify", "--quiet", "--checkpoints", str(kept),
            "--public-key", str(tmp_path / "key.pem")]
    ok = runner.invoke(cli, args, env=env)
    assert ok.exit_code == 0 and "2 signed checkpoint(s)" in ok.output, ok.output
    sql(office, "DELETE FROM checkpoints")
    truncate(office, "system", office.keys.mac_key)
    bad = runner.invoke(cli, args, env=env)
    assert bad.exit_code == 1
    assert "checkpoint 1: checkpoint: the supplied checkpoint is missing" in bad.output
    assert "system chain, event 5: truncated" in bad.output
    (tmp_path / "junk.json").write_text("[1, 2]")
    junk = runner.invoke(cli, ["audit", "verify", "--checkpoints", str(tmp_path / "junk.json")],
                         env=env)
    assert junk.exit_code == 2
    assert "not a docroute checkpoint export" in junk.output


def test_the_worker_signs_checkpoints_when_due(office: Docroute, manual_clock) -> None:
    from engine.runtime import timers

    timers.run_worker(office, once=True)
    with office.session() as s:
        assert [c.number for c in checkpoints.listing(s)] == [1]
    with office.session() as s:
        identity.add_user(s, "late", "late", "password1")
    timers.run_worker(office, once=True)  # within ten minutes of the last: not yet
    manual_clock.advance(timedelta(minutes=10))
    timers.run_worker(office, once=True)
    with office.session() as s:
        assert [c.number for c in checkpoints.listing(s)] == [2, 1]
    assert verify(office).ok
