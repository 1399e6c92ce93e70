import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import run_hook

from wikimem.capture import rawlog
from wikimem.capture.observation import Observation, new_id
from wikimem.compile.build import compile_project
from wikimem.fsio import sha256_hex
from wikimem.memory import Memory, memory_observations
from wikimem.project import Registry
from wikimem.wiki.pages import read_page


def obs(key, session="s1", kind="prompt", ts="2026-01-01T00:00:00.000Z", **data):
    return Observation(id=new_id(), key=key, session=session, agent="claude-code", kind=kind,
                       ts=ts, cwd="/x", data=data)


def test_ids_sort_by_time_and_are_unique():
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert new_id(1000) < new_id(2000)
    assert ids[0][14] == "7"  # UUID version 7


def test_round_trip_and_schema_fields(tmp_path):
    o = obs("p-1", prompt="hello")
    assert rawlog.append(tmp_path, o)
    line = (tmp_path / "s1.jsonl").read_text()
    assert list(json.loads(line)) == ["v", "id", "key", "session", "agent", "kind", "ts", "cwd",
                                      "data"]
    back = rawlog.read(tmp_path / "s1.jsonl").observations
    assert back == [o]


def test_agent_ids_are_unique_per_session_payload_hashes_only_consecutively(tmp_path):
    assert rawlog.append(tmp_path, obs("u-a"))
    assert rawlog.append(tmp_path, obs("p-continue"))
    assert not rawlog.append(tmp_path, obs("p-continue"))  # immediate re-delivery
    assert not rawlog.append(tmp_path, obs("u-a"))  # same agent id, any time later
    assert rawlog.append(tmp_path, obs("u-b"))
    assert rawlog.append(tmp_path, obs("p-continue"))  # typed again after other events
    assert len(rawlog.read(tmp_path / "s1.jsonl").observations) == 4


def test_files_are_private(tmp_path):
    raw = tmp_path / "raw"
    rawlog.append(raw, obs("p-1"))
    assert (raw.stat().st_mode & 0o777) == 0o700
    assert ((raw / "s1.jsonl").stat().st_mode & 0o777) == 0o600


def test_partial_last_line_is_skipped_and_isolated(tmp_path):
    rawlog.append(tmp_path, obs("p-1"))
    with open(tmp_path / "s1.jsonl", "ab") as f:
        f.write(b'{"v":1,"id":"trunc')  # a writer killed mid-append
    first = rawlog.read(tmp_path / "s1.jsonl")
    assert len(first.observations) == 1 and not first.bad_lines
    rawlog.append(tmp_path, obs("p-2"))
    result = rawlog.read(tmp_path / "s1.jsonl")
    assert [o.key for o in result.observations] == ["p-1", "p-2"]
    assert result.bad_lines == [2]


def test_read_from_offset_returns_only_new(tmp_path):
    rawlog.append(tmp_path, obs("p-1"))
    end = rawlog.read(tmp_path / "s1.jsonl").end_offset
    rawlog.append(tmp_path, obs("p-2"))
    new = rawlog.read(tmp_path / "s1.jsonl", end)
    assert [o.key for o in new.observations] == ["p-2"]
    assert new.end_offset == os.path.getsize(tmp_path / "s1.jsonl")


def test_hostile_session_ids_stay_inside(tmp_path):
    for sid in ("../../etc/passwd", "a" * 10_000, "", "x/y", ".hidden"):
        rawlog.append(tmp_path, obs("p-" + str(len(sid)), session=sid))
    for p in tmp_path.iterdir():
        assert p.parent == tmp_path
    assert rawlog.session_filename("../../etc").startswith("x-")


# -- session ids that name wikimem's own files (issue 11) ---------------------------------------


@pytest.mark.parametrize("sid", ["wikimem-memory", "WIKIMEM-MEMORY", "wikimem-bootstrap",
                                 "wikimem-llm"])
def test_a_session_id_cannot_write_into_wikimems_own_logs(repo, sid):
    Memory(Registry().resolve(repo), agent="test").add("note", "Keep notes short")
    r = run_hook({"session_id": sid, "cwd": str(repo), "hook_event_name": "UserPromptSubmit",
                  "prompt": "Plan the walrus migration for the billing service"}, repo)
    assert r.returncode == 0 and r.stderr == b""
    project = Registry().resolve(repo)
    assert [o.kind for o in memory_observations(project)] == ["memory"]
    internal = ("wikimem-memory", "wikimem-bootstrap", "wikimem-llm")
    for name in internal:
        assert not [o for o in rawlog.read(project.raw_dir / f"{name}.jsonl").observations
                    if o.kind == "prompt"]
    # Nor a file whose name differs only in case (one file on macOS and Windows).
    folded = [p.name.lower() for p in project.raw_dir.iterdir()]
    assert all(folded.count(f"{name}.jsonl") <= 1 for name in internal)
    compile_project(project)
    (page,) = (project.wiki_dir / "sessions").glob("*.md")
    assert read_page(page)[0]["session_id"] == sid
    assert "walrus" in (project.wiki_dir / "index.md").read_text()


def test_no_session_id_maps_to_an_internal_or_another_ids_file():
    hashed = "x-" + sha256_hex(b"my session")[:32]
    for sid in ("wikimem-memory", "Wikimem-Bootstrap", "wikimem-llm", "wikimem-anything",
                hashed):
        name = rawlog.session_filename(sid)
        assert name.startswith("x-") and name != hashed and not name.lower().startswith(
            "wikimem-"), sid
    assert rawlog.session_filename("my session") == hashed


def test_raw_log_names_of_ordinary_ids_are_unchanged():
    """Backward compatibility: logs already on disk keep being appended to and read."""
    for sid in ("s-1", "abc7156b-6420-4373-a150-9b2eecad6805", "ses_stage0_small",
                "wikimem", "x-y", "a.b"):
        assert rawlog.session_filename(sid) == sid
    assert rawlog.session_filename("../../etc") == "x-" + sha256_hex(b"../../etc")[:32]


# -- concurrent writers -------------------------------------------------------------------------

_WRITER = """
import sys
from pathlib import Path
from wikimem.capture import rawlog
from wikimem.capture.observation import Observation, new_id

raw, me, shared, own = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
stored = 0
for i in range(max(shared, own)):
    for key in ([f"u-shared-{i}"] if i < shared else []) + ([f"u-{me}-{i}"] if i < own else []):
        o = Observation(id=new_id(), key=key, session="s1", agent="x", kind="prompt",
                        ts="2026-01-01T00:00:00.000Z", data={"by": me, "pad": "x" * 300})
        stored += rawlog.append(raw, o)
print(stored)
"""


def test_concurrent_writer_processes_store_every_event_exactly_once(tmp_path):
    """Four processes append to one session at once, re-delivering each other's events."""
    raw = tmp_path / "raw"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(raw), f"w{n}", "60", "90"],
                              stdout=subprocess.PIPE, text=True) for n in range(4)]
    stored = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(stored) == 60 + 4 * 90
    result = rawlog.read(raw / "s1.jsonl")
    keys = [o.key for o in result.observations]
    assert not result.bad_lines and len(keys) == len(set(keys)) == 60 + 4 * 90
    assert (raw / "s1.keys").read_text().split() == keys  # the keys file follows the log


def test_threads_of_one_process_exclude_each_other(tmp_path):
    """A session's files are cached per process; a second thread must not share its lock."""
    def work(me):
        for i in range(150):
            for key in (f"u-shared-{i}", f"u-{me}-{i}"):
                if rawlog.append(tmp_path, obs(key)):
                    counts[me] += 1

    counts = dict.fromkeys(range(4), 0)
    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [o.key for o in rawlog.read(tmp_path / "s1.jsonl").observations]
    assert sum(counts.values()) == len(keys) == len(set(keys)) == 150 + 4 * 150


def test_a_session_deleted_and_recreated_elsewhere_is_read_again(tmp_path):
    """Files this process holds open were purged, then another process began the session."""
    assert rawlog.append(tmp_path, obs("u-1"))
    for suffix in (".jsonl", ".keys"):
        (tmp_path / f"s1{suffix}").unlink()
    code = ("import sys\nfrom pathlib import Path\nfrom wikimem.capture import rawlog\n"
            "from wikimem.capture.observation import Observation, new_id\n"
            "o = Observation(id=new_id(), key='u-2', session='s1', agent='x', kind='prompt',"
            " ts='2026-01-01T00:00:00.000Z')\n"
            f"print(rawlog.append(Path({str(tmp_path)!r}), o))\n")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "True"
    assert not rawlog.append(tmp_path, obs("u-2"))  # the other process stored it
    assert rawlog.append(tmp_path, obs("u-1"))  # purged: stored again
    assert [o.key for o in rawlog.read(tmp_path / "s1.jsonl").observations] == ["u-2", "u-1"]
    assert ((tmp_path / "s1.keys").stat().st_mode & 0o777) == 0o600


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_share_its_parents_files(tmp_path):
    """Parent and child append the same events at once; each is stored once."""
    assert rawlog.append(tmp_path, obs("u-first"))  # the parent now holds the files open
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            for i in range(300):
                rawlog.append(tmp_path, obs(f"u-shared-{i}"))
            code = 0
        finally:
            os._exit(code)
    for i in range(300):
        rawlog.append(tmp_path, obs(f"u-shared-{i}"))
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    keys = [o.key for o in rawlog.read(tmp_path / "s1.jsonl").observations]
    assert len(keys) == len(set(keys)) == 301


def test_purge_rewrites_a_log_under_the_writers_lock(tmp_path):
    """purge rewrites raw/<session>.jsonl under the lock every append takes (the keys file)."""
    assert rawlog.append(tmp_path, obs("u-1", secret="tok-123"))
    done = threading.Event()

    def rewrite():
        rawlog.rewrite_logs(tmp_path, lambda b: b.replace(b"tok-123", b"x"))
        done.set()

    with rawlog.transaction(tmp_path, "s1") as log:
        worker = threading.Thread(target=rewrite)
        worker.start()
        worker.join(timeout=0.5)
        assert not done.is_set()  # waiting for the lock this transaction holds
        assert log.append(obs("u-2"))
    worker.join()
    assert done.is_set()
    assert [o.key for o in rawlog.read(tmp_path / "s1.jsonl").observations] == ["u-1", "u-2"]
    assert b"tok-123" not in (tmp_path / "s1.jsonl").read_bytes()
