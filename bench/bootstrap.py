"""Benchmark `wikimem bootstrap` on a generated repository with N commits (default 10,000).

    python bench/bootstrap.py [--commits N] [--keep]

Generates the repository with `git fast-import` (conventional-commit messages, scopes, bodies,
a few decision-stating commits and reverts, a merged topic branch every 50 commits, ~40
authors' worth of paths across packages, docs, ADRs and agent rule files), then runs the
bootstrap (collect + record + compile) in a child process with a fresh WIKIMEM_HOME and
reports wall time, commits/s, pages written and peak RSS, next to a plain
`git log --name-only` over the same repository measured in the same run. Writes
bench/results/bootstrap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bootstrap.json"

AUTHORS = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Barbara Liskov", "Ken Thompson",
           "Margaret Hamilton", "Dennis Ritchie", "Frances Allen", "Linus Torvalds",
           "Radia Perlman", "Guido van Rossum", "Katherine Johnson"]
PACKAGES = {
    "core": "The storage engine: pages, indexes and the write-ahead log.",
    "api": "The HTTP API: routing, validation and the JSON schema.",
    "web": "The web UI that lists sessions and their history.",
    "cli": "The command line: thin commands over the library.",
    "auth": "Authentication: tokens, sessions and permission checks.",
    "jobs": "Background jobs: the queue, retries and scheduling.",
}
NOUNS = ["session", "index", "cache", "token", "queue", "schema", "router", "migration",
         "writer", "reader", "config", "logger", "retry", "timeout", "export", "import",
         "search", "page", "user", "permission", "metric", "backup", "snapshot", "lock"]
VERBS = {"feat": ["add", "support", "introduce", "expose", "allow"],
         "fix": ["fix", "handle", "avoid", "guard against", "correct"],
         "refactor": ["split", "simplify", "extract", "rename", "inline"],
         "perf": ["speed up", "cache", "batch", "stream"],
         "docs": ["document", "explain", "describe"],
         "test": ["cover", "test", "add tests for"],
         "chore": ["bump", "clean up", "update"],
         "build": ["pin", "upgrade", "package"],
         "ci": ["run", "cache", "split"]}
TYPES = ["feat"] * 25 + ["fix"] * 25 + ["refactor"] * 10 + ["docs"] * 8 + ["test"] * 10 + \
    ["chore"] * 8 + ["perf"] * 4 + ["build"] * 3 + ["ci"] * 3 + ["plain"] * 4
DECISIONS = ["switch to {a} for {n}s", "migrate {n}s to {a}", "replace {b} with {a} in the {n}",
             "drop support for {b}", "deprecate the old {n} API"]
TECH = ["PostgreSQL", "SQLite", "Redis", "msgpack", "protobuf", "uvicorn", "Python 3.12",
        "Node 22", "structlog", "httpx", "requests", "gunicorn"]


def _blob(text: str) -> bytes:
    data = text.encode()
    return b"data %d\n%s\n" % (len(data), data)


def generate(path: Path, n: int, seed: int = 7) -> None:
    """A repository of `n` commits on main (merges included), built with git fast-import."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    files: dict[str, int] = {}
    out = bytearray()
    t = 1_546_300_800  # 2019-01-01
    mark = 0
    last_main = None
    subjects: list[tuple[int, str]] = []

    def commit(ref: str, message: str, changes: list[tuple[str, str | None]],
               parent: int | None, merge: int | None = None) -> int:
        nonlocal mark, t
        mark += 1
        t += rng.randint(60, 18_000)
        who = rng.choice(AUTHORS)
        email = who.lower().replace(" ", ".") + "@example.com"
        out.extend(f"commit {ref}\nmark :{mark}\n".encode())
        out.extend(f"author {who} <{email}> {t} +0000\n".encode())
        out.extend(f"committer {who} <{email}> {t} +0000\n".encode())
        out.extend(_blob(message)[:-1])
        out.extend(b"\n")
        if parent:
            out.extend(f"from :{parent}\n".encode())
        if merge:
            out.extend(f"merge :{merge}\n".encode())
        for p, text in changes:
            if text is None:
                out.extend(f"D {p}\n".encode())
            else:
                out.extend(f"M 100644 inline {p}\n".encode())
                out.extend(_blob(text))
        out.extend(b"\n")
        return mark

    def module_text(p: str, v: int) -> str:
        pkg = p.split("/")[0]
        name = p.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("_", " ")
        if p.endswith(".py"):
            return f'"""{name.capitalize()} for the {pkg} package."""\n\nVERSION = {v}\n'
        return f"// {name.capitalize()} for the {pkg} package.\nexport const v = {v};\n"

    def pick_changes() -> list[tuple[str, str | None]]:
        changes = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6])):
            if files and rng.random() < 0.8:
                p = rng.choice(sorted(files)) if rng.random() < 0.3 else \
                    min(rng.sample(sorted(files), min(3, len(files))))
            else:
                pkg = rng.choice(sorted(PACKAGES))
                ext = ".ts" if pkg == "web" else ".py"
                sub = rng.choice(["", "", "internal/", "handlers/"])
                p = f"{pkg}/{sub}{rng.choice(NOUNS)}_{rng.choice(NOUNS)}{ext}"
            files[p] = files.get(p, 0) + 1
            changes.append((p, module_text(p, files[p])))
        if rng.random() < 0.01 and len(files) > 20:
            gone = rng.choice(sorted(files))
            del files[gone]
            changes = [c for c in changes if c[0] != gone] + [(gone, None)]
        return changes

    def message() -> str:
        kind = rng.choice(TYPES)
        noun = rng.choice(NOUNS)
        if rng.random() < 0.02:
            desc = rng.choice(DECISIONS).format(a=rng.choice(TECH), b=rng.choice(TECH), n=noun)
            kind = rng.choice(["feat", "refactor", "chore"])
        elif kind == "plain":
            return f"Update {noun} handling"
        else:
            desc = f"{rng.choice(VERBS[kind])} the {noun} {rng.choice(NOUNS)}"
        scope = f"({rng.choice(sorted(PACKAGES))})" if rng.random() < 0.6 else ""
        bang = "!" if rng.random() < 0.01 else ""
        subject = f"{kind}{scope}{bang}: {desc}"
        if rng.random() < 0.3:
            subject += (f"\n\nThe {noun} path was slow under load; this keeps p99 under "
                        f"{rng.randint(20, 400)} ms.\n\nRefs #{rng.randint(1, 5000)}")
        return subject

    base = [("README.md", "# acme\n\nAcme stores sessions for web applications and serves "
             "them over an HTTP API.\n"),
            ("pyproject.toml", '[project]\nname = "acme"\nversion = "3.0.0"\ndescription = '
             '"Session storage with an HTTP API"\ndependencies = ["click", "httpx"]\n'
             '[project.scripts]\nacme = "cli.main:main"\n'),
            ("CLAUDE.md", "# Rules\n\n- Run `pytest -W error` before committing.\n"
             "- Never edit generated files under `api/schema/`.\n"),
            ("AGENTS.md", "# Agents\n\n1. Keep functions small.\n2. Ask before adding a "
             "dependency.\n")]
    base += [(f"{pkg}/__init__.py", f'"""{doc}"""\n') for pkg, doc in PACKAGES.items()]
    base += [(f"docs/adr/{i:04d}-decision-{i}.md",
              f"# {i}. Decision {i}\n\nDate: 2019-0{i}-01\n\n## Status\n\n"
              + (f"Superseded by ADR-{i + 1}" if i < 3 else "Accepted")
              + f"\n\n## Context\n\nContext {i}.\n\n## Decision\n\nWe do {i}.\n")
             for i in range(1, 5)]
    last_main = commit("refs/heads/main", "chore: initial commit", base, None)
    made = 1
    while made < n:
        if made % 50 == 0 and n - made >= 3:
            topic = commit("refs/heads/topic", message(), pick_changes(), last_main)
            topic = commit("refs/heads/topic", message(), pick_changes(), topic)
            last_main = commit("refs/heads/main", "Merge branch 'topic'", [], last_main, topic)
            made += 3
            continue
        if subjects and rng.random() < 0.01:
            _, subject = subjects[-1]
            msg = f'Revert "{subject}"\n\nThis reverts an earlier change.'
        else:
            msg = message()
        last_main = commit("refs/heads/main", msg, pick_changes(), last_main)
        subjects.append((last_main, msg.splitlines()[0]))
        made += 1
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=bytes(out),
                   check=True)
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)


def baseline(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["git", "-C", str(path), "log", "--name-only", "HEAD"], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def child(repo: str) -> None:
    """Run the bootstrap in this process (a fresh WIKIMEM_HOME) and print JSON."""
    from wikimem.compile.build import compile_project
    from wikimem.project import Registry
    from wikimem.repo.collect import collect
    from wikimem.repo.record import record

    times = {}
    start = time.perf_counter()
    project = Registry().resolve(repo, create=True)
    collected = collect(Path(repo))
    times["collect"] = time.perf_counter() - start
    t = time.perf_counter()
    report = record(project, collected)
    times["record"] = time.perf_counter() - t
    t = time.perf_counter()
    result = compile_project(project)
    times["compile"] = time.perf_counter() - t
    total = time.perf_counter() - start
    t = time.perf_counter()
    again = record(project, collect(Path(repo)))
    compile_project(project)
    rerun = time.perf_counter() - t
    # What the bootstrap costs every later compile: one note recorded, then compiled.
    from wikimem.memory import Memory

    Memory(project, agent="bench").add("note", "Benchmark note after the bootstrap")
    t = time.perf_counter()
    compile_project(project)
    next_compile = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        rss //= 1024
    print(json.dumps({"seconds": total, "phases": times, "rerun_seconds": rerun,
                      "next_compile_seconds": next_compile,
                      "rerun_observations": again.observations,
                      "commits": report.commits_recorded, "files": report.files_recorded,
                      "observations": report.observations,
                      "pages_written": len(result.written),
                      "bootstrap_pages": len([p for p in result.written if p.startswith(
                          ("project/", "history"))]),
                      "decision_pages": len([p for p in result.written
                                             if p.startswith("decisions/")]),
                      "peak_rss_mb": round(rss / 1024, 1),
                      "raw_log_bytes": (project.raw_dir / "wikimem-bootstrap.jsonl").stat()
                      .st_size}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="Keep the generated repository.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="wikimem-bench-"))
    try:
        repo = work / "repo"
        t = time.perf_counter()
        generate(repo, args.commits)
        generated = time.perf_counter() - t
        git_log = baseline(repo)
        env = {**os.environ, "WIKIMEM_HOME": str(work / "home"), "WIKIMEM_AUTO_COMPILE": "0",
               "GIT_CONFIG_GLOBAL": str(work / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1"}
        (work / "gitconfig").write_text("[user]\n\tname = Bench\n\temail = b@example.com\n")
        t = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--child", str(repo)], env=env,
                              capture_output=True, text=True, cwd=str(HERE.parent))
        wall = time.perf_counter() - t
        if done.returncode:
            sys.exit(done.stderr)
        run = json.loads(done.stdout.strip().splitlines()[-1])
        commits = int(subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "HEAD"],
                                     capture_output=True, text=True).stdout)
        result = {
            "commits": commits,
            "generate_seconds": round(generated, 2),
            "wall_seconds": round(wall, 2),
            "bootstrap_seconds": round(run["seconds"], 2),
            "phases_seconds": {k: round(v, 2) for k, v in run["phases"].items()},
            "commits_per_second": round(commits / run["seconds"]),
            "pages_written": run["pages_written"],
            "bootstrap_pages": run["bootstrap_pages"],
            "decision_pages": run["decision_pages"],
            "observations": run["observations"],
            "raw_log_mb": round(run["raw_log_bytes"] / 1e6, 1),
            "peak_rss_mb": run["peak_rss_mb"],
            "rerun_seconds": round(run["rerun_seconds"], 2),
            "rerun_observations": run["rerun_observations"],
            "next_compile_seconds": round(run["next_compile_seconds"], 2),
            "git_log_name_only_seconds": round(git_log, 3),
            "ratio_to_git_log": round(run["seconds"] / git_log, 1),
            "python": platform.python_version(),
            "git": subprocess.run(["git", "--version"], capture_output=True,
                                  text=True).stdout.strip(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"{commits:,} commits: bootstrap {result['bootstrap_seconds']} s "
              f"({result['commits_per_second']:,} commits/s; collect "
              f"{result['phases_seconds']['collect']} s, record "
              f"{result['phases_seconds']['record']} s, compile "
              f"{result['phases_seconds']['compile']} s), {result['pages_written']} pages "
              f"written, peak RSS {result['peak_rss_mb']} MB")
        print(f"git log --name-only: {result['git_log_name_only_seconds']} s -> bootstrap is "
              f"{result['ratio_to_git_log']}x that; a second run took "
              f"{result['rerun_seconds']} s and added {result['rerun_observations']} "
              f"observations; the next ordinary compile took "
              f"{result['next_compile_seconds']} s")
        print(f"Wrote {RESULTS.relative_to(HERE.parent)}")
        if args.keep:
            print(f"Repository kept at {repo}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
