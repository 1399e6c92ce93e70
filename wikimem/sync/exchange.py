"""`wikimem sync`: exchange a project's sources with its remote, then recompile.

What travels is each machine's own raw logs - its agents' sessions and its structured-memory
log - as `machines/<tag>/raw/<file>.jsonl` on the remote's memory ref. Only the machine
tagged `<tag>` ever writes that folder, so two machines never change the same file and a
sync never merges: it fetches, adopts the other machines' logs (`rawlog.adopt`: appended
when they grew, which is what logs do), puts its own folder on top of the fetched commit
and pushes; if someone pushed meanwhile, git refuses (non-fast-forward) and it goes round
again. Pages are never sent: each machine compiles them from the same logs, and since pages
are a function of the logs, every wiki comes out byte for byte the same.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field

from wikimem.capture import rawlog
from wikimem.capture.observation import utc_now
from wikimem.capture.observe import log_error
from wikimem.errors import WikimemError
from wikimem.fsio import replace_file
from wikimem.locks import locked
from wikimem.memory import MEMORY_SESSION
from wikimem.project import Project, ensure_private_dir
from wikimem.sync import edits, gitsync, settings, tombstones
from wikimem.sync.gitsync import SyncError

MACHINES = "machines"
# A log another machine wrote, kept under its tag: `wikimem-memory.<tag>.jsonl`.
_PEER_INTERNAL = re.compile(r"wikimem-[a-z]+\.[a-z][a-z0-9]*\.jsonl")
# wikimem's own logs that travel (bootstrap's and the LLM's stay on the machine that made
# them: see docs/ARCHITECTURE.md, "Team memory").
_TRAVELLING_INTERNAL = {f"{MEMORY_SESSION}.jsonl"}
MAX_ATTEMPTS = 50


@dataclass
class SyncReport:
    remote: str = ""
    machine: str = ""
    commit: str | None = None  # the remote's head after the sync
    pushed: bool = False  # this machine's logs changed on the remote
    sent: list[str] = field(default_factory=list)  # own logs whose new lines went out
    received: list[str] = field(default_factory=list)  # logs adopted (local names)
    clashes: list[str] = field(default_factory=list)  # another machine's log not adopted
    edited: list[str] = field(default_factory=list)  # pages a person edited elsewhere, written
    conflicts: list[str] = field(default_factory=list)  # pages edited on two machines
    purged: list[str] = field(default_factory=list)  # other machines' purges applied here
    attempts: int = 0  # fetch-push rounds (more than one: another machine pushed meanwhile)
    compiled: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def sync_dir(project: Project):
    return settings.sync_dir(project)


def repo_path(project: Project):
    return sync_dir(project) / "repo.git"


def _read_json(path, default):
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
    return data if isinstance(data, type(default)) else default


def _write_json(path, data) -> None:
    replace_file(path, json.dumps(data, sort_keys=True, separators=(",", ":")).encode())


def adopted(project: Project) -> dict[str, list]:
    """{local log name: [machine tag, blob id]} of the logs adopted from other machines."""
    return _read_json(sync_dir(project) / "adopted.json", {})


def peer_local_name(tag: str, name: str) -> str | None:
    """Where another machine's log lives here: its sessions under their own names, its
    structured memory as `wikimem-memory.<tag>.jsonl`; None for what is not a log."""
    if not name.endswith(".jsonl") or "/" in name:
        return None
    if name in _TRAVELLING_INTERNAL:
        return f"{name[:-6]}.{tag}.jsonl"
    if name.lower().startswith(rawlog.INTERNAL_PREFIX):
        return None
    return name


def own_logs(project: Project, remote: settings.Remote) -> dict[str, str]:
    """{name: path} of the logs this machine wrote that may leave it: its agents' sessions
    (but the `[sync] exclude`d) and its memory log; not what it adopted."""
    taken = adopted(project)
    found = {}
    for name, _ in rawlog.session_file_sizes(project.raw_dir):
        if name in taken or _PEER_INTERNAL.fullmatch(name):
            continue
        if name.lower().startswith(rawlog.INTERNAL_PREFIX) and name not in _TRAVELLING_INTERNAL:
            continue
        if excluded(name, remote.exclude):
            continue
        found[name] = os.path.join(project.raw_dir, name)
    return found


def excluded(name: str, patterns) -> bool:
    """A log or page `[sync] exclude` keeps here: a session id, or a pattern of log file
    names or page paths (`notes/private-*`)."""
    stem = name.removesuffix(".jsonl").removesuffix(".md")
    for pattern in patterns:
        if rawlog.session_filename(pattern) == stem or fnmatch.fnmatchcase(name, pattern) \
                or fnmatch.fnmatchcase(stem, pattern):
            return True
    return False


# --- one round ------------------------------------------------------------------------------


def adopt_peers(project: Project, repo, head: str | None, me: str, report: SyncReport) -> None:
    """Bring the other machines' logs in the fetched commit into the raw folder."""
    manifest = adopted(project)
    wanted: dict[str, tuple[str, str]] = {}
    unknown: set[str] = set()  # here already, but not adopted: ours, or an adoption cut short
    local_names = {name for name, _ in rawlog.session_file_sizes(project.raw_dir)}
    for path, blob in gitsync.tree_files(repo, head, MACHINES).items():
        parts = path.split("/")
        if len(parts) != 4 or parts[2] != "raw" or parts[1] == me:
            continue
        tag, name = parts[1], parts[3]
        local = peer_local_name(tag, name)
        if local is None:
            continue
        prev = manifest.get(local)
        if prev == [tag, blob]:
            continue
        if (prev and prev[0] != tag) or local in wanted:
            _clash(report, local)
            continue
        if prev is None and local in local_names:
            unknown.add(local)
        wanted[local] = (tag, blob)
    if not wanted:
        return
    blobs = gitsync.read_blobs(repo, [blob for _, blob in wanted.values()])
    try:
        for local, (tag, blob) in sorted(wanted.items()):
            data = blobs[blob]
            if local in unknown and not data.startswith(
                    _complete(os.path.join(project.raw_dir, local)) or b"\0"):
                # Trigger: the same session id was recorded on two machines. Why: each
                # machine writes only its own logs. Outcome: this one keeps its own; doctor
                # says so. (A log that is the start of the other machine's is one whose
                # adoption a crash cut short: adopted now.)
                _clash(report, local)
                continue
            if rawlog.adopt(project.raw_dir, local[:-6], data) != "same":
                report.received.append(local)
            manifest[local] = [tag, blob]
    finally:
        _write_json(sync_dir(project) / "adopted.json", manifest)


def _clash(report: SyncReport, local: str) -> None:
    if local not in report.clashes:
        report.clashes.append(local)


def _complete(path: str) -> bytes | None:
    """A log's complete lines (None when the file is gone)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return data[:data.rfind(b"\n") + 1]


def own_blobs(project: Project, repo, logs: dict[str, str]) -> dict[str, tuple[str, bytes | None]]:
    """{name: (blob id, complete bytes or None)} of this machine's logs, hashing only the
    logs that changed since the last sync (`sync/hashed.json`: size, mtime, blob)."""
    cache_path = sync_dir(project) / "hashed.json"
    cache = _read_json(cache_path, {})
    out: dict[str, tuple[str, bytes | None]] = {}
    todo: list[tuple[str, bytes]] = []
    for name, path in logs.items():
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        entry = cache.get(name)
        if entry and entry[:2] == [st.st_size, st.st_mtime_ns]:
            out[name] = (entry[2], None)
            continue
        data = _complete(path)
        if data is None or not data:
            continue
        todo.append((name, data))
        if len(data) == st.st_size:
            cache[name] = [st.st_size, st.st_mtime_ns, None]
    for (name, data), blob in zip(todo, gitsync.write_blobs(repo, [d for _, d in todo]),
                                  strict=True):
        out[name] = (blob, data)
        if name in cache and cache[name][2] is None:
            cache[name][2] = blob
    cache = {k: v for k, v in cache.items() if k in logs and v[2]}
    _write_json(cache_path, cache)
    return out


def check_extends(repo, name: str, remote_blob: str, data: bytes | None, path: str,
                  tag: str) -> int:
    """A machine's log only grows: the remote's copy must be where the local one starts.
    Otherwise two machines share one tag (a copied home), and pushing would lose lines."""
    if data is None:
        data = _complete(path) or b""
    old = gitsync.read_blobs(repo, [remote_blob])[remote_blob]
    if not data.startswith(old):
        raise SyncError(f"The remote's raw/{name} of machine {tag!r} is not the start of this "
                        "machine's: another machine uses the same tag (a copied wikimem "
                        "home?). Give this one its own: remove sync/remote.json under the "
                        "project's folder and `wikimem remote set` again.")
    return len(old)


def peer_edits(repo, head: str | None, me: str) -> dict[str, dict[str, dict]]:
    """{page: {tag: record}} of the pages people edited on other machines."""
    found: dict[str, tuple[str, str]] = {}
    for path, blob in gitsync.tree_files(repo, head, MACHINES).items():
        parts = path.split("/", 3)
        if len(parts) == 4 and parts[2] == edits.EDITS and parts[1] != me \
                and parts[3].endswith(".json"):
            found[path] = (parts[1], blob)
    blobs = gitsync.read_blobs(repo, [blob for _, blob in found.values()])
    records: dict[str, dict[str, dict]] = {}
    for path, (tag, blob) in found.items():
        try:
            record = json.loads(blobs[blob])
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("text"), str):
            rel = path.split("/", 3)[3][:-5]
            records.setdefault(rel, {})[tag] = {"text": record["text"], "supersedes": sorted(
                str(h) for h in record.get("supersedes") or [])}
    return records


def follow_purges(project: Project, repo, head: str | None, me: str, report: SyncReport,
                  apply_purge) -> None:
    """Apply here the purges other machines made (their tombstones), before adopting their
    rewritten logs: `apply_purge("session", id)` / `apply_purge("secret", value)`."""
    waiting = tombstones.pending(project, repo, head)
    if not waiting:
        return
    if apply_purge is None:
        raise SyncError(f"{len(waiting)} purge(s) made on another machine must be applied "
                        "here first: run `wikimem sync`.")
    for name, stone in waiting:
        if stone.get("kind") == "session" and isinstance(stone.get("session"), str):
            apply_purge("session", stone["session"])
            report.purged.append(f"session {stone['session']}")
        elif stone.get("kind") == "secret":
            value = tombstones.recover_value(stone, _changed_logs(project, repo, head, me))
            if value is not None:  # (None: this machine never held it)
                apply_purge("secret", value)
                report.purged.append("a secret value")
        tombstones.mark_applied(project, [name])
    manifest = adopted(project)
    for local in list(manifest):
        if not os.path.exists(os.path.join(project.raw_dir, local)):
            del manifest[local]
    _write_json(sync_dir(project) / "adopted.json", manifest)
    gitsync.forget_old_objects(repo)


def _changed_logs(project: Project, repo, head: str | None, me: str):
    """(local bytes, the remote's bytes) of every log the remote no longer extends."""
    files = {}
    for path, blob in gitsync.tree_files(repo, head, MACHINES).items():
        parts = path.split("/")
        if len(parts) == 4 and parts[2] == "raw":
            local = parts[3] if parts[1] == me else peer_local_name(parts[1], parts[3])
            if local:
                files[local] = blob
    blobs = gitsync.read_blobs(repo, list(files.values()))
    for local, blob in sorted(files.items()):
        old = _complete(os.path.join(project.raw_dir, local))
        if old and not blobs[blob].startswith(old):
            yield old, blobs[blob]


def sync_locked(project: Project, remote: settings.Remote, report: SyncReport,
                check=None, apply_purge=None) -> None:
    """Fetch, adopt, push this machine's logs and edits; again while another machine wins
    the race. `check(name, data)` may refuse a log before it leaves (privacy)."""
    repo = gitsync.open_repo(repo_path(project))
    me = remote.machine
    mine = f"{MACHINES}/{me}/"
    prefix = f"{mine}raw/"
    while True:
        report.attempts += 1
        head = gitsync.fetch(repo, remote.url, remote.ref)
        follow_purges(project, repo, head, me, report, apply_purge)
        adopt_peers(project, repo, head, me, report)
        state = edits.load_state(project)
        written, report.conflicts = edits.exchange(project, me, peer_edits(repo, head, me),
                                                   state)
        report.edited += [rel for rel in written if rel not in report.edited]
        records = edits.own_records(project, state)
        edits.save_state(project, state)
        records = {rel: r for rel, r in records.items() if not excluded(rel, remote.exclude)}
        logs = own_logs(project, remote)
        blobs = own_blobs(project, repo, logs)
        on_remote = gitsync.tree_files(repo, head, mine.rstrip("/"))
        changed = []
        for name, (blob, data) in sorted(blobs.items()):
            old = on_remote.get(prefix + name)
            if old == blob:
                continue
            if data is None:
                data = _complete(logs[name]) or b""
            sent = check_extends(repo, name, old, data, logs[name], me) if old else 0
            if check is not None:  # (what the remote has was checked when it went)
                check(name, data[sent:], data.count(b"\n", 0, sent) + 1)
            changed.append(name)
        files = {prefix + name: blob for name, (blob, _) in blobs.items()}
        texts = [json.dumps(r, sort_keys=True, ensure_ascii=False).encode("utf-8")
                 for r in records.values()]
        if check is not None:
            for rel, data in zip(records, texts, strict=True):
                check(f"wiki/{rel}", data)
        for rel, blob in zip(records, gitsync.write_blobs(repo, texts), strict=True):
            files[f"{mine}{edits.EDITS}/{rel}.json"] = blob
        commit = gitsync.commit(repo, head, files, f"wikimem sync: {me}", replace_under=mine)
        if commit is None:
            report.commit = head
            return
        if gitsync.push(repo, remote.url, commit, remote.ref):
            report.commit, report.pushed, report.sent = commit, True, changed
            return
        if report.attempts >= MAX_ATTEMPTS:
            raise SyncError(f"the remote kept moving: {MAX_ATTEMPTS} pushes refused; try again")


def sync_project(project: Project, *, compile_settings: dict | None = None,
                 check=None, recompile: bool = True, apply_purge=None) -> SyncReport:
    """`wikimem sync`. Raises WikimemError (the remote unreachable, a push refused for
    privacy...), recorded in the project's error log and `sync/status.json` for doctor."""
    remote = settings.load(project)
    if remote is None:
        raise WikimemError("This project has no remote. Set one with `wikimem remote set URL` "
                           "(any git URL; a bare repository will do).")
    report = SyncReport(remote=remote.url, machine=remote.machine)
    project.ensure_dirs()
    ensure_private_dir(sync_dir(project))
    try:
        if check is None:
            from wikimem.sync.privacy_check import checker

            check = checker(project)
        with locked(sync_dir(project) / "sync.lock"):
            sync_locked(project, remote, report, check, apply_purge)
            gitsync.pack_if_needed(repo_path(project))
    except WikimemError as exc:
        record_failure(project, str(exc))
        raise
    except OSError as exc:
        record_failure(project, f"sync failed: {exc}")
        raise WikimemError(f"sync failed: {exc}") from exc
    record_success(project, report)
    if recompile and (report.received or report.edited or report.purged
                      or not (project.state_dir / "compile.json").exists()):
        from wikimem.compile.build import compile_project

        report.compiled = compile_project(project, **(compile_settings or {})).to_dict()
    return report


def start_background_sync(project: Project) -> bool:
    """`[sync] auto`: after a compile, a detached `wikimem sync` (its output in
    `state/sync.log`; a failure is recorded like any sync's and retried by the next compile).
    Never from the hook process itself. False when auto-sync is off or this is that sync."""
    import subprocess
    import sys

    try:
        remote = settings.load(project)
    except WikimemError:
        return False
    if remote is None or not remote.auto or os.environ.get("WIKIMEM_SYNCING"):
        return False
    log = os.open(project.state_dir / "sync.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        subprocess.Popen([sys.executable, "-m", "wikimem", "--project", project.project_id,
                          "sync"], cwd=project.root, stdin=subprocess.DEVNULL, stdout=log,
                         stderr=log, env={**os.environ, "WIKIMEM_SYNCING": "1"},
                         start_new_session=True)
    finally:
        os.close(log)
    return True


def status(project: Project) -> dict:
    """What the last syncs did: {"ok": time, "error": message, "error_ts": time,
    "failures": failed syncs since the last success, "clashes": [...]}."""
    return _read_json(sync_dir(project) / "status.json", {})


def record_failure(project: Project, message: str) -> None:
    log_error(project.error_log, message, stage="sync")
    data = status(project)
    data.update(error=message, error_ts=utc_now(), failures=int(data.get("failures", 0)) + 1)
    try:
        ensure_private_dir(sync_dir(project))
        _write_json(sync_dir(project) / "status.json", data)
    except OSError:
        pass


def record_success(project: Project, report: SyncReport) -> None:
    data = {"ok": utc_now(), "commit": report.commit, "clashes": report.clashes,
            "conflicts": report.conflicts, "at": time.time()}
    _write_json(sync_dir(project) / "status.json", data)



def purge_remote(project: Project, tombstone: dict, scrub) -> str | None:
    """After a purge here (`wikimem.purge`): rewrite the remote the same way - `scrub(path,
    bytes) -> bytes | None` over every file - with `tombstone`, which every other machine
    follows on its next sync (`tombstones`). The new head, or None without a remote."""
    remote = settings.load(project)
    if remote is None:
        return None
    ensure_private_dir(sync_dir(project))
    try:
        with locked(sync_dir(project) / "sync.lock"):
            repo = gitsync.open_repo(repo_path(project))
            return tombstones.rewrite_remote(project, remote, repo, tombstone, scrub)
    except WikimemError as exc:
        record_failure(project, f"purge on the remote: {exc}")
        raise
