"""Scoring: which documents a search returns, in what order.

BM25F term at a time over Whoosh's postings, with MaxScore pruning (`best_documents`); the
filters (kinds, dates, hidden pages) and the backlink boost (`rank`). Whoosh's own collector
scores an OR query one document at a time through a tree of matchers, several Python calls per
posting; a 6-word query over 10k pages touches tens of thousands of postings.
`bm25f_scores` computes the same BM25F sums (same formula, same statistics, same order of
additions) one term at a time over whole posting blocks, with the field-length normalization
looked up in a 256-entry table (Whoosh stores lengths as one byte). tests/test_index.py
checks it against Whoosh's own search.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

from whoosh import query as wq
from whoosh import scoring
from whoosh.util.numeric import byte_to_length

from wikimem.search.whoosh_internals import _field_b, _length_bytes, _posting_blocks
from wikimem.wiki.markdown import link_key

HIDDEN_STATUSES = ("superseded", "retracted")
# Pages derived from other pages (they repeat what the pages they list say: a file page, the
# titles of the sessions that changed it; a transcript, its session's words, which that
# session's page is found by); searched only when asked for by --kind or --all,
# so they do not crowd out the pages they summarize.
DERIVED_KINDS = ("index", "context", "hub", "transcript", "file", "folder", "timeline",
                 "digest")
MEMO_ENTRIES = 4096  # per kept searcher; cleared when full


def _query_terms(q: wq.Query) -> list[tuple[str, str]]:
    """The (field, text) of every term of a parsed OR query, in order, repeats kept."""
    return [(leaf.fieldname, leaf.text) for leaf in q.leaves() if isinstance(leaf, wq.Term)]


# ---------------------------------------------------------------------------------------------
# BM25F, term at a time


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


# ---------------------------------------------------------------------------------------------
# Filters and the backlink boost


def _bound(value: datetime | date | None, *, end: bool) -> datetime | None:
    """A --since (start) or --until (end) bound; a plain date covers its whole day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    return datetime.combine(value, dtime.max if end else dtime.min)


def filters(
    kinds: Sequence[str], since: datetime | date | None, until: datetime | date | None,
    include_all: bool,
) -> tuple[wq.Query | None, wq.Query | None]:
    """What a hit must match (its kinds, its dates; None: any page) and what it must not
    (superseded, retracted and, unless kinds are asked for, derived pages; None: nothing)."""
    parts: list[wq.Query] = []
    kind_terms = [wq.Term("kind", k) for k in kinds]
    if kind_terms:
        parts.append(wq.Or(kind_terms))
    start, end = _bound(since, end=False), _bound(until, end=True)
    if start is not None or end is not None:
        parts.append(wq.DateRange("date", start, end))
    flt = wq.And(parts) if len(parts) > 1 else (parts[0] if parts else None)
    mask = None
    if not include_all:
        hidden = [wq.Term("status", s) for s in HIDDEN_STATUSES]
        if not kind_terms:
            hidden += [wq.Term("kind", k) for k in DERIVED_KINDS]
        mask = wq.Or(hidden)
    return flt, mask


def rank(
    searcher: Any, terms: Sequence[tuple[str, str]], n: int, flt: wq.Query | None,
    mask: wq.Query | None, memo: dict,
) -> list[tuple[float, dict]]:
    """The `n` best live documents over `terms` that `flt` matches and `mask` does not, as
    (score, stored fields): the BM25F score, raised by the other pages linking to the page.

    `memo` keeps what a search learns about this version of the index (see `_docs`).
    """
    ranked = []
    for score, docnum in best_documents(searcher, terms, n, live(searcher, flt, mask, memo)):
        stored = searcher.stored_fields(docnum)
        backlinks = _count_backlinks(searcher, stored.get("path", ""), docnum, memo)
        ranked.append((score * (1 + 0.1 * math.log1p(backlinks)), stored))
    return ranked


def live(searcher: Any, flt: wq.Query | None, mask: wq.Query | None,
         memo: dict) -> Callable[[int], bool]:
    """Whether a document may be a hit: live, matched by `flt` (None: any), not by `mask`."""
    allowed = _docs(searcher, flt, memo) if flt is not None else None
    hidden = _docs(searcher, mask, memo) if mask is not None else frozenset()
    reader = searcher.reader()

    def keep(docnum: int) -> bool:
        if docnum in hidden or (allowed is not None and docnum not in allowed):
            return False
        return not reader.is_deleted(docnum)

    return keep


def _docs(searcher: Any, q: wq.Query, memo: dict) -> frozenset[int]:
    """The live documents matching a filter query, remembered for this searcher."""
    key = ("docs", repr(q))
    found = memo.get(key)
    if found is None:
        terms = _plain_terms(q)
        if terms is None:
            found = frozenset(searcher.docs_for_query(q))
        else:  # what docs_for_query finds, read block by block (the mask matches half a wiki)
            found = frozenset(_term_docs(searcher, terms))
        _remember(memo, key, found)
    return found


def _plain_terms(q: wq.Query) -> list[tuple[str, str]] | None:
    """The (field, text) of a Term, or of an Or of nothing but Terms; None for anything else."""
    leaves = q.subqueries if type(q) is wq.Or else [q]
    if not all(type(leaf) is wq.Term for leaf in leaves):
        return None
    return [(leaf.fieldname, leaf.text) for leaf in leaves]


def _term_docs(searcher: Any, terms: Sequence[tuple[str, str]]) -> Iterator[int]:
    """The live documents holding any of `terms` (some more than once)."""
    for reader, base in searcher.reader().leaf_readers():
        deletions = reader.has_deletions()
        for fieldname, text in terms:
            if (fieldname, text) not in reader:
                continue
            for ids, _ in _posting_blocks(reader, fieldname, text):
                if deletions:
                    yield from (base + d for d in ids if not reader.is_deleted(d))
                else:
                    yield from (base + d for d in ids)


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
