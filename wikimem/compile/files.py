"""File pages: a page per file an agent changed, grouped by folder, and the folders' pages.

A file page (`files/<folders>/<name>-<hash>.md`) lists the sessions that changed the file and
what they did, the decisions, lessons, notes, goals and tasks that name it, and the errors
seen in it; a folder page (`files/<folders>.md`, the root's is `files.md`) lists its files and
subfolders. Every page is a pure function of the session summaries (their `files`) and
structured memory, so a compile renders only the pages of the files its sessions changed, of
the files memory names, and their folders, and a rebuild renders them all: the same bytes.
"""

from __future__ import annotations

import re
from collections import defaultdict

from wikimem.compile.state import SessionSummary
from wikimem.fsio import sha256_hex
from wikimem.wiki.pages import Page
from wikimem.wiki.text import bullets, code_span, escape_text, link_label, template

ROOT_PAGE = "files.md"
MAX_SESSIONS = 50  # sessions listed on a file page (the latest)
_SEGMENT = re.compile(r"[^a-z0-9._-]+")
_PATHLIKE = re.compile(r"[\w.@+~-]+(?:/[\w.@+~-]+)+")
_MEMORY_FIELDS = ("text", "why", "context", "correct", "acceptance", "result", "ruled_out",
                  "assumes")


def is_repo_path(path: str) -> bool:
    """A path inside the repository (relative, not climbing out of it)."""
    return bool(path) and not path.startswith(("/", "~", "../")) and ":" not in path[:3] \
        and ".." not in path.split("/")


def _segment(name: str) -> str:
    # A page name starts with a letter or digit (pages.check_page_path): `.github` -> `github`.
    return _SEGMENT.sub("-", name.lower()).strip("-._") or "x"


def folder_of(path: str) -> str:
    """The repository folder of a file path ("" at the root)."""
    return path.rpartition("/")[0]


def folder_page(folder: str) -> str:
    """The page of a repository folder ("" is the root's, files.md)."""
    if not folder:
        return ROOT_PAGE
    return "files/" + "/".join(_segment(s) for s in folder.split("/")) + ".md"


def file_page(path: str) -> str:
    """The page of a file (its path relative to the repository root): its folders as
    readable names, its own name and a hash of the whole path, so two paths never share a
    page whatever their case or characters."""
    folder, _, name = path.rpartition("/")
    base = folder_page(folder).removesuffix(".md") + "/" if folder else "files/"
    return f"{base}{_segment(name)[:48]}-{sha256_hex(path.encode('utf-8', 'surrogatepass'))[:8]}.md"


def link(page: str, label: str) -> str:
    return f"[[{page.removesuffix('.md')}|{link_label(label)}]]"


def file_link(path: str) -> str:
    """A link to a repository file's page, or the path in code when it has none."""
    return link(file_page(path), path) if is_repo_path(path) else code_span(path)


def named_files(memory, known: set[str]) -> dict[str, list]:
    """The changed files each structured memory item names: path -> items, by page."""
    named: dict[str, list] = defaultdict(list)
    for page in sorted(memory.items):
        item = memory.items[page]
        words = " ".join([item.title, *(str(item.fields.get(k) or "") for k in _MEMORY_FIELDS)])
        paths = {p.strip(".,;:)`'\"") for p in _PATHLIKE.findall(words)}
        paths |= {str(p) for p in item.fields.get("files") or []}
        for path in sorted(paths & known):
            named[path].append(item)
    return named


def changed_files(catalog: dict[str, dict]) -> dict[str, list[tuple[str, dict]]]:
    """Every repository file a session changed: path -> [(raw file, its entry)]."""
    found: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for name, summary in catalog.items():
        for path, info in (summary.get("files") or {}).items():
            found[path].append((name, info))
    return found


def file_pages(catalog: dict[str, dict], records: list[SessionSummary], memory,
               only: set[str] | None = None) -> list[Page]:
    """The pages of the changed files in `only` (all with None) and of their folders."""
    changed = changed_files(catalog)
    if not changed:
        return []
    by_log = {name: d["session_id"] for name, d in catalog.items()}
    summary_of = {r.session_id: r for r in records}
    named = named_files(memory, set(changed))
    wanted = sorted(changed if only is None else (only | set(named)) & set(changed))
    pages = []
    for path in wanted:
        sessions = sorted(((summary_of[by_log[name]], info) for name, info in changed[path]
                           if by_log.get(name) in summary_of),
                          key=lambda x: (x[0].started, x[0].session_id))
        pages.append(_file_page(path, sessions, named.get(path, []), memory))
    folders = {""}
    for path in wanted:
        parts = folder_of(path).split("/") if folder_of(path) else []
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    pages += [_folder_page(f, changed, summary_of, by_log) for f in sorted(folders)]
    return pages


def _file_page(path: str, sessions: list, items: list, memory) -> Page:
    retracted = memory.retracted
    lines, errors = [], []
    shown = sessions[-MAX_SESSIONS:]
    if len(sessions) > len(shown):
        lines.append(f"… {len(sessions) - len(shown)} earlier session(s) not listed")
    for rec, info in shown:
        gone = " (retracted)" if rec.page_path in retracted else ""
        n = info.get("changes", 0)
        did = (f"{n} change{'s' if n != 1 else ''}" if n else "changed it") + (
            f" ({', '.join(info['tools'])})" if info.get("tools") else "")
        lines.append(f"{rec.date} [[{rec.stem}|{link_label(rec.title)}]]{gone} — {did}")
        errors += [f"{rec.date} [[{rec.stem}|{link_label(rec.title)}]]: {escape_text(e)}"
                   for e in info.get("errors") or []]
    # By stem, as every page links structured items (their names are unique).
    named = [f"{link(i.page.rsplit('/', 1)[-1], i.title)} — {i.kind}, "
             f"{i.status.replace('_', ' ')}" for i in items]
    folder = folder_of(path)
    body = template("file.md").substitute(
        path=escape_text(path), code=code_span(path),
        folder=link(folder_page(folder), folder + "/" if folder else "the repository root"),
        sessions=bullets(lines), memory=bullets(named), errors=bullets(errors))
    meta = {
        "title": path, "kind": "file", "status": "active",
        "created": sessions[0][0].started if sessions else None,
        "updated": max((r.ended for r, _ in sessions), default=None),
        "sources": [f"file:{path}"] + [f"session:{r.session_id}" for r, _ in shown],
        "tags": ["file"], "aliases": [path],
    }
    return Page(file_page(path), meta, body)


def _folder_page(folder: str, changed: dict, summary_of: dict, by_log: dict) -> Page:
    prefix = folder + "/" if folder else ""
    files, subfolders = [], set()
    for path in sorted(changed):
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):]
        if "/" in rest:
            subfolders.add(prefix + rest.split("/", 1)[0])
        else:
            n = len(changed[path])
            files.append(f"{link(file_page(path), rest)} — {n} session{'s' if n != 1 else ''}")
    subs = [link(folder_page(s), s.rsplit("/", 1)[-1] + "/") for s in sorted(subfolders)]
    up = folder_of(folder)
    parent = (f"Part of {link(folder_page(up), up + '/' if up else 'the repository root')}."
              "\n\n" if folder else "")
    inside = [p for p in changed if p.startswith(prefix)]
    stamps = [summary_of[by_log[n]] for p in inside for n, _ in changed[p]
              if by_log.get(n) in summary_of]
    body = template("folder.md").substitute(
        title=escape_text(folder + "/" if folder else "Files"), parent=parent,
        intro=("Every file an agent changed in this repository, by folder."
               if not folder else f"Files agents changed in {code_span(folder + '/')}."),
        folders=bullets(subs), files=bullets(files))
    meta = {
        "title": folder + "/" if folder else "Files", "kind": "folder", "status": "active",
        "created": min((r.started for r in stamps), default=None),
        "updated": max((r.ended for r in stamps), default=None),
        "sources": [], "tags": ["folder"],
    }
    return Page(folder_page(folder), meta, body)


