import json
import os

from click.testing import CliRunner
from conftest import fixture_payload, run_hook

from wikimem.cli import cli
from wikimem.compile import compile_project
from wikimem.project import Registry


def doctor(repo, *args):
    old = os.getcwd()
    os.chdir(repo)
    try:
        return CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def by_name(result):
    return {c["name"]: c for c in json.loads(result.output)}


def test_healthy_project_passes(repo):
    run_hook(fixture_payload("user_prompt_submit", cwd=str(repo)), repo)
    compile_project(Registry().resolve(repo))
    r = doctor(repo, "--json")
    assert r.exit_code == 0
    checks = by_name(r)
    for name in ("home", "project", "git", "wiki", "index", "capture", "compile", "errors",
                 "raw log"):
        assert checks[name]["status"] == "PASS", checks[name]
    text = doctor(repo)
    assert text.output.startswith("PASS  home ")


def test_problems_are_reported_with_fixes(repo):
    run_hook(fixture_payload("user_prompt_submit", cwd=str(repo)), repo)
    project = Registry().resolve(repo)
    compile_project(project)
    run_hook(fixture_payload("stop", cwd=str(repo)), repo)  # not compiled yet
    run_hook(None, repo, raw=b"{broken")  # an error in the error log
    raw = next(project.raw_dir.glob("*.jsonl"))
    with open(raw, "ab") as f:
        f.write(b"garbage line\n")
    (project.wiki_dir / "notes.md").unlink()  # index now has a page the wiki lost
    (project.wiki_dir / ".git" / "index.lock").write_text("")
    r = doctor(repo, "--json")
    assert r.exit_code == 1
    checks = by_name(r)
    assert checks["wiki"]["status"] == "FAIL" and "index.lock" in checks["wiki"]["fix"]
    assert checks["compile"]["status"] == "WARN"
    assert checks["errors"]["status"] == "WARN" and "not valid JSON" in checks["errors"]["detail"]
    assert checks["raw log"]["status"] == "WARN"
    assert checks["index"]["status"] == "WARN"
    assert checks["index"]["fix"] == "Run `wikimem reindex`."
    text = doctor(repo).output
    assert "FAIL  wiki" in text and "fix: If no git command is running: rm " in text


def test_unregistered_directory_fails_with_fix(tmp_path):
    r = doctor(tmp_path, "--json")
    assert r.exit_code == 1
    assert by_name(r)["project"]["fix"] == "Run `wikimem init` here."
