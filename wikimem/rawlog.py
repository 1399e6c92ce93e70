"""The raw log: append-only JSONL, one file per session (stdlib only: used on the hook path).

`raw/<session>.jsonl` holds the session's observations, one JSON object per line. Beside it,
`raw/<session>.keys` lists the idempotency key of every stored line so a re-delivered event
is recognised without parsing the log. Appends happen under `raw/<session>.lock`; files are
0600 in 0700 folders. Nothing in wikimem rewrites these files; only purge may delete them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wikimem.locks import locked
from wikimem.observation import Observation, sha256_hex
from wikimem.project import ensure_private_dir

_SAFE_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def session_filename(session: str) -> str:
    """A file stem for a session id that cannot escape the raw folder."""
    if _SAFE_SESSION.fullmatch(session) and ".." not in session:
        return session
    return "x-" + sha256_hex(session.encode("utf-8", "surrogatepass"))[:32]


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
        # Kept as strings: capture appends through here for every event.
        self._base = os.path.join(raw_dir, session_filename(session))
        self._stored: StoredKeys | None = None  # what the keys file held (shared: read only)
        self._added: set[str] = set()  # keys this log appended since
        self._last: str | None = None

    @property
    def path(self) -> Path:
        return Path(self._base + ".jsonl")

    @property
    def keys_path(self) -> Path:
        return Path(self._base + ".keys")

    def read(self) -> list[Observation]:
        return read(self.path).observations

    def append(self, obs: Observation) -> bool:
        kfd = os.open(self._base + ".keys", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if self._stored is None:
                self._stored = _read_keys(kfd, self._base + ".keys")
                self._last = self._stored.last
            key = obs.key
            if key == self._last or (key.startswith("u-") and (
                    key in self._stored.all or key in self._added)):
                return False
            line = (obs.to_json() + "\n").encode("utf-8")
            fd = os.open(self._base + ".jsonl", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # Trigger: an earlier writer died mid-line. Why: keep its fragment on a
                    # line of its own. Outcome: readers skip exactly one bad line, never two.
                    line = b"\n" + line
                _write_all(fd, line)
            finally:
                os.close(fd)
            _write_all(kfd, (key + "\n").encode("ascii"))  # after the line it stands for
        finally:
            os.close(kfd)
        self._added.add(key)
        self._last = key
        return True


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data`: a full disk or a file-size limit makes `os.write` stop short,
    and the next write raises why (ENOSPC, EFBIG), so a cut line is never taken as stored."""
    done = os.write(fd, data)
    while done < len(data):
        done += os.write(fd, data[done:])


@contextmanager
def transaction(raw_dir: Path, session: str) -> Iterator[SessionLog]:
    """Hold a session's log lock: what is read inside stays true for what is appended."""
    ensure_private_dir(raw_dir)
    with locked(os.path.join(raw_dir, session_filename(session) + ".lock")):
        yield SessionLog(raw_dir, session)


class StoredKeys:
    """The idempotency keys a session's `.keys` file holds: all of them, and the last one."""

    __slots__ = ("all", "last")

    def __init__(self) -> None:
        self.all: set[str] = set()
        self.last: str | None = None

    def add_text(self, text: str) -> None:
        for key in text.split():
            self.add(key)

    def add(self, key: str) -> None:
        self.all.add(key)
        self.last = key


# Keys files this process read lately: path -> (inode, size read, the key line ending there,
# the keys), most recent last. A keys file only grows, under the session's lock, so the next
# read in this process takes just the lines added since - by anyone - instead of the whole
# file again.
_known_keys: dict[str, tuple[int, int, bytes, StoredKeys]] = {}
_KNOWN_KEYS_MAX = 32  # sessions; an importer walks thousands


def _read_keys(fd: int, name: str) -> StoredKeys:
    """The keys in the open keys file `name` (call with the session's lock held)."""
    stat = os.fstat(fd)
    size = stat.st_size
    inode, start, tail, keys = _known_keys.pop(name, (0, 0, b"", None))
    if (keys is None or inode != stat.st_ino or start > size
            or os.pread(fd, len(tail), start - len(tail)) != tail):
        # First read, or not the file read before (purged and recreated meanwhile).
        keys, start = StoredKeys(), 0
    new = _pread_all(fd, start, size - start)
    if new and not new.endswith(b"\n"):
        # A writer died mid-key: take the whole file as it is, and remember nothing.
        keys = StoredKeys()
        keys.add_text(_pread_all(fd, 0, size).decode("ascii", "replace"))
        return keys
    keys.add_text(new.decode("ascii", "replace"))
    tail = b"" if keys.last is None else keys.last.encode("ascii", "replace") + b"\n"
    _known_keys[name] = (stat.st_ino, size, tail, keys)
    if len(_known_keys) > _KNOWN_KEYS_MAX:
        del _known_keys[next(iter(_known_keys))]
    return keys


def _pread_all(fd: int, offset: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class ReadResult:
    """Observations read from one session file, and what could not be read."""

    __slots__ = ("observations", "bad_lines", "end_offset")

    def __init__(self, observations: list[Observation] | None = None,
                 bad_lines: list[int] | None = None, end_offset: int = 0):
        self.observations = [] if observations is None else observations
        self.bad_lines = [] if bad_lines is None else bad_lines  # 1-based, from the read start
        self.end_offset = end_offset  # byte offset just past the last complete line

    def __repr__(self) -> str:
        return (f"ReadResult(observations={self.observations!r}, "
                f"bad_lines={self.bad_lines!r}, end_offset={self.end_offset!r})")


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


def session_file_sizes(raw_dir: Path) -> list[tuple[str, int]]:
    """(name, size in bytes) of every session log in the raw folder, in name order."""
    try:
        with os.scandir(raw_dir) as entries:
            found = [(e.name, e.stat().st_size) for e in entries if e.name.endswith(".jsonl")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found)


def session_files(raw_dir: Path) -> Iterator[Path]:
    """Every session log in the raw folder, in name order."""
    try:
        # Names sorted as strings (as Path objects, ten thousand took a tenth of a second).
        names = sorted(e.name for e in os.scandir(raw_dir) if e.name.endswith(".jsonl"))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        yield raw_dir / name
