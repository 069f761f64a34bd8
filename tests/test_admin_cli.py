"""``docroute calendar import|export|template|status`` (webui/admin_cli.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from engine import Docroute, Settings, clock
from webui.cli import main


def env(settings: Settings) -> dict[str, str]:
    return {"DOCROUTE_HOME": str(settings.home), "DOCROUTE_DATABASE_URL": settings.db_url}


def test_calendar_template_import_export(docroute: Docroute, settings: Settings,
                                         tmp_path: Path) -> None:
    docroute.init()
    runner = CliRunner()
    template = runner.invoke(main, ["calendar", "template", "2031"], env=env(settings))
    assert template.exit_code == 0
    lines = template.output.splitlines()
    assert lines[0] == "date,is_workday,note" and len(lines) == 366
    assert "2031-01-01,0,元旦" in lines  # starts from the statutory holidays
    sheet = tmp_path / "2031.csv"
    sheet.write_text(template.output.replace("2031-01-04,0,", "2031-01-04,1,调休上班"))
    result = runner.invoke(main, ["calendar", "import", str(sheet), "--source", "国办发明电"],
                           env=env(settings))
    assert (result.exit_code, result.output) == (0, "imported 2031\n")
    exported = runner.invoke(main, ["calendar", "export", "2031"], env=env(settings))
    assert "2031-01-01,0,元旦,official" in exported.output
    assert "2031-01-04,1,调休上班,official" in exported.output
    sheet.write_text("".join(line for line in template.output.splitlines(keepends=True)
                             if not line.startswith("2031-06-15")))
    refused = runner.invoke(main, ["calendar", "import", str(sheet), "--source", "x"],
                            env=env(settings))
    assert refused.exit_code == 1
    assert "1 day(s) missing (2031-06-15); nothing was stored" in refused.output
    missing = runner.invoke(main, ["calendar", "export", "2040"], env=env(settings))
    assert missing.exit_code == 1


def test_calendar_status_and_a_provisional_export(docroute: Docroute, settings: Settings,
                                                  manual_clock: clock.ManualClock) -> None:
    docroute.init()
    manual_clock.set(datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    runner = CliRunner()
    status = runner.invoke(main, ["calendar", "status"], env=env(settings))
    assert status.exit_code == 0
    lines = status.output.splitlines()
    assert "2026 official" in lines and lines[-1] == "2029 missing"
    assert "2027 provisional" in lines and "2028 provisional" in lines
    as_json = json.loads(runner.invoke(main, ["calendar", "status", "--json"],
                                       env=env(settings)).output)
    assert {"year": 2027, "basis": "provisional"} in as_json
    exported = runner.invoke(main, ["calendar", "export", "2027"], env=env(settings))
    assert exported.exit_code == 0
    first = exported.output.splitlines()[1]
    assert first.startswith("2027-01-01,0,元旦（暂按法定节假日）")
    assert first.endswith(",provisional")
