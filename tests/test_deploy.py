"""Deploying diagrams: hostile input is refused with located messages and nothing stored;
versions are immutable; Camunda Modeler and SpiffArena files both deploy and run.

Runs on SQLite and PostgreSQL (the ``docroute`` fixture), through ``docroute deploy`` (the
real click command) and through ``engine.definitions`` directly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from engine import Docroute, Settings, WorkflowInvalid, definitions, runtime
from engine.definitions import SourceFile
from engine.models import Definition, Instance, Task, Timer
from engine.org import identity
from webui.cli import main

DATA = Path(__file__).parent / "data"
HOSTILE = DATA / "hostile"
DIALECTS = DATA / "workflows" / "dialects"
REVIEW = DATA / "workflows" / "review.bpmn"
PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<element>\S+): (?P<message>.+)$")


def line_of(path: Path, needle: str) -> int:
    """The 1-based number of the first line of ``path`` containing ``needle``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def cli(settings: Settings, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={
        "DOCROUTE_HOME": str(settings.home), "DOCROUTE_DATABASE_URL": settings.db_url,
        **(env or {})})


def definition_count(docroute: Docroute) -> int:
    with docroute.session() as s:
        return s.scalar(select(func.count()).select_from(Definition))


def deploy_test_forms(docroute: Docroute) -> None:
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), actor="test")


def problems_of(result: Result) -> list[dict[str, str]]:
    """Every stderr line parsed as FILE:LINE: ELEMENT: message (asserting the format)."""
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "no problem was reported"
    parsed = []
    for line in lines:
        match = PROBLEM_LINE.match(line)
        assert match, f"not FILE:LINE: ELEMENT_ID: message: {line!r}"
        parsed.append(match.groupdict())
    return parsed


# (file, element id, line needle or number, words the message must contain)
HOSTILE_CASES = [
    ("malformed.bpmn", "-", 8, "not well-formed"),
    ("doctype_entity.bpmn", "-", 6, "entity"),
    ("billion_laughs.bpmn", "-", 15, "entity"),
    ("complex_gateway.bpmn", "cg", 'id="cg"', "complex gateways are not supported"),
    ("compensation.bpmn", "undo_def", "undo_def", "compensation is not supported"),
    ("link_events.bpmn", "jump_def", "jump_def", "link events are not supported"),
    ("event_subprocess.bpmn", "cancel_start", 'id="cancel_start"', "interrupting event"),
    ("script_import.bpmn", "evil", "<bpmn:script>", "__import__"),
    ("condition_walk.bpmn", "f2", "<bpmn:conditionExpression", "__class__"),
    ("timer_open.bpmn", "wait_def", "<bpmn:timeDuration", "'open' is not available"),
    ("xor_no_default.bpmn", "f2", 'id="f2"', "without condition"),
    ("missing_form.bpmn", "fill", 'id="fill"', "'no_such_form' does not exist"),
    ("missing_call.bpmn", "call", 'id="call"', "'no_such_process'"),
    ("not_bpmn.xml", "-", 2, "not a BPMN 2.0 file"),
    ("empty.bpmn", "-", 0, "the file is empty"),
    ("binary.bpmn", "-", 1, "not well-formed XML"),
    ("unsafe_decision.dmn", "in1_expr", "<inputExpression", "__import__"),
]


@pytest.mark.parametrize(("name", "element", "where", "words"), HOSTILE_CASES,
                         ids=[c[0] for c in HOSTILE_CASES])
def test_cli_refuses_hostile_file(docroute: Docroute, settings: Settings, name: str,
                                  element: str, where: str | int, words: str) -> None:
    deploy_test_forms(docroute)
    path = HOSTILE / name
    result = cli(settings, "deploy", str(path))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    problems = problems_of(result)
    first = problems[0]
    assert first["file"] == name
    assert first["element"] == element
    expected_line = where if isinstance(where, int) else line_of(path, where)
    assert int(first["line"]) == expected_line
    assert words in first["message"]
    assert definition_count(docroute) == 0


def test_link_events_report_both_ends(docroute: Docroute, settings: Settings) -> None:
    path = HOSTILE / "link_events.bpmn"
    problems = problems_of(cli(settings, "deploy", str(path)))
    assert [(p["element"], int(p["line"])) for p in problems] == [
        ("jump_def", line_of(path, "jump_def")), ("land_def", line_of(path, "land_def"))]


def test_check_mode_refuses_the_same_way(docroute: Docroute, settings: Settings) -> None:
    result = cli(settings, "deploy", "--check", str(HOSTILE / "script_import.bpmn"))
    assert result.exit_code == 1
    assert problems_of(result)[0]["element"] == "evil"


def test_external_entity_is_never_read(docroute: Docroute) -> None:
    """The DOCTYPE file names /etc/passwd; no message may carry its content."""
    with pytest.raises(WorkflowInvalid) as caught, docroute.session() as s:
        docroute.deploy(s, [SourceFile("x.bpmn", (HOSTILE / "doctype_entity.bpmn").read_bytes())],
                        actor="test")
    assert "root:" not in str(caught.value)


def test_oversize_file_refused_before_parsing(docroute: Docroute, settings: Settings) -> None:
    small = Docroute(Settings(home=settings.home, database_url=settings.db_url,
                              forms_dir=settings.forms_dir, max_diagram_bytes=1000))
    try:
        with pytest.raises(WorkflowInvalid) as caught, small.session() as s:
            small.deploy(s, [SourceFile("review.bpmn", REVIEW.read_bytes())], actor="test")
    finally:
        small.engine.dispose()
    problem = caught.value.problems[0]
    assert "the limit is 1,000 bytes" in problem.message
    result = cli(settings, "deploy", str(REVIEW), env={"DOCROUTE_MAX_DIAGRAM_BYTES": "1000"})
    assert result.exit_code == 1
    assert "the limit is 1,000 bytes" in problems_of(result)[0]["message"]
    assert definition_count(docroute) == 0


def test_one_bad_file_stores_nothing_of_the_upload(docroute: Docroute, settings: Settings) -> None:
    deploy_test_forms(docroute)
    result = cli(settings, "deploy", str(REVIEW), str(HOSTILE / "complex_gateway.bpmn"))
    assert result.exit_code == 1
    assert definition_count(docroute) == 0


def test_missing_file_is_a_clear_line(docroute: Docroute, settings: Settings) -> None:
    result = cli(settings, "deploy", str(HOSTILE / "no_such_file.bpmn"))
    assert result.exit_code == 1
    assert problems_of(result)[0]["message"].startswith("cannot read the file")


def test_uninitialised_database_is_a_sentence(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "fresh")
    result = cli(settings, "deploy", str(REVIEW))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "docroute init" in result.stderr


# --- versions ----------------------------------------------------------------------------


def test_identical_xml_is_unchanged_and_changed_xml_is_next_version(
        docroute: Docroute, settings: Settings, tmp_path: Path) -> None:
    deploy_test_forms(docroute)
    assert cli(settings, "deploy", "--check", str(REVIEW)).stdout.strip() == "ok review"
    assert definition_count(docroute) == 0
    assert cli(settings, "deploy", str(REVIEW)).stdout.strip() == "deployed review v1"
    again = cli(settings, "deploy", str(REVIEW))
    assert (again.exit_code, again.stdout.strip()) == (0, "unchanged review v1")
    changed = tmp_path / "review.bpmn"
    changed.write_text(REVIEW.read_text().replace('name="测试审核"', 'name="测试审核 2"'))
    assert cli(settings, "deploy", str(changed)).stdout.strip() == "deployed review v2"
    assert cli(settings, "deploy", str(REVIEW)).stdout.strip() == "deployed review v3"
    assert definition_count(docroute) == 3


def _tasks(docroute: Docroute, instance_id: int) -> list[Task]:
    with docroute.session() as s:
        return list(s.scalars(select(Task).where(Task.instance_id == instance_id)
                              .order_by(Task.created_at, Task.id)))


def _complete(docroute: Docroute, actor: identity.Actor, instance_id: int, spec: str,
              data: dict) -> None:
    row = next(t for t in _tasks(docroute, instance_id) if t.spec == spec)
    with docroute.session() as s:
        runtime.complete(s, row.id, actor, data)


def _final_data(docroute: Docroute, instance_id: int) -> dict:
    with docroute.session() as s:
        instance = s.get(Instance, instance_id)
        return dict(runtime.load_workflow(s, instance).data)


def test_running_cases_stay_on_their_version(docroute: Docroute, people: dict) -> None:
    admin = people["admin"]
    v2 = REVIEW.read_text().replace("summary = title + ' / ' + decision",
                                    "summary = 'v2: ' + title")
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), actor="test")
        docroute.deploy(s, [SourceFile("review.bpmn", REVIEW.read_bytes())], actor="test")
    with docroute.session() as s:
        old_id = runtime.start_case(s, admin, "review", {"rounds": 0}).id
    _complete(docroute, people["clerk"], old_id, "draft", {"title": "旧案"})
    with docroute.session() as s:
        results = docroute.deploy(s, [SourceFile("review.bpmn", v2.encode())], actor="test")
    assert [str(r) for r in results] == ["deployed review v2"]
    with docroute.session() as s:
        new_id = runtime.start_case(s, admin, "review", {"rounds": 0}).id
    for case, title in ((old_id, "旧案"), (new_id, "新案")):
        if case == new_id:
            _complete(docroute, people["clerk"], case, "draft", {"title": title})
        _complete(docroute, people["rev1"], case, "review_task", {"decision": "approve"})
    with docroute.session() as s:
        old, new = s.get(Instance, old_id), s.get(Instance, new_id)
        assert (old.status, old.definition.version) == ("completed", 1)
        assert (new.status, new.definition.version) == ("completed", 2)
    assert _final_data(docroute, old_id)["summary"] == "旧案 / approve"
    assert _final_data(docroute, new_id)["summary"] == "v2: 新案"


# --- modeller dialects ---------------------------------------------------------------------


def test_camunda_modeler_file_deploys_and_runs(docroute: Docroute, settings: Settings,
                                               people: dict) -> None:
    deploy_test_forms(docroute)
    result = cli(settings, "deploy", str(DIALECTS / "camunda_review.bpmn"))
    assert (result.exit_code, result.stdout.strip()) == (0, "deployed camunda_review v1")
    clerk, rev2 = people["clerk"], people["rev2"]
    with docroute.session() as s:
        case_id = runtime.start_case(s, clerk, "camunda_review", {"due": "2026-03-10"}).id
    [review] = _tasks(docroute, case_id)
    assert (review.name, review.form_key, review.candidate_groups, review.assignee) == (
        "Review", "review", ["reviewers"], None)
    assert review.due_at is not None and review.due_at.isoformat().startswith("2026-03-10T15:59")
    with docroute.session() as s:  # the literal PT1H reminder became a timer row
        [timer] = s.scalars(select(Timer).where(Timer.instance_id == case_id))
        assert timer.spec == "Event_remind"
    _complete(docroute, rev2, case_id, "Activity_review", {"decision": "approve"})
    [sign] = _tasks(docroute, case_id)
    assert (sign.name, sign.assignee) == ("Sign", "clerk")  # camunda:assignee="${started_by}"
    _complete(docroute, clerk, case_id, "Activity_sign", {})
    with docroute.session() as s:
        assert s.get(Instance, case_id).status == "completed"


def test_spiffarena_files_with_call_activity_and_dmn_deploy_and_run(
        docroute: Docroute, settings: Settings, people: dict) -> None:
    deploy_test_forms(docroute)
    # The decision first, on its own; the processes later resolve it from the database.
    dmn = cli(settings, "deploy", str(DIALECTS / "seal_approver.dmn"))
    assert (dmn.exit_code, dmn.stdout.strip()) == (0, "deployed seal_approver v1")
    alone = cli(settings, "deploy", str(DIALECTS / "spiff_seal.bpmn"))
    assert alone.exit_code == 1
    problem = problems_of(alone)[0]
    assert (problem["element"], int(problem["line"])) == (
        "Activity_stamp", line_of(DIALECTS / "spiff_seal.bpmn", 'id="Activity_stamp"'))
    both = cli(settings, "deploy", str(DIALECTS / "spiff_seal.bpmn"),
               str(DIALECTS / "spiff_stamp.bpmn"))
    assert both.exit_code == 0, both.output
    assert both.stdout.split("\n")[:2] == ["deployed spiff_seal v1", "deployed spiff_stamp v1"]
    rev1 = people["rev1"]
    for copies, approver in ((3, "rev1"), (40, "boss")):
        with docroute.session() as s:
            case_id = runtime.start_case(s, people["clerk"], "spiff_seal", {"copies": copies}).id
        [check] = _tasks(docroute, case_id)
        assert (check.form_key, check.candidate_groups) == ("review", ["reviewers"])
        with docroute.session() as s:  # the quoted "PT1H" timer expression
            assert s.scalar(select(func.count()).select_from(Timer)
                            .where(Timer.instance_id == case_id)) == 1
        _complete(docroute, rev1, case_id, "Activity_check", {"decision": "approve"})
        with docroute.session() as s:
            assert s.get(Instance, case_id).status == "completed"
        data = _final_data(docroute, case_id)
        assert (data["approver"], data["stamped"], data["stamp_note"]) == (
            approver, True, f"sealed for {approver}")


def test_decisions_are_not_startable(docroute: Docroute, people: dict) -> None:
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("seal_approver.dmn",
                                       (DIALECTS / "seal_approver.dmn").read_bytes())],
                        actor="test")
    with docroute.session() as s:
        definition = definitions.latest(s, "seal_approver")
        assert definition is not None and definitions.is_decision(definition)
        assert not runtime.may_start(definition, people["admin"])
        with pytest.raises(Exception, match="no deployed process"):
            runtime.start_case(s, people["admin"], "seal_approver")


TWO_PROCESSES = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="first" isExecutable="true">
    <bpmn:startEvent id="s1"/>
    <bpmn:sequenceFlow id="a1" sourceRef="s1" targetRef="t1"/>
    <bpmn:userTask id="t1" name="One"/>
    <bpmn:sequenceFlow id="a2" sourceRef="t1" targetRef="e1"/>
    <bpmn:endEvent id="e1"/>
  </bpmn:process>
  <bpmn:process id="second" isExecutable="true">
    <bpmn:startEvent id="s2"/>
    <bpmn:sequenceFlow id="b1" sourceRef="s2" targetRef="t2"/>
    <bpmn:userTask id="t2" name="Two"/>
    <bpmn:sequenceFlow id="b2" sourceRef="t2" targetRef="e2"/>
    <bpmn:endEvent id="e2"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_each_process_of_a_file_runs_its_own_spec(docroute: Docroute, people: dict) -> None:
    """Regression: the parsed-spec cache was keyed by the file's sha256 alone."""
    with docroute.session() as s:
        docroute.deploy(s, [SourceFile("two.bpmn", TWO_PROCESSES.encode())], actor="test")
    for key, spec in (("first", "t1"), ("second", "t2"), ("first", "t1")):
        with docroute.session() as s:
            case_id = runtime.start_case(s, people["admin"], key).id
        assert [t.spec for t in _tasks(docroute, case_id)] == [spec]
