"""What LLM consolidation keeps between compiles besides its answers: the requests it sent
(`Usage`, `state/llm-usage.json`) and the sessions it still owes (`Queue`,
`state/llm-queue.json`, with a pause the API asked for)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from wikimem.capture.observation import format_ts
from wikimem.compile.llm_client import LLMError
from wikimem.project import Project, write_atomic

MAX_REJECTIONS = 3  # answers rejected for one session's content before it waits for a change
REJECTED = ("invalid-output", "unfaithful")  # the model's fault: retrying costs a call


class Usage:
    """Calls and tokens per UTC day, in `state/llm-usage.json`: every request that left the
    machine, answered or not."""

    def __init__(self, project: Project, now: datetime | None = None):
        self.path = project.state_dir / "llm-usage.json"
        self.day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}
        if not isinstance(self.data, dict):
            self.data = {}

    @property
    def today(self) -> dict:
        day = self.data.get(self.day)
        if not (isinstance(day, dict) and isinstance(day.get("calls"), int)
                and isinstance(day.get("tokens"), int)):
            day = self.data[self.day] = {"calls": 0, "tokens": 0}
        return day

    def count(self, tokens: int, *, failed: bool = False) -> None:
        today = self.today
        today["calls"] += 1
        today["tokens"] += tokens
        if failed:
            today["failed"] = today.get("failed", 0) + 1
        write_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True))


class Queue:
    """The sessions still owed consolidation, with why, and a pause the API asked for
    (`state/llm-queue.json`)."""

    def __init__(self, project: Project):
        self.path = project.state_dir / "llm-queue.json"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        sessions = data.get("sessions")
        self.sessions: dict[str, dict] = {
            k: v for k, v in sessions.items() if isinstance(v, dict)
        } if isinstance(sessions, dict) else {}
        until = data.get("paused_until")
        self.paused_until: str | None = until if isinstance(until, str) else None
        overview = data.get("overview")  # bootstrap's overview, when its request failed
        self.overview: dict | None = overview if isinstance(overview, dict) else None
        self.changed = False

    def paused(self, now: datetime | None = None) -> str | None:
        """Until when the API asked not to be called, if that is still ahead."""
        now_text = format_ts(now or datetime.now(UTC))
        return self.paused_until if self.paused_until and self.paused_until > now_text else None

    def pause(self, seconds: float, now: datetime | None = None) -> None:
        self.paused_until = format_ts((now or datetime.now(UTC)) + timedelta(seconds=seconds))
        self.changed = True

    def owe(self, sid: str, digest: str, exc: LLMError, now: datetime | None = None) -> None:
        old = self.sessions.get(sid) or {}
        same = old.get("content_hash") == digest
        rejections = (old.get("rejections", 0) if same else 0) + (exc.kind in REJECTED)
        self.sessions[sid] = {"content_hash": digest, "kind": exc.kind, "reason": str(exc),
                              "rejections": rejections,
                              "since": old.get("since") or format_ts(now or datetime.now(UTC))}
        self.changed = True

    def owe_overview(self, exc: LLMError, now: datetime | None = None) -> None:
        self.overview = {"kind": exc.kind, "reason": str(exc),
                         "since": format_ts(now or datetime.now(UTC))}
        self.changed = True

    def settle_overview(self) -> None:
        if self.overview is not None:
            self.overview, self.changed = None, True

    def settle(self, sid: str) -> None:
        if self.sessions.pop(sid, None) is not None:
            self.changed = True

    def held(self, sid: str, digest: str | None = None) -> bool:
        entry = self.sessions.get(sid) or {}
        return entry.get("rejections", 0) >= MAX_REJECTIONS and (
            digest is None or entry.get("content_hash") == digest)

    def keep_only(self, known: set[str]) -> None:
        for sid in [s for s in self.sessions if s not in known]:
            self.settle(sid)

    def save(self) -> None:
        if self.changed:
            write_atomic(self.path, json.dumps({"paused_until": self.paused_until,
                                                "sessions": self.sessions,
                                                "overview": self.overview},
                                               indent=1, sort_keys=True))
            self.changed = False
