"""Claude Code hook payloads -> Event (stdlib only)."""

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
    input_command,
    keep_extra,
    named_files,
    start,
    tool_call,
)
from wikimem.capture.event import Event

AGENT = "claude-code"

KINDS = HOOK_KINDS

# Payload key -> observation data key, for keys kept as they are.
_PLAIN = {**HOOK_PLAIN, "prompt_id": "prompt_id", "is_interrupt": "interrupted",
          "duration_ms": "duration_ms"}
_KNOWN = HOOK_CONSUMED | set(_PLAIN)

CHANGING_TOOLS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}
READING_TOOLS = {"Read", "Grep", "Glob", "LS", "NotebookRead"}
_PATH_KEYS = ("file_path", "notebook_path", "path")
_EXIT_CODE = re.compile(r"[Ee]xit code:? (\d+)")


def normalize(payload: dict) -> Event:
    """Map one Claude Code hook payload to an Event; unknown events become kind `other`."""
    name, kind, data = start(payload, KINDS)
    copy_plain(payload, _PLAIN, data)
    tool, tool_input = tool_call(payload, data)
    if tool is not None:
        command = input_command(tool_input) if tool == "Bash" else None
        add_tool_facts(data, tool_files(tool, tool_input), command)
        if kind == "tool_post":
            _tool_result(tool, payload.get("tool_response"), data)
        elif kind == "tool_failure":
            data["exit_code"] = exit_code(payload.get("error"), _EXIT_CODE)
    keep_extra(payload, data, _KNOWN)
    uid = event_uid(name, payload.get("tool_use_id"),
                    payload.get("agent_id") if kind in SUBAGENT_KINDS else None)
    return event(payload.get("session_id"), kind, payload.get("cwd"), data, uid)


def tool_files(tool: str, tool_input) -> list[dict]:
    """Files a tool call names, each as {"path": ..., "op": "read" | "change"}."""
    return named_files(tool, tool_input, CHANGING_TOOLS, READING_TOOLS, _PATH_KEYS)


def _tool_result(tool: str, response, data: dict) -> None:
    """Keep a bounded, useful excerpt of a tool's response, and its exit status."""
    if isinstance(response, str):
        data["output"] = response
        match = _EXIT_CODE.search(response[:200])
        if response.startswith("Error") and match:
            data["exit_code"] = int(match.group(1))
        return
    if isinstance(response, list):
        texts = [r.get("text", "") for r in response if isinstance(r, dict)]
        data["output"] = "\n".join(t for t in texts if isinstance(t, str))
        return
    if not isinstance(response, dict):
        return
    if tool == "Bash":
        out = str(response.get("stdout") or "")
        err = str(response.get("stderr") or "")
        data["output"] = out + (("\n[stderr]\n" + err) if err else "")
        if response.get("interrupted"):
            data["interrupted"] = True
        else:
            data.setdefault("exit_code", 0)
        if response.get("returnCodeInterpretation"):
            data["exit_note"] = str(response["returnCodeInterpretation"])
    elif tool in CHANGING_TOOLS or tool == "Read":
        return  # the input already says what changed; file contents are not memory
    elif tool in ("Grep", "Glob"):
        names = response.get("filenames")
        if isinstance(names, list):
            data["output"] = "\n".join(str(n) for n in names)
    elif tool == "Task" or "content" in response:
        content = response.get("content")
        if isinstance(content, list):
            texts = [c.get("text", "") for c in content if isinstance(c, dict)]
            data["output"] = "\n".join(t for t in texts if isinstance(t, str))
        elif isinstance(content, str):
            data["output"] = content
    else:
        data["output"] = json.dumps(response, ensure_ascii=False, sort_keys=True)


def session_start_output(context: str) -> str:
    """What Claude Code reads from a SessionStart hook's stdout."""
    return additional_context(context)


def recognizes(payload: dict) -> bool:
    """Whether a logged hook payload is recognisably Claude Code's: never, since its schema
    is the one the others follow; a log no other agent claims is read as Claude Code's
    (agents.DEFAULT)."""
    return False
