"""Files and their bytes: the one atomic-write helper with one durability rule, opening
without following links, content hashes (stdlib only).

Every file wikimem rewrites (state, caches, pages, settings files, install records) is written
to a temporary file beside it (`.<name>.<pid>.tmp`, created exclusively and never through a
link), made durable with fsync, then renamed over the file: a crash leaves the old bytes or the
new, never a mix, and a killed writer's temporary file cannot be mistaken for another's. The
one variation is for many files at once (`replace_many`, the page gate): from SYNC_FROM files
on, one `os.sync()` before the renames stands in for an fsync per file.

No pathlib here: the hook imports this module (see project.py's `_path`).
"""

from __future__ import annotations

import os
import stat

from wikimem.errors import SymlinkRefused

try:
    # The interpreter's own SHA-256: `hashlib` would load OpenSSL into every hook process.
    from _sha2 import sha256 as _sha256  # Python 3.12+
except ImportError:  # pragma: no cover - depends on the Python version
    try:
        from _sha256 import sha256 as _sha256  # Python 3.11
    except ImportError:  # a build without the builtin hashes
        from hashlib import sha256 as _sha256

# Flags that make `os.open` refuse a symbolic link as the file itself (0 where unknown).
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
SYNC_FROM = 32


def open_nofollow(path, flags: int, mode: int = 0o600) -> int:
    """`os.open`, refusing a symbolic link at `path` with SymlinkRefused (an OSError)."""
    try:
        return os.open(path, flags | NOFOLLOW, mode)
    except OSError:
        if os.path.islink(path):
            raise SymlinkRefused(path) from None
        raise


def temporary_name(path) -> str:
    """Where the new bytes of `path` are written before the rename."""
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{name}.{os.getpid()}.tmp")


def _write_temporary(path, data: bytes, mode: int | None, sync: bool) -> str:
    tmp = temporary_name(path)
    try:
        os.unlink(tmp)  # (left by a killed process with the same pid)
    except FileNotFoundError:
        pass
    if mode is None:
        mode = 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, mode)
    try:
        if os.name != "nt":
            os.fchmod(fd, mode)  # (the umask does not narrow a mode we were asked to keep)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _discard(tmp)
        raise
    os.close(fd)
    return tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data


def _kept_mode(path, keep_mode: bool) -> int | None:
    if not keep_mode:
        return None
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def replace_file(path, data: str | bytes, *, keep_mode: bool = False, mode: int = 0o600
                 ) -> None:
    """Replace the file at `path` with `data` (a link at `path` is replaced, never written
    through). The file gets `mode` (0600: wikimem's files are the user's alone); `keep_mode`
    keeps the mode of the file replaced instead (a user's settings file)."""
    tmp = _write_temporary(path, _bytes(data), _kept_mode(path, keep_mode) or mode, sync=True)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def replace_many(items: list[tuple[str | os.PathLike, str | bytes]], after_each=None) -> int:
    """Replace many files: every temporary file is written and made durable before the first
    rename, so a crash leaves each file whole, old or new. `after_each(i)` runs after the i-th
    rename. Returns how many were renamed into place (all, unless an error is raised)."""
    one_sync = len(items) >= SYNC_FROM and hasattr(os, "sync")
    tmps: list[str] = []
    done = 0
    try:
        for path, data in items:
            tmps.append(_write_temporary(path, _bytes(data), None, sync=not one_sync))
        if one_sync:
            os.sync()
        for (path, _), tmp in zip(items, tmps, strict=True):
            os.replace(tmp, path)
            done += 1
            if after_each is not None:
                after_each(done - 1)
    finally:
        for tmp in tmps[done:]:  # a failure (a full disk) leaves no temporary file behind
            _discard(tmp)
    return done


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` in hex (idempotency keys, file names for odd session ids)."""
    return _sha256(data).hexdigest()
