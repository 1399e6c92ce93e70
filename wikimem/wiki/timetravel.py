"""Time travel over the wiki's git repository: find a page, its revisions, old text, diffs.

Everything here only reads: the history through `gitrepo` (the one module that talks to the
wiki's repository), the working tree for the current text. Paths are POSIX paths relative to
the wiki root, which is the repository root. Supersession chains come from the `supersedes` /
`superseded_by` frontmatter.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path, PurePosixPath

from wikimem.errors import WikimemError
from wikimem.wiki import gitrepo
from wikimem.wiki.pages import check_page_path, read_page, wiki_pages

_WIKILINK = re.compile(r"\[\[([^\]|#]*)(?:#[^\]|]*)?(?:\|[^\]]*)?\]\]")


@dataclass
class Revision:
    """One commit that changed a page."""

    commit: str
    date: str  # ISO 8601 committer date
    author: str
    subject: str
    path: str  # the page's path in that commit

    def to_dict(self) -> dict:
        """The revision as a JSON-ready dict."""
        return asdict(self)


@dataclass
class ChainLink:
    """One page of a supersession chain."""

    path: str
    title: str
    status: str
    created: str
    valid_until: str | None

    def to_dict(self) -> dict:
        """The link as a JSON-ready dict."""
        return asdict(self)


# --- resolving what a user typed ------------------------------------------------------------


def _refuse_escape(rel: str, shown: str) -> None:
    """Raise for paths that point outside the wiki: absolute, drive-rooted or with `..`."""
    if (
        rel.startswith("/")
        or re.match(r"[A-Za-z]:/", rel)
        or "\0" in rel
        or ".." in rel.split("/")
    ):
        raise WikimemError(
            f"{shown!r} points outside the wiki. Give a path relative to the wiki folder "
            "(e.g. decisions/use-postgres.md), a page name, an id or a title."
        )


def _with_md(rel: str) -> list[str]:
    return [rel] if rel.endswith(".md") else [rel, rel + ".md"]


def _is_valid_path(rel: str) -> bool:
    try:
        check_page_path(rel)
    except WikimemError:
        return False
    return True


def _inside(wiki_dir: Path, rel: str) -> bool:
    """True when the file really lives inside the wiki (a symlink may point elsewhere)."""
    return (wiki_dir / rel).resolve().is_relative_to(wiki_dir.resolve())


def _pages(wiki_dir: Path) -> list[str]:
    """The wiki's pages, without symlinks that lead out of the wiki."""
    return [p for p in wiki_pages(wiki_dir) if _inside(wiki_dir, p)]


def _exact(rel: str, listed: set[str]) -> str | None:
    return next((c for c in _with_md(rel) if c in listed), None)


def _follow_renames(old: str, renames: list[tuple[str, str]]) -> str:
    """Where a path ended up after every later rename."""
    current = old
    for src, dst in renames:
        if src == current:
            current = dst
    return current


def _renamed(repo, rel: str, listed: set[str]) -> tuple[str | None, str | None]:
    """(current path, None) for a renamed page; (None, last path) when it moved then vanished."""
    if repo is None:
        return None, None
    renames = gitrepo.renames(repo)
    for cand in _with_md(rel):
        if not any(src == cand for src, _ in renames):
            continue
        now = _follow_renames(cand, renames)
        return (now, None) if now in listed else (None, now)
    return None, None


def _ambiguous(ref: str, what: str, paths: list[str]) -> WikimemError:
    return WikimemError(
        f"{ref!r} matches several pages by {what}: {', '.join(sorted(paths))}. "
        "Give the page's path instead."
    )


def _by_stem(ref: str, rel: str, pages: list[str]) -> str | None:
    """The one page whose file name (without .md) is rel, case-insensitively."""
    if "/" in rel:
        return None
    key = rel.removesuffix(".md").casefold()
    hits = [p for p in pages if PurePosixPath(p).stem.casefold() == key]
    if len(hits) > 1:
        raise _ambiguous(ref, "file name", hits)
    return hits[0] if hits else None


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _flat(value) -> list:
    """Scalars of a frontmatter value; unquoted `[[x]]` is YAML for a nested list ["x"]."""
    return [v for item in _as_list(value)
            for v in (_flat(item) if isinstance(item, list | tuple) else [item])]


def _metas(wiki_dir: Path, pages: list[str]) -> dict[str, dict]:
    """Frontmatter of every page; unreadable pages count as having none."""
    metas = {}
    for p in pages:
        try:
            metas[p] = read_page(wiki_dir / p)[0]
        except OSError:
            metas[p] = {}
    return metas


def _by_meta(ref: str, metas: dict[str, dict]) -> str | None:
    """The one page whose id, else alias, else title equals ref, case-insensitively."""
    key = ref.strip().casefold()
    for what, field in (("id", "id"), ("alias", "aliases"), ("title", "title")):
        hits = sorted(
            p for p, meta in metas.items()
            if any(str(v).strip().casefold() == key for v in _as_list(meta.get(field)))
        )
        if len(hits) > 1:
            raise _ambiguous(ref, what, hits)
        if hits:
            return hits[0]
    return None


def _deleted_error(repo, ref: str, last: str) -> WikimemError:
    deleted = gitrepo.deleted_in(repo, last)
    when = f" in commit {deleted[0]} ({deleted[1]})" if deleted else ""
    return WikimemError(
        f"Page {ref!r} no longer exists: {last} was deleted{when}. "
        "Its old versions are still in the wiki's git history."
    )


def resolve_page(wiki_dir: Path, ref: str) -> str:
    """The current path of the page a user named by path, old path, stem, id, alias or title."""
    rel = ref.strip().replace("\\", "/")
    if not rel:
        raise WikimemError("Name a page: a path, a file name, an id, an alias or a title.")
    _refuse_escape(rel, ref)
    rel = rel.removeprefix("./")
    pages = _pages(wiki_dir)
    listed = set(pages)
    if found := _exact(rel, listed):
        return found
    repo = gitrepo.existing_repo(wiki_dir)
    moved, vanished = _renamed(repo, rel, listed)
    if moved:
        return moved
    found = _by_stem(ref, rel, pages) or _by_meta(ref, _metas(wiki_dir, pages))
    if found:
        return found
    if vanished or (repo is not None and _once_existed(repo, rel)):
        raise _deleted_error(repo, ref, vanished or _with_md(rel)[-1])
    if ("/" in rel or rel.endswith(".md")) and not _is_valid_path(rel):
        check_page_path(rel)  # raises its own "not a valid page path" error
    raise WikimemError(f"No page matches {ref!r}. Try `wikimem search {ref.strip()}`.")


def _once_existed(repo, rel: str) -> bool:
    """True when the path (with or without .md) appears anywhere in history."""
    return ("/" in rel or rel.endswith(".md")) and gitrepo.in_history(repo, _with_md(rel)[-1])


# --- revisions and old text -----------------------------------------------------------------


def _check_rel(path: str) -> str:
    """A page path made POSIX; outside the wiki or in a dot-folder is an error."""
    rel = path.replace("\\", "/").removeprefix("./")
    _refuse_escape(rel, path)
    if not rel or any(part.startswith(".") for part in rel.split("/")):
        raise WikimemError(f"{path!r} is not a page of the wiki; give e.g. decisions/x.md.")
    return rel


def revisions(wiki_dir: Path, path: str) -> list[Revision]:
    """Every commit that changed the page, newest first, following renames."""
    rel = _check_rel(path)
    repo = gitrepo.existing_repo(wiki_dir)
    if repo is None:
        return []
    return [Revision(*found) for found in gitrepo.file_log(repo, rel)]


def _moment(at: datetime | date) -> datetime:
    """A datetime in UTC: a date means the end of that day, a naive datetime is UTC."""
    if isinstance(at, datetime):
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    return datetime.combine(at, time.max, tzinfo=UTC)


# A page's last revision at some point and its text there (None: not created yet, or deleted).
_Found = tuple[Revision | None, str | None]


def _absent(path: str, when: str, revs: list[Revision], last: Revision | None) -> WikimemError:
    """The error for a page that did not exist at some point (never, not yet, or deleted)."""
    if not revs:
        return WikimemError(f"Page {path!r} has no history in the wiki's git repository.")
    first = revs[-1]
    gone = f" (deleted on {last.date}, commit {last.commit[:12]})" if last else ""
    return WikimemError(
        f"Page {path!r} did not exist {when}{gone}. It was first committed on {first.date} "
        f"(commit {first.commit[:12]}, as {first.path})."
    )


def _at(repo, revs: list[Revision], moment: datetime) -> _Found:
    """The page's newest revision at a moment and its text (None: not yet, or deleted)."""
    rev = next((r for r in revs if datetime.fromisoformat(r.date) <= moment), None)
    return rev, (None if rev is None else gitrepo.file_at(repo, rev.commit, rev.path))


def _at_rev(repo, rel: str, revs: list[Revision], rev: str) -> _Found:
    """The page's last revision at a commit-ish and its text there, following renames."""
    sha = gitrepo.resolve_commit(repo, rev)
    if sha is None:
        raise WikimemError(
            f"Unknown revision {rev!r}. Give a commit sha, a branch or tag, or e.g. HEAD~2."
        )
    text = gitrepo.file_at(repo, sha, rel)
    if text is not None or not revs:
        return None, text
    paths = sorted({r.path for r in revs})
    # Only commits that touched one of the page's paths can be its latest change before sha.
    reachable = gitrepo.commits_touching(repo, sha, paths)
    nearest = next((r for r in revs if r.commit in reachable), None)
    return nearest, (None if nearest is None else gitrepo.file_at(repo, sha, nearest.path))


def _current(wiki_dir: Path, rel: str) -> str | None:
    """The page text in the working tree, or None when there is no such file."""
    target = wiki_dir / rel
    if not target.is_file() or not _inside(wiki_dir, rel):
        return None
    return target.read_bytes().decode("utf-8", "replace")


def show(wiki_dir: Path, path: str, *, at: datetime | date | None = None,
         rev: str | None = None) -> str:
    """The page text at a moment, at a revision, or (given neither) as it is now."""
    rel = _check_rel(path)
    if at is not None and rev is not None:
        raise WikimemError("Give either a date or a revision, not both.")
    if at is None and rev is None:
        text = _current(wiki_dir, rel)
        if text is None:
            raise WikimemError(
                f"Page {rel!r} does not exist now. Give a date or a revision to see an old "
                "version."
            )
        return text
    repo = gitrepo.existing_repo(wiki_dir)
    revs = revisions(wiki_dir, rel)
    if repo is None or not revs:
        raise _absent(rel, "", [], None)
    if rev is not None:
        last, text = _at_rev(repo, rel, revs, rev)
        when = f"at revision {rev}"
    else:
        last, text = _at(repo, revs, _moment(at))
        when = f"on {at.isoformat()}"
    if text is None:
        raise _absent(rel, when, revs, last)
    return text


def _unified(old: str, new: str, old_label: str, new_label: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label
    )
    # difflib leaves a last line without its newline glued to the next diff line.
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in lines
    )


def diff(wiki_dir: Path, path: str, *, since: datetime | date) -> str:
    """Unified diff of the page from its version at `since` to the working tree."""
    rel = _check_rel(path)
    repo, revs = gitrepo.existing_repo(wiki_dir), revisions(wiki_dir, rel)
    last, old = _at(repo, revs, _moment(since)) if repo is not None and revs else (None, None)
    old_label = f"a/{last.path}" if old is not None else "/dev/null"
    new = _current(wiki_dir, rel)
    new_label = f"b/{rel}" if new is not None else "/dev/null"
    return _unified(old or "", new or "", old_label, new_label)


def diff_revisions(wiki_dir: Path, path: str, old_rev: str, new_rev: str | None = None) -> str:
    """Unified diff of the page from its version at `old_rev` to `new_rev` (None: the working
    tree), following renames; a side where the page did not exist is empty."""
    rel = _check_rel(path)
    repo, revs = gitrepo.existing_repo(wiki_dir), revisions(wiki_dir, rel)
    if repo is None or not revs:
        raise _absent(rel, "", [], None)

    def side(rev: str | None) -> tuple[str | None, str]:
        if rev is None:
            return _current(wiki_dir, rel), rel
        last, text = _at_rev(repo, rel, revs, rev)
        return text, (last.path if last is not None else rel)

    (old, old_path), (new, new_path) = side(old_rev), side(new_rev)
    return _unified(old or "", new or "", f"a/{old_path}" if old is not None else "/dev/null",
                    f"b/{new_path}" if new is not None else "/dev/null")


# --- supersession chains --------------------------------------------------------------------


def _link_target(value) -> str:
    """The target of a `[[wikilink|label]]` or a plain path."""
    text = str(value).strip()
    match = _WIKILINK.fullmatch(text)
    return (match.group(1) if match else text).strip().replace("\\", "/")


@dataclass
class _Links:
    """What resolving a frontmatter link needs: the wiki's pages, by path and by stem."""

    listed: set[str]
    stems: dict[str, list[str]]
    renames: list[tuple[str, str]]

    @classmethod
    def of(cls, wiki_dir: Path, pages: list[str]) -> _Links:
        stems: dict[str, list[str]] = {}
        for p in pages:
            stems.setdefault(PurePosixPath(p).stem.casefold(), []).append(p)
        repo = gitrepo.existing_repo(wiki_dir)
        renames = [] if repo is None else gitrepo.renames(repo)
        return cls(set(pages), stems, renames)

    def resolve(self, target: str, source: str) -> str | None:
        """The page a link points to (path, renamed path or stem), or None when none."""
        if not target or target.startswith("/") or ".." in target.split("/"):
            return None
        if found := _exact(target, self.listed):
            return found
        for cand in _with_md(target):
            if (moved := _follow_renames(cand, self.renames)) in self.listed:
                return moved
        if "/" in target:
            return None
        hits = self.stems.get(target.removesuffix(".md").casefold(), [])
        if len(hits) > 1:  # like Obsidian, prefer the page next to the one that links
            folder = PurePosixPath(source).parent
            hits = [p for p in hits if PurePosixPath(p).parent == folder]
        return hits[0] if len(hits) == 1 else None


def _edges(metas: dict[str, dict], links: _Links) -> tuple[dict, dict]:
    """(newer, older) adjacency: page -> pages that supersede it / that it supersedes.

    A link to no page becomes the node `missing:<target>`.
    """
    newer: dict[str, set[str]] = {}
    older: dict[str, set[str]] = {}
    for page, meta in metas.items():
        for key, backwards in (("supersedes", True), ("superseded_by", False)):
            for value in _flat(meta.get(key)):
                target = _link_target(value)
                if not target:
                    continue
                other = links.resolve(target, page) or f"missing:{target}"
                old, new = (other, page) if backwards else (page, other)
                newer.setdefault(old, set()).add(new)
                older.setdefault(new, set()).add(old)
    return newer, older


def _walk(start: str, step: dict[str, set[str]], sign: int, seen: dict[str, int]) -> None:
    """Breadth-first along one direction, recording each node's distance from start."""
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in step.get(node, ()):
            if nxt not in seen:
                seen[nxt] = seen[node] + sign
                queue.append(nxt)


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def _chain_link(node: str, metas: dict[str, dict]) -> ChainLink:
    if node.startswith("missing:"):
        return ChainLink(node.removeprefix("missing:"), "", "missing", "", None)
    meta = metas.get(node, {})
    until = meta.get("valid_until")
    return ChainLink(
        path=node,
        title=_text(meta.get("title")) or PurePosixPath(node).stem,
        status=_text(meta.get("status")),
        created=_text(meta.get("created")),
        valid_until=None if until is None else _text(until),
    )


def chain(wiki_dir: Path, path: str) -> list[ChainLink]:
    """The supersession chain the page belongs to, oldest first."""
    start = resolve_page(wiki_dir, path)
    pages = _pages(wiki_dir)
    return chain_among(start, _metas(wiki_dir, pages), _Links.of(wiki_dir, pages))


def chain_among(start: str, metas: dict[str, dict], links,
                read_meta: Callable[[str], dict] | None = None) -> list[ChainLink]:
    """The chain of page `start` from the frontmatter of the pages that may take part (a
    page with neither `supersedes` nor `superseded_by` adds no edge, so a caller may leave
    it out: `read_meta` then reads the chain's pages found missing from `metas`). `links`
    resolves a link target from a page (`.resolve(target, page)`)."""
    newer, older = _edges(metas, links)
    seen = {start: 0}
    _walk(start, older, -1, seen)
    _walk(start, newer, +1, seen)
    if read_meta is not None:
        metas = {**metas, **{n: read_meta(n) for n in seen
                             if n not in metas and not n.startswith("missing:")}}
    links = [(seen[node], _chain_link(node, metas)) for node in seen]
    links.sort(key=lambda pair: (pair[0], pair[1].created, pair[1].path))
    return [link for _, link in links]
