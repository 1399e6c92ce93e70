"""TOML settings files (Codex's config.toml): edited as text, checked as data (stdlib only).

A TOML file is never re-serialized: wikimem appends (or removes) one block between
`# >>> wikimem: ... >>>` and `# <<< wikimem: ... <<<` lines, and `check` parses the result
with tomllib to prove it means the old settings plus (or minus) exactly wikimem's entry;
otherwise nothing is written and the user is shown the change to make by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from wikimem.errors import WikimemError

HEADER_RE = re.compile(r"\s*\[")  # a line that starts a [table] or [[array of tables]]


def load(path: Path, text: str | None) -> dict:
    """A TOML file's text as data ({} for no file); WikimemError if it is not valid TOML."""
    import tomllib

    try:
        return tomllib.loads((text or "").lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise WikimemError(
            f"{path} is not valid TOML ({exc}); nothing was changed. Fix the file and run "
            "the command again.") from exc


def toml_str(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=False)


def find_block(lines: list[str], markers: tuple[str, str], path: Path) -> tuple[int, int] | None:
    """The first and last line of wikimem's block marked by `markers` (None: no block)."""
    begin = [i for i, line in enumerate(lines) if line.strip() == markers[0]]
    end = [i for i, line in enumerate(lines) if line.strip() == markers[1]]
    if not begin and not end:
        return None
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise WikimemError(
            f"{path}: the lines `{markers[0]}` and `{markers[1]}` should appear once each, in "
            "that order; nothing was changed. Fix (or delete) that block by hand and run the "
            "command again.")
    return begin[0], end[0]


def block(markers: tuple[str, str], body: str, newline: str) -> list[str]:
    """`body` between the marker lines, as lines ending in `newline`."""
    return [line + newline for line in (markers[0], *body.splitlines(), markers[1])]


def newline(text: str) -> str:
    """The file's line ending."""
    return "\r\n" if "\r\n" in text else "\n"


def remove_block(lines: list[str], span: tuple[int, int]) -> list[str]:
    """The lines without the block, and without the blank line put next to it."""
    i, j = span
    out = lines[:i] + lines[j + 1:]
    if i < len(out) and not out[i].strip():
        del out[i]
    elif i > 0 and not out[i - 1].strip():
        del out[i - 1]
    return out


def append(lines: list[str], block: list[str], newline: str) -> list[str]:
    """The lines, then a blank line and the block."""
    out = list(lines)
    if out and not out[-1].endswith("\n"):
        out[-1] += newline
    if out:
        out.append(newline)
    return out + block


def check(path: Path, old: dict, new_text: str, expect: Callable[[dict], dict],
          snippet: str) -> None:
    """The edited text must parse to exactly what `expect(old)` says, or nothing is written."""
    import tomllib

    try:
        new = tomllib.loads(new_text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError:
        new = None
    if new != expect(old):
        raise WikimemError(
            f"wikimem cannot edit {path} safely (the result would not mean the same settings "
            f"plus wikimem's entry); nothing was changed. Make the change by hand:\n{snippet}")


def without(data: dict, *keys: str) -> dict:
    """A copy of `data` without the nested key `keys` (and without tables that emptied)."""
    data = dict(data)
    if len(keys) == 1:
        data.pop(keys[0], None)
        return data
    inner = data.get(keys[0])
    if isinstance(inner, dict):
        inner = without(inner, *keys[1:])
        if inner:
            data[keys[0]] = inner
        else:
            data.pop(keys[0])
    return data


def with_value(data: dict, value, *keys: str) -> dict:
    """A copy of `data` with the nested key `keys` set to `value`."""
    data = dict(data)
    if len(keys) == 1:
        data[keys[0]] = value
        return data
    inner = data.get(keys[0])
    data[keys[0]] = with_value(inner if isinstance(inner, dict) else {}, value, *keys[1:])
    return data


def remove_table(lines: list[str], name: str) -> list[str] | None:
    """Lines without a hand-written `[name]` table (and its `[name.sub]` tables)."""
    header = re.compile(r"\s*\[\s*" + re.escape(name).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    sub = re.compile(r"\s*\[\s*" + re.escape(name).replace(r"\.", r"\s*\.\s*") + r"\s*\.")
    end = start + 1
    while end < len(lines) and not (HEADER_RE.match(lines[end]) and not sub.match(lines[end])):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines that separate the next table
    out = lines[:start] + lines[end:]
    if start > 0 and not out[start - 1].strip() and (start >= len(out) or not out[start].strip()):
        del out[start - 1]
    return out
