"""`wikimem web` and its export in a real headless browser (Debian's chromium and
chromium-driver, driven with selenium; `.ci/run` installs them). Skipped where either is absent.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from tests import web_wiki

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if os.environ.get("WIKIMEM_REQUIRE_BROWSER"):  # CI (.ci/run): a missing browser is a failure
    assert CHROMIUM and DRIVER, "chromium and chromedriver are required here"
selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs chromium and chromedriver (apt-get install "
                                       "chromium chromium-driver)")
D1 = "decisions/D1-run-ci-on-node-20.md"
D2 = "decisions/D2-run-ci-on-node-22.md"


def make_driver(width: int = 1000, height: int = 800):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--allow-file-access-from-files"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    driver.implicitly_wait(10)  # a form's submit does not wait for the next page
    return driver


def wait_url(browser, ending: str) -> str:
    """The current URL once it contains `ending` (navigation may still be under way)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20).until(lambda b: ending in b.current_url)
    return browser.current_url


@pytest.fixture(scope="module")
def wiki(tmp_path_factory):
    base = tmp_path_factory.mktemp("webb")
    with web_wiki.home_at(base):
        yield web_wiki.build(base)


@pytest.fixture(scope="module")
def server(wiki):
    from wikimem.serve.webserver import WebApp, make_server

    srv = make_server(WebApp(lambda: [wiki]), "127.0.0.1", 0, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser():
    driver = make_driver()
    yield driver
    driver.quit()


def pwned(browser) -> object:
    return browser.execute_script("return window.__pwned === undefined ? null : window.__pwned")


def test_index_renders_and_a_wikilink_navigates(browser, server, wiki):
    browser.get(server + "/")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Projects"
    browser.find_element(By.LINK_TEXT, "default/shop").click()
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "shop"
    tree = browser.find_element(By.CSS_SELECTOR, "nav.tree").text
    assert "D1-run-ci-on-node-20.md" in tree and "hostile.md" in tree
    # index.md (shown beside the tree) links to the decisions hub with a [[wikilink]]
    link = browser.find_element(By.CSS_SELECTOR, ".intro a.wikilink[href$='/decisions.md']")
    link.click()
    wait_url(browser, "/page/decisions.md")
    assert "Decisions" in browser.find_element(By.CSS_SELECTOR, "article h1").text


def test_search_returns_the_expected_page(browser, server, wiki):
    browser.get(f"{server}/p/{wiki.project_id}/")
    box = browser.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    box.send_keys("Node 22 LTS")
    box.submit()
    wait_url(browser, "/search?q=Node+22+LTS")
    first = browser.find_element(By.CSS_SELECTOR, "ol.hits li a")
    assert first.text == "Run CI on Node 22"
    assert browser.find_elements(By.CSS_SELECTOR, "ol.hits mark")  # the snippet's bold words
    first.click()
    wait_url(browser, "/page/" + D2)


def test_superseded_decision_links_to_its_successor(browser, server, wiki):
    browser.get(f"{server}/p/{wiki.project_id}/page/{D1}")
    banner = browser.find_element(By.CSS_SELECTOR, ".banner.superseded")
    assert "superseded" in banner.text
    chain = browser.find_element(By.CSS_SELECTOR, "section.chain").text
    assert "Run CI on Node 20" in chain and "Run CI on Node 22" in chain
    banner.find_element(By.CSS_SELECTOR, "a.successor").click()
    wait_url(browser, "/page/" + D2)
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text == \
        "Decision: Run CI on Node 22"


def test_revision_view_shows_old_text_and_the_diff(browser, server, wiki):
    browser.get(f"{server}/p/{wiki.project_id}/page/{D1}")
    browser.find_element(By.LINK_TEXT, "history").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "table.revisions tbody tr")
    assert len(rows) == 2
    rows[-1].find_element(By.CSS_SELECTOR, "td:nth-child(2) a").click()  # the first revision
    body = browser.find_element(By.CSS_SELECTOR, "article.body").text
    assert "Status: active" in body and "Superseded by: none" in body
    browser.find_element(By.LINK_TEXT, "history").click()
    browser.find_elements(By.CSS_SELECTOR, "table.revisions tbody tr")[0] \
        .find_element(By.LINK_TEXT, "diff").click()
    removed = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff .del")]
    added = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff .add")]
    assert "-status: active" in removed and "+status: superseded" in added
    browser.find_element(By.LINK_TEXT, "history").click()  # any two revisions, by the form
    browser.find_element(By.CSS_SELECTOR, "form.compare button").click()
    wait_url(browser, "/diff/" + D1 + "?from=")
    assert "+status: superseded" in [
        e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff .add")]


@pytest.mark.parametrize("which", ["session", "note"])
def test_hostile_content_renders_as_text_and_runs_nothing(browser, server, wiki, which):
    if which == "session":
        name = os.listdir(Path(wiki.wiki_dir) / "sessions")[0]
        path = f"sessions/{name}"
    else:
        path = "notes/hostile.md"
    browser.get(f"{server}/p/{wiki.project_id}/page/{path}")
    article = browser.find_element(By.CSS_SELECTOR, "article.body")
    text = article.text
    assert "<script>" in text and "onerror=" in text and "javascript:" in text
    assert browser.execute_script(
        "return document.querySelectorAll('script, img, iframe, svg, [onerror], [onclick],"
        " [onmouseover], [onload]').length") == 0
    hrefs = browser.execute_script(
        "return Array.from(document.querySelectorAll('a')).map(a => a.href)")
    assert not [h for h in hrefs if not h.startswith(("http://", "https://"))]
    for el in article.find_elements(By.CSS_SELECTOR, ".dropped-link, b, p"):
        try:
            el.click()
        except Exception:  # (something covers it at this width: nothing to click)
            pass
    assert pwned(browser) is None
    assert browser.execute_script("return document.title").endswith("wikimem")


def test_export_opens_from_the_file_system(browser, wiki, tmp_path):
    from wikimem.serve.webexport import export_html

    out = tmp_path / "site"
    export_html(wiki, out)
    browser.get((out / "index.html").as_uri())
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "shop"
    browser.find_element(By.CSS_SELECTOR, "nav.tree a[href$='D1-run-ci-on-node-20.html']").click()
    wait_url(browser, "/pages/decisions/D1-run-ci-on-node-20.html")
    browser.find_element(By.CSS_SELECTOR, "a.successor").click()
    wait_url(browser, "/pages/decisions/D2-run-ci-on-node-22.html")
    box = browser.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    box.send_keys("node 22")
    box.submit()
    wait_url(browser, "/search.html?q=node+22")
    hits = browser.find_elements(By.CSS_SELECTOR, "#hits li a")
    assert "Run CI on Node 22" in [h.text for h in hits]
    next(h for h in hits if h.text == "Run CI on Node 22").click()
    wait_url(browser, "/pages/decisions/D2-run-ci-on-node-22.html")
    browser.get((out / "pages" / "notes" / "hostile.html").as_uri())
    assert "<script>" in browser.find_element(By.CSS_SELECTOR, "article.body").text
    assert pwned(browser) is None


def test_phone_width_has_no_sideways_scroll(server, wiki):
    driver = make_driver(390, 800)
    try:
        for path in (D1, "notes/hostile.md"):
            driver.get(f"{server}/p/{wiki.project_id}/page/{path}")
            assert driver.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        driver.quit()


def test_traversal_from_the_browser_is_not_found(browser, server, wiki):
    for tail in ("page/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "page/%2e%2e/%2e%2e/etc/passwd",
                 "page/.git/config"):
        browser.get(f"{server}/p/{wiki.project_id}/{tail}")
        assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Not found"
        assert "root:" not in browser.page_source
