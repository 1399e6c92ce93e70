"""Compile: the raw log into the wiki, as a staged build.

`compile_locked` reads like the pipeline; everything is read and rendered in memory before
the first page is written:

    state     what the last compile left (compile.state)
    open      the journal begun, an interrupted compile's leftovers recovered, people's
              edits committed (compile.journal)
    sessions  what is new in the raw log; every session with something new digested again
    memory    structured memory (compile.structured), the LLM's consolidation (compile.llm)
    render    every page this compile changes (compile.render)
    write     through the one page gate, never over a person's edit; links checked
              (compile.links)
    commit    one machine commit, with what an interrupted compile left
    index     the search index, updated from the pages in memory
    context   the session-start block for the hook; then the state saved, the journal ended

Commands that only read what the compiles left use compile.read.

One compiler runs per project at a time (`state/compile.lock`). A compile started while
another runs leaves `state/compile.pending` and returns; the running one loops once more, so
work started by several hooks at once coalesces instead of running twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial

from wikimem import faults
from wikimem.capture import rawlog
from wikimem.capture.observe import log_error
from wikimem.compile import decay, staleness
from wikimem.compile import llm as llm_module
from wikimem.compile.catchup import digest_pages
from wikimem.compile.commits import commit_message as _message
from wikimem.compile.context import DEFAULT_BUDGET, build_context
from wikimem.compile.files import file_pages
from wikimem.compile.journal import Recovery, recover
from wikimem.compile.links import broken_links
from wikimem.compile.llm import Client, LLMSettings
from wikimem.compile.llm import consolidate as llm_consolidate
from wikimem.compile.offers import offer_beside, report_refused
from wikimem.compile.read import (
    context_block,
    is_system_log,
)
from wikimem.compile.render import (
    context_page,
    index_page,
    month_pages,
    session_page,
    topic_pages,
    transcript_page,
)
from wikimem.compile.sessions import (
    PAGE_NAMES,
    SessionRecord,
    digest,
    old_successors,
    transcript_path,
)
from wikimem.compile.sessions import page_path as session_page_path
from wikimem.compile.state import SessionSummary, State, ordered
from wikimem.compile.status import recorded
from wikimem.compile.structured import structured_memory, structured_pages
from wikimem.locks import locked
from wikimem.memory import Memory, MemoryState
from wikimem.project import Project, open_private, write_atomic
from wikimem.repo import pages as repo_pages
from wikimem.repo import record as repo_record
from wikimem.wiki.pages import (
    Page,
    remove_pages,
    wiki_pages,
    write_pages,
)

# How far a stage has gone: (stage, done, total or None); see wikimem/cli/progress.py.
Steps = Callable[..., None]


@dataclass
class CompileResult:
    """What one compile did."""

    sessions: list[str] = field(default_factory=list)  # session ids (re)compiled
    observations: int = 0  # new observations read
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    human_edited: list[str] = field(default_factory=list)  # pages left alone
    refused: list[str] = field(default_factory=list)  # behind a symbolic link: not written
    human_commit: str | None = None
    commit: str | None = None
    bad_lines: dict[str, list[int]] = field(default_factory=dict)
    broken_links: dict[str, list[str]] = field(default_factory=dict)
    index_rebuilt: bool = False
    busy: bool = False  # another compile was running; it will pick this work up
    llm: dict | None = None  # what LLM consolidation did (None when it is off)

    def to_dict(self) -> dict:
        return asdict(self)


def compile_project(
    project: Project,
    *,
    rebuild: bool = False,
    wait: bool = True,
    budget: int = DEFAULT_BUDGET,
    claim_expiry_minutes: float = 30.0,
    llm: LLMSettings | None = None,
    llm_client: Client | None = None,
    progress: Callable[[str], None] | None = None,
    steps: Steps | None = None,
) -> CompileResult:
    """Compile new observations of a project into its wiki (all of them with `rebuild`).

    With `llm` enabled, each session whose content changed is consolidated by one model call
    after its rule-based digest; any failure keeps the rule-based pages and says why.
    `progress` gets one-line messages; `steps(stage, done, total)` is told how far each stage
    ("reading logs", "rendering", "writing", "committing", "indexing") has gone.
    """
    project.ensure_dirs()
    pending = project.state_dir / "compile.pending"
    opts = {"budget": budget, "progress": progress, "steps": steps,
            "expiry": claim_expiry_minutes,
            "llm": llm if llm is not None and llm.enabled else None, "client": llm_client}
    result: CompileResult | None = None
    blocking, marked = wait, False
    while True:
        with locked(project.state_dir / "compile.lock", blocking=blocking) as got:
            if got:
                # Work announced before this point is read by the round below.
                pending.unlink(missing_ok=True)
                more = recorded(compile_locked, project, rebuild=rebuild and result is None,
                                **opts)
                result = more if result is None else _merge(result, more)
        blocking = False
        if got:
            # Why after releasing the lock: a compile that found it busy may have left its
            # mark after this round looked, and then found the lock still held.
            if not pending.exists():
                return result
        elif marked:
            # Marked, then tried once more: the holder sees the mark when it finishes.
            return result or CompileResult(busy=True)
        else:
            os.close(open_private(pending, os.O_WRONLY | os.O_CREAT))
            marked = True


@dataclass
class _Round:
    """One compile round: what it was asked to do, and the result its stages fill in."""

    project: Project
    rebuild: bool  # every page from the whole raw log (also when the page names changed)
    budget: int
    expiry: float  # minutes after which a task's claim is released
    llm: LLMSettings | None  # None: no LLM consolidation
    client: Client | None
    say: Callable[[str], None]
    result: CompileResult = field(default_factory=CompileResult)
    step: Steps = field(default=lambda stage, done, total=None: None)


@dataclass
class _NewWork:
    """What the raw log holds that the last compile did not read (the sessions stage)."""

    # raw file -> its new observations (kept for system logs only)
    affected: dict[str, list] = field(default_factory=dict)
    # raw file digested -> its summary before (None: a new session)
    before: dict[str, dict | None] = field(default_factory=dict)
    changed: list[SessionRecord] = field(default_factory=list)  # for LLM consolidation
    sessions_changed: bool = False
    consolidated: list[str] = field(default_factory=list)  # session ids the LLM summarised


@dataclass
class _Gathered:
    """What the pages are rendered from (the memory stage)."""

    records: list[SessionSummary]  # every session, oldest first, with its LLM summary if any
    position: dict[str, int]  # session id -> its place in `records`
    log_of: dict[str, str]  # session id -> its raw file
    memory: MemoryState
    llm: llm_module.LLMState  # the LLM's summaries and topic pages

    def full(self, state: State, summary: SessionSummary) -> SessionRecord:
        """The session's full record, with the summary the pages show."""
        rec = state.record(self.log_of[summary.session_id])
        rec.summary = summary.summary
        return rec


@dataclass
class _Rendered:
    """Every page this compile changes, in memory (the render stage)."""

    pages: list[Page]
    kept: list[str]  # structured pages whose files hold their rendering already
    gone: list[str]  # pages that go: a moved session's old page, a month left empty
    block: str  # the session-start context
    bootstrap_new: list | None  # the bootstrap log's new observations (they name the commit)


def compile_locked(project: Project, *, rebuild: bool = False, budget: int = DEFAULT_BUDGET,
                   progress: Callable[[str], None] | None = None, expiry: float = 30.0,
                   llm: LLMSettings | None = None, client: Client | None = None,
                   steps: Steps | None = None) -> CompileResult:
    """One compile round, run by a caller that holds `state/compile.lock` (compile_project,
    and purge's rebuild): the stages in order, each a function below."""
    run = _Round(project, rebuild, budget, expiry, llm, client, progress or _quiet)
    if steps is not None:
        run.step = steps
    state = _load_state(run)
    recovery = _open_wiki(run)
    new = _read_sessions(run, state)
    # A memory that names files is checked against the repository at every compile: when
    # the repository changed since, the pages and the block are made again (staleness).
    if not new.affected and not run.rebuild and not staleness.repository_moved(project) and not (
            run.llm is not None and llm_module.can_retry(project, run.llm)):
        return _finish_unchanged(run, state, recovery)
    gathered = _gather_memory(run, state, new)
    rendered = _render(run, state, new, gathered)
    indexable = _write(run, state, rendered, gathered, recovery)
    _commit(run, recovery, rendered, gathered)
    # A session's page is found by its transcript's words (search.documents): a transcript
    # written means its session's document is indexed again, whether or not its page changed.
    companions = [session_page_path(rel.removeprefix("transcripts/")
                                    .removesuffix(".transcript.md"))
                  for rel in run.result.written if rel.startswith("transcripts/")]
    _index(project, recovery.reindex + run.result.written + companions, run.result.removed,
           run.result, rebuild=run.rebuild, pages=indexable, steps=partial(run.step, "indexing"))
    _save(run, state, rendered.block, recovery)
    return run.result


def _quiet(_msg: str) -> None:
    pass


def _load_state(run: _Round) -> State:
    """What the last compile left (nothing on a rebuild)."""
    state = State(run.project) if run.rebuild else State(run.project).load()
    if state.catalog and state.names != PAGE_NAMES:
        # Trigger: the wiki was compiled by a wikimem that named session pages otherwise.
        # Why: every page name, link and index entry changes together. Outcome: rebuilt once
        # (the pages under the old names are machine pages the rebuild no longer produces).
        run.say("Session pages are named differently now: rebuilding the wiki once.")
        run.rebuild, state = True, State(run.project)
    return state


def _open_wiki(run: _Round) -> Recovery:
    """The wiki made ready to write: what an interrupted compile left recovered, and people's
    edits committed (journal.recover)."""
    recovery = recover(run.project)
    run.result.human_commit = recovery.human_commit
    return recovery


def _read_sessions(run: _Round, state: State) -> _NewWork:
    """Read what is new in the raw log, and digest every session with something new from its
    whole log (a session page is a function of all its observations, so incremental and
    rebuild give the same record). One log at a time: a first compile reads them all.

    Task claims past their expiry are released first, so this round reads the release.
    """
    project, result = run.project, run.result
    Memory(project, agent="wikimem", claim_expiry_minutes=run.expiry).expire_stale()
    new = _NewWork()
    files = list(rawlog.session_file_sizes(project.raw_dir))
    for done, (name, size) in enumerate(files):
        run.step("reading logs", done, len(files))
        start = state.offsets.get(name, 0)
        if not run.rebuild and size <= start:
            continue
        path = project.raw_dir / name
        tail = rawlog.read(path, start)
        if tail.bad_lines:
            result.bad_lines[name] = tail.bad_lines
            # A writer killed mid-line (or a damaged disk): skipped, and said once.
            log_error(project.error_log, f"skipped {len(tail.bad_lines)} unreadable line(s) "
                      f"in raw/{name} after byte {start}", stage="compile",
                      lines=tail.bad_lines[:20])
        state.offsets[name] = tail.end_offset
        if not tail.observations and not run.rebuild:
            continue
        result.observations += len(tail.observations)
        if is_system_log(name):
            new.affected[name] = tail.observations
            continue
        new.affected[name] = []
        whole = tail if start == 0 else rawlog.read(path)
        if whole.observations:
            new.before[name] = state.catalog.get(name)
            state.put(name, digest(whole.observations, project.root or ""))
            if run.llm is not None:
                new.changed.append(state.record(name))
            new.sessions_changed = True
    run.step("reading logs", len(files), len(files))
    return new


def _finish_unchanged(run: _Round, state: State, recovery: Recovery) -> CompileResult:
    """Nothing new in the raw log: commit and index what an interrupted compile or a person
    left, and write the session-start block if it is missing."""
    project, result = run.project, run.result
    run.say("Nothing new to compile.")
    if recovery.leftovers:
        result.commit = recovery.commit([], [], "Finish an interrupted compile")
    _index(project, recovery.reindex, [], result, rebuild=False)
    if not project.context_file.exists() and state.catalog:
        write_atomic(project.context_file, context_block(project, state, run.budget))
    recovery.journal.end()
    return result


def _gather_memory(run: _Round, state: State, new: _NewWork) -> _Gathered:
    """Everything the pages show: the sessions' summaries, oldest first (full records are
    read only for the pages rendered), and structured memory; with LLM consolidation on,
    the sessions that changed are consolidated first."""
    run.say(f"Compiling {len(new.affected)} log(s), {run.result.observations} new "
            "observation(s)...")
    records = ordered(state.catalog)
    position = {r.session_id: i for i, r in enumerate(records)}
    log_of = {d["session_id"]: name for name, d in state.catalog.items()}
    memory = structured_memory(run.project, state, rendered=True)
    _note_citations(run, state, new, memory)
    if run.llm is not None:
        new.consolidated = _consolidate(run, state, new.changed, records, memory, log_of)
        new.sessions_changed = new.sessions_changed or bool(new.consolidated)
    consolidated = llm_module.fold(llm_module.llm_observations(run.project))
    if consolidated.summaries:
        records = [r._replace(summary=consolidated.summaries.get(r.session_id) or r.summary)
                   for r in records]
    return _Gathered(records, position, log_of, memory, consolidated)


def _note_citations(run: _Round, state: State, new: _NewWork, memory: MemoryState) -> None:
    """Sessions that cited a memory used it (decay); the uses log is folded here."""
    records = [state.record(name) for name in new.affected
               if not is_system_log(name) and name in state.catalog]
    for when, pages in decay.cited(memory, records):
        decay.record_use(run.project, pages, "cited", ts=when)
    decay.apply_uses(memory, decay.last_uses(run.project, save=True))


def _consolidate(run: _Round, state: State, changed: list[SessionRecord],
                 records: list[SessionSummary], memory: MemoryState,
                 log_of: dict[str, str]) -> list[str]:
    """One model call per session that changed or the queue still owes (compile.llm), whose
    accepted answers are raw-log records the pages render; any failure keeps the rule-based
    pages and says why (errors.log, read by `doctor`). Returns the sessions consolidated."""
    try:
        queued = set(llm_module.owed(run.project)) - {r.session_id for r in changed}
        candidates = changed + [state.record(log_of[r.session_id]) for r in records
                                if r.session_id in queued]
        if not candidates:
            return []
        titles = [r.title for r in records] + [i.title for i in memory.items.values()]
        report = llm_consolidate(run.project, candidates, titles, run.llm, client=run.client,
                                 retry_held=run.rebuild, known=set(log_of))
    except Exception as exc:  # noqa: BLE001 - nothing in the LLM layer may cost a page
        log_error(run.project.error_log, f"LLM consolidation failed: {type(exc).__name__}: "
                  f"{exc}", stage="llm", kind="internal")
        run.say(f"LLM consolidation failed ({type(exc).__name__}); the rule-based pages "
                "stand.")
        return []
    run.result.llm = report.to_dict()
    if report.skipped:
        first = report.skipped[0]
        run.say(f"LLM consolidation skipped for {len(report.skipped)} session(s): "
                f"{first['kind']} ({first['reason']}); the rule-based pages stand.")
    llm_log = run.project.raw_dir / llm_module.LOG_NAME
    if llm_log.exists():
        state.offsets[llm_log.name] = llm_log.stat().st_size
    return report.consolidated


def _render(run: _Round, state: State, new: _NewWork, gathered: _Gathered) -> _Rendered:
    """Every page this compile changes, rendered in memory: the sessions' and their months'
    (_session_pages), structured memory's that need it, the LLM's topics, the repository's,
    the index and the session-start context."""
    project, records, memory = run.project, gathered.records, gathered.memory
    pages, gone = _session_pages(run, state, new, gathered)
    weekly, weeks_gone = _digest_pages(run, state, new, gathered)
    pages += weekly
    gone += weeks_gone
    stems = {r.session_id: r.stem for r in records}
    structured, kept = structured_pages(project.wiki_dir, memory, stems, state)
    pages += structured
    pages += topic_pages(gathered.llm.topics, stems)
    # bootstrap: the repository's pages, a pure function of the bootstrap log, rendered when
    # it has new observations (or on a rebuild).
    bootstrap_new = new.affected.get(repo_record.LOG_NAME)
    if run.rebuild or bootstrap_new or new.affected.get(llm_module.LOG_NAME):
        pages += repo_pages.pages(project, partial(llm_module.recorded_overview, project))
    pages.append(index_page(project.name, records, memory, repo_pages.index_links(project),
                            topics=[(path, t["title"]) for path, t
                                    in sorted(gathered.llm.topics.items())],
                            weeks=sorted(state.digests)))
    settings, _ = decay.project_settings(project)
    block = build_context(project.name,
                          records[:-1] + [gathered.full(state, r) for r in records[-1:]],
                          state=memory, budget=run.budget, **settings)
    pages.append(context_page(block, run.budget, records))
    return _Rendered(pages, kept, gone, block, bootstrap_new)


def _session_pages(run: _Round, state: State, new: _NewWork, gathered: _Gathered
                   ) -> tuple[list[Page], list[str]]:
    """The pages of the sessions affected, of the session after each (its "previous" link may
    have changed) and of sessions a `forget` retracted, and their months' pages; and the
    pages that go."""
    records, position, memory = gathered.records, gathered.position, gathered.memory
    to_render: set[int] = set()
    for name in new.affected:
        rec = state.catalog.get(name)
        if rec is None:
            continue
        i = position[rec["session_id"]]
        to_render.update({i, i + 1} if i + 1 < len(records) else {i})
    to_render.update(i for i, r in enumerate(records) if r.page_path in memory.retracted)
    # Sessions the LLM summarised this round without anything new in their logs (owed).
    to_render.update(position[sid] for sid in new.consolidated if sid in position)
    # A session whose earliest event arrived late starts earlier now: it may have moved in
    # the order (the session that came after it links to it as "previous"), to another
    # month and, across midnight, to another page name. Its old page goes (through the gate).
    moved = {name: old for name, old in new.before.items() if old is not None
             and (old["started"], old["stem"]) != (state.catalog[name]["started"],
                                                   state.catalog[name]["stem"])}
    old_months: set[str] = set()
    gone: list[str] = []
    if moved and not run.rebuild:
        to_render.update(position[sid]
                         for sid in old_successors(state.catalog, new.before, moved)
                         if sid in position)
        old_months = {old["started"][:7] for old in moved.values()}
        gone = [rel for name, old in sorted(moved.items())
                if old["stem"] != state.catalog[name]["stem"]
                for page in (session_page_path(old["stem"]), transcript_path(old["stem"]))
                for rel in (page, page.removesuffix(".md") + ".machine.md")]
    if run.rebuild:
        to_render = set(range(len(records)))
    pages: list[Page] = []
    touched: set[str] = set()  # files the sessions rendered changed: their pages too
    for done, i in enumerate(sorted(to_render)):
        run.step("rendering", done, len(to_render))
        rec = gathered.full(state, records[i])
        retraction = memory.retracted.get(rec.page_path)
        pages.append(session_page(rec, records[i - 1] if i > 0 else None, retraction,
                                  llm=gathered.llm.marks(rec.session_id),
                                  unfinished=memory.unfinished(rec.agent, rec.ended)))
        pages.append(transcript_page(rec, retraction))
        touched.update(rec.files)
        if new.sessions_changed or run.rebuild:
            run.result.sessions.append(rec.session_id)
    run.step("rendering", len(to_render), len(to_render))
    pages += file_pages(state.catalog, records, memory, None if run.rebuild else touched)
    months = None if run.rebuild else {records[i].date[:7] for i in to_render} | old_months
    timeline = month_pages(records, months)
    pages += timeline
    # A month whose only session moved out of it has no page any more.
    gone += sorted({f"timeline/{m}.md" for m in old_months} - {p.path for p in timeline})
    return pages, gone


def _digest_pages(run: _Round, state: State, new: _NewWork, gathered: _Gathered
                  ) -> tuple[list[Page], list[str]]:
    """The weekly digests (digests/<week>.md) whose sessions or memory changed, and the
    weeks that have none any more."""
    changed = [(d["started"], d["ended"]) for name in new.before
               for d in (new.before[name], state.catalog.get(name)) if d is not None]
    pages, gone, state.digests = digest_pages(
        run.project.name, gathered.records, partial(gathered.full, state), gathered.memory,
        changed, state.digests, run.rebuild)
    return pages, gone


def _write(run: _Round, state: State, rendered: _Rendered, gathered: _Gathered,
           recovery: Recovery) -> dict[str, Page]:
    """Write through the one page gate, never over a person's edit (the machine's version is
    offered beside it); remove the pages that go (on a rebuild, every machine page it no
    longer produces); check the links on the pages written.

    Returns the pages whose files now hold exactly their rendering: they are indexed from
    memory.
    """
    project, result = run.project, run.result
    by_path = {p.path: p for p in rendered.pages}
    recovery.journal.note(by_path)
    written = write_pages(project.wiki_dir, rendered.pages, memo=state.rendered,
                          kept=rendered.kept, steps=partial(run.step, "writing"))
    result.written, result.human_edited = written.written, written.human_edited
    result.refused = written.refused
    offers = [offer for rel in result.human_edited
              if (offer := offer_beside(project.wiki_dir, by_path[rel], state))]
    if offers:
        recovery.journal.note(p.path for p in offers)
        more = write_pages(project.wiki_dir, offers)
        result.written += more.written
        result.refused = sorted(result.refused + more.refused)
    if result.refused:
        report_refused(project, result.refused)
    gone = rendered.gone
    if run.rebuild:
        produced = set(by_path) | set(rendered.kept) | {p.path for p in offers}
        gone = [rel for rel in wiki_pages(project.wiki_dir) if rel not in produced]
    gone = [rel for rel in gone if rel not in by_path]
    if gone:
        recovery.journal.note(gone)
        result.removed += remove_pages(project.wiki_dir, gone).written
        for rel in result.removed:
            state.offered.pop(rel, None)
    folders = {rel.rpartition("/")[0] for rel in [*by_path, *gathered.memory.items]}
    result.broken_links = broken_links(project.wiki_dir, result.written,
                                       {**by_path, **{p.path: p for p in offers}},
                                       folders | {"sessions", "timeline", "digests", "transcripts"})
    return {rel: by_path[rel] for rel in (*result.written, *written.unchanged)
            if rel in by_path}


def _commit(run: _Round, recovery: Recovery, rendered: _Rendered, gathered: _Gathered) -> None:
    """One machine commit of the pages written and removed, with whatever an interrupted
    compile left uncommitted."""
    result = run.result
    if result.written or result.removed or recovery.leftovers:
        faults.point("before-commit")
        message = _message(gathered.records, gathered.memory, result, run.rebuild,
                           repo_pages.commit_subject(rendered.bootstrap_new))
        files = len(result.written) + len(result.removed)
        run.step("committing", 0, files)
        result.commit = recovery.commit(result.written, result.removed, message)
        run.step("committing", files, files)
        faults.point("after-commit")


def _save(run: _Round, state: State, block: str, recovery: Recovery) -> None:
    """Store the session-start block the hook reads, then the state; the journal goes last,
    when nothing is left to recover."""
    write_atomic(run.project.context_file, block)
    faults.point("before-state-save")
    state.save()
    recovery.journal.end()
    result = run.result
    run.say(
        f"Wrote {len(result.written)} page(s)"
        + (f", commit {result.commit[:10]}" if result.commit else ", no commit needed")
        + "."
    )


def _index(project, changed, removed, result: CompileResult, *, rebuild: bool,
           pages: dict[str, Page] | None = None, steps=None) -> None:
    """Update the search index with the pages changed and removed (a page in `pages` is read
    from memory, not from its file); build it anew on a rebuild or when there is none."""
    from wikimem.search.index import SearchIndex
    from wikimem.search.store import MARKER

    index = SearchIndex(project.index_dir, project.wiki_dir)
    if rebuild:
        index.rebuild(pages, steps=steps)
    elif (changed or removed) and not (project.index_dir / MARKER).exists():
        # No index yet (a first compile): build it from the pages now. `update` would read
        # every changed page first, then find no index and rebuild from the pages anyway.
        index.rebuild(pages, steps=steps)
        result.index_rebuilt = True
        return
    elif changed or removed:
        index.update(sorted({p for p in changed if p.endswith(".md")}), removed, pages)
    result.index_rebuilt = index.rebuilt


def _merge(into: CompileResult, more: CompileResult) -> CompileResult:
    """The result of one more round (work that arrived during the first) added to it."""
    into.sessions += more.sessions
    into.observations += more.observations
    into.written = sorted(set(into.written) | set(more.written))
    into.human_edited = sorted(set(into.human_edited) | set(more.human_edited))
    into.refused = sorted(set(into.refused) | set(more.refused))
    into.commit = more.commit or into.commit
    into.bad_lines.update(more.bad_lines)
    into.broken_links.update(more.broken_links)
    into.removed = sorted(set(into.removed) | set(more.removed))
    into.index_rebuilt = into.index_rebuilt or more.index_rebuilt
    return into
