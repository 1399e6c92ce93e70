"""The Observation: one normalized agent event, as stored in the raw log (stdlib only).

Schema version 1, one JSON object per line, keys in this order:

    v        schema version (int)
    id       time-ordered id (UUIDv7 text: sorts by creation time)
    key      idempotency key (a re-delivered event has the same key and is stored once)
    session  agent session id
    agent    adapter name (e.g. "claude-code")
    kind     event kind (see KINDS)
    ts       UTC timestamp, ISO 8601 with milliseconds and a trailing Z
    cwd      working directory the event came from ("" when the agent did not say)
    data     kind-specific fields (prompt, tool, input, files, command, exit_code, output, ...)
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

SCHEMA_VERSION = 1

KINDS = (
    "session_start",
    "prompt",
    "tool_pre",
    "tool_post",
    "tool_failure",
    "permission_request",
    "notification",
    "stop",
    "subagent_start",
    "subagent_stop",
    "pre_compact",
    "session_end",
    "other",
    "bootstrap",  # facts read from the repository by `wikimem bootstrap` (repo_bootstrap.py)
    "llm",  # an accepted LLM answer (llm.py), recorded so rebuilds need no calls
)

# Events after which the hook starts a detached compile.
COMPILE_TRIGGERS = frozenset({"stop", "session_end", "pre_compact"})

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def new_id(now_ms: int | None = None) -> str:
    """A UUIDv7: 48-bit Unix milliseconds, then a counter and randomness; monotonic per process."""
    global _last_ms, _seq
    with _lock:
        ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _seq += 1
            if _seq > 0xFFF:
                ms, _seq = ms + 1, 0
        else:
            _seq = 0
        _last_ms = ms
        seq = _seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utc_now() -> str:
    """Now as the raw log writes timestamps: 2026-11-21T06:43:25.123Z."""
    return format_ts(datetime.now(UTC))


def format_ts(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Observation:
    """One agent event after normalization, redaction and capping."""

    id: str
    key: str
    session: str
    agent: str
    kind: str
    ts: str
    cwd: str = ""
    data: dict = field(default_factory=dict)
    v: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """One line of the raw log (no trailing newline)."""
        record = {
            "v": self.v,
            "id": self.id,
            "key": self.key,
            "session": self.session,
            "agent": self.agent,
            "kind": self.kind,
            "ts": self.ts,
            "cwd": self.cwd,
            "data": self.data,
        }
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # Trigger: a lone surrogate (agents cut emoji pairs in half). Why: it cannot be
            # written as UTF-8. Outcome: it becomes U+FFFD; the rest of the line is kept.
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return text

    @classmethod
    def from_dict(cls, record: dict) -> Observation:
        """Parse a raw-log record; raises ValueError on a record that is not an observation."""
        try:
            return cls(
                id=str(record["id"]),
                key=str(record["key"]),
                session=str(record["session"]),
                agent=str(record["agent"]),
                kind=str(record["kind"]),
                ts=str(record["ts"]),
                cwd=str(record.get("cwd") or ""),
                data=record.get("data") if isinstance(record.get("data"), dict) else {},
                v=int(record.get("v", SCHEMA_VERSION)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an observation record: {exc}") from exc
