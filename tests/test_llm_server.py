"""LLM consolidation against a local fake Messages API server, through the real `anthropic` SDK
(ANTHROPIC_BASE_URL): whatever the API or the model does, the rule-based pages are written,
committed and indexed, the reason is where the user looks, every request is counted, and the
session is tried again later."""

import json
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from conftest import fixture_payload, run_hook
from fake_messages_api import FakeMessagesAPI, Reply, error, message, session_of

from wikimem.cli import cli
from wikimem.project import Registry

pytest.importorskip("anthropic")

PROMPT = "I want you to help me QA our Attio MCP tools please"


def grounded(request: dict) -> Reply:
    """A faithful answer: each statement quotes the session it was sent."""
    session = session_of(request)
    said = session["prompts"][0]
    return message(json.dumps({
        "summary": [{"text": "The session asked for QA of the Attio MCP tools.",
                     "quote": said[10:45]}],
        "topics": [{"title": "Attio MCP QA",
                    "points": [{"text": "The Attio MCP tools get QA passes.",
                                "quote": said[-30:]}]}]}))


def answer_text(text: str) -> Callable:
    return lambda request: message(text)


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api(monkeypatch, wikimem_home):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-fake")
    wikimem_home.mkdir(parents=True, exist_ok=True)
    (wikimem_home / "config.toml").write_text("[llm]\ntimeout = 1.0\ntime_budget = 20.0\n")
    with FakeMessagesAPI(grounded) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def wm(repo, *args):
    result = CliRunner().invoke(cli, ["--project", str(repo), *args], catch_exceptions=False)
    return result


def record(repo, sid, prompt=PROMPT):
    for name, extra in (("user_prompt_submit", {"prompt": prompt}), ("stop", {})):
        run_hook(fixture_payload(name, cwd=str(repo), session_id=sid, **extra), repo)


def llm_errors(project) -> list[dict]:
    if not project.error_log.exists():
        return []
    lines = [json.loads(x) for x in project.error_log.read_text().splitlines()]
    return [x for x in lines if x.get("stage") == "llm"]


def calls_counted(project) -> int:
    path = project.state_dir / "llm-usage.json"
    if not path.exists():
        return 0
    return sum(day["calls"] for day in json.loads(path.read_text()).values())


def committed(project) -> set[str]:
    out = subprocess.run(["git", "-C", str(project.wiki_dir), "ls-files"], capture_output=True,
                         text=True, check=True).stdout
    return set(out.split())


def indexed(repo, word: str) -> list[str]:
    r = wm(repo, "search", word, "--json")
    assert r.exit_code == 0, r.output
    return [hit["path"] for hit in json.loads(r.stdout)]


def doctor(repo, monkeypatch) -> str:
    monkeypatch.chdir(repo)
    return CliRunner().invoke(cli, ["doctor"]).stdout


FAILURES = {
    "500": (lambda r: error(500), "server-error"),
    "429 retry-after": (lambda r: error(429, {"retry-after": "1"}), "rate-limit"),
    "slow": (lambda r: Reply(**{**message("{}").__dict__, "delay": 3.0}), "timeout"),
    "refused": (None, "offline"),
    "truncated JSON": (lambda r: Reply(body=b'{"id": "msg_1", "type": "message", "content": '
                                            b'[{"type": "te'), "bad-reply"),
    "HTML": (lambda r: Reply(body=b"<html><body>Bad gateway</body></html>",
                             content_type="text/html"), "bad-reply"),
    "wrong schema": (lambda r: Reply(body=b'{"result": "ok", "content": 3}'), "bad-reply"),
    "answer in the wrong schema": (answer_text(json.dumps({"answer": "done"})),
                                   "invalid-output"),
    "invented path": (answer_text(json.dumps({"summary": [
        {"text": "Changed src/billing/invoice.py.", "quote": "help me QA our Attio"}]})),
        "unfaithful"),
    "unquoted claim": (answer_text(json.dumps({"summary": [
        {"text": "The team agreed to move from MySQL to PostgreSQL."}]})), "unfaithful"),
    "misquoted claim": (answer_text(json.dumps({"summary": [
        {"text": "The team agreed to move from MySQL to PostgreSQL.",
         "quote": "we agreed to move to PostgreSQL"}]})), "unfaithful"),
}


@pytest.mark.parametrize("mode", list(FAILURES))
def test_compile_survives_every_failure_and_retries_later(repo, api, monkeypatch, mode):
    script, kind = FAILURES[mode]
    if script is None:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{dead_port()}")
    else:
        api.script = script
    project = Registry().resolve(repo, create=True)
    record(repo, "s-1")
    r = wm(repo, "compile", "--llm")
    assert r.exit_code == 0, r.output
    page = next(project.wiki_dir.glob("sessions/*-s-1.md")).relative_to(project.wiki_dir)
    assert str(page) in committed(project) and "index.md" in committed(project)
    assert str(page) in indexed(repo, "Attio")
    assert [e["kind"] for e in llm_errors(project)] == [kind]
    assert "LLM skipped s-1: " in r.stdout
    assert calls_counted(project) == api.count == (0 if mode == "refused" else 1)
    assert kind in doctor(repo, monkeypatch)

    # Later, the API works: the session owed consolidation is tried again, with nothing new.
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    api.script = grounded
    if mode == "429 retry-after":
        time.sleep(1.1)
    before = api.count
    r = wm(repo, "compile", "--llm")
    assert r.exit_code == 0, r.output
    assert api.count == before + 1 and calls_counted(project) == api.count
    assert "LLM: 1 session(s) consolidated" in r.stdout
    assert (project.wiki_dir / "topics/attio-mcp-qa.md").exists()
    assert "topics/attio-mcp-qa.md" in committed(project)
    assert "The session asked for QA" in (project.wiki_dir / page).read_text()
    # Nothing is owed any more: no further request.
    wm(repo, "compile", "--llm")
    assert api.count == before + 1
    assert "owed LLM consolidation" not in doctor(repo, monkeypatch)


BOOTSTRAP_FAILURES = ["500", "429 retry-after", "slow", "refused", "truncated JSON", "HTML",
                      "wrong schema", "answer in the wrong schema"]


def overview_answer(request: dict) -> Reply:
    return message(json.dumps({"summary": "tool converts CSV files to JSON; see README.md."}))


@pytest.fixture
def tool(tmp_path):
    repo = tmp_path / "tool"
    repo.mkdir()
    (repo / "README.md").write_text("# tool\n\nA tool that converts CSV files to JSON.\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "feat: first version"], cwd=repo, check=True)
    return repo


@pytest.mark.parametrize("mode", [*BOOTSTRAP_FAILURES, "invented overview path"])
def test_bootstrap_survives_every_failure_and_retries_later(tool, api, monkeypatch, mode):
    if mode == "invented overview path":
        script, kind = answer_text(json.dumps({"summary": "It converts files; see "
                                                          "src/convert/main.py first."})), \
            "unfaithful"
    else:
        script, kind = FAILURES[mode]
    if script is None:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{dead_port()}")
    else:
        api.script = script
    r = CliRunner().invoke(cli, ["bootstrap", str(tool), "--llm"])
    assert r.exit_code == 0, r.output
    project = Registry().resolve(tool)
    assert "project/overview.md" in committed(project)
    assert "project/overview.md" in indexed(tool, "CSV")
    assert [e["kind"] for e in llm_errors(project)] == [kind]
    assert "LLM overview skipped" in r.stderr
    assert calls_counted(project) == api.count == (0 if mode == "refused" else 1)
    assert kind in doctor(tool, monkeypatch)

    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    api.script = overview_answer
    if mode == "429 retry-after":
        time.sleep(1.1)
    r = CliRunner().invoke(cli, ["bootstrap", str(tool), "--llm"])
    assert r.exit_code == 0, r.output
    assert "## In brief" in (project.wiki_dir / "project/overview.md").read_text()
    assert "overview written by claude-haiku-4-5" in r.stdout
    assert calls_counted(project) == api.count


def test_a_sleeping_api_keeps_compile_within_its_time_budget(repo, api, wikimem_home):
    (wikimem_home / "config.toml").write_text("[llm]\ntimeout = 30.0\ntime_budget = 2.0\n")
    api.script = lambda r: Reply(**{**grounded(r).__dict__, "delay": 20.0})
    for sid in ("s-1", "s-2", "s-3"):
        record(repo, sid, f"{PROMPT} ({sid})")
    started = time.monotonic()
    r = wm(repo, "compile", "--llm")
    took = time.monotonic() - started
    assert r.exit_code == 0, r.output
    assert took < 12, took
    # One request timed out; the round stopped there: no other session was sent.
    assert api.count == 1
    project = Registry().resolve(repo)
    assert len(list(project.wiki_dir.glob("sessions/*.md"))) == 3
    assert "timeout" in r.stderr


def test_a_rate_limit_pauses_until_retry_after(repo, api, monkeypatch):
    api.script = lambda r: error(429, {"retry-after": "30"})
    for sid in ("s-1", "s-2"):
        record(repo, sid, f"{PROMPT} ({sid})")
    r = wm(repo, "compile", "--llm")
    assert r.exit_code == 0 and api.count == 1
    record(repo, "s-3", f"{PROMPT} (s-3)")
    r = wm(repo, "compile", "--llm")
    assert r.exit_code == 0, r.output
    assert api.count == 1 and "rate limited until" in r.stdout
    project = Registry().resolve(repo)
    assert len(list(project.wiki_dir.glob("sessions/*.md"))) == 3
    assert "3 session(s) owed LLM consolidation" in doctor(repo, monkeypatch)


def test_hook_started_compile_reports_llm_failures(repo, api, monkeypatch, wikimem_home):
    (wikimem_home / "config.toml").write_text("[llm]\nenabled = true\ntimeout = 1.0\n")
    api.script = lambda r: Reply(body=b"<html>oops</html>", content_type="text/html")
    record(repo, "s-1")
    project = Registry().resolve(repo)
    # What the hook starts: `wikimem --project ID compile --quiet --no-wait`.
    r = CliRunner().invoke(cli, ["--project", project.project_id, "compile", "--quiet",
                                 "--no-wait"])
    assert r.exit_code == 0, r.output
    assert list(project.wiki_dir.glob("sessions/*-s-1.md"))
    assert [e["kind"] for e in llm_errors(project)] == ["bad-reply"]
    assert "1 session(s) owed LLM consolidation" in doctor(repo, monkeypatch)


def test_bootstrap_llm_dry_run_shows_the_overview_request_and_sends_nothing(tool, api):
    r = CliRunner().invoke(cli, ["bootstrap", str(tool), "--llm", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "=== bootstrap overview: ~" in r.stdout and "model claude-haiku-4-5" in r.stdout
    assert "A tool that converts CSV files to JSON." in r.stdout
    assert "1 call; nothing was sent." in r.stdout
    r = CliRunner().invoke(cli, ["bootstrap", str(tool), "--llm", "--dry-run", "--json"])
    (request,) = json.loads(r.stdout)["llm_requests"]
    assert "converts CSV files to JSON" in request["prompt"]
    assert api.count == 0
    # Without --llm, no request is shown.
    r = CliRunner().invoke(cli, ["bootstrap", str(tool), "--dry-run", "--json"])
    assert json.loads(r.stdout)["llm_requests"] == []


def test_dry_run_lists_what_the_next_compile_would_send(repo, api):
    """The sessions owed consolidation, and those with something new: not the sessions
    compiled before the LLM was on (a compile would not send those either)."""
    record(repo, "s-0", f"{PROMPT} (s-0)")
    assert wm(repo, "compile").exit_code == 0
    api.script = lambda r: error(500)
    record(repo, "s-1")
    assert wm(repo, "compile", "--llm").exit_code == 0

    def planned():
        r = wm(repo, "compile", "--llm", "--dry-run", "--json")
        assert r.exit_code == 0, r.output
        return [x["session"] for x in json.loads(r.stdout)]

    assert planned() == ["s-1"]
    api.script = grounded
    assert wm(repo, "compile", "--llm").exit_code == 0
    assert planned() == [] and api.count == 2


def test_a_hook_started_compile_that_crashes_says_so_in_the_error_log(repo, monkeypatch):
    """Whatever else breaks a compile nobody watches, errors.log (and so doctor) says it."""
    from wikimem.compile import build

    def broken(*args, **kwargs):
        raise RuntimeError("a bug somewhere")

    record(repo, "s-1")
    monkeypatch.setattr(build, "compile_project", broken)
    project = Registry().resolve(repo)
    r = CliRunner().invoke(cli, ["--project", project.project_id, "compile", "--quiet",
                                 "--no-wait"])
    assert r.exit_code != 0
    (line,) = [json.loads(x) for x in project.error_log.read_text().splitlines()]
    assert line["stage"] == "compile" and "RuntimeError: a bug somewhere" in line["error"]
    assert "a bug somewhere" in doctor(repo, monkeypatch)
