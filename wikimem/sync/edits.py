"""Pages people edited, across machines: both edits survive, a conflict shows on the page.

A page a person edited (its text is not what the compiler wrote: `pages.is_machine_page`)
travels as `machines/<tag>/edits/<page>.json`: `{"text", "supersedes": [sha256 of every
version this one replaced]}`. A machine's version supersedes what the page held when sync
last wrote or sent it (the person edited *that*), and everything that one superseded.

Every machine resolves a page the same way from the same records (`resolve`): the versions
no other version supersedes are the heads. One head: that is the page. Several (two people
edited it on two machines): the page holds every head, in tag order, between conflict
markers, and supersedes them all - so once a person merges it by hand anywhere, that merge
supersedes everything and wins everywhere. Nothing is lost: every version stays in the
remote's history and in each wiki's git history.
"""

from __future__ import annotations

import hashlib
import json

from wikimem.project import Project
from wikimem.wiki.pages import CONFLICT_MARK as CONFLICT
from wikimem.wiki.pages import is_machine_page, put_person_pages, wiki_pages

EDITS = "edits"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _state_path(project: Project):
    return project.dir / "sync" / "edits.json"


def load_state(project: Project) -> dict:
    try:
        data = json.loads(_state_path(project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def person_pages(project: Project) -> dict[str, str]:
    """{page: text} of the pages a person edited on this machine (or sync wrote for one)."""
    found = {}
    for rel in wiki_pages(project.wiki_dir):
        try:
            text = (project.wiki_dir / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeError):
            continue
        if not is_machine_page(text):
            found[rel] = text
    return found


def own_records(project: Project, state: dict) -> dict[str, dict]:
    """{page: record} this machine sends, updating `state` ({page: {"hash", "supersedes"}}:
    what sync last wrote or sent)."""
    records = {}
    for rel, text in person_pages(project).items():
        h = sha(text)
        known = state.get(rel)
        if known and known["hash"] == h:
            supersedes = known["supersedes"]
        elif known:
            supersedes = sorted({*known["supersedes"], known["hash"]})
        else:
            supersedes = []
        state[rel] = {"hash": h, "supersedes": supersedes}
        records[rel] = {"text": text, "supersedes": supersedes}
    return records


def resolve(versions: dict[str, dict]) -> dict:
    """The page every machine ends with, from {tag: record}: a record itself (one head), or
    the conflict page over several heads."""
    superseded = {h for r in versions.values() for h in r["supersedes"]}
    heads: dict[str, tuple[str, dict]] = {}  # text hash -> (smallest tag holding it, record)
    for tag in sorted(versions):
        r = versions[tag]
        h = sha(r["text"])
        if h not in superseded and h not in heads:
            heads[h] = (tag, r)
    if len(heads) == 1:
        return next(iter(heads.values()))[1]
    ordered = sorted(heads.values(), key=lambda x: x[0])
    parts = [f"{CONFLICT}\n<!-- This page was edited on {len(ordered)} machines "
             f"({', '.join(t for t, _ in ordered)}): every version is kept below. Merge them "
             "by hand, delete the markers, then `wikimem sync`. -->\n"]
    for tag, r in ordered:
        parts.append(f"<<<<<<< {tag}\n{r['text'].rstrip(chr(10))}\n")
    parts.append(">>>>>>> end\n")
    supersedes = sorted(superseded | set(heads))
    return {"text": "".join(parts), "supersedes": supersedes}


def exchange(project: Project, me: str, peer_records: dict[str, dict[str, dict]],
             state: dict) -> tuple[list[str], list[str]]:
    """Resolve every page with versions from other machines; write what changes here.
    `peer_records`: {page: {tag: record}}. Returns (pages written, pages in conflict)."""
    mine = own_records(project, state)
    writes: dict[str, str] = {}
    for rel in sorted(set(peer_records)):
        versions = dict(peer_records[rel])
        if rel in mine:
            versions[me] = mine[rel]
        result = resolve(versions)
        if result["text"] != mine.get(rel, {}).get("text"):
            writes[rel] = result["text"]
            state[rel] = {"hash": sha(result["text"]), "supersedes": result["supersedes"]}
    written = put_person_pages(project.wiki_dir, writes)
    conflicts = sorted(rel for rel, text in person_pages(project).items()
                       if text.startswith(CONFLICT))
    return written, conflicts


def save_state(project: Project, state: dict) -> None:
    from wikimem.fsio import replace_file

    replace_file(_state_path(project), json.dumps(state, sort_keys=True).encode())
