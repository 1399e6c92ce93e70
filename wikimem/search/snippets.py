"""Snippets: a hit's text around the query's words, the words in **bold**.

Snippets read the page file, not the index (the body is not stored): `plain_text` strips
the markdown, `make_snippet` picks the window with the most query terms.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from pathlib import Path

from wikimem.search.documents import _FRONTMATTER_BLOCK
from wikimem.search.schema import _ANALYZER

SNIPPET_MAX = 240
FALLBACK_SNIPPET = 200


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


def page_source(wiki_dir: Path, rel: str) -> str | None:
    """A page file's text as written (markdown), or None when it cannot be read."""
    try:
        return (wiki_dir / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return None


def page_text(wiki_dir: Path, rel: str, source: str | None = None) -> str | None:
    """A page's plain text for its snippet (from `source` when read already), or None when
    it cannot be read."""
    source = page_source(wiki_dir, rel) if source is None else source
    return None if source is None else plain_text(source)
