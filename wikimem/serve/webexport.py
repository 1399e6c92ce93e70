"""`wikimem export --html DIR`: the wiki as a static site anyone can host or open from disk.

The same views as `wikimem web` (`webviews`), written once per page with relative links, so
the folder works from any static host and from `file://`. Layout: `index.html` (the page tree
and index.md), `pages/<page path>.html`, `search.html`, `context.html`, `static/` (the
stylesheet and the search script) and the search index: `search-index.json`, and the same
JSON behind one assignment in `search-index.js`, which a page can load from `file://` (where
browsers refuse to fetch files). Search runs in the browser over that index: titles, paths,
kinds and each page's distinct words. No time travel (there is no git in a static folder).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
from pathlib import Path
from urllib.parse import quote

from wikimem import datafiles
from wikimem.errors import WikimemError
from wikimem.project import Project
from wikimem.serve.webrender import esc
from wikimem.serve.webviews import ProjectSite, Rendered, Urls, layout
from wikimem.wiki.markdown import parse
from wikimem.wiki.pages import read_page

MARKER = ".wikimem-export"
# file:// pages have an opaque origin, so 'self' would match nothing there: scripts and styles
# are allowed from files (the export's own), never inline, never from the network.
CSP_META = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'self' file:; script-src 'self' file:; img-src 'self' file:; "
            "base-uri 'none'; form-action 'self' file:\">")
WORDS_PER_PAGE = 600
_WORD = re.compile(r"\w[\w.-]*\w|\w", re.U)


class RelativeUrls(Urls):
    """Links between the exported files, relative to the file being written."""

    time_travel = False

    def __init__(self, here: str):
        super().__init__()
        self.here = posixpath.dirname(here)

    def _rel(self, target: str) -> str:
        return quote(posixpath.relpath(target, self.here or "."), safe="/")

    def home(self) -> str:
        return self._rel("index.html")

    def project(self) -> str:
        return self._rel("index.html")

    def static(self, name: str) -> str:
        return self._rel(f"static/{name}")

    def page(self, path: str) -> str:
        return self._rel(page_file(path))

    def search(self) -> str:
        return self._rel("search.html")

    def context(self) -> str:
        return self._rel("context.html")


def page_file(path: str) -> str:
    """Where a page is written in the export."""
    return f"pages/{path.removesuffix('.md')}.html"


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise WikimemError(f"{out} is a file; give a folder for the export.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise WikimemError(f"{out} is not empty and holds no earlier export; give a new or "
                           "empty folder (nothing was written).")
    if (out / MARKER).is_file() and (out / "pages").is_dir() \
            and not (out / "pages").is_symlink():
        shutil.rmtree(out / "pages")  # its own earlier pages: a page deleted since goes too
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by wikimem export --html\n", encoding="utf-8")


def _write(out: Path, rel: str, text: str) -> None:
    target = out / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def _document(view: Rendered, urls: RelativeUrls, project: Project, scripts: str = "") -> str:
    return layout(view, urls, project=project, csp_meta=CSP_META, scripts=scripts)


def _entry(site: ProjectSite, path: str) -> dict:
    meta, body = read_page(site.wiki / path)
    parsed = parse(body)
    words = dict.fromkeys(w.lower() for w in _WORD.findall(parsed.text))
    summary = " ".join(parsed.text.split())[:200]
    return {"u": page_file(path), "p": path, "t": str(meta.get("title") or parsed.title or
                                                    posixpath.basename(path)[:-3]),
            "k": str(meta.get("kind") or meta.get("type") or ""),
            "s": str(meta.get("status") or ""), "d": str(meta.get("updated") or "")[:10],
            "x": summary, "w": " ".join(list(words)[:WORDS_PER_PAGE])}


def export_html(project: Project, folder: str | os.PathLike, steps=None) -> int:
    """Write the static site; returns the number of pages. `steps(stage, done, total)`: the
    progress callback of long commands (cli/progress.py)."""
    out = Path(folder)
    _prepare(out)
    site = ProjectSite(project, RelativeUrls("index.html"))
    pages, _ = site.listing()
    entries = []
    for done, path in enumerate(pages):
        if steps is not None:
            steps("exporting", done, len(pages))
        here = page_file(path)
        site.urls = RelativeUrls(here)
        _write(out, here, _document(site.page(path), site.urls, project))
        entries.append(_entry(site, path))
    if steps is not None:
        steps("exporting", len(pages), len(pages))
    site.urls = RelativeUrls("index.html")
    _write(out, "index.html", _document(site.home(), site.urls, project))
    view, _block = site.context()
    _write(out, "context.html", _document(view, site.urls, project))
    search = Rendered("Search", '<h1>Search</h1><p class="note">Searching titles, paths and '
                      'words of every page, in your browser.</p><ol class="hits" id="hits">'
                      '</ol><p id="none" hidden>No matches.</p>')
    scripts = (f'<script src="search-index.js"></script>'
               f'<script src="{esc(site.urls.static("search.js"))}"></script>')
    _write(out, "search.html", _document(search, site.urls, project, scripts))
    index = {"project": project.name, "pages": entries}
    data = json.dumps(index, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    _write(out, "search-index.json", data)
    _write(out, "search-index.js", f"window.WIKIMEM_INDEX = {data};\n")
    _write(out, "static/web.css", datafiles.read_text("templates", "web.css"))
    _write(out, "static/search.js", datafiles.read_text("templates", "web-search.js"))
    return len(pages)
