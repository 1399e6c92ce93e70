"""Render: SessionRecords -> Pages (session pages and the derived aggregate pages).

Everything here is a pure function of its inputs; templates come from the `wikimem.templates`
package via importlib.resources.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

from wikimem import datafiles
from wikimem.compile.sessions import SessionRecord
from wikimem.wiki import text
from wikimem.wiki.pages import Page
from wikimem.wiki.text import (
    NONE,
    bullets,
    code_span,
    escape_text,
    link_label,
    quote,
    template,
    wikilink,
)

RECENT_ON_INDEX = 20


@cache
def renderer_identity() -> str:
    """A hash of this module's and wiki.text's source and the templates: what else page bytes
    depend on."""
    digest = hashlib.sha256()
    try:
        digest.update(Path(__file__).read_bytes())
        digest.update(Path(text.__file__).read_bytes())
    except OSError:  # no source file (a frozen build): the version stands in for it
        from wikimem import __version__

        digest.update(__version__.encode())
    for item in sorted(datafiles.folder("templates").iterdir(), key=lambda t: t.name):
        if item.name.endswith(".md"):
            digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()


def _unfinished(tasks: list[dict]) -> str:
    """The "Unfinished tasks" section of a session page ("" when none, and no heading)."""
    if not tasks:
        return ""
    lines = []
    for t in tasks:
        label = f"{t['id']} {t['title']}"
        line = (f"{wikilink(Path(t['page']).stem, label)} — held by "
                f"{code_span(t['holder'])} since {t['claimed_at']}")
        if t["checkpoint"]:
            note = one_line_text(t["checkpoint"])
            note = note if len(note) <= 300 else note[:299] + "…"
            line += f"; last checkpoint: {escape_text(note)}"
        lines.append(line)
    return ("## Unfinished tasks\n\nClaimed by this session's agent and not finished when "
            f"it stopped:\n\n{bullets(lines)}\n\n")


def session_page(rec: SessionRecord, previous: SessionRecord | None,
                 retraction: dict | None = None, unfinished: list[dict] = ()) -> Page:
    """The page for one session (marked retracted when `wikimem forget` said so); with
    `unfinished` (MemoryState.unfinished at its end), the tasks its agent left claimed."""
    prompts = "\n\n".join(quote(p) for p in rec.prompts) if rec.prompts else NONE
    commands = []
    for c in rec.commands[:40]:
        status = "no result" if c.exit_code is None else f"exit {c.exit_code}"
        commands.append(f"{code_span(_first_line(c.command, 200))} — {status}")
    if len(rec.commands) > 40:
        commands.append(f"… and {len(rec.commands) - 40} more")
    body = template("session.md").substitute(
        banner=(f"\n> [!danger] Retracted {retraction['ts'][:10]} by {retraction['by']}: "
                f"{escape_text(one_line_text(retraction['reason']))}\n" if retraction else ""),
        title=escape_text(rec.title),
        summary=escape_text(rec.summary),
        agent=rec.agent,
        started=rec.started,
        ended=_ended(rec),
        cwd=code_span(rec.cwd) if rec.cwd else "unknown",
        previous=wikilink(previous.stem, previous.title) if previous else "none",
        prompts=prompts,
        files_changed=bullets([code_span(f) for f in rec.files_changed]),
        files_read=bullets([code_span(f) for f in rec.files_read[:60]]
                           + ([f"… and {len(rec.files_read) - 60} more"]
                              if len(rec.files_read) > 60 else [])),
        commands=bullets(commands),
        errors=bullets([escape_text(e) for e in rec.errors]),
        replies="\n\n".join(quote(r) for r in rec.replies) if rec.replies else NONE,
        outcome=quote(_cap(rec.outcome, 3000)) if rec.outcome else NONE,
        unfinished=_unfinished(unfinished),
        open_questions=bullets([escape_text(q) for q in rec.open_questions]),
        next_steps=bullets([escape_text(s) for s in rec.next_steps]),
    )
    tags = ["session", rec.agent]
    meta = {
        "title": rec.title,
        "kind": "session",
        "status": "retracted" if retraction else "active",
        "created": rec.started,
        "updated": rec.ended,
        "session_id": rec.session_id,
        "agent": rec.agent,
        "sources": [f"session:{rec.session_id}"] + [f"file:{f}" for f in rec.files_changed],
        "tags": tags,
        "aliases": [rec.title],
        "supersedes": None,
        "superseded_by": None,
    }
    return Page(rec.page_path, meta, body)


def index_page(project: str, records: list[SessionRecord], state=None,
               project_pages: list[tuple[str, str]] = ()) -> Page:
    """index.md: what the wiki holds, the latest sessions, and the months of the timeline."""
    newest = list(reversed(records))
    recent = [_entry(r) for r in newest[:RECENT_ON_INDEX]]
    months = defaultdict(int)
    for r in records:
        months[r.date[:7]] += 1
    month_lines = [
        f"[[timeline/{m}|{m}]] — {n} session{'' if n == 1 else 's'}"
        for m, n in sorted(months.items(), reverse=True)
    ]
    stats = (
        f"{len(records)} session{'' if len(records) == 1 else 's'} recorded"
        + (f", from {records[0].date} to {records[-1].date}." if records else ".")
    )
    memory_lines = []
    for kind, (path, title, _) in HUBS.items():
        items = state.of_kind(kind) if state else []
        live = [i for i in items if i.status not in ("superseded", "retracted")]
        memory_lines.append(f"{page_link(path, title)} — {len(live)} current, "
                            f"{len(items) - len(live)} superseded or retracted")
    if project_pages:
        memory_lines[:0] = [page_link(p, t) for p, t in project_pages]
    body = template("index.md").substitute(
        project=escape_text(project),
        memory=bullets(memory_lines),
        stats=stats,
        recent=bullets(recent),
        months=bullets(month_lines),
    )
    listed = newest[:RECENT_ON_INDEX]
    meta = _aggregate_meta(f"{project} — project memory", "index", records, listed)
    return Page("index.md", meta, body)


def month_pages(records: list[SessionRecord], months: set[str] | None = None) -> list[Page]:
    """timeline/YYYY-MM.md for each month (or only those in `months`)."""
    by_month: dict[str, list[SessionRecord]] = defaultdict(list)
    for r in records:
        by_month[r.date[:7]].append(r)
    pages = []
    for month, recs in sorted(by_month.items()):
        if months is not None and month not in months:
            continue
        body = template("timeline-month.md").substitute(
            month=month,
            count=f"{len(recs)} session{'' if len(recs) == 1 else 's'}",
            entries=bullets([_entry(r) for r in recs]),
        )
        meta = _aggregate_meta(f"Timeline {month}", "timeline", recs, recs)
        meta["tags"] = ["timeline"]
        pages.append(Page(f"timeline/{month}.md", meta, body))
    return pages


def context_page(block: str, budget: int, records: list[SessionRecord]) -> Page:
    """context.md: the session-start block, readable in the wiki."""
    # A code block: the page shows the agent's text exactly, and recorded HTML stays inert.
    ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", block)), default=0))
    body = template("context-page.md").substitute(
        block=f"{ticks}text\n{block.rstrip()}\n{ticks}", budget=budget)
    meta = _aggregate_meta("Context for the next session", "context", records, records[-5:])
    meta["tags"] = ["context"]
    return Page("context.md", meta, body)


def _ended(rec: SessionRecord) -> str:
    """When the session ended, why (as the agent said), and how it worked: subagents it
    started and times its context was compacted."""
    reason = escape_text(one_line_text(rec.end_reason))
    text = rec.ended + (f" ({reason})" if reason else "")
    work = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in
            ((rec.subagents, "subagent"), (rec.compactions, "context compaction")) if n]
    return text + (f"; {', '.join(work)}" if work else "")


def _entry(r: SessionRecord) -> str:
    return f"{r.date} {wikilink(r.stem, r.title)} — {escape_text(r.summary)}"


def _aggregate_meta(title: str, kind: str, records, listed) -> dict:
    return {
        "title": title,
        "kind": kind,
        "status": "active",
        "created": records[0].started if records else None,
        "updated": max((r.ended for r in records), default=None),
        "sources": [f"session:{r.session_id}" for r in listed],
        "tags": [kind],
    }


def _first_line(text: str, limit: int) -> str:
    lines = text.strip().splitlines() or [""]
    line = lines[0] if len(lines[0]) <= limit else lines[0][: limit - 1] + "…"
    return line + (" …" if len(lines) > 1 else "")


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "\n\n[… cut for length]"


# --- structured memory pages ------------------------------------------------------------

HUBS = {
    "decision": ("decisions.md", "Decisions",
                 "The firm calls of this project and why. Record one with `wikimem decide`."),
    "lesson": ("lessons.md", "Lessons",
               "Mistakes corrected, so they are not made twice. Record one with `wikimem lesson`."),
    "note": ("notes.md", "Direction notes",
             "The human's direction, lighter than a decision. Record one with `wikimem note`."),
    "goal": ("goals.md", "Goals", "What the work is for. Add one with `wikimem goal add`."),
    "task": ("tasks.md", "Tasks",
             "Work in progress and to do. Add with `wikimem task add`, take with "
             "`wikimem task claim`."),
}
STATUS_ORDER = ("in_progress", "todo", "active", "proposed", "done", "failed", "superseded",
                "retracted")


def page_stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".md")


def page_link(path: str, title: str | None = None) -> str:
    return f"[[{page_stem(path)}|{link_label(title)}]]" if title else f"[[{page_stem(path)}]]"


def _sources(item, session_stems: dict[str, str]) -> str:
    shown = []
    for s in item.sources:
        sid = s.removeprefix("session:")
        shown.append(f"[[{session_stems[sid]}]]" if s.startswith("session:")
                     and sid in session_stems else code_span(s))
    return ", ".join(shown) or "none"


def _banner(item, state) -> str:
    if item.status == "retracted" and item.retracted:
        r = item.retracted
        return (f"\n> [!danger] Retracted {r['ts'][:10]} by {r['by']}: "
                f"{escape_text(one_line_text(r['reason']))}\n")
    if item.status == "superseded":
        newer = ", ".join(page_link(p, state.items[p].title) for p in item.superseded_by
                          if p in state.items)
        return f"\n> [!warning] Superseded by {newer} on {str(item.valid_until)[:10]}.\n"
    if item.status == "proposed":
        where = {"prompt": "a prompt in a session", "assistant": "an agent's reply in a session"
                 }.get(item.fields.get("from"), item.fields.get("from") or "a session")
        return (f"\n> [!note] Proposed: lifted by rule from {where}. Not decided until a person "
                f"accepts it: `wikimem accept {item.id}`, or drops it: "
                f"`wikimem forget {item.id} --reason \"...\"`.\n")
    return ""


def one_line_text(text: str) -> str:
    return " ".join(str(text).split())


def _text(value, default: str = NONE) -> str:
    return escape_text(str(value)).strip() if value else default


def memory_page(item, state, session_stems: dict[str, str]) -> Page:
    """The page of one decision, lesson, note, goal or task."""
    f = item.fields
    common = {
        "title": escape_text(item.title), "banner": _banner(item, state), "id": item.id,
        "status": item.status, "created": item.created, "by": item.by or "unknown",
        "sources": _sources(item, session_stems),
    }
    if item.kind == "decision":
        body = template("decision.md").substitute(
            **common,
            validity=f"from {item.created[:10]}"
            + (f" until {item.valid_until[:10]}" if item.valid_until else ""),
            supersedes=", ".join(page_link(p) for p in item.supersedes) or "none",
            superseded_by=", ".join(page_link(p) for p in item.superseded_by) or "none",
            context=_text(f.get("context")),
            decision=_text(f.get("text") or item.title),
            why=_text(f.get("why")),
            ruled_out=_text(f.get("ruled_out")),
            assumes=_text(f.get("assumes")),
        )
    elif item.kind == "lesson":
        body = template("lesson.md").substitute(
            **common, verified_by=_text(f.get("verified_by"), "not verified yet"),
            wrong=_text(f.get("text") or item.title), correct=_text(f.get("correct")),
        )
    elif item.kind == "note":
        body = template("note.md").substitute(**common, text=_text(f.get("text") or item.title))
    elif item.kind == "goal":
        tasks = [t for t in state.of_kind("task") if t.fields.get("goal") == item.page]
        body = template("goal.md").substitute(
            **common, for_whom=_text(f.get("for"), "not said"), why=_text(f.get("why")),
            success_signal=_text(f.get("success_signal")),
            out_of_scope=_text(f.get("out_of_scope")),
            tasks=bullets([f"{page_link(t.page, t.title)} — {t.status}" for t in tasks]),
        )
    else:
        goal = f.get("goal")
        checkpoints = [f"{c['ts']} {c['by']}: {escape_text(c['note'])}"
                       for c in item.checkpoints]
        history = [f"{e['ts']} {e['event']} by {e['by']}"
                   + (f": {escape_text(one_line_text(e['note']))}" if e.get("note") else "")
                   for e in item.events]
        result = f.get("result") or (f"Failed: {f['failure']}" if f.get("failure") else "")
        body = template("task.md").substitute(
            **common,
            goal=page_link(goal, state.items[goal].title) if goal in state.items else "none",
            holder=(f"{item.holder} since {item.claimed_at}, last heartbeat {item.last_seen}"
                    if item.holder else "nobody"),
            acceptance=_text(f.get("acceptance") or f.get("text")),
            files=bullets([code_span(x) for x in f.get("files") or []]),
            checkpoints=bullets(checkpoints), result=_text(result), history=bullets(history),
        )
    meta = {
        "title": item.title,
        "id": item.id,
        "kind": item.kind,
        "status": item.status,
        "created": item.created,
        "updated": item.updated,
        "valid_from": item.created if item.kind == "decision" else None,
        "valid_until": item.valid_until,
        "sources": item.sources,
        "tags": [item.kind] + (["verified"] if f.get("verified_by") else []),
        "aliases": [item.id],
        "supersedes": [f"[[{page_stem(p)}]]" for p in item.supersedes] or None,
        "superseded_by": [f"[[{page_stem(p)}]]" for p in item.superseded_by] or None,
    }
    if meta["valid_from"] is None:
        del meta["valid_from"]
    if meta["valid_until"] is None:
        del meta["valid_until"]
    return Page(item.page, meta, body)


def hub_pages(state) -> list[Page]:
    """decisions.md, lessons.md, ...: every item of a kind, grouped by status."""
    pages = []
    for kind, (path, title, intro) in HUBS.items():
        items = state.of_kind(kind)
        groups = []
        for status in STATUS_ORDER:
            members = [i for i in items if i.status == status]
            if members:
                lines = [f"{i.id} {page_link(i.page, i.title)}"
                         + (f" — held by {i.holder}" if i.holder else "") for i in members]
                groups.append(f"## {status.replace('_', ' ').capitalize()}\n\n{bullets(lines)}")
        body = template("hub.md").substitute(
            title=title, intro=intro, sections="\n\n".join(groups) or NONE)
        meta = {"title": title, "kind": "hub", "status": "active",
                "created": min((i.created for i in items), default=None),
                "updated": max((i.updated for i in items), default=None),
                "sources": sorted({s for i in items for s in i.sources})[:50],
                "tags": ["hub", kind]}
        pages.append(Page(path, meta, body))
    return pages


def topic_pages(topics: dict[str, dict], session_stems: dict[str, str]) -> list[Page]:
    """topics/*.md: knowledge pages written by LLM consolidation, citing their sessions."""
    pages = []
    for path, t in sorted(topics.items()):
        cited = [f"[[{session_stems[s]}]]" if s in session_stems else code_span(s)
                 for s in t["sessions"]]
        body = template("topic.md").substitute(
            title=escape_text(t["title"]), body=_text(t["body"]),
            sessions=bullets(cited), model=t.get("model") or "an LLM")
        meta = {"title": t["title"], "kind": "topic", "status": "active",
                "created": t["created"], "updated": t["updated"],
                "sources": [f"session:{s}" for s in t["sessions"]]
                + ([f"llm:{t['model']}"] if t.get("model") else []),
                "tags": ["topic"]}
        pages.append(Page(path, meta, body))
    return pages
