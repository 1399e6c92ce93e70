"""The bootstrap log folded: a pure function of its observations -> `Repo` (commits oldest
first with their conventional-commit type, scope, merges and reverts; the files present and
removed; the layout at HEAD). Nothing here reads the clock.

`folded(project, stamp)` keeps the last fold per log, so the pages, the digest and the LLM
facts of one compile fold the log once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from wikimem.capture.observation import Observation
from wikimem.project import Project
from wikimem.repo.patterns import decision_patterns
from wikimem.repo.record import KIND, bootstrap_observations, log_path, utc_seconds

DIGEST_VERSION = 2  # part of every cache stamp: bump when what is cached changes shape

_CONVENTIONAL = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\n]*)\))?(?P<bang>!)?:\s+(?P<desc>\S.*)$")
TYPES = {"feat", "fix", "docs", "style", "refactor", "perf", "test", "tests", "build", "ci",
         "chore", "revert", "deps", "security", "release"}
_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,40})", re.I)
_BREAKING = re.compile(r"^BREAKING[ -]CHANGE:", re.M)


def parse_conventional(subject: str, body: str = "") -> dict:
    """type, scope, breaking and description of a conventional commit subject."""
    m = _CONVENTIONAL.match(subject)
    if m and m.group("type").lower() in TYPES:
        return {"type": m.group("type").lower(), "scope": (m.group("scope") or "").strip(),
                "breaking": bool(m.group("bang")) or bool(_BREAKING.search(body)),
                "desc": m.group("desc").strip()}
    return {"type": "", "scope": "", "breaking": bool(_BREAKING.search(body)),
            "desc": subject.strip()}


@dataclass
class Repo:
    """The bootstrap log folded: commits oldest first, files present, the layout at HEAD."""

    commits: list[dict] = field(default_factory=list)
    by_hash: dict[str, dict] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)  # path -> facts (present files)
    removed: dict[str, dict] = field(default_factory=dict)  # path -> last facts (gone)
    tree: dict = field(default_factory=dict)
    records: list | None = field(default=None, repr=False)  # decision_records, memoized

    @property
    def empty(self) -> bool:
        return not self.commits and not self.sources and not self.tree

    def of_role(self, role: str) -> list[dict]:
        return [s for _, s in sorted(self.sources.items()) if s.get("role") == role]


def _derive(d: dict) -> dict:
    files = [f for f in d.get("files") or [] if isinstance(f, str) and not f.startswith("[... ")]
    subject, body = str(d.get("subject", "")), str(d.get("body", ""))
    conv = parse_conventional(subject, body)
    utc = utc_seconds(str(d.get("date", "")))
    reverts = _REVERTS.search(body)
    is_revert = conv["type"] == "revert" or subject.startswith('Revert "')
    return {
        "hash": str(d["hash"]), "short": str(d["hash"])[:7], "author": str(d.get("author", "")),
        "utc": utc, "day": utc[:10], "month": utc[:7], "subject": subject, "body": body,
        "merge": int(d.get("parents") or 0) > 1, "files": files,
        "status": str(d.get("status", "")), "files_total": int(d.get("files_total") or 0),
        "revert": is_revert, "reverts": reverts.group(1) if reverts else "", **conv,
    }


def fold_log(observations: list[Observation]) -> Repo:
    """The Repo a bootstrap log describes (a pure function of it)."""
    commits: dict[str, dict] = {}
    parts: dict[tuple[str, str], dict[int, list]] = {}  # (path, blob) -> part -> items
    repo = Repo()
    for o in observations:
        if o.kind != KIND:
            continue
        d, op = o.data, o.data.get("op")
        if op == "commit" and isinstance(d.get("hash"), str):
            commits[d["hash"]] = d
        elif op == "source_items" and isinstance(d.get("items"), list):
            parts.setdefault((str(d.get("path")), str(d.get("blob"))), {})[
                int(d.get("part") or 0)] = d["items"]
        elif op == "source" and isinstance(d.get("path"), str):
            repo.sources[d["path"]] = {**d, "ts": o.ts}
            repo.removed.pop(d["path"], None)
        elif op == "source_removed" and isinstance(d.get("path"), str):
            gone = repo.sources.pop(d["path"], None)
            if gone is not None:
                repo.removed[d["path"]] = {**gone, "removed_at": d.get("head", ""),
                                           "removed_ts": o.ts}
        elif op == "tree":
            repo.tree = d
    for path, source in repo.sources.items():
        if source.get("parts"):
            # A long rule file: its items were recorded in parts (record.split_items).
            got = parts.get((path, str(source.get("blob"))), {})
            wanted = range(1, int(source["parts"]) + 1)
            source["items"] = list(source.get("items") or []) + [
                item for n in wanted for item in got.get(n, [])]
            if any(n not in got for n in wanted):
                source["parts_missing"] = True
    repo.commits = sorted((_derive(d) for d in commits.values()),
                          key=lambda c: (c["utc"], c["hash"]))
    repo.by_hash = {c["hash"]: c for c in repo.commits}
    return repo


def log_stamp(path: Path) -> list | None:
    """What identifies the log as read by this wikimem (None when there is no log): the key
    of everything cached from its fold."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    from wikimem import __version__

    patterns = hashlib.sha256(repr(decision_patterns()).encode()).hexdigest()[:12]
    return [DIGEST_VERSION, __version__, patterns, st.st_size, st.st_mtime_ns, st.st_ino]


_last: dict[str, tuple[list, Repo]] = {}  # log path -> (stamp, Repo): one fold per change


def folded(project: Project, stamp: list | None) -> Repo:
    """The project's bootstrap log folded, reusing the last fold while `stamp` is unchanged."""
    key = str(log_path(project))
    if stamp is not None and key in _last and _last[key][0] == stamp:
        return _last[key][1]
    repo = fold_log(bootstrap_observations(project))
    _last.clear()
    if stamp is not None:
        _last[key] = (stamp, repo)
    return repo
