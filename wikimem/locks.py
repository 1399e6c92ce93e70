"""Advisory file locks (stdlib only: used on the hook path)."""

from __future__ import annotations

import os

from wikimem.fsio import open_nofollow

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int, blocking: bool) -> bool:
        mode = msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, mode, 1)
            return True
        except OSError:
            if blocking:
                raise
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int, blocking: bool) -> bool:
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


if os.name == "nt":  # pragma: no cover - exercised on Windows only

    def lock_fd(fd: int) -> None:
        """Take an exclusive lock on an open file, waiting for it."""
        _lock(fd, True)

    def unlock_fd(fd: int) -> None:
        """Release a lock taken with `lock_fd`."""
        _unlock(fd)

else:  # (one call each: the raw log takes and releases a lock per captured event)

    def lock_fd(fd: int, _flock=fcntl.flock, _ex=fcntl.LOCK_EX) -> None:
        """Take an exclusive lock on an open file, waiting for it."""
        _flock(fd, _ex)

    def unlock_fd(fd: int, _flock=fcntl.flock, _un=fcntl.LOCK_UN) -> None:
        """Release a lock taken with `lock_fd`."""
        _flock(fd, _un)


class locked:  # (named like the function it was: `with locked(path) as got`)
    """Hold an exclusive lock on `path` (created 0600); yields False if non-blocking and busy.

    A symbolic link at `path` is refused (SymlinkRefused), not followed to create its target.

    (A class rather than a `contextlib.contextmanager`: the hook path does not import
    contextlib.)
    """

    def __init__(self, path: str | os.PathLike, *, blocking: bool = True):
        self._path, self._blocking = path, blocking
        self._fd, self._got = -1, False

    def __enter__(self) -> bool:
        self._fd = open_nofollow(self._path, os.O_RDWR | os.O_CREAT)
        try:
            self._got = _lock(self._fd, self._blocking)
        except BaseException:
            os.close(self._fd)
            raise
        return self._got

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._got:
                _unlock(self._fd)
        finally:
            os.close(self._fd)
