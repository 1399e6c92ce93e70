"""Secret redaction for the capture path (standard library only).

Every secret found in a piece of text is replaced by ``[REDACTED:<kind>]``.  For structured
forms only the secret part goes and its context stays, so the redacted text still reads well:

    https://alice:[REDACTED:url-credentials]@db.example.com/app
    Authorization: Bearer [REDACTED:auth-header]
    OPENAI_API_KEY=[REDACTED:secret-assignment]
    https://hooks.slack.com/services/[REDACTED:slack-webhook]

Speed.  This runs inside agent hook processes, on every event, so all the rules are compiled
once (on first need, see ``_MAY_HOLD_SECRET``) into ONE regular expression, and a text is
scanned in one pass (plus a confirming pass when something was redacted, see ``_MAX_PASSES``).
The expression is laid out for the ``re`` engine's fast path: every top-level alternative
starts with a literal character, so the engine skips straight over the ~90% of positions that
hold none of those characters.  To make that work, each rule is *anchored* on its rarest
character rather than on its first one (a JWT on the ``J`` of ``eyJ``, a GitHub
token on the ``_`` of ``ghp_``, ``password`` on its ``w``, ``token`` on its ``k``) and checks
the characters before the anchor with a fixed-width look-behind; for whole tokens the
replacement then reaches back over those characters (``back`` in ``_RULES``).  Operators and
values of assignments are matched by small second-stage patterns (the "tails") only where a
sensitive name was found.  Repetitions are over simple character classes, with no ambiguous
nesting, so the scan stays linear on adversarial input.

False positives are kept low on purpose (a memory full of ``[REDACTED]`` is a worse memory).
A token with a distinctive vendor prefix is always redacted.  A value that is a secret only
because of the name it is assigned to must look like a literal, never like code that fetches
the secret from elsewhere; the exact rules are next to ``_VALUE`` below.
"""

from __future__ import annotations

import marshal
import os
import re
import sys

__all__ = ["SECRET_KINDS", "configure", "redact_entry", "redact_text", "redact_value"]

SECRET_KINDS: tuple[str, ...] = (
    "private-key",
    "anthropic-key",
    "openai-key",
    "github-token",
    "gitlab-token",
    "huggingface-token",
    "npm-token",
    "pypi-token",
    "stripe-key",
    "aws-access-key",
    "aws-secret",
    "google-api-key",
    "slack-token",
    "slack-webhook",
    "jwt",
    "google-oauth-secret",
    "azure-sas",
    "azure-client-secret",
    "discord-token",
    "discord-webhook",
    "telegram-token",
    "square-token",
    "braintree-token",
    "twilio-key",
    "sendgrid-key",
    "mailgun-key",
    "mailchimp-key",
    "docker-token",
    "shopify-token",
    "digitalocean-token",
    "linear-key",
    "grafana-token",
    "postman-key",
    "age-secret-key",
    "url-credentials",
    "auth-header",
    "secret-assignment",
)

# --------------------------------------------------------------------------------------------
# Assignments: NAME <op> VALUE, where NAME ends in a sensitive word
# --------------------------------------------------------------------------------------------

# After the sensitive word: an optional closing quote (maybe JSON-escaped) and `]`, then the
# operator: `"X_TOKEN": ...`, `\"x_token\": ...`, `environ["X_TOKEN"] = ...`.  Operators: `=`,
# `:`, `:=`, `=>`, plus a few type annotations (`api_key: str = "..."`); not `==`, which is
# nearly always code (`if token == END_TOKEN:`).  Spaces and tabs only: never across a line end.
_NAME_END = r"""(?:\\?["'`])?\]?"""
_OP = (
    r"[ \t]*(?:"
    r":[ \t]*(?:str|bytes|SecretStr|Optional\[str\]|str[ \t]*\|[ \t]*None)[ \t]*=(?!=)"
    r"|=>|:=|=(?!=)|:"
    r")[ \t]*"
)
# `.env` / shell style: the name's last letter upper case, `=` with no space around it.  Marks
# the match with group E (see the rule for unquoted values below).
_ENV_OP = r"(?P<E>(?<=[A-Z0-9])=(?=[^\s=]))"

# Characters that end an unquoted value: whitespace, quotes, `,` (JSON, kwargs), `;` and `&`
# (shell, query strings), brackets (code), `\` (JSON escapes such as `\n` in an encoded file).
# `[` among them also guarantees a value never runs into a `[REDACTED:...]` marker.
_TERM = r"""\s"'`,;&\\()\[\]{}"""
_END = rf"(?=[{_TERM}]|\Z)"
_IDENT_CHAIN = r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::|->)[A-Za-z_][A-Za-z0-9_]*)*"

# Values that are never literals, quoted or not: templates and placeholders (`$X`, `${X}`,
# `$(cmd)`, `${{ secrets.X }}`, `{{ vault }}`, `{x}`, `%(x)s`, `<your-key>`, `****`, an
# existing `[REDACTED:...]`), a masked value (`gho_****`, `•••`), a PEM header (the private-key
# rule must get the whole block), and fetch()'s `credentials: "same-origin"`.
_NOT_TEMPLATE = r"(?![$%{<\[*])(?!-----BEGIN)(?!same-origin)(?![^\s\"'`]*(?:\*\*\*|•••))"
# Unquoted values that are code or configuration, not literals:
_NOT_CODE = (
    rf"(?!{_IDENT_CHAIN}[(\[])"  # call or subscript: get_token(), os.environ["X"], ENV.fetch(
    # settings.SECRET_KEY, process.env.API_KEY! (TypeScript's non-null assertion)
    rf"(?!{_IDENT_CHAIN}(?:\.|::|->)[A-Za-z_][A-Za-z0-9_]*!?{_END})"
    rf"(?!(?:~|\.\.?)/[\w./-]*{_END}|/[\w.-]+/[\w./-]*{_END})"  # ~/.ssh/id_rsa, /run/x/y
    r"(?![A-Za-z][A-Za-z0-9+.-]*://)"  # a URL (its credentials are the url rule's job)
    rf"(?![0-9]+(?:\.[0-9]+)?{_END})"  # a number: port, size, id, timestamp
)
# The value (group S or S2 is the part that is replaced):
#   * quoted: a single token of >= 8 characters closed by a quote.  A quoted value with
#     whitespace in it reads as prose ("Enter your password"), not as a secret;
#   * unquoted: >= 8 characters up to a terminator, that is no code reference (above) and,
#     unless in the .env form, no plain word or snake-case identifier: `password = pw_var`,
#     `token: None`, `secret: inherit`, `key = _pep_440_key`, `x_key = DEFAULT_KEY_V2`,
#     "Password: required." are code or prose, while a generated secret practically always
#     has a digit and mixed case or a symbol in it.  In `NAME=value` (.env, shell) such a
#     value is still a literal: `DB_PASSWORD=hunterhunter`.
# So `None`, `null`, `true`, `""` and other short or empty values are never redacted, while
# quoted placeholders such as "changeme" or "your-api-key-here" are (harmlessly).
_QUOTED = rf"""{_NOT_TEMPLATE}[^\s"'`\\\[\]]{{8,}}+(?=\\?["'`])"""
_WORDISH = (
    r"(?:[A-Za-z_]+|[a-z][a-z0-9]*(?:_[a-z0-9]+)+|_[a-z0-9_]*|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"
    rf"[.:!?]?{_END}"
)
_UNQUOTED = rf"{_NOT_TEMPLATE}{_NOT_CODE}(?(E)|(?!{_WORDISH}))[^{_TERM}]{{8,}}"
_VALUE = rf"""(?:[bBrRuU]{{0,2}}\\?["'`](?P<S>{_QUOTED})|(?P<S2>{_UNQUOTED}))"""

# Sensitive names.  The main pattern only finds the sensitive word at the end of a name (the
# rest of the name is context and is kept), anchored inside the word; the operator and the
# value are then matched by a tail pattern from where the word ends:
#   * strong words, at the end of any name, any case: password, passwd, secret, token,
#     credential(s), apikey (`PGPASSWORD`, `client_secret`, `accessToken`, `x-apikey`);
#   * weak words only after `_`/`-` or as a camelCase word: key, pwd, pass (`API_KEY`,
#     `x-api-key`, `apiKey`, `DB_PWD`, `SMTP_PASS`), so `monkey`, `hotkey`, `bypass`, `OLDPWD`
#     don't count, nor do common non-secret keys (`primary_key`, `sortKey`, `public_key`...).
#     `*_KEY` is also the commonest name for things that are no secret at all (`STATS_KEY =
#     "_stats"`, `module_key = "gi.repository"`), so unless the word before `key` says secret
#     (`_SECRET_KEYS`: `API_KEY`, `SECRET_KEY`, `PRIVATE_KEY`...) the value must also contain
#     a digit (generated keys always do).
# The word must end the name (`max_tokens`, `tokenizer`, `api_key_id` don't count).
_NAME_STOP = r"""(?=[:= \t"'`\\\]])"""
_ASSIGN_TAIL = rf"{_NAME_END}(?:{_ENV_OP}|{_OP}){_VALUE}"
_NON_SECRET_KEYS = frozenset(
    (
        "primary foreign sort partition cache hash range unique lookup hot shortcut idempotency"
        " dedup dedupe object s3 public publishable pub group order row column index field map"
        " dict composite natural surrogate routing bucket label translation i18n message msg"
        " state query"
    ).split()
)
_SECRET_KEYS = frozenset(
    (
        "api secret access private signing sign encryption encrypt decryption master client"
        " consumer app auth session service account admin deploy webhook hmac jwt cookie crypto"
        " license subscription storage root shared server"
    ).split()
)

# An AWS secret access key assigned to one of its usual names: exactly 40 base64 characters.
_AWS_SECRET_NAMES = (
    "aws_secret_access_k",
    "awssecretaccessk",
    "secret_access_k",
    "secretaccessk",
    "aws_secret_k",
    "awssecretk",
)
_AWS_SECRET_HEAD = "(?:" + "|".join(rf"(?<=(?i:{n}))" for n in _AWS_SECRET_NAMES) + ")(?i:ey)"
_AWS_SECRET_TAIL = rf"""{_NAME_END}{_OP}(?:\\?["'`])?(?P<S>[A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])"""

# --------------------------------------------------------------------------------------------
# Authorization headers, URL credentials, PEM blocks
# --------------------------------------------------------------------------------------------

# `Authorization: <scheme> <credential>` in HTTP dumps, curl `-H "..."`, JSON and code.  With a
# known scheme the scheme is kept and the credential (>= 8 characters) goes; without one the
# credential must look like a token (>= 16 characters, with a digit).  `$TOKEN`, `{token}`,
# `<token>` never match: the credential alphabet (RFC 6750 b64token) has no `$`, `{` or `<`.
# Anchored on the `z`.
_B64TOK = r"[A-Za-z0-9._~+/=-]"
_AUTH_HEAD = r"(?<=(?i:authoriz))(?<![A-Za-z0-9_](?i:authoriz))(?i:ation)"
_AUTH_TAIL = (
    r"""(?:\\?["'`])?\]?[ \t]*(?::|=(?!=))[ \t]*(?:\\?["'`])?[ \t]*"""
    r"(?:"
    r"(?i:bearer|basic|token|bot|jwt|oauth|apikey|api-key|key|sso-key|ssws)[ \t]+"
    rf"(?P<S>{_B64TOK}{{8,}}+)(?![(\[])"
    rf"|(?P<S2>(?=[A-Za-z._~+/=-]*[0-9]){_B64TOK}{{16,}}+)(?![(\[])"
    r")"
)
# A bare `Bearer <token>` anywhere (the token: >= 16 characters, with a digit).  Anchored on
# the `B`/`b`.
_BEARER_HEAD = r"(?<![A-Za-z0-9_].)(?i:earer)(?=[ \t])"
_BEARER_TAIL = rf"[ \t]+(?P<S>(?=[A-Za-z._~+/=-]*[0-9]){_B64TOK}{{16,}}+)(?![(\[])"

# URL credentials, `scheme://user:password@host`, any scheme (also JSON-escaped `:\/\/`).
# Anchored on the `:` after the scheme.  The user name is kept, the password goes; it may hold
# `:` and `@` (the last `@` before the path ends it).  Templates (`{password}`, `${DB_PASS}`,
# `%(pw)s`, `<password>`) are left alone.
_URL_CREDS = (
    r"""(?:\\?/){2}[^\s:/?#@\[\]"'<>\\]*:"""
    r"""(?P<S>(?![{$%<])[^\s/?#"'<>\[\]\\]+)@"""
)
# Slack incoming webhooks: the path goes, `https://hooks.slack.com/services/` stays.
_SLACK_WEBHOOK = (
    r"(?<=https:)//hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"(?P<S>[A-Za-z0-9_/-]{8,})"
)

# PEM private keys: from the BEGIN line to the matching END line, or to the end of the text when
# the END line is missing (capped text).  The BEGIN line must be followed by key material
# (base64, or a `Proc-Type:`-style header), so code that merely mentions the marker
# (`line.startswith("-----BEGIN RSA PRIVATE KEY-----")`) is not mistaken for a key.  Anchored
# on the first `-`.
_PEM_LABEL = r"[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PRIVATE_KEY = (
    rf"----BEGIN {_PEM_LABEL}"
    r"(?=(?:\s|\\[rn])*(?:[A-Za-z0-9+/=]{16}|[A-Z][A-Za-z-]*:))"
    rf"[\s\S]*?(?:-----END {_PEM_LABEL}|\Z)"
)

# Left boundary of a prefixed token, as a look-behind ending at the anchor: the prefix must not
# continue a longer word (`task-ant-...`, `mask_live_...`), and a token inside a long base64url
# run (image data, hashes) is not picked out of it.
_TOKCH = r"[A-Za-z0-9_-]"


def _nb(prefix: str) -> str:
    """Look-behinds: the text ending at the anchor is `prefix`, with no token char before it."""
    return rf"(?<={prefix})(?<!{_TOKCH}{prefix})"




# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------

_ASSIGN = ((_ASSIGN_TAIL, "secret-assignment"),)

# (anchor characters, kind, back, head pattern after the anchor, tails, needs).
#   * With tails: the head finds a name; each (tail pattern, kind) is tried in turn from the end
#     of the head, and the first that matches has its group S or S2 replaced.  When none does,
#     the scan goes on right after the head.  Kind is unused then, except that _CHECK_KEY asks
#     for the name ending in a weak `key` to be judged by `_key_name`.
#   * Else, a head with a group S (and S2) has just that group replaced, keeping the rest.
#   * Else the match is a whole token: it is replaced together with the `back` characters
#     before the anchor that the head's look-behind checked.  Kind None: the match is consumed
#     and left as it is.
# Within one anchor character the first rule that matches wins, so specific rules come first.
# `needs`: a simpler pattern (after the same anchor) that matches wherever the rule could
# redact something - None for rules that never redact; see `_MAY_HOLD_SECRET`.
_CHECK_KEY = "check-key"
# What every assignment tail starts with: a closing quote and `]` perhaps, then the first
# character of the operator.
_OP_START = r"""(?:\\?["'`])?\]?[ \t]*[:=]"""
_Rule = tuple[str, str | None, int, str, tuple[tuple[str, str], ...], str | None]
_RULES: tuple[_Rule, ...] = (
    # An existing marker is consumed whole, so nothing inside it is ever matched again.
    ("[", None, 0, r"REDACTED:[a-z0-9-]{1,40}\]", (), None),
    # Inline base64 data (images, fonts...) stays as it is, in one piece.
    (
        ":",
        None,
        0,
        r"(?<=data:)[\w.+/-]{1,100};(?:[\w.+-]{1,50}=[\w.+-]{1,50};){0,5}base64,"
        r"(?:[A-Za-z0-9+/]|\\/)+={0,2}",
        (),
        None,
    ),
    (":", "slack-webhook", 0, _SLACK_WEBHOOK, (), r"//hooks\.slack\.com/"),
    (":", "url-credentials", 0, _URL_CREDS, (), _URL_CREDS.replace("(?P<S>(?![{$%<])", "(?:")),
    ("-", "private-key", 0, _PRIVATE_KEY, (), r"----BEGIN "),
    ("-", "anthropic-key", 2, _nb("sk-") + r"ant-[A-Za-z0-9_-]{20,}", (), _nb("sk-")),
    # OpenAI: `sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-`...; the body must hold a digit, so
    # hyphenated words such as `sk-learn-compatible-estimators` are not keys.
    ("-", "openai-key", 2, _nb("sk-") + r"(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{20,}", (),
     _nb("sk-")),
    # GitLab: personal, pipeline trigger, CI job, incoming mail, OAuth app secrets (glpat-...),
    # deploy, runner and feed tokens (gldt-, glrt-, glft-).
    ("-", "gitlab-token", 5, _nb("gl(?:pat|ptt|cbt|imt|oas)-") + r"[A-Za-z0-9_-]{20,}", (),
     r"(?<=gl(?:pat|ptt|cbt|imt|oas)-)"),
    ("-", "gitlab-token", 4, _nb("gl[drf]t-") + r"[A-Za-z0-9_-]{20,}", (), r"(?<=gl[drf]t-)"),
    ("-", "pypi-token", 4, _nb("pypi-") + r"AgE[A-Za-z0-9_-]{40,}", (), r"(?<=pypi-)AgE"),
    ("-", "slack-token", 4, _nb("xox[abposre]-") + r"[A-Za-z0-9-]{10,}", (),
     r"(?<=xox[abposre]-)"),
    ("-", "slack-token", 4, _nb("xapp-") + r"[0-9]-[A-Za-z0-9-]{10,}", (), r"(?<=xapp-)"),
    ("_", "github-token", 3, _nb("gh[pousr]_") + r"[A-Za-z0-9]{36,}", (), r"(?<=gh[pousr]_)"),
    ("_", "github-token", 6, _nb("github_") + r"pat_[A-Za-z0-9_]{22,}", (),
     r"(?<=github_)pat_"),
    ("_", "npm-token", 3, _nb("npm_") + r"[A-Za-z0-9]{36,}", (), r"(?<=npm_)"),
    ("_", "huggingface-token", 2, _nb("hf_") + r"[A-Za-z0-9]{30,}", (), r"(?<=hf_)"),
    ("_", "stripe-key", 2, _nb("[sr]k_") + r"(?:live|test)_[A-Za-z0-9]{10,}", (),
     r"(?<=[sr]k_)(?:live|test)_"),
    ("_", "stripe-key", 5, _nb("whsec_") + r"[A-Za-z0-9]{20,}", (), r"(?<=whsec_)"),
    # AWS key ids and Google API keys are plain alphanumerics: `+` and `/` also count as word
    # characters around them, so a chance `AKIA...`/`AIza...` inside base64 data is left alone.
    (
        "A",
        "aws-access-key",
        0,
        r"(?<![A-Za-z0-9+/_-].)(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA|BIA|CCA|3T[A-Z0-9])"
        r"[A-Z0-9]{16}(?![A-Za-z0-9+/])",
        (),
        r"(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}",
    ),
    ("A", "google-api-key", 0, r"(?<![A-Za-z0-9+/_-].)Iza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", (),
     r"Iza"),
    # JWT: three base64url segments, the first a JSON object (`eyJ` is base64 for `{"`).
    ("J", "jwt", 2, _nb("eyJ") + r"[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", (),
     r"(?<=eyJ)"),
    # More vendor tokens, each recognisable by its prefix or shape (see tests/fixtures/
    # secrets_corpus.py for one example of each).
    ("-", "google-oauth-secret", 6, _nb("GOCSPX-") + r"[A-Za-z0-9_-]{24,}", (), r"(?<=GOCSPX-)"),
    ("-", "square-token", 6, _nb("sq0(?:atp|csp)-") + r"[A-Za-z0-9_-]{22,}", (),
     r"(?<=sq0(?:atp|csp)-)"),
    ("-", "mailgun-key", 3, _nb("key-") + r"[0-9a-f]{32}(?![A-Za-z0-9_-])", (),
     r"(?<=key-)[0-9a-f]{32}"),
    ("-", "mailchimp-key", 32,
     r"(?=us[0-9])(?<=[0-9a-f]{32}-)(?<![A-Za-z0-9_-][0-9a-f]{32}-)us[0-9]{1,2}(?![A-Za-z0-9_-])",
     (), r"(?=us[0-9])(?<=[0-9a-f]{32}-)"),
    ("-", "postman-key", 4, _nb("PMAK-") + r"[0-9a-f]{24}-[0-9a-f]{34}", (), r"(?<=PMAK-)"),
    ("-", "age-secret-key", 14, _nb("AGE-SECRET-KEY-") + r"1[0-9A-Z]{58}", (),
     r"(?<=AGE-SECRET-KEY-)1"),
    ("_", "docker-token", 4, _nb("dckr_") + r"pat_[A-Za-z0-9_-]{20,}", (), r"(?<=dckr_)pat_"),
    ("_", "shopify-token", 5, _nb("shp(?:at|ss|ca|pa)_") + r"[a-fA-F0-9]{32}", (),
     r"(?<=shp(?:at|ss|ca|pa)_)"),
    ("_", "digitalocean-token", 3, _nb("do[por]_") + r"v1_[a-f0-9]{64}", (),
     r"(?<=do[por]_)v1_"),
    ("_", "linear-key", 3, _nb("lin_") + r"api_[A-Za-z0-9]{32,}", (), r"(?<=lin_)api_"),
    ("_", "grafana-token", 4, _nb("glsa_") + r"[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}", (),
     r"(?<=glsa_)"),
    ("_", "grafana-token", 3, _nb("glc_") + r"[A-Za-z0-9+/]{32,}={0,2}", (), r"(?<=glc_)"),
    # Square's newer access tokens; Twilio API key SIDs; SendGrid keys (`SG.<22>.<43>`).
    ("A", "square-token", 1,
     r"(?<=(?<![A-Za-z0-9+/_-])EA)AA[A-Za-z0-9_-]{56,}(?![A-Za-z0-9+/_-])", (),
     r"(?<=EA)AA[A-Za-z0-9_-]{56}"),
    ("K", "twilio-key", 1, r"(?<=(?<![A-Za-z0-9_-])SK)[0-9a-f]{32}(?![A-Za-z0-9_-])", (),
     r"(?<=SK)[0-9a-f]{32}"),
    ("G", "sendgrid-key", 1,
     r"(?<=(?<![A-Za-z0-9_.-])SG)\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])", (),
     r"(?<=SG)\.[A-Za-z0-9_-]{22}\."),
    # Discord bot tokens: base64 of the bot's user id (24-26 characters, starting M, N or O),
    # a 6-character timestamp and an HMAC (with a digit); the id stays, the rest goes.
    (".", "discord-token", 0,
     r"(?=[A-Za-z0-9_-]{6}\.)(?:" + "|".join(rf"(?<=(?<![A-Za-z0-9_-])[MNO][A-Za-z0-9_-]{{{n}}}\.)"
                      for n in (23, 24, 25)) + ")"
     r"(?P<S>[A-Za-z0-9_-]{6}\.(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{27,38})(?![A-Za-z0-9_-])", (),
     r"(?<=[A-Za-z0-9_-]{23}\.)[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27}"),
    (":", "discord-webhook", 0,
     r"(?<=https:)//(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v[0-9]+)?/webhooks/"
     r"[0-9]{17,20}/(?P<S>[A-Za-z0-9_-]{60,})", (),
     r"//(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api"),
    # Telegram bot tokens `<bot id>:AA<33>`: the id stays, the secret after `:` goes.
    (":", "telegram-token", 0, r"(?<=[0-9]{8}:)(?P<S>AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_-])", (),
     r"(?<=[0-9]{8}:)AA"),
    # Azure: a shared access signature's `sig=` in a URL or connection string; Entra ID client
    # secrets (`abc8Q~...`).
    ("&?", "azure-sas", 0, r"sig=(?P<S>[A-Za-z0-9%+/=]{30,})", (), r"sig="),
    ("~", "azure-client-secret", 5,
     r"(?<=(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}[0-9]Q~)[A-Za-z0-9_~.-]{31,34}"
     r"(?![A-Za-z0-9_~.-])", (), r"(?<=[0-9]Q~)[A-Za-z0-9_~.-]{31}"),
    # PayPal through Braintree: `access_token$production$<16>$<32 hex>`.
    ("$", "braintree-token", 12,
     r"(?<=access_token\$)(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}", (),
     r"(?<=access_token\$)(?:production|sandbox)\$"),
    ("zZ", None, 0, _AUTH_HEAD, ((_AUTH_TAIL, "auth-header"),), r"(?<=(?i:authoriz))(?i:ation)"),
    ("bB", None, 0, _BEARER_HEAD, ((_BEARER_TAIL, "auth-header"),), r"(?i:earer)[ \t]"),
    # Assignments, anchored inside the sensitive word (their `needs`: the word, more loosely,
    # then the start of an operator).
    ("kK", None, 0, _AWS_SECRET_HEAD + _NAME_STOP, ((_AWS_SECRET_TAIL, "aws-secret"), *_ASSIGN),
     r"(?i:ey)" + _OP_START),
    ("kK", None, 0, r"(?:(?<=(?i:tok))(?i:en)|(?<=(?i:apik))(?i:ey))" + _NAME_STOP, _ASSIGN,
     r"(?:(?<=(?i:tok))(?i:en)|(?i:ey))" + _OP_START),
    ("kK", _CHECK_KEY, 0, r"(?<=[_-][kK]|[a-z0-9]K)(?i:ey)" + _NAME_STOP, _ASSIGN,
     r"(?i:ey)" + _OP_START),
    (
        "wW",
        None,
        0,
        r"(?:(?<=(?i:passw))(?i:ord|d)|(?<=[_-](?i:pw)|[a-z0-9](?:Pw|PW))(?i:d))" + _NAME_STOP,
        _ASSIGN,
        r"(?:(?<=(?i:passw))(?i:ord|d)|(?<=(?i:pw))(?i:d))" + _OP_START,
    ),
    ("cC", None, 0, r"(?:(?<=(?i:sec))(?i:ret)|(?i:redentials?))" + _NAME_STOP, _ASSIGN,
     r"(?:(?<=(?i:sec))(?i:ret)|(?i:redentials?))" + _OP_START),
    ("pP", None, 0, r"(?<=[_-][pP]|[a-z0-9]P)(?i:ass)" + _NAME_STOP, _ASSIGN,
     r"(?i:ass)" + _OP_START),
)

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
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(marshal.dumps(program))
            os.replace(tmp, path)
        except (OSError, ValueError):  # a read-only install: compile every time
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return compiled


_SKIP, _TOKEN, _SPAN, _TAILS = range(4)  # how a match is handled, see _redact_once


def _build():
    """Compile `_RULES` into one pattern, and map each group that can end a match to a handler.

    Every top-level alternative starts with a literal anchor character, so ``re`` can skip over
    the positions holding none of them (the charset prefix optimisation).
    """
    by_anchor: dict[str, list[str]] = {}
    handlers: dict[str, tuple] = {}
    compiled_tails: dict[str, re.Pattern[str]] = {}
    n = 0
    for anchors, kind, back, head, tails, _ in _RULES:
        for t, _ in tails:
            if t not in compiled_tails:
                compiled_tails[t] = re.compile(t)
        tails_c = tuple((compiled_tails[t], k) for t, k in tails)
        for anchor in anchors:
            n += 1
            if tails_c:
                body = f"{head}(?P<r{n}>)"
                # (the middle item of a _TAILS handler: whether to check a weak key's name)
                handlers[f"r{n}"] = (_TAILS, kind == _CHECK_KEY, tails_c)
            elif "(?P<S>" in head:
                body = head.replace("(?P<S>", f"(?P<r{n}>")
                handlers[f"r{n}"] = (_SPAN, kind, 0)
            else:
                body = f"{head}(?P<r{n}>)"
                handlers[f"r{n}"] = (_SKIP if kind is None else _TOKEN, kind, back)
            by_anchor.setdefault(anchor, []).append(body)
    alternatives = [f"{re.escape(a)}(?:{'|'.join(b)})" for a, b in by_anchor.items()]
    return _compile_kept("full", "|".join(alternatives)), handlers


# The full pattern takes ~10 ms to compile - as long as all the rest a hook process does - and
# most texts an agent sends could not hold a secret by any rule.  So a text is first searched
# for what some rule needs (`needs` in `_RULES`): a vendor prefix, a sensitive name followed by
# an operator, `://user:pass@`...  Without any of it no rule can redact anything and the text
# is returned as it is; the full pattern is compiled the first time a text needs it.
# Built like the full pattern, one literal anchor per alternative (the fast path).
# The needs of one anchor are grouped behind it (`_(?:a|b|c)`, not `_(?:a)|_(?:b)|...`):
# with ~20 vendor prefixes on `-` and `_` that keeps the check as fast as it was with 6.
def _quick_pattern() -> re.Pattern[str]:
    by_anchor: dict[str, dict[str, None]] = {}
    for anchors, *_, needs in _RULES:
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
    if word in _SECRET_KEYS:
        return _SECRET
    return _NOT_SECRET if word in _NON_SECRET_KEYS else _NEEDS_DIGIT


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


# Dict entries: a parsed `{"api_key": "..."}` has lost the text around the value, so the key
# is checked as a name here, by the same rules as in text (`_SENSITIVE_NAME` mirrors the heads
# of the assignment rules), and a string value that is one literal token of >= 8 characters
# (no whitespace, no template) is redacted whole.
_SENSITIVE_NAME = re.compile(
    r"(?:(?i:password|passwd|secret|token|credentials?|apikey)"
    r"|(?P<k>[_-](?i:key)|(?<=[a-z0-9])(?:Key|KEY))"
    r"|[_-](?i:pwd|pass)|(?<=[a-z0-9])(?:Pwd|PWD|Pass|PASS))\Z"
)
_DICT_LITERAL = re.compile(rf"{_NOT_TEMPLATE}\S{{8,}}")
_AWS_SECRET_VALUE = re.compile(r"[A-Za-z0-9/+]{40}")


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
        rule = (_key_name(key, k), name.endswith(("secretaccesskey", "awssecretkey")))
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
