"""Context: the bounded block a new agent session gets at start.

Built at compile time and stored in `state/context.md`, so the SessionStart hook only reads a
file. Sections come in priority order (IMI's order): where the last session left off, tasks in
progress, active decisions, verified lessons, recent direction notes, tasks finished recently
with their completion summaries, active goals with open tasks, earlier sessions. The last
session's part says which tasks its agent left claimed and unfinished. A bootstrapped
project (`wikimem bootstrap`) also gets a one-line "Project" section first and "Rules for
agents" from its agent files just before the earlier sessions. When the budget runs out, the
lowest-priority sections are shortened first, and the block says what it left out and how
to get it. Nothing proposed, superseded or retracted appears.

Every recorded string goes through `defang` (one inert line) and is shown `quoted` (or as a
`> ` line of the outcome), so no line of recorded text can look like the block's headings,
fences, tags or labels.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from wikimem.compile.sessions import SessionRecord, activity
from wikimem.wiki.text import template

DEFAULT_BUDGET = 6000  # characters; Claude Code caps hook-injected context at 10,000
RECENT = 8
NOTES = 5
FINISHED = 3
RULES = 12
OUTCOME_CHARS = 1200
FENCE = "wikimem-context"
# The footer's line on recording what must not be forgotten: the commands in the block the
# SessionStart hook prints; the MCP server's `context` tool gives the tool names (for_mcp).
RECORD_COMMANDS = ('Record what must not be forgotten: `wikimem decide "<what>" --why "<why>"`, '
                   '`wikimem lesson`, `wikimem note`; end a task with `wikimem task done ID '
                   '"<what was built, learned, needed next>" --agent NAME`.')
RECORD_MCP = ("Record what must not be forgotten with the wikimem MCP tools decide, lesson, "
              "note; end a task with task_done and its summary (built, learned, needed next).")

# Recorded text is made inert by `defang` (one line, nothing that forms a tag or the fence
# name) and shown by `quoted` (JSON-style double quotes) or as `> ` lines (the outcome).
# Look-alikes are found on an NFKC + confusable skeleton of each character.
_HYPHENS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u02d7\u1806"
                     "\u2e3a\u2e3b\ufe58\ufe63\uff0d\u30fc\u2796\u2574")
_LEFT = frozenset("<\u2039\u227a\u2329\u27e8\u3008\ufe64\uff1c\u02c2\u1438\u276e"
                  "\u276c\u2770\u29fc\u1445")
_RIGHT = frozenset(">\u203a\u227b\u232a\u27e9\u3009\ufe65\uff1e\u02c3\u1433\u276f"
                   "\u276d\u2771\u29fd\u1441")
_FENCE_NAME = re.compile(r"wikimem[^a-z0-9]?context")
_BROKEN_NAME = "wikimem[-]context"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SAFE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                        r"(?:Z|[+-]\d{2}:?\d{2})?)?")


def _skeleton(ch: str) -> str:
    """What a character looks like, for detection only: NFKC, case-folded, look-alike
    hyphens and angle brackets as ASCII."""
    if ch in _HYPHENS:
        return "-"
    if ch in _LEFT:
        return "<"
    if ch in _RIGHT:
        return ">"
    return unicodedata.normalize("NFKC", ch).casefold()


def _clean(text) -> str:
    """Recorded text as one line: control, format (zero-width, bidi, tag) and unassigned
    characters dropped, any line break or run of whitespace one space, the fence name in any
    spelling broken."""
    chars = []
    for ch in str(text or ""):
        cat = unicodedata.category(ch)
        if ch.isspace() or cat in ("Zl", "Zp"):
            if chars and chars[-1] != " ":
                chars.append(" ")
        elif cat not in ("Cc", "Cf", "Cs", "Cn", "Co"):
            chars.append(ch)
    line = "".join(chars).strip()
    skel, owner = [], []  # the skeleton, and for each of its characters the one it came from
    for i, ch in enumerate(line):
        for k in _skeleton(ch):
            skel.append(k)
            owner.append(i)
    spans = [(owner[m.start()], owner[m.end() - 1] + 1)
             for m in _FENCE_NAME.finditer("".join(skel))]
    for start, end in reversed(spans):
        line = line[:start] + _BROKEN_NAME + line[end:]
    return line


def defang(text) -> str:
    """Recorded text made inert: one line (`_clean`), and every `<`/`>` or look-alike of one
    written `&lt;`/`&gt;`, so no tag (and no fence) can form."""
    out = []
    for ch in _clean(text):
        look = _skeleton(ch)
        out.append("&lt;" if "<" in look else "&gt;" if ">" in look else ch)
    return "".join(out)


def quoted(text) -> str:
    """Recorded text as visibly quoted data: defanged, in double quotes, with `"` and `\\`
    (and what normalizes to them) escaped."""
    body = "".join("\\" + ch if _skeleton(ch) in ('"', "\\") else ch for ch in defang(text))
    return f'"{body}"'


def _token(text, pattern: re.Pattern = _SAFE_NAME) -> str:
    """A name or date the block shows bare when it has the expected shape, else quoted."""
    text = str(text or "")
    return text if pattern.fullmatch(text) else quoted(text)


def _date(text) -> str:
    return _token(text, _SAFE_DATE)


# The sections, in priority order, by the name a project's `[context] hide` uses.
SECTION_NAMES = ("project", "last_session", "tasks", "decisions", "lessons", "notes",
                 "finished_tasks", "goals",
                 "rules", "earlier_sessions")
DEFAULT_UNUSED_DAYS = 90.0
BULK_DROP = True  # (tests compare with False: one line at a time)


@dataclass
class Section:
    """A titled list of lines; `noun` names one line when saying what was left out; `keys`
    says which candidate (page, session or rule) each line shows."""

    title: str
    lines: list[str]
    noun: str = "line"
    keys: list[str] | None = None
    name: str = ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def _q(text, limit: int | None = None) -> str:
    """A recorded field, one line, cut at `limit` characters, quoted."""
    line = _clean(text)
    return quoted(_clip(line, limit) if limit else line)


def last_session_section(rec: SessionRecord, unfinished: list[dict] = ()) -> Section:
    """Where the last session left off; `unfinished`: the tasks its agent still held at its
    end (MemoryState.unfinished), so the next agent picks them up."""
    lines = [
        f"Session {_token(rec.stem)} ({_token(rec.agent)}, {_date(rec.started)} to "
        f"{_date(rec.ended)}): {_q(rec.title)}",
        f"Activity: {activity(rec)}",
    ]
    if rec.outcome:
        outcome = [ln for ln in map(defang, str(rec.outcome).splitlines()) if ln]
        lines.append("Outcome (the agent's last message):")
        lines += [f"> {ln}" for ln in _clip("\n".join(outcome), OUTCOME_CHARS).splitlines()]
    if rec.open_questions:
        lines.append("Open questions:")
        lines += [f"- {_q(q)}" for q in rec.open_questions]
    if rec.next_steps:
        lines.append("Next steps:")
        lines += [f"- {_q(s)}" for s in rec.next_steps]
    if unfinished:
        lines.append("Unfinished when it stopped (claimed by its agent; pick up or release):")
        for t in unfinished:
            line = (f"- {_token(t['id'])} {_q(t['title'])} — held by {_token(t['holder'])} "
                    f"since {_date(t['claimed_at'])}")
            if t["checkpoint"]:
                line += f"; last checkpoint: {_q(t['checkpoint'], 160)}"
            lines.append(line)
    if rec.files_changed:
        shown = rec.files_changed[:15]
        more = f" (+{len(rec.files_changed) - 15} more)" if len(rec.files_changed) > 15 else ""
        lines.append("Files changed: " + ", ".join(map(_q, shown)) + more)
    if rec.errors:
        lines.append("Errors seen:")
        lines += [f"- {_q(e, 200)}" for e in rec.errors[:3]]
    return Section("Where the last session left off", lines, "line",
                   [f"session:{rec.session_id}"] * len(lines), "last_session")


def last_use(item) -> str:
    """When a memory was last used: recorded, changed, verified, or (compile.usage) shown,
    found or cited."""
    verified = (getattr(item, "verified", None) or {}).get("ts", "")
    return max(str(getattr(item, "updated", "") or ""), str(getattr(item, "created", "") or ""),
               verified, str(getattr(item, "last_used", None) or ""))


def _days(later: str, earlier: str) -> float:
    try:
        a = datetime.fromisoformat(later.replace("Z", "+00:00"))
        b = datetime.fromisoformat(earlier.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max((a - b).total_seconds() / 86400, 0.0)


def use_score(item, now: str, unused_days: float) -> float:
    """1 for a memory used now, 0.5 at `unused_days` without use, falling towards 0."""
    return round(1 / (1 + _days(now, last_use(item)) / unused_days), 3)


def unused(item, now: str, unused_days: float) -> bool:
    """Unused for longer than `unused_days` (of the project's own clock) and not pinned."""
    return not getattr(item, "pinned", False) and _days(now, last_use(item)) > unused_days


def stale_flag(item) -> str:
    """What the code says of a memory's files, for its line in the block ("" when nothing)."""
    said = []
    for e in getattr(item, "stale", None) or []:
        when = (f" (commit {_token(str(e['commit'])[:7])}, {_date(str(e.get('date', ''))[:10])})"
                if e.get("commit") else "")
        said.append(f"refers to deleted {_q(e['path'])}{when}" if e["state"] == "deleted"
                    else f"may be stale: {_q(e['path'])} changed since{when}")
    return f" — {'; '.join(said)}" if said else ""


def memory_sections(state, *, now: str = "", unused_days: float = DEFAULT_UNUSED_DAYS
                    ) -> list[Section]:
    """Tasks in progress, decisions, lessons, notes and goals, in priority order. Memories
    unused for `unused_days` come last in their section (so the budget drops them first)."""
    if state is None:
        return []

    def ranked(items):
        return sorted(items, key=lambda i: unused(i, now, unused_days)) if now else items

    tasks = state.of_kind("task", "in_progress")
    decisions = ranked(state.of_kind("decision", "active"))
    lessons = ranked([i for i in state.of_kind("lesson", "active")
                      if i.fields.get("verified_by")])
    notes = ranked(sorted(state.of_kind("note", "active"), key=lambda i: i.created,
                          reverse=True))[:NOTES]
    goals = state.of_kind("goal", "active")
    open_tasks = state.of_kind("task", "todo", "in_progress")
    finished = sorted((t for t in state.of_kind("task", "done") if t.status == "done"),
                      key=lambda t: (t.updated, t.id), reverse=True)[:FINISHED]

    def task_line(t) -> str:
        line = (f"- {_token(t.id)} {_q(t.title)} — held by {_token(t.holder)} since "
                f"{_date(t.claimed_at)}")
        if t.checkpoints:
            line += f"; last checkpoint: {_q(t.checkpoints[-1]['note'], 160)}"
        return line + stale_flag(t)

    def goal_line(g) -> str:
        mine = [t for t in open_tasks if t.fields.get("goal") == g.page]
        listed = ", ".join(f"{_token(t.id)} ({_token(t.status).replace('_', ' ')})"
                           for t in mine)
        return f"- {_token(g.id)} {_q(g.title)}" + (f" — open tasks: {listed}" if listed else "")

    def section(title, items, line, noun, name):
        return Section(title, [line(i) for i in items], noun, [i.page for i in items], name)

    return [
        section("Tasks in progress", tasks, task_line, "task", "tasks"),
        section("Decisions in force", decisions, lambda d: (
            f"- {_token(d.id)} {_q(d.title)}" + (f" — why: {_q(d.fields['why'], 160)}"
                                                 if d.fields.get("why") else "")
            + stale_flag(d)), "decision", "decisions"),
        section("Verified lessons", lessons, lambda x: (
            f"- {_token(x.id)} {_q(x.title)}" + (f" → {_q(x.fields['correct'], 160)}"
                                                 if x.fields.get("correct") else "")
            + stale_flag(x)), "lesson", "lessons"),
        section("Direction notes", notes, lambda n: (
            f"- {_token(n.id)} ({_date(str(n.created)[:10])}) {_q(n.title, 200)}"
            + stale_flag(n)), "note", "notes"),
        section("Tasks finished recently (their completion summaries)", finished, lambda t: (
            f"- {_token(t.id)} {_q(t.title)} — done {_date(str(t.updated)[:10])}"
            + (f": {_q(t.fields['result'], 300)}" if t.fields.get("result") else "")),
            "finished task", "finished_tasks"),
        section("Active goals", goals, goal_line, "goal", "goals"),
    ]


def repository_sections(state) -> tuple[list[Section], list[Section]]:
    """bootstrap: (the "Project" line, "Rules for agents") from `wikimem bootstrap`'s digest.

    The project line is one line and comes first; the rules repeat the repository's own agent
    files (which agents read anyway), so they sit low, just above the earlier sessions, and
    are the second thing the budget shortens.
    """
    line = _clean(getattr(state, "project_line", ""))
    rules = [(f"rule:{n}", f"- {_q(r, 220)}")
             for n, r in enumerate(getattr(state, "agent_rules", [])[:RULES], 1) if _clean(r)]
    return ([Section("Project", [f"- {_q(line, 400)}"], "line", ["project"], "project")]
            if line else [],
            [Section("Rules for agents (quoted from the repository's agent files)",
                     [r for _, r in rules], "rule", [k for k, _ in rules], "rules")]
            if rules else [])


def recent_section(records: list[SessionRecord]) -> Section:
    lines = [f"- {_date(r.date)} {_token(r.stem)}: {_q(r.title)} — {_q(r.summary)}"
             for r in reversed(records)]
    return Section("Earlier sessions", lines, "session",
                   [f"session:{r.session_id}" for r in reversed(records)], "earlier_sessions")


def project_now(records, state) -> str:
    """The project's own clock: its newest recorded time (sessions, memory, uses). Decay is
    measured on it, so a project nobody touched for a year has not decayed, and the block is
    a function of what was recorded, not of when it is built."""
    times = [str(r.ended or r.started or "") for r in records[-1:]]
    if state is not None:
        times += [last_use(i) for i in getattr(state, "items", {}).values()]
    return max(times, default="")


def build_context(
    project: str,
    records: list[SessionRecord],
    *,
    state=None,
    budget: int = DEFAULT_BUDGET,
    hidden: tuple[str, ...] | frozenset = (),
    unused_days: float = DEFAULT_UNUSED_DAYS,
    explain: list | None = None,
) -> str:
    """The fenced context block for a project, at most `budget` characters ("" if no history).

    `hidden`: section names (SECTION_NAMES) a project turned off. With `explain` (a list),
    one entry per candidate - every memory item, session and rule - is appended to it: its
    section, size in the block, score and why it was included, shortened or left out.
    """
    now = project_now(records, state)
    project_section, rules_section = repository_sections(state)
    sections = list(project_section)
    if records:
        last = records[-1]
        held = getattr(state, "unfinished", None)  # a MemoryState (or None, or a stand-in)
        sections.append(last_session_section(last, held(last.agent, last.ended)
                                             if held else []))
    sections += memory_sections(state, now=now, unused_days=unused_days)
    sections += rules_section
    if len(records) > 1:
        sections.append(recent_section(records[-1 - RECENT : -1]))
    off = [s for s in sections if s.name in hidden]
    sections = [s for s in sections if s.lines and s.name not in hidden]
    shown_before = {k for s in sections for k in (s.keys or [])}
    frame = template("context-block.md")
    omitted: dict[str, int] = {}

    def render() -> str:
        parts = [f"## {s.title}\n" + "\n".join(s.lines) for s in sections if s.lines]
        if omitted:
            said = ", ".join(f"{n} {noun}{'' if n == 1 else 's'}" for noun, n in omitted.items())
            parts.append(f"(Left out for space: {said}. Find them with "
                         '`wikimem search "<words>"`; read a page with `wikimem show PAGE`.)')
        size, block = 0, ""
        for _ in range(4):  # the size it states is part of the size: settle it
            block = frame.substitute(project=_attr(project), sections="\n\n".join(parts),
                                     size=size, record=RECORD_COMMANDS)
            if len(block) == size:
                break
            size = len(block)
        return block

    def drop(victim: Section) -> None:
        victim.lines.pop()
        if victim.keys:
            victim.keys.pop()
        omitted[victim.noun] = omitted.get(victim.noun, 0) + 1

    block = render() if sections else ""
    # Shorten from the lowest priority up: drop the last line of the last non-empty section.
    while block and len(block) > budget:
        # Lines that cannot bring the block under the budget even with their section's title
        # gone go without rendering in between (the note on what was left out only grows, the
        # stated size moves by a digit or two): the same block as one line at a time, without
        # rendering it once per line of a long memory.
        freed, excess = 0, len(block) - budget
        for victim in reversed(sections if BULK_DROP else []):
            while victim.lines:
                cost = len(victim.lines[-1]) + 1 + (len(victim.title) + 6
                                                    if len(victim.lines) == 1 else 0)
                if freed + cost + 8 >= excess:
                    break
                freed += cost
                drop(victim)
            if victim.lines:
                break
        victim = next((s for s in reversed(sections) if s.lines), None)
        if victim is None:
            block = ""
            break
        if not freed:
            drop(victim)
        block = render()
    if not any(s.lines for s in sections):
        block = ""
    if explain is not None:
        explain += _explain(records, state, sections, off, shown_before, now, unused_days,
                            bool(block))
    return block


_LEFT_OUT = {"proposed": "proposed (not decided until accepted)",
             "superseded": "superseded", "done": "done", "failed": "failed",
             "todo": "todo (only tasks in progress are shown; open ones under their goal)"}


def _explain(records, state, sections, off, shown_before, now, unused_days, any_block
             ) -> list[dict]:
    """Every candidate and what became of it (see build_context)."""
    size: dict[str, int] = {}
    where: dict[str, str] = {}
    lines_left: dict[str, int] = {}
    for s in sections:
        for key, line in zip(s.keys or [], s.lines, strict=False):
            size[key] = size.get(key, 0) + len(line) + 1
            where[key] = s.name
            lines_left[key] = lines_left.get(key, 0) + 1
    hidden_at = {k: s.name for s in off for k in (s.keys or [])}
    rows = []

    def row(key, kind, title, section, reason, score=None, item=None) -> None:
        included = key in size and any_block
        status = "included" if included else "left out"
        if included and reason == "shortened":
            status = "shortened"
        elif included:
            reason = "flagged: " + stale_flag(item).removeprefix(" — ") if item is not None \
                and getattr(item, "stale", None) else "included"
        entry = {"id": key, "kind": kind, "title": title, "section": where.get(key, section),
                 "status": status, "reason": reason, "chars": size.get(key, 0) if included
                 else 0, "score": score}
        if item is not None:
            entry.update(page=item.page, last_used=last_use(item), pinned=item.pinned)
        rows.append(entry)

    def fate(key, section) -> str:
        if key in hidden_at:
            return f"section {hidden_at[key]} turned off"
        if key in shown_before and key not in size:
            return "budget"
        return section

    last = records[-1] if records else None
    for i, r in enumerate(records):
        key = f"session:{r.session_id}"
        if r is last:
            full = len(last_session_section(r).lines)
            reason = "shortened" if key in size and lines_left.get(key, 0) < full else "budget"
            row(key, "session", r.title, "last_session",
                fate(key, reason) if key not in size else reason, 1.0)
        else:
            age = len(records) - 1 - i
            reason = fate(key, f"older session (the {RECENT} most recent are listed)"
                          if age > RECENT else "budget")
            row(key, "session", r.title, "earlier_sessions", reason,
                round(1 / (1 + age), 3))
    if state is not None:
        for item in sorted(state.items.values(), key=lambda i: (i.kind, i.page)):
            section = {"decision": "decisions", "lesson": "lessons", "note": "notes",
                       "goal": "goals", "task": "tasks"}.get(item.kind, item.kind)
            if item.status == "retracted":
                retired = (item.retracted or {}).get("retired")
                reason = "retired by sweep (unused)" if retired else "retracted"
            elif item.kind == "lesson" and item.status == "active" and \
                    not item.fields.get("verified_by"):
                reason = "lesson not verified (only verified lessons are shown)"
            elif item.kind == "note" and item.status == "active":
                reason = f"older note (the {NOTES} most recent are shown)"
            else:
                reason = _LEFT_OUT.get(item.status, item.status)
            row(item.page, item.kind, item.title, section, fate(item.page, reason),
                use_score(item, now, unused_days) if now else None, item)
        if getattr(state, "project_line", ""):
            row("project", "project", _clean(state.project_line), "project",
                fate("project", "budget"))
        for n, rule in enumerate(getattr(state, "agent_rules", []), 1):
            key = f"rule:{n}"
            row(key, "rule", _clean(rule), "rules",
                fate(key, "budget" if n <= RULES else f"rule {n} (the first {RULES} are "
                     "shown)"))
    return rows


def _attr(text: str) -> str:
    """The project name as the fence's attribute: one clean line, no `<>"&` or look-alike."""
    return "".join("_" if _skeleton(ch) in ("<", ">", '"', "&") else ch
                   for ch in _clean(text))


def for_mcp(block: str) -> str:
    """The block as the MCP `context` tool gives it: the footer names the MCP tools."""
    head, found, tail = block.rpartition(RECORD_COMMANDS)
    return head + RECORD_MCP + tail if found else block
