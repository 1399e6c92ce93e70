"""Git: the one module that talks to the wiki's repository (through GitPython and the git
executable). Nothing else in wikimem imports `git` or runs `git` on the wiki
(tests/test_wiki_owners.py); `repo.collect` runs git on the user's project repository.

The compiler commits under a fixed machine identity with trailers; edits a person made in the
wiki folder are committed first, under that person's git identity, so `git log` tells who
wrote what. Time travel reads the history through the functions under "Reading history";
purge rewrites it with `rewrite_history`; doctor asks `git_version`, `fsck_problems` and
`uncommitted_count`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import git

from wikimem import faults
from wikimem.errors import WikimemError
from wikimem.project import write_atomic

MACHINE_NAME = "wikimem"
MACHINE_EMAIL = "wikimem@localhost"
FALLBACK_HUMAN = ("wiki editor", "editor@localhost")
# Settings that keep a user's global git config (signing, hooks, autocrlf) out of our commits.
_SAFE = [
    "-c", "commit.gpgsign=false",
    "-c", "core.autocrlf=false",
    "-c", "core.hooksPath=/dev/null",
]


# A git lock file older than this was left by a git process that died: no git command on a
# wiki holds one for minutes (an editor open on a commit message in the wiki would).
STALE_LOCK_SECONDS = 600
# Lock files git creates while it updates the index or a ref (removed when it finishes).
_LOCK_FILES = ("index.lock", "HEAD.lock", "ORIG_HEAD.lock", "packed-refs.lock", "config.lock")


@dataclass(frozen=True)
class Operation:
    """A git operation stopped in a repository, waiting for a person to finish it."""

    name: str  # merge, rebase, am, cherry-pick, revert or bisect
    what: str  # as a sentence names it: "a merge"
    advice: str  # how to end it: "finish it (`git commit`) or abort it (`git merge --abort`)"


def _stopped(name: str, what: str, finish: str, abort: str) -> Operation:
    return Operation(name, what, f"finish it (`{finish}`) or abort it (`{abort}`)")


_OPERATIONS = {
    "merge": _stopped("merge", "a merge", "git commit", "git merge --abort"),
    "rebase": _stopped("rebase", "a rebase", "git rebase --continue", "git rebase --abort"),
    "am": _stopped("am", "a `git am`", "git am --continue", "git am --abort"),
    "cherry-pick": _stopped("cherry-pick", "a cherry-pick", "git cherry-pick --continue",
                            "git cherry-pick --abort"),
    "revert": _stopped("revert", "a revert", "git revert --continue", "git revert --abort"),
    "bisect": Operation("bisect", "a bisect", "end it (`git bisect reset`)"),
}


def operation_in_progress(git_dir: str | os.PathLike) -> Operation | None:
    """The operation a repository is in the middle of (read from the files git keeps while
    it waits for a person, in the order `git status` reads them), or None."""
    d = Path(git_dir)
    if (d / "rebase-merge").is_dir():
        name = "rebase"
    elif (d / "rebase-apply").is_dir():
        name = "am" if (d / "rebase-apply" / "applying").exists() else "rebase"
    elif (d / "MERGE_HEAD").exists():
        name = "merge"
    elif (d / "CHERRY_PICK_HEAD").exists():
        name = "cherry-pick"
    elif (d / "REVERT_HEAD").exists():
        name = "revert"
    elif (d / "sequencer" / "todo").exists():
        # A cherry-pick or revert of several commits, stopped between two of them (a person
        # committed a resolved conflict without `--continue`): its next command says which.
        try:
            todo = (d / "sequencer" / "todo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            todo = ""
        name = "revert" if todo.lstrip().startswith("revert") else "cherry-pick"
    elif (d / "BISECT_LOG").exists():
        name = "bisect"
    else:
        return None
    return _OPERATIONS[name]


def open_repo(wiki_dir: Path) -> git.Repo:
    """The wiki's repository, created on first use."""
    if (wiki_dir / ".git").exists():
        try:
            repo = git.Repo(wiki_dir)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise WikimemError(
                f"{wiki_dir} has a .git that is not a usable git repository ({exc}); move it "
                "aside and run `wikimem compile --rebuild` to recreate the wiki from the raw "
                "log.") from exc
        _use_untracked_cache(repo)
        return repo
    wiki_dir.mkdir(parents=True, exist_ok=True)
    try:
        repo = git.Repo.init(wiki_dir, initial_branch="main")
        with repo.config_writer() as cfg:
            cfg.set_value("core", "autocrlf", "false")
            cfg.set_value("core", "quotepath", "false")
            cfg.set_value("core", "untrackedCache", "true")
        write_atomic(wiki_dir / ".gitignore", ".obsidian/workspace*.json\n.trash/\n*.tmp\n")
        commit(repo, [".gitignore"], "Create the wiki repository")
    except (git.GitCommandError, WikimemError, OSError) as exc:
        # Why: a half-made .git (a full disk during `git init`) would fail every later
        # compile; removing it lets the next one start over.
        shutil.rmtree(wiki_dir / ".git", ignore_errors=True)
        if isinstance(exc, OSError):
            raise
        detail = (f"exit {exc.status}: {str(exc.stderr or '').strip()[:300]}"
                  if isinstance(exc, git.GitCommandError) else str(exc))
        raise WikimemError(
            f"Could not create the wiki repository in {wiki_dir}: git failed ({detail}). "
            "Check that the disk has room and the folder is writable, then run the command "
            "again.") from exc
    return repo


def _use_untracked_cache(repo: git.Repo) -> None:
    """Turn on git's untracked cache in a wiki made before it was: `git status`, which every
    compile runs to find a person's edits, then skips reading the folders nothing changed
    in (a third of its time in a wiki of ten thousand pages)."""
    try:
        config = (Path(repo.git_dir) / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    if "untrackedcache" not in config.lower():
        _run(repo, "config", "core.untrackedCache", "true")


# git killed by SIGXFSZ (a file size limit), as GitPython reports it or as a shell would.
_DISK_FULL_STATUS = (-signal.SIGXFSZ, 128 + signal.SIGXFSZ)


class _Status(Exception):
    """A git command exited with the status its caller said it would look into."""


def _run(repo: git.Repo, *args: str, env: dict | None = None,
         quiet_status: int | None = None) -> str:
    try:
        return repo.git.execute(["git", *_SAFE, *args], env=env)
    except git.GitCommandError as exc:
        if quiet_status is not None and exc.status == quiet_status:
            raise _Status(exc.status) from exc
        stderr = (exc.stderr or "").strip().replace("\n", " ")[:500]
        if exc.status in _DISK_FULL_STATUS or any(
                s in stderr.lower() for s in ("no space left", "file too large", "quota")):
            raise WikimemError(
                f"The disk is full or a file size limit was reached (git {args[0]} in the wiki "
                f"repository {repo.working_dir}{': ' + stderr if stderr else ''}). Free some "
                "space and compile again; nothing is lost: the raw log keeps every "
                "observation.") from exc
        hint = "Check `git status` there, fix it, and compile again"
        if ".lock" in stderr and "exists" in stderr:
            hint = ("Another git process is using it; if none is, delete the .lock file named "
                    "above and compile again")
        raise WikimemError(
            f"git {args[0]} failed in the wiki repository {repo.working_dir}: {stderr}. "
            f"{hint}. Nothing is lost: the raw log keeps every observation.") from exc


def check_not_mid_operation(repo: git.Repo) -> None:
    """Refuse to commit into a wiki a person left mid-merge (or mid-rebase, cherry-pick...)."""
    operation = operation_in_progress(repo.git_dir)
    if operation is not None:
        advice = operation.advice[0].upper() + operation.advice[1:]
        raise WikimemError(
            f"The wiki repository {repo.working_dir} is in the middle of {operation.what}. "
            f"{advice} there, then compile again. Nothing is lost: the raw log keeps every "
            "observation.")


def remove_stale_locks(repo: git.Repo, since: float | None = None) -> list[str]:
    """Delete git lock files a dead git process left: older than STALE_LOCK_SECONDS, or made
    after `since` (when an interrupted compile started: they were its own)."""
    git_dir = Path(repo.git_dir)
    candidates = [git_dir / name for name in _LOCK_FILES]
    refs = git_dir / "refs"
    if refs.is_dir():
        candidates += sorted(refs.rglob("*.lock"))
    removed = []
    now = time.time()
    for lock in candidates:
        try:
            mtime = lock.stat().st_mtime
        except OSError:
            continue
        if now - mtime > STALE_LOCK_SECONDS or (since is not None and mtime >= since):
            lock.unlink(missing_ok=True)
            removed.append(str(lock.relative_to(git_dir)))
    return removed


def _machine_env() -> dict:
    return {
        "GIT_AUTHOR_NAME": MACHINE_NAME,
        "GIT_AUTHOR_EMAIL": MACHINE_EMAIL,
        "GIT_COMMITTER_NAME": MACHINE_NAME,
        "GIT_COMMITTER_EMAIL": MACHINE_EMAIL,
    }


def dirty_paths(repo: git.Repo) -> list[str]:
    """Paths changed in the work tree since the last commit (including untracked files)."""
    out = _run(repo, "status", "--porcelain", "-z", "--untracked-files=all")
    paths = []
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        if len(entry) > 3:
            paths.append(entry[3:])
            if entry[0] in "RC":
                i += 1  # a rename has its source path in the next entry
        i += 1
    return sorted(paths)


def commit_human_edits(repo: git.Repo, exclude=()) -> tuple[str | None, list[str]]:
    """Commit whatever a person changed in the wiki, under their git identity.

    Paths in `exclude` (machine pages an interrupted compile left uncommitted) are left for
    the machine's commit. Returns the commit (None when nothing changed) and the changed paths.
    """
    paths = [p for p in dirty_paths(repo) if p not in exclude]
    if not paths:
        return None, []
    if exclude:
        # The interrupted compile may have staged its pages already: unstage them first.
        left = sorted(exclude)
        for i in range(0, len(left), _PATHS_PER_CALL):
            _run(repo, "reset", "-q", "--", *left[i:i + _PATHS_PER_CALL])
        for i in range(0, len(paths), _PATHS_PER_CALL):
            _run(repo, "add", "--all", "--", *paths[i:i + _PATHS_PER_CALL])
    else:
        _run(repo, "add", "--all")
    env = None
    try:
        repo.git.config("user.name")
        repo.git.config("user.email")
    except git.GitCommandError:
        name, email = FALLBACK_HUMAN
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
               "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    message = f"Human edits: {len(paths)} file{'' if len(paths) == 1 else 's'}\n\n" + "\n".join(
        f"- {p}" for p in paths[:50]
    )
    _run(repo, "commit", "--no-verify", "-q", "-m", message, env=env)
    return repo.head.commit.hexsha, paths


# Paths per `git add`/`git rm` call: a first compile of a large wiki writes more paths than
# one command line may hold (ARG_MAX).
_PATHS_PER_CALL = 2000


def commit(repo: git.Repo, paths: list[str], message: str, removed: list[str] = ()) -> str | None:
    """Commit the given paths under the machine identity; None when nothing changed."""
    for i in range(0, len(removed), _PATHS_PER_CALL):
        _run(repo, "rm", "-q", "--cached", "--ignore-unmatch", "--",
             *removed[i:i + _PATHS_PER_CALL])
    for i in range(0, len(paths), _PATHS_PER_CALL):
        _run(repo, "add", "--", *paths[i:i + _PATHS_PER_CALL])
    faults.point("git-added")
    # A NUL cannot be passed in an argument (recorded text in a title may hold one).
    message = message.replace("\0", "\ufffd")
    try:
        _run(repo, "commit", "--no-verify", "-q", "-m", message, env=_machine_env(),
             quiet_status=1)
    except _Status:
        # `git commit` exits 1 when nothing is staged (every path written holds what HEAD
        # has): asked only then, instead of before every commit.
        if not _run(repo, "diff", "--cached", "--name-only"):
            return None
        # Something is staged, so exit 1 meant another failure: once more, to report it.
        _run(repo, "commit", "--no-verify", "-q", "-m", message, env=_machine_env())
    return repo.head.commit.hexsha


def head(repo: git.Repo) -> str | None:
    try:
        return repo.head.commit.hexsha
    except ValueError:
        return None


def log(repo: git.Repo, limit: int = 10) -> list[dict]:
    """The latest commits: sha, date, author, subject."""
    if head(repo) is None:
        return []
    return [
        {
            "commit": c.hexsha,
            "date": c.committed_datetime.isoformat(),
            "author": c.author.name,
            "subject": c.summary,
        }
        for c in repo.iter_commits(max_count=limit)
    ]


# --------------------------------------------------------------------------------------------
# History rewriting (wikimem purge)
# --------------------------------------------------------------------------------------------


def rewrite_history(repo: git.Repo, blob, message, path=None) -> int:
    """Rewrite every commit of every ref; returns the number of commits rewritten.

    `blob(data)` returns a blob's new bytes, or None to leave it out: where a commit added or
    changed a file to a left-out blob, the file keeps its previous (rewritten) version, or
    stays absent. `message(data)` returns a commit or tag message's new bytes. Streams
    `git fast-export --all` through the filters into `git fast-import --force`, so commit
    hashes change from the first rewritten commit on; authors, dates and order are kept.
    `path(name)`, if given, renames files (bytes in, bytes out). Old objects stay until
    `drop_unreachable`.
    """
    cwd = repo.working_tree_dir
    exporter = subprocess.Popen(
        ["git", *_SAFE, "fast-export", "--all", "--signed-tags=strip",
         "--tag-of-filtered-object=rewrite", "--reencode=yes", "--no-use-done-feature"],
        cwd=cwd, stdout=subprocess.PIPE)
    importer = subprocess.Popen(["git", *_SAFE, "fast-import", "--force", "--quiet"],
                                cwd=cwd, stdin=subprocess.PIPE)
    src, dst = exporter.stdout, importer.stdin
    dropped: set[bytes] = set()  # marks of left-out blobs
    commits = 0
    current = b""  # the command the next `data` belongs to
    pending_blob: list[bytes] = []  # a blob's header lines, held until its data is filtered
    ops: list[bytes] = []  # a commit's file changes, held until the commit ends
    try:
        while line := src.readline():
            if line.startswith(b"data "):
                body = src.read(int(line[5:]))
                if current == b"blob":
                    new = blob(body)
                    if new is None:
                        mark = next((h[5:].strip() for h in pending_blob
                                     if h.startswith(b"mark ")), b"")
                        dropped.add(mark)
                        pending_blob = []
                        current = b"skip-lf"
                        continue
                    dst.writelines(pending_blob)
                    pending_blob = []
                    current = b"blob-data"
                else:
                    new = message(body)
                dst.write(b"data %d\n" % len(new) + new)
                continue
            if current == b"skip-lf" and line == b"\n":
                current = b""
                continue
            head = line.split(b" ", 1)[0].rstrip(b"\n")
            if head in (b"blob", b"commit", b"tag", b"reset"):
                current = head
                if head == b"commit":
                    commits += 1
            if current == b"blob" and not line.startswith(b"data "):
                pending_blob.append(line)
                continue
            if current == b"commit" and line.startswith((b"M ", b"D ")):
                ops.append(line)
                continue
            if ops:
                dst.writelines(_file_ops(ops, dropped, path))
                ops = []
            dst.write(line)
    finally:
        src.close()
        dst.close()
        exporter.wait()
        importer.wait()
    if exporter.returncode or importer.returncode:
        for crash in Path(repo.git_dir).glob("fast_import_crash_*"):
            crash.unlink()  # it holds the stream, secrets included
        raise WikimemError(f"Rewriting the wiki's history failed (git fast-export "
                           f"{exporter.returncode}, fast-import {importer.returncode}); no "
                           "branch was changed. Run `git fsck` in the wiki and try again.")
    _run(repo, "reset", "-q")  # the index follows the rewritten HEAD; files stay as they are
    return commits


def _file_ops(ops: list[bytes], dropped: set[bytes], path) -> list[bytes]:
    """A commit's `M`/`D` lines without left-out blobs, with renamed paths; a deletion the
    renaming made equal to a file the commit writes is no deletion any more."""
    out, written = [], set()
    for line in ops:
        if line.startswith(b"M "):
            parts = line.split(b" ", 3)
            if len(parts) == 4 and parts[2] in dropped:
                continue
            if path is not None and len(parts) == 4:
                parts[3] = path(parts[3])
                line = b" ".join(parts)
            written.add(parts[-1])
        elif path is not None:
            renamed = path(line[2:])
            if renamed != line[2:] and renamed in written | {
                    o.split(b" ", 3)[-1] for o in ops if o.startswith(b"M ")}:
                continue
            line = b"D " + renamed
        out.append(line)
    return out


def blob_id(data: bytes) -> str:
    """The id git gives a blob with these bytes."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's id


def tree_blobs(repo: git.Repo, rev: str = "HEAD") -> set[str]:
    """The ids of every blob in a commit's tree."""
    if head(repo) is None:
        return set()
    out = _run(repo, "ls-tree", "-r", "-z", rev)
    return {entry.split(" ", 2)[2].split("\t", 1)[0] for entry in out.split("\0") if entry}


def drop_unreachable(repo: git.Repo) -> None:
    """Forget reflogs and delete every object no ref reaches (after a rewrite)."""
    git_dir = Path(repo.git_dir)
    for name in ("ORIG_HEAD", "FETCH_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "COMMIT_EDITMSG"):
        (git_dir / name).unlink(missing_ok=True)
    for crash in git_dir.glob("fast_import_crash_*"):  # they hold the stream, secrets included
        crash.unlink()
    _run(repo, "reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all")
    _run(repo, "gc", "-q", "--prune=now")
    _run(repo, "prune", "--expire=now")


def all_objects(repo: git.Repo) -> bytes:
    """The content of every object in the repository, reachable or not."""
    return repo.git.execute(["git", "cat-file", "--batch-all-objects", "--batch"],
                            stdout_as_string=False)


# --------------------------------------------------------------------------------------------
# Reading history (time travel)
# --------------------------------------------------------------------------------------------

# Keep user config (quoted paths, colours, signatures, textconv) out of output we parse, and
# treat paths literally so `[`, `*` or `:` in a page name are not pathspec magic.
_READ_OPTS = [
    "-c", "core.quotepath=false",
    "-c", "color.ui=false",
    "-c", "log.showSignature=false",
    "--literal-pathspecs",
]
_REC, _FIELD = "\x1e", "\x1f"
_LOG_FORMAT = f"--format={_REC}%H{_FIELD}%cI{_FIELD}%an{_FIELD}%s"


def existing_repo(wiki_dir: Path) -> git.Repo | None:
    """The wiki's repository as it is (nothing created or configured), or None when the
    folder is not one."""
    if not (wiki_dir / ".git").exists():
        return None
    return git.Repo(wiki_dir)


def _read(repo: git.Repo, *args: str) -> str:
    """A git command's output, unstripped (page text keeps its last newline)."""
    out = repo.git.execute(
        ["git", *_READ_OPTS, *args], stdout_as_string=False, strip_newline_in_stdout=False
    )
    # surrogateescape round-trips non-UTF-8 file names back into git arguments.
    return out.decode("utf-8", "surrogateescape")


def file_at(repo: git.Repo, commit: str, path: str) -> str | None:
    """A file's text at a commit, or None when the path did not exist there."""
    try:
        out = _read(repo, "show", "--no-textconv", f"{commit}:{path}")
    except git.GitCommandError:
        return None
    return out.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def resolve_commit(repo: git.Repo, rev: str) -> str | None:
    """The full sha of a commit-ish (a sha, branch, tag, HEAD~2), or None when none is."""
    try:
        return _read(repo, "rev-parse", "--verify", "--end-of-options",
                     f"{rev}^{{commit}}").strip()
    except git.GitCommandError:
        return None


def renames(repo: git.Repo) -> list[tuple[str, str]]:
    """Every (old, new) rename in the repository, oldest first."""
    if head(repo) is None:
        return []
    out = _read(repo, "log", "--reverse", "--diff-filter=R", "-M", "--name-status", "-z",
                "--format=")
    tokens = [t.lstrip("\n") for t in out.split("\0")]
    pairs, i = [], 0
    while i < len(tokens):
        if re.fullmatch(r"R\d*", tokens[i]) and i + 2 < len(tokens):
            pairs.append((tokens[i + 1], tokens[i + 2]))
            i += 3
        else:
            i += 1
    return pairs


def deleted_in(repo: git.Repo, path: str) -> tuple[str, str] | None:
    """(short sha, date) of the last commit that deleted the path, or None."""
    out = _read(repo, "log", "-1", "--diff-filter=D", "--format=%h %cs", "--", path).strip()
    return (out.split()[0], out.split()[1]) if out else None


def in_history(repo: git.Repo, path: str) -> bool:
    """True when some commit touched the path."""
    if head(repo) is None:
        return False
    return bool(_read(repo, "log", "-1", "--format=%H", "--", path).strip())


def file_log(repo: git.Repo, path: str) -> list[tuple[str, str, str, str, str]]:
    """Every commit that changed a file, newest first, following renames: (sha, ISO committer
    date, author, subject, the file's path in that commit)."""
    if head(repo) is None:
        return []
    out = _read(repo, "log", "--follow", "-M", _LOG_FORMAT, "--name-only", "-z", "--", path)
    found, current = [], path
    for record in out.split(_REC)[1:]:
        header, _, files = record.partition("\0")
        sha, when, author, subject = header.rstrip("\n").split(_FIELD, 3)
        names = [n for n in files.removeprefix("\n").split("\0") if n.strip("\n")]
        # A merge lists no files; the file kept the path of the newer commit.
        current = names[0].strip("\n") if names else current
        found.append((sha, when, author, subject, current))
    return found


def commits_touching(repo: git.Repo, rev: str, paths: list[str]) -> set[str]:
    """The commits reachable from `rev` that changed one of the paths."""
    return set(_read(repo, "rev-list", rev, "--", *paths).split())


# --------------------------------------------------------------------------------------------
# Health (wikimem doctor)
# --------------------------------------------------------------------------------------------


def git_version() -> str | None:
    """`git --version`, or None when git is not installed."""
    exe = shutil.which("git")
    if not exe:
        return None
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()


def fsck_problems(wiki_dir: Path) -> str | None:
    """What `git fsck` finds wrong in the wiki's repository, or None when it finds nothing."""
    fsck = subprocess.run(["git", "fsck", "--no-dangling", "--no-progress"], cwd=wiki_dir,
                          capture_output=True, text=True)
    if fsck.returncode == 0:
        return None
    return (fsck.stderr or fsck.stdout).strip()


def uncommitted_count(wiki_dir: Path) -> int:
    """How many entries `git status --porcelain` lists (changes not committed yet)."""
    return len(subprocess.run(["git", "status", "--porcelain"], cwd=wiki_dir,
                              capture_output=True, text=True).stdout.splitlines())


def index_lock(wiki_dir: Path) -> Path | None:
    """The repository's index.lock when one exists (a git process is running, or died)."""
    lock = wiki_dir / ".git" / "index.lock"
    return lock if lock.exists() else None
