"""Catch-up: what happened in a time window, in one screen.

`catchup()` (the `wikimem catchup` command and the MCP tool) and the weekly digest pages
(`digests/<YYYY>-W<ww>.md`, written by compile) read the same thing through `gather()`: the
sessions active in the window and their outcomes, the decisions made, proposed, superseded
or retracted, the tasks done, failed, started or still in progress, the files the most
sessions changed and the questions the sessions left open. Everything comes from the
compiled session records and structured memory (never from the pages, which people edit);
`gather` is a pure function of them and the window, so a week's page is the same bytes
whatever order its sessions arrived in.

The repository's own decisions (`wikimem bootstrap`: decision records, commits) are its
history, on the `history/` pages; catch-up covers what agents and people did and recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from wikimem.capture import rawlog
from wikimem.compile.sessions import SessionRecord
from wikimem.compile.state import SessionSummary, State, ordered
from wikimem.memory import Item, MemoryState
from wikimem.project import Project
from wikimem.repo.record import AGENT as BOOTSTRAP_AGENT
from wikimem.wiki.pages import Page
from wikimem.wiki.text import NONE, code_span, escape_text, make_title, wikilink

DEFAULT_SINCE = "7d"
MAX_SESSIONS = 12
MAX_DECISIONS = 8
MAX_TASKS = 10
MAX_FILES = 8
MAX_QUESTIONS = 6
MAX_STEPS = 5
DIGEST_FOLDER = "digests"
_SINCE = re.compile(r"(\d{1,4})\s*([hdw])", re.I)
_UNIT = {"h": "hours", "d": "days", "w": "weeks"}


@dataclass
class Catchup:
    """What happened between `since` (inclusive) and `until` (exclusive)."""

    project: str
    since: str
    until: str
    sessions: list[dict] = field(default_factory=list)  # newest first
    decisions: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # {"path", "sessions"}, most first
    questions: list[dict] = field(default_factory=list)  # {"text", "session", "date"}
    next_steps: list[str] = field(default_factory=list)  # of the latest session
    more: dict[str, int] = field(default_factory=dict)  # section -> entries left out
    uncompiled: int = 0  # session logs with events the last compile did not read

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def empty(self) -> bool:
        return not (self.sessions or self.decisions or self.tasks)


# --- the window -------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """A moment as the pages and records write it: 2026-03-02T09:30:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(text: str, now: datetime) -> datetime:
    """`7d`, `2w`, `36h` (before `now`) or a date `2026-03-01` (midnight UTC) or a moment
    `2026-03-01T12:00[:00][Z]`; ValueError says what is accepted."""
    value = text.strip()
    relative = _SINCE.fullmatch(value)
    if relative:
        return now - timedelta(**{_UNIT[relative.group(2).lower()]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(value.removesuffix("Z").removesuffix("z"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a date (2026-03-01), a moment "
                         "(2026-03-01T12:00) nor a span (7d, 2w, 36h)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def catchup(project: Project, since: datetime, until: datetime) -> Catchup:
    """What happened in the project from `since` to `until`, from what the compiles left."""
    from wikimem.compile.read import is_system_log
    from wikimem.compile.structured import structured_memory

    # Records keep whole seconds: a window ending inside a second holds what was recorded in
    # it (a session that ended a moment ago is part of "since 7d").
    if until.microsecond:
        until = until.replace(microsecond=0) + timedelta(seconds=1)
    state = State(project).load()
    log_of = {d["session_id"]: name for name, d in state.catalog.items()}
    found = gather(project.name, ordered(state.catalog),
                   lambda s: state.record(log_of[s.session_id]),
                   structured_memory(project, state), iso(since), iso(until), open_tasks=True)
    found.uncompiled = sum(1 for name, size in rawlog.session_file_sizes(project.raw_dir)
                           if size > state.offsets.get(name, 0) and not is_system_log(name))
    return found


def gather(project: str, summaries: list[SessionSummary],
           full: Callable[[SessionSummary], SessionRecord], memory: MemoryState,
           since: str, until: str, *, open_tasks: bool = False) -> Catchup:
    """The catch-up of the window [since, until) (ISO moments): the sessions active in it,
    read in full through `full`, and the memory events in it. With `open_tasks`, every task
    in progress at `until` is listed, also one with no event in the window."""
    found = Catchup(project, since, until)
    active = [s for s in summaries if s.started < until and s.ended >= since
              and s.page_path not in memory.retracted]
    records = [full(s) for s in reversed(active)]  # newest first
    found.sessions = [_session_entry(r) for r in records]
    changed = Counter(path for r in records for path in dict.fromkeys(r.files_changed))
    found.files = [{"path": p, "sessions": n}
                   for p, n in sorted(changed.items(), key=lambda kv: (-kv[1], kv[0]))]
    for r in records:
        for q in r.open_questions:
            if all(q != seen["text"] for seen in found.questions):
                found.questions.append({"text": q, "session": r.stem, "date": r.date})
    found.next_steps = list(records[0].next_steps) if records else []
    items = [i for i in memory.items.values() if i.by != BOOTSTRAP_AGENT]
    found.decisions = memory_events([i for i in items if i.kind == "decision"], since, until)
    found.tasks = task_states([i for i in items if i.kind == "task"], since, until, open_tasks)
    for name, limit in (("sessions", MAX_SESSIONS), ("decisions", MAX_DECISIONS),
                        ("tasks", MAX_TASKS), ("files", MAX_FILES),
                        ("questions", MAX_QUESTIONS)):
        entries = getattr(found, name)
        if len(entries) > limit:
            found.more[name] = len(entries) - limit
            setattr(found, name, entries[:limit])
    found.next_steps = found.next_steps[:MAX_STEPS]
    return found


def _session_entry(rec: SessionRecord) -> dict:
    return {"session_id": rec.session_id, "agent": rec.agent, "date": rec.date,
            "started": rec.started, "ended": rec.ended, "title": rec.title,
            "outcome": outcome_line(rec.outcome), "page": rec.page_path, "stem": rec.stem,
            "files_changed": len(rec.files_changed)}


def outcome_line(outcome: str) -> str:
    """The first line of what the session concluded, as a short sentence."""
    for line in outcome.splitlines():
        text = line.strip().strip("#*_>-` ").strip()
        if text:
            return make_title(text, 140)
    return ""


def _inside(ts: str | None, since: str, until: str) -> bool:
    return bool(ts) and since <= ts < until


def memory_events(decisions: Iterable[Item], since: str, until: str) -> list[dict]:
    """The decisions made, proposed, superseded or retracted in the window, oldest first."""
    decisions = list(decisions)
    ids = {i.page: i.id for i in decisions}
    out = []
    for item in decisions:
        entry = {"id": item.id, "title": item.title, "page": item.page, "by": item.by}
        if _inside(item.created, since, until):
            made = "proposed" if item.status == "proposed" else "decided"
            out.append({**entry, "event": made, "ts": item.created})
        if _inside(item.valid_until, since, until):
            out.append({**entry, "event": "superseded", "ts": item.valid_until,
                        "by_pages": list(item.superseded_by),
                        "by_ids": [ids.get(p, p) for p in item.superseded_by]})
        if item.retracted and _inside(item.retracted.get("ts"), since, until):
            out.append({**entry, "event": "retracted", "ts": item.retracted["ts"],
                        "reason": item.retracted.get("reason", "")})
    return sorted(out, key=lambda e: (e["ts"], _EVENT_ORDER[e["event"]], e["page"]))


_EVENT_ORDER = {"decided": 0, "proposed": 1, "superseded": 2, "retracted": 3}


_AFTER = {"claimed": "in_progress", "released": "todo", "expired": "todo", "done": "done",
          "failed": "failed"}
_TASK_ORDER = {"done": 0, "failed": 1, "in_progress": 2, "todo": 3, "proposed": 4,
               "retracted": 5}


def task_states(tasks: Iterable[Item], since: str, until: str, open_tasks: bool) -> list[dict]:
    """Tasks with something in the window, as they stood at its end: done, failed, in
    progress, new (todo) or proposed by a session; with `open_tasks`, also every task in
    progress at the end."""
    out = []
    for task in tasks:
        if task.created >= until:
            continue
        status = "proposed" if task.status == "proposed" else "todo"
        holder, note, touched = None, "", _inside(task.created, since, until)
        for event in task.events:
            if event["ts"] >= until:
                break
            touched = touched or _inside(event["ts"], since, until)
            status = _AFTER.get(event["event"], status)
            if event["event"] == "claimed":
                holder = event.get("by")
            if event["event"] in ("done", "failed"):
                note = event.get("note", "")
        if task.retracted and task.retracted.get("ts", "") < until:
            status = "retracted"
            touched = touched or _inside(task.retracted.get("ts"), since, until)
        if status == "retracted" or not (touched or (open_tasks and status == "in_progress")):
            continue
        out.append({"id": task.id, "title": task.title, "page": task.page, "status": status,
                    "holder": holder if status == "in_progress" else None, "note": note})
    return sorted(out, key=lambda t: (_TASK_ORDER[t["status"]], t["page"]))


# --- the screen -------------------------------------------------------------------------


_TASK_WORD = {"done": "done", "failed": "failed", "in_progress": "in progress", "todo": "new",
              "proposed": "proposed"}


def render_text(found: Catchup, label: str = "") -> str:
    """The catch-up as a terminal screen."""
    head = f"Catch-up: {found.project}, {found.since[:16].replace('T', ' ')} to " \
           f"{found.until[:16].replace('T', ' ')} UTC" + (f" ({label})" if label else "")
    lines = [head, ""]
    if found.uncompiled:
        logs = "1 session log has" if found.uncompiled == 1 else \
            f"{found.uncompiled} session logs have"
        lines[1:1] = [f"{logs} events not compiled yet: run `wikimem compile` to include them."]

    def section(title: str, entries: list[str], more: int = 0) -> None:
        lines.append(title)
        lines.extend(entries or ["  none"])
        if more:
            lines.append(f"  … and {more} more")
        lines.append("")

    section(f"Sessions ({len(found.sessions) + found.more.get('sessions', 0)})", [
        line for s in found.sessions for line in
        [f"  {s['started'][:16].replace('T', ' ')}  {s['title']}"]
        + ([f"      → {s['outcome']}"] if s["outcome"] else [])
    ], found.more.get("sessions", 0))
    section("Decisions", [f"  {d['event']:<10} {d['id']}  {d['title']}" + _decision_note(d)
                          for d in found.decisions], found.more.get("decisions", 0))
    section("Tasks", [f"  {_TASK_WORD[t['status']]:<11} {t['id']}  {t['title']}"
                      + (f" ({t['holder']})" if t["holder"] else "")
                      + (f" — {make_title(t['note'], 80)}" if t["note"] else "")
                      for t in found.tasks], found.more.get("tasks", 0))
    section("Files most changed", [
        f"  {f['path']}  ({f['sessions']} session{'' if f['sessions'] == 1 else 's'})"
        for f in found.files], found.more.get("files", 0))
    section("Open questions", [f"  - {make_title(q['text'], 150)} ({q['date']})"
                               for q in found.questions], found.more.get("questions", 0))
    if found.next_steps:
        section("Next steps (latest session)",
                [f"  - {make_title(s, 150)}" for s in found.next_steps])
    if found.sessions:
        lines.append(f"Read a session: wikimem show {found.sessions[0]['page']}")
    return "\n".join(lines).rstrip() + "\n"


def _decision_note(d: dict) -> str:
    if d["event"] == "superseded" and d.get("by_ids"):
        return " — by " + ", ".join(d["by_ids"])
    if d["event"] == "retracted" and d.get("reason"):
        return " — " + make_title(d["reason"], 80)
    return ""


# --- weekly digest pages ------------------------------------------------------------------


def week_of(ts: str) -> str:
    """The ISO week of a moment: `2026-W10`."""
    return _week_of_day(ts[:10])


@lru_cache(maxsize=4096)
def _week_of_day(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(week: str) -> tuple[str, str]:
    """The week's first moment and the next week's, as ISO moments."""
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    return f"{monday.isoformat()}T00:00:00Z", f"{monday + timedelta(days=7)}T00:00:00Z"


def weeks_spanned(started: str, ended: str) -> set[str]:
    """Every ISO week a session from `started` to `ended` was active in."""
    if started[:10] == ended[:10]:
        return {_week_of_day(started[:10])}
    first, last = date.fromisoformat(started[:10]), date.fromisoformat(ended[:10])
    weeks, day = set(), first - timedelta(days=first.weekday())
    while day <= last:
        weeks.add(week_of(day.isoformat()))
        day += timedelta(days=7)
    return weeks


def digest_path(week: str) -> str:
    return f"{DIGEST_FOLDER}/{week}.md"


def memory_weeks(memory: MemoryState) -> dict[str, str]:
    """Each week with a memory event (not the repository's), and a hash of what its page
    shows of memory: a week's page is rendered again when its hash changes."""
    items = [i for i in memory.items.values() if i.by != BOOTSTRAP_AGENT
             and i.kind in ("decision", "task")]
    by_week: dict[str, list[Item]] = {}
    for i in items:
        stamps = [i.created, i.valid_until, (i.retracted or {}).get("ts")]
        stamps += [e["ts"] for e in i.events] if i.kind == "task" else []
        for week in {week_of(ts) for ts in stamps if ts}:
            by_week.setdefault(week, []).append(i)
    keys = {}
    for week, touched in sorted(by_week.items()):
        since, until = week_bounds(week)
        # Only the items with a stamp in the week can show on its page.
        shown = (memory_events([i for i in touched if i.kind == "decision"], since, until),
                 task_states([i for i in touched if i.kind == "task"], since, until, False))
        keys[week] = hashlib.sha256(repr(shown).encode("utf-8", "surrogatepass")).hexdigest()
    return keys


def week_page(project: str, week: str, summaries: list[SessionSummary],
              full: Callable[[SessionSummary], SessionRecord], memory: MemoryState,
              weeks: list[str]) -> Page:
    """digests/<week>.md: the catch-up of one ISO week, linked to the weeks around it."""
    since, until = week_bounds(week)
    found = gather(project, summaries, full, memory, since, until)
    at = weeks.index(week) if week in weeks else -1
    around = []
    if at > 0:
        around.append(f"Previous week: [[{digest_path(weeks[at - 1])[:-3]}|{weeks[at - 1]}]]")
    if 0 <= at < len(weeks) - 1:
        around.append(f"Next week: [[{digest_path(weeks[at + 1])[:-3]}|{weeks[at + 1]}]]")
    body = render_markdown(found, f"Week {week}: {since[:10]} to "
                                  f"{(date.fromisoformat(until[:10]) - timedelta(days=1))}")
    if around:
        body += "\n" + " · ".join(around) + "\n"
    stamps = [s["ended"] for s in found.sessions] + [d["ts"] for d in found.decisions]
    meta = {"title": f"Week {week}", "kind": "digest", "status": "active",
            "created": since, "updated": max(stamps, default=since),
            "sources": [f"session:{s['session_id']}" for s in found.sessions],
            "tags": ["digest"]}
    return Page(digest_path(week), meta, body)


def render_markdown(found: Catchup, heading: str) -> str:
    """The catch-up as a wiki page body (links to the sessions' and items' pages)."""

    def section(title: str, entries: list[str], more: str = "") -> str:
        text = "\n".join(f"- {e}" for e in entries) if entries else NONE
        extra = found.more.get(more, 0)
        return f"## {title}\n\n{text}" + (f"\n- … and {extra} more" if extra else "") + "\n"

    parts = [f"# {escape_text(heading)}\n",
             f"{len(found.sessions) + found.more.get('sessions', 0)} session(s), "
             f"{len(found.decisions)} decision event(s), {len(found.tasks)} task(s).\n"]
    parts.append(section("Sessions", [
        f"{s['date']} {wikilink(s['stem'], s['title'])}"
        + (f" — {escape_text(s['outcome'])}" if s["outcome"] else "")
        for s in found.sessions], "sessions"))
    parts.append(section("Decisions", [
        f"{d['event']}: {wikilink(d['page'][:-3], d['id'] + ' ' + d['title'])}"
        + escape_text(_decision_note(d)) for d in found.decisions], "decisions"))
    parts.append(section("Tasks", [
        f"{_TASK_WORD[t['status']]}: {wikilink(t['page'][:-3], t['id'] + ' ' + t['title'])}"
        + (f" ({escape_text(t['holder'])})" if t["holder"] else "")
        + (f" — {escape_text(make_title(t['note'], 100))}" if t["note"] else "")
        for t in found.tasks], "tasks"))
    parts.append(section("Files most changed", [
        f"{code_span(f['path'])} — {f['sessions']} session{'' if f['sessions'] == 1 else 's'}"
        for f in found.files], "files"))
    parts.append(section("Open questions", [
        f"{escape_text(q['text'])} ([[{q['session']}|{q['date']}]])"
        for q in found.questions], "questions"))
    return "\n".join(parts)


def digest_pages(project: str, summaries: list[SessionSummary],
                 full: Callable[[SessionSummary], SessionRecord], memory: MemoryState,
                 sessions_changed: Iterable[tuple[str, str]], known: dict[str, str],
                 rebuild: bool) -> tuple[list[Page], list[str], dict[str, str]]:
    """The weekly digest pages a compile renders, the ones that go, and what to keep for the
    next compile: every week with a page, with the hash of what it shows of memory (`known`:
    what the last compile kept).

    A week is rendered when a session active in it was digested (`sessions_changed`: the
    (started, ended) of each, before and after) or is hidden by `forget`, when what it shows
    of memory changed, when the week before or after it appeared or went (its links), or on
    a rebuild. A week with neither sessions nor memory events has no page.
    """
    memory_keys = memory_weeks(memory)
    weeks_now: set[str] = set(memory_keys)
    for s in summaries:
        weeks_now |= weeks_spanned(s.started, s.ended)
    weeks = sorted(weeks_now)
    keep = {w: memory_keys.get(w, "") for w in weeks}
    if rebuild:
        return ([week_page(project, w, summaries, full, memory, weeks) for w in weeks], [],
                keep)
    wanted = {w for w in weeks if known.get(w) != keep[w]}
    hidden = [(s.started, s.ended) for s in summaries if s.page_path in memory.retracted]
    for started, ended in [*sessions_changed, *hidden]:
        wanted |= weeks_spanned(started, ended)
    # A week that appeared or went changes the links of the weeks beside it.
    every = sorted(weeks_now | set(known))
    for at, w in enumerate(every):
        if (w in weeks_now) != (w in known):
            wanted.update(every[max(0, at - 1):at + 2])
    pages = [week_page(project, w, summaries, full, memory, weeks)
             for w in sorted(wanted & weeks_now)]
    gone = [digest_path(w) for w in sorted(set(known) - weeks_now)]
    return pages, gone, keep
