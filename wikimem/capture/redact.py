"""Secret redaction for the capture path (standard library only): the engine.

Every secret found in a piece of text is replaced, whole, by ``[REDACTED:<kind>]``.  For
structured forms only the secret part goes and its context stays, so the redacted text still
reads well:

    https://alice:[REDACTED:url-credentials]@db.example.com/app
    Authorization: Bearer [REDACTED:auth-header]
    OPENAI_API_KEY=[REDACTED:secret-assignment]
    mysql -u root -p[REDACTED:cli-credential] shop
    https:\\/\\/hooks.slack.com\\/services\\/[REDACTED:slack-webhook]

A text is searched three ways, and the spans all of them find are merged and replaced:

  * the rule table (``redact_rules.py``): vendor tokens, private keys, URL credentials,
    headers, and the sensitive names whose values ``redact_values.named_value`` reads in the
    syntax that follows them (``NAME=v``, ``name: v``, ``--name v``, ``<name>v<``, prose...);
  * detectors that read a text as what it is (``redact_formats.py``): command lines,
    Kubernetes Secrets, CSV columns, credential files, cookies, key-id pairs, unknown vendors;
  * decoded views (``redact_views.py``): JSON escapes, URL encoding, lines a wrap cut, base64
    runs, scanned like any text (to a depth of two), their spans mapped back.

This module compiles the table, runs the quick check, scans and replaces, and keeps the
compiled-pattern cache, the user's own patterns and allow-list and the memo of short texts;
dict entries and nested values are ``redact_entries.py``'s.

Speed.  This runs inside agent hook processes, on every event.  Each part (the table, each
detector, each view) has a pattern of what it needs (``needs`` in the table, DETECTOR_NEEDS,
VIEW_NEEDS), tried after a cheaper substring test; a part runs only where its pattern matches
(``_needed``), and the detector and view modules are imported only then.  The table is
compiled once, on first need, into ONE regular expression laid out for the ``re`` engine's
fast path (every top-level alternative starts with a literal character, so the engine skips
the positions holding none of them); a text is scanned once, plus a confirming pass when
something was redacted (``_MAX_PASSES``).
"""

from __future__ import annotations

import marshal
import os
import re
import sys

from wikimem.capture.redact_rules import (
    CHECK_AUTH,
    CHECK_KEY,
    DETECTOR_NEEDS,
    NAMED_VALUE,
    NEEDS_LITERALS,
    NEEDS_LOWER_LITERALS,
    NON_SECRET_KEYS,
    RULES,
    SECRET_KEYS,
    VIEW_NEEDS,
)
from wikimem.capture.redact_values import AUTH, named_value
from wikimem.fsio import replace_file

__all__ = ["configure", "redact_entry", "redact_text", "redact_value"]

# --------------------------------------------------------------------------------------------
# Compiled patterns kept beside the module's bytecode
# --------------------------------------------------------------------------------------------

# Parsing and compiling the needs pattern is most of what importing this module costs (the full
# pattern, when a text needs it, three times that), and every hook process imports it. So the
# compiled programs of the large patterns are kept in __pycache__ next to the module's .pyc, as
# Python keeps bytecode: `redact.<name>.<cache tag>.re`, a marshal of the interpreter's version
# and the regex engine's MAGIC, the pattern text, and what `re` hands the engine (`_sre.compile`:
# flags, code, groups). Loading one is a fraction of a millisecond. A file that does not match
# the running interpreter and pattern exactly, or that the engine refuses, is ignored and the
# pattern compiled as usual; with PYTHONDONTWRITEBYTECODE (or a read-only install) nothing is
# written. Parsing and code generation are `re`'s own (`re._parser`, `re._compiler`).
try:
    import _sre
    from re import _compiler, _parser

    _KEPT_KEY = (sys.version, _sre.MAGIC, _sre.CODESIZE)
except ImportError:  # pragma: no cover - another Python implementation
    _sre = None


def _kept_path(name: str) -> str | None:
    tag = sys.implementation.cache_tag
    if _sre is None or not tag:
        return None
    return os.path.join(os.path.dirname(__file__), "__pycache__", f"redact.{name}.{tag}.re")


def _compile_kept(name: str, pattern: str) -> re.Pattern[str]:
    """`re.compile(pattern)`, through the program kept under `name` when there is one."""
    return _compile_kept_all(name, (pattern,))[0]


def _compile_kept_all(name: str, patterns: tuple[str, ...]) -> list[re.Pattern[str]]:
    """`re.compile` of each pattern, through the programs kept together under `name`."""
    path = _kept_path(name)
    if path is None:
        return [re.compile(p) for p in patterns]
    try:
        with open(path, "rb") as f:
            key, kept = marshal.loads(f.read())
        if key == _KEPT_KEY and tuple(program[0] for program in kept) == patterns:
            return [_sre.compile(*program) for program in kept]
    except Exception:  # noqa: BLE001 - missing, stale or damaged: compile them instead
        pass
    try:
        kept = []
        for pattern in patterns:
            parsed = _parser.parse(pattern, 0)
            code = [int(c) for c in _compiler._code(parsed, 0)]  # (some are int subclasses)
            groupindex = dict(parsed.state.groupdict)
            indexgroup = [None] * parsed.state.groups
            for k, i in groupindex.items():
                indexgroup[i] = k
            kept.append((pattern, int(parsed.state.flags), code, int(parsed.state.groups) - 1,
                         groupindex, tuple(indexgroup)))
        compiled = [_sre.compile(*program) for program in kept]
    except Exception:  # noqa: BLE001 - `re`'s internals differ here: the public way
        return [re.compile(p) for p in patterns]
    if not sys.dont_write_bytecode:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # (beside the bytecode, readable like it: every user of this install shares it)
            replace_file(path, marshal.dumps((_KEPT_KEY, tuple(kept))), mode=0o644)
        except (OSError, ValueError):  # a read-only install: compile every time
            pass
    return compiled


_SKIP, _TOKEN, _SPAN, _TAILS = range(4)  # how a match is handled, see _rule_spans


def _build():
    """Compile `RULES` into one pattern, and map each group that can end a match to a handler.

    Every top-level alternative starts with a literal anchor character, so ``re`` can skip over
    the positions holding none of them (the charset prefix optimisation).
    """
    by_anchor: dict[str, list[str]] = {}
    handlers: dict[str, tuple] = {}
    compiled_tails: dict[str, re.Pattern[str] | None] = {NAMED_VALUE: None}
    n = 0
    for anchors, kind, back, head, tails, _ in RULES:
        for t, _ in tails:
            if t not in compiled_tails:
                compiled_tails[t] = re.compile(t)
        tails_c = tuple((compiled_tails[t], k) for t, k in tails)
        for anchor in anchors:
            n += 1
            if tails_c:
                body = f"{head}(?P<r{n}>)"
                # (the middle item of a _TAILS handler: how to judge the name, see _name_judged)
                handlers[f"r{n}"] = (_TAILS, kind, tails_c)
            elif "(?P<S>" in head:
                body = head.replace("(?P<S>", f"(?P<r{n}>")
                handlers[f"r{n}"] = (_SPAN, kind, 0)
            else:
                body = f"{head}(?P<r{n}>)"
                handlers[f"r{n}"] = (_SKIP if kind is None else _TOKEN, kind, back)
            by_anchor.setdefault(anchor, []).append(body)
    alternatives = [f"{re.escape(a)}(?:{'|'.join(b)})" for a, b in by_anchor.items()]
    return _compile_kept("full", "|".join(alternatives)), handlers


# Compiling the full pattern costs about as much as all the rest a hook process does, and
# most texts an agent sends could not hold a secret by any rule.  So a text is first searched
# for what some rule needs (`needs` in `RULES`): a vendor prefix, a sensitive name followed
# by an operator, `://user:pass@`...  Without any of it no rule can redact anything; the full
# pattern is compiled the first time a text needs it.  Built like the full pattern, one
# literal anchor per alternative (the fast path).  The needs of one anchor are grouped behind
# it (`_(?:a|b|c)`, not `_(?:a)|_(?:b)|...`): with ~20 vendor prefixes on `-` and `_` that
# keeps the check as fast as it was with 6.
def _rule_needs() -> str:
    by_anchor: dict[str, dict[str, None]] = {}
    for anchors, *_, needs in RULES:
        for anchor in anchors if needs else ():
            by_anchor.setdefault(anchor, {})[needs] = None
    return "|".join(f"{re.escape(a)}(?:{'|'.join(n)})" for a, n in by_anchor.items())


# The quick check: what the rules need, or what a detector (redact_formats.py) or a view
# (redact_views.py) needs.  Each part is checked on its own (one pattern with all of them as
# alternatives would hide a part matching where another does), after a cheaper test of
# substrings its pattern needs (NEEDS_LITERALS); `_MAY_HOLD_SECRET.search(text)` names the
# first part that may find something in text, or returns None.
_PARTS = (("rules", None), *((f"d_{k}", v) for k, v in DETECTOR_NEEDS.items()),
          *((f"v_{k}", v) for k, v in VIEW_NEEDS.items()))
_part_patterns: list | None = None  # [(name, literals, compiled needs)] once built


def _parts() -> list:
    global _part_patterns
    if _part_patterns is None:
        compiled = _compile_kept_all("needs", tuple(
            _rule_needs() if needs is None else needs for _, needs in _PARTS))
        _part_patterns = [(name, NEEDS_LITERALS.get(name, ()), NEEDS_LOWER_LITERALS.get(name),
                           pattern.search)
                          for (name, _), pattern in zip(_PARTS, compiled, strict=True)]
    return _part_patterns


def _needed(text: str, first: bool = False) -> set[str]:
    """The parts of `_PARTS` that may find something in text (`first`: stop at one)."""
    found = set()
    low = None
    for name, literals, lower_literals, search in _part_patterns or _parts():
        if literals:
            for x in literals:
                if x in text:
                    break
            else:
                continue
        elif lower_literals:
            if low is None:
                low = text.lower()
            for x in lower_literals:
                if x in low:
                    break
            else:
                continue
        if name == "v_base64":  # (its own scan of runs is as fast as searching for one)
            if low is None:
                low = text.lower()
            if len(text) >= 20 and low != text:  # base64 of text has capitals
                found.add(name)
            continue
        if search(text) is not None:
            found.add(name)
            if first:
                break
    return found


class _QuickCheck:
    """`search(text)`: the first part that may find something in text, or None; `pattern`:
    all the parts' patterns as one (what they look for, for the record)."""

    def __init__(self):
        self.pattern = "|".join(
            f"(?:{_rule_needs() if needs is None else needs})" for _, needs in _PARTS)

    @staticmethod
    def search(text: str) -> str | None:
        found = _needed(text, first=True)
        return found.pop() if found else None


_MAY_HOLD_SECRET = _QuickCheck()
_full: tuple | None = None  # (pattern, handlers) once built


def _compiled() -> tuple:
    global _full
    if _full is None:
        _full = _build()
    return _full


# A redaction can, rarely, change what a neighbouring rule sees on the next pass (the end of a
# value, say); a confirming pass makes the result a fixed point, which is what makes
# `redact_text` idempotent.  Every changing pass turns secret text into markers, which are never
# touched again, so this ends; the cap only bounds pathological input.
_MAX_PASSES = 4
_MAX_DEPTH = 2  # decoded views inside decoded views, at most
_DIGIT = re.compile("[0-9]")
_LOWER_DIGITS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_DIGITS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


_NOT_SECRET, _NEEDS_DIGIT, _SECRET = range(3)  # what a name ending in a weak `key` says


def _key_name(text: str, k: int) -> int:
    """Judge the name ending in the `key` whose k is at index `k` by the word before it."""
    if text[k - 1] in "_- ":  # snake/kebab case, or words: the whole word before the separator
        end = start = k - 1
        while start > 0 and end - start < 16 and text[start - 1] in _ALNUM:
            start -= 1
    else:  # camelCase: the lower-case run before `Key`, with its capital
        end = start = k
        while start > 0 and end - start < 16 and text[start - 1] in _LOWER_DIGITS:
            start -= 1
        if start > 0 and text[start - 1].isupper():
            start -= 1
    word = text[start:end].lower()
    if word in SECRET_KEYS:
        return _SECRET
    return _NOT_SECRET if word in NON_SECRET_KEYS else _NEEDS_DIGIT


def _rule_spans(text: str, spans: list) -> None:
    """The spans the rule table finds in text, added to `spans`."""
    pos = 0  # where the next search starts
    inside = 0  # the end of the last value read after a name: names in it are part of it
    secret_re, handlers = _compiled()
    search = secret_re.search
    while (m := search(text, pos)) is not None:
        handler, kind, extra = handlers[m.lastgroup]
        if handler == _TAILS:
            pos = m.end()
            if m.start() < inside:
                continue
            rule = (_key_name(text, m.start()) if kind == CHECK_KEY
                    else AUTH if kind == CHECK_AUTH else _SECRET)
            if rule == _NOT_SECRET:
                continue
            for tail, tail_kind in extra:
                if tail is None:  # NAMED_VALUE: the value in whatever syntax follows
                    found = named_value(text, pos, rule, kind is None)
                    if found is not None:
                        break
                    continue
                t = tail.match(text, pos)
                if t is not None:
                    found = (*t.span(t.lastgroup), tail_kind)
                    break
            else:
                continue
            start, end, kind = found
            if rule == _NEEDS_DIGIT and _DIGIT.search(text, start, end) is None:
                continue
            # (the scan goes on inside the value: a vendor rule there says what it is)
            inside = end
        elif handler == _SPAN:
            start, end = m.span(m.lastgroup)
            pos = m.end()
        elif handler == _TOKEN:
            start, end = m.start() - extra, m.end()
            pos = end
        else:  # _SKIP
            pos = m.end()
            continue
        spans.append((start, end, kind))


_formats = _views = None  # the detector and view modules, imported when first needed


def _spans(text: str, depth: int = 0, needed: set[str] | None = None) -> list:
    """Every (start, end, kind) to redact in text: rules, detectors, then decoded views
    (`needed`: what `_needed(text)` says, if known)."""
    global _formats, _views
    spans: list = []
    if needed is None:
        needed = _needed(text)
    if not needed:
        return spans
    if "rules" in needed:
        _rule_spans(text, spans)
    for name in DETECTOR_NEEDS:
        if f"d_{name}" in needed:
            if _formats is None:
                from wikimem.capture import redact_formats as _formats
            spans.extend(getattr(_formats, f"{name}_spans")(text))
    if depth >= _MAX_DEPTH or not needed.intersection(_VIEW_PARTS):
        return spans
    if _views is None:
        from wikimem.capture import redact_views as _views
    inner = depth + 1
    for name, views in (("v_json", _views.json_views), ("v_url", _views.url_views)):
        for offset, view in views(text) if name in needed else ():
            spans.extend((offset + view.start(s), offset + view.end(e), k)
                         for s, e, k in _spans(view.text, inner))
    if "v_lines" in needed:
        for offset, view in _views.line_views(text):
            spans.extend((offset + view.start(s), offset + view.end(e), k)
                         for s, e, k in _spans(view.text, inner) if view.crosses(s, e))
    if "v_base64" in needed:
        spans.extend(_views.base64_spans(text, lambda decoded: _spans(decoded, inner)))
    return spans


_VIEW_PARTS = frozenset(f"v_{k}" for k in VIEW_NEEDS)
# Which kind a merged span is named by: an assignment's, as it always was
# (`OPENAI_API_KEY=[REDACTED:secret-assignment]`); else a vendor's (rank 1) over the kinds that
# only say where a secret was found (a command line, a file, a sentence...).
_RANK = {"secret-assignment": 0, **dict.fromkeys(
    ("auth-header", "cli-credential", "prose-secret", "credential-file", "encoded-secret",
     "paired-secret", "vendor-token"), 2)}


def _redact_once(text: str, needed: set[str] | None = None) -> str | None:
    """One scan; the redacted text, or None when nothing was redacted."""
    found = _spans(text, 0, needed)
    if not found:
        return None
    found.sort(key=lambda span: (span[0], -span[1], span[2]))  # (the longest first)
    merged: list[list] = []
    for start, end, kind in found:
        if end <= start or (_allow and text[start:end] in _allow):
            continue
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            if _RANK.get(kind, 1) < _RANK.get(merged[-1][2], 1):
                merged[-1][2] = kind
        else:
            merged.append([start, end, kind])
    if "[REDACTED:" in text:  # never a piece of a marker: a span takes it whole, or not at all
        merged = _around_markers(text, merged)
    pieces: list[str] = []
    done = 0
    for start, end, kind in merged:
        pieces.append(text[done:start])
        pieces.append(f"[REDACTED:{kind}]")
        done = end
    if not pieces:
        return None
    pieces.append(text[done:])
    return "".join(pieces)


def _around_markers(text: str, spans: list[list]) -> list[list]:
    markers = [m.span() for m in _MARKER.finditer(text)]
    out: list[list] = []
    for span in spans:
        for ms, me in markers:
            if ms < span[0] < me:
                span[0] = ms
            if ms < span[1] < me:
                span[1] = me
        if _ONLY_MARKERS.fullmatch(text, span[0], span[1]):
            continue  # already redacted
        if out and span[0] < out[-1][1]:
            out[-1][1] = max(out[-1][1], span[1])
        else:
            out.append(span)
    return out


def redact_text(text: str) -> str:
    """Return ``text`` with every secret replaced by ``[REDACTED:<kind>]``.

    Idempotent: ``redact_text(redact_text(x)) == redact_text(x)``.
    """
    if not text:
        return text
    if len(text) > _MEMO_LENGTH:
        return _redact_uncached(text)
    try:
        return _memo[text]
    except KeyError:
        pass
    done = _redact_uncached(text)
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    _memo[text] = done
    return done


def _redact_uncached(text: str) -> str:
    needed = _needed(text)
    if needed:
        text = _redact_passes(text, needed)
    if _custom:
        text = _redact_custom(text)
    return text


# Short texts recur from event to event - dict keys, tool names, paths, the transcript path
# of the session - so their results are remembered (redaction is a pure function of the text
# and of `configure`, which forgets them): up to _MEMO_SIZE texts of at most _MEMO_LENGTH
# characters, forgotten all at once when full.
_MEMO_LENGTH = 256
_MEMO_SIZE = 4096
_memo: dict[str, str] = {}


# --------------------------------------------------------------------------------------------
# The user's own patterns and allow-list (`[redact]` in config; see wikimem/privacy.py)
# --------------------------------------------------------------------------------------------

_custom: tuple[re.Pattern[str], ...] = ()  # extra patterns, each match -> [REDACTED:custom]
_allow: frozenset[str] = frozenset()  # exact values no rule redacts
_MARKER = re.compile(r"(\[REDACTED:[a-z0-9-]{1,40}\])")
_ONLY_MARKERS = re.compile(r"(?:\[REDACTED:[a-z0-9-]{1,40}\][ \t]*)+")


def configure(patterns=(), allow=()) -> None:
    """Use these compiled patterns (besides the built-in rules) and this allow-list.

    A pattern with a group named ``secret`` has only that group replaced; otherwise the whole
    match is.  An allowed value is never replaced, by a built-in rule or a pattern.
    """
    global _custom, _allow
    _custom = tuple(patterns)
    _allow = frozenset(allow)
    _memo.clear()  # (results remembered under the old settings)


def _custom_sub(m: re.Match[str]) -> str:
    whole = m.group(0)
    if not whole or whole in _allow:
        return whole
    if "secret" in m.re.groupindex and m.group("secret"):
        if m.group("secret") in _allow:
            return whole
        start, end = m.span("secret")
        base = m.start()
        return whole[:start - base] + "[REDACTED:custom]" + whole[end - base:]
    return "[REDACTED:custom]"


def _redact_custom(text: str) -> str:
    """Apply the user's patterns to the text between existing markers."""
    pieces = _MARKER.split(text)
    for i in range(0, len(pieces), 2):  # even pieces are text, odd ones markers
        piece = pieces[i]
        for pattern in _custom:
            piece = pattern.sub(_custom_sub, piece)
        pieces[i] = piece
    return "".join(pieces)


def _redact_passes(text: str, needed: set[str] | None = None) -> str:
    """`redact_text` without the quick check: scan until nothing more is redacted."""
    for _ in range(_MAX_PASSES):
        new = _redact_once(text, needed)
        needed = None
        if new is None:
            break
        text = new
    return text


# Dict entries and nested values (redact_entries.py), here for those who import them from here.
from wikimem.capture.redact_entries import redact_entry, redact_value  # noqa: E402
