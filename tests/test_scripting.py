"""The restricted script environment: what it refuses, what it runs, and how a failing
script becomes an incident that an administrator can retry."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import Docroute, ScriptError, history, runtime
from engine.clock import ManualClock
from engine.definitions import SourceFile
from engine.definitions.scripting import RestrictedEnvironment, check_expression, check_script
from engine.models import Instance, Task

ENV = RestrictedEnvironment(timeout_seconds=0.5)


def run(script: str, **data: Any) -> dict[str, Any]:
    context = dict(data)
    ENV.execute(script, context)
    return context


# --- refused at deploy time (compile) and at run time ----------------------------------------

REFUSED_SCRIPTS = [
    "import os",
    "from os import system",
    "__import__('os').system('id')",
    "x = ().__class__.__base__.__subclasses__()",
    "x = [].__class__",
    "x = title._private",
    "x = open('/etc/passwd').read()",
    "x = eval('1')",
    "exec('x = 1')",
    "x = getattr(title, 'upper')",
    "x = globals()",
    "x = compile('1', 'f', 'eval')",
]


@pytest.mark.parametrize("script", REFUSED_SCRIPTS)
def test_refused_at_deploy_and_at_run_time(script: str) -> None:
    assert check_script(script) is not None
    with pytest.raises(Exception) as caught:
        run(script, title="t")
    assert not isinstance(caught.value, SystemExit)


@pytest.mark.parametrize("expression", [
    "().__class__.__base__.__subclasses__()", "open('x')", "__import__('os')",
    "getattr(a, 'b')", "eval('1')", "(lambda: globals())()",
])
def test_refused_expressions(expression: str) -> None:
    assert check_expression(expression) is not None


@pytest.mark.parametrize("script", [
    "x = '{0.__class__}'.format(title)",
    "x = '{0.__class__.__mro__}'.format_map({'0': title})",
    "f = '{.__globals__}'.format\nx = f(sorted)",
])
def test_str_format_attribute_walks_blocked(script: str) -> None:
    with pytest.raises(Exception) as caught:
        run(script, title="t")
    assert "__class__" not in str(caught.value) or "format" in str(caught.value)


@pytest.mark.parametrize("script", [
    "x = 'a' * 10**9",
    "x = [0] * 10**9",
    "x = 10 ** 10**6",
    "x = pow(10, 10**8)",
    "x = list(range(10**10))",
    "x = 'ab'\nx *= 10**9",
    "x = 7\nx **= 10**7",
])
def test_huge_sequences_and_numbers_refused_quickly(script: str) -> None:
    started = time.monotonic()
    with pytest.raises(ScriptError, match="too large"):
        run(script)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("script", [
    "while True:\n    pass",
    "x = 0\nwhile True:\n    x += 1",
    "def f():\n    while True:\n        pass\nf()",
])
def test_endless_loops_time_out(script: str) -> None:
    started = time.monotonic()
    with pytest.raises(ScriptError, match="longer than"):
        run(script)
    assert time.monotonic() - started < 3


def test_data_cannot_replace_the_guards() -> None:
    context = {"_getattr_": getattr, "__builtins__": __builtins__, "x": 1}
    ENV.execute("y = x + 1", context)
    assert context["y"] == 2
    with pytest.raises(Exception):  # noqa: B017 - whichever guard stops it
        ENV.execute("z = x.__class__", context)


# --- normal scripts work -------------------------------------------------------------------


def test_normal_scripts_run() -> None:
    out = run(
        "squares = [n * n for n in numbers if n % 2]\n"
        "total = 0\n"
        "for n in numbers:\n"
        "    total += n\n"
        "counts = {}\n"
        "for word in words:\n"
        "    counts[word] = counts.get(word, 0) + 1\n"
        "ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))\n"
        "first, second = ranked[0], ranked[1]\n"
        "names = {d['name'] for d in depts}\n"
        "label = ', '.join(sorted(names))\n"
        "due = (today() + timedelta(days=3)).isoformat()\n"
        "big = max(numbers) * 2 + len(words)\n"
        "nested = {'a': {'b': [1, 2]}}\n"
        "nested['a']['b'].append(3)\n"
        "del counts['x']\n",
        numbers=[1, 2, 3, 4, 5], words=["x", "y", "y", "z"],
        depts=[{"name": "办公室"}, {"name": "财务科"}],
    )
    assert out["squares"] == [1, 9, 25]
    assert out["total"] == 15
    assert out["ranked"][0] == ("y", 2)
    assert out["label"] == "办公室, 财务科"
    assert out["big"] == 14
    assert out["nested"] == {"a": {"b": [1, 2, 3]}}
    assert "x" not in out["counts"]
    assert len(out["due"]) == 10
    json.dumps({k: v for k, v in out.items() if k not in ("ranked", "names")})


def test_expressions_evaluate_with_task_data() -> None:
    assert ENV.evaluate("decision == 'approve' and amount > 10",
                        {"decision": "approve", "amount": 11}) is True
    assert ENV.evaluate("sum(x for x in items)", {"items": [1, 2, 3]}) == 6
    assert ENV.evaluate("pow(2, 10, 1000)", {}) == 24


def test_a_script_may_delete_its_own_variables() -> None:
    assert "tmp" not in run("del tmp", tmp=1)


# --- at run time: incident, consistency, retry ------------------------------------------------

FLAKY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="flaky" name="Flaky" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill"/>
    <bpmn:userTask id="fill" name="Fill" camunda:candidateGroups="clerks"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="calc"/>
    <bpmn:scriptTask id="calc" name="计算">
      <bpmn:script>result = 1
if now() &lt; parse_datetime(not_before):
    raise ValueError('the register is closed until ' + not_before)
result = 2</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="calc" targetRef="after"/>
    <bpmn:userTask id="after" name="After" camunda:candidateGroups="clerks"/>
    <bpmn:sequenceFlow id="f4" sourceRef="after" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _snapshot(docroute: Docroute, instance_id: int) -> tuple[Any, ...]:
    with docroute.session() as s:
        instance = s.get(Instance, instance_id)
        tasks = sorted((t.id, t.spec, t.assignee) for t in
                       s.scalars(select(Task).where(Task.instance_id == instance_id)))
        events = [(e.seq, e.type, e.hash) for e in history.case_events(s, instance_id)]
        return (instance.status, instance.incident, instance.version, instance.state,
                tasks, events)


def test_failing_script_becomes_incident_and_retry_runs_it(
        docroute: Docroute, people: dict, manual_clock: ManualClock) -> None:
    admin = people["admin"]
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("flaky.bpmn", FLAKY.encode())], actor="test")
    with docroute.session() as s:
        case_id = runtime.start_case(s, admin, "flaky",
                                     {"not_before": "2026-03-03T01:00:00+00:00"}).id
    with docroute.session() as s:
        [fill] = s.scalars(select(Task).where(Task.instance_id == case_id))
        runtime.complete(s, fill.id, people["clerk"], {})
    before = _snapshot(docroute, case_id)
    status, incident, _, _, tasks, events = before
    assert status == "error"
    assert incident.startswith("script failed in 计算")
    assert "the register is closed until 2026-03-03" in incident
    assert tasks == []
    assert [e[1] for e in events][-2:] == ["completed", "incident"]
    # Reloaded from the database by a fresh process-wide cache, the case is the same.
    docroute.runtime.cache.clear()
    assert _snapshot(docroute, case_id) == before
    with docroute.session() as s:
        workflow = runtime.load_workflow(s, s.get(Instance, case_id))
        [failed] = [t for t in workflow.get_tasks() if t.task_spec.name == "calc"]
        assert failed.state == TaskState.ERROR
    # Retrying before the cause is fixed records a second incident and stays in error.
    with docroute.session() as s:
        runtime.retry(s, case_id, admin, "try again")
    assert _snapshot(docroute, case_id)[0] == "error"
    # The cause goes away (the register opens), and the retry runs the script.
    manual_clock.advance(timedelta(days=1))
    with docroute.session() as s:
        instance = runtime.retry(s, case_id, admin, "register is open now")
        assert (instance.status, instance.incident) == ("running", None)
    status, incident, _, _, tasks, events = _snapshot(docroute, case_id)
    assert status == "running" and incident is None
    assert [t[1] for t in tasks] == ["after"]
    assert [e[1] for e in events].count("retried") == 2
    with docroute.session() as s:
        [after] = s.scalars(select(Task).where(Task.instance_id == case_id))
        assert runtime.task_data(s, after)["result"] == 2
        runtime.complete(s, after.id, people["clerk"], {})
    with docroute.session() as s:
        assert s.get(Instance, case_id).status == "completed"


def test_only_administrators_retry(docroute: Docroute, people: dict) -> None:
    with docroute.session() as s, pytest.raises(Exception, match="administrators"):
        runtime.retry(s, 1, people["clerk"], "please")
