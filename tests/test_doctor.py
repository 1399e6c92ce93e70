import json
import os

from click.testing import CliRunner
from conftest import fixture_payload, run_hook

from wikimem.cli import cli
from wikimem.compile.build import compile_project
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


def test_wiki_left_mid_cherry_pick_fails_doctor_as_it_stops_compile(repo):
    """Doctor and compile ask the same question of the wiki repository (gitrepo)."""
    import subprocess

    from wikimem.errors import WikimemError
    from wikimem.wiki.pages import wiki_pages

    run_hook(fixture_payload("user_prompt_submit", cwd=str(repo)), repo)
    project = Registry().resolve(repo)
    compile_project(project)
    wiki = project.wiki_dir

    def git(*args):
        return subprocess.run(["git", *args], cwd=wiki, capture_output=True, text=True)

    page = wiki_pages(wiki)[0]
    git("checkout", "-q", "-b", "side")
    (wiki / page).write_text("side version\n")
    git("commit", "-qam", "side")
    git("checkout", "-q", "main")
    (wiki / page).write_text("main version\n")
    git("commit", "-qam", "main")
    pick = git("cherry-pick", "side")
    assert pick.returncode != 0 and (wiki / ".git" / "CHERRY_PICK_HEAD").exists()

    try:
        compile_project(project)
        refused = ""
    except WikimemError as exc:
        refused = str(exc)
    assert "middle of a cherry-pick" in refused
    check = by_name(doctor(repo, "--json"))["wiki"]
    assert check["status"] == "FAIL", check
    assert "middle of a cherry-pick" in check["detail"]
    assert "git cherry-pick --continue" in check["fix"]
    assert "git cherry-pick --abort" in check["fix"]
    git("cherry-pick", "--abort")
    assert by_name(doctor(repo, "--json"))["wiki"]["status"] == "PASS"
