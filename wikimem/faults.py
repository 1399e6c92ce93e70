"""Named crash points for fault-injection trials (stdlib only).

`WIKIMEM_FAULT=<point>[@<n>]` makes the process kill itself with SIGKILL (the same as
`kill -9`: no cleanup, no `finally`) the n-th time (default: the first) it reaches `<point>`.
`tests/test_faults.py` and `bench/stress.py` use it to stop a compile exactly between two
page writes, inside the git commit or inside the index update, then check that the next
compile converges. Unset, a point costs one dictionary lookup.

Points: `compile-start`, `page-written` (after each page file is replaced),
`before-commit`, `git-added` (the paths are staged, the commit is not made),
`after-commit`, `index-update` (documents added, the Whoosh commit not made),
`before-state-save`.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def point(name: str) -> None:
    """Die here, without cleanup, if `WIKIMEM_FAULT` names this point (and this is hit n)."""
    spec = os.environ.get("WIKIMEM_FAULT")
    if not spec:
        return
    target, _, nth = spec.partition("@")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
