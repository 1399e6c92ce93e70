"""Structured memory in a compile: the memory folded, and which of its pages need rendering.

Decisions, lessons, tasks, notes and goals (wikimem.memory) with the candidates the sessions
raised and the repository's decisions (`wikimem bootstrap`), and their hub pages. Most
compiles leave all of them as they were, so a page is rendered only when what it shows
changed or its file no longer holds what was written.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from wikimem.compile import decay, staleness
from wikimem.compile.render import HUBS, hub_pages, memory_page, renderer_identity
from wikimem.compile.state import State
from wikimem.memory import MemoryState, memory_observations
from wikimem.project import Project
from wikimem.repo import decisions as repo_decisions
from wikimem.wiki.pages import RENDER_IDENTITY, Page, text_sha256


def structured_memory(project: Project, state: State, *, check_code: bool = True,
                      rendered: bool = False) -> MemoryState:
    """Structured memory: the memory log folded, with candidates lifted from every session;
    memories that name files checked against the repository as it is now (`check_code`;
    `rendered`: by a compile, see staleness.repository_moved)."""
    candidates = [c for _, d in sorted(state.catalog.items()) for c in d.get("candidates", [])]
    # bootstrap: decisions from the repository (ADRs, decision-stating commits) are folded
    # in before the memory log's own observations, so accept/forget apply to them too.
    memory = repo_decisions.memory_state(project, memory_observations(project), candidates)
    if check_code:
        staleness.check(project, memory, rendered=rendered)
    decay.apply_uses(memory, decay.last_uses(project))
    return memory


def structured_pages(wiki_dir: Path, memory: MemoryState, stems: dict[str, str],
                     state: State) -> tuple[list[Page], list[str]]:
    """The pages of structured memory and its hubs that need rendering, and those that don't.

    They are a pure function of the folded items, the stems of the sessions they cite and
    the renderer. When those are what the last compile rendered (`state.structured`), a page
    whose file still holds the bytes written then (`_holds`) is kept as it is, without
    rendering it: ten thousand sessions' memory is over a thousand pages, and nearly every
    compile leaves all of them as they were. A page a person edited or deleted is rendered
    as usual.
    """
    key = _structured_key(memory, stems)
    kept: list[str] = []
    if key == state.structured:
        now = time.time_ns()
        for path in [*memory.items, *(path for path, _, _ in HUBS.values())]:
            entry = state.rendered.get(path)
            if entry and _holds(wiki_dir / path, entry, now):
                kept.append(path)
    state.structured = key
    skip = set(kept)
    pages = [memory_page(item, memory, stems) for path, item in sorted(memory.items.items())
             if path not in skip]
    if len(skip) < len(memory.items) + len(HUBS):
        pages += [page for page in hub_pages(memory) if page.path not in skip]
    return pages, kept


# A file's size and mtime stand for its bytes once the mtime is this much older than when the
# bytes were last read and found right (a later write gets a later mtime, even on filesystems
# that keep whole seconds or two).
_SETTLED_NS = 3_000_000_000


def _holds(file: Path, entry: list, now: int) -> bool:
    """True when `file` holds the bytes of its render-memo entry ([fingerprint, sha256,
    size, mtime_ns, when they were checked]).

    As git does for its index: the size and mtime are trusted when the mtime had settled
    before the bytes were last checked; otherwise the file is read and hashed, and on a match
    its size and mtime are recorded in the entry for the next compile.
    """
    try:
        st = os.stat(file)  # before reading: a write after this shows in the next stat
    except OSError:
        return False
    if len(entry) == 5 and entry[2] == st.st_size and entry[3] == st.st_mtime_ns \
            and entry[3] < entry[4] - _SETTLED_NS:
        return True
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return False
    if text_sha256(text) != entry[1]:
        return False
    entry[2:] = [st.st_size, st.st_mtime_ns, now]
    return True


def _structured_key(memory: MemoryState, stems: dict[str, str]) -> str:
    """What the structured pages are rendered from, as one hash."""
    cited = sorted({s.removeprefix("session:") for item in memory.items.values()
                    for s in item.sources if s.startswith("session:")})
    data = repr((RENDER_IDENTITY, renderer_identity(), sorted(memory.items.items()),
                 [(sid, stems.get(sid)) for sid in cited]))
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()
