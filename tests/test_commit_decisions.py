"""Proposed decisions from commits: only commits that state a choice, the whole sentence, the
reason the message gives; and the precision on commits labelled by hand (bench/decisions.py,
docs/BENCHMARKS.md)."""

import sys
from pathlib import Path

import pytest

from wikimem.repo.decisions import commit_decision, message_parts
from wikimem.repo.fold import _derive

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import decisions as bench  # noqa: E402

# What docs/BENCHMARKS.md says the rule reaches on tests/fixtures/decisions.
PRECISION = 0.867


def commit(subject: str, body: str = "", files=("src/app.py",)) -> dict:
    return _derive({"hash": "a" * 40, "subject": subject, "body": body, "files": list(files),
                    "date": "2024-01-01T00:00:00Z"})


def test_precision_on_the_labelled_commits():
    stats = bench.measure(bench.fixture_commits())
    # Every commit the rule proposes in the sample was labelled by hand.
    assert all(not s["unlabelled"] for s in stats.values())
    assert stats["all"]["precision"] >= PRECISION
    assert stats["all"]["proposed"] >= 80  # and it still proposes the decisions
    before = bench.measure(bench.fixture_commits(), use_baseline=True)
    assert before["all"]["precision"] < stats["all"]["precision"]


def test_the_whole_sentence_is_kept_across_the_line_wrap_and_why_comes_from_the_body():
    found = commit_decision(commit(
        "Improve the feed",
        "The old ids changed whenever a post moved. Switching to tag URIs\n"
        "built from the post's date and slug keeps them stable across moves.\n\n"
        "- touch the feed writer\n\nSigned-off-by: A Person <a@example.com>"))
    assert found.sentence == ("Switching to tag URIs built from the post's date and slug keeps "
                              "them stable across moves.")
    assert found.why == "The old ids changed whenever a post moved."
    assert found.in_body


def test_subject_choice_with_its_reason_and_what_it_ruled_out():
    found = commit_decision(commit("feat(store): switch from SQLite to PostgreSQL for sessions",
                                   "SQLite locks under several web workers."))
    assert found.sentence == "feat(store): switch from SQLite to PostgreSQL for sessions"
    assert found.why == "SQLite locks under several web workers."
    assert found.ruled_out == "SQLite"


@pytest.mark.parametrize("subject,body,files", [
    # A revert without a reason, a fix, a test-only change, a clause deep in a sentence,
    # a body bullet, a local swap of two calls, a web editor's default subject, a URL.
    ('Revert "Use shlex.quote"', "This reverts commit " + "b" * 40 + ".", ("a.py",)),
    ("Fix the pager", "Use a temporary file instead of a pipe.", ("a.py",)),
    ("Replace the loop with parametrize", "", ("tests/test_cli.py",)),
    ("Handle empty input", "The writer which switched to savepoint mode kept it.", ("a.py",)),
    ("Update project files", "- use extlinks instead of sphinx-issues", ("a.py",)),
    ("Use os.path.join instead of os.sep.join", "", ("a.py",)),
    ("Update README.md", "Use `a` instead of `an` before a vowel.", ("README.md",)),
    ("Update actions", "See https://example.com/deprecating-save-state for more.", ("a.yml",)),
    ("Speed up search, fixes #880", "Use find() instead of index().", ("a.py",)),
])
def test_not_a_decision(subject, body, files):
    assert commit_decision(commit(subject, body, files)) is None


def test_a_revert_that_says_why_is_a_decision():
    found = commit_decision(commit(
        'Revert "Use shlex.quote for quoting shell arguments"',
        "This reverts commit " + "c" * 40 + ".\n\nThis caused issues if the editor command had "
        "options like\n\"less -FRSX\" because they would then get quoted as a single word."))
    assert found.label == "revert"
    assert found.why.startswith("This caused issues if the editor command had options like "
                                '"less -FRSX" because')


def test_message_parts_join_wrapped_lines_and_leave_out_trailers():
    prose, bullets = message_parts("First line\nwraps here. Second one.\n\n* a bullet\n"
                                   "  continues\n\nCo-authored-by: X <x@example.com>")
    assert prose == ["First line wraps here.", "Second one."]
    assert bullets == ["a bullet continues"]
