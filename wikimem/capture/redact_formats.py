"""Secrets found by reading a text as what it is: a command line, a file (standard library only).

Each detector `<name>_spans(text)` yields the spans to redact, `(start, end, kind)`; its
*needs* (`DETECTOR_NEEDS[name]` in redact_rules.py) is a pattern that matches wherever it can
find anything, and the engine (`redact.py`) runs it only where that matches:

  * command lines: the credential-bearing options of common CLIs (`mysql -pX`, `curl -u
    user:pass`, `docker login -p X`, `sshpass -p X`, `openssl -passin pass:X`, `keytool
    -storepass X`...), their positional secrets (`sqlplus user/pass@db`, `vault login X`,
    `mc alias set n url key SECRET`, `htpasswd -b f user PASS`) and what `echo` pipes into
    `--password-stdin`;
  * files: a Kubernetes Secret's `data:`/`stringData:` values (YAML or JSON), the columns of
    a CSV whose header names a secret (the AWS console's credentials file), `.pgpass` lines,
    password hashes (`.htpasswd`, `/etc/shadow`), PuTTY private keys, `Cookie:` headers;
  * a secret next to the key id it belongs to (`AKIA... <secret>`, Twilio `SK... <secret>`);
  * tokens of vendors no rule names: a short prefix and a long generated body (`ntn_...`).
"""

from __future__ import annotations

from wikimem.capture.redact_rules import DETECTOR_NEEDS
from wikimem.capture.redact_values import Lazy, looks_random, plain_literal

__all__ = ["cli_spans", "cookie_spans", "csv_spans", "file_spans", "kube_spans",
           "pair_spans", "putty_spans", "vendor_spans"]

_MARKER = "[REDACTED:"


def _strip_quotes(text: str, s: int, e: int) -> tuple[int, int]:
    """A token's span without the quotes around it (or around its whole value)."""
    if e - s >= 2 and text[s] in "\"'" and text[e - 1] == text[s]:
        return s + 1, e - 1
    if e - s >= 3 and text[s] == "$" and text[s + 1] == "'" and text[e - 1] == "'":
        return s + 2, e - 1
    return s, e


# What documentation writes where a password goes.
_PLACEHOLDERS = frozenset((
    "pass password passwd pwd secret token key value x xx xxx xxxx xxxxxx xxxxxxxx user"
    " username apikey api_key api-key your_password yourpassword mypassword changeme prompt"
).split())


def _secret(value: str, shortest: int = 4) -> bool:
    v = value.strip("\"'")
    return (len(v) >= shortest and plain_literal(v, paths=True) and _MARKER not in v
            and v.lower() not in _PLACEHOLDERS and "..." not in v)


# --------------------------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------------------------

_SEPARATORS = frozenset(";|&()`\n")


def _tokens(text: str, i: int, n: int):
    """Shell-like tokens from i to the end of the command line: (start, end, unquoted) or
    (start, start + 1, None) for a separator (`; | & ( ) \\``, a line end)."""
    while i < n:
        c = text[i]
        if c in " \t\r":
            i += 1
            continue
        if c == "\\" and text[i + 1:i + 2] == "\n":  # a continued line
            i += 2
            continue
        if c in _SEPARATORS:
            if c == "\n":
                yield i, i + 1, None
                return
            yield i, i + 1, None
            i += 1
            continue
        if c == "#" and (i == 0 or text[i - 1] in " \t"):  # a comment: the line ends
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        start = i
        word = []
        while i < n and text[i] not in " \t\r\n" and text[i] not in _SEPARATORS:
            c = text[i]
            if c in "\"'":
                close = text.find(c, i + 1)
                while c == '"' and close > 0 and text[close - 1] == "\\":
                    close = text.find(c, close + 1)
                if close < 0 or text.find("\n", i + 1, close) >= 0:
                    close = i  # unbalanced: the quote is a character
                    word.append(c)
                else:
                    word.append(text[i + 1:close])
                i = close + 1
            elif c == "\\" and i + 1 < n:
                word.append(text[i + 1])
                i += 2
            else:
                word.append(c)
                i += 1
        yield start, i, "".join(word)


# program -> {option: how its value is given}:
#   next      the next argument (`-p X`)             attached  glued to the option (`-pX`)
#   both      either                                  userpass  `user:pass`, the part after `:`
#   passarg   OpenSSL's `pass:X` (not env:, file:)    smb       `user%pass`      lftp `user,pass`
_LOGIN = {"-p": "next", "--password": "next"}
_PROGRAMS: dict[str, dict[str, str]] = {
    **dict.fromkeys(("mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow",
                     "mysqlcheck", "mysqlpump", "mysqlsh", "mariadb", "mariadb-dump",
                     "mariadb-admin"), {"-p": "attached"}),
    **dict.fromkeys(("docker", "podman", "nerdctl", "buildah", "skopeo", "oc", "crane",
                     "regctl", "finch"), _LOGIN),
    "sshpass": {"-p": "both"},
    "redis-cli": {"-a": "next", "--pass": "next"},
    **dict.fromkeys(("mongo", "mongosh", "mongodump", "mongorestore", "mongoexport",
                     "mongoimport", "mongostat", "mongotop", "mongofiles"), {"-p": "next"}),
    **dict.fromkeys(("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldappasswd",
                     "ldapwhoami", "ldapcompare", "ldapmodrdn"), {"-w": "next"}),
    **dict.fromkeys(("sqlcmd", "bcp", "osql"), {"-P": "next"}),
    **dict.fromkeys(("zip", "unzip", "zipcloak", "funzip"), {"-P": "next"}),
    **dict.fromkeys(("7z", "7za", "7zr", "unrar", "rar"), {"-p": "attached"}),
    **dict.fromkeys(("keytool", "jarsigner"), dict.fromkeys(
        ("-storepass", "-keypass", "-srcstorepass", "-deststorepass", "-srckeypass",
         "-destkeypass", "-new"), "next")),
    "openssl": {"-passin": "passarg", "-passout": "passarg", "-pass": "passarg", "-k": "next",
                "-K": "next", "-kfile": "none"},
    "ssh-keygen": {"-N": "next", "-P": "next"},
    **dict.fromkeys(("curl", "curlie", "wget"), {"-u": "userpass", "--user": "userpass",
                                                 "-U": "userpass", "--proxy-user": "userpass",
                                                 "--oauth2-bearer": "next"}),
    **dict.fromkeys(("http", "https", "xh", "xhs"), {"-a": "userpass", "--auth": "userpass"}),
    "smbclient": {"-U": "smb", "--user": "smb"},
    "lftp": {"-u": "lftp"},
    **dict.fromkeys(("pscp", "plink", "putty", "psftp"), {"-pw": "next"}),
    "rdesktop": {"-p": "next"},
    "cqlsh": {"-p": "next"},
    "influx": {"-password": "next", "-p": "next"},
    "gh": {"-b": "both", "--body": "next"},
    "az": {"-p": "next", "--password": "next"},
}
# Programs whose first arguments after a subcommand are secrets: (subcommand words, index of
# the secret among the positional arguments after them).
_POSITIONAL = {
    "vault": (("login",), 0),
    "mc": (("alias", "set"), 3),
    "rabbitmqctl": (("add_user",), 1),
    "htpasswd": ((), -1),  # with -b: the last argument
}
# Programs whose options carry a credential only in one subcommand.
_SUBCOMMAND = {**dict.fromkeys(("docker", "podman", "nerdctl", "buildah", "skopeo", "oc", "crane",
                                "regctl", "finch", "az"), "login"), "gh": "secret"}
_STDIN_OPTIONS = frozenset(("--password-stdin", "--with-token", "--token-stdin", "--stdin",
                            "--api-key-stdin", "--secret-stdin", "--password-from-stdin"))
_STDIN_PROGRAMS = frozenset(("chpasswd", "chntpw"))
_KEY_VALUE = Lazy(r"[A-Za-z_][\w.-]*=")  # a `name=value` argument, not a positional one
_PROGRAM_WORD = Lazy(r"(?:[\w.-]*/)?([\w.+-]+?)(?:\.exe)?")
_CLI_LINE = Lazy(DETECTOR_NEEDS["cli"])


def _program(word: str) -> str:
    m = _PROGRAM_WORD.fullmatch(word.lstrip("+$>"))  # (a diff's `+`, a prompt's `$`)
    return m.group(1) if m else ""


def cli_spans(text: str):
    """Credentials given to command-line programs, on every line that names one."""
    trigger = _CLI_LINE
    n = len(text)
    done = -1
    for m in trigger.finditer(text):
        if m.start() < done:
            continue  # (that line was read)
        start = text.rfind("\n", 0, m.start()) + 1
        while start > 1 and text[start - 2] == "\\":  # the line continues an earlier one
            start = text.rfind("\n", 0, start - 1) + 1
        if start <= done:
            continue
        commands: list[list[tuple[int, int, str]]] = [[]]
        pipes: list[bool] = [False]  # whether command k is piped into command k+1
        end = start
        for s, e, word in _tokens(text, start, n):
            end = e
            if word is None:
                if text[s] == "|" and text[s + 1:s + 2] != "|":
                    pipes[-1] = True
                if commands[-1]:
                    commands.append([])
                    pipes.append(False)
                continue
            commands[-1].append((s, e, word))
        done = end - 1 if text[end - 1:end] == "\n" else end  # (the next line is not read)
        for k, command in enumerate(commands):
            yield from _command(text, command)
            if k and pipes[k - 1] and _reads_stdin(command) and commands[k - 1]:
                yield from _echoed(text, commands[k - 1])
            if _reads_stdin(command):  # docker login --password-stdin <<< "$PASS"
                for j, (_, _, word) in enumerate(command[:-1]):
                    ns, ne, value = command[j + 1]
                    if word == "<<<" and _secret(value):
                        vs, ve = _strip_quotes(text, ns, ne)
                        yield vs, ve, "cli-credential"


def _reads_stdin(command) -> bool:
    return any(w in _STDIN_OPTIONS for _, _, w in command) or any(
        _program(w) in _STDIN_PROGRAMS or (_program(w) == "passwd" and "--stdin" in
                                           [x for _, _, x in command]) for _, _, w in command)


def _echoed(text: str, command):
    """`echo SECRET | docker login --password-stdin`: echo's (printf's) arguments."""
    words = [t for t in command if not t[2].startswith("-")]
    at = next((i for i, t in enumerate(words) if _program(t[2]) in ("echo", "printf")), None)
    if at is None:
        return
    args = words[at + 1:]
    if args and _secret(" ".join(w for _, _, w in args)):
        s, _ = _strip_quotes(text, args[0][0], args[0][1])
        _, e = _strip_quotes(text, args[-1][0], args[-1][1])
        yield s, e, "cli-credential"


def _command(text: str, command):
    for i, (_, _, word) in enumerate(command):
        name = _program(word)
        options = _PROGRAMS.get(name)
        needs = _SUBCOMMAND.get(name)
        if needs and not any(w == needs for _, _, w in command[i + 1:]):
            options = None  # `docker run -p 80:80`, `gh pr comment --body ...`
        if options is not None:
            yield from _options(text, command[i + 1:], options)
            return
        if name in _POSITIONAL or name == "sqlplus":
            yield from _positional(text, name, command[i + 1:])
            return


def _options(text: str, args, options: dict[str, str]):
    for j, (s, e, word) in enumerate(args):
        if not word.startswith("-"):
            continue
        how = options.get(word)
        if how is None and word.startswith("--") and "=" in word:
            option, _, value = word.partition("=")  # --user=admin:pass
            how = options.get(option)
            if how not in ("userpass", "passarg", "smb", "lftp"):
                continue  # (--password=X is the assignment rules' job)
            start = text.find("=", s, e) + 1
            yield from _value(text, start, e, value, how)
            continue
        if how in ("next", "both", "userpass", "passarg", "smb", "lftp") and j + 1 < len(args):
            ns, ne, value = args[j + 1]
            if value.startswith("-") and how != "userpass":
                continue
            yield from _value(text, ns, ne, value, how)
        elif how is None:
            for option, attached in options.items():
                if attached in ("attached", "both") and word.startswith(option) \
                        and len(word) > len(option):
                    value = word[len(option):]
                    if _secret(value):
                        vs, ve = _strip_quotes(text, s + len(option), e)
                        yield vs, ve, "cli-credential"
                    break


def _value(text: str, s: int, e: int, value: str, how: str):
    vs, ve = _strip_quotes(text, s, e)
    if how in ("next", "both"):
        if _secret(value):
            yield vs, ve, "cli-credential"
        return
    sep = {"userpass": ":", "passarg": ":", "smb": "%", "lftp": ","}[how]
    raw = text[vs:ve]
    k = raw.find(sep)
    if how == "passarg" and not raw.startswith("pass:"):
        return  # env:VAR, file:path, fd:N, stdin
    if k < 0 or not _secret(raw[k + 1:]):
        return
    yield vs + k + 1, ve, "cli-credential"


def _positional(text: str, name: str, args):
    words = [(s, e, w) for s, e, w in args  # (vault login method=... is no token)
             if not w.startswith("-") and not (name == "vault" and _KEY_VALUE.match(w))]
    if name == "sqlplus":  # sqlplus user/password@db
        if words:
            s, e = _strip_quotes(text, words[0][0], words[0][1])
            raw = text[s:e]
            k = raw.find("/")
            if 0 < k < len(raw) - 1 and not raw.startswith("/"):
                stop = raw.find("@", k)
                stop = len(raw) if stop < 0 else stop
                if _secret(raw[k + 1:stop]):
                    yield s + k + 1, s + stop, "cli-credential"
        return
    sub, index = _POSITIONAL[name]
    if name == "htpasswd":
        flags = "".join(w for _, _, w in args if w.startswith("-") and not w.startswith("--"))
        if "b" in flags and words and _secret(words[-1][2]):
            s, e = _strip_quotes(text, words[-1][0], words[-1][1])
            yield s, e, "cli-credential"
        return
    plain = [w for _, _, w in words]
    for k in range(len(plain) - len(sub) + 1):
        if tuple(plain[k:k + len(sub)]) == sub:
            rest = words[k + len(sub):]
            if len(rest) > index and _secret(rest[index][2], 4):
                s, e = _strip_quotes(text, rest[index][0], rest[index][1])
                yield s, e, "cli-credential"
            return


# --------------------------------------------------------------------------------------------
# Files: Kubernetes Secrets, CSV headers, .pgpass, password hashes, PuTTY keys, cookies
# --------------------------------------------------------------------------------------------

_KUBE_KIND = Lazy(DETECTOR_NEEDS["kube"])
_YAML_DATA = Lazy(r"(?m)^(?P<indent>[ \t+]*)(?:data|stringData)[ \t]*:[ \t]*(?:#[^\n]*)?\r?$")
_YAML_ENTRY = Lazy(r"[ \t+]*(?:-[ \t]+)?[^\s:#][^:\n]*?[ \t]*:(?:[ \t]+|(?=\r?$))")
_JSON_DATA = Lazy(r""""(?:data|stringData)"[ \t]*:[ \t]*\{""")
_JSON_STRING_VALUE = Lazy(r""""(?:[^"\\\n]|\\.)*"[ \t\r\n]*:[ \t\r\n]*"((?:[^"\\\n]|\\.)*)\"""")
_DOCUMENT = Lazy(r"(?m)^-{3}[ \t]*\r?$")


def kube_spans(text: str):
    """Every value under `data:`/`stringData:` of a document that is a Kubernetes Secret."""
    bounds = [0, *(m.start() for m in _DOCUMENT.finditer(text)), len(text)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        if _KUBE_KIND.search(text, a, b) is None:
            continue
        for m in _YAML_DATA.finditer(text, a, b):
            yield from _yaml_block(text, m.end(), b, len(m.group("indent")))
        for m in _JSON_DATA.finditer(text, a, b):
            close = text.find("}", m.end(), b)
            close = b if close < 0 else close
            for v in _JSON_STRING_VALUE.finditer(text, m.end(), close):
                if v.end(1) > v.start(1) and text.startswith(_MARKER, v.start(1)) is False:
                    yield v.start(1), v.end(1), "credential-file"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t+"))


def _yaml_block(text: str, pos: int, stop: int, indent: int):
    """The values of the mapping that starts on the line after pos, indented past `indent`."""
    pos = text.find("\n", pos, stop) + 1 if text.find("\n", pos, stop) >= 0 else stop
    block_indent = None  # a `key: |` block scalar's key indentation while inside it
    while pos < stop:
        eol = text.find("\n", pos, stop)
        eol = stop if eol < 0 else eol
        line = text[pos:eol].rstrip("\r")
        if line.strip(" \t+"):
            ind = _indent(line)
            if ind <= indent:
                return
            if block_indent is not None and ind > block_indent:
                s = pos + ind
                yield s, pos + len(line), "credential-file"
            else:
                block_indent = None
                m = _YAML_ENTRY.match(line)
                if m is not None:
                    v = line[m.end():].strip()
                    if v[:1] in ("|", ">") and len(v) <= 3:
                        block_indent = ind
                    elif v and not v.startswith(("#", _MARKER)):
                        s = pos + m.end() + (len(line[m.end():]) - len(line[m.end():].lstrip()))
                        e = s + len(v)
                        s, e = _strip_quotes(text, s, e)
                        if e > s:
                            yield s, e, "credential-file"
        pos = eol + 1


_SENSITIVE_COLUMN = Lazy(
    r"(?i)(?:[a-z0-9 _./-]{0,30}[ _.-])?(?:password|passwd|passphrase|secret|secret[ _-]?key|"
    r"secret[ _-]?access[ _-]?key|token|api[ _-]?key|private[ _-]?key|client[ _-]?secret)s?")
_CODE_CHARS = Lazy(r"[=()\[\]{};]")
_HEADER_FIELD = Lazy(r"[A-Za-z][A-Za-z0-9_-]*(?: [A-Za-z0-9_-]+){0,3}")
_CSV_TRIGGER = Lazy(DETECTOR_NEEDS["csv"])


def _fields(line: str, offset: int) -> list[tuple[int, int]]:
    """The spans of a CSV line's fields (quotes kept)."""
    out = []
    i = 0
    n = len(line)
    while True:
        start = i
        if i < n and line[i] == '"':
            close = line.find('"', i + 1)
            while close >= 0 and line[close + 1:close + 2] == '"':
                close = line.find('"', close + 2)
            i = n if close < 0 else close + 1
        comma = line.find(",", i)
        end = n if comma < 0 else comma
        out.append((offset + start, offset + end))
        if comma < 0:
            return out
        i = comma + 1


def csv_spans(text: str):
    """The columns named password, secret, token... in the rows under a CSV header."""
    done = 0
    for m in _CSV_TRIGGER.finditer(text):
        if m.start() < done:
            continue
        start = text.rfind("\n", 0, m.start()) + 1
        if start < done:
            continue
        eol = text.find("\n", start)
        eol = len(text) if eol < 0 else eol
        done = eol
        header = text[start:eol].rstrip("\r")
        if _CODE_CHARS.search(header):
            continue  # code: `a, b = c, d`, `f(x, y)`
        fields = _fields(header, start)
        row_end = text.find("\n", eol + 1)
        row = text[eol + 1:len(text) if row_end < 0 else row_end].rstrip("\r")
        width = len(_fields(row, 0))
        if 2 <= width < len(fields):
            fields = fields[-width:]  # (a sentence with commas may lead into the header)
        names = [text[s:e].strip().strip('"').lstrip("+").strip() for s, e in fields]
        words = names[0].split()
        while words and not _HEADER_FIELD.fullmatch(" ".join(words)):
            words.pop(0)  # (the same sentence, without commas: `Use this: User name`)
        names[0] = " ".join(words)
        lead_end = text.rfind(names[0], fields[0][0], fields[0][1]) if names[0] else start
        lead = text[start:lead_end].strip(' \t"+')
        if lead and not lead.endswith((":", ".")):
            continue  # what leads into a header is a sentence, ending in `:` or `.`
        if len(names) < 2 or not all(_HEADER_FIELD.fullmatch(x) for x in names):
            continue
        secret = [i for i, x in enumerate(names) if _SENSITIVE_COLUMN.fullmatch(x)]
        if not secret:
            continue
        pos = eol + 1
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            row = text[pos:end].rstrip("\r")
            cells = _fields(row, pos)
            if not row.strip() or len(cells) != len(fields):
                break
            for i in secret:
                s, e = cells[i]
                while s < e and text[s] in " \t":
                    s += 1
                while e > s and text[e - 1] in " \t":
                    e -= 1
                s, e = _strip_quotes(text, s, e)
                if e - s >= 4 and not text.startswith(_MARKER, s):
                    yield s, e, "credential-file"
            pos = end + 1
        done = pos


# .pgpass (`host:port:db:user:password`), proxy lists (`host:port:user:password`), and password
# hashes (`user:$6$salt$hash`, `user:{SHA}base64`) from .htpasswd and /etc/shadow.
_PGPASS = Lazy(r"(?m)(?<![^\s+])[\w.*-]+:(?:[0-9]{1,5}|\*):(?:[^\s:]+:)?[^\s:]+:(\S{4,})"
                r"[ \t]*\r?$")
_HASH = Lazy(r"(?<![^\s+\"'])[\w.@-]+:((?:\$(?:apr1|2[abxy]?|1|5|6|7|y|gy|sha1|md5)\$|"
                   r"\{(?:SHA|SSHA|SHA256|SSHA512|MD5)\})[^\s:]{8,})")


# What each of them holds in the middle of its line: only the lines holding it are read (both
# match within a line, and a search that starts with a literal skips the rest quickly; read
# whole, the patterns above would be tried at every position of every text holding `:1:`, such
# as grep's and compilers' output).
_PGPASS_AT = Lazy(r":(?:[0-9]{1,5}|\*):")
_HASH_AT = Lazy(r":[${]")


def _lines_holding(text: str, at):
    """(start, end) of each line where `at` matches, once per line."""
    end = -1
    for m in at.finditer(text):
        if m.start() < end:
            continue
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        if end < 0:
            end = len(text)
        yield start, end


def file_spans(text: str):
    for start, end in _lines_holding(text, _PGPASS_AT):
        for m in _PGPASS.finditer(text, start, end):
            if plain_literal(m.group(1)) and _MARKER not in m.group(1):
                yield m.start(1), m.end(1), "credential-file"
    for start, end in _lines_holding(text, _HASH_AT):
        for m in _HASH.finditer(text, start, end):
            yield m.start(1), m.end(1), "credential-file"


# PuTTY private keys: the private lines and their MAC, whatever the format version.
_PUTTY = Lazy(r"PuTTY-User-Key-File-[0-9]+:")
_PUTTY_PRIVATE = Lazy(r"Private-Lines:[ \t]*[0-9]+")
_PUTTY_END = Lazy(r"Private-(?:MAC|Hash):[ \t]*[0-9A-Fa-f]*")


def putty_spans(text: str):
    for m in _PUTTY.finditer(text):
        p = _PUTTY_PRIVATE.search(text, m.end(), m.end() + 20_000)
        if p is None or text.startswith(_MARKER, p.end()):
            continue  # (no private part, or redacted already)
        e = _PUTTY_END.search(text, p.end(), p.end() + 20_000)
        yield p.end(), (e.end() if e else len(text)), "private-key"


# Cookies: values that look generated, or of a session/auth cookie.
_COOKIE = Lazy(r"[cC](?i:ookie)[\"']?[ \t]*[:=][ \t]*[\"']?([^\n\"']*)")
_COOKIE_PAIR = Lazy(r"([\w.-]{1,64})=([^;\s,\"']{8,})")
_SESSION_COOKIE = Lazy(r"(?i)sess|sid$|auth|token|jwt|remember|login|csrf")


def cookie_spans(text: str):
    for m in _COOKIE.finditer(text):
        for c in _COOKIE_PAIR.finditer(m.group(1)):
            value = c.group(2)
            if (looks_random(value) or _SESSION_COOKIE.search(c.group(1))) and \
                    plain_literal(value) and _MARKER not in value:
                yield m.start(1) + c.start(2), m.start(1) + c.end(2), "auth-header"


# --------------------------------------------------------------------------------------------
# A secret beside its key id, and tokens of unknown vendors
# --------------------------------------------------------------------------------------------

_KEY_ID = (r"(?:(?:AKIA|ASIA|AGPA|AROA|AIDA)[A-Z0-9]{16}|SK[0-9a-f]{32}|AC[0-9a-f]{32}"
           r"|LTAI[A-Za-z0-9]{12,20}|AKID[A-Za-z0-9]{32}"
           r"|\[REDACTED:(?:aws-access-key|twilio-key)\])")
_PAIR = Lazy(
    r"(?<![A-Za-z0-9])" + _KEY_ID +
    r"""["'`]?(?:[ \t]*[:,;|=][ \t]*|[ \t]+|[ \t]*\r?\n[ \t]*)["'`]?"""
    r"(?P<S>[A-Za-z0-9/+=_.-]{16,128})(?![A-Za-z0-9/+=_-])")


def pair_spans(text: str):
    for m in _PAIR.finditer(text):
        value = m.group("S")
        # (beside its key id a token needs less to look generated)
        if looks_random(value, 0.75) or (len(value) == 40 and not value.isalpha()):
            yield m.start("S"), m.end("S"), "paired-secret"


# A short prefix, `_`, maybe a second short word, and a long base62 body that looks
# generated: `ntn_...`, `gsk_...`, `pcsk_..._...`.  Hash names are not vendors.
_VENDOR = Lazy(
    r"(?<![A-Za-z0-9_.+/-])(?P<p>[A-Za-z][A-Za-z0-9]{1,9})_(?:[A-Za-z0-9]{2,10}_)?"
    r"(?P<b>[A-Za-z0-9]{32,}+)(?![A-Za-z0-9+/=_-])")
_NOT_VENDORS = frozenset(("sha1", "sha224", "sha256", "sha384", "sha512", "md5", "blake2b",
                          "blake2s", "blake3", "xxh64", "xxh3", "crc32", "hash", "digest",
                          "checksum", "test", "uuid", "guid"))


def vendor_spans(text: str):
    for m in _VENDOR.finditer(text):
        body = m.group("b")
        if (m.group("p").lower() not in _NOT_VENDORS and looks_random(body, 0.5)
                and any(c.isupper() for c in body) and any(c.islower() for c in body)):
            yield m.start(), m.end(), "vendor-token"
