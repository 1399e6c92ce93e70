"""LLM consolidation with a fake client at the seam: no network, ever."""

import json
import sys
from datetime import UTC, datetime

import pytest

from wikimem.compile.llm import (
    AnthropicClient,
    Completion,
    LLMError,
    LLMSettings,
    build_request,
    consolidate,
    fold,
    llm_observations,
    parse_answer,
)
from wikimem.compile.sessions import Command, SessionRecord
from wikimem.project import Registry

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ON = LLMSettings(enabled=True)


class FakeClient:
    """Answers from a script: a string, a function of the prompt, or an exception."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def complete(self, *, model, system, prompt, max_tokens, timeout):
        self.calls.append({"model": model, "system": system, "prompt": prompt})
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        text = answer(prompt) if callable(answer) else answer
        return Completion(text, input_tokens=len(prompt) // 4, output_tokens=len(text) // 4)


def good(summary="Fixed the login retry loop in src/auth.py.", topics=None):
    """An answer whose every statement quotes the session of `rec()`."""
    return json.dumps({"summary": [{"text": summary, "quote": "Fix the login retry loop"}],
                       "topics": topics if topics is not None else [
        {"title": "Authentication", "points": [
            {"text": "Login retries live in `src/auth.py`.",
             "quote": "retries stop after 3 attempts"}]}]})


def rec(sid="s-1", **kw):
    base = dict(session_id=sid, agent="claude-code", cwd="/r", started="2026-05-01T10:00:00Z",
                ended="2026-05-01T11:00:00Z", title="Fix login retries", summary="1 prompt",
                stem=f"2026-05-01-{sid}", prompts=["Fix the login retry loop in src/auth.py"],
                files_changed=["src/auth.py"], commands=[Command("pytest -q", 0)],
                outcome="Fixed: retries stop after 3 attempts.")
    base.update(kw)
    return SessionRecord(**base)


@pytest.fixture
def project(tmp_path):
    p = Registry().resolve(tmp_path)
    p.ensure_dirs()
    return p


def test_success_is_recorded_and_folded(project):
    client = FakeClient(good())
    report = consolidate(project, [rec()], ["Index"], ON, client=client, now=NOW)
    assert (report.called, report.consolidated, report.skipped) == (1, ["s-1"], [])
    assert client.calls[0]["model"] == "claude-haiku-4-5"
    assert "Faithfulness" in client.calls[0]["system"]
    state = fold(llm_observations(project))
    assert state.summaries["s-1"] == "Fixed the login retry loop in src/auth.py."
    assert state.topics["topics/authentication.md"]["sessions"] == ["s-1"]
    # Nothing changed in the session: no second call, whatever else changed in the wiki.
    again = consolidate(project, [rec()], ["Index", "Other page"], ON, client=client, now=NOW)
    assert again.called == 0 and again.consolidated == [] and len(client.calls) == 1
    # The session grew: one more call, which sees the existing topic.
    consolidate(project, [rec(outcome="Fixed, and documented.")], [], ON, client=client, now=NOW)
    assert len(client.calls) == 2 and "Login retries live in" in client.calls[1]["prompt"]


@pytest.mark.parametrize("failure,kind", [
    (LLMError("offline", "cannot reach the API"), "offline"),
    (LLMError("timeout", "no answer within 30s"), "timeout"),
    (LLMError("rate-limit", "slow down"), "rate-limit"),
    ("this is not json", "invalid-output"),
    (json.dumps({"topics": []}), "invalid-output"),
    (json.dumps({"summary": "ok", "topics": [{"title": "x"}]}), "invalid-output"),
    (good(summary="Changed src/other.py too."), "unfaithful"),
    (good(summary="Done on 2026-02-30."), "unfaithful"),
    (good(summary="See commit 3fa2c1d9e."), "unfaithful"),
])
def test_every_failure_keeps_rule_based_pages_and_says_why(project, failure, kind):
    report = consolidate(project, [rec()], [], ON, client=FakeClient(failure), now=NOW)
    assert report.consolidated == [] and report.skipped[0]["kind"] == kind
    assert llm_observations(project) == []
    logged = [json.loads(x) for x in project.error_log.read_text().splitlines()]
    assert logged[-1]["stage"] == "llm" and logged[-1]["kind"] == kind


def test_no_key_stops_at_once_and_never_imports_anthropic(project, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    had = "anthropic" in sys.modules
    report = consolidate(project, [rec("a"), rec("b")], [], ON, client=AnthropicClient(),
                         now=NOW)
    assert [s["kind"] for s in report.skipped] == ["no-key", "no-key"]
    assert "ANTHROPIC_API_KEY is not set" in report.skipped[0]["reason"]
    assert ("anthropic" in sys.modules) == had


def test_caps_per_compile_per_day_and_tokens(project):
    sessions = [rec(f"s{i}") for i in range(4)]
    r = consolidate(project, sessions, [], LLMSettings(enabled=True, max_calls_per_compile=2),
                    client=FakeClient(good()), now=NOW)
    assert r.called == 2 and {s["kind"] for s in r.skipped} == {"cap"}
    r = consolidate(project, sessions, [], LLMSettings(enabled=True, max_calls_per_day=3),
                    client=FakeClient(good()), now=NOW)
    assert r.called == 1 and "daily cap of 3 calls" in r.skipped[0]["reason"]
    fresh = consolidate(project, [rec("t")], [], LLMSettings(enabled=True, max_tokens_per_day=50),
                        client=FakeClient(good()), now=NOW)
    assert fresh.called == 0 and "tokens would be exceeded" in fresh.skipped[0]["reason"]


def test_cache_means_no_second_payment(project):
    client = FakeClient(good())
    consolidate(project, [rec()], [], ON, client=client, now=NOW)
    # Lose the recorded result (say the process died before appending it): the cache answers.
    for f in project.raw_dir.glob("wikimem-llm.*"):
        f.unlink()
    report = consolidate(project, [rec()], [], ON, client=client, now=NOW)
    assert (report.called, report.cached, len(client.calls)) == (0, 1, 1)
    assert fold(llm_observations(project)).summaries["s-1"]


def test_dry_run_sends_nothing_and_shows_the_request(project):
    client = FakeClient(good())
    report = consolidate(project, [rec()], [], ON, client=client, dry_run=True, now=NOW)
    (request,) = report.requests
    assert client.calls == [] and llm_observations(project) == []
    assert request.estimated_tokens > 50 and '"files_changed"' in request.prompt


def test_secrets_are_redacted_before_sending():
    secret = "ghp_" + "Q1w2E3r4T5" * 3 + "y6U7i8"
    request = build_request(rec(prompts=[f"use token {secret} to push"]), {}, [])
    assert secret not in request.prompt and "[REDACTED:" in request.prompt


def test_parse_answer_accepts_fenced_json_and_known_paths():
    request = build_request(rec(), {}, [])
    answer = parse_answer("```json\n" + good() + "\n```", request)
    assert answer["topics"][0]["title"] == "Authentication"


def test_an_answer_whose_claims_all_carry_verified_quotes_is_accepted(project):
    """Quotes are compared after normalisation: case, spacing, typographic quotes, markdown
    code marks and the edges' punctuation do not matter."""
    answer = json.dumps({"summary": [
        {"text": "Fixed the login retry loop.", "quote": "  fix THE login   retry loop"},
        {"text": "Retries now stop after three attempts.",
         "quote": "\u201cretries stop after 3 attempts.\u201d"}],
        "topics": [{"title": "Authentication", "points": [
            {"text": "The retry loop is in `src/auth.py`.",
             "quote": "login retry loop in `src/auth.py`"}]}]})
    report = consolidate(project, [rec()], [], ON, client=FakeClient(answer), now=NOW)
    assert report.consolidated == ["s-1"] and report.dropped == {}
    state = fold(llm_observations(project))
    assert state.summaries["s-1"] == ("Fixed the login retry loop. Retries now stop after "
                                      "three attempts.")
    assert state.topics["topics/authentication.md"]["points"][0]["quote"] == \
        "login retry loop in `src/auth.py`"


def test_an_invented_claim_is_dropped_and_reported(project):
    """The decision the issue saw invented: no quote of the session holds it."""
    answer = json.dumps({"summary": [
        {"text": "Fixed the login retry loop.", "quote": "Fix the login retry loop"},
        {"text": "The team agreed to move from MySQL to PostgreSQL.",
         "quote": "agreed to move from MySQL to PostgreSQL"},
        {"text": "Nobody objected."}],
        "topics": [{"title": "Database migration", "points": [
            {"text": "We move to PostgreSQL.", "quote": "move to PostgreSQL"}]},
            {"title": "Authentication", "points": [
                {"text": "Retries stop after 3 attempts.", "quote": "retries stop after 3"}]}]})
    report = consolidate(project, [rec()], [], ON, client=FakeClient(answer), now=NOW)
    assert report.consolidated == ["s-1"] and report.dropped == {"s-1": 3}
    assert report.to_dict()["dropped"] == {"s-1": 3}
    state = fold(llm_observations(project))
    assert state.summaries["s-1"] == "Fixed the login retry loop."
    assert list(state.topics) == ["topics/authentication.md"]  # the invented topic is gone
    logged = [json.loads(x) for x in project.error_log.read_text().splitlines()]
    assert logged[-1]["kind"] == "dropped" and "3 statement(s)" in logged[-1]["error"]
    assert "MySQL to PostgreSQL" in logged[-1]["dropped"]


def test_an_updated_topic_may_keep_the_quotes_of_its_points(project):
    consolidate(project, [rec()], [], ON, client=FakeClient(good()), now=NOW)
    # Another session, which says nothing of retries: the topic keeps its old point (quoted
    # from s-1), and gains one quoted from s-2.
    other = rec("s-2", prompts=["Document the auth module"], outcome="Documented it.",
                files_changed=[], commands=[])
    answer = json.dumps({"summary": [{"text": "Documented auth.",
                                      "quote": "Document the auth module"}],
                         "topics": [{"title": "Authentication", "points": [
                             {"text": "Login retries live in `src/auth.py`.",
                              "quote": "retries stop after 3 attempts"},
                             {"text": "The module is documented.",
                              "quote": "Document the auth module"}]}]})
    report = consolidate(project, [other], [], ON, client=FakeClient(answer), now=NOW)
    assert report.dropped == {}
    topic = fold(llm_observations(project)).topics["topics/authentication.md"]
    assert [p["text"] for p in topic["points"]] == ["Login retries live in `src/auth.py`.",
                                                    "The module is documented."]
    assert topic["sessions"] == ["s-1", "s-2"]


def test_a_rejected_answer_is_not_cached_and_is_asked_again_until_held(project):
    bad = good(summary="Changed src/other.py too.")
    client = FakeClient(bad)
    for _attempt in range(3):
        report = consolidate(project, [rec()], [], ON, client=client, now=NOW)
        assert report.skipped[0]["kind"] == "unfaithful" and report.called == 1
    assert not list((project.state_dir / "llm-cache").glob("*.json"))
    # Rejected three times for the same content: held until the session changes.
    report = consolidate(project, [rec()], [], ON, client=client, now=NOW)
    assert report.called == 0 and report.held == ["s-1"] and len(client.calls) == 3
    # A rebuild (retry_held) asks again; a good answer settles it.
    client.answers = [good()]
    report = consolidate(project, [rec()], [], ON, client=client, now=NOW, retry_held=True)
    assert report.consolidated == ["s-1"] and len(client.calls) == 4
    report = consolidate(project, [rec(outcome="Changed again.")], [], ON,
                         client=FakeClient(bad), now=NOW)
    assert report.skipped and report.held == []


def test_a_bug_of_ours_is_a_skipped_session_not_a_crash(project, monkeypatch):
    from wikimem.compile import llm

    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(llm, "parse_answer", broken)
    report = consolidate(project, [rec("a"), rec("b")], [], ON, client=FakeClient(good()),
                         now=NOW)
    assert [s["kind"] for s in report.skipped] == ["internal", "internal"]
    logged = [json.loads(x) for x in project.error_log.read_text().splitlines()]
    assert "KeyError" in logged[-1]["error"] and "_consolidate" in logged[-1]["where"]
    # Both are owed: a later compile tries them again.
    assert llm.owed(project) == ["a", "b"]


def test_a_client_that_raises_anything_else_is_counted_and_skipped(project):
    report = consolidate(project, [rec()], [], ON, client=FakeClient(RuntimeError("boom")),
                         now=NOW)
    assert report.called == 1 and report.skipped[0]["kind"] == "bad-reply"
    usage = json.loads((project.state_dir / "llm-usage.json").read_text())
    assert usage["2026-06-01"]["calls"] == 1 and usage["2026-06-01"]["failed"] == 1
