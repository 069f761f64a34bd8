"""Serving: one token lookup per API request, the connection pool, static caching, serve."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from engine import Docroute, Settings
from engine.org import identity

DOCROUTE = Path(sys.executable).parent / "docroute"


@pytest.fixture
def app(docroute: Docroute, people: dict) -> Flask:
    from webui import create_app

    with docroute.session() as s:
        identity.add_user(s, "auditor", "审计员", "password1", is_auditor=True)
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret"}, docroute=docroute)


@pytest.fixture
def token_lookups(docroute: Docroute) -> Iterator[list[str]]:
    """Every SQL statement that reads the api_tokens table, as it runs (not the write
    that records a token's first use of the minute)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_tokens" in statement and statement.lstrip().startswith("SELECT"):
            seen.append(statement)

    event.listen(docroute.engine, "before_cursor_execute", record)
    yield seen
    event.remove(docroute.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("user", ["clerk", "auditor"])
def test_an_api_post_looks_its_token_up_once(app: Flask, docroute: Docroute, user: str,
                                             token_lookups: list[str]) -> None:
    with docroute.session() as s:
        token = identity.create_token(s, user)
    token_lookups.clear()
    response = app.test_client().post("/api/v1/tasks/no-such-task/claim",
                                      headers={"Authorization": f"Bearer {token}"})
    # The auditor is refused by the read-only rule, the clerk by the missing task:
    # either way the request authenticated exactly once.
    assert response.status_code == (403 if user == "auditor" else 404)
    assert len(token_lookups) == 1


def test_a_bad_token_is_still_refused_with_one_lookup(app: Flask,
                                                      token_lookups: list[str]) -> None:
    response = app.test_client().post("/api/v1/tasks/x/claim",
                                      headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json == {"error": "the token is not valid"}
    assert len(token_lookups) == 1


# --- static files ------------------------------------------------------------------------


def test_static_urls_carry_the_content_hash_and_are_cached_for_a_year(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'/static/css/docroute\.css\?v=([0-9a-f]{12})"', page)
    assert match is not None, "the stylesheet link has no content hash"
    path = Path(app.static_folder or "") / "css" / "docroute.css"
    assert match.group(1) == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    fresh = client.get(f"/static/css/docroute.css?v={match.group(1)}")
    assert fresh.status_code == 200
    assert fresh.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    stale = client.get("/static/css/docroute.css?v=000000000000")
    assert stale.headers["Cache-Control"] == "no-cache"  # an old page: revalidate


# --- the connection pool -------------------------------------------------------------------


def test_the_pool_is_sized_from_the_settings(settings: Settings) -> None:
    assert Settings.from_env({"DOCROUTE_DB_POOL_SIZE": "9"}).db_pool_size == 9
    with pytest.raises(ValueError, match="DOCROUTE_DB_POOL_SIZE must be a whole number"):
        Settings.from_env({"DOCROUTE_DB_POOL_SIZE": "many"})
    docroute = Docroute(replace(settings, db_pool_size=9))
    try:
        assert docroute.engine.pool.size() == 9  # type: ignore[attr-defined]
    finally:
        docroute.engine.dispose()


# --- docroute serve --------------------------------------------------------------------------


def _children(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "args=", "--ppid", str(pid)], capture_output=True,
                         text=True, check=False).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def _get(port: int, path: str = "/login") -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.status, response.headers.get("Server", "")


def _wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "docroute serve exited"
        try:
            status, server = _get(port)
        except OSError:
            time.sleep(0.2)
            continue
        assert status == 200
        return server
    raise AssertionError("docroute serve did not answer within 60 s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "DOCROUTE_HOME": str(tmp_path / "home")}
    env.pop("DOCROUTE_DATABASE_URL", None)
    if db_url.startswith("postgresql"):
        env["DOCROUTE_DATABASE_URL"] = db_url
    else:  # the fixture's database file is docroute.sqlite3 in its folder: use it as home
        env["DOCROUTE_HOME"] = str(Path(db_url.removeprefix("sqlite:///")).parent)
    return env


def test_serve_runs_gunicorn_with_one_scheduler(db_url: str, tmp_path: Path) -> None:
    port, postgres = _free_port(), db_url.startswith("postgresql")
    workers = ["--workers", "2"] if postgres else []
    process = subprocess.Popen([str(DOCROUTE), "serve", "--port", str(port), "--threads", "2",
                                *workers], env=_serve_env(db_url, tmp_path))
    try:
        server = _wait_until_serving(port, process)
        assert "gunicorn" in server  # not werkzeug's development server
        time.sleep(1)  # the scheduler process starts once gunicorn is ready
        children = _children(process.pid)
        schedulers = [c for c in children if "webui.cli worker" in c]
        if postgres:
            assert len(children) == 3 and len(schedulers) == 1, children  # 2 web + 1
        else:
            assert len(children) == 1 and not schedulers, children  # inside the one worker
        # Graceful reload: new workers replace the old; no request is refused (it may wait
        # while the new workers load the app on a busy machine).
        process.send_signal(signal.SIGHUP)
        for _ in range(10):
            assert _get(port)[0] == 200
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0
    assert not _children(process.pid)


def test_serve_refuses_several_processes_on_sqlite(tmp_path: Path) -> None:
    env = {**os.environ, "DOCROUTE_HOME": str(tmp_path)}
    env.pop("DOCROUTE_DATABASE_URL", None)
    result = subprocess.run([str(DOCROUTE), "serve", "--workers", "3"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "SQLite is served by one process" in result.stderr
