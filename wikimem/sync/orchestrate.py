"""`wikimem orchestrate --workers N -- CMD [ARGS...]` and `wikimem plan`.

Each worker (a thread here, driving one child process at a time) claims a task - atomically,
across machines too when the project has a remote (`sync.claims.RemoteMemory`) - writes the
task's brief to a file, runs CMD with `WIKIMEM_TASK_ID`, `WIKIMEM_TASK_CONTEXT_FILE` and
`WIKIMEM_AGENT` set, heartbeats while it runs, and marks the task done (exit 0; the summary
is the end of what it printed) or failed (non-zero; the reason and the end of the output).
Workers stop when no task is open; while tasks are still claimed by someone else they wait,
so a claim whose holder died expires and is finished here. Ctrl-C stops the children and
releases every claim the workers hold.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import asdict, dataclass, field

from wikimem.compile.read import load_memory
from wikimem.errors import WikimemError
from wikimem.memory import Item, Memory, MemoryState
from wikimem.project import Project, ensure_private_dir, write_atomic
from wikimem.sync import settings

TAIL = 2000  # characters of a child's output kept as the summary or the failure's reason


@dataclass
class OrchestrateReport:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    interrupted: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def plan(project: Project) -> list[dict]:
    """Goals with their tasks (status, holder), then the tasks of no goal."""
    state = load_memory(project)
    tasks = state.of_kind("task")
    out = []
    for goal in state.of_kind("goal"):
        if goal.status == "retracted":
            continue
        mine = [t for t in tasks if t.fields.get("goal") == goal.page]
        out.append({"goal": _brief_item(goal), "tasks": [_brief_item(t) for t in mine]})
    loose = [t for t in tasks if not t.fields.get("goal")
             or t.fields.get("goal") not in {g["goal"]["page"] for g in out}]
    if loose:
        out.append({"goal": None, "tasks": [_brief_item(t) for t in loose]})
    return out


def _brief_item(item: Item) -> dict:
    return {"id": item.id, "title": item.title, "status": item.status, "page": item.page,
            "holder": item.holder, "last_seen": item.last_seen}


def brief(state: MemoryState, task: Item) -> str:
    """What a worker's agent reads first: the task, its goal, acceptance criteria, files,
    active decisions, verified lessons, and the earlier holders' checkpoint notes."""
    lines = [f"# Task {task.id}: {task.title}", ""]
    goal = state.items.get(task.fields.get("goal") or "")
    if goal is not None:
        lines += [f"Goal {goal.id}: {goal.title}"]
        for key, label in (("why", "Why"), ("success_signal", "Success signal"),
                           ("out_of_scope", "Out of scope")):
            if goal.fields.get(key):
                lines.append(f"- {label}: {goal.fields[key]}")
        lines.append("")
    if task.fields.get("acceptance"):
        lines += ["## Acceptance criteria", str(task.fields["acceptance"]), ""]
    if task.fields.get("files"):
        lines += ["## Relevant files", *[f"- {f}" for f in task.fields["files"]], ""]
    decisions = state.of_kind("decision", "active")
    if decisions:
        lines += ["## Active decisions"] + [
            f"- {d.id}: {d.title}" + (f" (why: {d.fields['why']})" if d.fields.get("why")
                                      else "") for d in decisions] + [""]
    lessons = [i for i in state.of_kind("lesson", "active") if i.fields.get("verified_by")]
    if lessons:
        lines += ["## Verified lessons"] + [
            f"- {x.id}: {x.title} -> {x.fields.get('correct', '')}" for x in lessons] + [""]
    if task.checkpoints:
        lines += ["## Earlier holders' checkpoint notes"] + [
            f"- {c['ts']} {c['by']}: {c['note']}" for c in task.checkpoints] + [""]
    return "\n".join(lines)


class Orchestra:
    def __init__(self, project: Project, argv: list[str], *, workers: int = 4,
                 prefix: str = "worker", heartbeat: float | None = None,
                 expiry_minutes: float = 30.0, poll: float = 2.0, echo=print):
        if not argv:
            raise WikimemError("Say what to run: wikimem orchestrate -- CMD [ARGS...]")
        self.project, self.argv, self.workers = project, argv, workers
        self.prefix, self.expiry, self.poll, self.echo = prefix, expiry_minutes, poll, echo
        self.heartbeat = heartbeat or max(1.0, min(60.0, expiry_minutes * 60 / 3))
        self.remote = settings.load(project)
        self.report = OrchestrateReport()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.children: dict[str, subprocess.Popen] = {}
        self.held: dict[str, str] = {}  # worker -> task id it holds
        self.errors: list[BaseException] = []

    def memory(self, agent: str) -> Memory:
        if self.remote is not None:
            from wikimem.sync.claims import RemoteMemory

            return RemoteMemory(self.project, self.remote, agent=agent,
                                claim_expiry_minutes=self.expiry)
        return Memory(self.project, agent=agent, claim_expiry_minutes=self.expiry)

    def run(self) -> OrchestrateReport:
        threads = [threading.Thread(target=self._worker, args=(f"{self.prefix}-{i + 1}",),
                                    daemon=True) for i in range(self.workers)]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.2)
        except KeyboardInterrupt:
            self.report.interrupted = True
            self._interrupt(threads)
        if self.errors:
            raise self.errors[0]
        return self.report

    def _interrupt(self, threads) -> None:
        self.stop.set()
        with self.lock:
            for proc in self.children.values():
                proc.terminate()
        for t in threads:
            t.join(timeout=30)
        with self.lock:
            held = dict(self.held)
        for agent, task_id in sorted(held.items()):
            try:
                self.memory(agent).task_op("task_release", task_id, "orchestrate interrupted")
                self.report.released.append(task_id)
            except WikimemError as exc:
                self.echo(f"Could not release {task_id}: {exc}")

    def _worker(self, agent: str) -> None:
        try:
            while not self.stop.is_set():
                task = self._claim(agent)
                if task is None:
                    return
                self._run_task(agent, task)
        except BaseException as exc:  # (reported by run(): a worker must not die silently)
            self.errors.append(exc)
            self.stop.set()

    def _claim(self, agent: str) -> Item | None:
        """A task, or None when none is open; waits while others hold some (their holders
        may die, and the claims expire)."""
        while not self.stop.is_set():
            try:
                return self.memory(agent).claim()
            except WikimemError as exc:
                if "No todo task" not in str(exc):
                    raise
            state = load_memory(self.project)
            with self.lock:
                ours = set(self.held.values())
            others = [t for t in state.of_kind("task", "in_progress") if t.id not in ours]
            if not others and not ours:
                return None
            if not others:
                return None  # (only our own workers hold tasks: nothing left for this one)
            self.stop.wait(self.poll)
        return None

    def _run_task(self, agent: str, task: Item) -> None:
        folder = self.project.state_dir / "orchestrate"
        ensure_private_dir(folder)
        brief_file = folder / f"{task.id}.md"
        write_atomic(brief_file, brief(load_memory(self.project), task))
        env = {**os.environ, "WIKIMEM_TASK_ID": task.id,
               "WIKIMEM_TASK_CONTEXT_FILE": str(brief_file), "WIKIMEM_AGENT": agent}
        self.echo(f"{agent}: {task.id} {task.title}")
        with self.lock:
            self.held[agent] = task.id
            proc = subprocess.Popen(self.argv, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.children[agent] = proc
        out = b""
        while True:
            try:
                out, _ = proc.communicate(timeout=self.heartbeat)
                break
            except subprocess.TimeoutExpired:
                try:
                    self.memory(agent).task_op("task_heartbeat", task.id, "")
                except WikimemError as exc:  # the claim was lost (expired elsewhere)
                    self.echo(f"{agent}: lost {task.id} ({exc}); stopping its run")
                    proc.kill()
                    proc.communicate()
                    with self.lock:
                        self.held.pop(agent, None)
                        self.children.pop(agent, None)
                    return
        with self.lock:
            self.children.pop(agent, None)
        if self.stop.is_set():
            return  # (interrupted: the claim is released by _interrupt)
        tail = out.decode("utf-8", "replace").strip()[-TAIL:]
        memory = self.memory(agent)
        if proc.returncode == 0:
            memory.task_op("task_done", task.id, tail or "exit 0")
            self.report.done.append(task.id)
        else:
            memory.task_op("task_fail", task.id, f"exit {proc.returncode}: {tail}")
            self.report.failed.append(task.id)
        with self.lock:
            self.held.pop(agent, None)
