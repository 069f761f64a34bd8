"""Tamper evidence: every direct edit of the events table is reported, by case and position.

The database is changed behind docroute's back with plain SQL, as an insider with database
access would, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from engine import Docroute, history, runtime
from engine.definitions import SourceFile
from engine.history import audit
from engine.history.audit import CaseSearch
from engine.models import Event, Instance, Task
from engine.org.identity import Actor
from webui.cli import main as cli

WORKFLOWS = Path(__file__).parent / "data" / "workflows"


@pytest.fixture
def cases(docroute: Docroute, people: dict[str, Actor]) -> list[int]:
    """Three review cases: one finished after a send-back, one waiting, one just started."""
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), "admin")
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("review.bpmn", (WORKFLOWS / "review.bpmn").read_bytes())],
                        actor="admin")
    ids = []
    for title in ("关于防汛工作的通知", "关于开展安全生产检查的通知", "关于调整作息时间的通知"):
        with docroute.session() as s:
            ids.append(runtime.start_case(s, people["clerk"], "review", {"rounds": 0},
                                          title=title).id)
    steps = [(ids[0], "clerk", {"title": "防汛通知"}), (ids[0], "rev1", {"decision": "return"}),
             (ids[0], "clerk", {"title": "防汛通知（二稿）"}),
             (ids[0], "rev2", {"decision": "approve"}), (ids[1], "clerk", {"title": "安全检查"})]
    for case_id, who, data in steps:
        with docroute.session() as s:
            row = s.scalars(select(Task).where(Task.instance_id == case_id)).one()
            runtime.complete(s, row.id, people[who], data)
    return ids


def verify(docroute: Docroute) -> audit.ChainReport:
    with docroute.session() as s:
        return audit.verify_chains(s)


def sql(docroute: Docroute, statement: str, **params: object) -> None:
    with docroute.engine.begin() as conn:
        conn.execute(text(statement), params)


def only(report: audit.ChainReport) -> tuple[str, int, str]:
    assert [p.chain for p in report.problems] and len(report.broken_chains) == 1, report.problems
    first = report.problems[0]
    return first.chain, first.seq, first.kind


def test_untouched_database_verifies(docroute: Docroute, cases: list[int]) -> None:
    report = verify(docroute)
    assert report.ok, report.problems
    assert report.chains == 4  # three cases and the system chain
    with docroute.session() as s:
        for case_id in cases:
            result = audit.verify_case(s, case_id)
            assert result.ok, result.lines()
            assert result.final_hash == s.get(audit.ChainHead, f"case:{case_id}").hash


def test_edited_payload(docroute: Docroute, cases: list[int]) -> None:
    sql(docroute, "UPDATE events SET payload = REPLACE(payload, 'return', 'approve') "
                  "WHERE chain = :c AND seq = 3", c=f"case:{cases[0]}")
    assert only(verify(docroute)) == (f"case:{cases[0]}", 3, "edited")


def test_edited_actor(docroute: Docroute, cases: list[int]) -> None:
    sql(docroute, "UPDATE events SET actor = 'boss' WHERE chain = :c AND seq = 2",
        c=f"case:{cases[1]}")
    report = verify(docroute)
    assert only(report) == (f"case:{cases[1]}", 2, "edited")
    assert str(report.problems[0]).startswith(f"case {cases[1]}, event 2: edited")


def test_edited_timestamp(docroute: Docroute, cases: list[int]) -> None:
    sql(docroute, "UPDATE events SET at = :at WHERE chain = :c AND seq = 1",
        at=datetime(2026, 1, 5, 1, 0), c=f"case:{cases[2]}")
    assert only(verify(docroute)) == (f"case:{cases[2]}", 1, "edited")


def test_deleted_event(docroute: Docroute, cases: list[int]) -> None:
    sql(docroute, "DELETE FROM events WHERE chain = :c AND seq = 2", c=f"case:{cases[0]}")
    assert only(verify(docroute)) == (f"case:{cases[0]}", 2, "deleted")


def test_inserted_event_with_a_valid_hash(docroute: Docroute, cases: list[int]) -> None:
    """An insider who even holds the history key and computes a valid keyed hash still
    cannot move the recorded chain head (tests/test_history_keys.py: without the key)."""
    chain = f"case:{cases[1]}"
    with docroute.session() as s:
        last = s.scalars(select(Event).where(Event.chain == chain)
                         .order_by(Event.seq.desc())).first()
        seq, prev = last.seq + 1, last.hash
    at = datetime(2026, 3, 2, 2, 0)
    payload = history.canonical_json({"spec": "review_task", "ordinal": 0,
                                      "data": {"decision": "approve"}})
    digest = history.event_hash(prev, chain, seq, "completed", "boss", at, None, None, payload,
                                docroute.keys.mac_key)
    sql(docroute, "INSERT INTO events (chain, seq, instance_id, type, actor, at, payload, "
                  "prev_hash, hash) VALUES (:c, :s, :i, 'completed', 'boss', :at, :p, :prev, :h)",
        c=chain, s=seq, i=cases[1], at=at, p=payload, prev=prev, h=digest)
    assert only(verify(docroute)) == (chain, seq, "inserted")


def test_swapped_events(docroute: Docroute, cases: list[int]) -> None:
    chain = f"case:{cases[0]}"
    sql(docroute, "UPDATE events SET seq = -1 WHERE chain = :c AND seq = 2", c=chain)
    sql(docroute, "UPDATE events SET seq = 2 WHERE chain = :c AND seq = 3", c=chain)
    sql(docroute, "UPDATE events SET seq = 3 WHERE chain = :c AND seq = -1", c=chain)
    report = verify(docroute)
    assert [(p.seq, p.kind) for p in report.problems] == [(2, "reordered"), (3, "reordered")]


def test_truncated_chain(docroute: Docroute, cases: list[int]) -> None:
    chain = f"case:{cases[0]}"
    with docroute.session() as s:
        last = s.scalar(select(Event.seq).where(Event.chain == chain)
                        .order_by(Event.seq.desc()).limit(1))
    sql(docroute, "DELETE FROM events WHERE chain = :c AND seq = :s", c=chain, s=last)
    assert only(verify(docroute)) == (chain, last, "truncated")


def test_whole_history_deleted(docroute: Docroute, cases: list[int]) -> None:
    sql(docroute, "DELETE FROM events WHERE chain = :c", c=f"case:{cases[2]}")
    assert only(verify(docroute)) == (f"case:{cases[2]}", 1, "deleted")


def test_event_moved_to_another_case(docroute: Docroute, cases: list[int]) -> None:
    sql(docroute, "UPDATE events SET instance_id = :other WHERE chain = :c AND seq = 1",
        other=cases[0], c=f"case:{cases[1]}")
    assert only(verify(docroute)) == (f"case:{cases[1]}", 1, "edited")


def test_system_chain_edit(docroute: Docroute, cases: list[int]) -> None:
    sql(docroute, "UPDATE events SET actor = 'nobody' WHERE chain = 'system' AND seq = 1")
    assert only(verify(docroute)) == ("system", 1, "edited")


def test_cli_reports_progress_problems_and_exit_code(docroute: Docroute, cases: list[int],
                                                     settings) -> None:
    env = {"DOCROUTE_DATABASE_URL": settings.db_url, "DOCROUTE_HOME": str(settings.home)}
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "4 chains" in ok.output and "no tampering found" in ok.output
    assert "checked 4/4 chains" in ok.output  # progress (stderr is mixed in)
    replayed = runner.invoke(cli, ["replay", str(cases[0])], env=env)
    assert replayed.exit_code == 0 and replayed.output.strip() == "verified"
    sql(docroute, "UPDATE events SET payload = REPLACE(payload, 'return', 'approve') "
                  "WHERE chain = :c AND seq = 3", c=f"case:{cases[0]}")
    bad = runner.invoke(cli, ["audit", "verify"], env=env)
    assert bad.exit_code == 1
    assert f"case {cases[0]}, event 3: edited" in bad.output
    replayed = runner.invoke(cli, ["replay", str(cases[0])], env=env)
    assert replayed.exit_code == 1 and "edited" in replayed.output
    missing = runner.invoke(cli, ["replay", "999"], env=env)
    assert missing.exit_code == 1 and "no case with id 999" in missing.output


def test_replay_reports_a_forged_but_consistent_history(docroute: Docroute,
                                                        cases: list[int]) -> None:
    """Rewriting an event with its keyed hash through docroute's own session (so its head
    follows), as only a holder of the history key could, leaves a consistent chain; replay
    still shows the state does not match."""
    chain = f"case:{cases[1]}"
    with docroute.session() as s:
        event = s.scalars(select(Event).where(Event.chain == chain, Event.seq == 2)).one()
        payload = json.loads(event.payload)
        payload["data"]["title"] = "伪造的标题"
        event.payload = history.canonical_json(payload)
        event.hash = history.event_hash(event.prev_hash, chain, 2, event.type, event.actor,
                                        event.at, event.task_id, event.task_name, event.payload,
                                        docroute.keys.mac_key)
    with docroute.session() as s:
        result = audit.verify_case(s, cases[1])
    assert not result.chain_problems and not result.replay.ok
    assert "伪造的标题" in result.replay.difference or "title" in result.replay.difference


def test_search_filters_and_csv(docroute: Docroute, cases: list[int], people) -> None:
    with docroute.session() as s:
        rows, total = audit.search_cases(s, people["admin"], CaseSearch())
        assert total == 3 and {r.id for r in rows} == set(cases)
        rows, total = audit.search_cases(s, people["admin"], CaseSearch(status="completed"))
        assert [r.id for r in rows] == [cases[0]]
        rows, _ = audit.search_cases(s, people["admin"], CaseSearch(title="安全生产"))
        assert [r.id for r in rows] == [cases[1]]
    data = audit.cases_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    assert "关于开展安全生产检查的通知" in data.decode("utf-8-sig")


# --- the auditor role in the web app ---------------------------------------------------------

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SESSION_ONLY = {"auth.login", "auth.logout", "auth.set_language",
                "checkpoints.verify"}  # verifies, writes nothing (tests/test_history_web.py)


def _auditor_client(docroute: Docroute, people: dict[str, Actor]) -> tuple[object, object]:
    from engine.org import identity
    from webui import create_app

    with docroute.session() as s:
        identity.add_user(s, "aud", "审计员", "password1", is_auditor=True, clearance="secret")
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": "test"}, docroute=docroute)
    client = app.test_client()
    response = client.post("/login", data={"username": "aud", "password": "password1"})
    assert response.status_code == 302
    return app, client


def _sample_url(rule: object) -> str:
    values = {}
    for name in rule.arguments:  # type: ignore[attr-defined]
        converter = rule._converters[name]  # type: ignore[attr-defined]
        values[name] = 1 if type(converter).__name__ in ("IntegerConverter", "IdConverter") \
            else "x"
    return rule.build(values)[1]  # type: ignore[attr-defined]


def test_every_write_route_refuses_an_auditor(docroute: Docroute, cases: list[int],
                                              people: dict[str, Actor]) -> None:
    from engine.org import identity

    app, client = _auditor_client(docroute, people)
    with docroute.session() as s:
        token = identity.create_token(s, "aud")
    checked = []
    for rule in app.url_map.iter_rules():
        methods = [m for m in rule.methods or () if m in WRITE_METHODS]
        if not methods or rule.endpoint in SESSION_ONLY or rule.endpoint == "static":
            continue
        url = _sample_url(rule)
        headers = {"Authorization": f"Bearer {token}"} if url.startswith("/api/") else {}
        for method in methods:
            response = client.open(url, method=method, headers=headers, data={"reason": "x"})
            assert response.status_code == 403, (method, url, response.status_code)
            checked.append((method, url))
    assert len(checked) >= 10, checked
    # an administrator is not refused by the rule (the route itself decides)
    admin_client = app.test_client()
    admin_client.post("/login", data={"username": "admin", "password": "password1"})
    assert admin_client.post("/language", data={"lang": "en"}).status_code == 302


def test_auditor_pages_and_clearance(docroute: Docroute, cases: list[int],
                                     people: dict[str, Actor]) -> None:
    _app, client = _auditor_client(docroute, people)
    page = client.get("/audit/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "关于防汛工作的通知" in text and 'method="post"' not in text.split("<main")[1]
    csv_body = client.get("/audit/cases.csv?status=completed").get_data()
    assert csv_body.startswith(b"\xef\xbb\xbf") and "关于防汛工作的通知".encode() in csv_body
    frames = client.get(f"/audit/cases/{cases[0]}/frames.json").get_json()
    assert len(frames["frames"]) == frames["events"] and frames["error"] is None
    assert frames["frames"][-1]["active"] == []
    # The data panel reads as the forms label it, in the reader's language, never as
    # bare variables (``decision: approve``).
    last = frames["shown"][-1]
    assert last["decision"][0] == "意见" and last["decision"][1] != "approve"
    assert last["title"][1] == "防汛通知（二稿）"
    client.post("/language", data={"lang": "en"})
    shown = client.get(f"/audit/cases/{cases[0]}/frames.json").get_json()["shown"][-1]
    assert shown["decision"][0] == "Decision"
    page = client.get(f"/audit/cases/{cases[0]}").get_data(as_text=True)
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d\d:\d\d", page)  # dates with the year
    assert "decision =" not in page
    client.post("/language", data={"lang": "zh"})
    verified = client.get(f"/audit/cases/{cases[0]}?verify=1").get_data(as_text=True)
    assert 'class="card verdict ok"' in verified
    exported = client.get(f"/audit/cases/{cases[0]}/export.json").get_json()
    assert exported["verification"]["ok"] and len(exported["verification"]["final_hash"]) == 64
    assert client.get(f"/audit/cases/{cases[0]}/print").status_code == 200
    # a case above the auditor's clearance (secret) is not found, nor listed
    with docroute.session() as s:
        from engine.models import Instance

        s.get(Instance, cases[2]).classification = 3
    assert client.get(f"/audit/cases/{cases[2]}").status_code == 404
    assert client.get(f"/audit/cases/{cases[2]}/frames.json").status_code == 404
    listed = client.get("/audit/").get_data(as_text=True)
    assert "关于调整作息时间的通知" not in listed
    # staff are not auditors
    from webui import create_app

    staff = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                        "SECRET_KEY": "test"}, docroute=docroute).test_client()
    staff.post("/login", data={"username": "clerk", "password": "password1"})
    assert staff.get("/audit/").status_code == 403


def test_every_demo_case_verifies(db_url: str, tmp_path: Path) -> None:
    """The shipped processes and the demo data: every case replays to its stored state."""
    from engine import Settings, demo

    app = Docroute(Settings(home=tmp_path / "home", database_url=db_url))
    try:
        app.init()
        demo.seed(app)
        with app.session() as s:
            ids = list(s.scalars(select(Instance.id).order_by(Instance.id)))
            assert len(ids) >= 2
            for case_id in ids:
                result = audit.verify_case(s, case_id)
                assert result.ok, (case_id, result.lines())
            assert audit.verify_chains(s).ok
            finished = s.scalars(select(Instance).where(Instance.status == "completed")).all()
            assert finished, "the demo has a finished case for auditors"
    finally:
        app.engine.dispose()


def test_verifying_every_chain_does_not_block_writers(docroute: Docroute,
                                                      cases: list[int]) -> None:
    import time

    from engine.org import identity

    with audit.reading(docroute) as reader:
        stream = reader.execute(select(Event.chain, Event.seq).order_by(Event.chain, Event.seq)
                                .execution_options(yield_per=2))
        next(iter(stream))  # mid-stream, as during a long verification
        started = time.monotonic()
        with docroute.session() as s:
            identity.add_group(s, "auditors", "审计组", kind="role")
        assert time.monotonic() - started < 5
        report = audit.verify_chains(reader)
    assert report.ok
