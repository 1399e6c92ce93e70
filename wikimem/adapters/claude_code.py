"""Claude Code hook payloads -> Event (stdlib only)."""

from __future__ import annotations

import json
import re

from wikimem.adapters import Event

AGENT = "claude-code"

KINDS = {
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

# Payload key -> observation data key, for keys kept as they are.
_PLAIN = {
    "prompt": "prompt",
    "prompt_id": "prompt_id",
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
    "is_interrupt": "interrupted",
    "duration_ms": "duration_ms",
}
_CONSUMED = {"session_id", "cwd", "hook_event_name", "tool_name", "tool_input", "tool_response"}

CHANGING_TOOLS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}
READING_TOOLS = {"Read", "Grep", "Glob", "LS", "NotebookRead"}
_EXIT_CODE = re.compile(r"[Ee]xit code:? (\d+)")


def normalize(payload: dict) -> Event:
    """Map one Claude Code hook payload to an Event; unknown events become kind `other`."""
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
        files = tool_files(tool, tool_input)
        if files:
            data["files"] = files
        if tool == "Bash" and isinstance(tool_input, dict):
            if isinstance(tool_input.get("command"), str):
                data["command"] = tool_input["command"]
        if kind == "tool_post":
            _tool_result(tool, payload.get("tool_response"), data)
        elif kind == "tool_failure":
            match = _EXIT_CODE.search(str(payload.get("error") or ""))
            data["exit_code"] = int(match.group(1)) if match else 1
    extra = {k: v for k, v in payload.items() if k not in _CONSUMED and k not in _PLAIN}
    if extra:
        data["extra"] = extra
    uid = None
    if isinstance(payload.get("tool_use_id"), str):
        uid = f"{name}:{payload['tool_use_id']}"
    elif kind in ("subagent_start", "subagent_stop") and isinstance(payload.get("agent_id"), str):
        uid = f"{name}:{payload['agent_id']}"
    session = payload.get("session_id")
    cwd = payload.get("cwd")
    return Event(
        session=session if isinstance(session, str) else "",
        kind=kind,
        cwd=cwd if isinstance(cwd, str) else "",
        data=data,
        uid=uid,
    )


def tool_files(tool: str, tool_input) -> list[dict]:
    """Files a tool call names, each as {"path": ..., "op": "read" | "change"}."""
    if not isinstance(tool_input, dict):
        return []
    op = "change" if tool in CHANGING_TOOLS else "read" if tool in READING_TOOLS else None
    if op is None:
        return []
    found = []
    for key in ("file_path", "notebook_path", "path"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            found.append({"path": value, "op": op})
            break
    return found


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
    return json.dumps(
        {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": context}},
        ensure_ascii=False,
    )
