"""Capture: adapter Event -> redacted, capped Observation -> raw log (stdlib only).

Order matters: redact first, then cap, so a secret straddling the cut point is never left
half-visible, and the cut marker never hides a secret from the redactor.
"""

from __future__ import annotations

import json
import os
import sys
from collections import namedtuple

from wikimem.capture import rawlog
from wikimem.capture.event import Event
from wikimem.capture.observation import Observation, new_id, utc_now
from wikimem.capture.redact import redact_entry, redact_text, redact_value
from wikimem.fsio import sha256_hex
from wikimem.project import Project, Registry, ensure_home_dir, open_private

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


def clean_value(value, limit: int = DEFAULT_CAP, *, _key: str | None = None, _depth: int = 0):
    """`cap_value(redact_value(value))` - redact, then cap - in one walk and one copy.

    Dicts with string keys, lists and scalars (what JSON gives) are walked here; anything
    else (tuples, long lists, deep nesting, other types) takes the two-step path.
    """
    cls = type(value)
    if _depth < 50 and cls is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                break
            name = redact_text(k)
            vcls = type(v)
            if vcls is str:
                text = redact_entry(k, v)
                cap = CAPS.get(name, limit)
                out[name] = text if len(text) <= cap else cap_text(text, cap)
            elif vcls in _SCALARS:
                out[name] = v
            else:
                out[name] = clean_value(v, limit, _key=name, _depth=_depth + 1)
        else:
            return out
    elif _depth < 50 and cls is list and len(value) <= 200:
        cap = CAPS.get(_key or "", limit)
        items = []
        for v in value:
            vcls = type(v)
            if vcls is str:
                text = redact_text(v)
                items.append(text if len(text) <= cap else cap_text(text, cap))
            elif vcls in _SCALARS:
                items.append(v)
            else:
                items.append(clean_value(v, limit, _key=_key, _depth=_depth + 1))
        return items
    return cap_value(redact_value(value), limit, _key=_key, _depth=_depth)


_SCALARS = frozenset({int, float, bool, type(None)})


def idempotency_key(agent: str, event: Event, payload) -> str:
    """`u-` + hash of the agent's own event id when it gave one, else `p-` + payload hash."""
    if event.uid:
        basis = f"{agent}\0{event.session}\0{event.uid}"
        return "u-" + sha256_hex(basis.encode("utf-8", "surrogatepass"))[:32]
    blob = _encode_sorted(payload)
    return "p-" + sha256_hex(blob.encode("utf-8", "surrogatepass"))[:32]


# What `json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)` gives, from one
# encoder (`json.dumps` with options builds a new one per call).
_encode_sorted = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str).encode


def make_observation(agent: str, event: Event, payload, *, ts: str | None = None) -> Observation:
    """Redact, cap and stamp an Event."""
    session = cap_text(redact_text(event.session), MAX_SESSION_ID) or "unknown-session"
    data = clean_value(event.data)
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
    # (`to_line` is computed once per observation: the raw log writes these same bytes.)
    while len(obs.to_line()) > MAX_LINE and limit > 50:
        limit //= 4
        small = {k: cap_text(str(v), limit) if not isinstance(v, int | float | bool) else v
                 for k, v in data.items()}
        obs = Observation(**{**obs.__dict__, "data": cap_value(small, limit)})
    return obs


# The result of capturing one event; `stored` is False when the event was a re-delivery.
# (A named tuple: the hook path does not import `dataclasses`.)
Captured = namedtuple("Captured", "project observation stored")


# Projects this process has set up: project folder -> its raw folder.
_raw_dirs: dict[str, str] = {}


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
    project, raw_dir = _target(event, project, registry)
    obs = make_observation(agent, event, payload, ts=ts)
    stored = rawlog.append(raw_dir, obs)
    return Captured(project, obs, stored)


def _target(event: Event, project: Project | None, registry: Registry | None):
    """The event's project (that of its cwd unless given) and its raw folder, made once."""
    if project is None:
        project = (registry or Registry()).resolve(event.cwd or os.getcwd())
    raw_dir = _raw_dirs.get(project.folder)
    if raw_dir is None:
        # Once per process (a `capture_many` batch may hold thousands): a folder removed while
        # it runs comes back with the next append (raw/) or compile (the others). Only the
        # raw folder must be real here: a linked `wiki/` is the compiler's to refuse.
        project.ensure_dirs("raw")
        raw_dir = _raw_dirs[project.folder] = project.file("raw")
    return project, raw_dir


def capture_many(agent: str, items, *, project: Project | None = None,
                 registry: Registry | None = None) -> list[Captured]:
    """`capture` for many events at once: (event, payload, ts or None) each, in order.

    The same observations as capturing them one by one, stored by `rawlog.append_many` (one
    lock and one write per session). Events without a project are resolved from their cwd,
    as `capture` does.
    """
    batches: dict[str, list[int]] = {}  # raw folder -> positions in `out`
    out: list = []
    for event, payload, ts in items:
        target, raw_dir = _target(event, project, registry)
        batches.setdefault(raw_dir, []).append(len(out))
        out.append((target, make_observation(agent, event, payload, ts=ts)))
    stored = [False] * len(out)
    for raw_dir, positions in batches.items():
        flags = rawlog.append_many(raw_dir, [out[i][1] for i in positions])
        for i, ok in zip(positions, flags, strict=True):
            stored[i] = ok
    return [Captured(p, obs, ok) for (p, obs), ok in zip(out, stored, strict=True)]


def log_error(log_path: str | os.PathLike, message: str, **details) -> None:
    """Append one JSON line to an error log; never raises.

    When the log itself cannot be written (a full disk, a read-only home, a symbolic link
    in its place) the message goes to stderr instead, which agents show in their hook output
    or debug log.
    """
    record = {"ts": utc_now(), "error": message}
    # (redact, then cap: a cut must not leave a piece of a secret its rule no longer sees)
    record.update({k: cap_text(redact_text(str(v)), 1000) for k, v in details.items()})
    try:
        ensure_home_dir(os.path.dirname(os.fspath(log_path)))
        fd = open_private(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
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
