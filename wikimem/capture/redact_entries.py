"""Redacting JSON-like values: dict entries judged by their keys, and the walk over nested
values (standard library only; the engine is redact.py, which re-exports both functions)."""

from __future__ import annotations

from wikimem.capture import redact as _engine
from wikimem.capture.redact_rules import (
    AWS_SECRET_NAME_ENDS,
    AWS_SECRET_VALUE,
    DICT_LITERAL,
    SENSITIVE_NAME,
)
from wikimem.capture.redact_values import AUTH, auth_value

__all__ = ["redact_entry", "redact_value"]

# Dict entries: the key is judged as a name, the value as a literal (see redact_rules.py).
# (kept beside the bytecode, like the engine's patterns: compiling them is most of what
# importing this module would cost a hook)
_SENSITIVE_NAME, _DICT_LITERAL, _AWS_SECRET_VALUE = _engine._compile_kept_all(
    "entries", (SENSITIVE_NAME, DICT_LITERAL, AWS_SECRET_VALUE))


def redact_entry(key: str, value: str) -> str:
    """Redact a string value found under the string key `key` of a dict."""
    redacted = _engine.redact_text(value)
    if redacted != value or value in _engine._allow:
        return redacted
    try:
        rule = _name_rules[key]
    except KeyError:
        rule = _name_rule(key)
    if rule is None or not _DICT_LITERAL.fullmatch(value):
        return value
    key_name, aws_name = rule
    if key_name == AUTH:
        return "[REDACTED:secret-assignment]" if auth_value(value) else value
    if key_name is not None:
        if key_name == _engine._NOT_SECRET or (
                key_name == _engine._NEEDS_DIGIT and not _engine._DIGIT.search(value)):
            return value
        if aws_name and _AWS_SECRET_VALUE.fullmatch(value):
            return "[REDACTED:aws-secret]"
    return "[REDACTED:secret-assignment]"


def _name_rule(key: str) -> tuple[int | None, bool] | None:
    """What a dict key says about its string value (remembered, like short texts).

    None: not a secret's name; else (for a name ending in a weak `key`, how `_key_name` judges
    it, AUTH for an `auth` name, else None; whether it is an AWS secret access key's name).
    """
    m = _SENSITIVE_NAME.search(key, max(0, len(key) - 32))
    rule = None
    if m is not None and m.group("a") is not None:
        rule = (AUTH, False)
    elif m is not None and m.group("k") is None:
        rule = (None, False)
    elif m is not None:
        k = m.start() + (1 if key[m.start()] in "_-" else 0)
        name = key.lower().replace("_", "").replace("-", "")
        rule = (_engine._key_name(key, k), name.endswith(AWS_SECRET_NAME_ENDS))
    if len(key) <= _engine._MEMO_LENGTH:
        if len(_name_rules) >= _engine._MEMO_SIZE:
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
        return _engine.redact_text(value) if name is None else redact_entry(name, value)
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
                out[_engine.redact_text(k)] = redact_entry(k, v)
            elif type(v) in _SCALARS:
                out[_engine.redact_text(k)] = v
            else:
                out[_engine.redact_text(k)] = _walk(v, k, depth, active)
    else:
        out = [_engine.redact_text(v) if type(v) is str else v if type(v) in _SCALARS
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
                name, key = key, _engine.redact_text(key)
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
            child = _engine.redact_text(child) if name is None else redact_entry(name, child)
        if isinstance(out, dict):
            out[key] = child
        else:
            out.append(child)
    return result
