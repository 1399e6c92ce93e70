"""`wikimem web` and `wikimem export --html` without a browser: the renderer's safety, the
request checks (Host, token, methods, paths), the views, the JSON API's shapes and the export.
(tests/test_web_browser.py drives a real browser over the same wiki.)"""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import web_wiki

D1 = "decisions/D1-run-ci-on-node-20.md"
D2 = "decisions/D2-run-ci-on-node-22.md"

# --- the renderer ------------------------------------------------------------------------

ALLOWED_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "a", "span", "em", "strong", "code",
                "pre", "blockquote", "ul", "ol", "li", "hr", "br", "table", "thead", "tbody",
                "tr", "th", "td", "del", "input", "dl", "dt", "dd"}
ALLOWED_ATTRS = {"href", "class", "title", "rel", "start", "style", "type", "disabled",
                 "checked"}


class _Audit(HTMLParser):
    """Every tag and attribute of rendered HTML, with what would be unsafe."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.bad.append(f"tag {tag}")
        for name, value in attrs:
            if name not in ALLOWED_ATTRS or name.startswith("on"):
                self.bad.append(f"attribute {name}")
            if name == "style" and tag not in ("th", "td"):
                self.bad.append("style")
            if name == "href":
                v = (value or "").strip().lower()
                if not v.startswith(("http://", "https://", "mailto:", "#", "/page/", "/p/")):
                    self.bad.append(f"href {value}")


def _render(text: str, pages=("decisions/a.md", "notes/b.md")) -> str:
    from wikimem.serve.webrender import PageLinks, render_markdown

    out, _ = render_markdown(text, source="notes/b.md", links=PageLinks(list(pages)),
                             href=lambda p: "/page/" + p)
    return out


def _audit(out: str) -> list[str]:
    audit = _Audit()
    audit.feed(out)
    audit.close()
    return audit.bad


def test_hostile_markdown_renders_as_text():
    out = _render(web_wiki.RAW_PAGE.split("---", 2)[2])
    assert _audit(out) == []
    assert "&lt;script&gt;" in out and "<script" not in out
    assert 'href="javascript' not in out.lower() and "href=\"data" not in out.lower()
    assert 'href="https://example.org/"' in out
    assert 'class="wikilink missing"' in out


@pytest.mark.parametrize("link", [
    "javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)", "java\tscript:x",
    "&#106;avascript:alert(1)", "&#x6A;avascript:x", "vbscript:x", "data:text/html,x",
    "file:///etc/passwd", "jav&#x09;ascript:x", "javascript&colon;x",
])
def test_dangerous_link_schemes_are_dropped(link):
    out = _render(f"[x]({link}) ![y]({link}) <{link}>")
    assert _audit(out) == [], out
    assert "href" not in out


def test_wikilinks_resolve_by_name_and_missing_ones_are_marked():
    out = _render("[[a]] [[decisions/a|label]] [[gone]] [rel](../decisions/a.md)")
    assert out.count('href="/page/decisions/a.md"') == 3
    assert '<span class="wikilink missing" title="no such page">gone</span>' in out


FRAGMENTS = ["<script>x</script>", "<img src=x onerror=alert(1)>", "[a](javascript:x)",
             "<a href='javascript:x'>l</a>", "<div onclick=x>", "](", "[[a]]", "`<b>`",
             "```\n<script>\n```", "\n\n", "<!-- c -->", "<svg/onload=x>", "| a |\n|---|\n",
             "&lt;", "&#60;script&#62;", "<<script>script>", "![i](x onerror=y)", " ", "\n",
             "*", "**", "[x]: javascript:y\n", "[x][x]", "- [ ] t", "~~s~~", "<style>",
             "<a href=\"#\" onmouseover=\"x\">", "<https://ok.org>", "\\", "\"", "'"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=12))
def test_no_combination_of_hostile_pieces_gets_through(pieces):
    assert _audit(_render("".join(pieces))) == []


def test_frontmatter_values_are_escaped_and_links_resolved():
    from wikimem.serve.webrender import PageLinks, properties_html

    out = properties_html({"title": "<script>x</script>", "supersedes": [["a"]],
                           "x": "[[gone]]"}, source="n.md",
                          links=PageLinks(["decisions/a.md"]), href=lambda p: "/page/" + p)
    assert _audit(out) == []
    assert "&lt;script&gt;" in out and 'href="/page/decisions/a.md"' in out
    assert 'missing' in out


# --- the application, in process ------------------------------------------------------------


@pytest.fixture(scope="module")
def wiki(tmp_path_factory):
    base = tmp_path_factory.mktemp("web")
    with web_wiki.home_at(base):
        return web_wiki.build(base)


@pytest.fixture
def app(wiki):
    from wikimem.serve.webserver import WebApp

    return WebApp(lambda: [wiki])


def get(app, target, host="127.0.0.1:8470", **headers):
    status, head, body = app.handle("GET", target, {"Host": host, **headers})
    return status, head, body.decode("utf-8")


def page_url(wiki, path, kind="page"):
    return f"/p/{wiki.project_id}/{kind}/{path}"


def test_projects_index_and_tree(app, wiki):
    status, _, body = get(app, "/")
    assert status == 200 and f'href="/p/{wiki.project_id}/"' in body
    status, _, body = get(app, f"/p/{wiki.project_id}/")
    assert status == 200
    for p in (D1, D2, "notes/hostile.md", "index.md"):
        assert f'href="/p/{wiki.project_id}/page/{p}"' in body


def test_page_has_properties_backlinks_and_chain(app, wiki):
    status, _, body = get(app, page_url(wiki, D1))
    assert status == 200
    assert '<dl class="properties">' in body and "<dt>status</dt><dd>superseded</dd>" in body
    assert 'class="banner superseded"' in body
    assert f'class="successor" href="/p/{wiki.project_id}/page/{D2}"' in body
    assert "Supersession chain" in body
    assert '<section class="backlinks">' in body and "decisions.md" in body


def test_hostile_pages_render_as_text(app, wiki):
    session = next(p for p in os.listdir(Path(wiki.wiki_dir) / "sessions"))
    for path in (f"sessions/{session}", "notes/hostile.md"):
        status, _, body = get(app, page_url(wiki, path))
        assert status == 200
        article = body.split('<article class="body">', 1)[1].split("</article>", 1)[0]
        assert _audit(article) == []
        assert "<script" not in body.lower() and "onerror=" not in body.replace("onerror=&", "")
        assert "&lt;script&gt;" in body or "&amp;lt;script" in body


@pytest.mark.parametrize("target", [
    "/p/{id}/page/../../../etc/passwd", "/p/{id}/page/..%2F..%2Fetc%2Fpasswd",
    "/p/{id}/page/..%2f..%2fetc/passwd", "/p/{id}/page/%2e%2e/%2e%2e/etc/passwd",
    "/p/{id}/page/decisions%2FD1-run-ci-on-node-20.md", "/p/{id}/page/..%5C..%5Cetc",
    "/p/{id}/page/%00", "/p/{id}/page/.git/config", "/p/{id}/page/%2egit/config",
    "/p/{id}/page//etc/passwd", "/p/{id}/page/%2Fetc%2Fpasswd", "/static/..%2Fweb.css",
    "/static/session.md", "/p/{id}/rev/HEAD/decisions/D1-run-ci-on-node-20.md",
    "/p/{id}/rev/--output=x/decisions/D1-run-ci-on-node-20.md", "/p/../etc", "/p/{id}/page/%ff",
    "/p/{id}/page/linked/secret.md", "/p/{id}/page/out.md",
    "/p/{id}/history/..%2F..%2Fetc%2Fpasswd", "/api/p/{id}/page/..%2F..%2Fetc%2Fpasswd",
])
def test_path_escapes_are_404(app, wiki, tmp_path, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# TOPSECRET-CONTENT\n")
    wiki_dir = Path(wiki.wiki_dir)
    for name, dest in (("linked", outside), ("out.md", outside / "secret.md")):
        if not (wiki_dir / name).is_symlink():
            (wiki_dir / name).symlink_to(dest)
    try:
        status, _, body = get(app, target.format(id=wiki.project_id))
    finally:
        (wiki_dir / "linked").unlink()
        (wiki_dir / "out.md").unlink()
    assert status == 404
    assert "TOPSECRET-CONTENT" not in body and "root:" not in body


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8470", "127.0.0.1.evil.com",
                                  "", "localhost.evil", "10.0.0.5:8470"])
def test_foreign_host_header_is_400(app, wiki, host):
    status, _, _ = get(app, "/", host=host)
    assert status == 400
    assert get(app, "/", host="localhost:8470")[0] == 200
    assert get(app, "/", host="[::1]:8470")[0] == 200


def test_allow_host_and_wildcard_bind(wiki):
    from wikimem.serve.webserver import WebApp

    app = WebApp(lambda: [wiki], host="0.0.0.0", token="t", allow_hosts=("wiki.lan",))
    auth = {"Authorization": "Bearer t"}
    assert get(app, "/", host="wiki.lan:8470", **auth)[0] == 200
    assert get(app, "/", host="192.168.1.9:8470", **auth)[0] == 200
    assert get(app, "/", host="rebind.evil.com", **auth)[0] == 400


def test_token_bearer_or_basic(wiki):
    from wikimem.serve.webserver import WebApp

    app = WebApp(lambda: [wiki], token="s3cret")
    status, head, _ = get(app, "/")
    assert status == 401 and head["WWW-Authenticate"].startswith("Basic")
    assert get(app, "/", Authorization="Bearer wrong")[0] == 401
    assert get(app, "/", Authorization="Bearer s3cret")[0] == 200
    basic = base64.b64encode(b"anyone:s3cret").decode()
    assert get(app, "/", Authorization=f"Basic {basic}")[0] == 200
    assert get(app, "/", Authorization="Basic !!!")[0] == 401


def test_only_get_and_head(app):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, head, _ = app.handle(method, "/", {"Host": "127.0.0.1"})
        assert status == 405 and head["Allow"] == "GET, HEAD"


def test_non_loopback_bind_needs_a_token():
    from wikimem.errors import WikimemError
    from wikimem.serve.webserver import check_bind

    for host in ("0.0.0.0", "::", "192.168.1.5", "example.org"):
        with pytest.raises(WikimemError, match="--token"):
            check_bind(host, None)
        check_bind(host, "t")
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        check_bind(host, None)


def test_cli_refuses_a_public_bind_without_token():
    out = subprocess.run([sys.executable, "-m", "wikimem", "web", "--host", "0.0.0.0",
                          "--port", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--token" in out.stderr and "Traceback" not in out.stderr


# --- time travel ------------------------------------------------------------------------------


def test_history_revision_and_diff(app, wiki):
    from wikimem.wiki import timetravel

    revs = timetravel.revisions(Path(wiki.wiki_dir), D1)
    assert len(revs) == 2
    status, _, body = get(app, page_url(wiki, D1, "history"))
    assert status == 200 and revs[1].commit[:10] in body and "diff" in body
    old = revs[1].commit[:12]
    status, _, body = get(app, f"/p/{wiki.project_id}/rev/{old}/{D1}")
    assert status == 200 and "<dt>status</dt><dd>active</dd>" in body
    new = revs[0].commit
    status, _, body = get(app, f"/p/{wiki.project_id}/diff/{D1}?from={old}&to={new}")
    assert status == 200
    assert '<span class="del">-status: active</span>' in body
    assert '<span class="add">+status: superseded</span>' in body
    from urllib.parse import quote

    status, _, body = get(app, page_url(wiki, D1) + "?at=" + quote(revs[1].date))
    assert status == 200 and "As it was on" in body
    assert "<dt>status</dt><dd>active</dd>" in body
    assert revs[1].date.startswith("2026-01-05") and revs[0].date.startswith("2026-03-05")
    status, _, body = get(app, page_url(wiki, D1) + "?at=2026-02-01")
    assert "<dt>status</dt><dd>active</dd>" in body
    assert get(app, page_url(wiki, D1) + "?at=2025-12-01")[0] == 404  # before it existed


# --- the JSON API: the CLI's shapes -----------------------------------------------------------


def _cli_json(wiki, *args):
    env = {**os.environ, "WIKIMEM_HOME": str(Path(wiki.wiki_dir).parents[2])}
    out = subprocess.run([sys.executable, "-m", "wikimem", "--project", wiki.project_id,
                          *args, "--json"], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    return json.loads(out.stdout)


def test_api_matches_the_cli(app, wiki):
    status, head, body = get(app, f"/api/p/{wiki.project_id}/search?q=node+22")
    assert status == 200 and head["Content-Type"].startswith("application/json")
    assert json.loads(body) == _cli_json(wiki, "search", "node", "22")
    status, _, body = get(app, f"/api/p/{wiki.project_id}/history/{D1}")
    assert json.loads(body) == _cli_json(wiki, "history", D1)
    status, _, body = get(app, f"/api/p/{wiki.project_id}/context")
    assert json.loads(body) == _cli_json(wiki, "context")
    status, _, body = get(app, "/api/projects")
    assert json.loads(body) == _cli_json(wiki, "projects")
    status, _, body = get(app, f"/api/p/{wiki.project_id}/pages")
    assert D1 in json.loads(body)["pages"]
    status, _, body = get(app, f"/api/p/{wiki.project_id}/page/{D1}")
    assert json.loads(body)["meta"]["status"] == "superseded"
    assert get(app, f"/api/p/{wiki.project_id}/page/nope.md")[0] == 404
    status, _, body = get(app, f"/api/p/{wiki.project_id}/search?q=x&kind=bogus")
    assert status == 400 and "error" in json.loads(body)


def test_catchup_in_the_browser_and_the_api_says_what_the_cli_says(app, wiki):
    status, _, body = get(app, f"/p/{wiki.project_id}/catchup?since=2000-01-01")
    page = body
    assert status == 200 and "<h1>Catch-up</h1>" in page
    assert "Sessions (1)" in page and "Fix the login page." in page and "<script" not in page
    status, head, body = get(app, f"/api/p/{wiki.project_id}/catchup?since=2000-01-01")
    assert status == 200 and head["Content-Type"].startswith("application/json")
    api, cli = json.loads(body), _cli_json(wiki, "catchup", "--since", "2000-01-01")
    assert api["sessions"] and {k: v for k, v in api.items() if k != "until"} == \
        {k: v for k, v in cli.items() if k != "until"}
    status, _, body = get(app, f"/api/p/{wiki.project_id}/catchup?since=soon")
    assert status == 400 and "error" in json.loads(body)
    assert f'href="/p/{wiki.project_id}/catchup"' in get(app, f"/p/{wiki.project_id}/")[2]


# --- over a real socket -----------------------------------------------------------------------


@pytest.fixture
def served(wiki):
    from wikimem.serve.webserver import WebApp, make_server

    server = make_server(WebApp(lambda: [wiki]), "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def raw_get(port, target, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    try:
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_socket_traversal_host_and_headers(served, wiki):
    here = f"127.0.0.1:{served}"
    status, head, _ = raw_get(served, page_url(wiki, D1), here)
    assert status == 200
    assert head["Content-Security-Policy"].startswith("default-src 'none'")
    assert head["X-Content-Type-Options"] == "nosniff"
    for target in (f"/p/{wiki.project_id}/page/..%2F..%2F..%2Fetc%2Fpasswd",
                   f"/p/{wiki.project_id}/page/../../../etc/passwd",
                   "/static/../../../../etc/passwd"):
        status, _, body = raw_get(served, target, here)
        assert status == 404 and "root:" not in body
    assert raw_get(served, "/", "attacker.example")[0] == 400
    assert raw_get(served, "/", None)[0] == 400


# --- export --------------------------------------------------------------------------------


def test_export_writes_relative_links_and_an_index(wiki, tmp_path):
    from wikimem.serve.webexport import export_html

    out = tmp_path / "site"
    count = export_html(wiki, out)
    assert count == len([p for p in Path(wiki.wiki_dir).rglob("*.md")
                         if ".git" not in p.parts])
    page = (out / "pages" / D1.replace(".md", ".html")).read_text()
    assert 'href="D2-run-ci-on-node-22.html"' in page
    assert 'href="../../static/web.css"' in page
    assert ' href="/' not in page and "history" not in page.split("<main>")[1]
    index = json.loads((out / "search-index.json").read_text())
    assert any(e["p"] == D2 and "22" in e["w"].split() for e in index["pages"])
    assert (out / "search-index.js").read_text().startswith("window.WIKIMEM_INDEX = {")
    hostile = (out / "pages" / "notes" / "hostile.html").read_text()
    assert "<script>window" not in hostile and "&lt;script&gt;" in hostile
    stale = out / "pages" / "notes" / "deleted-since.html"
    stale.write_text("old")
    export_html(wiki, out)  # again into its own earlier export: fine, and current
    assert not stale.exists() and (out / "pages" / "notes" / "hostile.html").is_file()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    from wikimem.errors import WikimemError

    with pytest.raises(WikimemError, match="not empty"):
        export_html(wiki, tmp_path / "mine")


def test_entities_in_pages_show_as_their_characters():
    """Pages escape recorded `<` as `&lt;` (wiki.text.escape_text): the reader sees `<`,
    not `&lt;` (mistune's own escaping would show `&amp;lt;`)."""
    assert _render("a &lt;b> &amp; c &copy; <i>") == \
        "<p>a &lt;b&gt; &amp; c © &lt;i&gt;</p>\n"


def test_web_chains_are_the_history_commands_chains(wiki, tmp_path):
    """The web view finds chains from the pages that mention a predecessor or successor
    only; it must find what `timetravel.chain` (`wikimem history`) finds by reading all."""
    from wikimem.project import Project
    from wikimem.serve.webviews import ProjectSite, Urls
    from wikimem.wiki import timetravel
    from wikimem.wiki.pages import read_page

    folder = tmp_path / "proj"
    pages = {
        "notes/old.md": "---\ntitle: Old way\nstatus: active\n---\nOld.\n",  # says nothing
        "notes/mid.md": "---\ntitle: Middle\nsupersedes: '[[old]]'\n---\nMid.\n",
        "later/new.md": "---\ntitle: New way\nsupersedes:\n- [[notes/mid]]\n---\nNew.\n",
        "notes/alone.md": "---\ntitle: Alone\nsupersedes: null\nsuperseded_by: ~\n---\n"
                          "supersedes nothing\n",
        "notes/long.md": "---\ntitle: Long\nsources:\n" + "- file:src/x.py\n" * 400 +
                         "supersedes:\n- '[[alone]]'\n---\nLong.\n",
    }
    for rel, text in pages.items():
        (folder / "wiki" / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / "wiki" / rel).write_text(text)
    site = ProjectSite(Project("p", "id", "w", "wid", str(tmp_path), str(folder)), Urls("id"))
    for rel in pages:
        meta = read_page(folder / "wiki" / rel)[0]
        ours = [c.to_dict() for c in site.chain(rel, meta)]
        theirs = [c.to_dict() for c in timetravel.chain(folder / "wiki", rel)]
        assert ours == theirs, rel
    assert [c.path for c in site.chain("notes/old.md", {})] == \
        ["notes/old.md", "notes/mid.md", "later/new.md"]
    assert [c.path for c in site.chain("notes/alone.md", {})] == \
        ["notes/alone.md", "notes/long.md"]
    for rel in (D1, D2):
        meta = read_page(Path(wiki.wiki_dir) / rel)[0]
        web = ProjectSite(wiki, Urls(wiki.project_id)).chain(rel, meta)
        assert [c.to_dict() for c in web] == \
            [c.to_dict() for c in timetravel.chain(Path(wiki.wiki_dir), rel)]


def test_cli_web_serves_and_cli_export_writes(wiki, tmp_path):
    """The commands as a person runs them: `wikimem web` on a free port answers; `wikimem
    export --html` writes the site and says where."""
    env = {**os.environ, "WIKIMEM_HOME": str(Path(wiki.wiki_dir).parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "wikimem", "web", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("wikimem web: serving http://127.0.0.1:"), line
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        status, _, body = raw_get(port, "/", f"127.0.0.1:{port}")
        assert status == 200 and "default/shop" in body
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    out = subprocess.run([sys.executable, "-m", "wikimem", "--project", wiki.project_id,
                          "export", "--html", str(tmp_path / "site")], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Exported ") and (tmp_path / "site" / "index.html").is_file()
    again = subprocess.run([sys.executable, "-m", "wikimem", "--project", wiki.project_id,
                            "export", "--html", str(tmp_path / "site" / "index.html")],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode != 0 and "Traceback" not in again.stderr


def test_new_and_removed_pages_show_at_once(app, wiki):
    """The page list is cached per folder change: a page added (in a new folder, too) is
    served on the next request, a removed one is gone, and a new successor shows in the
    chain."""
    wiki_dir = Path(wiki.wiki_dir)
    fresh = wiki_dir / "drafts" / "deeper" / "fresh.md"
    assert get(app, page_url(wiki, "drafts/deeper/fresh.md"))[0] == 404
    fresh.parent.mkdir(parents=True)
    fresh.write_text("---\ntitle: Fresh\nsupersedes: '[[D2-run-ci-on-node-22]]'\n---\nNew.\n")
    try:
        assert get(app, page_url(wiki, "drafts/deeper/fresh.md"))[0] == 200
        body = get(app, page_url(wiki, D2))[2]
        assert f'href="/p/{wiki.project_id}/page/drafts/deeper/fresh.md">Fresh' in body
    finally:
        fresh.unlink()
        fresh.parent.rmdir()
        fresh.parent.parent.rmdir()
    assert get(app, page_url(wiki, "drafts/deeper/fresh.md"))[0] == 404
    assert "Fresh" not in get(app, page_url(wiki, D2))[2]


def test_a_busy_port_is_a_clear_error(wiki):
    import socket

    from wikimem.errors import WikimemError
    from wikimem.serve.webserver import serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WikimemError, match=f"Cannot listen on 127.0.0.1:{port}.*--port"):
            serve(lambda: [wiki], port=port, echo=lambda _m: None)
