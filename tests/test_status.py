"""`wikimem status`: the project at a glance, read only, with documented --json keys."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import fixture_payload, run_hook

from wikimem.cli import cli
from wikimem.compile import status as status_module
from wikimem.compile.build import compile_project
from wikimem.project import Registry

README = Path(__file__).parent.parent / "README.md"
KEYS = {"project", "sessions", "pages", "pending", "last_compile", "index", "agents", "tasks",
        "memory", "llm", "sync"}


def wikimem(*args: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return done


def snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_status_json_on_the_demo_wiki_has_the_documented_keys(tmp_path):
    demo = tmp_path / "demo"
    wikimem("demo", "--home", str(demo), cwd=tmp_path)
    env = {"WIKIMEM_HOME": str(demo / "home")}
    repo = demo / "serverless-plugins"
    before = snapshot(demo / "home")
    found = json.loads(wikimem("status", "--json", cwd=repo, env=env).stdout)
    assert snapshot(demo / "home") == before  # it reads only
    assert set(found) == KEYS
    assert found["project"]["name"] == "serverless-plugins"
    assert found["sessions"]["total"] == 2 and found["sessions"]["by_agent"] == {
        "claude-code": 2}
    assert found["pages"]["by_kind"]["session"] == 2
    # The demo's last event (a new session's start, which gets the context) is not compiled.
    assert found["pending"]["logs"] == 1 and found["pending"]["observations"] == 1
    assert found["pending"]["interrupted"] is False
    assert found["last_compile"]["error"] is None and found["last_compile"]["seconds"] > 0
    assert found["index"]["exists"] and found["index"]["fresh"]
    assert set(found["agents"]) == {"claude-code", "codex", "gemini", "cursor"}
    assert found["llm"]["enabled"] is False and found["sync"] is None
    # Every key is documented in the README's status section, and nothing else is.
    section = README.read_text(encoding="utf-8").split("### wikimem status", 1)[1]
    section = section.split("\n#", 1)[0]
    assert set(re.findall(r"^- `(\w+)`", section, re.M)) == KEYS


def test_status_says_what_waits_what_is_installed_and_who_holds_what(repo, tmp_path):
    for name in ("user_prompt_submit", "post_tool_use_bash", "stop"):
        run_hook(fixture_payload(name, cwd=str(repo), session_id="st-1"), repo)
    project = Registry().resolve(repo)
    compile_project(project)
    run_hook(fixture_payload("user_prompt_submit", cwd=str(repo), session_id="st-2"), repo)
    wikimem("task", "add", "Ship the exporter", cwd=repo)
    wikimem("task", "claim", "T1", "--agent", "codex", cwd=repo)
    wikimem("task", "heartbeat", "--agent", "codex", "--note", "half done", cwd=repo)
    run_hook(fixture_payload("user_prompt_submit", cwd=str(repo), session_id="st-3"), repo)
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home)}
    wikimem("install-hooks", "--agent", "claude-code", "--scope", "project", "--apply",
            cwd=repo, env=env)
    wikimem("install-instructions", "--agent", "codex", "--apply", cwd=repo, env=env)
    state = project.state_dir
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    (Path(state) / "llm-usage.json").write_text(json.dumps({today: {"calls": 4,
                                                                    "tokens": 5000}}))

    found = json.loads(wikimem("status", "--json", cwd=repo,
                               env={**env, "WIKIMEM_LLM": "1"}).stdout)
    assert found["pending"]["logs"] == 1 and found["pending"]["observations"] == 1
    assert found["agents"]["claude-code"]["hooks"] == ["project"]
    assert found["agents"]["codex"] == {"hooks": [], "mcp": [], "instructions": ["project"]}
    [claim] = found["tasks"]["claims"]
    assert (claim["id"], claim["holder"], claim["checkpoint"]) == ("T1", "codex", "half done")
    assert found["llm"]["enabled"] is True and found["llm"]["today"] == {"calls": 4,
                                                                         "tokens": 5000}
    assert found["llm"]["caps"]["calls_per_day"] == 100

    text = wikimem("status", cwd=repo, env={**env, "WIKIMEM_LLM": "1"}).stdout
    assert "Waiting for compile: 1 observation(s) in 1 log(s) (`wikimem compile`)\n" in text
    assert "  claude-code: hooks (project)\n" in text
    assert "  codex: instructions (project)\n" in text
    assert "  T1 held by codex since " in text and "(last checkpoint: half done)" in text
    assert "LLM: on (claude-haiku-4-5); today 4/100 calls, 5,000/300,000 tokens" in text

    listed = wikimem("status", "--all", cwd=tmp_path).stdout
    assert re.match(r"default/myproject\t2 sessions\t\d+ pages\t1 waiting\tlast compile \d{4}",
                    listed)


def test_a_failed_compile_is_the_last_compile(repo, monkeypatch):
    run_hook(fixture_payload("user_prompt_submit", cwd=str(repo), session_id="f-1"), repo)
    project = Registry().resolve(repo)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    from wikimem.compile import build

    monkeypatch.setattr(build, "_render", broken)
    with pytest.raises(OSError):
        compile_project(project)
    found = status_module.project_status(project)
    assert found["last_compile"]["error"] == "OSError: [Errno 28] No space left on device"
    result = CliRunner().invoke(cli, ["--project", project.project_id, "status"])
    assert "Last compile: " in result.output
    assert "failed after " in result.output and "No space left on device" in result.output


def test_status_reports_the_sync_remote_and_the_last_sync(repo, tmp_path):
    wikimem("init", cwd=repo)
    assert json.loads(wikimem("status", "--json", cwd=repo).stdout)["sync"] is None
    remote = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    wikimem("remote", "set", str(remote), "--machine", "lap", cwd=repo)
    found = json.loads(wikimem("status", "--json", cwd=repo).stdout)["sync"]
    assert (found["url"], found["machine"], found["last_ok"], found["error"]) == \
        (str(remote), "lap", None, None)
    wikimem("sync", cwd=repo)
    found = json.loads(wikimem("status", "--json", cwd=repo).stdout)["sync"]
    assert found["last_ok"] and found["error"] is None and found["failures"] == 0
    text = wikimem("status", cwd=repo).stdout
    assert f"Sync: {remote} (refs/wikimem/memory) as 'lap'; last sync 20" in text
