"""Git for team memory: the one module that touches the sync repository.

The sync repository (`<project>/sync/repo.git`, bare) is a local cache of the remote's
memory ref; the wiki's own repository (`wiki/.git`, owned by `wiki/gitrepo.py`) never
travels. Everything here is git plumbing on that bare repository, run as `git` processes
with the user's own configuration for the remote (authentication is git's), never asking on
a terminal. Only `wikimem.sync` calls it, and never from the hook path.

A push is a compare-and-swap: every commit made here has the fetched head as its parent, so
git refuses it (non-fast-forward) if anyone pushed in between, and the caller fetches again.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from wikimem.errors import WikimemError

# The remote's ref as last fetched, inside the sync repository.
FETCHED = "refs/wikimem/fetched"
_SAFE = ["-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null",
         "-c", "gc.auto=0"]
IDENTITY = {"GIT_AUTHOR_NAME": "wikimem", "GIT_AUTHOR_EMAIL": "wikimem@localhost",
            "GIT_COMMITTER_NAME": "wikimem", "GIT_COMMITTER_EMAIL": "wikimem@localhost"}


class SyncError(WikimemError):
    """The remote could not be reached or refused for a reason other than a race."""


def _env(extra: dict | None = None) -> dict:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **IDENTITY}
    env.pop("GIT_DIR", None)
    env.pop("GIT_INDEX_FILE", None)
    return {**env, **(extra or {})}


def _git(repo: Path, *args: str, data: bytes | None = None, env: dict | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(["git", *_SAFE, f"--git-dir={repo}", *args], input=data,
                              capture_output=True, env=_env(env), timeout=600)
    except FileNotFoundError as exc:
        raise SyncError("git is not installed; team memory needs it.") from exc
    except subprocess.TimeoutExpired as exc:
        raise SyncError(f"git {args[0]} took more than 10 minutes; try again.") from exc
    if check and done.returncode:
        what = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SyncError(f"git {args[0]} failed: {what[-1] if what else done.returncode}")
    return done


def open_repo(path: Path) -> Path:
    """The sync repository, created (bare) on first use."""
    if not (path / "HEAD").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["git", "init", "-q", "--bare", str(path)], capture_output=True,
                              env=_env())
        if done.returncode:
            raise SyncError(f"cannot create {path}: "
                            f"{done.stderr.decode('utf-8', 'replace').strip()}")
    return path


def fetch(repo: Path, url: str, ref: str) -> str | None:
    """Fetch the remote's ref; its commit, or None when the remote has no such ref yet."""
    done = _git(repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", url,
                f"+{ref}:{FETCHED}", check=False)
    if done.returncode:
        err = done.stderr.decode("utf-8", "replace")
        if "couldn't find remote ref" in err or "could not find remote ref" in err:
            _git(repo, "update-ref", "-d", FETCHED, check=False)
            return None
        lines = err.strip().splitlines()
        raise SyncError(f"cannot fetch {ref} from {url}: "
                        f"{lines[-1] if lines else 'git fetch failed'}")
    return resolve(repo, FETCHED)


def resolve(repo: Path, rev: str) -> str | None:
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return done.stdout.decode().strip() or None


def tree_files(repo: Path, commit: str | None, under: str = "") -> dict[str, str]:
    """{path: blob id} of every file in the commit (under a folder). A commit's listing is
    remembered (commits never change): a sync asks for several folders of one commit."""
    if commit is None:
        return {}
    key = (str(repo), commit)
    files = _listings.get(key)
    if files is None:
        files = _list_tree(repo, commit)
        if len(_listings) > 8:
            _listings.clear()
        _listings[key] = files
    if not under:
        return dict(files)
    prefix = under.rstrip("/") + "/"
    return {p: b for p, b in files.items() if p.startswith(prefix) or p == under}


_listings: dict[tuple[str, str], dict[str, str]] = {}


def _list_tree(repo: Path, commit: str) -> dict[str, str]:
    out = _git(repo, "ls-tree", "-r", "-z", commit).stdout
    files = {}
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        mode, kind, sha = meta.split()
        if kind == b"blob":
            files[path.decode("utf-8", "surrogateescape")] = sha.decode()
    return files


def read_blobs(repo: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of blobs, by id (one `git cat-file --batch`)."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    out = _git(repo, "cat-file", "--batch", data="".join(s + "\n" for s in wanted).encode()
               ).stdout
    blobs, pos = {}, 0
    for sha in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if len(header) != 3:
            raise SyncError(f"the sync repository lacks object {sha}")
        size = int(header[2])
        blobs[sha] = out[end + 1:end + 1 + size]
        pos = end + 1 + size + 1
    return blobs


def write_blobs(repo: Path, contents: list[bytes]) -> list[str]:
    """Store contents as blobs; their ids (one `git hash-object` over temporary files)."""
    if not contents:
        return []
    with tempfile.TemporaryDirectory(dir=repo) as tmp:
        paths = []
        for i, data in enumerate(contents):
            p = os.path.join(tmp, str(i))
            with open(p, "wb") as f:
                f.write(data)
            paths.append(p)
        return hash_files(repo, paths)


def hash_files(repo: Path, paths: list[str]) -> list[str]:
    """Store files as blobs (`git hash-object -w --stdin-paths`); their ids."""
    if not paths:
        return []
    out = _git(repo, "hash-object", "-w", "--no-filters", "--stdin-paths",
               data="".join(p + "\n" for p in paths).encode("utf-8", "surrogateescape")).stdout
    return out.decode().split()


def commit(repo: Path, parent: str | None, files: dict[str, str | None], message: str,
           *, replace_under: str | None = None) -> str | None:
    """A commit on `parent` whose tree is the parent's with `files` set ({path: blob id},
    None to delete) - and, with `replace_under`, everything else under that folder gone.
    None when the tree would not change."""
    with tempfile.TemporaryDirectory(dir=repo) as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        if parent:
            _git(repo, "read-tree", parent, env=env)
            old_tree = _git(repo, "rev-parse", f"{parent}^{{tree}}").stdout.decode().strip()
        else:
            _git(repo, "read-tree", "--empty", env=env)
            old_tree = None
        lines = []
        if replace_under and parent:
            for path in tree_files(repo, parent, replace_under.rstrip("/")):
                if path not in files:
                    lines.append(f"0 {'0' * 40}\t{path}")
        for path, sha in sorted(files.items()):
            lines.append(f"0 {'0' * 40}\t{path}" if sha is None else f"100644 {sha}\t{path}")
        if lines:
            _git(repo, "update-index", "--index-info",
                 data=("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"), env=env)
        tree = _git(repo, "write-tree", env=env).stdout.decode().strip()
    if tree == old_tree:
        return None
    args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
    return _git(repo, *args).stdout.decode().strip()


def push(repo: Path, url: str, commit_id: str, ref: str, *,
         lease: str | None = None) -> bool:
    """Push `commit_id` to the remote's ref: True when it took it, False when the remote moved
    since the fetch (git's non-fast-forward rejection, or a lease that failed). `lease`
    (purge): replace the ref whatever it holds, as long as it is still that commit."""
    args = ["push", "--porcelain", url]
    if lease is not None:
        args.insert(2, f"--force-with-lease={ref}:{lease}")
        args.append(f"+{commit_id}:{ref}")
    else:
        args.append(f"{commit_id}:{ref}")
    done = _git(repo, *args, check=False)
    out = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    if done.returncode == 0:
        _git(repo, "update-ref", FETCHED, commit_id)
        return True
    if any(word in out for word in ("non-fast-forward", "fetch first", "stale info",
                                    "[rejected]", "cannot lock ref", "incorrect old value")):
        return False
    lines = out.strip().splitlines()
    raise SyncError(f"cannot push to {url}: {lines[-1] if lines else 'git push failed'}")


# Loose objects past which a sync packs the sync repository (every sync writes a new whole
# blob of each log that grew; packing stores them as deltas of each other).
PACK_LOOSE_COUNT = 2000
PACK_LOOSE_KIB = 64 * 1024


def pack_if_needed(repo: Path) -> bool:
    """Pack the sync repository when its loose objects passed a count or a size."""
    out = _git(repo, "count-objects", "-v", check=False).stdout.decode()
    counts = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    try:
        count, kib = int(counts.get("count", 0)), int(counts.get("size", 0))
    except ValueError:
        return False
    if count < PACK_LOOSE_COUNT and kib < PACK_LOOSE_KIB:
        return False
    _git(repo, "gc", "--quiet", check=False)
    return True


def forget_old_objects(repo) -> None:
    """Delete what no ref reaches any more (after a purge rewrote the history): expire the
    reflogs, then prune every unreachable object."""
    _git(Path(repo), "reflog", "expire", "--expire=now", "--all", check=False)
    _git(Path(repo), "gc", "--quiet", "--prune=now", check=False)
