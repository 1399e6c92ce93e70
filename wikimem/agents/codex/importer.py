"""Codex rollouts (~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl) -> Events (stdlib only).

One `{"timestamp", "type", "payload"}` record per line (0.3x .. 0.14x).

| record | becomes |
|---|---|
| first `session_meta` | `session_start` (cwd, model from the first `turn_context`, cli version) |
| `turn_context` | nothing; updates the working directory and model of what follows |
| `event_msg` `user_message` | `prompt` (the "My request for Codex" part of IDE context) |
| `response_item` `message` role user | `prompt`, only in rollouts without `user_message` events |
| `response_item` `message` role assistant | `stop` with `message` for the last of a turn |
| `event_msg` `agent_message` | the same, only in rollouts without assistant messages |
| `function_call`, `custom_tool_call`, `local_shell_call`, `tool_call` | `tool_pre` |
| `function_call_output`, `custom_tool_call_output`, `tool_result` | `tool_post`; `tool_failure` |
| `exec_command_end`, `patch_apply_end`, `mcp_tool_call_end` | the same, unless already seen |
| `response_item` `web_search_call` | `tool_post` (tool `web_search`) |
| `compacted` | `pre_compact` |

Shell tools (`shell`, `exec_command`, `shell_command`, `local_shell`) are named `Bash` with
`command` as one string, like Codex's own hook payloads. `apply_patch` names the files it
adds, updates or deletes (op `change`). A turn ends at the next prompt, `task_complete` or
`turn_aborted`. Skipped and counted: reasoning, token counts, duplicates of records already
used, later `session_meta` records (forked history), world state, review mode, images,
collaboration and every unknown type. uids: the call id for tool events, else the record's
timestamp and a hash of its content.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from wikimem.agents.importers import Clock, Imported, head_records, iter_jsonl, text_of, user_home
from wikimem.capture.event import Event

AGENT = "codex"
LOCATION = "~/.codex/sessions"  # where default_paths() looks, for messages

_UUID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl?$")
_EXIT = re.compile(r"(?:^|\n)(?:Exit code:|Process exited with code)\s*(-?\d+)")
_PATCH_FILE = re.compile(
    r"^\*\*\* (?:Add|Update|Delete) File: (.+?)\s*$|^\*\*\* Move to: (.+?)\s*$", re.M)
_IDE_REQUEST = "## My request for Codex:"
_NOT_PROMPTS = ("<environment_context>", "<user_instructions>", "<permissions instructions>",
                "# AGENTS.md instructions", "<INSTRUCTIONS>", "<user_shell_command>")
SHELL_TOOLS = {"shell", "container.exec", "local_shell", "local_shell_call", "exec_command",
               "shell_command", "unified_exec", "run_shell_command"}
ROLLOUT_TYPES = {"session_meta", "response_item", "event_msg", "turn_context", "compacted"}


def default_paths() -> list[Path]:
    """Every rollout under ~/.codex/sessions (and the archived ones)."""
    base = user_home() / ".codex"
    found = sorted((base / "sessions").glob("**/rollout-*.jsonl"))
    found += sorted((base / "archived_sessions").glob("**/rollout-*.jsonl"))
    return found


def sniff(path: Path) -> bool:
    """A rollout: `{"type": <rollout item>, "payload": {...}}` records."""
    records = [r for r in head_records(path) if isinstance(r, dict)]
    return any(r.get("type") in ROLLOUT_TYPES and isinstance(r.get("payload"), dict)
               for r in records)


def read(path: Path, stats: Counter | None = None) -> Iterator[Imported]:
    """The events of a rollout, in file order."""
    stats = stats if stats is not None else Counter()
    records = list(iter_jsonl(path, stats))
    yield from _Reader(path, stats, records).run()


class _Reader:
    def __init__(self, path: Path, stats: Counter, records: list[tuple[int, dict]]):
        self.name = path.name
        self.stats = stats
        self.records = records
        self.calls: dict[str, dict] = {}  # call_id -> tool_pre data
        self.posted: set[str] = set()  # call ids whose result was emitted
        self.queue: list[dict] = []  # tool_call records without ids, waiting for a result
        self.pending_stop: Imported | None = None
        self.started = False
        self.meta: dict = {}
        self.seen: Counter = Counter()
        self.n, self.ts, self.where = 0, "", self.name
        self._scan(path)

    def _scan(self, path: Path) -> None:
        """Session id, working directory and model; which duplicate records to use."""
        self.session = ""
        self.cwd = ""
        self.model = ""
        kinds = Counter()
        for _, r in self.records:
            p = r.get("payload") if isinstance(r.get("payload"), dict) else {}
            t = r.get("type")
            kinds[(t, p.get("type"), p.get("role"))] += 1
            if t == "session_meta" and not self.session:
                sid = p.get("id") or p.get("session_id")
                if isinstance(sid, str) and _UUID.fullmatch(sid + ".jsonl"):
                    self.session = sid
                if isinstance(p.get("cwd"), str) and _real(p["cwd"]):
                    self.cwd = p["cwd"]
                if isinstance(p.get("model"), str):
                    self.model = p["model"]
            elif t == "turn_context":
                if not self.cwd and isinstance(p.get("cwd"), str) and _real(p["cwd"]):
                    self.cwd = p["cwd"]
                if not self.model and isinstance(p.get("model"), str) and _real(p["model"]):
                    self.model = p["model"]
        if not self.session:
            match = _UUID.search(path.name)
            self.session = match.group(1) if match else path.stem
        self.user_events = kinds[("event_msg", "user_message", None)] > 0
        self.assistant_items = kinds[("response_item", "message", "assistant")] > 0
        self.cur_cwd = self.cwd

    def run(self) -> Iterator[Imported]:
        clock = Clock()
        for n, r in self.records:
            ts = clock(r.get("timestamp"))
            t = r.get("type")
            p = r.get("payload") if isinstance(r.get("payload"), dict) else None
            if p is None:
                self.stats[f"{t}:no-payload"] += 1
                continue
            label = f"{t}:{p.get('type')}" if t in ("response_item", "event_msg") else str(t)
            if ts is None:
                self.stats[f"{label}:no-timestamp"] += 1
                continue
            self.where = f"{self.name}:{n}"
            self.n, self.ts = n, ts
            try:
                yield from self._record(t, p, label)
            except (TypeError, ValueError, AttributeError, KeyError):
                # Trigger: a record shaped unlike any version we know. Why: one odd line
                # must not lose the session. Outcome: it is counted and skipped.
                self.stats[f"malformed:{label}"] += 1
        yield from self._flush()

    # -- helpers -------------------------------------------------------------------------

    def _event(self, kind: str, data: dict, uid: str) -> Iterator[Imported]:
        yield from self._start()
        yield Imported(Event(self.session, kind, self.cur_cwd or self.cwd, data, uid=uid),
                       self.ts, self.where)

    def _start(self) -> Iterator[Imported]:
        """`session_start` once, before the first event (or at the `session_meta`)."""
        if self.started:
            return
        self.started = True
        data = {"source": "import", **({"model": self.model} if self.model else {}),
                **self.meta}
        yield Imported(Event(self.session, "session_start", self.cwd, data,
                             uid="session_start"), self.ts, self.where)

    def _uid(self, kind: str, text: str) -> str:
        """An id for a record that has none: its time and a hash of its content, numbered
        when identical ones repeat. Stable across re-reads, and across rollouts that copy
        earlier records (resumed or forked sessions), unlike a line number."""
        digest = hashlib.sha256(f"{self.ts}\0{text}".encode("utf-8", "surrogatepass"))
        key = f"{kind}:{self.ts}:{digest.hexdigest()[:16]}"
        self.seen[key] += 1
        return key if self.seen[key] == 1 else f"{key}:{self.seen[key]}"

    def _flush(self) -> Iterator[Imported]:
        if self.pending_stop is not None:
            stop, self.pending_stop = self.pending_stop, None
            yield stop

    def _stop_candidate(self, text: str) -> None:
        if not text.strip():
            return
        event = Event(self.session, "stop", self.cur_cwd or self.cwd, {"message": text},
                      uid=self._uid("stop", text))
        self.pending_stop = Imported(event, self.ts, self.where)

    # -- records -------------------------------------------------------------------------

    def _record(self, t: str, p: dict, label: str) -> Iterator[Imported]:
        if t == "session_meta":
            if self.started:
                self.stats["session_meta:extra"] += 1  # a fork's or subagent's history
                return
            for key, src in (("cli_version", "cli_version"), ("originator", "originator")):
                if isinstance(p.get(src), str) and _real(p[src]):
                    self.meta[key] = p[src]
            git = p.get("git") if isinstance(p.get("git"), dict) else {}
            if isinstance(git.get("branch"), str):
                self.meta["branch"] = git["branch"]
            yield from self._start()
        elif t == "turn_context":
            if isinstance(p.get("cwd"), str) and _real(p["cwd"]):
                self.cur_cwd = p["cwd"]
        elif t == "compacted":
            data = {"trigger": "auto"}
            if isinstance(p.get("message"), str) and p["message"]:
                data["summary"] = p["message"]
            uid = self._uid("compact", data.get("summary", ""))
            yield from self._event("pre_compact", data, uid)
        elif t == "event_msg":
            yield from self._event_msg(p, label)
        elif t == "response_item":
            yield from self._response_item(p, label)
        else:
            self.stats[str(t) if t in ROLLOUT_TYPES else f"unknown:{t}"] += 1

    def _prompt(self, text: str) -> Iterator[Imported]:
        if _IDE_REQUEST in text:
            text = text.split(_IDE_REQUEST, 1)[1]
        text = text.strip()
        if not text:
            self.stats["prompt:empty"] += 1
            return
        yield from self._flush()
        yield from self._event("prompt", {"prompt": text}, self._uid("prompt", text))

    def _event_msg(self, p: dict, label: str) -> Iterator[Imported]:
        kind = p.get("type")
        if kind == "user_message":
            text = p.get("message") if isinstance(p.get("message"), str) else text_of(
                p.get("message"))
            yield from self._prompt(text)
        elif kind == "agent_message":
            if self.assistant_items:
                self.stats[f"{label}:duplicate"] += 1
            else:
                self._stop_candidate(text_of(p.get("message")))
        elif kind in ("task_complete", "turn_aborted"):
            last = p.get("last_agent_message")
            if self.pending_stop is None and isinstance(last, str):
                self._stop_candidate(last)
            yield from self._flush()
        elif kind == "exec_command_end":
            yield from self._exec_end(p)
        elif kind == "patch_apply_end":
            yield from self._patch_end(p)
        elif kind == "mcp_tool_call_end":
            yield from self._mcp_end(p)
        else:
            self.stats[label] += 1

    def _response_item(self, p: dict, label: str) -> Iterator[Imported]:
        kind = p.get("type")
        if kind == "message":
            role = p.get("role")
            text = text_of(p.get("content"))
            if role == "assistant":
                self._stop_candidate(text)
            elif role == "user" and not self.user_events:
                if text.lstrip().startswith(_NOT_PROMPTS):
                    self.stats[f"{label}:user-context"] += 1
                else:
                    yield from self._prompt(text)
            else:
                self.stats[f"{label}:{role}"] += 1
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            yield from self._call(p)
        elif kind == "tool_call":  # an older/alternative shape without call ids
            fn = p.get("function") if isinstance(p.get("function"), dict) else {}
            name = p.get("name") or fn.get("name") or "?"
            data = _tool_data(str(name), p.get("arguments"), self.cur_cwd)
            self.queue.append(data)
            uid = self._uid("pre", json.dumps(data, sort_keys=True, default=str))
            yield from self._event("tool_pre", dict(data), uid)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            yield from self._output(p)
        elif kind == "tool_result":
            name = p.get("name")
            match = next((d for d in self.queue if d["tool"] == _tool_name(name)), None)
            if match is not None:
                self.queue.remove(match)
            data = dict(match) if match else _tool_data(str(name or "?"), None, self.cur_cwd)
            yield from self._result(data, p.get("result"),
                                    self._uid("post", json.dumps(p, sort_keys=True, default=str)))
        elif kind == "web_search_call":
            action = p.get("action") if isinstance(p.get("action"), dict) else {}
            data = {"tool": "web_search", "input": action}
            uid = p.get("id") if isinstance(p.get("id"), str) and _real(p["id"]) else None
            yield from self._event("tool_post", data,
                                   f"post:{uid}" if uid else self._uid("post", str(action)))
        else:
            self.stats[label] += 1

    def _call(self, p: dict) -> Iterator[Imported]:
        name = p.get("name") or ("local_shell" if p.get("type") == "local_shell_call" else "?")
        args = p.get("arguments") if "arguments" in p else p.get("input")
        if p.get("type") == "local_shell_call" and isinstance(p.get("action"), dict):
            args = p["action"]
        data = _tool_data(str(name), args, self.cur_cwd)
        call_id = p.get("call_id") if isinstance(p.get("call_id"), str) else None
        if call_id and _real(call_id):
            data["tool_use_id"] = call_id
            self.calls[call_id] = data
            uid = f"pre:{call_id}"
        else:
            uid = self._uid("pre", json.dumps(data, sort_keys=True, default=str))
        yield from self._event("tool_pre", dict(data), uid)

    def _call_data(self, call_id) -> tuple[dict | None, str]:
        if isinstance(call_id, str) and _real(call_id):
            return self.calls.get(call_id), f"post:{call_id}"
        return None, self._uid("post", f"L{self.n}")

    def _output(self, p: dict) -> Iterator[Imported]:
        call_id = p.get("call_id")
        if call_id in self.posted:
            self.stats[f"response_item:{p.get('type')}:duplicate"] += 1
            return
        known, uid = self._call_data(call_id)
        data = dict(known) if known else {"tool": "?"}
        yield from self._result(data, p.get("output"), uid)
        if isinstance(call_id, str):
            self.posted.add(call_id)

    def _result(self, data: dict, output, uid: str) -> Iterator[Imported]:
        text, code, failed = _parse_output(output)
        if text:
            data["output"] = text
        if code is None and data.get("tool") == "Bash" and isinstance(output, dict):
            code = output.get("exitCode") if isinstance(output.get("exitCode"), int) else None
        if code is not None:
            data["exit_code"] = code
        if failed or (code is not None and code != 0):
            lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
            why = lines[-1] if lines else "failed"
            data["error"] = (f"Exit code {code}: {why}" if code else why) + (
                f"\n{text}" if text else "")
            data.setdefault("exit_code", code if code is not None else 1)
            yield from self._event("tool_failure", data, uid.replace("post:", "failure:", 1))
        else:
            yield from self._event("tool_post", data, uid)

    def _exec_end(self, p: dict) -> Iterator[Imported]:
        call_id = p.get("call_id")
        if call_id in self.posted:
            self.stats["event_msg:exec_command_end:duplicate"] += 1
            return
        known, uid = self._call_data(call_id)
        data = dict(known) if known else _tool_data("exec_command", {"command": p.get("command")},
                                                    p.get("cwd") or self.cur_cwd)
        output = p.get("aggregated_output")
        if not isinstance(output, str):
            output = str(p.get("stdout") or "") + (
                ("\n[stderr]\n" + str(p["stderr"])) if p.get("stderr") else "")
        code = p.get("exit_code") if isinstance(p.get("exit_code"), int) else None
        yield from self._result(data, {"output": output, "metadata": {"exit_code": code}}, uid)
        if isinstance(call_id, str):
            self.posted.add(call_id)

    def _patch_end(self, p: dict) -> Iterator[Imported]:
        call_id = p.get("call_id")
        if call_id in self.posted:
            self.stats["event_msg:patch_apply_end:duplicate"] += 1
            return
        known, uid = self._call_data(call_id)
        data = dict(known) if known else {"tool": "apply_patch"}
        changes = p.get("changes") if isinstance(p.get("changes"), dict) else {}
        if changes and "files" not in data:
            data["files"] = [{"path": str(f), "op": "change"} for f in changes]
        text = str(p.get("stdout") or "") + (("\n" + str(p["stderr"])) if p.get("stderr") else "")
        output = {"output": text, "success": p.get("success") is not False}
        yield from self._result(data, output, uid)
        if isinstance(call_id, str):
            self.posted.add(call_id)

    def _mcp_end(self, p: dict) -> Iterator[Imported]:
        call_id = p.get("call_id")
        if call_id in self.posted:
            self.stats["event_msg:mcp_tool_call_end:duplicate"] += 1
            return
        known, uid = self._call_data(call_id)
        inv = p.get("invocation") if isinstance(p.get("invocation"), dict) else {}
        data = dict(known) if known else {
            "tool": f"mcp__{inv.get('server', '?')}__{inv.get('tool', '?')}",
            "input": inv.get("arguments")}
        result = p.get("result")
        if isinstance(result, dict) and "Err" in result:
            output = {"output": text_of(result["Err"]) or str(result["Err"]), "success": False}
        else:
            ok = result.get("Ok") if isinstance(result, dict) else result
            content = ok.get("content") if isinstance(ok, dict) else ok
            failed = isinstance(ok, dict) and ok.get("isError") is True
            output = {"output": text_of(content), "success": not failed}
        yield from self._result(data, output, uid)
        if isinstance(call_id, str):
            self.posted.add(call_id)


def _real(value: str) -> bool:
    """False for placeholders fixtures put where a value was scrubbed."""
    return bool(value) and "trimmed for fixture" not in value and value != "<scrubbed>"


def _tool_name(name) -> str:
    name = str(name or "?")
    return "Bash" if name in SHELL_TOOLS else name


def _tool_data(name: str, args, cwd: str) -> dict:
    """tool, input, files, command for a Codex tool call (arguments may be JSON text)."""
    if isinstance(args, str):
        try:
            parsed = json.loads(args)
        except ValueError:
            parsed = args  # custom tools (apply_patch) take free text
        args = parsed
    tool = _tool_name(name)
    data: dict = {"tool": tool}
    if tool == "Bash":
        command, workdir = _command(args)
        if command and command.startswith("apply_patch"):
            return _patch_data(command, workdir or cwd)
        if command:
            data["command"] = command
        data["input"] = {"command": command, **({"workdir": workdir} if workdir else {})}
        return data
    if name == "apply_patch":
        patch = args if isinstance(args, str) else text_of(args) if args else ""
        if isinstance(args, dict):
            patch = str(args.get("input") or args.get("patch") or "")
        return _patch_data(patch, cwd)
    if args is not None:
        data["input"] = args
    return data


def _command(args) -> tuple[str, str]:
    """The command line of a shell call as one string, and its working directory."""
    if not isinstance(args, dict):
        return (args if isinstance(args, str) else ""), ""
    workdir = args.get("workdir") or args.get("working_directory") or args.get("cwd") or ""
    command = args.get("command", args.get("cmd"))
    if isinstance(command, list):
        parts = [str(c) for c in command]
        if len(parts) >= 3 and parts[1] in ("-lc", "-c") and parts[0].endswith("sh"):
            command = parts[2]
        elif parts and parts[0] == "apply_patch":
            command = "apply_patch " + " ".join(parts[1:])
        else:
            command = shlex.join(parts)
    return (command if isinstance(command, str) else ""), str(workdir)


def _patch_data(patch: str, cwd: str) -> dict:
    files = []
    for match in _PATCH_FILE.finditer(patch or ""):
        path = (match.group(1) or match.group(2)).strip()
        if cwd and not path.startswith(("/", "\\")) and not re.match(r"^[A-Za-z]:", path):
            path = cwd.rstrip("/\\") + "/" + path
        if path not in [f["path"] for f in files]:
            files.append({"path": path, "op": "change"})
    data: dict = {"tool": "apply_patch", "input": {"patch": patch}}
    if files:
        data["files"] = files
    return data


def _parse_output(output) -> tuple[str, int | None, bool]:
    """(text, exit code, failed) from a tool output in any of the shapes Codex wrote."""
    failed = False
    code = None
    if isinstance(output, str):
        try:
            parsed = json.loads(output)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and ("output" in parsed or "metadata" in parsed):
            output = parsed
    if isinstance(output, dict):
        meta = output.get("metadata") if isinstance(output.get("metadata"), dict) else {}
        if isinstance(meta.get("exit_code"), int):
            code = meta["exit_code"]
        if output.get("success") is False:
            failed = True
        for key in ("output", "content", "text", "stdout"):
            if key in output:
                text = text_of(output[key]) if not isinstance(output[key], str) else output[key]
                break
        else:
            text = text_of(output)
        if isinstance(output.get("stderr"), str) and output["stderr"]:
            text += "\n[stderr]\n" + output["stderr"]
    else:
        text = text_of(output)
    if code is None:
        match = _EXIT.search(text[:500])
        if match:
            code = int(match.group(1))
    return text, code, failed
