"""Memories tied to the code: the git blob of each file a memory names, then and now.

A decision, lesson, note or task that names files (`--files`, or paths found in its text)
records, for each, the blob hash git has for it and the commit checked out (its *anchors*).
Checking them later is one `git ls-files -s` of the user's repository - the blob of every
tracked file - kept in a cache file keyed by the size, mtime and inode of git's index file,
so a check while the repository is unchanged reads one small JSON file and runs nothing.
The commit that changed a file is asked of `git log` only for a file found changed, and kept
in the same cache by the file's current blob.

Standard library and the git CLI only; nothing here writes but the cache file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from wikimem.errors import WikimemError
from wikimem.fsio import replace_file
from wikimem.repo.collect import _git

CACHE_VERSION = 1
# A path as text names it: folders and a file name with an extension (`src/app.py`,
# `./README.md`, `wikimem/cli/__init__.py`), or a bare name with an extension (`Makefile`
# needs --files). Only names git tracks count.
_PATH = re.compile(r"(?<![\w./\\-])(?:\./)?((?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z0-9]{1,10})"
                   r"(?![\w/\\-])")


def _run(root, *args: str) -> bytes | None:
    """git's output in the user's repository (through bootstrap's collector, the one module
    that runs git there), None when git failed or is missing."""
    try:
        return _git(Path(str(root)), *args)
    except WikimemError:
        return None


def index_file(root) -> str | None:
    """git's index file of the repository at `root` (a worktree's `.git` file is followed),
    or None when `root` is not the top of a git checkout."""
    dotgit = os.path.join(str(root), ".git")
    if os.path.isdir(dotgit):
        return os.path.join(dotgit, "index")
    try:
        with open(dotgit, encoding="utf-8") as f:
            line = f.readline().strip()
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    gitdir = line.removeprefix("gitdir:").strip()
    return os.path.join(gitdir if os.path.isabs(gitdir) else os.path.join(str(root), gitdir),
                        "index")


def _signature(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


class Tree:
    """The blobs of the tracked files of one repository as its index has them, the commit
    checked out, and the cache that holds them (see the module's doc)."""

    def __init__(self, root, cache_file: Path | None = None):
        self.root = str(root)
        self.cache_file = cache_file
        self._cache: dict | None = None
        self._dirty = False

    def _load(self) -> dict:
        if self._cache is not None:
            return self._cache
        index = index_file(self.root)
        signature = _signature(index) if index else None
        cache: dict = {}
        if self.cache_file is not None and signature is not None:
            try:
                cache = json.loads(self.cache_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                cache = {}
            if not isinstance(cache, dict) or cache.get("v") != CACHE_VERSION \
                    or cache.get("root") != self.root:
                cache = {}
        if cache.get("index") != signature and signature is not None:
            blobs = self._ls_files()
            # The commit that last changed a file is still the answer while its blob is.
            kept = {k: v for k, v in (cache.get("changes") or {}).items()
                    if blobs is not None and blobs.get(k.split("\0")[0], "-") == k.split("\0")[1]}
            cache = {"v": CACHE_VERSION, "root": self.root, "index": signature,
                     "blobs": blobs, "changes": kept,
                     **({"rendered": cache["rendered"]} if "rendered" in cache else {})}
            self._dirty = True
        self._cache = cache or {"blobs": None, "head": None, "changes": {}}
        return self._cache

    def _ls_files(self) -> dict[str, str] | None:
        out = _run(self.root, "ls-files", "-s", "-z")
        if out is None:
            return None
        blobs = {}
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, _, name = entry.partition(b"\t")
            parts = meta.split()
            if len(parts) == 3 and parts[2] in (b"0", b"2"):  # stage 0, or "ours" in a merge
                blobs[name.decode("utf-8", "surrogateescape")] = parts[1].decode()
        return blobs

    def _head(self) -> str | None:
        out = _run(self.root, "rev-parse", "--verify", "-q", "HEAD")
        return out.decode().strip() if out else None

    @property
    def available(self) -> bool:
        return self._load().get("blobs") is not None

    @property
    def blobs(self) -> dict[str, str]:
        return self._load().get("blobs") or {}

    @property
    def head(self) -> str | None:
        """The commit checked out (asked only when recording anchors, not when checking)."""
        cache = self._load()
        if "head" not in cache:
            cache["head"] = self._head()
            self._dirty = cache.get("blobs") is not None
        return cache["head"]

    def last_change(self, path: str, since: str | None = None) -> dict:
        """The newest commit after `since` (the commit a memory was recorded at) that touched
        `path`: {"commit", "date"}, or {} when none did (the change is only staged). Cached
        by the file's current blob."""
        cache = self._load()
        key = f"{path}\0{self.blobs.get(path, '-')}\0{since or ''}"
        found = cache["changes"].get(key)
        if found is None:
            span = [f"{since}..HEAD"] if since else ["HEAD"]
            out = _run(self.root, "log", "-1", "--format=%H%x1f%cI", *span, "--", path)
            if out is None and since:  # the recorded commit is gone (a rebase): any commit
                out = _run(self.root, "log", "-1", "--format=%H%x1f%cI", "HEAD", "--", path)
            parts = out.decode("utf-8", "replace").strip().split("\x1f") if out else []
            found = {"commit": parts[0], "date": parts[1]} if len(parts) == 2 else {}
            cache["changes"][key] = found
            self._dirty = True
        return found

    def moved(self) -> bool:
        """A cache file exists and git's index is no longer the one it was read from."""
        if self.cache_file is None or not self.cache_file.exists():
            return False
        try:
            cache = json.loads(self.cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return True
        index = index_file(self.root)
        return not isinstance(cache, dict) or cache.get("rendered") != (
            _signature(index) if index else None)

    def mark_rendered(self) -> None:
        """Say the wiki now shows what the repository's index is (read by `moved`)."""
        cache = self._load()
        if cache.get("blobs") is not None and cache.get("rendered") != cache.get("index"):
            cache["rendered"] = cache.get("index")
            self._dirty = True

    def save(self) -> None:
        """Keep what was read for the next check (a cache: failing to write it is harmless)."""
        if not self._dirty or self.cache_file is None or self._cache is None \
                or self._cache.get("blobs") is None:
            return
        try:
            replace_file(self.cache_file, json.dumps(self._cache, separators=(",", ":")))
            self._dirty = False
        except OSError:
            pass


def files_named(text: str, tracked: dict[str, str]) -> list[str]:
    """The tracked files a text names, in the order it names them."""
    found: dict[str, None] = {}
    for m in _PATH.finditer(text or ""):
        name = m.group(1).rstrip(".")
        if name in tracked:
            found[name] = None
    return list(found)


def normalize(root, name: str) -> str:
    """A path as given on the command line, relative to the repository's top."""
    name = name.strip().replace("\\", "/")
    if os.path.isabs(name):
        try:
            name = os.path.relpath(os.path.realpath(name), os.path.realpath(str(root)))
        except ValueError:
            return name
    return os.path.normpath(name).replace("\\", "/").removeprefix("./")


def anchors(tree: Tree, paths: list[str]) -> dict[str, dict]:
    """{path: {"blob", "commit"}} for the tracked files among `paths`."""
    blobs, head = tree.blobs, tree.head
    return {p: {"blob": blobs[p], **({"commit": head} if head else {})}
            for p in paths if p in blobs}
