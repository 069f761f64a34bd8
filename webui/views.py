"""Template helpers: office-time formatting, labels, and what every page needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, g
from flask_babel import format_datetime, get_locale

from engine import clock


def init_app(app: Flask) -> None:
    app.jinja_env.filters["office_time"] = office_time
    app.jinja_env.filters["label"] = label

    @app.context_processor
    def _common() -> dict[str, Any]:
        return {"actor": g.get("actor"), "lang": str(get_locale() or "zh")}


def office_time(value: datetime | None, fmt: str = "medium") -> str:
    """A stored UTC time shown in the office's zone, in the user's locale."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(clock.OFFICE_TZ), fmt)


def label(node: dict[str, Any], key: str = "title") -> str:
    """A schema's zh text or its ``x-…-en`` English text, by the current language."""
    if str(get_locale() or "zh").startswith("en"):
        return str(node.get(f"x-{key}-en") or node.get(key) or "")
    return str(node.get(key) or node.get(f"x-{key}-en") or "")
