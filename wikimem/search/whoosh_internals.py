"""Whoosh internals: the only module that reads Whoosh's private names.

Three reads go past Whoosh's public API, for speed: a block matcher's decoded arrays (its
`_read_ids`, `_read_weights`, `_next_block`, `_ids`, `_weights`), the length column's raw bytes
(the segment's `_perdoc._cached_reader`, the column's `_fixedlen`, `_dbfile`, `_basepos`,
`_count`) and BM25F's per-field B (`_field_B`). They are used only when `_internals()` found
them, once per process, reading what the public API reads; otherwise the public API is used,
with the same results, more slowly. A Whoosh without them is not a damaged index.

Callers use `_posting_blocks`, `_length_bytes` and `_field_b`, which make that choice;
tests/test_search_owners.py checks no other module uses a private Whoosh name.

The check costs more than a one-shot `wikimem search` spends searching, so its verdict is kept
beside this module's bytecode (`__pycache__/whoosh_internals.<cache tag>.verdict`, as
redact.py keeps its compiled patterns), keyed by the interpreter, Whoosh's version and the
files of Whoosh, of this module and of the schema: any change, and the check runs again. A
kept verdict is not trusted blindly: a private read that fails is read again through the
public API, and the verdict is dropped for this process and on disk.
"""

from __future__ import annotations

import bisect
import functools
import marshal
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from whoosh import scoring
from whoosh.codec.whoosh3 import LENGTHS_COLUMN as _LENGTHS
from whoosh.matching.wrappers import FilterMatcher
from whoosh.util.numeric import length_to_byte

from wikimem.fsio import replace_file
from wikimem.search.schema import SCHEMA, WEIGHTING

_LENGTH_COLUMN = "_%s_len"


@dataclass(frozen=True)
class _Internals:
    """What `_internals()` found: the classes whose private parts it read."""

    block_matcher: type  # a term's postings in blocks: their decoded arrays are read
    segment_reader: type  # a segment: its length columns' bytes are read


@functools.cache
def _internals() -> _Internals | None:
    """Whoosh's internals the fast paths read, or None when the public API must be used.

    Checked on a two-document index in memory: every private read must be there and give
    what Whoosh's public API gives. The verdict is kept on disk (see the module's docstring).
    """
    if not isinstance(getattr(WEIGHTING, "_field_B", None), dict):
        return None
    key = _verdict_key()
    kept = _read_verdict(key)
    if kept is not None:
        return kept or None
    try:
        found = _probe_internals()
    except Exception:  # whatever a changed Whoosh raises here means: do not use them
        found = None
    _write_verdict(key, found)
    return found


# Whoosh's modules whose private names are read; then this module (its check may change) and
# the schema the check indexes with.
_VERDICT_SOURCES = ("codec/whoosh3.py", "columns.py", "scoring.py", "reading.py",
                    "matching/wrappers.py", "filedb/structfile.py")


def _verdict_path() -> str | None:
    tag = sys.implementation.cache_tag
    if not tag:
        return None
    return os.path.join(os.path.dirname(__file__), "__pycache__",
                        f"whoosh_internals.{tag}.verdict")


def _verdict_key() -> tuple | None:
    """What the kept verdict was found for: the interpreter, Whoosh's version and where it
    is, and the size and time of each source file the check depends on; None when one of
    them cannot be read (the check then runs, and nothing is kept)."""
    import whoosh

    try:
        root = os.path.dirname(os.path.abspath(whoosh.__file__))
        files = [os.path.join(root, name) for name in _VERDICT_SOURCES]
        here = os.path.dirname(os.path.abspath(__file__))
        files += [os.path.join(here, name) for name in ("whoosh_internals.py", "schema.py")]
        stamps = []
        for path in files:
            st = os.stat(path)
            stamps.append((path, st.st_size, st.st_mtime_ns))
        return (sys.version, whoosh.versionstring(), tuple(stamps))
    except (OSError, AttributeError, TypeError):
        return None


def _read_verdict(key: tuple | None) -> _Internals | bool | None:
    """The kept verdict for `key`: the internals, False (the public API), or None when there
    is none for this key (missing, stale, damaged, or naming a class that is gone)."""
    path = _verdict_path()
    if key is None or path is None:
        return None
    try:
        with open(path, "rb") as f:
            kept_key, verdict = marshal.loads(f.read())
        if kept_key != key:
            return None
        if verdict is False:
            return False
        return _Internals(*(_class_named(*name) for name in verdict))
    except Exception:  # noqa: BLE001 - unreadable or not what was written: check again
        return None


def _class_named(module: str, qualname: str) -> type:
    import importlib

    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type) or not module.startswith("whoosh."):
        raise TypeError(f"{module}.{qualname} is not a Whoosh class")
    return found


def _write_verdict(key: tuple | None, found: _Internals | None) -> None:
    path = _verdict_path()
    if key is None or path is None or sys.dont_write_bytecode:
        return
    verdict: Any = False if found is None else tuple(
        (cls.__module__, cls.__qualname__) for cls in (found.block_matcher, found.segment_reader))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # (beside the bytecode, readable like it: every user of this install shares it)
        replace_file(path, marshal.dumps((key, verdict)), mode=0o644)
    except (OSError, ValueError):  # a read-only install: check once per process
        pass


def _distrust_verdict() -> None:
    """A private read failed although the verdict said it works: the public API from now on
    in this process, and the kept verdict dropped so the next process checks again."""
    global _distrusted
    _distrusted = True
    path = _verdict_path()
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


_distrusted = False


def _usable() -> _Internals | None:
    return None if _distrusted else _internals()


def _probe_internals() -> _Internals | None:
    from whoosh.filedb.filestore import RamStorage

    class InMemory(RamStorage):
        def temp_storage(self, name=None):  # the writer's scratch space: not a temp folder
            return RamStorage()

    if not isinstance(WEIGHTING._field_B, dict):
        return None
    ix = InMemory().create_index(SCHEMA)
    writer = ix.writer()
    # Two documents: a term in one document only is kept inline, without a block.
    writer.add_document(path="a.md", body="probe probe words", tags="probe")
    writer.add_document(path="b.md", body="probe")
    writer.commit()
    with ix.reader() as reader:
        public = _public_postings(_unwrap(reader.postings("body", "probe")))
        for wanted in (None, [1]):
            matcher = _unwrap(reader.postings("body", "probe"))
            fast = [pair for ids, weights in _block_postings(matcher, wanted)
                    for pair in zip(ids, weights, strict=True)]
            if fast != public or len(fast) != 2:
                return None
        for fieldname in ("body", "tags"):
            if _fast_length_bytes(reader, fieldname) != _public_length_bytes(reader, fieldname):
                return None
    return _Internals(type(matcher), type(reader))


def _unwrap(m: Any) -> Any:
    """The segment's own matcher under the wrapper that skips deleted documents."""
    while isinstance(m, FilterMatcher):
        m = m.child
    return m


def _block_postings(m: Any, wanted: Sequence[int] | None = None) -> Iterator[tuple[Any, Any]]:
    """(docnums, weights) of a block matcher, block by block, read from its decoded arrays
    (private: see `_internals`). With `wanted` (sorted segment docnums), blocks holding none
    of them are skipped without being decoded (a block's header says its last docnum)."""
    k, passed = 0, -1  # wanted[k] is the first wanted docnum after block ends so far
    while m.is_active():
        if wanted is not None:
            k = bisect.bisect_right(wanted, passed, k)
            if k == len(wanted):
                return
            passed = m.block_max_id()
            if wanted[k] > passed:
                m._next_block()
                continue
        m._read_ids()
        m._read_weights()
        yield m._ids, m._weights
        m._next_block()


def _public_postings(m: Any) -> list[tuple[int, float]]:
    """(docnum, weight) of every posting, one at a time through Whoosh's public API."""
    out = []
    while m.is_active():
        out.append((m.id(), m.weight()))
        m.next()
    return out


def _posting_blocks(
    reader: Any, fieldname: str, text: str, wanted: Sequence[int] | None = None
) -> Iterator[tuple[Any, Any]]:
    """(docnums, weights) of one term's postings in one segment, block by block.

    Deleted documents may be included (callers drop them from the results). Whoosh's codec
    decodes a whole block into arrays; reading them directly (when `_internals` allows)
    saves two method calls per posting, and `wanted` lets blocks be skipped undecoded. Any
    other matcher (a short list inlined in the term table) is read one posting at a time.
    """
    m = _unwrap(reader.postings(fieldname, text))
    internals = _usable()
    if internals is not None and isinstance(m, internals.block_matcher):
        last = -1
        try:
            for ids, weights in _block_postings(m, wanted):
                if len(ids):
                    last = int(ids[-1])
                yield ids, weights
            return
        except Exception:  # noqa: BLE001 - a private read failed: the rest the public way
            _distrust_verdict()
        m = _unwrap(reader.postings(fieldname, text))
        if m.is_active() and m.id() <= last:
            m.skip_to(last + 1)
    postings = _public_postings(m)
    yield [d for d, _ in postings], [w for _, w in postings]


def _length_bytes(reader: Any, fieldname: str) -> Sequence[int]:
    """Each document's length in `fieldname` as Whoosh stores it: one byte per document."""
    internals = _usable()
    if internals is not None and isinstance(reader, internals.segment_reader):
        try:
            raw = _fast_length_bytes(reader, fieldname)
        except Exception:  # noqa: BLE001 - a private read failed: the public way
            _distrust_verdict()
            raw = None
        if raw is not None:
            return raw
    return _public_length_bytes(reader, fieldname)


def _fast_length_bytes(reader: Any, fieldname: str) -> bytes | None:
    """The length column's bytes read in one go (private: see `_internals`), or None when
    the column is not stored as one byte per document."""
    count = reader.doc_count_all()
    column = reader._perdoc._cached_reader(_LENGTH_COLUMN % fieldname, _LENGTHS)
    if column is None:  # no document has this field
        return bytes(count)
    if column._fixedlen != 1:
        return None
    raw = column._dbfile.get(column._basepos, column._count)
    if not isinstance(raw, bytes) or len(raw) != column._count:
        return None
    return raw + bytes(max(0, count - len(raw)))


def _public_length_bytes(reader: Any, fieldname: str) -> bytes:
    return bytes(
        length_to_byte(reader.doc_field_length(d, fieldname, 0) or 0)
        for d in range(reader.doc_count_all())
    )


def _field_b(weighting: scoring.BM25F, fieldname: str) -> float:
    """BM25F's B for a field: its own when set (private: see `_internals`), else the
    weighting's (the public API has no per-field B; WEIGHTING sets none)."""
    if _usable() is not None:
        return weighting._field_B.get(fieldname, weighting.B)
    return weighting.B
