"""Progress of long commands: a bar per stage on a terminal, plain lines in a pipe, JSON lines
with --json, nothing with --quiet (wikimem/cli/progress.py)."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys

import pytest
from conftest import fixture_payload

from wikimem.cli.progress import LABEL_WIDTH, LINE_EVERY, Meter
from wikimem.compile.build import compile_project
from wikimem.project import Registry

STAGES = ["reading logs", "rendering", "writing", "committing", "indexing"]
SESSIONS = 40


def capture_sessions(project, repo, first: int, count: int) -> None:
    from wikimem.agents.claude_code import adapter
    from wikimem.capture.observe import capture

    for i in range(first, first + count):
        for j, name in enumerate(("user_prompt_submit", "post_tool_use_bash", "stop")):
            payload = fixture_payload(name, cwd=str(repo), session_id=f"p-{i:03d}")
            capture("claude-code", adapter.normalize(payload), payload, project=project,
                    ts=f"2026-03-{1 + i // 24:02d}T{i % 24:02d}:00:{j:02d}.000Z")


@pytest.fixture
def project(repo):
    """A compiled project, and one session more for the next compile to write and commit."""
    project = Registry().resolve(repo)
    capture_sessions(project, repo, 0, SESSIONS)
    compile_project(project)
    capture_sessions(project, repo, SESSIONS, 1)
    return project


def in_a_terminal(args: list[str], cwd) -> str:
    """What `python -m wikimem ARGS` shows on a pseudo-terminal (stdout and stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "wikimem", *args], cwd=cwd, stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, out
    return out.decode()


def piped(args: list[str], cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_rebuild_on_a_terminal_draws_a_bar_per_stage_with_counts(project, repo):
    shown = in_a_terminal(["compile", "--rebuild"], repo)
    places = []
    for stage in STAGES:
        label = re.escape(stage.ljust(LABEL_WIDTH))
        empty = re.search(label + r"  \[-{24}\]  0/(\d+)  -/s", shown)
        assert empty, (stage, shown)
        total = int(empty.group(1))
        full = re.search(label + r"  \[#{24}\]  " + f"{total}/{total}" + r"  [\d,]+/s", shown)
        assert full, (stage, shown)
        assert full.start() > empty.start()
        places.append(empty.start())
        if stage in ("reading logs", "rendering"):
            assert total == SESSIONS + 1
    assert places == sorted(places)  # the stages in pipeline order
    assert "\r" in shown  # each bar is redrawn in place


def test_rebuild_piped_prints_plain_lines_and_quiet_nothing(project, repo):
    done = piped(["compile", "--rebuild"], repo)
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines()
             if re.fullmatch(r"[a-z ]+: [\d,]+ in \d+\.\d s \(([\d,]+|-)/s\)", ln)]
    assert [ln.split(":")[0] for ln in lines] == STAGES, done.stderr
    assert f"reading logs: {SESSIONS + 1} in " in done.stderr
    assert f"rendering: {SESSIONS + 1} in " in done.stderr
    assert "Wrote " in done.stderr

    quiet = piped(["compile", "--rebuild", "--quiet"], repo)
    assert quiet.stdout == "" and quiet.stderr == ""
    quiet = in_a_terminal(["compile", "--rebuild", "--quiet"], repo)
    assert quiet == ""


def test_rebuild_with_json_reports_progress_events_on_stderr(project, repo):
    done = piped(["compile", "--rebuild", "--json"], repo)
    assert json.loads(done.stdout)["commit"]  # stdout stays one JSON document
    events = [json.loads(line) for line in done.stderr.splitlines()]
    finished = [e for e in events if e["finished"]]
    assert [e["stage"] for e in finished] == STAGES
    assert all(e["done"] == e["total"] and e["seconds"] >= 0 for e in finished)
    assert [e["stage"] for e in events if not e["finished"] and e["done"] == 0] == STAGES


def test_reindex_shows_its_indexing_stage(project, repo):
    done = piped(["reindex"], repo)
    assert re.match(r"indexing: [\d,]+ in \d+\.\d s", done.stderr)
    assert done.stdout.startswith("Indexed ")
    assert piped(["reindex", "--quiet"], repo).stdout == ""
    assert json.loads(piped(["reindex", "--json"], repo).stdout)["indexed"] > SESSIONS


def test_plain_lines_give_count_rate_and_estimate_while_a_stage_runs():
    now = [0.0]
    out = io.StringIO()
    meter = Meter("lines", out, clock=lambda: now[0])
    meter("rendering", 0, 1000)
    for done in (100, 200, 250):
        now[0] += LINE_EVERY / 2
        meter("rendering", done, 1000)
    now[0] = 10.0
    meter("rendering", 1000, 1000)
    meter("rendering", 1000, 1000)  # said once
    meter("indexing", 0, None)
    now[0] = 12.0
    meter.close()
    assert out.getvalue().splitlines() == [
        "rendering: 200/1,000 (40/s, about 20 s left)",
        "rendering: 1,000 in 10.0 s (100/s)",
        "indexing: 0 in 2.0 s (-/s)",
    ]


def test_off_draws_nothing():
    out = io.StringIO()
    meter = Meter("off", out)
    meter("rendering", 0, 10)
    meter("rendering", 10, 10)
    meter.close()
    assert out.getvalue() == ""


def test_bootstrap_and_import_show_their_stages(repo, tmp_path):
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com",
           "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com"}
    for n in range(3):
        (repo / f"m{n}.py").write_text(f'"""Module {n}."""\n')
        subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)
        subprocess.run(["git", "commit", "-qm", f"feat: module {n}"], cwd=repo, check=True,
                       env=env)
    done = piped(["bootstrap"], repo)
    stages = [ln.split(":")[0] for ln in done.stderr.splitlines()
              if re.fullmatch(r"[a-z ]+: [\d,]+ in \d+\.\d s \(([\d,]+|-)/s\)", ln)]
    assert stages[:3] == ["reading commits", "recording commits", "reading files"]
    assert stages[3:] == STAGES
    assert "reading commits: 3 in " in done.stderr and "recording commits: 3 in " in done.stderr

    log = tmp_path / "hooks.jsonl"
    log.write_text("".join(json.dumps(fixture_payload(name, cwd=str(repo), session_id="imp"))
                           + "\n" for name in ("user_prompt_submit", "stop")))
    done = piped(["import", str(log), "--agent", "hooks"], repo)
    assert "reading transcripts: 1 in " in done.stderr
    assert "[1/1] files: 1 sessions" in done.stderr
    events = [json.loads(line) for line in piped(["import", str(log), "--agent", "hooks",
                                                  "--json"], repo).stderr.splitlines()]
    assert events[-1]["stage"] == "reading transcripts" and events[-1]["finished"]


def test_export_shows_its_stage(project, repo, tmp_path):
    done = piped(["export", "--html", str(tmp_path / "site")], repo)
    assert re.search(r"^exporting: [\d,]+ in \d+\.\d s", done.stderr, re.M), done.stderr
    assert done.stdout.startswith("Exported ")
    assert piped(["export", "--html", str(tmp_path / "again"), "--quiet"], repo).stderr == ""
