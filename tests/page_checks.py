"""What every page the compiler writes must hold to (issue 14, part 4): no control character
or terminal escape anywhere, and no HTML entity inside code (markdown shows code literally, so
`&lt;` there reads as `&lt;`). conftest checks every machine page of every test's wiki."""

from __future__ import annotations

import re
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What escaping recorded text for markdown makes of `<`: `&lt;` before what could open a tag
# (a letter, `/`, `!`, `?`; wiki.text escapes no other `<`). Recorded text may hold entities of
# its own (a task result quoting `arn:...:&lt;acct&gt;`, a docstring about `&lt;`): wikimem
# never writes `&gt;`, so a `&lt;` closed by one on its line is the recorded text's.
_ENTITY = re.compile(r"&lt;(?=[A-Za-z/!?])(?![^\n<>]*?&gt;)")


def _code(tokens) -> list[str]:
    """The text of every code span and code block in a mistune token tree."""
    found = []
    for token in tokens or []:
        if token.get("type") in ("codespan", "block_code"):
            found.append(token.get("raw", ""))
        found += _code(token.get("children"))
    return found


def page_problems(text: str) -> list[str]:
    """What is wrong with a page's text (empty when nothing is)."""
    import mistune

    problems = []
    bad = _CONTROL.search(text)
    if bad:
        problems.append(f"control character {bad.group(0)!r} at {bad.start()}")
    head, _, body = text.partition("\n---\n")
    if "\nkind: context\n" in head:
        # context.md shows the session-start block byte for byte, as the agent reads it: that
        # block writes `<` as `&lt;` itself (compile.context.defang), for the agent's sake.
        return problems
    for code in _code(mistune.create_markdown(renderer=None)(body)):
        entity = _ENTITY.search(code)
        if entity:
            problems.append(f"{entity.group(0)} inside code: {code[:120]!r}")
    return problems


def wiki_problems(root: Path) -> dict[str, list[str]]:
    """Every machine page (one the compiler wrote, unedited) under `root` that breaks the
    rules, with what is wrong."""
    from wikimem.wiki.pages import is_machine_page

    found = {}
    for page in sorted(root.rglob("*.md")):
        if "wiki" not in page.relative_to(root).parts or not page.is_file() \
                or page.is_symlink():
            continue
        try:
            text = page.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if is_machine_page(text):
            problems = page_problems(text)
            if problems:
                found[str(page.relative_to(root))] = problems
    return found
