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
import sys
from collections import namedtuple
from pathlib import Path

from wikimem.errors import ProjectNotFound, WikimemError
from wikimem.locks import locked

MARKER = ".wikimem.toml"
REGISTRY_VERSION = 1
DEFAULT_WORKSPACE = "default"


def home() -> Path:
    """The wikimem home: `$WIKIMEM_HOME`, else the platform's per-user data directory."""
    env = os.environ.get("WIKIMEM_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":  # pragma: no cover - Windows only
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "wikimem"
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        return Path.home() / "Library" / "Application Support" / "wikimem"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wikimem"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 where we create it."""
    if not os.path.isdir(path):
        # (Path.mkdir gives the parents it creates the default mode, not `mode`.)
        missing = [Path(path)]
        while not os.path.isdir(missing[-1].parent) and missing[-1].parent != missing[-1]:
            missing.append(missing[-1].parent)
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
class Project(namedtuple("Project", "name project_id workspace workspace_id root dir")):
    """A registered project and where its data lives (immutable).

    `root` is the directory the project was resolved from (repository root, marker dir);
    `dir` the project's folder under the wikimem home.
    """

    __slots__ = ()

    @property
    def raw_dir(self) -> Path:
        return self.dir / "raw"

    @property
    def wiki_dir(self) -> Path:
        return self.dir / "wiki"

    @property
    def index_dir(self) -> Path:
        return self.dir / "index"

    @property
    def state_dir(self) -> Path:
        return self.dir / "state"

    @property
    def error_log(self) -> Path:
        return self.state_dir / "errors.log"

    @property
    def context_file(self) -> Path:
        """The precomputed session-start block the hook prints."""
        return self.state_dir / "context.md"

    def ensure_dirs(self) -> None:
        """Create the project's folders (0700) if they are missing."""
        # Checked as strings first: capture calls this for every event.
        base = os.fspath(self.dir)
        if all(os.path.isdir(os.path.join(base, d)) for d in ("raw", "wiki", "index", "state")):
            return
        for d in (self.dir, self.raw_dir, self.wiki_dir, self.index_dir, self.state_dir):
            ensure_private_dir(d)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "project_id": self.project_id,
            "workspace": self.workspace,
            "workspace_id": self.workspace_id,
            "root": self.root,
            "dir": str(self.dir),
            "wiki": str(self.wiki_dir),
        }


# Where a working directory sits: its project root, repository key and marker settings.
Location = namedtuple("Location", "root key marker")


def _git_common_dir(dotgit: Path) -> Path | None:
    """Mirror `git rev-parse --git-common-dir` for the `.git` entry found at a directory.

    Done in Python because the hook resolves the project on every event and a git
    subprocess would cost more than the rest of the hook together.
    """
    if dotgit.is_dir():
        return dotgit
    try:
        text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text[len("gitdir:") :].strip())
    if not gitdir.is_absolute():
        gitdir = dotgit.parent / gitdir
    commondir = gitdir / "commondir"
    if commondir.is_file():
        try:
            rel = commondir.read_text(encoding="utf-8").strip()
        except OSError:
            return gitdir
        common = Path(rel)
        return common if common.is_absolute() else gitdir / common
    return gitdir


def _read_marker(path: Path) -> dict:
    import tomllib  # only when a marker exists: the hook imports this module on every event

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
    """Find the project root, repository key and marker for a working directory."""
    start_path = Path(os.path.abspath(os.path.expanduser(os.fspath(start))))
    marker_dir: Path | None = None
    repo_root: Path | None = None
    common: Path | None = None
    for d in (start_path, *start_path.parents):
        if marker_dir is None and (d / MARKER).is_file():
            marker_dir = d
        dotgit = d / ".git"
        if os.path.lexists(dotgit):
            common = _git_common_dir(dotgit)
            if common is not None:
                common = Path(os.path.realpath(common))
                repo_root = common.parent if common.name == ".git" else d
                break
    marker = _read_marker(marker_dir / MARKER) if marker_dir else {}
    if repo_root is not None and common is not None:
        return Location(Path(os.path.realpath(repo_root)), f"git:{common}", marker)
    root = marker_dir or start_path
    real = Path(os.path.realpath(root)) if root.exists() else root
    return Location(real, f"path:{real}", marker)


class Registry:
    """`$WIKIMEM_HOME/registry.json`: workspaces and projects by UUID, with names and keys."""

    def __init__(self, home_dir: Path | None = None):
        self.home = home_dir or home()
        self.path = self.home / "registry.json"

    def load(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {"version": REGISTRY_VERSION, "workspaces": {}, "projects": {}}
        except (OSError, ValueError) as exc:
            raise WikimemError(
                f"The project registry {self.path} cannot be read ({exc}). "
                "Restore it from a backup or move it aside to start a new one."
            ) from exc
        data.setdefault("workspaces", {})
        data.setdefault("projects", {})
        return data

    def _save(self, data: dict) -> None:
        tmp = self.path.with_name(f".registry.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.path)

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
            dir=self.home / wid / pid,
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
        """The project for a working directory, registering it on first sight."""
        loc = locate(cwd)
        data = self.load()
        pid = self._match(data, loc)
        if pid is not None:
            return self._project(data, pid)
        if not create:
            raise ProjectNotFound(
                f"{loc.root} is not a wikimem project yet. Run `wikimem init` there."
            )
        ensure_private_dir(self.home)
        with locked(self.home / "registry.lock"):
            data = self.load()  # re-read: another process may have registered it meanwhile
            pid = self._match(data, loc)
            if pid is None:
                pid = self._register(data, loc)
                self._save(data)
        return self._project(data, pid)

    def rename(self, ref: str, new_name: str) -> Project:
        """Give a project a new name; its UUID and files stay where they are."""
        project = self.find(ref)
        with locked(self.home / "registry.lock"):
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
        name = loc.marker.get("name") or loc.root.name or "project"
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
