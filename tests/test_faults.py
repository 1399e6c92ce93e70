"""Concurrency, crashes, a full disk and a read-only home: nothing is lost, nothing corrupted.

The heavy versions (8 processes x 1,000 events, dozens of kill -9 trials) are in
bench/stress.py; these run the same code paths with small counts.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import fixture_payload, run_hook

from wikimem import hook
from wikimem.agents.claude_code import adapter as claude_code
from wikimem.capture import rawlog
from wikimem.capture.observation import format_ts
from wikimem.capture.observe import capture
from wikimem.compile import build as compile_module
from wikimem.compile.build import compile_project
from wikimem.project import Registry
from wikimem.search.index import SearchIndex
from wikimem.wiki import gitrepo
from wikimem.wiki.pages import wiki_pages

STRESS = Path(__file__).resolve().parents[1] / "bench" / "stress.py"
CWD = "/work/example/crash-project"  # the agent's cwd in the events (need not exist)
T0 = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)


def events(k: int) -> list[dict]:
    """Session k (and, from k=1 on, one more prompt in session k-1: an older page changes)."""
    sid = f"sess-{k}"
    base = {"session_id": sid, "cwd": CWD, "transcript_path": f"/tmp/{sid}.jsonl"}
    out = [
        {**base, "hook_event_name": "SessionStart", "source": "startup"},
        {**base, "hook_event_name": "UserPromptSubmit", "prompt": f"Fix the parser bug t{k}x"},
        {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": f"tu{k}",
         "tool_input": {"command": "pytest -k parser"},
         "tool_response": {"stdout": "1 passed", "stderr": "", "interrupted": False}},
        {**base, "hook_event_name": "Stop", "last_assistant_message": f"Fixed bug {k}."},
    ]
    if k:
        out.append({"session_id": f"sess-{k - 1}", "cwd": CWD,
                    "hook_event_name": "UserPromptSubmit", "prompt": f"also check t{k}y"})
    return out


def feed(project, k: int) -> None:
    for i, p in enumerate(events(k)):
        capture("claude-code", claude_code.normalize(p), p, project=project,
                ts=format_ts(T0 + timedelta(hours=k, seconds=i)))


def snapshot(wiki: Path) -> dict[str, bytes]:
    return {rel: (wiki / rel).read_bytes() for rel in wiki_pages(wiki)}


def git(wiki: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=wiki, capture_output=True, text=True)


@pytest.fixture(scope="module")
def clean_wiki(tmp_path_factory) -> dict[str, bytes]:
    """Sessions 0-1 compiled once, cleanly, in a home of their own."""
    project = Registry(tmp_path_factory.mktemp("reference-home")).resolve(CWD)
    feed(project, 0)
    feed(project, 1)
    compile_project(project)
    return snapshot(project.wiki_dir)


def error_records(project) -> list[dict]:
    log = project.error_log
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


# -- concurrency -------------------------------------------------------------------------------

def test_concurrent_hooks_compiles_and_searches_lose_nothing(tmp_path):
    """bench/stress.py at small counts: 4 hook processes, 3 compilers, 1 searcher at once."""
    out = subprocess.run(
        [sys.executable, str(STRESS), "concurrency", "--procs", "4", "--events", "60",
         "--process-workers", "2", "--process-events", "3", "--json"],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    c = json.loads(out.stdout.splitlines()[-1])["concurrency"]
    assert c["events_sent"] == c["events_stored"] == c["lines_stored"] == 240
    assert c["redelivered"] > 0 and c["hook_calls"] == 240 + c["redelivered"]
    for zero in ("events_lost", "events_duplicated", "unreadable_lines", "partial_last_lines",
                 "compile_errors", "searches_failed", "git_merge_commits", "git_human_commits",
                 "process_hooks_lost", "process_hooks_duplicated", "hook_errors_logged",
                 "observations_left_for_a_later_compile"):
        assert c[zero] == 0, zero
    # Every observation was compiled by exactly one compile round.
    assert c["observations_compiled"] == c["observations_in_log"]
    assert c["git_fsck_ok"] and c["detached_compiles_caught_up"]
    assert c["process_hooks_stored"] == c["process_hooks_sent"] == 6


def test_a_compile_started_during_another_is_coalesced_into_it(monkeypatch):
    """The busy compile returns at once; the running one does one more round for its work."""
    project = Registry().resolve(CWD)
    feed(project, 0)
    real = compile_module.compile_locked
    rounds, busy = [], []

    def first_round_then_new_work(*args, **kwargs):
        result = real(*args, **kwargs)
        rounds.append(result.observations)
        if len(rounds) == 1:
            feed(project, 1)  # a hook appends, then starts its compile while this one runs
            t = threading.Thread(target=lambda: busy.append(compile_project(project,
                                                                            wait=False)))
            t.start()
            t.join()
        return result

    monkeypatch.setattr(compile_module, "compile_locked", first_round_then_new_work)
    result = compile_project(project)
    assert busy[0].busy and not busy[0].commit
    assert rounds == [4, 5]  # the second round read only what was new
    assert result.observations == 9
    assert not (project.state_dir / "compile.pending").exists()
    assert compile_project(project).observations == 0
    log = git(project.wiki_dir, "log", "--format=%P").stdout.split("\n")
    assert all(len(parents.split()) <= 1 for parents in log)


# -- crashes -----------------------------------------------------------------------------------

def compile_process(project, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"WIKIMEM_FAULT": fault} if fault else {})}
    return subprocess.run([sys.executable, "-m", "wikimem", "--project", project.project_id,
                           "compile", "--quiet"], env=env, capture_output=True, timeout=300)


@pytest.mark.parametrize("fault", ["page-written@2", "git-added", "index-update"])
def test_compile_killed_at_a_crash_point_converges(fault, clean_wiki):
    project = Registry().resolve(CWD)
    feed(project, 0)
    compile_project(project)
    feed(project, 1)
    killed = compile_process(project, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (project.state_dir / "compile.journal").exists()

    result = compile_project(project)
    assert snapshot(project.wiki_dir) == clean_wiki
    assert not (project.state_dir / "compile.journal").exists()
    fsck = git(project.wiki_dir, "fsck", "--no-dangling")
    assert fsck.returncode == 0 and not fsck.stdout.strip(), fsck.stdout + fsck.stderr
    assert git(project.wiki_dir, "status", "--porcelain").stdout == ""
    authors = git(project.wiki_dir, "log", "--format=%an|%s").stdout.splitlines()
    assert all(a.startswith("wikimem|") for a in authors), authors  # no "Human edits"
    assert result.human_commit is None
    # The index holds every page, and the pages of the killed compile are searchable.
    index = SearchIndex(project.index_dir, project.wiki_dir)
    assert index.indexed_paths() == set(wiki_pages(project.wiki_dir))
    assert [h.path for h in index.search("t1x")] == ["sessions/2026-02-03-sess-1.md"]
    # Everything in the raw log is compiled; a second compile finds nothing new.
    offsets = json.loads((project.state_dir / "compile.json").read_text())["offsets"]
    assert offsets == dict(rawlog.session_file_sizes(project.raw_dir))
    assert compile_project(project).observations == 0


def test_git_lock_left_by_a_killed_compile_is_removed(clean_wiki):
    """A compile killed inside `git commit` leaves .git/index.lock; the next one clears it."""
    project = Registry().resolve(CWD)
    feed(project, 0)
    compile_project(project)
    feed(project, 1)
    assert compile_process(project, "git-added").returncode == -signal.SIGKILL
    (project.wiki_dir / ".git" / "index.lock").write_text("")  # as git would leave it
    compile_project(project)
    assert snapshot(project.wiki_dir) == clean_wiki
    assert not (project.wiki_dir / ".git" / "index.lock").exists()


def limited(cmd: list[str], max_file_bytes: int) -> list[str]:
    """`cmd` run with RLIMIT_FSIZE: writes past that size fail (a full disk, without root)."""
    setup = ("import os, resource, sys; "
             f"resource.setrlimit(resource.RLIMIT_FSIZE, ({max_file_bytes}, {max_file_bytes})); "
             "os.execv(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", setup, *cmd]


def test_hook_cut_off_mid_append_leaves_one_partial_line_that_readers_skip(repo):
    project = Registry().resolve(repo)
    first = fixture_payload("user_prompt_submit", cwd=str(repo), session_id="s-1",
                            prompt="x" * 3000)
    assert run_hook(first, repo).returncode == 0
    log = project.raw_dir / "s-1.jsonl"
    size = log.stat().st_size
    second = fixture_payload("post_tool_use_bash", cwd=str(repo), session_id="s-1",
                             tool_use_id="tu-2")
    # The file may grow by 100 bytes only: the line is cut where a kill or a full disk
    # would cut it.
    cut = subprocess.run(limited([sys.executable, "-m", "wikimem", "hook", "claude-code"],
                                 size + 100),
                         input=json.dumps(second).encode(), cwd=repo, capture_output=True)
    assert cut.returncode == 0
    assert log.stat().st_size == size + 100 and not log.read_bytes().endswith(b"\n")
    (err,) = error_records(project)
    assert "File too large" in err["error"]
    assert len(rawlog.read(log).observations) == 1  # the partial line is not read (yet)

    # The agent re-delivers it: stored (its key was never written), on a line of its own.
    assert run_hook(second, repo).returncode == 0
    got = rawlog.read(log)
    assert [o.kind for o in got.observations] == ["prompt", "tool_post"]
    assert got.bad_lines == [2]
    assert log.read_bytes().count(b"\n") == 3
    result = compile_project(project)
    assert result.bad_lines == {"s-1.jsonl": [2]}
    assert "skipped 1 unreadable line(s) in raw/s-1.jsonl" in error_records(project)[-1]["error"]


def test_full_disk_hook_exits_0_and_says_so_in_the_error_log(repo, monkeypatch, capsys):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell the raw log's writes apart")
    real_write = os.write

    def no_space_for_the_raw_log(fd, data):
        if "/raw/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    project = Registry().resolve(repo)
    project.ensure_dirs()
    monkeypatch.setattr(os, "write", no_space_for_the_raw_log)
    body = json.dumps(fixture_payload("user_prompt_submit", cwd=str(repo))).encode()
    assert hook.run("claude-code", [], stdin=io.BytesIO(body), stdout=io.BytesIO()) == 0
    monkeypatch.setattr(os, "write", real_write)
    (err,) = error_records(project)
    assert "No space left on device" in err["error"] and err["stage"] == "hook"
    assert all(o.kind != "prompt" for f in rawlog.session_files(project.raw_dir)
               for o in rawlog.read(f).observations)


def test_full_disk_and_no_error_log_the_hook_says_so_on_stderr(repo, monkeypatch, capsys):
    def no_space(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    Registry().resolve(repo).ensure_dirs()
    monkeypatch.setattr(os, "write", no_space)
    body = json.dumps(fixture_payload("user_prompt_submit", cwd=str(repo))).encode()
    code = hook.run("claude-code", [], stdin=io.BytesIO(body), stdout=io.BytesIO())
    monkeypatch.undo()
    assert code == 0
    err = capsys.readouterr().err
    assert "No space left on device" in err and "errors.log could not be written" in err


def test_full_disk_cli_reports_a_clear_error(repo):
    project = Registry().resolve(repo)
    assert run_hook(fixture_payload("user_prompt_submit", cwd=str(repo)), repo).returncode == 0
    compile_full = limited([sys.executable, "-m", "wikimem", "compile"], 1500)
    # git itself cannot write (it dies of SIGXFSZ):
    out = subprocess.run(compile_full, cwd=repo, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith("Error: Could not create the wiki repository")
    assert "Traceback" not in out.stderr
    # wikimem cannot write a page, or git its index (the same error either way):
    gitrepo.open_repo(project.wiki_dir)
    out = subprocess.run(compile_full, cwd=repo, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    last = out.stderr.splitlines()[-1]
    assert last.startswith("Error: The disk is full or a file size limit was reached")
    assert "Traceback" not in out.stderr
    # Nothing lost: with room again, the next compile has it all.
    assert compile_project(project).sessions


def read_only(path: Path) -> list[Path]:
    """Make `path` and every folder under it read-only (0500; immutable too when root)."""
    dirs = [path, *[p for p in sorted(path.rglob("*")) if p.is_dir()]]
    for d in dirs:
        d.chmod(0o500)
    if os.geteuid() == 0:  # root ignores permission bits
        if not shutil.which("chattr"):
            pytest.skip("running as root without chattr: cannot make a folder read-only")
        for d in dirs:
            if subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
                writable(dirs)
                pytest.skip("cannot make a folder immutable here")
    return dirs


def writable(dirs: list[Path]) -> None:
    for d in dirs:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(d)], capture_output=True)
        d.chmod(0o700)


def test_read_only_home_hook_exits_0_and_cli_reports_a_clear_error(repo, wikimem_home):
    project = Registry().resolve(repo)
    assert run_hook(fixture_payload("user_prompt_submit", cwd=str(repo)), repo).returncode == 0
    project.error_log.write_text("")
    dirs = read_only(wikimem_home)
    try:
        r = run_hook(fixture_payload("user_prompt_submit", cwd=str(repo), session_id="new"),
                     repo)
        cli = subprocess.run([sys.executable, "-m", "wikimem", "compile"], cwd=repo,
                             capture_output=True, text=True)
    finally:
        writable(dirs)
    assert r.returncode == 0 and r.stdout == b""
    (err,) = error_records(project)
    assert "PermissionError" in err["error"]
    assert not (project.raw_dir / "new.jsonl").exists()
    assert cli.returncode == 1 and cli.stderr.startswith("Error: ")
    assert "Traceback" not in cli.stderr


def test_doctor_reports_an_interrupted_compile():
    from wikimem.doctor import check_pending

    project = Registry().resolve(CWD)
    feed(project, 0)
    assert compile_process(project, "page-written@1").returncode == -signal.SIGKILL
    check = check_pending(project)
    assert check.status == "WARN" and "interrupted" in check.detail
    compile_project(project)
    assert check_pending(project).status == "PASS"
