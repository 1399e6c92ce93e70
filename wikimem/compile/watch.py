"""`wikimem watch`: compile when observations arrive; commit and index human edits.

watchdog reports changes under `raw/` (new observations) and `wiki/` (a person editing pages
in Obsidian or an editor). Events are debounced; then one ordinary compile runs, which
commits human edits under the person's git identity, reindexes them, and compiles whatever
the raw log gained. Watch keeps no state of its own: if it crashes, the next compile (or the
next watch, which compiles once at start) catches up from the raw log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from wikimem.compile.build import CompileResult, compile_project
from wikimem.project import Project

_CHANGES = {"created", "modified", "deleted", "moved", "closed"}


class _Changes(FileSystemEventHandler):
    def __init__(self, project: Project):
        self.project = project
        self.last: float | None = None
        self.lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Only changes count: inotify also reports opens and reads, which a compile makes.
        if event.event_type not in _CHANGES or event.is_directory:
            return
        path = str(event.src_path).replace("\\", "/")
        if "/.git/" in path or path.endswith(".tmp"):
            return
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        if name.endswith((".lock", ".keys")):
            return
        self.touch()

    def touch(self) -> None:
        with self.lock:
            self.last = time.monotonic()

    def due(self, debounce: float) -> bool:
        with self.lock:
            if self.last is not None and time.monotonic() - self.last >= debounce:
                self.last = None
                return True
            return False


def watch(
    project: Project,
    *,
    debounce: float = 1.0,
    stop: threading.Event | None = None,
    on_compile: Callable[[CompileResult], None] | None = None,
    **compile_options,
) -> None:
    """Watch a project until `stop` is set (or KeyboardInterrupt)."""
    stop = stop or threading.Event()
    project.ensure_dirs()
    changes = _Changes(project)
    observer = Observer()
    observer.schedule(changes, str(project.raw_dir), recursive=False)
    observer.schedule(changes, str(project.wiki_dir), recursive=False)
    folders: set[str] = set()
    observer.start()
    report = on_compile or (lambda _r: None)
    try:
        report(compile_project(project, **compile_options))  # catch up first
        while not stop.wait(0.1):
            _watch_folders(observer, changes, project, folders)
            if changes.due(debounce):
                report(compile_project(project, **compile_options))
    finally:
        observer.stop()
        observer.join()


def _watch_folders(observer, handler, project: Project, folders: set[str]) -> None:
    """Watch each top-level wiki folder, but never `.git` (git's churn is not an edit)."""
    for entry in project.wiki_dir.iterdir():
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in folders:
            observer.schedule(handler, str(entry), recursive=True)
            folders.add(entry.name)
            handler.touch()  # a new folder may already hold pages written before the watch
