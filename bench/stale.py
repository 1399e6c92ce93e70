#!/usr/bin/env python
"""What checking memories against the code adds to compile's context step (issue 17).

    python bench/stale.py [--pages 10000] [--files 5000] [--runs 15] [--out FILE]

Builds, in a fresh WIKIMEM_HOME and a temporary folder: a git repository of `--files` files
(one commit), and a project whose memory log holds `--pages` decisions, lessons and notes,
each naming two of those files (anchored to their blobs as `wikimem decide --files` records
them). Then commits a change to 2% of the files, so some memories are stale, and one deletion.

Timed, alternating, median of `--runs` each, in one process:

* context_ms: the context step without the check - the memory state folded from the log and
  `build_context` (what compile's context stage does);
* context_checked_ms: the same with `staleness.check` between them, the repository unchanged
  since the last check (the common case: the cache of `git ls-files -s` is valid);
* check_only_ms: `staleness.check` alone, same cache;
* check_cold_ms: `staleness.check` after git's index changed (a commit, a `git add`): one
  `git ls-files -s` and the cache written again (the commits that changed files still count:
  they are kept by the files' blobs);
* check_first_ms: the very first check, with no cache: also one `git log` per changed file.

Writes bench/results/stale.json (or --out) and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.com"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


def make_repo(repo: Path, n: int) -> list[str]:
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    names = [f"pkg{i % 50:02d}/mod{i:05d}.py" for i in range(n)]
    for i, name in enumerate(names):
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "files")
    return names


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", default=str(ROOT / "bench/results/stale.json"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wikimem-stale-"))
    os.environ["WIKIMEM_HOME"] = str(tmp / "home")

    from wikimem.capture.event import Event
    from wikimem.capture.observation import format_ts, new_id
    from wikimem.capture.observe import make_observation
    from wikimem.compile import staleness
    from wikimem.compile.context import build_context
    from wikimem.memory import MEMORY_SESSION, fold
    from wikimem.project import Registry
    from wikimem.repo.anchors import Tree, anchors

    repo = tmp / "repo"
    names = make_repo(repo, args.files)
    project = Registry().resolve(repo, create=True)
    project.ensure_dirs()
    tree = Tree(repo)
    kinds = [("decision", "D", "decisions"), ("lesson", "L", "lessons"), ("note", "N", "notes")]
    observations = []
    for i in range(args.pages):
        kind, prefix, folder = kinds[i % 3]
        files = [names[(i * 7) % len(names)], names[(i * 13 + 1) % len(names)]]
        data = {"op": "add", "kind": kind, "id": f"{prefix}{i + 1}",
                "page": f"{folder}/{prefix}{i + 1}-item-{i}.md", "title": f"Item {i} of "
                f"{files[0]}", "status": "active",
                "fields": {"why": "because", "correct": "do it", "verified_by": "bench"},
                "sources": ["agent:bench"], "supersedes": [], "anchors": anchors(tree, files)}
        event = Event(session=MEMORY_SESSION, kind="memory", cwd=str(repo), data=data,
                      uid=new_id())
        observations.append(make_observation("bench", event, data, ts=format_ts(
            __import__("datetime").datetime(2026, 1, 1))))
    for name in names[:: 50]:  # 2% of the files change
        (repo / name).write_text("VALUE = 'changed'\n")
    git(repo, "rm", "-q", names[1])
    git(repo, "commit", "-qam", "change 2% of the files, delete one")

    def context_step(check: bool) -> str:
        memory = fold(observations)
        if check:
            staleness.check(project, memory)
        return build_context(project.name, [], state=memory)

    started = time.perf_counter()
    first_memory = fold(observations)
    fold_s = time.perf_counter() - started
    started = time.perf_counter()
    staleness.check(project, first_memory)
    first = time.perf_counter() - started
    stale = sum(1 for i in first_memory.items.values() if i.stale)

    plain, checked, only, cold = [], [], [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        context_step(False)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        context_step(True)
        checked.append(time.perf_counter() - t)
        memory = fold(observations)
        t = time.perf_counter()
        staleness.check(project, memory)
        only.append(time.perf_counter() - t)
        os.utime(repo / ".git" / "index")  # git's index changed: the cache is read again
        memory = fold(observations)
        t = time.perf_counter()
        staleness.check(project, memory)
        cold.append(time.perf_counter() - t)
    result = {
        "pages": args.pages, "files": args.files, "stale_memories": stale,
        "fold_ms": round(fold_s * 1000, 1),
        "context_ms": median_ms(plain), "context_checked_ms": median_ms(checked),
        "added_ms": round(median_ms(checked) - median_ms(plain), 2),
        "check_only_ms": median_ms(only), "check_cold_ms": median_ms(cold),
        "check_first_ms": round(first * 1000, 1), "runs": args.runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
