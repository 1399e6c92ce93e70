"""The broken-link check: links on the pages a compile wrote that point at no page.

It runs after every compile's writes (CompileResult.broken_links), so its common case, every
link resolving where the compiler puts pages, reads no listing of the wiki and parses nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from wikimem.wiki.markdown import WIKILINK_PATTERN, _is_attachment, link_key, parse
from wikimem.wiki.pages import Page, read_page, wiki_pages


def broken_links(wiki_dir: Path, written: list[str], pages: dict[str, Page] | None = None,
                 folders: set[str] = frozenset()) -> dict[str, list[str]]:
    """Links on the pages just written that point at no page in the wiki.

    Exactly what parsing every written page with mistune and resolving its links against a
    listing of the whole wiki gives, without doing either for most compiles: a regular
    expression finds every `[[...]]` on a page (mistune's links are a subset: it leaves out
    those in code), and a target resolves when a page by that name exists at its own path or
    in one of `folders` (where the compiler puts pages). Only a target that is found neither
    way costs a listing of the wiki, and only a page with such a target a mistune parse.
    (A compile writing many pages lists the wiki at once.) A page in `pages` is read from
    memory, not from its file.
    """
    if not written:
        return {}
    pages = pages or {}
    real_dirs: dict[str, bool] = {}
    order = ["", *sorted(folders)]  # the folder that held the last target is tried first
    listing: tuple[set[str], set[str]] | None = None
    broken: dict[str, list[str]] = {}

    def exists(target: str) -> bool:
        name = _link_name(target)
        if not name or name.startswith("."):
            return False
        path = target.strip().replace("\\", "/").rstrip("/")
        path = path[:-3] if path.lower().endswith(".md") else path
        own = [path.rpartition("/")[0]] if "/" in path else []
        for folder in own + order:
            if _is_listed_dir(wiki_dir, folder, real_dirs) and \
                    os.path.isfile(wiki_dir / f"{folder}/{name}.md".lstrip("/")):
                if folder in order and order[0] != folder:
                    order.remove(folder)
                    order.insert(0, folder)
                return True
        return False

    def resolves(target: str) -> bool:
        nonlocal listing
        if listing is None:
            listed = wiki_pages(wiki_dir)
            listing = ({link_key(rel) for rel in listed}, {rel[:-3] for rel in listed})
        return link_key(target) in listing[0] or target in listing[1]

    many = len(written) >= _LIST_FROM  # then one listing costs less than a look per link
    for rel in sorted(written):
        # The body as read_page returns it: frontmatter strips the text after the fence.
        body = pages[rel].body.strip() if rel in pages else read_page(wiki_dir / rel)[1]
        if all(resolves(t) if many else exists(t) or resolves(t) for t in _link_targets(body)):
            continue
        missing = [t for t in parse(body).links if not resolves(t)]
        if missing:
            broken[rel] = missing
    return broken


_WIKILINK = re.compile(WIKILINK_PATTERN)
_LIST_FROM = 100


def _link_targets(body: str) -> list[str]:
    """Every wikilink target the text could hold, as markdown.parse reads one (a superset of
    its links: this also counts links inside code)."""
    targets = []
    for m in _WIKILINK.finditer(body):
        inner = m.group("wl_inner").replace("\\|", "|")
        target = inner.partition("|")[0].partition("#")[0].strip()
        if target and not (m.group(0).startswith("!") and _is_attachment(target)):
            targets.append(target)
    return targets


def _link_name(target: str) -> str:
    """The file name (without `.md`) a link target resolves by, in its own case."""
    name = target.strip().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].strip()
    return (name[:-3] if name.lower().endswith(".md") else name).strip()


def _is_listed_dir(wiki_dir: Path, folder: str, cache: dict[str, bool]) -> bool:
    """True when wiki_pages lists the pages in `folder`: a real folder (not a link to one),
    not hidden, with no hidden or linked folder above it."""
    if folder not in cache:
        ok = True
        if folder:
            parts = folder.split("/")
            ok = all(p and not p.startswith(".") and p not in (".", "..") for p in parts)
            for i in range(len(parts)):
                if not ok:
                    break
                sub = wiki_dir.joinpath(*parts[:i + 1])
                ok = sub.is_dir() and not sub.is_symlink()
        cache[folder] = ok
    return cache[folder]
