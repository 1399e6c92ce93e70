"""`wikimem lint`: what is wrong with a project's memory, each finding with what to do.

Errors (the command exits 1): broken wikilinks, memories whose files are gone (dangling),
active decisions that contradict each other, settings that cannot be read. Warnings:
orphan pages, memories whose files changed since (stale), near-duplicate lessons or notes,
proposed items waiting longer than `proposed_days`, claims whose holder stopped
heartbeating, `.machine.md` pages waiting for a person's merge.

Contradictions are found by rule: two active decisions sharing their subject's terms with
opposite verbs (use/avoid, enable/disable, allow/forbid, always/never, keep/drop, a verb and
its negation) or saying `X over Y` and `Y over X`; with the LLM layer on, the model is asked
too (`llm_contradictions`, cached like consolidation). Nothing here writes, but `fix_links`
(and the LLM's cache and usage).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from difflib import SequenceMatcher
from itertools import combinations
from pathlib import Path

from wikimem.compile.links import _link_targets, broken_links
from wikimem.compile.staleness import describe
from wikimem.memory import MemoryState
from wikimem.wiki.markdown import link_key
from wikimem.wiki.pages import CONFLICT_MARK, read_page, rewrite_files, wiki_pages

ERROR, WARNING = "error", "warning"


@dataclass
class Finding:
    level: str
    code: str
    pages: list[str]
    message: str
    fix: str
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def lint(wiki_dir: Path, memory: MemoryState, *, now: datetime | None = None,
         proposed_days: float = 14, claim_expiry_minutes: float = 30,
         settings_errors: list[str] = ()) -> list[Finding]:
    """Every finding, errors first, then by code and pages (deterministic)."""
    now = now or datetime.now(UTC)
    listed = wiki_pages(wiki_dir)
    found = [Finding(ERROR, "settings", [".wikimem.toml"], e, "Fix the setting in the "
                     "project's .wikimem.toml.") for e in settings_errors]
    found += _broken(wiki_dir, listed)
    found += _orphans(wiki_dir, listed)
    found += _machine_pages(listed)
    found += _sync_conflicts(wiki_dir, listed)
    found += _stale(memory)
    found += _contradictions(memory)
    found += _duplicates(memory)
    found += _proposed(memory, now, proposed_days)
    found += _expired_claims(memory, now, claim_expiry_minutes)
    return sorted(found, key=lambda f: (f.level != ERROR, f.code, f.pages))


def _broken(wiki_dir: Path, listed: list[str]) -> list[Finding]:
    return [Finding(ERROR, "broken-link", [page], f"{page} links to {', '.join(targets)}, "
                    "which no page is.", "Point the link at an existing page, or remove it "
                    "(`wikimem lint --fix-links` fixes the ones with one clear target).",
                    {"targets": targets})
            for page, targets in sorted(broken_links(wiki_dir, listed).items())]


def _orphans(wiki_dir: Path, listed: list[str]) -> list[Finding]:
    """Pages in a folder that no other page links to (top-level pages are the entry points)."""
    linked: set[str] = set()
    for rel in listed:
        _, body = read_page(wiki_dir / rel)
        linked.update(link_key(t) for t in _link_targets(body) if link_key(t) != link_key(rel))
    return [Finding(WARNING, "orphan", [rel], f"No page links to {rel}.",
                    "Link it from a related page or a hub, or delete it if it is not needed.")
            for rel in listed if "/" in rel and not rel.endswith(".machine.md")
            and link_key(rel) not in linked]


def _machine_pages(listed: list[str]) -> list[Finding]:
    return [Finding(WARNING, "machine-update", [rel, rel.removesuffix(".machine.md") + ".md"],
                    f"{rel} holds wikimem's new material for a page a person edited.",
                    f"Merge what you want into {rel.removesuffix('.machine.md')}.md, then "
                    "delete the .machine.md file.")
            for rel in listed if rel.endswith(".machine.md")]


def _sync_conflicts(wiki_dir: Path, listed: list[str]) -> list[Finding]:
    """Pages edited on two machines (team memory): every version is on the page."""
    found = []
    for rel in listed:
        try:
            with open(wiki_dir / rel, encoding="utf-8", errors="replace") as f:
                first = f.read(len(CONFLICT_MARK))
        except OSError:
            continue
        if first == CONFLICT_MARK:
            found.append(Finding(ERROR, "sync-conflict", [rel], f"{rel} was edited on more "
                                 "than one machine; every version is kept on the page between "
                                 "`<<<<<<<` and `>>>>>>> end` markers.",
                                 "Merge them by hand, delete the markers, then `wikimem sync`."))
    return found


def _stale(memory: MemoryState) -> list[Finding]:
    found = []
    for item in sorted(memory.items.values(), key=lambda i: i.page):
        gone = [e for e in item.stale if e["state"] == "deleted"]
        changed = [e for e in item.stale if e["state"] == "changed"]
        if gone:
            found.append(Finding(
                ERROR, "dangling", [item.page], f"{item.id} "
                + "; ".join(describe(e) for e in gone) + ".",
                f"If it still holds, `wikimem verify {item.id}`; else `wikimem forget "
                f"{item.id} --reason \"...\"` or record what replaced it with --supersedes.",
                {"files": [e["path"] for e in gone]}))
        if changed:
            found.append(Finding(
                WARNING, "stale", [item.page], f"{item.id} "
                + "; ".join(describe(e) for e in changed) + ".",
                f"Check it against the code, then `wikimem verify {item.id}` (or forget or "
                "supersede it).", {"files": [e["path"] for e in changed]}))
    return found


# --- contradictions ----------------------------------------------------------------------

# verb -> (axis, sign): two decisions on the same subject with opposite signs on one axis
# contradict each other.
_POLARITY = {
    "use": ("use", 1), "uses": ("use", 1), "using": ("use", 1), "adopt": ("use", 1),
    "prefer": ("use", 1), "avoid": ("use", -1), "avoids": ("use", -1), "stop": ("use", -1),
    "enable": ("enable", 1), "enabled": ("enable", 1), "turn-on": ("enable", 1),
    "disable": ("enable", -1), "disabled": ("enable", -1),
    "allow": ("allow", 1), "allowed": ("allow", 1), "permit": ("allow", 1),
    "forbid": ("allow", -1), "forbidden": ("allow", -1), "disallow": ("allow", -1),
    "ban": ("allow", -1), "always": ("always", 1), "never": ("always", -1),
    "keep": ("keep", 1), "drop": ("keep", -1), "remove": ("keep", -1),
    "require": ("require", 1), "required": ("require", 1), "optional": ("require", -1),
}
_NEGATIONS = {"not", "no", "don't", "dont", "do-not", "never"}
_STOP = {"a", "an", "the", "to", "for", "of", "in", "on", "and", "or", "with", "we", "our",
         "is", "are", "be", "it", "as", "by", "all", "do", "should", "must", "will", "from",
         "at", "this", "that", "instead"}
_WORD = re.compile(r"[a-z0-9][a-z0-9+#._'-]*")
_OVER = re.compile(r"([a-z0-9][a-z0-9+#.-]*)\s+(?:over|instead of|rather than)\s+"
                   r"([a-z0-9][a-z0-9+#.-]*)")


def _stance(text: str) -> tuple[dict[str, int], set[str], set[tuple[str, str]]]:
    """(axis -> sign, subject terms, (preferred, rejected) pairs) of a decision's text."""
    words = [w.strip("._'-") for w in _WORD.findall(text.lower())]
    signs: dict[str, int] = {}
    negate = False
    for w in words:
        if w in _POLARITY:
            axis, sign = _POLARITY[w]
            signs[axis] = -sign if negate and w != "never" else sign
            negate = False
        elif w in _NEGATIONS:
            negate = True
    subject = {w for w in words if w and w not in _POLARITY and w not in _NEGATIONS
               and w not in _STOP}
    return signs, subject, {(a, b) for a, b in _OVER.findall(text.lower())}


def _contradictions(memory: MemoryState) -> list[Finding]:
    decisions = memory.of_kind("decision", "active")
    stances = {d.page: _stance(d.title) for d in decisions}
    found = []
    for a, b in combinations(decisions, 2):
        sa, ta, oa = stances[a.page]
        sb, tb, ob = stances[b.page]
        crossed = any((y, x) in ob for x, y in oa)
        opposed = [axis for axis in sa if axis in sb and sa[axis] == -sb[axis]]
        shared = ta & tb
        if crossed or (opposed and shared and len(shared) * 2 >= min(len(ta), len(tb))):
            why = "one prefers what the other rejects" if crossed else \
                f"opposite stances ({'/'.join(opposed)}) on {', '.join(sorted(shared))}"
            found.append(Finding(
                ERROR, "contradiction", sorted([a.page, b.page]),
                f"{a.id} and {b.id} are both in force and contradict each other: {why}.",
                "Keep one: record the newer with `--supersedes` the older, or `wikimem forget` "
                "the one that no longer holds."))
    return found


# --- duplicates, waiting items, claims ---------------------------------------------------


def _terms(item) -> set[str]:
    text = " ".join([item.title, str(item.fields.get("correct") or "")]).lower()
    return {w for w in _WORD.findall(text) if w not in _STOP}


def _duplicates(memory: MemoryState) -> list[Finding]:
    found = []
    for kind in ("lesson", "note"):
        items = memory.of_kind(kind, "active")
        terms = {i.page: _terms(i) for i in items}
        for a, b in combinations(items, 2):
            ta, tb = terms[a.page], terms[b.page]
            if not ta or not tb:
                continue
            jaccard = len(ta & tb) / len(ta | tb)
            if jaccard < 0.3:
                continue
            ratio = SequenceMatcher(None, " ".join(sorted(ta)), " ".join(sorted(tb))).ratio()
            if jaccard >= 0.6 or ratio >= 0.85:
                found.append(Finding(
                    WARNING, "duplicate", sorted([a.page, b.page]),
                    f"{a.id} and {b.id} say nearly the same thing.",
                    "Keep one: `wikimem forget` the other with a reason naming the one kept.",
                    {"similarity": round(max(jaccard, ratio), 2)}))
    return found


def _when(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None


def _proposed(memory: MemoryState, now: datetime, days: float) -> list[Finding]:
    found = []
    for item in sorted(memory.items.values(), key=lambda i: i.page):
        created = _when(item.created)
        if item.status == "proposed" and created and now - created > timedelta(days=days):
            found.append(Finding(
                WARNING, "proposed-waiting", [item.page],
                f"{item.id} has been proposed since {item.created[:10]} "
                f"(over {days:g} days).",
                f"Decide: `wikimem accept {item.id}` or `wikimem forget {item.id} --reason "
                "\"...\"`."))
    return found


def _expired_claims(memory: MemoryState, now: datetime, minutes: float) -> list[Finding]:
    found = []
    for task in memory.of_kind("task", "in_progress"):
        seen = _when(task.last_seen or "")
        if seen and now - seen > timedelta(minutes=minutes):
            found.append(Finding(
                WARNING, "expired-claim", [task.page],
                f"{task.id} is held by {task.holder}, whose last heartbeat was "
                f"{task.last_seen} (over {minutes:g} minutes ago).",
                "The next compile or task command returns it to todo; or the holder sends "
                f"`wikimem task heartbeat {task.id}`."))
    return found


# --- --fix-links -------------------------------------------------------------------------


def fix_links(wiki_dir: Path, findings: list[Finding]) -> list[str]:
    """Point each broken link with exactly one likely target (a page whose name matches it
    ignoring case and punctuation, or starts with it) at that page; returns the pages
    changed. Through the wiki's page gate (`rewrite_files`); the next compile commits them."""
    listed = wiki_pages(wiki_dir)
    stems: dict[str, list[str]] = {}
    for rel in listed:
        stems.setdefault(_squash(link_key(rel)), []).append(rel.rsplit("/", 1)[-1][:-3])
    changed = []
    for f in findings:
        if f.code != "broken-link":
            continue
        mapping = {}
        for target in f.detail["targets"]:
            key = _squash(link_key(target))
            hits = stems.get(key) or [s for k, v in stems.items() if k.startswith(key)
                                      and key for s in v]
            if len(hits) == 1:
                mapping[target] = hits[0]
        if mapping:
            changed += rewrite_files(wiki_dir, f.pages, lambda data, m=mapping: _retarget(data, m))
    return changed


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _retarget(data: bytes, mapping: dict[str, str]) -> bytes:
    text = data.decode("utf-8")
    for old, new in mapping.items():
        text = re.sub(r"\[\[" + re.escape(old) + r"(?=[|#\]])", lambda _m, n=new: f"[[{n}",
                      text)
    return text.encode("utf-8")


# --- contradictions the LLM finds (with the LLM layer on) --------------------------------

MAX_LLM_DECISIONS = 200


def llm_contradictions(project, memory: MemoryState, settings, *, client=None,
                       dry_run: bool = False) -> tuple[list[Finding], list[str]]:
    """Ask the model once which active decisions contradict each other. The request is
    cached by its input hash like consolidation's (`state/llm-cache/`), within the same caps,
    so an unchanged set of decisions is never paid for twice. Returns (findings, what went
    wrong); an answer naming an id that was not sent is rejected."""
    from wikimem import datafiles
    from wikimem.compile import llm

    decisions = memory.of_kind("decision", "active")[:MAX_LLM_DECISIONS]
    if len(decisions) < 2:
        return [], []
    system = datafiles.read_text("templates", "lint-contradictions-prompt.md")
    prompt = "\n".join(f"{d.id}: {d.title}" + (f" — why: {d.fields['why']}"
                                                if d.fields.get("why") else "")
                       for d in decisions)
    digest = llm._sha(system + "\0" + prompt)
    request = llm.Request("lint:contradictions", digest, digest, system, prompt)
    if dry_run:
        return [], []
    report = llm.Report()
    try:
        completion = llm._call(client or llm.AnthropicClient(), project, request, report,
                               llm.Usage(project), settings, llm.Queue(project),
                               time.monotonic() + settings.time_budget, None)
        data = llm.llm_answer.load_json(completion.text)
        pairs = data["pairs"]
        by_id = {d.id: d for d in decisions}
        found = []
        for pair in pairs:
            a, b = by_id.get(str(pair.get("a"))), by_id.get(str(pair.get("b")))
            if a is None or b is None or a is b:
                raise ValueError(f"the answer names decisions that were not asked about: {pair}")
            found.append(Finding(
                ERROR, "contradiction", sorted([a.page, b.page]),
                f"{a.id} and {b.id} are both in force and contradict each other (the LLM "
                f"says: {' '.join(str(pair.get('why', '')).split())[:300]}).",
                "Keep one: record the newer with `--supersedes` the older, or `wikimem forget` "
                "the one that no longer holds.", {"by": "llm"}))
        llm._store(project, request, completion)  # (only an answer that was usable)
        return found, []
    except llm.LLMError as exc:
        return [], [f"the LLM was not asked about contradictions: {exc}"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return [], [f"the LLM's answer about contradictions was not usable: {exc}"]


def merge_contradictions(findings: list[Finding], more: list[Finding]) -> list[Finding]:
    """The rule's findings with the LLM's added where they name another pair."""
    seen = {tuple(f.pages) for f in findings if f.code == "contradiction"}
    added = [f for f in more if tuple(f.pages) not in seen]
    return sorted(findings + added, key=lambda f: (f.level != ERROR, f.code, f.pages))
