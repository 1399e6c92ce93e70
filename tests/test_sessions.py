from wikimem.capture.observation import Observation, new_id
from wikimem.compile.sessions import digest, next_steps, open_questions
from wikimem.wiki.text import make_title


def o(kind, ts, **data):
    return Observation(id=new_id(), key="k", session="sess-1234567", agent="claude-code",
                       kind=kind, ts=f"2026-03-0{ts}T10:00:00.000Z", cwd="/repo", data=data)


def test_digest_rules():
    rec = digest([
        o("session_start", 1, source="startup"),
        o("prompt", 1, prompt="<ide_opened_file>x</ide_opened_file>ok"),
        o("prompt", 2, prompt="Fix the flaky login test. It fails on CI."),
        o("tool_pre", 2, tool="Bash", command="pytest -x", tool_use_id="t1"),
        o("tool_post", 2, tool="Bash", command="pytest -x", tool_use_id="t1", exit_code=0),
        o("tool_failure", 2, tool="Bash", command="make lint", error="Exit code 2\nboom",
          exit_code=2),
        o("tool_post", 3, tool="Edit", files=[{"path": "/repo/src/login.py", "op": "change"}]),
        o("tool_post", 3, tool="Read", files=[{"path": "/repo/README.md", "op": "read"},
                                              {"path": "/elsewhere/x.py", "op": "read"}]),
        o("stop", 4, message="Done.\n\n## Next steps\n- add a retry test\n- update docs\n\n"
                             "Should we also pin the browser version?"),
    ])
    assert rec.title == "Fix the flaky login test."
    assert rec.stem == "2026-03-01-sess-1234567"
    assert rec.files_changed == ["src/login.py"]
    assert rec.files_read == ["/elsewhere/x.py", "README.md"]
    assert [(c.command, c.exit_code) for c in rec.commands] == [("pytest -x", 0),
                                                                ("make lint", 2)]
    assert rec.errors == ["`make lint`: Exit code 2"]
    assert rec.next_steps == ["add a retry test", "update docs"]
    assert rec.open_questions == ["Should we also pin the browser version?"]
    assert rec.summary.startswith("2 prompts, 1 file changed, 2 commands (1 failed)")
    assert rec.summary.endswith("Outcome: Done.")
    assert (rec.started, rec.ended) == ("2026-03-01T10:00:00Z", "2026-03-04T10:00:00Z")


def test_title_falls_back_and_is_bounded():
    assert digest([o("session_start", 1)]).title == "Session sess-123"
    long = "word " * 40
    assert len(make_title(long)) <= 72 and make_title(long).endswith("…")


def test_todo_lines_and_questions():
    msg = "TODO: wire the cache\nNext: ship it\nIs this right? yes\n- Do we keep v1 around?"
    assert next_steps(msg) == ["wire the cache", "ship it"]
    assert open_questions(msg) == ["Do we keep v1 around?"]
