"""User redaction patterns and allow-list, ignore_paths (capture.privacy), through the real hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import run_hook

from wikimem.agents.backfill import discover, import_sessions
from wikimem.capture import privacy, redact
from wikimem.capture.event import Event
from wikimem.cli import cli
from wikimem.errors import WikimemError
from wikimem.project import Registry

ACME = "ACME-" + "20261121"
CORP = "corp_" + "a1b2c3d4e5f6g7h8i9j0k1l2"
EXAMPLE_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key id
OTHER_KEY = "AKIA" + "Z7Q2Z7Q2Z7Q2Z7Q2"


@pytest.fixture(autouse=True)
def _reset_redaction():
    yield
    redact.configure((), ())
    privacy._cache.clear()


def home_config(text: str) -> Path:
    home = Path(os.environ["WIKIMEM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)
    return home / "config.toml"


def prompt(repo, text: str, session: str = "p-1") -> dict:
    return {"session_id": session, "cwd": str(repo), "hook_event_name": "UserPromptSubmit",
            "prompt": text}


def raw_text(repo) -> str:
    project = Registry().resolve(repo)
    return "".join(p.read_text() for p in sorted(project.raw_dir.glob("*.jsonl")))


def test_user_patterns_and_allow_list_in_the_hook(repo):
    home_config('[redact]\npatterns = ["ACME-[0-9]{8}"]\nallow = ["' + EXAMPLE_KEY + '"]\n')
    (repo / ".wikimem.toml").write_text(
        "[redact]\npatterns = ['corp_(?P<secret>[a-z0-9]{24})']\n")
    text = f"ticket {ACME}, token {CORP}, docs key {EXAMPLE_KEY}, real key {OTHER_KEY}"
    assert run_hook(prompt(repo, text), repo).returncode == 0
    raw = raw_text(repo)
    assert ACME not in raw and CORP not in raw and OTHER_KEY not in raw
    assert "ticket [REDACTED:custom]" in raw and "token corp_[REDACTED:custom]" in raw
    assert f"docs key {EXAMPLE_KEY}" in raw  # allowed: left as it is
    assert "[REDACTED:aws-access-key]" in raw


def test_a_bad_pattern_never_fails_the_hook_and_is_reported(repo, monkeypatch):
    home_config('[redact]\npatterns = ["ACME-[0-9", "ACME-[0-9]{8}"]\n')
    for n in range(2):
        assert run_hook(prompt(repo, f"ticket {ACME} #{n}", f"bad-{n}"), repo).returncode == 0
    raw = raw_text(repo)
    assert raw.count("[REDACTED:custom]") == 2 and ACME not in raw  # the good pattern works
    project = Registry().resolve(repo)
    errors = [json.loads(line) for line in project.error_log.read_text().splitlines()]
    assert len(errors) == 1  # reported once, not on every event
    assert "patterns[0]" in errors[0]["error"] and "not a valid regular expression" in \
        errors[0]["error"]

    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "privacy" in line)
    assert line.startswith("FAIL") and "patterns[0]" in line
    result = CliRunner().invoke(cli, ["search", "ticket"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: [redact] patterns[0] in ")
    assert "not a valid regular expression" in result.output and "Traceback" not in result.output
    # The compile a hook starts (--quiet) goes on without the faulty pattern.
    result = CliRunner().invoke(cli, ["compile", "--quiet"])
    assert result.exit_code == 0, result.output
    assert next(project.wiki_dir.glob("sessions/*.md"))
    assert len(project.error_log.read_text().splitlines()) == 1


def test_config_changes_are_picked_up_without_restarting(repo, tmp_path):
    project = Registry().resolve(repo)
    assert privacy.apply(project) is privacy.EMPTY
    path = home_config('[redact]\npatterns = ["ACME-[0-9]{8}"]\n')
    assert len(privacy.apply(project).patterns) == 1
    assert redact.redact_text(ACME) == "[REDACTED:custom]"
    path.write_text('[redact]\nallow = ["x"]\n# longer, so the size changes\n')
    assert privacy.apply(project).patterns == ()
    assert redact.redact_text(ACME) == ACME


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        (".env", [".env", "app/.env", ".env/x"], [".env.local", "env", "x.env"]),
        (".env.*", [".env.local", "a/.env.prod"], [".env"]),
        ("secrets/**", ["secrets/a", "secrets/a/b.yaml"], ["app/secrets/a", "secrets"]),
        ("secrets/", ["secrets/a", "app/secrets/a"], ["secretsx/a"]),
        ("*.pem", ["key.pem", "a/b/key.pem"], ["key.pem.txt", "pem"]),
        ("config/prod.yaml", ["config/prod.yaml"], ["x/config/prod.yaml", "config/prod.yml"]),
        ("**/credentials", ["credentials", "a/b/credentials"], ["credentials.txt"]),
        ("id_[rd]sa*", ["id_rsa", "x/id_dsa.pub"], ["id_ed25519"]),
    ],
)
def test_ignore_globs(glob, matches, misses):
    regex = privacy.glob_regex(glob)
    assert all(regex.fullmatch(p) for p in matches), glob
    assert not any(regex.fullmatch(p) for p in misses), glob


def tool(repo, name: str, tool_input: dict, response=None, *, use_id: str) -> list[dict]:
    base = {"session_id": "ign-1", "cwd": str(repo), "tool_name": name, "tool_use_id": use_id,
            "tool_input": tool_input}
    post = {**base, "hook_event_name": "PostToolUse",
            "tool_response": response if response is not None else {"stdout": "", "stderr": ""}}
    return [{**base, "hook_event_name": "PreToolUse"}, post]


DOTENV = "DB_PASSWORD=" + "plain-words-hunter"  # not even a secret by the built-in rules


def test_ignore_paths_drop_events_in_the_real_hook(repo):
    (repo / ".wikimem.toml").write_text('ignore_paths = [".env", "secrets/**"]\n')
    (repo / "src").mkdir()
    dropped = [
        *tool(repo, "Read", {"file_path": str(repo / ".env")},
              {"type": "text", "file": {"content": DOTENV}}, use_id="r1"),
        *tool(repo, "Edit", {"file_path": "secrets/prod/db.yaml", "old_string": "a",
                             "new_string": DOTENV}, use_id="e1"),
        *tool(repo, "Bash", {"command": "cat .env | grep DB"}, {"stdout": DOTENV}, use_id="b1"),
        *tool(repo, "Bash", {"command": "docker run --env-file=src/.env app"}, use_id="b2"),
    ]
    kept = [
        prompt(repo, "fix the login bug", "ign-1"),
        *tool(repo, "Read", {"file_path": str(repo / "src" / "app.py")}, use_id="r2"),
        *tool(repo, "Bash", {"command": "cat .envrc.example"}, {"stdout": "ok"}, use_id="b3"),
    ]
    for payload in dropped + kept:
        assert run_hook(payload, repo, env={"WIKIMEM_AUTO_COMPILE": "0"}).returncode == 0
    project = Registry().resolve(repo)
    raw = raw_text(repo)
    lines = raw.splitlines()
    assert len(lines) == len(kept)
    assert "plain-words-hunter" not in raw and ".env |" not in raw and "secrets/prod" not in raw
    assert "src/app.py" in raw and ".envrc.example" in raw
    ignored = project.state_dir.joinpath("ignored.log").read_text()
    assert len(ignored.splitlines()) == len(dropped) == privacy.ignored_count(project)
    assert "plain-words-hunter" not in ignored and "db.yaml" not in ignored
    records = [json.loads(line) for line in ignored.splitlines()]
    assert {r["pattern"] for r in records} == {".env", "secrets/**"}
    assert not project.error_log.exists()


def test_ignore_paths_apply_to_imports(repo, tmp_path):
    (repo / ".wikimem.toml").write_text('ignore_paths = ["*.pem"]\n')
    session = "1907e700-0000-4000-8000-000000000002"
    records = []
    for n, (command, out) in enumerate([("cat deploy/key.pem", DOTENV), ("ls", "README.md")]):
        common = {"cwd": str(repo), "sessionId": session, "version": "2.0.14",
                  "isSidechain": False, "userType": "external", "parentUuid": None,
                  "timestamp": f"2026-11-20T10:00:0{n}.000Z"}
        records += [
            {**common, "type": "user", "uuid": f"u{n}",
             "message": {"role": "user", "content": f"step {n}"}},
            {**common, "type": "assistant", "uuid": f"a{n}", "message": {
                "role": "assistant", "content": [{"type": "tool_use", "id": f"t{n}",
                                                  "name": "Bash", "input": {"command": command}}]}},
            {**common, "type": "user", "uuid": f"r{n}", "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"t{n}", "content": out}]},
             "toolUseResult": {"stdout": out, "stderr": ""}},
        ]
    path = tmp_path / f"{session}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    project = Registry().resolve(repo)
    report = import_sessions(Registry(), discover(paths=[path]), project=project)
    assert report.ignored == 2 and report.observations > 0
    raw = raw_text(repo)
    assert "key.pem" not in raw and "plain-words-hunter" not in raw and "README.md" in raw


def test_event_paths_come_from_inputs_files_and_commands():
    event = Event("s", "tool_pre", "/r", {
        "tool": "apply_patch", "files": [{"path": "a/b.py", "op": "change"}],
        "input": {"file_path": "/r/c.txt", "paths": ["d.txt"]},
        "command": "source ./secrets/dev.sh && psql --file=q.sql"})
    paths = privacy.event_paths(event)
    assert {"a/b.py", "/r/c.txt", "d.txt", "./secrets/dev.sh", "q.sql"} <= set(paths)
    settings = privacy.Privacy((), frozenset(), (("secrets/**", privacy.glob_regex("secrets/**")),),
                               ())
    assert privacy.ignored_by(settings, event, "/r") == "secrets/**"
    outside = Event("s", "tool_pre", "/elsewhere", {"input": {"file_path": "secrets/x"}})
    assert privacy.ignored_by(settings, outside, "/r") is None  # anchored: only in the repo


def test_hook_with_config_stays_standard_library_only(repo):
    home_config('[redact]\npatterns = ["ACME-[0-9]{8}"]\n')
    (repo / ".wikimem.toml").write_text('ignore_paths = [".env"]\n')
    probe = (
        "import sys, io, json\n"
        "sys.argv = ['wikimem', 'hook', 'claude-code']\n"
        f"sys.stdin = io.TextIOWrapper(io.BytesIO({json.dumps(prompt(repo, ACME)).encode()!r}))\n"
        "from wikimem.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    modules = set(json.loads(out.splitlines()[-1]))
    heavy = {"click", "whoosh", "git", "yaml", "frontmatter", "mistune", "anthropic", "mcp",
             "watchdog", "dataclasses", "inspect"}
    assert not {m.split(".")[0] for m in modules} & heavy
    assert "[REDACTED:custom]" in raw_text(repo)


def test_parsed_settings_are_cached_across_hook_processes(repo):
    home_config('[redact]\npatterns = ["ACME-[0-9]{8}"]\n')
    probe = (
        "import sys, io, json\n"
        "sys.argv = ['wikimem', 'hook', 'claude-code']\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(" + repr(
            json.dumps(prompt(repo, ACME)).encode()) + "))\n"
        "from wikimem.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('tomllib' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True,
                           text=True, check=True).stdout.split()[-1] for _ in range(2)]
    assert runs == ["True", "False"]  # parsed once; the next hook reads the JSON cache
    assert "[REDACTED:custom]" in raw_text(repo) and ACME not in raw_text(repo)


def test_project_marker_is_cached_across_hook_processes(repo):
    """A `.wikimem.toml` (names and ignore_paths) is parsed by the first hook only."""
    (repo / ".wikimem.toml").write_text('[project]\nname = "billing"\n')
    probe = (
        "import sys, io, json\n"
        "sys.argv = ['wikimem', 'hook', 'claude-code']\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(" + repr(
            json.dumps(prompt(repo, "hello")).encode()) + "))\n"
        "from wikimem.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('tomllib' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True,
                           text=True, check=True).stdout.split()[-1] for _ in range(2)]
    assert runs == ["True", "False"]
    assert Registry().resolve(repo).name == "billing"
    # An edit is seen at once (the cache is keyed by the file's inode, size and mtime).
    (repo / ".wikimem.toml").write_text('[project]\nname = "invoices"\n')
    assert Registry().resolve(repo).name == "invoices"
    (repo / ".wikimem.toml").write_text("name = [unclosed")
    with pytest.raises(WikimemError, match="not valid TOML"):
        Registry().resolve(repo)
