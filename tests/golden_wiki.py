"""The golden wiki: the pages compiled from the two recorded fixture sessions.

tests/test_compile.py compiles it and compares it with tests/golden/wiki byte for byte;
scripts/update_golden.py compiles it and writes tests/golden/wiki. Nothing else writes there.
Likewise `wikimem catchup --since 7d` on the demo wiki, and tests/golden/catchup-7d.txt
(tests/test_catchup.py).
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


CATCHUP_GOLDEN = GOLDEN.parent / "catchup-7d.txt"
CATCHUP_NOW = T0 + timedelta(days=3)  # the clock `wikimem catchup --since 7d` is run at


def catchup_golden_screen() -> str:
    """`wikimem catchup --since 7d` on the demo wiki (the two recorded sessions, and the
    decisions and tasks a team would record around them), the clock pinned."""
    import pytest
    from click.testing import CliRunner

    from wikimem.cli import catchup as catchup_cli
    from wikimem.cli import cli
    from wikimem.memory import Memory

    feed(session_events(FAKE_CWD, "01-node-bump.jsonl"), T0)
    project = feed(session_events(FAKE_CWD, "02-issue-triage.jsonl"), T0 + timedelta(days=1))

    def memory(hours: float) -> Memory:
        return Memory(project, agent="claude-code", now=T0 + timedelta(hours=hours))

    old = memory(-200).add("decision", "Keep Node 18 as the minimum runtime",
                           {"why": "serverless-offline 12 still supports it"})
    memory(1).add("decision", "Require Node 22 in CI and in .nvmrc",
                  {"why": "Node 18 is end of life; serverless v4 needs 20+"},
                  supersedes=[old.page])
    memory(2).add("task", "Bump the engines field of every package to node >= 22")
    memory(2.5).claim("T1")
    memory(3).task_op("task_done", "T1", "engines bumped in 4 packages; CI green")
    memory(25).add("task", "Open one PR per confirmed bug from docs/open-issue-triage.md")
    memory(26).claim("T2")
    memory(26).add("task", "Ask the maintainers whether to drop the kinesis plugin")
    compile_project(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catchup_cli, "now", lambda: CATCHUP_NOW)
        result = CliRunner().invoke(cli, ["--project", project.name, "catchup",
                                          "--since", "7d"])
    if result.exit_code != 0:
        raise AssertionError(result.output)
    return result.output
