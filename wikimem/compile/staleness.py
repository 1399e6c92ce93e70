"""Memories checked against the code: which anchored memories may be stale, which dangle.

`check` sets `Item.stale` on every live memory that names files (`Item.anchors`): one entry
per file whose blob is no longer the one recorded (`changed`) or that git no longer tracks
(`deleted`), with the commit that did it. Memories that name no file cost nothing: without
one, the repository is not even looked at. Run by every compile (the pages show it) and by
the commands that read memory (`lint`, `context --explain`); never by the hook.
"""

from __future__ import annotations

from datetime import UTC, datetime

from wikimem.memory import MemoryState
from wikimem.project import Project
from wikimem.repo.anchors import Tree, anchors, files_named, normalize

CACHE_NAME = "anchors.json"
LIVE = ("active", "todo", "in_progress")


def tree(project: Project) -> Tree:
    """The user's repository as git's index has it, cached in the project's state."""
    return Tree(project.root, project.state_dir / CACHE_NAME)


def check(project: Project, memory: MemoryState, repo: Tree | None = None, *,
          rendered: bool = False) -> Tree | None:
    """Compare every live anchored memory with the repository now (see the module's doc).
    `rendered`: a compile, whose pages will show the result (see `repository_moved`)."""
    anchored = [i for i in memory.items.values() if i.anchors and i.status in LIVE]
    if not anchored:
        if rendered:  # nothing to compare: no compile need look at the repository again
            (project.state_dir / CACHE_NAME).unlink(missing_ok=True)
        return None
    repo = repo or tree(project)
    if not repo.available:  # not a git checkout (any more): nothing to compare with
        return repo
    blobs = repo.blobs
    for item in anchored:
        found = []
        for path, anchor in item.anchors.items():
            now = blobs.get(path)
            if now == anchor.get("blob"):
                continue
            change = repo.last_change(path, anchor.get("commit"))
            found.append({"path": path, "state": "deleted" if now is None else "changed",
                          **change})
        item.stale = found
    if rendered:
        repo.mark_rendered()
    repo.save()
    return repo


def anchors_for(project: Project, files: list[str], texts: list[str]) -> tuple[dict, list]:
    """The anchors of a memory being recorded: the files given (`--files`) and the tracked
    files its text names. Returns (anchors, the given files git does not track)."""
    repo = tree(project)
    if not repo.available:
        return {}, list(files)
    given = [normalize(project.root, f) for f in files]
    named = given + [p for t in texts for p in files_named(t, repo.blobs)]
    found = anchors(repo, list(dict.fromkeys(named)))
    repo.save()
    return found, [f for f in given if f not in found]


def reverify(project: Project, item) -> dict:
    """The anchors of `item` as the code is now (its files gone are dropped)."""
    repo = tree(project)
    found = anchors(repo, list(item.anchors)) if repo.available else {}
    repo.save()
    return found


def describe(entry: dict, now: datetime | None = None) -> str:
    """One stale file in words: `may be stale: src/x.py changed since (commit abc1234,
    2026-12-01)`; with `now`, the age instead of the date (`3 days ago`)."""
    when = ""
    if entry.get("commit"):
        date = str(entry.get("date") or "")
        shown = date[:10]
        if now is not None and date:
            try:
                shown = ago(datetime.fromisoformat(date.replace("Z", "+00:00")), now)
            except ValueError:
                pass
        when = f" (commit {entry['commit'][:7]}, {shown})"
    elif entry["state"] == "changed":
        when = " (not committed yet)"
    if entry["state"] == "deleted":
        return f"refers to deleted {entry['path']}{when}"
    return f"may be stale: {entry['path']} changed since{when}"


def ago(then: datetime, now: datetime) -> str:
    seconds = (now - then.astimezone(UTC)).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def dangling(item) -> bool:
    """Every file the memory names is gone."""
    return bool(item.stale) and len(item.stale) == len(item.anchors) and all(
        e["state"] == "deleted" for e in item.stale)


def repository_moved(project: Project) -> bool:
    """The repository's index changed since memories were last checked against it (only
    when some memory names a file: otherwise there is no cache to compare with)."""
    return tree(project).moved()
