"""Secret redaction for the capture path (standard library only): the engine.

Every secret found in a piece of text is replaced by ``[REDACTED:<kind>]``.  For structured
forms only the secret part goes and its context stays, so the redacted text still reads well:

    https://alice:[REDACTED:url-credentials]@db.example.com/app
    Authorization: Bearer [REDACTED:auth-header]
    OPENAI_API_KEY=[REDACTED:secret-assignment]
    https://hooks.slack.com/services/[REDACTED:slack-webhook]

What counts as a secret is the rule table in ``redact_rules.py``; this module compiles it,
scans, and replaces: the quick check, the compiled-pattern cache, the user's own patterns and
allow-list, the memo of short texts, and the walks over dicts and lists.

Speed.  This runs inside agent hook processes, on every event, so all the rules are compiled
once (on first need, see ``_MAY_HOLD_SECRET``) into ONE regular expression, and a text is
scanned in one pass (plus a confirming pass when something was redacted, see ``_MAX_PASSES``).
The expression is laid out for the ``re`` engine's fast path: every top-level alternative
starts with a literal character (each rule's anchor), so the engine skips straight over the
~90% of positions that hold none of those characters.
"""

from __future__ import annotations

import marshal
import os
import re
import sys

from wikimem.capture.redact_rules import (
    AWS_SECRET_NAME_ENDS,
    AWS_SECRET_VALUE,
    CHECK_KEY,
    DICT_LITERAL,
    NON_SECRET_KEYS,
    RULES,
    SECRET_KEYS,
    SENSITIVE_NAME,
)
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
    path = _kept_path(name)
    if path is None:
        return re.compile(pattern)
    try:
        with open(path, "rb") as f:
            key, text, flags, code, groups, groupindex, indexgroup = marshal.loads(f.read())
        if key == _KEPT_KEY and text == pattern:
            return _sre.compile(pattern, flags, code, groups, groupindex, indexgroup)
    except Exception:  # noqa: BLE001 - missing, stale or damaged: compile it instead
        pass
    try:
        parsed = _parser.parse(pattern, 0)
        code = [int(c) for c in _compiler._code(parsed, 0)]  # (some are int subclasses)
        groupindex = dict(parsed.state.groupdict)
        indexgroup = [None] * parsed.state.groups
        for k, i in groupindex.items():
            indexgroup[i] = k
        program = (_KEPT_KEY, pattern, int(parsed.state.flags), code,
                   int(parsed.state.groups) - 1, groupindex, tuple(indexgroup))
        compiled = _sre.compile(*program[1:])
    except Exception:  # noqa: BLE001 - `re`'s internals differ here: the public way
        return re.compile(pattern)
    if not sys.dont_write_bytecode:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # (beside the bytecode, readable like it: every user of this install shares it)
            replace_file(path, marshal.dumps(program), mode=0o644)
        except (OSError, ValueError):  # a read-only install: compile every time
            pass
    return compiled


_SKIP, _TOKEN, _SPAN, _TAILS = range(4)  # how a match is handled, see _redact_once


def _build():
    """Compile `RULES` into one pattern, and map each group that can end a match to a handler.

    Every top-level alternative starts with a literal anchor character, so ``re`` can skip over
    the positions holding none of them (the charset prefix optimisation).
    """
    by_anchor: dict[str, list[str]] = {}
    handlers: dict[str, tuple] = {}
    compiled_tails: dict[str, re.Pattern[str]] = {}
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
                # (the middle item of a _TAILS handler: whether to check a weak key's name)
                handlers[f"r{n}"] = (_TAILS, kind == CHECK_KEY, tails_c)
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
# by an operator, `://user:pass@`...  Without any of it no rule can redact anything and the
# text is returned as it is; the full pattern is compiled the first time a text needs it.
# Built like the full pattern, one literal anchor per alternative (the fast path).
# The needs of one anchor are grouped behind it (`_(?:a|b|c)`, not `_(?:a)|_(?:b)|...`):
# with ~20 vendor prefixes on `-` and `_` that keeps the check as fast as it was with 6.
def _quick_pattern() -> re.Pattern[str]:
    by_anchor: dict[str, dict[str, None]] = {}
    for anchors, *_, needs in RULES:
        for anchor in anchors if needs else ():
            by_anchor.setdefault(anchor, {})[needs] = None
    return _compile_kept(
        "needs", "|".join(f"{re.escape(a)}(?:{'|'.join(n)})" for a, n in by_anchor.items()))


_MAY_HOLD_SECRET = _quick_pattern()
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
_DIGIT = re.compile("[0-9]")
_LOWER_DIGITS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_DIGITS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


_NOT_SECRET, _NEEDS_DIGIT, _SECRET = range(3)  # what a name ending in a weak `key` says


def _key_name(text: str, k: int) -> int:
    """Judge the name ending in the `key` whose k is at index `k` by the word before it."""
    if text[k - 1] in "_-":  # snake/kebab case: the whole word before the separator
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


def _redact_once(text: str) -> str | None:
    """One scan; the redacted text, or None when nothing was redacted."""
    pieces: list[str] = []
    done = 0  # text[:done] is already in pieces
    pos = 0  # where the next search starts
    secret_re, handlers = _compiled()
    search = secret_re.search
    while (m := search(text, pos)) is not None:
        name = m.lastgroup
        handler, kind, extra = handlers[name]
        if handler == _TAILS:
            pos = m.end()
            key_name = _key_name(text, m.start()) if kind else _SECRET
            if key_name == _NOT_SECRET:
                continue
            for tail, tail_kind in extra:
                t = tail.match(text, pos)
                if t is not None:
                    kind = tail_kind
                    break
            else:
                continue
            start, end = t.span(t.lastgroup)
            if key_name == _NEEDS_DIGIT and _DIGIT.search(text, start, end) is None:
                continue
            pos = t.end()
        elif handler == _SPAN:
            start, end = m.span(name)
            pos = m.end()
        elif handler == _TOKEN:
            start, end = m.start() - extra, m.end()
            pos = end
        else:  # _SKIP
            pos = m.end()
            continue
        if _allow and text[start:end] in _allow:
            continue
        start = max(start, done)
        pieces.append(text[done:start])
        pieces.append(f"[REDACTED:{kind}]")
        done = end
    if not pieces:
        return None
    pieces.append(text[done:])
    return "".join(pieces)


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
    if _MAY_HOLD_SECRET.search(text) is not None:
        text = _redact_passes(text)
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


def _redact_passes(text: str) -> str:
    """`redact_text` without the quick check: scan until nothing more is redacted."""
    for _ in range(_MAX_PASSES):
        new = _redact_once(text)
        if new is None:
            break
        text = new
    return text


# Dict entries: the key is judged as a name, the value as a literal (see redact_rules.py).
_SENSITIVE_NAME = re.compile(SENSITIVE_NAME)
_DICT_LITERAL = re.compile(DICT_LITERAL)
_AWS_SECRET_VALUE = re.compile(AWS_SECRET_VALUE)


def redact_entry(key: str, value: str) -> str:
    """Redact a string value found under the string key `key` of a dict."""
    redacted = redact_text(value)
    if redacted != value or value in _allow:
        return redacted
    try:
        rule = _name_rules[key]
    except KeyError:
        rule = _name_rule(key)
    if rule is None or not _DICT_LITERAL.fullmatch(value):
        return value
    key_name, aws_name = rule
    if key_name is not None:
        if key_name == _NOT_SECRET or (key_name == _NEEDS_DIGIT and not _DIGIT.search(value)):
            return value
        if aws_name and _AWS_SECRET_VALUE.fullmatch(value):
            return "[REDACTED:aws-secret]"
    return "[REDACTED:secret-assignment]"


def _name_rule(key: str) -> tuple[int | None, bool] | None:
    """What a dict key says about its string value (remembered, like short texts).

    None: not a secret's name; else (for a name ending in a weak `key`, how `_key_name` judges
    it, else None; whether it is an AWS secret access key's name).
    """
    m = _SENSITIVE_NAME.search(key, max(0, len(key) - 32))
    rule = None
    if m is not None and m.group("k") is None:
        rule = (None, False)
    elif m is not None:
        k = m.start() + (1 if key[m.start()] in "_-" else 0)
        name = key.lower().replace("_", "").replace("-", "")
        rule = (_key_name(key, k), name.endswith(AWS_SECRET_NAME_ENDS))
    if len(key) <= _MEMO_LENGTH:
        if len(_name_rules) >= _MEMO_SIZE:
            _name_rules.clear()
        _name_rules[key] = rule
    return rule


_name_rules: dict[str, tuple[int | None, bool] | None] = {}


def redact_value(value):
    """Return a copy of a JSON-like value with every string in it redacted.

    Dicts (string keys and values), lists and tuples are walked; anything else is returned
    unchanged.  A string value under a key that names a secret (`{"api_key": "..."}`) is
    redacted as an assignment would be in text.  Deep nesting cannot hit the recursion limit
    (past `_RECURSION_DEPTH` levels the walk goes on iteratively).  A container inside itself is
    replaced, where it recurs, by the string ``[circular]``.  Two keys that redact to the same
    string collapse into one (the later value wins).
    """
    return _walk(value, None, 0, set())


_RECURSION_DEPTH = 64


def _walk(value, name: str | None, depth: int, active: set[int]):
    """Recursive walk for the usual shallow case; `name` is the dict key above a value."""
    if isinstance(value, str):
        return redact_text(value) if name is None else redact_entry(name, value)
    if not isinstance(value, dict | list | tuple):
        return value
    if depth >= _RECURSION_DEPTH:
        return _walk_deep(value, active)
    if id(value) in active:
        return "[circular]"
    active.add(id(value))
    depth += 1
    # (Strings and scalars are handled inline: they are most of what an event holds.)
    if isinstance(value, dict):
        out: dict | list | tuple = {}
        for k, v in value.items():
            if type(k) is not str and not isinstance(k, str):
                out[k] = _walk(v, None, depth, active)
            elif type(v) is str:
                out[redact_text(k)] = redact_entry(k, v)
            elif type(v) in _SCALARS:
                out[redact_text(k)] = v
            else:
                out[redact_text(k)] = _walk(v, k, depth, active)
    else:
        out = [redact_text(v) if type(v) is str else v if type(v) in _SCALARS
               else _walk(v, None, depth, active) for v in value]
        if isinstance(value, tuple):
            out = tuple(out)
    active.discard(id(value))
    return out


_SCALARS = frozenset({int, float, bool, type(None)})


def _walk_deep(value, active: set[int]):
    """Iterative walk with an explicit stack, for arbitrarily deep values."""

    def open_frame(obj):
        # [source, iterator over it, output, key in the parent dict waiting for this child]
        if isinstance(obj, dict):
            return [obj, iter(obj.items()), {}, None]
        return [obj, iter(obj), [], None]

    if id(value) in active:
        return "[circular]"
    stack = [open_frame(value)]
    active.add(id(value))
    result = None
    while stack:
        frame = stack[-1]
        src, items, out, _ = frame
        try:
            item = next(items)
        except StopIteration:
            stack.pop()
            active.discard(id(src))
            built = tuple(out) if isinstance(src, tuple) else out
            if not stack:
                result = built
            elif isinstance(stack[-1][2], dict):
                stack[-1][2][stack[-1][3]] = built
            else:
                stack[-1][2].append(built)
            continue
        name = None
        if isinstance(src, dict):
            key, child = item
            if isinstance(key, str):
                name, key = key, redact_text(key)
        else:
            key, child = None, item
        if isinstance(child, dict | list | tuple):
            if id(child) not in active:
                frame[3] = key
                stack.append(open_frame(child))
                active.add(id(child))
                continue
            child = "[circular]"
        elif isinstance(child, str):
            child = redact_text(child) if name is None else redact_entry(name, child)
        if isinstance(out, dict):
            out[key] = child
        else:
            out.append(child)
    return result
