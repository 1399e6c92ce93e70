"""The wiki as HTML: one project's pages, tree, search, context and time travel.

`ProjectSite` makes the `<main>` of every view from the same library calls the CLI makes
(`SearchIndex.search`, `timetravel`, `compile.read`); `layout` wraps it in the page shell
(templates/web-layout.html). Links come from a `Urls` object, so the server (absolute URLs)
and `wikimem export --html` (relative file links) share every view. Everything taken from a
page, a query or git is escaped (`esc`) or rendered by `webrender`; nothing here writes.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from string import Template

from wikimem import datafiles
from wikimem.compile.read import ensure_compiled_context
from wikimem.errors import WikimemError
from wikimem.project import Project
from wikimem.search.index import SearchIndex
from wikimem.serve.webrender import PageLinks, esc, properties_html, render_markdown
from wikimem.wiki import timetravel
from wikimem.wiki.pages import parse_page, read_page, wiki_pages

COMMIT = re.compile(r"[0-9a-f]{7,40}")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_SMALL_FOLDER = 40  # folders with at most this many entries start open in the tree


class NotFound(WikimemError):
    """What the request named is not there (or may not be shown): a 404."""


class Urls:
    """Where each view lives. The server's are absolute; the export's are relative files."""

    def __init__(self, project_id: str = "", static: str = "/static"):
        self.base = f"/p/{project_id}" if project_id else ""
        self.static_root = static

    def quote(self, path: str) -> str:
        from urllib.parse import quote

        return quote(path, safe="/")

    def home(self) -> str:
        return "/"

    def static(self, name: str) -> str:
        return f"{self.static_root}/{name}"

    def project(self) -> str:
        return f"{self.base}/"

    def page(self, path: str) -> str:
        return f"{self.base}/page/{self.quote(path)}"

    def history(self, path: str) -> str:
        return f"{self.base}/history/{self.quote(path)}"

    def revision(self, path: str, commit: str) -> str:
        return f"{self.base}/rev/{commit}/{self.quote(path)}"

    def diff(self, path: str, old: str, new: str = "") -> str:
        new_part = f"&amp;to={new}" if new else ""
        return f"{self.diff_form(path)}?from={old}{new_part}"

    def diff_form(self, path: str) -> str:
        return f"{self.base}/diff/{self.quote(path)}"

    def search(self) -> str:
        return f"{self.base}/search"

    def context(self) -> str:
        return f"{self.base}/context"

    def catchup(self) -> str:
        return f"{self.base}/catchup"

    time_travel = True  # the export has no git history to show


@dataclass
class Rendered:
    """One view: its title and the HTML of its <main>."""

    title: str
    main: str


def layout(view: Rendered, urls: Urls, *, project: Project | None, query: str = "",
           csp_meta: str = "", scripts: str = "") -> str:
    """A whole HTML document around a view."""
    nav = []
    if project is not None:
        nav.append(f'<a href="{urls.project()}">{esc(project.name)}</a>')
        nav.append(f'<a href="{urls.context()}">context</a>')
        if urls.time_travel:  # (a static export has no clock to count back from)
            nav.append(f'<a href="{urls.catchup()}">catch-up</a>')
    shell = _shell()
    search = (f'<form class="search" action="{urls.search()}" method="get" role="search">'
              f'<input type="search" name="q" value="{esc(query)}" placeholder="Search" '
              'aria-label="Search"></form>') if project is not None else ""
    return shell.substitute(
        title=esc(view.title), css=urls.static("web.css"), home=urls.home(),
        nav=" ".join(nav), search=search, main=view.main, csp=csp_meta, scripts=scripts)


_CHAIN_KEY = re.compile(rb"^(?:supersedes|superseded_by)[ \t]*:(.*)\r?\n?(.*)", re.M)
_NO_VALUE = {b"", b"null", b"~", b"[]", b"''", b'""', b"Null", b"NULL"}


def _names_a_neighbour(frontmatter: bytes) -> bool:
    """True when a `supersedes`/`superseded_by` key has a value (on its line, or as a list
    on the next)."""
    for m in _CHAIN_KEY.finditer(frontmatter):
        value, after = m.group(1).strip(), m.group(2).lstrip()
        if value not in _NO_VALUE or (not value and after.startswith(b"-")):
            return True
    return False


@functools.cache
def _shell() -> Template:
    return Template(datafiles.read_text("templates", "web-layout.html"))


def _title(meta: dict, path: str) -> str:
    title = meta.get("title")
    return str(title) if title else PurePosixPath(path).stem


def _when(value) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value or "")


def parse_moment(text: str) -> date | datetime:
    """A date (2026-11-21) or ISO time from a query string."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NotFound(f"{text!r} is not a date like 2026-11-21") from None


class ProjectSite:
    """Read-only views of one project's wiki."""

    def __init__(self, project: Project, urls: Urls):
        self.project, self.urls = project, urls
        self.wiki = Path(project.wiki_dir)
        self._lock = threading.Lock()
        self._listing: tuple[tuple, list[str], PageLinks] | None = None
        self._index: SearchIndex | None = None
        self._metas: tuple[tuple, dict[str, dict]] | None = None
        self._folders: tuple = ()

    # --- the pages ----------------------------------------------------------------------

    def _signature(self) -> tuple:
        """The wiki's folders and their modification times: a page added, removed or renamed
        changes its folder's, a new folder its parent's. Only when one changed are the
        folders listed again (the listing of a folder of thousands of pages costs
        milliseconds; a stat of each folder, microseconds)."""
        known = self._folders
        if known:
            try:
                sig = tuple((f, os.stat(f).st_mtime_ns) for f, _ in known)
            except OSError:
                sig = ()
            if sig == known:
                return sig
        found = []
        folders = [os.fspath(self.wiki)]
        while folders:
            folder = folders.pop()
            try:
                found.append((folder, os.stat(folder).st_mtime_ns))
                with os.scandir(folder) as entries:
                    folders += [e.path for e in entries if not e.name.startswith(".")
                                and e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
        self._folders = tuple(sorted(found))
        return self._folders

    def listing(self) -> tuple[list[str], PageLinks]:
        """The wiki's pages (no dot-folders, no symlinks) and their link resolver, cached until
        a folder changes."""
        sig = self._signature()
        with self._lock:
            if self._listing is None or self._listing[0] != sig:
                pages = wiki_pages(self.wiki)
                self._listing = (sig, pages, PageLinks(pages))
            return self._listing[1], self._listing[2]

    def page_path(self, path: str) -> str:
        """`path` when it is a page of the wiki now; anything else is NotFound."""
        pages, links = self.listing()
        if path not in links.listed or not timetravel._inside(self.wiki, path):
            raise NotFound(f"No page {path!r} in this wiki.")
        return path

    def index(self) -> SearchIndex:
        if self._index is None:
            self._index = SearchIndex(self.project.index_dir, self.project.wiki_dir)
        return self._index

    def backlinks(self, path: str) -> list[str]:
        with self._lock:
            found = self.index().backlinks(path)
        listed = self.listing()[1].listed
        return [p for p in found if p in listed]

    def _chain_metas(self) -> dict[str, dict]:
        """Frontmatter of the pages that name a predecessor or successor, cached until a
        folder changes (pages are written by rename, so a change touches the folder). Only
        a page whose frontmatter gives `supersedes` or `superseded_by` a value can add an
        edge; the others (`supersedes: null` on every session page) are not parsed."""
        sig = self._signature()
        with self._lock:
            if self._metas is not None and self._metas[0] == sig:
                return self._metas[1]
        pages, _ = self.listing()
        metas = {}
        for p in pages:
            try:
                text = (self.wiki / p).read_bytes()
            except OSError:
                continue
            if text.startswith(b"---") and _names_a_neighbour(text.split(b"\n---", 1)[0]):
                metas[p] = read_page(self.wiki / p)[0]
        with self._lock:
            self._metas = (sig, metas)
        return metas

    def chain(self, path: str, meta: dict) -> list[timetravel.ChainLink]:
        """The supersession chain the page takes part in (as `wikimem history` finds it)."""
        _, links = self.listing()

        def read_meta(page: str) -> dict:
            try:
                return read_page(self.wiki / page)[0]
            except OSError:
                return {}

        return timetravel.chain_among(path, self._chain_metas(), links, read_meta)

    # --- views --------------------------------------------------------------------------

    def _body(self, text: str, path: str) -> tuple[dict, str, str]:
        """(frontmatter, properties HTML, body HTML) of a page's text."""
        meta, body = parse_page(text)
        _, links = self.listing()
        props = properties_html(meta, source=path, links=links, href=self.urls.page)
        body_html, _missing = render_markdown(body, source=path, links=links,
                                              href=self.urls.page)
        return meta, props, body_html

    def page(self, path: str, *, at: str = "") -> Rendered:
        """A page as it is now (or as it was at a date), with chain, backlinks and history."""
        if at:
            text = self._old_text(path, at=parse_moment(at))
            meta, props, body = self._body(text, path)
            note = (f'<p class="note">As it was on {esc(at)}. '
                    f'<a href="{self.urls.page(path)}">See it now</a>.</p>')
            return Rendered(_title(meta, path), self._article(path, meta, props, body, note))
        self.page_path(path)
        meta, body_text = read_page(self.wiki / path)
        _, links = self.listing()
        props = properties_html(meta, source=path, links=links, href=self.urls.page)
        body, _missing = render_markdown(body_text, source=path, links=links,
                                         href=self.urls.page)
        article = self._article(path, meta, props, body, "", self._chain_html(path, meta),
                                self._backlinks_html(path))
        return Rendered(_title(meta, path), article)

    def _article(self, path: str, meta: dict, props: str, body: str, note: str,
                 chain: str = "", backlinks: str = "") -> str:
        crumbs = " / ".join(esc(p) for p in PurePosixPath(path).parts)
        tools = ""
        if self.urls.time_travel:
            tools = (f'<nav class="tools"><a href="{self.urls.history(path)}">history</a>'
                     f'<form action="{self.urls.page(path)}" method="get"><label>as of '
                     '<input type="date" name="at" required></label> <button>show</button>'
                     '</form></nav>')
        banner = self._superseded_banner(path, meta)
        return (f'<p class="crumbs">{crumbs}</p>{tools}{note}{banner}'
                f'<div class="page"><article class="body">{body}</article>'
                f'<aside>{chain}{props}{backlinks}</aside></div>')

    def _superseded_banner(self, path: str, meta: dict) -> str:
        status = str(meta.get("status") or "")
        if status not in ("superseded", "retracted") and not meta.get("superseded_by"):
            return ""
        _, links = self.listing()
        targets = meta.get("superseded_by") or []
        targets = targets if isinstance(targets, list) else [targets]
        shown = []
        for t in targets:
            raw = t[0] if isinstance(t, list) and t else t
            name = str(raw).strip().removeprefix("[[").removesuffix("]]").split("|")[0]
            page = links.resolve(name, path)
            shown.append(f'<a class="successor" href="{self.urls.page(page)}">{esc(name)}</a>'
                         if page else f'<span class="missing">{esc(name)}</span>')
        by = f" by {', '.join(shown)}" if shown else ""
        return f'<p class="banner superseded">This page is {esc(status or "superseded")}{by}.</p>'

    def _chain_html(self, path: str, meta: dict) -> str:
        links = self.chain(path, meta)
        if len(links) < 2:
            return ""
        items = []
        for link in links:
            label = (f"{esc(link.title)} <small>[{esc(link.status)}, "
                     f"{esc(link.created[:10])}]</small>")
            if link.path == path:
                items.append(f'<li class="current">{label}</li>')
            elif link.status == "missing":
                items.append(f'<li class="missing">{esc(link.path)} (no such page)</li>')
            else:
                items.append(f'<li><a href="{self.urls.page(link.path)}">{label}</a></li>')
        return (f'<section class="chain"><h2>Supersession chain</h2><p>oldest first</p>'
                f'<ol>{"".join(items)}</ol></section>')

    def _backlinks_html(self, path: str) -> str:
        found = self.backlinks(path)
        if not found:
            return '<section class="backlinks"><h2>Backlinks</h2><p>none</p></section>'
        items = "".join(f'<li><a href="{self.urls.page(p)}">{esc(p)}</a></li>' for p in found)
        return f'<section class="backlinks"><h2>Backlinks</h2><ul>{items}</ul></section>'

    def tree(self) -> str:
        """Every page, folder by folder (pages at the top level first)."""
        pages, _ = self.listing()
        root: dict = {}
        for p in pages:
            node = root
            *folders, _name = p.split("/")
            for f in folders:
                node = node.setdefault(f + "/", {})
            node[p] = None
        return f'<nav class="tree">{self._tree_level(root)}</nav>'

    def _tree_level(self, node: dict) -> str:
        files = sorted(k for k, v in node.items() if v is None)
        folders = sorted(k for k, v in node.items() if v is not None)
        out = ["<ul>"]
        for p in files:
            out.append(f'<li><a href="{self.urls.page(p)}">{esc(PurePosixPath(p).name)}</a></li>')
        for f in folders:
            child = node[f]
            count = _pages_under(child)
            opened = " open" if count <= _SMALL_FOLDER else ""
            out.append(f"<li><details{opened}><summary>{esc(f)} <small>{count}</small>"
                       f"</summary>{self._tree_level(child)}</details></li>")
        out.append("</ul>")
        return "".join(out)

    def home(self) -> Rendered:
        """The project's index page (index.md, when there is one) and its page tree."""
        pages, _ = self.listing()
        intro = ""
        if "index.md" in pages:
            intro = self.page("index.md").main
        main = (f'<h1>{esc(self.project.name)}</h1><div class="home">'
                f'<section class="pages"><h2>Pages <small>{len(pages)}</small></h2>'
                f'{self.tree()}</section><section class="intro">{intro}</section></div>')
        return Rendered(self.project.name, main)

    def search(self, query: str, *, kinds=(), since: str = "", until: str = "",
               include_all: bool = False, limit: int = 20) -> tuple[Rendered, list]:
        """Search results, ranked and filtered as `wikimem search` does."""
        from wikimem.search.index import check_query

        hits = []
        if query.strip():
            text = check_query(query)
            with self._lock:
                hits = self.index().search(
                    text, kinds=list(kinds), since=parse_moment(since) if since else None,
                    until=parse_moment(until) if until else None, include_all=include_all,
                    limit=limit)
        rows = []
        for h in hits:
            snippet = _BOLD.sub(r"<mark>\1</mark>", esc(h.snippet))
            rows.append(f'<li><a href="{self.urls.page(h.path)}">{esc(h.title)}</a> '
                        f'<small>{esc(h.path)} · {esc(h.kind)} · {esc(str(h.updated)[:10])}'
                        f'{" · " + esc(h.status) if h.status else ""}</small>'
                        f'<p class="snippet">{snippet}</p></li>')
        kinds_value = esc(",".join(kinds))
        form = (f'<form class="filters" action="{self.urls.search()}" method="get">'
                f'<input type="search" name="q" value="{esc(query)}" aria-label="Search">'
                f'<label>kind <input name="kind" value="{kinds_value}" size="10"></label>'
                f'<label>since <input type="date" name="since" value="{esc(since)}"></label>'
                f'<label>until <input type="date" name="until" value="{esc(until)}"></label>'
                f'<label><input type="checkbox" name="all" value="1"'
                f'{" checked" if include_all else ""}> superseded too</label>'
                '<button>search</button></form>')
        if not query.strip():
            result = ""
        elif rows:
            result = f'<ol class="hits">{"".join(rows)}</ol>'
        else:
            result = '<p class="hits">No matches.</p>'
        return Rendered(f"Search: {query}" if query else "Search",
                        f"<h1>Search</h1>{form}{result}"), hits

    def context(self) -> tuple[Rendered, str]:
        block = ensure_compiled_context(self.project)
        shown = esc(block) if block else "No context yet: nothing has been compiled."
        return Rendered("Context", '<h1>Context</h1><p>The block the next agent session gets '
                        f'at start.</p><pre class="context">{shown}</pre>'), block

    def catchup(self, since: str = "7d") -> tuple[Rendered, dict]:
        """What happened since a date or a span back from now, as `wikimem catchup` says it."""
        from wikimem.compile.catchup import catchup as gather_catchup
        from wikimem.compile.catchup import parse_since, render_text

        since = since or "7d"
        until = datetime.now(UTC)
        try:
            start = parse_since(since, until)
        except ValueError as exc:
            raise WikimemError(str(exc)) from None
        found = gather_catchup(self.project, start, until)
        form = (f'<form class="catchup" action="{self.urls.catchup()}" method="get">'
                f'<label>Since <input name="since" value="{esc(since)}"></label> '
                "<button>Show</button></form>")
        screen = render_text(found, f"since {since}")
        return Rendered("Catch-up", f"<h1>Catch-up</h1>{form}"
                                    f'<pre class="context">{esc(screen)}</pre>'), found.to_dict()

    # --- time travel --------------------------------------------------------------------

    def _old_text(self, path: str, *, at=None, rev: str | None = None) -> str:
        try:
            timetravel._check_rel(path)
            return timetravel.show(self.wiki, path, at=at, rev=rev)
        except WikimemError as exc:
            raise NotFound(str(exc)) from exc

    def page_json(self, path: str, *, at: str = "", rev: str = "") -> dict:
        """A page's text and frontmatter, now, at a date or at a commit (the API's page)."""
        if rev and not COMMIT.fullmatch(rev):
            raise NotFound(f"{rev!r} is not a commit.")
        if rev or at:
            text = self._old_text(path, rev=rev or None, at=parse_moment(at) if at else None)
        else:
            text = (self.wiki / self.page_path(path)).read_text(encoding="utf-8",
                                                               errors="replace")
        return {"page": path, "rev": rev or None, "at": at or None,
                "meta": parse_page(text)[0], "text": text}

    def revisions(self, path: str) -> list[timetravel.Revision]:
        try:
            revs = timetravel.revisions(self.wiki, path)
        except WikimemError as exc:
            raise NotFound(str(exc)) from exc
        if not revs:
            self.page_path(path)  # a page never committed still has a (short) history view
        return revs

    def history(self, path: str) -> tuple[Rendered, dict]:
        revs = self.revisions(path)
        listed = path in self.listing()[1].listed
        meta = read_page(self.wiki / path)[0] if listed else {}
        chain = self.chain(path, meta) if listed else []
        rows = []
        for i, r in enumerate(revs):
            older = revs[i + 1].commit if i + 1 < len(revs) else ""
            diff = (f'<a href="{self.urls.diff(path, older[:12], r.commit[:12])}">diff</a>'
                    if older else "created")
            moved = f" <small>(as {esc(r.path)})</small>" if r.path != path else ""
            rows.append(f'<tr><td>{esc(r.date[:19])}</td><td><a href="'
                        f'{self.urls.revision(r.path, r.commit[:12])}">{esc(r.commit[:10])}</a>'
                        f'</td><td>{esc(r.author)}</td><td>{esc(r.subject)}{moved}</td>'
                        f'<td>{diff}</td></tr>')
        table = ('<table class="revisions"><thead><tr><th>date</th><th>commit</th>'
                 '<th>author</th><th>message</th><th></th></tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>') if rows else \
            "<p>None yet: the page has not been committed.</p>"
        compare = ""
        if len(revs) > 1:
            def options(selected: int) -> str:
                return "".join(
                    f'<option value="{esc(r.commit[:12])}"{" selected" if i == selected else ""}>'
                    f"{esc(r.date[:10])} {esc(r.commit[:10])}</option>"
                    for i, r in enumerate(revs))

            compare = (f'<form class="compare" action="{self.urls.diff_form(path)}" '
                       f'method="get"><label>compare <select name="from">'
                       f'{options(len(revs) - 1)}</select></label> <label>with <select '
                       f'name="to">{options(0)}</select></label> <button>diff</button></form>')
        now = f'<a href="{self.urls.page(path)}">the page now</a>' if listed else "deleted now"
        main = (f"<h1>History of {esc(path)}</h1><p>{now} · revisions newest first</p>"
                f"{self._chain_html(path, meta) if listed else ''}{compare}{table}")
        data = {"page": path, "chain": [c.to_dict() for c in chain],
                "revisions": [r.to_dict() for r in revs]}
        return Rendered(f"History: {path}", main), data

    def revision(self, path: str, commit: str) -> tuple[Rendered, str]:
        if not COMMIT.fullmatch(commit):
            raise NotFound(f"{commit!r} is not a commit.")
        text = self._old_text(path, rev=commit)
        meta, props, body = self._body(text, path)
        note = (f'<p class="note">As of commit <code>{esc(commit)}</code>. '
                f'<a href="{self.urls.diff(path, commit)}">diff with now</a> · '
                f'<a href="{self.urls.history(path)}">history</a></p>')
        return Rendered(f"{_title(meta, path)} at {commit[:10]}",
                        self._article(path, meta, props, body, note)), text

    def diff(self, path: str, old: str, new: str = "") -> tuple[Rendered, str]:
        for rev in (old, new):
            if rev and not COMMIT.fullmatch(rev):
                raise NotFound(f"{rev!r} is not a commit.")
        if not old:
            raise NotFound("Give the revision to compare from (?from=COMMIT).")
        try:
            timetravel._check_rel(path)
            out = timetravel.diff_revisions(self.wiki, path, old, new or None)
        except WikimemError as exc:
            raise NotFound(str(exc)) from exc
        lines = []
        for line in out.splitlines():
            cls = ("add" if line.startswith("+") and not line.startswith("+++") else
                   "del" if line.startswith("-") and not line.startswith("---") else
                   "hunk" if line.startswith("@@") else "")
            lines.append(f'<span class="{cls}">{esc(line)}</span>' if cls else esc(line))
        shown = "\n".join(lines) if out else "No changes."
        main = (f"<h1>Diff of {esc(path)}</h1><p><code>{esc(old)}</code> → "
                f"<code>{esc(new or 'now')}</code> · "
                f'<a href="{self.urls.history(path)}">history</a></p>'
                f'<pre class="diff">{shown}</pre>')
        return Rendered(f"Diff: {path}", main), out


def _pages_under(node: dict) -> int:
    return sum(1 if v is None else _pages_under(v) for v in node.values())
