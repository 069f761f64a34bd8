"""The command line starts without the heavy libraries when a command needs none.

Counted, not timed: which modules a fresh interpreter has loaded after the command ran,
so the test holds on a loaded machine too. (Idle, ``docroute --help`` takes about 0.1 s
with these imports left out and 1.0-1.4 s with them; docs/benchmarks.md.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("flask", "sqlalchemy", "SpiffWorkflow", "lxml", "jsonschema", "engine.models")
REGISTRATIONS = ("engine.history.audit", "engine.history.checkpoints", "engine.deadlines.periods",
                 "engine.registry.documents", "engine.registry.links", "engine.registry.search")

# Runs the entry point (webui.cli:main) as `docroute ARGS` would, then reports what it loaded.
PROBE = """
import json, sys
from webui.cli import main
try:
    main(sys.argv[1:], prog_name="docroute")
    code = 0
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _run(*args: str) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"},
                          timeout=120, check=False)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), done.stdout + done.stderr


def _heavy(modules: set[str]) -> list[str]:
    return [name for name in HEAVY if name in modules]


@pytest.mark.parametrize("args", [
    ["--help"], ["-h"], ["--version"], ["no-such-command"], ["users", "--help"],
    ["users", "add"], ["token", "create", "--help"], ["calendar", "--help"],
    ["audit", "--help"], ["token", "revoke", "0"],
])
def test_help_version_and_argument_errors_load_no_engine(args: list[str]) -> None:
    code, modules, output = _run(*args)
    assert code in (0, 2), output  # 2: click's usage error
    assert _heavy(modules) == [], f"docroute {' '.join(args)} imported {_heavy(modules)}"


def test_help_lists_every_command_group() -> None:
    code, _, output = _run("--help")
    assert code == 0
    for command in ("init", "serve", "worker", "deploy", "users", "token", "replay", "audit",
                    "calendar", "definitions"):
        assert f"  {command}" in output


def test_a_command_that_needs_the_database_loads_the_engine_and_its_registrations(
        tmp_path: Path) -> None:
    # `replay 1` on an empty database: it reaches SQLAlchemy and fails cleanly ("run
    # 'docroute init' first"), with every module that registers itself on import loaded.
    probe = PROBE.replace("from webui.cli import main", "import os\n"
                          f"os.environ['DOCROUTE_HOME'] = {str(tmp_path)!r}\n"
                          "from webui.cli import main")
    done = subprocess.run([sys.executable, "-c", probe, "replay", "1"], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"},
                          timeout=120, check=False)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 1
    assert "docroute init" in done.stderr
    modules = set(report["modules"])
    assert "sqlalchemy" in modules
    assert [m for m in REGISTRATIONS if m not in modules] == []


def test_the_constants_the_options_use_are_the_engines() -> None:
    from engine.constants import CLEARANCES, MAX_EXPIRY_DAYS
    from engine.org import identity, tokens

    assert identity.CLEARANCES is CLEARANCES
    assert tokens.MAX_EXPIRY_DAYS == MAX_EXPIRY_DAYS
    assert identity.clearance_level("top_secret") == len(CLEARANCES) - 1
