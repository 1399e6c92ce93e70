"""The committed tree at HEAD, described: which files `wikimem bootstrap` reads and for what
(a `Planned` per file, by the roles `bootstrap/sources.txt` gives paths), and the `Layout`
the wiki shows (file counts, languages, modules, entry points).

A pure function of the tree's entries (`collect.tree`); nothing here runs git.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wikimem.repo.patterns import languages, sources

MAX_DOCS = 60
MAX_MODULES = 60
MAX_MEMBERS = 40
MAX_BLOB = 1_000_000  # bytes: larger files are not read


@dataclass(frozen=True)
class Entry:
    """A file of the tree at HEAD (`git ls-tree`)."""

    path: str
    blob: str
    size: int


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
