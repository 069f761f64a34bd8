"""Database tables.

Every table the engine writes lives here, so the schema reads in one place and the
Alembic migrations in ``migrations/`` are generated from it. Times are stored as
timezone-aware UTC; the UI converts to the office's zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite otherwise hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use engine.clock.now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


# --- identity -------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    clearance: Mapped[int] = mapped_column(Integer, default=0)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_auditor: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(128), default="")
    email: Mapped[str] = mapped_column(String(256), default="")
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Stored in every session cookie; bumping it (logout, password reset, deactivation)
    # ends every session, also copied cookies.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    groups: Mapped[list[Group]] = relationship(
        secondary="memberships", back_populates="members", order_by="Group.key"
    )


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(16), default="department")  # department | role
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The organisation model (engine.org.orgchart): a unit's head, deputy heads and the leader
    # in charge of it (分管领导), by username; empty for roles.
    head: Mapped[str] = mapped_column(String(64), default="")
    deputies: Mapped[list] = mapped_column(JSON, default=list)
    leader: Mapped[str] = mapped_column(String(64), default="")

    members: Mapped[list[User]] = relationship(
        secondary="memberships", back_populates="groups", order_by="User.username"
    )


class Membership(Base):
    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(128), default="", server_default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# --- definitions and forms ---------------------------------------------------------


class Definition(Base):
    """One immutable deployed version of one executable process."""

    __tablename__ = "definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(256))
    filename: Mapped[str] = mapped_column(String(256))
    sha256: Mapped[str] = mapped_column(String(64))
    xml: Mapped[str] = mapped_column(Text)
    # {called process key: definition id} pinned at deploy time, for call activities.
    dependencies: Mapped[dict] = mapped_column(JSON, default=dict)
    deployed_by: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Form(Base):
    """One immutable version of a user-task form (a JSON Schema)."""

    __tablename__ = "forms"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    schema: Mapped[dict] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    deployed_by: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- documents -------------------------------------------------------------------------


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(512))
    doc_number: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    doc_type: Mapped[str] = mapped_column(String(16), default="")
    classification: Mapped[int] = mapped_column(Integer, default=0)
    urgency: Mapped[str] = mapped_column(String(16), default="")
    department: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32), default="open")
    # Who set the current classification (定密), so they may change it; "" means the
    # registrar (created_by). Written by engine.registry.classification (migration 0007).
    classified_by: Mapped[str] = mapped_column(String(64), default="")
    # Every other field of the document's kind (DOMAIN.md §1.2 and §2).
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Title, numbers and summary normalised for search (engine/search.py keeps it).
    search_text: Mapped[str] = mapped_column(Text, default="")


class NumberCounter(Base):
    """One gapless counter per number prefix and year (e.g. 深鹏办, 2026)."""

    __tablename__ = "number_counters"

    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class NumberLog(Base):
    __tablename__ = "number_log"
    __table_args__ = (UniqueConstraint("prefix", "year", "serial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(128), unique=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="used")  # used | void
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Blob(Base):
    """Attachment content, stored once per sha256."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (UniqueConstraint("document_id", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(128))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- cases --------------------------------------------------------------------------------


class Instance(Base):
    """A case: one running or finished process instance and its serialized state."""

    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    # SpiffWorkflow state without the spec (the spec is loaded from its definition).
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    # Bumped on every write: caches and stale form submissions compare against it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(512), default="")
    classification: Mapped[int] = mapped_column(Integer, default=0)
    # {form key: form version} pinned when the case started.
    form_versions: Mapped[dict] = mapped_column(JSON, default=dict)
    incident: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    definition: Mapped[Definition] = relationship()
    document: Mapped[Document | None] = relationship()


class Task(Base):
    """Projection of open user tasks, rewritten with every step; inbox queries read only this."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_assignee_due", "assignee", "due_at"),
        Index("ix_tasks_instance", "instance_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    spec: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    form_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lane: Mapped[str | None] = mapped_column(String(128), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    candidate_groups: Mapped[list] = mapped_column(JSON, default=list)
    # The person the diagram named (camunda:assignee), kept when someone claims or is
    # delegated the task, so engine.org.authority can tell who may hold it.
    designated: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Which send-back options / data the task offers is read from the diagram at render time.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The due date reaches a year without the State Council's notice (migration 0005).
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    urgency: Mapped[str] = mapped_column(String(16), default="")
    reminder_level: Mapped[str] = mapped_column(String(16), default="")
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), nullable=True)
    process_key: Mapped[str] = mapped_column(String(128))
    document_kind: Mapped[str] = mapped_column(String(32), default="")
    title: Mapped[str] = mapped_column(String(512), default="")
    classification: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TaskGroup(Base):
    """Candidate groups of a projected task, one row each, so inbox queries can join."""

    __tablename__ = "task_groups"
    # Group inboxes read a group's task ids from this index alone (migration 0012).
    __table_args__ = (Index("ix_task_groups_group_task", "group_key", "task_id"),)

    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    group_key: Mapped[str] = mapped_column(String(64), primary_key=True)


class Timer(Base):
    """A waiting timer event of a case, rewritten with every step of that case."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    spec: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="timer")  # timer | reminder
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Event(Base):
    """Append-only history; each row carries the hash of the previous row of its chain."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("chain", "seq"),
                      # "was this task completed?" for stale claims (migration 0012)
                      Index("ix_events_task_id", "task_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(32))  # "case:<id>" or "system"
    seq: Mapped[int] = mapped_column(Integer)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("instances.id"), nullable=True, index=True
    )
    type: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    task_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Draft(Base):
    """A user's unsubmitted form data for one task."""

    __tablename__ = "drafts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    level: Mapped[str] = mapped_column(String(16))  # blue | yellow | red | escalated | info
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CalendarDay(Base):
    """An official working-day calendar entry: every day of every covered year."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(String(256), default="")


class CalendarVersion(Base):
    """One row whose token changes with every change to ``calendar_days`` (migration 0015):
    each process reads it now and then to learn that its in-memory calendar is stale."""

    __tablename__ = "calendar_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


# --- deadlines, reminders and mail (issue 4; migration 0002_deadlines) ------------------
# Owned by engine/deadlines.py, engine/reminders.py and engine/notify.py. Appended here so
# the schema still reads in one place; other sections must not depend on these tables.


class Deadline(Base):
    """A case's statutory deadline: the legal due date and the internal target, kept apart.

    The period parameters are stored, the dates are derived from them (``deadlines.py``),
    so a pause, restart or extension recomputes both dates the same way.
    """

    __tablename__ = "deadlines"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # workdays | days | months
    amount: Mapped[int] = mapped_column(Integer)  # the legal period, in ``kind`` units
    target_amount: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_extension: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_on: Mapped[date] = mapped_column(Date)  # receipt date; not counted
    extension: Mapped[int] = mapped_column(Integer, default=0)
    paused_units: Mapped[int] = mapped_column(Integer, default=0)
    paused_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # running | paused | closed
    legal_due: Mapped[date] = mapped_column(Date)
    target_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Computed over a provisional calendar year; recomputed when its notice is imported.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)


class StepTarget(Base):
    """The office's target for a step by urgency, for tasks without a due date
    (``engine/step_targets.py``); ``*`` stands for any process or step. Migration 0013."""

    __tablename__ = "step_targets"
    __table_args__ = (UniqueConstraint("process_key", "step", "urgency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(128))
    step: Mapped[str] = mapped_column(String(128))
    urgency: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(16))  # hours | workdays
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProvisionalDate(Base):
    """A date a case computed over a provisional calendar year (``engine/calendar_calls``).

    ``op(start, amount) == result``; kept while the case is open so importing the year's
    notice can recompute it. ``task_id`` marks a task's due date (else a value in the
    case's data). Migration 0005.
    """

    __tablename__ = "provisional_dates"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    op: Mapped[str] = mapped_column(String(16))
    start: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(40))


class TaskReminder(Base):
    """Reminder state of one open task: what was sent on which office day, next check.

    Deleted with its task (ON DELETE CASCADE), so closed tasks leave nothing behind.
    """

    __tablename__ = "task_reminders"

    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    instance_id: Mapped[int] = mapped_column(Integer)
    # The task's due time and urgency when last assessed; a change forces a new assessment.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    urgency: Mapped[str] = mapped_column(String(16), default="")
    # {level: ISO office date of the last notification at that level}
    notified: Mapped[dict] = mapped_column(JSON, default=dict)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True,
                                                           index=True)


class MailOutbox(Base):
    """E-mail waiting to be sent; written with its notification, sent after the commit."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_pending", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id"), nullable=True
    )
    to_addr: Mapped[str] = mapped_column(String(256))
    subject: Mapped[str] = mapped_column(String(512))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class CaseLink(Base):
    """One case gave rise to another: a meeting decision or a leader's 批示 to its 督办 case.

    Read both ways (engine.registry.links), so each case's page lists the other. Migration 0011.
    """

    __tablename__ = "case_links"
    __table_args__ = (UniqueConstraint("source_id", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    relation: Mapped[str] = mapped_column(String(32))  # meeting_decision | instruction
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Leader(Base):
    """A leader of the 管委会 and the matters in their portfolio (分管范围).

    The units in the portfolio are the groups whose ``leader`` is this person; exactly
    one leader has the rank ``principal`` (主要领导).
    """

    __tablename__ = "leaders"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[str] = mapped_column(String(16), default="deputy")  # principal | deputy
    matters: Mapped[list] = mapped_column(JSON, default=list)


class Issuer(Base):
    """A 发文机关: its number prefix, who signs in its name, and the seals it may use."""

    __tablename__ = "issuers"

    prefix: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # principal: the principal leader signs; unit_leader: the leader in charge of the
    # drafting unit (the principal leader when nobody is in charge of it).
    signer_level: Mapped[str] = mapped_column(String(16), default="unit_leader")
    seals: Mapped[list] = mapped_column(JSON, default=list)


class Delegation(Base):
    """A 委托: ``to_user`` may hold ``from_user``'s tasks for a period and a scope."""

    __tablename__ = "delegations"
    __table_args__ = (Index("ix_delegations_to", "to_user", "ends_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    from_user: Mapped[str] = mapped_column(String(64))
    to_user: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    scope: Mapped[list] = mapped_column(JSON, default=list)  # process keys; empty = all
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseFact(Base):
    """What the performance figures read of one case, kept by ``engine.queries.kpi``.

    Derived, never hand-kept: ``kpi.record_facts`` folds a case's new events into its row
    whenever a transaction writes events of that case, and ``docroute kpi rebuild``
    rebuilds every row from the events alone (a test checks that both agree). Migration
    0014_case_facts.
    """

    __tablename__ = "case_facts"
    # Cases start in the order of their ids, so a period's rows lie together.
    __table_args__ = (Index("ix_case_facts_started_on", "started_on"),)

    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(128))
    process_name: Mapped[str] = mapped_column(String(256))
    unit: Mapped[str] = mapped_column(String(64))
    started_on: Mapped[date] = mapped_column(Date)  # office dates
    ended_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    # The latest legal deadline, else the last ``deadline`` submitted in a form.
    deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    # 建议提案: answered (答复 done or an answer number); the proposer's rating.
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    satisfaction: Mapped[str] = mapped_column(String(32), default="")
    # 依申请公开: the answer delivered, its result code, the applicant's type.
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    result_code: Mapped[str] = mapped_column(String(32), default="")
    applicant_type: Mapped[str] = mapped_column(String(32), default="")
    tracked: Mapped[bool] = mapped_column(Boolean, default=False)  # 督办: a tracked follow-up
    # Where the fold stands: the last state event read, its office day, the latest value
    # of every submitted field a figure reads, and the steps seen.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    values: Mapped[dict] = mapped_column(JSON, default=dict)
    specs: Mapped[list] = mapped_column(JSON, default=list)


class CaseStep(Base):
    """One completed step of a case and the working days it took (``engine.queries.kpi``).

    Carries its case's start day and unit, so the per-step averages of a period are one
    aggregate over this table. Migration 0014_case_facts.
    """

    __tablename__ = "case_steps"
    # The per-step averages read this index alone, in the order they group by.
    __table_args__ = (Index("ix_case_steps_grouped", "unit", "process_name", "step",
                            "started_on", "workdays"),
                      Index("ix_case_steps_instance", "instance_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    seq: Mapped[int] = mapped_column(Integer)
    started_on: Mapped[date] = mapped_column(Date)
    unit: Mapped[str] = mapped_column(String(64))
    process_name: Mapped[str] = mapped_column(String(256))
    step: Mapped[str] = mapped_column(String(256))
    workdays: Mapped[int] = mapped_column(Integer)
