"""What counts as a secret: the rule table redaction matches (standard library only).

Data, not code: pattern texts and word lists, each rule with the kind of secret it finds
(`SECRET_KINDS`), read by the engine in `redact.py`, which compiles them, scans and replaces;
and, at the end, what each detector (`redact_formats.py`) and view (`redact_views.py`) needs.
Kept apart so a rule can be read, reviewed and added without the matching machinery around
it, and the machinery changed without touching a rule.

How a rule is written follows from how the engine scans (see `RULES` and `redact.py`): every
rule starts with a literal *anchor* character, and each is anchored on its rarest character
rather than on its first one (a JWT on the ``J`` of ``eyJ``, a GitHub token on the ``_`` of
``ghp_``, ``password`` on its ``w``, ``token`` on its ``k``), checking the characters before
the anchor with a fixed-width look-behind; for whole tokens the replacement then reaches back
over those characters (``back``).  Where a sensitive name was found, what follows it is read
by `redact_values.named_value` (the NAMED_VALUE tail) or matched by a small second-stage
pattern (a "tail").  Repetitions are over simple character classes, with no ambiguous
nesting, so the scan stays linear on adversarial input.

False positives are kept low on purpose (a memory full of ``[REDACTED]`` is a worse memory).
A token with a distinctive vendor prefix is always redacted.  A value that is a secret only
because of the name it is assigned to must look like a literal, never like code that fetches
the secret from elsewhere (see `redact_values.py`).
"""

from __future__ import annotations

# Every kind a rule can name in its marker (`[REDACTED:<kind>]`).
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
    "notion-token",
    "vault-token",
    "doppler-token",
    "atlassian-token",
    "databricks-token",
    "pulumi-token",
    "terraform-token",
    "supabase-token",
    "sentry-token",
    "newrelic-key",
    "figma-token",
    "groq-key",
    "xai-key",
    "replicate-token",
    "langsmith-key",
    "resend-key",
    "brevo-key",
    "rubygems-token",
    "airtable-token",
    "google-oauth-token",
    "mapbox-token",
    "planetscale-token",
    "heroku-key",
    "dynatrace-token",
    "fly-token",
    "cli-credential",
    "credential-file",
    "prose-secret",
    "encoded-secret",
    "paired-secret",
    "vendor-token",
)

# --------------------------------------------------------------------------------------------
# Assignments: NAME <op> VALUE, where NAME ends in a sensitive word
# --------------------------------------------------------------------------------------------

# After the sensitive word: an optional closing quote (maybe JSON-escaped) and `]`, then the
# operator: `"X_TOKEN": ...`, `\"x_token\": ...`, `environ["X_TOKEN"] = ...`.  Used by the AWS
# secret rule below; every other name's value is read by `redact_values.named_value` (the
# NAMED_VALUE tail), which knows the operators (`=`, `:`, `:=`, `=>`, type annotations, a
# flag's space, markup's `>`), where a value ends and when it is a literal.
_NAME_END = r"""(?:\\?["'`])?\]?"""
_OP = (
    r"[ \t]*(?:"
    r":[ \t]*(?:str|bytes|SecretStr|Optional\[str\]|str[ \t]*\|[ \t]*None)[ \t]*=(?!=)"
    r"|=>|:=|=(?!=)|:"
    r")[ \t]*"
)
# Values that are never literals: templates and placeholders (`$X`, `${X}`, `{{ vault }}`,
# `%(x)s`, `<your-key>`, `****`, an existing `[REDACTED:...]`), a masked value (`gho_****`),
# a PEM header (the private-key rule must get the whole block), `credentials: "same-origin"`.
_NOT_TEMPLATE = r"(?![$%{<\[*])(?!-----BEGIN)(?!same-origin)(?![^\s\"'`]*(?:\*\*\*|•••))"

# Sensitive names.  The main pattern only finds the sensitive word at the end of a name (the
# rest of the name is context and is kept), anchored inside the word; what follows is read
# from where the word ends (see redact_values.py):
#   * strong words, at the end of any name, any case: password, passwd, passphrase, secret,
#     token, credential(s), apikey (`PGPASSWORD`, `client_secret`, `accessToken`, `x-apikey`);
#   * weak words: key after `_`/`-`/a space or as a camelCase word (`API_KEY`, `x-api-key`,
#     `apiKey`, "API key"); pwd and pass the same way or as whole words (`DB_PWD`,
#     `SMTP_PASS`, ADO.NET's `Pwd=`, rclone's `pass =`), so `monkey`, `hotkey`, `bypass`,
#     `OLDPWD` don't count, nor do common non-secret keys (`primary_key`, `sortKey`...).
#     `*_KEY` is also the commonest name for things that are no secret at all (`STATS_KEY =
#     "_stats"`, `module_key = "gi.repository"`), so unless the word before `key` says secret
#     (`SECRET_KEYS`: `API_KEY`, `SECRET_KEY`, `PRIVATE_KEY`...) the value must also contain
#     a digit (generated keys always do);
#   * auth (`"auth": "<base64>"` in Docker's config.json, `_auth=` in .npmrc): only a value
#     that decodes to `user:password` or looks generated.
# The word must end the name (`max_tokens`, `tokenizer`, `api_key_id` don't count).
_NAME_STOP = r"""(?=[:=,> \t"'`\\\]])"""
NON_SECRET_KEYS = frozenset(
    (
        "primary foreign sort partition cache hash range unique lookup hot shortcut idempotency"
        " dedup dedupe object s3 public publishable pub group order row column index field map"
        " dict composite natural surrogate routing bucket label translation i18n message msg"
        " state query"
    ).split()
)
SECRET_KEYS = frozenset(
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

# `Authorization: <scheme> <credential>` in HTTP dumps, curl `-H "..."`, JSON and code, also
# `Proxy-Authorization` and `key=<credential>` (Firebase's legacy server key).  With a known
# scheme the scheme is kept and the credential (>= 8 characters) goes; with another word
# before it, the credential must hold a digit; without one it must look like a token (>= 16
# characters, with a digit).  `$TOKEN`, `{token}`, `<token>` never match: the credential
# alphabet (RFC 6750 b64token) has no `$`, `{` or `<`.  Anchored on the `z`.
_B64TOK = r"[A-Za-z0-9._~+/=-]"
_AUTH_HEAD = r"(?<=(?i:authoriz))(?<![A-Za-z0-9_](?i:authoriz))(?i:ation)"
_AUTH_TAIL = (
    r"""(?:\\?["'`])?\]?[ \t]*(?::|=(?!=))[ \t]*(?:\\?["'`])?[ \t]*"""
    r"(?:"
    r"(?i:bearer|basic|token|bot|jwt|oauth|apikey|api-key|key|sso-key|ssws|dpop|hmac|mac|hawk)"
    rf"(?:[ \t]+|[ \t]*=[ \t]*)(?P<S>{_B64TOK}(?:{_B64TOK}|:(?=[A-Za-z0-9])){{7,}}+)(?![(\[])"
    rf"|[A-Za-z][A-Za-z0-9_-]{{1,30}}(?:[ \t]+|=)"
    rf"(?P<S3>(?=[A-Za-z._~+/=-]*[0-9]){_B64TOK}{{8,}}+)(?![(\[])"
    rf"|(?P<S2>(?=[A-Za-z._~+/=-]*[0-9]){_B64TOK}{{16,}}+)(?![(\[])"
    r")"
)
# A bare `Bearer <token>` anywhere (the token: >= 16 characters, with a digit).  Anchored on
# the `B`/`b`.
_BEARER_HEAD = r"(?<![A-Za-z0-9_].)(?i:earer)(?=[ \t])"
_BEARER_TAIL = rf"[ \t]+(?P<S>(?=[A-Za-z._~+/=-]*[0-9]){_B64TOK}{{16,}}+)(?![(\[])"

# URL credentials, `scheme://user:password@host`, any scheme (also JSON-escaped `:\/\/`).
# Anchored on the `:` after the scheme.  The user name is kept, the password goes, whole: it
# may hold `:`, `@`, `/`, `?` and `#` (people write them unencoded); the last `@` followed by
# a host ends it.  A port and path (`localhost:3000/@me`) are no password, and templates
# (`{password}`, `${DB_PASS}`, `%(pw)s`, `<password>`) are left alone.
_URL_CREDS = (
    r"""(?:\\?/){2}[^\s:/?#@\[\]"'<>\\]*:"""
    r"""(?P<S>(?![{$%<])(?![0-9]{1,5}(?:[/?#]|\\/))(?!(?i:password|passwd|pass|pwd|secret)@)"""
    r"""[^\s"'<>\\]{1,100})@(?=[A-Za-z0-9\[_-])"""
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

# A tail read by `redact_values.named_value` instead of a pattern: the value after the name, in
# whatever syntax follows it (`NAME=value`, `name: value`, `--name value`, `<name>value<`...).
NAMED_VALUE = "(?#named value)"
_ASSIGN = ((NAMED_VALUE, "secret-assignment"),)
# The kind of a name head: its name ends in a weak `key` (judged by the word before it), or
# in `auth` (a value only when it decodes to `user:password` or looks generated).
CHECK_AUTH = "check-auth"

# (anchor characters, kind, back, head pattern after the anchor, tails, needs).
#   * With tails: the head finds a name; each (tail pattern, kind) is tried in turn from the end
#     of the head, and the first that matches has its group S or S2 replaced.  When none does,
#     the scan goes on right after the head.  Kind is unused then, except that CHECK_KEY asks
#     for the name ending in a weak `key` to be judged by the word before it
#     (`redact._key_name`, with SECRET_KEYS and NON_SECRET_KEYS).
#   * Else, a head with a group S (and S2) has just that group replaced, keeping the rest.
#   * Else the match is a whole token: it is replaced together with the `back` characters
#     before the anchor that the head's look-behind checked.  Kind None: the match is consumed
#     and left as it is.
# Within one anchor character the first rule that matches wins, so specific rules come first.
# `needs`: a simpler pattern (after the same anchor) that matches wherever the rule could
# redact something - None for rules that never redact; see `_MAY_HOLD_SECRET` in redact.py.
CHECK_KEY = "check-key"
# What every assignment tail starts with: a closing quote and `]` perhaps, then the first
# character of the operator, or a space (a flag's value, netrc, prose).
_OP_START = r"""(?:\\?["'`])?\]?(?:[ \t]*[:=,>]|[ \t])"""
Rule = tuple[str, str | None, int, str, tuple[tuple[str, str], ...], str | None]
RULES: tuple[Rule, ...] = (
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
    # OpenAI: `sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-`, `sk-or-v1-`...; the body must hold
    # a capital or 4 digits, so hyphenated words such as `sk-learn-compatible-estimators-v2`
    # are not keys.
    ("-", "openai-key", 2,
     _nb("sk-") + r"(?=[a-z0-9_-]*[A-Z]|(?:[A-Za-z_-]*[0-9]){4})[A-Za-z0-9_-]{20,}", (),
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
    # SSH.com (SSH2) private keys.
    ("-", "private-key", 0,
     r"--- BEGIN SSH2 (?:ENCRYPTED )?PRIVATE KEY ----[\s\S]*?"
     r"(?:---- END SSH2 (?:ENCRYPTED )?PRIVATE KEY ----|\Z)", (), r"--- BEGIN SSH2 "),
    # Still more vendors, by prefix and shape.
    ("_", "notion-token", 3, _nb("ntn_") + r"[A-Za-z0-9]{40,}", (), r"(?<=ntn_)[A-Za-z0-9]{40}"),
    ("_", "notion-token", 6, _nb("secret_") + r"(?=[A-Za-z]*[0-9])[A-Za-z0-9]{43}(?![A-Za-z0-9])",
     (), r"(?<=secret_)[A-Za-z0-9]{43}"),
    (".", "vault-token", 3, _nb(r"hv[sbr]\.") + r"[A-Za-z0-9_-]{24,}", (),
     r"(?<=hv[sbr]\.)[A-Za-z0-9_-]{24}"),
    (".", "doppler-token", 2,
     _nb(r"dp\.") + r"(?:st|ct|sa|scim|audit|pt)\.(?:[a-z0-9_-]{2,35}\.)?[A-Za-z0-9]{40,44}"
     r"(?![A-Za-z0-9])", (), r"(?<=dp\.)(?:st|ct|sa|scim|audit|pt)\."),
    ("A", "atlassian-token", 0, r"(?<![A-Za-z0-9_-].)TATT3[A-Za-z0-9_=-]{150,}", (), r"TATT3"),
    ("A", "atlassian-token", 0, r"(?<![A-Za-z0-9_-].)TBB[A-Za-z0-9_=.-]{32,}", (), r"TBB"),
    ("p", "databricks-token", 2, _nb("dap") + r"i[a-f0-9]{32}(?:-[0-9]+)?(?![A-Za-z0-9])", (),
     r"(?<=dap)i[a-f0-9]{32}"),
    ("-", "pulumi-token", 3, _nb("pul-") + r"[a-f0-9]{40}(?![A-Za-z0-9])", (), r"(?<=pul-)"),
    (".", "terraform-token", 14,
     r"(?<=(?<![A-Za-z0-9])[A-Za-z0-9]{14}\.)atlasv1\.[A-Za-z0-9_=-]{60,}", (), r"atlasv1\."),
    ("_", "supabase-token", 3, _nb("sbp_") + r"[a-f0-9]{40}(?![A-Za-z0-9])", (), r"(?<=sbp_)"),
    ("_", "supabase-token", 9, _nb("sb_secret_") + r"[A-Za-z0-9_-]{20,}", (),
     r"(?<=sb_secret_)"),
    ("_", "sentry-token", 6, _nb("sntry[su]_") + r"[A-Za-z0-9+/=_]{40,}", (),
     r"(?<=sntry[su]_)"),
    ("-", "newrelic-key", 4, _nb("NR(?:AK|JS|II)-") + r"[A-Za-z0-9_-]{19,32}(?![A-Za-z0-9_-])", (),
     r"(?<=NR(?:AK|JS|II)-)"),
    ("_", "figma-token", 4, _nb("figd_") + r"[A-Za-z0-9_-]{38,}", (), r"(?<=figd_)"),
    ("_", "groq-key", 3, _nb("gsk_") + r"[A-Za-z0-9]{48,}", (), r"(?<=gsk_)"),
    ("-", "xai-key", 3, _nb("xai-") + r"[A-Za-z0-9]{60,}", (), r"(?<=xai-)"),
    ("_", "replicate-token", 2, _nb("r8_") + r"[A-Za-z0-9]{37,}", (), r"(?<=r8_)"),
    ("_", "langsmith-key", 4, _nb("lsv2_") + r"(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}", (),
     r"(?<=lsv2_)(?:pt|sk)_"),
    ("_", "resend-key", 2, _nb("re_") + r"[A-Za-z0-9]{8}_[A-Za-z0-9]{24}(?![A-Za-z0-9])", (),
     r"(?<=re_)[A-Za-z0-9]{8}_"),
    ("-", "brevo-key", 7, _nb("xkeysib-") + r"[a-f0-9]{64}-[A-Za-z0-9]{16}", (),
     r"(?<=xkeysib-)"),
    ("-", "brevo-key", 8, _nb("xsmtpsib-") + r"[a-f0-9]{64}-[A-Za-z0-9]{16}", (),
     r"(?<=xsmtpsib-)"),
    ("_", "rubygems-token", 8, _nb("rubygems_") + r"[a-f0-9]{48}", (), r"(?<=rubygems_)"),
    (".", "airtable-token", 17, r"(?<=(?<![A-Za-z0-9])pat[A-Za-z0-9]{14}\.)[a-f0-9]{64}", (),
     r"(?<=pat[A-Za-z0-9]{14}\.)"),
    (".", "google-oauth-token", 4, _nb(r"ya29\.") + r"[A-Za-z0-9_-]{30,}", (), r"(?<=ya29\.)"),
    ("J", "mapbox-token", 5,
     r"(?<=(?<![A-Za-z0-9_-])sk\.eyJ)[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}", (),
     r"(?<=sk\.eyJ)"),
    ("_", "planetscale-token", 6, _nb("pscale_") + r"(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,}", (),
     r"(?<=pscale_)(?:tkn|pw|oauth)_"),
    ("-", "heroku-key", 4, _nb("HRKU-") + r"[A-Za-z0-9_-]{40,}", (), r"(?<=HRKU-)"),
    (".", "dynatrace-token", 6, _nb(r"dt0c01\.") + r"[A-Z0-9]{24}\.[A-Z0-9]{64}", (),
     r"(?<=dt0c01\.)"),
    ("_", "fly-token", 3, _nb("f[om][12]_") + r"[A-Za-z0-9_+/=-]{40,}", (), r"(?<=f[om][12]_)"),
    ("-", "gitlab-token", 6, _nb("gl(?:soat|ffct)-") + r"[A-Za-z0-9_-]{20,}", (),
     r"(?<=gl(?:soat|ffct)-)"),
    ("-", "gitlab-token", 7, _nb("glagent-") + r"[A-Za-z0-9_-]{20,}", (), r"(?<=glagent-)"),
    ("zZ", None, 0, _AUTH_HEAD, ((_AUTH_TAIL, "auth-header"),), r"(?<=(?i:authoriz))(?i:ation)"),
    ("bB", None, 0, _BEARER_HEAD, ((_BEARER_TAIL, "auth-header"),), r"(?i:earer)[ \t]"),
    # Assignments, anchored inside the sensitive word (their `needs`: the word, more loosely,
    # then the start of an operator).
    ("kK", None, 0, _AWS_SECRET_HEAD + _NAME_STOP, ((_AWS_SECRET_TAIL, "aws-secret"), *_ASSIGN),
     r"(?i:ey)" + _OP_START),
    ("kK", None, 0, r"(?:(?<=(?i:tok))(?i:en)|(?<=(?i:apik))(?i:ey))" + _NAME_STOP, _ASSIGN,
     r"(?:(?<=(?i:tok))(?i:en)|(?i:ey))" + _OP_START),
    # A weak `key`: after `_`/`-`, as a camelCase word, or as a word after a space ("API key").
    ("kK", CHECK_KEY, 0, r"(?<=[_ -][kK]|[a-z0-9]K)(?i:ey)" + _NAME_STOP, _ASSIGN,
     r"(?i:ey)" + _OP_START),
    (
        "wW",
        None,
        0,
        r"(?:(?<=(?i:passw))(?i:ord|d)|(?:(?<=[_-](?i:pw)|[a-z0-9](?:Pw|PW))"
        r"|(?<=(?<![A-Za-z0-9])(?i:pw)))(?i:d))" + _NAME_STOP,
        _ASSIGN,
        r"(?:(?<=(?i:passw))(?i:ord|d)|(?<=(?i:pw))(?i:d))" + _OP_START,
    ),
    ("cC", None, 0, r"(?:(?<=(?i:sec))(?i:ret)|(?i:redentials?))" + _NAME_STOP, _ASSIGN,
     r"(?:(?<=(?i:sec))(?i:ret)|(?i:redentials?))" + _OP_START),
    ("pP", None, 0, r"(?:(?<=[_-][pP]|[a-z0-9]P)|(?<![A-Za-z0-9].))(?i:ass)" + _NAME_STOP,
     _ASSIGN,
     r"(?i:ass)" + _OP_START),
    # `passphrase`; `auth` (Docker's config.json, .npmrc's `_auth`, `basic_auth`).
    ("hH", None, 0, r"(?<=(?i:passph))(?i:rase)" + _NAME_STOP, _ASSIGN,
     r"(?<=(?i:passph))(?i:rase)" + _OP_START),
    ("hH", CHECK_AUTH, 0, r"(?<=(?i:auth))" + _NAME_STOP, _ASSIGN,
     r"(?<=(?i:auth))" + _OP_START),
)


# --------------------------------------------------------------------------------------------
# Detectors and views: what each needs
# --------------------------------------------------------------------------------------------

_SECRET_COLUMN = r"(?i:password|passwd|passphrase|secret|token|key)s?"
# name -> a pattern matching wherever the detector `<name>_spans` of redact_formats.py, or the
# view `<name>` of redact_views.py, can find a secret.  The engine runs each only where its
# pattern matches (and imports those modules only then).
DETECTOR_NEEDS = {
    # a known program, then an option or a `user/password` argument on its line; or what
    # reads a password from the pipe before it
    "cli": (
        r"""-(?<=[\s"'+]-)(?:[puawPNUkKb](?:[ \t]|(?<=[pb])[^\s])|pw[ \t]"""
        r"|-?(?:user|auth|oauth2-bearer|body|pass|password|proxy-user)[ \t=]"
        r"|(?:src|dest)?(?:store|key)pass[ \t]|new[ \t]"
        r"|pass(?:in|out)?[ \t]|password[ \t])|sqlplus|vault[ \t]+login|mc[ \t]+(?:alias|config)"
        r"|rabbitmqctl|htpasswd|-stdin|--with-token|chpasswd"
    ),
    "kube": r"""kind["']?[ \t]*:[ \t]*["']?Secret(?![\w-])""",
    # a CSV header naming a secret column (not the first): a comma, the column's name, then a
    # comma or the line's end
    "csv": r",[ \t]*\"?(?:[A-Za-z][\w.-]*[ _-]){0,3}" + _SECRET_COLUMN
           + r"\"?[ \t]*(?:,|\r?\n|\Z)",
    "file": r":(?:[0-9]{1,5}|\*):[^\s:]+:[^\s:]+(?::\S|[ \t]*\r?(?m:$))"
            r"|:(?:\$(?:apr1|2[abxy]?|1|5|6|7|y|gy|sha1|md5)\$"
            r"|\{(?:SHA|SSHA|SHA256|SSHA512|MD5)\})",
    "putty": r"PuTTY-User-Key-File-[0-9]",
    "cookie": r"[cC](?i:ookie)[\"']?[ \t]*[:=]",
    "pair": r"(?:AKIA|ASIA|AGPA|AROA|AIDA)[A-Z0-9]{16}|SK[0-9a-f]{32}|AC[0-9a-f]{32}"
            r"|LTAI[A-Za-z0-9]{12}|AKID[A-Za-z0-9]{32}|\[REDACTED:(?:aws-access-key|twilio-key)\]",
    "vendor": r"_(?:[A-Za-z0-9]{2,10}_)?[A-Za-z0-9]{32}",
}
# For each part, strings one of which any text its pattern matches contains, checked first
# (`in` is much faster than a search); in lower case where the pattern ignores case, checked
# in the text lowered.
NEEDS_LITERALS = {
    "d_cli": (" -", "\t-", "\n-", '"-', "'-", "+-", "sqlplus", "rabbitmqctl", "chpasswd",
              "htpasswd", "vault", "mc"),
    "d_kube": ("Secret",),
    "d_file": (":",),
    "d_putty": ("PuTTY",),
    "d_vendor": ("_",),
    "d_pair": ("AKIA", "ASIA", "AGPA", "AROA", "AIDA", "SK", "AC", "LTAI", "AKID", "[REDACTED:"),
    "v_json": ("\\",),
    "v_url": ("%",),
    "v_lines": ("\n",),
}
NEEDS_LOWER_LITERALS = {
    "d_csv": ("pass", "secret", "token", "key"),
    "d_cookie": ("cookie",),
}
_TOKEN_CHARS = "A-Za-z0-9+/=_.~-"
VIEW_NEEDS = {
    "json": r'\\(?:[/"nrt]|u[0-9a-fA-F]{4})',  # JSON escapes
    "url": r"%[0-9A-Fa-f]{2}",  # URL encoding
    # a token cut by a line end
    "lines": rf"\n(?<=[^\n]{{20}}[{_TOKEN_CHARS}]{{12}}\n)\+?[{_TOKEN_CHARS}]"
             rf"|\n(?<=[^\n]{{19}}[{_TOKEN_CHARS}]{{12}}\r\n)\+?[{_TOKEN_CHARS}]",
    "base64": r"[A-Za-z0-9+/_-]{20}",  # a base64 run
}


# --------------------------------------------------------------------------------------------
# Dict entries
# --------------------------------------------------------------------------------------------

# A parsed `{"api_key": "..."}` has lost the text around the value, so the key is checked as a
# name, by the same rules as in text (SENSITIVE_NAME mirrors the heads of the assignment rules;
# group k: the name ends in a weak `key`), and a string value that is one literal token of >= 8
# characters (DICT_LITERAL: no whitespace, no template) is redacted whole; under a name ending
# in one of AWS_SECRET_NAME_ENDS (`_`/`-` removed, lower case), a value shaped like
# AWS_SECRET_VALUE is an `aws-secret`; under `auth` (group a), only a value that decodes to
# `user:password` or looks generated counts.
SENSITIVE_NAME = (
    r"(?:(?i:password|passwd|passphrase|secret|token|credentials?|apikey)"
    r"|(?P<k>[_ -](?i:key)|(?<=[a-z0-9])(?:Key|KEY))"
    r"|(?:[_-]|(?<![A-Za-z0-9]))(?i:pwd|pass)|(?<=[a-z0-9])(?:Pwd|PWD|Pass|PASS)"
    r"|(?P<a>(?:[_-]|(?<![A-Za-z0-9]))(?i:auth)))\Z"
)
DICT_LITERAL = rf"{_NOT_TEMPLATE}\S{{8,}}"
AWS_SECRET_NAME_ENDS = ("secretaccesskey", "awssecretkey")
AWS_SECRET_VALUE = r"[A-Za-z0-9/+]{40}"
