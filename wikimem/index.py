"""The search index: a disposable Whoosh (BM25F) cache over the wiki's pages.

The wiki is the truth; this index can always be rebuilt from it. `SearchIndex.update` keeps it
current page by page, `rebuild` recreates it in a sibling folder and swaps it in, and any
missing, unreadable or out-of-date index is rebuilt on the spot (`SearchIndex.rebuilt` tells
the caller it happened). Whoosh is imported here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from whoosh import highlight, index, qparser
from whoosh import query as wq
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import DATETIME, ID, KEYWORD, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.util import random_name

from wikimem import faults
from wikimem.errors import WikimemError
from wikimem.locks import locked
from wikimem.markdown import Parsed, link_key, parse
from wikimem.pages import read_page, wiki_pages

# Bump when the schema or what goes into it changes: an index built by another version is
# rebuilt on first use instead of being misread.
SCHEMA_VERSION = 2
MARKER = "wikimem-index.json"
HIDDEN_STATUSES = ("superseded", "retracted")
# Pages derived from other pages (they repeat what the pages they list say); searched only
# when asked for by --kind or --all, so they do not crowd out the pages they summarize.
DERIVED_KINDS = ("index", "context", "hub", "timeline")
# The body holds the whole page text, title (its heading) included. Separately boosted title
# and heading fields over-weighted a page's first sentence and the section names every session
# page shares: on LongMemEval they cost 10 points of recall@5 (see docs/BENCHMARKS.md).
SEARCH_FIELDS = ("body", "tags")
SNIPPET_MAX = 240
FALLBACK_SNIPPET = 200
MAX_QUERY_WORDS = 64
STALE_BUILD_SECONDS = 3600  # leftovers of a crashed rebuild older than this are removed
WRITE_LOCK_TIMEOUT = 30.0  # seconds an update waits for another process's writer

_ANALYZER = StemmingAnalyzer()
# Words as Whoosh's default tokenizer sees them ("v1.2" stays one word). Everything else in a
# user's query (quotes, parentheses, colons, `*`, `^`, `~`...) is dropped, and the words are
# lowercased so AND/OR/NOT are plain (stop) words, never operators.
_QUERY_WORD = re.compile(r"\w+(?:\.?\w+)*")
_FRONTMATTER_BLOCK = re.compile(r"\A\ufeff?---[ \t]*\r?\n.*?^(?:---|\.\.\.)[ \t]*$\n?", re.S | re.M)

T = TypeVar("T")


def _with_names(text: str, names: list[str]) -> str:
    """The page text, led by its title and aliases where the text does not already say them.

    Search runs over the body alone (see SEARCH_FIELDS), so a title kept only in frontmatter
    (a page a person wrote) or an alias such as `D3` must be in it to be found.
    """
    lowered = text.lower()
    missing = [n for n in dict.fromkeys(names) if n and n.lower() not in lowered]
    return "\n".join([*missing, text]) if missing else text


def make_schema() -> Schema:
    """The index's fields. Bodies are indexed, not stored: snippets re-read the page."""
    return Schema(
        path=ID(unique=True, stored=True),
        title=TEXT(analyzer=_ANALYZER, field_boost=3.0, stored=True),
        headings=TEXT(analyzer=_ANALYZER, field_boost=2.0),
        body=TEXT(analyzer=_ANALYZER),
        tags=KEYWORD(lowercase=True, commas=True, field_boost=2.0, stored=True, scorable=True),
        kind=ID(stored=True),
        status=ID(stored=True),
        # created/updated index the parsed date and store the frontmatter's own string;
        # `date` (updated, else created) is what --since/--until filter on.
        created=DATETIME(stored=True),
        updated=DATETIME(stored=True),
        date=DATETIME(),
        sources=KEYWORD(commas=True, stored=True),
        links=KEYWORD(commas=True, stored=True),
        session=ID(stored=True),
    )


SCHEMA = make_schema()


@dataclass
class Hit:
    """One search result."""

    path: str
    title: str
    kind: str
    status: str
    created: str
    updated: str
    score: float
    snippet: str
    tags: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class _BoldFormatter(highlight.Formatter):
    """Wraps matched terms as markdown bold."""

    between = " … "

    def format_token(self, text, token, replace=False):
        return f"**{highlight.get_text(text, token, replace)}**"


# ---------------------------------------------------------------------------------------------
# Frontmatter values, tolerantly


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return _date_text(value)
    if isinstance(value, list | tuple | set | dict):
        return ""
    return str(value).strip()


def _as_list(value: Any) -> list[str]:
    """A frontmatter list (or a comma-separated string, or a single value) as strings."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, list | tuple | set):
        items = value
    else:
        items = [value]
    return [t for t in (_as_text(v) for v in items) if t]


def _date_text(value: datetime | date) -> str:
    """How a YAML-parsed (unquoted) date or timestamp reads in frontmatter."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() == UTC.utcoffset(None):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.isoformat()
    return value.isoformat()


def parse_date(value: Any) -> datetime | None:
    """A naive UTC datetime from a frontmatter date, or None when it is not one."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, dtime.min)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text[-1:] in "zZ":
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            try:
                dt = datetime.combine(date.fromisoformat(text[:10]), dtime.min)
            except ValueError:
                return None
    else:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _bound(value: datetime | date | None, *, end: bool) -> datetime | None:
    """A --since (start) or --until (end) bound; a plain date covers its whole day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    return datetime.combine(value, dtime.max if end else dtime.min)


def _keyword(items: Iterable[str]) -> str | None:
    """A comma-separated KEYWORD value (commas inside an item would split it)."""
    cleaned = [" ".join(i.replace(",", " ").split()) for i in items]
    joined = ",".join(dict.fromkeys(i for i in cleaned if i))
    return joined or None


def _split_keyword(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def _normalize_rel(rel: str | os.PathLike[str]) -> str | None:
    """A relative POSIX page path, or None for paths that are not wiki pages."""
    p = PurePosixPath(os.fspath(rel).replace("\\", "/"))
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts):
        return None
    if not p.name.endswith(".md") or any(part.startswith(".") for part in p.parts):
        return None
    return str(p)


# ---------------------------------------------------------------------------------------------
# Snippets


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    if cut.count("**") % 2:  # do not leave a bold mark open
        cut = cut[: cut.rfind("**")].rstrip()
    return cut.rstrip() + " …"


def make_snippet(text: str, terms: Iterable[str]) -> str:
    """Query terms highlighted as **term** in context, or the start of the text."""
    flat = " ".join(text.split())
    if not flat:
        return ""
    termset = {t for t in terms if t}
    if termset:
        snippet = highlight.highlight(
            flat,
            termset,
            _ANALYZER,
            highlight.ContextFragmenter(maxchars=SNIPPET_MAX - 40, surround=60),
            _BoldFormatter(),
            top=1,
        )
        if snippet:
            return _shorten(snippet.strip(), SNIPPET_MAX)
    return _shorten(flat, FALLBACK_SNIPPET)


# ---------------------------------------------------------------------------------------------
# The index


class _TrackingStorage(FileStorage):
    """A FileStorage that remembers the files it opens, so they can be closed after a failure."""

    def __init__(self, path: Path, files: list[Any] | None = None) -> None:
        super().__init__(str(path))
        self._files: list[Any] = [] if files is None else files

    def temp_storage(self, name=None):
        # The writer's scratch files (postings pools) are tracked along with the index's own.
        name = name or f"{random_name()}.tmp"
        return _TrackingStorage(Path(self.folder) / name, self._files).create()

    def open_file(self, name, **kwargs):
        f = super().open_file(name, **kwargs)
        self._files.append(f.file)
        return f

    def create_file(self, name, excl=False, mode="wb", **kwargs):
        f = super().create_file(name, excl=excl, mode=mode, **kwargs)
        self._files.append(f.file)
        return f

    def close_files(self) -> None:
        for f in self._files:
            with contextlib.suppress(Exception):
                f.close()
        self._files.clear()


class SearchIndex:
    """The Whoosh index at `index_dir` over the markdown pages under `wiki_dir`."""

    def __init__(self, index_dir: Path, wiki_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.wiki_dir = Path(wiki_dir)
        # True once this object had to rebuild a missing/corrupt/outdated index by itself.
        self.rebuilt = False
        self._parser: qparser.QueryParser | None = None
        self._lock_depth = 0

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

    # -- documents --------------------------------------------------------------------------

    def _read(self, rel: str) -> tuple[dict, Parsed] | None:
        path = self.wiki_dir / rel
        if not path.is_file():
            return None
        try:
            meta, body = read_page(path)
        except (OSError, UnicodeError):
            return None
        if not meta:
            # Frontmatter that is not valid YAML comes back as part of the body: keep it out
            # of the text (it would otherwise turn into a heading and be searchable).
            body = _FRONTMATTER_BLOCK.sub("", body, count=1)
        return (meta if isinstance(meta, dict) else {}), parse(body)

    def _document(self, rel: str) -> dict | None:
        """The fields to index for one page, or None when the page cannot be read."""
        page = self._read(rel)
        if page is None:
            return None
        meta, parsed = page
        stem = PurePosixPath(rel).stem
        title = _as_text(meta.get("title")) or parsed.title or stem
        aliases = _as_list(meta.get("aliases"))
        doc: dict[str, Any] = {
            "path": rel,
            "title": " ".join([title, *aliases]),
            "_stored_title": title,
            "headings": "\n".join(parsed.headings) or None,
            "body": _with_names(parsed.text, [title, *aliases]) or None,
            "tags": _keyword(_as_list(meta.get("tags"))),
            "kind": _as_text(meta.get("kind")).lower() or None,
            "status": _as_text(meta.get("status")).lower() or None,
            "sources": _keyword(_as_list(meta.get("sources"))),
            "links": _keyword(link_key(t) for t in parsed.links),
            "session": _as_text(meta.get("session_id")) or None,
        }
        dates = {}
        for key in ("created", "updated"):
            parsed_date = parse_date(meta.get(key))
            if parsed_date is not None:
                doc[key] = parsed_date
                doc[f"_stored_{key}"] = _as_text(meta.get(key))
                dates[key] = parsed_date
        when = dates.get("updated") or dates.get("created")
        if when is not None:
            doc["date"] = when
        return {k: v for k, v in doc.items() if v is not None}

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
        # Read every segment's term tables now so a damaged file shows up here, not mid-search.
        with ix.reader() as reader:
            reader.doc_count_all()
            for name in ("path", "links"):
                for _ in reader.lexicon(name):
                    pass
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
            except (index.LockError, WikimemError):
                raise
            except Exception:
                if attempt == 0:
                    # Perhaps a concurrent commit or rebuild swapped files under us: look again.
                    time.sleep(0.05)
        self.rebuild()
        self.rebuilt = True
        if not after_rebuild:
            return None
        return self._attempt(action)

    def rebuild(self) -> int:
        """Recreate the index from every page; returns how many pages were indexed.

        The new index is built in a temporary sibling folder and renamed into place, so a
        concurrent search sees either the old index or the new one, never a half-built one.
        """
        with self._write_lock():
            return self._rebuild_locked()

    def _rebuild_locked(self) -> int:
        parent = self.index_dir.parent
        self._remove_leftovers()
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.index_dir.name}.build-", dir=parent))
        storage = _TrackingStorage(tmp)
        try:
            ix = storage.create_index(SCHEMA)
            count = 0
            try:
                writer = ix.writer()
                try:
                    for rel in wiki_pages(self.wiki_dir) if self.wiki_dir.is_dir() else []:
                        doc = self._document(rel)
                        if doc is not None:
                            writer.add_document(**doc)
                            count += 1
                except BaseException:
                    writer.cancel()
                    raise
                writer.commit()
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

    def update(self, changed: Iterable[str], removed: Iterable[str] = ()) -> None:
        """Reindex `changed` pages (gone ones count as removed) and drop `removed` ones."""
        changed_rels = [r for r in (_normalize_rel(p) for p in changed) if r]
        removed_rels = [r for r in (_normalize_rel(p) for p in removed) if r]
        if not changed_rels and not removed_rels and self._marker_ok(self.index_dir):
            return
        docs: dict[str, dict | None] = {}

        def write(ix: index.Index) -> None:
            writer = ix.writer(timeout=WRITE_LOCK_TIMEOUT, delay=0.1)
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
                # Pages are read under the lock, so a rebuild cannot overtake with older text.
                for rel in removed_rels:
                    docs[rel] = None
                for rel in changed_rels:
                    docs[rel] = self._document(rel)
                self._with_index(write, after_rebuild=False)
        except index.LockError as exc:
            raise WikimemError(
                f"The search index at {self.index_dir} is busy (another process holds Whoosh's "
                "write lock); try again."
            ) from exc

    # -- reading ---------------------------------------------------------------------------------

    def _query_parser(self) -> qparser.QueryParser:
        if self._parser is None:
            # A plain OR group: any word may match, BM25F sums what does. (Not
            # `OrGroup.factory(0.9)`: its coordination matcher scores a query whose words match
            # in a single field term as 0.0, and adds a bonus unrelated to BM25 otherwise.)
            self._parser = qparser.MultifieldParser(
                list(SEARCH_FIELDS), SCHEMA, group=qparser.OrGroup
            )
        return self._parser

    def parse_query(self, text: str) -> wq.Query | None:
        """The Whoosh query for a user's plain-text question, or None when nothing is left."""
        words: list[str] = []
        for m in _QUERY_WORD.finditer(text or ""):
            word = m.group(0).lower()
            # Stop words and one-letter words would only ever match a tag of that name.
            if word not in words and any(True for _ in _ANALYZER(word)):
                words.append(word)
        words = words[:MAX_QUERY_WORDS]
        if not words:
            return None
        q = self._query_parser().parse(" ".join(words))
        if q is wq.NullQuery or not list(q.all_terms()):
            return None
        return q

    def search(
        self,
        query: str,
        *,
        kinds: Sequence[str] = (),
        since: datetime | date | None = None,
        until: datetime | date | None = None,
        include_all: bool = False,
        limit: int = 10,
    ) -> list[Hit]:
        """The best pages for a plain-text question, best first."""
        if limit <= 0:
            return []
        q = self.parse_query(query)
        if q is None:
            return []
        filters: list[wq.Query] = []
        if isinstance(kinds, str):
            kinds = [kinds]
        kind_terms = [wq.Term("kind", k.strip().lower()) for k in kinds if k and k.strip()]
        if kind_terms:
            filters.append(wq.Or(kind_terms))
        start, end = _bound(since, end=False), _bound(until, end=True)
        if start is not None or end is not None:
            filters.append(wq.DateRange("date", start, end))
        flt = wq.And(filters) if len(filters) > 1 else (filters[0] if filters else None)
        mask = None
        if not include_all:
            hidden = [wq.Term("status", s) for s in HIDDEN_STATUSES]
            if not kind_terms:
                hidden += [wq.Term("kind", k) for k in DERIVED_KINDS]
            mask = wq.Or(hidden)
        terms = sorted({str(t) for f, t in q.all_terms() if f in ("title", "headings", "body")})

        def run(ix: index.Index) -> list[tuple[float, dict]]:
            with ix.searcher() as searcher:
                results = searcher.search(q, limit=max(limit * 3, 30), filter=flt, mask=mask)
                ranked = []
                for hit in results:
                    stored = dict(hit.fields())
                    backlinks = _count_backlinks(searcher, stored.get("path", ""), hit.docnum)
                    ranked.append((hit.score * (1 + 0.1 * math.log1p(backlinks)), stored))
                return ranked

        ranked = self._with_index(run) or []
        ranked.sort(key=lambda item: (-item[0], item[1].get("path", "")))
        hits: list[Hit] = []
        for score, stored in ranked:
            rel = stored.get("path", "")
            page = self._read(rel)
            if page is None:  # deleted since it was indexed
                continue
            hits.append(_make_hit(stored, score, make_snippet(page[1].text, terms)))
            if len(hits) >= limit:
                break
        return hits

    def indexed_paths(self) -> set[str]:
        """The page paths the index holds (for consistency checks)."""

        def run(ix: index.Index) -> set[str]:
            with ix.searcher() as searcher:
                return {f["path"] for f in searcher.all_stored_fields() if "path" in f}

        return self._with_index(run) or set()

    def backlinks(self, page_path: str) -> list[str]:
        """Paths of the indexed pages that link to `page_path` (by file name, as Obsidian does)."""
        key = link_key(page_path)
        own = _normalize_rel(page_path)

        def run(ix: index.Index) -> list[str]:
            with ix.searcher() as searcher:
                docnums = searcher.docs_for_query(wq.Term("links", key))
                paths = [searcher.stored_fields(d).get("path", "") for d in docnums]
            return sorted(p for p in paths if p and p != own)

        if not key:
            return []
        return self._with_index(run) or []


def _count_backlinks(searcher: Any, path: str, docnum: int) -> int:
    """How many other live documents link to `path` (deleted documents do not count)."""
    key = link_key(path) if path else ""
    if not key or searcher.doc_frequency("links", key) == 0:
        return 0
    return sum(1 for d in searcher.docs_for_query(wq.Term("links", key)) if d != docnum)


def _make_hit(stored: dict, score: float, snippet: str) -> Hit:
    path = stored.get("path", "")
    return Hit(
        path=path,
        title=_as_text(stored.get("title")) or PurePosixPath(path).stem,
        kind=_as_text(stored.get("kind")),
        status=_as_text(stored.get("status")),
        created=_as_text(stored.get("created")),
        updated=_as_text(stored.get("updated")),
        score=float(score),
        snippet=snippet,
        tags=_split_keyword(stored.get("tags")),
        sources=_split_keyword(stored.get("sources")),
    )


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
