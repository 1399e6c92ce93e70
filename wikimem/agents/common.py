"""What the agents' hook adapters share (stdlib only: the hook imports it on every event).

The agents' payloads have much in common - event names looked up in a table, keys copied as
they are, unknown keys kept under `extra`, file paths in a tool's input, ids that make the
idempotency key - and Codex's hooks follow Claude Code's schema. Each adapter
(agents/<agent>/adapter.py) maps its own payloads with these helpers.
"""

from __future__ import annotations

import json
import re

from wikimem.capture.event import Event

# Claude Code's hook event names -> kinds; Codex's hooks use the same names (and add some).
HOOK_KINDS = {
    "SessionStart": "session_start",
    "UserPromptSubmit": "prompt",
    "PreToolUse": "tool_pre",
    "PostToolUse": "tool_post",
    "PostToolUseFailure": "tool_failure",
    "PermissionRequest": "permission_request",
    "Notification": "notification",
    "Stop": "stop",
    "SubagentStart": "subagent_start",
    "SubagentStop": "subagent_stop",
    "PreCompact": "pre_compact",
    "SessionEnd": "session_end",
}

# Payload keys of Claude Code's hook schema that are kept as they are (payload key -> data
# key); Codex's hooks follow the same schema. Each adapter adds its own to these.
HOOK_PLAIN = {
    "prompt": "prompt",
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
# Payload keys every adapter of that schema maps itself (not kept as they are, nor as extra).
HOOK_CONSUMED = frozenset(
    {"session_id", "cwd", "hook_event_name", "tool_name", "tool_input", "tool_response"})


def start(payload: dict, kinds: dict[str, str]) -> tuple[object, str, dict]:
    """The event's name, its kind (`other` when unknown), and the data it starts with.

    An unknown event keeps its name in `data["event"]`.
    """
    name = payload.get("hook_event_name")
    kind = kinds.get(name, "other") if isinstance(name, str) else "other"
    data: dict = {}
    if kind == "other":
        data["event"] = name if isinstance(name, str) else repr(name)
    return name, kind, data


def copy_plain(payload: dict, plain: dict[str, str], data: dict) -> None:
    """Copy the payload keys kept as they are (`plain`: payload key -> data key), unless null."""
    for key, target in plain.items():
        value = payload.get(key)
        if value is not None:
            data[target] = value


def keep_extra(payload: dict, data: dict, known) -> None:
    """Keep every payload key not in `known` under `data["extra"]`, so nothing is dropped."""
    extra = {k: v for k, v in payload.items() if k not in known}
    if extra:
        data["extra"] = extra


def tool_call(payload: dict, data: dict) -> tuple[str | None, object]:
    """The tool's name and input (recorded as `tool` and `input`); (None, None) if no tool."""
    tool = payload.get("tool_name")
    if not isinstance(tool, str):
        return None, None
    data["tool"] = tool
    tool_input = payload.get("tool_input")
    if tool_input is not None:
        data["input"] = tool_input
    return tool, tool_input


def add_tool_facts(data: dict, files: list[dict], command: str | None) -> None:
    """Record the files a tool call names and the command it ran, when there are any."""
    if files:
        data["files"] = files
    if command is not None:
        data["command"] = command


def file_op(tool: str, changing, reading) -> str | None:
    """`change` or `read` for a tool that changes or reads files, else None."""
    return "change" if tool in changing else "read" if tool in reading else None


def named_files(tool: str, tool_input, changing, reading, path_keys) -> list[dict]:
    """The file a tool's input names under the first of `path_keys` it has, with its op."""
    if not isinstance(tool_input, dict):
        return []
    op = file_op(tool, changing, reading)
    if op is None:
        return []
    for key in path_keys:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return [{"path": value, "op": op}]
    return []


def input_command(tool_input) -> str | None:
    """The `command` string of a shell tool's input."""
    if isinstance(tool_input, dict) and isinstance(tool_input.get("command"), str):
        return tool_input["command"]
    return None


def shell_result(result: dict, data: dict, code_keys, out_keys) -> bool:
    """Record a shell result's exit status and output (then `[stderr]` and its stderr).

    The first of `code_keys` / `out_keys` present in `result` is taken. False when the output
    is not text (nothing recorded but the status).
    """
    code = next((result[k] for k in code_keys if k in result), None)
    if isinstance(code, int) and not isinstance(code, bool):
        data["exit_code"] = code
    out = next((result[k] for k in out_keys if k in result), None)
    if not isinstance(out, str):
        return False
    err = result.get("stderr")
    data["output"] = out + (f"\n[stderr]\n{err}" if isinstance(err, str) and err else "")
    return True


def exit_code(text, pattern: re.Pattern[str]) -> int:
    """The exit status a failure's message states (`pattern` captures it), else 1."""
    match = pattern.search(str(text or ""))
    return int(match.group(1)) if match else 1


def event_uid(name, *ids) -> str | None:
    """`<event name>:<id>` for the first of `ids` that is a string: the agent's own id."""
    for value in ids:
        if isinstance(value, str):
            return f"{name}:{value}"
    return None


def event(session, kind: str, cwd, data: dict, uid: str | None = None) -> Event:
    """An Event; a session or cwd that is not a string becomes ""."""
    return Event(
        session=session if isinstance(session, str) else "",
        kind=kind,
        cwd=cwd if isinstance(cwd, str) else "",
        data=data,
        uid=uid,
    )


SUBAGENT_KINDS = ("subagent_start", "subagent_stop")


def additional_context(context: str) -> str:
    """SessionStart output in the `hookSpecificOutput.additionalContext` form.

    Claude Code defined it; Codex and Gemini CLI read the same JSON (see their adapters).
    """
    return json.dumps(
        {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": context}},
        ensure_ascii=False,
    )
