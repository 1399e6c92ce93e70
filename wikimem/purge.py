"""`wikimem purge`: remove a session, a literal secret or a whole project from every store.

For the day a secret got through anyway.  The raw log is otherwise immutable and the wiki is
versioned, so removing something means rewriting both: this is the one place that does.

    purge_session(project, SESSION)  the session's raw log, its page, what other pages said
                                     of it, its lines in the LLM log, its derived state
    purge_secret(project, VALUE)     every occurrence of a literal string, replaced by
                                     [REDACTED:purged]
    purge_project(project)           the project's whole folder and its registry entry

Each (but the last, which deletes everything) runs under the compile lock: scrub the raw log
and state -> recompile every page from what is left (`compile --rebuild`, byte-identical for
everything else) -> scrub and commit what a person wrote -> rewrite the git history
(`git fast-export | filter | git fast-import`: for a secret, every blob and message has it
replaced; for a session, a file version that mentions the session is left out, so the file
keeps its previous version in that commit) -> expire reflogs and prune every unreachable
object -> rebuild the index from scratch -> count what is left in every store.  Commit hashes
change: clones and backups of the wiki keep their own copy.

A composition root: it decides what goes, and each store's owner removes it: the page gate
(`wiki.pages.remove_pages`, `rewrite_files`) the pages, `wiki.gitrepo` the history
(`rewrite_history`, `drop_unreachable`), compile the derived pages, search the index.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from wikimem.capture import rawlog
from wikimem.compile.sessions import page_path as session_page_path
from wikimem.errors import WikimemError
from wikimem.fsio import replace_file
from wikimem.locks import locked
from wikimem.project import Project, Registry, check_no_links
from wikimem.wiki import gitrepo, pages

PURGED = "[REDACTED:purged]"


@dataclass
class PurgeReport:
    """What a purge removed or changed, and what is left (`remaining`: store -> count)."""

    what: str
    raw_files_removed: list[str] = field(default_factory=list)
    files_scrubbed: list[str] = field(default_factory=list)  # raw/ and state/ files rewritten
    pages_written: int = 0
    pages_removed: list[str] = field(default_factory=list)
    commits_rewritten: int = 0
    remaining: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"what": self.what, "raw_files_removed": self.raw_files_removed,
                "files_scrubbed": self.files_scrubbed, "pages_written": self.pages_written,
                "pages_removed": self.pages_removed, "commits_rewritten": self.commits_rewritten,
                "remaining": self.remaining}


def forms(value: str) -> list[bytes]:
    """The byte strings a value is stored as: plain (markdown, git) and JSON-escaped (logs)."""
    out = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return sorted((f.encode("utf-8", "surrogatepass") for f in out if f), key=len, reverse=True)


def occurrences(project: Project, needles: list[bytes]) -> dict[str, int]:
    """How many times any needle occurs in each store of the project."""
    counts = {"raw log": 0, "state": 0, "pages": 0, "git objects": 0, "git files": 0,
              "index": 0}

    def count(blob: bytes) -> int:
        return sum(blob.count(n) for n in needles)

    for store, folder in (("raw log", project.raw_dir), ("state", project.state_dir),
                          ("index", project.index_dir)):
        for path in _files(folder):
            counts[store] += count(path.read_bytes())
    lowered = [n.lower() for n in needles]
    for path in _files(project.index_dir):  # index terms are lower-cased
        blob = path.read_bytes()
        counts["index"] += sum(blob.count(n) for n in lowered if n not in needles)
    wiki = project.wiki_dir
    for path in _files(wiki):
        parts = path.relative_to(wiki).parts
        if ".git" not in parts:
            counts["pages"] += count(path.read_bytes())
        elif parts[:2] != (".git", "objects"):  # reflogs, COMMIT_EDITMSG, index, refs
            counts["git files"] += count(path.read_bytes())
    if (wiki / ".git").exists():
        counts["git objects"] = count(gitrepo.all_objects(gitrepo.open_repo(wiki)))
    return counts


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


def purge_secret(project: Project, value: str, *, compile_settings: dict | None = None
                 ) -> PurgeReport:
    """Replace every occurrence of `value` in every store by `[REDACTED:purged]`."""
    if len(value) < 4 or not value.strip():
        raise WikimemError("The value to purge must be at least 4 characters (and not blank): "
                           "a shorter one would match ordinary text everywhere.")
    if value in PURGED:
        raise WikimemError(f"The value to purge may not be part of {PURGED}.")
    needles = forms(value)
    report = PurgeReport(what="a secret value")
    scrub = _scrubber(needles)

    with _exclusive(project):
        for folder in (project.raw_dir, project.state_dir):
            for path in _files(folder):
                if path.suffix in (".lock", ".keys"):
                    continue
                if _rewrite(path, scrub, folder == project.raw_dir):
                    report.files_scrubbed.append(str(path.relative_to(project.dir)))
        _recompile(project, report, compile_settings)
        repo = gitrepo.open_repo(project.wiki_dir)
        human = pages.rewrite_files(project.wiki_dir, _wiki_files(project), scrub)
        if human:
            gitrepo.commit(repo, human, f"Purge a secret from {len(human)} page(s) a person "
                                        "edited")
        report.commits_rewritten = gitrepo.rewrite_history(repo, scrub, scrub, scrub)
        gitrepo.drop_unreachable(repo)
        _reindex(project)
    report.remaining = occurrences(project, needles)
    return report


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


def purge_session(project: Project, ref: str, *, compile_settings: dict | None = None
                  ) -> PurgeReport:
    """Remove one session from the raw log, the pages, the index and the git history."""
    session, name, entry = find_session(project, ref)
    if name and rawlog.session_filename(session) != name.removesuffix(".jsonl"):
        raise WikimemError(f"{name} is not a session log.")
    stem = entry.get("stem") or ""
    report = PurgeReport(what=f"session {session}")
    # What marks a page version as being about this session: its id, its page's name, and
    # its own distinctive texts (title, summary, lifted decisions...), which other pages
    # repeat without naming the session.
    # (A short id such as `s1` would match ordinary text: it counts only as `session:s1`.)
    taint = [f"session:{session}", f"Session-Id: {session}", *([stem] if stem else []),
             *([session] if len(session) >= 8 else [])]
    texts = [entry.get("title", ""), entry.get("summary", "")]
    for c in entry.get("candidates", []) or []:
        if isinstance(c, dict):
            texts += [str(c.get("title", "")), str(c.get("text", ""))]
            taint.append(Path(str(c.get("page", ""))).stem or session)
    taint += [t for t in texts if len(t.strip()) >= 16]
    needles = sorted({f for t in taint for f in forms(t)}, key=len, reverse=True)

    def tainted(data: bytes) -> bool:
        return any(n in data for n in needles)

    with _exclusive(project):
        base = project.raw_dir / rawlog.session_filename(session)
        for suffix in (".jsonl", ".keys", ".lock"):
            path = base.with_name(base.name + suffix)
            if path.exists():
                path.unlink()
                report.raw_files_removed.append(path.name)
        ids = [*forms(f"session:{session}"),
               json.dumps({"session": session}, separators=(",", ":"))[1:-1].encode()]
        for path in _files(project.raw_dir):
            # Its consolidations in the LLM log, memory items citing it (`session:<id>`).
            if path.suffix == ".jsonl" and _drop_lines(path, ids):
                report.files_scrubbed.append(str(path.relative_to(project.dir)))
        # Derived state: the compile below rebuilds records, catalog and context; the LLM
        # cache (answers by input hash) is dropped whole; logs lose the lines naming it.
        shutil.rmtree(project.state_dir / "llm-cache", ignore_errors=True)
        if name:
            (project.state_dir / "sessions" / (name[:-6] + ".json")).unlink(missing_ok=True)
        for path in _files(project.state_dir):
            if path.suffix == ".log" and _drop_lines(path, needles):
                report.files_scrubbed.append(str(path.relative_to(project.dir)))
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
            if rel.endswith(".md") and not pages.is_machine_page(
                (project.wiki_dir / rel).read_text(encoding="utf-8", errors="replace"))],
            _line_dropper(needles))
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
    report.remaining = occurrences(project, sorted(
        {*forms(session), *forms(f"session:{session}"), *(forms(stem) if stem else [])},
        key=len, reverse=True) if len(session) >= 8 else forms(f"session:{session}"))
    return report


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


# Inside a file name or a slug (`notes/N1-rotate-<value>-every-quarter.md`), the value is
# replaced by a word that keeps the name a valid path and wikilink target.
_SLUG_BEFORE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/")
_SLUG_AFTER = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _scrubber(needles: list[bytes]):
    """bytes -> bytes with every needle replaced by the purge marker (`purged` in a slug)."""
    pattern = re.compile(b"|".join(re.escape(n) for n in needles))
    marker = PURGED.encode()

    def replace(m: re.Match[bytes]) -> bytes:
        data, (start, end) = m.string, m.span()
        if start and end < len(data) and data[start - 1] in _SLUG_BEFORE \
                and data[end] in _SLUG_AFTER:
            return b"purged"
        return marker

    return lambda data: pattern.sub(replace, data)


def _rewrite(path: Path, change, raw: bool) -> bool:
    """Rewrite a raw-log or state file through `change(bytes) -> bytes` atomically; True if
    it changed (the wiki's files go through `pages.rewrite_files`)."""
    lock = None
    if raw and path.suffix == ".jsonl":
        lock = locked(path.with_suffix(".keys"))  # the raw log's writers' lock (rawlog.py)
        lock.__enter__()
    try:
        data = path.read_bytes()
        new = change(data)
        if new == data:
            return False
        check_no_links(path, inclusive=False)
        replace_file(path, new, keep_mode=True)
        return True
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)


def _line_dropper(needles: list[bytes]):
    """bytes -> bytes without the lines holding any needle."""
    def change(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        return b"".join(line for line in lines if not any(n in line for n in needles))
    return change


def _drop_lines(path: Path, needles: list[bytes]) -> bool:
    """Remove the lines holding any needle from a raw-log or state file; True if any was."""
    return _rewrite(path, _line_dropper(needles), path.parent.name == "raw")


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
