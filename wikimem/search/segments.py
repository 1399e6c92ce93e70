"""A segment's compound file read in place, for the index store's storage.

Whoosh keeps a segment's parts (terms, postings, stored fields, lengths) in one compound file.
Opening one, Whoosh maps the file into memory and makes each part a `BufferFile`, which copies
the part into a `BytesIO` — the whole segment, 34 MB at 10k sessions, copied each time a
searcher opens, most of a one-shot search's opening time (docs/BENCHMARKS.md), although
reading a term, its postings or a document's stored fields only ever slices the buffer.

`open_mapped` maps the compound file itself and hands Whoosh's `CompoundStorage` (through
`subset`, which it calls when its storage does not map files) parts that read the map in
place, by slicing it (`get`, `get_array`) or as a read-only stream over it (`seek`, `read`,
which the terms and postings readers use). The bytes read are the same.
"""

from __future__ import annotations

import contextlib
import io
import mmap
from array import array
from typing import Any

from whoosh.filedb.structfile import StructFile
from whoosh.system import IS_LITTLE

COMPOUND_SUFFIX = ".seg"  # (Whoosh's name for a segment's compound file)
STREAM_BUFFER = 1024  # bytes a part's stream reads from the map at a time


class _ViewStream(io.RawIOBase):
    """A read-only raw stream over a memoryview, read in place (a buffered reader over it
    reads like `BytesIO(view)`, without copying the view first)."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        start = min(self._pos, len(self._view))
        n = min(len(target), len(self._view) - start)
        target[:n] = self._view[start:start + n]
        self._pos += n
        return n

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        # (as BytesIO: a negative position is an error, one reached from the end or here is 0)
        if whence == io.SEEK_SET and pos < 0:
            raise ValueError(f"negative seek value {pos}")
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence == io.SEEK_END:
            pos += len(self._view)
        elif whence != io.SEEK_SET:
            raise ValueError(f"invalid whence ({whence})")
        self._pos = max(pos, 0)
        return self._pos

    def tell(self) -> int:
        return self._pos


class _MappedPart(StructFile):
    """One part of a mapped compound file: `get` and `get_array` slice the map, and the
    stream that `read`, `seek` and the rest use reads it in place too."""

    def __init__(self, view: memoryview, name: str | None = None) -> None:
        # (Buffered: most reads are a few bytes, served from the buffer without a Python call.)
        super().__init__(io.BufferedReader(_ViewStream(view), STREAM_BUFFER), name=name)
        self.is_real = False  # no file descriptor of its own, as a BufferFile
        vars(self).pop("fileno", None)
        self._view = view

    def subset(self, position: int, length: int, name: str | None = None) -> _MappedPart:
        return _MappedPart(self._view[position:position + length], name=name or self._name)

    def get(self, position: int, length: int) -> bytes:
        return bytes(self._view[position:position + length])

    def get_array(self, position: int, typecode: str, length: int) -> array:
        a = array(typecode)
        a.frombytes(self.get(position, length * a.itemsize))
        if IS_LITTLE:  # Whoosh writes its arrays big-endian
            a.byteswap()
        return a

    def close(self) -> None:
        super().close()
        # Let go of the map, so closing the compound file can unmap it (not at some later
        # garbage collection: Windows keeps a mapped file from being renamed or deleted).
        with contextlib.suppress(BufferError):
            self._view.release()


class _MappedCompound(StructFile):
    """A compound file opened for reading, with its memory map: Whoosh reads its directory
    through the file, and its parts through `subset`."""

    def __init__(self, f: StructFile, mapped: mmap.mmap, name: str | None = None) -> None:
        super().__init__(f, name=name)  # (reads and closes go to the file as opened)
        self._map = mapped
        self._whole = memoryview(mapped)

    def subset(self, position: int, length: int, name: str | None = None) -> _MappedPart:
        return _MappedPart(self._whole[position:position + length], name=name)

    def close(self) -> None:
        if self.is_closed:
            return
        super().close()
        with contextlib.suppress(BufferError):  # parts still open: freed with them
            self._whole.release()
            self._map.close()


def open_mapped(f: StructFile, name: str) -> StructFile:
    """`f`, the file `name` opened for reading, as a compound file read in place when it is
    one and can be mapped; else `f` itself (Whoosh then reads its parts through the file)."""
    if not name.endswith(COMPOUND_SUFFIX) or not f.is_real:
        return f
    try:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, OverflowError):  # too large to map, empty, no mmap here
        return f
    return _MappedCompound(f, mapped, name=name)
