"""`wikimem import`: past transcripts -> raw log -> pages, idempotent, redacted, filtered.

Tests over ../shared/data skip when it is absent; the rest use tests/fixtures/transcripts
(trimmed copies of real files, see tests/fixtures/SOURCES.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, SHARED_DATA, fixture_payload

import wikimem.cli.imports  # noqa: F401 - registers `wikimem import`
from wikimem.agents import hooklog
from wikimem.agents.backfill import CAPTURED, OTHER_PROJECT, discover, import_sessions
from wikimem.agents.claude_code import adapter as claude_code
from wikimem.agents.claude_code import importer as claude
from wikimem.agents.codex import importer as codex
from wikimem.agents.gemini import importer as gemini
from wikimem.agents.importers import parse_ts
from wikimem.capture import rawlog
from wikimem.capture.observation import KINDS
from wikimem.capture.observe import MAX_LINE, capture, make_observation
from wikimem.cli import cli
from wikimem.compile.build import compile_project
from wikimem.compile.read import load_catalog
from wikimem.project import Registry

TRANSCRIPTS = FIXTURES / "transcripts"
AGENTS = SHARED_DATA / "agents"
needs_shared = pytest.mark.skipif(not AGENTS.is_dir(), reason="../shared/data is not present")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

CLAUDE_FIXTURE = TRANSCRIPTS / "claude_2.0.14_session.jsonl"
CLAUDE_CWD = "/Users/jnarowski/Dev/sourceborn/src/agent-workflows-monorepo-v2"
CLAUDE_SESSION = "cfa1e878-62b5-4e40-b281-bbf9b250d766"
CODEX_FIXTURE = TRANSCRIPTS / "codex_0.40.0_rollout-01997ea4-a70d-7da3-8c20-c736db82a7c5.jsonl"
CODEX_CWD = "/Users/jnarowski/Dev/spectora/src/spectora-labs-monorepo-v2"
CODEX_SESSION = "01997ea4-a70d-7da3-8c20-c736db82a7c5"
GEMINI_FIXTURE = TRANSCRIPTS / "gemini_session-2025-10-29T10-36-453aa339.json"


def shared_files() -> dict[str, list[Path]]:
    """Every recorded transcript under shared data, by format."""
    claude_dir = AGENTS / "claude"
    return {
        "claude-code": sorted([*(claude_dir / "transcripts").glob("*.jsonl"),
                               *(claude_dir / "transcripts" / "from_hooklog_chatjson").glob(
                                   "*.json*"),
                               *(claude_dir / "transcripts_sanitized").glob("*.jsonl")]),
        "codex": sorted((AGENTS / "codex").glob("rollouts*/*.jsonl")),
        "gemini": sorted(p for p in (AGENTS / "gemini" / "sessions").glob("*.json*")),
    }


def events(module, path: Path) -> tuple[list, Counter]:
    stats: Counter = Counter()
    return list(module.read(path, stats)), stats


def relocated(src: Path, dest: Path, old: str, new: Path | str) -> Path:
    """A copy of a transcript with its working directory (and paths under it) moved."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = src.read_text(encoding="utf-8")
    dest.write_text(text.replace(old, json.dumps(str(new))[1:-1]), encoding="utf-8")
    return dest


def raw_lines(project) -> list[dict]:
    out = []
    for path in rawlog.session_files(project.raw_dir):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def raw_bytes(project) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(project.raw_dir.glob("*"))
            if p.suffix in (".jsonl", ".keys")}


def pages(project) -> dict[str, bytes]:
    wiki = project.wiki_dir
    return {str(p.relative_to(wiki)): p.read_bytes() for p in sorted(wiki.rglob("*.md"))
            if ".git" not in p.parts}


# -- every recorded file parses -------------------------------------------------------------


@needs_shared
def test_every_recorded_transcript_parses():
    modules = {"claude-code": claude, "codex": codex, "gemini": gemini}
    totals: dict[str, Counter] = {}
    for agent, files in shared_files().items():
        assert files, agent
        module = modules[agent]
        totals[agent] = Counter()
        for path in files:
            assert module.sniff(path), path.name
            others = [m.AGENT for m in (*modules.values(), hooklog)
                      if m is not module and m.sniff(path)]
            assert not others, (path.name, others)
            items, _ = events(module, path)
            assert items, f"{path.name}: no events"
            for item in items:
                assert item.event.kind in KINDS and item.event.uid, (path.name, item)
                assert TS.match(item.ts), (path.name, item.ts)
                assert item.event.session
                obs = make_observation(module.AGENT, item.event, item.event.data, ts=item.ts)
                assert len(obs.to_json().encode()) <= MAX_LINE
            keys = [(i.event.session, i.event.kind, i.event.uid) for i in items]
            assert len(keys) == len(set(keys)), f"{path.name}: duplicate uids"
            totals[agent].update(i.event.kind for i in items)
    for agent, kinds in totals.items():
        assert kinds["prompt"] > 0 and kinds["tool_pre"] > 0 and kinds["stop"] > 0, (agent, kinds)
        assert kinds["tool_post"] + kinds["tool_failure"] > 0, (agent, kinds)


@needs_shared
def test_hook_logs_and_other_formats_are_not_mistaken_for_transcripts():
    for path in [*(AGENTS / "claude" / "stream_json").glob("*.*json"),
                 *(AGENTS / "codex" / "exec_json").glob("*.jsonl"),
                 *(AGENTS / "cursor" / "transcripts").glob("*.jsonl")]:
        assert not any(m.sniff(path) for m in (claude, codex, gemini)), path.name
    for path in [*(AGENTS / "codex" / "hooks").glob("*.jsonl"),
                 *(AGENTS / "gemini" / "hooks").glob("*.jsonl"),
                 *(AGENTS / "claude" / "hooks" / "payloads_redacted").glob("*.jsonl")]:
        assert hooklog.sniff(path) and not any(m.sniff(path) for m in (claude, codex, gemini))
        items, _ = events(hooklog, path)
        agent = {"codex": "codex", "gemini": "gemini", "claude": "claude-code"}[
            path.relative_to(AGENTS).parts[0]]
        assert items and {i.agent for i in items} == {agent}, path.name


# -- hand-checked samples --------------------------------------------------------------------


def test_claude_sample():
    items, stats = events(claude, CLAUDE_FIXTURE)
    assert claude.sniff(CLAUDE_FIXTURE)
    start = items[0]
    assert start.event.kind == "session_start"
    assert start.event.session == CLAUDE_SESSION and start.event.cwd == CLAUDE_CWD
    assert start.event.data["model"] == "claude-sonnet-4-5-20250929"
    assert start.event.data["version"] == "2.0.14"
    prompts = [i for i in items if i.event.kind == "prompt"]
    assert [p.event.data["prompt"] for p in prompts] == ["Hey", "Can you audit this codebase?"]
    assert prompts[0].event.uid == "40100391-dfab-4f01-8ce8-7c6f2b1a5e8c"
    assert prompts[0].ts == "2025-10-21T03:21:27.040Z"
    bash = [i for i in items if i.event.kind == "tool_pre" and i.event.data["tool"] == "Bash"]
    assert bash[1].event.data["command"] == "ls -la"
    assert bash[1].event.uid == "PreToolUse:" + bash[1].event.data["tool_use_id"]
    post = next(i for i in items if i.event.kind == "tool_post"
                and i.event.data.get("tool_use_id") == bash[1].event.data["tool_use_id"])
    assert post.event.data["exit_code"] == 0 and post.event.data["output"].startswith("total 992")
    read = next(i for i in items if i.event.kind == "tool_pre" and i.event.data["tool"] == "Read")
    assert read.event.data["files"] == [{"path": CLAUDE_CWD + "/package.json", "op": "read"}]
    stops = [i for i in items if i.event.kind == "stop"]
    assert stops[0].event.data["message"].startswith("<options>")  # the last text of turn 1
    assert all(i.event.session == CLAUDE_SESSION for i in items)
    assert not stats


def test_claude_newer_version_sample():
    path = TRANSCRIPTS / "claude_2.1.72_windows.jsonl"
    items, stats = events(claude, path)
    first = next(i for i in items if i.event.kind == "prompt")
    assert first.event.data["prompt"].startswith("/build specs/eversource-live-scraper.md")
    assert items[0].event.cwd == (
        "c:\\Users\\Tom\\Documents\\GitHub\\home-assistant-green-button-tom")
    assert items[0].event.session == "cfef384f-4359-49de-94d5-31dfae6a0925"
    assert stats["queue-operation"] == 4 and stats["progress"] == 2 and stats["user:meta"] == 1


def test_codex_sample():
    items, stats = events(codex, CODEX_FIXTURE)
    assert codex.sniff(CODEX_FIXTURE)
    start = items[0]
    assert start.event.kind == "session_start" and start.event.session == CODEX_SESSION
    assert start.event.cwd == CODEX_CWD
    assert start.event.data["model"] == "gpt-5-codex"
    assert start.event.data["cli_version"] == "0.40.0"
    prompt = next(i for i in items if i.event.kind == "prompt")
    # The IDE context Codex wraps around a prompt is dropped: only the request is kept.
    assert prompt.event.data["prompt"].startswith("When I load the dashboard, I see 4 queries.")
    assert prompt.ts == "2025-09-25T02:12:23.966Z"
    first = next(i for i in items if i.event.kind == "tool_pre")
    assert first.event.data["tool"] == "Bash"
    assert first.event.data["command"] == (
        f"cd {CODEX_CWD} && sed -n '1,200p' "
        "apps/spectora-labs/src/app/(protected)/settings/teams/hooks/useTeamWithStats.ts")
    assert first.event.uid == "pre:call_WmlLLopV6YokTw8Y639cqY5h"
    failure = next(i for i in items if i.event.kind == "tool_failure")
    assert failure.event.data["exit_code"] == 2
    assert failure.event.data["error"].startswith("Exit code 2: bash: -c: line 0:")
    ok = next(i for i in items if i.event.kind == "tool_post")
    assert ok.event.data["exit_code"] == 0 and "(protected)" in ok.event.data["output"]
    stop = next(i for i in items if i.event.kind == "stop")
    assert stop.event.data["message"].startswith("**What You’re Seeing**")
    assert stats["response_item:message:user"] == 3  # the same prompts, as model input


def test_codex_new_schema_sample():
    path = TRANSCRIPTS / "codex_0.146.0_rollout.jsonl"
    items, stats = events(codex, path)
    assert items[0].event.session == "019fc8be-3658-7ca3-9e29-000000000000"
    assert items[0].event.cwd == "/tmp/repo"
    assert [i.event.data["prompt"] for i in items if i.event.kind == "prompt"] == [
        "List the files"]
    post = next(i for i in items if i.event.kind == "tool_post"
                and i.event.data.get("tool_use_id") == "call-2")
    assert post.event.data["command"] == "ls" and post.event.data["output"] == "a.txt\n"
    patch = next(i for i in items if i.event.data.get("tool") == "apply_patch")
    assert patch.event.data["files"] == [{"path": "/tmp/repo/a.txt", "op": "change"}]
    assert [i.event.data["message"] for i in items if i.event.kind == "stop"] == [
        "Found 2 files."]
    assert stats["unknown:world_state"] == 1 and stats["event_msg:token_count"] == 1


def test_gemini_sample():
    items, stats = events(gemini, GEMINI_FIXTURE)
    assert gemini.sniff(GEMINI_FIXTURE) and not claude.sniff(GEMINI_FIXTURE)
    start = items[0]
    assert start.event.session == "453aa339-7d2b-4709-a41a-b0b73beaff85"
    # Chats record only a hash of the project root; the root is recovered from a tool path.
    assert start.event.cwd == "/private/tmp/gemini-test"
    assert start.event.data["project_hash"] == gemini.project_hash("/private/tmp/gemini-test")
    assert start.event.data["model"] == "gemini-2.5-pro"
    prompt = next(i for i in items if i.event.kind == "prompt")
    assert prompt.event.data["prompt"].startswith(
        "Change 'Hello' to 'Goodbye' in /tmp/gemini-test/created.txt")
    assert prompt.event.uid == "6524ae69-ab6c-4977-ae57-8edc41b37c61"
    edit = next(i for i in items if i.event.kind == "tool_post"
                and i.event.data["tool"] == "replace")
    assert edit.event.data["files"] == [{"path": "/private/tmp/gemini-test/created.txt",
                                         "op": "change"}]
    assert [i.event.data["message"] for i in items if i.event.kind == "stop"] == ["Done."]
    assert not stats


def test_gemini_jsonl_sample():
    path = TRANSCRIPTS / "gemini_session_v040.jsonl"
    items, stats = events(gemini, path)
    assert items[0].event.session == "gemini_stage0_jsonl" and items[0].event.cwd == ""
    shell = next(i for i in items if i.event.kind == "tool_post")
    assert shell.event.data["command"] == "ls -F" and shell.event.data["exit_code"] == 0
    assert [i.event.data["message"] for i in items if i.event.kind == "stop"] == [
        "Hello! I listed the files."]
    assert stats["$set"] == 1


def test_hook_log_sample():
    path = TRANSCRIPTS / "hooks_claude_2.1.x.jsonl"
    items, _ = events(hooklog, path)
    assert {i.agent for i in items} == {"claude-code"}
    pre = next(i for i in items if i.event.kind == "tool_pre")
    assert pre.event.uid == "PreToolUse:toolu_01J6mvR1uRR2iito7xateEE6"  # the adapter's own
    assert all(i.event.uid for i in items)
    again, _ = events(hooklog, path)
    assert [i.event.uid for i in again] == [i.event.uid for i in items]


# -- tolerance -------------------------------------------------------------------------------


def test_truncated_last_line_unknown_records_and_junk_are_counted(tmp_path):
    path = tmp_path / "session.jsonl"
    text = CLAUDE_FIXTURE.read_text()
    junk = [json.dumps({"type": "brand-new-record", "sessionId": CLAUDE_SESSION}),
            json.dumps({"type": "user", "sessionId": CLAUDE_SESSION, "message": 5,
                        "timestamp": "2025-10-20T21:40:00Z"}),
            json.dumps({"type": "assistant", "sessionId": CLAUDE_SESSION,
                        "message": {"content": [7, {"type": "future_block"}]},
                        "timestamp": "2025-10-20T21:40:01Z"}),
            "this is not json", "[1, 2]"]
    path.write_text(text + "\n".join(junk) + "\n" + text.splitlines()[5][:80])
    items, stats = events(claude, path)
    baseline, _ = events(claude, CLAUDE_FIXTURE)
    assert [(i.event.kind, i.event.uid) for i in items] == [
        (i.event.kind, i.event.uid) for i in baseline]
    assert stats["truncated-last-line"] == 1 and stats["invalid-json"] == 1
    assert stats["not-an-object"] == 1 and stats["unknown:brand-new-record"] == 1
    assert stats["assistant:unknown-block"] == 1 and stats["assistant:future_block"] == 1

    rollout = tmp_path / "rollout.jsonl"
    rollout.write_text(CODEX_FIXTURE.read_text() + json.dumps(
        {"timestamp": "2025-09-25T03:00:00Z", "type": "event_msg",
         "payload": {"type": "some_future_event"}}) + "\n" + '{"timestamp": "2025-09-2')
    items, stats = events(codex, rollout)
    assert items and stats["event_msg:some_future_event"] == 1
    assert stats["truncated-last-line"] == 1


def test_codex_ids_survive_records_copied_into_another_rollout(tmp_path, repo):
    """A resumed or forked session's rollout repeats earlier records at other line numbers."""
    lines = CODEX_FIXTURE.read_text().splitlines()
    copy = tmp_path / "rollout-copy.jsonl"
    extra = json.dumps({"timestamp": "2025-09-25T02:00:00.000Z", "type": "event_msg",
                        "payload": {"type": "token_count", "info": None}})
    copy.write_text("\n".join([lines[0], extra, extra, *lines[1:]]) + "\n")
    first = [(i.event.kind, i.event.uid) for i in events(codex, CODEX_FIXTURE)[0]]
    second = [(i.event.kind, i.event.uid) for i in events(codex, copy)[0]]
    assert first == second


def test_files_with_only_titles_or_metadata_make_no_session(tmp_path, repo):
    titles = tmp_path / "summaries.jsonl"  # older Claude Code left files of summaries only
    titles.write_text("".join(json.dumps({"type": "summary", "summary": f"Topic {n}",
                                          "leafUuid": f"leaf-{n}"}) + "\n" for n in range(3)))
    started = tmp_path / f"rollout-2025-09-25T02-12-23-{CODEX_SESSION}.jsonl"
    started.write_text(CODEX_FIXTURE.read_text().splitlines()[0] + "\n")
    assert claude.sniff(titles) and codex.sniff(started)
    registry = Registry()
    report = import_sessions(registry, discover(paths=[titles, started]),
                             project=registry.resolve(repo), force=True)
    assert report.observations == 0 and report.skipped_records["summary:no-timestamp"] == 3
    assert report.skipped_files == [(str(titles), "no events")]
    assert [s["reason"] for s in report.skipped_sessions] == ["no prompts, tool calls or replies"]


def test_timestamps_are_normalized():
    assert parse_ts("2025-09-25T02:12:23.966Z") == "2025-09-25T02:12:23.966Z"
    assert parse_ts("2025-09-25T02:12:23Z") == "2025-09-25T02:12:23.000Z"
    assert parse_ts("2025-09-25T04:12:23.9661234+02:00") == "2025-09-25T02:12:23.966Z"
    assert parse_ts(1758766343966) == "2025-09-25T02:12:23.966Z"
    assert parse_ts("[trimmed for fixture]") is None and parse_ts(None) is None


# -- importing -------------------------------------------------------------------------------


def import_into(home: Path, repo: Path, files: list[Path]):
    registry = Registry(home)
    project = registry.resolve(repo)
    sources = discover(paths=files)
    report = import_sessions(registry, sources, project=project, force=True)
    return registry, project, report


def idempotent_import(tmp_path, repo, files):
    """Import into one home once and into another twice: same raw log, same pages."""
    _, once, first = import_into(tmp_path / "home-a", repo, files)
    assert first.observations > 0 and first.duplicates >= 0
    compile_project(once)

    _, twice, report1 = import_into(tmp_path / "home-b", repo, files)
    assert report1.observations == first.observations
    log_after_first = raw_bytes(twice)
    _, _, report2 = import_into(tmp_path / "home-b", repo, files)
    assert report2.observations == 0 and report2.sessions_updated == 0
    assert report2.duplicates == first.observations + first.duplicates
    assert raw_bytes(twice) == log_after_first
    compile_project(twice)
    assert pages(twice) == pages(once)
    # One page per session (sessions whose date and first 8 id characters agree share one).
    stems = {f"sessions/{r.stem}.md" for r in load_catalog(once)}
    assert {p for p in pages(once) if p.startswith("sessions/")} == stems
    assert len(load_catalog(once)) == first.sessions_updated

    # Importing again after a compile changes nothing either: no new commit.
    _, _, report3 = import_into(tmp_path / "home-a", repo, files)
    assert report3.observations == 0
    assert compile_project(once).commit is None
    return once


def test_importing_twice_gives_the_same_raw_log_and_pages(tmp_path, repo):
    files = sorted(p for p in TRANSCRIPTS.iterdir() if not p.name.startswith("hooks_"))
    project = idempotent_import(tmp_path, repo, files)
    lines = raw_lines(project)
    assert {line["agent"] for line in lines} == {"claude-code", "codex", "gemini"}
    assert all(line["data"]["imported_from"] for line in lines)
    assert all(line["key"].startswith("u-") for line in lines)


@needs_shared
def test_importing_recorded_transcripts_twice_gives_the_same_raw_log_and_pages(tmp_path, repo):
    files = [p for group in shared_files().values() for p in group]
    project = idempotent_import(tmp_path, repo, files)
    by_agent = Counter(line["agent"] for line in raw_lines(project))
    assert by_agent["claude-code"] > 1000 and by_agent["codex"] > 500 and by_agent["gemini"] > 30


def test_secrets_in_a_transcript_are_redacted(tmp_path, repo):
    anthropic = "sk-ant-api03-" + "Zq9" * 30 + "AA"
    github = "ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8"
    aws = "AKIA" + "QWERTYUIOPASDFGH"
    password = "hunter2" + "Pa55word"
    records = [json.loads(line) for line in CLAUDE_FIXTURE.read_text().splitlines()]
    records[0]["message"]["content"] = f"Deploy with {anthropic} and push with {github}"
    for r in records:
        for block in (r.get("message") or {}).get("content") or []:
            if isinstance(block, dict) and block.get("name") == "Bash":
                block["input"]["command"] = f"AWS_ACCESS_KEY_ID={aws} aws s3 ls"
            if isinstance(block, dict) and block.get("type") == "tool_result":
                block["content"] = f"connecting to https://admin:{password}@db.example.com"
        if isinstance(r.get("toolUseResult"), dict) and "stdout" in r["toolUseResult"]:
            r["toolUseResult"]["stdout"] = f"https://admin:{password}@db.example.com"
    path = tmp_path / "secret.jsonl"
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    path.write_text(text.replace(CLAUDE_CWD, str(repo)))
    registry = Registry()
    project = registry.resolve(repo)
    report = import_sessions(registry, discover(paths=[path]), project=project)
    assert report.observations > 0
    compile_project(project)
    stored = "".join(p.read_text() for p in project.raw_dir.glob("*.jsonl"))
    written = "".join(p.decode() for p in pages(project).values())
    for secret in (anthropic, github, aws, password):
        assert secret not in stored and secret not in written
    assert "[REDACTED:" in stored


def test_only_the_current_projects_sessions_by_default(tmp_path, repo):
    other = tmp_path / "elsewhere"
    other.mkdir()
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    sub = repo / "packages" / "app"
    sub.mkdir(parents=True)
    files = [
        relocated(CLAUDE_FIXTURE, tmp_path / "t" / "mine.jsonl", CLAUDE_CWD, repo),
        relocated(CODEX_FIXTURE, tmp_path / "t" / "rollout-01997ea4-a70d-7da3-8c20-c736db82a7c5"
                  ".jsonl", CODEX_CWD, other),
        relocated(TRANSCRIPTS / "codex_0.146.0_rollout.jsonl", tmp_path / "t" / "sub.jsonl",
                  "/tmp/repo", sub),
        TRANSCRIPTS / "claude_2.1.72_windows.jsonl",
        TRANSCRIPTS / "gemini_session_v040.jsonl",
    ]
    registry = Registry()
    project = registry.resolve(repo)
    report = import_sessions(registry, discover(paths=files), project=project)
    sessions = {line["session"] for line in raw_lines(project)}
    assert sessions == {CLAUDE_SESSION, "019fc8be-3658-7ca3-9e29-000000000000"}
    reasons = {s["session"]: s["reason"] for s in report.skipped_sessions}
    assert reasons[CODEX_SESSION] == OTHER_PROJECT
    assert "not a path on this system" in reasons["cfef384f-4359-49de-94d5-31dfae6a0925"]
    assert reasons["gemini_stage0_jsonl"] == "no working directory recorded"
    assert [p.name for p in registry.projects()] == ["myproject"]

    everything = import_sessions(registry, discover(paths=files), all_projects=True)
    assert everything.observations > 0 and everything.duplicates == report.observations
    names = {p.name for p in registry.projects()}
    assert names == {"myproject", "elsewhere"}
    theirs = registry.resolve(other, create=False)
    assert {line["session"] for line in raw_lines(theirs)} == {CODEX_SESSION}
    assert everything.affected == [theirs]


def test_a_gemini_chat_is_matched_to_a_project_by_its_hash(tmp_path, repo):
    chat = json.loads(GEMINI_FIXTURE.read_text())
    chat["projectHash"] = gemini.project_hash(str(repo))
    for message in chat["messages"]:
        for call in message.get("toolCalls") or []:
            call["args"] = {"file_path": "relative.txt"}  # nothing to recover the root from
    path = tmp_path / "session-x.json"
    path.write_text(json.dumps(chat))
    assert events(gemini, path)[0][0].event.cwd == ""
    registry = Registry()
    project = registry.resolve(repo)
    report = import_sessions(registry, discover(paths=[path]), project=project)
    assert report.sessions == 1
    assert {line["cwd"] for line in raw_lines(project)} == {str(repo)}


def test_sessions_captured_live_are_skipped_unless_asked(tmp_path, repo):
    payload = fixture_payload("user_prompt_submit", session_id=CLAUDE_SESSION, cwd=str(repo))
    capture("claude-code", claude_code.normalize(payload), payload)
    path = relocated(CLAUDE_FIXTURE, tmp_path / "s.jsonl", CLAUDE_CWD, repo)
    registry = Registry()
    project = registry.resolve(repo)
    report = import_sessions(registry, discover(paths=[path]), project=project)
    assert report.observations == 0
    assert [s["reason"] for s in report.skipped_sessions] == [CAPTURED]
    assert len(raw_lines(project)) == 1

    both = import_sessions(registry, discover(paths=[path]), project=project,
                           include_captured=True)
    assert both.observations > 0 and len(raw_lines(project)) == 1 + both.observations


def test_hook_logs_import_idempotently(tmp_path, repo):
    path = relocated(TRANSCRIPTS / "hooks_claude_2.1.x.jsonl", tmp_path / "hooks.jsonl",
                     "<CWD>", repo)
    registry = Registry()
    project = registry.resolve(repo)
    sources = discover("hooks", [path])
    first = import_sessions(registry, sources, project=project)
    assert first.observations == 10 and first.events == Counter({"claude-code": 10})
    again = import_sessions(registry, sources, project=project)
    assert again.observations == 0 and again.duplicates == 10


def test_discover_recognises_formats_and_reports_the_rest(tmp_path):
    (tmp_path / "notes.json").write_text('{"hello": "world"}')
    (tmp_path / "empty.jsonl").write_text("")
    for f in TRANSCRIPTS.iterdir():
        shutil.copy(f, tmp_path / f.name)
    found = {p.name: imp for imp, p in discover(paths=[tmp_path])}
    assert found["notes.json"] is None and found["empty.jsonl"] is None
    assert found[CLAUDE_FIXTURE.name] is claude and found[CODEX_FIXTURE.name] is codex
    assert found[GEMINI_FIXTURE.name] is gemini and found["hooks_claude_2.1.x.jsonl"] is hooklog
    only = {p.name: imp for imp, p in discover("codex", [tmp_path])}
    assert only[CODEX_FIXTURE.name] is codex and only[CLAUDE_FIXTURE.name] is None
    report = import_sessions(Registry(), [(None, tmp_path / "notes.json")], all_projects=True)
    assert report.skipped_files == [(str(tmp_path / "notes.json"),
                                     "not a recognised transcript or hook log")]


# -- the command -----------------------------------------------------------------------------


@pytest.fixture
def fake_home(tmp_path, repo, monkeypatch) -> Path:
    """A HOME with one Claude Code transcript and one Codex rollout made in `repo`."""
    home = tmp_path / "userhome"
    slug = "-" + str(repo).strip("/").replace("/", "-")
    relocated(CLAUDE_FIXTURE, home / ".claude" / "projects" / slug / f"{CLAUDE_SESSION}.jsonl",
              CLAUDE_CWD, repo)
    relocated(CODEX_FIXTURE, home / ".codex" / "sessions" / "2025" / "09" / "25"
              / f"rollout-2025-09-24T20-12-23-{CODEX_SESSION}.jsonl", CODEX_CWD, repo)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(repo)
    return home


def test_default_paths_honour_home(fake_home):
    assert [p.name for p in claude.default_paths()] == [f"{CLAUDE_SESSION}.jsonl"]
    assert len(codex.default_paths()) == 1 and gemini.default_paths() == []
    assert hooklog.default_paths() == []


def test_cli_import_from_default_locations(fake_home, repo):
    runner = CliRunner()
    result = runner.invoke(cli, ["import"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 session(s) (2 new or grown) from 2 file(s)" in result.stdout
    assert "[2/2] files: 2 sessions" in result.stderr
    assert "Compiled myproject: 2 session(s)" in result.stdout
    project = Registry().resolve(repo, create=False)
    session_pages = sorted(p.name for p in (project.wiki_dir / "sessions").glob("*.md"))
    assert session_pages == ["2025-09-25-db82a7c5-c7177743.md",
                             "2025-10-21-b250d766-9799a57d.md"]

    again = runner.invoke(cli, ["import", "--json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["observations"] == 0 and data["sessions"] == 2 and data["compiled"] == []


def test_cli_agent_filter_and_no_compile(fake_home, repo):
    result = CliRunner().invoke(cli, ["import", "--agent", "codex", "--no-compile", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["events"] == {"codex": 37} and data["sessions"] == 1
    project = Registry().resolve(repo, create=False)
    assert not (project.wiki_dir / "sessions").exists()


def test_cli_other_projects_need_all_projects(fake_home, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli, ["import"])
    assert result.exit_code == 0, result.output
    assert "Imported 0 session(s)" in result.stdout
    assert "2 belongs to another project" in result.stdout
    result = CliRunner().invoke(cli, ["import", "--all-projects"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 session(s)" in result.stdout and "Compiled myproject" in result.stdout


def test_cli_explicit_paths_and_errors(fake_home, repo, tmp_path):
    runner = CliRunner()
    missing = tmp_path / "nope.jsonl"
    result = runner.invoke(cli, ["import", str(missing)])
    assert result.exit_code == 1
    assert f"Error: Cannot read {missing}: no such file or directory." in result.output
    path = relocated(GEMINI_FIXTURE, tmp_path / "chats" / "session-1.json",
                     "/private/tmp/gemini-test", repo)
    chat = json.loads(path.read_text())
    chat["projectHash"] = gemini.project_hash(str(repo))  # as if Gemini had run in repo
    path.write_text(json.dumps(chat))
    result = runner.invoke(cli, ["import", str(path.parent), "--no-compile"])
    assert result.exit_code == 0, result.output
    assert "Imported 1 session(s)" in result.stdout and "gemini 9" in result.stdout
    result = runner.invoke(cli, ["import", "--agent", "hooks"])
    assert result.exit_code == 2 and "name the hook log files" in result.output
    empty = tmp_path / "empty-home"
    empty.mkdir()
    result = runner.invoke(cli, ["import", "--agent", "gemini"], env={"HOME": str(empty)})
    assert result.exit_code == 0 and "No past sessions found in ~/.gemini/tmp/*/chats" in (
        result.stdout)
