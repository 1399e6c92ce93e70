"""Reading an existing repository for `wikimem bootstrap` (standard library + the git CLI).

Two kinds of facts come out of a repository:

- commits, from ONE `git log` over the whole history, parsed as a stream (records start with
  RS and their fields are separated by US; the file list that follows is NUL-separated);
- files of the committed tree at HEAD (`git ls-tree`), chosen and given a role by the data
  file `bootstrap/sources.txt` (readme, docs, decision, rules, manifest, module headers), and
  read in one `git cat-file --batch`. Each file is reduced here to what the wiki uses (a
  README's opening, an ADR's sections, a rule file's items, a manifest's name and
  dependencies, a module's header), so the raw log stores facts, not whole files.

Nothing here writes anything; `repo_bootstrap` records what this module collects.
"""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from wikimem import datafiles
from wikimem.capture.privacy import translate_glob
from wikimem.errors import WikimemError

RS, US = b"\x1e", b"\x1f"
LOG_FORMAT = "%x1e%H%x1f%P%x1f%aN%x1f%aI%x1f%s%x1f%b%x1f"
# Keep a user's git configuration (signature checks, colours, pagers) out of our parsing.
GIT = ["git", "-c", "log.showSignature=false", "-c", "core.quotepath=off", "-c", "color.ui=never",
       "--no-pager"]
MAX_FILES_PER_COMMIT = 200  # the raw log caps lists at 200 items anyway
MAX_BODY = 1500
MAX_DOCS = 60
MAX_MODULES = 60
MAX_MEMBERS = 40
MAX_RULE_ITEMS = 150
MAX_BLOB = 1_000_000  # bytes: larger files are not read
PARAGRAPH = 600


# --- the data files ----------------------------------------------------------------------


def data_file(name: str) -> str:
    """A file of the `wikimem.bootstrap` data package (the repository's `bootstrap/`)."""
    return datafiles.read_text("bootstrap", name)


def _lines(name: str) -> list[tuple[str, str]]:
    out = []
    for line in data_file(name).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            head, _, rest = line.partition(" ")
            out.append((head, rest.strip()))
    return out


def glob_regex(pattern: str) -> re.Pattern:
    """A case-insensitive regex for a glob (`privacy.translate_glob`: `*` within one folder,
    `**/` any folders, `[...]` a class)."""
    return re.compile(translate_glob(pattern) + r"\Z", re.I)


@dataclass(frozen=True)
class Sources:
    """`bootstrap/sources.txt`, compiled."""

    roles: tuple[tuple[str, re.Pattern], ...]  # (role, regex) in file order
    ignore: tuple[re.Pattern, ...]
    containers: tuple[str, ...]
    headers: tuple[str, ...]
    members: tuple[re.Pattern, ...]

    def role(self, path: str) -> str | None:
        for role, rx in self.roles:
            if rx.match(path):
                return role
        return None

    def ignored(self, path: str) -> bool:
        return any(rx.match(path) for rx in self.ignore)

    def is_member(self, name: str) -> bool:
        return any(rx.match(name) for rx in self.members)


@cache
def sources() -> Sources:
    roles, ignore, containers, headers, members = [], [], [], [], []
    for role, pattern in _lines("sources.txt"):
        if role == "ignore":
            ignore.append(glob_regex(pattern))
        elif role == "container":
            containers.append(pattern.strip("/").lower())
        elif role == "header":
            headers.append(pattern)
        elif role == "member":
            members.append(glob_regex(pattern))
        else:
            roles.append((role, glob_regex(pattern)))
    return Sources(tuple(roles), tuple(ignore), tuple(containers), tuple(headers),
                   tuple(members))


@cache
def decision_patterns() -> tuple[tuple[str, re.Pattern], ...]:
    """`bootstrap/decision-patterns.txt`: (label, regex) pairs."""
    return tuple((label, re.compile(rx, re.I)) for label, rx in _lines("decision-patterns.txt"))


@cache
def languages() -> dict[str, str]:
    """`bootstrap/languages.txt`: file extension -> language."""
    return {ext.lower(): name for ext, name in _lines("languages.txt")}


# --- git ---------------------------------------------------------------------------------


def _git(root: Path, *args: str, check: bool = True, input: bytes | None = None) -> bytes:
    try:
        done = subprocess.run([*GIT, "-C", str(root), *args], capture_output=True,
                              input=input, check=False)
    except FileNotFoundError as exc:
        raise WikimemError("git is not installed or not on PATH; bootstrap reads the "
                           "repository with it.") from exc
    if check and done.returncode:
        msg = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise WikimemError(f"git {args[0]} failed in {root}: {msg[-1] if msg else 'error'}")
    return done.stdout


def repo_root(path: Path) -> Path:
    """The top of the git repository holding `path`."""
    try:
        out = _git(path, "rev-parse", "--show-toplevel")
    except WikimemError:
        raise WikimemError(f"{path} is not inside a git repository; `wikimem bootstrap` "
                           "reads the repository's history and files.") from None
    return Path(out.decode("utf-8", "replace").strip())


@dataclass
class Head:
    commit: str
    tree: str
    date: str  # committer date, ISO 8601 with offset
    remote: str = ""


def head(root: Path) -> Head:
    out = _git(root, "log", "-1", "--format=%H%x1f%T%x1f%cI", "HEAD", check=False)
    parts = out.decode("utf-8", "replace").strip().split("\x1f")
    if len(parts) != 3:
        raise WikimemError(f"The repository at {root} has no commits yet; commit something, "
                           "then run `wikimem bootstrap` again.")
    remote = _git(root, "config", "--get", "remote.origin.url", check=False)
    return Head(*parts, remote=remote.decode("utf-8", "replace").strip())


@dataclass
class Commit:
    """One commit as `git log` gives it (author names only, never e-mail addresses)."""

    hash: str
    parents: int
    author: str
    date: str  # author date, ISO 8601 with the author's offset
    subject: str
    body: str
    files: list[str] = field(default_factory=list)
    status: str = ""  # one letter (A, M, D, T...) per file in `files`
    files_total: int = 0

    def data(self) -> dict:
        return {"op": "commit", "hash": self.hash, "parents": self.parents,
                "author": self.author, "date": self.date, "subject": self.subject,
                "body": self.body, "files": self.files, "status": self.status,
                "files_total": self.files_total}


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def parse_record(record: bytes) -> Commit | None:
    """One RS-delimited record of LOG_FORMAT followed by `--name-status -z` output."""
    fields = record.split(US, 6)
    if len(fields) != 7 or len(fields[0]) < 40:
        return None
    sha, parents, author, date, subject, body, rest = fields
    tokens = rest.lstrip(b"\0\n").split(b"\0")
    files, status = [], []
    for i in range(0, len(tokens) - 1, 2):
        letter, path = tokens[i], tokens[i + 1]
        if letter and path:
            files.append(_decode(path))
            status.append(chr(letter[0]))
    body_text = _decode(body).strip()
    if len(body_text) > MAX_BODY:
        body_text = body_text[:MAX_BODY].rstrip() + " …"
    return Commit(
        hash=sha.decode("ascii", "replace"), parents=len(parents.split()),
        author=_decode(author).strip(), date=_decode(date).strip(),
        subject=_decode(subject).strip(), body=body_text,
        files=files[:MAX_FILES_PER_COMMIT], status="".join(status[:MAX_FILES_PER_COMMIT]),
        files_total=len(files),
    )


def iter_commits(root: Path, since: str | None = None) -> Iterator[Commit]:
    """Every commit reachable from HEAD, newest first, from one streamed `git log`."""
    cmd = [*GIT, "-C", str(root), "log", "--no-renames", "--name-status", "-z",
           "--encoding=UTF-8", f"--format={LOG_FORMAT}"]
    if since:
        cmd.append(f"--since={since}")
    cmd += ["HEAD", "--"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        buf = b""
        try:
            while chunk := proc.stdout.read(1 << 20):
                buf += chunk
                records = buf.split(RS)
                buf = records.pop()
                for rec in records:
                    if rec and (commit := parse_record(rec)):
                        yield commit
            if buf and (commit := parse_record(buf)):
                yield commit
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code:
            err.seek(0)
            msg = err.read().decode("utf-8", "replace").strip().splitlines()
            raise WikimemError(f"git log failed in {root}: {msg[-1] if msg else code}")


@dataclass(frozen=True)
class Entry:
    path: str
    blob: str
    size: int


def tree(root: Path) -> list[Entry]:
    """Every file of the committed tree at HEAD (submodules and symlinks left out)."""
    out = _git(root, "ls-tree", "-r", "-z", "-l", "--full-tree", "HEAD")
    entries = []
    for item in out.split(b"\0"):
        if not item:
            continue
        meta, _, path = item.partition(b"\t")
        parts = meta.split()
        if len(parts) != 4 or parts[1] != b"blob" or parts[0] == b"120000":
            continue
        size = int(parts[3]) if parts[3].isdigit() else 0
        entries.append(Entry(_decode(path), parts[2].decode("ascii"), size))
    return entries


def read_blobs(root: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of blobs, from one `git cat-file --batch`."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    out = _git(root, "cat-file", "--batch", input=("\n".join(wanted) + "\n").encode())
    blobs, pos = {}, 0
    for sha in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        blobs[sha] = out[pos:pos + size]
        pos += size + 1
    return blobs


# --- what to read ------------------------------------------------------------------------


@dataclass
class Planned:
    """A file chosen for reading, and what it is for."""

    path: str
    blob: str
    role: str  # readme, docs, decision, rules, manifest, header, member
    module: str = ""  # header/member: the module folder
    name: str = ""  # member: the name shown under the module (file, or subfolder/)


@dataclass
class Layout:
    """What the tree at HEAD looks like: counts, languages, modules, entry points."""

    files: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    top: list[str] = field(default_factory=list)
    modules: list[dict] = field(default_factory=list)
    entry_files: list[str] = field(default_factory=list)


ENTRY_NAMES = {"__main__.py", "main.go", "main.rs", "manage.py", "cli.py", "main.py",
               "index.js", "index.ts", "server.js", "server.ts", "app.py"}


def plan(entries: list[Entry]) -> tuple[list[Planned], Layout]:
    """Choose the files to read, by role, and describe the tree's layout."""
    src = sources()
    kept = [e for e in entries if not src.ignored(e.path)]
    by_path = {e.path: e for e in kept}
    layout = Layout(files=len(kept))
    langs: dict[str, int] = {}
    names = languages()
    for e in kept:
        ext = e.path.rsplit(".", 1)[-1].lower() if "." in e.path.rsplit("/", 1)[-1] else ""
        if ext in names:
            langs[names[ext]] = langs.get(names[ext], 0) + 1
    layout.languages = dict(sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))[:12])

    planned: list[Planned] = []
    readme = None
    docs = []
    for e in kept:
        if e.size > MAX_BLOB:
            continue
        role = src.role(e.path)
        if role == "readme":
            if readme is None or _readme_rank(e.path) < _readme_rank(readme.path):
                readme = Planned(e.path, e.blob, "readme")
        elif role == "docs":
            docs.append(Planned(e.path, e.blob, "docs"))
        elif role in ("decision", "rules", "manifest"):
            planned.append(Planned(e.path, e.blob, role))
    if readme:
        planned.append(readme)
    docs.sort(key=lambda p: (p.path.count("/"), p.path.lower()))
    planned += docs[:MAX_DOCS]

    # Modules: top-level folders; the subfolders of container folders instead of them.
    dirs: dict[str, int] = {}
    top_files = []
    for e in kept:
        first, sep, _ = e.path.partition("/")
        if sep:
            dirs[first] = dirs.get(first, 0) + 1
        else:
            top_files.append(first)
    layout.top = sorted(dirs)[:100] + sorted(top_files)[:100]
    modules: dict[str, int] = {}
    for d in sorted(dirs):
        if d.startswith((".", "_")):
            continue
        if d.lower() in src.containers:
            subs: dict[str, int] = {}
            for e in kept:
                parts = e.path.split("/")
                if parts[0] == d and len(parts) > 2:
                    subs[f"{d}/{parts[1]}"] = subs.get(f"{d}/{parts[1]}", 0) + 1
            if subs:
                modules.update(subs)
                continue
        modules[d] = dirs[d]
    chosen = sorted(modules.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_MODULES]
    lowered = {p.lower(): p for p in by_path}
    for mod, count in sorted(chosen):
        info = {"path": mod, "files": count, "header": "", "kind": _module_kind(mod, by_path)}
        header = _header_file(mod, by_path, lowered)
        if header:
            info["header"] = header
            planned.append(Planned(header, by_path[header].blob, "header", module=mod))
        planned += _members(mod, by_path, header, lowered)
        layout.modules.append(info)

    layout.entry_files = sorted(
        p for p in by_path
        if p.rsplit("/", 1)[-1] in ENTRY_NAMES and p.count("/") <= 3
        and (p.rsplit("/", 1)[-1] != "main.py" or p.count("/") <= 1)
        and not p.startswith(("test", "tests/", "docs/", "examples/", "bench/"))
    )[:30]
    return planned, layout


def _readme_rank(path: str) -> tuple:
    order = ["readme.md", "readme.rst", "readme.txt", "readme"]
    name = path.lower()
    return (path.count("/"), order.index(name) if name in order else 9)


def _header_file(module: str, by_path: dict[str, Entry],
                 lowered: dict[str, str]) -> str | None:
    """The first header file of a module (matched case-insensitively via `lowered`)."""
    for name in sources().headers:
        found = lowered.get(f"{module}/{name}".lower())
        if found and by_path[found].size <= MAX_BLOB:
            return found
    return None


def _module_kind(module: str, by_path: dict[str, Entry]) -> str:
    if f"{module}/__init__.py" in by_path:
        return "Python package"
    for name, kind in (("package.json", "npm package"), ("Cargo.toml", "Rust crate"),
                       ("go.mod", "Go module"), ("pyproject.toml", "Python project")):
        if f"{module}/{name}" in by_path:
            return kind
    return "folder"


def _members(module: str, by_path: dict[str, Entry], header: str | None,
             lowered: dict[str, str]) -> list[Planned]:
    """Source files directly in the module, and its subfolders (by their header file)."""
    src = sources()
    files, subdirs = [], set()
    prefix = module + "/"
    for path in by_path:
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):]
        if "/" in rest:
            sub = rest.split("/", 1)[0]
            if not sub.startswith((".", "_")):
                subdirs.add(sub)
        elif src.is_member(rest) and path != header and by_path[path].size <= MAX_BLOB:
            files.append(rest)
    out = []
    for sub in sorted(subdirs):
        sub_header = _header_file(f"{module}/{sub}", by_path, lowered)
        if sub_header:
            out.append(Planned(sub_header, by_path[sub_header].blob, "member", module, sub + "/"))
    for name in sorted(files):
        if name.lower() in ("__init__.py",):
            continue
        out.append(Planned(prefix + name, by_path[prefix + name].blob, "member", module, name))
    return out[:MAX_MEMBERS]


# --- extracting facts from files -----------------------------------------------------------


def extract(item: Planned, raw: bytes) -> dict:
    """What the wiki keeps of one file (see the module docstring)."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    data: dict = {"path": item.path, "role": item.role, "blob": item.blob}
    if item.role == "readme":
        data.update(readme_facts(text, item.path))
    elif item.role == "docs":
        data.update(doc_facts(text, item.path))
    elif item.role == "decision":
        data.update(adr_facts(text, item.path))
    elif item.role == "rules":
        data.update(rule_facts(text, item.path))
    elif item.role == "manifest":
        data.update(manifest_facts(text, item.path))
    else:
        data["module"] = item.module
        if item.name:
            data["name"] = item.name
        data["text"] = header_text(text, item.path, member=item.role == "member")
    return data


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_FENCE = re.compile(r"^\s*(```+|~~~+)")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.*)$")
_NOISE = re.compile(r"^\s*(?:<|!\[|\[!\[|\[!\w+\]|\|)")


def _collapse(text: str, limit: int = PARAGRAPH) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut[: cut.rfind(" ")] if " " in cut[limit // 2:] else cut).rstrip(",;:") + " …"


def _strip_frontmatter(text: str) -> tuple[dict, str, int]:
    """Simple `key: value` YAML frontmatter (no nesting), the rest, and its line count."""
    if not text.startswith("---\n"):
        return {}, text, 0
    end = text.find("\n---", 4)
    if end < 0:
        return {}, text, 0
    meta = {}
    for line in text[4:end].splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t", "-")):
            meta[key.strip().lower()] = value.strip().strip("'\"")
    rest_start = text.find("\n", end + 4)
    rest = text[rest_start + 1:] if rest_start >= 0 else ""
    return meta, rest, text[:rest_start + 1].count("\n") if rest_start >= 0 else 0


def blocks(text: str) -> list[tuple[int, str, str]]:
    """Markdown reduced to (line, kind, text) blocks: heading, para, bullet, code."""
    out: list[tuple[int, str, str]] = []
    lines = text.split("\n")
    i, para, para_line = 0, [], 0

    def flush():
        nonlocal para
        if para:
            out.append((para_line, "para", " ".join(s.strip() for s in para)))
            para = []

    while i < len(lines):
        line = lines[i]
        n = i + 1
        fence = _FENCE.match(line)
        if fence:
            flush()
            mark = fence.group(1)[:3]
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(mark):
                body.append(lines[i])
                i += 1
            out.append((n, "code", "\n".join(body)))
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            out.append((n, f"h{len(heading.group(1))}", heading.group(2)))
        elif para and len(para) == 1 and _SETEXT.match(line) and not _BULLET.match(para[0]):
            out.append((para_line, "h1" if line.strip()[0] == "=" else "h2", para[0].strip()))
            para = []
        elif not line.strip():
            flush()
        elif line.lstrip().startswith("<!--"):
            flush()
            while i < len(lines) and "-->" not in lines[i]:
                i += 1
        elif bullet := _BULLET.match(line):
            flush()
            depth = len(bullet.group(1).expandtabs(4)) // 2
            item = [bullet.group(2)]
            while (i + 1 < len(lines) and lines[i + 1].strip()
                   and not _BULLET.match(lines[i + 1]) and not _HEADING.match(lines[i + 1])
                   and not _FENCE.match(lines[i + 1])
                   and lines[i + 1].startswith((" ", "\t"))):
                i += 1
                item.append(lines[i].strip())
            out.append((n, f"bullet{min(depth, 3)}", " ".join(item)))
        else:
            if not para:
                para_line = n
            para.append(line)
        i += 1
    flush()
    return out


def _is_prose(text: str) -> bool:
    return bool(text.strip()) and not _NOISE.match(text) and len(text.split()) >= 4


def readme_facts(text: str, path: str) -> dict:
    """The README's title, its first prose paragraphs and its section headings."""
    title, intro, sections = "", [], []
    for _, kind, value in blocks(text):
        if kind == "h1" and not title:
            title = _collapse(value, 200)
        elif kind.startswith("h"):
            if len(sections) < 30:
                sections.append(_collapse(value, 120))
        elif kind == "para" and not sections and len(intro) < 3 and _is_prose(value):
            intro.append(_collapse(value))
    if not intro:  # a README whose prose starts under a heading
        for _, kind, value in blocks(text):
            if kind == "para" and _is_prose(value):
                intro.append(_collapse(value))
                break
    return {"title": title or path, "intro": intro, "sections": sections}


def doc_facts(text: str, path: str) -> dict:
    meta, body, _ = _strip_frontmatter(text)
    title, first, headings = meta.get("title", ""), "", []
    for _, kind, value in blocks(body):
        if kind == "h1" and not title:
            title = _collapse(value, 200)
        elif kind.startswith("h") and len(headings) < 20:
            headings.append(_collapse(value, 120))
        elif kind == "para" and not first and _is_prose(value):
            first = _collapse(value, 400)
    return {"title": title or posixpath.basename(path), "summary": first, "headings": headings}


# ADRs ---------------------------------------------------------------------------------------

_ADR_NUMBER = re.compile(r"^(?:adr[-_ ]?)?(\d{1,5})(?=[-_ .]|$)", re.I)
_ADR_REF = re.compile(r"\b(?:ADR|decision)[-_ #]*0*(\d{1,5})\b", re.I)
_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_TITLE_PREFIX = re.compile(r"^(?:ADR[-_ ]?\d+\s*[:.\-–—]?\s*|\d+\s*[.:\-–—]\s*)", re.I)
_FIELD_LINE = re.compile(r"^\s*(?:[-*]\s*)?\**(status|date|deciders|decision-makers)\**\s*:\s*"
                         r"\**\s*(.+?)\s*$", re.I)
_LINK_LINE = re.compile(r"^\W*(?:supersedes|superseded by|replaces|replaced by)\b", re.I)
_SECTIONS = {
    "status": "status",
    "context": "context", "context and problem statement": "context",
    "problem statement": "context", "problem": "context", "background": "context",
    "decision": "decision", "decision outcome": "decision", "outcome": "decision",
    "decision drivers": "drivers", "drivers": "drivers",
    "considered options": "options", "options considered": "options", "options": "options",
    "alternatives": "options", "alternatives considered": "options",
    "consequences": "consequences", "positive consequences": "consequences",
    "negative consequences": "consequences", "implications": "consequences",
}


def adr_facts(text: str, path: str) -> dict:
    """An ADR in MADR or Nygard form: number, title, status, date, sections, links."""
    meta, body, _ = _strip_frontmatter(text)
    stem = posixpath.basename(path).rsplit(".", 1)[0]
    number = _ADR_NUMBER.match(stem)
    facts: dict = {"number": int(number.group(1)) if number else None, "title": "",
                   "status": meta.get("status", ""), "date": meta.get("date", "")}
    parts: dict[str, list[str]] = {}
    links: list[str] = []  # "Supersedes ..." / "Superseded by ..." lines anywhere
    current = None
    for _, kind, value in blocks(body):
        if kind in ("para", "bullet0") and _LINK_LINE.match(value):
            links.append(value)
        if kind == "h1" and not facts["title"]:
            facts["title"] = _TITLE_PREFIX.sub("", value).strip() or value
            current = None
            continue
        if kind.startswith("h"):
            current = _SECTIONS.get(value.strip().strip(":").lower())
            if current is None and kind in ("h2", "h3") and parts.get("decision") is not None \
                    and value.lower().startswith(("positive", "negative", "pros", "cons")):
                current = "consequences"
            continue
        field_line = _FIELD_LINE.match(value) if kind in ("para", "bullet0") else None
        if field_line and current in (None, "status"):
            key = field_line.group(1).lower()
            if key == "status" and not facts["status"]:
                facts["status"] = field_line.group(2)
            elif key == "date" and not facts["date"]:
                facts["date"] = field_line.group(2)
            continue
        if current:
            shown = value if kind == "para" else (
                f"```\n{value}\n```" if kind == "code" else f"- {value}")
            parts.setdefault(current, []).append(shown)
    status_text = " ".join(parts.pop("status", [])) or facts["status"]
    facts["status"] = _collapse(status_text.lstrip("- "), 300)
    for key in ("context", "decision", "drivers", "options", "consequences"):
        facts[key] = _cap_block("\n".join(parts.get(key, [])), 1500)
    facts["title"] = _collapse(facts["title"] or stem.replace("-", " "), 200)
    date = re.search(r"\d{4}-\d{2}-\d{2}", facts["date"] or "")
    facts["date"] = date.group(0) if date else ""
    linked = " ".join([status_text, *links])
    facts["superseded_by"] = _refs(linked, "superseded by", path)
    facts["supersedes"] = list(dict.fromkeys(_refs(linked, "supersedes", path) + _refs(
        meta.get("supersedes", ""), "", path)))
    return facts


def _cap_block(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def _refs(text: str, after: str, path: str) -> list[str]:
    """ADR references in `text` after each `after` phrase: `path:<p>` or `number:<n>`.

    `after` is "supersedes" (also "replaces") or "superseded by" (also "replaced by"); an
    empty `after` reads the whole text.
    """
    phrases = {"supersedes": r"supersedes|replaces", "superseded by": r"superseded by|replaced by",
               "": None}[after]
    if phrases is None:
        tails = [text]
    else:
        tails = []
        for m in re.finditer(rf"\b(?:{phrases})\b", text, re.I):
            tail = text[m.end():]
            stop = re.search(r"\b(?:supersedes|superseded by|replaces|replaced by|amends|"
                             r"amended by)\b", tail, re.I)
            tails.append(tail[: stop.start()] if stop else tail)
    refs = []
    for tail in tails:
        for _, target in _MD_LINK.findall(tail):
            if "://" not in target and target.lower().endswith(".md"):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path),
                                                             target.split("#")[0]))
                refs.append(f"path:{resolved}")
        plain = _MD_LINK.sub(lambda m: m.group(1), tail)
        found = [f"number:{int(n)}" for n in _ADR_REF.findall(plain)]
        if not found:
            bare = re.match(r"\s*:?\s*#?0*(\d{1,5})\b", plain)
            found = [f"number:{int(bare.group(1))}"] if bare else []
        refs += found
    return list(dict.fromkeys(refs))


# Rules ----------------------------------------------------------------------------------------


def rule_facts(text: str, path: str) -> dict:
    """The items of an agent rule file: bullets, paragraphs and code blocks, with lines."""
    meta, body, offset = _strip_frontmatter(text)
    scope = {k: meta[k] for k in ("description", "globs", "alwaysapply") if meta.get(k)}
    items, heading = [], ""
    for line, kind, value in blocks(body):
        if kind.startswith("h"):
            heading = _collapse(value, 120)
            continue
        if len(items) >= MAX_RULE_ITEMS:
            break
        item = {"line": line + offset, "heading": heading}
        if kind == "code":
            if not value.strip():
                continue
            item["code"] = _cap_block(value, 1200)
        elif kind.startswith("bullet"):
            item["text"] = _collapse(value, 1000)
            item["depth"] = int(kind[-1])
        elif value.strip():
            item["text"] = _collapse(value, 1000)
        else:
            continue
        items.append(item)
    return {"scope": scope, "items": items}


# Manifests ------------------------------------------------------------------------------------

_GRADLE_DEP = re.compile(r"""(?:implementation|api)\s*\(?\s*["']([^"':]+:[^"':]+)""")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _names(values, limit: int = 60) -> list[str]:
    out = []
    for v in values or []:
        m = _REQ_NAME.match(str(v))
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out[:limit]


def manifest_facts(text: str, path: str) -> dict:
    """Name, description, version, language, dependencies and entry points of a manifest."""
    name = posixpath.basename(path).lower()
    try:
        if name == "pyproject.toml":
            return _pyproject(tomllib.loads(text))
        if name == "package.json":
            return _package_json(json.loads(text))
        if name == "cargo.toml":
            return _cargo(tomllib.loads(text))
        if name == "go.mod":
            return _go_mod(text)
        if name == "composer.json":
            d = json.loads(text)
            return {"kind": "composer.json", "language": "PHP", "name": str(d.get("name", "")),
                    "description": str(d.get("description", "")),
                    "version": str(d.get("version", "")),
                    "dependencies": sorted(d.get("require", {}))[:60], "entry_points": []}
        if name == "gemfile":
            gems = re.findall(r"^\s*gem\s+['\"]([^'\"]+)", text, re.M)
            return {"kind": "Gemfile", "language": "Ruby", "name": "", "description": "",
                    "version": "", "dependencies": gems[:60], "entry_points": []}
        if name == "pom.xml":
            def tag(t: str) -> str:
                m = re.search(rf"<project\b.*?<{t}>([^<]+)</{t}>", text, re.S)
                return m.group(1).strip() if m else ""
            deps = re.findall(r"<dependency>.*?<artifactId>([^<]+)</artifactId>", text, re.S)
            return {"kind": "pom.xml", "language": "Java", "name": tag("artifactId"),
                    "description": tag("description"), "version": tag("version"),
                    "dependencies": deps[:60], "entry_points": []}
        if name.startswith("build.gradle"):
            return {"kind": posixpath.basename(path), "language":
                    "Kotlin" if name.endswith(".kts") else "Java", "name": "",
                    "description": "", "version": "", "entry_points": [],
                    "dependencies": _GRADLE_DEP.findall(text)[:60]}
    except (ValueError, tomllib.TOMLDecodeError, AttributeError, TypeError) as exc:
        return {"kind": posixpath.basename(path), "error": f"could not parse: {exc}"[:200]}
    return {"kind": posixpath.basename(path)}


def _pyproject(d: dict) -> dict:
    project = d.get("project") or {}
    poetry = (d.get("tool") or {}).get("poetry") or {}
    scripts = {**(poetry.get("scripts") or {}), **(project.get("scripts") or {}),
               **(project.get("gui-scripts") or {})}
    deps = project.get("dependencies") or [k for k in (poetry.get("dependencies") or {})
                                           if k.lower() != "python"]
    return {
        "kind": "pyproject.toml", "language": "Python",
        "name": str(project.get("name") or poetry.get("name") or ""),
        "description": str(project.get("description") or poetry.get("description") or ""),
        "version": str(project.get("version") or poetry.get("version") or ""),
        "requires": f"Python {project['requires-python']}" if project.get("requires-python")
        else "",
        "dependencies": _names(deps),
        "extras": sorted(project.get("optional-dependencies") or {})[:20],
        "entry_points": [f"{k} = {v}" for k, v in sorted(scripts.items())][:20],
    }


def _package_json(d: dict) -> dict:
    deps = sorted(d.get("dependencies") or {})
    dev = sorted(d.get("devDependencies") or {})
    bins = d.get("bin")
    entry = ([f"{k} = {v}" for k, v in sorted(bins.items())] if isinstance(bins, dict)
             else [f"{d.get('name', 'bin')} = {bins}"] if isinstance(bins, str) else [])
    if isinstance(d.get("main"), str):
        entry.append(f"main = {d['main']}")
    ts = "typescript" in deps or "typescript" in dev
    return {
        "kind": "package.json", "language": "TypeScript" if ts else "JavaScript",
        "name": str(d.get("name", "")), "description": str(d.get("description", "")),
        "version": str(d.get("version", "")),
        "requires": f"node {d['engines']['node']}" if isinstance(d.get("engines"), dict)
        and d["engines"].get("node") else "",
        "dependencies": deps[:60], "dev_dependencies": dev[:40],
        "scripts": sorted(d.get("scripts") or {})[:20], "entry_points": entry[:20],
    }


def _cargo(d: dict) -> dict:
    package = d.get("package") or {}
    bins = [b.get("name", "") for b in d.get("bin") or [] if isinstance(b, dict)]
    return {
        "kind": "Cargo.toml", "language": "Rust", "name": str(package.get("name", "")),
        "description": str(package.get("description", "")),
        "version": str(package.get("version", "")),
        "requires": f"edition {package['edition']}" if package.get("edition") else "",
        "dependencies": sorted(d.get("dependencies") or {})[:60],
        "workspace": list((d.get("workspace") or {}).get("members") or [])[:40],
        "entry_points": [f"bin {b}" for b in bins if b][:20],
    }


def _go_mod(text: str) -> dict:
    module = re.search(r"^module\s+(\S+)", text, re.M)
    go = re.search(r"^go\s+(\S+)", text, re.M)
    requires = re.findall(r"^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]+/\S+)\s+v\S+", text, re.M)
    return {"kind": "go.mod", "language": "Go", "name": module.group(1) if module else "",
            "description": "", "version": "", "requires": f"go {go.group(1)}" if go else "",
            "dependencies": requires[:60], "entry_points": []}


# Module headers -----------------------------------------------------------------------------

_PY_DOC = re.compile(r'\A(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]*[rRuU]?("""|\'\'\')(.*?)\1', re.S)
_LICENSE = re.compile(r"copyright|spdx-license|licensed under|all rights reserved", re.I)


def header_text(text: str, path: str, *, member: bool = False) -> str:
    """What a file says about itself: a docstring, a top comment, a README's first paragraph."""
    name = posixpath.basename(path).lower()
    limit = 200 if member else PARAGRAPH
    if name.endswith((".md", ".rst", ".txt")) or name == "readme":
        facts = readme_facts(text, path)
        return _first(facts["intro"][0] if facts["intro"] else facts["title"], limit, member)
    if name in ("package.json", "cargo.toml", "pyproject.toml"):
        facts = manifest_facts(text, path)
        return _collapse(str(facts.get("description", "")), limit)
    if name.endswith(".py"):
        m = _PY_DOC.match(text)
        if m:
            return _first(_paragraph(m.group(2)), limit, member)
    return _first(_paragraph(_top_comment(text)), limit, member)


def _first(text: str, limit: int, member: bool) -> str:
    text = " ".join(text.split())
    if member:
        sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
        text = sentence
    return _collapse(text, limit)


def _paragraph(text: str) -> str:
    for para in re.split(r"\n\s*\n", text.strip()):
        if para.strip():
            return para
    return ""


def _top_comment(text: str) -> str:
    """The first comment block at the top of a file that is not a licence header."""
    lines = text.split("\n")
    i = 0
    if lines and lines[0].startswith("#!"):
        i = 1
    while i < len(lines):
        while i < len(lines) and (not lines[i].strip() or lines[i].strip() in
                                  ('"use strict";', "'use strict';")):
            i += 1
        if i >= len(lines):
            return ""
        line = lines[i].strip()
        block: list[str] = []
        if line.startswith("/*"):
            while i < len(lines):
                part = lines[i].strip()
                block.append(part)
                i += 1
                if "*/" in part:
                    break
            cleaned = [re.sub(r"^/\*+!?|\*+/$|^\*+", "", b).strip() for b in block]
        elif line.startswith(("//", "#", "--")) and not line.startswith("#!["):
            mark = "//" if line.startswith("//") else line[:2] if line.startswith("--") else "#"
            while i < len(lines) and lines[i].strip().startswith(mark):
                block.append(lines[i].strip())
                i += 1
            cleaned = [re.sub(r"^(?://[/!]?|#+|--)\s?", "", b) for b in block]
        else:
            return ""
        joined = "\n".join(cleaned).strip()
        if joined and not _LICENSE.search(joined) and not joined.startswith(("-*-", "eslint",
                                                                              "@ts-", "go:")):
            return joined
    return ""


# --- collect -------------------------------------------------------------------------------


@dataclass
class Collected:
    """Everything read from a repository in one run."""

    root: Path
    head: Head
    layout: Layout
    commits: list[Commit]
    planned: list[Planned]
    entries: list[Entry]

    def files(self, skip: Callable[[Planned], bool], progress=None) -> list[dict]:
        """Extracted facts of the planned files, except those `skip` says are unchanged."""
        todo = [p for p in self.planned if not skip(p)]
        blobs = read_blobs(self.root, [p.blob for p in todo])
        out = []
        for n, item in enumerate(todo, 1):
            raw = blobs.get(item.blob)
            if raw is not None:
                out.append(extract(item, raw))
            if progress and (n % 200 == 0 or n == len(todo)):
                progress(f"files read: {n}")
        return out


def collect(path: Path, since: str | None = None, progress=None) -> Collected:
    """Read the repository at `path`: commits (from `since`), the tree at HEAD, the plan."""
    root = repo_root(path)
    top = head(root)
    commits = []
    for commit in iter_commits(root, since):
        commits.append(commit)
        if progress and len(commits) % 1000 == 0:
            progress(f"commits read: {len(commits)}")
    if progress:
        progress(f"commits read: {len(commits)}")
    entries = tree(root)
    planned, layout = plan(entries)
    return Collected(root, top, layout, commits, planned, entries)
