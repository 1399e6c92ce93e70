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
# Terminal escape sequences: CSI (colours, cursor moves), OSC (titles, links), and the rest.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
                   r"|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_AS = {"\r": "\n", "\0": "\ufffd"}
_FENCE = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)$")


@cache
def template(name: str) -> Template:
    """A page template from the wikimem.templates package."""
    text = datafiles.read_text("templates", name)
    return Template(text)


def escape_text(text: str, blocks: bool = False) -> str:
    """Make recorded text inert in a markdown page: no HTML, no accidental wikilinks, no
    control characters. Code is kept as written (markdown shows it literally, so an escape
    there would show as `&lt;`): inline code spans, and with `blocks` (text that starts a block
    of its own: a blockquote, a section's body) fenced code blocks too."""
    parts = []
    for code, piece in split_code(strip_controls(text), blocks):
        parts.append(piece if code else _escape_prose(piece))
    return "".join(parts)


def _escape_prose(text: str) -> str:
    # Only a `<` that could open a tag or comment is escaped: `a < b` and `->` stay readable.
    text = _TAG_START.sub("&lt;", text)
    # A link to `javascript:` (or vbscript:, data:) would run in some viewers: `\(` or `\[`
    # keeps the text and breaks the link.
    text = _SCRIPT_LINK.sub(lambda m: m.group(0).replace("](", "]\\(", 1), text)
    text = _SCRIPT_REF.sub(lambda m: m.group(0).replace("[", "\\[", 1), text)
    return text.replace("[[", "\\[\\[").replace("]]", "\\]\\]")


def strip_controls(text: str) -> str:
    """Text without terminal escape sequences and control characters: tab and line breaks
    stay, a carriage return ends a line, a NUL shows as U+FFFD."""
    text = _ANSI.sub("", text.replace("\r\n", "\n"))
    return _CONTROL.sub(lambda m: _CONTROL_AS.get(m.group(0), ""), text)


def split_code(text: str, blocks: bool = False) -> list[tuple[bool, str]]:
    """`text` cut into (is code, piece): inline code spans (and with `blocks`, fenced code
    blocks) as markdown (CommonMark) reads them, and the prose around them.

    Only what is surely code counts as code: a code span opened and closed by equal backtick
    runs on one line; a fence at the start of a line (up to three spaces in), closed by a
    like fence or by the end of the text (markdown runs it to the end of its container), every
    line between indented at least as far as the fence (a line less indented could end a list
    item the fence is in, and with it the fence). Anything less certain is prose, escaped
    (safe, if less pretty)."""
    out: list[tuple[bool, str]] = []
    prose: list[str] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i]) if blocks else None
        end = _fence_end(lines, i, fence) if fence else None
        if end is not None:
            if prose:
                out += _split_spans("".join(prose))
                prose = []
            out.append((True, "".join(lines[i:end + 1])))
            i = end + 1
            continue
        prose.append(lines[i])
        i += 1
    if prose:
        out += _split_spans("".join(prose))
    return out


def _fence_end(lines: list[str], i: int, fence: re.Match) -> int | None:
    """The last line of the fenced block that opens at line `i`, or None when it is not
    surely one (see split_code)."""
    indent, mark, info = fence.groups()
    if mark[0] == "`" and "`" in info:
        return None  # an info string with a backtick: inline code, not a fence
    closing = re.compile(r" {0,3}" + re.escape(mark[0]) + "{" + str(len(mark)) + r",}[ \t]*$")
    for j in range(i + 1, len(lines)):
        line = lines[j].rstrip("\n")
        if line.strip() and len(line) - len(line.lstrip(" ")) < len(indent):
            return None
        if closing.match(line):
            return j
    return len(lines) - 1


def _split_spans(text: str) -> list[tuple[bool, str]]:
    """Inline code spans of one run of prose lines (see split_code)."""
    out: list[tuple[bool, str]] = []
    start = pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2  # an escaped character (a backslash before a backtick opens nothing)
            continue
        if char != "`":
            pos += 1
            continue
        run = len(text) - pos - len(text[pos:].lstrip("`"))
        line_end = text.find("\n", pos)
        line_end = len(text) if line_end < 0 else line_end
        close = re.compile(r"(?<!`)" + "`" * run + r"(?!`)").search(text, pos + run, line_end)
        if close is None:
            pos += run
            continue
        if pos > start:
            out.append((False, text[start:pos]))
        out.append((True, text[pos:close.end()]))
        start = pos = close.end()
    if start < len(text):
        out.append((False, text[start:]))
    return out


def quote(text: str) -> str:
    """Recorded prose as a blockquote, so its headings cannot restructure the page."""
    lines = escape_text(text.strip(), blocks=True).splitlines() or [""]
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
    # No `<` that opens a tag (but in inline code): viewers without wikilinks show the label
    # as raw markdown.
    text = strip_controls(re.sub(r"[\[\]|#^]", " ", text))
    return "".join(piece if code else _TAG_START.sub("&lt;", piece)
                   for code, piece in split_code(text)).strip() or "untitled"


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
