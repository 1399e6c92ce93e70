"""The MCP server: in-process, and once over a real stdio subprocess."""

import asyncio
import json
import os
import sys

import pytest
from conftest import fixture_payload, run_hook

from wikimem.compile.build import compile_project
from wikimem.project import Registry

mcp = pytest.importorskip("mcp")

EXPECTED_TOOLS = {"search", "read_page", "context", "catchup", "recent_sessions", "page_history",
                  "task_list", "decide", "lesson", "note", "task_claim", "task_heartbeat",
                  "task_done"}


@pytest.fixture
def project(repo):
    for name in ("user_prompt_submit", "post_tool_use_bash", "stop"):
        run_hook(fixture_payload(name, cwd=str(repo), session_id="m-1"), repo)
    project = Registry().resolve(repo)
    compile_project(project)
    return project


def call(server, name, args):
    result = asyncio.run(server.call_tool(name, args))
    blocks = result[0] if isinstance(result, tuple) else result
    return [b.text for b in blocks]


def test_tools_in_process(project):
    from wikimem.serve.mcp import build_server

    server = build_server(project)
    tools = {t.name: t for t in asyncio.run(server.list_tools())}
    assert set(tools) == EXPECTED_TOOLS
    assert all(len(t.description) > 40 for t in tools.values())
    hits = [json.loads(t) for t in call(server, "search", {"query": "QA Attio tools"})]
    assert hits[0]["kind"] == "session"
    page = call(server, "read_page", {"page": hits[0]["path"]})[0]
    assert page.startswith("---\ntitle: I want you to help me QA")
    decided = json.loads(call(server, "decide", {"what": "Log MCP errors to stderr",
                                                 "why": "stdout carries the protocol"})[0])
    assert decided["id"] == "D1"
    assert "Log MCP errors to stderr" in call(server, "context", {})[0]
    history = json.loads(call(server, "page_history", {"page": "D1"})[0])
    assert history["revisions"][0]["subject"].startswith("Update decisions")
    sessions = [json.loads(t) for t in call(server, "recent_sessions", {"limit": 5})]
    assert sessions[0]["session_id"] == "m-1"
    json.loads(call(server, "note", {"text": "Keep tools small"})[0])
    json.loads(call(server, "lesson", {"what_went_wrong": "Printed to stdout in a server",
                                       "correct": "log to stderr"})[0])


def test_task_tools_and_errors(project):
    from mcp.server.fastmcp.exceptions import ToolError

    from wikimem.memory import Memory
    from wikimem.serve.mcp import build_server

    Memory(project).add("task", "Wire the exporter")
    server = build_server(project)
    claimed = json.loads(call(server, "task_claim", {"agent": "codex"})[0])
    assert (claimed["id"], claimed["holder"]) == ("T1", "codex")
    listed = [json.loads(t) for t in call(server, "task_list", {})]
    assert listed[0]["holder"] == "codex"
    json.loads(call(server, "task_heartbeat", {"agent": "codex", "note": "half"})[0])
    done = json.loads(call(server, "task_done", {"task_id": "T1", "summary": "shipped",
                                                 "agent": "codex"})[0])
    assert done["status"] == "done"
    with pytest.raises(ToolError, match="No todo task to claim"):
        asyncio.run(server.call_tool("task_claim", {"agent": "codex"}))


def test_real_stdio_subprocess(project, repo):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "wikimem", "mcp"],
                                   cwd=str(repo), env=dict(os.environ))

    async def session():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                tools = await client.list_tools()
                result = await client.call_tool("search", {"query": "Attio MCP tools QA"})
                return {t.name for t in tools.tools}, result

    names, result = asyncio.run(asyncio.wait_for(session(), 60))
    assert names == EXPECTED_TOOLS
    assert not result.isError
    first = json.loads(result.content[0].text)
    assert first["kind"] == "session" and "Attio" in first["title"]


def test_search_tool_checks_kind_and_query_as_the_cli_does(project):
    from mcp.server.fastmcp.exceptions import ToolError

    from wikimem.serve.mcp import build_server

    server = build_server(project)
    hits = [json.loads(t) for t in call(server, "search", {"query": "QA Attio tools",
                                                           "kind": "sessions"})]
    assert hits and {h["kind"] for h in hits} == {"session"}
    with pytest.raises(ToolError, match="'bogus' is not a page kind. Use one of: session, "
                                        "decision, lesson"):
        asyncio.run(server.call_tool("search", {"query": "QA", "kind": "bogus"}))
    with pytest.raises(ToolError, match="The query is empty: say what to search for."):
        asyncio.run(server.call_tool("search", {"query": "  "}))


def test_mcp_memories_are_tied_to_files_they_name_and_reads_count_as_uses(project, repo):
    import subprocess

    from wikimem.compile.decay import last_uses
    from wikimem.serve.mcp import build_server

    (repo / "server.py").write_text("print()\n")
    subprocess.run(["git", "-C", str(repo), "add", "server.py"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "server"], check=True)
    server = build_server(project)
    call(server, "decide", {"what": "Log from server.py to stderr", "why": "stdout is taken"})
    from wikimem.compile.read import load_memory

    item = load_memory(project).find("D1")
    assert list(item.anchors) == ["server.py"]
    call(server, "search", {"query": "stderr"})
    assert item.page in last_uses(project)
