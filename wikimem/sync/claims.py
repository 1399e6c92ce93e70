"""Task claims across machines: git's refusal of a non-fast-forward push as compare-and-swap.

With a remote, every task operation (claim, heartbeat, release, done, fail, and the expiry
a claim performs) runs as one transaction: under the sync lock and the memory log's lock,
fetch the remote and adopt the other machines' memory logs, fold, decide, then push this
machine's memory log with the new observations on top of the fetched commit. If another
machine pushed in between, git refuses and the operation starts again from a fresh fetch;
the observations reach the local log only once the remote took them. Two processes on two
machines can therefore never both claim one task: whichever pushes second sees the first's
claim when it folds again, and is told who holds it.

The expiry of a claim held on another machine is decided only here, on a fresh fetch, and
with the clock-skew tolerance (`[sync] clock_skew_seconds`, default 120): the holder's
heartbeats carry its own clock.
"""

from __future__ import annotations

import os

from wikimem.capture import rawlog
from wikimem.locks import locked
from wikimem.memory import MEMORY_SESSION, Memory
from wikimem.project import Project, ensure_private_dir
from wikimem.sync import exchange, gitsync, settings, tombstones
from wikimem.sync.gitsync import SyncError

MAX_ROUNDS = 200
_LOG = f"{MEMORY_SESSION}.jsonl"


class _Rejected(Exception):
    """The remote moved between the fetch and the push: fold again."""


class _Staged:
    """The memory log inside a transaction: reads what is stored and what was staged;
    appends are staged until the remote takes them."""

    def __init__(self, log: rawlog.SessionLog):
        self.log = log
        self.staged: list = []

    def read(self):
        return self.log.read() + self.staged

    def append(self, obs) -> bool:
        self.staged.append(obs)
        return True

    def append_many(self, observations) -> list[bool]:
        return [self.append(o) for o in observations]


class _Transaction:
    def __init__(self, memory: RemoteMemory):
        self.m = memory
        self._lock = self._tx = None

    def __enter__(self) -> _Staged:
        m = self.m
        ensure_private_dir(exchange.sync_dir(m.project))
        self._lock = locked(exchange.sync_dir(m.project) / "sync.lock")
        self._lock.__enter__()
        try:
            self._tx = rawlog.transaction(m.project.raw_dir, MEMORY_SESSION, internal=True)
            log = self._tx.__enter__()
            self.repo = gitsync.open_repo(exchange.repo_path(m.project))
            self.head = gitsync.fetch(self.repo, m.remote.url, m.remote.ref)
            if tombstones.pending(m.project, self.repo, self.head):
                raise SyncError("Another machine purged data from the team memory: run "
                                "`wikimem sync` (which applies it here) first.")
            exchange.adopt_peers(m.project, self.repo, self.head, m.remote.machine,
                                 exchange.SyncReport())
            self.staged = _Staged(log)
            return self.staged
        except BaseException:
            self._close(None)
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self.staged.staged:
                self._push()
        finally:
            self._close(exc_type)

    def _push(self) -> None:
        m, staged = self.m, self.staged.staged
        path = os.path.join(m.project.raw_dir, _LOG)
        try:
            with open(path, "rb") as f:
                current = f.read()
        except FileNotFoundError:
            current = b""
        glue = b"\n" if current and not current.endswith(b"\n") else b""
        data = current + glue + b"".join(o.to_line() for o in staged)
        name = f"{exchange.MACHINES}/{m.remote.machine}/raw/{_LOG}"
        old = gitsync.tree_files(self.repo, self.head, name).get(name)
        sent = exchange.check_extends(self.repo, _LOG, old, data, path, m.remote.machine) \
            if old is not None else 0
        if m.check is not None:
            m.check(_LOG, data[sent:], data.count(b"\n", 0, sent) + 1)
        (blob,) = gitsync.write_blobs(self.repo, [data])
        commit = gitsync.commit(self.repo, self.head, {name: blob},
                                f"wikimem: {staged[-1].data.get('op')} by {m.agent}")
        if commit is None or not gitsync.push(self.repo, m.remote.url, commit, m.remote.ref):
            raise _Rejected()
        self.staged.log.append_many(staged)  # the same bytes the remote took

    def _close(self, exc_type) -> None:
        try:
            if self._tx is not None:
                self._tx.__exit__(exc_type, None, None)
        finally:
            self._lock.__exit__(exc_type, None, None)


class RemoteMemory(Memory):
    """`Memory` whose task operations are atomic across the machines sharing a remote."""

    fresh = True  # its folds follow a fetch: it may expire other machines' claims

    def __init__(self, project: Project, remote: settings.Remote | None = None, *,
                 check=None, **kwargs):
        remote = remote or settings.load(project)
        if remote is None:
            raise SyncError("This project has no remote; `wikimem remote set URL` first.")
        kwargs.setdefault("skew_seconds", remote.skew_seconds)
        super().__init__(project, **kwargs)
        if check is None:
            from wikimem.sync.privacy_check import checker

            check = checker(project)
        self.remote, self.check = remote, check

    def _task_lock(self):
        return _Transaction(self)

    def _retry(self, method, *args, **kwargs):
        for _ in range(MAX_ROUNDS):
            try:
                return method(*args, **kwargs)
            except _Rejected:
                continue
        raise SyncError(f"the remote kept moving: {MAX_ROUNDS} pushes refused; try again")

    def claim(self, ref=None, *, goal=None):
        return self._retry(super().claim, ref, goal=goal)

    def task_op(self, op, ref, note=""):
        return self._retry(super().task_op, op, ref, note)

    def expire_stale(self):
        return self._retry(super().expire_stale)
