"""Capture throughput of this tree beside an earlier commit, alternating runs (A/B).

    python bench/capture_ab.py 8070e44            # 5 runs each of perf.capture_bench
    python bench/capture_ab.py main --runs 3 --events 5000

The machine is shared and noisy, so one `bench/perf.py` figure says little about a change of
10%; this runs the same `capture_bench` (normalize + capture, one event at a time) from both
trees in turn, each in a fresh process, and prints the medians. `TMPDIR=/dev/shm` takes the
disk's file-creation latency out of the first event of each session.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIELDS = ("capture_events_per_s", "later_events_per_s", "later_event_median_us",
          "session_first_event_median_ms", "capture_many_events_per_s", "baseline_events_per_s")
CHILD = """
import json, sys, tempfile
from pathlib import Path
root = sys.argv[1]
sys.path[:0] = [root + "/bench", root]
import perf
import wikimem
assert wikimem.__file__.startswith(root), wikimem.__file__
with tempfile.TemporaryDirectory(prefix="wikimem-capture-ab-") as work:
    print(json.dumps(perf.capture_bench(Path(work) / "home", int(sys.argv[2]))))
"""


def run(root: Path, events: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), str(events)],
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode:
        sys.exit(f"capture_bench in {root} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the commit to compare with (e.g. main)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wikimem-capture-base-") as base:
        archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        results: dict[str, list[dict]] = {"base": [], "this": []}
        for _ in range(args.runs):
            results["base"].append(run(Path(base), args.events))
            results["this"].append(run(ROOT, args.events))
    for name, rows in results.items():
        medians = {k: statistics.median(r[k] for r in rows) for k in FIELDS}
        print(f"{name:5} " + ", ".join(f"{k} {v:,}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
