"""Decoding before matching: secrets inside escapes, encodings and wrapped lines (stdlib only).

A secret can reach capture in a form no rule matches: JSON-escaped (`https:\\/\\/hooks.slack.com
\\/services\\/...`, a file's text inside a JSON string), URL-encoded (`%3A%2F%2F`), cut by a
terminal's line wrap (the second half on the next line), or base64-encoded (a Kubernetes
`tls.key`, a Docker `auth`, `echo <key> | base64`).  Each *view* here decodes the text, the
engine scans the decoded text like any other (where `VIEW_NEEDS` in redact_rules.py says a
view can differ from its text), and every span found there is mapped back to the
characters of the original it came from, which are the ones redacted, whole:

  * json: `\\/ \\" \\\\ \\n \\t \\r \\uXXXX` decoded;
  * url: `%XX` runs decoded (as UTF-8);
  * lines: a line break inside a long token removed (a line of 32+ characters ending in 12+
    token characters, the next starting with one); only spans that cross such a break count
    (the rest was found in the original);
  * base64: a run of 20+ base64 characters whose decoding is text is scanned as text: if it
    holds a secret, or is itself a generated-looking token (the base64 of a key: being
    encoded is evidence enough to judge it leniently), or, after
    `auth`/`Basic`/`password`..., is `user:password`, the whole run is redacted.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from wikimem.capture.redact_values import Lazy, looks_random

__all__ = ["View", "base64_spans", "json_views", "line_views", "url_views"]


class View:
    """A decoded text and the way back: `edits` are (start, end, replacement) in the original,
    sorted and disjoint; `text` is the original with them applied.  `text` may be given (a
    faster decoding) and `edits` a function computing them: they are needed only to map a
    span back, and most views hold none."""

    def __init__(self, original: str, edits, text: str | None = None):
        self._edits = edits
        self._dstart: list[int] | None = None  # where each edit's replacement starts in text
        if text is None:
            self._index()
            parts = []
            pos = 0
            for s, e, new in self._edits:
                parts.append(original[pos:s])
                parts.append(new)
                pos = e
            parts.append(original[pos:])
            text = "".join(parts)
        self.text = text

    def _index(self) -> None:
        if callable(self._edits):
            self._edits = self._edits()
        self._dstart = []
        pos = d = 0
        for s, e, new in self._edits:
            d += s - pos
            self._dstart.append(d)
            d += len(new)
            pos = e

    def start(self, i: int) -> int:
        """The original index of the decoded character at i (a span's start)."""
        if self._dstart is None:
            self._index()
        k = bisect_right(self._dstart, i) - 1
        if k < 0:
            return i
        s, e, new = self._edits[k]
        d = self._dstart[k]
        return s if i < d + len(new) else e + (i - d - len(new))

    def end(self, i: int) -> int:
        """The original index just after the decoded characters before i (a span's end)."""
        if self._dstart is None:
            self._index()
        k = bisect_left(self._dstart, i) - 1
        if k < 0:
            return i
        s, e, new = self._edits[k]
        d = self._dstart[k]
        return e if i <= d + len(new) else e + (i - d - len(new))

    def crosses(self, i: int, j: int) -> bool:
        """Whether the decoded span [i, j) holds an edit's place (a removed line break)."""
        if self._dstart is None:
            self._index()
        k = bisect_right(self._dstart, i)
        return k < len(self._dstart) and self._dstart[k] < j


# --------------------------------------------------------------------------------------------
# JSON escapes and URL encoding
# --------------------------------------------------------------------------------------------

_JSON_ESCAPE = Lazy(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
           "t": "\t"}


def _json_edits(text: str) -> list[tuple[int, int, str]]:
    edits = []
    for m in _JSON_ESCAPE.finditer(text):
        if m.group(1):
            new = chr(int(m.group(1), 16))
            if 0xD800 <= ord(new) < 0xE000:
                continue  # a surrogate half: leave it
        else:
            new = _SIMPLE[m.group(2)]
        edits.append((m.start(), m.end(), new))
    return edits


def _json_decode(text: str) -> str:
    """What `_json_edits` applied gives, by faster means (text holds no NUL)."""
    out = text.replace("\\\\", "\0")
    if "\\u" in out:
        out = _UNICODE.sub(_unicode, out)
    for escape, char in _REPLACED:
        out = out.replace(escape, char)
    return out.replace("\0", "\\")


def _unicode(m) -> str:
    char = chr(int(m.group(1), 16))
    return m.group() if 0xD800 <= ord(char) < 0xE000 else char


_UNICODE = Lazy(r"\\u([0-9a-fA-F]{4})")
_REPLACED = tuple((f"\\{k}", v) for k, v in _SIMPLE.items() if k != "\\")


def json_views(text: str):
    """(offset, view) for each block of lines holding JSON escapes, decoded."""
    for start, end in _line_blocks(text, _JSON_ESCAPE):
        piece = text[start:end]
        if "\0" in piece:
            yield start, View(piece, _json_edits(piece))
        else:
            yield start, View(piece, lambda piece=piece: _json_edits(piece), _json_decode(piece))


def _line_blocks(text: str, pattern):
    """(start, end) of each block of neighbouring lines where the pattern matches: the rest
    of the text is the same decoded or not, and need not be scanned again."""
    n = len(text)
    m = pattern.search(text)
    while m is not None:
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        while 0 <= end:
            m = pattern.search(text, end)
            if m is None or text.rfind("\n", end, m.start()) != end:
                break  # no more, or not on the next line
            end = text.find("\n", m.end())
        else:
            yield start, n
            return
        yield start, end
        if m is not None and m.start() <= end:
            m = pattern.search(text, end)


_PERCENT_RUN = Lazy(r"(?:%[0-9A-Fa-f]{2})+")


def url_views(text: str):
    """(offset, view) for each block of lines holding `%XX` runs, decoded."""
    for start, end in _line_blocks(text, _PERCENT_RUN):
        piece = text[start:end]
        edits = []
        for m in _PERCENT_RUN.finditer(piece):
            raw = bytes(int(m.group()[i + 1:i + 3], 16) for i in range(0, len(m.group()), 3))
            edits.append((m.start(), m.end(), raw.decode("utf-8", "replace")))
        yield start, View(piece, edits)


# --------------------------------------------------------------------------------------------
# Wrapped lines
# --------------------------------------------------------------------------------------------

_TOKEN_ALPHABET = "A-Za-z0-9+/=_.~-"
_BREAK = Lazy(rf"(?<=[{_TOKEN_ALPHABET}]{{12}})(\r?\n)(\+?)(?=[{_TOKEN_ALPHABET}])")
_LONG_LINE = 32
_NEW_STATEMENT = Lazy(r"[A-Za-z_][\w.-]*[ \t]*(?::|=(?![=\s]|$))")  # (not base64's `==`)


def line_views(text: str):
    """Views of the blocks of lines a wrap may have cut, each with its breaks removed.

    Yields (offset, view) for each block, `offset` being where the block starts in text.
    """
    joins: list[tuple[int, int]] = []
    for m in _BREAK.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if m.start() - line_start < _LONG_LINE:
            continue
        if m.group(2) and text[line_start:line_start + 1] != "+":
            continue  # a `+` starts the next line only as a diff's mark, like this one's
        if _NEW_STATEMENT.match(text, m.end()):
            continue  # the next line starts a `NAME=`, `key:`: its own, not a token's rest
        joins.append((m.start(), m.end()))
    if not joins:
        return
    block: list[tuple[int, int]] = []
    for s, e in joins:
        if block and s > block[-1][1] + 4096:
            yield _block(text, block)
            block = []
        block.append((s, e))
    yield _block(text, block)


def _block(text: str, joins: list[tuple[int, int]]) -> tuple[int, View]:
    start = text.rfind("\n", 0, joins[0][0]) + 1
    end = text.find("\n", joins[-1][1])
    end = len(text) if end < 0 else end
    piece = text[start:end]
    return start, View(piece, [(s - start, e - start, "") for s, e in joins])


# --------------------------------------------------------------------------------------------
# Base64
# --------------------------------------------------------------------------------------------

_RUN = Lazy(r"[A-Za-z0-9+/_-]{20,}+={0,2}")
_CONTEXT = Lazy(r"(?i)auth|basic|cred|pass|secret|token|key")
_USER_PASS = Lazy(r"[\w.@+-]{1,128}:[^\s]{6,}")
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def _decode(run: str) -> str | None:
    """The text a base64 (or base64url) run encodes, or None if it is not printable text."""
    body = run.rstrip("=")
    if len(body) % 4 == 1:
        return None
    if "-" in body or "_" in body:
        if "+" in body or "/" in body:
            return None
        body = body.replace("-", "+").replace("_", "/")
    padded = body + "=" * (-len(body) % 4)
    import binascii  # (a C extension: loaded only for a run that may be base64)

    try:
        head = binascii.a2b_base64(padded[:16])
        if not all(b in _PRINTABLE or b >= 0x80 for b in head):
            return None
        raw = binascii.a2b_base64(padded)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not text.isprintable() and any(c not in "\t\n\r" and not c.isprintable() for c in text):
        return None
    return text


def base64_spans(text: str, scan):
    """Base64 runs that encode a secret; `scan(decoded)` lists the spans found in a text."""
    for m in _RUN.finditer(text):
        run = m.group()
        if run.isalpha() or run.isdigit() or run.lower() == run:
            continue  # a word, a number, a path (base64 of text has capitals)
        decoded = _decode(run)
        if decoded is None and run[0] == "+":
            decoded = _decode(run[1:])  # (a line added in a diff)
        if decoded is None or len(decoded.strip()) < 8:
            continue
        plain = decoded.strip()
        if (looks_random(plain, 0.6) or scan(decoded)
                or (_USER_PASS.fullmatch(plain) and not plain.split(":", 1)[1].isdigit()
                    and _CONTEXT.search(text, max(0, m.start() - 40), m.start()))):
            yield m.start(), m.end(), "encoded-secret"
