"""Checked-in histories replay with today's step code (scripts/record_histories.py).

Each file under tests/data/histories/ holds a case's events and the diagram they ran on.
They are replayed here by ``replay.replay_history``, which steps through
``engine.runtime.step`` like a live case: if a change to the engine would rebuild an old
case differently, its golden history stops replaying or ends elsewhere. One history is
tampered with and must fail. Replay reads only definitions, so SQLite is enough here.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from engine import Docroute, Settings, db
from engine.definitions import SourceFile
from engine.history import replay
from engine.runtime import spiff, step

HISTORIES = Path(__file__).parent / "data" / "histories"
DATA = Path(__file__).parent / "data"
GOLDEN = sorted(HISTORIES.glob("*.json"))


class Row(NamedTuple):
    seq: int
    type: str
    actor: str
    at: datetime
    task_id: str | None
    task_name: str | None
    payload: str
    hash: str


def _rows(golden: dict[str, Any]) -> list[Row]:
    return [Row(e["seq"], e["type"], e["actor"], datetime.fromisoformat(e["at"]),
                e["task_id"], e["task_name"], json.dumps(e["payload"]), e["hash"])
            for e in golden["events"]]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Docroute:
    home = tmp_path_factory.mktemp("golden")
    app = Docroute(Settings(home=home, forms_dir=DATA / "forms",
                            workflows_dir=DATA / "workflows"))
    db.upgrade_schema(app.engine, history_key=app.keys.mac_key)
    with app.session() as s:
        app.deploy_forms(s, app.form_files(), "admin")
    return app


def _deploy(app: Docroute, golden: dict[str, Any]) -> None:
    with app.session() as s:  # the same XML deploys once (same sha256 = same version)
        app.deploy(s, [SourceFile(d["filename"], d["xml"].encode())
                       for d in golden["definitions"]], actor="admin")


def test_there_are_golden_histories_and_one_must_fail() -> None:
    expectations = [json.loads(p.read_text())["expect"] for p in GOLDEN]
    assert len(expectations) >= 4
    assert sum("fails" in e for e in expectations) >= 1


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_history_replays_as_recorded(app: Docroute, path: Path) -> None:
    golden = json.loads(path.read_text())
    _deploy(app, golden)
    with app.session() as s:
        if "fails" in golden["expect"]:
            with pytest.raises(replay.ReplayFailed, match=golden["expect"]["fails"]):
                replay.replay_history(s, _rows(golden))
            return
        result = replay.replay_history(s, _rows(golden))
    assert result.status == golden["expect"]["status"]
    assert result.events == len(golden["events"])
    assert result.unknown_types == []
    assert result.workflow is not None and result.workflow.completed
    rebuilt = replay.canonical(json.loads(spiff.dump_state(result.workflow)))
    # JSON turns the canonical form's tuples into lists: compare in the same shape.
    assert replay.first_difference(golden["state"], json.loads(json.dumps(rebuilt))) is None


def test_every_event_type_in_the_histories_is_in_the_catalogue() -> None:
    types = {e["type"] for p in GOLDEN for e in json.loads(p.read_text())["events"]}
    assert all(step.classify(t, {"spec": "x"}, "id") != step.UNKNOWN for t in types)


def test_the_catalogue_knows_each_event_once() -> None:
    assert not step.STATE_EVENTS & step.PASSIVE_EVENTS
    assert step.classify("reminder", {}, None) == step.PASSIVE
    assert step.classify("completed", {}, None) == step.PASSIVE  # the end marker
    assert step.classify("completed", {"spec": "draft"}, "t1") == step.STATE
    assert step.classify("made_up", {}, None) == step.UNKNOWN
