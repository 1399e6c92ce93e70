"""Cursor agent hook payloads -> Event (stdlib only).

Cursor's dialect (https://cursor.com/docs/agent/hooks): lowerCamel event names in
`hook_event_name`; every payload carries `conversation_id` (the session), `generation_id`
(one per prompt), `model`, `cursor_version`, `workspace_roots`, `user_email`,
`transcript_path`. Tool events carry `tool_name`, `tool_input`, `tool_output` (a string),
`tool_use_id`; failures `error_message` and `failure_type`. Besides the generic
preToolUse/postToolUse pair Cursor has specialised hooks (beforeShellExecution,
afterFileEdit, ...) for the same calls; each is mapped here, so a setup that registers both
records both.
"""

from __future__ import annotations

import json
import re

from wikimem.agents.common import (
    SUBAGENT_KINDS,
    add_tool_facts,
    event,
    event_uid,
    exit_code,
    input_command,
    keep_extra,
    named_files,
    shell_result,
    start,
)
from wikimem.capture.event import Event

AGENT = "cursor"

KINDS = {
    "sessionStart": "session_start",
    "beforeSubmitPrompt": "prompt",
    "preToolUse": "tool_pre",
    "postToolUse": "tool_post",
    "postToolUseFailure": "tool_failure",
    "beforeShellExecution": "tool_pre",
    "afterShellExecution": "tool_post",
    "beforeMCPExecution": "tool_pre",
    "afterMCPExecution": "tool_post",
    "beforeReadFile": "tool_pre",
    "afterFileEdit": "tool_post",
    "afterAgentResponse": "stop",  # carries the assistant's text
    "stop": "stop",  # carries only the status of the loop
    "subagentStart": "subagent_start",
    "subagentStop": "subagent_stop",
    "preCompact": "pre_compact",
    "sessionEnd": "session_end",
    # afterAgentThought, beforeTabFileRead, afterTabFileEdit become `other`.
}

_PLAIN = {
    "prompt": "prompt",
    "generation_id": "generation_id",
    "model": "model",
    "reason": "reason",
    "trigger": "trigger",
    "text": "message",  # afterAgentResponse
    "error_message": "error",
    "is_interrupt": "interrupted",
    "duration": "duration_ms",
    "duration_ms": "duration_ms",
    "subagent_id": "agent_id",
    "subagent_type": "agent_type",
    "transcript_path": "transcript_path",
    "tool_use_id": "tool_use_id",
}
_CONSUMED = {"conversation_id", "hook_event_name", "tool_name", "tool_input", "tool_output"}
# Left out on purpose, not kept under `extra`: the signed-in account's address is personal
# data about the user, not about the work, and would end up on pages and in git history.
_PRIVATE = {"user_email"}

CHANGING_TOOLS = {"Write", "StrReplace", "Delete", "Edit", "MultiEdit", "EditNotebook",
                  "ApplyPatch", "search_replace", "write", "delete_file", "edit_file"}
READING_TOOLS = {"Read", "Grep", "Glob", "LS", "read_file", "grep", "glob_file_search",
                 "list_dir"}
SHELL_TOOLS = {"Shell", "run_terminal_cmd"}
_PATH_KEYS = ("file_path", "path", "target_file", "target_notebook")
_EXIT_CODE = re.compile(r"[Ee]xit(?: code|Code|_code)?:? ?(-?\d+)")

# Specialised hooks carry no tool_name: the tool they stand for.
_HOOK_TOOL = {
    "beforeShellExecution": "Shell",
    "afterShellExecution": "Shell",
    "beforeReadFile": "Read",
    "afterFileEdit": "Edit",
}


def normalize(payload: dict) -> Event:
    """Map one Cursor hook payload to an Event; unknown events become kind `other`."""
    name, kind, data = start(payload, KINDS)
    consumed = set(_CONSUMED)
    for key, target in _PLAIN.items():
        if payload.get(key) is not None and target not in data:
            data[target] = payload[key]
            consumed.add(key)
    for key in _PLAIN:
        if payload.get(key) is None:
            consumed.add(key)  # a null says nothing
    session = payload.get("conversation_id")
    if not isinstance(session, str) or not session:
        session = payload.get("session_id")
    if payload.get("session_id") in (None, session):
        consumed.add("session_id")
    cwd = _cwd(payload, consumed)
    if isinstance(name, str):
        _tool(name, kind, payload, data, consumed)
    keep_extra(payload, data, consumed | _PRIVATE)
    uid = event_uid(
        name,
        payload.get("tool_use_id") or None,
        payload.get("subagent_id") if kind in SUBAGENT_KINDS else None,
        # each prompt starts a generation
        (payload.get("generation_id") or None) if kind == "prompt" else None,
    )
    return event(session, kind, cwd, data, uid)


def _cwd(payload: dict, consumed: set) -> str:
    """The first workspace root (the project); a tool's own `cwd` when there is none."""
    roots = payload.get("workspace_roots")
    root = roots[0] if isinstance(roots, list) and roots and isinstance(roots[0], str) else ""
    if isinstance(roots, list) and len(roots) <= 1:
        consumed.add("workspace_roots")
    own = payload.get("cwd")
    if not root and isinstance(own, str):
        root = own
    if own in ("", None, root):
        consumed.add("cwd")
    return root


def _tool(name: str, kind: str, payload: dict, data: dict, consumed: set) -> None:
    tool = payload.get("tool_name")
    tool = tool if isinstance(tool, str) else _HOOK_TOOL.get(name)
    if tool is None:
        return
    data["tool"] = tool
    tool_input = payload.get("tool_input")
    if name in ("beforeShellExecution", "afterShellExecution"):
        if isinstance(payload.get("command"), str):
            data["command"] = payload["command"]
            consumed.add("command")
    elif name == "beforeReadFile":
        tool_input = {"file_path": payload.get("file_path")}
        consumed.add("file_path")
    elif name == "afterFileEdit":
        tool_input = {"file_path": payload.get("file_path"), "edits": payload.get("edits")}
        consumed.update(("file_path", "edits"))
    elif isinstance(tool_input, str) and tool_input.lstrip().startswith("{"):
        try:  # afterMCPExecution sends its input as JSON text
            tool_input = json.loads(tool_input)
        except ValueError:
            pass
    if tool_input is not None:
        data["input"] = tool_input
    command = input_command(tool_input) if tool in SHELL_TOOLS else None
    add_tool_facts(data, tool_files(tool, tool_input), command)
    if kind == "tool_post":
        if name == "afterShellExecution":
            output = payload.get("output")
            consumed.add("output")
        elif name == "afterMCPExecution":
            output = payload.get("result_json")
            consumed.add("result_json")
        else:
            output = payload.get("tool_output")
        _tool_result(tool, output, data)
    elif kind == "tool_failure":
        data["exit_code"] = exit_code(payload.get("error_message"), _EXIT_CODE)


def tool_files(tool: str, tool_input) -> list[dict]:
    """Files a tool call names, each as {"path": ..., "op": "read" | "change"}."""
    return named_files(tool, tool_input, CHANGING_TOOLS, READING_TOOLS, _PATH_KEYS)


def _tool_result(tool: str, output, data: dict) -> None:
    """Keep a bounded excerpt of what a tool returned, and a shell's exit status.

    Cursor reports failed calls through postToolUseFailure, so a shell call that reached
    postToolUse succeeded unless its output says otherwise.
    """
    if tool in CHANGING_TOOLS or tool in ("Read", "read_file"):
        return  # the input says what changed; file contents are not memory
    parsed = output
    if isinstance(output, str) and output.lstrip().startswith("{"):
        try:
            parsed = json.loads(output)
        except ValueError:
            parsed = output
    if isinstance(parsed, dict):
        recorded = shell_result(parsed, data, ("exitCode", "exit_code"), ("stdout", "output"))
        if not recorded and isinstance(parsed.get("content"), list):
            texts = [c.get("text") for c in parsed["content"] if isinstance(c, dict)]
            data["output"] = "\n".join(t for t in texts if isinstance(t, str))
        elif not recorded:
            data["output"] = output if isinstance(output, str) else json.dumps(
                parsed, ensure_ascii=False, sort_keys=True)
    elif isinstance(output, str):
        data["output"] = output
    elif output is not None:
        data["output"] = json.dumps(output, ensure_ascii=False, sort_keys=True)
    if tool in SHELL_TOOLS and data.get("command") is not None:
        data.setdefault("exit_code", 0)


def session_start_output(context: str) -> str:
    """What Cursor reads from a sessionStart hook's stdout.

    Source: https://cursor.com/docs/agent/hooks#sessionstart — a top-level, snake_case
    `additional_context` (not Claude Code's `hookSpecificOutput.additionalContext`). Checked
    against hooks that cite that page and emit it: obra/superpowers hooks/session-start (its
    Cursor branch), lorehq/lore .cursor/hooks/session-init.js, tower1229/LingXi
    .cursor/hooks/session-init.mjs.
    """
    return json.dumps({"additional_context": context}, ensure_ascii=False)


def recognizes(payload: dict) -> bool:
    """Whether a logged hook payload is recognisably Cursor's: a conversation, not a session."""
    return "conversation_id" in payload or "cursor_version" in payload
