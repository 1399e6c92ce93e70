"""What the search index is: its fields, its analyzer and how it scores (Whoosh's BM25F).

Every other module of the package builds on these; none of them writes anything.
"""

from __future__ import annotations

from whoosh import scoring
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema

# Bump when the schema or what goes into it changes: an index built by another version is
# rebuilt on first use instead of being misread.
SCHEMA_VERSION = 3
# The body holds the whole page text, title (its heading) included. Separately boosted title
# and heading fields over-weighted a page's first sentence and the section names every session
# page shares, and cost recall on LongMemEval (see docs/BENCHMARKS.md).
SEARCH_FIELDS = ("body", "tags")

_ANALYZER = StemmingAnalyzer()


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
# The one weighting every searcher uses (scoring.py computes the same sums itself; the fast
# path reads its per-field B, see whoosh_internals.py).
WEIGHTING = scoring.BM25F()
