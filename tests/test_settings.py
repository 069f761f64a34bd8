"""Every setting has one source (``Settings``, from ``DOCROUTE_*``) and takes effect."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from engine import Docroute, Settings, db, runtime
from engine.config import MailSettings
from engine.definitions import SourceFile
from engine.org import identity
from engine.registry import attachments
from engine.runtime import state
from webui import api_documents, create_app

LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs_spin" targetNamespace="http://docroute.example/test">
  <bpmn:process id="spin" name="空转" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:scriptTask id="work" name="计算">
      <bpmn:script>n = 0
while True:
    n = n + 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_mail_comes_from_the_environment_through_settings() -> None:
    settings = Settings.from_env({"DOCROUTE_SMTP_HOST": "mail.dpxq.example",
                                  "DOCROUTE_SMTP_PORT": "587", "DOCROUTE_SMTP_STARTTLS": "yes"})
    assert settings.mail == MailSettings(host="mail.dpxq.example", port=587, starttls=True)
    assert Settings.from_env({}).mail is None  # no host: notifications stay in the app
    with pytest.raises(ValueError, match="DOCROUTE_SMTP_PORT"):
        Settings.from_env({"DOCROUTE_SMTP_HOST": "x", "DOCROUTE_SMTP_PORT": "smtp"})


def test_the_script_time_limit_setting_stops_a_runaway_script(tmp_path: Path) -> None:
    app = Docroute(Settings(home=tmp_path, script_timeout_seconds=0.3))
    try:
        db.upgrade_schema(app.engine, history_key=app.keys.mac_key)
        with app.session() as s:
            app.deploy(s, [SourceFile("spin.bpmn", LOOP.encode())], actor="admin")
        started = time.monotonic()
        with app.session() as s:
            case = runtime.start_case(s, identity.SYSTEM, "spin")
            status, incident = case.status, case.incident or ""
        elapsed = time.monotonic() - started
    finally:
        app.engine.dispose()
    assert status == "error" and "time" in incident.lower(), incident
    assert elapsed < 1.5  # the 0.3 s limit, not the 2 s default or no limit at all


def test_each_docroute_keeps_its_own_runtime_state(tmp_path: Path) -> None:
    """Two engines in one process (tests, a CLI beside a server) share no cached workflow
    and no script time limit: each Docroute's sessions carry its own state."""
    quick = Docroute(Settings(home=tmp_path / "a", script_timeout_seconds=0.3))
    slow = Docroute(Settings(home=tmp_path / "b", script_timeout_seconds=5.0))
    try:
        assert quick.runtime.script_engine.environment.timeout_seconds == 0.3
        assert slow.runtime.script_engine.environment.timeout_seconds == 5.0
        assert quick.runtime.cache is not slow.runtime.cache
        with quick.session() as s:
            assert state.of(s) is quick.runtime
    finally:
        quick.engine.dispose()
        slow.engine.dispose()


def test_storage_and_the_attachment_limit_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCROUTE_HOME": str(tmp_path / "home"),
                                  "DOCROUTE_STORAGE_DIR": str(tmp_path / "files"),
                                  "DOCROUTE_MAX_ATTACHMENT_BYTES": "64"})
    assert settings.attachments_dir == (tmp_path / "files").resolve()
    assert settings.max_attachment_bytes == 64
    with pytest.raises(ValueError, match="DOCROUTE_MAX_ATTACHMENT_BYTES"):
        Settings.from_env({"DOCROUTE_MAX_ATTACHMENT_BYTES": "big"})
    app = Docroute(settings)
    try:
        web = create_app({"TESTING": True, "SECRET_KEY": "test"}, docroute=app)
        with web.app_context():
            limits = api_documents._limits()  # what an upload through the API is held to
        stored = attachments.store(limits, "note.txt", io.BytesIO(b"plain text\n"))
        assert attachments.blob_path(tmp_path / "files", stored.sha256).is_file()
        with pytest.raises(attachments.AttachmentTooLarge):
            attachments.store(limits, "long.txt", io.BytesIO(b"x" * 65))
    finally:
        app.engine.dispose()


def test_serve_reads_the_database_url_from_settings(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """``docroute serve`` decides SQLite or PostgreSQL from ``Settings``, as the app does."""
    from click.testing import CliRunner

    from webui import cli

    monkeypatch.setenv("DOCROUTE_HOME", str(tmp_path))
    monkeypatch.delenv("DOCROUTE_DATABASE_URL", raising=False)
    refused = CliRunner().invoke(cli.main, ["serve", "--workers", "2"])
    assert refused.exit_code == 2 and "SQLite is served by one process" in refused.output
