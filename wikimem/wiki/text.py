"""Text on a page: templates, escaping recorded text, quoting, inline code, links, titles.

Shared by every renderer (compile's session and memory pages, bootstrap's project pages);
pure functions of their input.
"""

from __future__ import annotations

import re
from functools import cache
from string import Template

from wikimem import datafiles

NONE = "_None recorded._"
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_SCHEME = r"<?\s*(?:javascript|vbscript|data)\s*:"
_SCRIPT_LINK = re.compile(r"\]\(\s*" + _SCHEME, re.IGNORECASE)
_SCRIPT_REF = re.compile(r"^\s{0,3}\[[^\]\n]*\]:\s*" + _SCHEME, re.IGNORECASE | re.MULTILINE)
TITLE_LEN = 72
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


@cache
def template(name: str) -> Template:
    """A page template from the wikimem.templates package."""
    text = datafiles.read_text("templates", name)
    return Template(text)


def escape_text(text: str) -> str:
    """Make recorded text inert in a markdown page: no HTML, no accidental wikilinks."""
    # Only a `<` that could open a tag or comment is escaped: `a < b` and `->` stay readable.
    text = _TAG_START.sub("&lt;", text)
    # A link to `javascript:` (or vbscript:, data:) would run in some viewers: `\(` or `\[`
    # keeps the text and breaks the link.
    text = _SCRIPT_LINK.sub(lambda m: m.group(0).replace("](", "]\\(", 1), text)
    text = _SCRIPT_REF.sub(lambda m: m.group(0).replace("[", "\\[", 1), text)
    return text.replace("[[", "\\[\\[").replace("]]", "\\]\\]")


def quote(text: str) -> str:
    """Recorded prose as a blockquote, so its headings cannot restructure the page."""
    lines = escape_text(text.strip()).splitlines() or [""]
    return "\n".join(f"> {ln}".rstrip() for ln in lines)


def code_span(text: str) -> str:
    """Inline code that survives backticks inside the text."""
    text = text.replace("\n", " ⏎ ")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def link_label(text: str) -> str:
    # No `<` that opens a tag: viewers without wikilinks show the label as raw markdown.
    return _TAG_START.sub("&lt;", re.sub(r"[\[\]|#^]", " ", text)).strip() or "untitled"


def wikilink(stem: str, title: str) -> str:
    return f"[[{stem}|{link_label(title)}]]"


def bullets(items: list[str]) -> str:
    return "\n".join(f"- {i}" for i in items) if items else NONE


def make_title(text: str, limit: int = TITLE_LEN) -> str:
    """A one-line title: the first sentence or line, cut on a word boundary."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = _SENTENCE_END.split(line, maxsplit=1)[0].strip()
    line = line.lstrip("/#>*- ").strip() or line
    if len(line) > limit:
        cut = line[: limit - 1]
        cut = cut[: cut.rfind(" ")] if " " in cut[limit // 2 :] else cut
        line = cut.rstrip(" ,;:-") + "…"
    return line
