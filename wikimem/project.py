"""Project identity and storage layout (stdlib only: used on the hook path).

A project is the git repository a working directory belongs to (worktrees of one repository
share its common git dir, so they are one project), or the directory holding a `.wikimem.toml`
marker, or - outside any repository - the directory itself. Projects live under
`$WIKIMEM_HOME/<workspace-uuid>/<project-uuid>/`; `registry.json` maps names and repository
keys to those UUIDs, so renaming a project rewrites one JSON entry and moves no files.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections import namedtuple

from wikimem.errors import ProjectNotFound, SymlinkRefused, WikimemError
from wikimem.fsio import open_nofollow, replace_file, sha256_hex
from wikimem.locks import locked

MARKER = ".wikimem.toml"
LOOKUP_DIR = "lookup"
REGISTRY_VERSION = 1
DEFAULT_WORKSPACE = "default"


def home() -> os.PathLike:
    """The wikimem home: `$WIKIMEM_HOME`, else the platform's per-user data directory."""
    return _path(home_folder())


def home_folder() -> str:
    """`home()` as a string (the hook path works with strings: see `_path`)."""
    env = os.environ.get("WIKIMEM_HOME")
    if env:
        return os.path.expanduser(env)
    user = os.path.expanduser("~")
    if sys.platform == "win32":  # pragma: no cover - Windows only
        base = os.environ.get("LOCALAPPDATA") or os.path.join(user, "AppData", "Local")
        return os.path.join(base, "wikimem")
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        return os.path.join(user, "Library", "Application Support", "wikimem")
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(user, ".local", "share")
    return os.path.join(base, "wikimem")


def _path(folder) -> os.PathLike:
    """A `pathlib.Path` (what every Path-returning function here returns), importing pathlib
    only now.

    Why: pathlib (with urllib.parse, ipaddress and fnmatch, which it imports) costs the hook
    process about as much as all of wikimem's own modules, and the hook needs no Path: it
    works with the string forms (`home_folder`, `Project.folder`, `Project.file`).
    """
    from pathlib import Path

    return Path(folder)


def _signature(st: os.stat_result) -> list:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def check_no_links(path, *, inclusive: bool = True) -> None:
    """Raise SymlinkRefused if a folder between the home and `path` (and `path` itself, when
    `inclusive`) is a symbolic link. Paths outside the home are not looked at.

    Why: O_NOFOLLOW guards only a path's last part; a linked folder above it (`raw/`, the
    project's folder) would still lead the write out of the home.
    """
    home = os.path.abspath(home_folder())
    path = os.path.abspath(os.fspath(path))
    if not path.startswith(home + os.sep):
        return
    parts = path[len(home) + 1:].split(os.sep)
    if not inclusive:
        parts.pop()
    folder = home
    for part in parts:
        folder = os.path.join(folder, part)
        try:
            mode = os.lstat(folder).st_mode
        except OSError:  # (missing, or not a folder: what follows makes it or says why)
            return
        if stat.S_ISLNK(mode):
            raise SymlinkRefused(folder)


def open_private(path, flags: int) -> int:
    """`os.open` (0600) for a file in the home: never through a link, at it or above it."""
    check_no_links(path, inclusive=False)
    return open_nofollow(path, flags)


def write_atomic(path, data: str | bytes) -> None:
    """Replace the file at `path` in the home with `data` (fsio.replace_file), refusing a
    linked folder on the way; a link at `path` itself is replaced, never written through."""
    check_no_links(path, inclusive=False)
    replace_file(path, data)


def ensure_home_dir(path):
    """`ensure_private_dir` for a folder in the home: a link on the way is refused, not
    followed (SymlinkRefused)."""
    check_no_links(path)
    return ensure_private_dir(path)


def ensure_private_dir(path):
    """Create `path` (and parents) with mode 0700 where we create it."""
    if not os.path.isdir(path):
        # (os.makedirs gives the parents it creates the default mode, not `mode`.)
        missing = [os.path.abspath(path)]
        while (not os.path.isdir(os.path.dirname(missing[-1]))
               and os.path.dirname(missing[-1]) != missing[-1]):
            missing.append(os.path.dirname(missing[-1]))
        for d in reversed(missing):
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                continue
            if os.name != "nt":
                os.chmod(d, 0o700)
    return path


# Value types are named tuples, not dataclasses: `dataclasses` imports `inspect`, which would
# cost the hook process more than its whole job.
class Project(namedtuple("Project", "name project_id workspace workspace_id root folder")):
    """A registered project and where its data lives (immutable).

    `root` is the directory the project was resolved from (repository root, marker dir);
    `folder` the project's folder under the wikimem home (`dir` is the same as a Path).
    """

    __slots__ = ()

    @property
    def dir(self) -> os.PathLike:
        return _path(self.folder)

    def file(self, *parts: str) -> str:
        """A path inside the project's folder, as a string (what the hook path uses)."""
        return os.path.join(self.folder, *parts)

    @property
    def raw_dir(self) -> os.PathLike:
        return self.dir / "raw"

    @property
    def wiki_dir(self) -> os.PathLike:
        return self.dir / "wiki"

    @property
    def index_dir(self) -> os.PathLike:
        return self.dir / "index"

    @property
    def state_dir(self) -> os.PathLike:
        return self.dir / "state"

    @property
    def error_log(self) -> os.PathLike:
        return self.dir / ERROR_LOG

    @property
    def context_file(self) -> os.PathLike:
        """The precomputed session-start block the hook prints."""
        return self.dir / CONTEXT_FILE

    def ensure_dirs(self, *checked: str) -> None:
        """Create the project's folders (0700) if they are missing.

        Its workspace's folder, its own and the folders named in `checked` (all four when
        none is named) must not be symbolic links: wikimem never writes through one
        (SymlinkRefused). The hook names only `raw`, so a linked `wiki/` stops compiles,
        not capture.
        """
        base = self.folder
        for d in (os.path.dirname(base), base,
                  *(os.path.join(base, d) for d in checked or LAYOUT)):
            if os.path.islink(d):
                raise SymlinkRefused(d)
        folders = [base, *(os.path.join(base, d) for d in LAYOUT)]
        if all(os.path.isdir(d) for d in folders[1:]):
            return
        for d in folders:
            ensure_private_dir(d)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "project_id": self.project_id,
            "workspace": self.workspace,
            "workspace_id": self.workspace_id,
            "root": self.root,
            "dir": self.folder,
            "wiki": os.path.join(self.folder, "wiki"),
        }


LAYOUT = ("raw", "wiki", "index", "state")  # a project's folders
ERROR_LOG = os.path.join("state", "errors.log")
CONTEXT_FILE = os.path.join("state", "context.md")


# Where a working directory sits: its project root, repository key and marker settings.
Location = namedtuple("Location", "root key marker")


def _git_common_dir(dotgit: str) -> str | None:
    """Mirror `git rev-parse --git-common-dir` for the `.git` entry found at a directory.

    Done in Python because the hook resolves the project on every event and a git
    subprocess would cost more than the rest of the hook together.
    """
    if os.path.isdir(dotgit):
        return dotgit
    try:
        with open(dotgit, encoding="utf-8", errors="replace") as f:
            text = f.read().strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = text[len("gitdir:") :].strip()
    if not os.path.isabs(gitdir):
        gitdir = os.path.join(os.path.dirname(dotgit), gitdir)
    commondir = os.path.join(gitdir, "commondir")
    if os.path.isfile(commondir):
        try:
            with open(commondir, encoding="utf-8") as f:
                rel = f.read().strip()
        except OSError:
            return gitdir
        return rel if os.path.isabs(rel) else os.path.join(gitdir, rel)
    return gitdir


def _read_marker(path: str) -> dict:
    """The project keys of a `.wikimem.toml`.

    Importing `tomllib` costs a hook more than the rest of its work, so what a marker said is
    kept in `lookup/marker-<hash of its path>.json` under the home, valid while the file has
    the same inode, size and modification time; the hook then reads that small JSON instead.
    """
    try:
        signature = _signature(os.stat(path))
    except OSError as exc:
        raise WikimemError(f"{path} cannot be read ({exc}); fix or remove it.") from exc
    cache = os.path.join(home_folder(), LOOKUP_DIR,
                         "marker-" + sha256_hex(path.encode("utf-8", "surrogatepass"))[:32]
                         + ".json")
    try:
        with open(cache, "rb") as f:
            entry = json.loads(f.read())
        if entry["path"] == path and entry["signature"] == signature:
            return {str(k): str(v) for k, v in entry["marker"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    marker = _parse_marker(path)
    try:
        ensure_home_dir(os.path.dirname(cache))
        write_atomic(cache, json.dumps({"path": path, "signature": signature, "marker": marker},
                                       ensure_ascii=False))
    except OSError:  # a cache: a read-only home (or a linked folder) parses the file each time
        pass
    return marker


def _parse_marker(path: str) -> dict:
    import tomllib  # only when a marker changed: the hook imports this module on every event

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WikimemError(f"{path} is not valid TOML ({exc}); fix or remove it.") from exc
    section = data.get("project", data)
    if not isinstance(section, dict):
        section = {}
    return {k: str(v) for k, v in section.items() if k in ("name", "workspace", "id")}


def locate(start: str | os.PathLike) -> Location:
    """Find the project root (a Path), repository key and marker for a working directory."""
    loc = _locate(start)
    return Location(_path(loc.root), loc.key, loc.marker)


def _locate(start: str | os.PathLike) -> Location:
    """`locate`, with the root as a string."""
    start_path = os.path.abspath(os.path.expanduser(os.fspath(start)))
    marker_dir: str | None = None
    repo_root: str | None = None
    common: str | None = None
    d = start_path
    while True:
        if marker_dir is None and os.path.isfile(os.path.join(d, MARKER)):
            marker_dir = d
        dotgit = os.path.join(d, ".git")
        if os.path.lexists(dotgit):
            common = _git_common_dir(dotgit)
            if common is not None:
                common = os.path.realpath(common)
                repo_root = os.path.dirname(common) if os.path.basename(common) == ".git" else d
                break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    marker = _read_marker(os.path.join(marker_dir, MARKER)) if marker_dir else {}
    if repo_root is not None and common is not None:
        return Location(os.path.realpath(repo_root), f"git:{common}", marker)
    root = marker_dir or start_path
    real = os.path.realpath(root) if os.path.exists(root) else root
    return Location(real, f"path:{real}", marker)


class Registry:
    """`$WIKIMEM_HOME/registry.json`: workspaces and projects by UUID, with names and keys.

    `on_register`, if given, is called with each project this registry registers (the CLI
    says so aloud).
    """

    def __init__(self, home_dir: str | os.PathLike | None = None, *, on_register=None):
        self._home = os.fspath(home_dir) if home_dir else home_folder()
        self._file = os.path.join(self._home, "registry.json")
        self._on_register = on_register

    @property
    def home(self) -> os.PathLike:
        return _path(self._home)

    @property
    def path(self) -> os.PathLike:
        return _path(self._file)

    def load(self) -> dict:
        return self._load()[0]

    def _load(self) -> tuple[dict, list | None]:
        """The registry, and the signature of the file it was read from (None: no file)."""
        try:
            with open(self._file, "rb") as f:
                st = os.fstat(f.fileno())
                data = json.loads(f.read())
        except FileNotFoundError:
            return {"version": REGISTRY_VERSION, "workspaces": {}, "projects": {}}, None
        except (OSError, ValueError) as exc:
            raise WikimemError(
                f"The project registry {self._file} cannot be read ({exc}). "
                "Restore it from a backup or move it aside to start a new one."
            ) from exc
        if not isinstance(data, dict):
            raise WikimemError(
                f"The project registry {self._file} is not a JSON object. "
                "Restore it from a backup or move it aside to start a new one."
            )
        data.setdefault("workspaces", {})
        data.setdefault("projects", {})
        return data, _signature(st)

    def _save(self, data: dict) -> None:
        write_atomic(self._file, json.dumps(data, indent=2, sort_keys=True) + "\n")
        self._forget_lookups()

    def _project(self, data: dict, pid: str) -> Project:
        entry = data["projects"][pid]
        wid = entry["workspace"]
        wname = data["workspaces"].get(wid, {}).get("name", DEFAULT_WORKSPACE)
        return Project(
            name=entry["name"],
            project_id=pid,
            workspace=wname,
            workspace_id=wid,
            root=entry.get("root", ""),
            folder=os.path.join(self._home, wid, pid),
        )

    def projects(self) -> list[Project]:
        """All registered projects, sorted by workspace and name."""
        data = self.load()
        found = [self._project(data, pid) for pid in data["projects"]]
        return sorted(found, key=lambda p: (p.workspace, p.name, p.project_id))

    def find(self, ref: str) -> Project:
        """A project by UUID, name, or `workspace/name`."""
        data = self.load()
        if ref in data["projects"]:
            return self._project(data, ref)
        ws, _, name = ref.rpartition("/")
        matches = [
            p for p in self.projects() if p.name == name and (not ws or p.workspace == ws)
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ProjectNotFound(
                f"No project named {ref!r}. Run `wikimem projects` to list them, "
                "or `wikimem init` inside the repository to register it."
            )
        raise ProjectNotFound(
            f"{len(matches)} projects are named {name!r}; say which as WORKSPACE/NAME "
            f"({', '.join(p.workspace + '/' + p.name for p in matches)})."
        )

    def resolve(self, cwd: str | os.PathLike, *, create: bool = True) -> Project:
        """The project for a working directory, registering it on first sight.

        A directory inside a project's own folder under the home (its wiki, raw log, state,
        index) belongs to that project; the rest of the home belongs to none.
        """
        inside = self._in_home(cwd)
        if inside is not None:
            return self._home_project(cwd, inside)
        loc = _locate(cwd)
        found = self._looked_up(loc)
        if found is not None:
            return found
        data, signature = self._load()
        pid = self._match(data, loc)
        if pid is not None:
            project = self._project(data, pid)
            self._remember(loc, project, signature)
            return project
        if not create:
            raise ProjectNotFound(
                f"{loc.root} is not a wikimem project yet. Run `wikimem init` there."
            )
        ensure_private_dir(self._home)
        with locked(os.path.join(self._home, "registry.lock")):
            data = self.load()  # re-read: another process may have registered it meanwhile
            pid = self._match(data, loc)
            registered = pid is None
            if registered:
                pid = self._register(data, loc)
                self._save(data)
        project = self._project(data, pid)
        if registered and self._on_register is not None:
            self._on_register(project)
        return project

    def _in_home(self, cwd: str | os.PathLike) -> list[str] | None:
        """The parts of `cwd`'s path below the home, or None if it is not inside the home."""
        where = os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(cwd))))
        home_dir = os.path.realpath(self._home)
        if where != home_dir and not where.startswith(home_dir.rstrip(os.sep) + os.sep):
            return None
        return [p for p in where[len(home_dir):].split(os.sep) if p]

    def _home_project(self, cwd, parts: list[str]) -> Project:
        # Why: `cd "$(wikimem path)"` is how people look at the wiki; it is a git repository
        # of its own, and resolving it like any other folder would offer to register it.
        data = self.load()
        if len(parts) >= 2:
            entry = data["projects"].get(parts[1])
            if isinstance(entry, dict) and entry.get("workspace") == parts[0]:
                return self._project(data, parts[1])
        raise ProjectNotFound(
            f"{os.fspath(cwd)} is inside the wikimem home ({self._home}), not in a project's "
            "folder. Run the command in the project's repository, or name it with --project "
            "(`wikimem projects` lists them)."
        )

    def rename(self, ref: str, new_name: str) -> Project:
        """Give a project a new name; its UUID and files stay where they are."""
        project = self.find(ref)
        with locked(os.path.join(self._home, "registry.lock")):
            data = self.load()
            clash = [
                pid
                for pid, e in data["projects"].items()
                if e["name"] == new_name
                and e["workspace"] == project.workspace_id
                and pid != project.project_id
            ]
            if clash:
                raise WikimemError(f"A project named {new_name!r} already exists; pick another.")
            data["projects"][project.project_id]["name"] = new_name
            self._save(data)
        return self._project(data, project.project_id)

    # The lookup cache: `lookup/<hash of the location>.json` holds the project a location
    # resolved to and the signature of the registry it was read from. The hook resolves the
    # project on every event; with the cache that costs a stat and one small file, whatever
    # the number of projects. An entry counts only while registry.json is the file it was
    # made from (same inode, size and modification time), and every save removes them all.

    def _lookup_path(self, loc: Location) -> str:
        basis = json.dumps([loc.key, sorted(loc.marker.items())], ensure_ascii=False)
        name = sha256_hex(basis.encode("utf-8", "surrogatepass"))[:32]
        return os.path.join(self._home, LOOKUP_DIR, name + ".json")

    def _looked_up(self, loc: Location) -> Project | None:
        try:
            signature = _signature(os.stat(self._file))
            with open(self._lookup_path(loc), "rb") as f:
                entry = json.loads(f.read())
            if (entry["registry"] != signature or entry["key"] != loc.key
                    or entry["marker"] != loc.marker):
                return None
            name, pid, workspace, wid, root = entry["project"]
            return Project(name=name, project_id=pid, workspace=workspace, workspace_id=wid,
                           root=root, folder=os.path.join(self._home, wid, pid))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _remember(self, loc: Location, project: Project, signature: list | None) -> None:
        if signature is None:
            return
        entry = {"registry": signature, "key": loc.key, "marker": loc.marker,
                 "project": [project.name, project.project_id, project.workspace,
                             project.workspace_id, project.root]}
        path = self._lookup_path(loc)
        try:
            ensure_home_dir(os.path.join(self._home, LOOKUP_DIR))
            write_atomic(path, json.dumps(entry, ensure_ascii=False))
        except OSError:  # a cache: a read-only home (or a linked folder) goes without it
            pass

    def _forget_lookups(self) -> None:
        try:
            with os.scandir(os.path.join(self._home, LOOKUP_DIR)) as entries:
                for e in entries:
                    if e.name.startswith("marker-"):
                        continue  # (what a marker file says does not depend on the registry)
                    try:
                        os.unlink(e.path)
                    except OSError:
                        pass
        except OSError:
            pass

    @staticmethod
    def _match(data: dict, loc: Location) -> str | None:
        if loc.marker.get("id") in data["projects"]:
            return loc.marker["id"]
        if "name" in loc.marker:
            wname = loc.marker.get("workspace", DEFAULT_WORKSPACE)
            for pid, e in data["projects"].items():
                w = data["workspaces"].get(e["workspace"], {}).get("name")
                if e["name"] == loc.marker["name"] and w == wname:
                    return pid
            return None
        for pid, e in data["projects"].items():
            if loc.key in e.get("keys", []):
                return pid
        return None

    @staticmethod
    def _register(data: dict, loc: Location) -> str:
        import uuid  # only when registering: `uuid` imports `platform`, too slow for the hook
        from datetime import UTC, datetime

        wname = loc.marker.get("workspace", DEFAULT_WORKSPACE)
        wid = next((w for w, e in data["workspaces"].items() if e.get("name") == wname), None)
        if wid is None:
            wid = str(uuid.uuid4())
            data["workspaces"][wid] = {"name": wname}
        name = loc.marker.get("name") or os.path.basename(loc.root) or "project"
        taken = {e["name"] for e in data["projects"].values() if e["workspace"] == wid}
        base, n = name, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        pid = loc.marker.get("id") or str(uuid.uuid4())
        data["projects"][pid] = {
            "name": name,
            "workspace": wid,
            "root": str(loc.root),
            "keys": [loc.key],
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return pid
