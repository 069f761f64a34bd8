"""The hot path: the SQL statements one task completion through the API issues.

Counted with a statement listener (independent of machine load), so a change that adds
a query to every step fails here instead of only showing in a benchmark. Numbers and
what each statement is for: docs/benchmarks.md ("The hot path").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from engine import Docroute, runtime
from engine.definitions import SourceFile
from engine.models import Task, TaskGroup
from engine.org import identity

TWO_STEPS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="steps" name="Steps" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="one"/>
    <bpmn:userTask id="one" name="One" camunda:candidateGroups="clerks"/>
    <bpmn:sequenceFlow id="f2" sourceRef="one" targetRef="two"/>
    <bpmn:userTask id="two" name="Two" camunda:candidateGroups="clerks"/>
    <bpmn:sequenceFlow id="f3" sourceRef="two" targetRef="three"/>
    <bpmn:userTask id="three" name="Three" camunda:candidateGroups="clerks"/>
    <bpmn:sequenceFlow id="f4" sourceRef="three" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

# Statements of one POST /api/v1/tasks/<id>/complete that moves the case to its next task.
# Authentication (its own read-only transaction): BEGIN and one SELECT of the token with
# its user and groups = 2 (a token's use is recorded at most once a minute: +2 then).
# The step = 14: the task, the case (read with its row lock), who may hold the task (the
# user with their groups, the candidates), the history append (chain end, insert), the
# draft, the case update, the case's task rows, their removal (provisional dates, task;
# the task's group rows go by ON DELETE CASCADE), the new task and its groups, the chain
# head. Group names for lanes, step targets and the process's key, version and name come
# from the Docroute's memory (runtime/state.py); a case that had and has no timer skips
# its timer rows. SQLite adds its BEGIN IMMEDIATE; PostgreSQL issues no BEGIN but re-reads
# the task under the row lock and takes the chain's advisory lock. The KPI facts fold at
# commit = 4: the case's facts row, its deadline, the row update, the step row (the events
# and the case come from the session).
EXPECTED = {"sqlite": 2 + 14 + 1 + 4, "postgresql": 1 + 14 + 2 + 4}
BEFORE = {"sqlite": 29, "postgresql": 28}  # before issue 17's hot-path work (measured the same way)


@pytest.fixture
def statements(docroute: Docroute) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(docroute.engine, "before_cursor_execute", record)
    yield seen
    event.remove(docroute.engine, "before_cursor_execute", record)


@pytest.fixture
def app(docroute: Docroute, people: dict) -> Flask:
    from webui import create_app

    # The calendar's version is read at most every 30 s (workcalendar.CHECK_EVERY): one
    # more statement then. Counted statements must not depend on how slow the machine is.
    docroute.calendar.check_every = float("inf")

    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("steps.bpmn", TWO_STEPS.encode())], actor="admin")
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret"}, docroute=docroute)


def _open_task(docroute: Docroute, case_id: int) -> str:
    with docroute.session() as s:
        return s.scalars(select(Task.id).where(Task.instance_id == case_id)).one()


@pytest.mark.parametrize("cache", ["warm", "cold"])
def test_one_completion_through_the_api_issues_a_fixed_number_of_statements(
        app: Flask, docroute: Docroute, people: dict, statements: list[str],
        cache: str) -> None:
    with docroute.session() as s:
        token = identity.create_token(s, "clerk")
        case_id = runtime.start_case(s, people["clerk"], "steps").id
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200  # use recorded
    counts = []
    for _ in range(2):  # the first and the second step cost the same
        task_id = _open_task(docroute, case_id)
        if cache == "cold":
            docroute.runtime.cache.clear()
        statements.clear()
        response = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}},
                               headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        counts.append(len(statements))
    dialect = docroute.engine.dialect.name
    assert counts == [EXPECTED[dialect]] * 2, "\n".join(statements)
    assert EXPECTED[dialect] < BEFORE[dialect]  # KPI facts included, which came since
    still_open = _open_task(docroute, case_id)
    with docroute.session() as s:  # the finished tasks' group rows went with them (cascade)
        assert s.scalars(select(TaskGroup.task_id)).all() == [still_open]


def test_a_token_use_is_recorded_at_most_once_a_minute(
        app: Flask, docroute: Docroute, people: dict, statements: list[str],
        manual_clock: Any) -> None:
    from datetime import timedelta

    from engine.org import tokens

    with docroute.session() as s:
        token = identity.create_token(s, "clerk")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def used() -> Any:
        with docroute.session() as s:
            return tokens.list_for(s, "clerk")[0].last_used_at

    def writes() -> int:
        return sum(st.startswith("UPDATE api_tokens") for st in statements)

    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    first = used()
    assert first == manual_clock.now() and writes() == 1
    manual_clock.advance(timedelta(seconds=59))
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    assert used() == first and writes() == 1  # a read needs no write
    manual_clock.advance(timedelta(seconds=1))
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    assert used() == manual_clock.now() and writes() == 2


def test_the_chain_head_follows_what_was_written_even_after_a_savepoint_rolls_back(
        app: Flask, docroute: Docroute, people: dict) -> None:
    """History remembers the end it sealed instead of reading it back; an append that a
    savepoint undid must not become the recorded end."""
    from engine import history
    from engine.history.audit import ChainHead
    from engine.models import Event

    with docroute.session() as s:
        case_id = runtime.start_case(s, people["clerk"], "steps").id
    chain = history.case_chain(case_id)
    with docroute.session() as s:
        kept = history.append_case(s, case_id, "comment", "clerk", {"text": "kept"})
        second = history.append_case(s, case_id, "comment", "clerk", {"text": "also kept"})
        assert second.seq == kept.seq + 1 and second.prev_hash == kept.hash
        nested = s.begin_nested()
        history.append_case(s, case_id, "comment", "clerk", {"text": "undone"})
        nested.rollback()
    with docroute.session() as s:
        head = s.get(ChainHead, chain)
        last = s.execute(select(Event.seq, Event.hash).where(Event.chain == chain)
                         .order_by(Event.seq.desc()).limit(1)).one()
        assert head is not None and (head.seq, head.hash) == (last.seq, last.hash)
        assert last.seq == second.seq
        after = history.append_case(s, case_id, "comment", "clerk", {"text": "next"})
        assert after.seq == last.seq + 1 and after.prev_hash == last.hash


def test_a_claim_does_not_fold_the_case_s_report_facts(
        app: Flask, docroute: Docroute, people: dict, statements: list[str]) -> None:
    """Who holds a task is nothing a report reads: a claim's transaction skips the fold,
    and the facts still equal a rebuild from the events afterwards."""
    from engine.queries import kpi
    from engine.runtime import step

    assert kpi.FACTS_NEUTRAL <= step.PASSIVE_EVENTS  # neutral events never move a case
    with docroute.session() as s:
        token = identity.create_token(s, "clerk")
        case_id = runtime.start_case(s, people["clerk"], "steps").id
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    task_id = _open_task(docroute, case_id)
    statements.clear()
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=headers).status_code == 200
    assert not [st for st in statements if "case_facts" in st or "deadlines" in st]
    assert client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}},
                       headers=headers).status_code == 200
    with docroute.session() as s:
        kept = kpi.facts_snapshot(s)
        kpi.rebuild_facts(s)
        assert kpi.facts_snapshot(s) == kept
