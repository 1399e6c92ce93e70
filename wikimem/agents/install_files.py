"""Settings files as wikimem reads and replaces them, and the record of what it changed.

`read` gives a settings file's text (or None); `apply` (installers.py) backs the file up
(`backup`), then replaces it atomically through any symlink (`atomic_write`). Each install
leaves a small record under `$WIKIMEM_HOME/installs/`: whether wikimem created the file (and
the folders it made for it), the backup of the original and its hash, and the hash of the file
as wikimem left it. An uninstall that finds the file exactly as the install(s) left it gives
back the original bytes, or deletes the file wikimem created (`undo_install`); otherwise it
removes only wikimem's entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from wikimem.errors import WikimemError
from wikimem.fsio import replace_file

if TYPE_CHECKING:
    from wikimem.agents.installers import Plan

INSTALLS_DIR = "installs"


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record_file(target: Path) -> Path:
    from wikimem.project import home

    name = hashlib.sha256(os.fsencode(target)).hexdigest()[:32]
    return home() / INSTALLS_DIR / f"{name}.json"


def load_record(target: Path) -> dict | None:
    """What wikimem's installs did to the file at `target` (None: no usable record)."""
    try:
        record = json.loads(_record_file(target).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("path") != str(target):
        return None
    return record


def save_record(target: Path, record: dict) -> None:
    from wikimem.project import ensure_private_dir

    path = _record_file(target)
    ensure_private_dir(path.parent)
    replace_file(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def drop_record(target: Path) -> None:
    # A record left behind is harmless: it counts only while the file hashes as recorded.
    try:
        _record_file(target).unlink()
    except OSError:
        pass


def _missing_dirs(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def installed_record(target: Path, plan: Plan, backup: Path | None) -> dict:
    record = load_record(target)
    if record is not None and record.get("installed") == _sha(plan.before):
        # Another install into a file only wikimem changed since the first one (hooks and
        # then the MCP server, say): the original stays the one before the first.
        kinds = list(record.get("kinds") or [])
        record["kinds"] = kinds if plan.kind in kinds else [*kinds, plan.kind]
    else:
        record = {
            "path": str(target),
            "original": {"exists": plan.before is not None, "sha256": _sha(plan.before),
                         "backup": str(backup) if backup else None},
            "created_dirs": ([str(d) for d in _missing_dirs(target.parent)]
                             if plan.before is None else []),
            "kinds": [plan.kind],
        }
    record["installed"] = _sha(plan.after)
    return record


def carry_record(target: Path, plan: Plan) -> None:
    """After an uninstall that kept the file: the record still describes it only when this
    removed one of several installs from a file nobody else changed."""
    record = load_record(target)
    if record is None:
        return
    kinds = [k for k in record.get("kinds") or [] if k != plan.kind]
    if (plan.undo or not kinds or record.get("installed") != _sha(plan.before)
            or plan.kind not in (record.get("kinds") or [])):
        drop_record(target)
        return
    record["kinds"], record["installed"] = kinds, _sha(plan.after)
    try:
        save_record(target, record)
    except OSError:
        drop_record(target)


def undo_install(path: Path, kind: str, before: str | None, after: str | None,
                  notes: list[str]) -> tuple[str | None, str]:
    """What an uninstall of `kind` leaves in `path`: when the file is exactly what wikimem's
    install of only that made it, the file as it was before (or no file, if wikimem created
    it); otherwise `after`, the file without wikimem's entries. Returns (text, Plan.undo)."""
    target = Path(os.path.realpath(path))
    record = load_record(target)
    if (record is None or record.get("installed") != _sha(before)
            or record.get("kinds") != [kind]):
        return after, ""
    original = record.get("original") or {}
    if not original.get("exists"):
        if path.is_symlink():  # someone linked it since: theirs, whatever it holds
            return after, ""
        notes.append(f"wikimem created {path} and nothing else changed it since: it is "
                     "deleted" + (" with the folders made for it, if empty"
                                  if record.get("created_dirs") else "") + ".")
        return None, "delete"
    backup = original.get("backup")
    try:
        data = Path(backup).read_bytes()
        text = data.decode("utf-8")
    except (OSError, TypeError, UnicodeDecodeError):
        return after, ""  # the backup is gone or unreadable: remove our entries only
    if hashlib.sha256(data).hexdigest() != original.get("sha256"):
        return after, ""
    notes.append(f"Nothing else changed {path} since wikimem installed into it: it gets back "
                 f"the exact bytes it had before (from {backup}).")
    return text, "restore"


def read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise WikimemError(
            f"{path} is a folder, not a settings file; nothing was changed.") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WikimemError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); nothing was "
            "changed. Fix the file and run the command again.") from exc


def backup(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = target.with_name(f"{target.name}.wikimem-backup-{stamp}")
    n = 2
    while backup.exists():
        backup = target.with_name(f"{target.name}.wikimem-backup-{stamp}-{n}")
        n += 1
    shutil.copy2(target, backup)
    return backup


def atomic_write(target: Path, text: str) -> None:
    """Replace an agent's settings file (fsio.replace_file), keeping its mode."""
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_file(target, text.encode("utf-8"), keep_mode=True)
