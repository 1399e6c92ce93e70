"""What the compiles left, read back for commands and the MCP server (nothing is written).

The compiled sessions, structured memory as of now, the session-start block (the stored one,
or one built now for another budget), and the requests LLM consolidation would send.
"""

from __future__ import annotations

from wikimem.capture import rawlog
from wikimem.compile import decay
from wikimem.compile import llm as llm_module
from wikimem.compile.context import build_context
from wikimem.compile.llm import LLMSettings
from wikimem.compile.llm import consolidate as llm_consolidate
from wikimem.compile.sessions import SessionRecord, digest
from wikimem.compile.state import State, ordered
from wikimem.compile.structured import structured_memory
from wikimem.errors import WikimemError
from wikimem.memory import MemoryState, is_memory_log
from wikimem.project import Project
from wikimem.repo import record as repo_record


def ensure_compiled_context(project: Project) -> str:
    """The precomputed context block (empty when nothing was compiled yet)."""
    try:
        return project.context_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise WikimemError(f"Cannot read {project.context_file}: {exc}") from exc


def load_catalog(project: Project) -> list[SessionRecord]:
    """The compiled sessions, oldest first (from state; empty before the first compile)."""
    state = State(project).load()
    records = [state.record(name) for name in state.catalog]
    return sorted(records, key=lambda r: (r.started, r.session_id))


def load_memory(project: Project) -> MemoryState:
    """Structured memory as of now: the memory log and the compiled sessions' candidates."""
    return structured_memory(project, State(project).load())


def build_project_context(project: Project, budget: int) -> str:
    """The session-start block built now, for a budget other than the compiled one."""
    return context_block(project, State(project).load(), budget)


def context_block(project: Project, state: State, budget: int,
                  explain: list | None = None) -> str:
    """The session-start block built from `state` (the summaries, and the last session's
    full record); with `explain`, what became of every candidate (context.build_context)."""
    summaries: list = ordered(state.catalog)
    if summaries:
        last = summaries[-1]
        name = next(n for n, d in state.catalog.items() if d["session_id"] == last.session_id)
        summaries = summaries[:-1] + [state.record(name)]
    settings, _ = decay.project_settings(project)
    return build_context(project.name, summaries, state=structured_memory(project, state),
                         budget=budget, explain=explain, **settings)


def explain_context(project: Project, budget: int) -> dict:
    """The block for `budget` and every candidate's fate (`wikimem context --explain`)."""
    rows: list[dict] = []
    block = context_block(project, State(project).load(), budget, explain=rows)
    settings, errors = decay.project_settings(project)
    included = [r for r in rows if r["status"] != "left out"]
    return {"project": project.name, "budget": budget, "chars": len(block),
            "candidate_chars": sum(r["chars"] for r in included),
            "hidden_sections": list(settings["hidden"]), "settings_errors": errors,
            "candidates": rows, "context": block}


def plan_llm(project: Project, settings: LLMSettings) -> list:
    """The requests LLM consolidation would send now (nothing is sent or written): for the
    sessions with something new and those the queue owes, as a compile would."""
    state = State(project).load()
    queued = set(llm_module.owed(project))
    changed = []
    for path in rawlog.session_files(project.raw_dir):
        if is_system_log(path.name):
            continue
        if path.stat().st_size > state.offsets.get(path.name, 0) \
                or state.catalog.get(path.name, {}).get("session_id") in queued:
            whole = rawlog.read(path)
            if whole.observations:
                changed.append(digest(whole.observations, project.root or ""))
    memory = structured_memory(project, state)
    titles = [r.title for r in changed] + [i.title for i in memory.items.values()]
    return llm_consolidate(project, changed, titles, settings, dry_run=True).requests


def is_system_log(name: str) -> bool:
    """Raw logs wikimem itself writes (structured memory, bootstrap, LLM): not sessions."""
    return is_memory_log(name) or repo_record.is_bootstrap_log(name) or \
        name == llm_module.LOG_NAME
