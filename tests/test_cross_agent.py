"""One project shared by every agent in the repository: quit Claude Code, start Codex, go on."""

import json

import pytest
from conftest import FIXTURES, fixture_payload, run_hook

from wikimem.compile.build import compile_project
from wikimem.project import Registry


def payload(agent: str, name: str, repo, **overrides) -> dict:
    data = json.loads((FIXTURES / agent / f"{name}.json").read_text())
    if "workspace_roots" in data:
        data["workspace_roots"] = [str(repo)]
    if "cwd" in data:
        data["cwd"] = str(repo)
    data.update(overrides)
    return data


@pytest.mark.parametrize("agent", ["codex", "gemini", "cursor"])
def test_next_agent_starts_where_claude_code_left_off(repo, agent):
    for name in ("session_start", "user_prompt_submit", "post_tool_use_bash", "stop"):
        assert run_hook(fixture_payload(name, cwd=str(repo), session_id="cc-1"), repo
                        ).returncode == 0
    compile_project(Registry().resolve(repo))  # what the Stop hook's detached compile does

    r = run_hook(payload(agent, "session_start", repo), repo, agent=agent)
    assert r.returncode == 0
    out = json.loads(r.stdout)  # every agent gets JSON it can parse, and nothing else
    context = (out.get("additional_context") if agent == "cursor"
               else out["hookSpecificOutput"]["additionalContext"])
    assert "## Where the last session left off" in context
    assert "(claude-code," in context and "I want you to help me QA our Attio MCP tools" in context
    assert "Implementation Plan Created" in context  # Claude Code's last message, the outcome

    project = Registry().resolve(repo)
    agents = {json.loads(line)["agent"] for f in project.raw_dir.glob("*.jsonl")
              for line in f.read_text().splitlines()}
    assert agents == {"claude-code", agent}
