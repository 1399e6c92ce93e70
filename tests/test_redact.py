"""Secret redaction: every kind, the context kept around it, false positives, idempotence,
nested values and adversarial input (wikimem.capture.redact, its rules in redact_rules)."""

from __future__ import annotations

import argparse
import ast
import base64
import copy
import json
import random
import sys
from pathlib import Path

import pytest
from fixtures.secrets_corpus import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wikimem.capture.redact as redact_module
from wikimem import errors, fsio
from wikimem.capture import (
    redact_entries,
    redact_formats,
    redact_rules,
    redact_values,
    redact_views,
)
from wikimem.capture.redact import redact_text, redact_value
from wikimem.capture.redact_rules import SECRET_KINDS

# Fake but format-valid credentials, assembled at run time so that no secret scanner flags this
# file.  None of them is real.
ANTHROPIC = "sk-ant-" + "api03-" + "Zq9_" * 23 + "AA"
ANTHROPIC_SHORT = "sk-ant-" + "Xy7" * 10
OPENAI = "sk-" + "Ab3dEf6hIj" * 4 + "Kl9mNo2p"
OPENAI_PROJ = "sk-" + "proj-" + "T3st_Key-" * 8
OPENAI_SVC = "sk-" + "svcacct-" + "Q1w2E3r4T5" * 4
GITHUB = "ghp_" + "A1b2" * 9
GITHUB_OAUTH = "gho_" + "Z9y8" * 9
GITHUB_SERVER = "ghs_" + "M4n5" * 9
GITHUB_PAT = "github_" + "pat_" + "11ABCDEFG0" * 2 + "_" + "x9Y8z7W6v5" * 5 + "u4T"
GITLAB = "glpat-" + "Ab1_Cd2-" * 3
HUGGINGFACE = "hf_" + "AbCdEfGh1" * 4
NPM = "npm_" + "a1B2c3" * 6
PYPI = "pypi-" + "AgEIcHlwaS5vcmc" + "CJDQ1ZjM2-_x" * 5
STRIPE_LIVE = "sk_" + "live_" + "4eC39HqLyjWD" * 2
STRIPE_TEST = "sk_" + "test_" + "4eC39HqLyjWD" * 2
STRIPE_RESTRICTED = "rk_" + "live_" + "9zY8xW7vU6tS" * 2
AWS_ACCESS = "AKIA" + "Z7Q2" * 4
AWS_TEMP = "ASIA" + "W3X4" * 4
AWS_SECRET = "wJalr" + "XUtnF/K7MD+bPxRf" * 2 + "iCY"  # 40 characters
GOOGLE = "AIza" + "Sy" + "B1c2D3e4F5" * 3 + "a_b"
SLACK_BOT = "xoxb-" + "123456789012-" + "1234567890123-" + "AbCdEfGhIjKl" * 2
SLACK_USER = "xoxp-" + "210987654321-" + "AbCdEf123456" * 2
SLACK_HOOK_PATH = "T0" + "1234567/B0" + "7654321/" + "XyZ" * 8
JWT = (
    "eyJ"
    + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJ"
    + "zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    + "."
    + "SflKxwRJSMeKKF2QT4fwpM"
    + "eJf36POk6yJV_adQssw5c"
)
PEM_BODY = "MIIEowIBAAKCAQEA" + "q1W2e3R4t5Y6u7I8o9P0" * 3
PASSWORD = "s3cr3t" + "-Pa55word!"
TOKEN_VALUE = "tok_" + "9f8e7d6c5b4a3928" * 2


def pem(kind: str = "RSA ", body: str = PEM_BODY, end: bool = True, nl: str = "\n") -> str:
    begin = "-----BEGIN " + kind + "PRIVATE" + " KEY-----"
    text = begin + nl + body + nl + body[::-1]
    if end:
        text += nl + "-----END " + kind + "PRIVATE" + " KEY-----"
    return text


# (kind, text around the secret with {} where it goes, secret)
CASES = [
    ("anthropic-key", "use {} for the API", ANTHROPIC),
    ("anthropic-key", "key={}&x=1", ANTHROPIC_SHORT),
    ("openai-key", "openai {} here", OPENAI),
    ("openai-key", "project key {} in use", OPENAI_PROJ),
    ("openai-key", "({})", OPENAI_SVC),
    ("github-token", "push with {} now", GITHUB),
    ("github-token", "oauth {}", GITHUB_OAUTH),
    ("github-token", "app {}.", GITHUB_SERVER),
    ("github-token", "pat: {}", GITHUB_PAT),
    ("gitlab-token", "gitlab {}", GITLAB),
    ("huggingface-token", "hf {}", HUGGINGFACE),
    ("npm-token", "npm {}", NPM),
    ("pypi-token", "twine upload -p {} dist/*", PYPI),
    ("stripe-key", "stripe {}", STRIPE_LIVE),
    ("stripe-key", "stripe {}", STRIPE_TEST),
    ("stripe-key", "stripe {}", STRIPE_RESTRICTED),
    ("aws-access-key", "aws {} key id", AWS_ACCESS),
    ("aws-access-key", '"AccessKeyId": "{}"', AWS_TEMP),
    ("aws-secret", "aws_secret_access_key = {}", AWS_SECRET),
    ("aws-secret", "AWS_SECRET_ACCESS_KEY={}", AWS_SECRET),
    ("aws-secret", '"SecretAccessKey": "{}",', AWS_SECRET),
    ("google-api-key", "maps?key={}&v=3", GOOGLE),
    ("slack-token", "slack {}", SLACK_BOT),
    ("slack-token", "slack {}", SLACK_USER),
    ("slack-webhook", "POST https://hooks.slack.com/services/{} done", SLACK_HOOK_PATH),
    ("jwt", "session {} expires", JWT),
    ("private-key", "key:\n{}\nafter", pem()),
    ("private-key", "{}", pem("EC ")),
    ("private-key", "{}", pem("OPENSSH ")),
    ("private-key", "{}", pem("DSA ")),
    ("private-key", "{}", pem("ENCRYPTED ")),
    ("private-key", "{}", pem("")),
    ("private-key", '{{"key": "{}"}}', pem(nl="\\n")),
    ("url-credentials", "https://alice:{}@example.com/x", PASSWORD),
    ("url-credentials", "postgres://app:{}@db:5432/app", PASSWORD),
    ("url-credentials", "mysql://root:{}@localhost/db", PASSWORD),
    ("url-credentials", "mongodb+srv://u:{}@cluster0.example.net/test", PASSWORD),
    ("url-credentials", "redis://:{}@cache:6379/0", PASSWORD),
    ("url-credentials", "amqp://guest:{}@mq//", PASSWORD),
    ("auth-header", "Authorization: Bearer {}", TOKEN_VALUE),
    ("auth-header", "authorization: Basic {}", "dXNlcjpwYXNz" + "d29yZDEyMzQ1Ng=="),
    ("auth-header", 'curl -H "Authorization: Bearer {}" https://api', TOKEN_VALUE),
    ("auth-header", '{{"headers": {{"Authorization": "Bearer {}"}}}}', TOKEN_VALUE),
    ("auth-header", "Authorization: token {}", "0123456789" + "abcdefABCDEF"),
    ("auth-header", "sent Bearer {} upstream", TOKEN_VALUE),
    ("secret-assignment", "OPENAI_API_KEY={}", "abcd1234" + "efgh5678"),
    ("secret-assignment", "export GITHUB_TOKEN={}", "abcd1234" + "efgh5678"),
    ("secret-assignment", 'DB_PASSWORD="{}"', PASSWORD),
    ("secret-assignment", "db_passwd: {}", PASSWORD),
    ("secret-assignment", "MYSQL_PWD={}", PASSWORD),
    ("secret-assignment", "CLIENT_SECRET = '{}'", PASSWORD),
    ("secret-assignment", "SIGNING_KEY: {}", PASSWORD),
    ("secret-assignment", "STRIPE_ACCESS_KEY={}", PASSWORD),
    ("secret-assignment", "JWT_PRIVATE_KEY={}", PASSWORD),
    ("secret-assignment", "GOOGLE_CREDENTIALS={}", PASSWORD),
    ("secret-assignment", "password: {}", PASSWORD),
    ("secret-assignment", "SECRET={}", PASSWORD),
    ("secret-assignment", "token = '{}'", PASSWORD),
    ("secret-assignment", "api_key: {}", PASSWORD),
    ("secret-assignment", '{{"X_TOKEN": "{}"}}', PASSWORD),
    ("secret-assignment", 'api_token = "{}"  # toml', PASSWORD),
    ("secret-assignment", "PGPASSWORD={} psql", PASSWORD),
    ("secret-assignment", "apiKey: '{}'", PASSWORD),
    ("secret-assignment", "x-api-key: {}", PASSWORD),
    ("secret-assignment", "https://api.example.com/v1?access_token={}&page=2", PASSWORD),
]


# One case of each vendor kind from the shared corpus (tests/fixtures/secrets_corpus.py).
_CORPUS_KINDS = {kind for kind, _, _ in CASES}
CASES += [
    (s.kind, s.text.replace("{", "{{").replace("}", "}}").replace(s.value, "{}", 1), s.value)
    for s in CORPUS if s.kind not in _CORPUS_KINDS
]


@pytest.mark.parametrize(("kind", "template", "secret"), CASES)
def test_each_kind_is_redacted(kind, template, secret):
    text = template.format(secret)
    out = redact_text(text)
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out


def test_cases_cover_every_kind():
    assert {kind for kind, _, _ in CASES} == set(SECRET_KINDS)
    assert len(SECRET_KINDS) == len(set(SECRET_KINDS))
    assert all(kind == kind.lower() and " " not in kind for kind in SECRET_KINDS)


@pytest.mark.parametrize(("kind", "template", "secret"), CASES)
def test_redaction_is_idempotent_per_kind(kind, template, secret):
    once = redact_text(template.format(secret))
    assert redact_text(once) == once


# -- context around a secret is kept ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "git clone https://alice:" + PASSWORD + "@git.example.com/team/repo.git",
            "git clone https://alice:[REDACTED:url-credentials]@git.example.com/team/repo.git",
        ),
        (
            "DATABASE_URL=postgres://app:" + PASSWORD + "@db.internal:5432/app",
            "DATABASE_URL=postgres://app:[REDACTED:url-credentials]@db.internal:5432/app",
        ),
        ("OPENAI_API_KEY=" + OPENAI, "OPENAI_API_KEY=[REDACTED:secret-assignment]"),
        ('  "X_TOKEN": "' + PASSWORD + '",', '  "X_TOKEN": "[REDACTED:secret-assignment]",'),
        ("db_password: '" + PASSWORD + "'", "db_password: '[REDACTED:secret-assignment]'"),
        (
            "export API_TOKEN=" + PASSWORD + "; run",
            "export API_TOKEN=[REDACTED:secret-assignment]; run",
        ),
        ("Authorization: Bearer " + TOKEN_VALUE, "Authorization: Bearer [REDACTED:auth-header]"),
        (
            "curl -H 'authorization: Basic " + "dXNlcjpwYXNz" + "d29yZA==' https://x",
            "curl -H 'authorization: Basic [REDACTED:auth-header]' https://x",
        ),
        (
            "https://hooks.slack.com/services/" + SLACK_HOOK_PATH,
            "https://hooks.slack.com/services/[REDACTED:slack-webhook]",
        ),
        ("before\n" + pem() + "\nafter", "before\n[REDACTED:private-key]\nafter"),
        ("x = '" + pem(nl="\\n") + "'", "x = '[REDACTED:private-key]'"),
        ("two: " + GITHUB + " and " + NPM, "two: [REDACTED:github-token] and [REDACTED:npm-token]"),
        (
            '\\"api_key\\": \\"' + PASSWORD + '\\"',
            '\\"api_key\\": \\"[REDACTED:secret-assignment]\\"',
        ),
    ],
)
def test_context_is_kept(text, expected):
    assert redact_text(text) == expected


def test_unterminated_private_key_is_redacted_to_the_end():
    text = "cat key.pem\n" + pem(end=False) + "\n[... wikimem cut 4000 characters ...]"
    out = redact_text(text)
    assert out == "cat key.pem\n[REDACTED:private-key]"
    assert PEM_BODY not in out


def test_pgp_and_headers_private_key_blocks():
    pgp = (
        "-----BEGIN PGP "
        + "PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n"
        + PEM_BODY
        + "\n-----END PGP "
        + "PRIVATE KEY BLOCK-----"
    )
    encrypted = pem("RSA ", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n" + PEM_BODY)
    assert redact_text("a\n" + pgp + "\nb") == "a\n[REDACTED:private-key]\nb"
    assert redact_text(encrypted) == "[REDACTED:private-key]"


# -- false positives ---------------------------------------------------------------------------

NOT_SECRETS = [
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "id 123e4567-e89b-12d3-a456-426614174000",
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "The token expired, so please enter your password again.",
    "Password: required field",
    ":param token: REQUIRED.  The token to revoke.",
    "password = getpass()",
    "token = get_token()",
    'API_KEY = os.environ["API_KEY"]',
    "api_key = os.getenv('OPENAI_API_KEY')",
    "secret_key = settings.SECRET_KEY",
    "PASSWORD=$PASSWORD",
    'TOKEN="${GITHUB_TOKEN}"',
    "password: ${{ secrets.DB_PASSWORD }}",
    "password: '{{ vault_db_password }}'",
    "password = None",
    '"password": null,',
    'password = ""',
    "PASSWORD=",
    "token: Optional[str] = None",
    'let api_key = env::var("API_KEY")?;',
    "const token = process.env.GITHUB_TOKEN;",
    "login(username=username, password=password)",
    "if token == END_TOKEN:",
    "max_tokens = 4096",
    "tokenizer = AutoTokenizer.from_pretrained(name)",
    'eos_token = "<|endoftext|>"',
    'pad_token = "[PAD]"',
    "API_KEY=<your-api-key>",
    'sort_key = "created_at"',
    'primaryKey: "user_id_123"',
    'STATS_KEY = "_hypothesis_stats"',
    'public_key = "ssh-ed25519"',
    'monkey = "banana12345"',
    "ssh_key: ~/.ssh/id_ed25519",
    "port: 54321",
    'fetch(url, {credentials: "same-origin"})',
    '"password": "Enter your password"',
    'raise ValueError("Invalid password: must be at least 8 characters")',
    'logger.info("token: %s", token)',
    'print(f"Token: {token}")',
    'headers = {"Authorization": f"Bearer {token}"}',
    'headers = {"Authorization": "Bearer " + token}',
    "Authorization: Bearer $TOKEN",
    "auth = base64.b64encode(authorization_header_value)",
    "the bearer of this letter",
    'f"{scheme}://{user}:{password}@{host}"',
    "postgres://${DB_USER}:${DB_PASS}@db/app",
    "http://localhost:8080/path?x=1",
    "https://medium.com/@someone/a-post",
    "ssh git@github.com:org/repo.git",
    "sk-learn-compatible-estimator-wrapper",
    "risk-management-dashboard-component",
    "task_live_reload_configuration",
    'if line.startswith("-----BEGIN RSA PRIVATE KEY-----"):',
    "-----BEGIN PUBLIC KEY-----\n" + PEM_BODY + "\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\n" + PEM_BODY + "\n-----END CERTIFICATE-----",
    "[REDACTED:openai-key] and [REDACTED:secret-assignment]",
    "OPENAI_API_KEY=[REDACTED:secret-assignment]",
    "Authorization: Bearer [REDACTED:auth-header]",
    "https://alice:[REDACTED:url-credentials]@example.com/",
    "",
    # issue 13: what a rule once mangled, and non-secrets shaped like each new class
    "b.token=c.secret?d(e)",
    "sk-learn-compatible-estimators-v2",
    "use `--password` to pass it, or --token TOKEN",
    "curl -u $USER:$TOKEN https://api.example.com",
    "mysql -u root -p shop",
    "docker run -p 8080:80 -u 1000:1000 nginx",
    "ssh -p 2222 deploy@example.com && git push -u origin main && ps -u root",
    "The token is valid for an hour; the password is stored in the keychain.",
    "The machine learning team owns the password resetting flow.",
    "request 123e4567-e89b-12d3-a456-426614174000 took 3 ms",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed the token refresh",
    '{"kind": "ConfigMap", "data": {"LOG_LEVEL": "debug", "WORKERS": "4"}}',
    "Name,Email,Role\nalice,alice@example.com,admin\nbob,bob@example.com,viewer",
    "echo aGVsbG8gd29ybGQgdGhpcyBpcyBqdXN0IHRleHQ= | base64 -d",
    'see https:\\/\\/example.com\\/docs\\/page?id=42 for more',
    "https://example.com/search?q=hello%20world&page=2",
    "def check(password: str, token: Optional[str] = None) -> bool:",
    "    user_pass = (self.username + ':' + self.password).encode()",
    "    'password': config.get(server, 'password'),",
    "__all__ = ('Context', 'ContextVar', 'Token', 'copy_context')",
    "<label>Password</label><input type=\"password\" name=\"password\">",
    "export PATH=/usr/local/bin:$PATH; export TOKEN_TTL=3600",
    # (found in recorded agent sessions: JSON-escaped code, regex literals, key names)
    "const apiKey = process.env.ATTIO_API_KEY;\\n    if (apiKey) {\\n",
    "  app_token=app_token,\\n  web_client=self._web_client,\\n",
    "[SensitiveInfoType.API_KEY]: /(?:api[_-]?key|token|secret)[\\s:=]*[a-zA-Z0-9]{20,}/gi,",
    'CONF_EVERSOURCE_PASSWORD: Final = "eversource_password"',
    "gh pr comment 25 --repo acme/app --body \"Rebased onto main, ready for review\"",
    "OPENROUTER_MODEL_FALLBACK_LIST_FOR_THE_SUMMARIES=abcdefghijkl\nGEMINI_MODEL=gemini-1.5-pro",
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_non_secrets_are_left_alone(text):
    assert redact_text(text) == text


def test_base64_image_data_is_left_alone():
    rng = random.Random(1234)
    blob = base64.b64encode(rng.randbytes(300_000)).decode()
    urlsafe = base64.urlsafe_b64encode(rng.randbytes(300_000)).decode()
    data_uri = "![plot](data:image/png;base64," + blob + ")"
    block = json.dumps({"type": "image", "source": {"type": "base64", "data": blob}})
    for text in (data_uri, block, urlsafe, "<img src='data:image/jpeg;base64," + blob + "'>"):
        assert redact_text(text) == text


def test_marker_text_is_never_altered():
    for kind in SECRET_KINDS:
        marker = f"[REDACTED:{kind}]"
        for text in (marker, f"x{marker}y", f"KEY={marker}", f"{marker}{marker}"):
            assert redact_text(text) == text


# -- idempotence -------------------------------------------------------------------------------

FRAGMENTS = [
    ANTHROPIC,
    OPENAI,
    GITHUB,
    GITHUB_PAT,
    AWS_ACCESS,
    AWS_SECRET,
    GOOGLE,
    SLACK_BOT,
    JWT,
    NPM,
    STRIPE_LIVE,
    pem(),
    pem(end=False),
    "sk-",
    "ghp_",
    "AKIA",
    "eyJ",
    "-----BEGIN ",
    "://",
    "user",
    ":",
    "@",
    "/",
    "Authorization",
    "Bearer ",
    "Basic ",
    "token",
    "PASSWORD",
    "_KEY",
    "Key",
    "secret",
    "=",
    ": ",
    " = ",
    '"',
    "'",
    '\\"',
    "[",
    "]",
    "[REDACTED:jwt]",
    "$",
    "{",
    "}",
    "(",
    ")",
    ".",
    ",",
    ";",
    "&",
    " ",
    "\n",
    "x",
    "A1b2C3d4" * 2,
    "abcdefgh",
    "0123456789",
    "data:image/png;base64,",
    "iVBORw0KGgo",
    "https://hooks.slack.com/services/",
    "-",
    "_",
]


@settings(max_examples=150, deadline=None, database=None)
@given(st.text())
def test_idempotent_on_arbitrary_text(text):
    once = redact_text(text)
    assert isinstance(once, str)
    assert redact_text(once) == once


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
def test_idempotent_on_secret_like_text(text):
    once = redact_text(text)
    assert redact_text(once) == once


# -- the quick check before the full scan ------------------------------------------------------


def test_every_rule_that_redacts_says_what_it_needs():
    for anchors, kind, _, _, tails, needs in redact_rules.RULES:
        if kind is None and not tails:
            assert needs is None, anchors  # a skip rule never redacts: it needs nothing
        else:
            assert needs, (anchors, kind)


def _equal_with_and_without_quick_check(text):
    assert redact_text(text) == redact_module._redact_passes(text)


@pytest.mark.parametrize(("kind", "template", "secret"), CASES)
def test_quick_check_lets_every_secret_through(kind, template, secret):
    text = template.format(secret)
    assert redact_module._MAY_HOLD_SECRET.search(text)
    _equal_with_and_without_quick_check(text)


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_quick_check_changes_nothing_on_non_secrets(text):
    _equal_with_and_without_quick_check(text)


@settings(max_examples=600, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
def test_quick_check_changes_nothing_on_secret_like_text(text):
    _equal_with_and_without_quick_check(text)


@settings(max_examples=150, deadline=None, database=None)
@given(st.text())
def test_quick_check_changes_nothing_on_arbitrary_text(text):
    _equal_with_and_without_quick_check(text)


# -- redact_value ------------------------------------------------------------------------------


def test_redact_value_walks_nested_values_and_keys():
    value = {
        "command": "curl -H 'Authorization: Bearer " + TOKEN_VALUE + "'",
        GITHUB: "a token used as a key",
        "nested": [
            {"env": {"PASSWORD": PASSWORD, "HOME": "/home/me", "sort_key": "created_at"}},
            ("plain", OPENAI, 3, 2.5, None, True),
        ],
        "count": 7,
        5: "non-str key kept",
    }
    original = copy.deepcopy(value)
    out = redact_value(value)
    assert out["command"] == "curl -H 'Authorization: Bearer [REDACTED:auth-header]'"
    assert "[REDACTED:github-token]" in out and GITHUB not in out
    assert out["nested"][0]["env"] == {
        "PASSWORD": "[REDACTED:secret-assignment]",
        "HOME": "/home/me",
        "sort_key": "created_at",
    }
    assert out["nested"][1] == ("plain", "[REDACTED:openai-key]", 3, 2.5, None, True)
    assert out["count"] == 7 and out[5] == "non-str key kept"
    assert value == original  # a new structure; the input is untouched
    assert redact_value(out) == out


def test_redact_value_uses_dict_keys_as_names():
    out = redact_value(
        {
            "api_key": PASSWORD,
            "token": "None",
            "password": "two words",
            "SecretAccessKey": AWS_SECRET,
            "credentials": "same-origin",
        }
    )
    assert out == {
        "api_key": "[REDACTED:secret-assignment]",
        "token": "None",
        "password": "two words",
        "SecretAccessKey": "[REDACTED:aws-secret]",
        "credentials": "same-origin",
    }


def test_redact_value_scalars():
    assert redact_value(GITHUB) == "[REDACTED:github-token]"
    for scalar in (None, 0, 1.5, True, b"ghp_bytes_are_not_walked"):
        assert redact_value(scalar) is scalar


def test_redact_value_deep_nesting_does_not_recurse():
    deep: list = [GITHUB]
    for _ in range(10_000):
        deep = [deep]
    out = redact_value(deep)
    depth = 0
    while isinstance(out, list) and len(out) == 1 and isinstance(out[0], list):
        out = out[0]
        depth += 1
    assert depth == 10_000
    assert out == ["[REDACTED:github-token]"]

    chain: dict = {"token": PASSWORD}
    for i in range(10_000):
        chain = {f"k{i}": chain, "t": (GITHUB,)}
    out = redact_value(chain)
    for i in reversed(range(10_000)):
        assert out["t"] == ("[REDACTED:github-token]",)
        out = out[f"k{i}"]
    assert out == {"token": "[REDACTED:secret-assignment]"}


def test_redact_value_cycle():
    loop: list = [GITHUB]
    loop.append(loop)
    assert redact_value(loop) == ["[REDACTED:github-token]", "[circular]"]


# -- speed and safety --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a" * 10**6,
        "sk-" + "a" * 10**6,
        "sk-" + "1" * 10**6,
        " sk-1" * 200_000,
        "-----BEGIN RSA " + "PRIVATE KEY-----\n" + "A" * 10**6,
        "-----BEGIN " * 100_000,
        "://a:" * 200_000,
        "token=" * 150_000,
        "password: a." * 80_000,
        "Authorization: " * 70_000,
        "Bearer " * 140_000,
        "eyJ" * 300_000,
        "AKIA" * 250_000,
        "_key" * 250_000,
        "[REDACTED:" * 100_000,
        "\\" * 10**6,
    ],
    ids=lambda text: repr(text[:16]),
)
def test_adversarial_input_finishes(text):
    # A hang or catastrophic backtracking would show up as this test never finishing.
    out = redact_text(text)
    assert redact_text(out) == out


def test_plain_source_code_is_unchanged():
    text = Path(argparse.__file__).read_text() + Path(json.__file__).read_text()
    assert redact_text(text) == text


_REDACTION_MODULES = [redact_module, redact_rules, redact_values, redact_formats, redact_views,
                      redact_entries, fsio, errors]


@pytest.mark.parametrize("module", _REDACTION_MODULES)
def test_module_imports_only_the_standard_library(module):
    tree = ast.parse(Path(module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module not in {
                m.__name__ for m in _REDACTION_MODULES}:
            # (the engine's imports of its rule table, detectors and views, each checked here;
            # `from wikimem.capture import redact_views` names the module as an alias)
            if node.module == "wikimem.capture" and all(
                    f"wikimem.capture.{a.name}" in {m.__name__ for m in _REDACTION_MODULES}
                    for a in node.names):
                continue
            imported.add((node.module or "").split(".")[0])
    # (`_sha2` is the builtin SHA-256 of Python 3.12+, tried before 3.11's `_sha256`)
    assert imported <= set(sys.stdlib_module_names) | {"__future__", "_sha2"}


# -- command lines: every credential option the detector knows ------------------------------


def _cli_cases():
    for program, options in sorted(redact_formats._PROGRAMS.items()):
        needs = redact_formats._SUBCOMMAND.get(program)
        login = f" {needs}" if needs else ""
        for option, how in sorted(options.items()):
            value = "Secr3t-Value9x"
            if how in ("userpass", "smb", "lftp"):
                sep = {"userpass": ":", "smb": "%", "lftp": ","}[how]
                yield program, f"{program}{login} {option} deploy{sep}{value} target", value
            elif how == "passarg":
                yield program, f"{program}{login} {option} pass:{value} -in x", value
            elif how == "attached":
                yield program, f"{program}{login} {option}{value} target", value
            elif how != "none":
                yield program, f"{program}{login} {option} {value} target", value
                if how == "both":
                    yield program, f"{program}{login} {option}{value} target", value


@pytest.mark.parametrize(("program", "text", "value"), list(_cli_cases()))
def test_every_credential_option_of_a_known_program_is_redacted(program, text, value):
    out = redact_text(text)
    assert value not in out and "[REDACTED:cli-credential]" in out, out
    assert out.startswith(program)  # the command itself stays readable
