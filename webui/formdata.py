"""HTML form posts shaped by a task's JSON Schema, and field errors people can read.

The engine validates with jsonschema and reports English developer messages
(``'' is too short``). Here each failing field is checked again against its own
schema to say, in the user's language, what to fix.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict

from engine import clock

DATETIME_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def parse_form(schema: dict[str, Any], form: MultiDict[str, str]) -> dict[str, Any]:
    """Coerce posted strings by each field's type; blank optional fields are left out.

    Values that do not coerce are passed through unchanged so validation names the field.
    Read-only fields are never taken from the post.
    """
    data: dict[str, Any] = {}
    for name, field in (schema.get("properties") or {}).items():
        if field.get("readOnly"):
            continue
        kind = field.get("type")
        if kind == "array":
            values = [v for v in form.getlist(name) if v != ""]
            if values or f"{name}__present" in form:
                data[name] = [_coerce(field.get("items") or {}, v) for v in values]
            continue
        if kind == "boolean":
            data[name] = form.get(name) in ("on", "true", "1", "yes")
            continue
        raw = form.get(name)
        if raw is None or (raw.strip() == "" and "" not in (field.get("enum") or [])):
            continue
        data[name] = _coerce(field, raw.strip() if kind != "string" else raw)
    return data


def _coerce(field: dict[str, Any], raw: str) -> Any:
    kind = field.get("type")
    try:
        if kind == "integer":
            return int(raw.strip())
        if kind == "number":
            return float(raw.strip())
    except ValueError:
        return raw
    if field.get("format") == "date-time" and DATETIME_LOCAL.match(raw.strip()):
        # <input type="datetime-local"> has no zone: the office's wall time is meant.
        local = datetime.fromisoformat(raw.strip()).replace(tzinfo=clock.OFFICE_TZ)
        return local.isoformat()
    return raw


def with_defaults(schema: dict[str, Any], values: dict[str, Any], english: bool
                  ) -> dict[str, Any]:
    """``values`` with each missing field's default, as the form opens (a reader's 已阅,
    "Read" on an English page when the form gives ``x-default-en``)."""
    filled = dict(values)
    for name, field in (schema.get("properties") or {}).items():
        if name in filled or field.get("readOnly") or "default" not in field:
            continue
        filled[name] = field.get("x-default-en", field["default"]) if english \
            else field["default"]
    return filled


def input_value(field: dict[str, Any], value: Any) -> str:
    """A stored value as an <input> wants it (datetime-local has no zone)."""
    if value is None:
        return ""
    if field.get("format") == "date-time" and isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is not None:
            moment = moment.astimezone(clock.OFFICE_TZ)
        return moment.strftime("%Y-%m-%dT%H:%M")
    return str(value)


# --- errors ------------------------------------------------------------------------------


def friendly_errors(schema: dict[str, Any], data: dict[str, Any],
                    errors: dict[str, str]) -> dict[str, str]:
    """The engine's field errors as sentences in the user's language, keyed by field."""
    properties = schema.get("properties") or {}
    friendly: dict[str, str] = {}
    for path, message in errors.items():
        name = path.split("/")[0]
        field = properties.get(name)
        if field is None:
            # A rule about the whole document (e.g. routing rules), not one of these fields.
            friendly["_form"] = message
            continue
        friendly[name] = explain(field, data.get(name), name in data) or message
    return friendly


def explain(field: dict[str, Any], value: Any, present: bool) -> str:
    """What is wrong with ``value`` for ``field``, or '' if it looks right."""
    if not present or value is None:
        return _("Please fill in this field.")
    kind = field.get("type")
    if kind == "array":
        return _explain_array(field, value)
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return _("Enter a whole number.")
    if kind == "number" and not isinstance(value, int | float):
        return _("Enter a number.")
    if isinstance(value, int | float):
        return _explain_number(field, value)
    if "enum" in field and value not in field["enum"]:
        return _("Choose one of the options.")
    if isinstance(value, str):
        return _explain_text(field, value)
    return ""


def _explain_number(field: dict[str, Any], value: float) -> str:
    if "minimum" in field and value < field["minimum"]:
        return _("Enter %(n)s or more.", n=field["minimum"])
    if "maximum" in field and value > field["maximum"]:
        return _("Enter %(n)s or less.", n=field["maximum"])
    return ""


def _explain_text(field: dict[str, Any], value: str) -> str:
    if field.get("minLength") and len(value) < field["minLength"]:
        if field["minLength"] == 1 or not value.strip():
            return _("Please fill in this field.")
        return ngettext("Enter at least %(num)d character.",
                        "Enter at least %(num)d characters.", field["minLength"])
    if field.get("maxLength") and len(value) > field["maxLength"]:
        return ngettext("Enter at most %(num)d character (now %(now)d).",
                        "Enter at most %(num)d characters (now %(now)d).",
                        field["maxLength"], now=len(value))
    fmt = field.get("format")
    if fmt == "date" and not _is_date(value):
        return _("Enter a date, for example %(example)s.", example="2026-03-08")
    if fmt == "date-time" and not _is_datetime(value):
        return _("Enter a date and a time, for example %(example)s.",
                 example="2026-03-08 09:30")
    if fmt == "email" and "@" not in value:
        return _("Enter an e-mail address, for example %(example)s.",
                 example="name@example.gov.cn")
    if field.get("pattern") and not re.search(field["pattern"], value):
        examples = field.get("examples") or []
        if examples:
            return _("This does not have the expected form; for example: %(example)s",
                     example=examples[0])
        return _("This does not have the expected form.")
    return ""


def _explain_array(field: dict[str, Any], value: Any) -> str:
    if not isinstance(value, list):
        return _("Choose one of the options.")
    if field.get("minItems") and len(value) < field["minItems"]:
        return ngettext("Choose at least %(num)d.", "Choose at least %(num)d.",
                        field["minItems"])
    if field.get("maxItems") and len(value) > field["maxItems"]:
        return ngettext("Choose at most %(num)d.", "Choose at most %(num)d.",
                        field["maxItems"])
    if field.get("uniqueItems") and len({repr(v) for v in value}) < len(value):
        return _("Choose each option only once.")
    allowed = (field.get("items") or {}).get("enum")
    if allowed is not None and any(v not in allowed for v in value):
        return _("Choose only from the options shown.")
    return ""


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_datetime(value: str) -> bool:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value.upper() and moment.tzinfo is not None
