"""Compile: the orchestrator that reads like the pipeline.

read new observations -> digest the affected sessions -> render every affected page in memory
-> write (one gate, never over a human edit) -> commit -> update the index -> precompute the
session-start context -> save state.

One compiler runs per project at a time (`state/compile.lock`). A compile started while
another runs leaves `state/compile.pending` and returns; the running one loops once more, so
work started by several hooks at once coalesces instead of running twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wikimem import gitrepo, rawlog
from wikimem.context import DEFAULT_BUDGET, build_context
from wikimem.errors import WikimemError
from wikimem.locks import locked
from wikimem.markdown import parse, resolve_links
from wikimem.pages import Page, is_machine_page, read_page, wiki_pages, write_pages
from wikimem.project import Project
from wikimem.render import context_page, index_page, month_pages, session_page
from wikimem.sessions import SessionRecord, digest

STATE_VERSION = 1


@dataclass
class CompileResult:
    """What one compile did."""

    sessions: list[str] = field(default_factory=list)  # session ids (re)compiled
    observations: int = 0  # new observations read
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    human_edited: list[str] = field(default_factory=list)  # pages left alone
    human_commit: str | None = None
    commit: str | None = None
    bad_lines: dict[str, list[int]] = field(default_factory=dict)
    broken_links: dict[str, list[str]] = field(default_factory=dict)
    index_rebuilt: bool = False
    busy: bool = False  # another compile was running; it will pick this work up

    def to_dict(self) -> dict:
        return asdict(self)


class State:
    """`state/compile.json` (how far each raw file was compiled) and `state/sessions.json`."""

    def __init__(self, project: Project):
        self.path = project.state_dir / "compile.json"
        self.catalog_path = project.state_dir / "sessions.json"
        self.offsets: dict[str, int] = {}
        self.catalog: dict[str, dict] = {}  # raw file name -> SessionRecord dict

    def load(self) -> State:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            catalog = json.loads(self.catalog_path.read_text(encoding="utf-8"))
            if data.get("version") == STATE_VERSION and isinstance(catalog, dict):
                self.offsets = {str(k): int(v) for k, v in data.get("offsets", {}).items()}
                self.catalog = catalog
        except (OSError, ValueError, TypeError, AttributeError):
            # Missing or damaged state is a cache miss: the next compile reads everything.
            self.offsets, self.catalog = {}, {}
        return self

    def save(self) -> None:
        _atomic_write(self.catalog_path, json.dumps(self.catalog, sort_keys=True, indent=1))
        _atomic_write(
            self.path, json.dumps({"version": STATE_VERSION, "offsets": self.offsets}, indent=1)
        )


def compile_project(
    project: Project,
    *,
    rebuild: bool = False,
    wait: bool = True,
    budget: int = DEFAULT_BUDGET,
    progress: Callable[[str], None] | None = None,
) -> CompileResult:
    """Compile new observations of a project into its wiki (all of them with `rebuild`)."""
    project.ensure_dirs()
    pending = project.state_dir / "compile.pending"
    with locked(project.state_dir / "compile.lock", blocking=wait) as got:
        if not got:
            pending.touch()
            return CompileResult(busy=True)
        result = _compile_locked(project, rebuild=rebuild, budget=budget, progress=progress)
        while pending.exists():
            pending.unlink(missing_ok=True)
            more = _compile_locked(project, rebuild=False, budget=budget, progress=progress)
            _merge(result, more)
        return result


def _compile_locked(project, *, rebuild, budget, progress) -> CompileResult:
    say = progress or (lambda _msg: None)
    result = CompileResult()
    state = State(project) if rebuild else State(project).load()
    repo = gitrepo.open_repo(project.wiki_dir)
    result.human_commit = gitrepo.commit_human_edits(repo)

    # 1. Read what is new in the raw log.
    affected: dict[str, list] = {}
    for path in rawlog.session_files(project.raw_dir):
        start = state.offsets.get(path.name, 0)
        if not rebuild and path.stat().st_size <= start:
            continue
        new = rawlog.read(path, start)
        if new.bad_lines:
            result.bad_lines[path.name] = new.bad_lines
        state.offsets[path.name] = new.end_offset
        if new.observations or rebuild:
            affected[path.name] = new.observations
            result.observations += len(new.observations)
    if not affected and not rebuild:
        say("Nothing new to compile.")
        if not project.context_file.exists() and state.catalog:
            _atomic_write(project.context_file, build_context(
                project.name, _ordered(state.catalog), budget=budget))
        return result
    say(f"Compiling {len(affected)} session(s), {result.observations} new observation(s)...")

    # 2. Digest every affected session from its whole log (a session page is a function of
    #    all its observations, so incremental and rebuild give the same record).
    for name in sorted(affected):
        whole = rawlog.read(project.raw_dir / name)
        if whole.observations:
            state.catalog[name] = digest(whole.observations).to_dict()
    records = _ordered(state.catalog)
    position = {r.session_id: i for i, r in enumerate(records)}

    # 3. Render affected pages in memory: the sessions, the session after each (its
    #    "previous" link may have changed), their months, and the aggregates.
    to_render: set[int] = set()
    for name in affected:
        rec = state.catalog.get(name)
        if rec is None:
            continue
        i = position[rec["session_id"]]
        to_render.update({i, i + 1} if i + 1 < len(records) else {i})
    if rebuild:
        to_render = set(range(len(records)))
    pages: list[Page] = []
    for i in sorted(to_render):
        pages.append(session_page(records[i], records[i - 1] if i > 0 else None))
        result.sessions.append(records[i].session_id)
    months = None if rebuild else {records[i].date[:7] for i in to_render}
    pages += month_pages(records, months)
    pages.append(index_page(project.name, records))
    block = build_context(project.name, records, budget=budget)
    pages.append(context_page(block, budget, records))

    # 4. Write through the one gate, then drop machine pages a rebuild no longer produces.
    written = write_pages(project.wiki_dir, pages)
    result.written, result.human_edited = written.written, written.human_edited
    if rebuild:
        produced = {p.path for p in pages}
        for rel in wiki_pages(project.wiki_dir):
            target = project.wiki_dir / rel
            if rel not in produced and is_machine_page(target.read_text(encoding="utf-8")):
                target.unlink()
                result.removed.append(rel)
    result.broken_links = _broken_links(project.wiki_dir, result.written)

    # 5. Commit, 6. index, 7. context for the hook, 8. state.
    if result.written or result.removed:
        result.commit = gitrepo.commit(
            repo, result.written, _message(records, result, rebuild), removed=result.removed
        )
    from wikimem.index import SearchIndex

    index = SearchIndex(project.index_dir, project.wiki_dir)
    if rebuild:
        index.rebuild()
    else:
        index.update(result.written, result.removed)
    result.index_rebuilt = index.rebuilt
    _atomic_write(project.context_file, block)
    state.save()
    say(
        f"Wrote {len(result.written)} page(s)"
        + (f", commit {result.commit[:10]}" if result.commit else ", no commit needed")
        + "."
    )
    return result


def _named(catalog: dict[str, dict]):
    for name, d in catalog.items():
        yield name, SessionRecord.from_dict(d)


def _ordered(catalog: dict[str, dict]) -> list[SessionRecord]:
    records = [r for _, r in _named(catalog)]
    return sorted(records, key=lambda r: (r.started, r.session_id))


def _broken_links(wiki_dir: Path, written: list[str]) -> dict[str, list[str]]:
    """Links on the pages just written that point at no page in the wiki."""
    if not written:
        return {}
    fresh = set(written)
    empty = parse("")
    parsed = {
        rel: parse(read_page(wiki_dir / rel)[1]) if rel in fresh else empty
        for rel in wiki_pages(wiki_dir)
    }
    return resolve_links(parsed)


def _message(records: list[SessionRecord], result: CompileResult, rebuild: bool) -> str:
    by_id = {r.session_id: r for r in records}
    sessions = [by_id[s] for s in dict.fromkeys(result.sessions) if s in by_id]
    if rebuild:
        subject = f"Rebuild wiki from the raw log ({len(records)} sessions)"
    elif len(sessions) == 1:
        subject = f"Compile session {sessions[0].date}: {sessions[0].title}"
    else:
        subject = f"Compile {len(sessions)} sessions"
    lines = [subject, ""]
    lines += [f"- {r.date} {r.title}" for r in sessions[:20]]
    if len(sessions) > 20:
        lines.append(f"- ... and {len(sessions) - 20} more")
    lines += ["", f"Pages-Written: {len(result.written)}"]
    lines += [f"Session-Id: {r.session_id}" for r in sessions[:50]]
    return "\n".join(lines)


def _merge(into: CompileResult, more: CompileResult) -> None:
    into.sessions += more.sessions
    into.observations += more.observations
    into.written = sorted(set(into.written) | set(more.written))
    into.human_edited = sorted(set(into.human_edited) | set(more.human_edited))
    into.commit = more.commit or into.commit
    into.bad_lines.update(more.bad_lines)
    into.broken_links.update(more.broken_links)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def ensure_compiled_context(project: Project) -> str:
    """The precomputed context block (empty when nothing was compiled yet)."""
    try:
        return project.context_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise WikimemError(f"Cannot read {project.context_file}: {exc}") from exc
