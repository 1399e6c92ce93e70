"""`wikimem lint` (issue 17): each planted problem found, nothing else; a clean wiki exits 0."""

import json
from datetime import UTC, datetime, timedelta

from test_staleness import commit_file
from test_structured_cli import wm

from wikimem.compile.lint import _stance, lint
from wikimem.memory import Memory, MemoryState, fold
from wikimem.project import Registry


def clean_wiki(repo):
    """A project with a little of everything and nothing wrong."""
    commit_file(repo, "src/app.py", "ROUTES = {}\n", "app", "2026-11-01")
    commit_file(repo, "src/db.py", "URL = ''\n", "db", "2026-11-01")
    wm(repo, "decide", "Use Postgres for sessions", "--why", "many writers")
    wm(repo, "decide", "Keep every route in src/app.py")
    wm(repo, "lesson", "Mocked the wrong clock in tests", "--correct",
       "freeze time with a fixture", "--verified-by", "bob")
    wm(repo, "lesson", "Ran migrations against production", "--correct",
       "use the staging database first")
    wm(repo, "note", "Focus on the importer this week")
    wm(repo, "note", "Prefer small functions")
    wm(repo, "goal", "add", "Ship the v2 API")
    wm(repo, "task", "add", "Write the migration", "--goal", "G1")
    return Registry().resolve(repo)


def findings(repo):
    r = wm(repo, "lint", "--json", check=False)
    return r.returncode, json.loads(r.stdout)


def test_a_clean_wiki_has_no_findings_and_exits_0(repo):
    clean_wiki(repo)
    code, report = findings(repo)
    assert (code, report["findings"]) == (0, [])
    assert wm(repo, "lint").stdout.strip() == "No problems found."
    # With the LLM asked but unavailable (no key here): said, and the rules' answer stands.
    r = wm(repo, "lint", "--llm", "--json", env={"ANTHROPIC_API_KEY": ""})
    out = json.loads(r.stdout)
    assert out["findings"] == [] and "not asked about contradictions" in out["llm_problems"][0]


def test_lint_finds_each_planted_problem_and_nothing_else(repo):
    project = clean_wiki(repo)
    wiki = project.wiki_dir
    # A broken link, in a note a person edited.
    note = next(wiki.glob("notes/N1-*.md"))
    note.write_text(note.read_text() + "\nSee [[no-such-page]].\n")
    # An orphan: a page of a person's that nothing links to.
    (wiki / "topics").mkdir()
    (wiki / "topics/scratch.md").write_text("# Scratch\n\nThoughts.\n")
    # A stale memory: its file changed since.
    wm(repo, "decide", "Open one pool per process in src/db.py")
    change = commit_file(repo, "src/db.py", "URL = 'x'\n", "db url", "2026-11-20")
    # Two decisions in force that contradict each other.
    wm(repo, "decide", "Use Redis for the session cache")
    wm(repo, "decide", "Avoid Redis for the session cache")
    # Near-duplicate lessons.
    wm(repo, "lesson", "Mocked the wrong clock in the tests", "--correct",
       "freeze time with the fixture")
    # A page a person edited that the machine has new material for: a .machine.md.
    goal = next(wiki.glob("goals/G1-*.md"))
    goal.write_text(goal.read_text() + "\nMy own words.\n")
    wm(repo, "compile")
    wm(repo, "task", "add", "Document the API", "--goal", "G1")
    # A claim whose holder stopped heartbeating (no compile since, which would expire it).
    Memory(project, agent="alice", now=datetime.now(UTC) - timedelta(hours=2)).claim("T1")

    code, report = findings(repo)
    got = sorted((f["code"], f["level"], tuple(f["pages"])) for f in report["findings"])
    page = {p.name.split("-", 1)[0]: p.relative_to(wiki).as_posix()
            for p in wiki.glob("*/*.md") if not p.name.endswith(".machine.md")}
    machine = next(wiki.glob("goals/*.machine.md")).relative_to(wiki).as_posix()
    assert got == sorted([
        ("broken-link", "error", (page["N1"],)),
        ("contradiction", "error", (page["D4"], page["D5"])),
        ("duplicate", "warning", (page["L1"], page["L3"])),
        ("expired-claim", "warning", (page["T1"],)),
        ("machine-update", "warning", (machine, page["G1"])),
        ("orphan", "warning", ("topics/scratch.md",)),
        ("stale", "warning", (page["D3"],)),
    ]), got
    assert code == 1 and (report["errors"], report["warnings"]) == (2, 5)
    by_code = {f["code"]: f for f in report["findings"]}
    assert by_code["broken-link"]["detail"]["targets"] == ["no-such-page"]
    assert f"commit {change[:7]}" in by_code["stale"]["message"]
    assert "wikimem verify D3" in by_code["stale"]["fix"]
    for f in report["findings"]:
        assert f["fix"] and f["message"]
    text = wm(repo, "lint", check=False).stdout
    assert "error: contradiction: D4 and D5 are both in force" in text
    assert text.rstrip().endswith("2 error(s), 5 warning(s).")


def test_fix_links_points_a_link_with_one_clear_target_at_it(repo):
    project = clean_wiki(repo)
    note = next(project.wiki_dir.glob("notes/N1-*.md"))
    note.write_text(note.read_text() + "\nSee [[N2-prefer-small-function]] and [[zzz]].\n")
    out = json.loads(wm(repo, "lint", "--fix-links", "--json", check=False).stdout)
    assert out["fixed"] == [note.relative_to(project.wiki_dir).as_posix()]
    assert "[[N2-prefer-small-functions]]" in note.read_text()
    assert [f["detail"]["targets"] for f in out["findings"]] == [["zzz"]]


def test_proposed_items_waiting_too_long(tmp_path):
    from wikimem.memory import candidate_items

    old = {"id": "D-abc123", "kind": "decision", "page": "decisions/D-abc123-x.md",
           "title": "x", "ts": "2026-01-01T00:00:00Z", "text": "x", "where": "prompt",
           "session": "s"}
    memory = MemoryState(items=candidate_items([old]))
    (tmp_path / "wiki").mkdir()
    now = datetime(2026, 1, 20, tzinfo=UTC)
    assert [f.code for f in lint(tmp_path / "wiki", memory, now=now)] == ["proposed-waiting"]
    assert lint(tmp_path / "wiki", memory, now=now, proposed_days=30) == []


def test_contradiction_rules():
    def clash(a, b):
        state = fold([])
        for n, title in enumerate((a, b), 1):
            state.items[f"decisions/D{n}.md"] = fold_item(n, title)
        from wikimem.compile.lint import _contradictions

        return bool(_contradictions(state))

    assert clash("Use Redis for caching", "Do not use Redis for caching")
    assert clash("Enable strict mode in the linter", "Disable strict mode in the linter")
    assert clash("Postgres over MySQL", "Prefer MySQL over Postgres")
    assert not clash("Use Redis for caching", "Use Postgres for sessions")
    assert not clash("Use Redis for caching", "Avoid global state in handlers")
    assert _stance("Never commit secrets")[0] == {"always": -1}


def fold_item(n, title):
    from wikimem.memory import Item

    return Item(id=f"D{n}", kind="decision", page=f"decisions/D{n}.md", title=title,
                status="active", created="2026-01-01T00:00:00Z",
                updated="2026-01-01T00:00:00Z")


def test_with_the_llm_on_its_contradictions_are_added_and_cached(repo):
    from wikimem.compile.lint import llm_contradictions, merge_contradictions
    from wikimem.compile.llm import Completion, LLMSettings

    project = Registry().resolve(repo, create=True)
    m = Memory(project)
    m.add("decision", "Store uploads on local disk")
    m.add("decision", "Keep every file in S3", {"why": "servers are disposable"})
    m.add("decision", "Write docs in English")

    class Fake:
        calls = 0

        def __init__(self, text):
            self.text = text

        def complete(self, **kw):
            Fake.calls += 1
            assert "D2: Keep every file in S3 — why: servers are disposable" in kw["prompt"]
            return Completion(self.text, 10, 10)

    settings = LLMSettings(enabled=True)
    memory = m.state()
    answer = '{"pairs": [{"a": "D1", "b": "D2", "why": "uploads cannot be both"}]}'
    found, problems = llm_contradictions(project, memory, settings, client=Fake(answer))
    assert problems == [] and [f.pages for f in found] == [
        ["decisions/D1-store-uploads-on-local-disk.md", "decisions/D2-keep-every-file-in-s3.md"]]
    assert "uploads cannot be both" in found[0].message
    again, _ = llm_contradictions(project, memory, settings, client=Fake("unused"))
    assert Fake.calls == 1 and [f.pages for f in again] == [f.pages for f in found]  # cached
    assert len(merge_contradictions(found, again)) == 1
    # An answer naming a decision that was not asked about is not used.
    m.add("decision", "Use tabs")
    bad = '{"pairs": [{"a": "D1", "b": "D9", "why": "x"}]}'
    found, problems = llm_contradictions(project, m.state(), settings, client=Fake(bad))
    assert found == [] and "not asked about" in problems[0]
