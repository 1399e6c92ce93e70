"""`wikimem purge`: remove a session, a literal secret or a whole project from every store.

For the day a secret got through anyway.  The raw log is otherwise immutable and the wiki is
versioned, so removing something means rewriting both: this is the one place that decides to.

    purge_session(project, SESSION)  the session's raw log, its page, what other pages said
                                     of it, its lines in the LLM log, its derived state
    purge_secret(project, VALUE)     every occurrence of a literal string and of every form
                                     the pipeline derives from it (`forms`: its slug in page
                                     names, HTML- and markdown-escaped, JSON-escaped, cut...),
                                     replaced by [REDACTED:purged] (`purged` in a name)
    purge_project(project)           the project's whole folder and its registry entry

Each (but the last, which deletes everything) runs under the compile lock: count what is
there -> scrub the raw log and state -> scrub, rename and commit what a person wrote ->
recompile every page from what is left (`compile --rebuild`: page names are derived again
from the scrubbed log, byte-identical for everything else) -> rewrite the git history
(`git fast-export | filter | git fast-import`: for a secret, every blob, path and message has
it replaced; for a session, a file version that mentions the session is left out, so the
file keeps its previous version in that commit) -> expire reflogs and prune every
unreachable object -> rebuild the index from scratch -> count what is left in every store.
Commit hashes change: clones and backups of the wiki keep their own copy.

A composition root: it decides what goes, and each store's owner removes it: `capture.rawlog`
the raw log (`rewrite_logs`, `remove_session`), the page gate (`wiki.pages.remove_pages`,
`rewrite_files`) the pages, `wiki.gitrepo` the history (`rewrite_history`,
`drop_unreachable`), compile the derived pages, search the index.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from wikimem.capture import rawlog
from wikimem.compile.llm_ledger import Queue
from wikimem.compile.sessions import page_path as session_page_path
from wikimem.errors import WikimemError
from wikimem.fsio import replace_file
from wikimem.locks import locked
from wikimem.project import Project, Registry, check_no_links
from wikimem.purge.forms import MIN_VALUE, PIECE, PURGED, Forms, slug_of
from wikimem.wiki import gitrepo, pages

STORES = ("raw log", "state", "pages", "git objects", "git files", "index")


@dataclass
class PurgeReport:
    """What a purge found, removed and changed, and what is left.

    `found` (before) and `remaining` (after: what it could not remove) count occurrences of
    the value and its derived forms by store, file names included; `partial` counts pieces of
    its start or end found elsewhere after it (maybe the value cut where no marker says so,
    maybe other text: not removed); `not_searched` names forms too short to look for."""

    what: str
    raw_files_removed: list[str] = field(default_factory=list)
    files_scrubbed: list[str] = field(default_factory=list)  # raw/ and state/ files rewritten
    pages_written: int = 0
    pages_removed: list[str] = field(default_factory=list)
    files_moved: dict[str, str] = field(default_factory=dict)  # a person's files renamed
    commits_rewritten: int = 0
    found: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    partial: dict[str, int] = field(default_factory=dict)
    not_searched: list[str] = field(default_factory=list)
    remote: str | None = None  # team memory: "rewritten <commit>", or why it was not

    @property
    def removed(self) -> dict[str, int]:
        return {k: max(n - self.remaining.get(k, 0), 0) for k, n in self.found.items()}

    def to_dict(self) -> dict:
        return {"what": self.what, "raw_files_removed": self.raw_files_removed,
                "files_scrubbed": self.files_scrubbed, "pages_written": self.pages_written,
                "pages_removed": self.pages_removed, "files_moved": self.files_moved,
                "commits_rewritten": self.commits_rewritten, "found": self.found,
                "removed": self.removed, "remaining": self.remaining,
                "partial": self.partial, "not_searched": self.not_searched,
                "remote": self.remote}


def occurrences(project: Project, forms: Forms) -> tuple[dict[str, int], dict[str, int]]:
    """(occurrences, partial pieces) of the forms in each store of the project, counted in
    every file's bytes and in its name: the raw log (keys files too), state, the index, the
    wiki's work tree, its git objects (reachable or not: trees hold file names) and the
    repository's other files (reflogs, its index, refs)."""
    counts = dict.fromkeys(STORES, 0)
    partial = dict.fromkeys(STORES, 0)

    def add(store: str, name: str, data: bytes) -> None:
        whole = forms.count(data, index=True) if store == "index" else \
            forms.count_file(name, data)
        for found, part in (whole, forms.count(name.encode("utf-8", "surrogateescape"))):
            counts[store] += found
            partial[store] += part

    home = project.dir
    for path in _files(home):
        rel = path.relative_to(home)
        top = rel.parts[0]
        if top == "wiki":
            continue
        store = {"raw": "raw log", "index": "index"}.get(top, "state")
        add(store, rel.as_posix(), path.read_bytes())
    wiki = project.wiki_dir
    for path in _files(wiki):
        rel = path.relative_to(wiki)
        if rel.parts[0] != ".git":
            add("pages", rel.as_posix(), path.read_bytes())
        elif rel.parts[:2] != (".git", "objects"):  # reflogs, COMMIT_EDITMSG, index, refs
            add("git files", rel.as_posix(), path.read_bytes())
    if (wiki / ".git").exists():
        found, part = forms.count(gitrepo.all_objects(gitrepo.open_repo(wiki)))
        counts["git objects"] += found
        partial["git objects"] += part
    return counts, partial


def _wiki_files(project: Project) -> list[str]:
    """The wiki's files (not its .git), relative, with `/`."""
    wiki = project.wiki_dir
    return [p.relative_to(wiki).as_posix() for p in _files(wiki)
            if ".git" not in p.relative_to(wiki).parts]


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# --------------------------------------------------------------------------------------------
# --secret
# --------------------------------------------------------------------------------------------


def purge_secret(project: Project, value: str, *, compile_settings: dict | None = None,
                 share: bool = True) -> PurgeReport:
    """Replace every occurrence of `value`, and of every form the pipeline derives from it,
    in every store by `[REDACTED:purged]` (`purged` in a name)."""
    if len(value) < MIN_VALUE or not value.strip():
        raise WikimemError(f"The value to purge must be at least {MIN_VALUE} characters (and "
                           "not blank): a shorter one would match ordinary text everywhere.")
    if value in PURGED or len(slug_of(value)) >= MIN_VALUE and \
            slug_of(value) in slug_of(PURGED):
        raise WikimemError(f"The value to purge may not be part of {PURGED}.")
    forms = Forms(value)
    report = PurgeReport(what="a secret value", not_searched=_not_searched(value))

    def name(rel: str) -> str:
        return forms.scrub_name(rel.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape")

    with _exclusive(project):
        repo = gitrepo.open_repo(project.wiki_dir)
        gitrepo.check_not_mid_operation(repo)  # (before anything changes: compile needs it)
        report.found, _ = occurrences(project, forms)
        changed = rawlog.rewrite_logs(project.raw_dir, forms.scrub_json)
        report.files_scrubbed += [f"raw/{n}" for n in changed]
        for path in _files(project.state_dir):
            if path.suffix != ".lock" and _rewrite(
                    path, lambda data, path=path: forms.scrub_file(path.name, data)):
                report.files_scrubbed.append(str(path.relative_to(project.dir)))
        # What a person wrote or edited (the compiler leaves it as it is): scrubbed, moved
        # where its name holds the value, and committed before the rebuild, which then finds
        # it at its new name as a person's page (and offers its own version beside it).
        theirs = [rel for rel in _wiki_files(project) if not _compiler_page(project, rel)]
        human = pages.rewrite_files(project.wiki_dir, theirs, forms.scrub, rename=name)
        moved = {rel: name(rel) for rel in theirs if name(rel) != rel and name(rel) in human}
        report.files_moved = moved
        if human:
            gitrepo.commit(repo, human, f"Purge a secret from {len(human)} file(s) a person "
                                        "edited", removed=sorted(moved))
        _recompile(project, report, compile_settings)
        report.commits_rewritten = gitrepo.rewrite_history(repo, forms.scrub, forms.scrub,
                                                           forms.scrub_name)
        gitrepo.drop_unreachable(repo)
        _reindex(project)
        report.remaining, report.partial = occurrences(project, forms)
    if share:  # (team memory: not when applying another machine's purge)
        _purge_remote(project, report, "secret", value,
                      lambda path, data: forms.scrub_file(path.rsplit("/", 1)[-1], data))
    return report


def _not_searched(value: str) -> list[str]:
    """The forms of a value too short to look for without matching other text."""
    out = []
    slug = slug_of(value)
    if 0 < len(slug) < MIN_VALUE:
        out.append(f"its slug in page names ({len(slug)} characters)")
    if len(value) <= PIECE:
        out.append(f"pieces of it where it was cut (it has {len(value)} characters; pieces "
                   f"of {PIECE} or more are searched)")
    else:
        out.append(f"pieces of fewer than {PIECE} characters where it was cut")
    return out


def _compiler_page(project: Project, rel: str) -> bool:
    """Whether a wiki file is a page exactly as the compiler wrote it."""
    if not rel.endswith(".md"):
        return False
    try:
        text = (project.wiki_dir / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return False
    return pages.is_machine_page(text)


# --------------------------------------------------------------------------------------------
# --session
# --------------------------------------------------------------------------------------------


def find_session(project: Project, ref: str) -> tuple[str, str | None, dict]:
    """(session id, raw file name or None, catalog entry) for a session id, page or stem."""
    try:
        catalog = json.loads((project.state_dir / "sessions.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        catalog = {}
    stem = ref.removeprefix("sessions/").removesuffix(".md")
    for name, entry in catalog.items():
        if ref == entry.get("session_id") or stem == entry.get("stem"):
            return entry["session_id"], name, entry
    name = rawlog.session_filename(ref) + ".jsonl"
    if (project.raw_dir / name).is_file():
        return ref, name, {}
    raise WikimemError(
        f"No session {ref!r} in project {project.name}. Give its id, its page "
        "(sessions/<date>-<id>.md) or the page's name; `wikimem search` finds it.")


def purge_session(project: Project, ref: str, *, compile_settings: dict | None = None,
                  share: bool = True) -> PurgeReport:
    """Remove one session from the raw log, the pages, the index and the git history."""
    session, name, entry = find_session(project, ref)
    if name and rawlog.session_filename(session) != name.removesuffix(".jsonl"):
        raise WikimemError(f"{name} is not a session log.")
    stem = entry.get("stem") or ""
    report = PurgeReport(what=f"session {session}")
    # What marks a page version as being about this session: its id, its page's name, and
    # its own distinctive texts (title, summary, lifted decisions...), which other pages
    # repeat without naming the session, in any form the pipeline gives them (escaped in a
    # page, slugified in a page name...).
    # (A short id such as `s1` would match ordinary text: it counts only as `session:s1`.)
    taint = [f"session:{session}", f"Session-Id: {session}", *([stem] if stem else []),
             *([session] if len(session) >= 8 else [])]
    texts = [entry.get("title", ""), entry.get("summary", "")]
    for c in entry.get("candidates", []) or []:
        if isinstance(c, dict):
            texts += [str(c.get("title", "")), str(c.get("text", ""))]
            taint.append(Path(str(c.get("page", ""))).stem or session)
    taint += [t for t in texts if len(t.strip()) >= 16]
    marks = Forms(*taint, pieces=False)

    def tainted(data: bytes) -> bool:
        return bool(marks.spans(data))

    kept = [session, f"session:{session}", *([stem] if stem else [])] \
        if len(session) >= 8 else [f"session:{session}"]
    left_of_it = Forms(*kept, pieces=False)

    with _exclusive(project):
        report.found, _ = occurrences(project, left_of_it)
        report.raw_files_removed += rawlog.remove_session(project.raw_dir, session)
        # Its consolidations in the LLM log, memory items citing it (`session:<id>`).
        ids = [f"session:{session}".encode(), json.dumps(f"session:{session}")[1:-1].encode(),
               json.dumps({"session": session}, separators=(",", ":"))[1:-1].encode()]
        changed = rawlog.rewrite_logs(project.raw_dir, lambda line: b"" if any(
            n in line for n in ids) else line)
        report.files_scrubbed += [f"raw/{n}" for n in changed]
        # Derived state: the compile below rebuilds records, catalog and context; the LLM
        # cache (answers by input hash) is dropped whole; logs lose the lines naming it.
        shutil.rmtree(project.state_dir / "llm-cache", ignore_errors=True)
        queue = Queue(project)  # and the queue of sessions owed consolidation forgets it
        queue.settle(session)
        queue.save()
        if name:
            (project.state_dir / "sessions" / (name[:-6] + ".json")).unlink(missing_ok=True)
        for path in _files(project.state_dir):
            # (uses.jsonl: decay's use log, whose lines name pages; its fold is redone)
            if (path.suffix == ".log" or path.name == "uses.jsonl") and _rewrite(
                    path, _line_dropper(tainted)):
                report.files_scrubbed.append(str(path.relative_to(project.dir)))
        (project.state_dir / "uses.json").unlink(missing_ok=True)
        _recompile(project, report, compile_settings)
        repo = gitrepo.open_repo(project.wiki_dir)
        left = [rel for rel in (session_page_path(stem), f"sessions/{stem}.machine.md")
                if stem and (project.wiki_dir / rel).exists()]
        # A copy a person edited: the compiler keeps those, purge does not.
        gone = pages.remove_pages(project.wiki_dir, left, edited_too=True).written
        report.pages_removed += [rel for rel in left if rel in gone]
        # Pages a person edited (the compiler left them as they were) lose the lines that
        # name the session: links to it, its title. Machine pages are as the rebuild made
        # them: what they still say of it comes from what is left (a later decision that
        # supersedes one lifted from the session names that page).
        edited = pages.rewrite_files(project.wiki_dir, [
            rel for rel in _wiki_files(project)
            if rel.endswith(".md") and not _compiler_page(project, rel)],
            _line_dropper(tainted))
        if left or edited:
            gitrepo.commit(repo, edited, "Purge a session from the pages a person edited",
                           removed=left)

        def message(data: bytes) -> bytes:
            if not tainted(data):
                return data
            lines = [line for line in data.split(b"\n") if not tainted(line)]
            if not lines or not lines[0].strip():
                lines = [b"Compile (the message named a purged session)", *lines]
            return b"\n".join(lines)

        keep = gitrepo.tree_blobs(repo)  # the versions now in the wiki stay, whatever

        def blob(data: bytes) -> bytes | None:
            return None if tainted(data) and gitrepo.blob_id(data) not in keep else data

        report.commits_rewritten = gitrepo.rewrite_history(repo, blob, message)
        gitrepo.drop_unreachable(repo)
        _reindex(project)
        report.remaining, report.partial = occurrences(project, left_of_it)
    dropped = f"/raw/{rawlog.session_filename(session)}.jsonl"

    def scrub(path: str, data: bytes) -> bytes | None:
        if path.endswith(dropped):
            return None
        if path.endswith(".jsonl"):
            return b"".join(line for line in data.splitlines(keepends=True)
                            if not any(n in line for n in ids))
        return data

    if share:
        _purge_remote(project, report, "session", session, scrub)
    return report


def _purge_remote(project: Project, report: PurgeReport, kind: str, what: str, scrub) -> None:
    """Team memory: the remote rewritten the same way, with a tombstone the other machines
    follow on their next sync (wikimem.sync.tombstones). The purge here stands either way;
    a failure is reported (and in doctor), never raised."""
    from wikimem.sync import exchange, settings, tombstones

    try:
        remote = settings.load(project)
        if remote is None:
            return
        stone = (tombstones.secret_tombstone if kind == "secret"
                 else tombstones.session_tombstone)(what, remote.machine)
        head = exchange.purge_remote(project, stone, scrub)
        report.remote = f"rewritten ({head[:10]})" if head else None
    except WikimemError as exc:
        report.remote = f"not rewritten: {exc}"


# --------------------------------------------------------------------------------------------
# --project
# --------------------------------------------------------------------------------------------


def purge_project(project: Project, registry: Registry | None = None) -> PurgeReport:
    """Delete the project's whole folder (raw log, wiki and its history, index, state) and
    its registry entry; the next event in its repository starts a new, empty project."""
    registry = registry or Registry()
    report = PurgeReport(what=f"project {project.workspace}/{project.name}")
    with locked(registry.home / "registry.lock"):
        data = registry.load()
        data["projects"].pop(project.project_id, None)
        registry._save(data)
    report.raw_files_removed = sorted(p.name for p in _files(project.raw_dir)
                                      if p.suffix == ".jsonl")
    if project.dir.exists():
        shutil.rmtree(project.dir)
    report.remaining = {"project folder": int(project.dir.exists())}
    return report


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


class _exclusive:
    """Hold the project's compile lock (no compile runs meanwhile)."""

    def __init__(self, project: Project):
        self.project = project
        self._cm = None

    def __enter__(self):
        if not self.project.dir.is_dir():
            raise WikimemError(f"Project {self.project.name} has no data yet; nothing to purge.")
        self.project.ensure_dirs()
        self._cm = locked(self.project.state_dir / "compile.lock")
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _rewrite(path: Path, change) -> bool:
    """Rewrite a state file through `change(bytes) -> bytes` atomically; True if it changed
    (the raw log changes through `rawlog.rewrite_logs`, the wiki's files through
    `pages.rewrite_files`)."""
    data = path.read_bytes()
    new = change(data)
    if new == data:
        return False
    check_no_links(path, inclusive=False)
    replace_file(path, new, keep_mode=True)
    return True


def _line_dropper(tainted):
    """bytes -> bytes without the lines `tainted(line)` marks."""
    def change(data: bytes) -> bytes:
        return b"".join(line for line in data.splitlines(keepends=True) if not tainted(line))
    return change


def _recompile(project: Project, report: PurgeReport, settings: dict | None) -> None:
    """Every page again from the raw log that is left (we hold the compile lock)."""
    from wikimem.compile.build import compile_locked

    opts = {"budget": 6000, "claim_expiry_minutes": 30.0, **(settings or {})}
    result = compile_locked(project, rebuild=True, budget=opts["budget"], progress=None,
                            expiry=opts["claim_expiry_minutes"], llm=None, client=None)
    report.pages_written = len(result.written)
    report.pages_removed += result.removed


def _reindex(project: Project) -> None:
    """A new index from the pages; the old segments (which may hold the terms) are deleted
    (a rebuild builds beside the old index, swaps it in and removes the old folder)."""
    from wikimem.search.index import SearchIndex

    SearchIndex(project.index_dir, project.wiki_dir).rebuild()
