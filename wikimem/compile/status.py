"""`wikimem status`: what wikimem holds for a project and whether it is working, in one read.

Everything here only reads (files' sizes and times, the compile state, the memory log, the
agents' settings files): no lock is taken, nothing is written, no index or git repository is
opened, so it stays fast on a large wiki. `recorded`/`record_compile` are the write side: each
compile round (compile_project's) leaves `state/last-compile.json` for the "last compile" part.

The keys of `project_status` (documented in README.md, "wikimem status"):
project, sessions, pages, pending, last_compile, index, agents, tasks, memory, llm, sync.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import UTC, datetime

from wikimem.capture import rawlog
from wikimem.compile.state import State
from wikimem.project import Project, write_atomic
from wikimem.wiki.pages import wiki_pages

LAST_COMPILE = "last-compile.json"
# A page's kind by its top folder (frontmatter is not read: that would mean every page)
FOLDER_KINDS = {"sessions": "session", "decisions": "decision", "lessons": "lesson",
                "notes": "note", "goals": "goal", "tasks": "task", "topics": "topic",
                "timeline": "timeline", "history": "history", "project": "project"}
TOP_KINDS = {"index.md": "index", "context.md": "context"}


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_compile(project: Project, result, seconds: float, rebuild: bool,
                   error: BaseException | None = None) -> None:
    """Leave what this compile round did for `wikimem status` (never fails the compile)."""
    data = {"finished": _iso(time.time()), "seconds": round(seconds, 3), "rebuild": rebuild,
            "error": None if error is None else f"{type(error).__name__}: {error}"[:300]}
    if result is not None:
        data.update(sessions=len(result.sessions), observations=result.observations,
                    pages_written=len(result.written), pages_removed=len(result.removed),
                    commit=result.commit,
                    llm_error=((result.llm or {}).get("skipped") or [{}])[0].get("reason"))
    try:
        write_atomic(os.path.join(project.state_dir, LAST_COMPILE),
                     json.dumps(data, sort_keys=True) + "\n")
    except OSError:
        pass  # a full or read-only home: the compile's own work matters more


def recorded(compile_round, project: Project, *, rebuild: bool, **options):
    """Run one compile round (build.compile_locked) and leave what it did, or why it failed,
    for `wikimem status`."""
    started = time.monotonic()
    try:
        result = compile_round(project, rebuild=rebuild, **options)
    except Exception as exc:
        record_compile(project, None, time.monotonic() - started, rebuild, exc)
        raise
    record_compile(project, result, time.monotonic() - started, rebuild)
    return result


def _json(path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _pages(project: Project) -> tuple[dict, float | None]:
    """Pages by kind, and the newest page's modification time."""
    kinds: Counter = Counter()
    newest, offers = None, 0
    wiki = os.fspath(project.wiki_dir)
    for rel in wiki_pages(project.wiki_dir) if os.path.isdir(wiki) else []:
        if rel.endswith(".machine.md"):
            offers += 1
            continue
        top, _, rest = rel.partition("/")
        kinds[FOLDER_KINDS.get(top, "other") if rest else TOP_KINDS.get(top, "hub")] += 1
        try:
            mtime = os.stat(os.path.join(wiki, rel)).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None or mtime > newest else newest
    return ({"total": sum(kinds.values()), "by_kind": dict(sorted(kinds.items())),
             "machine_offers": offers}, newest)


def _pending(project: Project, state: State) -> dict:
    logs = observations = waiting = 0
    raw = os.fspath(project.raw_dir)
    for name, size in rawlog.session_file_sizes(raw):
        start = state.offsets.get(name, 0)
        if size > start:
            logs += 1
            waiting += size - start
            try:
                with open(os.path.join(raw, name), "rb") as f:
                    f.seek(start)
                    observations += f.read().count(b"\n")
            except OSError:
                continue
    return {"logs": logs, "observations": observations, "bytes": waiting,
            "interrupted": os.path.exists(os.path.join(project.state_dir,
                                                       "compile.journal"))}


def _index(project: Project, newest_page: float | None) -> dict:
    files = size = 0
    updated = None
    try:
        with os.scandir(project.index_dir) as entries:
            for e in entries:
                if e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    files, size = files + 1, size + st.st_size
                    updated = st.st_mtime if updated is None else max(updated, st.st_mtime)
    except OSError:
        pass
    return {"exists": files > 0, "files": files, "bytes": size, "updated": _iso(updated),
            "fresh": files > 0 and (newest_page is None or updated >= newest_page)}


def _agents(project: Project) -> dict:
    from wikimem.agents import NAMES, installers
    from wikimem.errors import WikimemError

    found = {}
    for agent in NAMES:
        mine: dict = {"hooks": [], "mcp": [], "instructions": []}
        for scope in ("project", "user"):
            try:
                st = installers.status(agent, scope, cwd=project.root)
            except (WikimemError, OSError, ValueError) as exc:
                mine["error"] = str(exc)
                continue
            if st["installed"]:
                mine["hooks"].append(scope)
            if st["mcp"]["installed"]:
                mine["mcp"].append(scope)
            if st["instructions"] and st["instructions"]["installed"]:
                mine["instructions"].append(scope)
        found[agent] = mine
    return found


def _memory(project: Project, state: State) -> tuple[dict, dict]:
    # The memory log and the sessions' candidates, folded as a compile folds them, without
    # the repository's proposed decisions (compile.structured): their reader is a slow import.
    from wikimem.memory import fold, memory_observations

    candidates = [c for _, d in sorted(state.catalog.items()) for c in d.get("candidates", [])]
    memory = fold(memory_observations(project), candidates)
    tasks = {"todo": len(memory.of_kind("task", "todo")), "claims": [
        {"id": t.id, "title": t.title, "holder": t.holder, "since": t.claimed_at,
         "last_heartbeat": t.last_seen,
         "checkpoint": t.checkpoints[-1]["note"] if t.checkpoints else None}
        for t in memory.of_kind("task", "in_progress")]}
    tasks["in_progress"] = len(tasks["claims"])
    counts = {kind: len(memory.of_kind(kind, "active"))
              for kind in ("decision", "lesson", "note", "goal")}
    counts["proposed"] = sum(1 for i in memory.items.values() if i.status == "proposed")
    return tasks, counts


def _llm(project: Project, settings, last: dict | None) -> dict:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    usage = (_json(os.path.join(project.state_dir, "llm-usage.json")) or {}).get(today) or {}
    out = {"enabled": bool(getattr(settings, "enabled", False)),
           "today": {"calls": usage.get("calls", 0), "tokens": usage.get("tokens", 0)},
           "last_error": (last or {}).get("llm_error")}
    if settings is not None:
        out["model"] = settings.model
        out["caps"] = {"calls_per_day": settings.max_calls_per_day,
                       "tokens_per_day": settings.max_tokens_per_day,
                       "calls_per_compile": settings.max_calls_per_compile}
    return out


def project_status(project: Project, llm=None) -> dict:
    """What wikimem holds for `project` and how it is doing (see the module's keys).
    `llm` is the configured LLMSettings (the caller reads the configuration)."""
    state = State(project).load()
    pages, newest = _pages(project)
    by_agent = Counter(d.get("agent") or "unknown" for d in state.catalog.values())
    last = max(state.catalog.values(), key=lambda d: (d.get("ended") or "", d["session_id"]),
               default=None)
    last_compile = _json(os.path.join(project.state_dir, LAST_COMPILE))
    tasks, memory = _memory(project, state)
    return {
        "project": {"name": project.name, "workspace": project.workspace,
                    "id": project.project_id, "root": project.root,
                    "data_dir": os.fspath(project.dir), "wiki": os.fspath(project.wiki_dir),
                    "raw": os.fspath(project.raw_dir), "index": os.fspath(project.index_dir),
                    "state": os.fspath(project.state_dir)},
        "sessions": {"total": len(state.catalog), "by_agent": dict(sorted(by_agent.items())),
                     "last": None if last is None else {
                         "id": last["session_id"], "agent": last.get("agent"),
                         "ended": last.get("ended"), "title": last.get("title")}},
        "pages": pages,
        "pending": _pending(project, state),
        "last_compile": last_compile,
        "index": _index(project, newest),
        "agents": _agents(project),
        "tasks": tasks,
        "memory": memory,
        "llm": _llm(project, llm, last_compile),
        "sync": None,  # filled by the command (wikimem.sync sits above compile)
    }
