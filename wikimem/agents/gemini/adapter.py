"""Gemini CLI hook payloads -> Event (stdlib only).

Every payload has `session_id`, `transcript_path`, `cwd`, `hook_event_name`, `timestamp`;
the rest depends on the event (google-gemini/gemini-cli docs/hooks/reference.md and
packages/core/src/hooks/types.ts). Gemini gives tool calls no id, so the idempotency key is
the payload hash (its `timestamp` keeps distinct events apart).
"""

from __future__ import annotations

import json
import re

from wikimem.agents.common import (
    HOOK_CONSUMED,
    add_tool_facts,
    additional_context,
    copy_plain,
    event,
    file_op,
    input_command,
    keep_extra,
    named_files,
    start,
    tool_call,
)
from wikimem.capture.event import Event

AGENT = "gemini"

KINDS = {
    "SessionStart": "session_start",
    "BeforeAgent": "prompt",
    "BeforeTool": "tool_pre",
    "AfterTool": "tool_post",  # tool_failure when tool_response.error is set
    "AfterAgent": "stop",
    "Notification": "notification",
    "PreCompress": "pre_compact",
    "SessionEnd": "session_end",
    # BeforeModel, AfterModel (every streamed chunk) and BeforeToolSelection become `other`.
}
# Event names no other agent's hooks use.
_OWN_EVENTS = {"BeforeAgent", "AfterAgent", "BeforeTool", "AfterTool", "BeforeModel",
               "AfterModel", "BeforeToolSelection"}

_PLAIN = {
    "prompt": "prompt",
    "prompt_response": "message",
    "source": "source",
    "reason": "reason",
    "trigger": "trigger",
    "message": "message",
    "notification_type": "notification_type",
    "transcript_path": "transcript_path",
    "model": "model",
}
_KNOWN = HOOK_CONSUMED | set(_PLAIN)

# Built-in tool names: packages/core/src/tools/tool-names.ts (grep was `search_file_content`
# before it became `grep_search`; `read_file` took `absolute_path` before `file_path`).
SHELL_TOOLS = {"run_shell_command"}
CHANGING_TOOLS = {"write_file", "replace", "edit", "smart_edit"}
READING_TOOLS = {"read_file", "read_many_files", "glob", "search_file_content", "grep_search",
                 "list_directory", "ls"}
_QUIET_TOOLS = CHANGING_TOOLS | {"read_file", "read_many_files"}  # output is file contents
_PATH_KEYS = ("file_path", "absolute_path", "path", "dir_path")

_EXIT_CODE = re.compile(r"^Exit Code: (-?\d+)\s*$", re.M)
_SHELL_TRAILER = re.compile(r"\n(?:Process Group PGID|Background PIDs): [^\n]*", re.M)


def normalize(payload: dict) -> Event:
    """Map one Gemini CLI hook payload to an Event; unknown events become kind `other`."""
    _, kind, data = start(payload, KINDS)
    copy_plain(payload, _PLAIN, data)
    tool, tool_input = tool_call(payload, data)
    if tool is not None:
        command = input_command(tool_input) if tool in SHELL_TOOLS else None
        add_tool_facts(data, tool_files(tool, tool_input), command)
        if kind == "tool_post":
            error = _tool_result(tool, payload.get("tool_response"), data)
            if error is not None:
                kind = "tool_failure"
                data["error"] = error
                data.setdefault("exit_code", 1)
    keep_extra(payload, data, _KNOWN)
    return event(payload.get("session_id"), kind, payload.get("cwd"), data)


def tool_files(tool: str, tool_input) -> list[dict]:
    """Files a tool call names, each as {"path": ..., "op": "read" | "change"}."""
    found = named_files(tool, tool_input, CHANGING_TOOLS, READING_TOOLS, _PATH_KEYS)
    if found or not isinstance(tool_input, dict):
        return found
    op = file_op(tool, CHANGING_TOOLS, READING_TOOLS)
    paths = tool_input.get("paths")  # read_many_files (older versions)
    if op is None or not isinstance(paths, list):
        return []
    return [{"path": p, "op": op} for p in paths if isinstance(p, str) and p]


def _tool_result(tool: str, response, data: dict) -> str | None:
    """Keep a bounded excerpt of a tool's result and its exit status; return its error, if any.

    A result is `{llmContent, returnDisplay, error?}`; llmContent is text or a list of parts.
    The shell's llmContent is "Output: ...", then "Error: ...", "Exit Code: N" (only when not
    0), "Signal: ...", "Process Group PGID: N" lines (packages/core/src/tools/shell.ts).
    """
    if isinstance(response, str):
        data["output"] = response
        return None
    if not isinstance(response, dict):
        return None
    error = response.get("error")
    if isinstance(error, dict):
        error = error.get("message") or json.dumps(error, ensure_ascii=False, sort_keys=True)
    error = str(error) if error else None
    text = _text(response.get("llmContent"))
    if tool in SHELL_TOOLS:
        if text is not None:
            data["output"] = _SHELL_TRAILER.sub("", text)
            match = _EXIT_CODE.search(text)
            if match:
                data["exit_code"] = int(match.group(1))
            elif error is None and not _cancelled(text) and "\nError: " not in text:
                data["exit_code"] = 0
        return error
    if tool not in _QUIET_TOOLS and text is not None:
        data["output"] = text
    elif error is not None and text is not None:
        data["output"] = text
    return error


def _cancelled(text: str) -> bool:
    return text.startswith(("Command was cancelled", "Command was automatically cancelled",
                            "Command moved to background"))


def _text(content) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        texts = [p.get("text") if isinstance(p, dict) else p for p in content]
        return "\n".join(t for t in texts if isinstance(t, str))
    return None


def session_start_output(context: str) -> str:
    """What Gemini CLI reads from a SessionStart hook's stdout (JSON only, nothing else).

    Source: google-gemini/gemini-cli docs/hooks/reference.md ("SessionStart ...
    hookSpecificOutput.additionalContext: injected as the first turn in history"; "Silence is
    Mandatory": stdout must hold only the final JSON) and packages/core/src/hooks/types.ts
    (`SessionStartOutput.hookSpecificOutput = {hookEventName: 'SessionStart',
    additionalContext}`). Gemini escapes `<` and `>` in the context it injects.
    """
    return additional_context(context)


def recognizes(payload: dict) -> bool:
    """Whether a logged hook payload is recognisably Gemini CLI's: by its event name."""
    name = payload.get("hook_event_name")
    return isinstance(name, str) and name in _OWN_EVENTS
