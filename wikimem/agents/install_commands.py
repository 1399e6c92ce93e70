"""The commands agents run to start wikimem, and how wikimem recognises its own (stdlib only).

An agent runs `wikimem hook <agent>` for each event and `wikimem mcp` as its MCP server: the
plain `wikimem` when that is this installation on PATH, else this installation's console
script by its absolute path, else `<python> -m wikimem`. A settings entry is wikimem's when
its command matches HOOK_RE (hooks) or its name is MCP_NAME (MCP servers).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

MCP_NAME = "wikimem"

# `wikimem hook ...`, `/abs/path/wikimem hook ...`, `"C:\...\wikimem.exe" hook ...` and
# `python -m wikimem hook ...`; not `foo-wikimem hook`.
HOOK_RE = re.compile(r"(?<![\w.-])wikimem(?:\.exe)?[\"']?\s+hook(?:\s|$)")


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


def path_note(argv: list[str], what: str) -> list[str]:
    """A note for the user when `argv` is not the plain `wikimem` on PATH."""
    if argv[0] == "wikimem":
        return []
    on_path = shutil.which("wikimem")
    why = (f"The `wikimem` on PATH ({on_path}) is another installation"
           if on_path else "`wikimem` is not on PATH")
    return [f"{why}, so {what} runs {_join(argv)}; install again after moving or "
            "reinstalling wikimem."]
