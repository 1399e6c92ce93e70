"""OpenAI Codex CLI payloads -> Event (stdlib only).

Two dialects reach `normalize`:

* hooks (`hooks.json` / `[hooks]`): one snake_case JSON object on stdin, Claude-Code-like:
  `session_id`, `turn_id`, `cwd`, `hook_event_name`, `tool_name`, `tool_input`,
  `tool_response`, `tool_use_id`, `last_assistant_message`, ... (schemas:
  openai/codex codex-rs/hooks/schema/generated/*.command.input.schema.json).
* the legacy `notify` program: one kebab-case JSON object as the last argv argument
  (`type: agent-turn-complete`, `thread-id`, `turn-id`, `cwd`, `client`, `input-messages`,
  `last-assistant-message`; openai/codex codex-rs/hooks/src/legacy_notify.rs). hook.py
  routes that argument here; it becomes a `stop`.
"""

from __future__ import annotations

import json
import re

from wikimem.adapters import Event

AGENT = "codex"

KINDS = {
    "SessionStart": "session_start",
    "UserPromptSubmit": "prompt",
    "PreToolUse": "tool_pre",
    "PostToolUse": "tool_post",
    "PostToolUseFailure": "tool_failure",
    "PermissionRequest": "permission_request",
    "Notification": "notification",
    "Stop": "stop",
    "StopFailure": "stop",  # the turn ended on an API error; `error` says which
    "SubagentStart": "subagent_start",
    "SubagentStop": "subagent_stop",
    "PreCompact": "pre_compact",
    "SessionEnd": "session_end",
    # PostCompact is kept as kind `other` (data.event = "PostCompact"): PreCompact already
    # marks the compaction, and SessionStart(source=compact) follows it.
}

# Payload key -> observation data key, for keys kept as they are.
_PLAIN = {
    "prompt": "prompt",
    "turn_id": "turn_id",
    "source": "source",
    "model": "model",
    "reason": "reason",
    "trigger": "trigger",
    "custom_instructions": "custom_instructions",
    "message": "message",
    "notification_type": "notification_type",
    "last_assistant_message": "message",
    "agent_id": "agent_id",
    "agent_type": "agent_type",
    "permission_mode": "permission_mode",
    "transcript_path": "transcript_path",
    "agent_transcript_path": "agent_transcript_path",
    "tool_use_id": "tool_use_id",
    "error": "error",
}
_CONSUMED = {"session_id", "cwd", "hook_event_name", "tool_name", "tool_input", "tool_response"}

# Codex names every shell-like tool `Bash` in hook payloads (HookToolName::bash()); older
# builds and forks used the model-facing names.
SHELL_TOOLS = {"Bash", "shell", "local_shell", "shell_command", "exec_command", "container.exec"}
PATCH_TOOLS = {"apply_patch"}
READING_TOOLS = {"view_image", "read_file"}

_PATCH_FILE = re.compile(r"^\*\*\* (Add|Update|Delete) File: (.+?)\s*$|^\*\*\* Move to: (.+?)\s*$",
                         re.M)
# The exec tools' model-facing output: "Exit code: 0\nWall time: 0.4 seconds\nOutput:\n...".
_EXEC_OUTPUT = re.compile(
    r"\A\s*Exit code: (-?\d+)\nWall time: [^\n]*\n(?:Total output lines: \d+\n)?Output:\n?(.*)\Z",
    re.S,
)
_EXIT_CODE = re.compile(r"[Ee]xit code:? (-?\d+)")

# The legacy notify payload (kebab-case) -> observation data keys.
_NOTIFY_CONSUMED = {"type", "thread-id", "cwd", "turn-id", "input-messages",
                    "last-assistant-message"}


def normalize(payload: dict) -> Event:
    """Map one Codex hook or notify payload to an Event; unknown events become kind `other`."""
    if "hook_event_name" not in payload and (
        "thread-id" in payload or isinstance(payload.get("type"), str)
    ):
        return _notify(payload)
    name = payload.get("hook_event_name")
    kind = KINDS.get(name, "other") if isinstance(name, str) else "other"
    data: dict = {}
    if kind == "other":
        data["event"] = name if isinstance(name, str) else repr(name)
    for key, target in _PLAIN.items():
        if payload.get(key) is not None:
            data[target] = payload[key]
    tool = payload.get("tool_name")
    if isinstance(tool, str):
        data["tool"] = tool
        tool_input = payload.get("tool_input")
        if tool_input is not None:
            data["input"] = tool_input
        command = shell_command(tool, tool_input)
        if command is not None:
            data["command"] = command
        files = tool_files(tool, tool_input, command)
        if files:
            data["files"] = files
        if kind == "tool_post":
            _tool_result(tool, payload.get("tool_response"), data)
        elif kind == "tool_failure":
            match = _EXIT_CODE.search(str(payload.get("error") or ""))
            data["exit_code"] = int(match.group(1)) if match else 1
    extra = {k: v for k, v in payload.items() if k not in _CONSUMED and k not in _PLAIN}
    if extra:
        data["extra"] = extra
    uid = None
    if isinstance(payload.get("tool_use_id"), str) and payload["tool_use_id"]:
        uid = f"{name}:{payload['tool_use_id']}"
    elif kind in ("subagent_start", "subagent_stop") and isinstance(payload.get("agent_id"), str):
        uid = f"{name}:{payload['agent_id']}"
    elif kind == "prompt" and isinstance(payload.get("turn_id"), str) and payload["turn_id"]:
        uid = f"{name}:{payload['turn_id']}"  # one prompt opens each turn
    session = payload.get("session_id")
    cwd = payload.get("cwd")
    return Event(
        session=session if isinstance(session, str) else "",
        kind=kind,
        cwd=cwd if isinstance(cwd, str) else "",
        data=data,
        uid=uid,
    )


def _notify(payload: dict) -> Event:
    """The legacy `notify` payload: `agent-turn-complete` is the end of a turn (a stop)."""
    kind_name = payload.get("type")
    data: dict = {}
    if kind_name == "agent-turn-complete":
        kind = "stop"
    else:
        kind = "other"
        data["event"] = kind_name if isinstance(kind_name, str) else repr(kind_name)
    message = payload.get("last-assistant-message")
    if message is not None:
        data["message"] = message
    inputs = payload.get("input-messages")
    if isinstance(inputs, list):
        texts = [m for m in inputs if isinstance(m, str)]
        if texts:
            data["prompt"] = "\n\n".join(texts)
        if len(texts) != len(inputs):
            data["input_messages"] = inputs
    elif inputs is not None:
        data["input_messages"] = inputs
    turn = payload.get("turn-id")
    if turn is not None:
        data["turn_id"] = turn
    extra = {k: v for k, v in payload.items() if k not in _NOTIFY_CONSUMED}
    if extra:
        data["extra"] = extra
    session = payload.get("thread-id")
    cwd = payload.get("cwd")
    uid = f"{kind_name}:{turn}" if isinstance(kind_name, str) and isinstance(turn, str) else None
    return Event(
        session=session if isinstance(session, str) else "",
        kind=kind,
        cwd=cwd if isinstance(cwd, str) else "",
        data=data,
        uid=uid,
    )


def shell_command(tool: str, tool_input) -> str | None:
    """The command line a shell tool ran (`{"command": "..."}` or an argv list)."""
    if tool not in SHELL_TOOLS or not isinstance(tool_input, dict):
        return None
    command = tool_input.get("command", tool_input.get("cmd"))
    if isinstance(command, str):
        return command
    if isinstance(command, list) and all(isinstance(c, str) for c in command) and command:
        # The old `shell` tool: ["bash", "-lc", "<script>"].
        if len(command) == 3 and command[1] in ("-lc", "-c"):
            return command[2]
        return " ".join(command)
    return None


def patch_files(patch: str) -> list[dict]:
    """Files an apply_patch envelope adds, updates, deletes or moves to (all `change`)."""
    found: list[dict] = []
    seen = set()
    for match in _PATCH_FILE.finditer(patch):
        path = match.group(2) or match.group(3)
        if path and path not in seen:
            seen.add(path)
            found.append({"path": path, "op": "change"})
    return found


def tool_files(tool: str, tool_input, command: str | None = None) -> list[dict]:
    """Files a tool call names, each as {"path": ..., "op": "read" | "change"}."""
    if tool in PATCH_TOOLS:
        if isinstance(tool_input, str):
            return patch_files(tool_input)
        if isinstance(tool_input, dict):
            for key in ("command", "input", "patch"):
                if isinstance(tool_input.get(key), str):
                    return patch_files(tool_input[key])
        return []
    if command is not None:
        # A model that runs `apply_patch <<'EOF' ... EOF` through the shell still edits files.
        return patch_files(command) if "*** Begin Patch" in command else []
    if tool in READING_TOOLS and isinstance(tool_input, dict):
        for key in ("path", "file_path"):
            value = tool_input.get(key)
            if isinstance(value, str) and value:
                return [{"path": value, "op": "read"}]
    return []


def _tool_result(tool: str, response, data: dict) -> None:
    """Keep a bounded, useful excerpt of a tool's response, and its exit status if known.

    Codex's PostToolUse fires for failed commands too, and its Bash response is the bare
    output (no exit code), so `exit_code` is set only when the response states one.
    """
    if isinstance(response, str):
        match = _EXEC_OUTPUT.match(response)
        if match:
            data["exit_code"] = int(match.group(1))
            data["output"] = match.group(2)
        else:
            data["output"] = response
        return
    if isinstance(response, list):
        data["output"] = _texts(response)
        return
    if not isinstance(response, dict):
        if response is not None:
            data["output"] = json.dumps(response, ensure_ascii=False)
        return
    if isinstance(response.get("content"), list):  # an MCP CallToolResult
        data["output"] = _texts(response["content"])
        if response.get("isError") is True:
            data["error"] = data["output"]
        return
    code = response.get("exit_code", response.get("exitCode"))
    if isinstance(code, int) and not isinstance(code, bool):
        data["exit_code"] = code
    out = response.get("output", response.get("stdout"))
    if isinstance(out, str):
        err = response.get("stderr")
        data["output"] = out + (f"\n[stderr]\n{err}" if isinstance(err, str) and err else "")
    else:
        data["output"] = json.dumps(response, ensure_ascii=False, sort_keys=True)


def _texts(items: list) -> str:
    texts = [i.get("text", "") if isinstance(i, dict) else i for i in items]
    return "\n".join(t for t in texts if isinstance(t, str))


def session_start_output(context: str) -> str:
    """What Codex reads from a SessionStart hook's stdout.

    Source: openai/codex codex-rs/hooks/schema/generated/session-start.command.output.schema.json
    (`hookSpecificOutput: {hookEventName: "SessionStart", additionalContext}`, no other keys
    allowed) and codex-rs/hooks/src/events/session_start.rs: stdout that parses is used, plain
    text becomes context, and text that looks like JSON but does not parse fails the hook.
    """
    return json.dumps(
        {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": context}},
        ensure_ascii=False,
    )
