"""What follows a secret's name, and whether it is a secret (standard library only).

The rule table (`redact_rules.py`) finds the sensitive *word* a name ends in (`password`,
`token`, `secret`, `API_KEY`...); this module reads what comes after it, the way the text's
own syntax says, and returns the span of the value to redact, or None:

    env       NAME=value                      an upper-case name, no spaces: .env, shell
    line      name: value / name=value        a whole line of YAML, INI, properties
    assign    name = value, "name": value     code and inline configuration
    field     ;Pwd=value;  --x=password=v     a connection string's field, a nested assignment
    flag      --password value, --token=v     a command-line option; `set <name> value`
    markup    <password>value</password>      XML and HTML-like markup
    netrc     machine h login u password v    .netrc and its relatives
    prose     the token is `value`            a sentence

The whole value is taken, never a prefix: an unquoted value runs to whitespace or a quote,
through `& ; , ( \\`` unless what follows them starts the next field (`;Server=`, `&page=`),
ends the command (`; `, `&&`) or closes a call (`)` without `(`).  Then the form decides:
templates and placeholders (`$X`, `{{ x }}`, `<your-key>`, `****`) never count; code
(`get_token()`, `settings.SECRET_KEY`, `os.environ[...]`, `c.secret?d(e)`), paths, URLs and
numbers count only where the syntax cannot be code; a plain word (`correcthorsebattery`)
counts where the form is configuration (env, a config line, a flag, markup, netrc), not in
code, where it is a variable; in prose only a value that looks generated counts.
"""

from __future__ import annotations

import re

__all__ = ["AUTH", "NEEDS_DIGIT", "SECRET", "Lazy", "auth_value", "looks_random", "named_value",
           "plain_literal"]


class Lazy:
    """A regular expression compiled when first used: the hook imports these modules for
    every event, and most events never need most of the patterns."""

    def __init__(self, *args):
        self._args = args

    def __getattr__(self, name):  # (only for names not yet in __dict__)
        compiled = re.compile(*self._args)
        for method in ("search", "match", "fullmatch", "finditer", "split", "sub", "pattern"):
            self.__dict__[method] = getattr(compiled, method)
        return getattr(compiled, name)


# What a name says of its value: a secret; a secret only with a digit in it (a weak `key`);
# a secret only if it decodes to `user:password` or looks generated (`auth`).
SECRET, NEEDS_DIGIT, AUTH = 2, 1, 3

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_WS = " \t"
_QUOTES = "\"'`"
# A Python type annotation between the name and `=`: `api_key: str = "..."`.
_ANNOTATION = Lazy(
    r"[ \t]*:[ \t]*(?:str|bytes|SecretStr|Optional|Union|[A-Z][A-Za-z0-9_.]*|typing\.\w+)"
    r"(?:\[[^\]\n]{0,80}\])?(?:[ \t]*\|[ \t]*[A-Za-z_][\w.]*(?:\[[^\]\n]{0,80}\])?)*"
    r"[ \t]*=(?![=>])[ \t]*(?=\S)")
# Prose: "the token is X", "my password for staging was `X`", "API key: **X**".
_PROSE = Lazy(
    r"(?:[ \t]+(?!(?:is|was|are|equals)\b)[A-Za-z][\w'-]{0,20}){0,4}?[ \t]+"
    r"(?:(?:is|was|are|equals|reads)(?:[ \t]+now)?[ \t]*:?|->|=)[ \t]+"
    r"(?:(?P<q>\*\*|[`'\"])|(?=\S))")
_PROSE_QUOTED = Lazy(r"[ \t]+(?=[`'\"])")  # "the token `X`": no verb, a quoted value
# What starts the next field after `; & ,`: `;Server=`, `&page=`, `,src=`.
_NEXT_FIELD = Lazy(r"[ \t]*[A-Za-z_][A-Za-z0-9_. -]{0,40}=")
_UNQUOTED_STOP = frozenset(" \t\r\n\f\v\"'<>")
MAX_VALUE = 4096  # characters: a value longer than this is cut (and redacted) there
_PLAIN_RUN = Lazy(r"[^\s\"'<>\\()\[\]{},;&`]*")
_SET_WORDS = frozenset(("set", "config", "configure", "add", "put", "store", "setenv"))
_PERCENT_TEMPLATE = Lazy(r"%(?:\(\w+\)|[-+ #0]*[0-9]*[sdrifx]\b|\{|\w+%)")
_VALUE_ATTRIBUTE = Lazy(r"(?i:value)[ \t]*=[ \t]*(?=[\"'])")
_PROSE_PREFIX = Lazy(r"\+?|[^=(\[{]*[ \t]")
_SECTION = Lazy(r"\[[\w .:\"'/-]{1,60}\][ \t]*\r?\n")
_NETRC_CONTEXT = Lazy(r"(?<![\w-])machine[ \t]+\S+\s+\+?\s*(?:login|password|account|port)\b"
                      r"|(?m:^)[ \t+]*default[ \t]+(?:login|password)\b")
_MARKER = "[REDACTED:"

# --------------------------------------------------------------------------------------------
# Judging a value
# --------------------------------------------------------------------------------------------

_WORDISH = Lazy(
    r"(?:[A-Za-z_]+|[a-z][a-z0-9]*(?:_[a-z0-9]+)+|_[a-z0-9_]*|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"
    r"[.:!?]?")
_NAME_WORDS = Lazy(r"(?i)pass|pwd|secret|token|key|auth|credential")
_IDENTIFIER = Lazy(r"[A-Za-z_][A-Za-z_]*(?:[-_.][A-Za-z_]+)*[0-9]*")
_UPPER_SNAKE = Lazy(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{2,}")
_PLAIN_WORD = Lazy(r"[a-z]+(?:[-.][a-z]+)*|[A-Z]?[a-z]+(?:[-.][A-Za-z][a-z]*)*")
_CHAIN = Lazy(r"[A-Za-z_$][A-Za-z0-9_$]*(?:(?:\?\.|\.|::|->)[A-Za-z_$][A-Za-z0-9_$]*)*")
_CHAIN_SEP = Lazy(r"\?\.|\.|::|->")
_NUMBER = Lazy(r"[0-9]+(?:\.[0-9]+)*")
_URL = Lazy(r"[A-Za-z][A-Za-z0-9+.-]*://")
_PATH = Lazy(r"(?:~|\.\.?)?/[\w.-]+(?:/[\w.-]*)+|(?:~|\.\.?)/[\w.-]*|[A-Za-z]:\\[\w\\. -]*")
# Words that stand where a value would, and say it is not there.
_STOP_WORDS = frozenset((
    "required optional string boolean integer number secret secrets password passwords token"
    " tokens inherit environment prompt unset undefined redacted hidden masked sensitive"
    " default example placeholder generated variable disabled enabled nothing provided"
    " missing invalid expired revoked rotated changed updated stored removed deleted"
    " apikey passphrase credential credentials keyring keychain overridden none null"
).split())
_WORD_RUNS = Lazy(r"[a-z]{5,}|[A-Z][a-z]{4,}|[A-Z]{6,}")
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/=.~")
_HEX = frozenset("0123456789abcdef")


def looks_random(v: str, wordy: float = 0.4) -> bool:
    """Whether a token looks generated (a key, a token) rather than written by a person.

    At least 16 characters of a token alphabet with letters and digits; all hex (20+
    characters), or with few separators (`._/-~+=`, a path's and a name's) and at most the
    share `wordy` of its characters in word-like runs (`words`, `Words`, `WORDSS`: identifiers
    and prose are mostly such runs, a random token rarely: 2-4% of random base62 tokens of 16
    to 32 characters have more), and many distinct characters.
    """
    n = len(v)
    if n < 16 or not _TOKEN_CHARS.issuperset(v):
        return False
    digits = sum(c.isdigit() for c in v)
    if digits == 0 or digits == n:
        return False
    if _HEX.issuperset(v.lower().replace("-", "")):
        return n >= 20 and digits >= 3 and n - v.count("-") - digits >= 3
    if sum(c in "._/-~+=" for c in v) > n // 5:
        return False
    if sum(len(w) for w in _WORD_RUNS.findall(v)) > n * wordy:
        return False
    return len(set(v)) >= min(12, n // 2)


def auth_value(v: str) -> bool:
    """An `auth` value: base64 of `user:password` (Docker, .npmrc), or a generated token."""
    if looks_random(v, 0.6):
        return True
    if len(v) < 8 or len(v) % 4 == 1:
        return False
    import binascii  # (a C extension: loaded only for a value that may be base64)

    try:
        raw = binascii.a2b_base64(v + "=" * (-len(v) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return False
    user, colon, password = raw.partition(":")
    return bool(colon and user and password) and raw.isprintable() and " " not in raw


def _is_template(v: str) -> bool:
    """A template, placeholder or mask: `$X`, `${X}`, `{x}`, `f"{i:06d}"`, `%(x)s`, `%VAR%`,
    `<key>`, `****`, `abc...`, an existing marker."""
    return (v[0] in "${<[" or "${" in v or "$(" in v or ("{" in v and "}" in v)
            or (v[0] == "%" and _PERCENT_TEMPLATE.match(v) is not None)
            or "***" in v or "\u2022\u2022\u2022" in v or "..." in v or "\u2026" in v
            or _MARKER in v or v.startswith("-----BEGIN") or v == "same-origin")


def _is_code(v: str, after: str) -> bool:
    """A reference or expression: `settings.SECRET_KEY`, `get_token()`, `c.secret?d(e)`."""
    m = _CHAIN.match(v)
    if m is None:
        return False
    segments = _CHAIN_SEP.split(m.group())
    if any(len(s) >= 12 and not _WORDISH.fullmatch(s) for s in segments):
        return False  # a segment is a token: hvs.CAES..., dp.st.dev.AbC...
    rest = v[m.end():].rstrip(";,")  # (a statement's end)
    if not rest:
        return len(segments) > 1
    if rest == "!":  # TypeScript's non-null assertion: process.env.API_KEY!
        return True
    if rest[0] in "([":  # a call or subscript: closed, empty, cut where a string starts, or
        inner = rest[1:]  # its first argument a name or a number: get(server, ...), f(x
        return (not inner or (")" if rest[0] == "(" else "]") in inner or after in _QUOTES
                or _WORDISH.fullmatch(inner) is not None or _NUMBER.fullmatch(inner) is not None)
    return len(segments) > 1 and rest[0] in "?:+*/|&<>=!%^~"


def plain_literal(v: str, paths: bool = False) -> bool:
    """A value that reads as one literal token, not as a template, a URL, a number or (unless
    `paths`: where a path cannot stand, a base64 value may look like one) a path."""
    return not (_is_template(v) or _NUMBER.fullmatch(v) or _URL.match(v)
                or (not paths and _PATH.fullmatch(v)))


def _generated(v: str, quoted: bool) -> bool:
    """Prose: a value that looks generated (quoted: shorter, and any symbols, will do; after
    "the token is" a token needs less to look generated than anywhere)."""
    if looks_random(v, 0.6):
        return True
    return (quoted and len(v) >= 6 and not any(c.isspace() for c in v)
            and any(c.isdigit() for c in v) and any(c.isalpha() for c in v)
            and not _WORDISH.fullmatch(v) and not _URL.match(v) and not _PATH.fullmatch(v)
            and not re.fullmatch(r"v?[0-9][0-9.]*[a-z0-9-]*|[\w-]+\.[a-z]{1,5}", v))


def _accept(v: str, form: str, rule: int, after: str, quoted: bool, strong: bool) -> bool:
    """Whether the value `v` (of a form, after a name judged `rule`) is a secret to redact."""
    if not v or _is_template(v):
        return False
    if not quoted and (v[0] in "([{" or (v[0] == "/" and any(c in v for c in "([\\|^"))):
        return False  # an expression, a tuple, a list, a mapping, a regular expression
    if rule == AUTH:
        return auth_value(v)
    if rule == NEEDS_DIGIT and not any(c.isdigit() for c in v):
        return False
    if form == "prose":
        return _generated(v, quoted)
    if form == "define":  # define('DB_PASSWORD', '...'): a quoted literal, not a name or path
        return (quoted and len(v) >= 8 and " " not in v and plain_literal(v)
                and not _IDENTIFIER.fullmatch(v))
    lax = form in ("flag", "markup", "netrc", "field")  # syntaxes that are never code
    wordish = _WORDISH.fullmatch(v) is not None
    shortest = 8 if wordish else 4 if form in ("markup", "netrc", "field") else (
        6 if form == "flag" or (form == "env" and rule == SECRET) else 8)
    if len(v) < shortest:
        return False
    if quoted:
        if len(v) < 8 and form != "env":
            return False
        if _WORDISH.fullmatch(v) and _NAME_WORDS.search(v):
            return False  # a name, not its value: PASSWORD_FIELD = "password_confirmation"
        return form == "flag" or not any(c.isspace() for c in v)  # "Enter your password"
    if _URL.match(v) or _PATH.fullmatch(v) or (_NUMBER.fullmatch(v) and not lax):
        return False
    if form not in ("markup", "netrc", "env") and _is_code(v, after):
        return False
    if not wordish:
        return True
    # A plain word or identifier: a literal only where the syntax holds no code.
    if v.lower().rstrip(".:!?") in _STOP_WORDS:
        return False
    if form in ("env", "markup", "netrc", "field"):
        return True
    if form == "flag":
        return strong and not _UPPER_SNAKE.fullmatch(v)
    if form == "line":
        return _PLAIN_WORD.fullmatch(v) is not None
    return False


# --------------------------------------------------------------------------------------------
# Reading what follows a name
# --------------------------------------------------------------------------------------------


def _unquoted_end(text: str, i: int, n: int, conn: bool) -> int:
    """Where an unquoted value starting at i ends (see the module's docstring)."""
    depth = 0
    limit = min(n, i + MAX_VALUE)
    line = text.rfind("\n", max(0, i - 500), i) + 1 or max(0, i - 500)
    in_code = text.count("`", line, i) % 2 == 1  # a markdown code span closes at a backtick
    while True:
        i = _PLAIN_RUN.match(text, i, limit).end()
        if i >= limit:
            return limit
        c = text[i]
        if c in _UNQUOTED_STOP or c.isspace():
            return i
        nxt = text[i + 1:i + 2]
        if c == "\\":
            if nxt in ("", "n", "r", "t", '"', "'", "\\", "u"):
                return i  # a JSON escape: the value ends, the encoded text goes on
            i += 2
            continue
        if c in "([{":
            if c == "[" and text.startswith("REDACTED:", i + 1):
                return i
            depth += 1
        elif c in ")]}":
            if depth:
                depth -= 1
            elif not nxt or not (nxt.isalnum() or nxt in "_-+/=~!@#$%^&*"):
                return i  # closes a call or a literal the value stands in
        elif c in ",;&`":
            if (not nxt or nxt in " \t\r\n\"')\\" or (conn and c == ";")
                    or (c == "&" and nxt == "&") or (c == "`" and in_code)
                    or _NEXT_FIELD.match(text, i + 1)):
                return i
        i += 1


def _value(text: str, q: int, n: int, conn: bool, *, spaces: bool = False):
    """(start, end, quoted) of the value at q: quoted (maybe JSON-escaped) or unquoted."""
    j = q
    while j < n and j - q < 2 and text[j] in "bBrRuUfF":
        j += 1
    c = text[j:j + 1]
    if c == "\\" and text[j + 1:j + 2] in ('"', "'"):
        quote, start = text[j:j + 2], j + 2
    elif c and c in _QUOTES:
        quote, start = c, j + 1
    else:
        return q, _unquoted_end(text, q, n, conn), False
    close = text.find(quote, start, start + MAX_VALUE)
    eol = text.find("\n", start, start + MAX_VALUE)
    if close < 0 or (0 <= eol < close):
        # Unclosed on its line (a cut text, a shell continuation): up to the line's end or
        # the first space, whichever the form allows.
        end = start
        limit = min(n, start + MAX_VALUE)
        while end < limit and text[end] not in "\r\n" and (spaces or text[end] not in " \t"):
            end += 1
        return start, end, False
    end = close
    if len(quote) == 1 and end > start and text[end - 1] == "\\":
        end -= 1  # `\"` closing a JSON-escaped string
    return start, end, True


def _name_start(text: str, end: int) -> int:
    i = end
    while i > 0 and end - i < 80 and text[i - 1] in _NAME_CHARS:
        i -= 1
    return i


def _at_line_start(text: str, i: int) -> bool:
    """Only indentation (and a diff's `+`, a list's `- `) between the line start and i."""
    j = i
    while j > 0 and text[j - 1] in " \t" and i - j < 200:
        j -= 1
    if j > 0 and text[j - 1] == "-" and j < i:  # YAML list item `- password: x`
        j -= 1
        while j > 0 and text[j - 1] in " \t":
            j -= 1
    if j > 0 and text[j - 1] == "+":  # a line added in a diff or patch
        j -= 1
    return j == 0 or text[j - 1] in "\r\n"


def _previous_word(text: str, i: int) -> str:
    """The word before the one holding position i, on its line, skipping `--options`."""
    while i > 0 and text[i - 1] not in " \t\r\n":
        i -= 1
    for _ in range(4):
        j = i
        while j > 0 and text[j - 1] in _WS:
            j -= 1
        k = j
        while k > 0 and text[k - 1] not in " \t\r\n":
            k -= 1
        word = text[k:j]
        if not word.startswith("-"):
            return word
        i = k
    return ""


def _rest_of_line_empty(text: str, i: int, n: int) -> bool:
    """Nothing but spaces, a comment or a closing quote after i on its line."""
    while i < n and text[i] in _WS:
        i += 1
    return i >= n or text[i] in "\r\n#" or (text[i] == "\\" and text[i + 1:i + 2] in "nr")


def named_value(text: str, end: int, rule: int, strong: bool) -> tuple[int, int, str] | None:
    """The value assigned to the name whose sensitive word ends at `end`: (start, end, kind).

    `rule`: SECRET, or NEEDS_DIGIT for a name ending in a weak `key` that names no secret by
    itself; `strong`: the word is password, token, secret... (not key, pwd or pass).
    """
    n = len(text)
    ns = _name_start(text, end)
    name = text[ns:end]
    dashes = len(name) - len(name.lstrip("-"))
    before = text[ns - 1] if ns > 0 else "\n"
    p = end
    quoted_name = False
    if text.startswith("\\", p) and text[p + 1:p + 2] in _QUOTES:
        p += 2
        quoted_name = True
    elif p < n and text[p] in _QUOTES:
        p += 1
        quoted_name = True
    if p < n and text[p] == "]":
        p += 1
    # Markup: <password>value</password>, <db:Password id="x">value</db:Password>
    if dashes == 0 and not quoted_name and _opens_tag(text, ns) and text[p:p + 1] in "> \t":
        close = text.find(">", p, p + 200)
        if close >= 0 and "<" not in text[p:close] and text[close - 1] != "/":
            vend = text.find("</", close + 1, close + 4097)
            if vend > close + 1 and "<" not in text[close + 1:vend]:
                start, stop = close + 1, vend
                while start < stop and text[start] in " \t\r\n":
                    start += 1
                while stop > start and text[stop - 1] in " \t\r\n":
                    stop -= 1
                if _accept(text[start:stop], "markup", rule, "<", False, strong):
                    return start, stop, "secret-assignment"
        return None
    i = p
    while i < n and text[i] in _WS:
        i += 1
    spaced = i > p
    c = text[i:i + 1]
    form = "assign"
    conn = before == ";"
    if c == "=" and not text.startswith("==", i):
        q = i + (2 if text.startswith("=>", i) else 1)
        if dashes:
            form = "flag"
        elif before in ";=," or _option_before(text, ns):
            form = "field"  # ;Pwd=, --from-literal=password=, -o u=a,password=, --set x.password=
        elif not spaced and q < n and text[q] not in _WS:
            upper = end > 0 and (text[end - 1].isupper() or text[end - 1].isdigit())
            form = "env" if upper and not quoted_name else (
                "line" if _at_line_start(text, ns) else "assign")
        elif _at_line_start(text, ns) and not quoted_name and _ini_section_before(text, ns):
            form = "line"
    elif c == ":" and name.lower() == "pass" and not spaced:
        return None  # OpenSSL's `pass:<password>` argument: the command-line detector's
    elif c == ":" and not text.startswith("::", i):
        a = _ANNOTATION.match(text, i)
        if a is not None:
            q = a.end()
        else:
            q = i + (2 if text.startswith(":=", i) else 1)
            if dashes:
                form = "flag"
            elif (not quoted_name and not spaced and _at_line_start(text, ns)
                  and q < n and text[q] in _WS):
                form = "line"
    elif c == "," and quoted_name and text[max(0, ns - 8):ns - 1].rstrip(" \t").endswith("("):
        form, q = "define", i + 1  # define('DB_PASSWORD', 'value'), setdefault("TOKEN", "v")
    elif quoted_name and spaced and _VALUE_ATTRIBUTE.match(text, i):
        # <add key="ApiKey" value="..."/>, <entry name="password" value="..."/>
        form, q = "markup", _VALUE_ATTRIBUTE.match(text, i).end()
    elif spaced and c and c not in "\r\n":
        if dashes and not quoted_name:  # (`--password` in backticks is prose)
            form, q = "flag", i
        elif _previous_word(text, ns).lower() in _SET_WORDS:
            form, q = "flag", i  # aws configure set aws_secret_access_key X; git config x.token X
        elif name in ("password", "passwd") and _netrc(text, ns):
            start, stop, _ = _value(text, i, n, False)
            if _accept(text[start:stop], "netrc", rule, text[stop:stop + 1], False, True):
                return start, stop, "credential-file"
            return _prose(text, end, rule)
        else:
            return _prose(text, end, rule)
    else:
        return None
    while q < n and text[q] in _WS:
        q += 1
    if q >= n:
        return None
    if (form == "flag" and text[q] == "-") or text[q] in "${<[":
        return None  # the next option, not a value; a template
    start, stop, quoted = _value(text, q, n, conn, spaces=form == "flag")
    if form == "line" and not quoted and not _rest_of_line_empty(text, stop, n):
        form = "assign"
    v = text[start:stop]
    if not _accept(v, form, rule, text[stop:stop + 1], quoted, strong or form == "field"):
        return None
    kind = {"flag": "cli-credential", "netrc": "credential-file"}.get(form, "secret-assignment")
    return start, stop, kind


def _option_before(text: str, ns: int) -> bool:
    """Whether the command-line word before the one holding ns is an option (`--set`)."""
    i = ns
    while i > 0 and ns - i < 200 and text[i - 1] not in " \t\r\n":
        i -= 1
    j = i
    while j > 0 and text[j - 1] in " \t":
        j -= 1
    k = j
    while k > 0 and j - k < 40 and text[k - 1] not in " \t\r\n":
        k -= 1
    return j > k + 1 and text[k] == "-" and text[k + 1] != " " and j < i


def _opens_tag(text: str, ns: int) -> bool:
    """`<` right before the name, or before its namespace prefix (`<db:password`)."""
    if ns > 0 and text[ns - 1] == "<":
        return True
    if ns > 0 and text[ns - 1] == ":":
        j = ns - 1
        while j > 0 and ns - j < 40 and (text[j - 1].isalnum() or text[j - 1] in "_.-"):
            j -= 1
        return j > 0 and text[j - 1] == "<" and j < ns - 1
    return False


def _netrc(text: str, ns: int) -> bool:
    """A .netrc entry: `machine`, `login` or `default` on the name's line or the 3 before."""
    start = ns
    floor = max(0, ns - 600)
    for _ in range(4):
        start = text.rfind("\n", floor, start - 1) if start > floor else -1
        if start < 0:
            start = floor - 1
            break
    stop = text.find("\n", ns, ns + 600)
    return _NETRC_CONTEXT.search(text, start + 1, stop if stop >= 0 else ns + 600) is not None


def _ini_section_before(text: str, i: int) -> bool:
    """An INI `[section]` line somewhere before i: `name = value` lines are configuration."""
    floor = max(0, i - 4000)
    j = text.rfind("[", floor, i)
    while j >= 0:
        if _SECTION.match(text, j, j + 64):
            line = text.rfind("\n", 0, j) + 1
            if _PROSE_PREFIX.fullmatch(text, line, j):  # (a sentence may lead into it)
                return True
        j = text.rfind("[", floor, j)
    return False


def _prose(text: str, end: int, rule: int) -> tuple[int, int, str] | None:
    """"the token is `X`": a generated-looking value after the name and a verb."""
    m = _PROSE.match(text, end) or _PROSE_QUOTED.match(text, end)
    if m is None:
        return None
    q = m.end()
    quote = m.groupdict().get("q")
    n = len(text)
    if quote or (q < n and text[q] in _QUOTES):
        if not quote:
            quote, q = text[q], q + 1
        close = text.find(quote, q, q + 600)
        if close < 0:
            return None
        start, stop, quoted = q, close, True
    else:
        start, stop, quoted = q, _unquoted_end(text, q, n, False), False
        while stop > start and text[stop - 1] in ".,:;!?":
            stop -= 1
    if not _accept(text[start:stop], "prose", rule, text[stop:stop + 1], quoted, True):
        return None
    return start, stop, "prose-secret"
