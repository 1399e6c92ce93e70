"""The machine commit's message: what a compile wrote, and trailers naming its sessions."""

from __future__ import annotations

from wikimem.compile.sessions import SessionRecord
from wikimem.memory import MemoryState


def commit_message(records: list[SessionRecord], memory: MemoryState, result,
             rebuild: bool, bootstrap: str | None = None) -> str:
    """The machine commit's message: what was compiled, and trailers naming the sessions
    (`result`: the round's `CompileResult`; its `sessions` and `written` are read)."""
    by_id = {r.session_id: r for r in records}
    sessions = [by_id[s] for s in dict.fromkeys(result.sessions) if s in by_id]
    structured = sorted({p.split("/", 1)[0] for p in result.written
                         if p in memory.items})
    if rebuild:
        subject = f"Rebuild wiki from the raw log ({len(records)} sessions)"
    elif len(sessions) == 1:
        subject = f"Compile session {sessions[0].date}: {sessions[0].title}"
    elif sessions:
        subject = f"Compile {len(sessions)} sessions"
    elif bootstrap:  # bootstrap: `wikimem bootstrap` recorded new repository facts
        subject = bootstrap
    elif structured:
        subject = "Update " + ", ".join(structured)
    else:
        subject = "Update derived pages"
    lines = [subject, ""]
    lines += [f"- {r.date} {r.title}" for r in sessions[:20]]
    if len(sessions) > 20:
        lines.append(f"- ... and {len(sessions) - 20} more")
    lines += [f"- {memory.items[p].id} {memory.items[p].title} ({memory.items[p].status})"
              for p in result.written if p in memory.items][:20]
    lines += ["", f"Pages-Written: {len(result.written)}"]
    lines += [f"Session-Id: {r.session_id}" for r in sessions[:50]]
    return "\n".join(lines)
