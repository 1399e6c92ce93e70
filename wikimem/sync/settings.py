"""Where a project's team memory goes: the remote, its ref, this machine's tag, what stays.

`wikimem remote set URL [--ref REF] [--machine TAG]` writes `<project>/sync/remote.json`
(`{"url", "ref", "machine"}`); a project's `.wikimem.toml` may say the same in `[sync]`
(`url`, `ref`, `exclude`: session ids or path patterns kept on this machine, `auto`: sync
after each compile). The file under the home wins for `url` and `ref`; the machine tag is
only ever in it (it names this machine's folder on the remote and suffixes the ids it
allocates, so it must never change once used).
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from dataclasses import dataclass

from wikimem.errors import WikimemError
from wikimem.fsio import replace_file
from wikimem.memory import MACHINE_TAG
from wikimem.project import MARKER, Project, ensure_private_dir

DEFAULT_REF = "refs/wikimem/memory"


@dataclass(frozen=True)
class Remote:
    url: str
    ref: str = DEFAULT_REF
    machine: str = ""
    exclude: tuple[str, ...] = ()
    auto: bool = False
    skew_seconds: float = 120.0


def sync_dir(project: Project):
    return project.dir / "sync"


def _project_config(project: Project) -> dict:
    path = os.path.join(project.root, MARKER)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WikimemError(f"{path} is not valid TOML ({exc}); fix it.") from exc
    section = data.get("sync", {})
    if not isinstance(section, dict):
        raise WikimemError(f"[sync] in {path} must be a table.")
    return section


def _stored(project: Project) -> dict:
    try:
        data = json.loads((sync_dir(project) / "remote.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise WikimemError(f"{sync_dir(project) / 'remote.json'} is damaged ({exc}); set the "
                           "remote again with `wikimem remote set URL`.") from exc
    return data if isinstance(data, dict) else {}


def load(project: Project) -> Remote | None:
    """The project's remote, or None (offline: nothing travels)."""
    stored, section = _stored(project), _project_config(project)
    url = stored.get("url") or section.get("url")
    if not url:
        return None
    exclude = section.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise WikimemError("[sync] exclude must be a list of session ids or path patterns.")
    machine = stored.get("machine") or ""
    if not MACHINE_TAG.fullmatch(machine):
        machine = set_remote(project, str(url), str(stored.get("ref") or section.get("ref")
                                                    or DEFAULT_REF)).machine
    return Remote(url=str(url), ref=str(stored.get("ref") or section.get("ref") or DEFAULT_REF),
                  machine=machine, exclude=tuple(exclude), auto=bool(section.get("auto", False)),
                  skew_seconds=float(section.get("clock_skew_seconds", 120)))


def set_remote(project: Project, url: str, ref: str = DEFAULT_REF,
               machine: str | None = None) -> Remote:
    """Record the remote (and this machine's tag, chosen once: kept if already set)."""
    if not url.strip():
        raise WikimemError("Give the remote's URL: `wikimem remote set URL`.")
    if not ref.startswith("refs/") or ".." in ref or ref.endswith("/"):
        raise WikimemError(f"{ref!r} is not a full ref name; use e.g. {DEFAULT_REF}.")
    stored = _stored(project)
    old = stored.get("machine")
    if machine is not None and old and machine != old:
        raise WikimemError(f"This machine is already {old!r} in the project's team memory; "
                           "its tag names its ids and its folder on the remote and cannot "
                           "change.")
    tag = old or machine or _new_tag()
    if not MACHINE_TAG.fullmatch(tag):
        raise WikimemError(f"Machine tag {tag!r}: use 1-16 lowercase letters and digits, "
                           "starting with a letter.")
    ensure_private_dir(sync_dir(project))
    replace_file(sync_dir(project) / "remote.json",
                 json.dumps({"url": url, "ref": ref, "machine": tag}, indent=1).encode())
    return Remote(url=url, ref=ref, machine=tag)


def _new_tag() -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyz"
    return secrets.choice(alphabet) + "".join(secrets.choice(alphabet + "23456789")
                                              for _ in range(3))
