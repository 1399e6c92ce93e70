"""The uses log (`state/uses.jsonl`): searches, reads and citations of memories, appended
one line at a time and folded by compile (compile/decay.py). Kept apart from decay so a
one-shot search notes its hits without importing the compiler."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from wikimem.project import Project, open_private

USES = "uses.jsonl"
MAX_PAGES_PER_LINE = 50


def record_use(project: Project, pages, how: str, ts: str | None = None) -> None:
    """Note that `pages` were used now (a hint: a failure to note it is ignored)."""
    pages = sorted({p for p in pages if isinstance(p, str) and p.endswith(".md")})
    if not pages:
        return
    stamp = ts or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for start in range(0, len(pages), MAX_PAGES_PER_LINE):
        line = json.dumps({"ts": stamp, "how": how,
                           "pages": pages[start:start + MAX_PAGES_PER_LINE]}) + "\n"
        try:
            fd = open_private(project.state_dir / USES, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        except OSError:
            return
        try:
            os.write(fd, line.encode("utf-8"))
        except OSError:
            pass
        finally:
            os.close(fd)
