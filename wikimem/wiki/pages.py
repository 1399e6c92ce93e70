"""Pages: markdown with YAML frontmatter, and the one gate through which the wiki's files are
written and deleted (`write_pages`, `remove_pages`; `rewrite_files` for purge). Nothing else
writes in the wiki folder (tests/test_wiki_owners.py); its git repository is gitrepo's.

Frontmatter keys are written in FRONTMATTER_ORDER, so the same page data always gives the
same bytes. The last key, `content_hash`, is the sha256 of the page text without that line:
a page whose hash no longer matches was edited by a human, and the compiler leaves it alone.
A page that is a symbolic link, or sits in a linked folder, is neither read nor written: the
gate refuses it and writes the others.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

import frontmatter
import yaml

from wikimem import faults
from wikimem.errors import SymlinkRefused, WikimemError
from wikimem.fsio import open_nofollow, replace_file, replace_many
from wikimem.project import check_no_links
from wikimem.wiki.text import strip_controls

# The first line of a page two machines edited (sync/edits.py writes it, with every version
# between `<<<<<<< TAG` and `>>>>>>> end`); `wikimem lint` and doctor report such pages.
CONFLICT_MARK = "<!-- wikimem: conflict -->"
FRONTMATTER_ORDER = (
    "title",
    "id",
    "kind",
    "status",
    "created",
    "updated",
    "valid_from",
    "valid_until",
    "session_id",
    "agent",
    "transcript",
    "sources",
    "tags",
    "aliases",
    "supersedes",
    "superseded_by",
    "generator",
    "content_hash",
)
GENERATOR = "wikimem"
# Bump when `Page.render` would give other bytes for the same page data (it keys the memo).
RENDER_VERSION = 2
# What else `Page.render`'s bytes depend on: our version of it and PyYAML's.
RENDER_IDENTITY = f"{RENDER_VERSION}/{yaml.__version__}"
_HASH_LINE = re.compile(r"^content_hash: ?.*\n", re.MULTILINE)
_SAFE_PAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")


@dataclass
class Page:
    """A page as the compiler produces it: relative path, frontmatter and markdown body."""

    path: str  # POSIX path relative to the wiki root, e.g. "sessions/2026-11-21-4f65f198.md"
    meta: dict
    body: str

    def render(self) -> str:
        """The page's exact bytes (as text), including its content hash."""
        meta = {k: _clean(self.meta[k]) for k in FRONTMATTER_ORDER[:-1] if k in self.meta}
        meta["generator"] = GENERATOR
        head = _dump_yaml(meta)
        # No terminal escapes or control characters on a page (a NUL would make git and
        # editors take it for a binary file): whatever a renderer let through goes here.
        body = strip_controls(self.body.rstrip())
        digest = content_hash(f"---\n{head}---\n\n{body}\n")
        return f"---\n{head}content_hash: {digest}\n---\n\n{body}\n"

    def fingerprint(self) -> str:
        """A hash of everything `render` reads: equal fingerprints, equal bytes."""
        data = repr((RENDER_IDENTITY, self.path, self.meta, self.body))
        return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def _clean(value):
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, list):
        return [strip_controls(v) if isinstance(v, str) else v for v in value]
    return value


def _dump_yaml(meta: dict) -> str:
    """The frontmatter as `yaml.safe_dump` writes it (byte for byte; tests compare them).

    A page's frontmatter is a flat mapping of strings, nulls and lists of strings, written
    line by line here with PyYAML's own rules for choosing a scalar's style; anything else
    (a line break in a value, a number, a long or unprintable string) goes to PyYAML. Most of
    what PyYAML does per page is dispatch: this is 18 times faster, and a first compile
    writes ten thousand pages.
    """
    lines = []
    for key, value in meta.items():
        if value is None:
            lines.append(f"{key}: null\n")
        elif type(value) is str and (text := _scalar(value)) is not None:
            lines.append(f"{key}: {text}\n")
        elif type(value) is list and value:
            items = [_scalar(v) if type(v) is str else None for v in value]
            if None in items:
                return _safe_dump(meta)
            lines.append(f"{key}:\n")
            lines += [f"- {text}\n" for text in items]
        elif type(value) is list:
            lines.append(f"{key}: []\n")
        else:
            return _safe_dump(meta)
    return "".join(lines) if lines and all(map(_PLAIN_KEY.fullmatch, meta)) \
        else _safe_dump(meta)


def _safe_dump(meta: dict) -> str:
    return yaml.safe_dump(
        meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10_000
    )


_PLAIN_KEY = re.compile(r"[a-z][a-z_]*")
# Printable ASCII not starting with an indicator, a space, "-" or "." ("---", "...", "- ").
_ASCII_PLAIN = re.compile(r"[A-Za-z0-9_/(][ -~]*")
_STR_TAG = "tag:yaml.org,2002:str"
_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")
# Only `analyze_scalar` is used, which reads nothing of the emitter but `allow_unicode`.
_ANALYZER = yaml.emitter.Emitter(io.StringIO(), allow_unicode=True)
_RESOLVER = yaml.resolver.Resolver()


@lru_cache(maxsize=8192)
def _scalar(text: str) -> str | None:
    """A string as PyYAML writes it as a block mapping's value or a block sequence's item,
    or None when only PyYAML can tell (double quotes, line breaks, lines long enough to
    fold). PyYAML's choice (Emitter.choose_scalar_style, outside a simple key and a flow):
    plain when the plain text reads back as a string and may be plain, else single-quoted
    when it may be, else double-quoted."""
    if len(text) > 2000 or not _LINE_BREAKS.isdisjoint(text):
        return None
    if _ASCII_PLAIN.fullmatch(text) and ": " not in text and " #" not in text \
            and text[-1] not in ": ":
        # What analyze_scalar says of such text without asking it (the common case): plain
        # may be used (no indicator it checks for is there), and so may single quotes.
        if _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG:
            return text
        return "'" + text.replace("'", "''") + "'"
    analysis = _ANALYZER.analyze_scalar(text)
    if analysis.allow_block_plain and \
            _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG:
        return text
    if analysis.allow_single_quoted:
        return "'" + text.replace("'", "''") + "'"
    return None


def content_hash(text: str) -> str:
    """sha256 of a page's text with its content_hash line removed."""
    stripped = _HASH_LINE.sub("", text, count=1)
    return "sha256:" + hashlib.sha256(stripped.encode("utf-8")).hexdigest()


def recorded_hash(text: str) -> str | None:
    """The content_hash a page's frontmatter claims, if any."""
    match = re.search(r"^content_hash: ?(\S+)\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def is_machine_page(text: str) -> bool:
    """True when the text is exactly what the compiler wrote (no human edit since)."""
    claimed = recorded_hash(text)
    return claimed is not None and claimed == content_hash(text)


def check_page_path(rel: str) -> str:
    """Refuse page paths that could escape the wiki folder or are not plain names."""
    p = PurePosixPath(rel.replace("\\", "/"))
    if p.is_absolute() or not p.parts or any(
        part in ("", ".", "..") or not _SAFE_PAGE.fullmatch(part) for part in p.parts
    ):
        raise WikimemError(f"{rel!r} is not a valid page path inside the wiki.")
    return str(p)


@dataclass
class WriteResult:
    """What a batch of page writes did."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    human_edited: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # behind a symbolic link: not written


def linked_part(wiki_dir: Path, rel: str, seen: dict[str, bool] | None = None,
                *, page: bool = True) -> str | None:
    """The first part of a page path (a folder inside the wiki, or the page itself unless
    `page` is False) that is a symbolic link, or None. `seen` caches the folders' answers."""
    seen = {} if seen is None else seen
    parts = rel.split("/")
    for i in range(1, len(parts) + (1 if page else 0)):
        sub = "/".join(parts[:i])
        linked = seen.get(sub)
        if linked is None:
            linked = os.path.islink(wiki_dir / sub)
            if i < len(parts):
                seen[sub] = linked
        if linked:
            return sub
    return None


def _current(target: Path) -> str | None:
    """The text of a page file, None when there is none; SymlinkRefused when it is a link."""
    try:
        fd = open_nofollow(target, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with open(fd, encoding="utf-8") as f:
        return f.read()


def write_pages(wiki_dir: Path, pages: list[Page], memo: dict | None = None,
                kept: Iterable[str] = (), steps: Callable[[int, int], None] | None = None
                ) -> WriteResult:
    """Write pages whose bytes changed, atomically; never overwrite a human-edited page.

    `memo` (page path -> [fingerprint, sha256 of the bytes written], kept by the caller from
    one call to the next) saves rendering a page whose data is what it was when those bytes
    were written, while the file still holds them: YAML for the hundreds of structured pages
    every compile re-renders costs more than the rest of an incremental compile. It is
    replaced by the entries of this call's pages and of `kept`: pages the caller did not
    render again because it knows they are unchanged (their files hold the memo's bytes).

    A page that is a symbolic link, or lies in a folder that is one, is refused (never read
    or written through: the link may lead out of the wiki); the others are written.
    `steps(done, total)` is told how many pages were handled so far.
    """
    check_no_links(wiki_dir)  # (the wiki folder itself, and the home's folders above it)
    result = WriteResult()
    paths = [page.path for page in pages]
    if len(set(paths)) != len(paths):
        twice = sorted({rel for rel in paths if paths.count(rel) > 1})
        raise WikimemError(f"Two pages of one compile have the same path: {', '.join(twice)}. "
                           "This is a bug in wikimem; please report it.")
    known = dict(memo or {})
    seen: dict[str, bool] = {}  # folder inside the wiki -> is a link
    if memo is not None:
        memo.clear()
        for rel in kept:
            if rel in known:
                if linked_part(wiki_dir, rel, seen):
                    result.refused.append(rel)
                    continue
                memo[rel] = known[rel]
                result.unchanged.append(rel)
    batch: list[tuple[Path, str, str]] = []  # (file, page path, text) to write
    for done, page in enumerate(sorted(pages, key=lambda p: p.path)):
        if steps is not None:
            steps(done, len(pages))
        rel = check_page_path(page.path)
        target = wiki_dir / rel
        try:
            if linked_part(wiki_dir, rel, seen, page=False):
                raise SymlinkRefused(target)
            current = _current(target)
        except SymlinkRefused:
            result.refused.append(rel)
            continue
        if memo is not None:
            fingerprint = page.fingerprint()
            entry = known.get(rel)
            if entry and entry[0] == fingerprint and current is not None \
                    and text_sha256(current) == entry[1]:
                memo[rel] = entry
                result.unchanged.append(rel)
                continue
        text = page.render()
        if memo is not None:
            memo[rel] = [fingerprint, text_sha256(text)]
        if current == text:
            result.unchanged.append(rel)
            continue
        if current is not None and not is_machine_page(current):
            result.human_edited.append(rel)
            continue
        batch.append((target, rel, text))
        if len(batch) == _BATCH:
            _replace_all(batch, result)
            batch = []
    _replace_all(batch, result)
    result.refused.sort()
    if steps is not None:
        steps(len(pages), len(pages))
    return result


def remove_pages(wiki_dir: Path, rels: Iterable[str], *, edited_too: bool = False
                 ) -> WriteResult:
    """Delete pages the compiler no longer produces, never one a person edited.

    The other half of the gate: `written` lists the pages removed, `human_edited` those left
    as they are (a person's text is theirs), `unchanged` those already gone, `refused` those
    that are a symbolic link or lie in a linked folder (what it leads to is not the wiki's).
    With `edited_too` (purge: a person's copy of a purged session's page goes too) pages a
    person edited are deleted as well.
    """
    result = WriteResult()
    seen: dict[str, bool] = {}  # folder inside the wiki -> is a link
    for rel in sorted(set(rels)):
        target = wiki_dir / check_page_path(rel)
        if linked_part(wiki_dir, rel, seen):
            result.refused.append(rel)
            continue
        if edited_too:
            try:
                target.unlink()
            except FileNotFoundError:
                result.unchanged.append(rel)
            else:
                result.written.append(rel)
            continue
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            result.unchanged.append(rel)
            continue
        except (OSError, UnicodeError):
            result.human_edited.append(rel)  # not ours to judge: left alone
            continue
        if not is_machine_page(text):
            result.human_edited.append(rel)
            continue
        target.unlink()
        result.written.append(rel)
    return result


def rewrite_files(wiki_dir: Path, rels: Iterable[str], change: Callable[[bytes], bytes],
                  rename: Callable[[str], str] | None = None) -> list[str]:
    """Pass files of the wiki's work tree through `change(bytes) -> bytes`; each file whose
    bytes change is replaced atomically. `rename(path) -> path`, if given, moves a file
    whose path it changes (a name that holds a purged value), unless a file is there
    already (then the file stays where it is). Returns the paths changed, in the order
    given (a moved file by its new path).

    For purge, which scrubs what a person wrote: any file (not only a page the compiler
    makes, and whoever edited it). Paths are relative to the wiki, never into `.git`; a file
    that is a symbolic link or lies in a linked folder is left as it is.
    """
    changed = []
    seen: dict[str, bool] = {}
    for rel in rels:
        new_rel = rename(rel) if rename is not None else rel
        for name in dict.fromkeys((rel, new_rel)):
            parts = PurePosixPath(name).parts
            if not parts or PurePosixPath(name).is_absolute() or ".." in parts \
                    or parts[0] == ".git":
                raise WikimemError(f"{name!r} is not a file of the wiki's work tree.")
        if linked_part(wiki_dir, rel, seen):
            continue
        if new_rel != rel and (linked_part(wiki_dir, new_rel, seen)
                               or os.path.lexists(wiki_dir / new_rel)):
            new_rel = rel
        path, target = wiki_dir / rel, wiki_dir / new_rel
        data = path.read_bytes()
        new = change(data)
        if new == data and new_rel == rel:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        replace_file(target, new, mode=mode)
        if new_rel != rel:
            path.unlink()
            _remove_empty_folders(wiki_dir, PurePosixPath(rel).parent)
        changed.append(new_rel)
    return changed


def _remove_empty_folders(wiki_dir: Path, folder: PurePosixPath) -> None:
    """Remove a folder of the wiki and its parents while they are empty (a moved file's)."""
    while folder.parts:
        try:
            (wiki_dir / folder).rmdir()
        except OSError:
            return
        folder = folder.parent


_BATCH = 1000


def _replace_all(batch: list[tuple[Path, str, str]], result: WriteResult) -> None:
    """Replace the pages of a batch together (fsio.replace_many: every temporary file durable
    before the first rename, so a crash leaves every page whole, old or new)."""
    for target, _, _ in batch:
        target.parent.mkdir(parents=True, exist_ok=True)

    def written(i: int) -> None:
        result.written.append(batch[i][1])
        faults.point("page-written")

    replace_many([(target, text) for target, _, text in batch], after_each=written)


def remove_temporaries(wiki_dir: Path, rels) -> None:
    """Delete the temporary files a killed writer may have left beside these pages (not in
    a linked folder: those were never written)."""
    seen: dict[str, bool] = {}
    for rel in rels:
        if linked_part(wiki_dir, rel, seen, page=False):
            continue
        target = wiki_dir / rel
        with contextlib.suppress(OSError):
            for tmp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
                tmp.unlink(missing_ok=True)


def text_sha256(text: str) -> str:
    """The hex sha256 of a page's text (what the render memo records)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def read_page(path: Path) -> tuple[dict, str]:
    """Frontmatter and body of a page file (frontmatter may be empty for a plain note)."""
    return parse_page(path.read_text(encoding="utf-8", errors="replace"))


def parse_page(text: str) -> tuple[dict, str]:
    """Frontmatter and body of a page's text (a bad value: every value read as a string)."""
    try:
        post = frontmatter.loads(text)
    except (yaml.YAMLError, ValueError):
        # Trigger: one bad value (a person typed `updated: 2026-13-45`). Why: the rest of
        # the page's metadata is still good. Outcome: read every value as a plain string.
        match = re.match(r"---\r?\n(.*?)\r?\n---\r?\n?(.*)", text, re.S)
        if not match:
            return {}, text
        try:
            meta = yaml.load(match.group(1), Loader=yaml.BaseLoader)
        except yaml.YAMLError:
            return {}, match.group(2)
        return (meta if isinstance(meta, dict) else {}), match.group(2)
    meta = post.metadata if isinstance(post.metadata, dict) else {}
    return meta, post.content


def put_person_pages(wiki_dir: Path, texts: dict[str, str]) -> list[str]:
    """Team memory: write pages as a person wrote them on another machine (`wikimem sync`
    brings their edits; the next compile commits them as a person's, and never overwrites
    them). Returns the paths written; a path behind a symbolic link is left alone."""
    written = []
    check_no_links(wiki_dir)
    seen: dict[str, bool] = {}
    for rel, text in sorted(texts.items()):
        check_page_path(rel)
        if linked_part(wiki_dir, rel, seen):
            continue
        target = wiki_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, text.encode("utf-8"))
        written.append(rel)
    return written


def wiki_pages(wiki_dir: Path) -> list[str]:
    """Every markdown page in the wiki, as sorted relative POSIX paths (skipping dot-folders,
    and symbolic links: what one leads to is not the wiki's)."""
    found: list[str] = []
    # (Plain strings: a wiki holds tens of thousands of pages.)
    folders = [(os.fspath(wiki_dir), "")]
    while folders:
        path, prefix = folders.pop()
        try:
            with os.scandir(path) as entries:
                for e in entries:
                    name = e.name
                    if name.startswith(".") or e.is_symlink():
                        continue
                    if e.is_dir():
                        folders.append((e.path, prefix + name + "/"))
                    elif name.endswith(".md"):
                        found.append(prefix + name)
        except OSError:  # (gone meanwhile, or not a folder: what os.walk skipped too)
            continue
    return sorted(found)
