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

from wikimem.agents.common import (
    HOOK_CONSUMED,
    HOOK_KINDS,
    HOOK_PLAIN,
    SUBAGENT_KINDS,
    add_tool_facts,
    additional_context,
    copy_plain,
    event,
    event_uid,
    exit_code,
    keep_extra,
    shell_result,
    start,
    tool_call,
)
from wikimem.capture.event import Event

AGENT = "codex"

KINDS = {
    **HOOK_KINDS,
    "StopFailure": "stop",  # the turn ended on an API error; `error` says which
    # PostCompact is kept as kind `other` (data.event = "PostCompact"): PreCompact already
    # marks the compaction, and SessionStart(source=compact) follows it.
}

# Payload key -> observation data key, for keys kept as they are.
_PLAIN = {**HOOK_PLAIN, "turn_id": "turn_id"}
_KNOWN = HOOK_CONSUMED | set(_PLAIN)

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
    name, kind, data = start(payload, KINDS)
    copy_plain(payload, _PLAIN, data)
    tool, tool_input = tool_call(payload, data)
    if tool is not None:
        command = shell_command(tool, tool_input)
        add_tool_facts(data, tool_files(tool, tool_input, command), command)
        if kind == "tool_post":
            _tool_result(tool, payload.get("tool_response"), data)
        elif kind == "tool_failure":
            data["exit_code"] = exit_code(payload.get("error"), _EXIT_CODE)
    keep_extra(payload, data, _KNOWN)
    uid = event_uid(
        name,
        payload.get("tool_use_id") or None,
        payload.get("agent_id") if kind in SUBAGENT_KINDS else None,
        (payload.get("turn_id") or None) if kind == "prompt" else None,  # one prompt a turn
    )
    return event(payload.get("session_id"), kind, payload.get("cwd"), data, uid)


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
    keep_extra(payload, data, _NOTIFY_CONSUMED)
    uid = event_uid(kind_name, turn) if isinstance(kind_name, str) else None
    return event(payload.get("thread-id"), kind, payload.get("cwd"), data, uid)


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
    if not shell_result(response, data, ("exit_code", "exitCode"), ("output", "stdout")):
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
    return additional_context(context)


def recognizes(payload: dict) -> bool:
    """Whether a logged hook payload is recognisably Codex's: its hooks name the turn."""
    return "turn_id" in payload
