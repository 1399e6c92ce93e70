"""What the transcript importers share: past sessions the agents recorded -> Events (stdlib).

`wikimem import` backfills the raw log from transcripts the agents keep on disk. An agent
that keeps them has an importer, agents/<agent>/importer.py, which reads its format and
provides (protocol.Importer):

    AGENT                  the agent name its observations get ("claude-code", ...)
    LOCATION               where it keeps its transcripts, for messages ("~/.claude/projects")
    default_paths()        the transcripts there (honours $HOME)
    sniff(path) -> bool    whether a file is in this format (from its first records)
    read(path, stats)      Imported items, in file order; `stats` (a Counter) receives the
                           number of records skipped, by record type

agents/hooklog.py reads logs of hook payloads the same way, through the agents' adapters.
Records become the same Event kinds and data keys hook payloads become, so the compiler needs
no special case. Every Event carries a `uid` built from the record's own id (a transcript
uuid, a call id, a message id, else a line number), so the idempotency key is stable and
importing a file twice stores nothing the second time. Unknown record types, missing fields,
other versions and a truncated last line are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from wikimem.capture.event import Event
from wikimem.capture.observation import format_ts

SNIFF_BYTES = 256 * 1024
SNIFF_RECORDS = 25


class Imported(NamedTuple):
    """One event read from a transcript, with the time the agent recorded it."""

    event: Event
    ts: str  # the record's own timestamp, 2026-11-21T06:43:25.123Z
    source: str  # the record the event (and its uid) came from: "<file name>:<line>"
    agent: str | None = None  # overrides the importer's AGENT (hook logs name their adapter)


def user_home() -> Path:
    """The user's home folder, from $HOME when set (tests and sandboxes move it)."""
    return Path(os.environ.get("HOME") or os.path.expanduser("~"))


def parse_ts(value) -> str | None:
    """A timestamp as the raw log writes it (ms, Z), or None when it is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value  # epoch ms or s
        try:
            return format_ts(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.11 accepts most ISO forms; cut fractions longer than microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return format_ts(dt)


def iter_jsonl(path: Path, stats: Counter) -> Iterator[tuple[int, dict]]:
    """(line number, record) for each JSON object line; bad lines are counted, not raised.

    A last line without its newline that does not parse is a writer still appending (or one
    killed mid-line): it is counted as `truncated-last-line` and skipped.
    """
    with open(path, "rb") as f:
        pending: tuple[int, bytes] | None = None
        for n, raw in enumerate(f, start=1):
            if pending is not None:
                yield from _record(*pending, stats, last=False)
            pending = (n, raw)
        if pending is not None:
            yield from _record(*pending, stats, last=True)


def _record(n: int, raw: bytes, stats: Counter, *, last: bool) -> Iterator[tuple[int, dict]]:
    if not raw.strip():
        return
    try:
        value = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        stats["truncated-last-line" if last and not raw.endswith(b"\n") else "invalid-json"] += 1
        return
    if not isinstance(value, dict):
        stats["not-an-object"] += 1
        return
    yield n, value


def head_records(path: Path, limit: int = SNIFF_RECORDS) -> list:
    """The first JSON values of a file for format detection: JSONL lines, or the first
    elements of a JSON array / the JSON object itself. Never raises."""
    try:
        with open(path, "rb") as f:
            blob = f.read(SNIFF_BYTES)
    except OSError:
        return []
    text = blob.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if not text:
        return []
    if text[0] == "[":
        whole = _load_whole(path)
        return whole[:limit] if isinstance(whole, list) else []
    found: list = []
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            found.append(json.loads(line))
        except ValueError:
            if not found and text[0] == "{" and i == 0:
                # A pretty-printed JSON document (a Gemini session file), not JSONL.
                whole = _load_whole(path)
                return [whole] if isinstance(whole, dict) else []
            continue
        if len(found) >= limit:
            break
    return found


def _load_whole(path: Path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_json(path: Path, stats: Counter):
    """A whole JSON document, or None (counted as invalid-json) when it does not parse."""
    with open(path, encoding="utf-8", errors="replace") as f:
        try:
            return json.load(f)
        except ValueError:
            stats["invalid-json"] += 1
            return None


def text_of(content) -> str:
    """The text in a message content value: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        for key in ("text", "content", "output"):
            if isinstance(content.get(key), str):
                return content[key]
        return ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(p for p in parts if p)
    return ""


class Clock:
    """Timestamps for a file's records: the record's own, else the last good one seen."""

    def __init__(self, fallback: str | None = None):
        self.last = fallback

    def __call__(self, *values) -> str | None:
        for value in values:
            ts = parse_ts(value)
            if ts is not None:
                self.last = ts
                return ts
        return self.last
