"""Compile: the orchestrator that reads like the pipeline.

read new observations -> digest the affected sessions -> render every affected page in memory
-> write (one gate, never over a human edit) -> commit -> update the index -> precompute the
session-start context -> save state.

One compiler runs per project at a time (`state/compile.lock`). A compile started while
another runs leaves `state/compile.pending` and returns; the running one loops once more, so
work started by several hooks at once coalesces instead of running twice.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from wikimem import faults
from wikimem.capture import rawlog
from wikimem.capture.observe import log_error
from wikimem.compile import llm as llm_module
from wikimem.compile.context import DEFAULT_BUDGET, build_context
from wikimem.compile.llm import Client, LLMSettings
from wikimem.compile.llm import consolidate as llm_consolidate
from wikimem.compile.render import (
    HUBS,
    context_page,
    hub_pages,
    index_page,
    memory_page,
    month_pages,
    renderer_identity,
    session_page,
    topic_pages,
)
from wikimem.compile.sessions import PAGE_NAMES, SessionRecord, digest
from wikimem.compile.sessions import page_path as session_page_path
from wikimem.errors import WikimemError
from wikimem.locks import locked
from wikimem.memory import Memory, MemoryState, is_memory_log, memory_observations
from wikimem.project import (
    Project,
    ensure_home_dir,
    open_nofollow,
    open_private,
    write_atomic,
)
from wikimem.repo import decisions as repo_decisions
from wikimem.repo import pages as repo_pages
from wikimem.repo import record as repo_record
from wikimem.wiki import gitrepo
from wikimem.wiki.markdown import WIKILINK_PATTERN, _is_attachment, link_key, parse
from wikimem.wiki.pages import (
    RENDER_IDENTITY,
    Page,
    is_machine_page,
    linked_part,
    read_page,
    recorded_hash,
    remove_pages,
    remove_temporaries,
    text_sha256,
    wiki_pages,
    write_pages,
)

STATE_VERSION = 1
# Summaries appended to state/sessions.jsonl before sessions.json is written whole again
# (at least; or a quarter of the sessions, whichever is more).
JOURNAL_MIN = 256


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


class SessionSummary(NamedTuple):
    """What the aggregate pages (index, timeline, earlier sessions, links) read of a session.

    The full SessionRecord (prompts, commands, outcome...) is read only for the pages that
    show it; a field that is not here fails loudly instead of rendering as empty. A named
    tuple: every compile makes one per session, ten thousand of them.
    """

    session_id: str
    agent: str
    started: str
    ended: str
    title: str
    summary: str
    stem: str

    @property
    def date(self) -> str:
        return self.started[:10]

    @property
    def page_path(self) -> str:
        return session_page_path(self.stem)


_summary_fields = itemgetter(*SessionSummary._fields)
_chronological = itemgetter(2, 0)  # (started, session_id)


_SUMMARY_KEYS = (*SessionSummary._fields, "candidates")


class State:
    """What the last compile left: `state/compile.json` (how far each raw file was compiled,
    pages offered and rendered), the summary of every session for the aggregate pages
    (`state/sessions.json`, plus `state/sessions.jsonl`: the summaries digested since, one
    per line, later lines winning) and `state/sessions/<log>.json` (each session's full
    SessionRecord).

    Records are read only for the sessions a compile renders and written only for the
    sessions it digested: ten thousand of them took half a second each way as one file. The
    summaries of ten thousand sessions are 5 MB of JSON, so a compile appends the ones it
    changed and folds them into `sessions.json` only once they are many.
    """

    def __init__(self, project: Project):
        self.project = project
        self.path = project.state_dir / "compile.json"
        self.catalog_path = project.state_dir / "sessions.json"
        self.journal_path = project.state_dir / "sessions.jsonl"
        self.records_dir = project.state_dir / "sessions"
        self.offsets: dict[str, int] = {}
        self.catalog: dict[str, dict] = {}  # raw file name -> summary (_SUMMARY_KEYS)
        self.offered: dict[str, str] = {}  # human-edited page -> machine hash offered beside it
        # page -> [fingerprint, sha256 of its bytes] for the pages the last compile rendered
        # (see pages.write_pages): most are rendered again, unchanged, by the next one.
        # Structured pages' entries also get [size, mtime_ns, when checked] (`_holds`).
        self.rendered: dict[str, list[str]] = {}
        # what the structured pages in `rendered` were rendered from (_structured_key)
        self.structured: str | None = None
        self.names: int | None = None  # the page naming the catalog's stems follow
        self._records: dict[str, dict] = {}  # raw file name -> full record, read or digested
        self._unsaved: set[str] = set()  # records to write
        self._loaded = False
        self._journaled = 0  # summaries in sessions.jsonl

    def load(self) -> State:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            catalog = json.loads(self.catalog_path.read_text(encoding="utf-8"))
            if data.get("version") == STATE_VERSION and isinstance(catalog, dict):
                self.offsets = {str(k): int(v) for k, v in data.get("offsets", {}).items()}
                self.offered = dict(data.get("offered", {}))
                rendered = data.get("rendered", {})
                self.rendered = rendered if isinstance(rendered, dict) else {}
                self.structured = data.get("structured")
                self.names = data.get("names")
                if any("prompts" in d for d in catalog.values()):
                    # Written by an older wikimem, with the full records inside: split them.
                    self.catalog = {name: _summary(d) for name, d in catalog.items()}
                    self._records = catalog
                    self._unsaved = set(catalog)  # saved whole, and the journal dropped
                else:
                    self.catalog = catalog
                    self._loaded = True
                    self._replay_journal()
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            # Missing or damaged state is a cache miss: the next compile reads everything.
            self.offsets, self.catalog, self.offered, self.rendered = {}, {}, {}, {}
            self.structured = None
            self._loaded = False
        return self

    def _replay_journal(self) -> None:
        try:
            with open(self.journal_path, "rb") as f:
                blob = f.read()
        except FileNotFoundError:
            return
        complete = blob[:blob.rfind(b"\n") + 1]
        for line in complete.splitlines():
            d = json.loads(line)
            self.catalog[d.pop("log")] = d
            self._journaled += 1
        if len(complete) < len(blob):
            # Trigger: a compile killed mid-append. Why: appending after the fragment would
            # damage the next line. Outcome: the next save rewrites sessions.json whole (the
            # lost line's session was not marked compiled, so it is digested again anyway).
            self._journaled = -1

    def put(self, name: str, record: SessionRecord) -> None:
        """The digest of raw file `name`, to be saved."""
        self._records[name] = record.to_dict()
        self.catalog[name] = _summary(self._records[name])
        self._unsaved.add(name)

    def record(self, name: str) -> SessionRecord:
        """The full record of raw file `name` (digested again if its file is missing)."""
        d = self._records.get(name)
        if d is None:
            try:
                d = json.loads(self._record_path(name).read_text(encoding="utf-8"))
                self._records[name] = d
            except (OSError, ValueError):
                # A cache miss: the record is a function of the raw log.
                whole = rawlog.read(self.project.raw_dir / name)
                if not whole.observations:
                    raise WikimemError(
                        f"The compiled record of {name} is missing and its raw log is empty; "
                        "run `wikimem compile --rebuild`.") from None
                self.put(name, digest(whole.observations))
                d = self._records[name]
        return SessionRecord.from_dict(d)

    def save(self) -> None:
        # Compact JSON: with `indent`, json falls back from its C encoder to Python.
        if self._unsaved or not self._loaded or self._journaled < 0:
            ensure_home_dir(self.records_dir)
            for name in sorted(self._unsaved):
                # Written in place, not through a temporary file (half the cost, and a first
                # compile writes one per session): a record cut short by a crash does not
                # parse, and `record` digests that session again from the raw log.
                fd = open_nofollow(self._record_path(name),
                                   os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                with open(fd, "w", encoding="utf-8") as f:
                    f.write(json.dumps(self._records[name], sort_keys=True,
                                       separators=(",", ":")))
            if not self._loaded:  # a rebuild: records of logs that are gone go too
                keep = {self._record_path(name).name for name in self.catalog}
                for stale in self.records_dir.glob("*.json"):
                    if stale.name not in keep:
                        stale.unlink()
            self._save_catalog()
            self._unsaved.clear()
            self._loaded = True
        write_atomic(
            self.path,
            json.dumps({"version": STATE_VERSION, "offsets": self.offsets,
                        "offered": self.offered, "rendered": self.rendered,
                        "structured": self.structured, "names": PAGE_NAMES},
                       separators=(",", ":")),
        )

    def _save_catalog(self) -> None:
        """Append the changed summaries, or write them all once the journal is long."""
        pending = len(self._unsaved)
        if not self._loaded or self._journaled < 0 or \
                self._journaled + pending > max(JOURNAL_MIN, len(self.catalog) // 4):
            write_atomic(self.catalog_path,
                         json.dumps(self.catalog, sort_keys=True, separators=(",", ":")))
            self.journal_path.unlink(missing_ok=True)
            self._journaled = 0
            return
        lines = "".join(json.dumps({"log": name, **self.catalog[name]}, sort_keys=True,
                                   separators=(",", ":")) + "\n"
                        for name in sorted(self._unsaved))
        fd = open_private(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        with open(fd, "a", encoding="utf-8", newline="\n") as f:
            f.write(lines)
        self._journaled += pending

    def _record_path(self, name: str) -> Path:
        return self.records_dir / (name.removesuffix(".jsonl") + ".json")


def _summary(record: dict) -> dict:
    return {key: record[key] for key in _SUMMARY_KEYS if key in record}


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
) -> CompileResult:
    """Compile new observations of a project into its wiki (all of them with `rebuild`).

    With `llm` enabled, each session whose content changed is consolidated by one model call
    after its rule-based digest; any failure keeps the rule-based pages and says why.
    """
    project.ensure_dirs()
    pending = project.state_dir / "compile.pending"
    opts = {"budget": budget, "progress": progress, "expiry": claim_expiry_minutes,
            "llm": llm if llm is not None and llm.enabled else None, "client": llm_client}
    result: CompileResult | None = None
    blocking, marked = wait, False
    while True:
        with locked(project.state_dir / "compile.lock", blocking=blocking) as got:
            if got:
                # Work announced before this point is read by the round below.
                pending.unlink(missing_ok=True)
                more = _compile_locked(project, rebuild=rebuild and result is None, **opts)
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


def _compile_locked(project, *, rebuild, budget, progress, expiry, llm, client
                    ) -> CompileResult:
    say = progress or (lambda _msg: None)
    result = CompileResult()
    state = State(project) if rebuild else State(project).load()
    if state.catalog and state.names != PAGE_NAMES:
        # Trigger: the wiki was compiled by a wikimem that named session pages otherwise.
        # Why: every page name, link and index entry changes together. Outcome: rebuilt once
        # (the pages under the old names are machine pages the rebuild no longer produces).
        say("Session pages are named differently now: rebuilding the wiki once.")
        rebuild, state = True, State(project)
    repo = gitrepo.open_repo(project.wiki_dir)
    gitrepo.check_not_mid_operation(repo)
    journal = Journal(project)
    # A journal left behind means the last compile died (kill -9, power, full disk) after it
    # started: its git lock files are stale, and the pages it named may be written but not
    # committed, or committed but not indexed. They are committed and indexed below.
    interrupted = journal.begin()
    gitrepo.remove_stale_locks(repo, since=journal.crashed_at)
    remove_temporaries(project.wiki_dir, interrupted)  # pages are renamed in batches
    leftovers = _leftovers(project.wiki_dir, interrupted)
    result.human_commit, human_paths = gitrepo.commit_human_edits(repo, exclude=leftovers)
    reindex = human_paths + sorted(interrupted)  # whatever they hold now
    Memory(project, agent="wikimem", claim_expiry_minutes=expiry).expire_stale()

    # 1. Read what is new in the raw log; 2. digest every session with something new from
    #    its whole log (a session page is a function of all its observations, so incremental
    #    and rebuild give the same record). One log at a time: a first compile reads them all.
    affected: dict[str, list] = {}  # raw file -> its new observations (system logs only)
    before: dict[str, dict | None] = {}  # raw file digested -> its summary before (None: new)
    sessions_changed = False
    changed: list[SessionRecord] = []  # digested sessions, for LLM consolidation
    for name, size in rawlog.session_file_sizes(project.raw_dir):
        start = state.offsets.get(name, 0)
        if not rebuild and size <= start:
            continue
        path = project.raw_dir / name
        new = rawlog.read(path, start)
        if new.bad_lines:
            result.bad_lines[name] = new.bad_lines
            # A writer killed mid-line (or a damaged disk): skipped, and said once.
            log_error(project.error_log, f"skipped {len(new.bad_lines)} unreadable line(s) "
                      f"in raw/{name} after byte {start}", stage="compile",
                      lines=new.bad_lines[:20])
        state.offsets[name] = new.end_offset
        if not new.observations and not rebuild:
            continue
        result.observations += len(new.observations)
        if _system_log(name):
            affected[name] = new.observations
            continue
        affected[name] = []
        whole = new if start == 0 else rawlog.read(path)
        if whole.observations:
            before[name] = state.catalog.get(name)
            state.put(name, digest(whole.observations))
            if llm is not None:
                changed.append(state.record(name))
            sessions_changed = True
    if not affected and not rebuild:
        say("Nothing new to compile.")
        if leftovers:
            result.commit = _commit_leftovers(repo, project.wiki_dir, leftovers, [], [],
                                              "Finish an interrupted compile")
        _index(project, reindex, [], result, rebuild=False)
        if not project.context_file.exists() and state.catalog:
            write_atomic(project.context_file, build_context(
                project.name, _context_records(state, _ordered(state.catalog)),
                state=_memory(project, state), budget=budget))
        journal.end()
        return result
    say(f"Compiling {len(affected)} log(s), {result.observations} new observation(s)...")
    records = _ordered(state.catalog)  # summaries; full records only for the pages below
    position = {r.session_id: i for i, r in enumerate(records)}
    log_of = {d["session_id"]: name for name, d in state.catalog.items()}
    memory = _memory(project, state)

    # 2b. Optional LLM consolidation of the sessions that changed. Its accepted answers are
    #     raw-log records, so the pages below (and any rebuild) render them without calls.
    if llm is not None and changed:
        titles = [r.title for r in records] + [i.title for i in memory.items.values()]
        report = llm_consolidate(project, changed, titles, llm, client=client)
        result.llm = report.to_dict()
        if report.skipped:
            first = report.skipped[0]
            say(f"LLM consolidation skipped for {len(report.skipped)} session(s): "
                f"{first['kind']} ({first['reason']}); the rule-based pages stand.")
        llm_log = project.raw_dir / llm_module.LOG_NAME
        if llm_log.exists():
            state.offsets[llm_log.name] = llm_log.stat().st_size
    consolidated = llm_module.fold(llm_module.llm_observations(project))

    def full(summary: SessionSummary) -> SessionRecord:
        rec = state.record(log_of[summary.session_id])
        rec.summary = summary.summary
        return rec

    if consolidated.summaries:
        records = [r._replace(summary=consolidated.summaries.get(r.session_id) or r.summary)
                   for r in records]

    # 3. Render affected pages in memory: the sessions, the session after each (its
    #    "previous" link may have changed), sessions a `forget` retracted, their months,
    #    every structured page, and the aggregates.
    to_render: set[int] = set()
    for name in affected:
        rec = state.catalog.get(name)
        if rec is None:
            continue
        i = position[rec["session_id"]]
        to_render.update({i, i + 1} if i + 1 < len(records) else {i})
    to_render.update(i for i, r in enumerate(records) if r.page_path in memory.retracted)
    # A session whose earliest event arrived late starts earlier now: it may have moved in
    # the order (the session that came after it links to it as "previous"), to another
    # month and, across midnight, to another page name. Its old page goes (through the gate).
    moved = {name: old for name, old in before.items() if old is not None
             and (old["started"], old["stem"]) != (state.catalog[name]["started"],
                                                   state.catalog[name]["stem"])}
    old_months: set[str] = set()
    gone: list[str] = []
    if moved and not rebuild:
        to_render.update(position[sid] for sid in _old_successors(state.catalog, before, moved)
                         if sid in position)
        old_months = {old["started"][:7] for old in moved.values()}
        gone = [rel for name, old in sorted(moved.items())
                if old["stem"] != state.catalog[name]["stem"]
                for rel in (session_page_path(old["stem"]), f"sessions/{old['stem']}.machine.md")]
    if rebuild:
        to_render = set(range(len(records)))
    pages: list[Page] = []
    for i in sorted(to_render):
        rec = full(records[i])
        pages.append(session_page(rec, records[i - 1] if i > 0 else None,
                                  memory.retracted.get(rec.page_path)))
        if sessions_changed or rebuild:
            result.sessions.append(rec.session_id)
    months = None if rebuild else {records[i].date[:7] for i in to_render} | old_months
    timeline = month_pages(records, months)
    pages += timeline
    # A month whose only session moved out of it has no page any more.
    gone += sorted({f"timeline/{m}.md" for m in old_months} - {p.path for p in timeline})
    stems = {r.session_id: r.stem for r in records}
    structured, kept = _structured_pages(project.wiki_dir, memory, stems, state)
    pages += structured
    pages += topic_pages(consolidated.topics, stems)
    # bootstrap: the repository's pages, a pure function of the bootstrap log, rendered when
    # it has new observations (or on a rebuild).
    bootstrap_new = affected.get(repo_record.LOG_NAME)
    if rebuild or bootstrap_new or affected.get(llm_module.LOG_NAME):
        pages += repo_pages.pages(project, partial(llm_module.recorded_overview, project))
    pages.append(index_page(project.name, records, memory, repo_pages.index_links(project)))
    block = build_context(project.name, records[:-1] + [full(r) for r in records[-1:]],
                          state=memory, budget=budget)
    pages.append(context_page(block, budget, records))

    # 4. Write through the one gate; offer new material for human-edited pages beside them;
    #    drop machine pages a rebuild no longer produces.
    by_path = {p.path: p for p in pages}
    journal.note(by_path)
    written = write_pages(project.wiki_dir, pages, memo=state.rendered, kept=kept)
    result.written, result.human_edited = written.written, written.human_edited
    result.refused = written.refused
    offers = [offer for rel in result.human_edited
              if (offer := _offer(project.wiki_dir, by_path[rel], state))]
    if offers:
        journal.note(p.path for p in offers)
        more = write_pages(project.wiki_dir, offers)
        result.written += more.written
        result.refused = sorted(result.refused + more.refused)
    if result.refused:
        _report_refused(project, result.refused)
    if rebuild:
        produced = set(by_path) | set(kept) | {p.path for p in offers}
        gone = [rel for rel in wiki_pages(project.wiki_dir) if rel not in produced]
    gone = [rel for rel in gone if rel not in by_path]
    if gone:
        journal.note(gone)
        result.removed += remove_pages(project.wiki_dir, gone).written
        for rel in result.removed:
            state.offered.pop(rel, None)
    folders = {rel.rpartition("/")[0] for rel in [*by_path, *memory.items]}
    result.broken_links = _broken_links(project.wiki_dir, result.written,
                                        {**by_path, **{p.path: p for p in offers}},
                                        folders | {"sessions", "timeline"})

    # 5. Commit, 6. index, 7. context for the hook, 8. state.
    if result.written or result.removed or leftovers:
        faults.point("before-commit")
        message = _message(records, memory, result, rebuild,
                           repo_pages.commit_subject(bootstrap_new))
        result.commit = _commit_leftovers(repo, project.wiki_dir, leftovers, result.written,
                                          result.removed, message)
        faults.point("after-commit")
    # The pages whose files now hold exactly their rendering are indexed from memory.
    rendered = {rel: by_path[rel] for rel in (*result.written, *written.unchanged)
                if rel in by_path}
    _index(project, reindex + result.written, result.removed, result, rebuild=rebuild,
           pages=rendered)
    write_atomic(project.context_file, block)
    faults.point("before-state-save")
    state.save()
    journal.end()
    say(
        f"Wrote {len(result.written)} page(s)"
        + (f", commit {result.commit[:10]}" if result.commit else ", no commit needed")
        + "."
    )
    return result


class Journal:
    """`state/compile.journal`: written when a compile starts, removed when it has finished.

    It names every page the compile may write or remove, so the compile after a crash knows
    which uncommitted files are the machine's (not a person's edits), which pages to reindex,
    and that git lock files newer than the journal were left by the dead compiler.
    """

    def __init__(self, project: Project):
        self.path = project.state_dir / "compile.journal"
        self.crashed_at: float | None = None  # when the interrupted compile started
        self._pages: set[str] = set()

    def begin(self) -> set[str]:
        """Start this compile's journal; returns the pages an interrupted compile named."""
        left: set[str] = set()
        try:
            self.crashed_at = self.path.stat().st_mtime
            data = json.loads(self.path.read_text(encoding="utf-8"))
            left = {p for p in data.get("pages", []) if isinstance(p, str)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError):
            pass  # unreadable: the stale-lock cleanup still applies; pages are rewritten
        self._pages = set(left)
        self._save()
        faults.point("compile-start")
        return left

    def note(self, paths) -> None:
        """Record pages about to be written or removed (before touching them)."""
        new = set(paths) - self._pages
        if new:
            self._pages |= new
            self._save()

    def end(self) -> None:
        self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        write_atomic(self.path, json.dumps({"pid": os.getpid(), "pages": sorted(self._pages)},
                                           separators=(",", ":")))


def _report_refused(project: Project, refused: list[str]) -> None:
    """Say in the error log which pages were not written, and which links hid them."""
    seen: dict[str, bool] = {}
    links = sorted({linked_part(project.wiki_dir, rel, seen) or rel for rel in refused})
    log_error(project.error_log,
              f"not written: {len(refused)} page(s) behind a symbolic link in the wiki "
              f"({', '.join(refused[:5])}{', ...' if len(refused) > 5 else ''}). wikimem "
              "does not write through links in its home: remove "
              + ", ".join(str(project.wiki_dir / link) for link in links[:5])
              + " and compile again.", stage="compile")


def _leftovers(wiki_dir: Path, interrupted: set[str]) -> set[str]:
    """Pages an interrupted compile named that hold machine text (or are gone): not a
    person's edits, whatever `git status` says. Pages behind a symbolic link are not the
    machine's to commit (it never writes through one)."""
    found = set()
    seen: dict[str, bool] = {}
    for rel in interrupted:
        if linked_part(wiki_dir, rel, seen):
            continue
        try:
            text = (wiki_dir / rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            found.add(rel)
            continue
        except (OSError, UnicodeError):
            continue
        if is_machine_page(text):
            found.add(rel)
    return found


def _commit_leftovers(repo, wiki_dir: Path, leftovers: set[str], written: list[str],
                      removed: list[str], message: str) -> str | None:
    """The machine commit, including what an interrupted compile left uncommitted."""
    gone = {rel for rel in leftovers if not (wiki_dir / rel).exists()}
    paths = sorted(set(written) | (leftovers - gone))
    return gitrepo.commit(repo, paths, message, removed=sorted(set(removed) | gone))


def _old_successors(catalog: dict[str, dict], before: dict[str, dict | None],
                    moved: dict[str, dict]) -> set[str]:
    """The sessions that came right after each moved session before this compile (their
    pages' "previous" link named it)."""
    # The order the last compile rendered: the sessions it knew, where they were then.
    then = [d for name, d in catalog.items() if name not in before]
    then += [old for old in before.values() if old is not None]
    order = sorted((d["started"], d["session_id"]) for d in then)
    found = set()
    for old in moved.values():
        at = bisect.bisect_right(order, (old["started"], old["session_id"]))
        if at < len(order):
            found.add(order[at][1])
    return found


def _system_log(name: str) -> bool:
    """Raw logs wikimem itself writes (structured memory, bootstrap, LLM): not sessions."""
    return is_memory_log(name) or repo_record.is_bootstrap_log(name) or \
        name == llm_module.LOG_NAME


def _memory(project: Project, state: State) -> MemoryState:
    """Structured memory: the memory log folded, with candidates lifted from every session."""
    candidates = [c for _, d in sorted(state.catalog.items()) for c in d.get("candidates", [])]
    # bootstrap: decisions from the repository (ADRs, decision-stating commits) are folded
    # in before the memory log's own observations, so accept/forget apply to them too.
    return repo_decisions.memory_state(project, memory_observations(project), candidates)


def _structured_pages(wiki_dir: Path, memory: MemoryState, stems: dict[str, str],
                      state: State) -> tuple[list[Page], list[str]]:
    """The pages of structured memory and its hubs that need rendering, and those that don't.

    They are a pure function of the folded items, the stems of the sessions they cite and
    the renderer. When those are what the last compile rendered (`state.structured`), a page
    whose file still holds the bytes written then (`_holds`) is kept as it is, without
    rendering it: ten thousand sessions' memory is over a thousand pages, and nearly every
    compile leaves all of them as they were. A page a person edited or deleted is rendered
    as usual.
    """
    key = _structured_key(memory, stems)
    kept: list[str] = []
    if key == state.structured:
        now = time.time_ns()
        for path in [*memory.items, *(path for path, _, _ in HUBS.values())]:
            entry = state.rendered.get(path)
            if entry and _holds(wiki_dir / path, entry, now):
                kept.append(path)
    state.structured = key
    skip = set(kept)
    pages = [memory_page(item, memory, stems) for path, item in sorted(memory.items.items())
             if path not in skip]
    if len(skip) < len(memory.items) + len(HUBS):
        pages += [page for page in hub_pages(memory) if page.path not in skip]
    return pages, kept


# A file's size and mtime stand for its bytes once the mtime is this much older than when the
# bytes were last read and found right (a later write gets a later mtime, even on filesystems
# that keep whole seconds or two).
_SETTLED_NS = 3_000_000_000


def _holds(file: Path, entry: list, now: int) -> bool:
    """True when `file` holds the bytes of its render-memo entry ([fingerprint, sha256,
    size, mtime_ns, when they were checked]).

    As git does for its index: the size and mtime are trusted when the mtime had settled
    before the bytes were last checked; otherwise the file is read and hashed, and on a match
    its size and mtime are recorded in the entry for the next compile.
    """
    try:
        st = os.stat(file)  # before reading: a write after this shows in the next stat
    except OSError:
        return False
    if len(entry) == 5 and entry[2] == st.st_size and entry[3] == st.st_mtime_ns \
            and entry[3] < entry[4] - _SETTLED_NS:
        return True
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return False
    if text_sha256(text) != entry[1]:
        return False
    entry[2:] = [st.st_size, st.st_mtime_ns, now]
    return True


def _structured_key(memory: MemoryState, stems: dict[str, str]) -> str:
    cited = sorted({s.removeprefix("session:") for item in memory.items.values()
                    for s in item.sources if s.startswith("session:")})
    data = repr((RENDER_IDENTITY, renderer_identity(), sorted(memory.items.items()),
                 [(sid, stems.get(sid)) for sid in cited]))
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def _index(project, changed, removed, result: CompileResult, *, rebuild: bool,
           pages: dict[str, Page] | None = None) -> None:
    from wikimem.search.index import SearchIndex
    from wikimem.search.store import MARKER

    index = SearchIndex(project.index_dir, project.wiki_dir)
    if rebuild:
        index.rebuild(pages)
    elif (changed or removed) and not (project.index_dir / MARKER).exists():
        # No index yet (a first compile): build it from the pages now. `update` would read
        # every changed page first, then find no index and rebuild from the pages anyway.
        index.rebuild(pages)
        result.index_rebuilt = True
        return
    elif changed or removed:
        index.update(sorted({p for p in changed if p.endswith(".md")}), removed, pages)
    result.index_rebuilt = index.rebuilt


def _offer(wiki_dir: Path, page: Page, state: State) -> Page | None:
    """The machine's new version of a page a person edited, as `<stem>.machine.md` beside it.

    Offered once per distinct version: deleting the side page after merging it is final
    until the machine has something new again.
    """
    text = page.render()
    new_hash = recorded_hash(text)
    human = (wiki_dir / page.path).read_text(encoding="utf-8")
    if new_hash == recorded_hash(human) or state.offered.get(page.path) == new_hash:
        return None
    state.offered[page.path] = new_hash
    stem = page.path.removesuffix(".md")
    note = (f"> [!note] wikimem has new material for [[{stem.rsplit('/', 1)[-1]}]], which a "
            "person edited, so it was not overwritten. Merge what you want from below into "
            "that page, then delete this file.\n\n")
    meta = {**page.meta, "status": "proposed",
            "tags": [*page.meta.get("tags", []), "machine-update"], "aliases": None}
    return Page(f"{stem}.machine.md", meta, note + page.body)


def _ordered(catalog: dict[str, dict]) -> list[SessionSummary]:
    """The sessions' summaries, oldest first."""
    make = SessionSummary._make
    return sorted((make(_summary_fields(d)) for d in catalog.values()), key=_chronological)


def _context_records(state: State, summaries: list[SessionSummary]) -> list:
    """What build_context reads: the summaries, the last session's full record."""
    if not summaries:
        return []
    last = summaries[-1]
    name = next(n for n, d in state.catalog.items() if d["session_id"] == last.session_id)
    return summaries[:-1] + [state.record(name)]


def _broken_links(wiki_dir: Path, written: list[str], pages: dict[str, Page] | None = None,
                  folders: set[str] = frozenset()) -> dict[str, list[str]]:
    """Links on the pages just written that point at no page in the wiki.

    Exactly what parsing every written page with mistune and resolving its links against a
    listing of the whole wiki gives, without doing either for most compiles: a regular
    expression finds every `[[...]]` on a page (mistune's links are a subset: it leaves out
    those in code), and a target resolves when a page by that name exists at its own path or
    in one of `folders` (where the compiler puts pages). Only a target that is found neither
    way costs a listing of the wiki, and only a page with such a target a mistune parse.
    (A compile writing many pages lists the wiki at once.) A page in `pages` is read from
    memory, not from its file.
    """
    if not written:
        return {}
    pages = pages or {}
    real_dirs: dict[str, bool] = {}
    order = ["", *sorted(folders)]  # the folder that held the last target is tried first
    listing: tuple[set[str], set[str]] | None = None
    broken: dict[str, list[str]] = {}

    def exists(target: str) -> bool:
        name = _link_name(target)
        if not name or name.startswith("."):
            return False
        path = target.strip().replace("\\", "/").rstrip("/")
        path = path[:-3] if path.lower().endswith(".md") else path
        own = [path.rpartition("/")[0]] if "/" in path else []
        for folder in own + order:
            if _is_listed_dir(wiki_dir, folder, real_dirs) and \
                    os.path.isfile(wiki_dir / f"{folder}/{name}.md".lstrip("/")):
                if folder in order and order[0] != folder:
                    order.remove(folder)
                    order.insert(0, folder)
                return True
        return False

    def resolves(target: str) -> bool:
        nonlocal listing
        if listing is None:
            listed = wiki_pages(wiki_dir)
            listing = ({link_key(rel) for rel in listed}, {rel[:-3] for rel in listed})
        return link_key(target) in listing[0] or target in listing[1]

    many = len(written) >= _LIST_FROM  # then one listing costs less than a look per link
    for rel in sorted(written):
        # The body as read_page returns it: frontmatter strips the text after the fence.
        body = pages[rel].body.strip() if rel in pages else read_page(wiki_dir / rel)[1]
        if all(resolves(t) if many else exists(t) or resolves(t) for t in _link_targets(body)):
            continue
        missing = [t for t in parse(body).links if not resolves(t)]
        if missing:
            broken[rel] = missing
    return broken


_WIKILINK = re.compile(WIKILINK_PATTERN)
_LIST_FROM = 100


def _link_targets(body: str) -> list[str]:
    """Every wikilink target the text could hold, as markdown.parse reads one (a superset of
    its links: this also counts links inside code)."""
    targets = []
    for m in _WIKILINK.finditer(body):
        inner = m.group("wl_inner").replace("\\|", "|")
        target = inner.partition("|")[0].partition("#")[0].strip()
        if target and not (m.group(0).startswith("!") and _is_attachment(target)):
            targets.append(target)
    return targets


def _link_name(target: str) -> str:
    """The file name (without `.md`) a link target resolves by, in its own case."""
    name = target.strip().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].strip()
    return (name[:-3] if name.lower().endswith(".md") else name).strip()


def _is_listed_dir(wiki_dir: Path, folder: str, cache: dict[str, bool]) -> bool:
    """True when wiki_pages lists the pages in `folder`: a real folder (not a link to one),
    not hidden, with no hidden or linked folder above it."""
    if folder not in cache:
        ok = True
        if folder:
            parts = folder.split("/")
            ok = all(p and not p.startswith(".") and p not in (".", "..") for p in parts)
            for i in range(len(parts)):
                if not ok:
                    break
                sub = wiki_dir.joinpath(*parts[:i + 1])
                ok = sub.is_dir() and not sub.is_symlink()
        cache[folder] = ok
    return cache[folder]


def _message(records: list[SessionRecord], memory: MemoryState, result: CompileResult,
             rebuild: bool, bootstrap: str | None = None) -> str:
    by_id = {r.session_id: r for r in records}
    sessions = [by_id[s] for s in dict.fromkeys(result.sessions) if s in by_id]
    structured = sorted({p.split("/", 1)[0] for p in result.written
                         if p in memory.items})
    if rebuild:
        subject = f"Rebuild wiki from the raw log ({len(records)} sessions)"
    elif len(sessions) == 1:
        subject = f"Compile session {sessions[0].date}: {sessions[0].title}"
    elif sessions:
        subject = f"Compile {len(sessions)} sessions"
    elif bootstrap:  # bootstrap: `wikimem bootstrap` recorded new repository facts
        subject = bootstrap
    elif structured:
        subject = "Update " + ", ".join(structured)
    else:
        subject = "Update derived pages"
    lines = [subject, ""]
    lines += [f"- {r.date} {r.title}" for r in sessions[:20]]
    if len(sessions) > 20:
        lines.append(f"- ... and {len(sessions) - 20} more")
    lines += [f"- {memory.items[p].id} {memory.items[p].title} ({memory.items[p].status})"
              for p in result.written if p in memory.items][:20]
    lines += ["", f"Pages-Written: {len(result.written)}"]
    lines += [f"Session-Id: {r.session_id}" for r in sessions[:50]]
    return "\n".join(lines)


def _merge(into: CompileResult, more: CompileResult) -> CompileResult:
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
    return _memory(project, State(project).load())


def build_project_context(project: Project, budget: int) -> str:
    """The session-start block built now, for a budget other than the compiled one."""
    state = State(project).load()
    return build_context(project.name, _context_records(state, _ordered(state.catalog)),
                         state=_memory(project, state), budget=budget)


def plan_llm(project: Project, settings: LLMSettings) -> list:
    """The requests LLM consolidation would send now (nothing is sent or written)."""
    state = State(project).load()
    changed = []
    for path in rawlog.session_files(project.raw_dir):
        if _system_log(path.name):
            continue
        if path.stat().st_size > state.offsets.get(path.name, 0) or path.name in state.catalog:
            whole = rawlog.read(path)
            if whole.observations:
                changed.append(digest(whole.observations))
    memory = _memory(project, state)
    titles = [r.title for r in changed] + [i.title for i in memory.items.values()]
    return llm_consolidate(project, changed, titles, settings, dry_run=True).requests
