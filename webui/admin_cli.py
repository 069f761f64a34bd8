"""``docroute calendar import|export|template|status``: the working-day calendar from the shell.

The file format and the rules are in docs/calendar.md; the same checks run as on the
calendar administration page, and nothing is stored while any problem remains.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.errors import DocrouteError

if TYPE_CHECKING:
    from engine import Docroute


def _app() -> Docroute:
    from engine import Docroute, Settings

    try:
        return Docroute(Settings.from_env())
    except ValueError as error:
        click.echo(f"docroute: {error}", err=True)
        sys.exit(1)


@click.group("calendar")
def calendar() -> None:
    """The official working-day calendar (docs/calendar.md)."""


@calendar.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--source", required=True,
              help="the notice the file follows, e.g. 国办发明电〔2026〕7号")
def calendar_import(file: str, source: str) -> None:
    """Replace every year in FILE (CSV: date,is_workday,note; each year complete)."""
    from engine.deadlines import calendar_recompute

    try:
        text = Path(file).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        click.echo(f"{file}: the file is not UTF-8 text; nothing was stored", err=True)
        sys.exit(1)
    app = _app()
    try:
        with app.session() as session:
            change = calendar_recompute.import_csv(session, text, source, "cli")
    except DocrouteError as error:
        for line in str(error).splitlines():
            click.echo(f"{file}: {line}", err=True)
        sys.exit(1)
    for year in change.years:
        click.echo(f"imported {year}")
    if change.cases:
        click.echo(f"recomputed {change.dates_moved} provisional date(s) in "
                   f"{len(change.cases)} case(s)")


@calendar.command("export")
@click.argument("year", type=int)
def calendar_export(year: int) -> None:
    """Print the stored days of YEAR as CSV (the import format)."""
    from engine.deadlines import workcalendar

    with _app().session() as session:
        rows = workcalendar.year_rows(session, year)
    if not rows:
        click.echo(f"docroute: the calendar has no data for {year}", err=True)
        sys.exit(1)
    click.echo(workcalendar.rows_to_csv(rows), nl=False)


@calendar.command("template")
@click.argument("year", type=int)
def calendar_template(year: int) -> None:
    """Print YEAR's statutory holidays and weekends to correct against the notice."""
    from engine.deadlines import workcalendar

    try:
        click.echo(workcalendar.template_csv(year), nl=False)
    except DocrouteError as error:
        click.echo(f"docroute: {error}", err=True)
        sys.exit(1)


@calendar.command("status")
@click.option("--json", "as_json", is_flag=True, help="print a JSON array")
def calendar_status(as_json: bool) -> None:
    """Each year: official (notice imported), provisional (statutory holidays) or missing."""
    from engine.deadlines import workcalendar

    with _app().session() as session:
        cal = workcalendar.load(session)
    rows = workcalendar.year_status(cal)
    if as_json:
        click.echo(json.dumps([{"year": y, "basis": b} for y, b in rows]))
        return
    for year, basis in rows:
        click.echo(f"{year} {basis}")
