"""wikimem's instructions as one marked block in an agent's rules file (stdlib only).

A rules file (CLAUDE.md, AGENTS.md, GEMINI.md, a Cursor `.mdc` rule) is the user's prose:
wikimem appends its block at the end, between a BEGIN and an END marker line, and touches
nothing else. Installing again rewrites only what lies between the markers (a newer wikimem's
text), uninstalling removes the block and the blank line installing put before it. The
block's lines end like the file's (CRLF stays CRLF). An uninstall that finds the file exactly
as the install left it gives back the original bytes from the backup (install_files).
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from wikimem import datafiles
from wikimem.errors import WikimemError

TEMPLATE = "agent-instructions.md"
BEGIN = ("<!-- wikimem:instructions begin - written by `wikimem install-instructions`; "
         "`wikimem uninstall --instructions` removes it -->")
END = "<!-- wikimem:instructions end -->"
_BEGIN_MARK = "<!-- wikimem:instructions begin"
_END_MARK = "<!-- wikimem:instructions end"


def body(agent: str) -> str:
    """The instructions for `agent` (templates/agent-instructions.md), without markers."""
    return Template(datafiles.read_text("templates", TEMPLATE)).substitute(agent=agent)


def block(agent: str, newline: str = "\n") -> str:
    """The whole marked block, each line ending with `newline`."""
    lines = [BEGIN, *body(agent).rstrip("\n").split("\n"), END]
    return "".join(line + newline for line in lines)


def _spans(path: Path, text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of each marked block, end after its END line's break."""
    spans, start, offset = [], None, 0
    for line in text.splitlines(keepends=True):
        bare = line.strip()
        if bare.startswith(_BEGIN_MARK):
            if start is not None:
                raise _broken(path, "two BEGIN markers without an END between them")
            start = offset
        elif bare.startswith(_END_MARK):
            if start is None:
                raise _broken(path, "an END marker without a BEGIN before it")
            spans.append((start, offset + len(line)))
            start = None
        offset += len(line)
    if start is not None:
        raise _broken(path, "a BEGIN marker without an END after it")
    return spans


def installed(path: Path, text: str) -> bool:
    """Whether the rules file's text holds wikimem's block."""
    return bool(_spans(path, text))


def _broken(path: Path, what: str) -> WikimemError:
    return WikimemError(
        f"{path} has {what} ({_BEGIN_MARK} ... -->); nothing was changed. Remove the broken "
        "wikimem block by hand and run the command again.")


def _cut(text: str, spans: list[tuple[int, int]], newline: str) -> str:
    """`text` without the blocks, and without the blank line put before each."""
    out, last = [], 0
    for start, end in spans:
        keep = text[last:start]
        if keep.endswith(newline * 2):
            keep = keep[: -len(newline)]
        out.append(keep)
        last = end
    out.append(text[last:])
    return "".join(out)


def plan(path: Path, before: str | None, uninstall: bool, notes: list[str], *, agent: str,
         new_file: str = "") -> str | None:
    """The rules file's text after installing (or removing) the block; None: no file.

    `new_file` is what a file wikimem creates starts with (a Cursor rule's frontmatter).
    """
    if before is None:
        return None if uninstall else new_file + block(agent)
    newline = "\r\n" if "\r\n" in before else "\n"
    spans = _spans(path, before)
    if uninstall:
        return _cut(before, spans, newline) if spans else before
    mine = block(agent, newline)
    if spans:
        # Keep the first block's place (a user may have moved it), fold any others into it.
        start, end = spans[0]
        rest = _cut(before[end:], [(s - end, e - end) for s, e in spans[1:]], newline)
        return before[:start] + mine + rest
    if before in ("", "\ufeff"):
        return before + mine
    gap = newline if before.endswith("\n") else newline * 2
    return before + gap + mine
