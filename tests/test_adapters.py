"""The Codex, Gemini CLI and Cursor adapters, on small real payloads (tests/fixtures/<agent>/)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, run_hook

from wikimem import agents as adapters
from wikimem.agents import common
from wikimem.agents.codex import adapter as codex
from wikimem.agents.cursor import adapter as cursor
from wikimem.agents.gemini import adapter as gemini
from wikimem.capture import rawlog
from wikimem.capture.observation import KINDS
from wikimem.capture.observe import make_observation
from wikimem.project import Registry

AGENTS = {"codex": codex, "gemini": gemini, "cursor": cursor}
CONTEXT = '<wikimem-context project="p">\nDecided: "use uv" — ünïcode \\ {"json": 1}\n' \
          "</wikimem-context>\n"


def load(agent: str, name: str, **overrides) -> dict:
    payload = json.loads((FIXTURES / agent / f"{name}.json").read_text())
    payload.update(overrides)
    return payload


def fixtures(agent: str) -> list[tuple[str, dict]]:
    return [(f.stem, json.loads(f.read_text())) for f in sorted((FIXTURES / agent).glob("*.json"))]


def stored(repo) -> list:
    project = Registry().resolve(repo)
    return [o for f in rawlog.session_files(project.raw_dir) for o in rawlog.read(f).observations]


# --- registry and imports ------------------------------------------------------------------


@pytest.mark.parametrize("name,module", [
    ("codex", codex), ("codex-cli", codex), ("gemini", gemini), ("gemini-cli", gemini),
    ("cursor", cursor), ("cursor-agent", cursor),
])
def test_registered_under_names_and_aliases(name, module):
    assert adapters.get(name) is module
    assert module.AGENT == adapters.ALIASES.get(name, name)


@pytest.mark.parametrize("module", AGENTS.values())
def test_adapter_imports_only_stdlib_and_event(module):
    tree = ast.parse(Path(module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.module == "wikimem.agents.common":  # the shared helpers
                assert all(hasattr(common, a.name) for a in node.names)
            elif node.module == "wikimem.capture.event":
                assert [a.name for a in node.names] == ["Event"]
            else:
                imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


# --- session-start output --------------------------------------------------------------------


def test_codex_session_start_output_is_its_schema():
    out = json.loads(codex.session_start_output(CONTEXT))
    # session-start.command.output.schema.json allows no other keys (additionalProperties).
    assert out == {"hookSpecificOutput": {"hookEventName": "SessionStart",
                                          "additionalContext": CONTEXT}}


def test_gemini_session_start_output_is_json_only():
    text = gemini.session_start_output(CONTEXT)
    assert json.loads(text) == {"hookSpecificOutput": {"hookEventName": "SessionStart",
                                                       "additionalContext": CONTEXT}}
    assert "\n" not in text  # one JSON document, nothing else on stdout


def test_cursor_session_start_output_is_snake_case():
    assert json.loads(cursor.session_start_output(CONTEXT)) == {"additional_context": CONTEXT}


@pytest.mark.parametrize("agent,start,prompt,stop,extract", [
    ("codex", "session_start", "user_prompt_submit", "stop",
     lambda out: out["hookSpecificOutput"]["additionalContext"]),
    ("gemini", "session_start", "before_agent", "after_agent",
     lambda out: out["hookSpecificOutput"]["additionalContext"]),
    ("cursor", "session_start", "before_submit_prompt", "stop",
     lambda out: out["additional_context"]),
])
def test_session_start_hook_prints_the_agents_format(repo, agent, start, prompt, stop, extract):
    """Record a turn, compile, then a new session's start prints the block the agent reads."""
    from wikimem.compile.build import compile_project

    def point(p):
        p = dict(p)
        if agent == "cursor":
            p["workspace_roots"] = [str(repo)]
            p["conversation_id"] = p["session_id"] = "conv-1"
        else:
            p["cwd"] = str(repo)
            p["session_id"] = "s-1"
        return p

    assert run_hook(point(load(agent, prompt)), repo, agent=agent).returncode == 0
    assert run_hook(point(load(agent, stop)), repo, agent=agent).returncode == 0
    compile_project(Registry().resolve(repo))
    new = point(load(agent, start))
    new["session_id"] = new["conversation_id"] = "s-2"
    r = run_hook(new, repo, agent=agent)
    assert r.returncode == 0 and r.stderr == b""
    ctx = extract(json.loads(r.stdout))
    assert ctx.startswith("<wikimem-context") and ctx.rstrip().endswith("</wikimem-context>")
    assert load(agent, prompt)["prompt"][:40] in ctx  # the earlier session's title


# --- unknown events and missing fields -----------------------------------------------------


@pytest.mark.parametrize("agent,payload,session", [
    ("codex", {"session_id": "s", "cwd": "/r", "hook_event_name": "PostCompact",
               "trigger": "auto", "novel": 1}, "s"),
    ("codex", {"type": "approval-requested", "thread-id": "t", "cwd": "/r", "novel": 1}, "t"),
    ("gemini", {"session_id": "s", "cwd": "/r", "hook_event_name": "AfterModel",
                "llm_request": {"model": "m"}, "novel": 1}, "s"),
    ("cursor", {"conversation_id": "s", "workspace_roots": ["/r"],
                "hook_event_name": "afterAgentThought", "novel": 1}, "s"),
])
def test_unknown_events_are_kept_as_other(agent, payload, session):
    e = AGENTS[agent].normalize(payload)
    assert e.kind == "other" and e.session == session and e.cwd == "/r"
    assert e.data["event"] in (payload.get("hook_event_name"), payload.get("type"))
    assert e.data["extra"]["novel"] == 1


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("payload", [
    {},
    {"hook_event_name": None, "type": None},
    {"hook_event_name": 7, "session_id": 3, "cwd": ["x"], "conversation_id": {},
     "workspace_roots": "nope"},
    {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": None,
     "tool_response": None},
    {"hook_event_name": "PostToolUse", "tool_name": "apply_patch", "tool_input": ["x"],
     "tool_response": {"content": "x"}},
    {"hook_event_name": "AfterTool", "tool_name": "run_shell_command", "tool_input": "x",
     "tool_response": {"llmContent": [{"text": "a"}, 3], "error": {"x": 1}}},
    {"hook_event_name": "AfterTool", "tool_name": "read_many_files",
     "tool_input": {"paths": ["a", 2]}, "tool_response": 5},
    {"hook_event_name": "postToolUse", "tool_name": "Shell", "tool_input": {"command": 1},
     "tool_output": "{broken"},
    {"hook_event_name": "afterFileEdit", "file_path": None, "edits": None},
    {"hook_event_name": "afterMCPExecution", "tool_name": "x", "tool_input": "{bad",
     "result_json": "{\"content\": [{\"text\": \"ok\"}]}"},
    {"thread-id": "t", "input-messages": "not a list", "last-assistant-message": None},
    {"type": "agent-turn-complete", "input-messages": [1, "two"]},
])
def test_missing_or_odd_fields_do_not_raise(agent, payload):
    e = AGENTS[agent].normalize(payload)
    assert e.kind in KINDS and isinstance(e.session, str) and isinstance(e.cwd, str)
    json.loads(make_observation(agent, e, payload).to_json())


# --- every fixture: nothing lost -------------------------------------------------------------


def accounted(payload: dict, event) -> list[str]:
    """Payload keys whose value is neither in the event's data/session/cwd nor in extra."""
    extra = event.data.get("extra", {})
    values = [v for k, v in event.data.items() if k != "extra"]
    missing = []
    for key, value in payload.items():
        if value is None or value == "" or value == [] or key in extra:
            continue
        if value in values or value in (event.session, event.cwd, [event.cwd]):
            continue
        if key in ("hook_event_name", "tool_name", "tool_input", "tool_response", "tool_output",
                   "type", "input-messages", "user_email"):  # (user_email: left out on purpose)
            continue
        missing.append(key)
    return missing


@pytest.mark.parametrize("agent", AGENTS)
def test_every_fixture_normalizes_without_loss(agent):
    found = fixtures(agent)
    assert len(found) >= 7
    for name, payload in found:
        e = AGENTS[agent].normalize(payload)
        assert e.kind in KINDS and e.kind != "other", name
        assert accounted(payload, e) == [], name
        json.loads(make_observation(agent, e, payload).to_json())


# --- Codex -------------------------------------------------------------------------------------


def test_codex_apply_patch_changes_the_files_it_names():
    e = codex.normalize(load("codex", "post_tool_use_apply_patch"))
    assert (e.kind, e.data["tool"], e.data["exit_code"]) == ("tool_post", "apply_patch", 0)
    assert e.data["files"] == [{"path": "hello.txt", "op": "change"}]
    assert e.data["output"] == "Success. Updated the following files:\nA hello.txt\n"
    assert e.uid == "PostToolUse:call_9pq2ChYkd2XGBYc3HpRZO29b"
    patch = ("*** Begin Patch\n*** Update File: src/a.py\n@@\n-x\n+y\n*** Delete File: old.txt\n"
             "*** Update File: src/b.py\n*** Move to: src/c.py\n@@\n-1\n+2\n"
             "*** Add File: new.md\n+hi\n*** End Patch")
    assert [f["path"] for f in codex.patch_files(patch)] == [
        "src/a.py", "old.txt", "src/b.py", "src/c.py", "new.md"]
    via_shell = codex.normalize({"hook_event_name": "PreToolUse", "tool_name": "Bash",
                                 "tool_input": {"command": f"apply_patch <<'EOF'\n{patch}\nEOF"}})
    assert len(via_shell.data["files"]) == 5


def test_codex_bash_output_has_no_exit_code_to_report():
    e = codex.normalize(load("codex", "post_tool_use_bash"))
    assert (e.data["command"], e.data["output"]) == ("wc -c hello.txt", "      14 hello.txt\n")
    assert "exit_code" not in e.data  # PostToolUse also fires for failed commands
    old = codex.normalize({"hook_event_name": "PostToolUse", "tool_name": "shell",
                           "tool_input": {"command": ["bash", "-lc", "pytest -q"]},
                           "tool_response": {"output": "1 failed", "exit_code": 1}})
    assert (old.data["command"], old.data["exit_code"]) == ("pytest -q", 1)


def test_codex_mcp_and_subagent_and_stop():
    e = codex.normalize(load("codex", "post_tool_use_mcp"))
    assert (e.data["tool"], e.data["output"]) == ("mcp__everything__echo", "Echo: dash0-mcp-probe")
    e = codex.normalize(load("codex", "subagent_stop"))
    assert (e.kind, e.data["agent_type"], e.data["message"]) == (
        "subagent_stop", "worker", "Changed path: `c.txt`")
    assert e.uid == "SubagentStop:019f3bf3-60f7-7db2-8a74-7cf0618742e6"
    e = codex.normalize(load("codex", "stop"))
    assert (e.kind, e.data["message"], e.uid) == ("stop", "`hello.txt` is 14 bytes.", None)
    assert e.data["extra"] == {"stop_hook_active": False}


def test_codex_notify_is_a_stop():
    e = codex.normalize(load("codex", "notify"))
    assert (e.kind, e.session, e.cwd) == ("stop", "019f99c3-7c57-7963-98e9-f496a7978257", "<CWD>")
    assert (e.data["message"], e.data["prompt"]) == ("All tests pass.", "run the tests")
    assert e.data["turn_id"] == "019f99c4-38c9-7f63-901a-d9910886b99a"
    assert e.data["extra"] == {"client": "codex-tui"}
    assert e.uid == "agent-turn-complete:019f99c4-38c9-7f63-901a-d9910886b99a"


def test_codex_notify_from_argv_with_stdin_left_open(repo):
    """Codex runs `notify` with the JSON as the last argument and may never close stdin."""
    text = json.dumps(load("codex", "notify", cwd=str(repo)))
    proc = subprocess.Popen([sys.executable, "-m", "wikimem", "hook", "codex", text], cwd=repo,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert (out, err) == (b"", b"")
    (o,) = stored(repo)
    assert (o.kind, o.agent, o.data["message"]) == ("stop", "codex", "All tests pass.")


# --- Gemini CLI --------------------------------------------------------------------------------


def test_gemini_events():
    e = gemini.normalize(load("gemini", "before_agent"))
    assert (e.kind, e.data["prompt"]) == ("prompt", "Run the shell command: echo hello-from-tma")
    e = gemini.normalize(load("gemini", "after_tool"))
    assert (e.kind, e.data["tool"], e.data["command"]) == (
        "tool_post", "run_shell_command", "echo hello-from-tma")
    assert (e.data["output"], e.data["exit_code"]) == ("Output: hello-from-tma", 0)
    e = gemini.normalize(load("gemini", "after_agent"))
    assert (e.kind, e.data["message"]) == ("stop", "  \nhello-from-tma ")
    e = gemini.normalize(load("gemini", "notification"))
    assert (e.kind, e.data["notification_type"]) == ("notification", "ToolPermission")
    assert e.data["extra"]["details"]["command"] == "rm -rf /tmp/h19_probe_dir"


def test_gemini_tools_files_and_failures():
    base = {"session_id": "s", "cwd": "/r", "hook_event_name": "AfterTool"}
    e = gemini.normalize({**base, "tool_name": "replace",
                          "tool_input": {"file_path": "/r/a.py", "old_string": "a",
                                         "new_string": "b"},
                          "tool_response": {"llmContent": "Successfully modified file"}})
    assert e.data["files"] == [{"path": "/r/a.py", "op": "change"}] and "output" not in e.data
    e = gemini.normalize({**base, "hook_event_name": "BeforeTool", "tool_name": "read_file",
                          "tool_input": {"absolute_path": "/r/b.py"}})
    assert e.data["files"] == [{"path": "/r/b.py", "op": "read"}]
    e = gemini.normalize({**base, "tool_name": "run_shell_command",
                          "tool_input": {"command": "false"},
                          "tool_response": {"llmContent": "Output: (empty)\nExit Code: 1\n"
                                                          "Process Group PGID: 9"}})
    assert (e.kind, e.data["exit_code"]) == ("tool_post", 1)
    e = gemini.normalize({**base, "tool_name": "write_file", "tool_input": {"file_path": "/x"},
                          "tool_response": {"llmContent": "denied",
                                            "error": {"message": "Path not in workspace",
                                                      "type": "path_not_in_workspace"}}})
    assert (e.kind, e.data["error"], e.data["exit_code"]) == (
        "tool_failure", "Path not in workspace", 1)


# --- Cursor ------------------------------------------------------------------------------------


def test_cursor_events():
    e = cursor.normalize(load("cursor", "before_submit_prompt"))
    assert (e.kind, e.session, e.cwd) == ("prompt", "78139b05-16d8-4190-b888-55f2eec06d47", "<CWD>")
    assert e.data["prompt"] == "Run this exact shell command and show output: uname -a"
    assert e.uid == "beforeSubmitPrompt:bd69fa74-23c8-41e5-9e37-b3c131c4b59c"
    e = cursor.normalize(load("cursor", "post_tool_use_failure"))
    assert (e.kind, e.data["command"], e.data["exit_code"]) == (
        "tool_failure", "cat /nonexistent-file-xyz-123", 1)
    assert e.data["error"] == "cat: /nonexistent-file-xyz-123: No such file or directory"
    e = cursor.normalize(load("cursor", "after_agent_response"))
    assert (e.kind, e.data["message"]) == ("stop", "The subagent created YOLO.md")
    e = cursor.normalize(load("cursor", "post_tool_use_read"))
    assert e.data["files"] == [{"path": "/x", "op": "read"}] and "output" not in e.data


def test_cursor_user_email_is_not_kept():
    """The signed-in account's address is left out (not kept under `extra` like other keys)."""
    with_email = [(n, p) for n, p in fixtures("cursor") if p.get("user_email")]
    assert len(with_email) >= 3  # (recorded payloads carry it)
    for _name, payload in with_email:
        e = cursor.normalize(payload)
        assert "user_email" not in json.dumps(e.data)
        assert payload["user_email"] not in json.dumps(e.data)


def test_cursor_file_edit_shell_and_roots():
    base = {"conversation_id": "c", "generation_id": "g", "workspace_roots": ["/w", "/w2"]}
    e = cursor.normalize({**base, "hook_event_name": "afterFileEdit", "file_path": "/w/a.ts",
                          "edits": [{"old_string": "a", "new_string": "b"}]})
    assert (e.kind, e.cwd, e.data["tool"]) == ("tool_post", "/w", "Edit")
    assert e.data["files"] == [{"path": "/w/a.ts", "op": "change"}]
    assert e.data["extra"] == {"workspace_roots": ["/w", "/w2"]}
    e = cursor.normalize({**base, "hook_event_name": "postToolUse", "tool_name": "Shell",
                          "tool_input": {"command": "make"}, "tool_use_id": "t1",
                          "tool_output": '{"exitCode":2,"stdout":"boom"}'})
    assert (e.data["command"], e.data["exit_code"], e.data["output"]) == ("make", 2, "boom")
    e = cursor.normalize({**base, "hook_event_name": "afterShellExecution", "command": "ls",
                          "output": "a\nb"})
    assert (e.kind, e.data["tool"], e.data["command"], e.data["output"]) == (
        "tool_post", "Shell", "ls", "a\nb")
    e = cursor.normalize({**base, "hook_event_name": "preToolUse", "tool_name": "StrReplace",
                          "tool_input": {"path": "/w/b.ts", "old_string": "x"}})
    assert e.data["files"] == [{"path": "/w/b.ts", "op": "change"}]
