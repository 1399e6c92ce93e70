"""The page embeddings of the hybrid search: what is embedded, where it is kept, how it ranks.

`page_passages` is what of a page is embedded: a session by its title and what the person
said (its prompts, from the transcript page), in windows of a few sentences, so one sentence
about a preference inside a long prompt is not averaged away; any other page by its text in
the same windows (at most MAX_PASSAGES). Derived pages (transcripts, file pages, timelines)
are not embedded: their session's or sources' pages are.

`VectorStore` keeps the vectors in one file beside the Whoosh index (`<index>-vectors.npz`),
written whole and renamed into place under the index's write lock: `store.IndexStore` is its
only writer, when it updates or rebuilds the index. A page's vectors are reused while its
passages and the model are the same, so an update embeds only changed pages. `ranking`
gives pages by their best passage's cosine to the question; index.py fuses that with BM25.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wikimem.fsio import replace_file
from wikimem.search.documents import _lazy, _normalize_rel, _page_source, _read
from wikimem.search.scoring import DERIVED_KINDS

if TYPE_CHECKING:
    from wikimem.search.semantic import Model
    from wikimem.wiki.pages import Page

PASSAGE_CHARS = 300  # a window of whole sentences up to about this long (~70 tokens)
MAX_PASSAGES = 64  # per page
FORMAT = 1
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_PROMPT = re.compile(r"^\*\*Prompt \d+\*\*[ \t]*\n\n((?:>.*(?:\n|$))+)", re.M)


def vectors_path(index_dir: Path) -> Path:
    return Path(index_dir).with_name(Path(index_dir).name + "-vectors.npz")


def windows(text: str, size: int = PASSAGE_CHARS) -> list[str]:
    """`text` as consecutive windows of whole sentences, each up to about `size` characters."""
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if current and len(current) + 1 + len(sentence) > size:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        out.append(current)
    return out


def page_passages(wiki_dir: Path, rel: str, page: Page | None = None,
                  pages: Mapping[str, Page] | None = None) -> list[str] | None:
    """What of a page is embedded (see the module's text); None: the page is not embedded."""
    found = _page_source(page) if page is not None else _read(wiki_dir, rel)
    if found is None:
        return None
    meta, body = found
    kind = str(meta.get("kind") or "").strip().lower()
    if kind in DERIVED_KINDS:
        return None
    parse = _lazy("parse")
    title = str(meta.get("title") or "").strip()
    transcript = meta.get("transcript")
    said: list[str] = []
    if isinstance(transcript, str) and (other := _normalize_rel(transcript)):
        source = (_page_source(pages[other]) if pages and other in pages
                  else _read(wiki_dir, other))
        if source is not None:
            said = [parse(block).text for block in _PROMPT.findall(source[1])]
    if not said:
        said = [parse(body).text]
    passages = [title] if title else []
    for text in said:
        passages += windows(text)
    return list(dict.fromkeys(p for p in passages if p.strip()))[:MAX_PASSAGES] or None


def _digest(passages: list[str]) -> str:
    return hashlib.sha256("\x00".join(passages).encode("utf-8")).hexdigest()[:24]


class VectorStore:
    """The embeddings file of one index (see the module's text)."""

    def __init__(self, index_dir: Path) -> None:
        self.path = vectors_path(index_dir)
        self._cache: tuple[Any, Any] | None = None  # (file signature, loaded arrays)

    # -- reading ---------------------------------------------------------------------------------

    def load(self) -> dict | None:
        """{"meta", "vectors" (float32), "starts"} of the file, or None (absent, unreadable)."""
        import numpy as np

        try:
            st = os.stat(self.path)
        except OSError:
            return None
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._cache is not None and self._cache[0] == signature:
            return self._cache[1]
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                vectors = data["vectors"].astype(np.float32)
            counts = [int(c) for c in meta["counts"]]
            if (meta.get("format") != FORMAT or len(counts) != len(meta["paths"])
                    or sum(counts) != len(vectors)):
                return None
        except (OSError, ValueError, KeyError, TypeError, UnicodeError):
            return None
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        loaded = {"meta": meta, "vectors": vectors, "starts": starts}
        self._cache = (signature, loaded)
        return loaded

    def ranking(self, query_vector: Any, fingerprint: str,
                keep: Callable[[str], bool], n: int) -> list[tuple[float, str]]:
        """The `n` best (cosine, path) that `keep` accepts: a page's best passage counts."""
        import numpy as np

        data = self.load()
        if data is None or data["meta"].get("fingerprint") != fingerprint or not len(
                data["vectors"]):
            return []
        # einsum's own loop, not BLAS: BLAS's threads cost more than this product on a busy
        # machine (docs/BENCHMARKS.md, the hybrid search).
        cosines = np.einsum("ij,j->i", data["vectors"], query_vector)
        best = np.maximum.reduceat(cosines, data["starts"])
        paths = data["meta"]["paths"]
        out: list[tuple[float, str]] = []
        for i in np.argsort(-best, kind="stable"):
            if keep(paths[i]):
                out.append((float(best[i]), paths[i]))
                if len(out) >= n:
                    break
        return out

    # -- writing (under the index's write lock: IndexStore calls these) ----------------------------

    def sync(self, model: Model, passages: Mapping[str, list[str] | None],
             removed: Iterable[str] = (), *, complete: bool = False,
             steps: Callable[[int, int], None] | None = None) -> int:
        """Bring the file up to date: `passages` by page (None: not embedded), `removed`
        pages dropped; `complete`: the pages given are all there are. Returns how many
        pages were embedded anew."""
        import numpy as np

        old = self.load()
        kept: dict[str, tuple[str, Any]] = {}
        if old is not None and old["meta"].get("fingerprint") == model.fingerprint:
            meta, vectors, starts = old["meta"], old["vectors"], old["starts"]
            for i, path in enumerate(meta["paths"]):
                start = int(starts[i])
                kept[path] = (meta["digests"][i], vectors[start:start + int(meta["counts"][i])])
        table: dict[str, tuple[str, Any]] = {} if complete else dict(kept)
        for path in removed:
            table.pop(path, None)
        todo: dict[str, list[str]] = {}
        for path, texts in passages.items():
            if not texts:
                table.pop(path, None)
                continue
            digest = _digest(texts)
            if path in kept and kept[path][0] == digest:
                table[path] = kept[path]
            else:
                todo[path] = texts
        flat = [t for texts in todo.values() for t in texts]
        if steps is not None:
            steps(0, len(flat))
        done, at = 0, 0
        new_vectors: list[Any] = []
        for start in range(0, len(flat), 256):
            new_vectors.append(model.embed(flat[start:start + 256]))
            done = min(len(flat), start + 256)
            if steps is not None:
                steps(done, len(flat))
        embedded = np.concatenate(new_vectors) if new_vectors else None
        for path, texts in todo.items():
            table[path] = (_digest(texts), embedded[at:at + len(texts)])
            at += len(texts)
        if not (not todo and old is not None and set(table) == set(kept)):
            self._write(model, table)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.error_path)
        return len(todo)

    def _write(self, model: Model, table: Mapping[str, tuple[str, Any]]) -> None:
        import numpy as np

        paths = sorted(table)
        dim = model.dim or 1
        vectors = (np.concatenate([table[p][1] for p in paths]).astype(np.float16) if paths
                   else np.zeros((0, dim), dtype=np.float16))
        meta = {"format": FORMAT, "model": model.name, "fingerprint": model.fingerprint,
                "paths": paths, "counts": [len(table[p][1]) for p in paths],
                "digests": [table[p][0] for p in paths]}
        buffer = io.BytesIO()
        np.savez(buffer, vectors=vectors,
                 meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(self.path, buffer.getvalue())
        self._cache = None

    @property
    def error_path(self) -> Path:
        return self.path.with_name(self.path.name + ".error")

    def record_error(self, message: str) -> None:
        """Say why the last sync failed (`error()` reads it; the next good sync removes it)."""
        replace_file(self.error_path, message[:2000] + "\n")

    def error(self) -> str | None:
        try:
            return self.error_path.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeError):
            return None

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._cache = None


