"""Backfill: sessions the agents recorded themselves -> the raw log (`wikimem import`).

`discover()` finds transcript files (the agents' default folders, or the paths named) and
the importer that reads each. `import_sessions()` reads them, decides each session's project
from its working directory, makes observations through `make_observation` (redaction and
caps, as for a live hook event) and appends each session's in one batch (`SessionLog.append_many`,
under the idempotency rules of a live append), so the compiler treats imported and captured
sessions alike. Every imported observation carries `data.imported_from` (the file name);
idempotency keys come from the records' own ids, so importing again stores nothing new.

A session whose raw log exists but was written by hooks (an observation without
`imported_from`) is skipped unless `include_captured`: hook payloads carry no record ids, so
its prompts and replies would be stored twice.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from wikimem import agents
from wikimem.agents import hooklog
from wikimem.agents.importers import Imported
from wikimem.capture import privacy, rawlog
from wikimem.capture.event import Event
from wikimem.capture.observe import make_observation
from wikimem.errors import WikimemError
from wikimem.project import Project, Registry

SUFFIXES = (".jsonl", ".json", ".ndjson")
# A session with none of these (only a start or titles/summaries) would make an empty page.
SUBSTANCE = {"prompt", "tool_pre", "tool_post", "tool_failure", "stop", "pre_compact",
             "notification", "permission_request", "subagent_start", "subagent_stop",
             "session_end"}
EMPTY = "no prompts, tool calls or replies"
CAPTURED = "captured live by hooks (use --include-captured to import it as well)"
OTHER_PROJECT = "belongs to another project (use --all-projects)"


@dataclass
class ImportReport:
    """What an import read, stored and skipped."""

    files: int = 0  # files read
    sessions: int = 0  # sessions stored in a raw log (new, grown, or already complete)
    sessions_updated: int = 0  # of those, sessions that got new observations
    observations: int = 0  # observations added
    duplicates: int = 0  # observations already in the raw log (skipped)
    ignored: int = 0  # events about files in `ignore_paths` (dropped)
    events: Counter = field(default_factory=Counter)  # events read, by agent
    skipped_records: Counter = field(default_factory=Counter)  # by record type
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    skipped_sessions: list[dict] = field(default_factory=list)
    projects: dict[str, Project] = field(default_factory=dict)  # id -> project, with additions

    @property
    def affected(self) -> list[Project]:
        """Projects that got new observations (the ones to compile)."""
        return sorted(self.projects.values(), key=lambda p: (p.workspace, p.name))

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "sessions": self.sessions,
            "sessions_updated": self.sessions_updated,
            "observations": self.observations,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "events": dict(sorted(self.events.items())),
            "skipped_records": dict(self.skipped_records.most_common()),
            "skipped_files": [{"path": p, "reason": r} for p, r in self.skipped_files],
            "skipped_sessions": self.skipped_sessions,
            "projects": [{"name": p.name, "id": p.project_id, "workspace": p.workspace}
                         for p in self.affected],
        }


HOOK_LOGS = ("hooks", "hooklog")  # what `agent` may be to mean logs of hook payloads


def transcript_agents() -> list[str]:
    """The agents with a transcript importer: wikimem finds their past sessions itself."""
    return [name for name in agents.NAMES if agents.agent(name).has_importer]


def finds_transcripts(agent: str) -> bool:
    """Whether `wikimem import --agent AGENT` with no paths has somewhere to look."""
    return agent not in HOOK_LOGS and agents.canonical(agent) in transcript_agents()


def importer_choices() -> list[str]:
    """What `--agent` accepts: the transcript formats, `hooks`, and any other adapter."""
    transcripts = transcript_agents()
    return [*transcripts, "hooks", *sorted(set(agents.NAMES) - set(transcripts))]


def _importers_for(agent: str | None) -> list:
    if agent is None:
        return [agents.agent(a).importer for a in transcript_agents()] + [hooklog]
    if agent in HOOK_LOGS:
        return [hooklog]
    name = agents.canonical(agent)
    if name in agents.AGENTS:
        importer = agents.agent(name).importer
        # An agent with hooks but no transcript importer: only logs of its hook payloads.
        return ([importer] if importer else []) + [hooklog.for_agent(name)]
    raise WikimemError(
        f"Unknown agent {agent!r}; choose one of: {', '.join(importer_choices())}."
    )


def discover(agent: str | None = None, paths: Iterable[str | os.PathLike] = ()
             ) -> list[tuple[object | None, Path]]:
    """(importer, file) for each file to import; importer None: no format recognised it.

    With no paths, the default locations of every agent (or of `agent`). A directory is
    searched for .jsonl/.json files. A named path that does not exist or cannot be read
    raises WikimemError.
    """
    candidates = _importers_for(agent)
    found: list[tuple[object | None, Path]] = []
    paths = list(paths)
    if not paths:
        for imp in candidates:
            for path in imp.default_paths():
                found.append((_sniff(path, candidates), path))
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise WikimemError(f"Cannot read {path}: no such file or directory.")
        if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
            raise WikimemError(f"Cannot read {path}: permission denied.")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*")
                           if p.suffix in SUFFIXES and p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            files = [path]
        found += [(_sniff(f, candidates), f) for f in files]
    unique: dict[Path, tuple[object | None, Path]] = {}
    for imp, path in found:
        unique.setdefault(path.resolve(), (imp, path))
    return list(unique.values())


def _sniff(path: Path, candidates: list):
    for imp in candidates:
        try:
            if imp.sniff(path):
                return imp
        except (OSError, ValueError):
            continue
    return None


def import_sessions(
    registry: Registry,
    sources: Iterable[tuple[object | None, Path]],
    *,
    project: Project | None = None,
    all_projects: bool = False,
    include_captured: bool = False,
    force: bool = False,
    progress: Callable[[int, int, ImportReport], None] | None = None,
) -> ImportReport:
    """Import the sessions in `sources` (from `discover`) into the raw log.

    A session belongs to `project` (default: the project of the current directory) when its
    working directory resolves to that project, or lies under its root; only those are
    imported unless `all_projects` (every session goes to the project of its directory,
    registered as needed). `force` puts every session into `project` whatever its directory
    (transcripts copied from another machine). Sessions already captured live are skipped
    unless `include_captured`.
    """
    sources = list(sources)
    if project is None and not all_projects:
        project = registry.resolve(os.getcwd())
    if force and project is None:
        raise WikimemError("Say which project to import into (force needs a project).")
    run = _Run(registry, project, all_projects=all_projects, force=force,
               include_captured=include_captured)
    for done, (imp, path) in enumerate(sources, start=1):
        run.file(imp, path)
        if progress is not None:
            progress(done, len(sources), run.report)
    return run.report


class _Run:
    def __init__(self, registry: Registry, project: Project | None, *, all_projects: bool,
                 force: bool, include_captured: bool):
        self.registry = registry
        self.project = project
        self.all_projects = all_projects
        self.force = force
        self.include_captured = include_captured
        self.report = ImportReport()
        self._targets: dict[str, tuple[Project | None, str]] = {}
        self._roots: list[str] | None = None

    def file(self, imp, path: Path) -> None:
        report = self.report
        if imp is None:
            if not os.access(path, os.R_OK):
                reason = "unreadable: permission denied"
            elif _size(path) == 0:
                reason = "empty file"
            else:
                reason = "not a recognised transcript or hook log"
            report.skipped_files.append((str(path), reason))
            return
        stats: Counter = Counter()
        try:
            items = list(imp.read(path, stats))
        except OSError as exc:
            report.skipped_files.append((str(path), f"unreadable: {exc.strerror or exc}"))
            return
        except Exception as exc:  # a parser bug on one file must not stop the backfill
            report.skipped_files.append((str(path), f"could not be parsed: {exc!r}"))
            return
        report.files += 1
        report.skipped_records.update(stats)
        if not items:
            report.skipped_files.append((str(path), "no events"))
            return
        sessions: dict[tuple[str, str], list[Imported]] = {}
        for item in items:
            agent = item.agent or imp.AGENT
            report.events[agent] += 1
            sessions.setdefault((agent, item.event.session), []).append(item)
        for (agent, session), group in sessions.items():
            self.session(agent, session, group, path)

    def session(self, agent: str, session: str, items: list[Imported], path: Path) -> None:
        report = self.report
        if not any(i.event.kind in SUBSTANCE for i in items):
            report.skipped_sessions.append({"session": session, "agent": agent,
                                            "file": str(path), "cwd": "", "reason": EMPTY})
            return
        cwd = next((i.event.cwd for i in items if i.event.cwd), "")
        if not cwd:
            cwd = self._root_for_hash(items)
        target, reason = self._target(cwd)
        if target is None:
            report.skipped_sessions.append({"session": session, "agent": agent,
                                            "file": str(path), "cwd": cwd, "reason": reason})
            return
        observations = []
        settings = privacy.apply(target)  # the project's own patterns, allow-list, ignore_paths
        for item in items:
            ev = item.event
            data = {**ev.data, "imported_from": path.name}
            event = Event(ev.session, ev.kind, ev.cwd or cwd, data, uid=ev.uid)
            pattern = privacy.ignored_by(settings, event, target.root)
            if pattern is not None:
                privacy.record_ignored(target, agent, event, pattern)
                report.ignored += 1
                continue
            observations.append(make_observation(agent, event, data, ts=item.ts))
        if not observations:
            return
        target.ensure_dirs()
        with rawlog.transaction(target.raw_dir, observations[0].session) as log:
            existing = log.read()
            if (existing and not self.include_captured
                    and any(not o.data.get("imported_from") for o in existing)):
                report.skipped_sessions.append({"session": session, "agent": agent,
                                                "file": str(path), "cwd": cwd,
                                                "reason": CAPTURED})
                return
            added = sum(log.append_many(observations))
        report.duplicates += len(observations) - added
        report.sessions += 1
        report.observations += added
        if added:
            report.sessions_updated += 1
            report.projects[target.project_id] = target

    def _target(self, cwd: str) -> tuple[Project | None, str]:
        if self.force:
            return self.project, ""
        if cwd not in self._targets:
            self._targets[cwd] = self._decide(cwd)
        return self._targets[cwd]

    def _decide(self, cwd: str) -> tuple[Project | None, str]:
        if not cwd:
            return None, "no working directory recorded"
        if not os.path.isabs(cwd):
            return None, f"working directory {cwd!r} is not a path on this system"
        if self.all_projects:
            return self.registry.resolve(cwd, create=True), ""
        if self.project is None:
            return None, OTHER_PROJECT
        try:
            found = self.registry.resolve(cwd, create=False)
        except WikimemError:
            found = None
        if found is not None:
            if found.project_id == self.project.project_id:
                return self.project, ""
            return None, OTHER_PROJECT
        if _under(cwd, self.project.root):
            return self.project, ""  # e.g. a folder deleted since, or a worktree moved away
        return None, OTHER_PROJECT

    def _root_for_hash(self, items: list[Imported]) -> str:
        """A project root whose Gemini project hash matches the session's, or ""."""
        wanted = next((i.event.data.get("project_hash") for i in items
                       if isinstance(i.event.data.get("project_hash"), str)), None)
        if not wanted:
            return ""
        if self._roots is None:
            roots = [self.project.root] if self.project and self.project.root else []
            try:
                roots += [p.root for p in self.registry.projects() if p.root]
            except WikimemError:
                pass
            self._roots = list(dict.fromkeys(roots))
        for root in self._roots:
            for variant in dict.fromkeys((root, os.path.realpath(root))):
                if hashlib.sha256(variant.encode("utf-8")).hexdigest() == wanted:
                    return root
        return ""


def _under(path: str, root: str) -> bool:
    if not root:
        return False
    for a, b in ((path, root), (os.path.realpath(path), os.path.realpath(root))):
        a, b = os.path.normpath(a), os.path.normpath(b)
        if a == b or a.startswith(b.rstrip(os.sep) + os.sep):
            return True
    return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def describe_default_locations(agent: str | None = None) -> str:
    """Where `wikimem import` looks when given no paths, for messages."""
    transcripts = transcript_agents()
    if agent is None:
        wanted = transcripts
    else:
        wanted = [name for name in [agents.canonical(agent)]
                  if agent not in HOOK_LOGS and name in transcripts]
    return (", ".join(agents.agent(name).importer.LOCATION for name in wanted)
            or "(none for this agent)")

