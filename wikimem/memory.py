"""Structured memory: decisions, lessons, notes, goals and tasks.

Every change is an observation (kind `memory`, `data.op` says which) appended to the raw log's
`wikimem-memory` session, so the log stays the single source of truth and a rebuild
reproduces every page. `fold()` turns that log into a MemoryState; candidates lifted from
sessions by rule (status `proposed`) are merged in, and supersession and retraction are
applied last.

Writes that depend on the current state (allocating an id, claiming a task) happen inside
the memory log's lock, so two processes claiming at once never get the same task.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from wikimem.capture import rawlog
from wikimem.capture.event import Event
from wikimem.capture.observation import Observation, format_ts, new_id
from wikimem.capture.observe import make_observation
from wikimem.errors import WikimemError
from wikimem.project import Project

MEMORY_SESSION = "wikimem-memory"
KINDS = {
    # kind: (id prefix, folder, page title prefix)
    "decision": ("D", "decisions", "Decision"),
    "lesson": ("L", "lessons", "Lesson"),
    "note": ("N", "notes", "Note"),
    "goal": ("G", "goals", "Goal"),
    "task": ("T", "tasks", "Task"),
}
OPEN_TASK = ("todo", "in_progress")


@dataclass
class Item:
    """One structured page's state."""

    id: str
    kind: str
    page: str
    title: str
    status: str
    created: str
    updated: str
    by: str = ""
    fields: dict = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    supersedes: list[str] = field(default_factory=list)
    superseded_by: list[str] = field(default_factory=list)
    valid_until: str | None = None
    retracted: dict | None = None  # {"reason", "ts", "by"}
    holder: str | None = None  # tasks: the agent holding the claim
    claimed_at: str | None = None
    last_seen: str | None = None
    checkpoints: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    # Tied to the code: {path: {"blob", "commit"}} as recorded (or last verified).
    anchors: dict[str, dict] = field(default_factory=dict)
    pinned: bool = False  # exempt from decay (`--pin`)
    verified: dict | None = None  # the last `wikimem verify`: {"ts", "by", "note"}
    # Derived, not from the log: what the code says of the anchors now (compile.staleness;
    # pages show it) and the last use (compile.usage; only the context's order and sweep).
    stale: list[dict] = field(default_factory=list)
    last_used: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MemoryState:
    """Every structured item by page path, and every retracted page (of any kind)."""

    items: dict[str, Item] = field(default_factory=dict)
    retracted: dict[str, dict] = field(default_factory=dict)
    # unfinished(): the tasks each agent ever claimed (made on first use, after the fold)
    _claimed: dict[str, list[Item]] | None = field(default=None, repr=False, compare=False)

    def of_kind(self, kind: str, *statuses: str) -> list[Item]:
        found = [i for i in self.items.values() if i.kind == kind]
        if statuses:
            found = [i for i in found if i.status in statuses]
        return sorted(found, key=_id_order)

    def find(self, ref: str, kind: str | None = None) -> Item:
        """An item by id (`T3`), page path or file stem."""
        want = ref.strip().lower().removesuffix(".md")
        for item in self.items.values():
            if kind and item.kind != kind:
                continue
            stem = item.page.rsplit("/", 1)[-1].removesuffix(".md").lower()
            if want in (item.id.lower(), item.page.lower().removesuffix(".md"), stem):
                return item
        what = kind or "page"
        raise WikimemError(f"No {what} {ref!r}. List them with `wikimem {kind or 'search'}"
                           f"{' list' if kind in ('task', 'goal') else ''}`.")

    def unfinished(self, agent: str, until: str) -> list[dict]:
        """The tasks `agent` held at `until` (a raw-log timestamp, e.g. a session's end), as
        the task log says they stood then: {id, title, page, holder, claimed_at, checkpoint
        (the last checkpoint note so far, or None)}. A pure function of the log, so a session
        page that shows it stays the same in a rebuild."""
        if self._claimed is None:  # once per state: a rebuild asks this of every session
            self._claimed = {}
            for task in self.of_kind("task"):
                if task.page not in self.retracted and task.status != "proposed":
                    for by in dict.fromkeys(e["by"] for e in task.events
                                            if e["event"] == "claimed"):
                        self._claimed.setdefault(by, []).append(task)
        found = []
        for task in self._claimed.get(agent, ()):
            holder = claimed = checkpoint = None
            for event in task.events:
                if event["ts"] > until:
                    break
                if event["event"] == "claimed":
                    holder, claimed = event["by"], event["ts"]
                elif event["event"] in ("released", "expired", "done", "failed"):
                    holder = None
                if event.get("note") and event["event"] in ("heartbeat", "released",
                                                             "expired"):
                    checkpoint = event["note"]
            if holder is not None and holder == agent:
                found.append({"id": task.id, "title": task.title, "page": task.page,
                              "holder": holder, "claimed_at": claimed,
                              "checkpoint": checkpoint})
        return found


def _id_order(item: Item) -> tuple:
    match = re.fullmatch(r"([A-Z])(\d+)(?:-([a-z][a-z0-9]*))?", item.id)
    if match:
        return (0, item.id[0], match.group(3) or "", int(match.group(2)))
    return (1, item.created, item.id)


def slugify(text: str, limit: int = 50) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    slug = ""
    for w in words:
        if len(slug) + len(w) + 1 > limit:
            break
        slug = f"{slug}-{w}" if slug else w
    return slug or "untitled"


def one_line(text: str, limit: int = 100) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


# --- reading -----------------------------------------------------------------------------


# Team memory (wikimem.sync): another machine's memory log, as `wikimem sync` adopted it, is
# `raw/wikimem-memory.<its machine tag>.jsonl`; this machine writes only its own log.
MACHINE_TAG = re.compile(r"[a-z][a-z0-9]{0,15}")
_PEER_MEMORY_LOG = re.compile(rf"{MEMORY_SESSION}\.({MACHINE_TAG.pattern})\.jsonl")


def machine_tag(project: Project) -> str | None:
    """This machine's tag in the project's team memory (`wikimem remote set`), or None when
    the project has no remote: `sync/remote.json`'s `machine`."""
    try:
        data = json.loads((project.dir / "sync" / "remote.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    tag = data.get("machine") if isinstance(data, dict) else None
    return tag if isinstance(tag, str) and MACHINE_TAG.fullmatch(tag) else None


def memory_observations(project: Project) -> list[Observation]:
    """Every machine's memory observations, merged (`merge_logs`)."""
    own = rawlog.read(project.raw_dir / f"{rawlog.internal_filename(MEMORY_SESSION)}.jsonl"
                      ).observations
    return merge_logs([own, *peer_memory_observations(project)])


def peer_memory_observations(project: Project) -> list[list[Observation]]:
    """The memory logs other machines wrote, as `wikimem sync` adopted them."""
    return [rawlog.read(project.raw_dir / name).observations
            for name, _ in rawlog.session_file_sizes(project.raw_dir)
            if _PEER_MEMORY_LOG.fullmatch(name)]


def merge_logs(logs: list[list[Observation]]) -> list[Observation]:
    """One order for the memory logs of several machines, the same on every machine.

    Each log keeps its own order; the logs are interleaved by (timestamp, id), so the result
    depends only on the logs' contents, not on which one is this machine's. A log alone comes
    back as it is (a project without a remote folds its log in file order, as always). With a
    remote, a machine stamps each memory observation later than every one it has seen
    (`Memory._stamp`), so what it did after seeing another machine's act sorts after it.
    """
    logs = [log for log in logs if log]
    if len(logs) <= 1:
        return logs[0] if logs else []
    return list(heapq.merge(*logs, key=lambda o: (o.ts, o.id)))


def is_memory_log(name: str) -> bool:
    return name == f"{rawlog.internal_filename(MEMORY_SESSION)}.jsonl" or \
        _PEER_MEMORY_LOG.fullmatch(name) is not None


def candidate_items(candidates: list[dict]) -> dict[str, Item]:
    """Items for candidates lifted from sessions (see sessions.candidates)."""
    items = {}
    for c in candidates:
        items[c["page"]] = Item(
            id=c["id"], kind=c["kind"], page=c["page"], title=c["title"], status="proposed",
            created=c["ts"], updated=c["ts"], by=c.get("agent", ""),
            fields={"text": c["text"], "from": c["where"]},
            sources=[f"session:{c['session']}"],
        )
    return items


def fold(observations: list[Observation], candidates: list[dict] = ()) -> MemoryState:
    """The memory state the log describes (a pure function of its inputs)."""
    state = MemoryState(items=candidate_items(list(candidates)))
    items = state.items
    for o in observations:
        if o.kind != "memory":
            continue
        o = _seconds(o)
        d = o.data
        op = d.get("op")
        if op == "add" and d.get("kind") in KINDS and isinstance(d.get("page"), str):
            items[d["page"]] = Item(
                id=str(d.get("id", "")), kind=d["kind"], page=d["page"],
                title=str(d.get("title", "")), status=str(d.get("status", "active")),
                created=o.ts, updated=o.ts, by=o.agent, fields=dict(d.get("fields") or {}),
                sources=list(d.get("sources") or []),
                supersedes=[p for p in d.get("supersedes") or [] if isinstance(p, str)],
                events=[{"ts": o.ts, "event": "created", "by": o.agent}],
                anchors=_anchors(d.get("anchors")), pinned=d.get("pinned") is True,
            )
            continue
        target = items.get(d.get("page")) if isinstance(d.get("page"), str) else None
        if op == "forget" and isinstance(d.get("page"), str):
            state.retracted[d["page"]] = {"reason": str(d.get("reason", "")), "ts": o.ts,
                                         "by": o.agent,
                                         **({"retired": True} if d.get("retired") else {})}
        elif op == "restore" and isinstance(d.get("page"), str):
            # `accept` of a page `sweep` retired (or any retracted page): forgotten no more.
            if state.retracted.pop(d["page"], None) is not None and target is not None:
                target.updated = max(target.updated, o.ts)
                target.events.append({"ts": o.ts, "event": "restored", "by": o.agent})
        elif target is None:
            continue
        elif op == "goal_done":
            target.status, target.updated = "done", o.ts
            target.events.append({"ts": o.ts, "event": "done", "by": o.agent})
        elif op == "verify":
            target.anchors = _anchors(d.get("anchors"))
            target.verified = {"ts": o.ts, "by": o.agent, "note": str(d.get("note") or "")}
            target.events.append({"ts": o.ts, "event": "verified", "by": o.agent})
        elif op == "pin":
            target.pinned = d.get("pinned") is not False
        elif op in TASK_OPS:
            TASK_OPS[op](target, o)
    _link_supersession(state)
    for page, retraction in state.retracted.items():
        if page in items:
            items[page].status = "retracted"
            items[page].retracted = retraction
            items[page].updated = max(items[page].updated, retraction["ts"])
    return state


def _anchors(value) -> dict[str, dict]:
    """Recorded anchors, keeping only well-formed entries ({path: {"blob", "commit"}})."""
    if not isinstance(value, dict):
        return {}
    return {p: {k: str(v) for k, v in a.items() if k in ("blob", "commit")}
            for p, a in sorted(value.items())
            if isinstance(p, str) and isinstance(a, dict) and isinstance(a.get("blob"), str)}


def _seconds(o: Observation) -> Observation:
    """The observation with its timestamp cut to whole seconds, as pages show time."""
    return Observation(**{**o.__dict__, "ts": o.ts[:19] + "Z"}) if len(o.ts) > 20 else o


def _link_supersession(state: MemoryState) -> None:
    for item in sorted(state.items.values(), key=lambda i: (i.created, i.page)):
        for old_page in item.supersedes:
            old = state.items.get(old_page)
            if old is None or old is item:
                continue
            old.superseded_by.append(item.page)
            old.status = "superseded"
            old.valid_until = item.created
            old.updated = max(old.updated, item.created)


def _task_event(event: str, status: str | None = None, clear_holder: bool = False):
    def apply(task: Item, o: Observation) -> None:
        d = o.data
        note = str(d.get("note") or d.get("summary") or d.get("why") or "")
        task.events.append({"ts": o.ts, "event": event, "by": str(d.get("agent") or o.agent),
                            **({"note": note} if note else {})})
        task.updated = o.ts
        if event == "claimed":
            task.holder, task.claimed_at, task.last_seen = str(d.get("agent")), o.ts, o.ts
        elif event == "heartbeat":
            task.last_seen = o.ts
        if note and event in ("heartbeat", "released", "expired"):
            task.checkpoints.append({"ts": o.ts, "by": str(d.get("agent") or o.agent),
                                     "note": note})
        if event == "done":
            task.fields["result"] = note
        if event == "failed":
            task.fields["failure"] = note
        if status:
            task.status = status
        if clear_holder:
            task.holder = None
            task.last_seen = None

    return apply


TASK_OPS = {
    "task_claim": _task_event("claimed", "in_progress"),
    "task_heartbeat": _task_event("heartbeat"),
    "task_release": _task_event("released", "todo", clear_holder=True),
    "task_expire": _task_event("expired", "todo", clear_holder=True),
    "task_done": _task_event("done", "done", clear_holder=True),
    "task_fail": _task_event("failed", "failed", clear_holder=True),
}


# --- writing -----------------------------------------------------------------------------


class Memory:
    """Writes structured memory for one project (each call is one locked append)."""

    def __init__(self, project: Project, *, agent: str = "cli", now: datetime | None = None,
                 claim_expiry_minutes: float = 30.0, skew_seconds: float = 120.0):
        self.project = project
        # With a remote (team memory), who acted names the machine too: two machines' "cli"
        # are two holders, and the ids this machine allocates carry its tag (see `add`).
        self.tag = machine_tag(project)
        agent = agent or "cli"
        self.agent = f"{agent}@{self.tag}" if self.tag and "@" not in agent else agent
        self._now = now
        self.expiry = timedelta(minutes=claim_expiry_minutes)
        self.skew = timedelta(seconds=skew_seconds)
        self._floor = ""  # the latest timestamp of what was read (team memory only)

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    def state(self, candidates: list[dict] = ()) -> MemoryState:
        return fold(memory_observations(self.project), candidates)

    def read(self, log) -> list[Observation]:
        """The memory as this machine knows it (its own log, read under its lock, merged with
        the other machines'); remembers the latest timestamp for `_stamp`."""
        own = log.read()
        if self.tag is None:
            return own
        merged = merge_logs([own, *peer_memory_observations(self.project)])
        self._floor = max(self._floor, merged[-1].ts if merged else "")
        return merged

    def _stamp(self) -> str:
        """Now; with team memory, never earlier than anything read (a hybrid logical clock:
        a claim made after seeing another machine's release sorts after it, skewed clocks
        or not)."""
        ts = format_ts(self.now())
        if self.tag is not None and ts <= self._floor:
            floor = datetime.fromisoformat(self._floor.replace("Z", "+00:00"))
            ts = format_ts(floor + timedelta(milliseconds=1))
        self._floor = ts if self.tag is not None else self._floor
        return ts

    def _append(self, log, data: dict) -> Observation:
        event = Event(session=MEMORY_SESSION, kind="memory", cwd=self.project.root,
                      data=data, uid=new_id())
        obs = make_observation(self.agent, event, data, ts=self._stamp())
        log.append(obs)
        return obs

    def _locked(self):
        self.project.ensure_dirs()
        return rawlog.transaction(self.project.raw_dir, MEMORY_SESSION, internal=True)

    # Whether this Memory's folds follow a fetch of the other machines' logs (team memory's
    # claims, `sync.claims.RemoteMemory`): only then may it expire another machine's claim.
    fresh = False

    def _task_lock(self):
        """The lock task operations hold (team memory makes it a compare-and-swap)."""
        return self._locked()

    def add(self, kind: str, title: str, fields: dict | None = None, *,
            supersedes: list[str] = (), sources: list[str] = (), status: str | None = None,
            page: str | None = None, item_id: str | None = None,
            anchors: dict[str, dict] | None = None, pinned: bool = False) -> Item:
        """Record a new decision, lesson, note, goal or task; returns it."""
        title = one_line(title, 200)
        if not title:
            raise WikimemError(f"Say what the {kind} is: the text must not be empty.")
        prefix, folder, _ = KINDS[kind]
        with self._locked() as log:
            state = fold(self.read(log))
            if item_id is None:
                # Alone, `D7`; with a remote, `D7-<machine tag>`: numbered per machine, so two
                # machines adding offline never take the same id, and no sync renames one.
                suffix = f"-{self.tag}" if self.tag else ""
                pattern = re.compile(rf"{prefix}(\d+){re.escape(suffix)}")
                numbers = [int(m.group(1)) for i in state.items.values()
                           if i.kind == kind and (m := pattern.fullmatch(i.id))]
                item_id = f"{prefix}{max(numbers, default=0) + 1}{suffix}"
            if page is None:
                page = f"{folder}/{item_id}-{slugify(title)}.md"
            data = {
                "op": "add", "kind": kind, "id": item_id, "page": page, "title": title,
                "status": status or ("todo" if kind == "task" else "active"),
                "fields": {k: v for k, v in (fields or {}).items() if v not in (None, "", [])},
                "sources": list(sources) or [f"agent:{self.agent}"],
                "supersedes": list(supersedes),
            }
            if anchors:
                data["anchors"] = anchors
            if pinned:
                data["pinned"] = True
            obs = self._append(log, data)
        return fold([obs]).items[page]

    def forget(self, page: str, reason: str, *, retired: bool = False) -> None:
        """Mark any page retracted (hidden from search and context, kept in git history);
        `retired`: by decay (`wikimem sweep`)."""
        if not reason.strip():
            raise WikimemError("Say why the page is being forgotten: --reason TEXT.")
        with self._locked() as log:
            self._append(log, {"op": "forget", "page": page, "reason": reason,
                               **({"retired": True} if retired else {})})

    def restore(self, page: str) -> None:
        """Undo a `forget` (a page `sweep` retired comes back with `wikimem accept`)."""
        with self._locked() as log:
            self._append(log, {"op": "restore", "page": page})

    def verify(self, page: str, anchors: dict[str, dict], note: str = "") -> None:
        """Re-confirm a memory against the code as it is now: its anchors become the files'
        current blobs (a file gone is dropped from them)."""
        with self._locked() as log:
            self._append(log, {"op": "verify", "page": page, "anchors": anchors,
                               **({"note": note} if note else {})})

    def pin(self, page: str, pinned: bool = True) -> None:
        """Exempt a memory from decay (or make it subject to it again)."""
        with self._locked() as log:
            self._append(log, {"op": "pin", "page": page, "pinned": pinned})

    def accept(self, candidate: dict) -> Item:
        """Promote a proposed candidate to a real item, on the same page."""
        fields = {"text": candidate["text"], "accepted_from": candidate["where"]}
        return self.add(candidate["kind"], candidate["title"], fields,
                        sources=[f"session:{candidate['session']}"], page=candidate["page"],
                        item_id=candidate["id"])

    def goal_done(self, ref: str) -> Item:
        with self._locked() as log:
            goal = fold(self.read(log)).find(ref, "goal")
            self._append(log, {"op": "goal_done", "page": goal.page})
            goal.status = "done"
        return goal

    # Tasks: each operation reads and appends under one lock.

    def _stale(self, task: Item) -> bool:
        if task.status != "in_progress" or not task.last_seen:
            return False
        seen = datetime.fromisoformat(task.last_seen.replace("Z", "+00:00"))
        # A holder on another machine stamped its heartbeat with its own clock: give it the
        # clock-skew tolerance too.
        other = self.tag is not None and not str(task.holder).endswith(f"@{self.tag}")
        if other and not self.fresh:
            return False  # (what this machine knows of it may be old: only a fetch decides)
        return self.now() - seen > self.expiry + (self.skew if other else timedelta())

    def _expire(self, log, state: MemoryState) -> list[Item]:
        expired = []
        for task in state.of_kind("task", "in_progress"):
            if self._stale(task):
                minutes = int(self.expiry.total_seconds() // 60)
                self._append(log, {"op": "task_expire", "page": task.page, "agent": task.holder,
                                   "note": f"claim expired after {minutes} minutes without a "
                                           "heartbeat"})
                expired.append(task)
        return expired

    def expire_stale(self) -> list[Item]:
        """Return stale claims to todo; returns the tasks that expired."""
        with self._task_lock() as log:
            return self._expire(log, fold(self.read(log)))

    def claim(self, ref: str | None = None, *, goal: str | None = None) -> Item:
        """Claim a task (the given one, or the first open one); atomic across processes."""
        with self._task_lock() as log:
            state = fold(self.read(log))
            if self._expire(log, state):
                state = fold(self.read(log))
            if ref:
                task = state.find(ref, "task")
                if task.status == "in_progress" and task.holder != self.agent:
                    raise WikimemError(f"{task.id} is claimed by {task.holder}; pick another "
                                       "task or wait for the claim to expire.")
                if task.status not in OPEN_TASK:
                    raise WikimemError(f"{task.id} is {task.status}; only todo tasks can be "
                                       "claimed.")
            else:
                todo = state.of_kind("task", "todo")
                if goal:
                    g = state.find(goal, "goal")
                    todo = [t for t in todo if t.fields.get("goal") == g.page]
                if not todo:
                    raise WikimemError("No todo task to claim. Add one with "
                                       "`wikimem task add \"...\"`.")
                task = todo[0]
            self._append(log, {"op": "task_claim", "page": task.page, "agent": self.agent})
            return fold(self.read(log)).items[task.page]

    def _held(self, state: MemoryState, ref: str | None, *, must_hold: bool = True) -> Item:
        if ref:
            task = state.find(ref, "task")
        else:
            mine = [t for t in state.of_kind("task", "in_progress") if t.holder == self.agent]
            if len(mine) != 1:
                raise WikimemError(
                    f"{self.agent} holds {len(mine)} tasks; say which task (ID)." if mine else
                    f"{self.agent} holds no task. Claim one with `wikimem task claim`.")
            task = mine[0]
        if must_hold and task.status == "in_progress" and task.holder != self.agent:
            raise WikimemError(f"{task.id} is held by {task.holder}, not {self.agent}.")
        return task

    def task_op(self, op: str, ref: str | None, note: str = "") -> Item:
        """heartbeat / release / done / fail a task; returns its new state."""
        with self._task_lock() as log:
            state = fold(self.read(log))
            task = self._held(state, ref)
            if op in ("task_heartbeat", "task_release") and task.status != "in_progress":
                raise WikimemError(f"{task.id} is {task.status}, not claimed; nothing to "
                                   f"{op.removeprefix('task_')}.")
            if op in ("task_done", "task_fail") and task.status not in OPEN_TASK:
                raise WikimemError(f"{task.id} is already {task.status}.")
            key = {"task_done": "summary", "task_fail": "why"}.get(op, "note")
            self._append(log, {"op": op, "page": task.page, "agent": self.agent, key: note})
            return fold(self.read(log)).items[task.page]


def candidate_id(kind: str, session: str, text: str) -> str:
    digest = hashlib.sha256(f"{kind}\0{session}\0{text}".encode()).hexdigest()[:6]
    return f"{KINDS[kind][0]}-{digest}"
