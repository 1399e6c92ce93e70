"""LLM consolidation inside compile and bootstrap: fake client at the seam, real offline path."""

import json
import os
import subprocess
import sys

import pytest
from conftest import fixture_payload, run_hook
from test_llm import FakeClient

from wikimem.compile.build import compile_project
from wikimem.compile.llm import LLMSettings, improve_overview
from wikimem.project import Registry
from wikimem.repo.summary import facts_for_llm
from wikimem.wiki.pages import read_page, wiki_pages

ON = LLMSettings(enabled=True)


class NoCalls:
    def complete(self, **kwargs):
        raise AssertionError("the model must not be called")


def answer(prompt: str) -> str:
    session = json.loads(prompt)["session"]
    said = session["prompts"][0]
    return json.dumps({"summary": [{"text": f"QA session on {session['started'][:10]}: found "
                                            "bugs.", "quote": said[-30:]}],
                       "topics": [{"title": "Attio MCP QA", "points": [
                           {"text": "Bugs are collected in a markdown file.",
                            "quote": said[-25:]}]}]})


def record(repo, sid, prompt):
    for name, extra in (("user_prompt_submit", {"prompt": prompt}), ("stop", {})):
        run_hook(fixture_payload(name, cwd=str(repo), session_id=sid, **extra), repo)


def snapshot(wiki):
    return {rel: (wiki / rel).read_bytes() for rel in wiki_pages(wiki)}


def test_topic_page_cites_its_sessions_and_rebuild_needs_no_calls(repo):
    project = Registry().resolve(repo)
    record(repo, "s-1", "I want you to help me QA our Attio MCP tools please")
    client = FakeClient(answer)
    first = compile_project(project, llm=ON, llm_client=client)
    assert first.llm["consolidated"] == ["s-1"] and len(client.calls) == 1
    record(repo, "s-2", "Continue the Attio QA with the people endpoints")
    compile_project(project, llm=ON, llm_client=client)
    assert len(client.calls) == 2

    meta, body = read_page(project.wiki_dir / "topics/attio-mcp-qa.md")
    assert meta["kind"] == "topic"
    assert meta["sources"] == ["session:s-1", "session:s-2", "llm:claude-haiku-4-5"]
    assert body.count("[[") >= 2 and "Bugs are collected in a markdown file." in body
    session_meta, session_body = read_page(next(project.wiki_dir.glob("sessions/*-s-1.md")))
    assert "found bugs." in session_body.split("\n\n")[1]

    before = snapshot(project.wiki_dir)
    result = compile_project(project, rebuild=True, llm=ON, llm_client=NoCalls())
    assert snapshot(project.wiki_dir) == before and result.commit is None
    assert result.llm == {"called": 0, "cached": 0, "consolidated": [], "skipped": []}


def wm(repo, *args, env=None):
    return subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=repo,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


OFFLINE = {"ANTHROPIC_API_KEY": "sk-ant-test-offline", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}


def test_no_key_or_no_network_keeps_rule_based_pages_and_says_why(repo, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    record(repo, "s-1", "I want you to help me QA our Attio MCP tools please")
    r = wm(repo, "compile", "--llm")
    assert r.returncode == 0
    assert "LLM consolidation skipped for 1 session(s): no-key" in r.stderr
    assert "LLM skipped s-1: ANTHROPIC_API_KEY is not set (rule-based pages kept)" in r.stdout
    project = Registry().resolve(repo)
    assert list(project.wiki_dir.glob("sessions/*-s-1.md"))
    assert not (project.wiki_dir / "topics").exists()

    pytest.importorskip("anthropic")
    record(repo, "s-2", "Now QA the people endpoints of the Attio tools")
    r = wm(repo, "compile", "--llm", env=OFFLINE)
    assert r.returncode == 0 and "offline (cannot reach the API" in r.stderr
    assert list(project.wiki_dir.glob("sessions/*-s-2.md"))


def test_bootstrap_with_llm_offline_and_with_a_fake_client(tmp_path):
    pytest.importorskip("anthropic")
    repo = tmp_path / "tool"
    repo.mkdir()
    (repo / "README.md").write_text("# tool\n\nA tool that converts CSV files to JSON.\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm",
                    "feat: first version"], cwd=repo, check=True)
    r = wm(repo, "bootstrap", "--llm", env=OFFLINE)
    assert r.returncode == 0, r.stderr
    assert "LLM overview skipped: cannot reach the API" in r.stderr
    project = Registry().resolve(repo)
    overview = project.wiki_dir / "project/overview.md"
    assert "## In brief" not in overview.read_text()

    facts = facts_for_llm(project)
    client = FakeClient(json.dumps({"summary": "tool converts CSV files to JSON; see "
                                               "README.md."}))
    improve_overview(project, facts, ON, client=client)
    compile_project(project)
    text = overview.read_text()
    assert "## In brief" in text and "llm:claude-haiku-4-5" in text
    before = snapshot(project.wiki_dir)
    compile_project(project, rebuild=True, llm=ON, llm_client=NoCalls())
    assert snapshot(project.wiki_dir) == before
    again = improve_overview(project, facts, ON, client=NoCalls())
    assert again.called == 0 and again.consolidated == []


def test_dry_run_prints_the_request_and_changes_nothing(repo):
    record(repo, "s-1", "I want you to help me QA our Attio MCP tools please")
    project = Registry().resolve(repo)
    r = wm(repo, "compile", "--llm", "--dry-run")
    assert r.returncode == 0
    assert r.stdout.startswith("=== session s-1: ~") and "Nothing was sent." in r.stdout
    assert '"prompts": [' in r.stdout
    assert not (project.state_dir / "compile.json").exists()
    r = wm(repo, "compile", "--dry-run")
    assert r.returncode == 2 and "add --llm" in r.stderr


def test_llm_golden_pages_link_topics_both_ways():
    """The fixture sessions compiled with a fixed, grounded model: byte for byte the golden
    LLM wiki; the topic page is listed on the index, linked from each session it came from
    (whose summary is marked as the model's), and links back to them; every link resolves."""
    from conftest import resolve_links
    from golden_wiki import GOLDEN_LLM, assert_matches_golden, compile_golden_llm_wiki

    from wikimem.wiki.markdown import parse

    got = compile_golden_llm_wiki()
    assert_matches_golden(got, GOLDEN_LLM)
    text = {rel: data.decode() for rel, data in got.items()}
    topic = "topics/fixture-sessions.md"
    parsed = {rel: parse(read_page(GOLDEN_LLM / rel)[1]) for rel in text}
    assert resolve_links(parsed) == {}
    assert "topics/fixture-sessions" in parsed["index.md"].links
    sessions = sorted(rel for rel in text if rel.startswith("sessions/"))
    assert len(sessions) == 2
    for rel in sessions:
        assert "topics/fixture-sessions" in parsed[rel].links
        assert "_Summary written by claude-haiku-4-5 from this session's record" in text[rel]
        assert rel.removeprefix("sessions/").removesuffix(".md") in parsed[topic].links
    assert "_Written by claude-haiku-4-5, not by a person" in text[topic]
