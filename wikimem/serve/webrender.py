"""Page markdown to HTML for the browser, safe by construction.

Page content is untrusted: it came from agent sessions (a prompt may hold `<script>`). The body
is parsed by mistune (the parser `wiki.markdown` uses, with its `[[wikilink]]` rule) and
rendered by `_SafeRenderer`, which escapes every piece of text and every attribute and never
passes HTML through: raw HTML in a page (inline or block) is shown as text. A link keeps its
URL only when it is http(s), mailto, an in-page `#anchor` or a page of the wiki; anything else
(`javascript:`, `data:`, `vbscript:`, ...) becomes plain text. Images are never loaded (a
remote image would tell its server who reads the page): they are shown as links. Tests feed
the renderer hostile markdown and parse its output against an allow-list of tags and
attributes (tests/test_web.py).
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import mistune

from wikimem.wiki.markdown import WIKILINK_PATTERN, _is_attachment, _parse_wikilink, link_key

_PLUGINS = ["table", "strikethrough", "task_lists"]
_SAFE_SCHEMES = ("http", "https", "mailto")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
_lock = threading.Lock()
_parser: mistune.Markdown | None = None
_renderer: _SafeRenderer | None = None


def esc(value: Any) -> str:
    """Text made safe for an HTML element or a quoted attribute."""
    return html.escape(str(value), quote=True)


class PageLinks:
    """Resolves link targets to pages the way Obsidian does: by path, else by file name."""

    def __init__(self, pages: list[str]):
        self.listed = set(pages)
        self.by_key: dict[str, list[str]] = {}
        for p in pages:
            self.by_key.setdefault(link_key(p), []).append(p)

    def resolve(self, target: str, source: str) -> str | None:
        """The page `target` reaches from page `source`, or None."""
        target = target.strip().replace("\\", "/").removeprefix("./")
        if not target or target.startswith("/") or ".." in target.split("/"):
            return None
        for cand in (target, target + ".md"):
            if cand in self.listed:
                return cand
        hits = self.by_key.get(link_key(target), [])
        if len(hits) > 1:  # like Obsidian, prefer the page next to the one that links
            folder = PurePosixPath(source).parent
            near = [p for p in hits if PurePosixPath(p).parent == folder]
            hits = near or sorted(hits)[:1]
        return hits[0] if hits else None

    def relative(self, url: str, source: str) -> str | None:
        """A markdown link like `../decisions/x.md`, relative to the page: the page or None."""
        path = url.split("#", 1)[0].split("?", 1)[0]
        parts: list[str] = list(PurePosixPath(source).parent.parts)
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    return None
                parts.pop()
            else:
                parts.append(part)
        joined = "/".join(parts)
        return next((c for c in (joined, joined + ".md") if c in self.listed), None)


def _safe_url(url: str) -> str | None:
    """The URL when it is one a browser may follow from untrusted text, else None."""
    cleaned = _CONTROL.sub("", html.unescape(url))
    if cleaned.startswith("#"):
        return cleaned
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError:
        return None
    return cleaned if scheme in _SAFE_SCHEMES else None


class _Call(threading.local):
    """What one render needs (the renderer is shared: each thread renders its own page)."""

    links: PageLinks
    source: str
    href: Callable[[str], str]
    missing: list[str]


class _SafeRenderer(mistune.HTMLRenderer):
    """mistune's HTML renderer with raw HTML escaped and links and images filtered."""

    def __init__(self) -> None:
        super().__init__(escape=True)
        self.call = _Call()

    @property
    def links(self) -> PageLinks:
        return self.call.links

    @property
    def source(self) -> str:
        return self.call.source

    def href(self, page: str) -> str:
        return self.call.href(page)

    def text(self, text: str) -> str:
        # mistune leaves character references in text as written (`&lt;`): decode, escape all
        return esc(html.unescape(text))

    def inline_html(self, html_text: str) -> str:
        return esc(html_text)

    def block_html(self, html_text: str) -> str:
        return '<pre class="raw-html">' + esc(html_text.strip("\n")) + "</pre>\n"

    def codespan(self, text: str) -> str:
        return "<code>" + esc(text) + "</code>"

    def block_code(self, code: str, info: str | None = None) -> str:
        return "<pre><code>" + esc(code) + "</code></pre>\n"

    def heading(self, text: str, level: int, **attrs: Any) -> str:
        return f"<h{int(level)}>{text}</h{int(level)}>\n"

    def list(self, text: str, ordered: bool, **attrs: Any) -> str:
        if ordered:
            start = attrs.get("start")
            first = f' start="{int(start)}"' if isinstance(start, int) else ""
            return f"<ol{first}>\n{text}</ol>\n"
        return f"<ul>\n{text}</ul>\n"

    def _page_link(self, page: str, label: str, anchor: str = "") -> str:
        return f'<a class="wikilink" href="{esc(self.href(page))}">{label}</a>'

    def link(self, text: str, url: str, title: str | None = None) -> str:
        safe = _safe_url(url)
        if safe is None and not urlsplit(_CONTROL.sub("", url)).scheme:
            page = self.links.relative(url, self.source)
            if page is not None:
                return self._page_link(page, text)
        if safe is None:
            return f'<span class="dropped-link" title="link not followed">{text}</span>'
        external = "" if safe.startswith("#") else ' rel="noopener noreferrer nofollow"'
        return f'<a href="{esc(safe)}"{external}>{text}</a>'

    def image(self, text: str, url: str, title: str | None = None) -> str:
        return self.link(f"image: {text}" if text else "image", url)

    def wikilink(self, raw: str, target: str, anchor: str, label: str, embed: bool) -> str:
        shown = esc(label or " ".join(p for p in (target, anchor) if p))
        if embed and _is_attachment(target):
            return f'<span class="attachment">{shown}</span>'
        page = self.links.resolve(target, self.source)
        if page is None:
            self.call.missing.append(target)
            return f'<span class="wikilink missing" title="no such page">{shown}</span>'
        return self._page_link(page, shown, anchor)


def _markdown() -> mistune.Markdown:
    """The parser: mistune's block and inline rules, the plugins, and the wikilink rule."""
    global _parser, _renderer
    if _parser is None:
        with _lock:
            if _parser is None:
                _renderer = _SafeRenderer()
                md = mistune.create_markdown(renderer=_renderer, plugins=_PLUGINS)
                md.inline.register("wikilink", WIKILINK_PATTERN, _parse_wikilink, before="link")
                _parser = md
    return _parser


def render_markdown(body: str, *, source: str, links: PageLinks,
                    href: Callable[[str], str]) -> tuple[str, list[str]]:
    """(HTML of a page body, the wikilink targets that matched no page)."""
    md = _markdown()
    call = _renderer.call
    call.links, call.source, call.href, call.missing = links, source, href, []
    return md(body or ""), call.missing


def properties_html(meta: dict, *, source: str, links: PageLinks,
                    href: Callable[[str], str]) -> str:
    """Frontmatter as a definition list; `[[links]]` in values become links."""
    rows = []
    for key in sorted(meta, key=str):
        rows.append(f"<dt>{esc(key)}</dt><dd>{_value_html(meta[key], source, links, href)}</dd>")
    return f'<dl class="properties">{"".join(rows)}</dl>' if rows else ""


_VALUE_LINK = re.compile(r"\[\[([^\[\]\n|#]+)(?:#[^\[\]\n|]*)?(?:\|([^\[\]\n]*))?\]\]")


def _value_html(value: Any, source: str, links: PageLinks, href: Callable[[str], str]) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{esc(k)}: {_value_html(v, source, links, href)}"
                         for k, v in value.items())
    if isinstance(value, list | tuple):
        # unquoted `[[x]]` in YAML is a nested list ["x"]: shown as the link it was meant as
        return ", ".join(_value_html(v if not _is_bare(v) else f"[[{v[0]}]]", source, links,
                                     href) for v in value)
    text = "" if value is None else str(value)
    out, last = [], 0
    for m in _VALUE_LINK.finditer(text):
        out.append(esc(text[last:m.start()]))
        page = links.resolve(m.group(1), source)
        shown = esc(m.group(2) or m.group(1))
        out.append(f'<a class="wikilink" href="{esc(href(page))}">{shown}</a>' if page else
                   f'<span class="wikilink missing" title="no such page">{shown}</span>')
        last = m.end()
    out.append(esc(text[last:]))
    return "".join(out)


def _is_bare(value: Any) -> bool:
    """YAML's reading of an unquoted `[[x]]`: a list holding a list holding one string."""
    return isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)
