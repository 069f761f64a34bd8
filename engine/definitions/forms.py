"""User-task forms: versioned JSON Schemas, resolved choices, and data validation."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import FormInvalid, NotFound, Problem, WorkflowInvalid
from engine.history import chain as history
from engine.models import Form, Group, User

if TYPE_CHECKING:
    from engine.deadlines.workcalendar import WorkCalendar

EMPTY_FORM: dict[str, Any] = {"type": "object", "properties": {}}
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ALLOWED_KEYWORDS = {
    "type", "properties", "required", "enum", "const", "default", "format", "minLength",
    "maxLength", "minimum", "maximum", "items", "minItems", "maxItems", "uniqueItems",
    "title", "description", "readOnly", "pattern", "examples", "$schema", "$id",
    "additionalProperties",
}
ALLOWED_FORMATS = {"date", "date-time", "email"}
FORMAT_CHECKER = FormatChecker([])
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or (bool(date.fromisoformat(value)) and len(value) == 10)


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    # RFC 3339 needs a date, a time and an offset; fromisoformat is the parser, not the rule.
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return "T" in value.upper() and parsed.tzinfo is not None


@FORMAT_CHECKER.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(EMAIL.match(value))


@dataclass(frozen=True)
class FormFile:
    key: str
    name: str
    data: bytes


# --- checking schemas ------------------------------------------------------------------------


def check_schema(name: str, data: bytes, max_bytes: int) -> dict[str, Any]:
    """Parse and check one form file; raise WorkflowInvalid naming each problem's field path."""
    if len(data) > max_bytes:
        raise WorkflowInvalid([Problem(name, None, "", f"the file is {len(data):,} bytes; "
                                                       f"the limit is {max_bytes:,} bytes")])
    try:
        schema = json.loads(data.decode("utf-8"))
    except json.JSONDecodeError as error:
        # Line and column only: a character offset counts a CRLF as two and would name
        # another place for the same error once a browser form has sent the text.
        raise WorkflowInvalid([Problem(name, error.lineno, "", f"not valid JSON: {error.msg} "
                                       f"at column {error.colno}")]) from None
    except UnicodeDecodeError as error:
        raise WorkflowInvalid([Problem(name, None, "", f"not valid JSON: {error}")]) from None
    problems = [Problem(name, None, path, message) for path, message in _schema_problems(schema)]
    if problems:
        raise WorkflowInvalid(problems)
    return schema


def _schema_problems(schema: Any) -> list[tuple[str, str]]:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return [("", 'a form must be a JSON Schema object with "type": "object"')]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        return [("/".join(str(p) for p in error.path) or "", f"invalid JSON Schema: "
                                                              f"{error.message}")]
    problems: list[tuple[str, str]] = []
    for field, sub in (schema.get("properties") or {}).items():
        if not FIELD_NAME.match(field):
            problems.append((field, "field names must match ^[a-z][a-z0-9_]*$"))
        problems.extend(_keyword_problems(field, sub))
    return problems


def _keyword_problems(path: str, node: Any) -> list[tuple[str, str]]:
    if not isinstance(node, dict):
        return [(path, "a field must be a JSON object")]
    problems = []
    for keyword in node:
        if keyword not in ALLOWED_KEYWORDS and not keyword.startswith("x-"):
            problems.append((path, f"the keyword {keyword!r} is not supported in forms"))
    if node.get("format") and node["format"] not in ALLOWED_FORMATS:
        problems.append((path, f"format {node['format']!r} is not supported"))
    if "pattern" in node:
        examples = node.get("examples") or []
        if not examples:
            problems.append((path, "a field with a pattern must list matching examples"))
        for example in examples:
            if not isinstance(example, str) or not re.search(node["pattern"], example):
                problems.append((path, f"example {example!r} does not match the pattern"))
    if isinstance(node.get("items"), dict):
        problems.extend(_keyword_problems(f"{path}/items", node["items"]))
    for field, sub in (node.get("properties") or {}).items():
        problems.extend(_keyword_problems(f"{path}/{field}", sub))
    return problems


# --- storing versions ----------------------------------------------------------------------------


def deploy(session: Session, files: Iterable[FormFile], *, actor: str, max_bytes: int,
           check_only: bool = False) -> list[tuple[str, int, str]]:
    """Store each changed form as its next version; identical content is a no-op."""
    checked = []
    problems: list[Problem] = []
    for item in files:
        try:
            checked.append((item, check_schema(item.name, item.data, max_bytes)))
        except WorkflowInvalid as error:
            problems.extend(error.problems)
    if problems:
        raise WorkflowInvalid(problems)
    results = []
    for item, schema in checked:
        sha = hashlib.sha256(history.canonical_json(schema).encode()).hexdigest()
        current = latest(session, item.key)
        if check_only:
            results.append((item.key, 0, "ok"))
        elif current is not None and current.sha256 == sha:
            results.append((item.key, current.version, "unchanged"))
        else:
            version = current.version + 1 if current else 1
            session.add(Form(key=item.key, version=version, schema=schema, sha256=sha,
                             deployed_by=actor, deployed_at=clock.now()))
            session.flush()
            history.append_system(session, "form_deployed", actor,
                                  {"key": item.key, "version": version, "sha256": sha})
            results.append((item.key, version, "deployed"))
    return results


def latest(session: Session, key: str) -> Form | None:
    return session.scalars(
        select(Form).where(Form.key == key).order_by(Form.version.desc())
    ).first()


def get(session: Session, key: str, version: int | None) -> Form:
    form = (latest(session, key) if version is None else session.scalars(
        select(Form).where(Form.key == key, Form.version == version)).first())
    if form is None:
        raise NotFound(f"form {key!r} is not deployed")
    return form


def exists(session: Session, key: str) -> bool:
    return (session.scalar(select(func.count()).select_from(Form).where(Form.key == key))
            or 0) > 0


def latest_versions(session: Session, keys: Iterable[str]) -> dict[str, int]:
    keys = list(keys)
    if not keys:
        return {}
    rows = session.execute(select(Form.key, func.max(Form.version)).where(Form.key.in_(keys))
                           .group_by(Form.key))
    return {key: int(version) for key, version in rows}


# --- choices and validation ----------------------------------------------------------


def resolve(session: Session, schema: dict[str, Any], *, clearance: int = 0
            ) -> dict[str, Any]:
    """A copy of a schema with every ``x-choices`` turned into an ``enum`` of valid values.

    ``staff`` choices list only office staff cleared to ``clearance`` (the task's
    document), so a choice never names someone who could not hold the resulting task.
    """
    schema = copy.deepcopy(schema)
    cache: dict[str, list[tuple[str, str, str]]] = {}

    def visit(node: Any) -> None:
        if not isinstance(node, dict):
            return
        source = node.get("x-choices")
        if source:
            if source not in cache:
                cache[source] = _choices(session, source, clearance)
            values = cache[source]
            node["enum"] = [v for v, _, _ in values]
            node["x-enum-labels"] = [zh for _, zh, _ in values]
            node["x-enum-labels-en"] = [en for _, _, en in values]
        for sub in (node.get("properties") or {}).values():
            visit(sub)
        visit(node.get("items"))

    visit(schema)
    return schema


def _choices(session: Session, source: str, clearance: int = 0
             ) -> list[tuple[str, str, str]]:
    kind, _, arg = source.partition(":")
    if kind in ("staff", "users"):
        # A person chosen here is given work: administrators and auditors hold no tasks
        # unless they belong to a unit or role, and nobody below the document's level.
        people = (select(User).where(User.active.is_(True), User.clearance >= clearance,
                                     User.groups.any(Group.active.is_(True)))
                  .order_by(User.username))
        if arg:
            people = people.where(User.groups.any(Group.key == arg))
        return [(u.username, u.name, u.name) for u in session.scalars(people)]
    query = select(Group).where(Group.active.is_(True)).order_by(Group.key)
    if kind == "departments":
        query = query.where(Group.kind == "department")
    elif kind == "roles":
        query = query.where(Group.kind == "role")
    elif kind != "groups":
        return []
    return [(g.key, g.name, g.name_en or g.name) for g in session.scalars(query)]


def validate(schema: dict[str, Any], data: Any,
             calendar: WorkCalendar | None = None) -> dict[str, Any]:
    """Check submitted data against a resolved schema; return it with defaults applied.

    Raises FormInvalid with one message per field path. Unknown fields are refused, and
    names starting with an underscore never reach task data. A schema with time limits
    (``x-deadline``) needs the working-day ``calendar`` (``workcalendar.of(session)``).
    """
    if not isinstance(data, dict):
        raise FormInvalid({"": "the submitted data must be a JSON object"})
    errors: dict[str, str] = {}
    properties = schema.get("properties") or {}
    for key in data:
        if key not in properties:
            errors[key] = f"unknown field {key!r}"
    clean = {k: v for k, v in data.items() if k in properties}
    for key, sub in properties.items():
        if key not in clean and "default" in sub:
            clean[key] = copy.deepcopy(sub["default"])
        if sub.get("readOnly") and key in clean and key in data:
            # Read-only fields show earlier data; a client may echo them but not change them.
            clean.pop(key)
    validator = Draft202012Validator(_without_readonly_required(schema),
                                     format_checker=FORMAT_CHECKER)
    for error in validator.iter_errors(clean):
        path = "/".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = missing or path
            errors.setdefault(path, "this field is required")
        else:
            errors.setdefault(path, error.message)
    _check_time_limits(properties, clean, errors, calendar)
    if errors:
        raise FormInvalid(errors)
    return clean


def _check_time_limits(properties: dict[str, Any], clean: dict[str, Any],
                       errors: dict[str, str], calendar: WorkCalendar | None) -> None:
    """Time limits (``x-deadline`` date fields) are never in the past, and one that falls
    on a day off rolls to the next working day, as a period ending on a holiday does."""
    from engine.deadlines.periods import workcalendar

    today = clock.now().astimezone(clock.OFFICE_TZ).date()
    for key, sub in properties.items():
        value = clean.get(key)
        if not sub.get("x-deadline") or not isinstance(value, str) or key in errors:
            continue
        try:
            day = date.fromisoformat(value)
        except ValueError:
            continue  # the format check has said so
        if day < today:
            errors[key] = (f"办理时限 {day} 已过 / the time limit {day} is in the past: "
                           f"choose {today} or later")
            continue
        if calendar is None:
            raise RuntimeError("a form with time limits is checked against a calendar")
        try:
            rolled = workcalendar.office_date(calendar.roll_forward(day))
        except workcalendar.CalendarMissing as missing:
            errors[key] = str(missing)
            continue
        clean[key] = rolled.isoformat()


def _without_readonly_required(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    required = [k for k in schema.get("required", []) if not properties.get(k, {}).get("readOnly")]
    trimmed = dict(schema)
    trimmed["required"] = required
    return trimmed


def json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
