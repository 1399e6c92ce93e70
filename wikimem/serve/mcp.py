"""`wikimem mcp`: the project's memory over the Model Context Protocol (stdio).

Built on the official `mcp` SDK (the optional `mcp` extra), imported only here. Read tools
(search, read_page, context, recent_sessions, page_history, task_list) and write tools
(decide, lesson, note, task_claim, task_heartbeat, task_done) call the same library functions
as the CLI; every write is a raw-log observation followed by a compile.
"""

from __future__ import annotations

import threading
from typing import Any

from wikimem.errors import WikimemError
from wikimem.project import Project

INSTRUCTIONS = """\
Long-term memory of this software project, kept by wikimem as a markdown wiki: what earlier
agent sessions did, decisions in force and why, verified lessons, direction notes, goals and
tasks. Search it before re-deciding or re-investigating something; record decisions, lessons
and task progress as you make them so the next session knows."""


def build_server(project: Project, *, claim_expiry_minutes: float = 30.0, budget: int = 6000):
    """A FastMCP server bound to one project."""
    try:
        from mcp.server.fastmcp import FastMCP
    except ImportError as exc:
        raise WikimemError(
            "The MCP server needs the optional mcp extra: pip install 'wikimem[mcp]'."
        ) from exc

    from wikimem.compile.build import compile_project
    from wikimem.compile.read import build_project_context, load_catalog, load_memory
    from wikimem.memory import Memory
    from wikimem.search.index import SearchIndex, check_query
    from wikimem.sync import settings as sync_settings
    from wikimem.wiki import timetravel as history

    server = FastMCP("wikimem", instructions=INSTRUCTIONS)
    # One index object for the server's life: it keeps its searcher open between calls and
    # reopens it when a compile changed the index. The lock: a searcher is not thread-safe.
    index = SearchIndex(project.index_dir, project.wiki_dir)
    index_lock = threading.Lock()

    def memory(agent: str, *, task: bool = False) -> Memory:
        if task and sync_settings.load(project) is not None:  # atomic across machines
            from wikimem.sync.claims import RemoteMemory

            return RemoteMemory(project, agent=agent or "mcp",
                                claim_expiry_minutes=claim_expiry_minutes)
        return Memory(project, agent=agent or "mcp", claim_expiry_minutes=claim_expiry_minutes)

    def compiled(item) -> dict[str, Any]:
        compile_project(project, budget=budget, claim_expiry_minutes=claim_expiry_minutes)
        return {"id": item.id, "page": item.page, "title": item.title, "status": item.status,
                "holder": item.holder}

    def ref_to_page(ref: str) -> str:
        try:
            return load_memory(project).find(ref).page
        except WikimemError:
            return history.resolve_page(project.wiki_dir, ref)

    @server.tool()
    def search(query: str, kind: str | None = None, limit: int = 8,
               include_superseded: bool = False) -> list[dict[str, Any]]:
        """Search the project's memory (past sessions, decisions, lessons, notes, tasks).

        Use before starting work on something that may have been done, decided or tried
        before, or when the user refers to earlier work. `kind` narrows to one page kind
        (session, decision, lesson, note, goal, task; plurals too); an unknown kind is an
        error that lists them. Returns ranked pages with snippets; read one in full with
        read_page.
        """
        check_query(query)
        with index_lock:
            hits = index.search(query, kinds=[kind] if kind else (),
                                include_all=include_superseded, limit=max(1, min(limit, 50)))
        return [{k: h.to_dict()[k] for k in ("path", "title", "kind", "status", "updated",
                                             "snippet")} for h in hits]

    @server.tool()
    def read_page(page: str) -> str:
        """Read one wiki page in full (markdown with frontmatter).

        `page` is a path from search results, a file name, or an id such as D3 or T12.
        """
        return history.show(project.wiki_dir, ref_to_page(page))

    @server.tool()
    def context(budget: int | None = None) -> str:
        """Where the last session left off, tasks in progress, decisions in force, lessons.

        The same block a new session receives at start; call it again after a long pause or
        when unsure what state the project is in.
        """
        if budget:
            return build_project_context(project, max(200, budget))
        return project.context_file.read_text(encoding="utf-8") \
            if project.context_file.exists() else ""

    @server.tool()
    def recent_sessions(limit: int = 10) -> list[dict[str, Any]]:
        """The latest recorded agent sessions in this project: when, title, summary, page."""
        records = load_catalog(project)[-max(1, min(limit, 100)):]
        return [{"session_id": r.session_id, "agent": r.agent, "started": r.started,
                 "ended": r.ended, "title": r.title, "summary": r.summary,
                 "page": r.page_path} for r in reversed(records)]

    @server.tool()
    def page_history(page: str) -> dict[str, Any]:
        """How a page changed: its supersession chain and its git revisions (newest first).

        Use to see what a decision replaced or was replaced by, and when.
        """
        path = ref_to_page(page)
        return {"page": path,
                "chain": [c.to_dict() for c in history.chain(project.wiki_dir, path)],
                "revisions": [r.to_dict() for r in history.revisions(project.wiki_dir, path)]}

    @server.tool()
    def decide(what: str, why: str, ruled_out: str | None = None, assumes: str | None = None,
               supersedes: str | None = None, agent: str = "mcp") -> dict[str, Any]:
        """Record a decision the user and you settled on, with its reason.

        Use when a choice is made that later sessions must respect (a library, an API shape,
        a convention). `supersedes` names the decision it replaces (id or page).
        """
        replaced = [ref_to_page(supersedes)] if supersedes else []
        return compiled(memory(agent).add(
            "decision", what, {"why": why, "ruled_out": ruled_out, "assumes": assumes},
            supersedes=replaced))

    @server.tool()
    def lesson(what_went_wrong: str, correct: str, verified_by: str | None = None,
               agent: str = "mcp") -> dict[str, Any]:
        """Record a mistake and the correct way, so no session repeats it.

        Use after fixing something that went wrong for a non-obvious reason.
        """
        return compiled(memory(agent).add("lesson", what_went_wrong,
                                          {"correct": correct, "verified_by": verified_by}))

    @server.tool()
    def note(text: str, agent: str = "mcp") -> dict[str, Any]:
        """Record a direction note from the user: a preference or steer, lighter than a decision."""
        return compiled(memory(agent).add("note", text, {"text": text}))

    @server.tool()
    def task_list(status: str | None = None) -> list[dict[str, Any]]:
        """Open tasks (todo and in progress) with who holds them; or those of one status."""
        state = load_memory(project)
        tasks = state.of_kind("task", status) if status else state.of_kind(
            "task", "todo", "in_progress")
        return [{"id": t.id, "title": t.title, "status": t.status, "holder": t.holder,
                 "last_heartbeat": t.last_seen, "page": t.page} for t in tasks]

    @server.tool()
    def task_claim(agent: str, task_id: str | None = None) -> dict[str, Any]:
        """Claim a task before working on it (the given one, or the first todo).

        Claims are exclusive across agents; send task_heartbeat at least every 30 minutes or
        the claim lapses.
        """
        return compiled(memory(agent, task=True).claim(task_id))

    @server.tool()
    def task_heartbeat(agent: str, note: str | None = None,
                       task_id: str | None = None) -> dict[str, Any]:
        """Keep your claim alive; `note` records where the work stands (a checkpoint)."""
        return compiled(memory(agent, task=True).task_op("task_heartbeat", task_id, note or ""))

    @server.tool()
    def task_done(task_id: str, summary: str, agent: str) -> dict[str, Any]:
        """Finish a task with a summary of what was built and what was learned."""
        return compiled(memory(agent, task=True).task_op("task_done", task_id, summary))

    return server


def serve(project: Project, **options) -> None:
    """Run the server on stdin/stdout until the client disconnects."""
    build_server(project, **options).run("stdio")
