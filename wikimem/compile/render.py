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
from wikimem.compile.files import file_link, file_page, is_repo_path, link
from wikimem.compile.sessions import SessionRecord
from wikimem.compile.staleness import describe
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
WEEKS_ON_INDEX = 4


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


MAX_FILES_SHOWN = 30
MAX_OUTCOME = 900
MAX_COMMANDS = 200


def _unfinished(tasks: list[dict]) -> str:
    """The "Unfinished tasks" section of a session page ("" when none)."""
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
    return ("Claimed by this session's agent and not finished when it stopped:\n\n"
            + bullets(lines))


def session_page(rec: SessionRecord, previous: SessionRecord | None,
                 retraction: dict | None = None, llm: dict | None = None,
                 unfinished: list[dict] = ()) -> Page:
    """The page for one session, a digest readable in half a minute (marked retracted when
    `wikimem forget` said so); the whole conversation is on its transcript page. With `llm`
    ({model, topics}), its summary is marked as the model's and its topic pages linked; with
    `unfinished` (MemoryState.unfinished at its end), the tasks its agent left claimed."""
    sections = [("Goal", quote(rec.goal) if rec.goal else "")]
    sections.append(("Outcome", quote(_cut_outcome(rec.outcome)) if rec.outcome else NONE))
    sections.append(("What changed", _changes(rec)))
    errors = []
    for i, line in enumerate(rec.errors):
        note = rec.error_notes[i] if i < len(rec.error_notes) else {}
        fixed = note.get("fixed")
        errors.append(escape_text(line) + "\n  - " + (f"fixed: {escape_text(fixed)}" if fixed
                                                     else "not seen fixed in this session"))
    sections.append(("Errors", bullets(errors) if errors else ""))
    lifted = [f"{page_link(c['page'], c['title'])} — {c['kind']}, proposed"
              for c in rec.candidates]
    sections.append(("Decisions, lessons and tasks lifted", bullets(lifted) if lifted else ""))
    sections.append(("Unfinished tasks", _unfinished(unfinished)))
    sections.append(("Open questions", bullets([escape_text(q) for q in rec.open_questions])
                     if rec.open_questions else ""))
    sections.append(("Next steps", bullets([escape_text(q) for q in rec.next_steps])
                     if rec.next_steps else ""))
    body = template("session.md").substitute(
        banner=_retraction_banner(retraction),
        title=escape_text(rec.title),
        summary=escape_text(rec.summary) + (_llm_note(llm) if llm else ""),
        agent=rec.agent,
        started=rec.started,
        ended=_ended(rec),
        cwd=code_span(rec.cwd) if rec.cwd else "unknown",
        previous=wikilink(previous.stem, previous.title) if previous else "none",
        transcript=_transcript_line(rec),
        sections="".join(f"\n## {name}\n\n{text}\n" for name, text in sections if text),
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
        "transcript": rec.transcript_path,
        "sources": [f"session:{rec.session_id}"] + [f"file:{f}" for f in rec.files_changed],
        "tags": tags,
        "aliases": [rec.title],
        "supersedes": None,
        "superseded_by": None,
    }
    return Page(rec.page_path, meta, body)


def _llm_note(llm: dict) -> str:
    """Under an LLM-written summary: who wrote it, and the topic pages the session fed."""
    note = (f"\n\n_Summary written by {escape_text(llm['model'])} from this session's record; "
            "each of its statements rests on a quote from the session._")
    if llm["topics"]:
        note += "\n\nTopics: " + ", ".join(topic_link(p, t) for p, t in llm["topics"])
    return note


def topic_link(path: str, title: str) -> str:
    """A link to a topic page by its folder: a topic's name may be another page's too."""
    return f"[[{path.removesuffix('.md')}|{link_label(title)}]]"


def transcript_page(rec: SessionRecord, retraction: dict | None = None) -> Page:
    """The whole conversation of a session, and every file and command it touched: what a
    search ranks and `grep` finds, away from the page a person reads first."""
    turns, asked = [], 0
    for turn in rec.turns:
        if turn["role"] == "user":
            asked += 1
            turns.append(f"**Prompt {asked}**\n\n{quote(turn['text'])}")
        elif turn["role"] == "agent":
            turns.append(f"**Reply**\n\n{quote(turn['text'])}")
        else:
            turns.append(f"**Injected by the harness: {escape_text(turn.get('note') or '')}**"
                         f"\n\n{fenced(turn['text'])}")
    commands = []
    for c in rec.commands[:MAX_COMMANDS]:
        status = "no result" if c.exit_code is None else f"exit {c.exit_code}"
        commands.append(f"{code_span(_first_line(c.command, 300))} — {status}")
    if len(rec.commands) > MAX_COMMANDS:
        commands.append(f"… and {len(rec.commands) - MAX_COMMANDS} more")
    body = template("transcript.md").substitute(
        title=escape_text(rec.title),
        banner=_retraction_banner(retraction),
        session=wikilink(rec.stem, rec.title),
        turns="\n\n".join(turns) or NONE,
        files_changed=bullets([file_link(f) for f in rec.files_changed]),
        files_read=bullets([code_span(f) for f in rec.files_read]),
        commands=bullets(commands),
    )
    meta = {
        "title": f"Transcript: {rec.title}",
        "kind": "transcript",
        "status": "retracted" if retraction else "active",
        "created": rec.started,
        "updated": rec.ended,
        "session_id": rec.session_id,
        "agent": rec.agent,
        "sources": [f"session:{rec.session_id}"],
        "tags": ["transcript", rec.agent],
    }
    return Page(rec.transcript_path, meta, body)


def fenced(text: str) -> str:
    """Recorded text as a fenced code block, exactly as written (no escapes)."""
    ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{ticks}text\n{text.strip()}\n{ticks}"


def _retraction_banner(retraction: dict | None) -> str:
    return (f"\n> [!danger] Retracted {retraction['ts'][:10]} by {retraction['by']}: "
            f"{escape_text(one_line_text(retraction['reason']))}\n" if retraction else "")


def _transcript_line(rec: SessionRecord) -> str:
    """The link to the transcript, and what is only there."""
    only = [f"{len(rec.prompts)} prompt{'s' if len(rec.prompts) != 1 else ''}"]
    if rec.files_read:
        only.append(f"{len(rec.files_read)} file{'s' if len(rec.files_read) != 1 else ''} read")
    if rec.commands:
        only.append(f"{len(rec.commands)} command{'s' if len(rec.commands) != 1 else ''}")
    if rec.harness:
        only.append("injected by the harness: " + ", ".join(
            f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(rec.harness.items())))
    link = f"[[{rec.transcript_path.removesuffix('.md')}|the whole conversation]]"
    return f"{link} ({'; '.join(only)})"


def _changes(rec: SessionRecord) -> str:
    """What the session changed: files, commits, pull requests, test runs."""
    parts = []
    if rec.files_changed:
        parts.append(f"- Files ({len(rec.files_changed)}):\n" + _sub(_files_by_folder(rec)))
    if rec.commits:
        parts.append("- Commits:\n" + _sub([_commit(c) for c in rec.commits]))
    if rec.prs:
        parts.append("- Pull requests:\n" + _sub([escape_text(p) for p in rec.prs]))
    if rec.tests:
        parts.append("- Tests run:\n" + _sub([
            f"{code_span(t['command'])} — {t['result']}"
            + (f": {escape_text(t['detail'])}" if t.get("detail") else "") for t in rec.tests]))
    return "\n".join(parts)


def _files_by_folder(rec: SessionRecord) -> list[str]:
    """The files a session changed, a line per folder, each file by its name (linked to its
    page) and how often it changed; files outside the repository by their whole path."""
    folders: dict[str, list[str]] = {}
    for path in rec.files_changed[:MAX_FILES_SHOWN]:
        n = rec.files.get(path, {}).get("changes", 0)
        times = f" ×{n}" if n > 1 else ""
        if not is_repo_path(path):
            folders.setdefault("\0", []).append(code_span(path) + times)
            continue
        folder, _, name = path.rpartition("/")
        folders.setdefault(folder, []).append(link(file_page(path), name) + times)
    lines = [(f"{code_span(folder + '/')}: " if folder else "")
             + ", ".join(names) for folder, names in sorted(folders.items()) if folder != "\0"]
    lines += folders.get("\0", [])
    more = len(rec.files_changed) - MAX_FILES_SHOWN
    if more > 0:
        lines.append(f"… and {more} more (on the transcript)")
    return lines


def _commit(line: str) -> str:
    sha, _, subject = line.partition(" ")
    if re.fullmatch(r"[0-9a-f]{7}", sha):
        return f"{code_span(sha)} {escape_text(subject)}"
    return escape_text(line)


def _sub(items: list[str]) -> str:
    return "\n".join(f"  - {i}" for i in items)


def _cut_outcome(text: str) -> str:
    """The final message, cut at a paragraph end near MAX_OUTCOME characters."""
    text = text.strip()
    if len(text) <= MAX_OUTCOME:
        return text
    cut = text[:MAX_OUTCOME]
    end = cut.rfind("\n\n")
    cut = cut[:end] if end > MAX_OUTCOME // 3 else cut.rstrip()
    if cut.count("```") % 2:
        cut = cut[:cut.rfind("```")].rstrip()
    return cut + "\n\n[… the rest is on the transcript]"


def index_page(project: str, records: list[SessionRecord], state=None,
               project_pages: list[tuple[str, str]] = (),
               topics: list[tuple[str, str]] = (), weeks: list[str] = ()) -> Page:
    """index.md: what the wiki holds (the project's pages, structured memory, the LLM's topic
    pages), the latest sessions, the latest weekly digests and the months of the timeline."""
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
    memory_lines += [f"Topic: {topic_link(p, t)}" for p, t in topics]
    body = template("index.md").substitute(
        project=escape_text(project),
        memory=bullets(memory_lines),
        stats=stats,
        recent=bullets(recent),
        months=bullets(month_lines),
        weeks=bullets([f"[[digests/{w}|{w}]]" for w in reversed(weeks[-WEEKS_ON_INDEX:])]),
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
    if item.stale:
        # Checked against the repository at compile time (compile.staleness).
        said = "; ".join(escape_text(describe(e)) for e in item.stale)
        return (f"\n> [!warning] Checked against the code: {said}. Check it, then "
                f"`wikimem verify {item.id}` (or `wikimem forget {item.id} --reason \"...\"`)."
                "\n")
    return ""


def one_line_text(text: str) -> str:
    return " ".join(str(text).split())


def _text(value, default: str = NONE) -> str:
    return escape_text(str(value), blocks=True).strip() if value else default


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
        model = escape_text(t.get("model") or "an LLM")
        note = (f"_Written by {model}, not by a person"
                + (": each point quotes the session it rests on._" if t.get("points")
                   else "._"))
        body = template("topic.md").substitute(
            title=escape_text(t["title"]), body=_text(t["body"]), note=note,
            sessions=bullets(cited), model=model)
        meta = {"title": t["title"], "kind": "topic", "status": "active",
                "created": t["created"], "updated": t["updated"],
                "sources": [f"session:{s}" for s in t["sessions"]]
                + ([f"llm:{t['model']}"] if t.get("model") else []),
                "tags": ["topic"]}
        pages.append(Page(path, meta, body))
    return pages
