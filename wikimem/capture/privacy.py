"""What the user says must not be stored (stdlib only: on the hook path).

Two files may say it, both optional: `$WIKIMEM_HOME/config.toml` (every project) and the
project's `.wikimem.toml` at its repository root (this project; its lists are added to the
home's):

    ignore_paths = [".env", ".env.*", "secrets/**", "*.pem"]  # events about these files are
                                                              # dropped at capture
    [redact]
    patterns = ['ACME-[0-9]{8}', 'corp_(?P<secret>[a-z0-9]{24})']  # -> [REDACTED:custom]
    allow = ["sk_test_fixture_key"]  # exact values never redacted

`load()` reads them only when they exist (a stat per file otherwise), caches the result per
process by the files' size and mtime, and `apply()` hands the patterns and the allow-list to
`redact`.  A pattern that is not a valid regular expression is left out and reported (the
hook logs it; the CLI and `wikimem doctor` say what to fix); it never stops capture.

`ignore_paths` are gitignore-style globs relative to the repository root: a pattern without a
`/` matches a file or folder name at any depth (`.env`, `*.pem`), one with a `/` is anchored
at the root (`secrets/**`, `config/prod.yaml`), `**` spans folders, and a matching folder
covers everything under it.  An event is about a file when its tool input names it (Read,
Write, Edit, apply_patch...: the adapter's `files`, the input's path fields) or its shell
command has it as a word (`cat .env`, `source secrets/dev.sh`, `--env-file=.env`).
"""

from __future__ import annotations

import json
import os
import re
from collections import namedtuple

from wikimem.capture import redact

HOME_CONFIG = "config.toml"
MARKER = ".wikimem.toml"

# What the user configured, read and checked.  `errors` lists what was left out and why.
Privacy = namedtuple("Privacy", "patterns allow ignore errors")
EMPTY = Privacy((), frozenset(), (), ())

_cache: dict[str, Privacy] = {}


def config_files(project) -> list:
    """The files that may configure a project's privacy (Paths): the home's, the project's."""
    from pathlib import Path

    return [Path(f) for f in _config_files(project)]


def _config_files(project) -> list[str]:
    """`config_files` as strings (the hook path does not import pathlib)."""
    from wikimem.project import home_folder

    files = [os.path.join(home_folder(), HOME_CONFIG)]
    if project is not None and getattr(project, "root", ""):
        files.append(os.path.join(project.root, MARKER))
    return files


def load(project) -> Privacy:
    """The privacy settings for a project (None: the home's only).

    Cached per process, and across processes in the project's `state/privacy-cache.json`
    (the lists read, keyed by the files' size, mtime and inode): importing `tomllib` costs a
    hook more than the rest of its work.
    """
    files = _config_files(project)
    signature = []
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            signature.append([str(path), None])
            continue
        signature.append([str(path), st.st_size, st.st_mtime_ns, st.st_ino])
    key = json.dumps(signature)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    if all(s[1] is None for s in signature):
        result = EMPTY
    else:
        cache_file = project.state_dir / "privacy-cache.json" if project is not None else None
        lists = _cached_lists(cache_file, key)
        if lists is None:
            lists = _read([p for p, s in zip(files, signature, strict=True) if s[1] is not None])
            _store_lists(cache_file, key, lists)
        result = _compile(lists)
    _cache.clear()  # one project per process is the common case; keep the cache tiny
    _cache[key] = result
    return result


def apply(project) -> Privacy:
    """Load the project's settings and make `redact` use its patterns and allow-list."""
    privacy = load(project)
    redact.configure(privacy.patterns, privacy.allow)
    return privacy


def _cached_lists(cache_file: os.PathLike | None, key: str) -> dict | None:
    if cache_file is None:
        return None
    try:
        with open(cache_file, encoding="utf-8") as f:
            data = json.load(f)
        return data["lists"] if data.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _store_lists(cache_file: os.PathLike | None, key: str, lists: dict) -> None:
    if cache_file is None:
        return
    from wikimem.project import ensure_home_dir, write_atomic

    try:
        ensure_home_dir(cache_file.parent)
        write_atomic(cache_file, json.dumps({"key": key, "lists": lists}))
    except OSError:
        pass  # (a read-only home, a linked folder: parsed again next time)


def _read(paths: list[str]) -> dict:
    """The lists the files give, with what is wrong in them (`errors`)."""
    import tomllib  # only when a file exists and changed: the hook runs without it otherwise

    lists: dict[str, list] = {"patterns": [], "allow": [], "ignore_paths": [], "errors": []}
    errors = lists["errors"]
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            errors.append(f"{path} is not valid TOML ({exc}); fix or remove it")
            continue
        section = data.get("redact", {})
        if not isinstance(section, dict):
            errors.append(f"[redact] in {path} must be a table")
            section = {}
        lists["patterns"] += [[str(path), i, text] for i, text in enumerate(
            _strings(section, "patterns", "[redact] patterns", path, errors))]
        lists["allow"] += _strings(section, "allow", "[redact] allow", path, errors)
        lists["ignore_paths"] += [[str(path), text] for text in
                                  _strings(data, "ignore_paths", "ignore_paths", path, errors)]
    return lists


def _compile(lists: dict) -> Privacy:
    patterns: list[re.Pattern[str]] = []
    ignore: list[tuple[str, re.Pattern[str]]] = []
    errors: list[str] = list(lists["errors"])
    for path, i, text in lists["patterns"]:
        try:
            patterns.append(re.compile(text))
        except (re.error, RecursionError, OverflowError) as exc:
            errors.append(f"[redact] patterns[{i}] in {path} is not a valid regular "
                          f"expression ({exc}): {text!r}; fix or remove it")
    for path, text in lists["ignore_paths"]:
        try:
            ignore.append((text, glob_regex(text)))
        except re.error as exc:
            errors.append(f"ignore_paths entry {text!r} in {path} is not a valid glob "
                          f"({exc}); fix or remove it")
    allow = frozenset(a for a in lists["allow"] if a)
    return Privacy(tuple(patterns), allow, tuple(ignore), tuple(errors))


def _strings(table: dict, key: str, label: str, path, errors: list[str]) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(f"{label} in {path} must be a list of strings")
        return []
    return value


# --------------------------------------------------------------------------------------------
# ignore_paths
# --------------------------------------------------------------------------------------------


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A gitignore-style glob as a regular expression over `/`-separated relative paths."""
    glob = pattern.strip().replace("\\", "/")
    if not glob or glob.startswith("#") or glob.startswith("!"):
        raise re.error("empty, a comment, or a negation (not supported)")
    anchored = "/" in glob.rstrip("/")
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + translate_glob(glob.strip("/")) + "(?:/.*)?", re.S)


def translate_glob(glob: str) -> str:
    """The regular expression for a glob's wildcards: `*` and `?` within one folder, `**/` any
    folders (none too), `**` anything, `[...]`/`[!...]` a class; everything else literal."""
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                raise re.error(f"unclosed [ in {glob!r}")
            body = glob[i + 1:end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


# Tool input keys that name a file, across agents (Claude Code, Codex, Gemini CLI, Cursor).
_PATH_KEYS = ("file_path", "path", "notebook_path", "filePath", "file", "filename",
              "target_file", "absolute_path", "relative_workspace_path", "dir_path")
_WORDS = re.compile(r"""[^\s=:;|&<>()'"`,]+""")


def event_paths(event) -> list[str]:
    """The file paths an event is about, as the agent wrote them."""
    data = event.data if isinstance(event.data, dict) else {}
    found: list[str] = []
    for f in data.get("files") or ():
        if isinstance(f, dict) and isinstance(f.get("path"), str):
            found.append(f["path"])
    tool_input = data.get("input")
    if isinstance(tool_input, dict):
        for key in _PATH_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str):
                found.append(value)
        for value in tool_input.get("paths") or ():
            if isinstance(value, str):
                found.append(value)
    command = data.get("command")
    if isinstance(command, str):
        found += _WORDS.findall(command[:8000])
    return found


def _relative(path: str, cwd: str, root: str) -> str:
    """`path` relative to the repository root when it is inside it, else as an absolute path."""
    path = path.strip().replace("\\", "/")
    if path.startswith("~"):
        path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(cwd or root or ".", path)
    path = os.path.normpath(path).replace("\\", "/")
    root = os.path.normpath(root).replace("\\", "/") if root else ""
    if root and (path == root or path.startswith(root.rstrip("/") + "/")):
        return path[len(root):].lstrip("/")
    return path.lstrip("/")


def ignored_by(privacy: Privacy, event, root: str) -> str | None:
    """The `ignore_paths` pattern an event matches (None when it is to be kept)."""
    if not privacy.ignore:
        return None
    cwd = getattr(event, "cwd", "") or root
    for raw in event_paths(event):
        if not raw or len(raw) > 4096:
            continue
        rel = _relative(raw, cwd, root)
        for text, regex in privacy.ignore:
            anchored = "/" in text.strip().rstrip("/")
            if anchored and os.path.isabs(raw) and not _under(raw, root):
                continue
            if regex.fullmatch(rel):
                return text
    return None


def _under(path: str, root: str) -> bool:
    if not root:
        return False
    path = os.path.normpath(path)
    root = os.path.normpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def record_ignored(project, agent: str, event, pattern: str) -> None:
    """Count a dropped event in `state/ignored.log`: when, which agent, kind, tool, pattern."""
    from wikimem.capture.observation import utc_now

    data = event.data if isinstance(event.data, dict) else {}
    record = {"ts": utc_now(), "agent": agent, "kind": event.kind,
              "tool": str(data.get("tool", ""))[:100], "pattern": pattern}
    _append(project.state_dir / "ignored.log", record)


def report_errors(project, privacy: Privacy) -> None:
    """Write the settings' errors to the project's error log, once per distinct set."""
    if not privacy.errors:
        return
    from wikimem.capture.observe import log_error
    from wikimem.fsio import sha256_hex
    from wikimem.project import write_atomic

    text = "\n".join(privacy.errors)
    seen = project.state_dir / "privacy-errors.seen"
    digest = sha256_hex(text.encode("utf-8", "replace"))
    try:
        if seen.read_text(encoding="ascii") == digest:
            return
    except (OSError, UnicodeDecodeError):
        pass
    for message in privacy.errors:
        log_error(project.error_log, "Configuration ignored: " + message, stage="config")
    try:
        write_atomic(seen, digest)
    except OSError:
        pass


def _append(path: str | os.PathLike, record: dict) -> None:
    from wikimem.project import ensure_home_dir, open_private

    try:
        ensure_home_dir(path.parent)
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, (json.dumps(record, ensure_ascii=False) + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def ignored_count(project) -> int:
    """How many events `ignore_paths` dropped in this project."""
    try:
        with open(project.state_dir / "ignored.log", "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0
