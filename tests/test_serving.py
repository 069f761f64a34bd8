"""Serving: one token lookup per API request, the connection pool, static caching, serve."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from engine import Docroute, identity


@pytest.fixture
def app(docroute: Docroute, people: dict) -> Flask:
    from webui import create_app

    with docroute.session() as s:
        identity.add_user(s, "auditor", "审计员", "password1", is_auditor=True)
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret"}, docroute=docroute)


@pytest.fixture
def token_lookups(docroute: Docroute) -> Iterator[list[str]]:
    """Every SQL statement that reads the api_tokens table, as it runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_tokens" in statement:
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
