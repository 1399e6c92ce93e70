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
    """All of decision-patterns.txt as one regex: one search per sentence, not one per
    pattern."""
    return re.compile("|".join(f"(?P<p{i}>{rx.pattern})"
                               for i, (_, rx) in enumerate(decision_patterns())), re.I)


# What a commit message is made of, for finding the sentence that states a choice.
_BULLET = re.compile(r"^(?:[-*+\u2022]|\d+[.)])\s+")
_TRAILER = re.compile(r"^(?:signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|"
                      r"reported-by|helped-by|cc|change-id|refs?|closes|fixes|see also)\s*:",
                      re.I)
_DEFAULT_REVERT = re.compile(r"^this reverts commit [0-9a-f]{7,40}\.?$", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(\[])")
_CONVENTIONAL = re.compile(r"^(\w+)(?:\([^)]*\))?!?:\s*")
_TAG_PREFIX = re.compile(r"^(?:\[[^\]]{1,30}\]\s*)+")
# The choice is the sentence's own verb: at most this many words before the pattern's match
# ("docs use venv instead of virtualenv", "We decided to"), not a clause deep inside it
# ("... blocks which switched to savepoint mode").
MAX_WORDS_BEFORE = 2
# Commits that fix, test or tidy something state no choice, whatever words their message uses.
_NOT_A_CHOICE = re.compile(
    r"^(?:fix(?:e[sd]|ing)?|bug\s*fix|hot\s*fix|typos?|tests?|testing|merge|wip)\b", re.I)
_NOT_A_CHOICE_TYPES = {"fix", "test", "tests", "style", "typo", "wip"}
# "Fix #12", "fixes #12" anywhere in the subject: the commit repairs something.
_FIXES_ISSUE = re.compile(r"\bfix(?:e[sd])?\s+#\d+", re.I)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)
# A swap between two pieces of code (`find()` for `index()`, `os.sep.join` for
# `os.path.join`) is a local edit; a choice names a tool, library, format or practice.
# (A token with a call, an attribute or a subscript in it: `os.path.join`, `find()`.)
_CODE_NAME = r"`?(?=[\w.\[\]()'\"]*(?:\w\.\w|\(\w*\)|\[\w+\]))[\w.\[\]()'\"]+`?"
_CODE_SWAP = re.compile(
    rf"^(?:use\s+{_CODE_NAME}\s+instead\s+of\b|"
    rf"replac(?:e|ed)\s+(?:\w+\s+)?{_CODE_NAME}\s+with\s+(?:\w+\s+){{0,3}}{_CODE_NAME}"
    r"(?:\s|[.,;]|$))", re.I)
_UPDATE_FILE = re.compile(r"^update\s+\S+\.[a-z]{1,5}\s*$", re.I)  # a web-editor default
_TEST_PATH = re.compile(r"(?:^|/)(?:tests?|spec|__tests__)/|(?:^|/)test_[^/]*$|_test\.\w+$|"
                        r"\.(?:test|spec)\.\w+$")
# A revert is a decision only when its message says why.
_REASON = re.compile(r"\b(?:because|caused?|causes|causing|breaks?|broke|broken|fails?|failed|"
                     r"failing|turns? out|due to|so that|otherwise|since|regress\w*|"
                     r"problems?|issues?|too\s+\w+)\b", re.I)
# What the choice ruled out, when the sentence names it.
_RULED_OUT = (
    re.compile(r"\bfrom\s+(.+?)\s+to\s+\S", re.I),
    re.compile(r"\breplac(?:e|es|ed|ing)\s+(.+?)\s+with\s+\S", re.I),
    re.compile(r"\binstead\s+of\s+(.+?)\s*(?:[,;(]|$|\.\s|\.$)", re.I),
    re.compile(r"\bdeprecat\w*\s+(.+?)\s+in\s+favou?r\s+of\b", re.I),
    re.compile(r"\bstop(?:s|ped|ping)?\s+using\s+(.+?)\s*(?:[,;(]|$|\.\s|\.$)", re.I),
    re.compile(r"\bsupport\s+for\s+(.+?)\s*(?:[,;(]|$|\.\s|\.$)", re.I),
)


@dataclass
class CommitDecision:
    """The choice a commit message states: the pattern's label, the whole sentence, and
    what the message gives as its reason and as the option ruled out."""

    label: str
    sentence: str
    why: str = ""
    ruled_out: str = ""
    in_body: bool = False


def message_parts(body: str) -> tuple[list[str], list[str]]:
    """A commit body as (prose sentences, bullet items), each one line: wrapped lines are
    joined again, trailers (Signed-off-by: ...) and git's "This reverts commit" line left out."""
    prose: list[str] = []
    bullets: list[str] = []
    lines: list[str] = []
    bullet = False

    def flush() -> None:
        if lines:
            text = " ".join(lines)
            if bullet:
                bullets.append(text)
            else:
                prose.extend(s.strip() for s in _SENTENCE_END.split(text) if s.strip())
        lines.clear()

    for raw in body.splitlines():
        line = raw.strip()
        if not line or _TRAILER.match(line) or _DEFAULT_REVERT.match(line):
            flush()
            bullet = False
            continue
        if _BULLET.match(line):
            flush()
            bullet = True
            line = _BULLET.sub("", line)
        lines.append(line)
    flush()
    return prose, bullets


def _statement(sentence: str) -> tuple[str, str] | None:
    """(label, sentence) when the sentence's own verb states a choice."""
    text = _TAG_PREFIX.sub("", _CONVENTIONAL.sub("", sentence, count=1)).strip()
    m = _decision_regex().search(_URL.sub("url", text))
    if m is None or len(text[:m.start()].split()) > MAX_WORDS_BEFORE \
            or _CODE_SWAP.match(text):
        return None
    return decision_patterns()[int(m.lastgroup[1:])][0], text


def _ruled_out(sentence: str) -> str:
    for rx in _RULED_OUT:
        m = rx.search(sentence)
        if m:
            return m.group(1).strip(" .,`'\"")[:200]
    return ""


def commit_decision(commit: dict) -> CommitDecision | None:
    """The choice a commit states, if it states one.

    In order: a revert counts only with its reason; a commit that fixes, tests or tidies
    (by its subject, its conventional type, or touching test files only) states none; then
    the subject, then each sentence of the body's prose (bullets list what changed, not a
    choice), is tried: a decision pattern must be the sentence's own verb. The whole
    sentence is kept; the body's other prose is the reason (Why) it gives.
    """
    subject = " ".join(str(commit["subject"]).split())
    prose, _ = message_parts(str(commit.get("body") or ""))
    conventional = _CONVENTIONAL.match(subject)
    plain = _TAG_PREFIX.sub("", subject[conventional.end():] if conventional else subject)
    if plain.lower().startswith("revert") or subject.startswith('Revert "'):
        reasons = [s for s in prose if _REASON.search(s)]
        if not reasons:
            return None
        return CommitDecision("revert", subject, why=" ".join(prose)[:1500])
    kind = conventional.group(1).lower() if conventional else ""
    files = [f for f in commit.get("files") or [] if isinstance(f, str)]
    if _NOT_A_CHOICE.match(plain) or kind in _NOT_A_CHOICE_TYPES or _UPDATE_FILE.match(plain) \
            or _FIXES_ISSUE.search(subject) or (files and all(_TEST_PATH.search(f) for f in files)):
        return None
    found = _statement(subject)
    in_body = False
    if found is None:
        for sentence in prose:
            found = _statement(sentence)
            # ("Revert #497" in a body: a revert, and a revert counts only with its reason.)
            if found is not None and found[0] != "revert":
                in_body = True
                break
            found = None
    if found is None:
        return None
    label, sentence = found
    why = " ".join(s for s in prose if s != sentence)
    return CommitDecision(label, sentence if in_body else subject, why=why[:1500],
                          ruled_out=_ruled_out(sentence), in_body=in_body)


def commit_candidates(repo: Repo) -> list[DecisionRecord]:
    """Commits whose message states a choice or a reversal with its reason -> proposed
    decisions (see `commit_decision`)."""
    out = []
    for c in repo.commits:
        if c["merge"]:
            continue
        found = commit_decision(c)
        if found is None:
            continue
        cid = f"D-{c['hash'][:CANDIDATE_ID_LEN]}"
        stated = found.sentence
        if not found.in_body:
            conv = _CONVENTIONAL.match(stated)
            stated = stated[conv.end():] if conv else stated
        title = make_title(stated[:1].upper() + stated[1:], 100)
        _, changes = message_parts(c["body"])
        context = "\n".join(([f"Commit: {c['subject']}"] if found.in_body else [])
                            + [f"- {change}" for change in changes])
        fields = {"text": found.sentence, "why": found.why, "ruled_out": found.ruled_out,
                  "context": context[:1500],
                  "from": "commit message", "commit": c["hash"], "matched": found.label}
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
