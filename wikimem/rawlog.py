"""The raw log: append-only JSONL, one file per session (stdlib only: used on the hook path).

`raw/<session>.jsonl` holds the session's observations, one JSON object per line. Beside it,
`raw/<session>.keys` lists the idempotency key of every stored line so a re-delivered event
is recognised without parsing the log. Appends happen under `raw/<session>.lock`; files are
0600 in 0700 folders. Nothing in wikimem rewrites these files; only purge may delete them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from wikimem.locks import locked
from wikimem.observation import Observation
from wikimem.project import ensure_private_dir

_SAFE_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def session_filename(session: str) -> str:
    """A file stem for a session id that cannot escape the raw folder."""
    if _SAFE_SESSION.fullmatch(session) and ".." not in session:
        return session
    return "x-" + hashlib.sha256(session.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def append(raw_dir: Path, obs: Observation) -> bool:
    """Append one observation to its session file; False if its key says it is a re-delivery.

    Keys starting `u-` come from an id the agent gave the event (a tool-use id, a transcript
    record uuid) and are unique across the session. Keys starting `p-` hash the payload
    itself; the agent gave no id, so two equal payloads may be two real events ("continue"
    typed twice). Those count as a re-delivery only when nothing else was stored in the
    session in between.
    """
    with transaction(raw_dir, obs.session) as log:
        return log.append(obs)


class SessionLog:
    """One session's log while its lock is held: read it whole, append to it."""

    def __init__(self, raw_dir: Path, session: str):
        stem = session_filename(session)
        self.path = raw_dir / f"{stem}.jsonl"
        self.keys_path = raw_dir / f"{stem}.keys"
        self._keys: list[str] | None = None

    def read(self) -> list[Observation]:
        return read(self.path).observations

    def append(self, obs: Observation) -> bool:
        if self._keys is None:
            self._keys = _read_keys(self.keys_path)
        keys = self._keys
        if keys and ((obs.key.startswith("u-") and obs.key in keys) or keys[-1] == obs.key):
            return False
        line = (obs.to_json() + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and not _ends_with_newline(self.path, size):
                # Trigger: an earlier writer died mid-line. Why: keep its fragment on a line
                # of its own. Outcome: readers skip exactly one bad line, never two.
                line = b"\n" + line
            os.write(fd, line)
        finally:
            os.close(fd)
        kfd = os.open(self.keys_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(kfd, (obs.key + "\n").encode("ascii"))
        finally:
            os.close(kfd)
        keys.append(obs.key)
        return True


@contextmanager
def transaction(raw_dir: Path, session: str) -> Iterator[SessionLog]:
    """Hold a session's log lock: what is read inside stays true for what is appended."""
    ensure_private_dir(raw_dir)
    with locked(raw_dir / f"{session_filename(session)}.lock"):
        yield SessionLog(raw_dir, session)


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def _read_keys(path: Path) -> list[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().split()
    except FileNotFoundError:
        return []


@dataclass
class ReadResult:
    """Observations read from one session file, and what could not be read."""

    observations: list[Observation] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # 1-based, counted from the read start
    end_offset: int = 0  # byte offset just past the last complete line


def read(path: Path, start: int = 0) -> ReadResult:
    """Read complete lines from byte `start`; a partial last line is left for later."""
    result = ReadResult(end_offset=start)
    try:
        with open(path, "rb") as f:
            f.seek(start)
            blob = f.read()
    except FileNotFoundError:
        return result
    cut = blob.rfind(b"\n") + 1  # 0 when no complete line yet
    for n, raw in enumerate(blob[:cut].split(b"\n")[:-1], start=1):
        if not raw.strip():
            continue
        try:
            result.observations.append(Observation.from_dict(json.loads(raw)))
        except (ValueError, UnicodeDecodeError):
            result.bad_lines.append(n)
    result.end_offset = start + cut
    return result


def session_files(raw_dir: Path) -> Iterator[Path]:
    """Every session log in the raw folder, in name order."""
    if raw_dir.is_dir():
        yield from sorted(raw_dir.glob("*.jsonl"))
