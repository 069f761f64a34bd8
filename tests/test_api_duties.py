"""The office's other duties run to their end through the API alone.

Meetings (with each decision opened as a linked 督办 case), 主动公开, 政务信息 and the
generic 事项审批; and 批示 -> 督办: a leader's instruction on an incoming document opened
as a follow-up case in one call, carried over and linked both ways. The client builds
every submission from the task's JSON Schema (test_api_every_process.data_for), except
where a test needs a particular answer.
"""

from __future__ import annotations

from typing import Any

import pytest
import test_api_every_process as walk
from flask.testing import FlaskClient
from test_api_every_process import _call, data_for, drive

from engine import Docroute, clock

# The walk test's fixtures: a shipped instance with the demo organisation, its API client
# and a token per demo user.
shipped, client, tokens = walk.shipped, walk.client, walk.tokens

NEW_PROCESSES = ["meeting", "proactive_disclosure", "government_information", "item_approval"]


def _start(client: FlaskClient, token: str, key: str) -> int:
    definitions = {d["key"]: d for d in _call(client, token, "GET", "/definitions").get_json()}
    start = definitions[key]["start_form"]
    response = _call(client, token, "POST", f"/definitions/{key}/instances",
                     {"data": data_for(start) if start else {}})
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def _links(client: FlaskClient, token: str, case_id: int) -> list[dict[str, Any]]:
    response = _call(client, token, "GET", f"/instances/{case_id}/links")
    assert response.status_code == 200, response.get_json()
    return list(response.get_json())


def _started_data(client: FlaskClient, token: str, case_id: int) -> dict[str, Any]:
    events = _call(client, token, "GET", f"/instances/{case_id}/history").get_json()
    return dict(next(e for e in events if e["type"] == "started")["data"]["data"])


@pytest.mark.parametrize("key", NEW_PROCESSES)
def test_each_new_process_runs_to_its_end_through_the_api(
        client: FlaskClient, tokens: dict[str, str], shipped: Docroute,
        manual_clock: clock.ManualClock, key: str) -> None:
    case_id = _start(client, tokens["zhangli"], key)
    done = drive(client, tokens, shipped, manual_clock, case_id)
    assert done
    status = _call(client, tokens["admin"], "GET", f"/instances/{case_id}").get_json()
    assert status["status"] == "completed"
    if key != "meeting":
        return
    # The meeting's decision became a 督办 case linked to it, and that case runs to its end.
    assert "登记决定事项" in done
    linked = _links(client, tokens["admin"], case_id)
    assert [(c["relation"], c["direction"], c["definition_key"]) for c in linked] == [
        ("meeting_decision", "opened", "supervision")]
    assert linked[0]["status"] == "running" and linked[0]["open_tasks"]
    follow_up = linked[0]["id"]
    assert _started_data(client, tokens["admin"], follow_up)["source_type"] == "meeting_decision"
    assert [c["id"] for c in _links(client, tokens["admin"], follow_up)
            if c["direction"] == "opened_by"] == [case_id]
    drive(client, tokens, shipped, manual_clock, follow_up)
    assert _links(client, tokens["admin"], case_id)[0]["status"] == "completed"


INSTRUCTION = {"instruction": "请应急管理局牵头抓好落实，城管局配合。", "handling_mode": "act",
               "deadline": "2026-03-20", "decision": "approve"}
DISTRIBUTION = {"lead_department": "emergency_management", "co_departments": ["urban_management"]}


def _work(client: FlaskClient, tokens: dict[str, str], case_id: int, *,
          answers: dict[str, dict[str, Any]], last: str = "") -> list[tuple[str, str]]:
    """Complete the case's tasks until the task with form key ``last`` is done (or, with
    no ``last``, until the case ends); returns (user, form key) per task done.

    Like a person at the task page, the client keeps what the case already holds for a
    field (carried-over values) and fills the rest from the schema, unless ``answers``
    (by form key) says otherwise.
    """
    done: list[tuple[str, str]] = []
    for _ in range(40):
        status = _call(client, tokens["admin"], "GET", f"/instances/{case_id}").get_json()
        if status["status"] == "completed":
            assert not last, f"the case ended before {last}"
            return done
        found = None
        for name, token in tokens.items():
            mine = [t for t in _call(client, token, "GET", "/tasks?scope=all&limit=500")
                    .get_json() if t["instance_id"] == case_id]
            if mine:
                found = name, mine[0]
                break
        assert found is not None, f"case {case_id} has no open task: {done}"
        user, task = found
        detail = _call(client, tokens[user], "GET", f"/tasks/{task['id']}").get_json()
        fields = detail["form"].get("properties") or {}
        held = {k: v for k, v in detail["data"].items()
                if k in fields and not fields[k].get("readOnly") and v not in (None, "")}
        data = {**data_for(detail["form"]), **held, **answers.get(task["form_key"], {})}
        response = _call(client, tokens[user], "POST", f"/tasks/{task['id']}/complete",
                         {"data": data})
        assert response.status_code == 200, (task["name"], response.get_json())
        done.append((user, task["form_key"]))
        if task["form_key"] == last:
            return done
    pytest.fail(f"case {case_id} did not get to {last or 'its end'}: {done}")


def test_instruction_becomes_a_linked_follow_up_in_one_call(
        client: FlaskClient, tokens: dict[str, str], shipped: Docroute,
        manual_clock: clock.ManualClock) -> None:
    incoming = _start(client, tokens["zhangli"], "incoming_document")
    # Before any 批示 there is nothing to follow up.
    early = _call(client, tokens["admin"], "POST", f"/instances/{incoming}/supervision")
    assert early.status_code == 409
    assert "no leader's instruction" in early.get_json()["error"]
    done = _work(client, tokens, incoming, last="incoming_distribute_act",
                 answers={"incoming_instruct": INSTRUCTION,
                          "incoming_distribute_act": DISTRIBUTION})
    leader = next(user for user, key in done if key == "incoming_instruct")
    # A handler of another unit may not open it; the officer may, once.
    refused = _call(client, tokens["zhaolei"], "POST", f"/instances/{incoming}/supervision")
    assert refused.status_code in (403, 404)
    opened = _call(client, tokens["huangmin"], "POST", f"/instances/{incoming}/supervision")
    assert opened.status_code == 201, opened.get_json()
    follow_up = opened.get_json()["id"]
    again = _call(client, tokens["huangmin"], "POST", f"/instances/{incoming}/supervision")
    assert again.status_code == 409
    carried = _started_data(client, tokens["admin"], follow_up)
    assert {k: carried.get(k) for k in ("source_type", "instruction_text", "deadline",
                                        "lead_department", "co_departments",
                                        "instructing_leader_user")} == {
        "source_type": "leader_instruction", "instruction_text": INSTRUCTION["instruction"],
        "deadline": "2026-03-20", "lead_department": "emergency_management",
        "co_departments": ["urban_management"], "instructing_leader_user": leader}
    assert [(c["id"], c["direction"]) for c in _links(client, tokens["admin"], incoming)] == [
        (follow_up, "opened")]
    assert [(c["id"], c["direction"]) for c in _links(client, tokens["admin"], follow_up)] == [
        (incoming, "opened_by")]
    worked = _work(client, tokens, follow_up, answers={})
    # The co-unit got its own task, and the case reported back to the instructing leader.
    assert ("zhaolei", "supervision_cohandle") in worked
    assert (leader, "supervision_leader_review") in worked
    assert _links(client, tokens["admin"], incoming)[0]["status"] == "completed"
