"""`wikimem bootstrap`: seed a project's wiki from its repository.

Three steps, each with one owner, keeping wikimem's invariants:

1. **Record** (`record`): what `repo_history.collect` read becomes `bootstrap` observations
   in the raw log's `wikimem-bootstrap` session, through `capture.make_observation` (so
   secrets in commit messages and files are redacted). Idempotency keys come from uids:
   `commit:<hash>` for commits, `source:<path>:<blob sha>` for files (a changed file is a new
   observation, the latest per path wins, a file that disappeared gets `source_removed`), and
   `tree:<...>` for the layout at HEAD. A second run appends nothing.
2. **Fold** (`fold_log`): a pure function of those observations -> `Repo`.
3. **Render** (`pages`, `memory_state`): called by the compiler. Pages `project/overview.md`,
   `project/modules.md`, `project/rules.md`, `project/hotspots.md`, `history/<YYYY-MM>.md`
   and `history.md` are pure functions of the `Repo`; decision records (ADRs) and commits
   whose message states a decision become decision items, merged into the MemoryState as
   memory observations derived from the log (never written to it) placed before the memory
   log's own, so `wikimem accept` and `wikimem forget` apply to them like to any candidate.

Nothing here reads the clock: "recent" is relative to the newest commit, so `compile
--rebuild` reproduces every page byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from wikimem.capture import rawlog
from wikimem.capture.event import Event
from wikimem.capture.observation import Observation
from wikimem.capture.observe import idempotency_key, make_observation
from wikimem.memory import MemoryState, fold, one_line, slugify
from wikimem.project import Project, write_atomic
from wikimem.repo.collect import Collected, Planned, decision_patterns, sources
from wikimem.wiki.pages import Page
from wikimem.wiki.text import NONE, bullets, code_span, escape_text, make_title, quote, template

SESSION = "wikimem-bootstrap"
AGENT = "bootstrap"
KIND = "bootstrap"
LOG_NAME = f"{rawlog.internal_filename(SESSION)}.jsonl"
RECENT_DAYS = 90
TOP_FILES = 25
CONTEXT_RULES = 12
DIGEST_VERSION = 1
CANDIDATE_ID_LEN = 8


def is_bootstrap_log(name: str) -> bool:
    return name == LOG_NAME


PROJECT_PAGES = (
    ("project/overview.md", "Project overview"),
    ("project/modules.md", "Modules"),
    ("project/rules.md", "Rules for agents"),
    ("project/hotspots.md", "Hotspots"),
    ("history.md", "Repository history"),
)


def index_links(project: Project) -> list[tuple[str, str]]:
    """The bootstrap pages index.md links to: all of them once the repository was read."""
    path = log_path(project)
    return list(PROJECT_PAGES) if path.exists() and path.stat().st_size else []


def log_path(project: Project) -> Path:
    return project.raw_dir / LOG_NAME


def bootstrap_observations(project: Project) -> list[Observation]:
    return rawlog.read(log_path(project)).observations


# --- 1. record ---------------------------------------------------------------------------


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
    """The observations a run adds to the log (none for what it already holds)."""
    say = progress or (lambda _msg: None)
    report = RecordReport(root=str(collected.root), head=collected.head.commit,
                          commits_read=len(collected.commits))
    keys = {o.key for o in existing}
    cwd = str(collected.root)
    new: list[Observation] = []
    for commit in reversed(collected.commits):  # oldest first: the log reads in order
        uid = f"commit:{commit.hash}"
        if _key(uid) in keys:
            continue
        obs = _observation(uid, commit.data(), _raw_ts(commit.date), cwd)
        new.append(obs)
        keys.add(obs.key)
        if len(new) % 2000 == 0:
            say(f"commits recorded: {len(new)}")
    report.commits_recorded = len(new)

    current = current_sources(existing)
    head_ts = _raw_ts(collected.head.date)

    def unchanged(p: Planned) -> bool:
        now = current.get(p.path)
        return now is not None and now.get("blob") == p.blob and now.get("role") == p.role

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
        obs = _observation(_unique_uid(f"source:{data['path']}:{data['blob']}", keys), data,
                           head_ts, cwd)
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


# --- 2. fold -----------------------------------------------------------------------------

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
    repo = Repo()
    for o in observations:
        if o.kind != KIND:
            continue
        d, op = o.data, o.data.get("op")
        if op == "commit" and isinstance(d.get("hash"), str):
            commits[d["hash"]] = d
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
    repo.commits = sorted((_derive(d) for d in commits.values()),
                          key=lambda c: (c["utc"], c["hash"]))
    repo.by_hash = {c["hash"]: c for c in repo.commits}
    return repo


# --- decisions ---------------------------------------------------------------------------

ADR_STATUS = (
    # (words in the status text, what it becomes), first match wins
    (("superseded", "replaced by"), "superseded"),
    (("deprecated", "obsolete", "retired"), "deprecated"),
    (("rejected", "declined", "withdrawn", "abandoned"), "rejected"),
    (("accepted", "approved", "adopted", "decided", "done", "implemented", "active",
      "agreed"), "active"),
    (("proposed", "draft", "review", "open", "pending", "rfc", "discussion"), "proposed"),
)


def adr_status(text: str) -> str:
    low = text.lower()
    if not low.strip():
        return "active"  # a committed decision record with no status line
    for words, status in ADR_STATUS:
        if any(re.search(rf"\b{w}\b", low) for w in words):
            return status
    return "proposed"


@dataclass
class DecisionRecord:
    """A decision item derived from the repository, and the ops that put it in memory."""

    id: str
    page: str
    title: str
    status: str  # active, proposed, superseded, deprecated, rejected, removed
    created: str
    fields: dict
    sources: list[str]
    supersedes: list[str] = field(default_factory=list)
    retract: str = ""  # reason, when the item is shown retracted
    retract_ts: str = ""  # when (default: created)
    origin: str = ""  # "adr" or "commit"
    commit: str = ""  # the commit a candidate cites


def _first_commits(repo: Repo, paths: set[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    if not paths:
        return found
    for c in repo.commits:
        for f in c["files"]:
            if f in paths and f not in found:
                found[f] = c
    return found


def _adr_pages(paths: list[str]) -> dict[str, str]:
    """Stable page paths: a function of the file path only (plus a hash if stems clash)."""
    stems: dict[str, list[str]] = defaultdict(list)
    for p in paths:
        stem = p.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        stems[slugify(re.sub(r"^(?:adr[-_ ]?)", "", stem, flags=re.I), 60)].append(p)
    pages = {}
    for slug, group in stems.items():
        for p in group:
            extra = f"-{hashlib.sha256(p.encode()).hexdigest()[:6]}" if len(group) > 1 else ""
            pages[p] = f"decisions/ADR-{slug}{extra}.md"
    return pages


def adr_records(repo: Repo) -> list[DecisionRecord]:
    present = {p: s for p, s in repo.sources.items() if s.get("role") == "decision"}
    gone = {p: s for p, s in repo.removed.items() if s.get("role") == "decision"}
    every = {**gone, **present}
    if not every:
        return []
    pages = _adr_pages(sorted(every))
    first = _first_commits(repo, set(every))
    by_number: dict[int, list[str]] = defaultdict(list)
    for p in sorted(every, key=lambda p: (p in gone, p)):
        if isinstance(every[p].get("number"), int):
            by_number[every[p]["number"]].append(p)
    ids: dict[str, str] = {}
    used: set[str] = set()
    for p in sorted(every, key=lambda p: (p in gone, p)):
        n = every[p].get("number")
        base = f"ADR-{n:04d}" if isinstance(n, int) else "ADR-" + pages[p][14:-3][:40]
        item_id, k = base, 2
        while item_id.lower() in used:
            item_id, k = f"{base}~{k}", k + 1
        used.add(item_id.lower())
        ids[p] = item_id

    def resolve(refs: list, near: str) -> list[str]:
        out = []
        for ref in refs or []:
            kind, _, value = str(ref).partition(":")
            if kind == "path" and value in every:
                out.append(value)
            elif kind == "number" and value.isdigit() and by_number.get(int(value)):
                same_dir = [p for p in by_number[int(value)]
                            if p.rsplit("/", 1)[0] == near.rsplit("/", 1)[0]]
                out.append((same_dir or by_number[int(value)])[0])
        return [p for p in dict.fromkeys(out) if p != near]

    records: dict[str, DecisionRecord] = {}
    successors: dict[str, list[str]] = defaultdict(list)  # old path -> newer paths
    for p in sorted(every):
        s = every[p]
        status = adr_status(str(s.get("status", "")))
        if status in ("active", "superseded") and p in present:
            # A proposed record that says it supersedes another does not, until accepted.
            for old in resolve(s.get("supersedes"), p):
                successors[old].append(p)
        for newer in resolve(s.get("superseded_by"), p):
            successors[p].append(newer)
        date = str(s.get("date") or "")
        created = (f"{date}T00:00:00Z" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date)
                   else first[p]["utc"] if p in first else str(s.get("ts", ""))[:19] + "Z")
        decision = str(s.get("decision") or "")
        if s.get("consequences"):
            decision = (decision + "\n\n" if decision else "") + \
                f"Consequences:\n\n{s['consequences']}"
        fields = {"context": s.get("context") or "", "text": decision or s.get("title", ""),
                  "why": s.get("drivers") or "", "ruled_out": s.get("options") or "",
                  "from": "decision record", "adr_status": s.get("status") or "",
                  "path": p}
        srcs = [f"file:{p}"] + ([f"commit:{first[p]['hash']}"] if p in first else [])
        records[p] = DecisionRecord(
            id=ids[p], page=pages[p], title=one_line(str(s.get("title") or p), 200),
            status=status, created=created, fields={k: v for k, v in fields.items() if v},
            sources=srcs, origin="adr")
    for old, newer in successors.items():
        for n in dict.fromkeys(newer):
            if records[old].page not in records[n].supersedes:
                records[n].supersedes.append(records[old].page)
    for p, rec in records.items():
        status_text = one_line(str(every[p].get("status") or ""), 160)
        if p in gone:
            rec.retract = (f"{p} is no longer in the repository (not in the tree at commit "
                           f"{str(gone[p].get('removed_at', ''))[:10]}).")
            rec.status = "removed"
            rec.retract_ts = str(gone[p].get("removed_ts", ""))[:19] + "Z"
        elif rec.status in ("superseded", "deprecated") and not successors.get(p):
            what = "superseded" if rec.status == "superseded" else "deprecated"
            rec.retract = (f"The decision record says it is {what} ({status_text!r}) and "
                           "names no successor found in the repository.")
        elif rec.status == "rejected":
            rec.retract = f"The decision record's status is {status_text!r}."
        elif rec.status == "deprecated":
            rec.status = "superseded"
    return [records[p] for p in sorted(records)]


@cache
def _decision_regex() -> re.Pattern:
    """All of decision-patterns.txt as one regex: one search per line, not one per pattern."""
    return re.compile("|".join(f"(?P<p{i}>{rx.pattern})"
                               for i, (_, rx) in enumerate(decision_patterns())), re.I)


def _matching_line(commit: dict) -> tuple[str, str] | None:
    """(pattern label, the line) of the first line of the message a decision pattern matches."""
    rx = _decision_regex()
    lines = [commit["subject"]] + [ln.strip() for ln in commit["body"].splitlines()[:40]
                                   if ln.strip()]
    for line in lines:
        m = rx.search(line)
        if m:
            return decision_patterns()[int(m.lastgroup[1:])][0], line
    return None


def commit_candidates(repo: Repo) -> list[DecisionRecord]:
    """Commits whose message states a decision or a reversal -> proposed decisions."""
    out = []
    for c in repo.commits:
        if c["merge"]:
            continue
        hit = _matching_line(c)
        if hit is None:
            continue
        label, line = hit
        cid = f"D-{c['hash'][:CANDIDATE_ID_LEN]}"
        desc = c["desc"] or c["subject"]
        title = make_title(desc[:1].upper() + desc[1:], 100)
        text = c["subject"] if line == c["subject"] else f"{c['subject']}\n\n{line}"
        fields = {"text": text, "context": c["body"][:1000] if c["body"] else "",
                  "from": "commit message", "commit": c["hash"], "matched": label}
        out.append(DecisionRecord(
            id=cid, page=f"decisions/{cid}-{slugify(title)}.md", title=title,
            status="proposed", created=c["utc"], fields={k: v for k, v in fields.items() if v},
            sources=[f"commit:{c['hash']}"] + [f"file:{f}" for f in c["files"][:10]],
            origin="commit", commit=c["hash"]))
    return out


def decision_records(repo: Repo) -> list[DecisionRecord]:
    if repo.records is None:
        repo.records = adr_records(repo) + commit_candidates(repo)
    return repo.records


def memory_ops(records: list[DecisionRecord]) -> list[dict]:
    """The records as memory-log operations (`{"ts", "data"}`), adds first, then retractions."""
    ops = []
    for r in sorted(records, key=lambda r: (r.created, r.page)):
        status = {"removed": "active", "rejected": "active",
                  "deprecated": "active"}.get(r.status, r.status)
        ops.append({"ts": r.created, "data": {
            "op": "add", "kind": "decision", "id": r.id, "page": r.page, "title": r.title,
            "status": status, "fields": r.fields, "sources": r.sources,
            "supersedes": r.supersedes}})
    for r in sorted(records, key=lambda r: r.page):
        if r.retract:
            ops.append({"ts": r.retract_ts or r.created, "data": {
                "op": "forget", "page": r.page, "reason": r.retract}})
    return ops


def as_observations(ops: list[dict]) -> list[Observation]:
    return [Observation(id=f"bootstrap-{i:06d}", key=f"bootstrap-{i:06d}", session=SESSION,
                        agent=AGENT, kind="memory", ts=op["ts"], data=op["data"])
            for i, op in enumerate(ops)]


# --- what the context and compile need, cached ---------------------------------------------


@dataclass
class Digest:
    """What every compile needs from the bootstrap log, without reading it each time."""

    ops: list[dict] = field(default_factory=list)
    project_line: str = ""
    rules: list[str] = field(default_factory=list)


def digest(repo: Repo) -> Digest:
    return Digest(ops=memory_ops(decision_records(repo)), project_line=project_line(repo),
                  rules=context_rules(repo))


def _stamp(path: Path) -> list | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    from wikimem import __version__

    patterns = hashlib.sha256(repr(decision_patterns()).encode()).hexdigest()[:12]
    return [DIGEST_VERSION, __version__, patterns, st.st_size, st.st_mtime_ns, st.st_ino]


def load_digest(project: Project) -> Digest | None:
    """The digest of the project's bootstrap log (None when there is none); cached in state/."""
    stamp = _stamp(log_path(project))
    if stamp is None:
        return None
    cache_file = project.state_dir / "bootstrap.json"
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        if cached.get("stamp") == stamp:
            return Digest(**cached["digest"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return _save_digest(project, _folded(project, stamp), stamp)


_last: dict[str, tuple[list, Repo]] = {}  # log path -> (stamp, Repo): one fold per change


def _folded(project: Project, stamp: list | None) -> Repo:
    key = str(log_path(project))
    if stamp is not None and key in _last and _last[key][0] == stamp:
        return _last[key][1]
    repo = fold_log(bootstrap_observations(project))
    _last.clear()
    if stamp is not None:
        _last[key] = (stamp, repo)
    return repo


def _save_digest(project: Project, repo: Repo, stamp: list | None = None) -> Digest:
    found = digest(repo)
    stamp = stamp or _stamp(log_path(project))
    if stamp is not None and project.state_dir.is_dir():
        write_atomic(project.state_dir / "bootstrap.json",
                     json.dumps({"stamp": stamp, "digest": asdict(found)}))
    return found


@dataclass
class BootstrapMemoryState(MemoryState):
    """MemoryState plus what the session-start context says about the repository."""

    project_line: str = ""
    agent_rules: list[str] = field(default_factory=list)


def memory_state(project: Project, memory_observations: list[Observation],
                 candidates: list[dict]) -> MemoryState:
    """The memory log folded with session candidates and the repository's decisions."""
    found = load_digest(project)
    if found is None:
        return fold(memory_observations, candidates)
    state = fold(as_observations(found.ops) + list(memory_observations), candidates)
    return BootstrapMemoryState(items=state.items, retracted=state.retracted,
                                project_line=found.project_line, agent_rules=found.rules)


def candidate_for(project: Project, page: str) -> DecisionRecord | None:
    """The proposed bootstrap decision on `page` (for `wikimem accept`), if there is one."""
    found = load_digest(project)
    for op in (found.ops if found else []):
        d = op["data"]
        if d.get("op") == "add" and d.get("page") == page and d.get("status") == "proposed":
            return DecisionRecord(id=d["id"], page=page, title=d["title"], status="proposed",
                                  created=op["ts"], fields=dict(d.get("fields") or {}),
                                  sources=list(d.get("sources") or []))
    return None


# --- 3. render ---------------------------------------------------------------------------


def _span(items: list[str]) -> str:
    return ", ".join(items)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _name(repo: Repo) -> str:
    for m in repo.of_role("manifest"):
        if m.get("name") and not m.get("error"):
            return str(m["name"])
    readme = repo.of_role("readme")
    if readme and readme[0].get("title") and readme[0]["title"] != readme[0]["path"]:
        return str(readme[0]["title"])
    return str(repo.tree.get("root_name") or "This project")


def _description(repo: Repo) -> tuple[str, str]:
    """(description, the file it came from)."""
    for m in repo.of_role("manifest"):
        if m.get("description"):
            return str(m["description"]), m["path"]
    for r in repo.of_role("readme"):
        if r.get("intro"):
            return str(r["intro"][0]), r["path"]
    return "", ""


def _languages(repo: Repo) -> list[str]:
    langs = repo.tree.get("languages") or {}
    return [f"{k} ({_plural(int(v), 'file')})" for k, v in langs.items()][:6]


def project_line(repo: Repo) -> str:
    """One line for the session-start context: what the project is."""
    if repo.empty:
        return ""
    desc, _ = _description(repo)
    langs = ", ".join(k for k in (repo.tree.get("languages") or {}))
    line = _name(repo) + (f" — {one_line(desc, 220)}" if desc else "")
    extra = []
    if langs:
        extra.append(", ".join(langs.split(", ")[:3]))
    if repo.commits:
        extra.append(f"{_plural(len(repo.commits), 'commit')} "
                     f"{repo.commits[0]['day']} to {repo.commits[-1]['day']}")
    if extra:
        line += f" ({'; '.join(extra)})"
    return line + ". Overview: `wikimem show project/overview.md`."


def _rule_items(repo: Repo):
    for s in _ordered_rules(repo):
        for item in s.get("items") or []:
            if isinstance(item, dict):
                yield s, item


def _ordered_rules(repo: Repo) -> list[dict]:
    order = {role_path: i for i, role_path in enumerate(
        ["agents.md", "claude.md", ".claude/claude.md", "gemini.md",
         ".github/copilot-instructions.md", ".cursorrules"])}
    return sorted(repo.of_role("rules"), key=lambda s: (order.get(s["path"].lower(), 99),
                                                         s["path"]))


def context_rules(repo: Repo) -> list[str]:
    """The first rules of the agent files, for the context (each with file:line)."""
    out, seen = [], set()
    for s, item in _rule_items(repo):
        text = str(item.get("text") or "")
        norm = " ".join(text.lower().split())
        if not text or norm in seen or len(text.split()) < 3:
            continue
        seen.add(norm)
        out.append(f"{one_line(text, 200)} ({s['path']}:{item.get('line')})")
        if len(out) >= CONTEXT_RULES:
            break
    return out


def _commit_url(repo: Repo, sha: str) -> str:
    base = str(repo.tree.get("remote") or "")
    if not base:
        return ""
    if "gitlab.com" in base:
        return f"{base}/-/commit/{sha}"
    if "bitbucket.org" in base:
        return f"{base}/commits/{sha}"
    return f"{base}/commit/{sha}"


def hash_link(repo: Repo, sha: str) -> str:
    url = _commit_url(repo, sha)
    return f"[`{sha[:7]}`]({url})" if url else f"`{sha[:7]}`"


def _meta(title: str, kind: str, repo: Repo, sources: list[str], tags: list[str] | None = None,
          created: str | None = None, updated: str | None = None) -> dict:
    first = repo.commits[0]["utc"] if repo.commits else None
    last = repo.commits[-1]["utc"] if repo.commits else None
    return {"title": title, "kind": kind, "status": "active",
            "created": created or first, "updated": updated or last,
            "sources": list(dict.fromkeys(sources)), "tags": tags or [kind, "bootstrap"]}


def _head_source(repo: Repo) -> list[str]:
    head = str(repo.tree.get("head") or "")
    return [f"commit:{head}"] if head else []


SEE_ALSO = ("[[overview|Overview]] · [[modules|Modules]] · [[rules|Rules for agents]] · "
            "[[hotspots|Hotspots]] · [[history|History]] · [[decisions|Decisions]]")


def overview_page(repo: Repo, records: list[DecisionRecord]) -> Page:
    name = _name(repo)
    desc, desc_from = _description(repo)
    srcs = []
    facts = []
    langs = _languages(repo)
    if langs:
        facts.append(f"Languages (files at HEAD): {_span(langs)}")
    for m in repo.of_role("manifest"):
        srcs.append(f"file:{m['path']}")
        if m.get("error"):
            facts.append(f"Manifest {code_span(m['path'])}: {escape_text(m['error'])}")
            continue
        bits = [escape_text(str(m.get(k))) for k in ("name", "version") if m.get(k)]
        if m.get("requires"):
            bits.append(f"requires {escape_text(str(m['requires']))}")
        facts.append(f"Manifest {code_span(m['path'])} ({escape_text(str(m.get('language', '')))})"
                     + (f": {' '.join(bits)}" if bits else ""))
    entries = [f"{code_span(e)} ({code_span(m['path'])})" for m in repo.of_role("manifest")
               for e in m.get("entry_points") or []]
    entries += [code_span(f) for f in repo.tree.get("entry_files") or []]
    if entries:
        facts.append(f"Entry points: {_span(entries[:12])}")
    modules = repo.tree.get("modules") or []
    if modules:
        facts.append(f"Modules: {_span([code_span(m['path'] + '/') for m in modules[:12]])}"
                     f"{' …' if len(modules) > 12 else ''} — see [[modules|Modules]]")
    if repo.commits:
        authors = len({c["author"] for c in repo.commits})
        first, last = repo.commits[0], repo.commits[-1]
        facts.append(f"History: {_plural(len(repo.commits), 'commit')} by "
                     f"{_plural(authors, 'author')}, from {first['day']} "
                     f"({hash_link(repo, first['hash'])}) to {last['day']} "
                     f"({hash_link(repo, last['hash'])}) — see [[history|History]]")
        srcs += [f"commit:{first['hash']}", f"commit:{last['hash']}"]
    adrs = [r for r in records if r.origin == "adr"]
    cands = [r for r in records if r.origin == "commit"]
    if adrs or cands:
        facts.append(f"Decisions: {_plural(len(adrs), 'decision record')}, "
                     f"{_plural(len(cands), 'proposed decision')} from commit messages — see "
                     "[[decisions|Decisions]]")
    rules = repo.of_role("rules")
    if rules:
        facts.append(f"Agent rules: {_span([code_span(r['path']) for r in rules])} — see "
                     "[[rules|Rules for agents]]")
    if repo.tree.get("remote"):
        facts.append(f"Repository: {repo.tree['remote']}")
    readme_parts = []
    for r in repo.of_role("readme"):
        srcs.append(f"file:{r['path']}")
        intro = "\n\n".join(str(p) for p in r.get("intro") or [])
        if intro:
            readme_parts.append(quote(intro))
            readme_parts.append(f"— {code_span(r['path'])}")
        if r.get("sections"):
            readme_parts.append("Sections: " + " · ".join(escape_text(str(s))
                                                           for s in r["sections"][:20]))
    docs = []
    for d in repo.of_role("docs"):
        srcs.append(f"file:{d['path']}")
        line = f"{code_span(d['path'])} — {escape_text(str(d.get('title', '')))}"
        if d.get("summary"):
            line += f": {escape_text(one_line(str(d['summary']), 200))}"
        docs.append(line)
    deps = []
    for m in repo.of_role("manifest"):
        names = [str(x) for x in m.get("dependencies") or []]
        if names:
            line = f"{code_span(m['path'])}: {escape_text(', '.join(names))}"
            if m.get("extras"):
                line += f" (extras: {escape_text(', '.join(map(str, m['extras'])))})"
            deps.append(line)
    description = (quote(desc) + f"\n\n— {code_span(desc_from)}" if desc
                   else "_No description found in the manifests or the README._")
    body = template("overview.md").substitute(
        name=escape_text(name), description=description, facts=bullets(facts),
        readme="\n\n".join(readme_parts) or NONE, docs=bullets(docs), dependencies=bullets(deps),
        see_also=SEE_ALSO,
    )
    srcs += _head_source(repo)
    return Page("project/overview.md", _meta(f"{name} — overview", "overview", repo, srcs),
                body)


def modules_page(repo: Repo) -> Page:
    modules = repo.tree.get("modules") or []
    head = str(repo.tree.get("head") or "")
    touched: Counter = Counter()
    last: dict[str, dict] = {}
    paths = [m["path"] for m in modules]
    for c in repo.commits:
        hit = set()
        for f in c["files"]:
            for p in paths:
                if f.startswith(p + "/"):
                    hit.add(p)
        for p in hit:
            touched[p] += 1
            last[p] = c
    members: dict[str, list[dict]] = defaultdict(list)
    by_path = repo.sources
    for s in repo.sources.values():
        if s.get("role") == "member":
            members[str(s.get("module"))].append(s)
    srcs = _head_source(repo)
    parts = []
    for m in modules:
        path = m["path"]
        header_file = m.get("header") or ""
        s = by_path.get(header_file) if header_file else None
        title = f"## {code_span(path + '/')} — {escape_text(str(m.get('kind', 'folder')))}"
        lines = [title, ""]
        text = _header_of(s) if s else ""
        if text:
            lines += [quote(text), "", f"— {code_span(header_file)}", ""]
            srcs.append(f"file:{header_file}")
        else:
            lines += ["_No header found (no README, package docstring or top comment)._", ""]
        activity = f"{_plural(int(m.get('files', 0)), 'file')} at " + (
            f"{hash_link(repo, head)}" if head else "HEAD")
        if touched[path]:
            activity += (f"; changed in {_plural(touched[path], 'commit')}, last on "
                         f"{last[path]['day']} ({hash_link(repo, last[path]['hash'])})")
        lines.append(f"- {activity}")
        inside = []
        for mem in sorted(members.get(path, []), key=lambda x: (not str(x.get("name", ""))
                                                                .endswith("/"),
                                                                str(x.get("name", "")))):
            text = _header_of(mem)
            name = str(mem.get("name") or mem["path"].rsplit("/", 1)[-1])
            inside.append(f"{code_span(name)}" + (f" — {escape_text(text)}" if text else ""))
            srcs.append(f"file:{mem['path']}")
        if inside:
            lines += ["", "Inside:", "", bullets(inside)]
        parts.append("\n".join(lines))
    intro = ("The top-level folders of the repository (and the packages inside its source "
             "folders) at " + (hash_link(repo, head) if head else "HEAD") + ", and what each "
             "says about itself: its README, package docstring or top comment, quoted. Where "
             "work happens: [[hotspots|Hotspots]]. Back to [[overview|Overview]].")
    body = template("modules.md").substitute(intro=intro,
                                             modules="\n\n".join(parts) or NONE)
    return Page("project/modules.md", _meta("Modules", "modules", repo, srcs), body)


def _header_of(s: dict | None) -> str:
    if not s:
        return ""
    role = s.get("role")
    if role in ("header", "member"):
        return str(s.get("text") or "")
    if role == "readme":
        return str((s.get("intro") or [""])[0])
    if role == "docs":
        return str(s.get("summary") or s.get("title") or "")
    if role == "manifest":
        return str(s.get("description") or "")
    if role == "decision":
        return str(s.get("title") or "")
    return ""


def rules_page(repo: Repo) -> Page:
    files = []
    srcs = []
    for s in _ordered_rules(repo):
        path = s["path"]
        srcs.append(f"file:{path}")
        lines = [f"## {code_span(path)}", ""]
        scope = s.get("scope") or {}
        if scope:
            lines += ["Applies: " + "; ".join(f"{k}: {escape_text(str(v))}"
                                              for k, v in sorted(scope.items())), ""]
        heading = None
        items = [i for i in s.get("items") or [] if isinstance(i, dict)]
        if not items:
            lines.append("_The file has no rules in it._")
        for item in items:
            if item.get("heading") != heading:
                heading = item.get("heading")
                if heading:
                    if lines[-1] != "":
                        lines.append("")
                    lines += [f"### {escape_text(str(heading))}", ""]
            where = code_span(f"{path}:{item.get('line')}")
            indent = "  " * int(item.get("depth") or 0)
            if item.get("code"):
                code = str(item["code"])
                fence = "```"
                while fence in code:
                    fence += "`"
                block = "\n".join(f"{indent}    {ln}".rstrip()
                                  for ln in [fence, *code.splitlines(), fence])
                lines.append(f"{indent}- Code block — {where}\n\n{block}\n")
            else:
                lines.append(f"{indent}- {escape_text(str(item.get('text', '')))} — {where}")
        files.append("\n".join(lines).rstrip())
    looked = ", ".join(code_span(p) for p in ("AGENTS.md", "CLAUDE.md", "GEMINI.md",
                                                ".cursorrules", ".cursor/rules/",
                                                ".github/copilot-instructions.md"))
    intro = ("What the repository's agent instruction files tell coding agents, quoted item by "
             "item with the file and line it comes from (the files at "
             + (hash_link(repo, str(repo.tree['head'])) if repo.tree.get("head") else "HEAD")
             + "). The files are the authority; this page only collects them. See also "
             "[[overview|Overview]] and [[modules|Modules]].")
    body = template("rules.md").substitute(
        intro=intro,
        files="\n\n".join(files) or f"_No agent rule files found. Looked for {looked}._")
    return Page("project/rules.md", _meta("Rules for agents", "rules", repo,
                                          srcs + _head_source(repo)), body)


def hotspots_page(repo: Repo) -> Page:
    src = sources()
    overall: Counter = Counter()
    recent: Counter = Counter()
    last: dict[str, dict] = {}
    deleted: dict[str, bool] = {}
    areas: Counter = Counter()
    commits = [c for c in repo.commits if not c["merge"]]
    newest = repo.commits[-1]["utc"] if repo.commits else ""
    cutoff = ""
    if newest:
        cutoff = (datetime.fromisoformat(newest.replace("Z", "+00:00"))
                  - timedelta(days=RECENT_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ignored: dict[str, bool] = {}
    for c in commits:
        seen_areas = set()
        for i, f in enumerate(c["files"]):
            skip = ignored.get(f)
            if skip is None:
                skip = ignored[f] = src.ignored(f)
            if skip:
                continue
            overall[f] += 1
            if c["utc"] >= cutoff:
                recent[f] += 1
            last[f] = c
            deleted[f] = i < len(c["status"]) and c["status"][i] == "D"
            if "/" in f:
                seen_areas.add(f.split("/", 1)[0] + "/")
        for a in seen_areas:
            areas[a] += 1

    def ranked(counter: Counter) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_FILES]

    def line(path: str, n: int) -> str:
        c = last[path]
        gone = " — since deleted" if deleted.get(path) else ""
        return (f"{code_span(path)} — {_plural(n, 'commit')}, last on {c['day']} "
                f"({hash_link(repo, c['hash'])}){gone}")

    top, hot = ranked(overall), ranked(recent)
    srcs = ([f"commit:{repo.commits[0]['hash']}", f"commit:{repo.commits[-1]['hash']}"]
            if repo.commits else [])
    srcs += [f"file:{p}" for p, _ in top + hot]
    intro = (f"Which files change most, counted over {_plural(len(commits), 'non-merge commit')}"
             + (f" from {repo.commits[0]['day']} to {repo.commits[-1]['day']}" if repo.commits
                else "")
             + f". \"Last {RECENT_DAYS} days\" is counted back from the newest commit "
             + (f"({hash_link(repo, repo.commits[-1]['hash'])}, {newest[:10]})" if newest
                else "")
             + ", not from today. Commits are listed month by month in [[history|History]]; "
             "what each folder is: [[modules|Modules]].")
    body = template("hotspots.md").substitute(
        intro=intro, days=RECENT_DAYS,
        overall=bullets([line(p, n) for p, n in top]),
        recent=bullets([line(p, n) for p, n in hot]),
        areas=bullets([f"{code_span(a)} — {_plural(n, 'commit')}"
                       for a, n in sorted(areas.items(), key=lambda kv: (-kv[1], kv[0]))[:15]]),
    )
    return Page("project/hotspots.md", _meta("Hotspots", "hotspots", repo, srcs), body)


GROUPS = (
    ("feat", "Features"), ("fix", "Fixes"), ("perf", "Performance"),
    ("security", "Security"), ("refactor", "Refactoring"), ("docs", "Documentation"),
    ("test", "Tests"), ("build", "Build and CI"), ("chore", "Chores"), ("style", "Style"),
    ("revert", "Reverts"), ("merge", "Merges"), ("other", "Other changes"),
)
_GROUP_OF = {"tests": "test", "ci": "build", "deps": "build", "release": "chore"}


def group_of(c: dict) -> str:
    if c["merge"]:
        return "merge"
    if c["revert"]:
        return "revert"
    return _GROUP_OF.get(c["type"], c["type"]) or "other"


def _commit_line(repo: Repo, c: dict, candidates: dict[str, DecisionRecord]) -> str:
    scope = f"**{escape_text(c['scope'])}:** " if c["scope"] else ""
    text = escape_text(c["desc"] if c["type"] else c["subject"])
    line = f"{c['day']} {hash_link(repo, c['hash'])} {scope}{text} — {escape_text(c['author'])}"
    extra = []
    if c["files_total"]:
        extra.append(_plural(c["files_total"], "file"))
    if c["breaking"]:
        extra.append("**breaking change**")
    if c["reverts"]:
        target = next((h for h in repo.by_hash if h.startswith(c["reverts"])), "")
        extra.append(f"reverts {hash_link(repo, target) if target else code_span(c['reverts'])}")
    rec = candidates.get(c["hash"])
    if rec:
        stem = rec.page.rsplit("/", 1)[-1].removesuffix(".md")
        extra.append(f"proposed decision [[{stem}|{rec.id}]]")
    return line + (f" ({'; '.join(extra)})" if extra else "")


def history_pages(repo: Repo, records: list[DecisionRecord]) -> list[Page]:
    candidates = {r.commit: r for r in records if r.origin == "commit"}
    by_month: dict[str, list[dict]] = defaultdict(list)
    for c in repo.commits:
        by_month[c["month"]].append(c)
    months = sorted(by_month)
    pages = []
    hub_lines = []
    for i, month in enumerate(months):
        commits = by_month[month]
        groups: dict[str, list[str]] = defaultdict(list)
        counts: Counter = Counter()
        for c in commits:
            g = group_of(c)
            counts[g] += 1
            groups[g].append(_commit_line(repo, c, candidates))
        sections = [f"## {title} ({len(groups[key])})\n\n{bullets(groups[key])}"
                    for key, title in GROUPS if groups.get(key)]
        authors = len({c["author"] for c in commits})
        kinds = ", ".join(f"{counts[k]} {k}" for k, _ in GROUPS if counts[k])
        summary = (f"{_plural(len(commits), 'commit')} by {_plural(authors, 'author')}, from "
                   f"{commits[0]['day']} to {commits[-1]['day']}, oldest first: {kinds}. "
                   + (f"Previous month: [[history/{months[i - 1]}|{months[i - 1]}]]. "
                      if i else "")
                   + "All months: [[history|History]]; the files that change most: "
                   "[[hotspots|Hotspots]].")
        body = template("history-month.md").substitute(month=month, summary=summary,
                                                       sections="\n\n".join(sections))
        meta = _meta(f"History {month}", "history", repo,
                     [f"commit:{c['hash']}" for c in commits], ["history", "bootstrap"],
                     created=commits[0]["utc"], updated=commits[-1]["utc"])
        pages.append(Page(f"history/{month}.md", meta, body))
        hub_lines.append(f"[[history/{month}|{month}]] — {_plural(len(commits), 'commit')}"
                         f" ({kinds})")
    if not repo.commits:
        body = template("history-hub.md").substitute(
            summary="No commits recorded yet (`wikimem bootstrap --since` may have left them "
                    "all out). See also [[overview|Overview]].", months=NONE, authors=NONE)
        return [Page("history.md", _meta("History", "history", repo, _head_source(repo),
                                         ["history", "hub", "bootstrap"]), body)]
    authors: dict[str, list[dict]] = defaultdict(list)
    for c in repo.commits:
        authors[c["author"]].append(c)
    author_lines = [f"{escape_text(a)} — {_plural(len(cs), 'commit')}, {cs[0]['day']} to "
                    f"{cs[-1]['day']}" for a, cs in sorted(authors.items(),
                                                            key=lambda kv: (-len(kv[1]), kv[0]))
                    ][:20]
    total: Counter = Counter(group_of(c) for c in repo.commits)
    first, last = repo.commits[0], repo.commits[-1]
    summary = (f"{_plural(len(repo.commits), 'commit')} by {_plural(len(authors), 'author')}, "
               f"from {first['day']} ({hash_link(repo, first['hash'])}) to {last['day']} "
               f"({hash_link(repo, last['hash'])}), read from the repository's git log by "
               "`wikimem bootstrap`: "
               + ", ".join(f"{total[k]} {k}" for k, _ in GROUPS if total[k])
               + ". Each month lists its commits grouped by conventional-commit type. See also "
               "[[overview|Overview]], [[hotspots|Hotspots]] and [[decisions|Decisions]].")
    body = template("history-hub.md").substitute(
        summary=summary, months=bullets(list(reversed(hub_lines))),
        authors=bullets(author_lines))
    meta = _meta("History", "history", repo, [f"commit:{first['hash']}",
                                               f"commit:{last['hash']}"], ["history", "hub",
                                                                           "bootstrap"])
    pages.append(Page("history.md", meta, body))
    return pages


def render_pages(repo: Repo, llm_overview: dict | None = None) -> list[Page]:
    """Every bootstrap page (a pure function of the folded logs); none for an empty log.

    `llm_overview` is the recorded LLM overview ({input_hash, text, model}); it is used only
    when it was written from exactly the facts this fold gives.
    """
    if repo.empty:
        return []
    records = decision_records(repo)
    overview = overview_page(repo, records)
    if llm_overview and llm_overview.get("text"):
        from wikimem.compile.llm import input_hash_of

        if llm_overview.get("input_hash") == input_hash_of(overview_facts(repo)):
            marker = "\n\n## From the README"
            text = (f"\n\n## In brief\n\n{escape_text(llm_overview['text'])}\n\n"
                    f"_Written by {llm_overview.get('model') or 'an LLM'} from the facts on "
                    "this page; where they differ, the facts win._")
            overview = Page(overview.path, {**overview.meta, "sources": [
                *overview.meta.get("sources", []), f"llm:{llm_overview.get('model', '')}"]},
                overview.body.replace(marker, text + marker, 1))
    return [overview, modules_page(repo), rules_page(repo),
            hotspots_page(repo), *history_pages(repo, records)]


def overview_facts(repo: Repo) -> str:
    """What the LLM overview is written from (JSON): only facts bootstrap recorded."""
    name = _name(repo)
    desc, desc_from = _description(repo)
    facts = {
        "name": name,
        "description": desc, "description_from": desc_from,
        "languages": _languages(repo),
        "readme": [{"path": r["path"], "intro": r.get("intro") or [],
                    "sections": (r.get("sections") or [])[:20]} for r in repo.of_role("readme")],
        "manifests": [{k: m.get(k) for k in ("path", "name", "version", "language",
                                              "dependencies", "entry_points") if m.get(k)}
                      for m in repo.of_role("manifest")],
        "docs": [{"path": d["path"], "title": d.get("title", "")}
                 for d in repo.of_role("docs")][:40],
        "modules": [m["path"] for m in repo.tree.get("modules") or []][:40],
        "history": ({"commits": len(repo.commits), "first": repo.commits[0]["day"],
                     "last": repo.commits[-1]["day"]} if repo.commits else {}),
    }
    return json.dumps(facts, indent=1, ensure_ascii=False, sort_keys=True, default=str)


def facts_for_llm(project: Project) -> str | None:
    """The overview facts of a project's current bootstrap log (None before any bootstrap)."""
    if not log_path(project).exists():
        return None
    repo = _folded(project, _stamp(log_path(project)))
    return None if repo.empty else overview_facts(repo)


def pages(project: Project) -> list[Page]:
    """The bootstrap pages of a project (called by compile when its log changed)."""
    if not log_path(project).exists():
        return []
    from wikimem.compile import llm

    stamp = _stamp(log_path(project))
    repo = _folded(project, stamp)
    load_digest(project)  # refreshes the cached digest if this fold is new
    return render_pages(repo, llm.fold(llm.llm_observations(project)).bootstrap.get("overview"))


def commit_subject(new: list[Observation] | None) -> str | None:
    """The wiki commit subject for a compile that took in new bootstrap observations."""
    if not new:
        return None
    ops = Counter(o.data.get("op") for o in new if o.kind == KIND)
    parts = []
    if ops["commit"]:
        parts.append(_plural(ops["commit"], "commit"))
    if ops["source"] or ops["source_removed"]:
        parts.append(_plural(ops["source"] + ops["source_removed"], "file"))
    return "Bootstrap from the repository" + (f": {', '.join(parts)}" if parts else "")


# --- dry run -------------------------------------------------------------------------------


@dataclass
class Preview:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # edited by a person: would be left alone
    unchanged: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def preview(project: Project | None, collected: Collected, progress=None, *,
            budget: int | None = None) -> tuple[RecordReport, Preview]:
    """What a run would record and which pages it would write; writes nothing."""
    from wikimem.compile.context import DEFAULT_BUDGET, build_context
    from wikimem.compile.render import context_page, hub_pages, index_page, memory_page
    from wikimem.wiki.pages import is_machine_page

    existing = bootstrap_observations(project) if project else []
    new, report = plan_observations(existing, collected, progress)
    report.dry_run = True
    repo = fold_log(existing + new)
    out = render_pages(repo)
    records = decision_records(repo)
    if project is not None:
        from wikimem.compile.build import State, load_catalog
        from wikimem.memory import memory_observations

        catalog = State(project).load().catalog
        candidates = [c for _, d in sorted(catalog.items()) for c in d.get("candidates", [])]
        stems = {d["session_id"]: d["stem"] for d in catalog.values()}
        memory_obs = memory_observations(project)
        sessions = load_catalog(project)
    else:
        candidates, stems, memory_obs, sessions = [], {}, [], []
    folded = fold(as_observations(memory_ops(records)) + memory_obs, candidates)
    state = BootstrapMemoryState(items=folded.items, retracted=folded.retracted,
                                 project_line=project_line(repo), agent_rules=context_rules(repo))
    mine = {r.page for r in records}
    out += [memory_page(item, state, stems) for page, item in sorted(state.items.items())
            if page in mine]
    out += [p for p in hub_pages(state) if p.path == "decisions.md"]
    name = project.name if project else collected.root.name
    budget = budget or DEFAULT_BUDGET
    out.append(index_page(name, sessions, state, list(PROJECT_PAGES)))
    out.append(context_page(build_context(name, sessions, state=state, budget=budget), budget,
                            sessions))
    result = Preview()
    wiki = project.wiki_dir if project else None
    for page in sorted(out, key=lambda p: p.path):
        target = wiki / page.path if wiki else None
        current = target.read_text(encoding="utf-8") if target and target.exists() else None
        if current is None:
            result.new.append(page.path)
        elif current == page.render():
            result.unchanged.append(page.path)
        elif not is_machine_page(current):
            result.kept.append(page.path)
        else:
            result.changed.append(page.path)
    return report, result
