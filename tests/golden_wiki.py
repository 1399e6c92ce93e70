"""The golden wiki: the pages compiled from the two recorded fixture sessions.

tests/test_compile.py compiles it and compares it with tests/golden/wiki byte for byte;
scripts/update_golden.py compiles it and writes tests/golden/wiki. Nothing else writes there.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import session_events

from wikimem.agents.claude_code import adapter as claude_code
from wikimem.capture.observation import format_ts
from wikimem.capture.observe import capture
from wikimem.compile.build import compile_project
from wikimem.project import Registry
from wikimem.wiki.pages import wiki_pages

GOLDEN = Path(__file__).parent / "golden" / "wiki"
GOLDEN_LLM = Path(__file__).parent / "golden" / "wiki-llm"
FAKE_CWD = Path("/work/example/serverless-plugins")
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REGENERATE = (
    "If the change is intended, regenerate the golden files with "
    "`python scripts/update_golden.py` and review `git diff tests/golden`."
)


def feed(events, start: datetime, registry=None):
    """Capture recorded payloads in-process with fixed, increasing timestamps."""
    registry = registry or Registry()
    project = None
    for i, payload in enumerate(events):
        event = claude_code.normalize(payload)
        project = capture("claude-code", event, payload, registry=registry,
                          ts=format_ts(start + timedelta(seconds=i))).project
    return project


def read_wiki(wiki: Path) -> dict[str, bytes]:
    """Every page of a wiki folder, by path."""
    return {rel: (wiki / rel).read_bytes() for rel in wiki_pages(wiki)}


def compile_golden_wiki() -> dict[str, bytes]:
    """The fixture sessions captured and compiled under WIKIMEM_HOME; the pages, by path."""
    feed(session_events(FAKE_CWD, "01-node-bump.jsonl"), T0)
    project = feed(session_events(FAKE_CWD, "02-issue-triage.jsonl"), T0 + timedelta(days=1))
    compile_project(project)
    return read_wiki(project.wiki_dir)


class GroundedModel:
    """A stand-in model for the LLM golden wiki: a fixed answer built from each session,
    every statement quoting it, one shared topic."""

    def complete(self, *, model, system, prompt, max_tokens, timeout):
        import json

        from wikimem.compile.llm import Completion

        session = json.loads(prompt)["session"]
        said = " ".join(session["prompts"][0].split()[:6])
        answer = {"summary": [{"text": f"The session began with: {said}.", "quote": said}],
                  "topics": [{"title": "Fixture sessions", "points": [
                      {"text": f"{session['title']} was worked on.", "quote": said}]}]}
        return Completion(json.dumps(answer), 100, 50)


def compile_golden_llm_wiki() -> dict[str, bytes]:
    """The same sessions compiled with LLM consolidation (GroundedModel): the pages, by path."""
    from wikimem.compile.llm import LLMSettings

    feed(session_events(FAKE_CWD, "01-node-bump.jsonl"), T0)
    project = feed(session_events(FAKE_CWD, "02-issue-triage.jsonl"), T0 + timedelta(days=1))
    compile_project(project, llm=LLMSettings(enabled=True), llm_client=GroundedModel())
    return read_wiki(project.wiki_dir)


def assert_matches_golden(got: dict[str, bytes], golden: Path = GOLDEN) -> None:
    """`got` holds exactly the golden pages, byte for byte."""
    want = read_wiki(golden)
    if sorted(got) != sorted(want):
        raise AssertionError(
            f"The compiled pages are not the golden ones: missing {sorted(set(want) - set(got))}"
            f", unexpected {sorted(set(got) - set(want))}. {REGENERATE}")
    for rel in want:
        if got[rel] != want[rel]:
            # surrogateescape: every differing byte stays a difference in the text.
            diff = difflib.unified_diff(
                want[rel].decode("utf-8", "surrogateescape").splitlines(),
                got[rel].decode("utf-8", "surrogateescape").splitlines(),
                f"golden/{rel}", f"compiled/{rel}", lineterm="", n=1)
            shown = "\n".join(list(diff)[:40])
            raise AssertionError(f"{rel} differs from its golden file. {REGENERATE}\n{shown}")
