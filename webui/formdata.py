"""Turning an HTML form post into data shaped by the task's JSON Schema."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict


def parse_form(schema: dict[str, Any], form: MultiDict[str, str]) -> dict[str, Any]:
    """Coerce posted strings by each field's type; blank optional fields are left out.

    Values that do not coerce are passed through unchanged so validation names the field.
    """
    data: dict[str, Any] = {}
    for name, field in (schema.get("properties") or {}).items():
        if field.get("readOnly"):
            continue
        kind = field.get("type")
        if kind == "array":
            values = [v for v in form.getlist(name) if v != ""]
            if values or name in form:
                data[name] = [_coerce(field.get("items") or {}, v) for v in values]
            continue
        if kind == "boolean":
            data[name] = form.get(name) in ("on", "true", "1", "yes")
            continue
        raw = form.get(name)
        if raw is None or raw.strip() == "":
            continue
        data[name] = _coerce(field, raw.strip() if kind != "string" else raw)
    return data


def _coerce(field: dict[str, Any], raw: str) -> Any:
    kind = field.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    return raw
