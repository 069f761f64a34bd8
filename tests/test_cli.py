"""The ``docroute`` command line, run through click on both backends."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from engine import Docroute, Settings
from engine.org import identity
from webui.cli import main


def cli(settings: Settings, *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={
        "DOCROUTE_HOME": str(settings.home), "DOCROUTE_DATABASE_URL": settings.db_url})
    assert "Traceback" not in result.output
    return result


def test_init_and_demo_are_idempotent(docroute: Docroute, settings: Settings) -> None:
    first = cli(settings, "init")
    assert first.exit_code == 0, first.output
    assert any(line.startswith("deployed ") for line in first.stdout.splitlines())
    again = cli(settings, "init")
    assert again.exit_code == 0
    lines = again.stdout.splitlines()
    assert lines and all(line.startswith("unchanged ") for line in lines), lines
    demo = cli(settings, "demo")
    assert demo.exit_code == 0, demo.output
    assert "demo1234" in demo.stdout
    users = json.loads(cli(settings, "users", "list", "--json").stdout)
    assert len(users) > 3
    for username in (u["username"] for u in users[:3]):
        assert username in demo.stdout
    demo_again = cli(settings, "demo")
    assert demo_again.exit_code == 0 and demo_again.stdout == demo.stdout
    assert json.loads(cli(settings, "users", "list", "--json").stdout) == users
    definitions = json.loads(cli(settings, "definitions", "list", "--json").stdout)
    assert isinstance(definitions, list) and definitions
    for row in definitions:
        assert {"key", "version", "name", "sha256", "deployed_at"} <= set(row)
        assert row["version"] == 1  # init twice deployed nothing new


def test_users_and_groups(docroute: Docroute, settings: Settings) -> None:
    with docroute.session() as s:
        identity.add_group(s, "office", "办公室", name_en="Office")
    added = cli(settings, "users", "add", "wang", "--password", "Lantern-harbor-58", "--group",
                "office",
                "--clearance", "secret", "--display-name", "王芳")
    assert (added.exit_code, added.stdout.strip()) == (0, "added wang")
    duplicate = cli(settings, "users", "add", "wang", "--password", "Lantern-harbor-58")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.stderr
    short = cli(settings, "users", "add", "li", "--password", "short")
    assert short.exit_code == 1 and "10 characters" in short.stderr
    assert cli(settings, "users", "add", "zhao", "--password", "Lantern-harbor-58",
               "--group", "nope").exit_code == 1
    users = json.loads(cli(settings, "users", "list", "--json").stdout)
    assert [(u["username"], u["name"], u["groups"], u["clearance"]) for u in users] == [
        ("wang", "王芳", ["office"], "secret")]
    groups = json.loads(cli(settings, "groups", "list", "--json").stdout)
    assert [(g["key"], g["name"]) for g in groups] == [("office", "办公室")]
    assert "wang" in cli(settings, "users", "list").stdout
    assert "office" in cli(settings, "groups", "list").stdout


def test_token_create_prints_only_the_token(docroute: Docroute, settings: Settings,
                                            people: dict) -> None:
    result = cli(settings, "token", "create", "clerk")
    assert result.exit_code == 0
    token = result.stdout
    assert token.endswith("\n") and token.count("\n") == 1 and " " not in token.strip()
    with docroute.session() as s:
        user = identity.user_for_token(s, token.strip())
        assert user is not None and user.username == "clerk"
    missing = cli(settings, "token", "create", "ghost")
    assert missing.exit_code == 1 and missing.stdout == "" and "ghost" in missing.stderr


def test_definitions_list_empty_and_text(docroute: Docroute, settings: Settings) -> None:
    assert json.loads(cli(settings, "definitions", "list", "--json").stdout) == []
    assert cli(settings, "definitions", "list").stdout == ""
