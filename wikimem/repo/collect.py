"""Reading an existing repository for `wikimem bootstrap` (standard library + the git CLI).

Two kinds of facts come out of a repository:

- commits, from ONE `git log` over the whole history, parsed as a stream (records start with
  RS and their fields are separated by US; the file list that follows is NUL-separated);
- files of the committed tree at HEAD (`git ls-tree`), chosen and given a role by `layout`
  (driven by `bootstrap/sources.txt`) and read in one `git cat-file --batch`; `extract`
  reduces each to what the wiki uses, so the raw log stores facts, not whole files.

Nothing here writes anything; `record` records what `collect` returns.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wikimem.errors import WikimemError
from wikimem.repo.extract import extract
from wikimem.repo.layout import Entry, Layout, Planned, plan

RS, US = b"\x1e", b"\x1f"
LOG_FORMAT = "%x1e%H%x1f%P%x1f%aN%x1f%aI%x1f%s%x1f%b%x1f"
# Keep a user's git configuration (signature checks, colours, pagers) out of our parsing.
GIT = ["git", "-c", "log.showSignature=false", "-c", "core.quotepath=off", "-c", "color.ui=never",
       "--no-pager"]
MAX_FILES_PER_COMMIT = 200  # the raw log caps lists at 200 items anyway
MAX_BODY = 1500


def _git(root: Path, *args: str, check: bool = True, input: bytes | None = None) -> bytes:
    try:
        done = subprocess.run([*GIT, "-C", str(root), *args], capture_output=True,
                              input=input, check=False)
    except FileNotFoundError as exc:
        raise WikimemError("git is not installed or not on PATH; bootstrap reads the "
                           "repository with it.") from exc
    if check and done.returncode:
        msg = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise WikimemError(f"git {args[0]} failed in {root}: {msg[-1] if msg else 'error'}")
    return done.stdout


def repo_root(path: Path) -> Path:
    """The top of the git repository holding `path`."""
    try:
        out = _git(path, "rev-parse", "--show-toplevel")
    except WikimemError:
        raise WikimemError(f"{path} is not inside a git repository; `wikimem bootstrap` "
                           "reads the repository's history and files.") from None
    return Path(out.decode("utf-8", "replace").strip())


@dataclass
class Head:
    commit: str
    tree: str
    date: str  # committer date, ISO 8601 with offset
    remote: str = ""


def head(root: Path) -> Head:
    out = _git(root, "log", "-1", "--format=%H%x1f%T%x1f%cI", "HEAD", check=False)
    parts = out.decode("utf-8", "replace").strip().split("\x1f")
    if len(parts) != 3:
        raise WikimemError(f"The repository at {root} has no commits yet; commit something, "
                           "then run `wikimem bootstrap` again.")
    remote = _git(root, "config", "--get", "remote.origin.url", check=False)
    return Head(*parts, remote=remote.decode("utf-8", "replace").strip())


@dataclass
class Commit:
    """One commit as `git log` gives it (author names only, never e-mail addresses)."""

    hash: str
    parents: int
    author: str
    date: str  # author date, ISO 8601 with the author's offset
    subject: str
    body: str
    files: list[str] = field(default_factory=list)
    status: str = ""  # one letter (A, M, D, T...) per file in `files`
    files_total: int = 0

    def data(self) -> dict:
        return {"op": "commit", "hash": self.hash, "parents": self.parents,
                "author": self.author, "date": self.date, "subject": self.subject,
                "body": self.body, "files": self.files, "status": self.status,
                "files_total": self.files_total}


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def parse_record(record: bytes) -> Commit | None:
    """One RS-delimited record of LOG_FORMAT followed by `--name-status -z` output."""
    fields = record.split(US, 6)
    if len(fields) != 7 or len(fields[0]) < 40:
        return None
    sha, parents, author, date, subject, body, rest = fields
    tokens = rest.lstrip(b"\0\n").split(b"\0")
    files, status = [], []
    for i in range(0, len(tokens) - 1, 2):
        letter, path = tokens[i], tokens[i + 1]
        if letter and path:
            files.append(_decode(path))
            status.append(chr(letter[0]))
    body_text = _decode(body).strip()
    if len(body_text) > MAX_BODY:
        body_text = body_text[:MAX_BODY].rstrip() + " …"
    return Commit(
        hash=sha.decode("ascii", "replace"), parents=len(parents.split()),
        author=_decode(author).strip(), date=_decode(date).strip(),
        subject=_decode(subject).strip(), body=body_text,
        files=files[:MAX_FILES_PER_COMMIT], status="".join(status[:MAX_FILES_PER_COMMIT]),
        files_total=len(files),
    )


def iter_commits(root: Path, since: str | None = None) -> Iterator[Commit]:
    """Every commit reachable from HEAD, newest first, from one streamed `git log`."""
    cmd = [*GIT, "-C", str(root), "log", "--no-renames", "--name-status", "-z",
           "--encoding=UTF-8", f"--format={LOG_FORMAT}"]
    if since:
        cmd.append(f"--since={since}")
    cmd += ["HEAD", "--"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        buf = b""
        try:
            while chunk := proc.stdout.read(1 << 20):
                buf += chunk
                records = buf.split(RS)
                buf = records.pop()
                for rec in records:
                    if rec and (commit := parse_record(rec)):
                        yield commit
            if buf and (commit := parse_record(buf)):
                yield commit
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code:
            err.seek(0)
            msg = err.read().decode("utf-8", "replace").strip().splitlines()
            raise WikimemError(f"git log failed in {root}: {msg[-1] if msg else code}")


def tree(root: Path) -> list[Entry]:
    """Every file of the committed tree at HEAD (submodules and symlinks left out)."""
    out = _git(root, "ls-tree", "-r", "-z", "-l", "--full-tree", "HEAD")
    entries = []
    for item in out.split(b"\0"):
        if not item:
            continue
        meta, _, path = item.partition(b"\t")
        parts = meta.split()
        if len(parts) != 4 or parts[1] != b"blob" or parts[0] == b"120000":
            continue
        size = int(parts[3]) if parts[3].isdigit() else 0
        entries.append(Entry(_decode(path), parts[2].decode("ascii"), size))
    return entries


def read_blobs(root: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of blobs, from one `git cat-file --batch`."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    out = _git(root, "cat-file", "--batch", input=("\n".join(wanted) + "\n").encode())
    blobs, pos = {}, 0
    for sha in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        blobs[sha] = out[pos:pos + size]
        pos += size + 1
    return blobs


# --- collect -------------------------------------------------------------------------------


@dataclass
class Collected:
    """Everything read from a repository in one run."""

    root: Path
    head: Head
    layout: Layout
    commits: list[Commit]
    planned: list[Planned]
    entries: list[Entry]

    def files(self, skip: Callable[[Planned], bool], progress=None) -> list[dict]:
        """Extracted facts of the planned files, except those `skip` says are unchanged.
        `progress(stage, done, total)` is told how many were read."""
        todo = [p for p in self.planned if not skip(p)]
        if progress:
            progress("reading files", 0, len(todo))
        blobs = read_blobs(self.root, [p.blob for p in todo])
        out = []
        for n, item in enumerate(todo, 1):
            raw = blobs.get(item.blob)
            if raw is not None:
                out.append(extract(item, raw))
            if progress:
                progress("reading files", n, len(todo))
        return out


def collect(path: Path, since: str | None = None, progress=None) -> Collected:
    """Read the repository at `path`: commits (from `since`), the tree at HEAD, the plan.
    `progress(stage, done, total)` is told how many commits were read (the total is known
    only at the end: git log streams them)."""
    root = repo_root(path)
    top = head(root)
    commits = []
    for commit in iter_commits(root, since):
        commits.append(commit)
        if progress and len(commits) % 100 == 0:
            progress("reading commits", len(commits), None)
    if progress:
        progress("reading commits", len(commits), len(commits))
    entries = tree(root)
    planned, layout = plan(entries)
    return Collected(root, top, layout, commits, planned, entries)
