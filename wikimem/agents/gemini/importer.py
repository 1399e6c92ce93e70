"""Gemini CLI chats (~/.gemini/tmp/<project>/chats/session-*.json[l]) -> Events (stdlib only).

Two shapes: one JSON document `{"sessionId", "projectHash", "startTime", "messages": [...]}`
(up to 0.3x), and JSONL (0.40+): a metadata line, then one message per line, `{"$set": ...}`
metadata updates, and the same message id again when a message is rewritten (the last
version wins, in the place the message first appeared).

| message | becomes |
|---|---|
| the session | `session_start` (model of the first reply, `project_hash`) |
| `user` | `prompt` |
| `gemini`, each of `toolCalls` | `tool_pre`, then `tool_post` (`tool_failure`: status `error`, |
| | `cancelled`, an error response or a non-zero `Exit Code`) |
| `gemini`, last text of a turn | `stop` with `message` |

Skipped and counted: `info`, `warning` and `error` messages, thoughts, `$set` updates and
unknown record types. Chats do not record a working directory, only `projectHash`, the
SHA-256 of the project root. The root is recovered when it can be proved: a `.project_root`
file beside `chats/`, else an ancestor of an absolute path the tools used whose hash is the
project hash. Otherwise `cwd` stays empty and `project_hash` lets `wikimem import` match it
against known project roots. uids: message ids and tool call ids.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from wikimem.agents.importers import (
    Clock,
    Imported,
    head_records,
    iter_jsonl,
    load_json,
    parse_ts,
    text_of,
    user_home,
)
from wikimem.capture.event import Event

AGENT = "gemini"
LOCATION = "~/.gemini/tmp/*/chats"  # where default_paths() looks, for messages

# Files only: folders a listing or search looked in are not "files read".
READS = {"read_file": ("absolute_path", "file_path", "path")}
CHANGES = {"write_file": ("file_path", "path", "absolute_path"),
           "replace": ("file_path", "path", "absolute_path"),
           "edit": ("file_path", "path", "absolute_path")}
SHELL = {"run_shell_command", "shell"}
# Like the Claude Code adapter: file contents are not memory; the input says what changed.
NO_OUTPUT = {"read_file", "read_many_files", *CHANGES}
_EXIT = re.compile(r"Exit Code: (-?\d+)")


def default_paths() -> list[Path]:
    """Every chat under ~/.gemini/tmp/<project hash or name>/chats."""
    base = user_home() / ".gemini" / "tmp"
    found = sorted(base.glob("*/chats/session-*.json"))
    found += sorted(base.glob("*/chats/session-*.jsonl"))
    return sorted(found)


def sniff(path: Path) -> bool:
    """A Gemini chat: a session header (`sessionId` with `projectHash`/`startTime`)."""
    records = [r for r in head_records(path, 3) if isinstance(r, dict)]
    if not records:
        return False
    first = records[0]
    return (isinstance(first.get("sessionId"), str) and "type" not in first
            and ("projectHash" in first or "startTime" in first or "messages" in first))


def read(path: Path, stats: Counter | None = None) -> Iterator[Imported]:
    """The events of a chat, in message order."""
    stats = stats if stats is not None else Counter()
    meta, messages = _load(path, stats)
    if meta is None:
        return
    yield from _Reader(path, stats, meta, messages).run()


def _load(path: Path, stats: Counter) -> tuple[dict | None, list[tuple[int, dict]]]:
    with open(path, "rb") as f:
        first = f.read(4096).lstrip()
    records = None
    if first.startswith(b"{") and not path.name.endswith(".jsonl"):
        whole = load_json(path, stats)
        if isinstance(whole, dict) and isinstance(whole.get("messages"), list):
            messages = whole["messages"]
            meta = {k: v for k, v in whole.items() if k != "messages"}
            out = []
            for n, m in enumerate(messages, start=1):
                if isinstance(m, dict):
                    out.append((n, m))
                else:
                    stats["not-an-object"] += 1
            return meta, out
        if whole is not None:
            records = [(1, whole)] if isinstance(whole, dict) else None
    if records is None:
        records = list(iter_jsonl(path, stats))
    meta: dict | None = None
    order: list[str] = []
    latest: dict[str, tuple[int, dict]] = {}
    loose: list[tuple[int, dict]] = []
    for n, r in records:
        if "$set" in r:
            if isinstance(r["$set"], dict) and meta is not None:
                meta.update(r["$set"])
            stats["$set"] += 1
        elif meta is None and "sessionId" in r and "type" not in r:
            meta = dict(r)
        elif isinstance(r.get("type"), str) and ("id" in r or "content" in r):
            mid = r.get("id")
            if isinstance(mid, str) and mid:
                if mid not in latest:
                    order.append(mid)
                else:
                    stats["message:rewritten"] += 1
                latest[mid] = (latest.get(mid, (n, r))[0], r)
            else:
                loose.append((n, r))
        else:
            keys = [k for k in r if k.startswith("$")]
            stats[f"unknown:{keys[0] if keys else r.get('type')}"] += 1
    messages = sorted([latest[m] for m in order] + loose, key=lambda item: item[0])
    if meta is None:
        stats["no-session-header"] += 1
        if not messages:
            return None, []
        meta = {"sessionId": path.stem}
    return meta, messages


class _Reader:
    def __init__(self, path: Path, stats: Counter, meta: dict, messages):
        self.path = path
        self.name = path.name
        self.stats = stats
        self.meta = meta
        self.messages = messages
        sid = meta.get("sessionId")
        self.session = sid if isinstance(sid, str) and sid else path.stem
        self.project_hash = meta.get("projectHash") if isinstance(
            meta.get("projectHash"), str) else ""
        self.cwd = _project_root(path, meta, self.project_hash, messages)
        self.pending_stop: Imported | None = None

    def run(self) -> Iterator[Imported]:
        clock = Clock(parse_ts(self.meta.get("startTime")))
        model = next((m["model"] for _, m in self.messages
                      if isinstance(m.get("model"), str) and m["model"]), "")
        started = False
        for n, m in self.messages:
            ts = clock(m.get("timestamp"))
            where = f"{self.name}:{n}"
            if ts is None:
                self.stats[f"{m.get('type')}:no-timestamp"] += 1
                continue
            if not started:
                started = True
                data = {"source": "import"}
                if model:
                    data["model"] = model
                if self.project_hash:
                    data["project_hash"] = self.project_hash
                start_ts = parse_ts(self.meta.get("startTime")) or ts
                yield Imported(Event(self.session, "session_start", self.cwd, data,
                                     uid="session_start"), min(start_ts, ts), where)
            try:
                yield from self._message(n, m, ts, where)
            except (TypeError, ValueError, AttributeError, KeyError):
                # Trigger: a message shaped unlike any version we know. Why: one odd
                # message must not lose the session. Outcome: it is counted and skipped.
                self.stats[f"malformed:{m.get('type')}"] += 1
        if self.pending_stop is not None:
            yield self.pending_stop

    def _message(self, n: int, m: dict, ts: str, where: str) -> Iterator[Imported]:
        kind = m.get("type")
        mid = m.get("id") if isinstance(m.get("id"), str) and m.get("id") else f"L{n}"
        if kind == "user":
            text = text_of(m.get("content"))
            if not text.strip():
                self.stats["user:empty"] += 1
                return
            if self.pending_stop is not None:
                yield self.pending_stop
                self.pending_stop = None
            yield Imported(Event(self.session, "prompt", self.cwd, {"prompt": text}, uid=mid),
                           ts, where)
        elif kind in ("gemini", "model", "assistant"):
            calls = m.get("toolCalls") if isinstance(m.get("toolCalls"), list) else []
            for i, call in enumerate(calls):
                if isinstance(call, dict):
                    yield from self._tool(call, f"{mid}:{i}", ts, where)
            text = text_of(m.get("content"))
            if text.strip():
                event = Event(self.session, "stop", self.cwd, {"message": text},
                              uid=f"stop:{mid}")
                self.pending_stop = Imported(event, ts, where)
        else:
            self.stats[f"message:{kind}"] += 1

    def _tool(self, call: dict, fallback: str, ts: str, where: str) -> Iterator[Imported]:
        name = call.get("name") if isinstance(call.get("name"), str) else "?"
        args = call.get("args")
        call_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else fallback
        data: dict = {"tool": name, "tool_use_id": call_id}
        if args is not None:
            data["input"] = args
        files = _files(name, args)
        if files:
            data["files"] = files
        if name in SHELL and isinstance(args, dict) and isinstance(args.get("command"), str):
            data["command"] = args["command"]
        yield Imported(Event(self.session, "tool_pre", self.cwd, dict(data),
                             uid=f"pre:{call_id}"), ts, where)
        call_ts = parse_ts(call.get("timestamp")) or ts
        output, error = _result(call.get("result"))
        status = call.get("status")
        if status is None and not output and not error:
            return  # never ran (or the chat was saved mid-call)
        if output and name not in NO_OUTPUT:
            data["output"] = output
        match = _EXIT.search(output or error or "")
        if status in ("error", "cancelled") or error:
            data["error"] = error or output or str(status)
            if status == "cancelled":
                data["interrupted"] = True
            data["exit_code"] = int(match.group(1)) if match else 1
            yield Imported(Event(self.session, "tool_failure", self.cwd, data,
                                 uid=f"failure:{call_id}"), call_ts, where)
            return
        if name in SHELL:
            data["exit_code"] = int(match.group(1)) if match else 0
        kind = "tool_failure" if data.get("exit_code") else "tool_post"
        if kind == "tool_failure":
            data["error"] = failure_text(data["exit_code"], output)
        yield Imported(Event(self.session, kind, self.cwd, data,
                             uid=f"{'failure' if kind == 'tool_failure' else 'post'}:{call_id}"),
                       call_ts, where)


def failure_text(code: int, output: str) -> str:
    """`Exit code N: <what went wrong>` first (pages show the first line), then the output."""
    why = ""
    for line in output.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Error", "Stderr") and value.strip() not in ("", "(none)"):
            why = value.strip()
            break
    if not why:
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        why = lines[-1] if lines else ""
    return f"Exit code {code}" + (f": {why}" if why else "") + (f"\n{output}" if output else "")


def _result(result) -> tuple[str, str]:
    """(output, error) text of a tool call's recorded function responses."""
    outputs, errors = [], []
    for part in result if isinstance(result, list) else [result]:
        if not isinstance(part, dict):
            continue
        response = part.get("functionResponse", {}).get("response") if isinstance(
            part.get("functionResponse"), dict) else part
        if not isinstance(response, dict):
            continue
        if isinstance(response.get("output"), str):
            outputs.append(response["output"])
        elif response.get("output") is not None:
            outputs.append(text_of(response["output"]))
        if isinstance(response.get("error"), str):
            errors.append(response["error"])
    return "\n".join(o for o in outputs if o), "\n".join(e for e in errors if e)


def _files(name: str, args) -> list[dict]:
    if not isinstance(args, dict):
        return []
    found = []
    for table, op in ((READS, "read"), (CHANGES, "change")):
        for key in table.get(name, ()):
            if isinstance(args.get(key), str) and args[key]:
                found.append({"path": args[key], "op": op})
                break
    if name == "read_many_files" and isinstance(args.get("paths"), list):
        found += [{"path": p, "op": "read"} for p in args["paths"] if isinstance(p, str)]
    return found


def _project_root(path: Path, meta: dict, project_hash: str, messages) -> str:
    """The project root the chat ran in, when it can be proved (see the module docstring)."""
    for key in ("projectRoot", "cwd", "directory"):
        if isinstance(meta.get(key), str) and meta[key]:
            return meta[key]
    marker = path.parent.parent / ".project_root"
    if path.parent.name == "chats" and marker.is_file():
        try:
            text = marker.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        if text:
            return text
    if not project_hash:
        return ""
    tried: set[str] = set()
    for _, m in messages:
        calls = m.get("toolCalls") if isinstance(m.get("toolCalls"), list) else []
        for call in calls:
            args = call.get("args") if isinstance(call, dict) else None
            if not isinstance(args, dict):
                continue
            for value in args.values():
                if not isinstance(value, str) or not _absolute(value):
                    continue
                root = matching_ancestor(value, project_hash, tried)
                if root:
                    return root
    return ""


def _absolute(value: str) -> bool:
    return value.startswith("/") or bool(re.match(r"^[A-Za-z]:[\\/]", value))


def project_hash(root: str) -> str:
    """Gemini CLI's projectHash: SHA-256 of the project root path."""
    return hashlib.sha256(root.encode("utf-8")).hexdigest()


def matching_ancestor(path: str, wanted: str, tried: set[str] | None = None) -> str:
    """The ancestor of `path` (itself included) whose project hash is `wanted`, or ""."""
    tried = tried if tried is not None else set()
    pure = PureWindowsPath(path) if re.match(r"^[A-Za-z]:", path) else PurePosixPath(path)
    for candidate in (pure, *pure.parents):
        text = str(candidate)
        if text in tried:
            continue
        tried.add(text)
        if project_hash(text) == wanted:
            return text
    return ""
