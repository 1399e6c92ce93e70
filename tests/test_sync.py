"""Team memory over a git remote (issue 15): each "machine" is its own WIKIMEM_HOME and its
own clone of the project, the remote a local bare repository."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fixture_payload


class Machine:
    def __init__(self, base: Path, name: str, remote: Path | None):
        self.name = name
        self.home = base / name / "home"
        self.clone = base / name / "proj"  # the same folder name everywhere: the project name
        self.clone.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.clone)], check=True)
        self.env = {**os.environ, "WIKIMEM_HOME": str(self.home), "WIKIMEM_AUTO_COMPILE": "0"}
        self.run("init")
        if remote is not None:
            self.run("remote", "set", str(remote), "--machine", name)

    def run(self, *args: str, check: bool = True, env: dict | None = None
            ) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=self.clone,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=300)
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "wikimem", *args], cwd=self.clone,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def hook(self, payload: dict) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "wikimem", "hook", "claude-code"],
                                cwd=self.clone, env=self.env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdin.write(json.dumps({**payload, "cwd": str(self.clone)}).encode())
        proc.stdin.close()
        proc.stdin = None
        return proc

    @property
    def folder(self) -> Path:
        return Path(self.run("path", "--project-dir").stdout.strip())

    @property
    def wiki(self) -> Path:
        return self.folder / "wiki"


def record_session(m: Machine, session: str, prompt: str) -> None:
    procs = [m.hook(fixture_payload("session_start", session_id=session)),
             m.hook(fixture_payload("user_prompt_submit", session_id=session, prompt=prompt))]
    for p in procs:
        finish(p)


def finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (out, err)


def pages(wiki: Path) -> dict[str, bytes]:
    return {p.relative_to(wiki).as_posix(): p.read_bytes() for p in sorted(wiki.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(wiki).parts}


def diff_r(a: Path, b: Path) -> str:
    done = subprocess.run(["diff", "-r", "-x", ".git", str(a), str(b)], capture_output=True,
                          text=True)
    return done.stdout


@pytest.fixture
def remote(tmp_path) -> Path:
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def test_three_machines_converge_to_identical_wikis_equal_to_a_rebuild(tmp_path, remote):
    ms = [Machine(tmp_path, n, remote) for n in ("ma", "mb", "mc")]
    # Offline work on every machine, sessions and structured memory.
    for i, m in enumerate(ms):
        record_session(m, f"{m.name}-one", f"first task on machine {i}")
        m.run("decide", f"Use tool {i} for builds", "--why", f"machine {i} says so")
        m.run("task", "add", f"Port module {i}")
        m.run("lesson", f"Step {i} broke", "--correct", "do it the other way")
    # Sync in one order, record more, sync concurrently, then everyone catches up.
    for m in ms:
        m.run("sync")
    procs = []
    for i, m in enumerate(ms):
        procs.append(m.hook(fixture_payload("session_start", session_id=f"{m.name}-two")))
        procs.append(m.start("sync"))
        m.run("note", f"second round note {i}")
    for p in procs:
        finish(p)
    for m in reversed(ms):
        m.run("sync")
    for m in ms:
        m.run("sync")
    ids = {m.name: json.loads(m.run("task", "list", "--json").stdout) for m in ms}
    assert len({json.dumps(v, sort_keys=True) for v in ids.values()}) == 1
    assert sorted(t["id"] for t in ids["ma"]) == ["T1-ma", "T1-mb", "T1-mc"]
    first = pages(ms[0].wiki)
    assert any(p.startswith("sessions/") and "mc-one" in p for p in first), sorted(first)
    assert "decisions/D1-mb-use-tool-1-for-builds.md" in first
    for m in ms[1:]:
        assert diff_r(ms[0].wiki, m.wiki) == ""
    # A rebuild from the union of the logs (a fresh machine given machine a's raw folder).
    fresh = Machine(tmp_path, "fresh", None)
    raw = fresh.folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for log in (ms[0].folder / "raw").glob("*.jsonl"):
        shutil.copy(log, raw / log.name)
    fresh.run("compile", "--rebuild")
    assert diff_r(ms[0].wiki, fresh.wiki) == ""
    # And the ids people saw before syncing are the ids they see after.
    assert "decisions/D1-ma-use-tool-0-for-builds.md" in pages(fresh.wiki)


def test_a_failed_sync_is_reported_in_doctor_and_the_error_log_and_the_next_one_works(
        tmp_path, remote):
    m = Machine(tmp_path, "ma", tmp_path / "nowhere.git")
    m.run("note", "offline work goes on")
    done = m.run("sync", check=False)
    assert done.returncode == 1 and done.stderr.startswith("Error: cannot fetch")
    assert "Traceback" not in done.stderr
    errors = (m.folder / "state" / "errors.log").read_text()
    assert '"stage": "sync"' in errors
    doctor = json.loads(m.run("doctor", "--json", check=False).stdout)
    sync = [c for c in doctor if c["name"] == "sync"]
    assert sync[0]["status"] == "WARN" and "cannot fetch" in sync[0]["detail"]
    m.run("remote", "set", str(remote))
    m.run("sync")
    doctor = json.loads(m.run("doctor", "--json", check=False).stdout)
    assert [c["status"] for c in doctor if c["name"] == "sync"] == ["PASS"]


def test_the_same_page_edited_on_two_machines_keeps_both_edits_and_shows_the_conflict(
        tmp_path, remote):
    a, b = Machine(tmp_path, "ma", remote), Machine(tmp_path, "mb", remote)
    a.run("decide", "Use SQLite for the cache", "--why", "it is everywhere")
    a.run("sync")
    b.run("sync")
    a.run("sync")
    page = "decisions/D1-ma-use-sqlite-for-the-cache.md"
    assert (b.wiki / page).read_bytes() == (a.wiki / page).read_bytes()
    for m, words in ((a, "Alice: only for the read path."), (b, "Bob: and the write path.")):
        (m.wiki / page).write_text((m.wiki / page).read_text() + f"\n{words}\n")
    a.run("sync")
    b.run("sync")
    a.run("sync")
    for m in (a, b):
        text = (m.wiki / page).read_text()
        assert "Alice: only for the read path." in text and "Bob: and the write path." in text
        assert "<<<<<<< ma" in text and "<<<<<<< mb" in text
        doctor = json.loads(m.run("doctor", "--json", check=False).stdout)
        assert any(c["name"] == "sync:conflict" and page in c["detail"] for c in doctor)
        lint = json.loads(m.run("lint", "--json", check=False).stdout)["findings"]
        assert [f["pages"] for f in lint if f["code"] == "sync-conflict"] == [[page]]
    assert diff_r(a.wiki, b.wiki) == ""
    # A person merges it on one machine: that version wins everywhere, the conflict is gone.
    (b.wiki / page).write_text("---\ntitle: Use SQLite\n---\nMerged: read and write path.\n")
    b.run("sync")
    a.run("sync")
    merged = "---\ntitle: Use SQLite\n---\nMerged: read and write path.\n"
    assert (a.wiki / page).read_text() == merged
    doctor = json.loads(a.run("doctor", "--json", check=False).stdout)
    assert not any(c["name"] == "sync:conflict" for c in doctor)
    lint = json.loads(a.run("lint", "--json", check=False).stdout)["findings"]
    assert not any(f["code"] == "sync-conflict" for f in lint)
    # Both edits stay in the wiki's history.
    log = subprocess.run(["git", "-C", str(a.wiki), "log", "-p", "--", page],
                         capture_output=True, text=True).stdout
    assert "Alice: only for the read path." in log and "Bob: and the write path." in log


def _claimer(args):
    home, clone, agent, start = args
    os.environ["WIKIMEM_HOME"] = home
    from wikimem.errors import WikimemError
    from wikimem.project import Registry
    from wikimem.sync.claims import RemoteMemory

    project = Registry().resolve(clone, create=False)
    got = []
    start.wait()
    while True:
        try:
            got.append(RemoteMemory(project, agent=agent).claim().id)
        except WikimemError as exc:
            assert "No todo task" in str(exc), exc
            return got


def test_two_machines_four_processes_each_never_claim_a_task_twice(tmp_path, remote):
    a, b = Machine(tmp_path, "ma", remote), Machine(tmp_path, "mb", remote)
    from wikimem.memory import Memory
    from wikimem.project import Registry

    os.environ["WIKIMEM_HOME"] = str(a.home)
    project = Registry().resolve(a.clone, create=False)
    m = Memory(project)
    for i in range(50):
        m.add("task", f"Task number {i}")
    a.run("sync")
    b.run("sync")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(8) as pool:
            pending = pool.map_async(_claimer, [
                (str(mach.home), str(mach.clone), f"p{k}", start)
                for mach in (a, b) for k in range(4)])
            start.set()
            results = pending.get(timeout=600)
    claimed = [t for got in results for t in got]
    assert len(claimed) == len(set(claimed)) == 50
    assert all(results[:4]) or all(results[4:])  # (both machines took part, usually)
    a.run("sync")
    b.run("sync")
    a.run("sync")
    for mach in (a, b):
        tasks = json.loads(mach.run("task", "list", "--json").stdout)
        holders = {t["id"]: t["holder"] for t in tasks}
        for k, got in enumerate(results):
            where = "ma" if k < 4 else "mb"
            assert all(holders[t] == f"p{k % 4}@{where}" for t in got)


def test_a_claim_expires_on_the_other_machine_too_with_the_skew_tolerance(tmp_path, remote):
    import time

    from wikimem.errors import WikimemError
    from wikimem.project import Registry
    from wikimem.sync.claims import RemoteMemory

    a, b = Machine(tmp_path, "ma", remote), Machine(tmp_path, "mb", remote)
    a.run("task", "add", "Write the migration")
    a.run("sync")
    b.run("sync")
    pa = Registry(a.home).resolve(a.clone, create=False)
    pb = Registry(b.home).resolve(b.clone, create=False)
    expiry = {"claim_expiry_minutes": 1 / 60}  # one second

    assert RemoteMemory(pa, agent="worker", **expiry, skew_seconds=1).claim().id == "T1-ma"
    # The loser is told who holds it, through the CLI too.
    done = b.run("task", "claim", "T1-ma", "--agent", "other", check=False)
    assert done.returncode == 1 and "T1-ma is claimed by worker@ma" in done.stderr
    time.sleep(1.2)
    # Past the expiry, but within the tolerance for another machine's clock: still held.
    with pytest.raises(WikimemError, match="claimed by worker@ma"):
        RemoteMemory(pb, agent="other", **expiry, skew_seconds=30).claim("T1-ma")
    time.sleep(1.0)
    got = RemoteMemory(pb, agent="other", **expiry, skew_seconds=0.5).claim("T1-ma")
    assert got.holder == "other@mb"
    assert [e["event"] for e in got.events][-2:] == ["expired", "claimed"]
    # The old holder learns it lost the claim when it next heartbeats.
    with pytest.raises(WikimemError, match="held by other@mb, not worker@ma"):
        RemoteMemory(pa, agent="worker", **expiry).task_op("task_heartbeat", "T1-ma")


def test_a_pattern_added_after_capture_blocks_the_push_and_exclude_keeps_the_session_here(
        tmp_path, remote):
    a = Machine(tmp_path, "ma", remote)
    record_session(a, "plans", "the staging code is ZEBRA-4417-QUOKKA, keep it")
    record_session(a, "harmless", "rename the helper")
    (a.clone / ".wikimem.toml").write_text('[redact]\npatterns = ["ZEBRA-\\\\d+-[A-Z]+"]\n')
    done = a.run("sync", check=False)
    assert done.returncode == 1, done.stdout
    assert re.search(r"raw/plans.jsonl line [12] ", done.stderr), done.stderr
    assert "[REDACTED:custom]" in done.stderr
    objects = subprocess.run(["git", "-C", str(remote), "rev-list", "--all", "--objects"],
                             capture_output=True, text=True).stdout
    assert objects == ""  # nothing went out, the harmless session neither
    (a.clone / ".wikimem.toml").write_text(
        '[redact]\npatterns = ["ZEBRA-\\\\d+-[A-Z]+"]\n[sync]\nexclude = ["plans"]\n')
    a.run("sync")
    tree = subprocess.run(["git", "-C", str(remote), "ls-tree", "-r", "--name-only",
                           "refs/wikimem/memory"], capture_output=True, text=True).stdout
    assert "machines/ma/raw/harmless.jsonl" in tree and "plans" not in tree
    dump = subprocess.run(f"git -C {remote} cat-file --batch-all-objects --batch",
                          shell=True, capture_output=True).stdout
    assert b"ZEBRA-4417" not in dump


def _all_bytes(folder: Path) -> bytes:
    """Every file under a folder, and every git object of the repositories in it, decoded."""
    out = []
    for p in [folder, *folder.rglob("*")]:
        if p.is_file():
            out.append(p.read_bytes())
        if p.is_dir() and (p / "objects").is_dir() and (p / "HEAD").is_file():
            out.append(subprocess.run(["git", "--git-dir", str(p), "cat-file",
                                       "--batch-all-objects", "--batch"],
                                      capture_output=True).stdout)
    return b"".join(out)


def test_purge_rewrites_the_remote_and_every_machine_follows_on_its_next_sync(
        tmp_path, remote):
    secret = "plum-" + "harbour-lantern-" + "9921"
    a, b = Machine(tmp_path, "ma", remote), Machine(tmp_path, "mb", remote)
    record_session(a, "leaky", f"deploy with {secret} please")
    a.run("sync")
    b.run("note", f"the deploy host {secret} is temporary")
    b.run("sync")
    a.run("sync")
    assert secret.encode() in _all_bytes(b.home) and secret.encode() in _all_bytes(remote)
    done = subprocess.run([sys.executable, "-m", "wikimem", "purge", "--secret", "-", "--yes"],
                          cwd=a.clone, env=a.env, input=secret + "\n", capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "remote: rewritten" in done.stdout
    assert secret.encode() not in _all_bytes(remote)
    assert secret.encode() not in _all_bytes(a.home)
    out = b.run("sync").stdout
    assert "Purged a secret value here" in out
    assert secret.encode() not in _all_bytes(b.home)
    a.run("sync")
    b.run("sync")
    assert diff_r(a.wiki, b.wiki) == ""
    assert "[REDACTED:purged]" in (b.folder / "raw" / "leaky.jsonl").read_text()


def test_auto_sync_after_a_compile_runs_in_the_background(tmp_path, remote):
    import time

    a = Machine(tmp_path, "ma", remote)
    (a.clone / ".wikimem.toml").write_text("[sync]\nauto = true\n")
    a.run("note", "pushed without asking")
    a.run("compile")
    end = time.time() + 120
    while time.time() < end:
        head = subprocess.run(["git", "--git-dir", str(remote), "rev-parse", "-q", "--verify",
                               "refs/wikimem/memory"], capture_output=True, text=True).stdout
        if head.strip():
            break
        time.sleep(0.3)
    tree = subprocess.run(["git", "--git-dir", str(remote), "ls-tree", "-r", "--name-only",
                           "refs/wikimem/memory"], capture_output=True, text=True).stdout
    assert "machines/ma/raw/wikimem-memory.jsonl" in tree


def test_adopt_appends_what_grew_and_replaces_what_was_rewritten(tmp_path):
    from wikimem.capture import rawlog

    raw = tmp_path / "raw"
    line = b'{"key":"u-1","v":1}\n'
    assert rawlog.adopt(raw, "peer-log", line) == "appended"
    before = os.stat(raw / "peer-log.jsonl").st_ino
    assert rawlog.adopt(raw, "peer-log", line) == "same"
    assert rawlog.adopt(raw, "peer-log", line + b'{"key":"u-2","v":1}\n') == "appended"
    assert os.stat(raw / "peer-log.jsonl").st_ino == before  # appended in place
    assert (raw / "peer-log.keys").read_text().split() == ["u-1", "u-2"]
    assert rawlog.adopt(raw, "peer-log", b'{"key":"u-9","v":1}\n') == "replaced"
    assert (raw / "peer-log.jsonl").read_bytes() == b'{"key":"u-9","v":1}\n'
    with pytest.raises(ValueError):
        rawlog.adopt(raw, "../escape", line)


def test_a_session_id_recorded_on_two_machines_is_kept_by_each_and_reported(tmp_path, remote):
    a, b = Machine(tmp_path, "ma", remote), Machine(tmp_path, "mb", remote)
    record_session(a, "same-id", "work on machine a")
    record_session(b, "same-id", "work on machine b")
    a.run("sync")
    done = b.run("sync")
    assert "Not adopted: raw/same-id.jsonl" in done.stderr
    assert "machine b" in (b.folder / "raw" / "same-id.jsonl").read_text()
    doctor = json.loads(b.run("doctor", "--json", check=False).stdout)
    assert any(c["name"] == "sync:clashes" and "same-id.jsonl" in c["detail"] for c in doctor)


def test_the_compile_after_a_sync_shows_its_stages(tmp_path):
    remote = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    a, b = Machine(tmp_path, "a", remote), Machine(tmp_path, "b", remote)
    record_session(a, "progress-1", "Make the sync show its progress.")
    a.run("sync")
    done = b.run("sync")  # (piped: plain lines on stderr, as `wikimem compile` prints them)
    finished = [ln.split(":")[0] for ln in done.stderr.splitlines()
                if re.fullmatch(r"[a-z ]+: [\d,]+ in \d+\.\d s \(([\d,]+|-)/s\)", ln)]
    assert finished[:1] == ["reading logs"] and finished[-1:] == ["indexing"], done.stderr
    assert done.stdout.startswith("Synced with ")

