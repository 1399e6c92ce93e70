"""Markdown bodies: headings, Obsidian [[wikilinks]] and plain text, parsed with mistune 3.

`parse(body)` walks mistune's AST (so a wikilink inside a code span or a fenced block is code,
not a link) and returns a `Parsed` record. `link_key` applies Obsidian's
rule that a link resolves by file name: `[[2026-11-21-4f65f198]]`, `[[sessions/2026-11-21-
4f65f198]]` and `[[2026-11-21-4f65f198.md|that session]]` all reach the same page.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mistune

# `[[target]]`, `[[target|label]]`, `[[target#heading]]`, `[[target#heading|label]]`, and the
# embed form `![[target]]`. One line at most; no brackets inside.
WIKILINK_PATTERN = r"!?\[\[(?P<wl_inner>[^\[\]\n]+?)\]\]"

# Embeds of attachments (`![[diagram.png]]`) are files, not pages: never counted as links.
ATTACHMENT_SUFFIXES = frozenset(
    """
    png jpg jpeg gif svg webp bmp tif tiff ico avif heic pdf mp3 wav ogg m4a flac webm mp4 mov
    mkv avi csv tsv zip gz tar json yaml yml txt log canvas excalidraw
    """.split()
)

_PLUGINS = ["table", "strikethrough", "task_lists", "footnotes"]
_HTML_TAG = re.compile(r"<[^>]*>")
_md_lock = threading.Lock()
_md: mistune.Markdown | None = None


@dataclass(frozen=True)
class Parsed:
    """What a page body holds, for indexing and link checking."""

    headings: tuple[str, ...]  # plain text of every heading, in order
    links: tuple[str, ...]  # wikilink targets, deduplicated, first-seen order
    text: str  # the body as plain text (markdown syntax removed, code kept)
    title: str = ""  # plain text of the first level-1 heading, if any


def _parse_wikilink(inline: Any, m: re.Match, state: Any) -> int:
    raw = m.group(0)
    inner = m.group("wl_inner").replace("\\|", "|")  # `\|` is how tables escape the pipe
    target_part, _, label = inner.partition("|")
    target, _, anchor = target_part.partition("#")
    state.append_token(
        {
            "type": "wikilink",
            "raw": raw,
            "attrs": {
                "target": target.strip(),
                "anchor": anchor.strip(),
                "label": label.strip(),
                "embed": raw.startswith("!"),
            },
        }
    )
    return m.end()


def _markdown() -> mistune.Markdown:
    """The process-wide AST parser, built on first use (mistune is imported then: a search
    process, which only needs `link_key`, never loads it)."""
    global _md
    import mistune

    if _md is None:
        with _md_lock:
            if _md is None:
                md = mistune.create_markdown(renderer=None, plugins=_PLUGINS)
                md.inline.register("wikilink", WIKILINK_PATTERN, _parse_wikilink, before="link")
                _md = md
    return _md


class _Walker:
    def __init__(self) -> None:
        self.headings: list[str] = []
        self.title = ""
        self.links: list[str] = []
        self._seen: set[str] = set()

    def add_link(self, attrs: Mapping[str, Any]) -> None:
        target = attrs.get("target", "")
        if not target or (attrs.get("embed") and _is_attachment(target)):
            return
        if target not in self._seen:
            self._seen.add(target)
            self.links.append(target)

    def inline_text(self, tokens: Iterable[dict]) -> str:
        out: list[str] = []
        for tok in tokens:
            kind = tok.get("type")
            if kind == "wikilink":
                attrs = tok.get("attrs", {})
                self.add_link(attrs)
                shown = attrs.get("label") or " ".join(
                    p for p in (attrs.get("target"), attrs.get("anchor")) if p
                )
                out.append(shown)
            elif kind in ("text", "codespan"):
                raw = tok.get("raw", "")
                out.append(html.unescape(raw) if kind == "text" else raw)
            elif kind == "softbreak":
                out.append(" ")
            elif kind == "linebreak":
                out.append("\n")
            elif kind in ("inline_html", "footnote_ref"):
                continue
            elif "children" in tok:
                out.append(self.inline_text(tok["children"]))
            elif "raw" in tok:
                out.append(tok["raw"])
        return "".join(out)

    def block_text(self, tokens: Iterable[dict]) -> list[str]:
        """Plain-text lines for a list of block tokens."""
        parts: list[str] = []
        for tok in tokens:
            kind = tok.get("type")
            if kind == "heading":
                text = " ".join(self.inline_text(tok.get("children", ())).split())
                self.headings.append(text)
                if not self.title and tok.get("attrs", {}).get("level") == 1:
                    self.title = text
                parts.append(text)
            elif kind == "block_code":
                parts.append(tok.get("raw", "").rstrip("\n"))
            elif kind == "block_html":
                parts.append(html.unescape(_HTML_TAG.sub(" ", tok.get("raw", ""))).strip())
            elif kind in ("paragraph", "block_text"):
                parts.append(self.inline_text(tok.get("children", ())))
            elif kind in ("table_row", "table_head"):
                cells = [self.inline_text(c.get("children", ())) for c in tok.get("children", ())]
                parts.append(" | ".join(cells))
            elif kind in ("blank_line", "thematic_break"):
                continue
            elif "children" in tok:
                parts.extend(self.block_text(tok["children"]))
            elif "raw" in tok:
                parts.append(str(tok["raw"]))
        return [p for p in parts if p.strip()]


def _is_attachment(target: str) -> bool:
    name = target.rsplit("/", 1)[-1]
    return "." in name and name.rsplit(".", 1)[-1].lower() in ATTACHMENT_SUFFIXES


def parse(body: str) -> Parsed:
    """Headings, wikilink targets and plain text of a markdown page body."""
    tokens = _markdown()(body or "")
    walker = _Walker()
    lines = walker.block_text(tokens if isinstance(tokens, list) else [])
    return Parsed(
        headings=tuple(walker.headings),
        links=tuple(walker.links),
        text="\n".join(lines),
        title=walker.title,
    )


def link_key(target: str) -> str:
    """The name a link target or page path resolves by: last path part, no `.md`, lowercased."""
    name = target.strip().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].strip()
    if name.lower().endswith(".md"):
        name = name[:-3]
    return name.strip().lower()
