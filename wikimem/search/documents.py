"""Index documents: what of a wiki page goes into the search index, and how it reads there.

`page_document` turns one page (its file, or the compiler's `Page` whose rendering the file
holds) into the fields of `schema.SCHEMA`; the helpers read frontmatter values tolerantly, as
people write them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from wikimem.wiki.markdown import link_key

if TYPE_CHECKING:
    from wikimem.wiki.pages import Page

# Indexing needs the YAML and markdown readers; searching never does, so they are imported on
# first use (a one-shot `wikimem search` does not load them): module attributes all the same.
_LAZY = {"read_page": "wikimem.wiki.pages", "FRONTMATTER_ORDER": "wikimem.wiki.pages",
         "parse": "wikimem.wiki.markdown", "strip_controls": "wikimem.wiki.text"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = globals()[name] = getattr(importlib.import_module(_LAZY[name]), name)
    return value


def _lazy(name: str) -> Any:
    return globals()[name] if name in globals() else __getattr__(name)


# A frontmatter block at the start of a page file, as text.
_FRONTMATTER_BLOCK = re.compile(r"\A\ufeff?---[ \t]*\r?\n.*?^(?:---|\.\.\.)[ \t]*$\n?", re.S | re.M)


def _with_names(text: str, names: list[str]) -> str:
    """The page text, led by its title and aliases where the text does not already say them.

    Search runs over the body alone (see schema.SEARCH_FIELDS), so a title kept only in frontmatter
    (a page a person wrote) or an alias such as `D3` must be in it to be found.
    """
    lowered = text.lower()
    missing = [n for n in dict.fromkeys(names) if n and n.lower() not in lowered]
    return "\n".join([*missing, text]) if missing else text


def _page_source(page: Page) -> tuple[dict, str]:
    """The frontmatter and body `read_page` gives for the file `page.render()` wrote.

    Render writes the keys of FRONTMATTER_ORDER only, each a string, list of strings or null
    (which YAML reads back as themselves), and the body right-stripped with NULs replaced.
    tests/test_index.py compares both ways over a compiled wiki.
    """
    meta = {k: page.meta[k] for k in _lazy("FRONTMATTER_ORDER") if k in page.meta}
    strip_controls = _lazy("strip_controls")
    meta = {k: strip_controls(v) if isinstance(v, str) else
            [strip_controls(x) if isinstance(x, str) else x for x in v]
            if isinstance(v, list) else v for k, v in meta.items()}
    return meta, strip_controls(page.body.rstrip())


# ---------------------------------------------------------------------------------------------
# Frontmatter values, tolerantly


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return _date_text(value)
    if isinstance(value, list | tuple | set | dict):
        return ""
    return str(value).strip()


def _as_list(value: Any) -> list[str]:
    """A frontmatter list (or a comma-separated string, or a single value) as strings."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, list | tuple | set):
        items = value
    else:
        items = [value]
    return [t for t in (_as_text(v) for v in items) if t]


def _date_text(value: datetime | date) -> str:
    """How a YAML-parsed (unquoted) date or timestamp reads in frontmatter."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() == UTC.utcoffset(None):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.isoformat()
    return value.isoformat()


def parse_date(value: Any) -> datetime | None:
    """A naive UTC datetime from a frontmatter date, or None when it is not one."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, dtime.min)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text[-1:] in "zZ":
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            try:
                dt = datetime.combine(date.fromisoformat(text[:10]), dtime.min)
            except ValueError:
                return None
    else:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _keyword(items: Iterable[str]) -> str | None:
    """A comma-separated KEYWORD value (commas inside an item would split it)."""
    cleaned = [" ".join(i.replace(",", " ").split()) for i in items]
    joined = ",".join(dict.fromkeys(i for i in cleaned if i))
    return joined or None


def _split_keyword(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def _normalize_rel(rel: str | os.PathLike[str]) -> str | None:
    """A relative POSIX page path, or None for paths that are not wiki pages."""
    p = PurePosixPath(os.fspath(rel).replace("\\", "/"))
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts):
        return None
    if not p.name.endswith(".md") or any(part.startswith(".") for part in p.parts):
        return None
    return str(p)



def _read(wiki_dir: Path, rel: str) -> tuple[dict, str] | None:
    read_page = _lazy("read_page")
    path = wiki_dir / rel
    if not path.is_file():
        return None
    try:
        meta, body = read_page(path)
    except (OSError, UnicodeError):
        return None
    if not meta:
        # Frontmatter that is not valid YAML comes back as part of the body: keep it out
        # of the text (it would otherwise turn into a heading and be searchable).
        body = _FRONTMATTER_BLOCK.sub("", body, count=1)
    return (meta if isinstance(meta, dict) else {}), body


def _companion_text(wiki_dir: Path, rel: Any, pages: Mapping[str, Page]) -> str:
    """The text of the page `rel` names (a session's transcript), or "" when there is none."""
    rel = _normalize_rel(rel) if isinstance(rel, str) and rel.endswith(".md") else None
    if rel is None:
        return ""
    found = _page_source(pages[rel]) if rel in pages else _read(wiki_dir, rel)
    return "\n\n" + _lazy("parse")(found[1]).text if found is not None else ""


def page_document(wiki_dir: Path, rel: str, page: Page | None = None,
                  pages: Mapping[str, Page] | None = None) -> dict | None:
    """The fields to index for one page, or None when the page cannot be read.

    With `page` (the compiler's page whose rendering the file holds) nothing is read:
    its frontmatter and body are what reading the file back would give (so for the pages in
    `pages`).

    A page whose frontmatter names a `transcript` (a session's digest) is found by the words
    of its transcript too: a session is ranked on its whole conversation, and the hit shown
    is the page a person reads first.
    """
    parse = _lazy("parse")
    found = _page_source(page) if page is not None else _read(wiki_dir, rel)
    if found is None:
        return None
    meta, parsed = found[0], parse(found[1])
    companion = _companion_text(wiki_dir, meta.get("transcript"), pages or {})
    stem = PurePosixPath(rel).stem
    title = _as_text(meta.get("title")) or parsed.title or stem
    aliases = _as_list(meta.get("aliases"))
    body = _with_names(parsed.text + companion, [title, *aliases]) or None
    doc: dict[str, Any] = {
        "path": rel,
        "title": title,
        "body": body,
        "pairs": body,
        "tags": _keyword(_as_list(meta.get("tags"))),
        "kind": _as_text(meta.get("kind")).lower() or None,
        "status": _as_text(meta.get("status")).lower() or None,
        "sources": _keyword(_as_list(meta.get("sources"))),
        "links": _keyword(link_key(t) for t in parsed.links),
        "session": _as_text(meta.get("session_id")) or None,
    }
    dates = {}
    for key in ("created", "updated"):
        parsed_date = parse_date(meta.get(key))
        if parsed_date is not None:
            doc[key] = _as_text(meta.get(key))
            dates[key] = parsed_date
    when = dates.get("updated") or dates.get("created")
    if when is not None:
        doc["date"] = when
    return {k: v for k, v in doc.items() if v is not None}
