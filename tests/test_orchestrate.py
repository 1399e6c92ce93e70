"""`wikimem orchestrate` and `wikimem plan` (issue 15)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from wikimem.compile.read import load_memory
from wikimem.memory import Memory
from wikimem.project import Registry

AGENT = """
import os, sys, time
task = os.environ["WIKIMEM_TASK_ID"]
brief = open(os.environ["WIKIMEM_TASK_CONTEXT_FILE"]).read()
assert brief.startswith(f"# Task {task}:"), brief
with open(sys.argv[1], "a") as f:
    f.write(task + "\\n")
if task in os.environ.get("SLOW", "").split(","):
    time.sleep(120)
if task == os.environ.get("FAIL"):
    print("could not do it")
    sys.exit(3)
print(f"finished {task} as {os.environ['WIKIMEM_AGENT']}")
"""


def _setup(repo, tmp_path, n: int):
    project = Registry().resolve(repo)
    m = Memory(project)
    g = m.add("goal", "Ship the port", {"why": "users asked"})
    m.add("decision", "Use the new parser", {"why": "faster"})
    for i in range(n):
        m.add("task", f"Port module {i}", {"goal": g.page, "acceptance": f"module {i} passes"})
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    return project, script


def _default_sigint() -> None:
    # Ctrl-C as a terminal delivers it: a test suite started in the background by a
    # non-interactive shell ignores SIGINT, and its children would inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cmd(repo, script, ran, *extra, env=None, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "wikimem", "orchestrate", *extra, "--",
                             sys.executable, str(script), str(ran)], cwd=repo,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
                            **kwargs)


def _tasks(project):
    return {t.id: t for t in load_memory(project).of_kind("task")}


def test_four_workers_finish_twenty_tasks_each_exactly_once(repo, tmp_path):
    project, script = _setup(repo, tmp_path, 20)
    ran = tmp_path / "ran.txt"
    proc = _cmd(repo, script, ran, "--workers", "4", env={"FAIL": "T20"})
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "Done 19, failed 1." in out
    lines = ran.read_text().split()
    assert sorted(lines) == sorted(f"T{i}" for i in range(1, 21))  # each ran once
    tasks = _tasks(project)
    for i in range(1, 20):
        t = tasks[f"T{i}"]
        assert t.status == "done" and [e["event"] for e in t.events].count("claimed") == 1
        assert t.fields["result"].startswith(f"finished T{i} as worker-")
    assert tasks["T20"].status == "failed" and "exit 3: could not do it" in \
        tasks["T20"].fields["failure"]
    plan = json.loads(subprocess.run([sys.executable, "-m", "wikimem", "plan", "--json"],
                                     cwd=repo, capture_output=True, text=True).stdout)
    assert plan[0]["goal"]["id"] == "G1" and len(plan[0]["tasks"]) == 20


def _wait_for(predicate, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_killed_workers_task_is_finished_by_another_after_the_expiry(repo, tmp_path):
    project, script = _setup(repo, tmp_path, 3)
    ran = tmp_path / "ran.txt"
    first = _cmd(repo, script, ran, "--workers", "1", env={"SLOW": "T1"},
                 start_new_session=True)
    _wait_for(lambda: _tasks(project)["T1"].status == "in_progress")
    os.killpg(first.pid, signal.SIGKILL)  # the orchestrator and its agent, mid-task
    first.communicate()
    second = _cmd(repo, script, ran, "--workers", "2",
                  env={"WIKIMEM_CLAIM_EXPIRY_MINUTES": "0.05"})
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    t1 = _tasks(project)["T1"]
    assert t1.status == "done"
    assert [e["event"] for e in t1.events] == ["created", "claimed", "expired", "claimed",
                                               "done"]
    assert all(t.status == "done" for t in _tasks(project).values())


def test_ctrl_c_releases_every_claim(repo, tmp_path):
    project, script = _setup(repo, tmp_path, 3)
    ran = tmp_path / "ran.txt"
    proc = _cmd(repo, script, ran, "--workers", "2", env={"SLOW": "T1,T2,T3"})
    _wait_for(lambda: sum(t.status == "in_progress" for t in _tasks(project).values()) == 2
              and ran.exists() and len(ran.read_text().split()) == 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    tasks = _tasks(project)
    assert all(t.status == "todo" and t.holder is None for t in tasks.values())
    assert sum(e["event"] == "released" for t in tasks.values() for e in t.events) == 2
