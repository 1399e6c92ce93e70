"""The shortcuts that keep the hot paths fast give the same results as the long way round.

bench/perf.py measures the speed; these tests pin the behaviour: the hook's import weight,
redaction's quick check, the raw log's per-process key cache, the page-render memo and the
plain-string directory walks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fixture_payload

from wikimem.capture import rawlog
from wikimem.capture.observation import Observation, new_id
from wikimem.project import Registry
from wikimem.wiki.pages import Page, content_hash, read_page, wiki_pages, write_pages


def obs(key, session="s1"):
    return Observation(id=new_id(), key=key, session=session, agent="claude-code",
                       kind="prompt", ts="2026-01-01T00:00:00.000Z", cwd="/x", data={})


# -- the hook process ---------------------------------------------------------------------------


def _hook_probe(repo, payload: dict) -> dict:
    probe = (
        "import sys, io, json\n"
        "sys.argv = ['wikimem', 'hook', 'claude-code']\n"
        f"sys.stdin = io.TextIOWrapper(io.BytesIO({json.dumps(payload).encode()!r}))\n"
        "from wikimem.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import wikimem.capture.redact as r\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'compiled': r._full is not None}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_hook_path_skips_slow_imports_and_the_full_redaction_pattern(repo):
    Registry().resolve(repo)  # registering a project (once) may import more
    found = _hook_probe(repo, fixture_payload("post_tool_use_bash", cwd=str(repo)))
    # dataclasses imports inspect; uuid imports platform; typing and datetime are not needed.
    slow = {"dataclasses", "inspect", "uuid", "platform", "typing", "datetime", "subprocess",
            "tomllib"}
    assert not slow & set(found["modules"])
    assert not found["compiled"]


def test_hook_compiles_the_full_pattern_when_a_secret_may_be_there(repo):
    payload = fixture_payload("user_prompt_submit", cwd=str(repo),
                              prompt="use OPENAI_API_KEY=sk-" + "Ab3dEf6hIj" * 4)
    assert _hook_probe(repo, payload)["compiled"]
    line = next((Path(os.environ["WIKIMEM_HOME"])).rglob("*.jsonl")).read_text()
    assert "[REDACTED:" in line and "Ab3dEf6hIj" not in line


# -- the raw log's key cache ------------------------------------------------------------------


def _append_elsewhere(raw: Path, key: str, session: str = "s1") -> bool:
    """Append from another process, as a second hook would."""
    code = ("import sys\nfrom pathlib import Path\nfrom wikimem.capture import rawlog\n"
            "from wikimem.capture.observation import Observation, new_id\n"
            f"o = Observation(id=new_id(), key={key!r}, session={session!r}, agent='x',"
            " kind='prompt', ts='2026-01-01T00:00:00.000Z')\n"
            f"print(rawlog.append(Path({str(raw)!r}), o))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return out.strip() == "True"


def test_key_cache_sees_what_other_processes_appended(tmp_path):
    assert rawlog.append(tmp_path, obs("u-1"))
    assert _append_elsewhere(tmp_path, "u-2")
    assert not rawlog.append(tmp_path, obs("u-2"))  # stored by the other process
    assert _append_elsewhere(tmp_path, "p-x")
    assert not rawlog.append(tmp_path, obs("p-x"))  # the other process's is the last key
    assert rawlog.append(tmp_path, obs("u-3"))
    assert not _append_elsewhere(tmp_path, "u-3")
    keys = (tmp_path / "s1.keys").read_text().split()
    assert keys == ["u-1", "u-2", "p-x", "u-3"]


def test_key_cache_notices_a_recreated_session(tmp_path):
    assert rawlog.append(tmp_path / "a", obs("u-1"))  # read when empty, then u-1 appended
    for p in (tmp_path / "a").iterdir():
        p.unlink()
    assert rawlog.append(tmp_path / "a", obs("u-1"))  # the file may reuse the inode
    assert rawlog.append(tmp_path, obs("u-1"))
    assert rawlog.append(tmp_path, obs("u-2"))
    for suffix in (".jsonl", ".keys"):  # purged...
        (tmp_path / f"s1{suffix}").unlink()
    assert rawlog.append(tmp_path, obs("u-9"))  # ...and a new session by the same name
    assert rawlog.append(tmp_path, obs("u-1"))
    assert (tmp_path / "s1.keys").read_text().split() == ["u-9", "u-1"]


def test_key_cache_reads_a_key_cut_short_like_the_whole_file(tmp_path):
    assert rawlog.append(tmp_path, obs("u-1"))
    with open(tmp_path / "s1.keys", "a") as f:
        f.write("u-cu")  # a writer killed mid-key
    assert rawlog.append(tmp_path, obs("u-2"))  # lands on the fragment's line: "u-cuu-2"
    assert rawlog.append(tmp_path, obs("u-2"))  # so, as before, u-2 alone is not a key
    assert not rawlog.append(tmp_path, obs("u-1"))


def test_line_encoder_writes_what_json_encode_writes():
    from wikimem.capture.observation import _encode

    slow = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    value = {"v": 1, "s": "é \u2028 \"q\" \n \ud83d", "n": [1, -2.5, 1e300, None, True, False],
             "inf": float("inf"), "nested": {"a": [{"b": []}, {}], "": ""}, "big": 10**30}
    assert _encode(value) == slow(value)
    loop: dict = {}
    loop["self"] = loop
    for bad, error in ((loop, ValueError), ({"x": object()}, TypeError)):
        try:
            _encode(bad)
        except error:
            pass
        else:
            raise AssertionError(f"{bad!r} was encoded")
        assert _encode(value) == slow(value)  # (nothing left behind by the failed walk)


def test_payload_keys_are_what_they_were_with_json_dumps():
    from wikimem.capture.event import Event
    from wikimem.capture.observe import idempotency_key
    from wikimem.fsio import sha256_hex

    payload = {"z": 1, "a": ["é", {"y": 2.5, "b": None}], "when": Path("/x")}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    want = "p-" + sha256_hex(blob.encode("utf-8", "surrogatepass"))[:32]
    assert idempotency_key("codex", Event("s", "prompt", "/x"), payload) == want


def test_a_write_cut_short_is_finished_before_the_key_is_written(tmp_path, monkeypatch):
    real_write = os.write
    cuts = []

    def half_then_all(fd, data):
        if not cuts:  # the first write (the log line) stops halfway, as on a nearly full disk
            cuts.append(len(data))
            return real_write(fd, bytes(data[:len(data) // 2]))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_all)
    assert rawlog.append(tmp_path, obs("u-a", "cut"))
    monkeypatch.undo()
    assert rawlog.append(tmp_path, obs("u-b", "cut"))
    got = rawlog.read(tmp_path / "cut.jsonl")
    assert cuts and got.bad_lines == [] and [o.key for o in got.observations] == ["u-a", "u-b"]
    assert (tmp_path / "cut.keys").read_text() == "u-a\nu-b\n"


def test_session_files_are_the_sorted_jsonl_files(tmp_path):
    for name in ("b.jsonl", "a.jsonl", "a.keys", "a.lock", "c.jsonl.tmp", "B.jsonl"):
        (tmp_path / name).write_text("")
    assert list(rawlog.session_files(tmp_path)) == sorted(tmp_path.glob("*.jsonl"))
    assert list(rawlog.session_files(tmp_path / "missing")) == []


# -- writing pages --------------------------------------------------------------------------------


def _old_wiki_pages(wiki_dir: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(wiki_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.endswith(".md") and not name.startswith("."):
                found.append(Path(root, name).relative_to(wiki_dir).as_posix())
    return sorted(found)


def test_wiki_pages_lists_what_it_always_did(tmp_path):
    for rel in ("index.md", "sessions/2026-01-01-a.md", "sessions/x.txt", ".git/HEAD.md",
                "a/b/c/deep.md", ".hidden.md", "notes/.draft.md", "notes/n.md", "z.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert wiki_pages(tmp_path) == _old_wiki_pages(tmp_path)
    assert wiki_pages(tmp_path) == ["a/b/c/deep.md", "index.md", "notes/n.md",
                                    "sessions/2026-01-01-a.md", "z.md"]
    assert wiki_pages(tmp_path / "missing") == []


def _page(body="Body.", title="T"):
    return Page("decisions/D1-x.md", {"title": title, "kind": "decision"}, body)


def test_render_memo_skips_unchanged_pages_and_only_those(tmp_path, monkeypatch):
    memo: dict = {}
    assert write_pages(tmp_path, [_page()], memo).written == ["decisions/D1-x.md"]
    first = (tmp_path / "decisions/D1-x.md").read_text()
    renders = []
    real = Page.render
    monkeypatch.setattr(Page, "render", lambda self: renders.append(self.path) or real(self))

    again = write_pages(tmp_path, [_page()], memo)
    assert again.unchanged == ["decisions/D1-x.md"] and renders == []

    changed = write_pages(tmp_path, [_page(body="New body.")], memo)
    assert changed.written == ["decisions/D1-x.md"] and len(renders) == 1
    without_memo = _page(body="New body.").render()
    assert (tmp_path / "decisions/D1-x.md").read_text() == without_memo != first


def test_render_memo_still_sees_a_human_edit(tmp_path):
    memo: dict = {}
    write_pages(tmp_path, [_page()], memo)
    page = tmp_path / "decisions/D1-x.md"
    edited = page.read_text().replace("Body.", "Body, edited by hand.")
    page.write_text(edited)
    result = write_pages(tmp_path, [_page()], memo)
    assert result.human_edited == ["decisions/D1-x.md"] and page.read_text() == edited
    assert content_hash(edited) != content_hash(_page().render())


def test_render_memo_entries_for_other_pages_are_dropped(tmp_path):
    memo: dict = {"gone.md": ["x", "y"]}
    write_pages(tmp_path, [_page()], memo)
    assert list(memo) == ["decisions/D1-x.md"]
    assert write_pages(tmp_path, [_page()], None).unchanged == ["decisions/D1-x.md"]


# -- the compile state: summaries for all sessions, full records one file each ----------------


def _two_sessions(repo):
    from datetime import UTC, datetime, timedelta

    from conftest import session_events
    from test_compile import feed

    t0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    feed(session_events(repo, "01-node-bump.jsonl"), t0)
    return feed(session_events(repo, "02-issue-triage.jsonl"), t0 + timedelta(days=1))


def _snapshot(wiki):
    return {rel: (wiki / rel).read_bytes() for rel in wiki_pages(wiki)}


def test_state_keeps_one_record_file_per_session_and_writes_only_new_ones(repo):
    from wikimem.compile.build import compile_project
    from wikimem.compile.read import load_catalog
    from wikimem.compile.state import State

    project = _two_sessions(repo)
    compile_project(project)
    records = sorted(p.name for p in (project.state_dir / "sessions").iterdir())
    assert len(records) == 2
    summaries = json.loads((project.state_dir / "sessions.json").read_text())
    assert all("prompts" not in d and "stem" in d for d in summaries.values())
    assert [r.prompts != [] for r in load_catalog(project)] == [True, True]
    before = {p.name: p.stat().st_mtime_ns for p in (project.state_dir / "sessions").iterdir()}
    from wikimem.memory import Memory

    Memory(project).add("note", "Keep the state small")
    compile_project(project)  # no session changed: no record rewritten
    after = {p.name: p.stat().st_mtime_ns for p in (project.state_dir / "sessions").iterdir()}
    assert after == before
    assert len(State(project).load().catalog) == 2


def test_state_from_an_older_wikimem_is_split_not_recompiled(repo):
    from wikimem.compile.build import compile_project
    from wikimem.compile.state import State

    project = _two_sessions(repo)
    compile_project(project)
    state = State(project).load()
    old = {name: state.record(name).to_dict() for name in state.catalog}
    (project.state_dir / "sessions.json").write_text(json.dumps(old, indent=1))
    for p in (project.state_dir / "sessions").iterdir():
        p.unlink()
    wiki = _snapshot(project.wiki_dir)
    from wikimem.memory import Memory

    Memory(project).add("note", "Upgrade without a rebuild")
    result = compile_project(project)
    assert result.sessions == [] and not any(p.startswith("sessions/") for p in result.written)
    assert len(list((project.state_dir / "sessions").iterdir())) == 2
    assert {k: v for k, v in _snapshot(project.wiki_dir).items() if k.startswith("sessions/")} \
        == {k: v for k, v in wiki.items() if k.startswith("sessions/")}


def test_missing_record_is_digested_again_and_rebuild_drops_stale_ones(repo):
    from wikimem.compile.build import compile_project
    from wikimem.compile.state import State

    project = _two_sessions(repo)
    compile_project(project)
    records = project.state_dir / "sessions"
    victim = sorted(records.iterdir())[0]
    kept = victim.read_text()
    victim.unlink()
    state = State(project).load()
    name = victim.name.removesuffix(".json") + ".jsonl"
    assert json.dumps(state.record(name).to_dict(), sort_keys=True, separators=(",", ":")) \
        == kept
    (records / "gone-session.json").write_text("{}")
    wiki = _snapshot(project.wiki_dir)
    compile_project(project, rebuild=True)
    assert sorted(p.name for p in records.iterdir()) == sorted(
        n.removesuffix(".jsonl") + ".json" for n in State(project).load().catalog)
    assert _snapshot(project.wiki_dir) == wiki


def test_commits_of_many_paths_are_added_in_batches(tmp_path, monkeypatch):
    from wikimem.wiki import gitrepo

    monkeypatch.setattr(gitrepo, "_PATHS_PER_CALL", 2)
    repo = gitrepo.open_repo(tmp_path / "wiki")
    paths = [f"p{i}.md" for i in range(5)]
    for p in paths:
        (tmp_path / "wiki" / p).write_text(p)
    assert gitrepo.commit(repo, paths, "five pages")
    assert sorted(repo.git.ls_files().split()) == sorted([".gitignore", *paths])
    for p in paths[:3]:
        (tmp_path / "wiki" / p).unlink()
    assert gitrepo.commit(repo, [], "three gone", removed=paths[:3])
    assert sorted(repo.git.ls_files().split()) == sorted([".gitignore", *paths[3:]])


def _broken_links_the_long_way(wiki_dir, written):
    """Every page listed, every written page parsed from its file with mistune."""
    from conftest import resolve_links

    from wikimem.wiki.markdown import parse
    from wikimem.wiki.pages import read_page

    empty = parse("")
    return resolve_links({rel: parse(read_page(wiki_dir / rel)[1]) if rel in written else empty
                          for rel in wiki_pages(wiki_dir)})


def test_broken_links_from_bodies_in_memory_match_the_files(tmp_path):
    from wikimem.compile.links import broken_links as _broken_links

    pages = [Page("a.md", {"title": "A"}, "\n  # A\n\nSee [[b]], [[missing]] and `[[code]]`.\n"),
             Page("b.md", {"title": "B"}, "- [[a|back]]\n- [[gone/page.md]]\n\n\n"),
             Page("c.md", {"title": "C"}, "Nothing.")]
    written = write_pages(tmp_path, pages).written
    (tmp_path / "human.md").write_text("[[nowhere]]\n")
    from_files = _broken_links(tmp_path, written)
    assert from_files == {"a.md": ["missing"], "b.md": ["gone/page.md"]}
    assert _broken_links(tmp_path, written, {p.path: p for p in pages}) == from_files
    assert _broken_links_the_long_way(tmp_path, written) == from_files


def test_broken_links_without_a_listing_match_the_long_way(tmp_path, monkeypatch):
    """Links found by folder guesses, by the listing and by mistune: the same answer."""
    from wikimem.compile import links

    wiki = tmp_path / "wiki"
    for rel in ("sessions/2026-01-01-AbCd1234.md", "timeline/2026-01.md", "decisions/D1-x.md",
                ".hidden/secret.md", "sessions/.draft.md", "deep/er/page.md", "x.md.md",
                "real/inside.md"):
        (wiki / rel).parent.mkdir(parents=True, exist_ok=True)
        (wiki / rel).write_text("x\n")
    (wiki / "linked").symlink_to(wiki / "real")
    body = "\n".join([
        "[[2026-01-01-AbCd1234|a session]] [[2026-01-01-abcd1234]] [[timeline/2026-01|Jan]]",
        "[[sessions/2026-01-01-AbCd1234.md]] [[D1-x#Why]] ![[D1-x]] ![[diagram.png]]",
        "[[secret]] [[.hidden/secret]] [[.draft]] [[page]] [[er/page]] [[x.md]] [[inside]]",
        "[[linked/inside]] [[nowhere]] `[[in code]]` \\[[escaped]] [[a\\|b]] [[ spaced ]]",
        "", "    [[indented code]]", "", "```", "[[fenced]]", "```", "",
        "| a | b |", "|---|---|", "| [[x\\|y]] | [[table|cell]] |",
    ])
    pages = [Page("notes/n.md", {"title": "N"}, body), Page("plain.md", {"title": "P"}, "[[n]]")]
    written = write_pages(wiki, pages).written
    want = _broken_links_the_long_way(wiki, written)
    assert want["notes/n.md"] and "nowhere" in want["notes/n.md"]
    folders = {"sessions", "timeline", "decisions", "notes", "linked"}
    assert links.broken_links(wiki, written, {p.path: p for p in pages},
                              folders) == want
    listed = []
    real = links.wiki_pages
    monkeypatch.setattr(links, "wiki_pages", lambda d: listed.append(1) or real(d))
    clean = [Page("notes/ok.md", {"title": "OK"}, "[[2026-01-01-AbCd1234]] [[timeline/2026-01]]"
                  " [[D1-x|one]] [[n]]")]
    written = write_pages(wiki, clean).written
    assert links.broken_links(wiki, written, {p.path: p for p in clean},
                              folders) == {}
    assert listed == []  # every target was found where the compiler puts pages
    code = [Page("notes/code.md", {"title": "C"}, "[[n]] and `[[not a link]]`")]
    written = write_pages(wiki, code).written
    assert links.broken_links(wiki, written, {p.path: p for p in code},
                              folders) == {} == _broken_links_the_long_way(wiki, written)
    assert listed == [1]  # looked for, not found by name: the listing, then mistune, decide


def test_commit_of_paths_that_hold_what_head_has_makes_no_commit(tmp_path):
    from wikimem.wiki import gitrepo

    repo = gitrepo.open_repo(tmp_path / "wiki")
    (tmp_path / "wiki" / "a.md").write_text("one\n")
    first = gitrepo.commit(repo, ["a.md"], "a")
    assert first and gitrepo.head(repo) == first
    assert gitrepo.commit(repo, ["a.md"], "nothing new") is None
    assert gitrepo.head(repo) == first


def test_wiki_repositories_use_the_untracked_cache(tmp_path):
    from wikimem.wiki import gitrepo

    def setting(path):
        return subprocess.run(["git", "-C", str(path), "config", "core.untrackedCache"],
                              capture_output=True, text=True).stdout.strip()

    assert setting(gitrepo.open_repo(tmp_path / "new").working_dir) == "true"
    old = tmp_path / "old"
    subprocess.run(["git", "init", "-q", str(old)], check=True)  # a wiki made before
    assert setting(old) == ""
    gitrepo.open_repo(old)
    assert setting(old) == "true"
    (old / "human.md").write_text("x\n")
    assert gitrepo.dirty_paths(gitrepo.open_repo(old)) == ["human.md"]


def test_broken_links_of_many_pages_list_the_wiki_once(tmp_path, monkeypatch):
    from wikimem.compile import links

    monkeypatch.setattr(links, "_LIST_FROM", 2)
    pages = [Page(f"p{i}.md", {"title": str(i)}, f"[[p{i + 1}]] `[[code]]` [[x/p{i}]]")
             for i in range(5)]
    written = write_pages(tmp_path, pages).written
    listed = []
    real = links.wiki_pages
    monkeypatch.setattr(links, "wiki_pages", lambda d: listed.append(1) or real(d))
    got = links.broken_links(tmp_path, written, {p.path: p for p in pages})
    assert got == _broken_links_the_long_way(tmp_path, written)
    assert got == {"p4.md": ["p5"]} and listed == [1]  # x/p4 resolves by name


# -- durable writes in batches ------------------------------------------------------------


def test_many_pages_are_made_durable_with_one_sync(tmp_path, monkeypatch):
    from wikimem.wiki import pages as pages_module

    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync"))
    monkeypatch.setattr(os, "sync", lambda: calls.append("sync"), raising=False)
    monkeypatch.setattr(pages_module, "_BATCH", 40)
    many = [Page(f"p/{i:03}.md", {"title": str(i)}, f"Page {i}.") for i in range(90)]
    assert write_pages(tmp_path, many).written == [p.path for p in many]
    assert calls == ["sync", "sync", "fsync"] * 1 + ["fsync"] * 9  # 40 + 40 + 10 pages
    assert all((tmp_path / p.path).read_text() == p.render() for p in many)
    assert not list(tmp_path.rglob("*.tmp"))
    calls.clear()
    few = [Page(f"q/{i}.md", {"title": str(i)}, "Few.") for i in range(3)]
    write_pages(tmp_path, few)
    assert calls == ["fsync"] * 3


# -- the catalog journal and the structured pages kept as they are ---------------------------


def _add_session(project, repo, name, start):
    from conftest import session_events
    from test_compile import feed

    return feed(session_events(repo, name), start)


def test_session_summaries_are_appended_then_folded_in(repo, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from wikimem.compile import state as state_module
    from wikimem.compile.build import compile_project
    from wikimem.compile.state import State

    t0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    project = _add_session(None, repo, "01-node-bump.jsonl", t0)
    compile_project(project)
    base = project.state_dir / "sessions.json"
    journal = project.state_dir / "sessions.jsonl"
    written = base.read_bytes()
    assert not journal.exists()
    _add_session(project, repo, "02-issue-triage.jsonl", t0 + timedelta(days=1))
    compile_project(project)
    assert base.read_bytes() == written  # not rewritten: the new summary was appended
    assert len(journal.read_text().splitlines()) == 1
    state = State(project).load()
    assert len(state.catalog) == 2 and state._journaled == 1
    wiki = _snapshot(project.wiki_dir)

    # A compile killed mid-append leaves a fragment: ignored, and the next save folds all in.
    with open(journal, "a") as f:
        f.write('{"log": "half')
    state = State(project).load()
    assert len(state.catalog) == 2 and state._journaled == -1
    from wikimem.memory import Memory

    Memory(project).add("note", "Fold the journal")
    compile_project(project)
    assert not journal.exists()
    assert json.loads(base.read_text()) == State(project).load().catalog
    assert {k: v for k, v in _snapshot(project.wiki_dir).items() if k.startswith("sessions/")} \
        == {k: v for k, v in wiki.items() if k.startswith("sessions/")}

    # Once the journal holds JOURNAL_MIN summaries, sessions.json is written whole again.
    monkeypatch.setattr(state_module, "JOURNAL_MIN", 1)
    state = State(project).load()
    name = next(iter(state.catalog))
    state.put(name, state.record(name))
    state.save()
    assert len(journal.read_text().splitlines()) == 1
    state = State(project).load()
    state.put(name, state.record(name))
    state.save()
    assert not journal.exists()
    assert compile_project(project, rebuild=True).written == []


def test_structured_pages_are_not_rendered_again_when_nothing_they_show_changed(
        repo, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from conftest import session_events
    from test_compile import feed

    from wikimem.compile import structured
    from wikimem.compile.build import compile_project
    from wikimem.memory import Memory

    t0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    events = session_events(repo, "02-issue-triage.jsonl")
    parts = [events[len(events) * i // 5:len(events) * (i + 1) // 5]
             for i in range(5)]
    project = feed(parts[0], t0)
    memory = Memory(project)
    memory.add("decision", "Use Postgres", fields={"why": "It is already deployed"})
    memory.add("lesson", "Reset the cache between tests")
    compile_project(project)
    rendered = []
    real = structured.memory_page
    monkeypatch.setattr(structured, "memory_page",
                        lambda item, *a: rendered.append(item.page) or real(item, *a))

    feed(parts[1], t0 + timedelta(minutes=1))
    result = compile_project(project)
    assert rendered == [] and result.sessions  # the session grew; memory as it was

    decision = next(p for p in _snapshot(project.wiki_dir) if p.startswith("decisions/"))
    page = project.wiki_dir / decision
    page.write_text(page.read_text().replace("It is already deployed", "Deployed, edited"))
    feed(parts[2], t0 + timedelta(minutes=2))
    result = compile_project(project)  # a person's edit: that page is looked at again
    assert rendered == [decision] and result.human_edited == [decision]
    assert "Deployed, edited" in page.read_text()

    rendered.clear()
    lesson = next(p for p in _snapshot(project.wiki_dir) if p.startswith("lessons/"))
    (project.wiki_dir / lesson).unlink()  # deleted: written again
    feed(parts[3], t0 + timedelta(minutes=3))
    result = compile_project(project)
    assert rendered == [decision, lesson] and lesson in result.written

    rendered.clear()
    memory.add("note", "Keep the state small")  # new memory: everything is rendered
    feed(parts[4], t0 + timedelta(minutes=4))
    result = compile_project(project)
    assert len(rendered) == 3 and any(p.startswith("notes/") for p in result.written)
    incremental = {k: v for k, v in _snapshot(project.wiki_dir).items() if k != decision}
    compile_project(project, rebuild=True)
    assert {k: v for k, v in _snapshot(project.wiki_dir).items() if k != decision} \
        == incremental


# -- frontmatter written without PyYAML's machinery, byte for byte as PyYAML writes it ----------

_TRICKY = ["", " ", "null", "a: b", "a:", "a:b", "a #b", "a#b", "a ", "/x", "(x)", "_x", "x,y",
           "x ? y", "x [y]", "x {y}", "x 'y'", "x \"y\"", "x%y", "x@y", "x`y", "x!y", "x&y",
           "x*y", "x|y", "x>y", "x-", "1:2", "1:20:30", "0b1", "+1", "1.", "x\\y", "Null x",
 "Null", "~", "true", "Yes", "no", "on", "OFF", "y", "1", "-1", "1.5",
           "1e3", ".inf", ".NaN", "0x1f", "0o17", "1_000", "12:30", "2026-01-01",
           "2026-01-01T00:00:00Z", "2026-01-01 10:00", "<<", "=", "-", "--", "---", "...",
           "- x", "? x", ": x", "x: y", "x #y", "x# y", "#x", "'", "''", '"', "'x'", '"x"',
           "@x", "`x", "!x", "&x", "*x", "|", ">", "%x", "[x]", "{x}", ",x", "x,y", "x:",
           "x ", " x", "a\tb", "é", "中文", "😀", "a\u00a0b", "\ufeffx", "a\x85b", "a\u2028b",
           "a\nb", "a\n\nb", "a\rb", "\x07", "sha256:ab", "[[D1-x]]", "session:abc-123",
           "file:src/a b.py", "x" * 2100, "y " * 1200]


def _yaml_values():
    from hypothesis import strategies as st

    ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
    text = st.one_of(st.sampled_from(_TRICKY), st.text(max_size=40), ascii_text,
                     st.builds(lambda a, b: a + b, st.sampled_from(list("aZ9_/(")), ascii_text),
                     st.text(alphabet=st.sampled_from(list("ab :#-'\"[]{},&*!|>%@`?\t\n é")),
                             max_size=12))
    return st.one_of(st.none(), text, st.lists(text, max_size=4),
                     st.integers(), st.booleans(), st.lists(st.one_of(text, st.none())))


def test_frontmatter_fast_path_writes_what_pyyaml_writes():
    import yaml
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from wikimem.wiki.pages import FRONTMATTER_ORDER, _dump_yaml

    def pyyaml(meta):
        return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True,
                              default_flow_style=False, width=10_000)

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.sampled_from(FRONTMATTER_ORDER), _yaml_values(), min_size=1))
    def check(meta):
        assert _dump_yaml(meta) == pyyaml(meta)

    check()
    for value in _TRICKY:
        meta = {"title": value, "tags": [value, "x"], "aliases": [], "supersedes": None}
        assert _dump_yaml(meta) == pyyaml(meta), value
    for path in (Path(__file__).parent / "golden" / "wiki").rglob("*.md"):
        meta, _ = read_page(path)
        meta = {k: meta[k] for k in FRONTMATTER_ORDER if k in meta}
        assert _dump_yaml(meta) == pyyaml(meta), path


def test_record_cut_short_by_a_crash_is_digested_again(repo):
    from wikimem.compile.build import compile_project
    from wikimem.compile.state import State

    project = _two_sessions(repo)
    compile_project(project)
    victim = sorted((project.state_dir / "sessions").iterdir())[0]
    whole = victim.read_text()
    victim.write_text(whole[: len(whole) // 2])  # written in place, killed midway
    state = State(project).load()
    name = victim.name.removesuffix(".json") + ".jsonl"
    assert json.dumps(state.record(name).to_dict(), sort_keys=True, separators=(",", ":")) \
        == whole
    state.save()
    assert victim.read_text() == whole


def test_structured_pages_settled_on_disk_are_checked_by_size_and_mtime(tmp_path, monkeypatch):
    from wikimem.compile import structured

    page = tmp_path / "decisions" / "D1-x.md"
    page.parent.mkdir()
    page.write_text("machine bytes\n")
    old = page.stat().st_mtime_ns - 3_600_000_000_000  # written an hour ago
    os.utime(page, ns=(old, old))
    entry = ["fingerprint", structured.text_sha256("machine bytes\n")]
    hashed = []
    real = structured.text_sha256
    monkeypatch.setattr(structured, "text_sha256", lambda t: hashed.append(1) or real(t))

    now = structured.time.time_ns()
    assert structured._holds(page, entry, now) and len(hashed) == 1  # read, then noted
    assert entry[2:] == [page.stat().st_size, old, now]
    assert structured._holds(page, entry, now + 1) and len(hashed) == 1  # stat alone

    page.write_text("human's bytes\n")  # the same size, a new mtime
    assert not structured._holds(page, entry, now + 2) and len(hashed) == 2
    page.write_text("machine bytes\n")  # put back: right again, but not settled yet
    entry2 = entry[:2]
    assert structured._holds(page, entry2, structured.time.time_ns())
    assert structured._holds(page, entry2, structured.time.time_ns())
    assert len(hashed) == 4  # a fresh mtime is read every time until it settles
    page.unlink()
    assert not structured._holds(page, entry2, structured.time.time_ns())


def test_a_failed_batch_leaves_no_temporary_files(tmp_path):
    import pytest

    from wikimem.wiki.pages import remove_temporaries

    tmp_path = tmp_path / "wiki"
    tmp_path.mkdir()
    (tmp_path / "x").write_text("a file where a folder should be")
    pages = [Page(p, {"title": p}, "Body.") for p in ("a.md", "b.md", "x/c.md")]
    with pytest.raises(OSError):
        write_pages(tmp_path, pages)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no page, no .tmp

    # A writer killed between its temporary files and their renames: the next compile
    # removes what it left beside the pages its journal named.
    (tmp_path / "sessions").mkdir()
    left = [tmp_path / "sessions" / ".s.md.4242.tmp", tmp_path / ".index.md.7.tmp"]
    for tmp in left:
        tmp.write_text("half")
    (tmp_path / "sessions" / ".other.md.4242.tmp").write_text("not named")
    remove_temporaries(tmp_path, ["sessions/s.md", "index.md", "gone/page.md"])
    assert not any(tmp.exists() for tmp in left)
    assert (tmp_path / "sessions" / ".other.md.4242.tmp").exists()


# -- the one-shot search process ----------------------------------------------------------------


def _search_wiki(repo) -> None:
    from wikimem.search.index import SearchIndex

    project = Registry().resolve(repo)
    write_pages(project.wiki_dir, [
        Page("notes/cache.md", {"title": "Cache layout", "kind": "note", "status": "active",
                                "created": "2026-11-15"},
             "The cache lives in the index folder; parseConfig reads it.\n"),
        Page("notes/retry.md", {"title": "Retry policy", "kind": "lesson", "status": "active",
                                "created": "2026-10-01"},
             "Retry the cache fill twice, then give up.\n"),
    ])
    SearchIndex(project.index_dir, project.wiki_dir).rebuild()


def test_search_process_loads_only_what_search_needs(repo):
    """`wikimem search` answers without click, the command tree, the compiler, YAML or the
    markdown parser: importing them cost more than the search (docs/BENCHMARKS.md)."""
    _search_wiki(repo)
    probe = (
        "import sys, json\n"
        "from wikimem.entry import main\n"
        "try:\n    main(['search', 'cache', 'layout'])\nexcept SystemExit as e:\n"
        "    code = e.code\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'code': code}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("notes/cache.md")
    found = json.loads(out.splitlines()[-1])
    assert found["code"] == 0
    heavy = {"click", "mistune", "yaml", "frontmatter", "git", "wikimem.cli", "wikimem.compile",
             "wikimem.config", "wikimem.memory", "wikimem.wiki.pages",
             # what Whoosh imports and a search never uses (search/whoosh_load.py)
             "asyncio", "cached_property", "http", "email", "ssl", "hashlib", "_hashlib"}
    assert not heavy & {m.split(".")[0] if m.split(".")[0] != "wikimem" else
                        ".".join(m.split(".")[:2]) for m in found["modules"]}
    assert not {"urllib.request", "whoosh.lang.morph_en"} & set(found["modules"])
    assert {"whoosh.reading", "whoosh.compat"} <= set(found["modules"])


def test_search_process_leaves_what_whoosh_did_not_load_working(repo, tmp_path):
    """After the one-shot search (Whoosh loaded with stand-ins), `urllib.request` and the
    `cached_property` package are the real ones, and what Whoosh took from the stand-ins works."""
    _search_wiki(repo)
    page = tmp_path / "page.txt"
    page.write_text("fetched")
    probe = (
        "import sys, json, io\n"
        "from wikimem.entry import main\n"
        "sys.stdout = io.StringIO()\n"
        "try:\n    main(['search', 'cache'])\nexcept SystemExit as e:\n    code = e.code\n"
        "out, sys.stdout = sys.stdout.getvalue(), sys.__stdout__\n"
        "import urllib.request, cached_property, whoosh.compat, whoosh.reading\n"
        "from urllib.request import Request, urlopen\n"
        "copy, _ = whoosh.compat.urlretrieve(sys.argv[1], sys.argv[2])\n"
        "with urllib.request.urlopen(sys.argv[1]) as f:\n    read = f.read().decode()\n"
        "prop = whoosh.reading.SegmentReader.__dict__['deleted_docs_set']\n"
        "import hashlib, whoosh.filedb.filetables as tables, whoosh.query.terms as terms\n"
        "assert tables.md5_hash(b'key') == int(hashlib.md5(b'key').hexdigest(), 16) & 0xFFFFFFFF\n"
        "assert hashlib.sha256(b'').hexdigest().startswith('e3b0c442')\n"
        "assert 'rendering' in terms.variations('render')\n"
        "print(json.dumps({'code': code, 'out': out, 'copied': open(copy).read(),\n"
        "    'read': read, 'request': Request('http://example.invalid/').host,\n"
        "    'real': type(urllib.request).__name__ == 'module'\n"
        "            and urllib.request.__file__ is not None,\n"
        "    'package': cached_property.__file__ is not None\n"
        "               and hasattr(cached_property, 'threaded_cached_property'),\n"
        "    'prop': type(prop).__module__}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, page.as_uri(), str(tmp_path / "copy")],
                          cwd=repo, capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["code"] == 0 and found["out"].startswith("notes/cache.md")
    assert found["copied"] == found["read"] == "fetched"
    assert found["request"] == "example.invalid" and found["real"] and found["package"]
    assert found["prop"] == "wikimem.search.whoosh_load"  # (so the stand-in was used)


def test_whoosh_stand_ins_load_the_real_module_for_any_other_name(monkeypatch):
    from wikimem.search import whoosh_load

    for name in whoosh_load.STAND_INS:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delattr(sys.modules["urllib"], "request", raising=False)
    with whoosh_load._standing_in() as placed:
        assert placed == list(whoosh_load.STAND_INS)
        assert {"urllib.request", "cached_property", "hashlib"} <= set(placed)
        assert type(sys.modules["urllib.request"]).__name__ == "_StandIn"
        from urllib.request import pathname2url  # not one Whoosh takes: the real module

        assert pathname2url("/a b") == "/a%20b"
        assert type(sys.modules["urllib.request"]).__name__ == "module"
    assert "cached_property" not in sys.modules  # removed: never asked for anything else
    import urllib.request

    assert urllib.request.pathname2url is pathname2url


def test_whoosh_stand_ins_are_not_put_over_a_loaded_module():
    import urllib.request

    from wikimem.search import whoosh_load

    with whoosh_load._standing_in() as placed:
        assert "urllib.request" not in placed
        assert sys.modules["urllib.request"] is urllib.request
    assert sys.modules["urllib.request"] is urllib.request


def test_cached_property_stand_in_caches_as_the_package_does():
    from cached_property import cached_property

    from wikimem.search.whoosh_load import _CachedProperty

    def thing_class(kind):
        class Thing:
            calls = 0

            @kind
            def value(self):
                """The value."""
                Thing.calls += 1
                return Thing.calls

        return Thing

    for kind in (cached_property, _CachedProperty):
        thing_type = thing_class(kind)
        thing = thing_type()
        assert (thing.value, thing.value, thing_type.calls) == (1, 1, 1)
        del thing.value
        assert thing.value == 2 and thing_type().value == 3
        assert thing_type.__dict__["value"].__doc__ == "The value."


@pytest.mark.parametrize("args", [
    ["cache"], ["--json", "cache"], ["-n", "1", "cache"], ["--limit=1", "cache", "retry"],
    ["--kind", "lessons", "cache"], ["--since", "2026-11-01", "cache"], ["--all", "cache"],
    ["nothing-matches-this"], ["--", "--json"],
])
def test_search_process_prints_what_the_click_command_prints(repo, args):
    from click.testing import CliRunner

    from wikimem.cli import cli

    _search_wiki(repo)
    fast = subprocess.run([sys.executable, "-m", "wikimem", "search", *args], cwd=repo,
                          capture_output=True, text=True)
    old = os.getcwd()
    os.chdir(repo)
    try:
        slow = CliRunner().invoke(cli, ["search", *args])
    finally:
        os.chdir(old)
    assert (fast.returncode, fast.stdout) == (slow.exit_code, slow.output)


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--project", "no-such-project", "search", "cache"], 1, "Error: No project named"),
    (["search", "--kind", "recipes", "cache"], 2, "is not a page kind"),
    (["search", "   "], 2, "The query is empty"),
    (["search", "-n", "0", "cache"], 2, "Invalid value for '--limit'"),
])
def test_search_process_errors_as_every_command_does(repo, args, code, says):
    _search_wiki(repo)
    done = subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=repo,
                          capture_output=True, text=True)
    assert done.returncode == code
    assert says in done.stderr and "Traceback" not in done.stderr
