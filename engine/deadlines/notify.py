"""In-app notifications and the e-mail that follows them.

A notification is a row per recipient (``notifications``), written in the same
transaction as whatever caused it. E-mail is never sent inside that transaction: a row
goes to ``mail_outbox`` instead, and ``send_outbox`` delivers it after the commit, so a
rolled-back step sends nothing and a failed delivery is retried (at least once, at most
``MAX_ATTEMPTS`` times).

A notification is stored language-neutral: ``message`` holds ``{"key": ..., "params":
{...}}`` (steps named by process key and task id, never by their text), and each page
renders it in its reader's language. Rows written before this were plain text; they are
still listed, with ``key`` empty. The e-mail, read outside any page, carries both languages.
"""

from __future__ import annotations

import json
import logging
import smtplib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.config import MailSettings
from engine.models import Instance, MailOutbox, Notification, User

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


# --- notifications ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationView:
    """A notification as the inbox shows it."""

    id: int
    level: str
    message: str
    instance_id: int | None
    task_id: str | None
    created_at: datetime
    read_at: datetime | None
    key: str = ""  # empty: a plain-text row from before keys (``message`` is its text)
    params: dict[str, Any] = field(default_factory=dict)


def encode(key: str, params: Mapping[str, Any]) -> str:
    """The stored form of a keyed message (``"key"`` first, so a prefix finds a key)."""
    return json.dumps({"key": key, "params": dict(params)}, ensure_ascii=False,
                      sort_keys=True, default=str)


def decode(message: str) -> tuple[str, dict[str, Any]]:
    """(key, params) of a stored message; ("", {}) for the plain text of older rows."""
    if not message.startswith('{"key": '):
        return "", {}
    try:
        data = json.loads(message)
    except ValueError:
        return "", {}
    params = data.get("params")
    return str(data.get("key") or ""), params if isinstance(params, dict) else {}


def add(session: Session, user: User, level: str, key: str, params: Mapping[str, Any], *,
        instance_id: int | None, task_id: str | None, mail_text: str = "",
        subject: str = "", mail: MailSettings | None = None) -> Notification:
    """Store one keyed notification; queue an e-mail too when ``mail`` is set and the
    user has an address (``mail_text``, in both languages, is its body)."""
    row = Notification(user_id=user.id, instance_id=instance_id, task_id=task_id, level=level,
                       message=encode(key, params), created_at=clock.now())
    session.add(row)
    session.flush()
    if mail is not None and user.email and mail_text:
        session.add(MailOutbox(notification_id=row.id, to_addr=user.email,
                               subject=subject or mail_text[:200], body=mail_text,
                               created_at=row.created_at, attempts=0, last_error=""))
    return row


def has_key(session: Session, user_id: int, key: str, params: Mapping[str, Any]) -> bool:
    """Whether the user was already sent the notification ``key`` with these ``params``."""
    prefix = encode(key, {})[:-len('"params": {}}')]
    query = select(Notification.message).where(
        Notification.user_id == user_id,
        Notification.message.startswith(prefix, autoescape=True))
    wanted = json.loads(json.dumps(dict(params), default=str))
    return any(decode(m)[1] == wanted for m in session.scalars(query))


def has_message(session: Session, user_id: int, prefix: str) -> bool:
    """Whether the user was sent a plain-text notification starting with ``prefix``
    (rows written before keyed messages)."""
    query = select(Notification.id).where(Notification.user_id == user_id,
                                          Notification.message.startswith(prefix, autoescape=True))
    return session.scalar(query.limit(1)) is not None


def _visible(user_id: int) -> ColumnElement[bool]:
    # A notification names its document: hide it once the reader's clearance no longer
    # covers the case (clearances can be lowered after the notification was written).
    clearance = select(User.clearance).where(User.id == user_id).scalar_subquery()
    return (Notification.instance_id.is_(None)) | (Instance.classification <= clearance)


def _query(user_id: int) -> Select[Notification]:
    return (select(Notification)
            .outerjoin(Instance, Instance.id == Notification.instance_id)
            .where(Notification.user_id == user_id, _visible(user_id)))


def unread_count(session: Session, user_id: int) -> int:
    """How many of the user's notifications are unread (uses ix_notifications_user_unread)."""
    query = _query(user_id).where(Notification.read_at.is_(None))
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def list_notifications(session: Session, user_id: int, limit: int = 50, *,
                       unread_only: bool = False) -> list[NotificationView]:
    """The user's notifications, newest first."""
    query = _query(user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    rows = session.scalars(query.order_by(Notification.id.desc()).limit(max(0, limit)))
    return [NotificationView(r.id, r.level, r.message, r.instance_id, r.task_id, r.created_at,
                             r.read_at, *decode(r.message)) for r in rows]


def mark_read(session: Session, user_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (``ids``, or all when None); returns how many.

    Ids of other users' notifications are ignored, never an error: the caller cannot
    learn whether they exist.
    """
    stmt = (update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=clock.now()))
    if ids is not None:
        wanted = [int(i) for i in ids]
        if not wanted:
            return 0
        stmt = stmt.where(Notification.id.in_(wanted))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


# --- e-mail (where to send it: ``engine.config.MailSettings``, part of ``Settings``) -----------




def _connect(mail: MailSettings) -> smtplib.SMTP:
    smtp = smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout)
    if mail.starttls:
        smtp.starttls()
    if mail.username:
        smtp.login(mail.username, mail.password)
    return smtp


def _message(mail: MailSettings, row: MailOutbox) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = row.to_addr
    message["Subject"] = row.subject
    message.set_content(row.body)
    return message


def send_outbox(session: Session, mail: MailSettings, limit: int = 50) -> int:
    """Send up to ``limit`` queued e-mails over one SMTP connection; returns how many went.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers never
    send the same message. A failed message is retried on later calls until
    ``MAX_ATTEMPTS``; a server that cannot be reached leaves every row for the next call.
    """
    rows = list(session.scalars(
        select(MailOutbox)
        .where(MailOutbox.sent_at.is_(None), MailOutbox.attempts < MAX_ATTEMPTS)
        .order_by(MailOutbox.id).limit(limit)
        .with_for_update(skip_locked=True)))
    if not rows:
        return 0
    try:
        smtp = _connect(mail)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("mail server %s:%s unavailable: %s", mail.host, mail.port, error)
        return 0
    sent = 0
    with smtp:
        for row in rows:
            try:
                smtp.send_message(_message(mail, row))
            except (OSError, smtplib.SMTPException) as error:
                row.attempts += 1
                row.last_error = str(error)[:2000]
                log.warning("mail to %s failed (attempt %d): %s", row.to_addr, row.attempts,
                            error)
                continue
            row.attempts += 1
            row.sent_at = clock.now()
            sent += 1
    session.flush()
    return sent


# --- names for rendering ---------------------------------------------------------------------


def step_names(session: Session, steps: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(process key, task id) -> the step's name in the latest deployed diagram.

    A notification names its step by id; the page shows the name (and its English label)
    the diagram gives now. A step no diagram knows any more is left out.
    """
    from engine.definitions import (
        deployment as definitions,  # deferred: definitions pulls in the parser
    )

    found: dict[tuple[str, str], str] = {}
    wanted: dict[str, set[str]] = {}
    for process, task in steps:
        wanted.setdefault(process, set()).add(task)
    for process, tasks in wanted.items():
        definition = definitions.latest(session, process)
        if definition is None:
            continue
        spec, subprocesses = definitions.load_spec(session, definition)
        for each in [spec, *subprocesses.values()]:
            for task in tasks:
                task_spec = each.task_specs.get(task)
                if task_spec is not None and getattr(task_spec, "bpmn_name", None):
                    found.setdefault((process, task), str(task_spec.bpmn_name))
    return found
