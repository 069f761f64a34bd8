"""``docroute deploy --check`` on a fresh installation: no ``docroute init``, no schema.

Run as a real process, as an administrator would before the first init: the shipped
diagrams pass (item_approval's decision table counts as installed, as init would deploy
it), a broken one fails with its line, and nothing is created in the database.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from engine.config import PROJECT_ROOT


def _check(home: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCROUTE_")}
    env.update(DOCROUTE_HOME=str(home), PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.run([sys.executable, "-m", "webui.cli", "deploy", "--check",
                           *map(str, files)], capture_output=True, text=True, env=env,
                          cwd=home.parent, timeout=300)


def _tables(home: Path) -> list[str]:
    database = home / "docroute.sqlite3"
    if not database.exists():
        return []
    with sqlite3.connect(database) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]


def test_check_passes_on_a_fresh_home_and_stores_nothing(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    shipped = sorted((PROJECT_ROOT / "workflows").glob("*.bpmn"))
    result = _check(home, *shipped)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert {line.split()[-1] for line in result.stdout.splitlines()} >= {
        "meeting", "proactive_disclosure", "government_information", "item_approval"}
    assert all(line.startswith("ok ") for line in result.stdout.splitlines())
    broken = tmp_path / "broken.bpmn"
    broken.write_text((PROJECT_ROOT / "workflows" / "meeting.bpmn").read_text("utf-8")
                      .replace('camunda:formKey="', 'camunda:formKey="no_such_', 1), "utf-8")
    failed = _check(home, broken)
    assert failed.returncode == 1 and "broken.bpmn:" in failed.stderr, failed.stderr
    assert _tables(home) == []
