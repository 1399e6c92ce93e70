"""Search: `SearchIndex`, what the rest of wikimem asks of the index.

A plain-text question in, the best pages out (`search`), with the pages linking to a page
(`backlinks`) and the pages indexed (`indexed_paths`); updating and rebuilding come from
`store.IndexStore`. The work is done by the package's other modules: `schema` (the fields),
`documents` (page -> document), `store` (the index on disk, its only writer), `scoring`
(BM25F with MaxScore, filters), `snippets`, and `whoosh_internals` (the one place that reads
Whoosh's private names). Whoosh is imported in this package and nowhere else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import Any

from whoosh import query as wq

from wikimem.errors import WikimemError
from wikimem.search.documents import _as_text, _normalize_rel, _split_keyword
from wikimem.search.rerank import cues, rerank, without_times
from wikimem.search.schema import _ANALYZER, _PAIR_ANALYZER
from wikimem.search.scoring import DERIVED_KINDS, _query_terms, filters, live, rank
from wikimem.search.snippets import make_snippet, page_source, page_text
from wikimem.search.store import IndexStore
from wikimem.wiki.markdown import link_key

# Every kind of page wikimem writes: sessions, structured items, LLM topic pages, the pages
# `wikimem bootstrap` derives from a repository, then the derived pages.
PAGE_KINDS = ("session", "decision", "lesson", "note", "goal", "task", "topic", "overview",
              "modules", "rules", "hotspots", "history", *DERIVED_KINDS)
MAX_QUERY_WORDS = 64
# Reciprocal rank fusion's constant: the usual 60 (Cormack et al.), not tuned on our data.
RRF_K = 60
# A page no word of the question finds joins the hits only this near it in meaning (cosine of
# unit vectors), so a question about nothing in the wiki still finds nothing. For MiniLM-class
# models unrelated sentences score below ~0.2 and paraphrases above ~0.4 (docs/ARCHITECTURE.md).
MIN_COSINE = 0.3
# Words as Whoosh's default tokenizer sees them ("v1.2" stays one word). Everything else in a
# user's query (quotes, parentheses, colons, `*`, `^`, `~`...) is dropped, and the words are
# lowercased so AND/OR/NOT are plain (stop) words, never operators.
_QUERY_WORD = re.compile(r"\w+(?:\.?\w+)*")


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


class SearchIndex(IndexStore):
    """The Whoosh index at `index_dir` over the markdown pages under `wiki_dir`: searching it,
    and (from IndexStore) keeping it current."""

    _vectors: Any = None  # the hybrid search's VectorStore, once a search needed it

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
            # Stop words and one-letter words would only ever match a tag of that name. The
            # word as typed: its case tells the analyzer a code word's parts (parseConfig).
            stems = [t.text for t in _ANALYZER(m.group(0))]
            if not stems:
                continue
            words.append(word)
            leaves += [wq.Term("body", t) for t in stems]
            leaves.append(wq.Term("tags", word))
            if len(words) >= MAX_QUERY_WORDS:
                break
        # The question's adjacent words as pairs, analyzed as the body's pairs are
        # (schema.PAIR_WEIGHT), when it has two words or more.
        if len(words) > 1:
            pairs = [wq.Term("pairs", t.text) for t in _PAIR_ANALYZER(text or "")]
            leaves += pairs[:MAX_QUERY_WORDS]
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
        now: datetime | None = None,
    ) -> list[Hit]:
        """The best pages for a plain-text question, best first.

        `now` is when the question is asked (default: the clock): "two weeks ago" in it means
        two weeks before `now` (see rerank.py).
        """
        kinds = self.check_kinds(kinds)
        if limit <= 0:
            return []
        # "Two weeks ago" says when (a cue, see rerank.py), not what: not searched for as words,
        # unless the question is nothing else.
        q = self.parse_query(without_times(query)) or self.parse_query(query)
        if q is None:
            return []
        flt, mask = filters(kinds, since, until, include_all)
        leaves = _query_terms(q)
        highlight = {text for field_name, text in leaves if field_name == "body"}
        want = max(limit * 3, 30)

        def run(searcher: Any) -> list[tuple[float, dict]]:
            return rank(searcher, leaves, want, flt, mask, self._memo(searcher))

        ranked = self._with_searcher(run) or []
        ranked.sort(key=lambda item: (-item[0], item[1].get("path", "")))
        sources: dict[str, str | None] = {}

        def source_of(stored: dict) -> str | None:
            # The phrase cue reads the markdown as written (its pattern allows the odd `**`
            # or `>` between words): stripping it for every candidate cost more than the
            # search (docs/BENCHMARKS.md); only the hits shown get their plain text.
            path = stored.get("path", "")
            if path not in sources:
                sources[path] = page_source(self.wiki_dir, path)
            return sources[path]

        def phrase_source(stored: dict) -> str | None:
            # A session's words are its digest's and its transcript's (page_document indexes
            # both): a phrase of the question is looked for in both.
            source = source_of(stored)
            other = _transcript_of(source) if source else None
            more = page_source(self.wiki_dir, other) if other else None
            return f"{source}\n\n{more}" if more else source

        ranked = rerank(ranked, cues(query, now, _is_word), phrase_source)
        ranked = self._fuse(query, ranked, flt, mask, want)
        hits: list[Hit] = []
        for score, stored in ranked:
            source = source_of(stored)
            text = None if source is None else page_text(self.wiki_dir, "", source)
            if text is None:  # deleted since it was indexed
                continue
            hits.append(_make_hit(stored, score, make_snippet(text, highlight)))
            if len(hits) >= limit:
                break
        return hits

    def _fuse(self, query: str, ranked: list[tuple[float, dict]], flt: Any, mask: Any,
              want: int) -> list[tuple[float, dict]]:
        """With the hybrid search on: `ranked` fused with the pages nearest the question in
        meaning, by reciprocal rank fusion (each list gives a page 1 / (RRF_K + rank)).
        Without it (or when its model cannot run), `ranked` as it is."""
        from wikimem.search import semantic

        if not semantic.enabled():
            return ranked
        try:
            model = semantic.load()
        except WikimemError:
            return ranked
        from wikimem.search.vectors import VectorStore

        if self._vectors is None:  # kept: it keeps the loaded vectors while the file is the same
            self._vectors = VectorStore(self.index_dir)
        store = self._vectors
        try:
            question = model.embed([query])[0]
        except Exception:
            return ranked  # a model that fails to run leaves search lexical, as one missing

        def nearest(searcher: Any) -> list[dict]:
            keep = live(searcher, flt, mask, self._memo(searcher))
            stored: dict[str, dict] = {}

            def allowed(path: str) -> bool:
                docnum = searcher.document_number(path=path)
                if docnum is None or not keep(docnum):
                    return False
                stored[path] = searcher.stored_fields(docnum)
                return True

            return [(cosine, stored[p]) for cosine, p in store.ranking(
                question, model.fingerprint, allowed, want)]

        dense = self._with_searcher(nearest) or []
        fused: dict[str, list] = {}
        for rank_, (_, stored) in enumerate(ranked):
            fused[stored.get("path", "")] = [1.0 / (RRF_K + rank_ + 1), stored]
        for rank_, (cosine, stored) in enumerate(dense):
            path = stored.get("path", "")
            if path in fused:
                fused[path][0] += 1.0 / (RRF_K + rank_ + 1)
            elif cosine >= MIN_COSINE:  # found by meaning alone: only when near enough
                fused[path] = [1.0 / (RRF_K + rank_ + 1), stored]
        out = [(score, stored) for score, stored in fused.values()]
        out.sort(key=lambda item: (-item[0], item[1].get("path", "")))
        return out

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


_TRANSCRIPT = re.compile(r"^transcript:[ \t]*['\"]?([^'\"\n]+?)['\"]?[ \t]*$", re.M)


def _transcript_of(source: str) -> str | None:
    """The transcript page a page's frontmatter names, or None."""
    end = source.find("\n---", 3) if source.startswith("---") else -1
    found = _TRANSCRIPT.search(source, 0, end) if end > 0 else None
    return _normalize_rel(found.group(1)) if found else None


def _is_word(word: str) -> bool:
    """Whether the index keeps `word` (not a stop word, not a single letter)."""
    return any(True for _ in _ANALYZER(word))


def _indexed_kinds(searcher: Any) -> set[str]:
    """Every kind some indexed page has."""
    return {k if isinstance(k, str) else k.decode("utf-8", "replace")
            for k in searcher.reader().field_terms("kind")}


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


def format_hits(hits: list[Hit], as_json: bool) -> str:
    """What `wikimem search` prints for `hits` (the click command and the one-shot path in
    entry.py share it)."""
    if as_json:
        return json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False, default=str)
    if not hits:
        return "No matches."
    lines = []
    for h in hits:
        lines.append(f"{h.path}  [{h.kind}, {str(h.updated)[:10]}]  {h.title}")
        if h.snippet:
            lines.append(f"    {h.snippet}")
    return "\n".join(lines)
