"""What the page gate is given when a page is not the machine's to write: the machine's new
version offered beside a page a person edited, and the pages a symbolic link hid."""

from __future__ import annotations

from pathlib import Path

from wikimem.capture.observe import log_error
from wikimem.compile.state import State
from wikimem.project import Project
from wikimem.wiki.pages import Page, linked_part, recorded_hash


def offer_beside(wiki_dir: Path, page: Page, state: State) -> Page | None:
    """The machine's new version of a page a person edited, as `<stem>.machine.md` beside it.

    Offered once per distinct version: deleting the side page after merging it is final
    until the machine has something new again.
    """
    text = page.render()
    new_hash = recorded_hash(text)
    human = (wiki_dir / page.path).read_text(encoding="utf-8")
    if new_hash == recorded_hash(human) or state.offered.get(page.path) == new_hash:
        return None
    state.offered[page.path] = new_hash
    stem = page.path.removesuffix(".md")
    note = (f"> [!note] wikimem has new material for [[{stem.rsplit('/', 1)[-1]}]], which a "
            "person edited, so it was not overwritten. Merge what you want from below into "
            "that page, then delete this file.\n\n")
    meta = {**page.meta, "status": "proposed",
            "tags": [*page.meta.get("tags", []), "machine-update"], "aliases": None}
    return Page(f"{stem}.machine.md", meta, note + page.body)


def report_refused(project: Project, refused: list[str]) -> None:
    """Say in the error log which pages were not written, and which links hid them."""
    seen: dict[str, bool] = {}
    links = sorted({linked_part(project.wiki_dir, rel, seen) or rel for rel in refused})
    log_error(project.error_log,
              f"not written: {len(refused)} page(s) behind a symbolic link in the wiki "
              f"({', '.join(refused[:5])}{', ...' if len(refused) > 5 else ''}). wikimem "
              "does not write through links in its home: remove "
              + ", ".join(str(project.wiki_dir / link) for link in links[:5])
              + " and compile again.", stage="compile")
