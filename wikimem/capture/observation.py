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

import _thread
import json
import os
import time

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

_lock = _thread.allocate_lock()  # what threading.Lock() is, without importing threading
_last_ms = 0
_seq = 0
_ms_text = (-1, "")  # (the last id's milliseconds, their first 13 characters of an id)
# Random hex digits for ids, drawn from the OS 1 KB at a time (one system call per 128 ids,
# not one per id). A forked child starts with none, so parent and child never share them.
_random = ""
_random_at = 0
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # 0b10xx: RFC 9562


def _forget_random() -> None:
    global _random
    _random = ""


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_random)


def new_id(now_ms: int | None = None) -> str:
    """A UUIDv7: 48-bit Unix milliseconds, then a counter and randomness; monotonic per process."""
    global _last_ms, _seq, _ms_text, _random, _random_at
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
        at = _random_at
        if at + 16 > len(_random):
            _random, at = os.urandom(1024).hex(), 0
        _random_at = at + 16
        rand = _random[at:at + 16]
        if _ms_text[0] != ms:
            h = f"{ms:012x}"
            _ms_text = (ms, f"{h[:8]}-{h[8:]}")
        head = _ms_text[1]
    return f"{head}-7{seq:03x}-{_VARIANT[rand[0]]}{rand[1:4]}-{rand[4:]}"


_second = (-1, "")  # (a Unix second, its text): one strftime per second, not per event


def utc_now() -> str:
    """Now as the raw log writes timestamps: 2026-11-21T06:43:25.123Z."""
    # From the clock directly, not through `datetime`: the hook would import it just for this.
    global _second
    sec, ms = divmod(time.time_ns() // 1_000_000, 1000)
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{cached[1]}.{ms:03d}Z"


def format_ts(dt) -> str:
    """A datetime as the raw log writes timestamps (see `utc_now`)."""
    from datetime import UTC

    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _line_encoder():
    """`JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode` for dicts, made once.

    `encode` builds a new C encoder on every call (~1.5 us of every captured event); this one
    is built once, with what `JSONEncoder.iterencode` passes it (the same call since 3.6), and
    gives the same text. Where the C encoder is missing, `encode` itself.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - a Python built without _json
        return encoder.encode
    markers: dict = {}  # (circular references are refused, as `encode` refuses them)
    c_encode = make(markers, encoder.default, json.encoder.encode_basestring, None, ":", ",",
                    False, False, True)
    join = "".join

    def encode(obj: dict) -> str:
        try:
            return join(c_encode(obj, 0))
        except BaseException:
            markers.clear()  # (what an interrupted walk left behind)
            raise

    return encode


# One encoder for every line (`json.dumps` with options builds a new one per call).
_encode = _line_encoder()


class Observation:
    """One agent event after normalization, redaction and capping. Immutable.

    A plain class rather than a dataclass: `dataclasses` imports `inspect`, which costs the
    hook process more than everything else it does. Fields are in schema order; `__dict__`
    holds exactly them, so `Observation(**{**o.__dict__, "ts": ...})` makes a changed copy.
    """

    # `_json` caches the line `to_json` made, `_line` its bytes: capture checks their size,
    # the raw log writes them.
    __slots__ = ("__dict__", "_json", "_line")
    __hash__ = None  # `data` is a dict: observations are compared, never hashed

    def __init__(self, id: str, key: str, session: str, agent: str, kind: str, ts: str,
                 cwd: str = "", data: dict | None = None, v: int = SCHEMA_VERSION):
        # In schema order, `v` first: `to_json` encodes this dict as it is.
        self.__dict__.update(v=v, id=id, key=key, session=session, agent=agent, kind=kind,
                             ts=ts, cwd=cwd, data={} if data is None else data)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}: observations are immutable")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}: observations are immutable")

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"Observation({fields})"

    def __reduce__(self):  # copy and pickle through the constructor
        d = self.__dict__
        return (self.__class__, (d["id"], d["key"], d["session"], d["agent"], d["kind"],
                                 d["ts"], d["cwd"], d["data"], d["v"]))

    def to_json(self) -> str:
        """One line of the raw log (no trailing newline)."""
        try:
            return self._json
        except AttributeError:
            pass
        text = _encode(self.__dict__)
        try:
            line = (text + "\n").encode("utf-8")
        except UnicodeEncodeError:
            # Trigger: a lone surrogate (agents cut emoji pairs in half). Why: it cannot be
            # written as UTF-8. Outcome: it becomes U+FFFD; the rest of the line is kept.
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            line = (text + "\n").encode("utf-8")
        object.__setattr__(self, "_json", text)
        object.__setattr__(self, "_line", line)
        return text

    def to_line(self) -> bytes:
        """`to_json` as UTF-8 with its newline: the bytes the raw log appends."""
        try:
            return self._line
        except AttributeError:
            self.to_json()
            return self._line

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
