#!/usr/bin/env python
"""Team memory at scale: M machines x S sessions converge through one bare remote.

    python bench/sync.py [--machines 10] [--sessions 100] [--events 12] [--json]

Each machine is its own WIKIMEM_HOME and its own folder standing for its clone; the remote is
a local bare repository. Every machine records S sessions of E events (a prompt, tool
events, a final message) and a decision, then:

1. round 1: each machine syncs in turn (it sends its sessions, receives the earlier
   machines'); round 2: each syncs again (receives the rest). Every sync is timed as its
   exchange (fetch, adopt, push) and the compile after it.
2. baseline, in the same run: before each round-2 sync the remote and the machine's sync
   repository are copied; afterwards a plain `git fetch` of the same ref into the copy and a
   plain `git push` of the commit the sync made into the remote's copy are timed: the same
   objects moved by git alone.
3. convergence: the page bytes of all machines are hashed and must be equal.
4. recompile after a sync is proportional to what arrived: one machine records k new
   sessions (k = 1, 10, 50), syncs, another syncs; its compile time per arrived observation,
   beside a `--rebuild` of everything.
5. the remote's objects: count, size loose and after `git gc`.

Figures go to bench/results/sync.json; docs/BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from wikimem.capture.event import Event  # noqa: E402
from wikimem.capture.observe import capture_many  # noqa: E402
from wikimem.compile.build import compile_project  # noqa: E402
from wikimem.memory import Memory  # noqa: E402
from wikimem.project import Registry  # noqa: E402
from wikimem.sync import exchange, settings  # noqa: E402

RESULTS = HERE / "results" / "sync.json"


class Machine:
    def __init__(self, base: Path, name: str, remote: Path):
        self.name, self.home = name, base / name / "home"
        self.clone = base / name / "proj"
        self.clone.mkdir(parents=True)
        (self.clone / ".wikimem.toml").write_text('[project]\nname = "proj"\n')
        with self.env():
            self.project = Registry(self.home).resolve(self.clone)
            self.project.ensure_dirs()
            settings.set_remote(self.project, str(remote), machine=name)

    def env(self):
        home = str(self.home)

        class _Env:
            def __enter__(self_inner):
                self_inner.old = os.environ.get("WIKIMEM_HOME")
                os.environ["WIKIMEM_HOME"] = home

            def __exit__(self_inner, *exc):
                os.environ["WIKIMEM_HOME"] = self_inner.old or ""
        return _Env()

    def record(self, first: int, count: int, events: int) -> None:
        items = []
        for s in range(first, first + count):
            session = f"{self.name}-s{s}"
            for e in range(events):
                kind = "prompt" if e == 0 else "stop" if e == events - 1 else "tool_post"
                data = {"prompt": f"work item {s} on {self.name}: step {e}"} if e == 0 else \
                    {"message": f"done with item {s}"} if kind == "stop" else \
                    {"tool": "Bash", "command": f"make test-{s}-{e}", "exit_code": 0,
                     "output": "ok " * 20}
                items.append((Event(session, kind, str(self.clone), data, uid=f"{s}-{e}"),
                              data, None))
        with self.env():
            capture_many("claude-code", items, project=self.project)

    def sync(self, recompile: bool = True):
        with self.env():
            t0 = time.perf_counter()
            report = exchange.sync_project(self.project, recompile=False)
            t1 = time.perf_counter()
            if recompile:
                compile_project(self.project)
            t2 = time.perf_counter()
        return report, t1 - t0, t2 - t1

    def pages_digest(self) -> str:
        h = hashlib.sha256()
        wiki = self.project.wiki_dir
        for p in sorted(wiki.rglob("*")):
            if p.is_file() and ".git" not in p.relative_to(wiki).parts:
                h.update(p.relative_to(wiki).as_posix().encode() + b"\0" + p.read_bytes())
        return h.hexdigest()


def git(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True)


def baseline(machine: Machine, remote: Path, remote_copy: Path, sync_copy: Path,
             commit: str | None, ref: str) -> float:
    """A plain `git fetch` of the ref into the copy of the machine's sync repository, and a
    plain `git push` of the sync's commit into the remote's copy: the same objects."""
    t0 = time.perf_counter()
    git("--git-dir", str(sync_copy), "fetch", "-q", str(remote_copy), f"+{ref}:refs/base")
    elapsed = time.perf_counter() - t0
    if commit:
        repo = exchange.repo_path(machine.project)
        git("--git-dir", str(sync_copy), "fetch", "-q", str(repo), f"{commit}:refs/mine")
        t0 = time.perf_counter()
        git("--git-dir", str(sync_copy), "push", "-q", "-f", str(remote_copy),
            f"refs/mine:{ref}")
        elapsed += time.perf_counter() - t0
    return elapsed


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=10)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--events", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="wikimem-sync-bench-"))
    os.environ["WIKIMEM_AUTO_COMPILE"] = "0"
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    out: dict = {"machines": args.machines, "sessions": args.sessions, "events": args.events}
    try:
        remote = base / "remote.git"
        git("init", "-q", "--bare", str(remote))
        ms = [Machine(base, f"m{i}", remote) for i in range(args.machines)]
        for m in ms:
            m.record(0, args.sessions, args.events)
            with m.env():
                Memory(m.project).add("decision", f"Decision of {m.name}", {"why": "bench"})
        r1 = [m.sync() for m in ms]
        out["round1"] = [{"received": len(r.received), "exchange_s": round(x, 3),
                          "compile_s": round(c, 3)} for r, x, c in r1]
        r2, base_s = [], []
        for m in ms:
            rc, sc = base / "remote-copy.git", base / "sync-copy.git"
            shutil.rmtree(rc, ignore_errors=True)
            shutil.rmtree(sc, ignore_errors=True)
            shutil.copytree(remote, rc)
            shutil.copytree(exchange.repo_path(m.project), sc)
            report, x, c = m.sync()
            r2.append((report, x, c))
            base_s.append(baseline(m, remote, rc, sc, report.commit if report.pushed else None,
                                   settings.DEFAULT_REF))
        out["round2"] = [{"received": len(r.received), "exchange_s": round(x, 3),
                          "compile_s": round(c, 3), "git_fetch_push_s": round(b, 3)}
                         for (r, x, c), b in zip(r2, base_s, strict=True)]
        ex2 = [x for _, x, _ in r2]
        out["round2_median_exchange_s"] = round(statistics.median(ex2), 3)
        out["round2_median_git_s"] = round(statistics.median(base_s), 3)
        out["round2_exchange_over_git"] = round(statistics.median(
            [x / b for x, b in zip(ex2, base_s, strict=True) if b > 0]), 2)
        digests = {m.pages_digest() for m in ms}
        out["converged"] = len(digests) == 1
        # Recompile after sync: proportional to what arrived.
        sender, receiver = ms[0], ms[1]
        grow, first = [], args.sessions
        for k in (1, 10, 50):
            sender.record(first, k, args.events)
            first += k
            sender.sync(recompile=False)
            report, x, c = receiver.sync()
            grow.append({"sessions_arrived": k, "observations_arrived": k * args.events,
                         "exchange_s": round(x, 3), "compile_s": round(c, 3),
                         "compile_ms_per_observation": round(1000 * c / (k * args.events), 2)})
        out["recompile_after_sync"] = grow
        with receiver.env():
            t0 = time.perf_counter()
            compile_project(receiver.project, rebuild=True)
            out["rebuild_all_s"] = round(time.perf_counter() - t0, 3)
        objects = git("--git-dir", str(remote), "count-objects", "-v").stdout.decode()
        out["remote_before_gc"] = {"bytes": du(remote), "count_objects": objects.split("\n")}
        git("--git-dir", str(remote), "gc", "-q", "--prune=now")
        out["remote_after_gc_bytes"] = du(remote)
        out["raw_bytes_per_machine"] = du(ms[0].project.raw_dir)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1) if args.json else
          f"converged: {out['converged']}; round-2 exchange median "
          f"{out['round2_median_exchange_s']} s vs git fetch+push "
          f"{out['round2_median_git_s']} s (ratio {out['round2_exchange_over_git']}); "
          f"recompile per arrived observation: "
          f"{[g['compile_ms_per_observation'] for g in out['recompile_after_sync']]} ms")
    return 0 if out["converged"] else 1


if __name__ == "__main__":
    sys.exit(main())
