"""Context: the bounded block a new agent session gets at start.

Built at compile time from the session records and stored in `state/context.md`, so the
SessionStart hook only reads a file. Sections are filled in priority order until the
character budget is spent; the fence tags cannot be forged by recorded text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wikimem.render import template
from wikimem.sessions import SessionRecord, activity

DEFAULT_BUDGET = 6000  # characters; Claude Code caps hook-injected context at 10,000
RECENT = 8
OUTCOME_CHARS = 1200
FENCE = "wikimem-context"
_FENCE_RE = re.compile(rf"<\s*/?\s*{FENCE}", re.I)
_WS = re.compile(r"[ \t]+")


@dataclass
class Section:
    title: str
    lines: list[str]


def defang(text: str) -> str:
    """Neutralize anything in recorded text that could close or open the context fence."""
    return _FENCE_RE.sub(lambda m: m.group(0).replace("<", "‹"), text)


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
    return Section("Where the last session left off", lines)


def recent_section(records: list[SessionRecord]) -> Section:
    lines = [f"- {r.date} {r.stem}: {r.title} — {r.summary}" for r in reversed(records)]
    return Section("Earlier sessions", lines)


def build_context(
    project: str,
    records: list[SessionRecord],
    *,
    budget: int = DEFAULT_BUDGET,
    extra_sections: list[Section] | None = None,
) -> str:
    """The fenced context block for a project, at most `budget` characters (empty if no history).

    `extra_sections` (decisions, lessons, tasks in progress...) go after the last session and
    before the list of earlier sessions.
    """
    if not records:
        return ""
    sections = [last_session_section(records[-1]), *(extra_sections or [])]
    earlier = records[-1 - RECENT : -1]
    if earlier:
        sections.append(recent_section(earlier))
    frame = template("context-block.md")
    empty = frame.substitute(project=_attr(project), sections="")
    room = budget - len(empty)
    if room <= 0:
        return ""
    parts: list[str] = []
    for section in sections:
        head = f"## {section.title}\n"
        used = sum(len(p) + 2 for p in parts)
        if used + len(head) + 40 > room:
            break
        body_lines: list[str] = []
        for line in section.lines:
            line = defang(_WS.sub(" ", line))
            candidate = len("\n".join([*body_lines, line])) + len(head) + used
            if candidate > room:
                left = room - (len("\n".join(body_lines)) + len(head) + used) - 2
                if left > 40:
                    body_lines.append(_clip(line, left))
                break
            body_lines.append(line)
        if body_lines:
            parts.append(head + "\n".join(body_lines))
    block = frame.substitute(project=_attr(project), sections="\n\n".join(parts))
    while len(block) > budget and parts:
        # Safety net for the estimate above: drop whole lines, never the closing fence.
        last = parts[-1].rsplit("\n", 1)
        parts[-1:] = [last[0]] if len(last) == 2 else []
        block = frame.substitute(project=_attr(project), sections="\n\n".join(parts))
    return block


def _attr(text: str) -> str:
    return re.sub(r'[<>"&\n]', "_", text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"
