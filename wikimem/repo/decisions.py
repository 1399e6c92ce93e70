"""The repository's decisions as memory: decision records (ADRs) and commits whose message
states a decision become decision items, merged into the MemoryState as memory observations
derived from the bootstrap log (never written to it) placed before the memory log's own, so
`wikimem accept` and `wikimem forget` apply to them like to any candidate.

What every compile needs from the bootstrap log — these operations, the project line and the
first agent rules — is a `Digest`, cached in `state/bootstrap.json` under the log's stamp.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import cache

from wikimem.capture.observation import Observation
from wikimem.memory import MemoryState, fold, one_line, slugify
from wikimem.project import Project, write_atomic
from wikimem.repo.fold import Repo, folded, log_stamp
from wikimem.repo.patterns import decision_patterns
from wikimem.repo.record import AGENT, SESSION, log_path
from wikimem.repo.summary import context_rules, project_line
from wikimem.wiki.text import make_title

CANDIDATE_ID_LEN = 8
DIGEST_VERSION = 2  # 2: decision records carry their file's anchors

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
    anchors: dict = field(default_factory=dict)  # the record's own file, as bootstrap read it


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
            sources=srcs, origin="adr",
            # Tied to the code (compile.staleness): flagged when the record changes or goes.
            anchors={p: {"blob": str(s["blob"]), **({"commit": str(s["head"])}
                                                     if s.get("head") else {})}}
            if p in present and s.get("blob") else {})
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
            "supersedes": r.supersedes, **({"anchors": r.anchors} if r.anchors else {})}})
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


def load_digest(project: Project) -> Digest | None:
    """The digest of the project's bootstrap log (None when there is none); cached in state/."""
    stamp = log_stamp(log_path(project))
    if stamp is None:
        return None
    cache_file = project.state_dir / "bootstrap.json"
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        if cached.get("stamp") == stamp and cached.get("v") == DIGEST_VERSION:
            return Digest(**cached["digest"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return _save_digest(project, folded(project, stamp), stamp)


def _save_digest(project: Project, repo: Repo, stamp: list | None = None) -> Digest:
    found = digest(repo)
    stamp = stamp or log_stamp(log_path(project))
    if stamp is not None and project.state_dir.is_dir():
        write_atomic(project.state_dir / "bootstrap.json",
                     json.dumps({"v": DIGEST_VERSION, "stamp": stamp, "digest": asdict(found)}))
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
    return _with_decisions(found, memory_observations, candidates)


def memory_state_of(repo: Repo, memory_observations: list[Observation],
                    candidates: list[dict]) -> BootstrapMemoryState:
    """`memory_state` for a Repo folded in memory (a dry run): nothing read or cached."""
    return _with_decisions(digest(repo), memory_observations, candidates)


def _with_decisions(found: Digest, memory_observations: list[Observation],
                    candidates: list[dict]) -> BootstrapMemoryState:
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
