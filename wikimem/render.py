"""Render: SessionRecords -> Pages (session pages and the derived aggregate pages).

Everything here is a pure function of its inputs; templates come from the `wikimem.templates`
package via importlib.resources.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from importlib import resources
from string import Template

from wikimem.pages import Page
from wikimem.sessions import SessionRecord

NONE = "_None recorded._"
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
RECENT_ON_INDEX = 20


@cache
def template(name: str) -> Template:
    """A page template from the wikimem.templates package."""
    text = resources.files("wikimem.templates").joinpath(name).read_text(encoding="utf-8")
    return Template(text)


def escape_text(text: str) -> str:
    """Make recorded text inert in a markdown page: no HTML, no accidental wikilinks."""
    # Only a `<` that could open a tag or comment is escaped: `a < b` and `->` stay readable.
    text = _TAG_START.sub("&lt;", text)
    return text.replace("[[", "\\[\\[").replace("]]", "\\]\\]")


def quote(text: str) -> str:
    """Recorded prose as a blockquote, so its headings cannot restructure the page."""
    lines = escape_text(text.strip()).splitlines() or [""]
    return "\n".join(f"> {ln}".rstrip() for ln in lines)


def code_span(text: str) -> str:
    """Inline code that survives backticks inside the text."""
    text = text.replace("\n", " ⏎ ")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def link_label(text: str) -> str:
    return re.sub(r"[\[\]|#^]", " ", text).strip() or "untitled"


def wikilink(stem: str, title: str) -> str:
    return f"[[{stem}|{link_label(title)}]]"


def bullets(items: list[str]) -> str:
    return "\n".join(f"- {i}" for i in items) if items else NONE


def session_page(rec: SessionRecord, previous: SessionRecord | None) -> Page:
    """The page for one session."""
    prompts = "\n\n".join(quote(p) for p in rec.prompts) if rec.prompts else NONE
    commands = []
    for c in rec.commands[:40]:
        status = "no result" if c.exit_code is None else f"exit {c.exit_code}"
        commands.append(f"{code_span(_first_line(c.command, 200))} — {status}")
    if len(rec.commands) > 40:
        commands.append(f"… and {len(rec.commands) - 40} more")
    body = template("session.md").substitute(
        title=escape_text(rec.title),
        summary=escape_text(rec.summary),
        agent=rec.agent,
        started=rec.started,
        ended=rec.ended,
        cwd=code_span(rec.cwd) if rec.cwd else "unknown",
        previous=wikilink(previous.stem, previous.title) if previous else "none",
        prompts=prompts,
        files_changed=bullets([code_span(f) for f in rec.files_changed]),
        files_read=bullets([code_span(f) for f in rec.files_read[:60]]
                           + ([f"… and {len(rec.files_read) - 60} more"]
                              if len(rec.files_read) > 60 else [])),
        commands=bullets(commands),
        errors=bullets([escape_text(e) for e in rec.errors]),
        outcome=quote(_cap(rec.outcome, 3000)) if rec.outcome else NONE,
        open_questions=bullets([escape_text(q) for q in rec.open_questions]),
        next_steps=bullets([escape_text(s) for s in rec.next_steps]),
    )
    tags = ["session", rec.agent]
    meta = {
        "title": rec.title,
        "kind": "session",
        "status": "active",
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


def index_page(project: str, records: list[SessionRecord]) -> Page:
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
    body = template("index.md").substitute(
        project=escape_text(project),
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
    body = template("context-page.md").substitute(block=block, budget=budget)
    meta = _aggregate_meta("Context for the next session", "context", records, records[-5:])
    meta["tags"] = ["context"]
    return Page("context.md", meta, body)


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
