"""Context: the bounded block a new agent session gets at start.

Built at compile time and stored in `state/context.md`, so the SessionStart hook only reads a
file. Sections come in priority order (IMI's order): where the last session left off, tasks in
progress, active decisions, verified lessons, recent direction notes, active goals with open
tasks, earlier sessions. A bootstrapped project (`wikimem bootstrap`) also gets a one-line
"Project" section first and "Rules for agents" from its agent files just before the earlier
sessions. When the budget runs out, the lowest-priority sections are shortened
first, and the block says what it left out and how to get it. Recorded text cannot forge the
fence tags. Nothing proposed, superseded or retracted appears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wikimem.compile.sessions import SessionRecord, activity
from wikimem.wiki.text import template

DEFAULT_BUDGET = 6000  # characters; Claude Code caps hook-injected context at 10,000
RECENT = 8
NOTES = 5
RULES = 12
OUTCOME_CHARS = 1200
FENCE = "wikimem-context"
_FENCE_RE = re.compile(rf"<\s*/?\s*{FENCE}", re.I)
_WS = re.compile(r"[ \t]+")


@dataclass
class Section:
    """A titled list of lines; `noun` names one line when saying what was left out."""

    title: str
    lines: list[str]
    noun: str = "line"


def defang(text: str) -> str:
    """Neutralize anything in recorded text that could close or open the context fence."""
    return _FENCE_RE.sub(lambda m: m.group(0).replace("<", "‹"), text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def _one(text) -> str:
    return " ".join(str(text or "").split())


def last_session_section(rec: SessionRecord) -> Section:
    lines = [
        f"Session {rec.stem} ({rec.agent}, {rec.started} to {rec.ended}): {rec.title}",
        f"Activity: {activity(rec)}",
    ]
    if rec.outcome:
        outcome = [ln.rstrip() for ln in rec.outcome.splitlines() if ln.strip()]
        lines.append("Outcome (the agent's last message):")
        lines += [f"> {ln}" for ln in _clip("\n".join(outcome), OUTCOME_CHARS).splitlines()]
    if rec.open_questions:
        lines.append("Open questions:")
        lines += [f"- {q}" for q in rec.open_questions]
    if rec.next_steps:
        lines.append("Next steps:")
        lines += [f"- {s}" for s in rec.next_steps]
    if rec.files_changed:
        shown = rec.files_changed[:15]
        more = f" (+{len(rec.files_changed) - 15} more)" if len(rec.files_changed) > 15 else ""
        lines.append("Files changed: " + ", ".join(shown) + more)
    if rec.errors:
        lines.append("Errors seen:")
        lines += [f"- {_clip(e, 200)}" for e in rec.errors[:3]]
    return Section("Where the last session left off", lines, "line")


def memory_sections(state) -> list[Section]:
    """Tasks in progress, decisions, lessons, notes and goals, in priority order."""
    if state is None:
        return []
    tasks = state.of_kind("task", "in_progress")
    decisions = state.of_kind("decision", "active")
    lessons = [i for i in state.of_kind("lesson", "active") if i.fields.get("verified_by")]
    notes = sorted(state.of_kind("note", "active"), key=lambda i: i.created, reverse=True)
    goals = state.of_kind("goal", "active")
    open_tasks = state.of_kind("task", "todo", "in_progress")

    def task_line(t) -> str:
        line = f"- {t.id} {t.title} — held by {t.holder} since {t.claimed_at}"
        if t.checkpoints:
            line += f"; last checkpoint: {_clip(_one(t.checkpoints[-1]['note']), 160)}"
        return line

    def goal_line(g) -> str:
        mine = [t for t in open_tasks if t.fields.get("goal") == g.page]
        listed = ", ".join(f"{t.id} ({t.status.replace('_', ' ')})" for t in mine)
        return f"- {g.id} {g.title}" + (f" — open tasks: {listed}" if listed else "")

    return [
        Section("Tasks in progress", [task_line(t) for t in tasks], "task"),
        Section("Decisions in force", [
            f"- {d.id} {d.title}" + (f" — why: {_clip(_one(d.fields['why']), 160)}"
                                     if d.fields.get("why") else "")
            for d in decisions], "decision"),
        Section("Verified lessons", [
            f"- {x.id} {x.title}" + (f" → {_clip(_one(x.fields['correct']), 160)}"
                                     if x.fields.get("correct") else "")
            for x in lessons], "lesson"),
        Section("Direction notes", [f"- {n.id} ({n.created[:10]}) {_clip(_one(n.title), 200)}"
                                    for n in notes[:NOTES]], "note"),
        Section("Active goals", [goal_line(g) for g in goals], "goal"),
    ]


def repository_sections(state) -> tuple[list[Section], list[Section]]:
    """bootstrap: (the "Project" line, "Rules for agents") from `wikimem bootstrap`'s digest.

    The project line is one line and comes first; the rules repeat the repository's own agent
    files (which agents read anyway), so they sit low, just above the earlier sessions, and
    are the second thing the budget shortens.
    """
    line = _one(getattr(state, "project_line", ""))
    rules = [f"- {_clip(_one(r), 220)}" for r in getattr(state, "agent_rules", [])[:RULES]]
    return ([Section("Project", [_clip(line, 400)], "line")] if line else [],
            [Section("Rules for agents (quoted from the repository's agent files)", rules,
                     "rule")] if rules else [])


def recent_section(records: list[SessionRecord]) -> Section:
    lines = [f"- {r.date} {r.stem}: {r.title} — {r.summary}" for r in reversed(records)]
    return Section("Earlier sessions", lines, "session")


def build_context(
    project: str,
    records: list[SessionRecord],
    *,
    state=None,
    budget: int = DEFAULT_BUDGET,
) -> str:
    """The fenced context block for a project, at most `budget` characters ("" if no history)."""
    project_section, rules_section = repository_sections(state)
    sections = list(project_section)
    if records:
        sections.append(last_session_section(records[-1]))
    sections += memory_sections(state)
    sections += rules_section
    if len(records) > 1:
        sections.append(recent_section(records[-1 - RECENT : -1]))
    sections = [
        Section(s.title, [defang(_WS.sub(" ", ln)) for ln in s.lines], s.noun)
        for s in sections if s.lines
    ]
    if not sections:
        return ""
    frame = template("context-block.md")
    omitted: dict[str, int] = {}

    def render() -> str:
        parts = [f"## {s.title}\n" + "\n".join(s.lines) for s in sections if s.lines]
        if omitted:
            said = ", ".join(f"{n} {noun}{'' if n == 1 else 's'}" for noun, n in omitted.items())
            parts.append(f"(Left out for space: {said}. Find them with "
                         '`wikimem search "<words>"`; read a page with `wikimem show PAGE`.)')
        return frame.substitute(project=_attr(project), sections="\n\n".join(parts))

    block = render()
    # Shorten from the lowest priority up: drop the last line of the last non-empty section.
    while len(block) > budget:
        victim = next((s for s in reversed(sections) if s.lines), None)
        if victim is None:
            return ""
        victim.lines.pop()
        omitted[victim.noun] = omitted.get(victim.noun, 0) + 1
        block = render()
    return block


def _attr(text: str) -> str:
    return re.sub(r'[<>"&\n]', "_", text)
