"""The search index: a disposable Whoosh (BM25F) cache over the wiki's pages.

The wiki is the truth; this index can always be rebuilt from it. `SearchIndex.update` keeps it
current page by page, `rebuild` recreates it in a sibling folder and swaps it in, and any
missing, unreadable or out-of-date index is rebuilt on the spot (`SearchIndex.rebuilt` tells
the caller it happened). Whoosh is imported here and nowhere else.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import heapq
import html
import json
import math
import os
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from whoosh import index, scoring
from whoosh import query as wq
from whoosh.analysis import StemmingAnalyzer
from whoosh.codec.whoosh3 import LENGTHS_COLUMN as _LENGTHS
from whoosh.codec.whoosh3 import W3Codec
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.matching.wrappers import FilterMatcher
from whoosh.util import random_name
from whoosh.util.numeric import byte_to_length, length_to_byte

from wikimem import faults
from wikimem.errors import WikimemError
from wikimem.locks import locked
from wikimem.wiki.markdown import link_key, parse
from wikimem.wiki.pages import FRONTMATTER_ORDER, Page, linked_part, read_page, wiki_pages

# Bump when the schema or what goes into it changes: an index built by another version is
# rebuilt on first use instead of being misread.
SCHEMA_VERSION = 3
MARKER = "wikimem-index.json"
HIDDEN_STATUSES = ("superseded", "retracted")
# Pages derived from other pages (they repeat what the pages they list say); searched only
# when asked for by --kind or --all, so they do not crowd out the pages they summarize.
DERIVED_KINDS = ("index", "context", "hub", "timeline")
# Every kind of page wikimem writes: sessions, structured items, LLM topic pages, the pages
# `wikimem bootstrap` derives from a repository, then the derived pages.
PAGE_KINDS = ("session", "decision", "lesson", "note", "goal", "task", "topic", "overview",
              "modules", "rules", "hotspots", "history", *DERIVED_KINDS)
# The body holds the whole page text, title (its heading) included. Separately boosted title
# and heading fields over-weighted a page's first sentence and the section names every session
# page shares: on LongMemEval they cost 10 points of recall@5 (see docs/BENCHMARKS.md).
SEARCH_FIELDS = ("body", "tags")
SNIPPET_MAX = 240
FALLBACK_SNIPPET = 200
MAX_QUERY_WORDS = 64
STALE_BUILD_SECONDS = 3600  # leftovers of a crashed rebuild older than this are removed
WRITE_LOCK_TIMEOUT = 30.0  # seconds an update waits for another process's writer
# A SearchIndex keeps its searcher open between searches (an MCP server, a benchmark), reopening
# it when the index on disk changes. Not on Windows: open files there would block a rebuild in
# another process from swapping the index folder.
KEEP_SEARCHER_OPEN = os.name != "nt"
_TOC_NAME = re.compile(r"_MAIN_(\d+)\.toc")
# Segments an update writes (and merges) store their posting blocks uncompressed: zlib costs
# more than the bytes it saves for a handful of pages (a third of a 10k-page update). The
# postings and scores are the same; readers see each block's compression in its header.
# (Whoosh's `inlinelimit` above 1 would skip the blocks altogether, but fails in whoosh 2.7.)
_UPDATE_CODEC = W3Codec(compression=0)
# The writer's in-memory posting pool for a rebuild: Whoosh's default (128 MB) spills a
# 10k-page wiki's postings to temporary run files and merges them back.
REBUILD_LIMIT_MB = 512

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


def _page_source(page: Page) -> tuple[dict, str]:
    """The frontmatter and body `read_page` gives for the file `page.render()` wrote.

    Render writes the keys of FRONTMATTER_ORDER only, each a string, list of strings or null
    (which YAML reads back as themselves), and the body right-stripped with NULs replaced.
    tests/test_index.py compares both ways over a compiled wiki.
    """
    meta = {k: page.meta[k] for k in FRONTMATTER_ORDER if k in page.meta}
    return meta, page.body.rstrip().replace("\0", "\ufffd")


def make_schema() -> Schema:
    """The index's fields: only what search scores, filters on, or shows in a hit.

    The body is indexed without positions (queries are OR-ed words, never phrases) and not
    stored: snippets read the page file. Titles, dates and sources are stored, not indexed:
    the title is the body's first line (see SEARCH_FIELDS), and filters use `date`.
    """
    return Schema(
        path=ID(unique=True, stored=True),
        title=STORED(),
        body=TEXT(analyzer=_ANALYZER, phrase=False),
        tags=KEYWORD(lowercase=True, commas=True, field_boost=2.0, stored=True, scorable=True),
        kind=ID(stored=True),
        status=ID(stored=True),
        # The frontmatter's own strings, as a hit shows them.
        created=STORED(),
        updated=STORED(),
        # `updated`, else `created`, parsed: what --since/--until filter on.
        date=DATETIME(),
        sources=KEYWORD(commas=True, stored=True),
        # Wikilink targets by link_key: backlinks and the backlink boost.
        links=KEYWORD(commas=True),
        session=ID(),
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


class SearchInputError(WikimemError):
    """A search asked for wrongly: an empty query, a kind no page has. `param` names what."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


def check_query(query: str) -> str:
    """The query, if it has something to search for (the CLI and the MCP tool share this)."""
    if not query or not query.strip():
        raise SearchInputError("The query is empty: say what to search for.", "query")
    return query


def _plural(kind: str) -> str:
    if kind.endswith("y"):
        return kind[:-1] + "ies"
    return kind + ("es" if kind.endswith("x") else "s")


def _kind_names(kinds: Sequence[str]) -> dict[str, str]:
    """What a user may type for each kind: the kind, and its singular or plural."""
    names: dict[str, str] = {}
    for kind in kinds:
        other = kind[:-1] if kind.endswith("s") else _plural(kind)
        names.setdefault(other, kind)
    for kind in kinds:
        names[kind] = kind
    return names


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


# Markdown syntax a snippet should not show, removed with regular expressions: mistune's full
# parse of a long session page costs milliseconds, and a snippet needs none of its structure.
_MD_FENCE = re.compile(r"^[ \t]*(?:```|~~~).*$", re.M)
_MD_WIKILINK = re.compile(r"\[\[([^\[\]\n|#]*)(?:#([^\[\]\n|]*))?(?:\\?\|([^\[\]\n]*))?\]\]")
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_MD_HTML = re.compile(r"<[^<>\n]*>")
_MD_TABLE_RULE = re.compile(
    r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$", re.M
)
_MD_BLOCK_MARK = re.compile(
    r"^[ \t]*(?:(?:>[ \t]?)*(?:#{1,6}|[-*+](?:[ \t]+\[[ xX]\])?|\d{1,9}[.)])[ \t]+|(?:>[ \t]?)+)",
    re.M,
)
_MD_CODE_MARK = re.compile(r"`+")
# `*x*` and `_x_` (not snake_case): the marker is matched first, then what precedes it checked,
# so the scan can skip ahead to the next `*` or `_`.
_MD_EMPHASIS = re.compile(r"[*_](?<![\w*][*_])(?=\S)([^*_\n]+?)(?<=\S)[*_](?![\w*])")
SNIPPET_WINDOW = SNIPPET_MAX - 40  # characters of context around the matches
SNIPPET_LEAD = 60  # characters shown before the first match
SNIPPET_MAX_MATCHES = 200  # matches considered per page


def _wikilink_text(m: re.Match) -> str:
    target, anchor, label = (g.strip() if g else "" for g in m.groups())
    return label or " ".join(p for p in (target, anchor) if p)


def plain_text(markdown: str) -> str:
    """A page's text without frontmatter and markdown syntax, whitespace collapsed."""
    text = _FRONTMATTER_BLOCK.sub("", markdown, count=1)
    # Each pattern only where its syntax occurs: a substring test is far cheaper than a scan.
    if "```" in text or "~~~" in text:
        text = _MD_FENCE.sub("", text)
    if "![" in text:  # embeds and images read as their links
        text = text.replace("![", "[")
    if "[[" in text:
        text = _MD_WIKILINK.sub(_wikilink_text, text)
    if "](" in text:
        text = _MD_LINK.sub(r"\1", text)
    if "<" in text:
        text = _MD_HTML.sub(" ", text)
    if "|" in text and "--" in text:
        text = _MD_TABLE_RULE.sub("", text)
    text = _MD_BLOCK_MARK.sub("", text)
    text = text.replace("**", "").replace("__", "")
    if "`" in text:
        text = _MD_CODE_MARK.sub("", text)
    if "*" in text or "_" in text:
        text = _MD_EMPHASIS.sub(r"\1", text)
    if "&" in text:
        text = html.unescape(text)
    return " ".join(text.split())


@functools.lru_cache(maxsize=8192)
def _analyzed(word: str) -> tuple[str, ...]:
    """The body terms a (lowercase) word indexes as."""
    return tuple(t.text for t in _ANALYZER(word))


def _matches(flat: str, terms: set[str]) -> list[tuple[int, int, str]]:
    """(start, end, term) of the words in `flat` that analyze to one of `terms`.

    A regular expression finds the words starting like a term (a stem is a word's prefix but
    for its last letter or two: "happy" -> "happi"); only those are run through the analyzer.
    It runs on the lowercased text without IGNORECASE, which lets it skip ahead to the
    characters a term starts with (unless lowercasing changed the text's length).
    """
    prefixes = sorted({t[:-2] if len(t) > 5 else t[:-1] if len(t) > 3 else t for t in terms})
    alternatives = "|".join(re.escape(p) for p in prefixes)
    lower = flat.lower()
    if len(lower) == len(flat):
        pattern = re.compile(rf"(?:{alternatives})\w*(?:\.?\w+)*")
    else:
        lower = flat
        pattern = re.compile(rf"(?:{alternatives})\w*(?:\.?\w+)*", re.IGNORECASE)
    found: list[tuple[int, int, str]] = []
    for m in pattern.finditer(lower):
        start = m.start()
        if start and (lower[start - 1].isalnum() or lower[start - 1] in "._"):
            continue  # inside a word
        term = next((t for t in _analyzed(m.group(0).lower()) if t in terms), None)
        if term is not None:
            found.append((start, m.end(), term))
            if len(found) >= SNIPPET_MAX_MATCHES:
                break
    return found


def make_snippet(text: str, terms: Iterable[str]) -> str:
    """Query terms highlighted as **term** in context, or the start of the text.

    `text` is plain text (see `plain_text`); `terms` are analyzed body terms. The window of
    SNIPPET_WINDOW characters holding the most distinct terms (then the most matches, then
    the earliest) is shown, starting a little before its first match.
    """
    flat = " ".join(text.split())
    if not flat:
        return ""
    termset = {t for t in terms if t}
    found = _matches(flat, termset) if termset else []
    if not found:
        return _shorten(flat, FALLBACK_SNIPPET)
    # Slide over the matches: the window starting at match i holds matches i..j-1.
    best = (0, 0, 0)
    counts: dict[str, int] = {}
    j = 0
    for i, (start, _, term) in enumerate(found):
        if j <= i:  # (a match longer than the window still counts, alone)
            counts, j = {term: 1}, i + 1
        while j < len(found) and found[j][1] <= start + SNIPPET_WINDOW - SNIPPET_LEAD:
            counts[found[j][2]] = counts.get(found[j][2], 0) + 1
            j += 1
        key = (len(counts), j - i, -start)
        if i == 0 or key > best:
            best = key
        counts[term] -= 1
        if not counts[term]:
            del counts[term]
    first = -best[2]
    begin = max(0, first - SNIPPET_LEAD)
    if begin:
        space = flat.find(" ", begin, first)
        begin = space + 1 if space != -1 else first
    end = min(len(flat), begin + SNIPPET_WINDOW)
    if end < len(flat):
        space = flat.rfind(" ", begin, end)
        end = max(space, first + 1) if space > begin else end
    out, pos = [], begin
    for start, stop, _ in found:
        if start < begin or stop > end:
            continue
        out += [flat[pos:start], "**", flat[start:stop], "**"]
        pos = stop
    out.append(flat[pos:end])
    snippet = ("… " if begin else "") + "".join(out).strip()
    return _shorten(snippet + (" …" if end < len(flat) else ""), SNIPPET_MAX)


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
        self._lock_depth = 0
        # The searcher kept open between searches (see _searcher), in a list the finalizer
        # can close without holding on to this object.
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

    # -- documents --------------------------------------------------------------------------

    def _read(self, rel: str) -> tuple[dict, str] | None:
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
        return (meta if isinstance(meta, dict) else {}), body

    def _document(self, rel: str, page: Page | None = None) -> dict | None:
        """The fields to index for one page, or None when the page cannot be read.

        With `page` (the compiler's page whose rendering the file holds) nothing is read:
        its frontmatter and body are what reading the file back would give.
        """
        found = _page_source(page) if page is not None else self._read(rel)
        if found is None:
            return None
        meta, parsed = found[0], parse(found[1])
        stem = PurePosixPath(rel).stem
        title = _as_text(meta.get("title")) or parsed.title or stem
        aliases = _as_list(meta.get("aliases"))
        doc: dict[str, Any] = {
            "path": rel,
            "title": title,
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
                doc[key] = _as_text(meta.get(key))
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

    def rebuild(self, pages: Mapping[str, Page] | None = None) -> int:
        """Recreate the index from every page; returns how many pages were indexed.

        The new index is built in a temporary sibling folder and renamed into place, so a
        concurrent search sees either the old index or the new one, never a half-built one.
        `pages` (by path) are pages whose files hold exactly their rendering (the compiler's,
        just written or found unchanged): they are indexed without reading their files.
        """
        _release(self._held)
        with self._write_lock():
            return self._rebuild_locked(pages or {})

    def _rebuild_locked(self, pages: Mapping[str, Page]) -> int:
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
                    for rel in wiki_pages(self.wiki_dir) if self.wiki_dir.is_dir() else []:
                        doc = self._document(rel, pages.get(rel))
                        if doc is not None:
                            writer.add_document(**doc)
                            count += 1
                except BaseException:
                    writer.cancel()
                    raise
                writer.commit(merge=False)
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
                    return
                # Pages are read under the lock, so a rebuild cannot overtake with older text.
                seen: dict[str, bool] = {}
                for rel in removed_rels:
                    docs[rel] = None
                for rel in changed_rels:
                    if rel not in pages and linked_part(self.wiki_dir, rel, seen):
                        docs[rel] = None  # behind a symbolic link: not the wiki's page
                    else:
                        docs[rel] = self._document(rel, pages.get(rel))
                self._with_index(write, after_rebuild=False)
        except index.LockError as exc:
            raise WikimemError(
                f"The search index at {self.index_dir} is busy (another process holds Whoosh's "
                "write lock); try again."
            ) from exc

    # -- reading ---------------------------------------------------------------------------------

    def check_kinds(self, kinds: str | Sequence[str]) -> list[str]:
        """The page kinds asked for, as stored: singular or plural, any case. A kind no page
        of wikimem's has, nor any page in this index, is a SearchInputError listing them."""
        if isinstance(kinds, str):
            kinds = [kinds]
        asked = [k.strip().lower() for k in kinds if k and k.strip()]
        known = _kind_names(PAGE_KINDS)
        if any(k not in known for k in asked):
            # A person may give their own pages a kind of their own (`kind: recipe`).
            own = sorted(k for k in (self._with_searcher(_indexed_kinds) or ())
                         if k not in PAGE_KINDS)
            known = _kind_names([*PAGE_KINDS, *own])
            unknown = next((k for k in asked if k not in known), None)
            if unknown is not None:
                raise SearchInputError(
                    f"{unknown!r} is not a page kind. Use one of: "
                    f"{', '.join([*PAGE_KINDS, *own])} (plurals too).", "kind")
        return list(dict.fromkeys(known[k] for k in asked))

    def parse_query(self, text: str) -> wq.Query | None:
        """The Whoosh query for a user's plain-text question, or None when nothing is left.

        Every word is OR-ed: any word may match and BM25F sums what does. The query is what
        Whoosh's `MultifieldParser(SEARCH_FIELDS, group=OrGroup)` makes of the words, built
        directly (the parser costs milliseconds per query).
        """
        words: list[str] = []
        leaves: list[wq.Query] = []
        for m in _QUERY_WORD.finditer(text or ""):
            word = m.group(0).lower()
            if word in words:
                continue
            # Stop words and one-letter words would only ever match a tag of that name.
            stems = [t.text for t in _ANALYZER(word)]
            if not stems:
                continue
            words.append(word)
            leaves += [wq.Term("body", t) for t in stems]
            leaves.append(wq.Term("tags", word))
            if len(words) >= MAX_QUERY_WORDS:
                break
        if not leaves:
            return None
        # Like the parser's normalized query: a term two words share ("cache", "caching")
        # counts once.
        return wq.Or(list(dict.fromkeys(leaves)))

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
        kinds = self.check_kinds(kinds)
        if limit <= 0:
            return []
        q = self.parse_query(query)
        if q is None:
            return []
        filters: list[wq.Query] = []
        kind_terms = [wq.Term("kind", k) for k in kinds]
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
        leaves = _query_terms(q)
        highlight = {text for field_name, text in leaves if field_name == "body"}
        want = max(limit * 3, 30)

        def run(searcher: Any) -> list[tuple[float, dict]]:
            memo = self._memo(searcher)
            allowed = _docs(searcher, flt, memo) if flt is not None else None
            hidden = _docs(searcher, mask, memo) if mask is not None else frozenset()
            reader = searcher.reader()

            def keep(docnum: int) -> bool:
                if docnum in hidden or (allowed is not None and docnum not in allowed):
                    return False
                return not reader.is_deleted(docnum)

            ranked = []
            for score, docnum in best_documents(searcher, leaves, want, keep):
                stored = searcher.stored_fields(docnum)
                backlinks = _count_backlinks(searcher, stored.get("path", ""), docnum, memo)
                ranked.append((score * (1 + 0.1 * math.log1p(backlinks)), stored))
            return ranked

        ranked = self._with_searcher(run) or []
        ranked.sort(key=lambda item: (-item[0], item[1].get("path", "")))
        hits: list[Hit] = []
        for score, stored in ranked:
            text = self._page_text(stored.get("path", ""))
            if text is None:  # deleted since it was indexed
                continue
            hits.append(_make_hit(stored, score, make_snippet(text, highlight)))
            if len(hits) >= limit:
                break
        return hits

    def _page_text(self, rel: str) -> str | None:
        """A page's plain text for its snippet, or None when it cannot be read."""
        try:
            return plain_text((self.wiki_dir / rel).read_text(encoding="utf-8"))
        except (OSError, UnicodeError):
            return None

    def indexed_paths(self) -> set[str]:
        """The page paths the index holds (for consistency checks)."""

        def run(searcher: Any) -> set[str]:
            return {f["path"] for f in searcher.all_stored_fields() if "path" in f}

        return self._with_searcher(run) or set()

    def backlinks(self, page_path: str) -> list[str]:
        """Paths of the indexed pages that link to `page_path` (by file name, as Obsidian does)."""
        key = link_key(page_path)
        own = _normalize_rel(page_path)

        def run(searcher: Any) -> list[str]:
            docnums = searcher.docs_for_query(wq.Term("links", key))
            paths = [searcher.stored_fields(d).get("path", "") for d in docnums]
            return sorted(p for p in paths if p and p != own)

        if not key:
            return []
        return self._with_searcher(run) or []


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
    what searches found out about this version of the index (see SearchIndex._memo)."""

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


MEMO_ENTRIES = 4096  # per kept searcher; cleared when full


def _docs(searcher: Any, q: wq.Query, memo: dict) -> frozenset[int]:
    """The live documents matching a filter query, remembered for this searcher."""
    key = ("docs", repr(q))
    found = memo.get(key)
    if found is None:
        found = frozenset(searcher.docs_for_query(q))
        _remember(memo, key, found)
    return found


def _indexed_kinds(searcher: Any) -> set[str]:
    """Every kind some indexed page has."""
    return {k if isinstance(k, str) else k.decode("utf-8", "replace")
            for k in searcher.reader().field_terms("kind")}


def _count_backlinks(searcher: Any, path: str, docnum: int, memo: dict | None = None) -> int:
    """How many other live documents link to `path` (deleted documents do not count)."""
    key = link_key(path) if path else ""
    if not key:
        return 0
    linking = memo.get(("links", key)) if memo is not None else None
    if linking is None:
        linking = frozenset()
        if searcher.doc_frequency("links", key):
            # A segment reader's postings leave out its deleted documents.
            linking = frozenset(
                base + d
                for reader, base in searcher.reader().leaf_readers()
                if ("links", key) in reader
                for d in reader.postings("links", key).all_ids()
            )
        if memo is not None:
            _remember(memo, ("links", key), linking)
    return len(linking) - (docnum in linking)


def _remember(memo: dict, key: Any, value: Any) -> None:
    if len(memo) >= MEMO_ENTRIES:
        memo.clear()
    memo[key] = value


# ---------------------------------------------------------------------------------------------
# Ranking: BM25F, term at a time, over Whoosh's postings
#
# Whoosh's own collector scores an OR query one document at a time through a tree of matchers,
# several Python calls per posting (about 30 microseconds each here); a 6-word query over 10k
# pages touches tens of thousands of postings. `bm25f_scores` computes the same BM25F sums
# (same formula, same statistics, same order of additions) one term at a time over whole
# posting blocks, with the field-length normalization looked up in a 256-entry table (Whoosh
# stores lengths as one byte). tests/test_index.py checks it against Whoosh's own search.

WEIGHTING = scoring.BM25F()
_LENGTH_COLUMN = "_%s_len"


def _query_terms(q: wq.Query) -> list[tuple[str, str]]:
    """The (field, text) of every term of a parsed OR query, in order, repeats kept."""
    return [(leaf.fieldname, leaf.text) for leaf in q.leaves() if isinstance(leaf, wq.Term)]


# ---------------------------------------------------------------------------------------------
# Whoosh internals
#
# Three reads go past Whoosh's public API, for speed: a block matcher's decoded arrays (its
# `_read_ids`, `_read_weights`, `_next_block`, `_ids`, `_weights`), the length column's raw bytes
# (the segment's `_perdoc._cached_reader`, the column's `_fixedlen`, `_dbfile`, `_basepos`,
# `_count`) and BM25F's per-field B (`_field_B`). They are used only when `_internals()` found
# them, once per process, reading what the public API reads; otherwise the public API is used,
# with the same results, more slowly. A Whoosh without them is not a damaged index.


@dataclass(frozen=True)
class _Internals:
    """What `_internals()` found: the classes whose private parts it read."""

    block_matcher: type  # a term's postings in blocks: their decoded arrays are read
    segment_reader: type  # a segment: its length columns' bytes are read


@functools.cache
def _internals() -> _Internals | None:
    """Whoosh's internals the fast paths read, or None when the public API must be used.

    Checked on a two-document index in memory: every private read must be there and give
    what Whoosh's public API gives.
    """
    try:
        return _probe_internals()
    except Exception:  # whatever a changed Whoosh raises here means: do not use them
        return None


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
    internals = _internals()
    if internals is not None and isinstance(m, internals.block_matcher):
        yield from _block_postings(m, wanted)
        return
    postings = _public_postings(m)
    yield [d for d, _ in postings], [w for _, w in postings]


def _length_bytes(reader: Any, fieldname: str) -> Sequence[int]:
    """Each document's length in `fieldname` as Whoosh stores it: one byte per document."""
    internals = _internals()
    if internals is not None and isinstance(reader, internals.segment_reader):
        raw = _fast_length_bytes(reader, fieldname)
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
    if _internals() is not None:
        return weighting._field_B.get(fieldname, weighting.B)
    return weighting.B


class _TermScores:
    """One query term's BM25F contributions, segment by segment."""

    def __init__(self, searcher: Any, fieldname: str, text: str, lengths: dict) -> None:
        weighting = searcher.weighting
        k1 = weighting.K1
        b = _field_b(weighting, fieldname)
        self.fieldname, self.text = fieldname, text
        self.idf, self.k1p1, self.norm = 0.0, k1 + 1, [0.0] * 256
        self.parts: list[tuple[Any, int, Sequence[int]]] = []
        # The most one document can get from this term: the largest weight at the shortest
        # length (lengths round up to their byte the same way for every document).
        self.upper = 0.0
        segments = [
            (i, reader, base)
            for i, (reader, base) in enumerate(searcher.reader().leaf_readers())
            if (fieldname, text) in reader
        ]
        if not segments:
            # Nothing to add; and no idf: in an empty index it would be log(0).
            return
        self.idf = searcher.idf(fieldname, text)
        avgfl = searcher.avg_field_length(fieldname) or 1
        # bm25(): idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
        self.norm = [k1 * ((1 - b) + b * byte_to_length(i) / avgfl) for i in range(256)]
        for i, reader, base in segments:
            lens = lengths.get((i, fieldname))
            if lens is None:
                lens = lengths[i, fieldname] = _length_bytes(reader, fieldname)
            self.parts.append((reader, base, lens))
            info = reader.term_info(fieldname, text)
            tf, fl = info.max_weight(), info.min_length()
            bound = self.idf * ((tf * self.k1p1) / (tf + k1 * ((1 - b) + b * fl / avgfl)))
            self.upper = max(self.upper, bound * (1 + 1e-9))

    def add(self, scores: dict[int, float]) -> None:
        """Add this term's contribution of every document that has it."""
        get, idf, k1p1, norm = scores.get, self.idf, self.k1p1, self.norm
        for reader, base, lens in self.parts:
            for ids, weights in _posting_blocks(reader, self.fieldname, self.text):
                for d, tf in zip(ids, weights, strict=True):
                    g = base + d
                    scores[g] = get(g, 0.0) + idf * ((tf * k1p1) / (tf + norm[lens[d]]))

    def add_to_known(self, scores: dict[int, float]) -> None:
        """Add this term's contribution to the documents already in `scores` only."""
        idf, k1p1, norm = self.idf, self.k1p1, self.norm
        for reader, base, lens in self.parts:
            end = base + reader.doc_count_all()
            wanted = sorted(g - base for g in scores if base <= g < end)
            if not wanted:
                continue
            wanted_set = set(wanted)
            for ids, weights in _posting_blocks(reader, self.fieldname, self.text, wanted):
                for d, tf in zip(ids, weights, strict=True):
                    if d in wanted_set:
                        scores[base + d] += idf * ((tf * k1p1) / (tf + norm[lens[d]]))


def _term_scores(searcher: Any, terms: Sequence[tuple[str, str]]) -> list[_TermScores]:
    if not isinstance(searcher.weighting, scoring.BM25F):
        raise TypeError("BM25F scoring needs a BM25F searcher")
    lengths: dict[tuple[int, str], Sequence[int]] = {}
    schema = searcher.schema
    return [
        _TermScores(searcher, f, t, lengths)
        for f, t in terms
        if f in schema and schema[f].scorable
    ]


def bm25f_scores(searcher: Any, terms: Sequence[tuple[str, str]]) -> dict[int, float]:
    """BM25F score of every document matching any of `terms` (OR), by global document number.

    Equal to what `searcher.search(Or(terms))` scores with the searcher's BM25F weighting.
    """
    scores: dict[int, float] = {}
    for term in _term_scores(searcher, terms):
        term.add(scores)
    return scores


def best_documents(
    searcher: Any, terms: Sequence[tuple[str, str]], n: int, keep: Callable[[int], bool]
) -> list[tuple[float, int]]:
    """The `n` best (BM25F score, docnum) over `terms` (OR) that `keep` accepts, best first.

    The same documents and scores as ranking `bm25f_scores` (up to the last bits of the sums,
    which are added in another order), with less work (MaxScore): terms are added rarest-
    first (by the most they can give one document); once the terms left cannot lift a
    document that has none of the terms so far above the n-th best score so far, they are
    added only to the documents that can still reach it, decoding only the posting blocks
    that hold those documents. Common words over a large wiki are the case this is for.
    """
    todo = sorted((t for t in _term_scores(searcher, terms) if t.parts), key=lambda t: -t.upper)
    scores: dict[int, float] = {}
    while todo:
        term = todo.pop(0)
        term.add(scores)
        rest = sum(t.upper for t in todo)  # (not a running difference: no rounding below 0)
        if not todo or not scores or rest >= max(scores.values()):
            continue
        top = _top(scores, n, keep)
        if len(top) < n or rest >= top[-1][0]:
            continue
        threshold = top[-1][0]
        scores = {d: s for d, s in scores.items() if s + rest >= threshold}
        for term in todo:
            term.add_to_known(scores)
        break
    return _top(scores, n, keep)


def _top(scores: dict[int, float], n: int, keep: Callable[[int], bool]) -> list[tuple[float, int]]:
    """The `n` best (score, docnum) that `keep` accepts, best first (ties: first scored)."""
    want = n
    while scores:
        best = heapq.nlargest(want, scores, key=scores.__getitem__)
        kept = [d for d in best if keep(d)]
        if len(kept) >= n or len(best) == len(scores):
            return [(scores[d], d) for d in kept[:n]]
        want *= 4
    return []


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
