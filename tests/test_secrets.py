"""No secret of the corpus reaches any store: the whole pipeline, end to end.

Every credential of tests/fixtures/secrets_corpus.py (70 synthetic, format-valid values of 60+
formats) is placed in prompts, tool inputs, tool outputs, file contents (Write/Edit inputs,
Read outputs), assistant messages and an imported transcript; then the real pipeline runs
(hook, compile with LLM consolidation through the client seam, git commit, index, context)
and every store is searched: the raw log, the pages, every git object (reachable or not) and
`git log -p --all`, the Whoosh index files and search results, the state folder, the context
block and the LLM requests.
"""

from __future__ import annotations

import io
import json
import re
import subprocess

import pytest
from conftest import run_hook
from fixtures.secrets_corpus import CORPUS

from wikimem import hook
from wikimem.agents.backfill import discover, import_sessions
from wikimem.capture.redact import redact_text
from wikimem.compile.build import compile_project
from wikimem.compile.llm import Completion, LLMSettings
from wikimem.compile.read import build_project_context, ensure_compiled_context
from wikimem.project import Registry
from wikimem.search.index import SearchIndex


class RecordingClient:
    """The LLM client seam: records every request, answers with a plain valid summary."""

    def __init__(self):
        self.requests: list[str] = []

    def complete(self, *, model, system, prompt, max_tokens, timeout):
        self.requests.append(system + "\n" + prompt)
        session = json.loads(prompt)["session"]
        said = (session["prompts"] or [session["title"]])[0]
        text = json.dumps({"summary": [{"text": "Configured credentials for the services.",
                                        "quote": said[:30]}], "topics": []})
        return Completion(text, input_tokens=len(prompt) // 4, output_tokens=10)


def hook_payloads(repo) -> list[dict]:
    """Claude Code hook payloads carrying every corpus entry in every place."""
    out = []
    for i, s in enumerate(CORPUS):
        base = {"session_id": f"secrets-{i % 3}", "cwd": str(repo)}
        path = str(repo / f"config/{s.name}.txt")
        out += [
            {**base, "hook_event_name": "UserPromptSubmit",
             "prompt": f"Set up {s.name} with this:\n{s.text}\nthen run the tests."},
            {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash",
             "tool_use_id": f"b{i}", "tool_input": {"command": s.text}},
            {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash",
             "tool_use_id": f"b{i}", "tool_input": {"command": f"cat {path}"},
             "tool_response": {"stdout": f"# {s.name}\n{s.text}\n", "stderr": "",
                               "interrupted": False}},
            {**base, "hook_event_name": "PostToolUse", "tool_name": "Write",
             "tool_use_id": f"w{i}", "tool_input": {"file_path": path, "content": s.text},
             "tool_response": {"type": "create", "filePath": path, "content": s.text}},
            {**base, "hook_event_name": "PostToolUse", "tool_name": "Edit",
             "tool_use_id": f"e{i}",
             "tool_input": {"file_path": path, "old_string": "x", "new_string": s.text},
             "tool_response": {"filePath": path, "oldString": "x", "newString": s.text}},
            {**base, "hook_event_name": "PostToolUse", "tool_name": "Read",
             "tool_use_id": f"r{i}", "tool_input": {"file_path": path},
             "tool_response": {"type": "text", "file": {"filePath": path, "content": s.text}}},
            {**base, "hook_event_name": "PostToolUse", "tool_name": "mcp__vault__read",
             "tool_use_id": f"m{i}", "tool_input": {"name": s.name},
             "tool_response": [{"type": "text", "text": s.text}]},
        ]
    for n in range(3):
        out.append({"session_id": f"secrets-{n}", "cwd": str(repo), "hook_event_name": "Stop",
                    "last_assistant_message": "Done. Decision: keep the keys in "
                                              f"the vault, e.g. {CORPUS[n].text}"})
    return out


def transcript(repo, tmp_path):
    """A Claude Code transcript with every corpus entry in a prompt, a tool call and a result."""
    session = "5ec7e700-0000-4000-8000-000000000001"
    lines = []

    def record(n: int, kind: str, message: dict, **extra) -> None:
        lines.append({"parentUuid": None, "isSidechain": False, "userType": "external",
                      "cwd": str(repo), "sessionId": session, "version": "2.0.14",
                      "gitBranch": "main", "type": kind, "message": message,
                      "uuid": f"00000000-0000-4000-8000-{n:012d}",
                      "timestamp": f"2026-11-20T10:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
                      **extra})

    for i, s in enumerate(CORPUS):
        record(4 * i, "user", {"role": "user", "content": f"Use this: {s.text}"})
        record(4 * i + 1, "assistant", {"role": "assistant", "content": [
            {"type": "tool_use", "id": f"toolu_{i:04d}", "name": "Bash",
             "input": {"command": s.text, "description": "configure"}}]})
        record(4 * i + 2, "user", {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i:04d}", "content": s.text,
             "is_error": False}]},
               toolUseResult={"stdout": s.text, "stderr": "", "interrupted": False})
        record(4 * i + 3, "assistant", {"role": "assistant", "content": [
            {"type": "text", "text": f"Configured it: {s.text}"}]})
    path = tmp_path / "transcripts" / f"{session}.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def needles(secret) -> list[bytes]:
    """How a secret could appear in a store: each piece as is, JSON-escaped (also with `/` as
    `\\/`), and every 20 characters of a longer one (no part of a secret may survive)."""
    forms = set()
    for piece in secret.pieces:
        forms.update((piece, piece.replace("/", "\\/")))
        forms.update(piece[i:i + 20] for i in range(0, len(piece) - 20, 10))
    forms |= {json.dumps(f)[1:-1] for f in forms}
    return [f.encode() for f in forms if len(f) >= 8]


def _public_runs() -> set[str]:
    """Word runs of the corpus texts outside any secret (`access_token`): not secret parts."""
    runs = set()
    for s in CORPUS:
        text = s.text
        for piece in s.pieces:
            text = text.replace(piece, " ")
        runs.update(r.lower() for r in re.findall(r"\w+", text))
    return runs


def index_needles(secret, public: set[str]) -> list[bytes]:
    """How a secret could appear among the index's terms: lower-cased word runs of it."""
    runs = {r.lower() for p in secret.pieces for r in re.findall(r"\w+", p) if len(r) >= 12}
    return [p.lower().encode() for p in secret.pieces] + [
        r.encode() for r in runs if not any(r in word for word in public)]


def git(wiki, *args) -> bytes:
    return subprocess.run(["git", *args], cwd=wiki, capture_output=True, check=True).stdout


def every_git_object(wiki) -> bytes:
    """The content of every object in the repository, reachable or not."""
    return git(wiki, "cat-file", "--batch-all-objects", "--batch")


def reachable_objects(wiki) -> bytes:
    listing = git(wiki, "rev-list", "--all", "--objects").decode()
    shas = "".join(line.split(" ", 1)[0] + "\n" for line in listing.splitlines())
    return subprocess.run(["git", "cat-file", "--batch"], cwd=wiki, input=shas.encode(),
                          capture_output=True, check=True).stdout


def files_under(folder, *, skip: str | None = None) -> dict[str, bytes]:
    return {str(f): f.read_bytes() for f in sorted(folder.rglob("*"))
            if f.is_file() and not (skip and skip in f.parts)}


def test_corpus_is_large_and_distinct():
    assert len(CORPUS) >= 30
    assert len({s.name for s in CORPUS}) == len(CORPUS)
    assert len({s.value for s in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("secret", CORPUS, ids=lambda s: s.name)
def test_each_format_is_redacted(secret):
    out = redact_text(secret.text)
    assert secret.value not in out
    assert not [p for p in secret.pieces if p in out]
    assert f"[REDACTED:{secret.kind}]" in out or "[REDACTED:secret-assignment]" in out
    assert redact_text(out) == out


def test_no_secret_reaches_any_store(repo, tmp_path):
    events = hook_payloads(repo)
    # A few through real hook subprocesses (what an agent runs), the rest through the same
    # hook code in this process (a subprocess per event would take minutes).
    for payload in events[:3]:
        assert run_hook(payload, repo).returncode == 0
    for payload in events[3:]:
        out = io.BytesIO()
        assert hook.run("claude-code", [], io.BytesIO(json.dumps(payload).encode()), out) == 0
    project = Registry().resolve(repo)
    assert not project.error_log.exists(), project.error_log.read_text()
    report = import_sessions(Registry(), discover(paths=[transcript(repo, tmp_path)]),
                             project=project)
    assert report.observations > 4 * len(CORPUS)

    client = RecordingClient()
    llm = LLMSettings(enabled=True, max_calls_per_compile=50)
    first = compile_project(project, llm=llm, llm_client=client)
    assert first.commit and client.requests
    assert first.llm["consolidated"] and not first.llm["skipped"]  # answers accepted: on pages
    # More work on one session, compiled again: a second commit over the same pages.
    for payload in hook_payloads(repo)[:14]:
        payload = {**payload, "tool_use_id": "again-" + payload.get("tool_use_id", "")}
        hook.run("claude-code", [], io.BytesIO(json.dumps(payload).encode()), io.BytesIO())
    second = compile_project(project, llm=llm, llm_client=client)
    assert second.commit and second.commit != first.commit

    index = SearchIndex(project.index_dir, project.wiki_dir)
    wiki = project.wiki_dir
    stores = {
        "raw log": files_under(project.raw_dir),
        "pages": files_under(wiki, skip=".git"),
        "git objects": {"all": every_git_object(wiki), "reachable": reachable_objects(wiki),
                        "log": git(wiki, "log", "-p", "--all", "--format=%H%n%B")},
        "state": files_under(project.state_dir),
        "context": {"compiled": ensure_compiled_context(project).encode(),
                    "large": build_project_context(project, 60_000).encode()},
        "LLM requests": {str(i): r.encode() for i, r in enumerate(client.requests)},
    }
    index_files = files_under(project.index_dir)
    assert index_files and stores["pages"] and len(stores["raw log"]) >= 4
    # (a positive control: words of the same pages are among the index's terms)
    assert b"wikimemtest" in b"".join(index_files.values())
    leaks = []
    public = _public_runs()
    for s in CORPUS:
        for store, blobs in stores.items():
            for where, blob in blobs.items():
                if any(n in blob for n in needles(s)):
                    leaks.append(f"{s.name} in {store} ({where})")
        for where, blob in index_files.items():
            if any(n in blob for n in index_needles(s, public)):
                leaks.append(f"{s.name} in the index ({where})")
        for hit in index.search(s.value, include_all=True, limit=5):
            if any(p in hit.snippet or p in hit.title for p in s.pieces):
                leaks.append(f"{s.name} in search results ({hit.path})")
    assert not leaks, "\n".join(leaks)

    # The redaction left the context readable, and the pipeline really carried the events.
    raw = b"".join(stores["raw log"].values())
    assert raw.count(b"[REDACTED:") >= 5 * len(CORPUS)
    assert b"wikimemtest.blob.core.windows.net" in raw and b"DJANGO_SECRET_KEY=" in raw
    pages = b"".join(stores["pages"].values())
    assert b"[REDACTED:" in pages and b"Set up" in pages


# -- false positives ---------------------------------------------------------------------------


def ordinary_sample() -> str:
    """Text that looks random but holds no secret, and real source code."""
    import base64
    import random
    import uuid
    from pathlib import Path

    import wikimem

    rng = random.Random(7)
    hexs = lambda n: "".join(rng.choice("0123456789abcdef") for _ in range(n))  # noqa: E731
    parts = []
    for _ in range(200):
        sha = hexs(40)
        parts += [
            f"commit {sha}\nMerge: {sha[:7]} {hexs(7)}\n    Fix the retry loop, see {hexs(12)}",
            f"id={uuid.UUID(int=rng.getrandbits(128))} trace {uuid.uuid5(uuid.NAMESPACE_DNS, sha)}",
            f'"integrity": "sha512-{base64.b64encode(rng.randbytes(64)).decode()}",',
            f'{{file = "pkg-1.0-py3-none-any.whl", hash = "sha256:{hexs(64)}"}},',
            f"docker pull ghcr.io/org/app@sha256:{hexs(64)}",
            f"AbstractProxyFactoryBeanRegistryPostProcessorAdapter{rng.randint(1, 99)}Impl",
            f"etag: W/\"{hexs(32)}\" x-request-id: {hexs(16)}",
        ]
    parts.append("![plot](data:image/png;base64,"
                 + base64.b64encode(rng.randbytes(30_000)).decode() + ")")
    parts.append("The token expired, so please enter your password again; the secret to a "
                 "good API key rotation policy is automation.")
    src = Path(wikimem.__file__).parent
    for name in ("compile", "search", "wiki", "hook.py", "capture/privacy.py",
                 "agents/installers.py", "memory.py"):
        for path in sorted((src / name).rglob("*.py")) if (src / name).is_dir() else [src / name]:
            parts.append(path.read_text())
    return "\n".join(parts)


def test_ordinary_text_is_left_untouched():
    text = ordinary_sample()
    assert len(text) > 300_000
    assert redact_text(text) == text


def test_false_positive_rate_on_real_agent_sessions():
    from conftest import SHARED_DATA

    base = SHARED_DATA / "agents"
    if not base.is_dir():
        pytest.skip("../shared/data is not here")
    size = lines = changed = 0
    for path in sorted(base.rglob("*.jsonl"))[:200]:
        text = path.read_text(errors="replace")
        out = redact_text(text)
        size += len(text)
        lines += text.count("\n") + 1
        changed += sum(1 for a, b in zip(text.splitlines(), out.splitlines(), strict=False)
                       if a != b)
    assert size > 1_000_000
    # Real sessions of real projects: what is redacted is mostly test credentials in code
    # (`api_key: "sk_test_..."`); it must stay a small share of the lines.
    assert changed / lines < 0.01, (changed, lines)


# -- caps: redact first, then cap; a cut never keeps a piece of a secret --------------------


def _straddling(cut: int) -> tuple[str, str]:
    """A text whose GitHub token starts 10 characters before `cut`; and the token."""
    token = "ghp_" + "Zq9X7w6V5u" * 3 + "Ab12Cd"
    return "x" * (cut - 11) + " " + token + " and more text after it " * 60, token


def test_the_hook_error_excerpt_never_keeps_a_piece_of_a_secret(repo, monkeypatch):
    # A payload the hook cannot parse is logged with an excerpt of its first 300 characters;
    # a token across that cut must not leave its first part in the error log.
    text, token = _straddling(300 - len('{"prompt": "'))
    monkeypatch.chdir(repo)
    raw = ('{"prompt": "' + text).encode()  # (no closing quote: not JSON)
    assert hook.run("claude-code", [], io.BytesIO(raw), io.BytesIO()) == 0
    log = Registry().resolve(repo).error_log.read_text()
    assert "HookInputError" in log
    assert token[:12] not in log and "[REDACTED:" in log  # (the cut may go through the marker)


def test_error_log_details_are_redacted_before_they_are_capped(tmp_path):
    from wikimem.capture.observe import log_error

    text, token = _straddling(1000 * 2 // 3)  # the head of a 1000-character cap
    log_error(tmp_path / "errors.log", "boom", detail=text)
    line = (tmp_path / "errors.log").read_text()
    assert token[:12] not in line and "[REDACTED:" in line


@pytest.mark.parametrize("secret", CORPUS, ids=lambda s: s.name)
def test_a_cut_through_a_secret_keeps_none_of_it(secret):
    # Capture redacts, then caps: whichever piece straddles the cut of a capped field, none
    # of it survives in the observation.
    from wikimem.capture.event import Event
    from wikimem.capture.observe import CAPS, make_observation

    piece = secret.pieces[0]
    at = secret.text.index(piece) + len(piece) // 2
    for key in ("content", "output", "prompt"):
        pad = max(1, CAPS[key] * 2 // 3 - at)
        text = "p" * (pad - 1) + "\n" + secret.text + "\n" + "tail " * (CAPS[key] // 4)
        obs = make_observation("claude-code", Event("s", "prompt", "/x", {key: text}), {})
        line = obs.to_line().decode() if isinstance(obs.to_line(), bytes) else obs.to_line()
        assert "wikimem cut" in line
        assert not [n for n in needles(secret) if n.decode() in line], key
