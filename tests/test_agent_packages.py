"""One folder per agent: what each provides, and that nothing else branches on its name."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import wikimem
from wikimem import agents
from wikimem.agents import hooklog, installers, protocol

SOURCE = Path(wikimem.__file__).parent
AGENT_NAMES = {*agents.NAMES, *agents.ALIASES}


def _names_in(node: ast.AST):
    """The agent names a literal holds (a string, or a tuple, list or set of strings)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if node.value in AGENT_NAMES:
            yield node.value
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for element in node.elts:
            yield from _names_in(element)


def agent_branches(source: str, where: str = "<string>") -> list[str]:
    """Comparisons with an agent's name (`agent == "codex"`, `name in ("gemini", ...)`),
    `case "cursor":` patterns, and tables keyed by agents' names, in one module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            operands = [key for key in node.keys if key is not None]
        elif isinstance(node, ast.MatchValue):
            operands = [node.value]
        else:
            continue
        found += [f"{where}:{node.lineno}: {name!r}" for operand in operands
                  for name in _names_in(operand)]
    return found


def test_the_check_finds_branches_on_an_agents_name():
    source = ("if agent == 'codex':\n    pass\n"
              "ok = name not in ('claude-code', 'gemini')\n"
              "where = {'cursor': '~/.cursor'}\n"
              "match agent:\n    case 'gemini-cli':\n        pass\n"
              "fine = tool == 'Bash' or kind in ('mcp', 'hooks')\n")
    assert [line.split(": ")[1] for line in agent_branches(source)] == [
        "'codex'", "'claude-code'", "'gemini'", "'cursor'", "'gemini-cli'"]


def test_only_an_agents_own_folder_branches_on_its_name():
    """Adding an agent touches its folder (and one line of the registry), nothing else."""
    own = {SOURCE / "agents" / package for package in agents.AGENTS.values()}
    registry = SOURCE / "agents" / "__init__.py"
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path == registry or any(folder in path.parents for folder in own):
            continue
        found += agent_branches(path.read_text(encoding="utf-8"),
                                str(path.relative_to(SOURCE)))
    assert found == []


@pytest.mark.parametrize("name", agents.NAMES)
def test_each_agent_provides_what_the_protocol_says(name):
    agent = agents.agent(name)
    assert isinstance(agent, protocol.Agent) and agent.name == name
    assert isinstance(agent.adapter, protocol.Adapter) and agent.adapter.AGENT == name
    assert agent.adapter is agents.get(name)
    assert isinstance(agent.installer, installers.Installer)
    assert {"hooks", "mcp"} <= set(agent.installer.kinds)
    if agent.importer is not None:
        assert isinstance(agent.importer, protocol.Importer) and agent.importer.AGENT == name


def test_the_agents_with_transcripts_wikimem_can_import():
    assert [n for n in agents.NAMES if agents.agent(n).importer is not None] == [
        "claude-code", "codex", "gemini"]


@pytest.mark.parametrize("name", agents.NAMES)
def test_get_loads_only_that_agents_adapter(name):
    """The hook calls `agents.get(name)` on every event: no other agent, no installer, no
    importer comes with it."""
    probe = ("import json, sys\nfrom wikimem import agents\nbefore = set(sys.modules)\n"
             f"agents.get({name!r})\nprint(json.dumps(sorted(set(sys.modules) - before)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    loaded = {m for m in json.loads(out) if m.startswith("wikimem")}
    package = f"wikimem.agents.{agents.AGENTS[name]}"
    assert f"{package}.adapter" in loaded
    assert loaded <= {package, f"{package}.adapter", "wikimem.agents.common",
                      "wikimem.capture", "wikimem.capture.event"}


def test_a_hook_log_is_read_as_the_agent_most_of_its_payloads_belong_to(tmp_path):
    """A log mixing agents' payloads: the agent that most recognisably wrote them wins."""
    codex = [{"session_id": "s", "cwd": "/r", "hook_event_name": "UserPromptSubmit",
              "turn_id": f"t{n}", "prompt": f"p{n}"} for n in range(3)]
    cursor = [{"conversation_id": "c", "hook_event_name": "beforeSubmitPrompt",
               "prompt": "hi", "workspace_roots": ["/r"]}]
    assert hooklog.guess_agent(codex + cursor) == "codex"
    assert hooklog.guess_agent(cursor + codex[:1] + cursor) == "cursor"
    log = tmp_path / "mixed.jsonl"
    log.write_text("".join(json.dumps(p) + "\n" for p in cursor + codex))
    stats: Counter = Counter()
    assert {i.agent for i in hooklog.read(log, stats)} == {"codex"}
