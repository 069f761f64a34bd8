"""Record the golden histories in tests/data/histories/ (run when a scenario is added).

Each scenario runs a test process through the engine on a fresh SQLite database under a
fixed clock, then writes the case's events with the definition XML they ran on. The tests
replay them with the current step code (tests/test_golden_histories.py): a change to the
engine that would rebuild an old case differently fails there, as Temporal's replayer
tests fail on a non-deterministic workflow change.

usage: .venv/bin/python scripts/record_histories.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from engine import Docroute, Settings, clock, db, history, runtime  # noqa: E402
from engine.definitions import SourceFile  # noqa: E402
from engine.history import replay  # noqa: E402
from engine.models import Event, Instance, Task  # noqa: E402
from engine.org import identity  # noqa: E402

OUT = ROOT / "tests" / "data" / "histories"
SOURCES = {"review": ROOT / "tests" / "data" / "workflows" / "review.bpmn",
           "countersign": ROOT / "tests" / "data" / "audit" / "countersign.bpmn"}
START = datetime(2026, 12, 3, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def _office(app: Docroute) -> dict[str, identity.Actor]:
    with app.session() as s:
        for key, name in (("clerks", "收发员"), ("reviewers", "核稿人"), ("leaders", "领导")):
            identity.add_group(s, key, name, kind="role")
        for user, name, group in (("clerk", "张丽", "clerks"), ("rev1", "吴静", "reviewers"),
                                  ("rev2", "周强", "reviewers"), ("boss", "林海", "leaders")):
            identity.add_user(s, user, name, "password1", groups=[group])
    with app.session() as s:
        return {u: identity.Actor.of(identity.get_user(s, u))
                for u in ("clerk", "rev1", "rev2", "boss")}


def _complete(app: Docroute, case: int, actor: identity.Actor, data: dict,
              name: str | None = None) -> None:
    with app.session() as s:
        rows = s.scalars(select(Task).where(Task.instance_id == case)
                         .order_by(Task.created_at, Task.id)).all()
        row = next(r for r in rows if name in (None, r.name))
        if row.assignee is None:
            runtime.claim(s, row.id, actor)
        runtime.complete(s, row.id, actor, data)


def review_send_back(app: Docroute, who: dict[str, identity.Actor], tick: Callable) -> int:
    """拟稿 -> 核稿 returns it -> 拟稿 again -> 核稿 approves: a loop and a script task."""
    with app.session() as s:
        case = runtime.start_case(s, who["clerk"], "review", {"rounds": 0},
                                  title="关于防汛工作的通知").id
    tick()
    _complete(app, case, who["clerk"], {"title": "关于防汛工作的通知"})
    tick()
    _complete(app, case, who["rev1"], {"decision": "return", "opinion": "请修改"})
    tick()
    _complete(app, case, who["clerk"], {"title": "关于防汛工作的通知（修改稿）"})
    tick()
    _complete(app, case, who["rev2"], {"decision": "approve"})
    return case


def review_timer_escalates(app: Docroute, who: dict[str, identity.Actor],
                           tick: Callable) -> int:
    """核稿 is not done within the hour: the boundary timer fires and 督办 opens."""
    with app.session() as s:
        case = runtime.start_case(s, who["clerk"], "review", {"rounds": 0},
                                  title="关于森林防火的通知").id
    _complete(app, case, who["clerk"], {"title": "关于森林防火的通知"})
    tick(timedelta(hours=2))
    with app.session() as s:
        runtime.fire_timers(s, case)
    _complete(app, case, who["boss"], {}, name="督办")
    return case


def countersign_out_of_order(app: Docroute, who: dict[str, identity.Actor],
                             tick: Callable) -> int:
    """部门会签 for three departments, signed last first; a call activity; a one-day timer."""
    with app.session() as s:
        case = runtime.start_case(s, who["clerk"], "countersign",
                                  {"departments": ["财政", "住建", "城管"]}, title="会签件").id
    with app.session() as s:
        signs = [r.id for r in s.scalars(select(Task).where(Task.instance_id == case)
                                         .order_by(Task.created_at, Task.id))]
    for task_id in reversed(signs):
        tick()
        with app.session() as s:
            runtime.claim(s, task_id, who["rev1"])
            runtime.complete(s, task_id, who["rev1"], {})
    _complete(app, case, who["clerk"], {})
    tick(timedelta(days=1, seconds=1))
    with app.session() as s:
        runtime.fire_timers(s, case)
    return case


SCENARIOS = {"review_send_back": ("review", review_send_back),
             "review_timer_escalates": ("review", review_timer_escalates),
             "countersign_out_of_order": ("countersign", countersign_out_of_order)}


def _events(app: Docroute, case: int) -> list[dict]:
    with app.session() as s:
        rows = s.scalars(select(Event).where(Event.chain == history.case_chain(case))
                         .order_by(Event.seq)).all()
        return [{"seq": e.seq, "type": e.type, "actor": e.actor, "at": e.at.isoformat(),
                 "task_id": e.task_id, "task_name": e.task_name,
                 "payload": json.loads(e.payload), "hash": e.hash} for e in rows]


def record(name: str) -> dict:
    key, scenario = SCENARIOS[name]
    with tempfile.TemporaryDirectory() as home:
        data = ROOT / "tests" / "data"
        app = Docroute(Settings(home=Path(home), forms_dir=data / "forms",
                                workflows_dir=data / "workflows"))
        manual = clock.ManualClock(START)
        with clock.using_clock(manual):
            db.upgrade_schema(app.engine, history_key=app.keys.mac_key)
            with app.session() as s:
                app.deploy_forms(s, app.form_files(), "admin")
            with app.session() as s:
                app.deploy(s, [SourceFile(SOURCES[key].name, SOURCES[key].read_bytes())],
                           actor="admin")
            who = _office(app)
            case = scenario(app, who, lambda step=timedelta(minutes=7): manual.advance(step))
            with app.session() as s:
                instance = s.get(Instance, case)
                status, state = instance.status, replay.canonical(json.loads(instance.state))
            events = _events(app, case)
        app.engine.dispose()
    return {"description": scenario.__doc__, "process": key,
            "definitions": [{"filename": SOURCES[key].name,
                             "xml": SOURCES[key].read_text()}],
            "expect": {"status": status}, "events": events, "state": state}


def must_fail(golden: dict) -> dict:
    """The send-back history with its last 核稿 moved onto 拟稿, which is not open then:
    replay must refuse it rather than rebuild some other case."""
    events = json.loads(json.dumps(golden["events"]))
    last = [e for e in events if e["type"] == "completed" and e["task_id"]][-1]
    last["payload"]["spec"] = "draft"
    return {**golden, "description": must_fail.__doc__, "events": events,
            "expect": {"fails": "is not open"}, "state": None}


def _write(name: str, golden: dict) -> None:
    (OUT / f"{name}.json").write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n")
    print(f"{name}: {len(golden['events'])} events, {golden['expect']}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in SCENARIOS:
        golden = record(name)
        _write(name, golden)
        if name == "review_send_back":
            _write("review_tampered_must_fail", must_fail(golden))


if __name__ == "__main__":
    main()
