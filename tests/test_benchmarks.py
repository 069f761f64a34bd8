"""Every benchmark of ``make bench`` still runs, at a size that takes seconds.

The benchmarks are never timed here (figures belong to docs/benchmarks.md, measured on an
idle machine); this only keeps them working as the code under them changes. Each runs
as ``make bench`` runs it, in its own process, on SQLite and, where it takes a server,
on the PostgreSQL named by DOCROUTE_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("DOCROUTE_TEST_POSTGRES_URL", "")

SMALL = {
    "engine": (["--db", "sqlite", "--reps", "3", "--big", "50", "--rounds", "3"],
               "floor"),
    "inbox": (["--db", "sqlite", "--tasks", "300", "--events", "3000", "--reps", "2"],
              "page / (list + 3 counts)"),
    "loops": (["--rounds", "4"], "replay + verify"),
    "kpi": (["--db", "sqlite", "--cases", "400", "--reps", "1"], "kpi page /reports/"),
    "audit": (["--cases", "50", "--per-case", "4", "--shapes", "mixed"], "no problem"),
    "timers": (["--db", "sqlite", "--lateness-timers", "2", "--waiting", "300", "--due", "3",
                "--rounds", "1"], "tick"),
}
ON_POSTGRES = {
    "scaleout": (["--seconds", "4", "--clients", "2", "--burst", "5"],
                 "no task completed twice"),
    "timers": (["--db", "postgresql", "--lateness-timers", "2", "--waiting", "300",
                "--due", "3", "--rounds", "1"], "tick"),
}


def _run(name: str, args: list[str]) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"bench_{name}.py"),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, f"bench_{name} failed:\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_benchmark_runs(name: str) -> None:
    args, expected = SMALL[name]
    assert expected in _run(name, args).lower()


@pytest.mark.skipif(not PG, reason="DOCROUTE_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize("name", sorted(ON_POSTGRES))
def test_the_benchmark_runs_on_postgresql(name: str) -> None:
    args, expected = ON_POSTGRES[name]
    assert expected in _run(name, args).lower()
