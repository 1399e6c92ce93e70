"""wikimem.wiki.markdown: headings, wikilinks, plain text and broken-link detection."""

from __future__ import annotations

from conftest import resolve_links
from hypothesis import given, settings
from hypothesis import strategies as st

from wikimem.wiki.markdown import Parsed, link_key, parse

BODY = """# Compile the wiki

Intro with **bold**, _emphasis_ and a [web link](https://example.com).

## Decisions [[use-whoosh|the Whoosh decision]]

- See [[2026-11-21-4f65f198]] and [[sessions/2026-11-21-4f65f198#Commands]].
- Also [[use-whoosh#Context|context]] again, and [[ spaced target ]].

Inline `[[not-a-link]]` code.

```python
x = "[[also-not-a-link]]"
```

    [[indented-code-not-a-link]]

Setext heading
--------------
"""


def test_headings_in_order_as_plain_text():
    parsed = parse(BODY)
    assert parsed.headings == (
        "Compile the wiki",
        "Decisions the Whoosh decision",
        "Setext heading",
    )
    assert parsed.title == "Compile the wiki"


def test_links_strip_labels_and_anchors_and_are_deduplicated():
    assert parse(BODY).links == (
        "use-whoosh",
        "2026-11-21-4f65f198",
        "sessions/2026-11-21-4f65f198",
        "spaced target",
    )


def test_links_in_code_are_ignored():
    parsed = parse(BODY)
    for target in ("not-a-link", "also-not-a-link", "indented-code-not-a-link"):
        assert target not in parsed.links
    # ... but the code itself is kept as text
    assert "[[not-a-link]]" in parsed.text
    assert 'x = "[[also-not-a-link]]"' in parsed.text


def test_plain_text_drops_markdown_syntax():
    text = parse(BODY).text
    assert "Intro with bold, emphasis and a web link." in text
    assert "**" not in text and "https://example.com" not in text
    assert "the Whoosh decision" in text  # a link's label is what a reader sees
    assert "See 2026-11-21-4f65f198 and" in text


def test_first_seen_order_and_exact_dedupe():
    parsed = parse("[[b]] [[a]] [[b|again]] [[a#x]] [[c]]")
    assert parsed.links == ("b", "a", "c")


def test_embeds_of_notes_count_but_attachments_do_not():
    parsed = parse("![[diagram.png]] ![[other-note]] ![[report.pdf|the report]]")
    assert parsed.links == ("other-note",)


def test_escaped_pipe_in_tables_and_self_anchor():
    body = "| a | b |\n|---|---|\n| [[page\\|Label]] | 2 |\n\n[[#Local heading]]\n"
    parsed = parse(body)
    assert parsed.links == ("page",)
    assert "Label" in parsed.text


def test_empty_body():
    assert parse("") == Parsed(headings=(), links=(), text="")


def test_link_key():
    assert link_key("sessions/2026-11-21-4f65f198.md") == "2026-11-21-4f65f198"
    assert link_key("2026-11-21-4f65f198") == "2026-11-21-4f65f198"
    assert link_key(" Decisions/Use-Whoosh ") == "use-whoosh"
    assert link_key("index.md") == "index"


def test_resolve_links_reports_only_broken_targets():
    pages = {
        "index.md": parse("[[2026-11-21-4f65f198]] [[Use-Whoosh]] [[missing-page]]"),
        "sessions/2026-11-21-4f65f198.md": parse("[[index]] [[sessions/2026-11-21-4f65f198]]"),
        "decisions/use-whoosh.md": parse("[[decisions/use-whoosh.md]] [[gone|x]] [[gone#y]]"),
        "log.md": parse("no links at all"),
    }
    assert resolve_links(pages) == {
        "index.md": ["missing-page"],
        "decisions/use-whoosh.md": ["gone"],
    }


def test_resolve_links_all_good_is_empty():
    assert resolve_links({"a.md": parse("[[b]]"), "b.md": parse("[[a]]")}) == {}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab #|[]`\n*_-!\\>")), max_size=80))
def test_parse_never_fails_and_links_are_clean(body):
    parsed = parse(body)
    for target in parsed.links:
        assert target == target.strip() and target
        assert not any(ch in target for ch in "|#[]\n")
    assert len(set(parsed.links)) == len(parsed.links)
