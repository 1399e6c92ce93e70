"""Put wikimem's hooks and MCP server into coding agents' settings files (stdlib only).

`plan()` reads one settings file and computes the text it would have with wikimem's entries
added (or removed); `apply()` writes that text, after a timestamped backup, by atomic
replace; `status()` says what is installed. Every other setting, and every other tool's
hooks, stay as they are:

* JSON files are parsed, edited as data and re-serialized with the file's own indentation,
  key order, escaping and final newline, so in a normally formatted file nothing but our
  entries changes (a file laid out differently is re-indented; `plan` says so).
* Codex's `config.toml` is never re-serialized: wikimem appends (or removes) one block
  between `# >>> wikimem: ... >>>` and `# <<< wikimem: ... <<<` lines, and checks with
  tomllib that the result means the old file plus exactly our entry.
* `apply` keeps a small record of each install under `$WIKIMEM_HOME/installs/`: whether
  wikimem created the file (and the folders it made for it), the backup of the original and
  its hash, and the hash of the file as wikimem left it. An uninstall that finds the file
  exactly as the install(s) left it gives back the original bytes, or deletes the file
  wikimem created; otherwise it removes only wikimem's entries.

wikimem's entries are recognized by their command (`... wikimem hook <agent>`) or, for MCP,
by the server name `wikimem`; nothing else is ever touched. Where each agent keeps its
settings, and the source for it, is written next to each agent's table below.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from wikimem.errors import WikimemError

AGENTS = ("claude-code", "codex", "gemini", "cursor")
SCOPES = ("user", "project")
LABELS = {"claude-code": "Claude Code", "codex": "Codex", "gemini": "Gemini CLI",
          "cursor": "Cursor"}
MCP_NAME = "wikimem"

# `wikimem hook ...`, `/abs/path/wikimem hook ...`, `"C:\...\wikimem.exe" hook ...` and
# `python -m wikimem hook ...`; not `foo-wikimem hook`.
HOOK_RE = re.compile(r"(?<![\w.-])wikimem(?:\.exe)?[\"']?\s+hook(?:\s|$)")


# --- the agents ---------------------------------------------------------------------------

@dataclass(frozen=True)
class HookFormat:
    """How one agent lists hooks in its JSON settings: `{"hooks": {event: [...]}}`."""

    events: tuple[str, ...]
    flat: bool  # True: event -> [handler]; False: event -> [{"matcher"?, "hooks": [handler]}]
    matchers: dict[str, str]
    handler: Callable[[str, str], dict]  # (command, event) -> handler object


# Claude Code - hooks: ~/.claude/settings.json (user) and .claude/settings.json (project),
# `{"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": ...,
# "timeout": seconds}]}]}}`; matchers only apply to tool events (docs.claude.com/docs/
# claude-code/hooks, "Configuration" and "Structure"). MCP: `mcpServers` at the top of
# ~/.claude.json (user scope) or in .mcp.json at the project root (project scope, approved by
# each person before first use) (code.claude.com/docs/en/mcp, "MCP installation scopes").
CLAUDE = HookFormat(
    events=("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop",
            "SubagentStop", "PreCompact", "SessionEnd", "Notification"),
    flat=False,
    matchers={"PreToolUse": "*", "PostToolUse": "*"},
    handler=lambda command, event: {"type": "command", "command": command, "timeout": 30},
)

# Codex - hooks: `hooks.json` next to each config layer, ~/.codex/hooks.json (user; the folder
# is $CODEX_HOME) and <repo>/.codex/hooks.json (project), or inline `[hooks]` tables in the
# same layers' config.toml (Codex warns when one layer has both, so wikimem uses hooks.json
# only); the JSON has Claude Code's shape, `timeout` in seconds, no matcher = every tool
# (developers.openai.com/codex/hooks, "Where Codex looks for hooks"; openai/codex
# codex-rs/hooks/src/engine/discovery.rs; event names from codex-rs/config/src/hook_config.rs
# `HookEventsToml`, which ignores names a version does not know). "Non-managed command hooks
# must be reviewed and trusted before they run" (same page): Codex records trust per hook as
# `[hooks.state."<key>"] trusted_hash` in config.toml (hook_config.rs `HookStateToml`), asks
# at startup ("Hooks need review" -> "Trust all and continue", openai/codex pull request
# #21755) or in /hooks, and skips untrusted hooks silently; `--dangerously-bypass-hook-trust`
# skips the review for one invocation (pull request #21768). Project hooks load only when
# the project's .codex layer is trusted. SessionEnd hooks are capped at 3 s (flieks/
# masterwork release v0.3.1). MCP: `[mcp_servers.<name>]` with `command` and `args` in
# config.toml; the legacy `notify = [argv...]` is a top-level config.toml key run after each
# turn with the event as the last argument (openai/codex docs/config.md,
# developers.openai.com/codex/config-reference, codex-rs/hooks/src/legacy_notify.rs).
CODEX = HookFormat(
    events=("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
            "PermissionRequest", "PreCompact", "PostCompact", "Stop", "SubagentStart",
            "SubagentStop", "SessionEnd"),
    flat=False,
    matchers={},
    handler=lambda command, event: {"type": "command", "command": command,
                                    "timeout": 3 if event == "SessionEnd" else 30},
)

# Gemini CLI - ~/.gemini/settings.json (user) and .gemini/settings.json (project):
# `{"hooks": {"BeforeTool": [{"matcher": "*", "hooks": [{"name": ..., "type": "command",
# "command": ..., "timeout": milliseconds}]}]}}`; `hooks` may also hold `disabled` (a list
# of hook names) and `enabled`; project hooks run only in trusted folders
# (google-gemini/gemini-cli docs/hooks/index.md "Configuration", docs/hooks/reference.md
# "Configuration schema"; pull requests #15325, #15470). MCP: `mcpServers` in the same
# file (docs/tools/mcp-server.md).
GEMINI = HookFormat(
    events=("SessionStart", "SessionEnd", "BeforeAgent", "AfterAgent", "BeforeTool",
            "AfterTool", "Notification", "PreCompress"),
    flat=False,
    matchers={"BeforeTool": "*", "AfterTool": "*"},
    handler=lambda command, event: {"name": "wikimem", "type": "command", "command": command,
                                    "timeout": 30000},
)

# Cursor - ~/.cursor/hooks.json (user) and .cursor/hooks.json (project):
# `{"version": 1, "hooks": {"sessionStart": [{"command": ...}]}}`, one flat list of
# handlers per lowerCamel event (cursor.com/docs/hooks.md, "Agent and Tab Support"). Cursor
# can also run Claude Code's hooks (cursor.com/docs/reference/third-party-hooks). MCP:
# `mcpServers` in ~/.cursor/mcp.json or .cursor/mcp.json (cursor.com/docs/mcp).
CURSOR = HookFormat(
    events=("sessionStart", "beforeSubmitPrompt", "preToolUse", "postToolUse",
            "postToolUseFailure", "afterFileEdit", "afterAgentResponse", "stop", "sessionEnd"),
    flat=True,
    matchers={},
    handler=lambda command, event: {"command": command},
)

FORMATS = {"claude-code": CLAUDE, "codex": CODEX, "gemini": GEMINI, "cursor": CURSOR}


def _check(agent: str, scope: str) -> None:
    if agent not in AGENTS:
        raise ValueError(f"unknown agent {agent!r}; expected one of {', '.join(AGENTS)}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")


def _home() -> Path:
    return Path(os.path.expanduser("~"))


def _codex_home() -> Path:
    env = os.environ.get("CODEX_HOME")
    return Path(env).expanduser() if env else _home() / ".codex"


def project_root(cwd: str | os.PathLike | None = None) -> Path:
    """The project scope's folder: the git repository root of `cwd`."""
    from wikimem.project import locate

    return locate(cwd or os.getcwd()).root


def settings_path(agent: str, scope: str, *, mcp: bool = False, notify: bool = False,
                  cwd: str | os.PathLike | None = None) -> Path:
    """The file that holds `agent`'s hooks (or MCP servers, or Codex's notify) in `scope`."""
    _check(agent, scope)
    user = scope == "user"
    base = None if user else project_root(cwd)
    if agent == "claude-code":
        if mcp:
            return _home() / ".claude.json" if user else base / ".mcp.json"
        return (_home() if user else base) / ".claude" / "settings.json"
    if agent == "codex":
        folder = _codex_home() if user else base / ".codex"
        return folder / ("config.toml" if mcp or notify else "hooks.json")
    if agent == "gemini":
        return (_home() if user else base) / ".gemini" / "settings.json"
    return (_home() if user else base) / ".cursor" / ("mcp.json" if mcp else "hooks.json")


# --- which wikimem the agents run ------------------------------------------------------------

def _join(argv: list[str]) -> str:
    if os.name == "nt":  # pragma: no cover - Windows only
        return subprocess.list2cmdline(argv)
    return shlex.join(argv)


def _own_scripts() -> list[Path]:
    """Console scripts that belong to the running wikimem installation."""
    name = "wikimem.exe" if os.name == "nt" else "wikimem"
    found = [Path(sys.executable).parent / name]
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name in ("wikimem", "wikimem.exe"):
        found.insert(0, argv0)
    return [p for p in found if p.is_file()]


def _same_python(interpreter: str) -> bool:
    """Whether `interpreter` is the running Python's environment (same bin folder)."""
    path = interpreter if os.path.isabs(interpreter) else shutil.which(interpreter)
    if not path:
        return False
    here = os.path.normcase(os.path.abspath(os.path.dirname(sys.executable)))
    return os.path.normcase(os.path.abspath(os.path.dirname(path))) == here


def _is_this_install(script: str | os.PathLike) -> bool:
    """Whether the `wikimem` console script at `script` runs this installation."""
    script = Path(script)
    for own in _own_scripts():
        try:
            if script.samefile(own):
                return True
        except OSError:
            continue
    try:
        with open(script, "rb") as f:
            first = f.readline(1024).decode("utf-8", "replace").strip()
    except OSError:
        return False
    if not first.startswith("#!"):
        return False
    words = first[2:].split()
    return bool(words) and not words[0].endswith("/env") and _same_python(words[0])


def wikimem_argv(*args: str) -> list[str]:
    """How an agent should start this wikimem: `wikimem ...` if that is it on PATH, else the
    absolute path of this installation's console script, else `<python> -m wikimem ...`."""
    on_path = shutil.which("wikimem")
    if on_path and _is_this_install(on_path):
        return ["wikimem", *args]
    scripts = _own_scripts()
    if scripts:
        return [str(scripts[0].absolute()), *args]
    return [sys.executable, "-m", "wikimem", *args]


def hook_argv(agent: str) -> list[str]:
    """The hook command for `agent`, as an argument list."""
    return wikimem_argv("hook", agent)


def hook_command(agent: str) -> str:
    """The shell command an agent runs for each hook event: `wikimem hook <agent>`."""
    return _join(hook_argv(agent))


def mcp_argv() -> list[str]:
    """The MCP server command, as an argument list: `wikimem mcp`."""
    return wikimem_argv("mcp")


def runs_this_wikimem(argv_or_command: str | list[str]) -> bool:
    """Whether a hook or MCP command starts this installation of wikimem."""
    if isinstance(argv_or_command, str):
        try:
            argv = shlex.split(argv_or_command, posix=os.name != "nt")
        except ValueError:
            return False
    else:
        argv = list(argv_or_command)
    if not argv:
        return False
    exe = argv[0]
    if len(argv) >= 3 and argv[1] == "-m" and argv[2] == "wikimem":
        return _same_python(exe)
    if os.path.basename(exe) not in ("wikimem", "wikimem.exe"):
        return False
    path = exe if os.path.isabs(exe) else shutil.which(exe)
    return bool(path) and _is_this_install(path)


def _path_note(argv: list[str], what: str) -> list[str]:
    if argv[0] == "wikimem":
        return []
    on_path = shutil.which("wikimem")
    why = (f"The `wikimem` on PATH ({on_path}) is another installation"
           if on_path else "`wikimem` is not on PATH")
    return [f"{why}, so {what} runs {_join(argv)}; install again after moving or "
            "reinstalling wikimem."]


# --- plans ---------------------------------------------------------------------------------

@dataclass
class Plan:
    """One settings file before and after a change (`changed` False: nothing to do)."""

    agent: str
    scope: str
    kind: str  # "hooks", "mcp" or "notify"
    action: str  # "install" or "uninstall"
    path: Path
    before: str | None  # None: the file does not exist
    after: str | None  # None: the file does not exist and will not be created
    changed: bool
    notes: list[str] = field(default_factory=list)
    # uninstall only: "restore" (after is the file as it was before wikimem's install),
    # "delete" (wikimem created the file: it goes), or "" (only wikimem's entries go)
    undo: str = ""

    @property
    def creates(self) -> bool:
        return self.changed and self.before is None

    @property
    def deletes(self) -> bool:
        return self.changed and self.undo == "delete"

    def diff(self) -> str:
        """A unified diff of the settings file, before and after."""
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            (self.after or "").splitlines(keepends=True),
            fromfile=str(self.path) if self.before is not None else "/dev/null",
            tofile=str(self.path) if self.after is not None else "/dev/null",
        )
        out = []
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)

    def to_dict(self) -> dict:
        return {"agent": self.agent, "scope": self.scope, "kind": self.kind,
                "action": self.action, "path": str(self.path), "changed": self.changed,
                "creates": self.creates, "deletes": self.deletes,
                "restores": self.changed and self.undo == "restore", "diff": self.diff(),
                "notes": list(self.notes)}


def plan(agent: str, scope: str, *, mcp: bool = False, uninstall: bool = False,
         notify: bool = False, cwd: str | os.PathLike | None = None) -> Plan:
    """What installing (or uninstalling) wikimem's hooks - or its MCP server with `mcp`, or
    Codex's legacy `notify` with `notify` - would do to `agent`'s settings in `scope`.

    Raises WikimemError if the settings file cannot be read or is not valid JSON/TOML of the
    expected shape; nothing is written either way.
    """
    _check(agent, scope)
    if notify and agent != "codex":
        raise ValueError("the legacy notify is Codex's")
    if notify and mcp:
        raise ValueError("choose mcp or notify, not both")
    kind = "mcp" if mcp else "notify" if notify else "hooks"
    path = settings_path(agent, scope, mcp=mcp, notify=notify, cwd=cwd)
    before = _read(path)
    notes: list[str] = []
    if kind == "hooks":
        after = _plan_hooks(agent, path, before, uninstall, notes)
    elif agent == "codex":
        after = (_plan_codex_mcp if mcp else _plan_codex_notify)(path, before, uninstall, notes)
    else:
        after = _plan_json_mcp(path, before, uninstall, notes)
    changed = after is not None and after != before
    if not changed:
        after = before
    undo = ""
    if uninstall and changed:
        after, undo = _undo_install(path, kind, before, after, notes)
    if not uninstall:
        notes.extend(_agent_notes(agent, scope, kind, path, cwd))
    return Plan(agent, scope, kind, "uninstall" if uninstall else "install", path, before,
                after, changed, notes, undo)


def apply(plan: Plan) -> Path | None:
    """Write a plan: back the file up, then replace it atomically (or, for a file wikimem
    created, delete it). Returns the backup path (None when nothing was backed up)."""
    if not plan.changed:
        return None
    current = _read(plan.path)
    if current != plan.before:
        raise WikimemError(
            f"{plan.path} changed since wikimem read it; nothing was changed. "
            "Run the command again.")
    # Why: a settings file is often a symlink into a dotfiles repository; replacing the
    # link would silently cut it off, so write through it to the file it points to.
    target = Path(os.path.realpath(plan.path))
    if plan.deletes:
        # (No backup: the file holds only what wikimem wrote; installing again remakes it.)
        record = _load_record(target) or {}
        target.unlink()
        for folder in record.get("created_dirs", []):  # deepest first
            try:
                os.rmdir(folder)
            except OSError:
                break  # not empty (or gone): it is someone else's now
        _drop_record(target)
        return None
    if plan.after is None:
        return None
    backup = _backup(target) if plan.before is not None else None
    if plan.action == "install":
        # The record first: if it cannot be written, nothing else is changed either.
        try:
            _save_record(target, _installed_record(target, plan, backup))
        except OSError:
            if backup is not None:
                backup.unlink(missing_ok=True)
            raise
        _atomic_write(target, plan.after)
    else:
        _atomic_write(target, plan.after)
        _carry_record(target, plan)
    return backup


# --- what install changed, so that uninstall can undo it exactly --------------------------

INSTALLS_DIR = "installs"


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record_file(target: Path) -> Path:
    from wikimem.project import home

    name = hashlib.sha256(os.fsencode(target)).hexdigest()[:32]
    return home() / INSTALLS_DIR / f"{name}.json"


def _load_record(target: Path) -> dict | None:
    """What wikimem's installs did to the file at `target` (None: no usable record)."""
    try:
        record = json.loads(_record_file(target).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("path") != str(target):
        return None
    return record


def _save_record(target: Path, record: dict) -> None:
    from wikimem.project import ensure_private_dir

    path = _record_file(target)
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def _drop_record(target: Path) -> None:
    # A record left behind is harmless: it counts only while the file hashes as recorded.
    try:
        _record_file(target).unlink()
    except OSError:
        pass


def _missing_dirs(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def _installed_record(target: Path, plan: Plan, backup: Path | None) -> dict:
    record = _load_record(target)
    if record is not None and record.get("installed") == _sha(plan.before):
        # Another install into a file only wikimem changed since the first one (hooks and
        # then the MCP server, say): the original stays the one before the first.
        kinds = list(record.get("kinds") or [])
        record["kinds"] = kinds if plan.kind in kinds else [*kinds, plan.kind]
    else:
        record = {
            "path": str(target),
            "original": {"exists": plan.before is not None, "sha256": _sha(plan.before),
                         "backup": str(backup) if backup else None},
            "created_dirs": ([str(d) for d in _missing_dirs(target.parent)]
                             if plan.before is None else []),
            "kinds": [plan.kind],
        }
    record["installed"] = _sha(plan.after)
    return record


def _carry_record(target: Path, plan: Plan) -> None:
    """After an uninstall that kept the file: the record still describes it only when this
    removed one of several installs from a file nobody else changed."""
    record = _load_record(target)
    if record is None:
        return
    kinds = [k for k in record.get("kinds") or [] if k != plan.kind]
    if (plan.undo or not kinds or record.get("installed") != _sha(plan.before)
            or plan.kind not in (record.get("kinds") or [])):
        _drop_record(target)
        return
    record["kinds"], record["installed"] = kinds, _sha(plan.after)
    try:
        _save_record(target, record)
    except OSError:
        _drop_record(target)


def _undo_install(path: Path, kind: str, before: str | None, after: str | None,
                  notes: list[str]) -> tuple[str | None, str]:
    """What an uninstall of `kind` leaves in `path`: when the file is exactly what wikimem's
    install of only that made it, the file as it was before (or no file, if wikimem created
    it); otherwise `after`, the file without wikimem's entries. Returns (text, Plan.undo)."""
    target = Path(os.path.realpath(path))
    record = _load_record(target)
    if (record is None or record.get("installed") != _sha(before)
            or record.get("kinds") != [kind]):
        return after, ""
    original = record.get("original") or {}
    if not original.get("exists"):
        if path.is_symlink():  # someone linked it since: theirs, whatever it holds
            return after, ""
        notes.append(f"wikimem created {path} and nothing else changed it since: it is "
                     "deleted" + (" with the folders made for it, if empty"
                                  if record.get("created_dirs") else "") + ".")
        return None, "delete"
    backup = original.get("backup")
    try:
        data = Path(backup).read_bytes()
        text = data.decode("utf-8")
    except (OSError, TypeError, UnicodeDecodeError):
        return after, ""  # the backup is gone or unreadable: remove our entries only
    if hashlib.sha256(data).hexdigest() != original.get("sha256"):
        return after, ""
    notes.append(f"Nothing else changed {path} since wikimem installed into it: it gets back "
                 f"the exact bytes it had before (from {backup}).")
    return text, "restore"


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise WikimemError(
            f"{path} is a folder, not a settings file; nothing was changed.") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WikimemError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); nothing was "
            "changed. Fix the file and run the command again.") from exc


def _backup(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = target.with_name(f"{target.name}.wikimem-backup-{stamp}")
    n = 2
    while backup.exists():
        backup = target.with_name(f"{target.name}.wikimem-backup-{stamp}-{n}")
        n += 1
    shutil.copy2(target, backup)
    return backup


def _atomic_write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.wikimem-{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


# --- JSON files ----------------------------------------------------------------------------

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


class _JsonDoc:
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
            raise _shape_error(path, "the file", "a JSON object", data)
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


def _shape_error(path: Path, where: str, expected: str, value) -> WikimemError:
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


def _hooks_table(doc: _JsonDoc, create: bool) -> dict | None:
    hooks = doc.data.get("hooks")
    if hooks is None:
        if not create:
            return None
        hooks = doc.data["hooks"] = {}
    if not isinstance(hooks, dict):
        raise _shape_error(doc.path, '"hooks"', "an object (event name -> list of hooks)",
                           hooks)
    return hooks


def _plan_hooks(agent: str, path: Path, before: str | None, uninstall: bool,
                notes: list[str]) -> str | None:
    fmt = FORMATS[agent]
    doc = _JsonDoc(path, before)
    if uninstall:
        hooks = _hooks_table(doc, create=False)
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
        if agent == "cursor" and not doc.data:
            doc.data["version"] = 1
        hooks = _hooks_table(doc, create=True)
        command = hook_command(agent)
        updated, deduped = [], 0
        for event in fmt.events:
            entries = hooks.get(event)
            if entries is None:
                entries = []
            elif not isinstance(entries, list):
                raise _shape_error(path, f'"hooks" -> "{event}"', "a list", entries)
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
        notes.extend(_path_note(hook_argv(agent), "each hook"))
    after = doc.dump()
    if after != before and not doc.normal:
        notes.append(f"{path} is not laid out the way wikimem writes JSON: its settings keep "
                     "their values, but their formatting changes (see the diff).")
    return after


def _plan_json_mcp(path: Path, before: str | None, uninstall: bool,
                   notes: list[str]) -> str | None:
    doc = _JsonDoc(path, before)
    servers = doc.data.get("mcpServers")
    if servers is not None and not isinstance(servers, dict):
        raise _shape_error(path, '"mcpServers"', "an object (server name -> server)", servers)
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
        notes.extend(_path_note(argv, "the MCP server"))
    after = doc.dump()
    if not doc.normal:
        notes.append(f"{path} is not laid out the way wikimem writes JSON: its settings keep "
                     "their values, but their formatting changes (see the diff).")
    return after


# --- Codex's config.toml -------------------------------------------------------------------

MCP_BLOCK = ("# >>> wikimem: mcp server (wikimem install-mcp) >>>",
             "# <<< wikimem: mcp server <<<")
NOTIFY_BLOCK = ("# >>> wikimem: legacy notify (wikimem install-hooks --legacy-notify) >>>",
                "# <<< wikimem: legacy notify <<<")


def _toml(path: Path, text: str | None) -> dict:
    import tomllib

    try:
        return tomllib.loads((text or "").lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise WikimemError(
            f"{path} is not valid TOML ({exc}); nothing was changed. Fix the file and run "
            "the command again.") from exc


def _toml_str(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=False)


def _find_block(lines: list[str], markers: tuple[str, str], path: Path) -> tuple[int, int] | None:
    begin = [i for i, line in enumerate(lines) if line.strip() == markers[0]]
    end = [i for i, line in enumerate(lines) if line.strip() == markers[1]]
    if not begin and not end:
        return None
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise WikimemError(
            f"{path}: the lines `{markers[0]}` and `{markers[1]}` should appear once each, in "
            "that order; nothing was changed. Fix (or delete) that block by hand and run the "
            "command again.")
    return begin[0], end[0]


def _block(markers: tuple[str, str], body: str, newline: str) -> list[str]:
    return [line + newline for line in (markers[0], *body.splitlines(), markers[1])]


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _remove_block(lines: list[str], span: tuple[int, int]) -> list[str]:
    """The lines without the block, and without the blank line that `_insert`/`_append` put
    next to it."""
    i, j = span
    out = lines[:i] + lines[j + 1:]
    if i < len(out) and not out[i].strip():
        del out[i]
    elif i > 0 and not out[i - 1].strip():
        del out[i - 1]
    return out


def _append(lines: list[str], block: list[str], newline: str) -> list[str]:
    out = list(lines)
    if out and not out[-1].endswith("\n"):
        out[-1] += newline
    if out:
        out.append(newline)
    return out + block


def _check_toml(path: Path, old: dict, new_text: str, expect: Callable[[dict], dict],
                snippet: str) -> None:
    """The edited text must parse to exactly what `expect(old)` says, or nothing is written."""
    import tomllib

    try:
        new = tomllib.loads(new_text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError:
        new = None
    if new != expect(old):
        raise WikimemError(
            f"wikimem cannot edit {path} safely (the result would not mean the same settings "
            f"plus wikimem's entry); nothing was changed. Make the change by hand:\n{snippet}")


def _without(data: dict, *keys: str) -> dict:
    """A copy of `data` without the nested key `keys` (and without tables that emptied)."""
    data = dict(data)
    if len(keys) == 1:
        data.pop(keys[0], None)
        return data
    inner = data.get(keys[0])
    if isinstance(inner, dict):
        inner = _without(inner, *keys[1:])
        if inner:
            data[keys[0]] = inner
        else:
            data.pop(keys[0])
    return data


def _with(data: dict, value, *keys: str) -> dict:
    data = dict(data)
    if len(keys) == 1:
        data[keys[0]] = value
        return data
    inner = data.get(keys[0])
    data[keys[0]] = _with(inner if isinstance(inner, dict) else {}, value, *keys[1:])
    return data


_HEADER_RE = re.compile(r"\s*\[")


def _plan_codex_mcp(path: Path, before: str | None, uninstall: bool,
                    notes: list[str]) -> str | None:
    data = _toml(path, before)
    text = before or ""
    lines = text.splitlines(keepends=True)
    nl = _newline(text)
    span = _find_block(lines, MCP_BLOCK, path)
    servers = data.get("mcp_servers", {})
    if not isinstance(servers, dict):
        raise _shape_error(path, "mcp_servers", "a table", servers)
    if uninstall:
        if span is not None:
            out = _remove_block(lines, span)
        elif MCP_NAME in servers:
            out = _remove_table(lines, f"mcp_servers.{MCP_NAME}")
            if out is None:
                notes.append(f"{path} defines the {MCP_NAME!r} MCP server in a form wikimem "
                             "does not edit; remove it by hand.")
                return before
        else:
            return before
        after = "".join(out)
        _check_toml(path, data, after, lambda old: _without(old, "mcp_servers", MCP_NAME),
                    f"remove the [mcp_servers.{MCP_NAME}] table from {path}")
        return after
    argv = mcp_argv()
    body = (f"[mcp_servers.{MCP_NAME}]\ncommand = {_toml_str(argv[0])}\n"
            f"args = [{', '.join(_toml_str(a) for a in argv[1:])}]\n")
    block = _block(MCP_BLOCK, body, nl)
    if span is not None:
        if lines[span[0]:span[1] + 1] == block:
            return before
        out = lines[:span[0]] + block + lines[span[1] + 1:]
    elif MCP_NAME in servers:
        entry = servers[MCP_NAME]
        if not (isinstance(entry, dict) and entry.get("command") == argv[0]
                and entry.get("args") == argv[1:]):
            notes.append(f"{path} already defines [mcp_servers.{MCP_NAME}] (not written by "
                         "wikimem), running something else; it was left as it is. Remove it "
                         "(wikimem uninstall --agent codex --mcp) and install again to "
                         "replace it.")
        return before
    else:
        out = _append(lines, block, nl)
    after = "".join(out)
    expected = {"command": argv[0], "args": argv[1:]}
    _check_toml(path, data, after, lambda old: _with(old, expected, "mcp_servers", MCP_NAME),
                body)
    notes.extend(_path_note(argv, "the MCP server"))
    return after


def _remove_table(lines: list[str], name: str) -> list[str] | None:
    """Lines without a hand-written `[name]` table (and its `[name.sub]` tables)."""
    header = re.compile(r"\s*\[\s*" + re.escape(name).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    sub = re.compile(r"\s*\[\s*" + re.escape(name).replace(r"\.", r"\s*\.\s*") + r"\s*\.")
    end = start + 1
    while end < len(lines) and not (_HEADER_RE.match(lines[end]) and not sub.match(lines[end])):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines that separate the next table
    out = lines[:start] + lines[end:]
    if start > 0 and not out[start - 1].strip() and (start >= len(out) or not out[start].strip()):
        del out[start - 1]
    return out


def _notify_ours(value) -> bool:
    return (isinstance(value, list) and all(isinstance(v, str) for v in value)
            and HOOK_RE.search(" ".join(value)) is not None)


def _plan_codex_notify(path: Path, before: str | None, uninstall: bool,
                       notes: list[str]) -> str | None:
    data = _toml(path, before)
    text = before or ""
    lines = text.splitlines(keepends=True)
    nl = _newline(text)
    span = _find_block(lines, NOTIFY_BLOCK, path)
    current = data.get("notify")
    if uninstall:
        if span is not None:
            out = _remove_block(lines, span)
        elif _notify_ours(current):
            line = next((i for i, ln in enumerate(lines)
                         if re.match(r"\s*notify\s*=", ln) and "wikimem" in ln), None)
            if line is None:
                notes.append(f"{path} sets notify to wikimem over several lines; remove it by "
                             "hand.")
                return before
            out = lines[:line] + lines[line + 1:]
        else:
            return before
        after = "".join(out)
        _check_toml(path, data, after, lambda old: _without(old, "notify"),
                    f"remove the notify line from {path}")
        return after
    argv = hook_argv("codex")
    body = f"notify = [{', '.join(_toml_str(a) for a in argv)}]\n"
    block = _block(NOTIFY_BLOCK, body, nl)
    if span is not None:
        if lines[span[0]:span[1] + 1] == block:
            return before
        out = lines[:span[0]] + block + lines[span[1] + 1:]
    elif current is not None:
        if _notify_ours(current):
            return before
        raise WikimemError(
            f"{path} already sets notify = {current!r} for another program, and Codex runs "
            "only one notify program; nothing was changed. Use Codex's hooks instead: "
            "wikimem install-hooks --agent codex")
    else:
        # A top-level key must come before the first [table]: put the block above it (and
        # above the comment lines that introduce it), or at the end if there is no table.
        first = next((i for i, line in enumerate(lines) if _HEADER_RE.match(line)), None)
        if first is None:
            out = _append(lines, block, nl)
        else:
            while first > 0 and lines[first - 1].lstrip().startswith("#"):
                first -= 1
            out = lines[:first] + block + [nl] + lines[first:]
    after = "".join(out)
    _check_toml(path, data, after, lambda old: _with(old, argv, "notify"), body)
    notes.extend(_path_note(argv, "notify"))
    return after


# --- what the user must do -----------------------------------------------------------------

CODEX_TRUST = (
    "Codex runs new or changed hooks only after you trust them: start `codex` and, at the "
    "\"Hooks need review\" prompt, choose \"Trust all and continue\" (or open /hooks, review "
    "the wikimem entries and trust them). Until then Codex skips them without a word. Trust "
    "is tied to each hook's exact definition, so Codex asks again whenever the command "
    "changes. For one non-interactive run, `codex exec --dangerously-bypass-hook-trust` runs "
    "them without review.")


def _agent_notes(agent: str, scope: str, kind: str, path: Path,
                 cwd: str | os.PathLike | None) -> list[str]:
    project = scope == "project"
    notes = []
    if project:
        from wikimem.project import locate

        loc = locate(cwd or os.getcwd())
        if not loc.key.startswith("git:"):
            notes.append(f"{loc.root} is not inside a git repository; it is used as the "
                         "project folder.")
    if kind == "mcp":
        import importlib.util

        if importlib.util.find_spec("mcp") is None:
            notes.append("The MCP server needs the `mcp` extra: python -m pip install "
                         "'wikimem[mcp]'.")
        if agent == "claude-code":
            if project:
                notes.append(f"Claude Code asks each person to approve the servers in {path} "
                             "before first use; /mcp in Claude Code shows the approval.")
            else:
                notes.append(f"Claude Code rewrites {path} while it runs: quit Claude Code "
                             "before applying, then start a new session (/mcp lists the "
                             "server).")
        elif agent == "codex":
            notes.append("Start a new Codex session; /mcp lists the server.")
            if project:
                notes.append(f"Codex reads {path} only once you trust this project.")
        elif agent == "gemini":
            notes.append("Restart Gemini CLI; /mcp lists the server.")
            if project:
                notes.append("Gemini CLI applies project settings only in trusted folders "
                             "(see /permissions).")
        else:
            notes.append("Restart Cursor, then check that the server is switched on in "
                         "Cursor Settings -> MCP.")
        return notes
    if kind == "notify":
        notes.append("Codex runs the notify program only when a turn ends, so wikimem sees "
                     "much less than with hooks; prefer: wikimem install-hooks --agent codex")
        return notes
    other = _has_hooks(agent, "user" if project else "project", cwd)
    if other is not None and other != path:
        notes.append(f"wikimem hooks are also installed in {other}; {LABELS[agent]} runs both, "
                     "so remove one of them (wikimem uninstall --scope ...).")
    if agent == "claude-code":
        notes.append("Claude Code reads hooks when a session starts: restart running sessions "
                     "(/hooks in Claude Code lists them).")
        if project:
            notes.append(f"{path} is usually committed: everyone working in this repository "
                         "would run these hooks and needs wikimem installed. Use --scope user "
                         "to keep them to yourself.")
    elif agent == "codex":
        notes.append(CODEX_TRUST)
        if project:
            notes.append(f"Codex loads {path} only once you trust this project (the trust "
                         "prompt on the first run here).")
        notes.extend(_codex_config_notes(path.parent / "config.toml"))
    elif agent == "gemini":
        notes.extend(_gemini_notes(path))
        if project:
            notes.append("Gemini CLI runs project hooks only in trusted folders (see "
                         "/permissions) and warns once about new project hooks.")
    else:
        notes.append("Restart Cursor so it loads the hooks; Cursor Settings -> Hooks lists "
                     "them.")
        if any(_has_hooks("claude-code", s, cwd) for s in SCOPES):
            notes.append("wikimem's Claude Code hooks are installed too: if Cursor's "
                         "third-party configs setting (Settings -> Rules, Skills, Subagents) "
                         "is on, Cursor runs those as well and records each session twice; "
                         "turn it off.")
    return notes


def _codex_config_notes(config: Path) -> list[str]:
    try:
        data = _toml(config, _read(config))
    except WikimemError:
        return []
    notes = []
    features = data.get("features") if isinstance(data.get("features"), dict) else {}
    off = [k for k in ("hooks", "codex_hooks") if features.get(k) is False]
    if off:
        notes.append(f"{config} turns hooks off ([features] {off[0]} = false); Codex will not "
                     "run wikimem's hooks until you set it to true.")
    else:
        notes.append("A Codex from before hooks were on by default also needs `hooks = true` "
                     "(older: `codex_hooks = true`) under [features] in config.toml.")
    inline = data.get("hooks")
    if isinstance(inline, dict) and _json_hook_commands(inline, False):
        notes.append(f"{config} also lists wikimem hooks in [hooks]; Codex runs both, so "
                     "remove those by hand.")
    if _notify_ours(data.get("notify")):
        notes.append(f"{config} also runs wikimem through the legacy notify, so each turn is "
                     "recorded twice; remove it: wikimem uninstall --agent codex "
                     "--legacy-notify --apply")
    return notes


def _gemini_notes(path: Path) -> list[str]:
    try:
        data = _JsonDoc(path, _read(path)).data
    except WikimemError:
        data = {}
    switches = [("hooksConfig", "enabled"), ("tools", "enableHooks"), ("hooks", "enabled")]
    for outer, inner in switches:
        if isinstance(data.get(outer), dict) and data[outer].get(inner) is False:
            return [f"{path} turns Gemini CLI's hooks off ({outer}.{inner} = false); they will "
                    "not run until you set it to true."]
    return ["Gemini CLI runs hooks only with its hooks system on: recent versions turn it on "
            "by default; where hooks are still experimental set \"hooksConfig\": {\"enabled\": "
            "true} (older versions: \"tools\": {\"enableHooks\": true}). /hooks panel in "
            "Gemini CLI shows whether they are active."]


def _has_hooks(agent: str, scope: str, cwd) -> Path | None:
    """The settings file of `agent` in `scope` if it lists wikimem hooks (errors: None)."""
    try:
        path = settings_path(agent, scope, cwd=cwd)
        hooks = _JsonDoc(path, _read(path)).data.get("hooks")
    except (WikimemError, OSError):
        return None
    if isinstance(hooks, dict) and _json_hook_commands(hooks, FORMATS[agent].flat):
        return path
    return None


# --- status --------------------------------------------------------------------------------

def _json_hook_commands(hooks: dict, flat: bool) -> dict[str, list[str]]:
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


def status(agent: str, scope: str, cwd: str | os.PathLike | None = None) -> dict:
    """What of wikimem is installed for `agent` in `scope`.

    Keys: agent, scope, path, exists, installed (some wikimem hook is there), complete
    (every event is covered), command (the first wikimem hook command found), commands,
    expected_command, points_at_this_wikimem, covered_events, missing_events, extra_events,
    mcp ({path, installed, command, args, points_at_this_wikimem}) and, for Codex,
    legacy_notify. Raises WikimemError if a settings file is malformed.
    """
    _check(agent, scope)
    fmt = FORMATS[agent]
    path = settings_path(agent, scope, cwd=cwd)
    text = _read(path)
    hooks = _hooks_table(_JsonDoc(path, text), create=False) or {}
    found = _json_hook_commands(hooks, fmt.flat)
    result: dict = {"agent": agent, "scope": scope, "path": str(path),
                    "exists": text is not None}
    if agent == "codex":
        config = settings_path(agent, scope, mcp=True, cwd=cwd)
        data = _toml(config, _read(config))
        inline = data.get("hooks")
        if isinstance(inline, dict):
            for event, commands in _json_hook_commands(inline, False).items():
                found.setdefault(event, []).extend(commands)
        result["legacy_notify"] = _notify_ours(data.get("notify"))
    commands = list(dict.fromkeys(c for cs in found.values() for c in cs))
    result.update(
        installed=bool(commands),
        complete=all(e in found for e in fmt.events),
        command=commands[0] if commands else None,
        commands=commands,
        expected_command=hook_command(agent),
        points_at_this_wikimem=bool(commands) and all(runs_this_wikimem(c) for c in commands),
        covered_events=[e for e in fmt.events if e in found],
        missing_events=[e for e in fmt.events if e not in found],
        extra_events=[e for e in found if e not in fmt.events],
    )
    result["mcp"] = _mcp_status(agent, scope, cwd)
    return result


def _mcp_status(agent: str, scope: str, cwd) -> dict:
    path = settings_path(agent, scope, mcp=True, cwd=cwd)
    text = _read(path)
    if agent == "codex":
        servers = _toml(path, text).get("mcp_servers")
    else:
        servers = _JsonDoc(path, text).data.get("mcpServers")
    entry = servers.get(MCP_NAME) if isinstance(servers, dict) else None
    if not isinstance(entry, dict):
        return {"path": str(path), "installed": False, "command": None, "args": None,
                "points_at_this_wikimem": False}
    command, args = entry.get("command"), entry.get("args") or []
    argv = [command, *args] if isinstance(command, str) and isinstance(args, list) else []
    return {"path": str(path), "installed": True, "command": command, "args": args,
            "points_at_this_wikimem": bool(argv) and runs_this_wikimem([str(a) for a in argv])}
