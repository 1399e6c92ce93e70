"""A payload carrying each secret kind leaves no trace in raw log, pages, git history or index."""

import subprocess

from conftest import run_hook

from wikimem.compile import compile_project
from wikimem.project import Registry

# Fake but format-valid credentials, assembled at run time so no scanner flags this file.
SECRETS = {
    "anthropic": "sk-ant-api03-" + "Zq9" * 30 + "AA",
    "openai": "sk-proj-" + "T3stKey" * 7,
    "github": "ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8",
    "github_pat": "github_pat_" + "11ABCDEFG0" * 2 + "_" + "x9Y8z7W6v5" * 5 + "u4T",
    "aws": "AKIA" + "QWERTYUIOPASDFGH",
    "google": "AIza" + "Sy" + "B1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6R",
    "slack": "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx",
    "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJ3aWtpbWVtLXRlc3QifQ." + "c2lnbmF0dXJlLXRlc3Q" * 2,
    "pem": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + "BKcwggSjAgEAAoIBAQC7" * 3,
    "url_password": "hunter2" + "Pa55word",
    "bearer": "tok_" + "9f8e7d6c5b4a3928" * 2,
    "basic": "dXNlcjpwYXNz" + "d29yZDEyMzQ1Ng",
    "assignment": "s3cr3t" + "V4lue-Long-Enough",
}


def payloads(repo):
    pem = ("-----BEGIN RSA " + "PRIVATE KEY-----\n" + SECRETS["pem"] + "\n-----END RSA "
           + "PRIVATE KEY-----")
    prompt = (
        f"Use {SECRETS['anthropic']} and {SECRETS['openai']} to call the API. "
        f"Push with {SECRETS['github']} or {SECRETS['github_pat']}. AWS {SECRETS['aws']}. "
        f"Maps key {SECRETS['google']}, slack {SECRETS['slack']}, session {SECRETS['jwt']}."
    )
    base = {"session_id": "sec-1", "cwd": str(repo)}
    return [
        {**base, "hook_event_name": "UserPromptSubmit", "prompt": prompt},
        {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t1",
         "tool_input": {"command": f"curl -H 'Authorization: Bearer {SECRETS['bearer']}' "
                                   f"https://admin:{SECRETS['url_password']}@db.example.com/x"}},
        {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "t1",
         "tool_input": {"command": "cat .env key.pem"},
         "tool_response": {"stdout": f"API_TOKEN={SECRETS['assignment']}\n{pem}\n"
                                     f"Authorization: Basic {SECRETS['basic']}",
                           "stderr": "", "interrupted": False}},
        {**base, "hook_event_name": "Stop",
         "last_assistant_message": f"Done; I used the token {SECRETS['github']}. "
                                   "Next steps:\n- rotate the keys"},
    ]


def test_no_secret_reaches_any_store(repo):
    for p in payloads(repo):
        assert run_hook(p, repo).returncode == 0
    project = Registry().resolve(repo)
    result = compile_project(project)
    assert result.commit
    history = subprocess.run(["git", "log", "-p", "--all", "--format=%B"], cwd=project.wiki_dir,
                             capture_output=True, check=True).stdout
    stores = {"git history": history, "context": project.context_file.read_bytes()}
    for folder in (project.raw_dir, project.wiki_dir, project.index_dir, project.state_dir):
        for f in folder.rglob("*"):
            if f.is_file():
                stores[str(f)] = f.read_bytes()
    for kind, secret in SECRETS.items():
        for where, blob in stores.items():
            assert secret.encode() not in blob, f"{kind} secret found in {where}"
    raw = b"".join(v for k, v in stores.items() if k.endswith(".jsonl"))
    assert raw.count(b"[REDACTED:") >= len(SECRETS)
    assert b"db.example.com" in raw and b"API_TOKEN=" in raw  # context around secrets is kept
