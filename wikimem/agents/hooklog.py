"""Logs of hook payloads (one payload per line, or a JSON array) -> Events (stdlib only).

People who ran their own logging hooks before wikimem have files of the very payloads
`wikimem hook <agent>` reads on stdin. Each payload goes through the agent's adapter
(`wikimem.agents.get(agent).normalize`), exactly as if the hook had run; the agent is the
one asked for, else the one whose adapter recognises most of the payloads as its own
(`recognizes`: Gemini's event names, Codex's `turn_id`, Cursor's `conversation_id`), else
agents.DEFAULT (Claude Code, whose schema the others follow), which is also used when the
adapter asked for is not installed.

Timestamps: the payload's own (`timestamp`, `logged_at`, `ts`, `time`), else the previous
line's, else the file's modification time. uids: the adapter's (a tool_use_id: the same key
a live capture of that payload gets), else a hash of the payload and how many identical
payloads came before it in the file, so re-importing a log, even one that grew or was
renamed, stores each payload once. Lines without a session id are skipped and counted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from wikimem import agents
from wikimem.agents.importers import Clock, Imported, head_records, iter_jsonl, load_json
from wikimem.capture.observation import format_ts
from wikimem.errors import WikimemError

AGENT = "hooks"
_TS_KEYS = ("timestamp", "logged_at", "ts", "time")


def default_paths() -> list[Path]:
    """Hook logs have no standard place: they are imported only when named."""
    return []


def sniff(path: Path) -> bool:
    """Hook payloads: objects naming a `hook_event_name`."""
    records = [r for r in head_records(path) if isinstance(r, dict)]
    return bool(records) and sum("hook_event_name" in r for r in records) * 2 > len(records)


def guess_agent(payloads: list[dict]) -> str:
    """Which agent's hooks wrote these payloads: the one whose adapter recognises the most of
    them as its own (the first registered, on a tie), else agents.DEFAULT."""
    votes = {name: sum(1 for p in payloads if agents.get(name).recognizes(p))
             for name in agents.NAMES}
    best = max(agents.NAMES, key=lambda name: votes[name])
    return best if votes[best] else agents.DEFAULT


def adapter_for(agent: str):
    """The adapter module for an agent, falling back to agents.DEFAULT's when not installed."""
    try:
        return agents.get(agent)
    except (WikimemError, ImportError):
        return agents.get(agents.DEFAULT)


def read(path: Path, stats: Counter | None = None, agent: str | None = None
         ) -> Iterator[Imported]:
    """The events of a hook log, in file order."""
    stats = stats if stats is not None else Counter()
    payloads = list(_payloads(path, stats))
    if not payloads:
        return
    adapter = adapter_for(agent or guess_agent([p for _, p in payloads[:50]]))
    name = getattr(adapter, "AGENT", agents.DEFAULT)
    try:
        mtime = format_ts(datetime.fromtimestamp(os.stat(path).st_mtime, UTC))
    except OSError:
        mtime = format_ts(datetime.now(UTC))
    clock = Clock()
    seen: Counter = Counter()
    for n, payload in payloads:
        where = f"{path.name}:{n}"
        try:
            event = adapter.normalize(payload)
        except Exception:  # an adapter bug on one odd payload must not stop a backfill
            stats["adapter-error"] += 1
            continue
        if not event.session:
            stats[f"{payload.get('hook_event_name')}:no-session"] += 1
            continue
        ts = clock(*(payload.get(k) for k in _TS_KEYS)) or mtime
        if not event.uid:
            blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
            digest = hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:24]
            seen[(event.session, digest)] += 1
            event.uid = f"hooklog:{digest}:{seen[(event.session, digest)]}"
        yield Imported(event, ts, where, agent=name)


def _payloads(path: Path, stats: Counter) -> Iterator[tuple[int, dict]]:
    with open(path, "rb") as f:
        first = f.read(64).lstrip()
    if first.startswith(b"["):
        whole = load_json(path, stats)
        for n, item in enumerate(whole if isinstance(whole, list) else [], start=1):
            if isinstance(item, dict):
                yield n, item
            else:
                stats["not-an-object"] += 1
        return
    yield from iter_jsonl(path, stats)


class ForAgent:
    """The hook-log importer bound to one agent's adapter (`--agent codex` on a hook log)."""

    def __init__(self, agent: str):
        self.AGENT = agent
        self.agent = agent

    def default_paths(self) -> list[Path]:
        return []

    def sniff(self, path: Path) -> bool:
        return sniff(path)

    def read(self, path: Path, stats: Counter | None = None) -> Iterator[Imported]:
        return read(path, stats, agent=self.agent)

    def __repr__(self) -> str:
        return f"hooklog.ForAgent({self.agent!r})"


def for_agent(agent: str) -> ForAgent:
    return ForAgent(agent)
