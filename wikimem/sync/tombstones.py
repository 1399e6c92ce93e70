"""Purge across machines: rewrite the remote, leave a tombstone, every machine follows.

`wikimem purge` on a project with a remote ends with `rewrite_remote`: under the sync lock,
fetch the ref, pass every file of every machine's folder through the same scrub the local
purge used (a secret's forms replaced; a session's log dropped and the memory lines naming
it), add `tombstones/<id>.json`, and push the result as a new history of one commit with
`--force-with-lease` on the head just fetched (a push someone made meanwhile fails the lease,
and the rewrite starts again from a fresh fetch). The remote's history is a transport, not
time travel (each wiki keeps its own), so it is not worth keeping at the price of the value.
A remote that is a local folder is pruned of the old objects too; a hosted one keeps them,
unreachable, until its own garbage collection (GitHub: until support purges them).

Every other machine, on its next sync, finds the tombstones it has not applied
(`pending`) and purges itself before adopting anything: a session by its id; a secret -
which the tombstone never holds, only `sha256(salt + value)` - by finding, in its own copy
of a log the remote now holds scrubbed, the text the scrub replaced (`recover_value`), then
`purge --secret` with it here (logs, pages, index, the wiki's history). A machine that never
held the value has nothing to purge. Then its sync cache is pruned of the old objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets

from wikimem.capture.observation import new_id, utc_now
from wikimem.project import Project
from wikimem.sync import gitsync

TOMBSTONES = "tombstones"
PURGED = "[REDACTED:purged]"


def digest(salt: str, value: str) -> str:
    return hashlib.sha256((salt + value).encode("utf-8", "surrogatepass")).hexdigest()


def secret_tombstone(value: str, machine: str) -> dict:
    salt = secrets.token_hex(16)
    return {"kind": "secret", "salt": salt, "sha256": digest(salt, value), "by": machine,
            "ts": utc_now()}


def session_tombstone(session: str, machine: str) -> dict:
    return {"kind": "session", "session": session, "by": machine, "ts": utc_now()}


def rewrite_remote(project: Project, remote, repo, tombstone: dict, scrub) -> str:
    """Rewrite the remote's ref: `scrub(path, bytes) -> bytes | None` (None: drop the file)
    over every file, plus the tombstone. Returns the new commit."""
    from wikimem.sync.exchange import MAX_ATTEMPTS, SyncError

    name = f"{TOMBSTONES}/{new_id()}.json"
    for _ in range(MAX_ATTEMPTS):
        head = gitsync.fetch(repo, remote.url, remote.ref)
        files = gitsync.tree_files(repo, head)
        blobs = gitsync.read_blobs(repo, list(files.values()))
        kept: dict[str, bytes] = {}
        for path, blob in files.items():
            new = blobs[blob] if path.startswith(TOMBSTONES + "/") else scrub(path, blobs[blob])
            if new is not None:
                kept[path] = new
        kept[name] = json.dumps(tombstone, sort_keys=True).encode()
        paths = sorted(kept)
        ids = gitsync.write_blobs(repo, [kept[p] for p in paths])
        commit = gitsync.commit(repo, None, dict(zip(paths, ids, strict=True)),
                                f"wikimem purge ({tombstone['kind']}) by {remote.machine}")
        if head is None:
            if gitsync.push(repo, remote.url, commit, remote.ref):
                break
        elif gitsync.push(repo, remote.url, commit, remote.ref, lease=head):
            break
    else:
        raise SyncError("the remote kept moving; the purge is done here but not on the "
                        "remote: run the purge again")
    mark_applied(project, [name])
    gitsync.forget_old_objects(repo)
    if os.path.isdir(remote.url):
        gitsync.forget_old_objects(remote.url)
    return commit


def _applied_path(project: Project):
    return project.dir / "sync" / "tombstones.json"


def applied(project: Project) -> set[str]:
    try:
        data = json.loads(_applied_path(project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(data) if isinstance(data, list) else set()


def mark_applied(project: Project, names) -> None:
    from wikimem.fsio import replace_file

    replace_file(_applied_path(project), json.dumps(sorted(applied(project) | set(names))
                                                    ).encode())


def pending(project: Project, repo, head: str | None) -> list[tuple[str, dict]]:
    """The tombstones on the remote this machine has not applied, oldest first."""
    done = applied(project)
    found = {p: b for p, b in gitsync.tree_files(repo, head, TOMBSTONES).items()
             if p not in done}
    blobs = gitsync.read_blobs(repo, list(found.values()))
    out = []
    for path in sorted(found):
        try:
            data = json.loads(blobs[found[path]])
        except ValueError:
            continue
        if isinstance(data, dict):
            out.append((path, data))
    return out


def recover_value(tombstone: dict, pairs) -> str | None:
    """The purged value, from (old bytes, scrubbed bytes) of logs this machine holds: the
    text each `[REDACTED:purged]` replaced (the rest of a scrubbed line is as it was),
    checked against the tombstone's hash."""
    salt, want = str(tombstone.get("salt", "")), tombstone.get("sha256")
    for old, new in pairs:
        if new is None or PURGED.encode() not in new:
            continue
        for a, b in zip(old.splitlines(), new.splitlines(), strict=False):
            if a == b or PURGED.encode() not in b:
                continue
            x, y = a.decode("utf-8", "replace"), b.decode("utf-8", "replace")
            pieces = y.split(PURGED)
            pattern = "(.+?)".join(re.escape(piece) for piece in pieces)
            match = re.fullmatch(pattern, x, re.DOTALL)
            if match is None:
                continue
            for text in match.groups():
                for candidate in (text, *_json_decoded(text)):
                    if digest(salt, candidate) == want:
                        return candidate
    return None


def _json_decoded(text: str) -> list[str]:
    try:
        return [json.loads(f'"{text}"')]
    except ValueError:
        return []
