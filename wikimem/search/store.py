"""The index store: the Whoosh index on disk, and the only writer of its folder.

The wiki is the truth; this index is a disposable cache that can always be rebuilt from it.
`IndexStore.update` keeps it current page by page, `rebuild` recreates it in a sibling folder
and swaps it in, and any missing, unreadable or out-of-date index is rebuilt on the spot
(`rebuilt` tells the caller it happened). Writers (updates, rebuilds) hold one lock across
processes; searches take none, and get their searcher here (`_with_searcher`), kept open
between searches while the index on disk is unchanged. tests/test_search_owners.py checks
nothing else writes into the index folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from whoosh import index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filestore import FileStorage
from whoosh.util import random_name

from wikimem import faults
from wikimem.errors import WikimemError
from wikimem.locks import locked
from wikimem.search.documents import _normalize_rel, page_document
from wikimem.search.schema import SCHEMA, SCHEMA_VERSION, WEIGHTING
from wikimem.search.segments import open_mapped

if TYPE_CHECKING:
    from wikimem.wiki.pages import Page

MARKER = "wikimem-index.json"
STALE_BUILD_SECONDS = 3600  # leftovers of a crashed rebuild older than this are removed
WRITE_LOCK_TIMEOUT = 30.0  # seconds an update waits for another process's writer
# A SearchIndex keeps its searcher open between searches (an MCP server, a benchmark), reopening
# it when the index on disk changes. Not on Windows: open files there would block a rebuild in
# another process from swapping the index folder.
KEEP_SEARCHER_OPEN = os.name != "nt"
_TOC_NAME = re.compile(r"_MAIN_(\d+)\.toc")
# Segments an update writes (and merges) store their posting blocks uncompressed: zlib costs
# more than the bytes it saves for a handful of pages (see docs/BENCHMARKS.md). The
# postings and scores are the same; readers see each block's compression in its header.
# (Whoosh's `inlinelimit` above 1 would skip the blocks altogether, but fails in whoosh 2.7.)
_UPDATE_CODEC = W3Codec(compression=0)
# The writer's in-memory posting pool for a rebuild: with Whoosh's default, a large wiki's
# postings spill to temporary run files that are merged back (docs/BENCHMARKS.md).
REBUILD_LIMIT_MB = 512


T = TypeVar("T")


class _TrackingStorage(FileStorage):
    """A FileStorage that remembers the files it opens, so they can be closed after a failure."""

    def __init__(self, path: Path, files: list[Any] | None = None) -> None:
        # Compound segment files are mapped by `open_file` (segments.py), not by Whoosh, which
        # would copy each segment into memory whenever a searcher opens.
        super().__init__(str(path), supports_mmap=False)
        self._files: list[Any] = [] if files is None else files

    def temp_storage(self, name=None):
        # The writer's scratch files (postings pools) are tracked along with the index's own.
        name = name or f"{random_name()}.tmp"
        return _TrackingStorage(Path(self.folder) / name, self._files).create()

    def open_file(self, name, **kwargs):
        f = super().open_file(name, **kwargs)
        self._files.append(f.file)
        mapped = open_mapped(f, name)
        if mapped is not f:
            self._files.append(mapped)  # (its map is closed with it)
        return mapped

    def create_file(self, name, excl=False, mode="wb", **kwargs):
        f = super().create_file(name, excl=excl, mode=mode, **kwargs)
        self._files.append(f.file)
        return f

    def close_files(self) -> None:
        for f in self._files:
            with contextlib.suppress(Exception):
                f.close()
        self._files.clear()


class IndexStore:
    """The Whoosh index at `index_dir` over the markdown pages under `wiki_dir`."""

    def __init__(self, index_dir: Path, wiki_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.wiki_dir = Path(wiki_dir)
        # True once this object had to rebuild a missing/corrupt/outdated index by itself.
        self.rebuilt = False
        self._lock_depth = 0
        # The searcher kept open between searches (see _cached_searcher), in a list the
        # finalizer can close without holding on to this object.
        self._held: list[_HeldSearcher] = []
        weakref.finalize(self, _release, self._held)

    def close(self) -> None:
        """Close the searcher kept open between searches, if any (searching reopens one)."""
        _release(self._held)

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialize writers (updates and rebuilds, across processes); re-entrant per object.

        Without it, an update could commit into an index a rebuild is about to replace, or
        write its files into the new folder after the swap. Searches never take it.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        parent = self.index_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        with locked(parent / f".{self.index_dir.name}.lock"):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0

    def _document(self, rel: str, page: Page | None = None,
                  pages: Mapping[str, Page] | None = None) -> dict | None:
        """The fields to index for one page (see `documents.page_document`)."""
        return page_document(self.wiki_dir, rel, page, pages)

    # -- opening, building, recovering ---------------------------------------------------------

    def _marker_ok(self, directory: Path) -> bool:
        try:
            data = json.loads((directory / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION

    def _open(self, storage: _TrackingStorage) -> index.Index:
        """The existing index; raises when it is missing, unreadable or from another schema."""
        if not self._marker_ok(self.index_dir):
            raise index.EmptyIndexError(f"no wikimem index at {self.index_dir}")
        ix = storage.open_index()
        if sorted(ix.schema.names()) != sorted(SCHEMA.names()):
            raise index.IndexVersionError("index schema differs", 0)
        return ix

    def _attempt(self, action: Callable[[index.Index], T]) -> T:
        storage = _TrackingStorage(self.index_dir)
        ix = None
        try:
            ix = self._open(storage)
            return action(ix)
        finally:
            if ix is not None:
                with contextlib.suppress(Exception):
                    ix.close()
            # Whoosh leaves files open when it fails on a damaged index; close them here (they
            # would otherwise surface later as ResourceWarnings).
            storage.close_files()

    def _with_index(
        self, action: Callable[[index.Index], T], *, after_rebuild: bool = True
    ) -> T | None:
        """Run `action` on the open index, rebuilding the index if it is missing or broken.

        After a rebuild `action` runs again on the fresh index unless `after_rebuild` is False
        (an update has nothing left to do: the rebuild read every page); then None is returned.
        """
        for attempt in range(2):
            try:
                return self._attempt(action)
            except Exception as exc:
                if not _is_damage(exc):
                    raise
                if attempt == 0:
                    # Perhaps a concurrent commit or rebuild swapped files under us: look again.
                    time.sleep(0.05)
        self.rebuild()
        self.rebuilt = True
        if not after_rebuild:
            return None
        return self._attempt(action)

    def _index_key(self) -> tuple[int, int, int] | None:
        """What identifies the index on disk now: the folder (a rebuild swaps in a new one) and
        its latest commit generation. None when there is no index folder."""
        try:
            st = os.stat(self.index_dir)
            names = os.listdir(self.index_dir)
        except OSError:
            return None
        gens = [int(m.group(1)) for m in map(_TOC_NAME.fullmatch, names) if m]
        return (st.st_dev, st.st_ino, max(gens, default=-1))

    def _cached_searcher(self) -> Any:
        """A searcher on the current index, reused while the index on disk is unchanged."""
        key = self._index_key()
        if self._held and self._held[0].key == key and key is not None:
            return self._held[0].searcher
        _release(self._held)
        storage = _TrackingStorage(self.index_dir)
        try:
            ix = self._open(storage)
            searcher = ix.searcher(weighting=WEIGHTING)
        except BaseException:
            storage.close_files()
            raise
        self._held.append(_HeldSearcher(key, storage, ix, searcher))
        return searcher

    def _memo(self, searcher: Any) -> dict:
        """Facts about the index version `searcher` reads (filter results, backlink sets),
        kept with the kept searcher; a fresh dict for any other searcher."""
        if self._held and self._held[0].searcher is searcher:
            return self._held[0].memo
        return {}

    def _with_searcher(self, action: Callable[[Any], T]) -> T | None:
        """Run `action` on a searcher: the one kept open when it is still current, else through
        `_with_index` (which recovers a missing or broken index)."""
        if KEEP_SEARCHER_OPEN:
            try:
                return action(self._cached_searcher())
            except Exception as exc:
                if not _is_damage(exc):
                    raise
                # Missing, replaced mid-search, or damaged: drop it and take the path that
                # retries and rebuilds.
                _release(self._held)

        def once(ix: index.Index) -> T:
            with ix.searcher(weighting=WEIGHTING) as searcher:
                return action(searcher)

        return self._with_index(once)

    def rebuild(self, pages: Mapping[str, Page] | None = None,
                steps: Callable[[int, int], None] | None = None,
                embedding: Callable[[int, int], None] | None = None) -> int:
        """Recreate the index from every page; returns how many pages were indexed.

        The new index is built in a temporary sibling folder and renamed into place, so a
        concurrent search sees either the old index or the new one, never a half-built one.
        `pages` (by path) are pages whose files hold exactly their rendering (the compiler's,
        just written or found unchanged): they are indexed without reading their files.
        `steps(done, total)` is told how many pages were indexed so far. With the hybrid
        search on, the page embeddings are brought up to date too (`embedding(done, total)`:
        passages embedded so far; a page's vectors are reused while its passages are the same).
        """
        _release(self._held)
        with self._write_lock():
            count = self._rebuild_locked(pages or {}, steps)
            self._embed(None, (), pages or {}, embedding)
            return count

    def _rebuild_locked(self, pages: Mapping[str, Page],
                        steps: Callable[[int, int], None] | None = None) -> int:
        from wikimem.wiki.pages import wiki_pages

        parent = self.index_dir.parent
        self._remove_leftovers()
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.index_dir.name}.build-", dir=parent))
        storage = _TrackingStorage(tmp)
        try:
            ix = storage.create_index(SCHEMA)
            count = 0
            try:
                # One segment, written once: a posting pool large enough for a 10k-page wiki
                # to stay in memory, and no merge (there is nothing to merge with).
                writer = ix.writer(limitmb=REBUILD_LIMIT_MB)
                try:
                    rels = list(wiki_pages(self.wiki_dir)) if self.wiki_dir.is_dir() else []
                    for done, rel in enumerate(rels):
                        if steps is not None:
                            steps(done, len(rels))
                        doc = self._document(rel, pages.get(rel), pages)
                        if doc is not None:
                            writer.add_document(**doc)
                            count += 1
                except BaseException:
                    writer.cancel()
                    raise
                writer.commit(merge=False)
                if steps is not None:
                    steps(len(rels), len(rels))
            finally:
                ix.close()
                storage.close_files()
            marker = {"schema_version": SCHEMA_VERSION, "wiki": str(self.wiki_dir)}
            (tmp / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
            self._swap_in(tmp)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return count

    def _remove_leftovers(self) -> None:
        """Old indexes already swapped out, and builds abandoned by a crashed process."""
        now = time.time()
        for leftover in self.index_dir.parent.glob(f".{self.index_dir.name}.*-*"):
            kind = leftover.name[len(self.index_dir.name) + 2 :].split("-", 1)[0]
            try:
                age = now - leftover.stat().st_mtime
            except OSError:
                continue
            if kind == "old" or (kind == "build" and age > STALE_BUILD_SECONDS):
                _remove(leftover)

    def _swap_in(self, built: Path) -> None:
        parent = self.index_dir.parent
        for _ in range(3):
            old = parent / f".{self.index_dir.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            try:
                os.rename(self.index_dir, old)
            except FileNotFoundError:
                old = None
            try:
                os.rename(built, self.index_dir)
            except OSError:
                # Another process swapped its own fresh index in between: try again.
                continue
            finally:
                if old is not None:
                    _remove(old)
            return
        # Lost every race: some other fresh build is in place; ours is discarded by the caller.

    # -- writing ---------------------------------------------------------------------------------

    def update(
        self,
        changed: Iterable[str],
        removed: Iterable[str] = (),
        pages: Mapping[str, Page] | None = None,
    ) -> None:
        """Reindex `changed` pages (gone ones count as removed) and drop `removed` ones.

        `pages` (by path) are the compiler's pages whose files hold exactly their rendering:
        those are indexed from memory, not read back and parsed as YAML again.
        """
        from wikimem.wiki.pages import linked_part

        pages = pages or {}
        changed_rels = [r for r in (_normalize_rel(p) for p in changed) if r]
        removed_rels = [r for r in (_normalize_rel(p) for p in removed) if r]
        if not changed_rels and not removed_rels and self._marker_ok(self.index_dir):
            return
        _release(self._held)
        docs: dict[str, dict | None] = {}

        def write(ix: index.Index) -> None:
            writer = ix.writer(timeout=WRITE_LOCK_TIMEOUT, delay=0.1, codec=_UPDATE_CODEC)
            try:
                for rel, doc in docs.items():
                    if doc is None:
                        writer.delete_by_term("path", rel)
                    else:
                        writer.update_document(**doc)
            except BaseException:
                writer.cancel()
                raise
            faults.point("index-update")
            writer.commit()

        try:
            with self._write_lock():
                if _has_links(self.index_dir):
                    # Trigger: a symbolic link among the index's files. Why: Whoosh would
                    # open and create files through it. Outcome: a new index is built beside
                    # it and swapped in; the link leaves with the old folder, its target
                    # untouched.
                    self._rebuild_locked(pages)
                    self.rebuilt = True
                    self._embed(None, (), pages)
                    return
                # Pages are read under the lock, so a rebuild cannot overtake with older text.
                seen: dict[str, bool] = {}
                for rel in removed_rels:
                    docs[rel] = None
                for rel in changed_rels:
                    if rel not in pages and linked_part(self.wiki_dir, rel, seen):
                        docs[rel] = None  # behind a symbolic link: not the wiki's page
                    else:
                        docs[rel] = self._document(rel, pages.get(rel), pages)
                self._with_index(write, after_rebuild=False)
                self._embed([r for r, d in docs.items() if d is not None],
                            [r for r, d in docs.items() if d is None], pages)
        except index.LockError as exc:
            raise WikimemError(
                f"The search index at {self.index_dir} is busy (another process holds Whoosh's "
                "write lock); try again."
            ) from exc


    def _embed(self, changed: list[str] | None, removed: Iterable[str],
               pages: Mapping[str, Page],
               steps: Callable[[int, int], None] | None = None) -> None:
        """Bring the page embeddings up to date (under the write lock), when the hybrid search
        is on: `changed` pages (None: every page, as after a rebuild) and `removed` ones. A
        model that cannot run leaves search lexical; doctor says why."""
        from wikimem.search import semantic

        if not semantic.enabled():
            return
        from wikimem.search.vectors import VectorStore, page_passages
        from wikimem.wiki.pages import wiki_pages

        try:
            model = semantic.load()
        except WikimemError:
            return
        store = VectorStore(self.index_dir)
        if changed is not None:
            old = store.load()
            if old is None or old["meta"].get("fingerprint") != model.fingerprint:
                changed = None  # no embeddings yet, or another model's: every page
        rels = changed if changed is not None else (
            list(wiki_pages(self.wiki_dir)) if self.wiki_dir.is_dir() else [])
        passages = {rel: page_passages(self.wiki_dir, rel, pages.get(rel), pages)
                    for rel in rels}
        try:
            store.sync(model, passages, removed, complete=changed is None, steps=steps)
        except Exception as exc:
            # The embeddings are a cache beside the index: failing to compute them must not
            # fail the compile that wrote and indexed the pages. Recorded for doctor; the
            # next sync that succeeds clears it.
            store.record_error(f"{type(exc).__name__}: {exc}")


# Errors that are a bug, not damage, unless Whoosh's own code raised them: a damaged file makes
# Whoosh (and the pickles it loads) raise nearly anything, these included, but a rebuild
# cures nothing when wikimem calls what is not there (or a Whoosh whose API changed).
_BUG_ERRORS = (AttributeError, TypeError, NameError)
_WHOOSH_DIR = os.path.dirname(index.__file__) + os.sep


def _is_damage(exc: BaseException) -> bool:
    """Whether an error reading the index may mean it is missing, damaged or replaced (and
    a rebuild is the cure)."""
    if isinstance(exc, index.LockError | WikimemError):
        return False
    if not isinstance(exc, _BUG_ERRORS):
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(_WHOOSH_DIR)


class _HeldSearcher:
    """An open index and searcher kept between searches, with the files they opened, and
    what searches found out about this version of the index (see IndexStore._memo)."""

    def __init__(self, key: Any, storage: _TrackingStorage, ix: Any, searcher: Any) -> None:
        self.key, self.storage, self.ix, self.searcher = key, storage, ix, searcher
        self.memo: dict[Any, Any] = {}

    def close(self) -> None:
        for thing in (self.searcher, self.ix):
            with contextlib.suppress(Exception):
                thing.close()
        self.storage.close_files()


def _release(held: list[_HeldSearcher]) -> None:
    while held:
        held.pop().close()


def _has_links(folder: Path) -> bool:
    """True when a file in the index folder is a symbolic link."""
    try:
        with os.scandir(folder) as entries:
            return any(e.is_symlink() for e in entries)
    except OSError:
        return False


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
