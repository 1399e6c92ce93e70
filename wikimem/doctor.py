"""`wikimem doctor`: one line per check, PASS / WARN / FAIL, and the fix for each problem."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wikimem.capture import rawlog
from wikimem.errors import WikimemError
from wikimem.project import Project, Registry, home
from wikimem.wiki import gitrepo

AGENTS = ("claude-code", "codex", "gemini", "cursor")


@dataclass
class Check:
    name: str
    status: str  # PASS, WARN or FAIL
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def run_checks(cwd: str | os.PathLike, project: Project | None = None) -> list[Check]:
    """Every check, in the order a person would fix things."""
    checks = [check_home()]
    if project is None:
        try:
            project = Registry().resolve(cwd, create=False)
            checks.append(Check("project", "PASS",
                                f"{project.workspace}/{project.name} ({project.root})"))
        except WikimemError as exc:
            checks.append(Check("project", "FAIL", str(exc), "Run `wikimem init` here."))
    else:
        checks.append(Check("project", "PASS", f"{project.workspace}/{project.name}"))
    checks.append(check_git())
    if project is not None:
        checks += [check_links(project), check_wiki(project), check_index(project),
                   check_semantic(project)]
        checks += check_hooks(cwd)
        checks += [check_last_event(project), check_pending(project), check_errors(project),
                   check_raw(project), check_privacy(project)]
        checks += check_llm(project)
        checks += check_sync(project)
    return checks


def check_sync(project: Project) -> list[Check]:
    """Team memory: the last sync's outcome (a failed one is retried by the next, never
    fatal), and sessions not adopted because two machines recorded the same id."""
    from wikimem.sync import exchange, settings

    try:
        remote = settings.load(project)
    except WikimemError as exc:
        return [Check("sync", "FAIL", str(exc), "Fix [sync] or `wikimem remote set URL`.")]
    if remote is None:
        return []
    state = exchange.status(project)
    checks = []
    if state.get("error"):
        checks.append(Check("sync", "WARN", f"the last sync failed ({state.get('error_ts')}, "
                            f"{state.get('failures', 1)} in a row): {state['error']}",
                            "Check the remote (`wikimem remote show`) and run `wikimem sync`."))
    elif state.get("ok"):
        checks.append(Check("sync", "PASS", f"{remote.url} as {remote.machine!r}; last sync "
                            f"{state['ok']}"))
    else:
        checks.append(Check("sync", "WARN", f"{remote.url}: never synced",
                            "Run `wikimem sync`."))
    if state.get("clashes"):
        checks.append(Check("sync:clashes", "WARN", "recorded on two machines, kept this "
                            f"machine's: {', '.join(state['clashes'][:5])}",
                            "Nothing is lost; each machine keeps its own copy."))
    for page in state.get("conflicts", []):
        checks.append(Check("sync:conflict", "WARN", f"{page} was edited on two machines; "
                            "both versions are on the page",
                            f"Merge them by hand in {page} and sync."))
    return checks


def check_llm(project: Project) -> list[Check]:
    """The sessions LLM consolidation still owes, and why (nothing when none is owed)."""
    from wikimem.compile.llm_ledger import MAX_REJECTIONS, Queue

    queue = Queue(project)
    checks = []
    if queue.overview:
        checks.append(Check("llm overview", "WARN", "the LLM overview was not written "
                            f"(rule-based overview stands): {queue.overview.get('kind')}: "
                            f"{queue.overview.get('reason')}",
                            "`wikimem bootstrap --llm` asks again."))
    if not queue.sessions:
        return checks
    held = [sid for sid in queue.sessions if queue.held(sid)]
    latest = max(queue.sessions.items(), key=lambda kv: (str(kv[1].get("since")), kv[0]))
    paused = queue.paused()
    detail = (f"{len(queue.sessions)} session(s) owed LLM consolidation (rule-based pages "
              f"stand); latest reason: {latest[1].get('kind')}: {latest[1].get('reason')}")
    if held:
        detail += f"; {len(held)} held after {MAX_REJECTIONS} rejected answers each"
    fix = ("They are tried again by the next `wikimem compile --llm` (or hook-started compile "
           "with [llm] enabled), within the caps"
           + (f", after {paused} (the API asked to wait)" if paused else "")
           + (". Held sessions: `wikimem compile --llm --rebuild`." if held else "."))
    return [*checks, Check("llm", "WARN", detail, fix)]


def check_home() -> Check:
    path = home()
    if not path.exists():
        return Check("home", "WARN", f"{path} does not exist yet",
                     "Run `wikimem init` in a repository (or set WIKIMEM_HOME).")
    if not os.access(path, os.W_OK):
        return Check("home", "FAIL", f"{path} is not writable",
                     f"Fix its permissions: chmod u+rwx {path}, or set WIKIMEM_HOME.")
    mode = path.stat().st_mode & 0o777
    if os.name != "nt" and mode & 0o077:
        return Check("home", "WARN", f"{path} is readable by others (mode {mode:o})",
                     f"chmod 700 {path}")
    return Check("home", "PASS", f"{path} (mode {mode:o})")


def check_git() -> Check:
    version = gitrepo.git_version()
    if version is None:
        return Check("git", "FAIL", "git is not installed", "Install git (https://git-scm.com).")
    return Check("git", "PASS", version)


def check_links(project: Project) -> Check:
    """Every symbolic link in the project's folder (raw/, wiki/ but its .git, index/, state/
    and beside them): wikimem never writes through one, so what it hides is not recorded."""
    found = [d for d in (project.dir.parent, project.dir) if d.is_symlink()]
    if not found:
        found = _links(project.dir, skip=project.wiki_dir / ".git")
    if not found:
        return Check("links", "PASS", "no symbolic links in the project's folders")
    named = ", ".join(f"{link} -> {os.readlink(link)}" for link in found)
    return Check("links", "FAIL",
                 f"{len(found)} symbolic link(s) in the project's folders, not written "
                 f"through: {named}",
                 "Remove each (rm " + " ".join(str(link) for link in found[:5])
                 + (" ..." if len(found) > 5 else "") + ") and put back the real folder or "
                 "file; then run `wikimem compile`.")


def _links(top: Path, skip: Path) -> list[Path]:
    """Every symbolic link below `top`, not looking into links nor into `skip`."""
    found: list[Path] = []
    folders = [top]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                for e in entries:
                    if e.is_symlink():
                        found.append(Path(e.path))
                    elif e.is_dir() and Path(e.path) != skip:
                        folders.append(Path(e.path))
        except OSError:  # (gone meanwhile, or not a folder)
            continue
    return sorted(found)


def check_wiki(project: Project) -> Check:
    wiki = project.wiki_dir
    if not (wiki / ".git").is_dir():
        return Check("wiki", "WARN", f"{wiki} is not a git repository yet",
                     "Run `wikimem compile` (or `wikimem init`).")
    lock = gitrepo.index_lock(wiki)
    if lock is not None:
        return Check("wiki", "FAIL", "a stale git lock file is in the wiki repository",
                     f"If no git command is running: rm {lock}")
    operation = gitrepo.operation_in_progress(wiki / ".git")
    if operation is not None:
        return Check("wiki", "FAIL", f"the wiki repository is in the middle of "
                     f"{operation.what}: compile will not commit into it until it ends",
                     f"In {wiki}, {operation.advice}.")
    problems = gitrepo.fsck_problems(wiki)
    if problems is not None:
        return Check("wiki", "FAIL", "git fsck reports problems: " + problems[:200],
                     "Rebuild from the raw log: move the wiki aside, then `wikimem compile "
                     "--rebuild`.")
    dirty = gitrepo.uncommitted_count(wiki)
    if dirty:
        return Check("wiki", "WARN", f"{dirty} uncommitted change(s) in the wiki",
                     "Run `wikimem compile`: it commits them under your name.")
    return Check("wiki", "PASS", f"{wiki} is a healthy git repository")


def check_index(project: Project) -> Check:
    from wikimem.search.index import SearchIndex
    from wikimem.wiki.pages import wiki_pages

    pages = set(wiki_pages(project.wiki_dir)) if project.wiki_dir.is_dir() else set()
    if not any(project.index_dir.iterdir()) if project.index_dir.is_dir() else True:
        return Check("index", "WARN" if pages else "PASS",
                     "no search index yet" if pages else "no pages yet, no index needed",
                     "Run `wikimem reindex`." if pages else "")
    indexed = SearchIndex(project.index_dir, project.wiki_dir).indexed_paths()
    missing, extra = pages - indexed, indexed - pages
    if missing or extra:
        return Check("index", "WARN",
                     f"index differs from the pages: {len(missing)} unindexed, "
                     f"{len(extra)} stale", "Run `wikimem reindex`.")
    return Check("index", "PASS", f"{len(indexed)} pages indexed")


def check_semantic(project: Project) -> Check:
    """The hybrid search: off, on with the project's pages embedded, or why not."""
    from wikimem.search import semantic

    if not semantic.installed():  # (before status(), which imports the runtime to check it)
        return Check("semantic", "PASS", "off: search is BM25 alone (hybrid: pip install "
                     "'wikimem[semantic]', then wikimem semantic fetch)")
    found = semantic.status()
    if found["switched_off"]:
        return Check("semantic", "PASS", "model fetched, switched off by WIKIMEM_SEMANTIC=0")
    if found["runtime"] != "ok":
        return Check("semantic", "WARN", f"a model is fetched but its runtime is missing: "
                     f"{found['runtime']}; search is BM25 alone", semantic.INSTALL_HINT)
    manifest = found.get("manifest") or {}
    from wikimem.search.vectors import VectorStore

    store = VectorStore(project.index_dir)
    failure = store.error()
    if failure:
        return Check("semantic", "WARN", f"the last embedding of this project's pages failed: "
                     f"{failure}", "Run `wikimem reindex`; if it fails again, "
                     "`wikimem semantic fetch --force`.")
    data = store.load()
    if data is None or data["meta"].get("fingerprint") != manifest.get("fingerprint"):
        return Check("semantic", "WARN", f"on ({manifest.get('name')}), but this project's "
                     "pages are not embedded yet", "Run `wikimem reindex`.")
    return Check("semantic", "PASS", f"on: {manifest.get('name')} "
                 f"({manifest.get('dim')} dimensions), {len(data['meta']['paths'])} pages, "
                 f"{len(data['vectors'])} passages embedded")


def check_hooks(cwd) -> list[Check]:
    try:
        from wikimem.agents import installers
    except ImportError:  # pragma: no cover - installers ship with wikimem
        return []
    checks = []
    for agent in AGENTS:
        found = []
        for scope in ("project", "user"):
            try:
                st = installers.status(agent, scope, cwd=cwd)
            except WikimemError as exc:
                checks.append(Check(f"hooks:{agent}", "FAIL", str(exc),
                                    "Fix the settings file named above."))
                break
            if st.get("installed"):
                found.append((scope, st))
        else:
            if not found:
                checks.append(Check(f"hooks:{agent}", "WARN", "not installed",
                                    f"wikimem install-hooks --agent {agent} --apply"))
                continue
            scope, st = found[0]
            if not st.get("points_at_this_wikimem", True):
                checks.append(Check(f"hooks:{agent}", "WARN",
                                    f"installed ({scope}) but runs {st.get('command')!r}, not "
                                    "this wikimem",
                                    f"wikimem install-hooks --agent {agent} --apply"))
            elif st.get("missing_events"):
                checks.append(Check(f"hooks:{agent}", "WARN",
                                    f"installed ({scope}) without events "
                                    f"{', '.join(st['missing_events'])}",
                                    f"wikimem install-hooks --agent {agent} --apply"))
            else:
                checks.append(Check(f"hooks:{agent}", "PASS", f"installed ({scope}: "
                                    f"{st.get('path')})"))
    return checks


def _raw_files(project: Project) -> list[Path]:
    return list(rawlog.session_files(project.raw_dir))


def check_last_event(project: Project) -> Check:
    files = _raw_files(project)
    if not files:
        return Check("capture", "WARN", "no event captured yet",
                     "Install the hooks (`wikimem install-hooks --agent ...`) and start a "
                     "session.")
    newest = max(files, key=lambda p: p.stat().st_mtime)
    when = datetime.fromtimestamp(newest.stat().st_mtime, UTC)
    age = datetime.now(UTC) - when
    detail = f"last event {when:%Y-%m-%d %H:%M} UTC ({_age(age)} ago) in raw/{newest.name}"
    return Check("capture", "PASS", detail)


def check_pending(project: Project) -> Check:
    try:
        offsets = json.loads((project.state_dir / "compile.json").read_text())["offsets"]
    except (OSError, ValueError, KeyError):
        offsets = {}
    waiting = [p for p in _raw_files(project) if p.stat().st_size > offsets.get(p.name, 0)]
    if (project.state_dir / "compile.journal").exists():
        from wikimem.locks import locked

        with locked(project.state_dir / "compile.lock", blocking=False) as idle:
            if idle:  # a journal without a running compiler: the last one died
                return Check("compile", "WARN", "the last compile was interrupted",
                             "Run `wikimem compile`: it commits and indexes what the "
                             "interrupted one left, and carries on.")
    if waiting:
        return Check("compile", "WARN", f"{len(waiting)} log(s) have observations not compiled",
                     "Run `wikimem compile` (hooks start one after each session stop).")
    return Check("compile", "PASS", "everything captured is compiled")


def check_errors(project: Project) -> Check:
    log = project.error_log
    if not log.exists():
        return Check("errors", "PASS", "no errors logged")
    lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln]
    recent = []
    cutoff = datetime.now(UTC) - timedelta(days=1)
    for line in lines:
        try:
            record = json.loads(line)
            ts = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            continue
        if ts >= cutoff:
            recent.append(record)
    if recent:
        return Check("errors", "WARN", f"{len(recent)} error(s) in the last 24 hours; latest: "
                     f"{recent[-1].get('error', '')[:160]}", f"Read {log}")
    return Check("errors", "PASS", f"{len(lines)} older error(s) in {log.name}, none recent")


def check_raw(project: Project) -> Check:
    bad = {}
    for path in _raw_files(project):
        result = rawlog.read(path)
        if result.bad_lines:
            bad[path.name] = result.bad_lines
    if bad:
        where = ", ".join(f"{k} (lines {v[:3]})" for k, v in sorted(bad.items())[:3])
        return Check("raw log", "WARN", f"{sum(map(len, bad.values()))} unreadable line(s): "
                     f"{where}", "They are skipped by compile; nothing else is needed unless "
                     "they keep appearing (check errors.log).")
    return Check("raw log", "PASS", f"{len(_raw_files(project))} log file(s) parse")


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_privacy(project: Project) -> Check:
    """`[redact]` patterns and allow-list, `ignore_paths`: readable, valid, what they do."""
    from wikimem.capture import privacy

    settings = privacy.load(project)
    files = [str(p) for p in privacy.config_files(project) if p.is_file()]
    if settings.errors:
        return Check("privacy", "FAIL", "; ".join(settings.errors),
                     "Fix the entries named (the hook leaves them out until then).")
    dropped = privacy.ignored_count(project)
    detail = (f"{len(settings.patterns)} redaction pattern(s), {len(settings.allow)} allowed "
              f"value(s), {len(settings.ignore)} ignored path pattern(s)"
              + (f" ({dropped} event(s) dropped)" if dropped else "")
              + (f" from {', '.join(files)}" if files else ""))
    return Check("privacy", "PASS", detail)
