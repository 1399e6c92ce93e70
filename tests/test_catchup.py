"""Catch-up: `wikimem catchup`, the MCP tool, and the weekly digest pages compile writes."""

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from conftest import session_events
from golden_wiki import (
    CATCHUP_GOLDEN,
    FAKE_CWD,
    REGENERATE,
    T0,
    catchup_golden_screen,
    feed,
    read_wiki,
)

from wikimem.cli import cli
from wikimem.compile.build import compile_project
from wikimem.compile.catchup import catchup, parse_since, week_bounds, week_of, weeks_spanned
from wikimem.memory import Memory


def test_catchup_since_7d_on_the_demo_wiki_matches_its_golden_screen():
    got = catchup_golden_screen()
    want = CATCHUP_GOLDEN.read_text(encoding="utf-8")
    assert got == want, REGENERATE
    # What a teammate acts on is all there, in one screen.
    assert len(got.splitlines()) <= 40
    for line in ("Sessions (2)", "superseded D1  Keep Node 18 as the minimum runtime — by D2",
                 "done        T1", "in progress T2", "docs/open-issue-triage.md  (1 session)",
                 "→ Silou — I primed on the repo"):
        assert line in got


def test_since_forms():
    now = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2w", now) == now - timedelta(days=14)
    assert parse_since("36h", now) == now - timedelta(hours=36)
    assert parse_since("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_since("2026-03-01T12:00Z", now) == datetime(2026, 3, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a date"):
        parse_since("last tuesday", now)


def test_cli_usage_errors_exit_2(project_with_sessions):
    runner = CliRunner()
    bad = runner.invoke(cli, ["--project", project_with_sessions.name, "catchup",
                              "--since", "soon"])
    assert bad.exit_code == 2
    assert "Invalid value for --since: 'soon' is neither a date" in bad.output
    future = runner.invoke(cli, ["--project", project_with_sessions.name, "catchup",
                                 "--since", "2999-01-01"])
    assert future.exit_code == 2
    assert "is not in the past" in future.output


@pytest.fixture
def project_with_sessions():
    feed(session_events(FAKE_CWD, "01-node-bump.jsonl"), T0)
    project = feed(session_events(FAKE_CWD, "02-issue-triage.jsonl"), T0 + timedelta(days=1))
    compile_project(project)
    return project


def test_window_bounds_sessions_and_json(project_with_sessions):
    project = project_with_sessions
    # Only the second session was active in the last day before this moment.
    found = catchup(project, T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert [s["date"] for s in found.sessions] == ["2026-03-03"]
    assert found.files == [{"path": "docs/README.md", "sessions": 1},
                           {"path": "docs/open-issue-triage.md", "sessions": 1}]
    assert catchup(project, T0 + timedelta(days=5), T0 + timedelta(days=6)).empty


def test_weeks():
    assert week_of("2026-03-02T09:30:00Z") == "2026-W10"
    assert week_of("2026-03-01T23:59:59Z") == "2026-W09"
    assert week_bounds("2026-W10") == ("2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z")
    assert weeks_spanned("2026-03-01T23:00:00Z", "2026-03-02T01:00:00Z") == {
        "2026-W09", "2026-W10"}
    assert week_of("2021-01-03T12:00:00Z") == "2020-W53"


def _weekly_wiki(order):
    """Two sessions three weeks apart and memory events between them, compiled after each
    step in `order`; the wiki's pages."""
    project = None
    steps = {
        "first": lambda: feed(session_events(FAKE_CWD, "01-node-bump.jsonl"), T0),
        "second": lambda: feed(session_events(FAKE_CWD, "02-issue-triage.jsonl"),
                               T0 + timedelta(days=21)),
    }
    for step in order:
        if step in steps:
            project = steps[step]() or project
        else:
            step(project)
        compile_project(project)
    return project


def _decide(project):
    first = Memory(project, agent="cli", now=T0 + timedelta(days=8)).add(
        "decision", "Use Node 22", {"why": "end of life"})
    Memory(project, agent="cli", now=T0 + timedelta(days=9)).add(
        "task", "Bump engines")
    Memory(project, agent="cli", now=T0 + timedelta(days=10)).add(
        "decision", "Use Node 24", {"why": "newer"}, supersedes=[first.page])


def test_weekly_digests_incremental_equals_rebuild_and_link_the_weeks():
    project = _weekly_wiki(["first", _decide, "second"])
    incremental = read_wiki(project.wiki_dir)
    digests = sorted(p for p in incremental if p.startswith("digests/"))
    # A week with sessions or memory events has a page; the empty week between has none.
    assert digests == ["digests/2026-W10.md", "digests/2026-W11.md", "digests/2026-W13.md"]
    week11 = incremental["digests/2026-W11.md"].decode()
    assert "- decided: [[decisions/D1-use-node-22|D1 Use Node 22]]" in week11
    assert "- superseded: [[decisions/D1-use-node-22|D1 Use Node 22]] — by D2" in week11
    assert "- new: [[tasks/T1-bump-engines|T1 Bump engines]]" in week11
    assert "Previous week: [[digests/2026-W10|2026-W10]]" in week11
    assert "Next week: [[digests/2026-W13|2026-W13]]" in week11
    # The first week was rendered before the others existed: its link to the next came later.
    assert "Next week: [[digests/2026-W11|2026-W11]]" in \
        incremental["digests/2026-W10.md"].decode()
    assert "[[digests/2026-W13|2026-W13]]" in incremental["index.md"].decode()
    compile_project(project, rebuild=True)
    assert read_wiki(project.wiki_dir) == incremental


def test_weekly_digest_follows_a_forget_and_a_task_done():
    project = _weekly_wiki(["first", _decide, "second"])
    Memory(project, agent="cli", now=T0 + timedelta(days=11)).forget(
        "decisions/D2-use-node-24.md", "wrong call")
    memory = Memory(project, agent="claude-code", now=T0 + timedelta(days=22))
    memory.claim("T1")
    memory.task_op("task_done", "T1", "bumped")
    compile_project(project)
    pages = read_wiki(project.wiki_dir)
    assert "- retracted: [[decisions/D2-use-node-24|D2 Use Node 24]] — wrong call" in \
        pages["digests/2026-W11.md"].decode()
    week13 = pages["digests/2026-W13.md"].decode()
    assert "- done: [[tasks/T1-bump-engines|T1 Bump engines]] — bumped" in week13
    compile_project(project, rebuild=True)
    assert read_wiki(project.wiki_dir) == pages


def test_digest_pages_are_left_out_of_search_unless_asked_for(project_with_sessions):
    from wikimem.search.index import SearchIndex

    project = project_with_sessions
    index = SearchIndex(project.index_dir, project.wiki_dir)
    assert all(h.kind != "digest" for h in index.search("triage issues node", limit=20))
    assert [h.path for h in index.search("triage", kinds=["digest"])] == \
        ["digests/2026-W10.md"]


def test_mcp_catchup_tool(project_with_sessions):
    pytest.importorskip("mcp")
    import asyncio
    import json

    from wikimem.serve.mcp import build_server

    server = build_server(project_with_sessions)
    result = asyncio.run(server.call_tool("catchup", {"since": "3000d"}))
    blocks = result[0] if isinstance(result, tuple) else result
    found = json.loads(blocks[0].text)
    assert [s["date"] for s in found["sessions"]] == ["2026-03-03", "2026-03-02"]
    assert found["screen"].startswith("Catch-up: serverless-plugins, ")
    tool = {t.name: t for t in asyncio.run(server.list_tools())}["catchup"]
    assert "where did we leave off" in tool.description.lower()


def test_catchup_says_when_events_wait_to_be_compiled(project_with_sessions):
    project = project_with_sessions
    until = T0 + timedelta(days=3)
    assert "not compiled yet" not in catchup_screen(project, until)
    feed(session_events(FAKE_CWD, "01-node-bump.jsonl")[:3], T0 + timedelta(days=2))
    # (the same session id again: its log grew)
    screen = catchup_screen(project, until)
    assert screen.splitlines()[1] == ("1 session log has events not compiled yet: run "
                                      "`wikimem compile` to include them.")


def catchup_screen(project, until):
    from wikimem.compile.catchup import render_text

    return render_text(catchup(project, until - timedelta(days=7), until))


def test_a_session_that_ended_within_the_current_second_is_caught_up():
    # Records keep whole seconds; a window ending a fraction of a second later holds them.
    events = session_events(FAKE_CWD, "01-node-bump.jsonl")
    project = feed(events, T0)
    compile_project(project)
    # (its first event is at T0: a window ending 0.3 s into that second holds it)
    found = catchup(project, T0 - timedelta(days=1), T0 + timedelta(microseconds=300_000))
    assert len(found.sessions) == 1
