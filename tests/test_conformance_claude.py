"""Every recorded Claude Code payload under ../shared/data/agents/claude is accepted.

Skips when the shared data folder is absent (a user's clone has none).
"""

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, run_hook

from wikimem.agents.claude_code import adapter as claude_code
from wikimem.capture import rawlog
from wikimem.capture.observation import KINDS
from wikimem.capture.observe import MAX_LINE, make_observation
from wikimem.project import Registry

CLAUDE = SHARED_DATA / "agents" / "claude" / "hooks"
TRUNCATED = "attio-mcp-server__subagent_stop.json"
pytestmark = pytest.mark.skipif(not CLAUDE.is_dir(), reason="../shared/data is not present")


def all_payloads() -> list[tuple[str, dict]]:
    found = []
    for f in sorted((CLAUDE / "raw").glob("*.json")):
        if f.name == TRUNCATED:
            continue
        for i, p in enumerate(json.loads(f.read_text())):
            found.append((f"{f.name}[{i}]", p))
    for f in sorted((CLAUDE / "payloads").rglob("*.json")):
        found.append((f.name, json.loads(f.read_text())))
    for f in sorted((CLAUDE / "payloads_redacted").glob("*.jsonl")):
        for i, line in enumerate(f.read_text().splitlines()):
            if line.strip():
                found.append((f"{f.name}:{i + 1}", json.loads(line)))
    return found


def test_every_recorded_payload_normalizes_without_loss():
    payloads = all_payloads()
    assert len(payloads) > 5000
    for name, payload in payloads:
        event = claude_code.normalize(payload)
        assert event.kind in KINDS, name
        assert event.kind != "other", f"{name}: {payload.get('hook_event_name')}"
        assert event.session == payload["session_id"], name
        assert event.cwd == payload.get("cwd", ""), name
        if payload["hook_event_name"] == "UserPromptSubmit":
            assert event.data["prompt"] == payload["prompt"], name
        if "tool_name" in payload:
            assert event.data["tool"] == payload["tool_name"], name
        if isinstance(payload.get("tool_input"), dict) and "file_path" in payload["tool_input"]:
            assert event.data["files"][0]["path"] == payload["tool_input"]["file_path"], name
        if payload.get("last_assistant_message"):
            assert event.data["message"] == payload["last_assistant_message"], name
        obs = make_observation("claude-code", event, payload)
        assert len(obs.to_json().encode()) <= MAX_LINE, name
        json.loads(obs.to_json())


def test_hand_checked_sample():
    """Payloads checked by hand against their files."""
    by_name = dict(all_payloads())
    e = claude_code.normalize(by_name["attio-mcp-server__post_tool_use__2.json"])
    assert (e.kind, e.data["tool"], e.data["command"], e.data["exit_code"]) == (
        "tool_post", "Bash", "git branch --show-current", 0)
    assert e.data["output"] == "fix/issue-377-phase1-critical-fixes"
    e = claude_code.normalize(by_name["attio-mcp-server__post_tool_use__19.json"])
    assert e.data["files"] == [{
        "path": "/Users/kesslerio/GDrive/Projects/attio-mcp-server/src/handlers/tool-configs/"
                "universal/shared-handlers.ts", "op": "change"}]
    assert "output" not in e.data  # an Edit's response repeats the file; the input has the diff
    e = claude_code.normalize(by_name["ha-green-button__stop__0.json"])
    assert e.kind == "stop" and e.session == "cc1fcdcf-d742-4431-9b09-78adfe9b36ec"
    assert e.data["message"].startswith("---\n\n**Implementation Plan Created**")
    e = claude_code.normalize(by_name["tmux-agents__claude_2.1.x.jsonl:4"])
    assert e.kind == "prompt"
    assert e.data["prompt"] == (
        "Run exactly this shell command and nothing else: echo hello-from-tma")


def test_recorded_session_through_the_hook_process(repo):
    """One real recorded session, event by event, through `wikimem hook claude-code`."""
    lines = (CLAUDE / "payloads_redacted" / "tmux-agents__claude_2.1.x.jsonl").read_text()
    payloads = [json.loads(x) for x in lines.splitlines() if x.strip()]
    for p in payloads:
        p["cwd"] = str(repo)
        assert run_hook(p, repo).returncode == 0
    project = Registry().resolve(repo)
    stored = [o for f in rawlog.session_files(project.raw_dir)
              for o in rawlog.read(f).observations]
    # Every payload of this capture is distinct (even the two SessionStarts), so all are kept.
    assert len(stored) == len(payloads)
    assert not project.error_log.exists()


def test_truncated_file_is_rejected_cleanly(repo):
    raw = (CLAUDE / "raw" / TRUNCATED).read_bytes()
    with pytest.raises(ValueError):
        json.loads(raw)
    r = run_hook(None, repo, raw=raw)
    assert r.returncode == 0 and r.stdout == b""
    project = Registry().resolve(repo)
    (err,) = [json.loads(x) for x in project.error_log.read_text().splitlines()]
    assert "not valid JSON" in err["error"]
    assert list(Path(project.raw_dir).glob("*.jsonl")) == []
