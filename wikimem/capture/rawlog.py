"""The raw log: append-only JSONL, one file per session (stdlib only: used on the hook path).

`raw/<session>.jsonl` holds the session's observations, one JSON object per line. Beside it,
`raw/<session>.keys` lists the idempotency key of every stored line so a re-delivered event
is recognised without parsing the log. Appends happen under a lock on the keys file; files
are 0600 in 0700 folders. A symbolic link in their place (or in the raw folder's) is refused,
never written through.

Nothing but this module appends to the log (tests/test_rawlog_owner.py reads the code to check):
`append` stores one observation (the hook, LLM answers), `append_many` a batch with one lock
and one write per session file (`capture_many`), and `transaction` holds a session's lock while
its log is read and then appended to, one by one or in a batch (memory, import, bootstrap).
All of them store exactly what appending the same observations one by one would. Purge alone
changes a log otherwise, through two functions here and under the same lock: `rewrite_logs`
scrubs or drops lines, `remove_session` deletes a session's files.

A process keeps the files of the sessions it appended to lately open (`_Files`), with the
keys it has read and the sizes it last saw: the next append to the same session takes the
lock, compares sizes with one `fstat` per file and reads only what other processes added
since. A file that was removed meanwhile (its link count is 0) is opened again by name.
"""

from __future__ import annotations

import _thread
import json
import os
import re
from collections.abc import Iterator

from wikimem.capture.observation import Observation
from wikimem.fsio import open_nofollow, replace_file, sha256_hex
from wikimem.locks import lock_fd, unlock_fd
from wikimem.project import _path, check_no_links, ensure_home_dir, open_private

_SAFE_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_HASHED = re.compile(r"x-[0-9a-f]{32}")
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND
# wikimem's own logs (structured memory, bootstrap, LLM answers) are `raw/wikimem-<what>.jsonl`.
INTERNAL_PREFIX = "wikimem-"


def session_filename(session: str) -> str:
    """The file stem of an agent's session: the id itself when it is a plain file name, else
    `x-` and a hash of it. Never a name outside the raw folder, and never one of wikimem's
    own logs: an id starting `wikimem-` (in any case: one file on macOS and Windows) is
    hashed, as is one shaped like a hash, so no id can take another's file either. (Every
    other id keeps the name it always had: logs already on disk go on being appended to.)
    """
    if _SAFE_SESSION.fullmatch(session) and ".." not in session \
            and session[:8].lower() != INTERNAL_PREFIX and not _HASHED.fullmatch(session):
        return session
    return "x-" + sha256_hex(session.encode("utf-8", "surrogatepass"))[:32]


def internal_filename(name: str) -> str:
    """The file stem of one of wikimem's own logs (`wikimem-memory`...): only wikimem's
    writers name these, with `internal=True`; an agent's session id cannot (see above)."""
    if not (name.startswith(INTERNAL_PREFIX) and _SAFE_SESSION.fullmatch(name)):
        raise ValueError(f"not an internal log name: {name!r}")
    return name


def append(raw_dir: str | os.PathLike, obs: Observation, *, internal: bool = False) -> bool:
    """Append one observation to its session file; False if its key says it is a re-delivery.

    Keys starting `u-` come from an id the agent gave the event (a tool-use id, a transcript
    record uuid) and are unique across the session. Keys starting `p-` hash the payload
    itself; the agent gave no id, so two equal payloads may be two real events ("continue"
    typed twice). Those count as a re-delivery only when nothing else was stored in the
    session in between. `internal`: the observation belongs to one of wikimem's own logs,
    named by its session (`internal_filename`).
    """
    files = _acquire(raw_dir, obs.session, internal)
    done = False
    try:
        stored = files.append(obs)
        done = True
        return stored
    finally:
        _release(files, done)


def append_many(raw_dir: str | os.PathLike, observations, *,
                internal: bool = False) -> list[bool]:
    """`append` for each observation, in order; which were stored (False: a re-delivery).

    The observations may belong to several sessions: each session's are appended under one
    lock, with one write to its log and one to its keys file, and the result is what
    appending them one by one would store, byte for byte.
    """
    observations = list(observations)
    by_session: dict[str, list[int]] = {}
    for i, obs in enumerate(observations):
        by_session.setdefault(obs.session, []).append(i)
    stored = [False] * len(observations)
    for session, positions in by_session.items():
        files = _acquire(raw_dir, session, internal)
        done = False
        try:
            flags = files.append_many([observations[i] for i in positions])
            done = True
        finally:
            _release(files, done)
        for i, ok in zip(positions, flags, strict=True):
            stored[i] = ok
    return stored


class SessionLog:
    """One session's log while its lock is held: read it whole, append to it."""

    def __init__(self, files: _Files):
        self._files = files

    def read(self) -> list[Observation]:
        return read(_path(self._files.base + ".jsonl")).observations

    def append(self, obs: Observation) -> bool:
        return self._files.append(obs)

    def append_many(self, observations) -> list[bool]:
        """`append` for each observation in turn, with one write to each file for them all
        (what import and bootstrap use). Returns which were stored."""
        return self._files.append_many(observations)


class transaction:  # (named like the function it was: `with transaction(raw, s) as log`)
    """Hold a session's log lock: what is read inside stays true for what is appended.

    (A class rather than a `contextlib.contextmanager`: the hook path does not import
    contextlib.)
    """

    def __init__(self, raw_dir: str | os.PathLike, session: str, *, internal: bool = False):
        self._raw_dir, self._session, self._internal = raw_dir, session, internal
        self._files: _Files | None = None

    def __enter__(self) -> SessionLog:
        self._files = _acquire(self._raw_dir, self._session, self._internal)
        return SessionLog(self._files)

    def __exit__(self, exc_type, exc, tb) -> None:
        files, self._files = self._files, None
        _release(files, exc_type is None)


def rewrite_logs(raw_dir: str | os.PathLike, change) -> list[str]:
    """Purge's way to change what the log holds: pass every line of every log in the raw
    folder (agents' sessions and wikimem's own) through `change(line) -> bytes` (the line
    with its newline, or b"" to drop it), under that log's lock. A log whose bytes change is
    replaced whole: written beside it, made durable, renamed over it (writers that hold the
    old file open see its link count drop to 0 and open the new one). Its keys file stays as
    it is, so a re-delivered event is still recognised. Returns the names of the logs
    replaced, in name order."""
    changed = []
    for name, _ in session_file_sizes(raw_dir):
        files = _Files(raw_dir, os.path.join(raw_dir, name[:-6]))
        try:
            files.lock()
            path = files.base + ".jsonl"
            try:
                fd = open_nofollow(path, os.O_RDONLY)
            except FileNotFoundError:  # (removed meanwhile)
                continue
            with open(fd, "rb") as f:
                data = f.read()
            new = b"".join(change(line) for line in data.splitlines(keepends=True))
            if new != data:
                _replace(path, new)
                changed.append(name)
        finally:
            files.close()  # (which unlocks)
    return changed


def remove_session(raw_dir: str | os.PathLike, session: str) -> list[str]:
    """Purge: delete an agent session's log and keys file, under its lock (a writer waiting
    for it finds the keys file gone and starts the session's files again). Returns the
    names removed."""
    base = os.path.join(raw_dir, session_filename(session))
    names = [base + suffix for suffix in (".jsonl", ".lock", ".keys")]  # keys (the lock) last
    if not any(os.path.lexists(n) for n in names):
        return []
    files = _Files(raw_dir, base)
    removed = []
    try:
        files.lock()
        for path in names:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            removed.append(os.path.basename(path))
    finally:
        files.close()
    return removed


def adopt(raw_dir: str | os.PathLike, stem: str, data: bytes) -> str:
    """Team memory (`wikimem sync`): make `raw/<stem>.jsonl` hold `data`, another machine's
    log as it pushed it, under that log's lock. Logs only grow, so what arrives usually
    extends what is here: the new lines are appended (and their keys), and a compile reads
    only them. Anything else (the other machine purged its log) replaces the file whole.
    Returns "same", "appended" or "replaced"."""
    if not _SAFE_SESSION.fullmatch(stem) or ".." in stem:
        raise ValueError(f"not a log name: {stem!r}")
    files = _Files(raw_dir, os.path.join(raw_dir, stem))
    try:
        files.lock()
        path = files.base + ".jsonl"
        try:
            with open(open_nofollow(path, os.O_RDONLY), "rb") as f:
                current = f.read()
        except FileNotFoundError:
            current = b""
        if current == data:
            return "same"
        if data.startswith(current) and current.endswith(b"\n") or not current:
            added = data[len(current):]
            fd = open_nofollow(path, _FLAGS)
            try:
                _write_all(fd, added)
            finally:
                os.close(fd)
            keys = "".join(k + "\n" for k in _line_keys(added)).encode("ascii", "replace")
            _write_all(files.keys_fd, keys)
            return "appended"
        _replace(path, data)
        return "replaced"
    finally:
        files.close()


def _line_keys(data: bytes) -> list[str]:
    keys = []
    for line in data.splitlines():
        try:
            key = json.loads(line).get("key")
        except (ValueError, AttributeError):
            continue
        if isinstance(key, str) and key.isascii() and key.strip() == key and key:
            keys.append(key)
    return keys


def _replace(path: str, data: bytes) -> None:
    """Replace a log with `data` atomically (fsio.replace_file: 0600, never through a link)."""
    check_no_links(path, inclusive=False)
    replace_file(path, data)


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


class _Files:
    """A session's keys and log files, open, and what this process knows of them.

    The keys file is also the session's lock. `keys_size` bytes of it are in `keys` (the last
    key line is `keys_tail`); `log_size` is the log's size after this process's last append
    (its last byte a newline). Used only while the lock is held; between uses it waits in
    `_open_files`.
    """

    __slots__ = ("raw_dir", "base", "name", "keys_fd", "log_fd", "keys", "keys_size",
                 "keys_tail", "log_size", "locked_size")

    def __init__(self, raw_dir, base: str):
        self.raw_dir = raw_dir
        self.base = base
        self.name: tuple = ()  # its key in `_open_files`
        self.keys_fd = self.log_fd = -1
        self.keys: StoredKeys | None = None
        self.keys_size = self.log_size = -1
        self.keys_tail = b""
        self.locked_size = -1  # the keys file's size when the lock was taken, until first used

    def lock(self) -> None:
        """Take the session's lock: open the keys file (again, if it was removed) and lock it."""
        while True:
            if self.keys_fd < 0:
                # (Never through a link: at the file, at the raw folder or above it.)
                try:
                    self.keys_fd = open_private(self.base + ".keys", _FLAGS)
                except FileNotFoundError:  # the raw folder is gone (or never was): make it
                    ensure_home_dir(self.raw_dir)
                    self.keys_fd = open_private(self.base + ".keys", _FLAGS)
                self.keys, self.keys_size, self.keys_tail = None, -1, b""
            lock_fd(self.keys_fd)
            try:
                st = os.fstat(self.keys_fd)
            except BaseException:
                unlock_fd(self.keys_fd)
                raise
            if st.st_nlink:
                self.locked_size = st.st_size
                return
            # Trigger: the file was deleted while this process held it open (a purge). Why:
            # other processes lock the new file by that name, not this one. Outcome: again.
            unlock_fd(self.keys_fd)
            os.close(self.keys_fd)
            self.keys_fd = -1

    def unlock(self) -> None:
        self.locked_size = -1
        unlock_fd(self.keys_fd)

    def close(self) -> None:
        for fd in (self.keys_fd, self.log_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.keys_fd = self.log_fd = -1

    def append(self, obs: Observation) -> bool:
        return self.append_many((obs,))[0]

    def append_many(self, observations) -> list[bool]:
        """Store each observation in turn unless its key says it is a re-delivery (the rule
        in `append`'s docstring, applied only here), with one write to each file for them all.
        """
        keys = self._read_keys()
        stored, lines, added = [], [], []
        new: set[str] = set()  # (a set: bootstrap hands over tens of thousands)
        last = keys.last
        for obs in observations:
            key = obs.key
            if key == last or (key[:2] == "u-" and (key in keys.all or key in new)):
                stored.append(False)
                continue
            stored.append(True)
            lines.append(obs.to_line())
            added.append(key)
            new.add(key)
            last = key
        if added:
            entries = "".join(k + "\n" for k in added).encode("ascii")
            self._write(keys, b"".join(lines), entries, added)
        return stored

    def _write(self, keys: StoredKeys, lines: bytes, entries: bytes, added) -> None:
        """Append lines to the log, then their keys to the keys file (the lock is held)."""
        fd = self.log_fd
        st = os.fstat(fd) if fd >= 0 else None
        if st is None or st.st_nlink == 0:  # not open yet, or removed since
            if fd >= 0:
                os.close(fd)
            # (The keys file beside it was opened after the same check of its folders.)
            self.log_fd = fd = open_nofollow(self.base + ".jsonl", _FLAGS)
            self.log_size = -1
            st = os.fstat(fd)
        size = st.st_size
        if size and size != self.log_size and os.pread(fd, 1, size - 1) != b"\n":
            # Trigger: an earlier writer died mid-line. Why: keep its fragment on a line of
            # its own. Outcome: readers skip exactly one bad line, never two.
            lines = b"\n" + lines
        n = os.write(fd, lines)  # (`_write_all` only when it stopped short: a full disk)
        if n != len(lines):
            _write_all(fd, memoryview(lines)[n:])
        self.log_size = size + len(lines)
        n = os.write(self.keys_fd, entries)  # after the lines they stand for
        if n != len(entries):
            _write_all(self.keys_fd, memoryview(entries)[n:])
        keys.all.update(added)
        keys.last = added[-1]
        if keys is self.keys:  # (else the file held a cut key: it is read whole next time)
            self.keys_size += len(entries)
            self.keys_tail = entries if len(added) == 1 else \
                entries[entries.rfind(b"\n", 0, -1) + 1:]

    def _read_keys(self) -> StoredKeys:
        """The keys in the keys file, reading only what was added since the last look."""
        fd = self.keys_fd
        size = self.locked_size
        if size < 0:  # a second append in one transaction: look again
            size = os.fstat(fd).st_size
        self.locked_size = -1
        keys = self.keys
        if keys is not None and size == self.keys_size:
            return keys
        start, tail = self.keys_size, self.keys_tail
        if (keys is None or start > size
                or os.pread(fd, len(tail), start - len(tail)) != tail):
            keys, start = StoredKeys(), 0
        new = _pread_all(fd, start, size - start)
        if new and not new.endswith(b"\n"):
            # A writer died mid-key: take the whole file as it is, and remember nothing (the
            # next key appended lands on the fragment's line).
            keys = StoredKeys()
            keys.add_text(_pread_all(fd, 0, size).decode("ascii", "replace"))
            self.keys, self.keys_size, self.keys_tail = None, -1, b""
            return keys
        keys.add_text(new.decode("ascii", "replace"))
        self.keys, self.keys_size = keys, size
        self.keys_tail = b"" if keys.last is None else keys.last.encode("ascii", "replace") + b"\n"
        return keys


# Files of the sessions this process appended to lately, by (folder, session), most recent
# last. A `_Files` is taken out while in use, so a second thread (or a nested transaction)
# opens its own descriptors and the lock excludes it as it excludes another process. A forked
# child drops its parent's (closing its copies unlocks nothing: no lock is held between
# appends). Windows keeps none: there an open file cannot be deleted, and purge must be able to.
_open_files: dict[tuple, _Files] = {}  # by (raw folder, session, internal), as callers name them
_OPEN_MAX = 0 if os.name == "nt" else 16  # sessions (two descriptors each)
_cache_lock = _thread.allocate_lock()


def _forget_open_files() -> None:
    """In a forked child: the cached files are the parent's (and so are their locks)."""
    global _cache_lock
    _cache_lock = _thread.allocate_lock()  # (a thread of the parent may have held it)
    for files in _open_files.values():
        files.close()
    _open_files.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_open_files)


def _acquire(raw_dir, session: str, internal: bool = False) -> _Files:
    """The session's files with its lock held."""
    name = (raw_dir, session, internal)
    with _cache_lock:
        files = _open_files.pop(name, None)
    if files is None:
        stem = internal_filename(session) if internal else session_filename(session)
        files = _Files(raw_dir, os.path.join(raw_dir, stem))
        files.name = name
    try:
        files.lock()
    except BaseException:
        files.close()
        raise
    return files


def _release(files: _Files, keep: bool) -> None:
    """Unlock; keep the files open for the next append unless what happened was cut short."""
    try:
        files.unlock()
    finally:
        evicted = files
        if keep and _OPEN_MAX:
            with _cache_lock:
                if files.name not in _open_files:
                    _open_files[files.name] = files
                    evicted = None
                    if len(_open_files) > _OPEN_MAX:
                        evicted = _open_files.pop(next(iter(_open_files)))
        if evicted is not None:
            evicted.close()


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data`: a full disk or a file-size limit makes `os.write` stop short,
    and the next write raises why (ENOSPC, EFBIG), so a cut line is never taken as stored."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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


def read(path: str | os.PathLike, start: int = 0) -> ReadResult:
    """Read complete lines from byte `start`; a partial last line is left for later."""
    result = ReadResult(end_offset=start)
    try:
        fd = open_nofollow(path, os.O_RDONLY)  # (a log is never read through a link either)
    except FileNotFoundError:
        return result
    with open(fd, "rb") as f:
        f.seek(start)
        blob = f.read()
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


def session_file_sizes(raw_dir: str | os.PathLike) -> list[tuple[str, int]]:
    """(name, size in bytes) of every session log in the raw folder, in name order (a link
    is not a log: `wikimem doctor` names it)."""
    try:
        with os.scandir(raw_dir) as entries:
            found = [(e.name, e.stat(follow_symlinks=False).st_size) for e in entries
                     if e.name.endswith(".jsonl") and not e.is_symlink()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found)


def session_files(raw_dir: os.PathLike) -> Iterator[os.PathLike]:
    """Every session log in the raw folder (a Path), in name order (links left out)."""
    try:
        # Names sorted as strings (as Path objects, ten thousand took a tenth of a second).
        with os.scandir(raw_dir) as entries:
            names = sorted(e.name for e in entries
                           if e.name.endswith(".jsonl") and not e.is_symlink())
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        yield raw_dir / name
