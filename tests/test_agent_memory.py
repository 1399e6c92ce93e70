"""The agent keeps its own memory: what it is told, what its recorded commands produce, and
what the next session is given.

A scripted Claude Code session runs the commands install-instructions tells it to run
(`wikimem task claim`, `wikimem decide`, `wikimem task done`) for real, from a shell, as its
Bash tool would, and the real hook records each call as the agent reports it; the pages and
the next session's context are then read back. The MCP server is spoken to in raw JSON-RPC
over its stdio, as an MCP client does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import fixture_payload, run_hook

from wikimem.compile.context import RECORD_COMMANDS, RECORD_MCP, build_context, for_mcp
from wikimem.memory import Memory, MemoryState, fold, memory_observations
from wikimem.project import Registry


@pytest.fixture
def shell(wikimem_on_path):
    """A `wikimem` on PATH that is this installation (what the agent's shell finds)."""
    return wikimem_on_path


class Agent:
    """A scripted Claude Code session in `repo`: each Bash call is run for real and reported
    to the real hook as PreToolUse/PostToolUse, with what the command printed."""

    def __init__(self, repo: Path, session: str):
        self.repo, self.session = repo, session

    def hook(self, name: str, **fields) -> subprocess.CompletedProcess:
        payload = fixture_payload(name, cwd=str(self.repo), session_id=self.session,
                                  transcript_path=f"/tmp/{self.session}.jsonl", **fields)
        done = run_hook(payload, self.repo)
        assert done.returncode == 0, done.stderr
        return done

    def start(self) -> str:
        """The context the hook gives the session at start."""
        printed = self.hook("session_start").stdout
        return json.loads(printed)["hookSpecificOutput"]["additionalContext"] if printed else ""

    def prompt(self, text: str) -> None:
        self.hook("user_prompt_submit", prompt=text)

    def bash(self, command: str) -> str:
        tool_input = {"command": command, "description": "record in project memory"}
        self.hook("pre_tool_use", tool_name="Bash", tool_input=tool_input)
        ran = subprocess.run(["bash", "-c", command], cwd=self.repo, capture_output=True,
                             text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        self.hook("post_tool_use_bash", tool_input=tool_input,
                  tool_response={"stdout": ran.stdout, "stderr": ran.stderr,
                                 "interrupted": False, "isImage": False})
        return ran.stdout

    def stop(self, message: str) -> None:
        self.hook("stop", last_assistant_message=message, stop_hook_active=False)


def wikimem(repo: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_recorded_commands_become_memory_the_next_session_is_given(repo, shell):
    wikimem(repo, "init")
    wikimem(repo, "task", "add", "Make uploads survive a flaky network")
    first = Agent(repo, "loop-1")
    first.start()
    first.prompt("Uploads fail on a flaky network; make them retry.")
    assert first.bash("wikimem task claim T1 --agent claude-code").startswith(
        "Claimed T1 for claude-code")
    first.bash('wikimem decide "Retry uploads with exponential backoff, at most 5 tries" '
               '--why "the storage API drops one request in fifty" '
               '--ruled-out "a fixed 1 s retry: it hammers the API during outages" '
               '--agent claude-code')
    first.bash('wikimem task done T1 "Built: uploader.retry() with backoff and jitter in '
               'src/upload.py. Learned: the API returns 503 without Retry-After. Next: the '
               'download path needs the same." --agent claude-code')
    first.stop("Uploads now retry with backoff.")
    wikimem(repo, "compile")

    project = Registry().resolve(repo)
    wiki = project.wiki_dir
    [decision] = sorted((wiki / "decisions").glob("D1-*.md"))
    text = decision.read_text(encoding="utf-8")
    assert "the storage API drops one request in fifty" in text
    assert "a fixed 1 s retry: it hammers the API during outages" in text
    [task] = sorted((wiki / "tasks").glob("T1-*.md"))
    text = task.read_text(encoding="utf-8")
    assert "status: done" in text and "Learned: the API returns 503 without Retry-After" in text
    [session] = [p for p in (wiki / "sessions").glob("*.md")
                 if "loop-1" in p.read_text(encoding="utf-8")]
    page = session.read_text(encoding="utf-8")
    assert "## Unfinished tasks" not in page  # finished before the session stopped
    # (the commands the agent ran are on the session's transcript page)
    [transcript] = [p for p in (wiki / "transcripts").glob("*.md")
                    if "loop-1" in p.read_text(encoding="utf-8")]
    commands = transcript.read_text(encoding="utf-8")
    assert "`wikimem decide \"Retry uploads with exponential backoff" in commands
    assert "`wikimem task done T1" in commands

    context = Agent(repo, "loop-2").start()
    assert 'D1 "Retry uploads with exponential backoff, at most 5 tries" — why: "the ' \
           'storage API drops one request in fifty"' in context
    assert "## Tasks finished recently (their completion summaries)" in context
    assert '- T1 "Make uploads survive a flaky network" — done ' in context
    assert "Next: the download path needs the same." in context
    assert RECORD_COMMANDS in context


def test_a_task_left_claimed_shows_on_the_session_page_and_in_the_next_context(repo, shell):
    wikimem(repo, "init")
    wikimem(repo, "task", "add", "Port the download path to the retry helper")
    agent = Agent(repo, "left-1")
    agent.start()
    agent.prompt("Port downloads to the retry helper.")
    agent.bash("wikimem task claim T1 --agent claude-code")
    agent.bash('wikimem task heartbeat --agent claude-code --note "download() ported; '
               'resume() still calls the old client"')
    agent.stop("Ported download(); resume() is next.")
    wikimem(repo, "compile")

    wiki = Registry().resolve(repo).wiki_dir
    [session] = [p for p in (wiki / "sessions").glob("*.md")
                 if "left-1" in p.read_text(encoding="utf-8")]
    page = session.read_text(encoding="utf-8")
    assert "## Unfinished tasks\n\nClaimed by this session's agent and not finished when it " \
           "stopped:\n\n- [[T1-port-the-download-path-to-the-retry-helper|T1 Port the " \
           "download path to the retry helper]] — held by `claude-code` since " in page
    assert "; last checkpoint: download() ported; resume() still calls the old client\n" \
           in page

    context = Agent(repo, "left-2").start()
    assert "Unfinished when it stopped (claimed by its agent; pick up or release):\n" \
           '- T1 "Port the download path to the retry helper" — held by claude-code since ' \
           in context
    assert 'last checkpoint: "download() ported; resume() still calls the old client"' \
        in context
    # The rebuild renders the same page: what the page says is the task as of the session's end.
    time.sleep(1.05)  # (times are recorded to the second: "later" must be a later second)
    wikimem(repo, "task", "done", "T1", "finished later", "--agent", "claude-code")
    wikimem(repo, "compile", "--rebuild")
    assert session.read_text(encoding="utf-8") == page


def test_unfinished_is_the_task_as_of_the_given_time(project_memory):
    state = project_memory
    assert state.unfinished("claude-code", "2026-02-01T00:59:59Z") == []
    [held] = state.unfinished("claude-code", "2026-02-01T02:00:00Z")
    assert (held["id"], held["holder"], held["checkpoint"]) == ("T1", "claude-code", "half")
    assert state.unfinished("codex", "2026-02-01T02:00:00Z") == []
    assert state.unfinished("claude-code", "2026-02-01T03:00:00Z") == []  # done by then


@pytest.fixture
def project_memory(repo) -> MemoryState:
    from datetime import datetime

    wikimem(repo, "init")
    project = Registry().resolve(repo)
    times = iter(["2026-02-01T00:30:00", "2026-02-01T01:00:00", "2026-02-01T01:30:00",
                  "2026-02-01T02:30:00"])

    def memory():
        return Memory(project, agent="claude-code",
                      now=datetime.fromisoformat(next(times) + "+00:00"))

    memory().add("task", "Port downloads")
    memory().claim("T1")
    memory().task_op("task_heartbeat", "T1", "half")
    memory().task_op("task_done", "T1", "all done")
    return fold(memory_observations(project))


def test_the_context_footer_says_how_to_record_and_mcp_names_its_tools():
    from wikimem.compile.sessions import SessionRecord

    rec = SessionRecord(session_id="s", agent="codex", started="2026-01-01T00:00:00Z",
                        ended="2026-01-01T01:00:00Z", title="t", summary="s", stem="x",
                        cwd="/src")
    block = build_context("p", [rec])
    assert block.endswith(f"is the wiki folder.\n{RECORD_COMMANDS}\n</wikimem-context>\n")
    assert for_mcp(block) == block.replace(RECORD_COMMANDS, RECORD_MCP)
    assert "task_done" in RECORD_MCP and "`wikimem task done ID" in RECORD_COMMANDS


# --- the MCP server as a client sees it --------------------------------------------------------

pytest.importorskip("mcp")


def rpc(proc, message: dict) -> dict | None:
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()
    if "id" not in message:
        return None
    while True:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        reply = json.loads(line)
        if reply.get("id") == message["id"]:
            return reply


def test_mcp_tool_list_over_raw_stdio_json_rpc(repo):
    wikimem(repo, "init")
    proc = subprocess.Popen([sys.executable, "-m", "wikimem", "mcp"], cwd=repo, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        init = rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "0"}}})
        rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        called = rpc(proc, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                            "params": {"name": "task_done", "arguments": {}}})
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    instructions = init["result"]["instructions"]
    assert '"where did we leave off?", call context' in instructions
    assert "finish with task_done and a completion summary" in instructions
    tools = {t["name"]: t for t in listed["result"]["tools"]}
    assert set(tools) == {"search", "read_page", "context", "catchup", "recent_sessions",
                          "page_history",
                          "task_list", "decide", "lesson", "note", "task_claim",
                          "task_heartbeat", "task_done"}
    for name, tool in tools.items():
        assert "Use " in tool["description"], name  # each says when to reach for it
    assert 'when the user asks "have we discussed X?"' in tools["search"]["description"]
    assert '"where did we leave off?"' in tools["context"]["description"]
    assert '"remember this"' in tools["note"]["description"]
    done = tools["task_done"]
    assert ("what was built (files,\ncommands, behaviour), what was learned (surprises, dead "
            "ends), and what the next\nagent needs to know") in done["description"]
    assert done["inputSchema"]["required"] == ["task_id", "summary", "agent"]
    assert called["result"]["isError"] is True  # the schema is enforced: no summary, no done
