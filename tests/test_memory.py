"""Structured memory through its real path: raw log -> fold -> pages -> git -> index."""

import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest

from wikimem.compile.build import compile_project
from wikimem.compile.read import load_memory
from wikimem.errors import WikimemError
from wikimem.memory import Memory, memory_observations
from wikimem.project import Registry
from wikimem.search.index import SearchIndex
from wikimem.wiki.pages import read_page

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def project(repo):
    return Registry().resolve(repo)


def test_items_are_observations_first(project):
    m = Memory(project, agent="alice", now=T0)
    d = m.add("decision", "Use Postgres", {"why": "concurrency", "ruled_out": "SQLite"})
    assert (d.id, d.page, d.status) == ("D1", "decisions/D1-use-postgres.md", "active")
    (obs,) = memory_observations(project)
    assert obs.kind == "memory" and obs.data["op"] == "add" and obs.agent == "alice"
    assert m.add("decision", "Second").id == "D2"
    with pytest.raises(WikimemError, match="must not be empty"):
        m.add("note", "   ")


def test_supersession_links_both_pages_and_search_shows_only_current(project):
    m = Memory(project, agent="alice", now=T0)
    old = m.add("decision", "Cache sessions in Redis", {"why": "speed"})
    Memory(project, now=T0 + timedelta(days=3)).add(
        "decision", "Cache sessions in memory", {"why": "one process"}, supersedes=[old.page])
    compile_project(project)
    old_meta, old_body = read_page(project.wiki_dir / old.page)
    new_meta, _ = read_page(project.wiki_dir / "decisions/D2-cache-sessions-in-memory.md")
    assert old_meta["status"] == "superseded"
    assert old_meta["superseded_by"] == ["[[D2-cache-sessions-in-memory]]"]
    assert old_meta["valid_until"] == "2026-05-04T09:00:00Z"
    assert new_meta["supersedes"] == ["[[D1-cache-sessions-in-redis]]"]
    assert "[!warning] Superseded by [[D2-cache-sessions-in-memory|" in old_body
    index = SearchIndex(project.index_dir, project.wiki_dir)
    assert [h.path for h in index.search("cache sessions")] == [
        "decisions/D2-cache-sessions-in-memory.md"]
    assert old.page in [h.path for h in index.search("cache sessions", include_all=True)]


def test_forget_retracts_any_page(project):
    m = Memory(project, now=T0)
    n = m.add("note", "Prefer small PRs")
    m.forget(n.page, "we changed our mind")
    compile_project(project)
    meta, body = read_page(project.wiki_dir / n.page)
    assert meta["status"] == "retracted" and "we changed our mind" in body
    assert SearchIndex(project.index_dir, project.wiki_dir).search("small PRs") == []
    assert "Prefer small PRs" not in project.context_file.read_text()
    with pytest.raises(WikimemError, match="Say why"):
        m.forget(n.page, " ")


def test_task_lifecycle_and_checkpoints_survive_expiry(project):
    m = Memory(project, agent="a1", now=T0, claim_expiry_minutes=30)
    m.add("task", "Port the importer", {"acceptance": "imports v2 logs"})
    assert m.claim().holder == "a1"
    Memory(project, agent="a1", now=T0 + timedelta(minutes=20)).task_op(
        "task_heartbeat", None, "parser done, writer next")
    with pytest.raises(WikimemError, match="is claimed by a1"):
        Memory(project, agent="a2", now=T0 + timedelta(minutes=40)).claim("T1")
    # 31 minutes after the last heartbeat the claim is stale: a2 gets the task.
    late = Memory(project, agent="a2", now=T0 + timedelta(minutes=51))
    task = late.claim()
    assert (task.id, task.holder, task.status) == ("T1", "a2", "in_progress")
    assert [e["event"] for e in task.events] == ["created", "claimed", "heartbeat", "expired",
                                                 "claimed"]
    assert task.checkpoints[0]["note"] == "parser done, writer next"
    done = late.task_op("task_done", "T1", "importer ported; v1 logs need a shim")
    assert done.status == "done" and done.fields["result"].startswith("importer ported")
    with pytest.raises(WikimemError, match="already done"):
        late.task_op("task_fail", "T1", "x")
    compile_project(project)
    _, body = read_page(project.wiki_dir / "tasks/T1-port-the-importer.md")
    assert "parser done, writer next" in body and "expired by a1" in body


def test_compile_expires_stale_claims(project):
    m = Memory(project, agent="a1", now=T0)
    m.add("task", "Something")
    m.claim()
    compile_project(project, claim_expiry_minutes=30)  # the real clock: long after T0
    assert load_memory(project).items["tasks/T1-something.md"].status == "todo"


def _claimer(args):
    home, repo, agent, start, n = args
    import os

    os.environ["WIKIMEM_HOME"] = home
    project = Registry().resolve(repo)
    got = []
    start.wait()
    for _ in range(n):
        try:
            got.append(Memory(project, agent=agent).claim().id)
        except WikimemError:
            break
    return got


def test_two_processes_claiming_at_once_never_get_the_same_task(project, repo, wikimem_home):
    m = Memory(project)
    for i in range(40):
        m.add("task", f"Task number {i}")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(2) as pool:
            pending = pool.map_async(_claimer, [(str(wikimem_home), str(repo), f"agent-{k}",
                                                 start, 25) for k in range(2)])
            start.set()
            a, b = pending.get(timeout=120)
    assert not set(a) & set(b)
    assert sorted(a + b, key=lambda t: int(t[1:])) == [f"T{i}" for i in range(1, 41)]
    holders = {t.id: t.holder for t in load_memory(project).of_kind("task")}
    assert all(holders[t] == "agent-0" for t in a) and all(holders[t] == "agent-1" for t in b)


def test_goals_list_their_tasks(project):
    m = Memory(project, now=T0)
    g = m.add("goal", "Ship v2", {"why": "customers", "success_signal": "3 teams on it"})
    m.add("task", "Migrate", {"goal": g.page})
    m.goal_done("G1")
    compile_project(project)
    meta, body = read_page(project.wiki_dir / g.page)
    assert meta["status"] == "done" and "[[T1-migrate|Migrate]] — todo" in body
