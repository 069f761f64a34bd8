"""The inbox queries at scale: who sees what, the tab counts, and index use on both backends.

The plans are checked on two thousand synthetic tasks (the benchmark,
benchmarks/bench_inbox.py, runs the same queries at 100,000 tasks and 1,000,000 events).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, text, update

from engine import Docroute
from engine.models import Definition, Instance, Task, TaskGroup
from engine.org import identity
from engine.queries.inbox import (
    InboxFilter,
    count_query,
    count_scopes,
    counts,
    list_query,
    list_tasks,
)

GROUPS = 50
TASKS = 2_000


def _fill(docroute: Docroute, tasks: int = TASKS) -> identity.Actor:
    """``tasks`` open tasks over ``GROUPS`` groups; the actor is in g1 and holds some."""
    now = datetime(2026, 3, 2, tzinfo=UTC)
    with docroute.session() as s:
        for g in range(GROUPS):
            identity.add_group(s, f"g{g}", f"组{g}", kind="department")
        identity.add_user(s, "worker", "Worker", "password1", groups=["g1"], clearance="secret")
        s.add(Definition(key="p", version=1, name="P", filename="p.bpmn", sha256="0" * 64,
                         xml="<x/>", dependencies={}, deployed_by="t", deployed_at=now))
    with docroute.session() as s:
        definition_id = s.scalar(text("SELECT id FROM definitions"))
        s.execute(insert(Instance), [
            {"id": i, "definition_id": definition_id, "status": "running", "state": "{}",
             "serializer_version": "1", "version": 1, "form_versions": {}, "started_by": "t",
             "started_at": now, "updated_at": now} for i in range(1, tasks + 1)])
        s.execute(insert(Task), [_task(i, now) for i in range(1, tasks + 1)])
        s.execute(insert(TaskGroup), [{"task_id": f"t{i}", "group_key": f"g{i % GROUPS}"}
                                      for i in range(1, tasks + 1)])
    with docroute.engine.connect() as conn:
        if docroute.engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
    with docroute.session() as s:
        return identity.Actor.of(identity.get_user(s, "worker"))


def _task(i: int, now: datetime) -> dict[str, Any]:
    # In g1 (i % 50 == 1): every 4th is top secret, every 5th claimed by someone else.
    # Assigned to the worker: i % 50 == 2 (outside the worker's group).
    assignee = "worker" if i % GROUPS == 2 else ("other" if i % 5 == 0 else None)
    return {"id": f"t{i}", "instance_id": i, "spec": "s", "name": "办理", "process_key": "p",
            "assignee": assignee, "candidate_groups": [f"g{i % GROUPS}"],
            "due_at": now + timedelta(hours=i % 97), "classification": 3 if i % 4 == 0 else 0,
            "created_at": now}


def _expected(tasks: int = TASKS) -> dict[str, set[str]]:
    def visible(i: int) -> bool:
        return i % 4 != 0  # the worker is cleared to secret, not top secret

    rows = range(1, tasks + 1)
    mine = {f"t{i}" for i in rows if i % GROUPS == 2 and visible(i)}
    group = {f"t{i}" for i in rows if i % GROUPS == 1 and i % 5 != 0 and visible(i)}
    return {"mine": mine, "group": group, "all": mine | group}


def test_each_scope_lists_exactly_what_the_actor_may_work_on(docroute: Docroute) -> None:
    actor = _fill(docroute)
    expected = _expected()
    with docroute.session() as s:
        for scope, ids in expected.items():
            rows = list_tasks(s, actor, InboxFilter(scope=scope, limit=500))
            assert {r.id for r in rows} == ids, scope
            due = [r.due_at for r in rows]
            assert due == sorted(due), scope  # most pressing first
        assert count_scopes(s, actor) == {k: len(v) for k, v in expected.items()}



def test_the_tabs_and_the_reminder_colours_are_counted_in_one_pass(
        docroute: Docroute, manual_clock: Any) -> None:
    actor = _fill(docroute)
    expected = _expected()
    with docroute.session() as s:
        s.execute(update(Task).where(Task.id.in_(sorted(expected["all"])[::3]))
                  .values(reminder_level="red"))
    # The tasks were made due 0-96 hours after this moment: ten hours on, those due within
    # the first ten are overdue.
    manual_clock.set(datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=10))
    overdue = {t for t in expected["all"] if int(t[1:]) % 97 < 10}
    with docroute.session() as s:
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        event.listen(docroute.engine, "before_cursor_execute", record)
        try:
            tabs, levels = counts(s, actor)
        finally:
            event.remove(docroute.engine, "before_cursor_execute", record)
    assert tabs == {k: len(v) for k, v in expected.items()}
    assert levels == {"blue": 0, "yellow": 0, "red": len(sorted(expected["all"])[::3]),
                      "escalated": 0, "overdue": len(overdue)}
    assert len([st for st in statements if "count" in st.lower() or "sum(" in st]) == 1


def _tasks_rows_read(docroute: Docroute, query: Any) -> tuple[int, str]:
    """How many ``tasks`` rows the query read (returned or filtered out), and its plan.

    PostgreSQL: from ``EXPLAIN ANALYZE`` (the plan the planner picks, even at this size).
    SQLite: from ``EXPLAIN QUERY PLAN``, where ``SCAN tasks`` reads every row.
    """
    sql = str(query.compile(docroute.engine, compile_kwargs={"literal_binds": True}))
    with docroute.engine.connect() as conn:
        if docroute.engine.dialect.name != "postgresql":
            plan = "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            return (TASKS if "SCAN tasks" in plan.replace("SEARCH tasks", "") else 0), plan
        [[doc]] = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).all()
    read = 0
    nodes = [doc[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", []))
        if node.get("Relation Name") == "tasks":
            loops = node.get("Actual Loops", 1)
            read += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
    return read, json.dumps(doc, indent=1)


def test_inbox_queries_start_from_the_actors_rows_not_all_tasks(docroute: Docroute) -> None:
    actor = _fill(docroute)
    with docroute.session() as s:
        queries = {f"{scope} {kind}": query for scope in ("all", "group", "mine")
                   for kind, query in (("list", list_query(s, actor, InboxFilter(scope=scope))),
                                       ("count", count_query(s, actor, scope)))}
    for name, query in queries.items():
        read, plan = _tasks_rows_read(docroute, query)
        # The actor's rows are 80 of 2,000 (40 in their group, 40 assigned to them); a
        # plan may read some twice (ids, then rows), but never the other 1,920.
        assert read <= 200, f"{name} read {read} task rows:\n{plan}"


def test_a_stale_task_is_found_through_the_events_index(docroute: Docroute) -> None:
    with docroute.engine.connect() as conn:
        sql = "SELECT id FROM events WHERE task_id = 'x'"
        if docroute.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # an empty table: force the choice
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
        else:
            plan = " ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "ix_events_task_id" in plan, plan
