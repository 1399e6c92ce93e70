#!/usr/bin/env python
"""Concurrency and crash trials for wikimem; prints counts (events lost must be 0).

    python bench/stress.py [--quick] [--procs 8] [--events 1000] [--trials 24] [--json]
    python bench/stress.py concurrency|crash [...]

**concurrency**: `--procs` worker processes each send `--events` Claude Code hook events
through the hook's own entry function (`wikimem.hook.run` with the payload as stdin bytes:
the code `wikimem hook claude-code` runs, without an interpreter start per event). Half the
events go to the worker's own session, half to three sessions every worker shares; prompts
and Stop messages carry no agent id (payload-hash keys), tool events do (`tool_use_id`).
Every 7th tool event is sent twice, and in a shared session a worker also re-sends its
neighbour's event (same idempotency key, from another process). Meanwhile 3 compiler
processes call `compile_project(wait=False)` in a loop (as hooks do after Stop) and one
process searches. Then a smaller run through real `python -m wikimem hook claude-code`
subprocesses with auto-compile on, so Stop starts detached compiles. Counted: events sent,
stored, lost, duplicated; lines that do not parse; observations compiled (their sum over all
compile rounds must equal the lines stored: nothing compiled twice, nothing skipped); compile
rounds, busy returns; searches and failed searches; commits with more than one parent;
`git fsck`.

**crash**: `--trials` rounds on one project: capture new sessions (fixed timestamps), run
`wikimem compile` as a process and kill it with SIGKILL, either at a named point
(`WIKIMEM_FAULT`, see wikimem/faults.py: between page writes, after `git add`, after the
commit, inside the index update, before the state is saved) or at a random moment (the
whole process group, git children included); sometimes the recovering compile is killed
too. Then one compile, and the checks: `git fsck` clean, work tree clean, no "Human edits"
commit, no journal left, offsets = raw log sizes, index paths = pages, and every page byte
for byte equal to a clean compile of the same events in another home.

`--quick`: 4 x 150 events, 12 real-process events, 8 crash trials. Exit status 1 when any
count that must be zero is not.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "stress.json"
MARKER = re.compile(rb"m-[a-z0-9]+-\d+-\d+")
POINTS = ["compile-start", "page-written", "git-added", "after-commit", "index-update",
          "before-state-save"]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KEEP = False  # --keep: leave the temporary homes for inspection


# -- payloads --------------------------------------------------------------------------------

def payload(tag: str, w: int, i: int, cwd: str) -> dict:
    """Event i of worker w: its kind, session and a unique marker follow from (w, i)."""
    marker = f"m-{tag}-{w}-{i}"
    session = f"{tag}-shared-{i % 3}" if i % 2 else f"{tag}-w{w}"
    base = {"session_id": session, "cwd": cwd, "transcript_path": f"/tmp/{session}.jsonl"}
    if i % 10 == 0:
        return {**base, "hook_event_name": "UserPromptSubmit",
                "prompt": f"please look at the parser and fix {marker}"}
    if i % 10 == 9:
        return {**base, "hook_event_name": "Stop", "stop_hook_active": False,
                "last_assistant_message": f"Fixed the parser ({marker})."}
    return {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash",
            "tool_use_id": f"toolu_{marker}",
            "tool_input": {"command": f"echo {marker}", "description": "probe"},
            "tool_response": {"stdout": marker, "stderr": "", "interrupted": False}}


def count_raw(raw_dir: Path, tag: str) -> dict:
    """Markers of `tag` stored in the raw log: how often each, and unreadable lines."""
    seen: Counter = Counter()
    lines = bad = partial = 0
    for path in sorted(raw_dir.glob("*.jsonl")):
        blob = path.read_bytes()
        if blob and not blob.endswith(b"\n"):
            partial += 1
        for line in blob.splitlines():
            if not line.strip():
                continue
            lines += 1
            try:
                json.loads(line)
            except ValueError:
                bad += 1
                continue
            found = set(MARKER.findall(line))
            for m in found:
                if m.decode().startswith(f"m-{tag}-"):
                    seen[m.decode()] += 1
    return {"seen": seen, "lines": lines, "bad": bad, "partial": partial}


# -- worker roles (run as `stress.py --role ...`) ------------------------------------------------

def role_hook_worker(args) -> dict:
    from wikimem.hook import run

    sent = calls = redelivered = 0
    for i in range(args.events):
        body = json.dumps(payload("c", args.w, i, args.cwd)).encode()
        run("claude-code", [], stdin=io.BytesIO(body), stdout=io.BytesIO())
        sent += 1
        calls += 1
        if i % 10 not in (0, 9) and i % 7 == 3:
            run("claude-code", [], stdin=io.BytesIO(body), stdout=io.BytesIO())
            calls += 1
            redelivered += 1
            if i % 2:  # a shared session: the neighbour's event, from this process too
                peer = (args.w + 1) % args.procs
                other = json.dumps(payload("c", peer, i, args.cwd)).encode()
                run("claude-code", [], stdin=io.BytesIO(other), stdout=io.BytesIO())
                calls += 1
                redelivered += 1
    return {"sent": sent, "calls": calls, "redelivered": redelivered}


def role_compiler(args) -> dict:
    from wikimem.compile.build import compile_project
    from wikimem.project import Registry

    project = Registry().find(args.project)
    stop = Path(args.stop)
    _ready(stop)
    rounds = busy = observations = commits = errors = 0
    while True:
        last = stop.exists()
        try:
            r = compile_project(project, wait=False)
        except Exception as exc:  # noqa: BLE001 - counted and printed, the run goes on
            errors += 1
            print(f"compile failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            r = None
        if r is not None:
            busy += r.busy
            rounds += not r.busy
            observations += r.observations
            commits += r.commit is not None
        if last:
            break
        time.sleep(0.02)
    return {"rounds": rounds, "busy": busy, "observations": observations, "commits": commits,
            "errors": errors}


def _ready(stop: Path) -> None:
    """Say this process has imported everything (the hook workers start after that)."""
    (stop.parent / f"ready-{os.getpid()}").touch()


def role_searcher(args) -> dict:
    from wikimem.project import Registry
    from wikimem.search.index import SearchIndex

    project = Registry().find(args.project)
    stop = Path(args.stop)
    _ready(stop)
    ok = failed = 0
    while not stop.exists():
        try:
            SearchIndex(project.index_dir, project.wiki_dir).search("parser fix probe")
            ok += 1
        except Exception as exc:  # noqa: BLE001 - a failed search is what we count
            failed += 1
            print(f"search failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        time.sleep(0.05)
    return {"searches": ok, "failed": failed}


# -- concurrency -------------------------------------------------------------------------------

def _env(home: Path, **extra) -> dict:
    env = {**os.environ, "WIKIMEM_HOME": str(home), "WIKIMEM_AUTO_COMPILE": "0"}
    env.pop("WIKIMEM_FAULT", None)
    env.update(extra)
    return env


def _spawn(role: str, env: dict, **kw) -> subprocess.Popen:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--role", role]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed with status {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def _git(wiki: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=wiki, capture_output=True, text=True)


def _git_checks(wiki: Path) -> dict:
    fsck = _git(wiki, "fsck", "--no-dangling")
    parents = _git(wiki, "rev-list", "--parents", "HEAD").stdout.splitlines()
    log = _git(wiki, "log", "--format=%an|%s").stdout.splitlines()
    return {
        "fsck_ok": fsck.returncode == 0 and not fsck.stdout.strip(),
        "fsck_output": (fsck.stdout + fsck.stderr).strip()[:500],
        "commits": len(parents),
        "merge_commits": sum(len(line.split()) > 2 for line in parents),
        "human_commits": sum(1 for line in log if "|Human edits" in line),
        "dirty": bool(_git(wiki, "status", "--porcelain").stdout.strip()),
    }


def _wait_idle(project, timeout: float = 600) -> bool:
    """Wait until no compile holds the lock, none is pending, and the raw log is compiled."""
    from wikimem.capture import rawlog
    from wikimem.locks import locked

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with locked(project.state_dir / "compile.lock", blocking=False) as free:
            if free and not (project.state_dir / "compile.pending").exists():
                try:
                    offsets = json.loads((project.state_dir / "compile.json").read_text())
                    offsets = offsets["offsets"]
                except (OSError, ValueError, KeyError):
                    offsets = {}
                sizes = dict(rawlog.session_file_sizes(project.raw_dir))
                if sizes and all(offsets.get(n) == s for n, s in sizes.items()):
                    return True
        time.sleep(0.2)
    return False


def concurrency(procs: int, events: int, sub_procs: int, sub_events: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="wikimem-stress-"))
    try:
        return _concurrency(work, procs, events, sub_procs, sub_events)
    finally:
        if not KEEP:
            shutil.rmtree(work, ignore_errors=True)


def _concurrency(work: Path, procs: int, events: int, sub_procs: int, sub_events: int) -> dict:
    from wikimem.compile.build import compile_project
    from wikimem.project import Registry

    home, repo = work / "home", work / "project"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    os.environ["WIKIMEM_HOME"] = str(home)
    project = Registry().resolve(repo)
    project.ensure_dirs()
    env = _env(home)
    stop = work / "stop"

    started = time.monotonic()
    compilers = [_spawn("compiler", env, project=project.project_id, stop=stop)
                 for _ in range(3)]
    searcher = _spawn("searcher", env, project=project.project_id, stop=stop)
    while len(list(work.glob("ready-*"))) < 4:
        time.sleep(0.05)
    started = time.monotonic()
    workers = [_spawn("hook-worker", env, w=w, procs=procs, events=events, cwd=repo)
               for w in range(procs)]
    sent = [_result(p) for p in workers]
    hook_seconds = time.monotonic() - started
    stop.touch()
    compiled = [_result(p) for p in compilers]
    searched = _result(searcher)
    final = compile_project(project)
    stored = count_raw(project.raw_dir, "c")
    all_lines = count_raw(project.raw_dir, "none")["lines"]
    markers = {f"m-c-{w}-{i}" for w in range(procs) for i in range(events)}
    result = {
        "processes": procs,
        "events_sent": sum(s["sent"] for s in sent),
        "hook_calls": sum(s["calls"] for s in sent),
        "redelivered": sum(s["redelivered"] for s in sent),
        "events_stored": sum(1 for m in markers if stored["seen"][m]),
        "lines_stored": stored["lines"],
        "events_lost": len(markers - set(stored["seen"])),
        "events_duplicated": sum(n - 1 for n in stored["seen"].values() if n > 1),
        "unreadable_lines": stored["bad"],
        "partial_last_lines": stored["partial"],
        "hook_events_per_s": round(sum(s["calls"] for s in sent) / hook_seconds),
        "compile_rounds": sum(c["rounds"] for c in compiled) + 1,
        "compile_busy_returns": sum(c["busy"] for c in compiled),
        "compile_errors": sum(c["errors"] for c in compiled),
        "observations_compiled": sum(c["observations"] for c in compiled) + final.observations,
        "observations_in_log": all_lines,
        "searches": searched["searches"],
        "searches_failed": searched["failed"],
    }
    result["observations_compiled_twice_or_missed"] = abs(
        result["observations_compiled"] - result["observations_in_log"])
    result.update({f"git_{k}": v for k, v in _git_checks(project.wiki_dir).items()})

    # The same through real hook processes, auto-compile on (Stop starts a detached compile).
    def one_process_worker(w: int) -> int:
        n = 0
        for i in range(sub_events):
            # The last event of each worker is a Stop: its compile covers what came before.
            i = i if i < sub_events - 1 else (i // 10) * 10 + 9
            body = json.dumps(payload("s", w, i, str(repo))).encode()
            subprocess.run([sys.executable, "-m", "wikimem", "hook", "claude-code"], input=body,
                           cwd=repo, env=_env(home, WIKIMEM_AUTO_COMPILE="1"),
                           capture_output=True, check=True, timeout=120)
            n += 1
        return n

    with ThreadPoolExecutor(sub_procs) as pool:
        sub_sent = sum(pool.map(one_process_worker, range(sub_procs)))
    idle = _wait_idle(project)
    sub = count_raw(project.raw_dir, "s")
    sub_markers = {f"m-s-{w}-{i if i < sub_events - 1 else (i // 10) * 10 + 9}"
                   for w in range(sub_procs) for i in range(sub_events)}
    leftover = compile_project(project)
    result.update({
        "process_hooks_sent": sub_sent,
        "process_hooks_stored": sum(1 for m in sub_markers if sub["seen"][m]),
        "process_hooks_lost": len(sub_markers - set(sub["seen"])),
        "process_hooks_duplicated": sum(n - 1 for n in sub["seen"].values() if n > 1),
        "detached_compiles_caught_up": idle,
        "observations_left_for_a_later_compile": leftover.observations,
    })
    result.update({f"git_after_detached_{k}": v
                   for k, v in _git_checks(project.wiki_dir).items() if k != "fsck_output"})
    errors = project.error_log
    result["hook_errors_logged"] = len(errors.read_text().splitlines()) if errors.exists() else 0
    return result


CONCURRENCY_ZERO = ["events_lost", "events_duplicated", "unreadable_lines", "partial_last_lines",
                    "compile_errors", "observations_compiled_twice_or_missed", "searches_failed",
                    "git_merge_commits", "git_human_commits", "process_hooks_lost",
                    "process_hooks_duplicated", "observations_left_for_a_later_compile",
                    "hook_errors_logged"]
CONCURRENCY_TRUE = ["git_fsck_ok", "detached_compiles_caught_up"]


# -- crash trials -----------------------------------------------------------------------------

def session_payloads(k: int, cwd: str) -> list[dict]:
    """A small session; session k also adds a prompt to session k-3 (an older page changes)."""
    sid = f"crash-{k:03d}"
    words = ["parser", "cache", "index", "login", "upload", "schema", "retry", "config"]
    topic = words[k % len(words)]
    base = {"session_id": sid, "cwd": cwd, "transcript_path": f"/tmp/{sid}.jsonl"}
    events = [
        {**base, "hook_event_name": "SessionStart", "source": "startup"},
        {**base, "hook_event_name": "UserPromptSubmit",
         "prompt": f"Fix the {topic} bug number {k} (token t{k}x)"},
        {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash",
         "tool_use_id": f"toolu_{sid}", "tool_input": {"command": f"pytest -k {topic}"},
         "tool_response": {"stdout": f"1 passed ({topic})", "stderr": "", "interrupted": False}},
        {**base, "hook_event_name": "Stop",
         "last_assistant_message": f"Fixed the {topic} bug {k}. Next: add a test for {topic}."},
    ]
    if k >= 3:
        old = f"crash-{k - 3:03d}"
        events.append({"session_id": old, "cwd": cwd, "hook_event_name": "UserPromptSubmit",
                       "prompt": f"One more thing about bug {k - 3}: also check {topic}"})
    return events


def feed(project, events: list[dict], start: datetime) -> None:
    from wikimem.agents.claude_code import adapter as claude_code
    from wikimem.capture.observation import format_ts
    from wikimem.capture.observe import capture

    for i, p in enumerate(events):
        capture("claude-code", claude_code.normalize(p), p, project=project,
                ts=format_ts(start + timedelta(seconds=i)))


def snapshot(wiki: Path) -> dict[str, bytes]:
    from wikimem.wiki.pages import wiki_pages

    return {rel: (wiki / rel).read_bytes() for rel in wiki_pages(wiki)}


def _compile_process(home: Path, project_id: str, fault: str | None,
                     kill_after: float | None = None) -> int:
    env = _env(home, **({"WIKIMEM_FAULT": fault} if fault else {}))
    proc = subprocess.Popen([sys.executable, "-m", "wikimem", "--project", project_id,
                             "compile", "--quiet"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the compiler and its git children
    _, err = proc.communicate(timeout=600)
    if proc.returncode not in (0, -signal.SIGKILL):
        print(f"compile exited {proc.returncode}: {err.decode()[-800:]}", file=sys.stderr)
    return proc.returncode


def check_project(project, reference, token: str) -> dict:
    from wikimem.capture import rawlog
    from wikimem.search.index import SearchIndex
    from wikimem.wiki.pages import wiki_pages

    git = _git_checks(project.wiki_dir)
    state = json.loads((project.state_dir / "compile.json").read_text())
    sizes = dict(rawlog.session_file_sizes(project.raw_dir))
    index = SearchIndex(project.index_dir, project.wiki_dir)
    indexed = index.indexed_paths()
    newest = [h.path for h in index.search(token, kinds=["session"])]
    mine, ref = snapshot(project.wiki_dir), snapshot(reference.wiki_dir)
    return {
        "fsck_ok": git["fsck_ok"],
        "work_tree_clean": not git["dirty"],
        "human_commits": git["human_commits"],
        "journal_left": (project.state_dir / "compile.journal").exists(),
        "offsets_match": state["offsets"] == sizes,
        "index_consistent": indexed == set(wiki_pages(project.wiki_dir)) and len(newest) == 1,
        "pages_equal_clean_compile": mine == ref,
        "pages_differing": sorted(k for k in set(mine) | set(ref) if mine.get(k) != ref.get(k)),
    }


def crash(trials: int, seed: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="wikimem-crash-"))
    try:
        return _crash(work, trials, seed)
    finally:
        if not KEEP:
            shutil.rmtree(work, ignore_errors=True)


def _crash(work: Path, trials: int, seed: int) -> dict:
    from wikimem.compile.build import compile_project
    from wikimem.project import Registry

    rng = random.Random(seed)
    repo = work / "project"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    home, ref_home = work / "home", work / "reference"
    project = Registry(home).resolve(repo)
    reference = Registry(ref_home).resolve(repo)
    counts: Counter = Counter()
    failures: list[dict] = []
    k, named, typical = 0, -1, 2.0
    for trial in range(trials):
        for _ in range(rng.randint(1, 2)):
            events = session_payloads(k, str(repo))
            start = T0 + timedelta(hours=k)
            feed(project, events, start)
            feed(reference, events, start)
            k += 1
        if trial % 4 == 3:
            # Anywhere in a compile: its length is measured by the recovering compiles.
            how, rc = "random-time", _compile_process(home, project.project_id, None,
                                                      kill_after=rng.uniform(0.05, typical))
        else:
            named += 1
            point = POINTS[named % len(POINTS)] if named < len(POINTS) else rng.choice(POINTS)
            how = point + (f"@{rng.randint(1, 6)}" if point == "page-written" else "")
            rc = _compile_process(home, project.project_id, how)
        counts[f"killed_at:{how.split('@')[0]}"] += rc == -signal.SIGKILL
        counts["killed"] += rc == -signal.SIGKILL
        counts["finished_before_the_kill"] += rc == 0
        if rc == -signal.SIGKILL and rng.random() < 0.25:
            # The recovering compile dies too.
            second = rng.choice(POINTS)
            rc2 = _compile_process(home, project.project_id, second)
            counts["recovery_killed_too"] += rc2 == -signal.SIGKILL
        t = time.monotonic()
        counts["recovery_failed"] += _compile_process(home, project.project_id, None) != 0
        typical = time.monotonic() - t
        compile_project(reference)
        checks = check_project(project, reference, f"t{k - 1}x")
        counts["trials"] += 1
        bad = {key: v for key, v in checks.items()
               if (key in ("fsck_ok", "work_tree_clean", "offsets_match", "index_consistent",
                           "pages_equal_clean_compile") and not v)
               or (key in ("human_commits", "journal_left") and v)}
        if bad:
            counts["trials_not_converged"] += 1
            failures.append({"trial": trial, "how": how, **bad,
                             "pages_differing": checks["pages_differing"][:10]})
    stored = count_raw(project.raw_dir, "none")["lines"]
    ref_stored = count_raw(reference.raw_dir, "none")["lines"]
    return {**dict(sorted(counts.items())), "sessions": k, "observations": stored,
            "observations_lost": max(ref_stored - stored, 0),
            "trials_not_converged": counts["trials_not_converged"],
            "recovery_failed": counts["recovery_failed"], "failures": failures}


CRASH_ZERO = ["trials_not_converged", "recovery_failed", "observations_lost"]


# -- main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", choices=["all", "concurrency", "crash"], default="all")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--process-workers", type=int, default=4)
    parser.add_argument("--process-events", type=int, default=10)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    parser.add_argument("--out", type=Path, help=f"write the results (e.g. {RESULTS})")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    for name in ("w", "project", "stop", "cwd"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        if args.w is not None:
            args.w = int(args.w)
        fn = {"hook-worker": role_hook_worker, "compiler": role_compiler,
              "searcher": role_searcher}[args.role]
        print(json.dumps(fn(args)))
        return
    global KEEP
    KEEP = args.keep
    if args.quick:
        args.procs, args.events, args.process_workers, args.process_events, args.trials = (
            4, 150, 3, 4, 8)
    results: dict = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    failed = []
    if args.part in ("all", "concurrency"):
        t = time.monotonic()
        c = concurrency(args.procs, args.events, args.process_workers, args.process_events)
        c["seconds"] = round(time.monotonic() - t, 1)
        results["concurrency"] = c
        failed += [k for k in CONCURRENCY_ZERO if c[k]] + [k for k in CONCURRENCY_TRUE
                                                           if not c[k]]
    if args.part in ("all", "crash"):
        t = time.monotonic()
        c = crash(args.trials, args.seed)
        c["seconds"] = round(time.monotonic() - t, 1)
        results["crash"] = c
        failed += [k for k in CRASH_ZERO if c[k]]
    results["failed_checks"] = failed
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    if args.json:
        print(json.dumps(results))
    else:
        for part in ("concurrency", "crash"):
            if part in results:
                print(f"== {part}")
                for key, value in results[part].items():
                    if key != "failures" or value:
                        print(f"  {key}: {value}")
        print("FAILED: " + ", ".join(failed) if failed else "all checks passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
