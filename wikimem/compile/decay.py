"""Decay without loss: when each memory was last used, the project's context settings, and
what `wikimem sweep` would retire.

Uses are appended to `state/uses.jsonl`, one JSON line per use (`{"ts", "how", "pages"}`),
by whoever used a memory: a search or an MCP call that returned it, `wikimem show` of it, a
session that cited it (found by compile). An append is one `write` on a file opened with
O_APPEND: readers that return memories never take a lock, never rewrite a file and never
wait for a compile, and the hook writes nothing here at all. Compile folds the lines it has
not read yet into `state/uses.json` (`{"offset", "last": {page: ts}}`) - an append-only log
compiled later, like the raw log. Uses are local (not synced): what they decide - a
retirement - is a `forget` in the raw log, which is.

Nothing is ever deleted by decay: `sweep` retires (a `forget` with a reason, marked
`retired`), and `accept` brings a retired memory back.
"""

from __future__ import annotations

import json
import os
import re

from wikimem.compile.context import DEFAULT_UNUSED_DAYS, SECTION_NAMES, project_now, unused
from wikimem.fsio import replace_file
from wikimem.memory import MemoryState
from wikimem.project import Project
from wikimem.search.uses import USES, record_use  # noqa: F401 - (decay's writer)

FOLDED = "uses.json"
DECAYING = ("decision", "lesson", "note")  # tasks and goals end by being done, not unused
MARKER = ".wikimem.toml"


def last_uses(project: Project, *, save: bool = False) -> dict[str, str]:
    """{page: when it was last used}, from the folded uses and the lines after them; `save`
    (compile) folds the new lines into `state/uses.json`."""
    folded_file = project.state_dir / FOLDED
    try:
        folded = json.loads(folded_file.read_text(encoding="utf-8"))
        offset, last = int(folded["offset"]), dict(folded["last"])
    except (OSError, ValueError, KeyError, TypeError):
        offset, last = 0, {}
    try:
        with open(project.state_dir / USES, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < offset:  # the log was replaced: read it again from the start
                offset, last = 0, {}
            f.seek(offset)
            tail = f.read()
    except FileNotFoundError:
        return last
    end = tail.rfind(b"\n") + 1  # a line still being written waits
    for line in tail[:end].splitlines():
        try:
            use = json.loads(line)
            ts, pages = str(use["ts"]), use["pages"]
        except (ValueError, KeyError, TypeError):
            continue
        for page in pages if isinstance(pages, list) else []:
            if isinstance(page, str) and ts > last.get(page, ""):
                last[page] = ts
    if save and end:
        try:
            replace_file(folded_file, json.dumps({"offset": offset + end, "last": last},
                                                 sort_keys=True))
        except OSError:
            pass
    return last


def apply_uses(memory: MemoryState, last: dict[str, str]) -> None:
    for page, item in memory.items.items():
        item.last_used = last.get(page)


_CITED = re.compile(r"(?<![\w-])([DLNGT]\d{1,6})(?![\w-])")


def cited(memory: MemoryState, records) -> list[tuple[str, list[str]]]:
    """(when, pages) for each session that cited memories: named their id (`D3`) in a prompt
    or its outcome, or read or changed their page file."""
    by_id = {i.id: i.page for i in memory.items.values()}
    stems = {i.page.rsplit("/", 1)[-1]: i.page for i in memory.items.values()}
    found = []
    for rec in records:
        text = "\n".join([*rec.prompts, str(rec.outcome or "")])
        pages = {by_id[m] for m in _CITED.findall(text) if m in by_id}
        for f in [*rec.files_changed, *getattr(rec, "files_read", [])]:
            name = str(f).replace("\\", "/").rsplit("/", 1)[-1]
            if name in stems:
                pages.add(stems[name])
        if pages:
            found.append((str(rec.ended or rec.started), sorted(pages)))
    return found


def sweepable(memory: MemoryState, records, unused_days: float) -> list:
    """The memories `sweep` retires: active decisions, lessons and notes, not pinned, unused
    for more than `unused_days` of the project's own clock (its newest recorded time)."""
    now = project_now(records, memory)
    return [i for i in sorted(memory.items.values(), key=lambda i: i.page)
            if i.kind in DECAYING and i.status == "active" and unused(i, now, unused_days)]


def project_settings(project: Project) -> tuple[dict, list[str]]:
    """The project's context settings from `.wikimem.toml` at its root:

        [context]
        hide = ["rules", "earlier_sessions"]   # sections left out of the block
        [decay]
        unused_days = 90                       # unused this long: ranked lower, sweepable

    Returns ({"hidden", "unused_days"}, what is wrong in them: those entries are ignored)."""
    settings = {"hidden": (), "unused_days": DEFAULT_UNUSED_DAYS}
    path = os.path.join(str(project.root or ""), MARKER)
    if not project.root or not os.path.isfile(path):
        return settings, []
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return settings, [f"{path} is not valid TOML ({exc})"]
    errors = []
    hide = (data.get("context") or {}).get("hide", []) if isinstance(data.get("context"),
                                                                     dict) else []
    if not isinstance(hide, list):
        errors.append(f"[context] hide in {path} must be a list of section names")
        hide = []
    bad = [h for h in hide if h not in SECTION_NAMES]
    if bad:
        errors.append(f"[context] hide in {path}: unknown section(s) {', '.join(map(str, bad))}"
                      f" (known: {', '.join(SECTION_NAMES)})")
    settings["hidden"] = tuple(h for h in hide if h in SECTION_NAMES)
    days = (data.get("decay") or {}).get("unused_days") if isinstance(data.get("decay"),
                                                                     dict) else None
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
            errors.append(f"[decay] unused_days in {path} must be a positive number")
        else:
            settings["unused_days"] = float(days)
    return settings, errors
