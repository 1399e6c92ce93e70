"""Reranking: what a question says beyond its words, applied to the best BM25F candidates.

BM25F scores words one at a time. A question also says *when* ("two weeks ago", "last
weekend", "in March": the pages dated then are likelier), *that it wants the latest state*
("what do I use now", "most recently": newer pages are likelier), and *which words belong
together* ("high school reunion": pages where they stand side by side are likelier). `cues`
reads these from the question once; `rerank` multiplies each candidate's score by what it
earns. Every boost is bounded, so a page without the question's words never overtakes one
that has them by date alone; it only reorders pages BM25F found close.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from wikimem.search.documents import parse_date

# How much each cue can raise a score (a factor of 1 + this, at most).
DATE_BOOST = 0.5
RECENCY_BOOST = 0.15
PHRASE_BOOST = 0.3

_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
            "couple": 2, "a couple": 2, "a couple of": 2, "couple of": 2, "few": 3, "a few": 3,
            "several": 4}
_UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), 1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_WEEKDAYS = {d: i for i, d in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}

_COUNT = r"(\d{1,3}|a couple of|a couple|couple of|a few|few|several|an?|one|two|three|four|" \
         r"five|six|seven|eight|nine|ten|eleven|twelve)"
_AGO = re.compile(r"\b" + _COUNT + r"\s+(day|week|month|year)s?\s+(?:ago|back|earlier)\b",
                  re.I)
_LAST = re.compile(r"\b(last|past|previous|this)\s+(day|week|weekend|month|year|" +
                   "|".join(_WEEKDAYS) + r")\b", re.I)
_SIMPLE = re.compile(r"\b(yesterday|today|tonight|the other day|day before yesterday)\b", re.I)
_MONTH_DAY = re.compile(r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) +
                        r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b")
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" +
                        "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b")
_IN_MONTH = re.compile(r"\b(?:in|during|since|early|late|mid|of)\s+(" +
                       "|".join(m for m in _MONTHS if len(m) > 3 or m == "may") + r")\b")
_RECENT = re.compile(r"\b(latest|most recent(?:ly)?|currently|current|now|right now|nowadays|"
                     r"these days|lately|recently|still|anymore|any more|at the moment|"
                     r"so far|up to date|newest|last time)\b")
_WORD = re.compile(r"\w+")
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"]+(?:\s|$)")


@dataclass
class Cues:
    """What a question asks for besides its words."""

    # (center, tolerance): the question names a time; pages dated near it are likelier.
    when: list[tuple[datetime, timedelta]] = field(default_factory=list)
    recent: bool = False
    # Adjacent content words of the question, as patterns that find them side by side.
    phrases: list[re.Pattern[str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.when or self.recent or self.phrases)


def without_times(question: str) -> str:
    """The question without the relative times it names ("two weeks ago", "yesterday", "last
    month"): their words say when, not what, and would match pages by the word "ago". A
    weekday or a month name stays: a page may name it."""
    text = _AGO.sub(" ", question)
    text = _SIMPLE.sub(" ", text)
    return _LAST.sub(lambda m: " " if m.group(2).lower() in _UNITS or
                     m.group(2).lower() == "weekend" else m.group(0), text)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBERS.get(text, 1)


def _month_start(now: datetime, month: int) -> datetime:
    """The most recent first day of `month` that is not after `now`."""
    year = now.year if month <= now.month else now.year - 1
    return now.replace(year=year, month=month, day=1, hour=0, minute=0, second=0,
                       microsecond=0)


def _times(text: str, now: datetime) -> list[tuple[datetime, timedelta]]:
    """The times a (lowercased) question names, each as (center, tolerance)."""
    day = timedelta(days=1)
    found: list[tuple[datetime, timedelta]] = []
    for m in _AGO.finditer(text):
        span = _number(m.group(1)) * _UNITS[m.group(2)] * day
        found.append((now - span, max(day * 1.5, span * 0.3)))
    for m in _SIMPLE.finditer(text):
        back = {"yesterday": 1, "today": 0, "tonight": 0, "the other day": 3,
                "day before yesterday": 2}[m.group(1)]
        found.append((now - back * day, day * (2 if back == 3 else 1)))
    for m in _LAST.finditer(text):
        which, unit = m.group(1), m.group(2)
        if unit in _WEEKDAYS:
            back = (now.weekday() - _WEEKDAYS[unit]) % 7 or 7
            if which == "this":
                back %= 7
            found.append((now - back * day, day))
        elif unit == "weekend":
            back = (now.weekday() - 5) % 7 or 7
            found.append((now - (back - 0.5) * day, day * 1.5))
        else:
            span = _UNITS[unit] * day
            center = now - span / 2 if which == "this" else now - span
            found.append((center, span * 0.6))
    for m in _MONTH_DAY.finditer(text):
        start = _month_start(now, _MONTHS[m.group(1)])
        with contextlib.suppress(ValueError):  # a day the month does not have
            found.append((start.replace(day=int(m.group(2))), day * 1.5))
    for m in _DAY_MONTH.finditer(text):
        start = _month_start(now, _MONTHS[m.group(2)])
        with contextlib.suppress(ValueError):
            found.append((start.replace(day=int(m.group(1))), day * 1.5))
    if not found:
        for m in _IN_MONTH.finditer(text):
            start = _month_start(now, _MONTHS[m.group(1)])
            found.append((start + timedelta(days=15), timedelta(days=16)))
    return found


def cues(question: str, now: datetime | None, is_word: Callable[[str], bool]) -> Cues:
    """What `question` asks for besides its words; `now` is when it is asked (naive UTC or
    aware), `is_word` says whether a word counts (not a stop word)."""
    text = " ".join((question or "").lower().split())
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    found = Cues(when=_times(text, now), recent=bool(_RECENT.search(text)))
    seen: set[tuple[str, str]] = set()
    for first, second in _pairs(text):
        if not (is_word(first) and is_word(second)) or (first, second) in seen:
            continue
        if first.isdigit() or second.isdigit():
            continue
        seen.add((first, second))
        found.phrases.append(re.compile(
            rf"{re.escape(first)}\w{{0,3}}[\W_]{{1,3}}{re.escape(second)}"))
    return found


def _pairs(text: str) -> list[tuple[str, str]]:
    """Adjacent words of each clause (punctuation ends one: "ago. What" is no pair)."""
    pairs = []
    for clause in _CLAUSE.split(text):
        words = _WORD.findall(clause)
        pairs += zip(words, words[1:], strict=False)
    return pairs


def _has_phrase(pattern: re.Pattern[str], text: str) -> bool:
    """Whether `pattern` (a phrase's, led by its first word's letters) matches at the start
    of a word. The word start is checked here, not with a leading `\\b`: a pattern that starts
    with letters is searched for by its literal prefix, several times faster."""
    for m in pattern.finditer(text):
        start = m.start()
        if not start or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            return True
    return False


def _closeness(when: datetime, center: datetime, tolerance: timedelta) -> float:
    """1 within the tolerance of the center, falling to 0 at twice the tolerance."""
    off = abs(when - center)
    if off <= tolerance:
        return 1.0
    return max(0.0, 2.0 - off / tolerance)


def page_when(stored: dict) -> datetime | None:
    """When a page happened: its `created` date (a session's start), else `updated`."""
    return parse_date(stored.get("created")) or parse_date(stored.get("updated"))


def rerank(
    ranked: list[tuple[float, dict]], found: Cues, text_of: Callable[[dict], str | None]
) -> list[tuple[float, dict]]:
    """`ranked` (score, stored fields) with each score raised by the cues the page meets,
    best first. `text_of` gives a page's plain text (None: unreadable) for the phrases."""
    if not found or not ranked:
        return ranked
    dates = [page_when(stored) for _, stored in ranked]
    order: dict[datetime, float] = {}
    if found.recent:
        known = sorted({d for d in dates if d is not None})
        if len(known) > 1:
            order = {d: i / (len(known) - 1) for i, d in enumerate(known)}
    out = []
    for (score, stored), when in zip(ranked, dates, strict=True):
        factor = 1.0
        if found.when and when is not None:
            factor += DATE_BOOST * max(_closeness(when, c, t) for c, t in found.when)
        if order and when is not None:
            factor += RECENCY_BOOST * order[when]
        if found.phrases:
            text = text_of(stored)
            if text:
                text = text.lower()  # (the patterns are: a case-blind search is far slower)
                hits = sum(1 for p in found.phrases if _has_phrase(p, text))
                factor += PHRASE_BOOST * hits / len(found.phrases)
        out.append((score * factor, stored))
    out.sort(key=lambda item: (-item[0], item[1].get("path", "")))
    return out
