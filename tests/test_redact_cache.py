"""The compiled patterns redact.py keeps beside its bytecode behave as `re.compile`'s."""

from __future__ import annotations

import re
import sys

import pytest

from wikimem.capture import redact

TEXTS = [
    "nothing to see here, just prose about the key to success",
    "export OPENAI_API_KEY=sk-proj-Ab3dEf6hIjAb3dEf6hIjAb3dEf6hIj && pytest",
    "curl -H 'Authorization: Bearer abcdefgh12345678ijkl' https://bob:S3cretPass@db.example.com",
    'password = "Hunter2Hunter2!"  # and api_key: str = "Zx9Zx9Zx9Zx9"',
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234567890abcdef\n"
    "-----END RSA PRIVATE KEY-----",
    "ghp_" + "Z9y8X7w6V5" * 4 + " AKIAIOSFODNN7EXAMPLE "
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk",
    "[REDACTED:jwt] data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
]


@pytest.fixture
def kept(tmp_path, monkeypatch):
    monkeypatch.setattr(redact, "_kept_path", lambda name: str(tmp_path / f"{name}.re"))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return tmp_path


def _matches(pattern: re.Pattern[str]) -> list:
    return [(m.span(), m.lastgroup, m.groups()) for t in TEXTS for m in pattern.finditer(t)]


@pytest.mark.parametrize("which", ["needs", "full"])
def test_a_kept_program_matches_what_re_compile_matches(kept, monkeypatch, which):
    text = redact._MAY_HOLD_SECRET.pattern if which == "needs" else redact._compiled()[0].pattern
    fresh = redact._compile_kept(which, text)  # compiles and keeps it
    assert (kept / f"{which}.re").is_file()

    expected = re.compile(text)

    class NoParsing:
        @staticmethod
        def parse(*args, **kwargs):
            raise AssertionError("the kept program was not used")

    monkeypatch.setattr(redact, "_parser", NoParsing)
    loaded = redact._compile_kept(which, text)
    assert _matches(loaded) == _matches(fresh) == _matches(expected) != []
    assert (loaded.groups, loaded.groupindex, loaded.flags) == (
        expected.groups, expected.groupindex, expected.flags)


def test_a_stale_or_damaged_program_is_compiled_again(kept):
    path = kept / "t.re"
    first = redact._compile_kept("t", r"(?P<a>sk-)[0-9]+")
    assert first.search("x sk-123").group("a") == "sk-"
    other = redact._compile_kept("t", r"(?P<b>gh[pousr]_)[0-9]+")  # the pattern changed
    assert other.search("ghp_99").group("b") == "ghp_" and other.search("sk-123") is None
    for damage in (b"", b"\x00garbage", path.read_bytes()[:-7]):
        path.write_bytes(damage)
        again = redact._compile_kept("t", r"(?P<b>gh[pousr]_)[0-9]+")
        assert again.search("ghp_99").group("b") == "ghp_"


def test_nothing_is_written_when_bytecode_is_not(kept, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert redact._compile_kept("t", "abc").search("xabc")
    assert not (kept / "t.re").exists()
