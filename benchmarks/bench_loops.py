"""Long send-back loops: a step's cost and replay against round 1, with and without
compaction (engine/compaction.py), on SQLite.

    .venv/bin/python benchmarks/bench_loops.py --rounds 200

For each mode (compaction on, then off in the same run) one case of the bench's
draft → review → back-to-draft process is sent back ``--rounds`` times through
``runtime.complete``. Reported per mode: the median step time over the first rounds and
over the last, as a ratio to the SpiffWorkflow floor measured in this run; Python
function calls per step (cProfile; independent of machine load); tasks in the stored
tree and stored state bytes; and replay + verify of the whole case.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_engine

from engine.history import replay
from engine.models import Instance
from engine.runtime import compaction

SAMPLE = 10  # steps per median at each end of the loop


def _calls(bench: bench_engine.Bench, case_id: int) -> int:
    profile = cProfile.Profile()
    profile.enable()
    bench.complete(case_id, None)
    profile.disable()
    return pstats.Stats(profile).total_calls  # type: ignore[attr-defined,no-any-return]


def run(rounds: int, compact: bool) -> dict[str, Any]:
    original = compaction.compact
    if not compact:
        compaction.compact = lambda workflow, margin=0: 0  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as home:
            bench = bench_engine.Bench(f"sqlite:///{home}/bench.sqlite3", Path(home) / "home")
            case = bench.start("sendback", {"approved": False})
            times = [bench.complete(case, None) for _ in range(2 * rounds)]
            calls_last = _calls(bench, case)
            with bench.app.session() as s:
                state = s.get(Instance, case).state
                started = time.perf_counter()
                verdict = replay.verify(s, case)
                replay_s = time.perf_counter() - started
            fresh = bench.start("sendback", {"approved": False})
            bench.complete(fresh, None)
            calls_first = _calls(bench, fresh)
            bench.app.engine.dispose()
    finally:
        compaction.compact = original
    return {"first": statistics.median(times[:2 * SAMPLE]),
            "last": statistics.median(times[-2 * SAMPLE:]),
            "calls_first": calls_first, "calls_last": calls_last,
            "tasks": len(json.loads(state)["tasks"]), "bytes": len(state),
            "replay": replay_s, "verified": verdict.ok, "events": verdict.events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    floor = bench_engine.floor(50)
    load = os.getloadavg()[0]
    results = {"compaction": run(args.rounds, True), "no compaction": run(args.rounds, False)}
    print(f"Floor {floor * 1000:.2f} ms; {args.rounds} rounds ({2 * args.rounds} steps); "
          f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n")
    print("| measure | " + " | ".join(results) + " |")
    print("| --- |" + " --- |" * len(results))
    rows = [
        (f"step, first {SAMPLE} rounds (median, × floor)",
         lambda r: f"{r['first'] * 1000:.1f} ms ({r['first'] / floor:.1f}×)"),
        (f"step, last {SAMPLE} rounds (median, × floor)",
         lambda r: f"{r['last'] * 1000:.1f} ms ({r['last'] / floor:.1f}×)"),
        ("last / first", lambda r: f"{r['last'] / r['first']:.2f}"),
        ("Python calls per step, round 1 / last", lambda r: (
            f"{r['calls_first']:,} / {r['calls_last']:,} "
            f"({r['calls_last'] / r['calls_first']:.2f}×)")),
        ("tasks in the stored tree", lambda r: f"{r['tasks']:,}"),
        ("stored state (bytes)", lambda r: f"{r['bytes']:,}"),
        ("replay + verify of the case", lambda r: (
            f"{r['replay']:.2f} s ({r['events']} events, "
            f"{'verified' if r['verified'] else 'DIFFERS'})")),
    ]
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results.values()) + " |")


if __name__ == "__main__":
    main()
