"""Issue 13: every credential format, in every carrier of every agent, is stored nowhere.

Each format of tests/fixtures/secrets_corpus.py (186, of every class the red team's held-out
corpus got through: command-line arguments, credential files, shapes that fooled a rule,
encodings, prose, vendor prefixes) is planted in each carrier an agent produces - the prompt,
a shell command, the command's output, a file's content written, the final message - in the
payload shapes of Claude Code, Codex, Gemini CLI and Cursor (tests/fixtures/<agent>/), and
twice more where a cap cuts (a written file and an output long enough to be capped, with the
secret across the cut).  All of them go through the hook's `run()` entry, a sample through
real `python -m wikimem hook <agent>` processes; then the project is compiled (with LLM
consolidation through the client seam) and every store is searched: the raw log, the pages,
every git object reachable or not and `git log -p --all`, the state folder, the index files,
the context block, the LLM requests and what `wikimem compile --llm --dry-run` would send.
"""

from __future__ import annotations

import io
import json
from collections import Counter

from click.testing import CliRunner
from conftest import run_hook
from fixtures.secrets_corpus import CORPUS
from test_secrets import (
    RecordingClient,
    _public_runs,
    every_git_object,
    files_under,
    git,
    index_needles,
    needles,
    reachable_objects,
)

from wikimem import hook
from wikimem.capture.observe import CAPS, DEFAULT_CAP
from wikimem.cli import cli
from wikimem.compile.build import compile_project
from wikimem.compile.llm import LLMSettings
from wikimem.compile.read import build_project_context, ensure_compiled_context
from wikimem.project import Registry

AGENTS = ("claude-code", "codex", "gemini", "cursor")
CARRIERS = ("prompt", "command", "output", "file", "final", "file-at-cap", "output-at-cap")
SESSIONS = 3  # per agent


def _across_the_cut(cap: int, note: str, secret) -> str:
    """The secret's text, after prose that puts its first piece across the point where a
    string of this cap is cut (the head keeps two thirds): half in the head, half cut away."""
    piece = secret.pieces[0]
    at = secret.text.index(piece) + len(piece) // 2
    filler = f"{note} " + "lines that pad the text so the cap cuts right through it\n" * 200
    return filler[:max(len(note) + 1, cap * 2 // 3 - at - 1)] + "\n" + secret.text


def carrier_text(agent: str, carrier: str, secret, note: str) -> str:
    text = secret.text
    if carrier == "prompt":
        return f"{note}: please set this up for me\n{text}\nand then run the tests."
    if carrier == "command":
        if "\n" in text:
            return f"cat > config.txt <<'EOF'\n{text}\nEOF\n# {note}"
        return f"{text}  # {note}"
    if carrier == "output":
        return f"$ cat config.txt   # {note}\n{text}\n"
    if carrier == "file":
        return f"# {note}\n{text}\n"
    if carrier == "final":
        return f"Done ({note}). I configured it with:\n{text}\nTell me if it works."
    if carrier == "file-at-cap":  # (Cursor's Write sends `contents`, capped as any string)
        cap = DEFAULT_CAP if agent == "cursor" else CAPS["content"]
        return _across_the_cut(cap, note, secret) + "\n" + "tail " * 200
    return _across_the_cut(CAPS["output"], note, secret) + "\n" + "tail " * 600  # output


def _patch(text: str) -> str:
    lines = "".join(f"+{line}\n" for line in text.split("\n"))
    return f"*** Begin Patch\n*** Add File: config.txt\n{lines}*** End Patch\n"


def payload(agent: str, carrier: str, text: str, repo, session: str, uid: str) -> dict:
    """The payload `agent` sends for an event carrying `text` in `carrier`."""
    kind = carrier.split("-")[0]
    path = str(repo / "config.txt")
    if agent in ("claude-code", "codex"):
        base = {"session_id": session, "cwd": str(repo), "transcript_path": "/t/x.jsonl"}
        if kind == "prompt":
            return {**base, "hook_event_name": "UserPromptSubmit", "prompt": text}
        if kind == "final":
            return {**base, "hook_event_name": "Stop", "stop_hook_active": False,
                    "last_assistant_message": text}
        if kind == "command":
            return {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash",
                    "tool_input": {"command": text}, "tool_use_id": uid}
        if kind == "output":
            response = ({"stdout": text, "stderr": "", "interrupted": False}
                        if agent == "claude-code" else text)
            return {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash",
                    "tool_input": {"command": "cat config.txt"}, "tool_response": response,
                    "tool_use_id": uid}
        if agent == "claude-code":
            return {**base, "hook_event_name": "PostToolUse", "tool_name": "Write",
                    "tool_input": {"file_path": path, "content": text},
                    "tool_response": {"type": "create", "filePath": path, "content": text},
                    "tool_use_id": uid}
        return {**base, "hook_event_name": "PostToolUse", "tool_name": "apply_patch",
                "tool_input": {"command": _patch(text)},
                "tool_response": "Exit code: 0\nOutput:\nSuccess. Updated the following files:"
                                 "\nA config.txt\n", "tool_use_id": uid}
    if agent == "gemini":
        base = {"session_id": session, "cwd": str(repo), "transcript_path": "/t/g.json",
                "timestamp": "2026-07-25T15:07:10.394Z"}
        if kind == "prompt":
            return {**base, "hook_event_name": "BeforeAgent", "prompt": text}
        if kind == "final":
            return {**base, "hook_event_name": "AfterAgent", "prompt": "configure it",
                    "prompt_response": text, "stop_hook_active": False}
        if kind == "command":
            return {**base, "hook_event_name": "BeforeTool", "tool_name": "run_shell_command",
                    "tool_input": {"command": text, "description": "configure"}}
        if kind == "output":
            return {**base, "hook_event_name": "AfterTool", "tool_name": "run_shell_command",
                    "tool_input": {"command": "cat config.txt"},
                    "tool_response": {"llmContent": f"Output: {text}\nProcess Group PGID: 7",
                                      "returnDisplay": text}}
        return {**base, "hook_event_name": "AfterTool", "tool_name": "write_file",
                "tool_input": {"file_path": path, "content": text},
                "tool_response": {"llmContent": "Successfully wrote config.txt"}}
    base = {"conversation_id": session, "session_id": session, "generation_id": uid,
            "model": "default", "cursor_version": "3.7.27", "workspace_roots": [str(repo)],
            "user_email": "dev@example.com", "transcript_path": None}
    if kind == "prompt":
        return {**base, "hook_event_name": "beforeSubmitPrompt", "prompt": text,
                "attachments": []}
    if kind == "final":
        return {**base, "hook_event_name": "afterAgentResponse", "text": text}
    if kind == "command":
        return {**base, "hook_event_name": "preToolUse", "tool_name": "Shell",
                "tool_input": {"command": text}, "tool_use_id": uid}
    if kind == "output":
        return {**base, "hook_event_name": "postToolUse", "tool_name": "Shell",
                "tool_input": {"command": "cat config.txt"}, "tool_use_id": uid,
                "tool_output": json.dumps({"output": text, "exitCode": 0}), "duration": 12}
    return {**base, "hook_event_name": "postToolUse", "tool_name": "Write", "tool_use_id": uid,
            "tool_input": {"file_path": path, "contents": text}, "tool_output": "ok"}


def events(repo):
    """(agent, carrier, note, payload) for every format, carrier and agent."""
    for a, agent in enumerate(AGENTS):
        for i, secret in enumerate(CORPUS):
            session = f"{agent}-secrets-{i % SESSIONS}"
            for c, carrier in enumerate(CARRIERS):
                note = f"note{a}x{c}x{i}"
                text = carrier_text(agent, carrier, secret, note)
                yield agent, carrier, note, payload(agent, carrier, text, repo, session,
                                                    f"u{a}-{c}-{i}")


def test_the_corpus_covers_every_class_of_issue_13():
    assert len(CORPUS) >= 120
    assert len({s.name for s in CORPUS}) == len(CORPUS)
    by_class = Counter(s.cls for s in CORPUS)
    for cls, least in (("cli", 20), ("file", 15), ("shape", 6), ("encoding", 8), ("prose", 3),
                       ("vendor", 60)):
        assert by_class[cls] >= least, (cls, by_class)
    names = {s.name for s in CORPUS}
    # one of each example the issue names
    assert names >= {
        "curl-user-pass", "mysql-p-attached", "docker-login-p", "flag-password",
        "flag-token-hex", "flag-api-key-uuid", "curl-twilio-account", "curl-email-token",
        "twilio-api-secret-positional", "aws-configure-set", "authorization-key-header",
        "netrc-one-line", "docker-config-auth", "kube-secret-yaml", "kube-tls-key",
        "aws-console-csv", "putty-ppk", "maven-settings-xml", "ado-net-pwd",
        "ini-password-no-digits", "yaml-password-no-digits", "doppler-env", "vault-env",
        "env-password-cut-chars", "url-password-symbols", "notion-token",
        "json-escaped-slack-webhook", "wrapped-github-token", "base64-anthropic-key",
        "session-token-longer-than-caps", "prose-token-hex"}


def test_no_format_in_any_carrier_of_any_agent_is_stored(repo, tmp_path):
    planted = list(events(repo))
    assert len(planted) == len(AGENTS) * len(CARRIERS) * len(CORPUS)
    # A sample through real hook processes (what an agent runs): every agent and carrier,
    # formats of every class; the rest through the same entry in this process.
    sample = {(agent, carrier): None for agent, carrier, _, _ in planted}
    classes = sorted({s.cls for s in CORPUS})
    picked = []
    for n, (agent, carrier) in enumerate(sample):
        cls = classes[n % len(classes)]
        index = next(i for i, s in enumerate(CORPUS) if s.cls == cls)
        picked.append(AGENTS.index(agent) * len(CORPUS) * len(CARRIERS)
                      + index * len(CARRIERS) + CARRIERS.index(carrier))
    for k in picked:
        agent, _, _, body = planted[k]
        done = run_hook(body, repo, agent=agent)
        assert done.returncode == 0 and not done.stderr, done.stderr
    picked_set = set(picked)
    for k, (agent, _, _, body) in enumerate(planted):
        if k not in picked_set:
            out = io.BytesIO()
            assert hook.run(agent, [], io.BytesIO(json.dumps(body).encode()), out) == 0
    project = Registry().resolve(repo)
    assert not project.error_log.exists(), project.error_log.read_text()[:2000]

    client = RecordingClient()
    llm = LLMSettings(enabled=True, max_calls_per_compile=40)
    first = compile_project(project, llm=llm, llm_client=client)
    assert first.commit and client.requests
    assert first.llm["consolidated"] and not first.llm["skipped"]  # answers accepted: on pages
    # More work, compiled again: a second commit over the same pages.
    for k, (agent, _, _, body) in enumerate(planted[::13]):
        again = {**body, "tool_use_id": f"again-{k}", "generation_id": f"again-{k}"}
        hook.run(agent, [], io.BytesIO(json.dumps(again).encode()), io.BytesIO())
    # What `wikimem compile --llm --dry-run` would send for the sessions that changed.
    dry_run = CliRunner().invoke(cli, ["--project", project.project_id, "compile", "--llm",
                                       "--dry-run", "--json"])
    assert dry_run.exit_code == 0, dry_run.output
    assert len(json.loads(dry_run.output)) >= len(AGENTS)
    second = compile_project(project, llm=llm, llm_client=client)
    assert second.commit and second.commit != first.commit

    wiki = project.wiki_dir
    stores = {
        "raw log": b"".join(files_under(project.raw_dir).values()),
        "pages": b"".join(files_under(wiki, skip=".git").values()),
        "git objects": every_git_object(wiki) + reachable_objects(wiki)
        + git(wiki, "log", "-p", "--all", "--format=%H%n%B"),
        "state": b"".join(files_under(project.state_dir).values()),
        "context": (ensure_compiled_context(project) + build_project_context(project, 60_000))
        .encode(),
        "LLM requests": "\n".join(client.requests).encode() + dry_run.output.encode(),
    }
    index = b"".join(files_under(project.index_dir).values())
    public = _public_runs()
    leaks = []
    for s in CORPUS:
        forms = needles(s)
        leaks += [f"{s.name} in the {store}" for store, blob in stores.items()
                  if any(n in blob for n in forms)]
        if any(n in index for n in index_needles(s, public)):
            leaks.append(f"{s.name} in the index")
    assert not leaks, "\n".join(leaks)

    # The events were really carried: every carrier of every agent reached the raw log, the
    # redaction left them readable, and the pipeline wrote pages from them.
    raw = stores["raw log"].decode()
    missing = [note for agent, carrier, note, _ in planted if note not in raw]
    assert not missing, f"{len(missing)} events not recorded, e.g. {missing[:5]}"
    assert raw.count("[REDACTED:") >= len(planted)
    cut = sum(1 for _, carrier, _, _ in planted if carrier.endswith("-at-cap"))
    assert raw.count("wikimem cut") >= cut * 3 // 4  # (Codex's patches are capped higher)
    assert b"[REDACTED:" in stores["pages"] and b"note" in stores["pages"]
