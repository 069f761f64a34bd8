"""Property-based fuzzing of the JSON API from its own OpenAPI document (schemathesis),
through the Flask app (WSGI) with a real token, on SQLite and PostgreSQL: whatever a
client sends, the answer is never a 5xx (issue 12).

Examples per operation are limited so each backend takes well under a minute; raise
``DOCROUTE_FUZZ_EXAMPLES`` for a longer hunt.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from engine import Docroute
from engine.org import identity
from engine.org.identity import Actor
from webui import create_app

EXAMPLES = int(os.environ.get("DOCROUTE_FUZZ_EXAMPLES", "5"))


@pytest.fixture
def fuzz_app(docroute: Docroute, people: dict[str, Actor]) -> Flask:
    docroute.init()  # the test diagrams and forms, so operations reach real definitions
    return create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "fuzz"},
                      docroute=docroute)


@pytest.fixture
def bearer(docroute: Docroute, people: dict[str, Actor]) -> dict[str, str]:
    with docroute.session() as s:
        return {"Authorization": f"Bearer {identity.create_token(s, 'admin', name='fuzz')}"}


def _never_5xx(operation: Any, bearer: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(headers=bearer)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}\n"
            f"query={case.query!r} body={str(case.body)[:500]!r}\n{response.text[:1000]}")

    run()


def test_no_server_errors(fuzz_app: Flask, bearer: dict[str, str]) -> None:
    # One test per backend rather than schemathesis' pytest plugin: its lazy schema does
    # not work with this pytest, and every operation shares the backend's database.
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        _never_5xx(operation, bearer)
