"""`wikimem purge --secret`: every form the pipeline derives from a value goes, everywhere.

Each test plants a value through the real hook or CLI so that the pipeline derives one form
of it (its slug in a page name, HTML- or markdown-escaped in a page, JSON-escaped twice in the
raw log, a piece the length cap kept...), checks that the form is there, purges the value
with `wikimem purge --secret - --yes`, and checks that neither the value nor that form is left
in any store: the raw log (keys files and wikimem's own logs too), state, the index, pages
and their file names, every git object reachable or not (trees hold file names) and the
repository's own files. The report must say what it found, removed and left, by store.
"""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from click.testing import CliRunner

from wikimem import hook
from wikimem.cli import cli
from wikimem.compile.build import compile_project
from wikimem.project import Registry
from wikimem.purge.forms import Forms

STORES = ("raw log", "state", "pages", "git objects", "git files", "index")
SESSION = "7c7c7c7c-0000-4000-8000-00000000000c"


def send(repo, event: str, session: str = SESSION, **fields) -> None:
    payload = {"session_id": session, "cwd": str(repo), "hook_event_name": event, **fields}
    assert hook.run("claude-code", [], io.BytesIO(json.dumps(payload).encode()),
                    io.BytesIO()) == 0


def run(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def stores(project) -> dict[str, bytes]:
    """Every byte the project holds, file names included, by store (git objects as
    `git cat-file --batch-all-objects --batch` gives them: reachable or not)."""
    out = dict.fromkeys(STORES, b"")
    for path in sorted(project.dir.rglob("*")):
        rel = path.relative_to(project.dir)
        if rel.parts[:3] == ("wiki", ".git", "objects"):
            continue
        store = {"raw": "raw log", "index": "index", "state": "state"}.get(rel.parts[0])
        if rel.parts[0] == "wiki":
            store = "git files" if rel.parts[1:2] == (".git",) else "pages"
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[store or "state"] += rel.as_posix().encode() + b"\0" + data + b"\0"
    out["git objects"] = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=project.wiki_dir,
        capture_output=True, check=True).stdout
    return out


def where(project, *forms: bytes | str) -> dict[str, int]:
    """How often the forms occur in each store (stores without any left out)."""
    needles = [f.encode() if isinstance(f, str) else f for f in forms]
    counts = {store: sum(blob.count(n) for n in needles)
              for store, blob in stores(project).items()}
    return {store: n for store, n in counts.items() if n}


def purge(value: str) -> dict:
    """`wikimem purge --secret - --yes --json`, the value on stdin."""
    return json.loads(run("purge", "--secret", "-", "--yes", "--json", input=value + "\n"))


def assert_purged(project, value: str, *forms: bytes | str, before: dict[str, int]) -> dict:
    """Purge the value: neither it nor any of the forms is left anywhere, the wiki is sound,
    and the report counts at least what was there (`before`), removed all of it."""
    report = purge(value)
    assert where(project, value, *forms) == {}
    assert report["remaining"] == dict.fromkeys(STORES, 0)
    assert report["removed"] == report["found"]
    for store, n in before.items():
        assert report["found"][store] >= n, (store, report["found"])
    wiki = project.wiki_dir
    assert subprocess.run(["git", "status", "--porcelain"], cwd=wiki, capture_output=True,
                          text=True, check=True).stdout == ""
    subprocess.run(["git", "fsck", "--full", "--strict"], cwd=wiki, check=True,
                   capture_output=True)
    result = compile_project(project, rebuild=True)
    assert result.broken_links == {}
    assert where(project, value, *forms) == {}
    return report


@pytest.fixture
def project(repo, monkeypatch):
    monkeypatch.chdir(repo)
    send(repo, "UserPromptSubmit", session="0d0d0d0d-0000-4000-8000-00000000000d",
         prompt="Fix the flaky pagination test in the billing service")
    return Registry().resolve(repo)


# -- the forms, one test each -----------------------------------------------------------------


def test_the_slug_of_a_value_leaves_page_names_links_and_history(project):
    """`wikimem note "remember <Value>"` names its page after the lower-cased slug: purge
    derives the name again, moves the page a person edited, fixes the links to it."""
    value, slug = "Walrus-Tango-Plum88", "walrus-tango-plum88"
    run("note", f"remember {value}")
    wiki = project.wiki_dir
    page = wiki / f"notes/N1-remember-{slug}.md"
    page.write_text(page.read_text() + "\nA person's line: rotated on Monday.\n")
    (wiki / "mine.md").write_text(f"# Mine\n\nSee [[N1-remember-{slug}]].\n")
    compile_project(project)  # commits the person's edits
    before = where(project, slug)
    assert before.keys() >= {"raw log", "state", "pages", "git objects", "index"}
    report = assert_purged(project, value, slug, before=before)
    moved = wiki / "notes/N1-remember-purged.md"
    assert "A person's line: rotated on Monday." in moved.read_text()
    assert "[[N1-remember-purged]]" in (wiki / "mine.md").read_text()
    assert report["files_moved"] == {f"notes/N1-remember-{slug}.md":
                                     "notes/N1-remember-purged.md"}
    assert "[[N1-remember-purged|" in (wiki / "notes.md").read_text()


def test_an_llm_topic_named_after_the_value_leaves_its_page_log_and_cache(project, repo):
    """An LLM consolidation titles a topic with the value: the topic's page name, the LLM
    log (the answer inside a raw-log line) and the LLM cache (the answer as JSON text)."""
    from test_llm import FakeClient

    from wikimem.compile.llm import LLMSettings

    value, slug = "Walrus-Tango-Plum88", "rotating-walrus-tango-plum88"
    quote = "Rotate the staging credentials this week"
    answer = json.dumps({"summary": [{"text": f"Rotated {value}.", "quote": quote}], "topics": [
        {"title": f"Rotating {value}", "points": [
            {"text": f"{value} rotates every month.", "quote": quote}]}]})
    send(repo, "UserPromptSubmit", prompt="Rotate the staging credentials this week")
    send(repo, "Stop", last_assistant_message="Rotated them.")
    compile_project(project, llm=LLMSettings(enabled=True), llm_client=FakeClient(answer))
    assert (project.wiki_dir / f"topics/{slug}.md").exists()
    cached = json.dumps(answer)[1:-1]
    assert where(project, cached).keys() >= {"state"}  # state/llm-cache/<hash>.json
    before = where(project, slug)
    assert before.keys() >= {"state", "pages", "git objects"}
    assert_purged(project, value, slug, before=before)
    assert (project.wiki_dir / "topics/rotating-redacted-purged.md").exists()


def test_html_escaped_forms_leave_old_versions(project, repo):
    value = "Pg<Heron-Quill77"
    send(repo, "UserPromptSubmit", prompt=f"Draw the {value} diagram for staging")
    compile_project(project)
    send(repo, "Stop", last_assistant_message="Logged in.")
    compile_project(project)
    before = where(project, "Pg&lt;Heron-Quill77")
    assert before.keys() >= {"pages", "git objects"}
    assert_purged(project, value, "Pg&lt;Heron-Quill77", before=before)


def test_markdown_escaped_and_link_label_forms_leave_old_versions(project, repo):
    value = "Quokka[[Mint]]-42"
    escaped, label = "Quokka\\[\\[Mint\\]\\]-42", "Quokka  Mint  -42"
    send(repo, "UserPromptSubmit", prompt=f"Remember {value} for the staging deploy")
    compile_project(project)
    before = where(project, escaped, label)
    assert where(project, escaped).keys() >= {"pages", "git objects"}
    assert where(project, label).keys() >= {"pages", "git objects"}  # index, timeline links
    assert_purged(project, value, escaped, label, before=before)


def test_path_normalised_forms_leave_old_versions(project, repo):
    """A file path with `\\` is shown with `/` on the session page."""
    value = "Svc\\Pelican-Gate9"
    path = f"C:\\Users\\dev\\{value}\\notes.txt"
    send(repo, "PreToolUse", tool_name="Write", tool_use_id="w1",
         tool_input={"file_path": path, "content": "x"})
    send(repo, "PostToolUse", tool_name="Write", tool_use_id="w1",
         tool_input={"file_path": path, "content": "x"}, tool_response={"success": True})
    compile_project(project)
    before = where(project, "Svc/Pelican-Gate9")
    assert before.keys() >= {"pages", "git objects"}
    assert_purged(project, value, "Svc/Pelican-Gate9", before=before)


def test_json_escaped_forms_leave_the_raw_log_and_state(project, repo):
    """Quotes, backslashes and non-ASCII, JSON-escaped once (the raw log, state's records
    with `\\u` escapes) and twice (a tool response the adapter stores as JSON text)."""
    value = 'Kea"Grüß\\Moa-58'
    once = json.dumps(value, ensure_ascii=False)[1:-1]
    ascii_once = json.dumps(value)[1:-1]
    twice = json.dumps(once, ensure_ascii=False)[1:-1]
    send(repo, "UserPromptSubmit", prompt=f"Query the rows for {value} please")
    send(repo, "PostToolUse", tool_name="mcp__db__query", tool_use_id="q1",
         tool_input={"sql": "select 1"}, tool_response={"rows": [value]})
    compile_project(project)
    assert where(project, twice).keys() >= {"raw log"}
    assert where(project, ascii_once).keys() >= {"state"}
    assert_purged(project, value, once, ascii_once, twice,
                  before=where(project, once, ascii_once, twice))


def test_pieces_the_length_cap_kept_leave_every_store(project, repo):
    """A value cut by the capture cap keeps its start before the cut marker, or its end
    after it (8 and 12 characters here), in the raw log and on the session page."""
    value = "Zephyr-Lantern-Moss9"  # 20 characters
    filler = ("lorem ipsum dolor sit amet " * 600)
    # output: a cap of 2000 keeps 1333 characters, then the last 667
    head = filler[:1325] + value + filler[:3000]
    tail = filler[:3000] + value + filler[:655]
    # prompt: a cap of 12000 keeps 8000, then the last 4000
    prompt = "Deploy " + filler[:7985] + value + filler[:8000]
    send(repo, "UserPromptSubmit", prompt=prompt)
    for n, stdout in enumerate((head, tail)):
        send(repo, "PostToolUse", tool_name="Bash", tool_use_id=f"b{n}",
             tool_input={"command": "cat notes.txt"},
             tool_response={"stdout": stdout, "stderr": ""})
    compile_project(project)
    start, end = value[:8], value[8:]
    assert where(project, value) == {}
    before = where(project, start, end)
    assert where(project, start).keys() >= {"raw log", "pages", "git objects"}
    assert where(project, end).keys() >= {"raw log"}
    assert_purged(project, value, start, end, before=before)


def test_pieces_of_a_title_cut_for_length_leave_old_versions(project, repo):
    """A session's title is cut at 72 characters with `…`: the value's start stays in the
    title, the page's heading, links, frontmatter, the context and commit messages."""
    value = "heron-quill-fig-moss-ember-lark-wren-tide-kelp-dune-iris-vale-opal-rune-sage"
    send(repo, "UserPromptSubmit", prompt=f"Use {value} for the staging deploys")
    compile_project(project)
    send(repo, "Stop", last_assistant_message="Done.")
    compile_project(project)
    piece = value[:40]
    assert where(project, value[:66] + "…").keys() >= {"pages", "git objects", "state"}
    assert_purged(project, value, piece, before=where(project, value[:66] + "…"))


def test_pieces_of_a_slug_cut_for_length_leave_page_names(project):
    """slugify stops at 50 characters: the page name keeps the start of the value's slug."""
    value = "Walrus-Tango-Plum-88-Quince"
    run("note", f"remember to repaint the staging mural {value}")
    piece = "walrus-tango.md"
    before = where(project, piece)
    assert before.keys() >= {"raw log", "pages", "git objects"}
    assert_purged(project, value, piece, "walrus-tango|", before=before)
    assert (project.wiki_dir / "notes/N1-remember-to-repaint-the-staging-mural-purged.md").exists()


def test_collapsed_whitespace_forms_leave_old_versions(project, repo):
    value = "Mauve  Heron\t77x"
    send(repo, "UserPromptSubmit", prompt=f"Paint the {value} banner for now")
    compile_project(project)
    before = where(project, "Mauve Heron 77x")
    assert before.keys() >= {"pages", "git objects"}
    assert_purged(project, value, "Mauve Heron 77x", before=before)


def test_yaml_quoted_forms_leave_old_versions(project):
    """A title with `: ` is single-quoted in the frontmatter, its `'` doubled."""
    value = "Otter's-Fern-31"
    run("note", f"remember: {value}")
    before = where(project, "Otter''s-Fern-31")
    assert before.keys() >= {"pages", "git objects"}
    assert_purged(project, value, "Otter''s-Fern-31", before=before)


def test_the_capitalised_title_of_a_lifted_decision_leaves_old_versions(project, repo):
    """A decision lifted from a reply gets a title that begins with a capital."""
    value = "quince-Fern-19x"
    send(repo, "Stop", last_assistant_message=f"Decision: {value} goes into the staging "
                                              "config")
    compile_project(project)
    before = where(project, "Quince-Fern-19x")
    assert before.keys() >= {"pages", "git objects"}
    assert_purged(project, value, "Quince-Fern-19x", "quince-fern-19x", before=before)


# -- what purge cannot remove, it counts ------------------------------------------------------


def test_the_report_counts_what_purge_could_not_remove(project, repo):
    """A raw log's file name (the session's id) cannot change; an error line cut at 200
    characters with no mark of the cut keeps the value's start where it may be other text:
    the report counts both, by store, and says so."""
    value = "Walrus-Tango-Plum88x"
    send(repo, "UserPromptSubmit", session=f"sess-{value}", prompt="Tidy the docs today")
    line = "e" * 190 + " " + value + " trailing words"
    send(repo, "PostToolUse", tool_name="Bash", tool_use_id="f1",
         tool_input={"command": "deploy"}, tool_response=f"Error: Exit code 1\n{line}")
    compile_project(project)
    cut = value[:9]  # what `[:200]` kept of it on the session page
    assert where(project, cut + "\n").keys() >= {"pages", "git objects"}
    report = purge(value)
    assert report["remaining"]["raw log"] >= 1 and report["remaining"]["state"] >= 1
    assert {k: v for k, v in report["remaining"].items() if v}.keys() <= {"raw log", "state"}
    assert report["found"]["raw log"] > report["remaining"]["raw log"]
    assert report["removed"]["raw log"] == \
        report["found"]["raw log"] - report["remaining"]["raw log"]
    assert report["partial"]["git objects"] >= 1
    assert where(project, value).keys() == {"raw log", "state"}  # the file names
    text = run("purge", "--secret", "-", "--yes", input=value + "\n")
    assert "still found in: raw log" in text
    assert "piece(s) of its start or end remain" in text
    assert "removed" in text and "left" in text  # the table


# -- the forms themselves, against the pipeline's own functions -------------------------------


@pytest.mark.parametrize("value", ["Walrus-Tango<Plum88", 'Kea"Grüß\\Moa-58',
                                   "Quokka[[Mint]]-42|x", "Mauve  Heron\t77x",
                                   "quince>Fern-19"])
def test_forms_find_what_each_pipeline_step_makes_of_a_value(value):
    from urllib.parse import quote as quote_url

    import yaml

    from wikimem.capture.observe import cap_text
    from wikimem.compile.context import _attr, defang, quoted
    from wikimem.compile.sessions import clean_prompt, relative_path
    from wikimem.memory import one_line, slugify
    from wikimem.wiki.pages import Page
    from wikimem.wiki.text import code_span, escape_text, link_label, make_title, quote

    text = f"before {value} after"
    steps = {
        "escape_text": escape_text(text), "quote": quote(text), "code_span": code_span(text),
        "link_label": link_label(text), "clean_prompt": clean_prompt(text),
        "one_line": one_line(text), "make_title": make_title(text),
        "relative_path": relative_path(f"C:\\x\\{value}\\f", "/w"),
        "defang": defang(text), "attr": _attr(text), "context quoted": quoted(text),
        "json": json.dumps(text), "json twice": json.dumps(json.dumps({"k": text})),
        "yaml": Page("a.md", {"title": text, "aliases": [f"x: {value}"]}, "b").render(),
        "yaml double-quoted": yaml.safe_dump({"t": text}, default_style='"',
                                             allow_unicode=True),
        "url": quote_url(text, safe=""),
        "slug": f"notes/N1-{slugify(text, 200)}.md",
        "cap head": cap_text("x" * 1315 + text + "y" * 3000, 2000),
        "cap tail": cap_text("x" * 3000 + text + "y" * 650, 2000),
        "title cut": make_title("Use " + value * 6 + " today"),
        "lifted title": make_title(value[:1].upper() + value[1:] + " for staging", 100),
    }
    forms = Forms(value)
    for step, out in steps.items():
        data = out.encode("utf-8")
        assert forms.count(data)[0] >= 1, step
        clean = forms.scrub(data)
        assert forms.count(clean) == (0, 0), step
        assert value.encode() not in clean, step


def test_forms_leave_other_text_alone():
    forms = Forms("Walrus-Tango-Plum88")
    for text in (b"walrus tango plum88 in prose", b"Walrus-Tango", b"the Walru\xe2\x80\xa6",
                 b"notes/N1-walrus.md", b"[[N1-walrus]]", b"Walrus-Tango-Plum8"):
        assert forms.scrub(text) == text, text
    # A JSON escape is no occurrence of what follows its backslash.
    line = json.dumps({"a": "x\nalrus-Tango-Plum88"}).encode()
    assert Forms("nalrus-Tango-Plum88").scrub_json(line) == line
    # A replacement that would break a JSON line (the value's `"` found in the string's
    # closing quote) scrubs its strings one by one instead.
    line = json.dumps({"k": 'x cdef" y', "m": "q cdef"}).encode() + b"\n"
    scrubbed = Forms('cdef"').scrub_json(line)
    assert json.loads(scrubbed) == {"k": "x [REDACTED:purged] y", "m": "q cdef"}
    assert scrubbed.endswith(b"\n")
