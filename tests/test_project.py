import json
import subprocess
import sys

import pytest

from wikimem.errors import ProjectNotFound, WikimemError
from wikimem.project import Registry, locate


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_locate_matches_git_rev_parse_for_worktrees(repo, tmp_path):
    (repo / "f.txt").write_text("x")
    git("add", ".", cwd=repo)
    git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "init", cwd=repo)
    wt = tmp_path / "wt"
    git("worktree", "add", "-q", str(wt), "-b", "feature", cwd=repo)
    (wt / "sub").mkdir()
    common = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=wt / "sub", capture_output=True, text=True, check=True,
    ).stdout.strip()
    main_loc, wt_loc = locate(repo), locate(wt / "sub")
    assert wt_loc.key == main_loc.key == f"git:{common}"
    assert wt_loc.root == main_loc.root == repo.resolve()
    reg = Registry()
    assert reg.resolve(wt / "sub").project_id == reg.resolve(repo).project_id


def test_subdirectory_is_same_project_and_dirs_are_private(repo):
    (repo / "a" / "b").mkdir(parents=True)
    reg = Registry()
    p = reg.resolve(repo / "a" / "b")
    assert p.name == "myproject"
    assert reg.resolve(repo).project_id == p.project_id
    p.ensure_dirs()
    for d in (p.raw_dir, p.wiki_dir, p.index_dir, p.state_dir):
        assert d.is_dir() and (d.stat().st_mode & 0o777) == 0o700
    assert p.dir.parent.name == p.workspace_id and p.dir.name == p.project_id


def test_marker_overrides_names(repo):
    (repo / ".wikimem.toml").write_text('[project]\nname = "billing"\nworkspace = "acme"\n')
    p = Registry().resolve(repo)
    assert (p.name, p.workspace) == ("billing", "acme")
    assert Registry().find("acme/billing").project_id == p.project_id


def test_bad_marker_is_a_clear_error(repo):
    (repo / ".wikimem.toml").write_text("name = [unclosed")
    with pytest.raises(WikimemError, match="not valid TOML"):
        Registry().resolve(repo)


def test_rename_moves_no_files(repo, wikimem_home):
    reg = Registry()
    p = reg.resolve(repo)
    p.ensure_dirs()
    (p.raw_dir / "keep.jsonl").write_text("{}\n")
    renamed = reg.rename("myproject", "newname")
    assert renamed.dir == p.dir and (p.raw_dir / "keep.jsonl").exists()
    assert reg.resolve(repo).name == "newname"
    with pytest.raises(ProjectNotFound):
        reg.find("myproject")


def test_non_git_and_foreign_paths(tmp_path):
    plain = tmp_path / "notes"
    plain.mkdir()
    reg = Registry()
    assert reg.resolve(plain).name == "notes"
    # A payload recorded on another machine names a directory that does not exist here.
    foreign = reg.resolve("/Users/someone/src/serverless-plugins")
    assert foreign.name == "serverless-plugins"
    assert reg.resolve("/Users/someone/src/serverless-plugins").project_id == foreign.project_id


def test_name_collision_gets_suffix(tmp_path):
    a, b = tmp_path / "x" / "app", tmp_path / "y" / "app"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    reg = Registry()
    assert reg.resolve(a).name == "app"
    assert reg.resolve(b).name == "app-2"


def test_registry_is_json(repo, wikimem_home):
    Registry().resolve(repo)
    data = json.loads((wikimem_home / "registry.json").read_text())
    assert data["version"] == 1 and len(data["projects"]) == 1


# -- the lookup cache: the hook resolves its project without reading the whole registry -------


def _many_projects(home, n):
    """A registry holding n other projects (as years of use would leave it)."""
    reg = Registry()
    data = reg.load()
    wid = next(iter(data["workspaces"]))
    for i in range(n):
        data["projects"][f"00000000-0000-4000-8000-{i:012d}"] = {
            "name": f"other-{i}", "workspace": wid, "root": f"/src/other-{i}",
            "keys": [f"path:/src/other-{i}"], "created": "2026-01-01T00:00:00Z"}
    reg._save(data)


def test_a_known_project_is_found_without_reading_the_registry(repo, wikimem_home):
    first = Registry().resolve(repo)  # registers it
    _many_projects(wikimem_home, 2000)
    assert Registry().resolve(repo) == first  # reads the registry, remembers the answer
    probe = ("import sys, json\n"
             "opened = []\n"
             "sys.addaudithook(lambda ev, args: ev == 'open' and opened.append(str(args[0])))\n"
             "from wikimem.project import Registry\n"
             f"p = Registry().resolve({str(repo)!r})\n"
             "print(json.dumps([p.project_id, opened]))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    pid, opened = json.loads(out)
    assert pid == first.project_id
    assert str(wikimem_home / "registry.json") not in opened
    assert any("/lookup/" in path for path in opened)


def test_lookups_follow_every_change_to_the_registry(repo, wikimem_home):
    reg = Registry()
    project = reg.resolve(repo)
    assert reg.resolve(repo) == project
    reg.rename(project.project_id, "renamed")
    assert reg.resolve(repo).name == "renamed"
    # Edited by hand: the same repository now belongs to another project.
    data = json.loads((wikimem_home / "registry.json").read_text())
    entry = data["projects"].pop(project.project_id)
    data["projects"]["11111111-2222-4333-8444-555555555555"] = {**entry, "name": "moved"}
    (wikimem_home / "registry.json").write_text(json.dumps(data, indent=1))
    moved = reg.resolve(repo)
    assert (moved.project_id, moved.name) == ("11111111-2222-4333-8444-555555555555", "moved")


def test_a_damaged_lookup_entry_is_ignored(repo, wikimem_home):
    project = Registry().resolve(repo)
    Registry().resolve(repo)
    (entry,) = (wikimem_home / "lookup").iterdir()
    assert (entry.stat().st_mode & 0o777) == 0o600
    for damage in ("{not json", '{"registry": 1}', '{"registry": null, "project": 5}', ""):
        entry.write_text(damage)
        assert Registry().resolve(repo) == project
