"""`wikimem mcp`: the project's memory over the Model Context Protocol (stdio).

Built on the official `mcp` SDK (the optional `mcp` extra), imported only here. Read tools
(search, read_page, context, catchup, recent_sessions, page_history, task_list) and write tools
(decide, lesson, note, task_claim, task_heartbeat, task_done) call the same library functions
as the CLI; every write is a raw-log observation followed by a compile.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from wikimem.errors import WikimemError
from wikimem.project import Project

INSTRUCTIONS = """\
Long-term memory of this software project, kept by wikimem as a markdown wiki: what earlier
agent sessions did, decisions in force and why, verified lessons, direction notes, goals and
tasks. At the start, or when asked "where did we leave off?", call context. Before
re-deciding or re-investigating something ("have we discussed X?"), call search. Record as
you go: decide when a choice is settled, lesson after a correction, note for a preference
("remember this"); claim a task before working on it, heartbeat with a checkpoint, and
finish with task_done and a completion summary, so the next session knows."""


def build_server(project: Project, *, claim_expiry_minutes: float = 30.0, budget: int = 6000):
    """A FastMCP server bound to one project."""
    try:
        from mcp.server.fastmcp import FastMCP
    except ImportError as exc:
        raise WikimemError(
            "The MCP server needs the optional mcp extra: pip install 'wikimem[mcp]'."
        ) from exc

    from wikimem.compile.build import compile_project
    from wikimem.compile.context import for_mcp
    from wikimem.compile.decay import record_use
    from wikimem.compile.read import build_project_context, load_catalog, load_memory
    from wikimem.compile.staleness import anchors_for
    from wikimem.memory import Memory
    from wikimem.search.index import SearchIndex, check_query
    from wikimem.sync import settings as sync_settings
    from wikimem.wiki import timetravel as history

    server = FastMCP("wikimem", instructions=INSTRUCTIONS)
    # One index object for the server's life: it keeps its searcher open between calls and
    # reopens it when a compile changed the index. The lock: a searcher is not thread-safe.
    index = SearchIndex(project.index_dir, project.wiki_dir)
    index_lock = threading.Lock()

    def tool(function):
        """Register a tool; its description is the docstring without the code's indent (the
        model reads it as it is sent)."""
        return server.tool(description=inspect.cleandoc(function.__doc__ or ""))(function)

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

    def code(*texts) -> dict:
        """Tied to the code: the tracked files the text names (compile.staleness)."""
        return anchors_for(project, [], [t for t in texts if t])[0]

    def ref_to_page(ref: str) -> str:
        try:
            return load_memory(project).find(ref).page
        except WikimemError:
            return history.resolve_page(project.wiki_dir, ref)

    @tool
    def search(query: str, kind: str | None = None, limit: int = 8,
               include_superseded: bool = False) -> list[dict[str, Any]]:
        """Search the project's memory (past sessions, decisions, lessons, notes, tasks).

        Use BEFORE starting work on something that may have been done, decided or tried
        before; before re-deciding a question; when the user asks "have we discussed X?",
        "why did we ...?" or refers to earlier work. `kind` narrows to one page kind
        (session, decision, lesson, note, goal, task; plurals too); an unknown kind is an
        error that lists them. Returns ranked pages with snippets; read one in full with
        read_page.
        """
        check_query(query)
        with index_lock:
            hits = index.search(query, kinds=[kind] if kind else (),
                                include_all=include_superseded, limit=max(1, min(limit, 50)))
        record_use(project, [h.path for h in hits], "mcp")  # decay: these memories were used
        return [{k: h.to_dict()[k] for k in ("path", "title", "kind", "status", "updated",
                                             "snippet")} for h in hits]

    @tool
    def read_page(page: str) -> str:
        """Read one wiki page in full (markdown with frontmatter).

        Use after search, when a snippet is not enough: a decision's reasons and what was
        ruled out, a session's commands and outcome, a task's checkpoints. `page` is a path
        from search results, a file name, or an id such as D3 or T12.
        """
        path = ref_to_page(page)
        record_use(project, [path], "mcp")
        return history.show(project.wiki_dir, path)

    @tool
    def context(budget: int | None = None) -> str:
        """Where the last session left off, tasks in progress and unfinished, decisions in
        force, verified lessons, direction notes.

        Use at the start of work when your session did not already receive this block, when
        the user asks "where did we leave off?" or "what were we doing?", and again after a
        long pause or when unsure what state the project is in.
        """
        if budget:
            return for_mcp(build_project_context(project, max(200, budget)))
        return for_mcp(project.context_file.read_text(encoding="utf-8")) \
            if project.context_file.exists() else ""

    @tool
    def catchup(since: str = "7d") -> dict[str, Any]:
        """What happened since a date: where did we leave off, what happened since.

        Use when the user asks to catch up, what changed or was done recently, or when you
        return to the project after a pause. `since` is a date (2026-03-01), a moment
        (2026-03-01T12:00) or a span back from now (7d, 2w, 36h). Returns the sessions and
        their outcomes, decisions made or superseded, tasks done and in progress, the files
        most changed and the questions left open, with their pages for read_page; `screen`
        is the same as text.
        """
        from datetime import UTC, datetime

        from wikimem.compile.catchup import catchup as gather_catchup
        from wikimem.compile.catchup import parse_since, render_text

        until = datetime.now(UTC)
        try:
            start = parse_since(since, until)
        except ValueError as exc:
            raise WikimemError(str(exc)) from None
        found = gather_catchup(project, start, until)
        return {**found.to_dict(), "screen": render_text(found, f"since {since}")}

    @tool
    def recent_sessions(limit: int = 10) -> list[dict[str, Any]]:
        """The latest recorded agent sessions in this project: when, title, summary, page.

        Use when the user asks what happened recently or in the last few sessions; for one
        topic, search is better.
        """
        records = load_catalog(project)[-max(1, min(limit, 100)):]
        return [{"session_id": r.session_id, "agent": r.agent, "started": r.started,
                 "ended": r.ended, "title": r.title, "summary": r.summary,
                 "page": r.page_path} for r in reversed(records)]

    @tool
    def page_history(page: str) -> dict[str, Any]:
        """How a page changed: its supersession chain and its git revisions (newest first).

        Use when asked why or when something changed: what a decision replaced or was
        replaced by, and when each version was written.
        """
        path = ref_to_page(page)
        return {"page": path,
                "chain": [c.to_dict() for c in history.chain(project.wiki_dir, path)],
                "revisions": [r.to_dict() for r in history.revisions(project.wiki_dir, path)]}

    @tool
    def decide(what: str, why: str, ruled_out: str | None = None, assumes: str | None = None,
               supersedes: str | None = None, agent: str = "mcp") -> dict[str, Any]:
        """Record a decision the user and you settled on, with its reason.

        Use as soon as a choice is settled that later sessions must respect (a library, an
        API shape, a convention, a rejected approach): `why` is the reason, `ruled_out` the
        alternatives rejected and why. Search first: if it replaces an earlier decision, name
        that one in `supersedes` (id or page).
        """
        replaced = [ref_to_page(supersedes)] if supersedes else []
        return compiled(memory(agent).add(
            "decision", what, {"why": why, "ruled_out": ruled_out, "assumes": assumes},
            supersedes=replaced, anchors=code(what, why, assumes)))

    @tool
    def lesson(what_went_wrong: str, correct: str, verified_by: str | None = None,
               agent: str = "mcp") -> dict[str, Any]:
        """Record a mistake and the correct way, so no session repeats it.

        Use after the user corrects you, or after fixing something that went wrong for a
        non-obvious reason, once the fix is confirmed: `verified_by` says how (a test, the
        user); only verified lessons reach the next session's context.
        """
        return compiled(memory(agent).add("lesson", what_went_wrong,
                                          {"correct": correct, "verified_by": verified_by},
                                          anchors=code(what_went_wrong, correct)))

    @tool
    def note(text: str, agent: str = "mcp") -> dict[str, Any]:
        """Record a direction note: a preference or steer from the user, lighter than a decision.

        Use when the user says "remember this", "from now on ...", "we prefer ...", or gives
        a direction that is not a settled decision.
        """
        return compiled(memory(agent).add("note", text, {"text": text}, anchors=code(text)))

    @tool
    def task_list(status: str | None = None) -> list[dict[str, Any]]:
        """Open tasks (todo and in progress) with who holds them; or those of one status.

        Use before starting work, to pick up a task (or see who holds one), and when asked
        what is left to do.
        """
        state = load_memory(project)
        tasks = state.of_kind("task", status) if status else state.of_kind(
            "task", "todo", "in_progress")
        return [{"id": t.id, "title": t.title, "status": t.status, "holder": t.holder,
                 "last_heartbeat": t.last_seen, "page": t.page} for t in tasks]

    @tool
    def task_claim(agent: str, task_id: str | None = None) -> dict[str, Any]:
        """Claim a task before working on it (the given one, or the first todo).

        Use when you start on a task, so no other agent works on it at the same time. Claims
        are exclusive across agents; `agent` is your name (keep it for heartbeat and done).
        Send task_heartbeat at least every 30 minutes or the claim lapses.
        """
        return compiled(memory(agent, task=True).claim(task_id))

    @tool
    def task_heartbeat(agent: str, note: str | None = None,
                       task_id: str | None = None) -> dict[str, Any]:
        """Keep your claim alive; `note` records where the work stands (a checkpoint).

        Use at each milestone, at least every 30 minutes, and before you stop with the task
        unfinished: the next agent starts from your last checkpoint.
        """
        return compiled(memory(agent, task=True).task_op("task_heartbeat", task_id, note or ""))

    @tool
    def task_done(task_id: str, summary: str, agent: str) -> dict[str, Any]:
        """Finish a task you claimed, with its completion summary.

        Use when the task's work is done (failed or abandoned: say so in the summary).
        `summary` answers three questions in a few sentences: what was built (files,
        commands, behaviour), what was learned (surprises, dead ends), and what the next
        agent needs to know (follow-ups, caveats). It is the task's memory: later sessions
        read it instead of the code.
        """
        return compiled(memory(agent, task=True).task_op("task_done", task_id, summary))

    return server


def serve(project: Project, **options) -> None:
    """Run the server on stdin/stdout until the client disconnects."""
    build_server(project, **options).run("stdio")
