"""State: what the last compile left, so the next one reads only what is new.

`state/compile.json` (how far each raw file was compiled; the pages offered beside a person's
edit; the render memo of the pages written), the catalog of session summaries the aggregate
pages read (`state/sessions.json`, plus `state/sessions.jsonl`: the summaries changed since,
appended) and each session's full SessionRecord (`state/sessions/<log>.json`). All of it is a
cache of the raw log: missing or damaged state makes the next compile read everything again.
"""

from __future__ import annotations

import json
import os
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from wikimem.capture import rawlog
from wikimem.compile.sessions import PAGE_NAMES, SessionRecord, digest
from wikimem.compile.sessions import page_path as session_page_path
from wikimem.errors import WikimemError
from wikimem.fsio import open_nofollow
from wikimem.project import Project, ensure_home_dir, open_private, write_atomic

STATE_VERSION = 1
# Summaries appended to state/sessions.jsonl before sessions.json is written whole again
# (at least; or a quarter of the sessions, whichever is more).
JOURNAL_MIN = 256


class SessionSummary(NamedTuple):
    """What the aggregate pages (index, timeline, earlier sessions, links) read of a session.

    The full SessionRecord (prompts, commands, outcome...) is read only for the pages that
    show it; a field that is not here fails loudly instead of rendering as empty. A named
    tuple: every compile makes one per session, ten thousand of them.
    """

    session_id: str
    agent: str
    started: str
    ended: str
    title: str
    summary: str
    stem: str

    @property
    def date(self) -> str:
        return self.started[:10]

    @property
    def page_path(self) -> str:
        return session_page_path(self.stem)


_summary_fields = itemgetter(*SessionSummary._fields)
_chronological = itemgetter(2, 0)  # (started, session_id)


_SUMMARY_KEYS = (*SessionSummary._fields, "candidates", "files")


class State:
    """What the last compile left: `state/compile.json` (how far each raw file was compiled,
    pages offered and rendered), the summary of every session for the aggregate pages
    (`state/sessions.json`, plus `state/sessions.jsonl`: the summaries digested since, one
    per line, later lines winning) and `state/sessions/<log>.json` (each session's full
    SessionRecord).

    Records are read only for the sessions a compile renders and written only for the
    sessions it digested: as one file, a large wiki's records cost every compile a full read
    and write. The summaries of a large wiki are megabytes of JSON, so a compile appends the ones it
    changed and folds them into `sessions.json` only once they are many.
    """

    def __init__(self, project: Project):
        self.project = project
        self.path = project.state_dir / "compile.json"
        self.catalog_path = project.state_dir / "sessions.json"
        self.journal_path = project.state_dir / "sessions.jsonl"
        self.records_dir = project.state_dir / "sessions"
        self.offsets: dict[str, int] = {}
        self.catalog: dict[str, dict] = {}  # raw file name -> summary (_SUMMARY_KEYS)
        self.offered: dict[str, str] = {}  # human-edited page -> machine hash offered beside it
        # page -> [fingerprint, sha256 of its bytes] for the pages the last compile rendered
        # (see pages.write_pages): most are rendered again, unchanged, by the next one.
        # Structured pages' entries also get [size, mtime_ns, when checked] (`structured._holds`).
        self.rendered: dict[str, list[str]] = {}
        # what the structured pages in `rendered` were rendered from (`structured._structured_key`)
        self.structured: str | None = None
        self.names: int | None = None  # the page naming the catalog's stems follow
        # week -> hash of what its digest page shows of memory, for every week with a page
        # (compile.catchup.digest_pages)
        self.digests: dict[str, str] = {}
        self._records: dict[str, dict] = {}  # raw file name -> full record, read or digested
        self._unsaved: set[str] = set()  # records to write
        self._loaded = False
        self._journaled = 0  # summaries in sessions.jsonl

    def load(self) -> State:
        """What the last compile saved (empty if missing, damaged or of another version)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            catalog = json.loads(self.catalog_path.read_text(encoding="utf-8"))
            if data.get("version") == STATE_VERSION and isinstance(catalog, dict):
                self.offsets = {str(k): int(v) for k, v in data.get("offsets", {}).items()}
                self.offered = dict(data.get("offered", {}))
                rendered = data.get("rendered", {})
                self.rendered = rendered if isinstance(rendered, dict) else {}
                self.structured = data.get("structured")
                self.names = data.get("names")
                digests = data.get("digests", {})
                self.digests = digests if isinstance(digests, dict) else {}
                if any("prompts" in d for d in catalog.values()):
                    # Written by an older wikimem, with the full records inside: split them.
                    self.catalog = {name: _summary(d) for name, d in catalog.items()}
                    self._records = catalog
                    self._unsaved = set(catalog)  # saved whole, and the journal dropped
                else:
                    self.catalog = catalog
                    self._loaded = True
                    self._replay_journal()
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            # Missing or damaged state is a cache miss: the next compile reads everything.
            self.offsets, self.catalog, self.offered, self.rendered = {}, {}, {}, {}
            self.structured = None
            self.digests = {}
            self._loaded = False
        return self

    def _replay_journal(self) -> None:
        try:
            with open(self.journal_path, "rb") as f:
                blob = f.read()
        except FileNotFoundError:
            return
        complete = blob[:blob.rfind(b"\n") + 1]
        for line in complete.splitlines():
            d = json.loads(line)
            self.catalog[d.pop("log")] = d
            self._journaled += 1
        if len(complete) < len(blob):
            # Trigger: a compile killed mid-append. Why: appending after the fragment would
            # damage the next line. Outcome: the next save rewrites sessions.json whole (the
            # lost line's session was not marked compiled, so it is digested again anyway).
            self._journaled = -1

    def put(self, name: str, record: SessionRecord) -> None:
        """The digest of raw file `name`, to be saved."""
        self._records[name] = record.to_dict()
        self.catalog[name] = _summary(self._records[name])
        self._unsaved.add(name)

    def record(self, name: str) -> SessionRecord:
        """The full record of raw file `name` (digested again if its file is missing)."""
        d = self._records.get(name)
        if d is None:
            try:
                d = json.loads(self._record_path(name).read_text(encoding="utf-8"))
                self._records[name] = d
            except (OSError, ValueError):
                # A cache miss: the record is a function of the raw log.
                whole = rawlog.read(self.project.raw_dir / name)
                if not whole.observations:
                    raise WikimemError(
                        f"The compiled record of {name} is missing and its raw log is empty; "
                        "run `wikimem compile --rebuild`.") from None
                self.put(name, digest(whole.observations, self.project.root or ""))
                d = self._records[name]
        return SessionRecord.from_dict(d)

    def save(self) -> None:
        """Write the records digested, the catalog and compile.json."""
        # Compact JSON: with `indent`, json falls back from its C encoder to Python.
        if self._unsaved or not self._loaded or self._journaled < 0:
            ensure_home_dir(self.records_dir)
            for name in sorted(self._unsaved):
                # Written in place, not through a temporary file (half the cost, and a first
                # compile writes one per session): a record cut short by a crash does not
                # parse, and `record` digests that session again from the raw log.
                fd = open_nofollow(self._record_path(name),
                                   os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                with open(fd, "w", encoding="utf-8") as f:
                    f.write(json.dumps(self._records[name], sort_keys=True,
                                       separators=(",", ":")))
            if not self._loaded:  # a rebuild: records of logs that are gone go too
                keep = {self._record_path(name).name for name in self.catalog}
                for stale in self.records_dir.glob("*.json"):
                    if stale.name not in keep:
                        stale.unlink()
            self._save_catalog()
            self._unsaved.clear()
            self._loaded = True
        write_atomic(
            self.path,
            json.dumps({"version": STATE_VERSION, "offsets": self.offsets,
                        "offered": self.offered, "rendered": self.rendered,
                        "structured": self.structured, "names": PAGE_NAMES,
                        "digests": self.digests},
                       separators=(",", ":")),
        )

    def _save_catalog(self) -> None:
        """Append the changed summaries, or write them all once the journal is long."""
        pending = len(self._unsaved)
        if not self._loaded or self._journaled < 0 or \
                self._journaled + pending > max(JOURNAL_MIN, len(self.catalog) // 4):
            write_atomic(self.catalog_path,
                         json.dumps(self.catalog, sort_keys=True, separators=(",", ":")))
            self.journal_path.unlink(missing_ok=True)
            self._journaled = 0
            return
        lines = "".join(json.dumps({"log": name, **self.catalog[name]}, sort_keys=True,
                                   separators=(",", ":")) + "\n"
                        for name in sorted(self._unsaved))
        fd = open_private(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        with open(fd, "a", encoding="utf-8", newline="\n") as f:
            f.write(lines)
        self._journaled += pending

    def _record_path(self, name: str) -> Path:
        return self.records_dir / (name.removesuffix(".jsonl") + ".json")


def _summary(record: dict) -> dict:
    return {key: record[key] for key in _SUMMARY_KEYS if key in record}


def ordered(catalog: dict[str, dict]) -> list[SessionSummary]:
    """The sessions' summaries, oldest first."""
    make = SessionSummary._make
    return sorted((make(_summary_fields(d)) for d in catalog.values()), key=_chronological)
