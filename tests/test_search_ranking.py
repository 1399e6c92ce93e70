"""Ranking: the idf, the question's cues (dates, recency, phrases) and code identifiers.

Each test builds a small wiki where the old ranking put the wrong page first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from wikimem.search.index import SearchIndex, _is_word
from wikimem.search.rerank import cues
from wikimem.wiki.pages import Page, write_pages

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday
FILLER = "The weather was mild and the office was quiet that afternoon."


def _note(path: str, body: str, created: str = "2026-10-01T09:00:00Z") -> Page:
    return Page(path, {"title": path.rsplit("/", 1)[-1][:-3], "kind": "note",
                       "status": "active", "created": created, "updated": created}, body)


def _index(tmp_path: Path, pages: list[Page]) -> SearchIndex:
    wiki = tmp_path / "wiki"
    write_pages(wiki, pages)
    si = SearchIndex(tmp_path / "index", wiki)
    si.rebuild()
    return si


def _paths(si: SearchIndex, question: str, **kwargs) -> list[str]:
    return [h.path for h in si.search(question, now=NOW, **kwargs)]


def test_a_rare_word_outweighs_the_filler_most_pages_have(tmp_path: Path):
    """The probabilistic idf: words most pages have ("what", "was", "mentioned") weigh
    almost nothing, so the one page with the asked-for word comes first (with TF-IDF's idf
    the pages repeating the filler won)."""
    pages = [_note("notes/b-streaming.md", "Our team listens to podcasts on a streaming "
                   "service during long drives across the country every summer.")]
    pages += [_note(f"notes/a{i}.md", f"What was mentioned? What was mentioned, and what "
                                      f"was said {i}.") for i in range(5)]
    pages += [_note(f"notes/c{i}.md", f"{FILLER} what was mentioned") for i in range(3)]
    si = _index(tmp_path, pages)
    assert _paths(si, "what was mentioned about streaming")[0] == "notes/b-streaming.md"
    si.close()


def test_cues_read_the_times_a_question_names():
    def centers(question: str) -> list[str]:
        return [c.strftime("%Y-%m-%d") for c, _ in cues(question, NOW, _is_word).when]

    assert centers("what did I cook two weeks ago?") == ["2026-11-06"]
    assert centers("the bug from a couple of days ago") == ["2026-11-18"]
    assert centers("what did we fix yesterday") == ["2026-11-19"]
    assert centers("the deploy last Saturday") == ["2026-11-14"]
    assert centers("what did I decide on March 3rd") == ["2026-03-03"]
    assert centers("the incident on the 5th of November") == ["2026-11-05"]
    assert centers("what we planned in December") == ["2025-12-16"]
    assert centers("fix the login test") == []
    assert centers("the bug on February 30th") == []  # no such day: no cue, no error
    pairs = [p.pattern for p in cues("a few days ago. What was it?", NOW, _is_word).phrases]
    assert not any("ago" in p and "what" in p for p in pairs)
    assert cues("what do we use now for caching?", NOW, _is_word).recent
    assert not cues("how do we cache", NOW, _is_word).recent


def test_a_page_from_the_time_the_question_names_comes_first(tmp_path: Path):
    body = f"{FILLER} We talked about the soccer tournament."
    si = _index(tmp_path, [
        _note("notes/a-march.md", body, "2026-03-02T10:00:00Z"),
        _note("notes/b-november.md", body, "2026-11-06T10:00:00Z"),
    ])
    assert _paths(si, "the soccer tournament two weeks ago")[0] == "notes/b-november.md"
    assert _paths(si, "the soccer tournament in March")[0] == "notes/a-march.md"
    si.close()


def test_asking_for_the_latest_state_prefers_the_newer_page(tmp_path: Path):
    body = f"{FILLER} The database for sessions is chosen here."
    si = _index(tmp_path, [
        _note("notes/a-old.md", body, "2026-01-05T10:00:00Z"),
        _note("notes/b-new.md", body, "2026-11-05T10:00:00Z"),
    ])
    assert _paths(si, "which database for sessions do we use now")[0] == "notes/b-new.md"
    si.close()


def test_words_side_by_side_beat_the_same_words_apart(tmp_path: Path):
    si = _index(tmp_path, [
        _note("notes/a-apart.md", "The school is high on a hill. Reunion soon, in June."),
        _note("notes/b-together.md", "The high school reunion is in June, said the letter "
                                     "from the class."),
    ])
    assert _paths(si, "should I attend my high school reunion?")[0] == "notes/b-together.md"
    si.close()


def test_cues_do_not_change_the_pages_found(tmp_path: Path):
    """A date, recency or phrase cue only reorders pages that have the question's words."""
    si = _index(tmp_path, [
        _note("notes/a.md", f"{FILLER} Soccer practice.", "2026-11-06T10:00:00Z"),
        _note("notes/b.md", "Nothing of the kind here at all.", "2026-11-06T10:00:00Z"),
    ])
    assert _paths(si, "soccer two weeks ago now") == ["notes/a.md"]
    si.close()


@pytest.mark.parametrize("question", ["parseConfig", "parse config", "parse_config"])
def test_code_identifiers_are_found_by_their_parts_and_whole(tmp_path: Path, question: str):
    si = _index(tmp_path, [
        _note("notes/camel.md", f"{FILLER} We renamed parseConfig last week."),
        _note("notes/snake.md", f"{FILLER} The helper parse_config reads the file."),
        _note("notes/other.md", f"{FILLER} Nothing about configuration parsing."),
    ])
    found = _paths(si, question)
    assert set(found[:2]) == {"notes/camel.md", "notes/snake.md"}
    si.close()


@pytest.mark.parametrize(("question", "page"), [
    ("wikimem.search.index", "notes/dotted.md"),
    ("search index module", "notes/dotted.md"),
    ("src/wikimem/hook.py", "notes/path.md"),
    ("hook", "notes/path.md"),
    ("HTTPServerError", "notes/acronym.md"),
    ("server error", "notes/acronym.md"),
])
def test_dotted_names_paths_and_acronyms(tmp_path: Path, question: str, page: str):
    si = _index(tmp_path, [
        _note("notes/dotted.md", f"{FILLER} The module wikimem.search.index holds it."),
        _note("notes/path.md", f"{FILLER} Edited src/wikimem/hook.py today."),
        _note("notes/acronym.md", f"{FILLER} It raised HTTPServerError twice."),
        _note("notes/other.md", f"{FILLER} Unrelated words only."),
    ])
    assert _paths(si, question)[0] == page
    si.close()


def test_the_words_of_a_relative_time_are_not_searched_for(tmp_path: Path):
    """"Two weeks ago" is a cue, not words to match: a page saying "weeks ago" is not the
    better answer to "the tournament two weeks ago"."""
    si = _index(tmp_path, [
        _note("notes/a-ago.md", "Weeks ago, and days ago, the tournament was planned.",
              "2025-01-01T10:00:00Z"),
        _note("notes/b-plain.md", "The tournament went well for the whole team.",
              "2025-01-01T10:00:00Z"),
    ])
    assert _paths(si, "the tournament two weeks ago")[0] == "notes/b-plain.md"
    assert _paths(si, "weeks ago")[0] == "notes/a-ago.md"  # nothing else asked: searched
    si.close()


def test_a_phrase_in_a_sessions_transcript_counts_for_its_session(tmp_path: Path, monkeypatch):
    """A session is indexed with its transcript's words, so the phrase cue reads both: the
    text the cue is given for a session page holds its transcript's prompts."""
    from wikimem.search import index as search_index

    meta = {"title": "reunion", "kind": "session", "status": "active",
            "created": "2026-10-01T09:00:00Z", "updated": "2026-10-01T09:00:00Z",
            "transcript": "transcripts/reunion.transcript.md"}
    pages = [Page("sessions/reunion.md", meta, f"# Reunion\n\n{FILLER}"),
             Page("transcripts/reunion.transcript.md",
                  {"title": "Transcript: reunion", "kind": "transcript", "status": "active",
                   "created": "2026-10-01T09:00:00Z", "updated": "2026-10-01T09:00:00Z"},
                  "# Transcript\n\n**Prompt 1**\n\n> Loved the high school debate team.\n")]
    si = _index(tmp_path, pages)
    given: list[str] = []
    real = search_index.rerank

    def spy(ranked, found, text_of):
        given.extend(text_of(stored) or "" for _, stored in ranked)
        return real(ranked, found, text_of)

    monkeypatch.setattr(search_index, "rerank", spy)
    assert _paths(si, "should I go to my high school reunion") == ["sessions/reunion.md"]
    assert any("Loved the high school debate team." in text for text in given)
    si.close()


def test_words_side_by_side_outrank_the_same_words_apart(tmp_path: Path, monkeypatch):
    """The pairs field: a page saying "high school" comes before one with "high" and
    "school" apart as often, with no cue at all (the phrase cue off)."""
    from wikimem.search import rerank

    monkeypatch.setattr(rerank, "PHRASE_BOOST", 0.0)
    pages = [_note("notes/apart.md", f"The school sits on a high hill. {FILLER}"),
             _note("notes/together.md", f"The high school sits on a hill. {FILLER}")]
    si = _index(tmp_path, pages)
    assert _paths(si, "my high school friends") == ["notes/together.md", "notes/apart.md"]
    # One word: no pair, the two pages tie on their words (path order).
    assert _paths(si, "school") == ["notes/apart.md", "notes/together.md"]
    si.close()
