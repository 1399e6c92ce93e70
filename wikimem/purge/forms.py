"""What a value is stored as: every form the pipeline derives from recorded text, for purge.

A value recorded once reaches the stores transformed, and purge must find it in each form.
`Forms(value)` matches (as bytes, in any store):

Each character of the value as it is or as the pipeline rewrites it, any mix of these within
one occurrence:
- page text: `<` `>` `&` `"` `'` HTML-escaped (`&lt;`: wiki.text.escape_text, link_label);
  `<` as `‹` (earlier context blocks, kept in old git blobs; compile.context.defang now
  writes `&lt;`); `<>"&` as `_` (context._attr); `[` `]` as `\\[` `\\]`
  (escape_text's `\\[\\[`); `[ ] | # ^` as a space (link_label); `(` as `\\(` (escape_text's
  script links); `\\` as `/` (file paths: sessions.relative_path, pages.check_page_path);
  `/` as `\\/` (JSON writers that escape it); `'` doubled (YAML single quotes); NUL as U+FFFD
  (pages.Page.render);
- a run of whitespace as any run of it (one_line, clean_prompt and the context block collapse
  them), as ` ⏎ ` (code_span), or as a line break and `> ` (quote);
- encoded: UTF-8; JSON-escaped once (raw log, state) or twice (a tool response an adapter
  dumped as JSON inside a raw-log line; an LLM answer), with `\\u` escapes or without;
  YAML double-quoted (frontmatter); URL-encoded.
The whole value:
- its slug (memory.slugify, sessions.page_tag, llm.topic_page: lower-case letters and digits,
  the words joined by `-`) where it is part of a page name or a link to one;
- its core: without what titles and lifted decisions strip from the ends (make_title,
  sessions.candidates, summarize); its first letter a capital (a lifted decision's title).
Pieces of at least PIECE characters, where the pipeline cut the value:
- its start before a cut marker: the capture cap's `[... wikimem cut N characters ...]`
  (capture.observe.cap_text), `…` (make_title, one_line, the session page's and the context
  block's cuts, `[… cut for length]`), and its end after the cap's marker;
- the start of its slug (SLUG_PIECE characters or more) where a page name ends (`.md`, `|`,
  `]]`): slugify drops the words past its limit, and a title cut mid-word is slugified as it
  is.

A piece anywhere else may be other text: it is not removed, only counted (`partial`: at least
PARTIAL characters of the value's start or end), so the report can say it may be there.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote as url_quote

import yaml

PURGED = "[REDACTED:purged]"
MIN_VALUE = 4  # characters: a shorter value (or slug, or core) would match ordinary text
PIECE = 6  # characters of a cut value, at least, that purge removes where it was cut
PARTIAL = 8  # characters of the value's start or end, at least, counted anywhere else
SLUG_PIECE = 8  # characters of a slug's start, at least, removed where a page name ends
# What titles and lifted texts strip from the ends of a line (make_title, candidates).
STRIPPED = "/#>*-_` ,;:\t\n\r"

# Per character: how page text may show it (before any encoding).
_TEXT_FORMS: dict[str, tuple[str, ...]] = {
    "<": ("&lt;", "‹", "_"),
    ">": ("&gt;", "_"),
    "&": ("&amp;", "_"),
    '"': ("&quot;", "_"),
    "'": ("''", "&#x27;", "&#39;"),
    "[": ("\\[", " "),
    "]": ("\\]", " "),
    "|": (" ",),
    "#": (" ",),
    "^": (" ",),
    "(": ("\\(",),
    "\\": ("/",),
    "/": ("\\/",),
    "\0": ("\ufffd",),
}
# One character of a whitespace run, as stored: whitespace, ` ⏎ ` (code_span), JSON escapes,
# URL encoding, the `> ` quote puts after a line break.
_WS_ONE = (rb"(?:[ \t\r\n]|\xe2\x8f\x8e|\\+[nrt]|\\+u23ce|%20|%0[9aAdD]|\+|(?<=\n)>)")
_WS = _WS_ONE + rb"+"
_WS_BYTES = 16  # the most bytes one whitespace unit is given when sizing a search window
# A cut marker a piece of the value's start may stand before (with whitespace between).
_CUT_AFTER = re.compile(_WS_ONE + rb"*(?:\[\.\.\. wikimem cut \d+ characters \.\.\.\]"
                        rb"|\[?(?:\xe2\x80\xa6|\\+u2026))")
# The cap's marker, which a piece of the value's end may follow.
_CUT_BEFORE = re.compile(rb"\[\.\.\. wikimem cut \d+ characters \.\.\.\]" + _WS_ONE + rb"*")
_CUT_HINT = (b"wikimem cut", b"\xe2\x80\xa6", b"u2026")
# The end of a page name: a slug run before `.md`, `|` or `]]`.
_SLUG_RUN = re.compile(rb"(?<![a-z0-9-])[a-z0-9-]+(?=\.md|\||\]\])")
# Inside a file name or a slug (`notes/N1-rotate-<value>-every-quarter.md`), the value is
# replaced by a word that keeps the name a valid path and wikilink target.
_SLUG_BEFORE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/")
_SLUG_AFTER = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def slug_of(text: str) -> str:
    """The form a text takes in a page name (memory.slugify without its length limit)."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


class _Value:
    """One value: a compiled pattern per unit (a character, or a run of whitespace)."""

    def __init__(self, value: str, pieces: bool):
        units = _units(value)
        # (A lifted decision's title begins with a capital: sessions.candidates.)
        self.patterns = [b"(?:" + _unit_pattern(u, capital=not i) + b")"
                         for i, u in enumerate(units)]
        self.units = [re.compile(p) for p in self.patterns]
        self.max_bytes = sum(_WS_BYTES if u == " " else 12 * len(u.encode("utf-8",
                                                                       "surrogatepass"))
                             for u in units)
        self.slug = slug_of(value).encode()
        self.pieces = pieces and len(units) > PIECE
        n = len(units)
        self.partial = [re.compile(b"".join(self.patterns[:PARTIAL])),
                        re.compile(b"".join(self.patterns[n - PARTIAL:]))] \
            if pieces and n > PARTIAL else []

    def chains(self, value: str) -> list[bytes]:
        found = [b"".join(self.patterns)]
        core = value.strip(STRIPPED)
        if core != value and len(core) >= MIN_VALUE:
            found.append(b"".join(b"(?:" + _unit_pattern(u) + b")" for u in _units(core)))
        return found

    def prefix_before(self, data: bytes, end: int) -> int | None:
        """Where the longest piece of the value's start (PIECE units or more) that ends
        exactly at `end` begins, or None."""
        n = len(self.units)
        first = self.units[0]
        for m in first.finditer(data, max(0, end - self.max_bytes), end):
            pos, i = m.start(), 0
            while i < n and pos < end:
                unit = self.units[i].match(data, pos, end)
                if not unit or unit.end() == pos:
                    break
                pos, i = unit.end(), i + 1
            if pos == end and i >= PIECE:
                return m.start()
        return None

    def suffix_after(self, data: bytes, start: int) -> int | None:
        """Where the longest piece of the value's end (PIECE units or more) that begins
        exactly at `start` ends, or None."""
        n = len(self.units)
        for j in range(n - PIECE + 1):
            pos, i = start, j
            while i < n:
                unit = self.units[i].match(data, pos)
                if not unit:
                    break
                pos, i = unit.end(), i + 1
            if i == n:
                return pos
        return None

    def slug_pieces(self, data: bytes) -> list[tuple[int, int, str]]:
        """Pieces of the value's slug's start where a page name ends."""
        slug = self.slug
        if len(slug) <= SLUG_PIECE or slug[:SLUG_PIECE] not in data:
            return []
        found = []
        for m in _SLUG_RUN.finditer(data):
            run = m.group()
            for k in range(min(len(slug) - 1, len(run)), SLUG_PIECE - 1, -1):
                if run.endswith(slug[:k]) and (k == len(run) or run[-k - 1] == 0x2D):
                    found.append((m.end() - k, m.end(), "slug"))
                    break
        return found


class Forms:
    """Every form of one or more values: find them (`spans`), count them and remove them
    (`scrub`). With `pieces` (the default), also the pieces a cut left (see the module)."""

    def __init__(self, *values: str, pieces: bool = True):
        values = tuple(dict.fromkeys(v for v in values if v))
        self.values = [_Value(v, pieces) for v in values]
        chains: list[bytes] = []
        for value, v in zip(values, self.values, strict=True):
            chains += v.chains(value)
        chains.sort(key=len, reverse=True)
        alternatives = [b"(?:" + c + b")" for c in chains]
        slugs = sorted({v.slug for v in self.values if len(v.slug) >= MIN_VALUE},
                       key=len, reverse=True)
        if slugs:
            alternatives.append(b"(?P<slug>" + b"|".join(re.escape(s) for s in slugs)
                                + rb")(?=[-.a-z0-9|\]#])")
        self._full = re.compile(b"|".join(alternatives)) if alternatives else None
        # (The search index holds page names as lower-cased terms, in its own framing.)
        self._slugs = re.compile(b"|".join(re.escape(s) for s in slugs)) if slugs else None
        self.pieces = pieces

    # -- finding -------------------------------------------------------------------------

    def spans(self, data: bytes, *, json_text: bool = False, index: bool = False
              ) -> list[tuple[int, int, str]]:
        """(start, end, kind) of every occurrence, merged where they overlap; kind `slug`
        (the value's slug, or a piece of it) or `value`. In `json_text` a match that starts
        inside an escape sequence (after an odd number of backslashes) is no occurrence; in
        the search index's files (`index`) a slug is one wherever it is."""
        found: list[tuple[int, int, str]] = []
        if self._full is not None:
            found += [(m.start(), m.end(), "slug" if m.lastgroup == "slug" else "value")
                      for m in self._full.finditer(data)]
        if index and self._slugs is not None:
            found += [(m.start(), m.end(), "slug") for m in self._slugs.finditer(data)]
        if self.pieces:
            for v in self.values:
                found += v.slug_pieces(data)
            if any(h in data for h in _CUT_HINT):
                found += self._cut_pieces(data)
        if json_text:
            found = [s for s in found if not _escaped(data, s[0])]
        return _merge(found)

    def _cut_pieces(self, data: bytes) -> list[tuple[int, int, str]]:
        found = []
        for v in self.values:
            if not v.pieces:
                continue
            for m in _CUT_AFTER.finditer(data):
                start = v.prefix_before(data, m.start())
                if start is not None:
                    found.append((start, m.start(), "value"))
            for m in _CUT_BEFORE.finditer(data):
                end = v.suffix_after(data, m.end())
                if end is not None:
                    found.append((m.end(), end, "value"))
        return found

    def partial(self, data: bytes, spans: list[tuple[int, int, str]] = ()) -> int:
        """Pieces of a value's start or end (PARTIAL characters or more) outside `spans`:
        maybe the value cut where no marker says so, maybe other text."""
        hits = set()
        for v in self.values:
            for pattern in v.partial:
                hits |= {(m.start(), m.end()) for m in pattern.finditer(data)
                         if not any(s <= m.start() < e for s, e, _ in spans)}
        return len(_merge([(s, e, "") for s, e in hits]))

    # -- counting and removing, per kind of file -------------------------------------------

    def scrub(self, data: bytes, *, name: bool = False, json_text: bool = False) -> bytes:
        """`data` with every occurrence replaced: by `purged` in a name (`name`) or a slug,
        else by PURGED."""
        spans = self.spans(data, json_text=json_text)
        if not spans:
            return data
        out, last = [], 0
        for start, end, kind in spans:
            out += [data[last:start], _replacement(data, start, end, kind, name)]
            last = end
        out.append(data[last:])
        return b"".join(out)

    def scrub_name(self, name: bytes) -> bytes:
        return self.scrub(name, name=True)

    def scrub_json(self, data: bytes) -> bytes:
        """`scrub` for one JSON text (a raw-log line, a state file) that stays valid JSON:
        where replacing its bytes would break it, its strings are scrubbed one by one."""
        if not self.spans(data):
            return data
        if not _parses(data):
            return self.scrub(data)
        new = self.scrub(data, json_text=True)
        if _parses(new):
            return new
        obj = _walk(json.loads(data), lambda s: self.scrub(
            s.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass"))
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "surrogatepass") + data[len(data.rstrip(b"\r\n")):]

    def scrub_file(self, name: str, data: bytes) -> bytes:
        """`scrub` for a file by its kind: JSON lines and JSON stay valid, others as bytes."""
        if name.endswith((".jsonl", ".log")):
            return b"".join(self.scrub_json(line) for line in data.splitlines(keepends=True))
        if name.endswith(".json"):
            return self.scrub_json(data)
        return self.scrub(data)

    def count(self, data: bytes, *, json_text: bool = False, index: bool = False
              ) -> tuple[int, int]:
        """(occurrences, partial pieces) in `data`."""
        spans = self.spans(data, json_text=json_text, index=index)
        return len(spans), self.partial(data, spans)

    def count_file(self, name: str, data: bytes) -> tuple[int, int]:
        """`count` for a file by its kind (as `scrub_file` would see it)."""
        if name.endswith((".jsonl", ".log", ".json")) and self.spans(data):
            lines = data.splitlines(keepends=True) if not name.endswith(".json") else [data]
            found = [self.count(line, json_text=_parses(line)) for line in lines]
            return sum(f[0] for f in found), sum(f[1] for f in found)
        return self.count(data)


def _units(value: str) -> list[str]:
    """A value's characters, each run of whitespace as one " "."""
    return [" " if part.isspace() else part
            for part in re.findall(r"\s+|.", value, re.S)]


def _unit_pattern(unit: str, capital: bool = False) -> bytes:
    if unit == " ":
        return _WS
    alternatives: set[bytes] = set()
    upper = (unit.upper(),) if capital and unit.upper() != unit else ()
    for text in (unit, *upper, *_TEXT_FORMS.get(unit, ())):
        alternatives |= _encodings(text)
    return b"|".join(re.escape(a) for a in sorted(alternatives, key=lambda a: (-len(a), a)))


def _encodings(text: str) -> set[bytes]:
    """The bytes a piece of text is stored as: UTF-8, JSON-escaped once or twice (ASCII or
    not), YAML double-quoted, URL-encoded."""
    out = {text.encode("utf-8", "surrogatepass")}
    once = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    twice = {json.dumps(t, ensure_ascii=a)[1:-1] for t in once for a in (True, False)}
    if len(text) == 1 and not text.isalnum() and ord(text) < 0x10000:
        # (`\u003c`: how other JSON writers, an agent's transcript, may escape it)
        once |= {f"\\u{ord(text):04x}", f"\\u{ord(text):04X}"}
        twice |= {"\\" + f for f in once if f.startswith("\\u")}
    forms = once | twice
    try:
        forms.add(yaml.safe_dump(text, default_style='"', allow_unicode=True,
                                 width=10**9)[1:-2])
    except yaml.YAMLError:
        pass
    try:
        url = url_quote(text, safe="", errors="strict")
    except UnicodeError:
        url = text
    if url != text:
        forms |= {url, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), url)}
    out |= {f.encode("utf-8", "surrogatepass") for f in forms}
    out.discard(b"")
    return out


def _escaped(data: bytes, start: int) -> bool:
    """Whether the byte at `start` follows an odd number of backslashes (inside an escape)."""
    n = 0
    while start - n > 0 and data[start - n - 1] == 0x5C:
        n += 1
    return n % 2 == 1


def _merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans as one (kind `slug` only when every part of it is)."""
    merged: list[list] = []
    for start, end, kind in sorted(spans):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if kind != "slug":
                last[2] = kind
        else:
            merged.append([start, end, kind])
    return [(s, e, k) for s, e, k in merged]


def _replacement(data: bytes, start: int, end: int, kind: str, name: bool) -> bytes:
    if name or kind == "slug" or (start and end < len(data) and data[start - 1] in _SLUG_BEFORE
                                  and data[end] in _SLUG_AFTER):
        return b"purged"
    return PURGED.encode()


def _parses(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _walk(obj, change):
    if isinstance(obj, str):
        return change(obj)
    if isinstance(obj, dict):
        return {change(k): _walk(v, change) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, change) for v in obj]
    return obj
