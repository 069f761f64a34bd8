"""Several processes on one database: row locks (PostgreSQL) or BEGIN IMMEDIATE (SQLite)
make each step all-or-nothing, even when a process dies in the middle of one.

Every worker is a separate OS process with its own ``Docroute`` (own engine and pool).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import Actor, Conflict, Docroute, Settings, history, runtime
from engine.definitions import SourceFile
from engine.models import Instance, Task
from engine.org import identity
from engine.runtime import operators as services

CTX = multiprocessing.get_context("fork")
DATA = Path(__file__).parent / "data"

PARALLEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="parallel" name="Parallel" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/>
    <bpmn:parallelGateway id="split"/>
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="a"/>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="b"/>
    <bpmn:userTask id="a" name="A" camunda:candidateGroups="reviewers"/>
    <bpmn:userTask id="b" name="B" camunda:candidateGroups="reviewers"/>
    <bpmn:sequenceFlow id="fa2" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="fb2" sourceRef="b" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="c"/>
    <bpmn:userTask id="c" name="C" camunda:candidateGroups="reviewers"/>
    <bpmn:sequenceFlow id="f3" sourceRef="c" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmn:process id="dying" name="Dying" isExecutable="true">
    <bpmn:startEvent id="d_start"/>
    <bpmn:sequenceFlow id="d1" sourceRef="d_start" targetRef="go"/>
    <bpmn:userTask id="go" name="Go" camunda:candidateGroups="reviewers"/>
    <bpmn:sequenceFlow id="d2" sourceRef="go" targetRef="note"/>
    <bpmn:scriptTask id="note" name="Note"><bpmn:script>noted = True</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="d3" sourceRef="note" targetRef="die"/>
    <bpmn:serviceTask id="die" name="Die">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="docroute_test_die" resultVariable="out">
          <spiffworkflow:parameters/>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="d4" sourceRef="die" targetRef="after"/>
    <bpmn:userTask id="after" name="After" camunda:candidateGroups="reviewers"/>
    <bpmn:sequenceFlow id="d5" sourceRef="after" targetRef="d_end"/>
    <bpmn:endEvent id="d_end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def deployed(docroute: Docroute, people: dict[str, Actor]) -> Docroute:
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("parallel.bpmn", PARALLEL.encode())], actor="test")
    return docroute


def _worker_app(settings: Settings) -> Docroute:
    return Docroute(settings)


def _complete_in_child(settings: Settings, username: str, task_id: str, barrier: Any,
                       results: Any) -> None:
    app = _worker_app(settings)
    with app.session() as s:
        actor = Actor.of(identity.get_user(s, username))
    barrier.wait(timeout=30)
    try:
        with app.session() as s:
            runtime.complete(s, task_id, actor, {})
        results.put((username, task_id, "ok"))
    except Conflict as error:
        results.put((username, task_id, f"Conflict: {error}"))
    except Exception as error:  # reported to the parent, which fails the test
        results.put((username, task_id, f"{type(error).__name__}: {error}"))
    finally:
        app.engine.dispose()


def _race(docroute: Docroute, jobs: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    docroute.engine.dispose()  # no pooled connection crosses the fork
    barrier, results = CTX.Barrier(len(jobs)), CTX.Queue()
    procs = [CTX.Process(target=_complete_in_child,
                         args=(docroute.settings, user, task, barrier, results))
             for user, task in jobs]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    return outcomes


def _open(docroute: Docroute, case_id: int) -> dict[str, str]:
    with docroute.session() as s:
        return {t.spec: t.id for t in s.scalars(select(Task).where(Task.instance_id == case_id))}


def _start(docroute: Docroute, actor: Actor, key: str) -> int:
    with docroute.session() as s:
        return runtime.start_case(s, actor, key).id


def test_same_task_completed_by_two_processes(deployed: Docroute, people: dict) -> None:
    case = _start(deployed, people["admin"], "parallel")
    task_a = _open(deployed, case)["a"]
    outcomes = _race(deployed, [("rev1", task_a), ("rev2", task_a)])
    verdicts = sorted(o[2].split(":")[0] for o in outcomes)
    assert verdicts == ["Conflict", "ok"], outcomes
    with deployed.session() as s:
        completed = [e for e in history.case_events(s, case)
                     if e.type == "completed" and e.task_id == task_a]
        assert len(completed) == 1
    assert set(_open(deployed, case)) == {"b"}


def test_two_parallel_branches_completed_at_once(deployed: Docroute, people: dict) -> None:
    case = _start(deployed, people["admin"], "parallel")
    tasks = _open(deployed, case)
    outcomes = _race(deployed, [("rev1", tasks["a"]), ("rev2", tasks["b"])])
    assert [o[2] for o in outcomes] == ["ok", "ok"], outcomes
    with deployed.session() as s:
        done = {e.task_id for e in history.case_events(s, case) if e.type == "completed"}
        assert {tasks["a"], tasks["b"]} <= done
        assert s.get(Instance, case).version == 3  # started, then one step each
    assert set(_open(deployed, case)) == {"c"}  # the join fired exactly once
    deployed.runtime.cache.clear()
    with deployed.session() as s:
        runtime.complete(s, _open(deployed, case)["c"], people["rev1"], {})
    with deployed.session() as s:
        assert s.get(Instance, case).status == "completed"


# --- a process dies in the middle of a step ------------------------------------------------


def _die_in_child(settings: Settings, task_id: str, how: str) -> None:
    app = _worker_app(settings)

    def die(call: services.ServiceCall) -> Any:
        call.session.flush()  # the step's writes are in the database, not yet committed
        if how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(17)

    app.runtime.operators["docroute_test_die"] = die  # this process's Docroute only
    with app.session() as s:
        actor = Actor.of(identity.get_user(s, "rev1"))
    with app.session() as s:
        runtime.complete(s, task_id, actor, {})
    os._exit(0)  # not reached: the operator ended the process


def _case_snapshot(docroute: Docroute, case_id: int) -> tuple[Any, ...]:
    with docroute.session() as s:
        instance = s.get(Instance, case_id, populate_existing=True)
        tasks = sorted((t.id, t.spec, t.assignee, t.claimed_at) for t in
                       s.scalars(select(Task).where(Task.instance_id == case_id)))
        events = [(e.seq, e.type, e.task_id, e.hash) for e in history.case_events(s, case_id)]
        return (instance.status, instance.version, instance.state, instance.incident,
                tasks, events)


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_process_killed_mid_step_leaves_case_as_before(deployed: Docroute, people: dict,
                                                       how: str) -> None:
    case = _start(deployed, people["admin"], "dying")
    go = _open(deployed, case)["go"]
    before = _case_snapshot(deployed, case)
    deployed.engine.dispose()
    proc = CTX.Process(target=_die_in_child, args=(deployed.settings, go, how))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == (-signal.SIGKILL if how == "sigkill" else 17)
    assert _case_snapshot(deployed, case) == before
    # The case still works: the same step, done by a live process, commits fully.
    deployed.runtime.operators["docroute_test_die"] = lambda call: {"ok": True}
    deployed.runtime.cache.clear()
    with deployed.session() as s:
        runtime.complete(s, go, people["rev1"], {})
    assert set(_open(deployed, case)) == {"after"}
    with deployed.session() as s:
        assert [e.type for e in history.case_events(s, case)] == ["started", "completed"]
