"""Many writers of the history chains at once (issue 12 item 6): no 5xx, no gaps, a valid chain.

Registrations with numbered cases and task completions go through the JSON API, each
thread with its own client on one app (one connection pool, as under a threaded server);
administrators add users meanwhile. On PostgreSQL every one of them appends to the one
system chain (and to counters and case chains) in parallel.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from engine import Docroute
from engine.definitions import SourceFile
from engine.history import checkpoints
from engine.models import Document, Event, Task
from engine.org import identity
from engine.org.identity import Actor
from webui import create_app

DATA = Path(__file__).parent / "data"
OUTGOING = {"title": "关于国庆期间游客安全工作的通知", "doc_type": "通知",
            "principal_recipients": ["葵涌办事处"], "drafting_department": "general_office",
            "urgency": "特急"}
REGISTRARS, PER_REGISTRAR = 6, 4
ADMINS, PER_ADMIN = 2, 4
LEADERS, PER_LEADER = 4, 2


def _app(docroute: Docroute) -> Flask:
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), "admin")
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("document_services.bpmn",
                                       (DATA / "workflows" / "document_services.bpmn")
                                       .read_bytes())], actor="admin")
    return create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "test"},
                      docroute=docroute)


def _run_together(jobs: list[Callable[[], None]]) -> list[BaseException]:
    start, errors = threading.Barrier(len(jobs)), []

    def run(job: Callable[[], None]) -> None:
        start.wait()
        try:
            job()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


def test_parallel_writers_keep_every_chain_whole(docroute: Docroute,
                                                 people: dict[str, Actor]) -> None:
    app = _app(docroute)
    with docroute.session() as s:
        clerk = {"Authorization": f"Bearer {identity.create_token(s, 'clerk')}"}
        boss = {"Authorization": f"Bearer {identity.create_token(s, 'boss')}"}
    waiting = []
    for _ in range(LEADERS * PER_LEADER):  # cases whose 签发 the leaders complete meanwhile
        with app.test_client() as client:
            doc = client.post("/api/v1/documents", headers=clerk,
                              json={"kind": "outgoing", "fields": OUTGOING}).get_json()
            case = client.post("/api/v1/definitions/document_services/instances",
                               headers=clerk, json={"document_id": doc["id"]}).get_json()
            waiting.append(case["id"])
    statuses: list[int] = []

    def register() -> None:
        client = app.test_client()
        for _ in range(PER_REGISTRAR):
            made = client.post("/api/v1/documents", headers=clerk,
                               json={"kind": "outgoing", "fields": OUTGOING})
            statuses.append(made.status_code)
            started = client.post("/api/v1/definitions/document_services/instances",
                                  headers=clerk, json={"document_id": made.get_json()["id"]})
            statuses.append(started.status_code)

    def add_users(n: int) -> None:
        for i in range(PER_ADMIN):
            with docroute.session() as s:
                identity.add_user(s, f"new{n}_{i}", f"新用户{n}{i}", "Str0ng-passphrase-9",
                                  actor="admin")

    def sign(cases: list[int]) -> None:
        client = app.test_client()
        for case_id in cases:
            with docroute.session() as s:
                task_id = s.scalar(select(Task.id).where(Task.instance_id == case_id))
            for call, body in (("claim", None), ("complete", {"data": {
                    "signer": "林海", "retention": "永久"}})):
                response = client.post(f"/api/v1/tasks/{task_id}/{call}", headers=boss,
                                       json=body)
                statuses.append(response.status_code)

    jobs: list[Callable[[], None]] = [register for _ in range(REGISTRARS)]
    jobs += [lambda n=n: add_users(n) for n in range(ADMINS)]
    jobs += [lambda k=k: sign(waiting[k::LEADERS]) for k in range(LEADERS)]
    errors = _run_together(jobs)

    assert errors == []
    assert [s for s in statuses if s >= 500] == []
    assert set(statuses) <= {200, 201}, sorted(set(statuses))
    assert len(statuses) == REGISTRARS * PER_REGISTRAR * 2 + LEADERS * PER_LEADER * 2
    with docroute.session() as s:
        seqs = list(s.scalars(select(Event.seq).where(Event.chain == "system")
                              .order_by(Event.seq)))
        numbers = sorted(int(re.search(r"〔2026〕(\d+)号", n).group(1)) for n in s.scalars(
            select(Document.doc_number).where(Document.doc_number.is_not(None))))
        report = checkpoints.verify(s)
    assert seqs == list(range(1, len(seqs) + 1))  # gapless, one writer at a time
    registered = REGISTRARS * PER_REGISTRAR + LEADERS * PER_LEADER
    assert numbers == list(range(1, registered + 1))
    assert report.ok, report.problems[:5]
    assert report.chains == 1 + registered  # the system chain and one per case
