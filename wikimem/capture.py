"""Capture: adapter Event -> redacted, capped Observation -> raw log (stdlib only).

Order matters: redact first, then cap, so a secret straddling the cut point is never left
half-visible, and the cut marker never hides a secret from the redactor.
"""

from __future__ import annotations

import json
import os
import sys
from collections import namedtuple
from pathlib import Path

from wikimem import rawlog
from wikimem.adapters import Event
from wikimem.observation import Observation, new_id, sha256_hex, utc_now
from wikimem.project import Project, Registry
from wikimem.redact import redact_text, redact_value

DEFAULT_CAP = 2000
# Per-key caps (characters) for strings inside an observation's data.
CAPS = {
    "prompt": 12000,
    "message": 8000,
    "custom_instructions": 4000,
    "output": 2000,
    "error": 2000,
    "command": 4000,
    "content": 400,
    "old_string": 400,
    "new_string": 400,
    "new_source": 400,
}
MAX_LINE = 64_000  # bytes: an observation line larger than this is capped harder
MAX_SESSION_ID = 200


def cap_text(text: str, limit: int) -> str:
    """Keep the head and tail of a long string, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    head = max(limit * 2 // 3, 1)
    tail = max(limit - head, 0)
    cut = len(text) - head - tail
    marker = f"\n[... wikimem cut {cut} characters ...]\n"
    return text[:head] + marker + (text[-tail:] if tail else "")


def cap_value(value, limit: int = DEFAULT_CAP, *, _key: str | None = None, _depth: int = 0):
    """Cap every string in a JSON-like value; per-key limits come from CAPS."""
    if isinstance(value, str):
        return cap_text(value, CAPS.get(_key or "", limit))
    if _depth > 50:
        return cap_text(json.dumps(value, ensure_ascii=False, default=str), limit)
    if isinstance(value, dict):
        return {
            k: cap_value(v, limit, _key=k if isinstance(k, str) else None, _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        items = value
        if len(value) > 200:
            items = [*value[:150], f"[... {len(value) - 200} items cut ...]", *value[-50:]]
        return [cap_value(v, limit, _key=_key, _depth=_depth + 1) for v in items]
    return value


def idempotency_key(agent: str, event: Event, payload) -> str:
    """`u-` + hash of the agent's own event id when it gave one, else `p-` + payload hash."""
    if event.uid:
        basis = f"{agent}\0{event.session}\0{event.uid}"
        return "u-" + sha256_hex(basis.encode("utf-8", "surrogatepass"))[:32]
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return "p-" + sha256_hex(blob.encode("utf-8", "surrogatepass"))[:32]


def make_observation(agent: str, event: Event, payload, *, ts: str | None = None) -> Observation:
    """Redact, cap and stamp an Event."""
    session = cap_text(redact_text(event.session), MAX_SESSION_ID) or "unknown-session"
    data = cap_value(redact_value(event.data))
    obs = Observation(
        id=new_id(),
        key=idempotency_key(agent, event, payload),
        session=session,
        agent=agent,
        kind=event.kind,
        ts=ts or utc_now(),
        cwd=redact_text(event.cwd),
        data=data,
    )
    limit = DEFAULT_CAP
    # (`to_json` is computed once per observation: the raw log writes this same line.)
    while len(obs.to_json().encode("utf-8", "surrogatepass")) > MAX_LINE and limit > 50:
        limit //= 4
        small = {k: cap_text(str(v), limit) if not isinstance(v, int | float | bool) else v
                 for k, v in data.items()}
        obs = Observation(**{**obs.__dict__, "data": cap_value(small, limit)})
    return obs


# The result of capturing one event; `stored` is False when the event was a re-delivery.
# (A named tuple: the hook path does not import `dataclasses`.)
Captured = namedtuple("Captured", "project observation stored")


_dirs_made: set[Path] = set()  # project folders this process has created or found


def capture(
    agent: str,
    event: Event,
    payload,
    *,
    project: Project | None = None,
    registry: Registry | None = None,
    ts: str | None = None,
) -> Captured:
    """Store one event in its project's raw log (the project of its cwd unless given)."""
    if project is None:
        project = (registry or Registry()).resolve(event.cwd or os.getcwd())
    if project.dir not in _dirs_made:
        # Once per process (importers capture thousands of events): a folder removed while
        # it runs comes back with the next append (raw/) or compile (the others).
        project.ensure_dirs()
        _dirs_made.add(project.dir)
    obs = make_observation(agent, event, payload, ts=ts)
    stored = rawlog.append(project.raw_dir, obs)
    return Captured(project, obs, stored)


def log_error(log_path: Path, message: str, **details) -> None:
    """Append one JSON line to an error log; never raises.

    When the log itself cannot be written (a full disk, a read-only home) the message goes
    to stderr instead, which agents show in their hook output or debug log.
    """
    record = {"ts": utc_now(), "error": message}
    record.update({k: redact_text(cap_text(str(v), 1000)) for k, v in details.items()})
    try:
        log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except OSError as exc:
        try:
            sys.stderr.write(f"wikimem: {record['error']} (the error log {log_path} could not "
                             f"be written either: {exc})\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
