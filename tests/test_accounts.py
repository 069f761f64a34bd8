"""Accounts: the password policy on every route that sets a password, sessions that end on
the server, named expiring revocable API tokens, the per-account lock and login limits
that count failures only (issue 12 items 10-12, issue 15 item 12)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from engine import Docroute, Settings
from engine.clock import ManualClock
from engine.org import identity, organisation, passwords, tokens
from engine.org.identity import Actor
from engine.runtime import admin
from webui import create_app
from webui.cli import main

STRONG = "Lantern-harbor-58"


@pytest.fixture
def app(docroute: Docroute, people: dict[str, Actor]) -> Iterator[Flask]:
    yield create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": "test"}, docroute=docroute)


def login(app: Flask, username: str, password: str = "password1",
          ip: str = "10.0.0.1") -> tuple[FlaskClient, int]:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.environ_base["REMOTE_ADDR"] = ip
    response = client.post("/login", data={"username": username, "password": password})
    return client, response.status_code


def cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def with_cookie(app: Flask, value: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("session", value)
    return client


def cli(settings: Settings, *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={
        "DOCROUTE_HOME": str(settings.home), "DOCROUTE_DATABASE_URL": settings.db_url})
    assert "Traceback" not in result.output
    return result


# --- password policy -----------------------------------------------------------------------


@pytest.mark.parametrize(("password", "message"), [
    ("short1!", "at least 10 characters"),
    ("1234567890", "too common"),
    ("password123", "too common"),
    ("qwertyuiop", "too common"),
    ("aaaaaaaaaaaa", "too common or too simple"),
    ("zhangli2026!", "name or username"),
    ("ilgnahz-9999", "name or username"),
    ("张丽的密码20261203", "name or username"),
])
def test_policy_refuses(password: str, message: str) -> None:
    reason = passwords.problem(password, username="zhangli", name="张丽")
    assert reason is not None and message in reason


def test_policy_accepts_a_good_password() -> None:
    assert passwords.problem(STRONG, username="zhangli", name="张丽") is None


def test_every_route_that_sets_a_password_applies_the_policy(
        docroute: Docroute, settings: Settings, people: dict[str, Actor], app: Flask) -> None:
    refused = cli(settings, "users", "add", "wang", "--password", "wang123456")
    assert refused.exit_code == 1 and "name or username" in refused.stderr
    assert cli(settings, "users", "add", "wang", "--password", STRONG).exit_code == 0
    with pytest.raises(passwords.PasswordRefused, match="too common"), docroute.session() as s:
        organisation.add_user(s, people["admin"], "li", "李", "password123", reason="新同事")
    with pytest.raises(passwords.PasswordRefused, match="at least"), docroute.session() as s:
        organisation.update_user(s, people["admin"], "clerk", reason="重置", password="short")
    client, _ = login(app, "admin")
    page = client.post("/admin/users", data={"username": "li", "name": "李", "reason": "新同事",
                                             "password": "12345678"})
    assert page.status_code == 422 and "at least 10 characters" in page.get_data(as_text=True)
    with docroute.session() as s:
        assert identity.find_user(s, "li") is None


# --- sessions ------------------------------------------------------------------------------


def test_logout_ends_a_copied_cookie(app: Flask) -> None:
    client, status = login(app, "clerk")
    assert status == 302
    copied = cookie_of(client)
    assert with_cookie(app, copied).get("/").status_code == 200
    client.post("/logout")
    assert with_cookie(app, copied).get("/").status_code == 302  # to the login page


@pytest.mark.parametrize("how", ["password", "deactivate"])
def test_password_reset_and_deactivation_end_sessions(app: Flask, docroute: Docroute,
                                                      people: dict[str, Actor], how: str) -> None:
    client, _ = login(app, "clerk")
    copied = cookie_of(client)
    with docroute.session() as s:
        if how == "password":
            organisation.update_user(s, people["admin"], "clerk", reason="重置",
                                     password=STRONG)
        else:
            admin.deactivate_user(s, people["admin"], "clerk", "离职")
    assert with_cookie(app, copied).get("/").status_code == 302


# --- tokens --------------------------------------------------------------------------------


def api(app: Flask, token: str) -> int:
    return app.test_client().get("/api/v1/tasks",
                                 headers={"Authorization": f"Bearer {token}"}).status_code


def test_tokens_are_named_listed_used_and_revoked(app: Flask, docroute: Docroute,
                                                  people: dict[str, Actor],
                                                  manual_clock: ManualClock) -> None:
    with docroute.session() as s:
        secret = identity.create_token(s, "clerk", name="扫描仪", expires_days=30)
    assert api(app, secret) == 200
    with docroute.session() as s:
        [info] = tokens.list_for(s, "clerk")
    assert (info.name, info.status, info.last_used_at) == ("扫描仪", "active", manual_clock.now())
    assert info.expires_at == manual_clock.now() + timedelta(days=30)
    with pytest.raises(identity.NotFound), docroute.session() as s:
        tokens.revoke(s, people["rev2"], info.id)  # someone else's token
    with docroute.session() as s:
        tokens.revoke(s, people["clerk"], info.id)
    assert api(app, secret) == 401


def test_tokens_expire(app: Flask, docroute: Docroute, people: dict[str, Actor],
                       manual_clock: ManualClock) -> None:
    with docroute.session() as s:
        secret = identity.create_token(s, "clerk", expires_days=1)
    assert api(app, secret) == 200
    manual_clock.advance(timedelta(days=1, seconds=1))
    assert api(app, secret) == 401
    with docroute.session() as s:
        assert [t.status for t in tokens.list_for(s, "clerk")] == ["expired"]


@pytest.mark.parametrize("how", ["password", "deactivate"])
def test_password_reset_and_deactivation_revoke_tokens(app: Flask, docroute: Docroute,
                                                       people: dict[str, Actor],
                                                       how: str) -> None:
    with docroute.session() as s:
        secret = identity.create_token(s, "clerk")
    with docroute.session() as s:
        if how == "password":
            organisation.update_user(s, people["admin"], "clerk", reason="重置",
                                     password=STRONG)
        else:
            admin.deactivate_user(s, people["admin"], "clerk", "离职")
    assert api(app, secret) == 401
    with docroute.session() as s:
        assert [t.status for t in tokens.list_for(s, "clerk")] == ["revoked"]


def test_token_cli(docroute: Docroute, settings: Settings, people: dict[str, Actor]) -> None:
    created = cli(settings, "token", "create", "clerk", "--name", "nightly", "--expires-days", "7")
    assert created.exit_code == 0 and created.stdout.startswith("drt_")
    listed = cli(settings, "token", "list", "clerk")
    assert "nightly" in listed.stdout and "active" in listed.stdout
    token_id = listed.stdout.split()[0]
    revoked = cli(settings, "token", "revoke", token_id)
    assert revoked.exit_code == 0 and "revoked token" in revoked.stdout
    assert "revoked" in cli(settings, "token", "list", "clerk").stdout
    assert cli(settings, "token", "revoke", token_id).exit_code == 1
    assert cli(settings, "token", "revoke", "99999999999").exit_code == 2  # out of range
    assert cli(settings, "token", "create", "clerk", "--expires-days", "0").exit_code == 2


def test_token_pages(app: Flask, docroute: Docroute) -> None:
    client, _ = login(app, "clerk")
    page = client.post("/account/tokens", data={"name": "报表", "expires_days": "90"})
    text = page.get_data(as_text=True)
    secret = re.search(r'id="new-token">([^<]+)<', text).group(1)
    assert page.status_code == 200 and "报表" in text and api(app, secret) == 200
    with docroute.session() as s:
        [info] = tokens.list_for(s, "clerk")
    admin_client, _ = login(app, "admin")
    assert "报表" in admin_client.get("/admin/users/clerk/tokens").get_data(as_text=True)
    other, _ = login(app, "rev2")
    assert other.get("/admin/users/clerk/tokens").status_code == 403
    other.post("/account/tokens/revoke", data={"id": str(info.id)})
    assert api(app, secret) == 200  # not rev2's token: nothing changed
    client.post("/account/tokens/revoke", data={"id": str(info.id)})
    assert api(app, secret) == 401


# --- lock and limits -----------------------------------------------------------------------


def test_an_account_locks_after_repeated_failures(app: Flask, docroute: Docroute,
                                                  manual_clock: ManualClock) -> None:
    for attempt in range(identity.MAX_FAILED_LOGINS):
        assert login(app, "clerk", "wrong", ip=f"10.0.1.{attempt}")[1] == 401
    # Locked for every address, even with the right password; others are unaffected.
    assert login(app, "clerk", ip="10.0.2.1")[1] == 401
    assert login(app, "rev2", ip="10.0.1.0")[1] == 302
    manual_clock.advance(timedelta(minutes=identity.LOCK_MINUTES, seconds=1))
    assert login(app, "clerk", ip="10.0.2.1")[1] == 302
    with docroute.session() as s:
        user = identity.get_user(s, "clerk")
        assert (user.failed_logins, user.locked_until) == (0, None)


def test_successful_logins_are_never_rate_limited(docroute: Docroute,
                                                  people: dict[str, Actor]) -> None:
    limited = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test"},
                         docroute=docroute)
    for _ in range(3):  # a busy office behind one address
        for name in ("clerk", "rev1", "rev2", "boss", "admin"):
            assert login(limited, name)[1] == 302
    # Failures from one address are limited across accounts.
    codes = [login(limited, name, "wrong", ip="10.9.9.9")[1]
             for name in ("clerk", "rev1", "rev2", "boss") * 3]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]


def test_cli_password_reset(app: Flask, docroute: Docroute, settings: Settings) -> None:
    client, _ = login(app, "clerk")
    copied = cookie_of(client)
    with docroute.session() as s:
        secret = identity.create_token(s, "clerk")
    weak = cli(settings, "users", "password", "clerk", "--password", "password123")
    assert weak.exit_code == 1 and "too common" in weak.stderr
    done = cli(settings, "users", "password", "clerk", "--password", STRONG)
    assert done.exit_code == 0 and "sessions ended" in done.stdout
    assert with_cookie(app, copied).get("/").status_code == 302
    assert api(app, secret) == 401
    assert login(app, "clerk", STRONG)[1] == 302
