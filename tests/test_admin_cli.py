"""``docroute calendar import|export|template`` (webui/admin_cli.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from engine import Docroute, Settings
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
    sheet = tmp_path / "2031.csv"
    sheet.write_text(template.output.replace("2031-01-01,1,", "2031-01-01,0,元旦"))
    result = runner.invoke(main, ["calendar", "import", str(sheet), "--source", "国办发明电"],
                           env=env(settings))
    assert (result.exit_code, result.output) == (0, "imported 2031\n")
    exported = runner.invoke(main, ["calendar", "export", "2031"], env=env(settings))
    assert "2031-01-01,0,元旦" in exported.output
    sheet.write_text("".join(line for line in template.output.splitlines(keepends=True)
                             if not line.startswith("2031-06-15")))
    refused = runner.invoke(main, ["calendar", "import", str(sheet), "--source", "x"],
                            env=env(settings))
    assert refused.exit_code == 1
    assert "1 day(s) missing (2031-06-15); nothing was stored" in refused.output
    missing = runner.invoke(main, ["calendar", "export", "2040"], env=env(settings))
    assert missing.exit_code == 1
