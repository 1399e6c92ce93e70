"""JSON settings files: edited as data, written back in the file's own style (stdlib only).

A file is parsed, edited and re-serialized with its own indentation, key order, escaping and
final newline, so in a normally formatted file nothing but wikimem's entries changes (a file
laid out differently is re-indented, and the plan says so). Hooks are listed the way Claude
Code defined, `{"hooks": {event: [...]}}`, which the other agents copied with small
differences each describes in a HookFormat; MCP servers under `mcpServers`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wikimem.agents.install_commands import (
    HOOK_RE,
    MCP_NAME,
    hook_argv,
    hook_command,
    mcp_argv,
    path_note,
)
from wikimem.errors import WikimemError


@dataclass(frozen=True)
class HookFormat:
    """How one agent lists hooks in its JSON settings: `{"hooks": {event: [...]}}`."""

    events: tuple[str, ...]
    flat: bool  # True: event -> [handler]; False: event -> [{"matcher"?, "hooks": [handler]}]
    matchers: dict[str, str]
    handler: Callable[[str, str], dict]  # (command, event) -> handler object
    new_file: dict = field(default_factory=dict)  # top-level keys a new settings file starts with


@dataclass
class _Style:
    indent: int | str | None = 2
    separators: tuple[str, str] = (",", ": ")
    ensure_ascii: bool = False
    final_newline: bool = True
    crlf: bool = False
    bom: bool = False


def _key_separator(body: str) -> str:
    """How the file writes `"key": value`: the most common spacing around its colons."""
    found = Counter(m.group(1) for m in re.finditer(r'"([ \t]*:[ \t]?)(?=[^\s])', body))
    return found.most_common(1)[0][0] if found else ": "


def _detect_style(text: str) -> _Style:
    body = text.lstrip("\ufeff")
    style = _Style(bom=text.startswith("\ufeff"), crlf="\r\n" in body,
                   final_newline=body.endswith("\n"))
    m = re.search(r"\n([ \t]+)\S", body)
    if m:
        ws = m.group(1)
        style.indent = len(ws) if set(ws) == {" "} else ws
        style.separators = (",", _key_separator(body))
    elif "\n" not in body.strip():
        style.indent = None
        comma = ", " if re.search(r"[\]}\"\w],\s", body) else ","
        style.separators = (comma, _key_separator(body))
    else:  # one item per line, none indented
        style.indent = 0
        style.separators = (",", _key_separator(body))
    non_ascii = any(ord(c) > 127 for c in body)
    style.ensure_ascii = not non_ascii and bool(re.search(r"\\u[0-9a-fA-F]{4}", body))
    return style


def _dumps(data, style: _Style) -> str:
    text = json.dumps(data, indent=style.indent, separators=style.separators,
                      ensure_ascii=style.ensure_ascii)
    if style.final_newline:
        text += "\n"
    if style.crlf:
        text = text.replace("\n", "\r\n")
    return ("\ufeff" if style.bom else "") + text


class JsonDoc:
    """A JSON settings file parsed for editing; `dump()` writes it back in its own style."""

    def __init__(self, path: Path, text: str | None):
        self.path = path
        if text is None or not text.strip("\ufeff \t\r\n"):
            self.data: dict = {}
            self.style = _Style()  # nothing to learn the layout from: write it the usual way
            self.normal = True
            return
        try:
            data = json.loads(text.lstrip("\ufeff"))
        except ValueError as exc:
            where = (f" at line {exc.lineno}, column {exc.colno}"
                     if isinstance(exc, json.JSONDecodeError) else "")
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise WikimemError(
                f"{path} is not valid JSON ({msg}{where}); nothing was changed. Fix the file "
                "(comments and trailing commas are not JSON) and run the command again."
            ) from exc
        if not isinstance(data, dict):
            raise shape_error(path, "the file", "a JSON object", data)
        self.data = data
        self.style = _detect_style(text)
        self.normal = _dumps(data, self.style) == text
        if not data:
            # `{}` says nothing about layout: write what we add the usual way.
            self.style.indent, self.style.separators = 2, (",", ": ")

    def dump(self) -> str:
        return _dumps(self.data, self.style)


def _kind_of(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def shape_error(path: Path, where: str, expected: str, value) -> WikimemError:
    return WikimemError(
        f"{path}: {where} is {_kind_of(value)}, but it should be {expected}; nothing was "
        "changed. Fix the file and run the command again.")


def _ours(handler) -> bool:
    return (isinstance(handler, dict) and isinstance(handler.get("command"), str)
            and HOOK_RE.search(handler["command"]) is not None)


def _handlers(entry, flat: bool) -> list:
    if flat:
        return [entry]
    if isinstance(entry, dict) and isinstance(entry.get("hooks"), list):
        return entry["hooks"]
    return []


def _prune(entries: list, flat: bool, keep_first: bool) -> tuple[list, dict | None, int]:
    """One event's list without wikimem handlers (but the first, with `keep_first`); groups
    left empty by that removal are dropped. Returns (entries, the handler kept, removed)."""
    kept, removed, out = None, 0, []
    for entry in entries:
        handlers = _handlers(entry, flat)
        if not any(_ours(h) for h in handlers):
            out.append(entry)
            continue
        remaining = []
        for h in handlers:
            if _ours(h) and not (keep_first and kept is None):
                removed += 1
                continue
            if _ours(h):
                kept = h
            remaining.append(h)
        if flat:
            out.extend(remaining)
        elif remaining:
            entry["hooks"] = remaining
            out.append(entry)
    return out, kept, removed


def hooks_table(doc: JsonDoc, create: bool) -> dict | None:
    """The file's `hooks` object (made, with `create`, when it has none)."""
    hooks = doc.data.get("hooks")
    if hooks is None:
        if not create:
            return None
        hooks = doc.data["hooks"] = {}
    if not isinstance(hooks, dict):
        raise shape_error(doc.path, '"hooks"', "an object (event name -> list of hooks)",
                          hooks)
    return hooks


def plan_hooks(agent: str, fmt: HookFormat, path: Path, before: str | None, uninstall: bool,
               notes: list[str]) -> str | None:
    """The settings file's text with `agent`'s wikimem hooks added (one per event of `fmt`,
    replacing older wikimem commands and duplicates) or, with `uninstall`, removed."""
    doc = JsonDoc(path, before)
    if uninstall:
        hooks = hooks_table(doc, create=False)
        if hooks is None:
            return before
        removed = 0
        for event, entries in list(hooks.items()):
            if not isinstance(entries, list):
                continue
            out, _, n = _prune(entries, fmt.flat, keep_first=False)
            if n:
                removed += n
                if out:
                    hooks[event] = out
                else:
                    del hooks[event]
        if removed and not hooks:
            del doc.data["hooks"]
        if not removed:
            return before
    else:
        if not doc.data:
            doc.data.update(fmt.new_file)
        hooks = hooks_table(doc, create=True)
        command = hook_command(agent)
        updated, deduped = [], 0
        for event in fmt.events:
            entries = hooks.get(event)
            if entries is None:
                entries = []
            elif not isinstance(entries, list):
                raise shape_error(path, f'"hooks" -> "{event}"', "a list", entries)
            out, kept, n = _prune(entries, fmt.flat, keep_first=True)
            deduped += n
            if kept is None:
                handler = fmt.handler(command, event)
                if fmt.flat:
                    out.append(handler)
                else:
                    group = {"matcher": fmt.matchers[event]} if event in fmt.matchers else {}
                    group["hooks"] = [handler]
                    out.append(group)
            elif kept.get("command") != command:
                updated.append(f"{event} (was {kept['command']!r})")
                kept["command"] = command
            hooks[event] = out
        if updated:
            notes.append(f"Updated the command of existing wikimem hooks: {', '.join(updated)}.")
        if deduped:
            notes.append(f"Removed {deduped} duplicate wikimem hook(s).")
        notes.extend(path_note(hook_argv(agent), "each hook"))
    after = doc.dump()
    if after != before and not doc.normal:
        notes.append(f"{path} is not laid out the way wikimem writes JSON: its settings keep "
                     "their values, but their formatting changes (see the diff).")
    return after


def plan_mcp(path: Path, before: str | None, uninstall: bool, notes: list[str]) -> str | None:
    """The settings file's text with wikimem's server in its `mcpServers` (or without it)."""
    doc = JsonDoc(path, before)
    servers = doc.data.get("mcpServers")
    if servers is not None and not isinstance(servers, dict):
        raise shape_error(path, '"mcpServers"', "an object (server name -> server)", servers)
    if uninstall:
        if not servers or MCP_NAME not in servers:
            return before
        del servers[MCP_NAME]
        if not servers:
            del doc.data["mcpServers"]
    else:
        argv = mcp_argv()
        if servers is None:
            servers = doc.data["mcpServers"] = {}
        entry = servers.get(MCP_NAME)
        if isinstance(entry, dict):
            if entry.get("command") == argv[0] and entry.get("args") == argv[1:]:
                return before
            notes.append(f"Updated the existing {MCP_NAME!r} server (it ran "
                         f"{entry.get('command')!r} {entry.get('args')!r}).")
            entry["command"], entry["args"] = argv[0], argv[1:]
        else:
            servers[MCP_NAME] = {"command": argv[0], "args": argv[1:]}
        notes.extend(path_note(argv, "the MCP server"))
    after = doc.dump()
    if not doc.normal:
        notes.append(f"{path} is not laid out the way wikimem writes JSON: its settings keep "
                     "their values, but their formatting changes (see the diff).")
    return after


def hook_commands(hooks: dict, flat: bool) -> dict[str, list[str]]:
    """event -> the wikimem hook commands listed for it."""
    found: dict[str, list[str]] = {}
    for event, entries in hooks.items():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            for h in _handlers(entry, flat):
                if _ours(h):
                    found.setdefault(event, []).append(h["command"])
    return found


def mcp_servers(path: Path, text: str | None):
    """The `mcpServers` value of a JSON settings file's text (None: there is none)."""
    return JsonDoc(path, text).data.get("mcpServers")
