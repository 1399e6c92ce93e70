"""Recording what `collect` read as `bootstrap` observations in the raw log (and a dry run
of it that writes nothing).

The observations go to the raw log's `wikimem-bootstrap` session through
`capture.make_observation`, so secrets in commit messages and files are redacted.
Idempotency keys come from uids: `commit:<hash>` for commits, `source:<path>:<blob sha>` for
files (a changed file is a new observation, the latest per path wins, a file that disappeared
gets `source_removed`), and `tree:<...>` for the layout at HEAD. A second run appends
nothing. `fold` turns the log back into a `Repo`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from wikimem.capture import rawlog
from wikimem.capture.event import Event
from wikimem.capture.observation import Observation
from wikimem.capture.observe import idempotency_key, make_observation
from wikimem.project import Project
from wikimem.repo.collect import Collected
from wikimem.repo.extract import RULES_EXTRACT
from wikimem.repo.layout import Planned

# A rule file's items go into the log in parts of at most this many items and characters:
# capture caps an observation's lists at 200 items and its line at 64 KB.
PART_ITEMS = 150
PART_CHARS = 30_000
SESSION = "wikimem-bootstrap"
AGENT = "bootstrap"
KIND = "bootstrap"
LOG_NAME = f"{rawlog.internal_filename(SESSION)}.jsonl"


def is_bootstrap_log(name: str) -> bool:
    return name == LOG_NAME


def log_path(project: Project) -> Path:
    return project.raw_dir / LOG_NAME


def bootstrap_observations(project: Project) -> list[Observation]:
    return rawlog.read(log_path(project)).observations


# --- record ------------------------------------------------------------------------------


@dataclass
class RecordReport:
    """What one `wikimem bootstrap` run read and recorded."""

    root: str = ""
    head: str = ""
    commits_read: int = 0
    commits_recorded: int = 0
    files_read: int = 0
    files_recorded: int = 0
    files_removed: int = 0
    layout_recorded: bool = False
    observations: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def utc_seconds(iso: str) -> str:
    """An ISO 8601 time with any offset as `YYYY-MM-DDTHH:MM:SSZ` in UTC."""
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return "1970-01-01T00:00:00Z"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raw_ts(iso: str) -> str:
    return utc_seconds(iso)[:19] + ".000Z"


def _key(uid: str) -> str:
    return idempotency_key(AGENT, Event(session=SESSION, kind=KIND, cwd="", uid=uid), None)


def _observation(uid: str, data: dict, ts: str, cwd: str) -> Observation:
    event = Event(session=SESSION, kind=KIND, cwd=cwd, data=data, uid=uid)
    return make_observation(AGENT, event, data, ts=ts)


def _unique_uid(base: str, keys: set[str]) -> str:
    """`base`, or `base:N` when `base` was used before (a file that came back, say)."""
    uid, n = base, 1
    while _key(uid) in keys:
        uid, n = f"{base}:{n}", n + 1
    return uid


def current_sources(observations: list[Observation]) -> dict[str, dict]:
    """Path -> the latest recorded facts of every file still present (log order)."""
    found: dict[str, dict] = {}
    for o in observations:
        if o.kind != KIND:
            continue
        op, path = o.data.get("op"), o.data.get("path")
        if op == "source" and isinstance(path, str):
            found[path] = o.data
        elif op == "source_removed" and isinstance(path, str):
            found.pop(path, None)
    return found


_LAYOUT_KEYS = ("root_name", "remote", "files", "languages", "top", "modules", "entry_files")


def _latest_layout(observations: list[Observation]) -> dict | None:
    latest = None
    for o in observations:
        if o.kind == KIND and o.data.get("op") == "tree":
            latest = o.data
    return latest


def plan_observations(existing: list[Observation], collected: Collected,
                      progress=None) -> tuple[list[Observation], RecordReport]:
    """The observations a run adds to the log (none for what it already holds);
    `progress(stage, done, total)` is told how far it got."""
    say = progress or (lambda _stage, _done, _total=None: None)
    report = RecordReport(root=str(collected.root), head=collected.head.commit,
                          commits_read=len(collected.commits))
    keys = {o.key for o in existing}
    cwd = str(collected.root)
    new: list[Observation] = []
    for done, commit in enumerate(reversed(collected.commits)):  # oldest first, as the log
        say("recording commits", done, len(collected.commits))
        uid = f"commit:{commit.hash}"
        if _key(uid) in keys:
            continue
        obs = _observation(uid, commit.data(), _raw_ts(commit.date), cwd)
        new.append(obs)
        keys.add(obs.key)
    say("recording commits", len(collected.commits), len(collected.commits))
    report.commits_recorded = len(new)

    current = current_sources(existing)
    head_ts = _raw_ts(collected.head.date)

    def unchanged(p: Planned) -> bool:
        now = current.get(p.path)
        return now is not None and now.get("blob") == p.blob and now.get("role") == p.role \
            and (p.role != "rules" or now.get("extract") == RULES_EXTRACT)

    seen, planned = set(), []
    for p in collected.planned:  # one role per file: the first planned wins
        if p.path not in seen:
            seen.add(p.path)
            planned.append(p)
    collected.planned = planned
    facts = collected.files(unchanged, say)
    report.files_read = len(facts)
    for data in facts:
        data = {"op": "source", **data, "head": collected.head.commit}
        data, parts = split_items(data)
        obs = _observation(_unique_uid(f"source:{data['path']}:{data['blob']}", keys), data,
                           head_ts, cwd)
        new.append(obs)
        keys.add(obs.key)
        for n, items in enumerate(parts, 1):
            part = {"op": "source_items", "path": data["path"], "blob": data["blob"],
                    "part": n, "items": items}
            obs = _observation(_unique_uid(f"source_items:{data['path']}:{data['blob']}:{n}",
                                           keys), part, head_ts, cwd)
            new.append(obs)
            keys.add(obs.key)
        report.files_recorded += 1
    for path in sorted(set(current) - seen):
        data = {"op": "source_removed", "path": path, "role": current[path].get("role", ""),
                "blob": current[path].get("blob", ""), "head": collected.head.commit}
        obs = _observation(_unique_uid(f"source_removed:{path}:{data['blob']}", keys), data,
                           head_ts, cwd)
        new.append(obs)
        keys.add(obs.key)
        report.files_removed += 1

    layout = collected.layout
    tree = {"op": "tree", "head": collected.head.commit, "tree": collected.head.tree,
            "date": collected.head.date, "root_name": collected.root.name,
            "remote": _clean_remote(collected.head.remote), "files": layout.files,
            "languages": layout.languages, "top": layout.top, "modules": layout.modules,
            "entry_files": layout.entry_files}
    before = _latest_layout(existing)
    if before is None or any(before.get(k) != _normalized(tree[k]) for k in _LAYOUT_KEYS):
        digest = hashlib.sha256(json.dumps({k: tree[k] for k in _LAYOUT_KEYS},
                                           sort_keys=True).encode()).hexdigest()[:16]
        obs = _observation(_unique_uid(f"tree:{digest}", keys), tree, head_ts, cwd)
        new.append(obs)
        keys.add(obs.key)
        report.layout_recorded = True
    report.observations = len(new)
    return new, report


def split_items(data: dict) -> tuple[dict, list[list]]:
    """A source's facts with its first part of `items`, and the other parts (see PART_ITEMS):
    `fold` puts them together again, so a long rule file reaches the page whole."""
    items = data.get("items")
    if not isinstance(items, list):
        return data, []
    parts: list[list] = [[]]
    size = 0
    for item in items:
        cost = len(json.dumps(item, ensure_ascii=False))
        if parts[-1] and (len(parts[-1]) >= PART_ITEMS or size + cost > PART_CHARS):
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += cost
    if len(parts) == 1:
        return data, []
    return {**data, "items": parts[0], "parts": len(parts) - 1}, parts[1:]


def _normalized(value):
    """A value as it reads back from the raw log (JSON round trip)."""
    return json.loads(json.dumps(value))


def _clean_remote(url: str) -> str:
    """The remote's web address without credentials (only for hosts we know)."""
    url = url.strip()
    m = re.match(r"^(?:[a-z+]+://)?(?:[^@/]+@)?([A-Za-z0-9.-]+)[:/]+(.+?)(?:\.git)?/?$", url)
    if not m or m.group(1).lower() not in ("github.com", "gitlab.com", "codeberg.org",
                                           "bitbucket.org"):
        return ""
    path = m.group(2)
    if not re.fullmatch(r"[\w.-]+(?:/[\w.-]+)+", path):
        return ""
    return f"https://{m.group(1).lower()}/{path}"


def append_all(log: rawlog.SessionLog, observations: list[Observation]) -> None:
    """Append many observations under the log's lock: the raw log's batch append, one write
    to each file for them all (ten thousand commits must not cost ten thousand appends)."""
    log.append_many(observations)


def record(project: Project, collected: Collected, progress=None) -> RecordReport:
    """Append what was collected to the project's raw log; returns what was added."""
    project.ensure_dirs()
    with rawlog.transaction(project.raw_dir, SESSION, internal=True) as log:
        new, report = plan_observations(log.read(), collected, progress)
        append_all(log, new)
    return report


def dry_run(project: Project | None, collected: Collected,
            progress=None) -> tuple[list[Observation], RecordReport]:
    """The bootstrap log as `record` would leave it (what it holds, then what the run would
    add), and the report; writes nothing. `project` is None for a repository wikimem does
    not know yet."""
    existing = bootstrap_observations(project) if project else []
    new, report = plan_observations(existing, collected, progress)
    report.dry_run = True
    return existing + new, report
