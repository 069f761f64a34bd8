"""The auditor's checkpoint pages: public key, export, Verify with a kept file, signing."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from engine import Docroute, history
from engine.history import checkpoints, keys
from engine.models import Event
from engine.org import identity
from engine.org.identity import Actor
from webui import create_app


@pytest.fixture
def app(docroute: Docroute, people: dict[str, Actor]) -> Iterator[Flask]:
    with docroute.session() as s:
        identity.add_user(s, "auditor", "审计员", "password1", is_auditor=True)
    yield create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "test"},
                     docroute=docroute)


def login(app: Flask, username: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def csrf(url: str) -> str:
        page = client.get(url).get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    response = client.post("/login", data={"username": username, "password": "password1",
                                           "csrf_token": csrf("/login")})
    assert response.status_code == 302
    return client, csrf("/audit/checkpoints/")


def truncate_system_chain(docroute: Docroute) -> None:
    """A thief of the history key drops the last system event and re-marks the end."""
    with docroute.session() as s:
        last, before = s.scalars(select(Event).where(Event.chain == "system")
                                 .order_by(Event.seq.desc()).limit(2)).all()
    mac = history.head_mac(docroute.keys.mac_key, "system", before.seq, before.hash)
    with docroute.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE id = :id"), {"id": last.id})
        conn.execute(text("UPDATE chain_heads SET seq = :s, hash = :h, mac = :m "
                          "WHERE chain = 'system'"), {"s": before.seq, "h": before.hash,
                                                      "m": mac})
        conn.execute(text("DELETE FROM checkpoints"))


def test_auditor_exports_keeps_and_verifies_with_the_file(app: Flask,
                                                          docroute: Docroute) -> None:
    admin, admin_token = login(app, "admin")
    signed = admin.post("/audit/checkpoints/sign", data={"csrf_token": admin_token})
    assert signed.status_code == 302
    auditor, token = login(app, "auditor")
    page = auditor.get("/audit/checkpoints/").get_data(as_text=True)
    assert 'id="checkpoint-list"' in page and docroute.keys.key_id in page
    assert "Sign a checkpoint now" not in page  # administrators only
    assert auditor.post("/audit/checkpoints/sign",
                        data={"csrf_token": token}).status_code == 403
    pem = auditor.get("/audit/checkpoints/public-key.pem").get_data()
    assert keys.load_public_pem(pem).public_bytes_raw() == \
        docroute.keys.public_key.public_bytes_raw()
    kept = auditor.get("/audit/checkpoints/export.json").get_data()
    assert [c["number"] for c in json.loads(kept)["checkpoints"]] == [1]

    def verify(**files: bytes) -> tuple[int, str]:
        data: dict[str, object] = {"csrf_token": token}
        data.update({k: (io.BytesIO(v), f"{k}.bin") for k, v in files.items()})
        response = auditor.post("/audit/checkpoints/verify", data=data,
                                content_type="multipart/form-data")
        return response.status_code, response.get_data(as_text=True)

    status, body = verify(checkpoints=kept, public_key=pem)
    assert status == 200 and "No tampering found" in body
    truncate_system_chain(docroute)
    status, body = verify()
    assert status == 200 and "No tampering found" in body  # the database alone is silent
    status, body = verify(checkpoints=kept)
    assert status == 200 and "2 problems found" in body
    assert "checkpoint 1: checkpoint: the supplied checkpoint is missing" in body
    assert re.search(r"system chain, event \d+: truncated", body)
    status, body = verify(checkpoints=b"{")
    assert status == 400 and "the checkpoint file is not JSON" in body
    with docroute.session() as s:
        assert checkpoints.stored(s) == []  # nothing was written by verifying


def test_checkpoint_pages_are_for_auditors_and_administrators(app: Flask) -> None:
    clerk, _ = login(app, "clerk")
    assert clerk.get("/audit/checkpoints/").status_code == 403
    assert clerk.get("/audit/checkpoints/export.json").status_code == 403
    zh = app.test_client()
    assert zh.get("/audit/checkpoints/").status_code in (302, 401)
