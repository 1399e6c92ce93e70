"""The compile journal, and the recovery of what an interrupted compile left behind.

A compile writes `state/compile.journal` before it touches anything and removes it when it
has finished. A journal found at the start means the last compile died (kill -9, power, full
disk) on the way: its git lock files are stale, its temporary files are litter, and the pages
it named may be written but not committed, or committed but not indexed. `recover` clears the
litter and says which pages those are, so this compile commits and indexes them with its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from wikimem import faults
from wikimem.project import Project, write_atomic
from wikimem.wiki import gitrepo
from wikimem.wiki.pages import is_machine_page, linked_part, remove_temporaries


class Journal:
    """`state/compile.journal`: written when a compile starts, removed when it has finished.

    It names every page the compile may write or remove, so the compile after a crash knows
    which uncommitted files are the machine's (not a person's edits), which pages to reindex,
    and that git lock files newer than the journal were left by the dead compiler.
    """

    def __init__(self, project: Project):
        self.path = project.state_dir / "compile.journal"
        self.crashed_at: float | None = None  # when the interrupted compile started
        self._pages: set[str] = set()

    def begin(self) -> set[str]:
        """Start this compile's journal; returns the pages an interrupted compile named."""
        left: set[str] = set()
        try:
            self.crashed_at = self.path.stat().st_mtime
            data = json.loads(self.path.read_text(encoding="utf-8"))
            left = {p for p in data.get("pages", []) if isinstance(p, str)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError):
            pass  # unreadable: the stale-lock cleanup still applies; pages are rewritten
        self._pages = set(left)
        self._save()
        faults.point("compile-start")
        return left

    def note(self, paths) -> None:
        """Record pages about to be written or removed (before touching them)."""
        new = set(paths) - self._pages
        if new:
            self._pages |= new
            self._save()

    def end(self) -> None:
        """The compile has finished: nothing is left to recover."""
        self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        write_atomic(self.path, json.dumps({"pid": os.getpid(), "pages": sorted(self._pages)},
                                           separators=(",", ":")))


@dataclass
class Recovery:
    """The wiki as a compile starts on it: its repository, this compile's journal (begun), what
    an interrupted compile left uncommitted, and the pages the index must read again."""

    repo: object  # the wiki's git repository (wiki.gitrepo)
    wiki_dir: Path
    journal: Journal
    leftovers: set[str]  # machine pages an interrupted compile left (or removed) uncommitted
    reindex: list[str]  # pages people edited, and every page an interrupted compile named
    human_commit: str | None  # the commit of people's edits made before the machine writes

    def commit(self, written: list[str], removed: list[str], message: str) -> str | None:
        """The machine commit, including what an interrupted compile left uncommitted."""
        gone = {rel for rel in self.leftovers if not (self.wiki_dir / rel).exists()}
        paths = sorted(set(written) | (self.leftovers - gone))
        return gitrepo.commit(self.repo, paths, message, removed=sorted(set(removed) | gone))


def recover(project: Project) -> Recovery:
    """Open the wiki for a compile: refuse a repository in the middle of a git operation, begin
    the journal, clear what an interrupted compile left (stale git locks, temporary files),
    and commit what people edited since the last compile (not the interrupted compile's pages,
    whatever `git status` says of them)."""
    repo = gitrepo.open_repo(project.wiki_dir)
    gitrepo.check_not_mid_operation(repo)
    journal = Journal(project)
    interrupted = journal.begin()
    gitrepo.remove_stale_locks(repo, since=journal.crashed_at)
    remove_temporaries(project.wiki_dir, interrupted)  # pages are renamed in batches
    leftovers = _leftovers(project.wiki_dir, interrupted)
    human_commit, human_paths = gitrepo.commit_human_edits(repo, exclude=leftovers)
    return Recovery(repo, project.wiki_dir, journal, leftovers,
                    reindex=human_paths + sorted(interrupted),  # whatever they hold now
                    human_commit=human_commit)


def _leftovers(wiki_dir: Path, interrupted: set[str]) -> set[str]:
    """Pages an interrupted compile named that hold machine text (or are gone): not a
    person's edits, whatever `git status` says. Pages behind a symbolic link are not the
    machine's to commit (it never writes through one)."""
    found = set()
    seen: dict[str, bool] = {}
    for rel in interrupted:
        if linked_part(wiki_dir, rel, seen):
            continue
        try:
            text = (wiki_dir / rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            found.add(rel)
            continue
        except (OSError, UnicodeError):
            continue
        if is_machine_page(text):
            found.add(rel)
    return found
