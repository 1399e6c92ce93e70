"""wikimem.search: a real Whoosh index over a small wiki in tmp_path."""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from wikimem.search.index import Hit, SearchIndex
from wikimem.wiki.pages import Page, write_pages

SESSION = "sessions/2026-11-01-aaaa1111.md"
WHOOSH = "decisions/use-whoosh.md"
SQLITE = "decisions/use-sqlite.md"
LESSON = "lessons/flaky-clock.md"
CACHE = "notes/cache-layout.md"
INDEX = "index.md"
HUMAN = "notes/roadmap.md"


def _pages() -> list[Page]:
    return [
        Page(
            SESSION,
            {
                "title": "Session: compile pipeline",
                "kind": "session",
                "status": "done",
                "created": "2026-11-01T09:00:00Z",
                "updated": "2026-11-01T09:30:00Z",
                "session_id": "aaaa1111",
                "sources": ["raw/aaaa1111.jsonl"],
                "tags": ["Compiler", "pipeline"],
            },
            "# Session\n\nWe taught the compiler to compile raw logs into pages.\n",
        ),
        Page(
            WHOOSH,
            {
                "title": "Use Whoosh for zephyr search",
                "kind": "decision",
                "status": "active",
                "created": "2026-11-09T10:00:00Z",
                "updated": "2026-11-10T08:00:00Z",
                "tags": ["search"],
                "supersedes": "use-sqlite",
            },
            "## Context\n\nBM25F ranking over the pages; see [[2026-11-01-aaaa1111]].\n",
        ),
        Page(
            SQLITE,
            {
                "title": "Use SQLite FTS for search",
                "kind": "decision",
                "status": "superseded",
                "created": "2026-11-05T23:00:00Z",
                "updated": "2026-11-05T23:00:00Z",
                "superseded_by": "use-whoosh",
            },
            "SQLite full text search was the first idea for ranking.\n",
        ),
        Page(
            LESSON,
            {
                "title": "The flaky clock",
                "kind": "lesson",
                "status": "retracted",
                "created": "2026-11-03",
                "updated": "2026-11-03",
            },
            "Tests failed because of the flaky clock (retracted: it was the cache).\n",
        ),
        Page(
            CACHE,
            {"title": "Cache layout", "kind": "note", "status": "active", "created": "2026-11-15"},
            "The cache lives in the index folder; it is disposable.\n",
        ),
        Page(
            INDEX,
            {"title": "Project memory", "kind": "index", "updated": "2026-11-16T00:00:00Z"},
            "- [[use-whoosh]]\n- [[2026-11-01-aaaa1111|first session]]\n- [[cache-layout]]\n",
        ),
    ]


@pytest.fixture
def wiki(tmp_path: Path) -> Path:
    wiki_dir = tmp_path / "wiki"
    result = write_pages(wiki_dir, _pages())
    assert len(result.written) == 6
    (wiki_dir / HUMAN).write_text(
        "# Quarterly roadmap\n\nPlans for the zeppelin feature, written by a human.\n",
        encoding="utf-8",
    )
    return wiki_dir


@pytest.fixture
def idx(tmp_path: Path, wiki: Path) -> SearchIndex:
    si = SearchIndex(tmp_path / "index", wiki)
    assert si.rebuild() == 7
    return si


def paths(hits: list[Hit]) -> list[str]:
    return [h.path for h in hits]


def test_title_word_finds_page(idx: SearchIndex):
    hits = idx.search("zephyr")
    assert paths(hits) == [WHOOSH]
    hit = hits[0]
    assert hit.title == "Use Whoosh for zephyr search"
    assert (hit.kind, hit.status) == ("decision", "active")
    assert hit.created == "2026-11-09T10:00:00Z" and hit.updated == "2026-11-10T08:00:00Z"
    assert hit.tags == ["search"] and hit.score > 0
    d = hit.to_dict()
    assert d["path"] == WHOOSH and isinstance(d["score"], float)
    assert idx.rebuilt is False


def test_body_word_finds_page_and_human_page_title(idx: SearchIndex):
    assert paths(idx.search("disposable")) == [CACHE]
    hits = idx.search("zeppelin")
    assert paths(hits) == [HUMAN]
    assert hits[0].title == "Quarterly roadmap"
    assert (hits[0].kind, hits[0].status, hits[0].created) == ("", "", "")


def test_stemming(idx: SearchIndex):
    hits = idx.search("compiling")
    assert paths(hits) == [SESSION]
    assert hits[0].sources == ["raw/aaaa1111.jsonl"]
    assert hits[0].tags == ["Compiler", "pipeline"]


def test_tags_are_searchable(idx: SearchIndex):
    assert SESSION in paths(idx.search("pipeline"))


def test_kind_filter(idx: SearchIndex):
    assert set(paths(idx.search("search ranking"))) == {WHOOSH}  # sqlite one is superseded
    assert paths(idx.search("search ranking", kinds=["session"])) == []
    both = idx.search("search ranking", kinds=["decision"], include_all=True)
    assert set(paths(both)) == {WHOOSH, SQLITE}


def test_since_until_filter_on_updated_then_created(idx: SearchIndex):
    everything = dict(include_all=True, limit=50)
    q = "cache search compile pages"
    assert set(paths(idx.search(q, **everything))) == {
        WHOOSH,
        SQLITE,
        LESSON,
        CACHE,
        SESSION,
        INDEX,  # its [[cache-layout]] link reads "cache-layout"
    }
    # a date means the whole day: the SQLite page was updated at 23:00 on the 5th
    assert set(paths(idx.search(q, until=date(2026, 11, 5), **everything))) == {
        SESSION,
        LESSON,
        SQLITE,
    }
    # the cache note has no `updated`: its `created` is used
    assert set(paths(idx.search(q, since=date(2026, 11, 10), **everything))) == {
        WHOOSH,
        CACHE,
        INDEX,
    }
    window = idx.search(
        q,
        since=datetime(2026, 11, 5, 22, 0, tzinfo=UTC),
        until=datetime(2026, 11, 10, 8, 0),
        **everything,
    )
    assert set(paths(window)) == {SQLITE, WHOOSH}
    assert paths(idx.search(q, since=date(2027, 1, 1), **everything)) == []


def test_superseded_and_retracted_hidden_unless_include_all(idx: SearchIndex):
    assert paths(idx.search("sqlite")) == []
    assert paths(idx.search("flaky clock")) == []
    assert paths(idx.search("sqlite", include_all=True)) == [SQLITE]
    assert paths(idx.search("flaky clock", include_all=True)) == [LESSON]


def test_incremental_update_after_edit_and_delete(idx: SearchIndex, wiki: Path):
    assert paths(idx.search("xylophone")) == []
    edited = [p for p in _pages() if p.path == CACHE][0]
    edited.body = "The cache now plays the xylophone.\n"
    assert write_pages(wiki, [edited]).written == [CACHE]
    assert paths(idx.search("xylophone")) == []  # not until the index is told
    idx.update([CACHE])
    assert paths(idx.search("xylophone")) == [CACHE]
    assert paths(idx.search("disposable")) == []

    (wiki / CACHE).unlink()
    idx.update([], removed=[CACHE])
    assert paths(idx.search("xylophone")) == []

    (wiki / SESSION).unlink()  # a "changed" page that no longer exists counts as removed
    idx.update([SESSION])
    assert paths(idx.search("compiling")) == []
    assert idx.rebuilt is False


def test_update_adds_new_page(idx: SearchIndex, wiki: Path):
    new = Page("notes/new.md", {"title": "Brand new", "kind": "note"}, "Quasar notes.\n")
    write_pages(wiki, [new])
    idx.update(["notes/new.md"])
    assert paths(idx.search("quasar")) == ["notes/new.md"]
    assert paths(idx.search("zephyr")) == [WHOOSH]  # the rest is still there


def test_rebuild_returns_count_and_replaces_index(idx: SearchIndex, wiki: Path):
    (wiki / HUMAN).unlink()
    assert idx.rebuild() == 6
    assert paths(idx.search("zeppelin")) == []
    assert idx.rebuilt is False  # an explicit rebuild is not a recovery
    leftovers = [
        p.name
        for p in idx.index_dir.parent.iterdir()
        if p.name.startswith(".index.") and p.name != ".index.lock"
    ]
    assert leftovers == []


def _trash(index_dir: Path) -> None:
    files = [p for p in index_dir.iterdir() if p.is_file()]
    assert any(p.suffix == ".seg" for p in files) and any(p.suffix == ".toc" for p in files)
    for p in files:
        if p.suffix in (".seg", ".toc"):
            p.write_bytes(b"\x00garbage\xff" * 7)


@pytest.mark.parametrize("damage", ["garbage", "segments-only", "toc-deleted", "empty-dir"])
def test_corrupt_index_is_rebuilt_on_search(idx: SearchIndex, damage: str):
    assert paths(idx.search("zephyr")) == [WHOOSH]
    d = idx.index_dir
    if damage == "garbage":
        _trash(d)
    elif damage == "segments-only":
        for seg in d.glob("*.seg"):
            seg.write_bytes(seg.read_bytes()[:37])
    elif damage == "toc-deleted":
        for toc in d.glob("_MAIN_*.toc"):
            toc.unlink()
    else:
        shutil.rmtree(d)
        d.mkdir()
    fresh = SearchIndex(d, idx.wiki_dir)
    assert paths(fresh.search("zephyr")) == [WHOOSH]
    assert fresh.rebuilt is True
    again = SearchIndex(d, idx.wiki_dir)
    assert paths(again.search("compiling")) == [SESSION]
    assert again.rebuilt is False


def test_corrupt_index_is_rebuilt_on_update(idx: SearchIndex, wiki: Path):
    _trash(idx.index_dir)
    new = Page("notes/new.md", {"title": "Brand new", "kind": "note"}, "Quasar notes.\n")
    write_pages(wiki, [new])
    idx.update(["notes/new.md"])
    assert idx.rebuilt is True
    assert paths(idx.search("quasar")) == ["notes/new.md"]
    assert paths(idx.search("zephyr")) == [WHOOSH]


def test_missing_index_dir(tmp_path: Path, wiki: Path):
    si = SearchIndex(tmp_path / "nowhere" / "index", wiki)
    assert paths(si.search("zephyr")) == [WHOOSH]
    assert si.rebuilt is True
    assert si.backlinks(WHOOSH) == [INDEX]

    other = SearchIndex(tmp_path / "index2", wiki)
    other.update([])  # creates the index
    assert other.rebuilt is True
    assert paths(other.search("zeppelin")) == [HUMAN]


# A question, search options, the pages expected (best first), and the word every hit's
# snippet shows in bold -- or None: the words are only in the top hit's title or tags, so its
# snippet is the start of its text, with nothing in bold. Query syntax is not syntax here:
# AND/OR/NOT are stop words, `field:`, quotes, brackets and `^~*?` are dropped.
SYNTAX_CASES = [
    ('what did we decide about "the cache"?', {}, [CACHE], "cache"),  # lesson: retracted
    ('what did we decide about "the cache"?', {"include_all": True},
     [CACHE, INDEX, LESSON], "cache"),
    ("foo AND (", {}, [], None),
    ("zephyr AND (", {}, [WHOOSH], None),
    ("title:", {}, [], None),  # no page says "title"
    ("title:zeppelin", {}, [HUMAN], "zeppelin"),
    ("tags:search OR", {}, [WHOOSH], None),  # the SQLite decision is superseded
    ("tags:search OR", {"include_all": True}, [WHOOSH, SQLITE], None),
    ("tags:search OR", {"kinds": ["decision"]}, [WHOOSH], None),
    ("tags:search OR", {"kinds": ["session"]}, [], None),
    ("NOT", {}, [], None),
    ("NOT zephyr", {}, [WHOOSH], None),
    ('"unbalanced', {}, [], None),
    ('"disposable', {}, [CACHE], "disposable"),
    ("[2020 TO", {}, [], None),
    ("[2020 TO zeppelin", {}, [HUMAN], "zeppelin"),
    ("zephyr^2~ *", {}, [WHOOSH], None),
    ("zephyr^2~ *", {"since": date(2026, 11, 10)}, [WHOOSH], None),
    ("zephyr^2~ *", {"since": date(2026, 11, 11)}, [], None),  # updated on the 10th
    ("((()))", {}, [], None),
    ("((disposable))", {}, [CACHE], "disposable"),
    ("{}:^~*?", {}, [], None),
    ("{pipeline}:^~*?", {}, [SESSION], None),  # a tag of the session page
    ("кэш и поиск", {}, [], None),
    ("кэш zeppelin", {}, [HUMAN], "zeppelin"),
]


@pytest.mark.parametrize(("question", "options", "expected", "bold"), SYNTAX_CASES)
def test_questions_with_syntax_characters_find_what_their_words_find(
    idx: SearchIndex, question: str, options: dict, expected: list[str], bold: str | None
):
    hits = idx.search(question, **options)
    assert isinstance(hits, list)
    assert paths(hits) == expected
    if bold is not None:
        for hit in hits:
            assert f"**{bold}**" in hit.snippet.lower(), hit
    elif hits:
        assert "**" not in hits[0].snippet and hits[0].snippet
    assert idx.rebuilt is False


def test_question_finds_relevant_pages(idx: SearchIndex):
    hits = idx.search('what did we decide about "the cache"?')
    assert CACHE in paths(hits)
    assert LESSON not in paths(hits)  # retracted


def test_search_of_an_empty_wiki(tmp_path: Path):
    (tmp_path / "empty-wiki").mkdir()
    si = SearchIndex(tmp_path / "index", tmp_path / "empty-wiki")
    assert si.search("anything at all") == []  # builds the (empty) index
    assert si.search("anything at all", kinds=["note"], since=date(2026, 1, 1)) == []
    si.close()


def test_empty_and_stopword_only_queries(idx: SearchIndex):
    assert idx.search("") == []
    assert idx.search("   ?! ") == []
    assert idx.search("the of and to") == []
    assert idx.search("zephyr", limit=0) == []


def test_snippet_highlights_match(idx: SearchIndex):
    hit = idx.search("disposable")[0]
    assert "**disposable**" in hit.snippet
    assert len(hit.snippet) <= 250
    stemmed = idx.search("compiling")[0]
    assert "**compile**" in stemmed.snippet or "**compiler**" in stemmed.snippet


def test_snippet_is_short_for_long_pages(tmp_path: Path):
    wiki_dir = tmp_path / "wiki"
    filler = " ".join(f"word{i}" for i in range(400))
    body = f"{filler} needle {filler} needle needle {filler}\n"
    write_pages(wiki_dir, [Page("long.md", {"title": "Long", "kind": "note"}, body)])
    si = SearchIndex(tmp_path / "index", wiki_dir)
    hit = si.search("needle")[0]
    assert "**needle**" in hit.snippet
    assert len(hit.snippet) <= 242
    assert hit.snippet.count("**") % 2 == 0


def test_snippet_falls_back_to_start_of_text(idx: SearchIndex):
    hit = idx.search("zephyr")[0]  # only in the title, not in the body
    assert hit.snippet.startswith("Context BM25F ranking")


def _backlink_wiki(tmp_path: Path, linked: str) -> SearchIndex:
    wiki_dir = tmp_path / f"wiki-{linked}"
    pages = [
        Page("alpha.md", {"title": "Quokka alpha", "kind": "note"}, "A quokka report.\n"),
        Page("beta.md", {"title": "Quokka beta", "kind": "note"}, "A quokka report.\n"),
        Page("ref1.md", {"title": "Ref one", "kind": "note"}, f"See [[{linked}]].\n"),
        Page("ref2.md", {"title": "Ref two", "kind": "note"}, f"Also [[notes/{linked}|it]].\n"),
    ]
    write_pages(wiki_dir, pages)
    return SearchIndex(tmp_path / f"index-{linked}", wiki_dir)


@pytest.mark.parametrize("linked", ["alpha", "beta"])
def test_backlink_boost_breaks_ties(tmp_path: Path, linked: str):
    si = _backlink_wiki(tmp_path, linked)
    hits = si.search("quokka")
    other = "beta" if linked == "alpha" else "alpha"
    assert [h.path for h in hits] == [f"{linked}.md", f"{other}.md"]
    assert hits[0].score > hits[1].score
    assert si.backlinks(f"{linked}.md") == ["ref1.md", "ref2.md"]


def test_backlink_boost_follows_updates(tmp_path: Path):
    si = _backlink_wiki(tmp_path, "alpha")
    assert [h.path for h in si.search("quokka")] == ["alpha.md", "beta.md"]
    assert [h.path for h in si.search("quokka")] == ["alpha.md", "beta.md"]  # kept searcher
    pages = [
        Page("ref1.md", {"title": "Ref one", "kind": "note"}, "See [[beta]].\n"),
        Page("ref2.md", {"title": "Ref two", "kind": "note"}, "Also [[beta]].\n"),
    ]
    write_pages(si.wiki_dir, pages)
    # Another process updates; the old versions stay behind as deleted documents.
    SearchIndex(si.index_dir, si.wiki_dir).update(["ref1.md", "ref2.md"])
    assert [h.path for h in si.search("quokka")] == ["beta.md", "alpha.md"]
    si.close()


def test_backlinks(idx: SearchIndex):
    assert idx.backlinks(SESSION) == [WHOOSH, INDEX]
    assert idx.backlinks("sessions/2026-11-01-aaaa1111") == [WHOOSH, INDEX]
    assert idx.backlinks(HUMAN) == []


def test_backlinks_follow_updates(idx: SearchIndex, wiki: Path):
    page = [p for p in _pages() if p.path == WHOOSH][0]
    page.body = "No links any more.\n"
    write_pages(wiki, [page])
    idx.update([WHOOSH])
    assert idx.backlinks(SESSION) == [INDEX]


def test_garbage_frontmatter_is_tolerated(tmp_path: Path):
    wiki_dir = tmp_path / "wiki"
    wiki_dir.mkdir()
    (wiki_dir / "odd.md").write_text(
        "---\ntitle: [1, 2]\nkind: 7\ncreated: not a date\nupdated: 13/45/2026\n"
        "tags: alpha, beta\nsources: 3\n---\nOddball walrus.\n",
        encoding="utf-8",
    )
    (wiki_dir / "unquoted.md").write_text(
        "---\ntitle: Unquoted\ncreated: 2026-11-21T06:43:25Z\nupdated: 2026-11-22\n---\n"
        "Walrus two.\n",
        encoding="utf-8",
    )
    # YAML that does not load (an impossible date, an unclosed list): no metadata at all
    (wiki_dir / "broken.md").write_text(
        "---\ntitle: [unclosed\nupdated: 2026-13-45\n---\nWalrus three.\n", encoding="utf-8"
    )
    si = SearchIndex(tmp_path / "index", wiki_dir)
    hits = {h.path: h for h in si.search("walrus")}
    assert set(hits) == {"odd.md", "unquoted.md", "broken.md"}
    odd = hits["odd.md"]
    assert (odd.title, odd.kind, odd.created, odd.updated) == ("odd", "7", "", "")
    assert odd.tags == ["alpha", "beta"] and odd.sources == ["3"]
    assert hits["unquoted.md"].created == "2026-11-21T06:43:25Z"
    assert hits["unquoted.md"].updated == "2026-11-22"
    assert hits["broken.md"].title == "broken"
    assert hits["broken.md"].snippet.startswith("**Walrus** three")
    assert paths(si.search("unclosed")) == []
    assert paths(si.search("walrus", since=date(2026, 11, 22))) == ["unquoted.md"]


# ---------------------------------------------------------------------------------------------
# The ranking is Whoosh's BM25F, computed term at a time


WORDS = (
    "cache queue router schema session token retry migration writer reader config logger "
    "export importer page user permission metrics backup snapshot lock scheduler webhook "
    "invoice payment ranking parser client timeout deadlock pagination"
).split()


def _random_wiki(tmp_path: Path, n: int = 120, seed: int = 3) -> SearchIndex:
    import random

    rng = random.Random(seed)
    pages = []
    for i in range(n):
        words = [rng.choice(WORDS[: 8 + i % 24]) for _ in range(rng.randint(3, 400))]
        tags = rng.sample(WORDS, rng.randint(0, 3))
        meta = {"title": f"Page {i}", "kind": "note", "tags": tags}
        pages.append(Page(f"notes/p{i:03d}.md", meta, " ".join(words) + "\n"))
    wiki_dir = tmp_path / "rwiki"
    write_pages(wiki_dir, pages)
    si = SearchIndex(tmp_path / "rindex", wiki_dir)
    si.rebuild()
    # Later updates make more segments, and replaced documents stay behind as deletions.
    for i in range(0, n, 7):
        page = pages[i]
        page.body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) + "\n"
        write_pages(wiki_dir, [page])
        si.update([page.path])
    return si


QUESTIONS = [
    "cache",
    "cache retry timeout",
    "how did we fix the deadlock in the scheduler?",
    "webhook invoice payment ranking parser client",
    "caching caches cached",
    "token session lock",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_bm25f_scores_equal_whoosh_search(tmp_path: Path, question: str):
    from whoosh import index as windex

    from wikimem.search.schema import WEIGHTING
    from wikimem.search.scoring import _query_terms, bm25f_scores

    si = _random_wiki(tmp_path)
    q = si.parse_query(question)
    ix = windex.open_dir(str(si.index_dir))
    try:
        with ix.searcher(weighting=WEIGHTING) as searcher:
            assert len(list(searcher.reader().leaf_readers())) > 1
            assert searcher.reader().has_deletions()
            theirs = {hit.docnum: hit.score for hit in searcher.search(q, limit=None)}
            ours = bm25f_scores(searcher, _query_terms(q))
            live = {d: s for d, s in ours.items() if not searcher.reader().is_deleted(d)}
            assert theirs and set(live) == set(theirs)
            for docnum, score in theirs.items():
                assert live[docnum] == pytest.approx(score, rel=1e-12)
    finally:
        ix.close()


def test_best_documents_are_the_exhaustive_top(tmp_path: Path, monkeypatch):
    """MaxScore pruning returns what ranking every document would, and does prune."""
    from whoosh import index as windex

    from wikimem.search import scoring as wikimem_index
    from wikimem.search.schema import WEIGHTING
    from wikimem.search.scoring import _query_terms, _top, best_documents, bm25f_scores

    pruned = []
    original = wikimem_index._TermScores.add_to_known

    def counting(self, scores):
        pruned.append(len(scores))
        return original(self, scores)

    monkeypatch.setattr(wikimem_index._TermScores, "add_to_known", counting)
    si = _random_wiki(tmp_path, n=400)
    ix = windex.open_dir(str(si.index_dir))
    try:
        with ix.searcher(weighting=WEIGHTING) as searcher:
            reader = searcher.reader()
            hidden = set(range(0, reader.doc_count_all(), 5))

            def keep(d: int) -> bool:
                return d not in hidden and not reader.is_deleted(d)

            for question in [*QUESTIONS, "deadlock cache", "pagination zzunknown timeout client"]:
                terms = _query_terms(si.parse_query(question))
                for n in (1, 3, 10, 30):
                    exhaustive = _top(bm25f_scores(searcher, terms), n, keep)
                    best = best_documents(searcher, terms, n, keep)
                    assert [d for _, d in best] == [d for _, d in exhaustive], (question, n)
                    for (a, _), (b, _) in zip(best, exhaustive, strict=True):
                        assert a == pytest.approx(b, rel=1e-12)
    finally:
        ix.close()
    assert pruned and min(pruned) < 400  # the pruned path ran, on fewer documents


def test_posting_blocks_and_lengths_read_what_whoosh_reads(tmp_path: Path):
    from whoosh import index as windex
    from whoosh.util.numeric import length_to_byte

    from wikimem.search.whoosh_internals import _length_bytes, _posting_blocks

    si = _random_wiki(tmp_path)
    ix = windex.open_dir(str(si.index_dir))
    try:
        with ix.reader() as top:
            checked = 0
            for reader, _ in top.leaf_readers():
                for fieldname in ("body", "tags"):
                    lens = _length_bytes(reader, fieldname)
                    assert len(lens) == reader.doc_count_all()
                    for d in range(reader.doc_count_all()):
                        expected = length_to_byte(reader.doc_field_length(d, fieldname, 0) or 0)
                        assert lens[d] == expected
                    for text in reader.lexicon(fieldname):
                        text = text.decode() if isinstance(text, bytes) else text
                        got = [
                            (d, w)
                            for ids, weights in _posting_blocks(reader, fieldname, text)
                            for d, w in zip(ids, weights, strict=True)
                            if not reader.is_deleted(d)  # the blocks may hold deleted ones
                        ]
                        m = reader.postings(fieldname, text)
                        want = []
                        while m.is_active():
                            want.append((m.id(), m.weight()))
                            m.next()
                        assert got == want
                        checked += 1
            assert checked > 50
    finally:
        ix.close()


@pytest.mark.parametrize("question", [*QUESTIONS, "v1.2 foo_bar the of", "кэш и поиск"])
def test_parse_query_is_what_the_multifield_parser_makes(idx: SearchIndex, question: str):
    from whoosh import qparser

    from wikimem.search.schema import _ANALYZER, _PAIR_ANALYZER, SCHEMA, SEARCH_FIELDS

    parser = qparser.MultifieldParser(list(SEARCH_FIELDS), SCHEMA, group=qparser.OrGroup)
    words = dict.fromkeys(w.lower() for w in question.replace("?", " ").split())
    expected = parser.parse(" ".join(w for w in words if list(_ANALYZER(w))))
    got = idx.parse_query(question)
    assert got is not None
    # The words, as the parser makes them; then the question's adjacent pairs (schema.py).
    pairs = list(dict.fromkeys(("pairs", t.text) for t in _PAIR_ANALYZER(question)))
    assert [(t.fieldname, t.text) for t in got.leaves()] == [
        (t.fieldname, t.text) for t in expected.leaves()
    ] + (pairs if sum(1 for w in words if list(_ANALYZER(w))) > 1 else [])


def test_search_ranks_like_whoosh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Without backlinks (and without the question's cues, rerank.py), the top hits are
    Whoosh's own top hits, in its order."""
    from whoosh import index as windex

    from wikimem.search import rerank
    from wikimem.search.schema import WEIGHTING

    for boost in ("DATE_BOOST", "RECENCY_BOOST", "PHRASE_BOOST"):
        monkeypatch.setattr(rerank, boost, 0.0)
    si = _random_wiki(tmp_path)
    for question in QUESTIONS:
        hits = si.search(question, limit=10)
        ix = windex.open_dir(str(si.index_dir))
        try:
            with ix.searcher(weighting=WEIGHTING) as searcher:
                theirs = searcher.search(si.parse_query(question), limit=None)
                ranked = sorted((-h.score, h["path"]) for h in theirs)[:10]
        finally:
            ix.close()
        assert [(h.path, round(h.score, 9)) for h in hits] == [
            (p, round(-s, 9)) for s, p in ranked
        ]
    si.close()


# ---------------------------------------------------------------------------------------------
# The searcher kept open between searches


def test_kept_searcher_sees_updates_and_rebuilds_by_others(idx: SearchIndex, wiki: Path):
    assert paths(idx.search("zephyr")) == [WHOOSH]
    kept = idx._held[0].searcher
    assert paths(idx.search("zephyr")) == [WHOOSH]
    assert idx._held[0].searcher is kept  # nothing changed: reused

    other = SearchIndex(idx.index_dir, wiki)  # another process, say
    new = Page("notes/new.md", {"title": "Brand new", "kind": "note"}, "Quasar notes.\n")
    write_pages(wiki, [new])
    other.update(["notes/new.md"])
    assert paths(idx.search("quasar")) == ["notes/new.md"]
    assert idx._held[0].searcher is not kept

    (wiki / "notes/new.md").unlink()
    other.rebuild()  # a new folder swapped in
    assert paths(idx.search("quasar")) == []
    assert paths(idx.search("zephyr")) == [WHOOSH]
    assert idx.rebuilt is False

    shutil.rmtree(idx.index_dir)  # and gone: rebuilt from the pages
    assert paths(idx.search("zephyr")) == [WHOOSH]
    assert idx.rebuilt is True
    idx.close()
    assert idx._held == []
    other.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_close_and_dropping_a_search_index_release_its_files(tmp_path: Path, wiki: Path):
    import gc
    import os

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    SearchIndex(tmp_path / "index-fd", wiki).rebuild()
    gc.collect()  # what earlier tests left for the collector
    before = open_files()
    si = SearchIndex(tmp_path / "index-fd", wiki)
    assert paths(si.search("zephyr")) == [WHOOSH]
    assert si._held and open_files() > before  # kept open for the next search
    si.close()
    assert open_files() == before
    assert paths(si.search("zephyr")) == [WHOOSH]
    del si
    gc.collect()
    assert open_files() == before


def test_index_of_an_older_schema_is_rebuilt(idx: SearchIndex):
    import json

    from wikimem.search.schema import SCHEMA_VERSION
    from wikimem.search.store import MARKER

    marker = idx.index_dir / MARKER
    marker.write_text(json.dumps({"schema_version": SCHEMA_VERSION - 1}), encoding="utf-8")
    fresh = SearchIndex(idx.index_dir, idx.wiki_dir)
    assert paths(fresh.search("zephyr")) == [WHOOSH]
    assert fresh.rebuilt is True
    assert json.loads(marker.read_text(encoding="utf-8"))["schema_version"] == SCHEMA_VERSION
    fresh.close()


# ---------------------------------------------------------------------------------------------
# Snippets from the page file


def test_plain_text_drops_markdown_syntax():
    from wikimem.search.snippets import plain_text

    page = (
        "---\ntitle: x\n---\n# Head\n\n_None recorded._ and *this*, queue_utils.py, 2*3*4, "
        "**bold** `code`\n\n| a | b |\n|---|---|\n| [[x/y|lab]] | [[z#h]] |\n\n- [ ] task\n"
        "> quote &amp; more\n```py\nprint(1)\n```\n[text](https://x.y) <b>tag</b>\n"
    )
    assert plain_text(page) == (
        "Head None recorded. and this, queue_utils.py, 2*3*4, bold code | a | b | | lab | "
        "z h | task quote & more print(1) text tag"
    )


def test_snippet_prefers_the_window_with_most_query_words():
    from wikimem.search.snippets import make_snippet

    filler = " ".join(f"w{i}" for i in range(100))
    text = f"alpha here. {filler} alpha beta gamma together. {filler} gamma end"
    snippet = make_snippet(text, ["alpha", "beta", "gamma"])
    assert "**alpha** **beta** **gamma** together" in snippet
    assert snippet.startswith("… ") and snippet.endswith(" …")
    assert len(snippet) <= 242
    # stems: "happy" is indexed as "happi"
    assert make_snippet("We were happy with it.", ["happi"]) == "We were **happy** with it."


# ---------------------------------------------------------------------------------------------
# Indexing the compiler's pages from memory


def _odd_pages() -> list[Page]:
    """Frontmatter and bodies whose YAML round trip is least obvious."""
    return [
        Page("notes/odd-values.md", {
            "title": "Odd: values # here", "kind": "Note", "status": "Active",
            "created": "2026-11-01", "updated": "2026-11-02T10:00:00+02:00",
            "aliases": ["yes", "null", "123", "D3"], "tags": ["a, b", "on", "1.5"],
            "sources": ["session:x", "commit:0123abc"], "session_id": "0042",
        }, "  leading spaces\n\nA NUL \0 here, trailing space   \n\n\n"),
        Page("notes/no-title.md", {"kind": "note", "tags": []}, "## Heading only\n\ntext\n"),
        Page("notes/unicode.md", {"title": "Ünïcödé — “quotes”", "created": "not a date"},
             "# Ünïcödé\n\n[[notes/odd-values|odd]] and `[[not a link]]`\n"),
        Page("notes/multiline.md", {"title": "line one\nline two", "updated": None},
             "> quoted\n\n```\ncode [[inside]]\n```\n"),
    ]


def test_compiler_pages_index_as_their_files(tmp_path: Path, monkeypatch):
    """A page indexed from the compiler's memory gives the document its file gives."""
    from conftest import session_events

    from wikimem.agents.claude_code import adapter as claude_code
    from wikimem.capture.observation import format_ts
    from wikimem.capture.observe import capture
    from wikimem.compile import build as compile_module
    from wikimem.compile.build import compile_project
    from wikimem.memory import Memory
    from wikimem.project import Registry

    seen: dict[str, Page] = {}
    original = compile_module._index

    def spy(*args, **kwargs):
        seen.update(kwargs.get("pages") or {})
        return original(*args, **kwargs)

    monkeypatch.setattr(compile_module, "_index", spy)
    registry, project = Registry(), None
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    for n, name in enumerate(("01-node-bump.jsonl", "02-issue-triage.jsonl")):
        for i, payload in enumerate(session_events(Path("/work/example/p"), name)):
            project = capture("claude-code", claude_code.normalize(payload), payload,
                              registry=registry,
                              ts=format_ts(start + timedelta(days=n, seconds=i))).project
    memory = Memory(project, agent="alice", now=start)
    old = memory.add("decision", "Cache sessions in Redis", {"why": "speed: it's fast"})
    memory.add("decision", "Cache sessions in memory", {"why": "one process"},
               supersedes=[old.page])
    memory.add("lesson", "Clocks drift", {"why": "NTP"})
    memory.add("task", "Port the importer", {"acceptance": "imports v2 logs"})
    compile_project(project)
    assert {"index.md", "context.md", old.page} <= set(seen)
    assert any(rel.startswith("sessions/") for rel in seen)

    odd = {p.path: p for p in _odd_pages()}
    write_pages(project.wiki_dir, list(odd.values()))
    si = SearchIndex(tmp_path / "ix", project.wiki_dir)
    for rel, page in {**seen, **odd}.items():
        from_file = si._document(rel)
        assert from_file is not None and si._document(rel, page) == from_file, rel


def test_update_and_rebuild_with_pages_read_no_files(tmp_path: Path, wiki: Path, monkeypatch):
    from wikimem.search import documents as wikimem_index

    si = SearchIndex(tmp_path / "index", wiki)
    pages = {p.path: p for p in _pages()}
    reads = []
    original = wikimem_index.read_page
    monkeypatch.setattr(wikimem_index, "read_page", lambda p: reads.append(p) or original(p))
    assert si.rebuild(pages) == 7
    assert [p.name for p in reads] == ["roadmap.md"]  # the one page not given
    assert paths(si.search("zephyr")) == [WHOOSH]

    page = pages[CACHE]
    page.body = "The cache moved to a quokka burrow.\n"
    write_pages(wiki, [page])
    reads.clear()
    si.update([CACHE, HUMAN], pages={CACHE: page})
    assert [p.name for p in reads] == ["roadmap.md"]
    assert paths(si.search("quokka")) == [CACHE]
    assert paths(si.search("zeppelin")) == [HUMAN]


def test_update_segments_score_as_compressed_ones(tmp_path: Path, monkeypatch):
    """Updates write their segments uncompressed: same postings, same scores."""
    from whoosh import index as windex
    from whoosh.codec.whoosh3 import W3Codec

    from wikimem.search import store as wikimem_index

    plain = _random_wiki(tmp_path / "plain")
    ix = windex.open_dir(str(plain.index_dir))
    try:
        assert [s.codec()._compression for s in ix._segments()][-1] == 0
    finally:
        ix.close()
    monkeypatch.setattr(wikimem_index, "_UPDATE_CODEC", W3Codec())
    packed = _random_wiki(tmp_path / "packed")
    for question in QUESTIONS:
        ours = [(h.path, h.score) for h in plain.search(question, limit=30)]
        assert ours and ours == [(h.path, h.score) for h in packed.search(question, limit=30)]


# ---------------------------------------------------------------------------------------------
# Whoosh internals: used when there, else Whoosh's public API; never a reason to rebuild


@pytest.fixture
def internals_checked_again(tmp_path: Path, monkeypatch):
    """`_internals()` is checked once per process: again in this test, and after it, with
    its verdict kept in this test's folder (none there at first)."""
    from wikimem.search import whoosh_internals as wikimem_index

    verdict = tmp_path / "kept" / "whoosh_internals.verdict"
    monkeypatch.setattr(wikimem_index, "_verdict_path", lambda: str(verdict))
    monkeypatch.setattr(wikimem_index.sys, "dont_write_bytecode", False)
    check = wikimem_index._internals
    check.cache_clear()
    monkeypatch.setattr(wikimem_index, "_distrusted", False)
    wikimem_index.verdict_file = verdict  # (for the tests below)
    yield wikimem_index
    check.cache_clear()


def _probes_counted(monkeypatch, internals) -> list:
    calls: list = []
    probe = internals._probe_internals

    def counted():
        calls.append(1)
        return probe()

    monkeypatch.setattr(internals, "_probe_internals", counted)
    return calls


def test_internals_verdict_is_kept_and_read_by_the_next_process(monkeypatch,
                                                                 internals_checked_again):
    internals = internals_checked_again
    calls = _probes_counted(monkeypatch, internals)
    found = internals._internals()
    assert found is not None and calls == [1]
    assert internals.verdict_file.is_file()
    internals._internals.cache_clear()  # as a new process would start
    assert internals._internals() == found
    assert calls == [1]  # read from the file, not checked again


def test_internals_verdict_is_checked_again_when_whoosh_or_the_check_changes(
        tmp_path: Path, monkeypatch, internals_checked_again):
    import whoosh

    internals = internals_checked_again
    source = tmp_path / "whoosh_internals.py"  # the check's own source, as if edited
    source.write_text("v1")
    (tmp_path / "schema.py").write_text("the schema it checks with")
    monkeypatch.setattr(internals, "__file__", str(source))
    calls = _probes_counted(monkeypatch, internals)
    assert internals._internals() is not None
    internals._internals.cache_clear()
    assert internals._internals() is not None and calls == [1]
    internals._internals.cache_clear()
    monkeypatch.setattr(whoosh, "versionstring", lambda: "9.9.9")
    assert internals._internals() is not None
    assert calls == [1, 1]
    internals._internals.cache_clear()
    source.write_text("v2 longer")
    assert internals._internals() is not None
    assert calls == [1, 1, 1]


def test_a_kept_verdict_of_no_is_kept_too_and_a_damaged_one_ignored(monkeypatch,
                                                                   internals_checked_again):
    internals = internals_checked_again
    monkeypatch.setattr(internals, "_probe_internals", lambda: None)
    assert internals._internals() is None
    internals._internals.cache_clear()
    calls = _probes_counted(monkeypatch, internals)
    assert internals._internals() is None and calls == []
    internals.verdict_file.write_bytes(b"not a verdict")
    internals._internals.cache_clear()
    assert internals._internals() is None and calls == [1]


@pytest.mark.parametrize("failing", ["postings", "lengths"])
def test_a_kept_verdict_is_not_trusted_when_a_private_read_fails(tmp_path: Path, monkeypatch,
                                                                 internals_checked_again,
                                                                 failing: str):
    """Whoosh changed without its files' sizes and times changing: the kept verdict says the
    private reads work, one fails, and the search reads the public way with the same results."""
    from whoosh.codec import whoosh3

    internals = internals_checked_again
    si = _random_wiki(tmp_path)
    expected = _ranked(si)
    si.close()
    assert internals.verdict_file.is_file()
    internals._internals.cache_clear()  # a new process, with the verdict kept
    seen: list = []
    if failing == "postings":
        # A term's second block fails: the rest of its postings are read the public way.
        read_ids = whoosh3.W3LeafMatcher._read_ids

        def later_fails(self):  # (Whoosh's own calls still work)
            if sys._getframe(1).f_globals["__name__"] == internals.__name__:
                seen.append(1)
                if len(seen) > 1:
                    raise AttributeError("gone")
            return read_ids(self)

        monkeypatch.setattr(whoosh3.W3LeafMatcher, "_read_ids", later_fails)
    else:
        def length_read_fails(reader, fieldname):
            seen.append(1)
            raise AttributeError("gone")

        monkeypatch.setattr(internals, "_fast_length_bytes", length_read_fails)
    fresh = SearchIndex(si.index_dir, si.wiki_dir)
    assert _ranked(fresh) == expected
    assert len(seen) == (2 if failing == "postings" else 1) and internals._distrusted
    assert not internals.verdict_file.exists()  # the next process checks again
    assert fresh.rebuilt is False


def _index_files(si: SearchIndex) -> tuple:
    """What a rebuild or an update would change: the folder, and each file's inode and mtime."""
    st = si.index_dir.stat()
    files = sorted((p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in si.index_dir.iterdir())
    return st.st_ino, files


SEARCHES = [
    *((q, {}) for q in QUESTIONS),
    ("cache retry timeout", {"kinds": ["note"]}),
    ("deadlock", {"limit": 3}),
]


def _ranked(si: SearchIndex) -> list:
    return [[(h.path, h.score, h.snippet) for h in si.search(q, **kw)] for q, kw in SEARCHES]


def test_search_without_a_private_whoosh_attribute_ranks_the_same_and_rebuilds_nothing(
    tmp_path: Path, monkeypatch, internals_checked_again
):
    from wikimem.search.schema import WEIGHTING

    si = _random_wiki(tmp_path)
    assert internals_checked_again._internals() is not None  # this Whoosh has them
    fast = _ranked(si)
    assert all(fast)
    before = _index_files(si)

    # A Whoosh whose BM25F keeps its per-field B elsewhere.
    monkeypatch.delattr(WEIGHTING, "_field_B")
    internals_checked_again._internals.cache_clear()
    for fresh in (si, SearchIndex(si.index_dir, si.wiki_dir)):  # kept searcher, and not
        assert _ranked(fresh) == fast
        assert fresh.rebuilt is False
        fresh.close()
    assert internals_checked_again._internals() is None
    assert _index_files(si) == before


def test_public_whoosh_path_ranks_like_the_fast_path(tmp_path: Path, monkeypatch,
                                                    internals_checked_again):
    """Every private read has its public fallback: with none of them, the same results."""
    si = _random_wiki(tmp_path)
    fast = _ranked(si)
    si.close()
    monkeypatch.setattr(internals_checked_again, "_internals", lambda: None)
    assert _ranked(si) == fast
    assert si.rebuilt is False


@pytest.mark.parametrize("missing", [
    "BM25F._field_B", "W3LeafMatcher._read_ids", "W3LeafMatcher._next_block",
    "W3PerDocReader._cached_reader", "NumericColumn.Reader._fixedlen",
])
def test_internals_check_notices_each_missing_private_read(monkeypatch, internals_checked_again,
                                                           missing: str):
    from whoosh.codec import whoosh3
    from whoosh.columns import NumericColumn

    from wikimem.search.schema import WEIGHTING

    owner_name, attr = missing.rsplit(".", 1)
    if owner_name == "BM25F":
        monkeypatch.delattr(WEIGHTING, attr)
    elif owner_name == "NumericColumn.Reader":  # an attribute each reader sets for itself
        original = NumericColumn.Reader.__init__

        def init(self, *args, **kwargs):
            original(self, *args, **kwargs)
            delattr(self, attr)

        monkeypatch.setattr(NumericColumn.Reader, "__init__", init)
    else:
        monkeypatch.delattr(getattr(whoosh3, owner_name), attr)
    assert internals_checked_again._internals() is None


def test_an_error_that_is_not_damage_is_raised_and_the_index_kept(tmp_path: Path, monkeypatch):
    """A bug (here: wikimem calling something that is not there) is not a damaged index."""
    from wikimem.search import scoring as wikimem_index

    si = _random_wiki(tmp_path)
    assert si.search("cache")
    before = _index_files(si)

    def broken(self, scores):
        return self.no_such_method(scores)

    monkeypatch.setattr(wikimem_index._TermScores, "add", broken)
    for fresh in (si, SearchIndex(si.index_dir, si.wiki_dir)):
        with pytest.raises(AttributeError, match="no_such_method"):
            fresh.search("cache")
        assert fresh.rebuilt is False
        fresh.close()
    assert _index_files(si) == before


def test_filter_documents_read_from_postings_are_whoosh_s(tmp_path: Path):
    """The filters' documents read term by term from the postings (segments, deletions) are
    the documents Whoosh's docs_for_query finds."""
    from whoosh import query as wq

    from wikimem.search import scoring

    si = _random_wiki(tmp_path)
    queries = [wq.Term("kind", "note"), wq.Term("tags", WORDS[0]),
               wq.Or([wq.Term("tags", w) for w in WORDS[:5]]),
               wq.Or([wq.Term("tags", WORDS[1]), wq.Term("kind", "nothing-of-this-kind")]),
               *scoring.filters(["note"], None, None, include_all=False)]

    def check(searcher):
        assert searcher.reader().has_deletions() and len(searcher.reader().leaf_readers()) > 1
        for q in queries:
            assert scoring._plain_terms(q) is not None
            expected = frozenset(searcher.docs_for_query(q))
            assert scoring._docs(searcher, q, {}) == expected
        return True

    assert si._with_searcher(check)


def test_segment_parts_read_in_place_read_what_whoosh_reads(tmp_path: Path):
    """A compound segment's parts read in place (search/segments.py) give the bytes, arrays
    and stream reads Whoosh's own mapped copies give, and searches the same results."""
    import random

    from whoosh.filedb.compound import CompoundStorage
    from whoosh.filedb.filestore import FileStorage

    from wikimem.search.segments import _MappedCompound, _MappedPart
    from wikimem.search.store import _TrackingStorage

    si = _random_wiki(tmp_path)
    expected = _ranked(si)
    si.close()
    rng = random.Random(5)
    segs = sorted(p.name for p in si.index_dir.glob("*.seg"))
    assert len(segs) > 1
    ours_storage, whoosh_storage = _TrackingStorage(si.index_dir), FileStorage(str(si.index_dir))
    assert whoosh_storage.supports_mmap and not ours_storage.supports_mmap
    for seg in segs:
        ours = CompoundStorage(ours_storage.open_file(seg), use_mmap=ours_storage.supports_mmap)
        theirs = CompoundStorage(whoosh_storage.open_file(seg), use_mmap=True)
        assert isinstance(ours._file, _MappedCompound)
        assert sorted(ours.list()) == sorted(theirs.list())
        for name in ours.list():
            a, b = ours.open_file(name), theirs.open_file(name)
            assert isinstance(a, _MappedPart) and not a.is_real
            size = ours.file_length(name)
            assert a.get(0, size) == b.get(0, size) and len(a.get(0, size + 9)) == size
            for _ in range(40):
                pos = rng.randrange(size)
                n = rng.randrange(0, 64)
                assert a.get(pos, n) == b.get(pos, n)
                if pos + 8 * n <= size:
                    assert a.get_array(pos, "i", n // 4) == b.get_array(pos, "i", n // 4)
                a.seek(pos), b.seek(pos)
                assert a.read(n) == b.read(n) and a.tell() == b.tell()
                assert a.read_byte() == b.read_byte() if a.tell() < size else True
                assert a.read(5000) == b.read(5000) and a.tell() == b.tell()
            a.seek(3, 0), b.seek(3, 0)
            a.seek(4, 1), b.seek(4, 1)
            assert a.read() == b.read() and a.read(3) == b.read(3) == b""
            assert a.seek(-2, 2) == b.seek(-2, 2) and a.read(9) == b.read(9)
            sub_a, sub_b = a.subset(1, size - 2), b.subset(1, size - 2)
            assert sub_a.get(0, size) == sub_b.get(0, size)
            a.close(), b.close(), sub_a.close(), sub_b.close()
        mapped = ours._file._map
        ours.close(), theirs.close()
        assert mapped.closed  # every part closed first: unmapped now, not when collected
    ours_storage.close_files()
    fresh = SearchIndex(si.index_dir, si.wiki_dir)
    assert _ranked(fresh) == expected
    fresh.close()


def test_searches_read_in_place_rank_as_with_whoosh_s_own_storage(tmp_path: Path, monkeypatch):
    from whoosh.filedb.filestore import FileStorage

    from wikimem.search import store
    from wikimem.search.segments import _MappedCompound

    si = _random_wiki(tmp_path)
    ours = _ranked(si)
    maps = [f._map for f in si._held[0].storage._files if isinstance(f, _MappedCompound)]
    assert len(maps) == len(list(si.index_dir.glob("*.seg"))) > 1
    si.close()
    assert all(m.closed for m in maps)  # closing the searcher unmapped the segments

    class WhooshOwn(store._TrackingStorage):  # Whoosh maps and copies each part itself
        def __init__(self, path, files=None):
            super().__init__(path, files)
            self.supports_mmap = True

        def open_file(self, name, **kwargs):
            f = FileStorage.open_file(self, name, **kwargs)
            self._files.append(f.file)
            return f

    monkeypatch.setattr(store, "_TrackingStorage", WhooshOwn)
    plain = SearchIndex(si.index_dir, si.wiki_dir)
    assert _ranked(plain) == ours and ours
    assert type(plain._held[0].storage) is WhooshOwn
    plain.close()


def test_a_segment_that_cannot_be_mapped_is_read_through_the_file(tmp_path: Path, monkeypatch):
    from wikimem.search import segments

    si = _random_wiki(tmp_path)
    expected = _ranked(si)
    si.close()

    def no_map(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(segments.mmap, "mmap", no_map)
    fresh = SearchIndex(si.index_dir, si.wiki_dir)
    assert _ranked(fresh) == expected
    assert not any(isinstance(f, segments._MappedCompound)
                   for f in fresh._held[0].storage._files)
    assert fresh.rebuilt is False
    fresh.close()
