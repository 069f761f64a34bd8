"""Reminders, escalation and notifications (engine/reminders.py, engine/notify.py).

The clock is moved day by day across Spring Festival and National Day 2026, whose
make-up Saturdays (2026-02-14, 2026-02-28, 2026-10-10) are working days. E-mail goes to
a tiny in-process SMTP server (a fake only at the outside edge).
"""

from __future__ import annotations

import multiprocessing
import socketserver
import threading
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import Docroute, Settings, clock, history, runtime
from engine.config import MailSettings
from engine.deadlines import notify, reminders, workcalendar
from engine.deadlines.notify import send_outbox
from engine.deadlines.reminders import ReminderPolicy
from engine.definitions import SourceFile
from engine.models import Document, Event, MailOutbox, Notification, Task, User
from engine.org import identity
from engine.runtime import timers

REMIND_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_remind" targetNamespace="http://docroute.example/test">
  <bpmn:process id="remind" name="办理" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="handle"/>
    <bpmn:userTask id="handle" name="办理" camunda:candidateGroups="reviewers"
                   camunda:dueDate="${due}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="handle" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

D = date.fromisoformat


@pytest.fixture
def office(docroute: Docroute, people: dict[str, identity.Actor]) -> dict[str, identity.Actor]:
    """``people`` plus the supervising leader (an escalation target) and the process."""
    with docroute.session() as s:
        identity.add_group(s, "supervising_leaders", "分管领导", kind="role")
        identity.add_user(s, "lead", "陈明", "password1", groups=["supervising_leaders"],
                          clearance="top_secret")
        docroute.deploy(s, [SourceFile("remind.bpmn", REMIND_BPMN.encode())], actor="admin")
    return people


def at(day: str, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(D(day), time(hour, minute), tzinfo=clock.OFFICE_TZ)


def start(docroute: Docroute, due: str | None, urgency: str = "", *,
          document_id: int | None = None) -> int:
    data: dict[str, Any] = {"due": due, "urgency": urgency}
    with docroute.session() as s:
        return runtime.start_case(s, identity.SYSTEM, "remind", data, title="关于台风防御的通知",
                                  document_id=document_id).id


def run(docroute: Docroute, policy: ReminderPolicy | None = None,
        mail: MailSettings | None = None) -> reminders.ReminderResult:
    with docroute.session() as s:
        return reminders.run_reminders(s, clock.now(), policy=policy, mail=mail)


def sent(docroute: Docroute, since: int = 0) -> list[tuple[str, str]]:
    """(username, level) of notifications with id > since, in order."""
    with docroute.session() as s:
        rows = s.execute(select(User.username, Notification.level)
                         .join(User, User.id == Notification.user_id)
                         .where(Notification.id > since).order_by(Notification.id))
        return [(u, lvl) for u, lvl in rows]


def last_id(docroute: Docroute) -> int:
    with docroute.session() as s:
        return s.scalar(select(func.max(Notification.id))) or 0


def level_of(docroute: Docroute, case: int) -> str:
    with docroute.session() as s:
        task = s.scalar(select(Task).where(Task.instance_id == case))
        assert task is not None
        return task.reminder_level


def walk(docroute: Docroute, manual_clock: clock.ManualClock, case: int, first: str,
         last: str) -> dict[str, tuple[str, list[str]]]:
    """Each day at 09:00 (and again at 09:01, which must send nothing): day -> (level,
    levels notified to rev1 that day)."""
    seen: dict[str, tuple[str, list[str]]] = {}
    day = D(first)
    while day <= D(last):
        manual_clock.set(at(day.isoformat()))
        before = last_id(docroute)
        run(docroute)
        manual_clock.set(at(day.isoformat(), 9, 1))
        run(docroute)  # the pass runs every minute: idempotent
        notes = sent(docroute, before)
        seen[day.isoformat()] = (level_of(docroute, case),
                                 [lvl for user, lvl in notes if user == "rev1"])
        day += timedelta(days=1)
    return seen


# --- levels on the right working days --------------------------------------------------------


def test_levels_across_spring_festival_2026(docroute: Docroute, manual_clock: clock.ManualClock,
                                            office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-02-09"))
    case = start(docroute, "2026-02-24")  # Tuesday after the break
    assert walk(docroute, manual_clock, case, "2026-02-10", "2026-03-02") == {
        "2026-02-10": ("", []),
        "2026-02-11": ("", []),
        "2026-02-12": ("blue", ["blue"]),  # T-3 (Thursday)
        "2026-02-13": ("blue", []),  # T-2
        "2026-02-14": ("blue", ["blue"]),  # T-1: the make-up Saturday
        **{f"2026-02-{d}": ("blue", []) for d in range(15, 24)},  # the holiday
        "2026-02-24": ("yellow", ["yellow"]),  # due day
        "2026-02-25": ("red", ["red"]),  # overdue
        "2026-02-26": ("escalated", ["red"]),  # after one full overdue working day
        "2026-02-27": ("escalated", ["red"]),
        "2026-02-28": ("escalated", ["red"]),  # make-up Saturday: a working day
        "2026-03-01": ("escalated", []),  # Sunday: no red reminder
        "2026-03-02": ("escalated", ["red"]),
    }


def test_levels_across_national_day_2026(docroute: Docroute, manual_clock: clock.ManualClock,
                                         office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-09-28"))
    blue = start(docroute, "2026-10-12")
    assert walk(docroute, manual_clock, blue, "2026-09-30", "2026-10-14") == {
        "2026-09-30": ("", []),
        **{f"2026-10-0{d}": ("", []) for d in range(1, 8)},  # the holiday
        "2026-10-08": ("blue", ["blue"]),  # T-3
        "2026-10-09": ("blue", []),
        "2026-10-10": ("blue", ["blue"]),  # T-1: the make-up Saturday
        "2026-10-11": ("blue", []),
        "2026-10-12": ("yellow", ["yellow"]),
        "2026-10-13": ("red", ["red"]),
        "2026-10-14": ("escalated", ["red"]),
    }


def test_a_make_up_saturday_counts_as_an_overdue_working_day(
        docroute: Docroute, manual_clock: clock.ManualClock,
        office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-10-08"))
    case = start(docroute, "2026-10-09")  # Friday before the make-up Saturday
    seen = walk(docroute, manual_clock, case, "2026-10-09", "2026-10-12")
    assert seen == {
        "2026-10-09": ("yellow", ["yellow"]),
        "2026-10-10": ("red", ["red"]),  # Saturday, but a working day
        "2026-10-11": ("escalated", []),  # Saturday was a full overdue working day
        "2026-10-12": ("escalated", ["red"]),
    }
    with docroute.session() as s:
        escalations = s.scalars(select(Event).where(Event.instance_id == case,
                                                    Event.type == "escalated")).all()
        assert [e.at.astimezone(clock.OFFICE_TZ).date() for e in escalations] == [D("2026-10-11")]
        assert '"to":["lead"]' in escalations[0].payload
        assert list(history.verify_events(f"case:{case}", history.case_events(s, case),
                                             history.keys_for(s).mac_key)) == []


def test_a_due_time_turns_red_the_moment_it_passes(docroute: Docroute,
                                                   manual_clock: clock.ManualClock,
                                                   office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-03-02", 8))
    case = start(docroute, "2026-03-02T10:00:00+08:00")
    run(docroute)
    assert level_of(docroute, case) == "yellow"
    manual_clock.set(at("2026-03-02", 10) + timedelta(seconds=1))
    before = last_id(docroute)
    run(docroute)
    assert level_of(docroute, case) == "red"
    assert sent(docroute, before) == [("rev1", "red"), ("rev2", "red")]


# --- urgency ---------------------------------------------------------------------------------


def test_urgent_items_start_at_yellow_and_extra_urgent_at_red(
        docroute: Docroute, manual_clock: clock.ManualClock,
        office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-03-02"))
    urgent = start(docroute, "2026-03-20", "加急")
    extra = start(docroute, "2026-03-20", "特急")
    no_due = start(docroute, None, "特急")
    plain = start(docroute, "2026-03-20")
    before = last_id(docroute)
    run(docroute)
    assert [level_of(docroute, c) for c in (urgent, extra, no_due, plain)] == [
        "yellow", "red", "red", ""]
    assert [lvl for u, lvl in sent(docroute, before) if u == "rev1"] == ["yellow", "red", "red"]
    # The colour starts high; the words still say how much time is left.
    with docroute.session() as s:
        texts = list(s.scalars(select(Notification.message).join(
            User, User.id == Notification.user_id).where(
            User.username == "rev1", Notification.id > before).order_by(Notification.id)))
    # Stored language-neutral: a key and the facts; each page words it in its language.
    stored = [notify.decode(t) for t in texts]
    assert [key for key, _ in stored[:2]] == ["reminder.due_soon", "reminder.due_soon"]
    assert [p["level"] for _, p in stored] == ["yellow", "red", "red"]
    assert all(p["workdays_left"] == 14 and p["due"].startswith("2026-03-20")
               and p["process"] and p["task"] and "办理" not in p.values()
               for _, p in stored[:2])
    manual_clock.set(at("2026-03-03"))  # next working day: red again, yellow not
    before = last_id(docroute)
    run(docroute)
    assert [lvl for u, lvl in sent(docroute, before) if u == "rev1"] == ["red", "red"]


# --- who is told -----------------------------------------------------------------------------


def test_a_claimed_task_reminds_only_its_assignee(docroute: Docroute,
                                                  manual_clock: clock.ManualClock,
                                                  office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-03-02"))
    case = start(docroute, "2026-03-03")
    with docroute.session() as s:
        task = s.scalar(select(Task).where(Task.instance_id == case))
        assert task is not None
        runtime.claim(s, task.id, office["rev2"])
    before = last_id(docroute)
    run(docroute)
    assert sent(docroute, before) == [("rev2", "blue")]


def test_classified_tasks_never_reach_uncleared_users(docroute: Docroute,
                                                      manual_clock: clock.ManualClock,
                                                      office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-03-02"))
    with docroute.session() as s:
        document = Document(kind="incoming", title="机密来文", classification=2,
                            created_by="clerk", created_at=clock.now(), fields={})
        s.add(document)
        s.flush()
        document_id = document.id
    start(docroute, "2026-03-03", document_id=document_id)
    run(docroute)
    assert sent(docroute) == [("rev1", "blue")]  # rev2 has no clearance for 机密


def test_escalation_goes_to_the_groups_leaders_when_configured(
        docroute: Docroute, manual_clock: clock.ManualClock,
        office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-03-02"))
    start(docroute, "2026-03-02")
    manual_clock.set(at("2026-03-04"))
    before = last_id(docroute)
    run(docroute, ReminderPolicy(group_leaders={"reviewers": "leaders"}))
    assert ("boss", "escalated") in sent(docroute, before)
    assert ("lead", "escalated") not in sent(docroute, before)


def test_escalation_waits_for_somebody_to_tell(docroute: Docroute,
                                               manual_clock: clock.ManualClock,
                                               office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-03-02"))
    case = start(docroute, "2026-03-02")
    manual_clock.set(at("2026-03-04"))
    result = run(docroute, ReminderPolicy(leader_group="nobody_here"))
    assert result.escalations == 0
    assert level_of(docroute, case) == "red"
    result = run(docroute)  # the group exists now (the default); next check is tomorrow
    assert result.assessed == 0
    manual_clock.set(at("2026-03-05"))
    assert run(docroute).escalations == 1


def test_a_missing_calendar_year_does_not_stop_reminders(
        docroute: Docroute, manual_clock: clock.ManualClock,
        office: dict[str, identity.Actor], caplog: pytest.LogCaptureFixture) -> None:
    manual_clock.set(at("2026-12-30"))
    # Only 2026, without provisional years: 2027 is truly missing.
    docroute.calendar.use(workcalendar.WorkCalendar(
        workcalendar.builtin_calendar().rows(2026), provisional=False))
    case = start(docroute, "2027-01-02")
    run(docroute)
    assert level_of(docroute, case) == "blue"  # T-3 counted in calendar days, and logged
    assert "no working-day calendar for 2027" in caplog.text


# --- two workers at once (PostgreSQL) ------------------------------------------------------


def _pass_in_process(url: str, home: str, now: str, barrier: Any, results: Any) -> None:
    """One reminder pass in its own OS process, with its own clock and engine."""
    clock.set_default_clock(clock.ManualClock(datetime.fromisoformat(now)))
    app = Docroute(Settings(home=Path(home), database_url=url))
    try:
        barrier.wait(timeout=60)
        result, _ = timers.run_side_passes(app, ReminderPolicy(), None)
        results.put(result.notifications if result else -1)
    finally:
        app.engine.dispose()


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres_only)], indirect=True)
def test_two_workers_remind_exactly_once(docroute: Docroute, manual_clock: clock.ManualClock,
                                         office: dict[str, identity.Actor], db_url: str,
                                         tmp_path: Path) -> None:
    manual_clock.set(at("2026-03-02", 8))
    cases = [start(docroute, "2026-03-02") for _ in range(20)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    processes = [ctx.Process(target=_pass_in_process,
                             args=(db_url, str(tmp_path), clock.now().isoformat(), barrier,
                                   results)) for _ in range(2)]
    for p in processes:
        p.start()
    counts = [results.get(timeout=240) for _ in processes]
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(counts) == 40, counts  # 20 yellow reminders to each of rev1 and rev2
    assert sorted(sent(docroute)) == sorted([("rev1", "yellow"), ("rev2", "yellow")] * 20)
    with docroute.session() as s:
        reminded = s.scalars(select(Event.instance_id).where(Event.type == "reminder")).all()
    assert sorted(reminded) == sorted(cases)


# --- notifications ---------------------------------------------------------------------------


def test_notifications_list_count_and_mark_read(docroute: Docroute,
                                                manual_clock: clock.ManualClock,
                                                office: dict[str, identity.Actor]) -> None:
    manual_clock.set(at("2026-03-02"))
    start(docroute, "2026-03-03")
    start(docroute, "2026-03-02")
    run(docroute)
    rev1, rev2 = office["rev1"].id, office["rev2"].id
    with docroute.session() as s:
        assert reminders.unread_count(s, rev1) == 2
        listed = reminders.list_notifications(s, rev1, limit=1)
        assert len(listed) == 1 and listed[0].level == "yellow"  # newest first
        assert "关于台风防御的通知" in listed[0].message
        others = [n.id for n in reminders.list_notifications(s, rev2)]
        assert reminders.mark_read(s, rev1, others) == 0  # not theirs: ignored
        assert reminders.mark_read(s, rev1, [listed[0].id]) == 1
        assert reminders.unread_count(s, rev1) == 1
        assert reminders.mark_read(s, rev1) == 1
        assert reminders.unread_count(s, rev1) == 0
        assert reminders.unread_count(s, rev2) == 2


# --- e-mail ----------------------------------------------------------------------------------


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greet, accept one envelope at a time, store it."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: Any = self.server
        self.reply("220 sink ESMTP")
        sender, rcpts = "", []
        while line := self.rfile.readline():
            command = line.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink")
            elif verb == "MAIL":
                sender, rcpts = command.split(":", 1)[1].strip(" <>"), []
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(command.split(":", 1)[1].strip(" <>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                server.messages.append((sender, rcpts, data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp_sink() -> Iterator[Any]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_reminders_are_mailed_after_commit_exactly_once(
        docroute: Docroute, manual_clock: clock.ManualClock,
        office: dict[str, identity.Actor], smtp_sink: Any) -> None:
    with docroute.session() as s:
        identity.get_user(s, "rev1").email = "rev1@dapeng.example"  # rev2 has no address
    mail = MailSettings(host="127.0.0.1", port=smtp_sink.server_address[1],
                        sender="docroute@dapeng.example")
    manual_clock.set(at("2026-03-02"))
    start(docroute, "2026-03-02")
    run(docroute, mail=mail)
    assert smtp_sink.messages == []  # nothing leaves inside the transaction
    with docroute.session() as s:
        assert send_outbox(s, mail) == 1
    with docroute.session() as s:
        assert send_outbox(s, mail) == 0
    [(sender, rcpts, data)] = smtp_sink.messages
    assert (sender, rcpts) == ("docroute@dapeng.example", ["rev1@dapeng.example"])
    message: Any = message_from_bytes(data, policy=email_policy.default)
    assert message["Subject"] == "[docroute] 黄色预警 Warning: 办理"
    assert "「办理」（关于台风防御的通知）今天（2026-03-02）到期" in message.get_content()


def test_mail_waits_while_the_server_is_down(docroute: Docroute,
                                             manual_clock: clock.ManualClock,
                                             office: dict[str, identity.Actor],
                                             smtp_sink: Any) -> None:
    with docroute.session() as s:
        identity.get_user(s, "rev1").email = "rev1@dapeng.example"
    manual_clock.set(at("2026-03-02"))
    start(docroute, "2026-03-02")
    down = MailSettings(host="127.0.0.1", port=1, timeout=2)  # nothing listens on port 1
    run(docroute, mail=down)
    with docroute.session() as s:
        assert send_outbox(s, down) == 0
    with docroute.session() as s:
        row = s.scalar(select(MailOutbox))
        assert row is not None and row.sent_at is None and row.attempts == 0
    up = MailSettings(host="127.0.0.1", port=smtp_sink.server_address[1])
    with docroute.session() as s:
        assert send_outbox(s, up) == 1
    assert len(smtp_sink.messages) == 1


def test_mail_settings_from_the_environment() -> None:
    assert MailSettings.from_env({}) is None
    mail = MailSettings.from_env({"DOCROUTE_SMTP_HOST": "mail.dpxq.example",
                                  "DOCROUTE_SMTP_PORT": "587", "DOCROUTE_SMTP_STARTTLS": "yes",
                                  "DOCROUTE_SMTP_FROM": "oa@dpxq.example"})
    assert mail == MailSettings(host="mail.dpxq.example", port=587, sender="oa@dpxq.example",
                                starttls=True)
    with pytest.raises(ValueError) as error:
        MailSettings.from_env({"DOCROUTE_SMTP_HOST": "x", "DOCROUTE_SMTP_PORT": "smtp"})
    assert str(error.value) == "DOCROUTE_SMTP_PORT must be a port number, not 'smtp'"
