"""What the search index is: its fields, its analyzer and how it scores (Whoosh's BM25F).

Every other module of the package builds on these; none of them writes anything.
"""

from __future__ import annotations

import math
import re

from whoosh import scoring
from whoosh.analysis import (
    STOP_WORDS,
    BiWordFilter,
    Filter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema

# Bump when the schema or what goes into it changes: an index built by another version is
# rebuilt on first use instead of being misread.
SCHEMA_VERSION = 5
# The body holds the whole page text, title (its heading) included. Separately boosted title
# and heading fields over-weighted a page's first sentence and the section names every session
# page shares, and cost recall on LongMemEval (see docs/BENCHMARKS.md).
SEARCH_FIELDS = ("body", "tags")
# Adjacent words of the body as one term each ("high_school"), searched with the question's own
# adjacent words: a pair has its own idf, so two words a page says side by side weigh as much
# as the pair is rare. A pair counts a quarter of a word (docs/BENCHMARKS.md, "Ranking": the
# weights measured).
PAIR_WEIGHT = 0.25

# A code word's parts: a run of capitals before a capitalized word (HTTP|Server), a word
# with at most one leading capital (parse|Config), a run of capitals or digits.
_CODE_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z0-9]+")
_CODE_SPLIT = re.compile(r"[._]+")


class CodeWordFilter(Filter):
    """Each word, then (when it has any) its parts: `parseConfig`, `parse_config`,
    `HTTPServerError` and `wikimem.search.index` are found by the whole word as written and by
    "parse config", "server error", "search index". Agents search for code words, and people
    write them in whichever case the code uses."""

    def __call__(self, tokens):
        for t in tokens:
            text = t.text
            yield t
            if not (_CODE_SPLIT.search(text) or not (text.islower() or text.isupper())):
                continue
            parts = [p for chunk in _CODE_SPLIT.split(text) for p in _CODE_PART.findall(chunk)]
            if len(parts) > 1 or (parts and parts[0] != text):
                for part in parts:
                    t.text = part
                    yield t


# Words as Whoosh's default tokenizer finds them ("v1.2" and "hook.py" stay one word), their
# code parts, lowercased, without stop words and one-letter words, stemmed (Porter).
_ANALYZER = (RegexTokenizer() | CodeWordFilter() | LowercaseFilter()
             | StopFilter(stoplist=STOP_WORDS, minsize=2) | StemFilter(cachesize=50000))


# The body's words lowercased, without stop words, stemmed, as adjacent pairs: "the high
# school reunion" gives high_school and school_reunion (no code-word parts: pairs of what
# was written).
_PAIR_ANALYZER = (RegexTokenizer() | LowercaseFilter() | StopFilter(stoplist=STOP_WORDS, minsize=2)
                  | StemFilter(cachesize=50000) | BiWordFilter(sep="_"))


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
        pairs=TEXT(analyzer=_PAIR_ANALYZER, phrase=False, field_boost=PAIR_WEIGHT),
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


class Bm25(scoring.BM25F):
    """Whoosh's BM25F with the probabilistic (Robertson–Spärck Jones) idf BM25 is defined
    with, kept positive as Lucene does: log(1 + (N - n + 0.5) / (n + 0.5)).

    Whoosh's default idf, log(N / (n + 1)) + 1, is TF-IDF's: a word on every page still
    weighs 1, a quarter of the rarest word's weight in a 50-page wiki, so the filler of a
    question ("what", "was", "mentioned") outvotes the one word that names what is asked.
    """

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        n = parent.doc_frequency(fieldname, text)
        total = parent.doc_count_all()
        return math.log(1 + (total - n + 0.5) / (n + 0.5))


SCHEMA = make_schema()
# The one weighting every searcher uses (scoring.py computes the same sums itself; the fast
# path reads its per-field B, see whoosh_internals.py).
WEIGHTING = Bm25()
