"""The demo of the other duties: meetings with follow-ups, 主动公开, 政务信息, 事项审批,
and an instruction opened as a follow-up; idempotent, and every case replays."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine import Docroute, Settings, clock, demo
from engine.config import PROJECT_ROOT
from engine.history import audit
from engine.models import CaseLink, Definition, Instance, Task
from engine.registry import links


def test_demo_duties(db_url: str, tmp_path: Path, manual_clock: clock.ManualClock,
                     capsys: pytest.CaptureFixture[str]) -> None:
    app = Docroute(Settings(home=tmp_path / "home", database_url=db_url,
                            forms_dir=PROJECT_ROOT / "forms",
                            workflows_dir=PROJECT_ROOT / "workflows"))
    try:
        app.init()
        demo.seed(app)
        printed = capsys.readouterr().out
        with app.session() as s:
            rows = s.execute(select(Definition.key, Instance.status, Instance.id)
                             .join(Instance.definition)).all()
            by_key: dict[str, list[str]] = {}
            for key, status, _ in rows:
                by_key.setdefault(key, []).append(status)
            waiting = {t.spec for t in s.scalars(select(Task))}
            relations = sorted(link.relation for link in s.scalars(select(CaseLink)))
            instructed = [i for k, _, i in rows
                          if k == "incoming_document" and links.instruction_of(s, i)]
            count = len(rows)
            mine = [i for k, _, i in rows if k in ("meeting", "proactive_disclosure",
                                                   "government_information", "item_approval",
                                                   "supervision")]
            for case_id in mine:
                result = audit.verify_case(s, case_id)
                assert result.ok, (case_id, result.lines())
        # Only this demo's lines: the document demo reports its own cases.
        assert [line for line in printed.splitlines()
                if any(k in line for k in ("meeting", "proactive", "information",
                                           "item_approval", "follow-up"))] == []
        for key in ("meeting", "proactive_disclosure", "government_information",
                    "item_approval"):
            assert sorted(by_key[key]) == ["completed", "running"], key
        assert {"approve_agenda", "secrecy_review", "review", "decide", "handle"} <= waiting
        # The first demo document with a leader's 批示 has its follow-up case.
        assert relations == (["instruction"] if instructed else []) + ["meeting_decision"]
        demo.seed(app)
        with app.session() as s:
            assert len(s.execute(select(Instance.id)).all()) == count
    finally:
        app.runtime.cache.clear()
        app.engine.dispose()
