"""`wikimem bootstrap`: a repository's history and files -> raw log -> pages, end to end."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import resolve_links

from wikimem.cli import cli
from wikimem.compile.build import compile_project
from wikimem.compile.read import load_memory
from wikimem.project import Registry
from wikimem.repo.collect import parse_record
from wikimem.repo.decisions import adr_status
from wikimem.repo.extract import adr_facts, rule_facts
from wikimem.repo.fold import fold_log, parse_conventional
from wikimem.repo.patterns import glob_regex
from wikimem.repo.record import LOG_NAME, _clean_remote, bootstrap_observations
from wikimem.wiki.markdown import parse
from wikimem.wiki.pages import read_page, wiki_pages

ROOT = Path(__file__).resolve().parents[1]
# A fake, format-valid GitHub token, assembled at run time so no scanner flags this file.
SECRET = "ghp_" + "Zx9Yw8Vu7T" * 3 + "s6R5q4"
HASH = re.compile(r"`([0-9a-f]{7})`")

README = """\
# acme

Acme stores sessions for web applications and serves them over a small HTTP API.

It is a library and a command-line tool; see the docs folder for the design.

## Install

    pip install acme
"""

PYPROJECT = """\
[project]
name = "acme"
version = "2.1.0"
description = "Session storage with an HTTP API"
requires-python = ">=3.11"
dependencies = ["click>=8", "sqlalchemy>=2.0"]

[project.scripts]
acme = "acme.cli:main"
"""

ADR1 = """\
# 1. Use SQLite for session storage

Date: 2024-01-10

## Status

{status}

## Context

We need durable sessions without running a server.

## Decision

Store sessions in one SQLite file per deployment.

## Consequences

Only one writer at a time.
"""

ADR2 = """\
---
status: accepted
date: 2024-02-20
---
# ADR-0002: Use PostgreSQL for session storage

## Context and Problem Statement

Several web workers now write sessions at once; SQLite locks.

## Decision Drivers

* concurrent writers
* managed backups

## Considered Options

* Keep SQLite with WAL
* PostgreSQL

## Decision Outcome

Chosen option: PostgreSQL, because it handles concurrent writers.

Supersedes [ADR-0001](0001-use-sqlite.md).
"""

CLAUDE = """\
# Working on acme

## Tests

- Run the tests with `pytest -W error` before every commit.
- Never mock the database; use the sqlite fixture.

## Style

Keep functions under fifty lines and name them for what they return.

```bash
make lint
```
"""

AGENTS = """\
# Agent rules

1. Do not edit files under `migrations/` by hand.
2. Ask before adding a dependency to pyproject.toml.
"""


def git(repo: Path, *args: str, date: str | None = None, author: str = "Alice Example"):
    env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": "dev@example.com"}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{date}T10:00:00+02:00"
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True).stdout


def commit(repo: Path, message: str, date: str, files: dict[str, str | None] | None = None,
           author: str = "Alice Example") -> str:
    for rel, text in (files or {}).items():
        target = repo / rel
        if text is None:
            git(repo, "rm", "-q", rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        git(repo, "add", rel)
    git(repo, "commit", "-q", "--allow-empty", "-m", message, date=date, author=author)
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(path: Path) -> dict[str, str]:
    """A small project with 29 commits over four months; returns notable commit hashes."""
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    c = {}
    c["first"] = commit(path, "chore: initial commit", "2023-12-01", {
        "README.md": README, "pyproject.toml": PYPROJECT, ".gitignore": "*.pyc\n"})
    c["pkg"] = commit(path, "feat(core): add the acme package", "2023-12-02", {
        "acme/__init__.py": '"""Acme: session storage behind one small API.\n\nMore text."""\n',
        "acme/store.py": '"""The session store: read, write and expire sessions."""\n\nX = 1\n',
        "acme/cli.py": "# The acme command line.\n\ndef main():\n    pass\n",
        "webui/index.ts": "// The web UI that lists sessions.\n// Built with plain DOM.\n"
                          "export const x = 1;\n",
        "tools/README.md": "# tools\n\nScripts that maintain a deployment of acme.\n",
        "tools/prune.sh": "#!/bin/sh\n# Delete expired sessions.\necho prune\n"})
    c["old_only"] = commit(path, "docs: describe the old importer", "2023-12-05", {
        "docs/importer.md": "# Importer\n\nThe importer reads legacy session dumps.\n"})
    c["adr1"] = commit(path, "docs: record the storage decision", "2024-01-10", {
        "docs/adr/0001-use-sqlite.md": ADR1.format(status="Accepted")})
    for i, (msg, rel) in enumerate([
        ("feat(api): add the HTTP API", "acme/api.py"),
        ("fix(store): close files on error", "acme/store.py"),
        ("test: cover session expiry", "tests/test_store.py"),
        ("ci: run the tests on every push", ".github/workflows/ci.yml"),
        ("perf(store): batch writes", "acme/store.py"),
        ("docs: explain the API", "docs/api.md"),
    ]):
        c[f"jan{i}"] = commit(path, msg, f"2024-01-{12 + i:02d}",
                              {rel: f'"""{msg}"""\n' if rel.endswith(".py") else f"# {msg}\n"})
    c["rules"] = commit(path, "docs: add agent rules", "2024-02-01", {
        "CLAUDE.md": CLAUDE, "AGENTS.md": AGENTS})
    c["breaking"] = commit(path, "feat(store)!: drop the v1 file format", "2024-02-03",
                           {"acme/store.py": '"""The session store: read, write and expire '
                                             'sessions."""\n\nX = 2\n'})
    c["secret"] = commit(path, "chore: rotate the deploy token\n\nThe old token "
                         f"{SECRET} leaked in a log; it is revoked.", "2024-02-05",
                         {"deploy/settings.toml": "token_file = '/run/secrets/deploy'\n"})
    c["switch"] = commit(
        path, "feat(store): switch to PostgreSQL for sessions\n\nSQLite locks under several "
        "web workers.", "2024-02-20",
        {"acme/store.py": '"""The session store: read, write and expire sessions."""\n\nX = 3\n',
         "docs/adr/0002-use-postgresql.md": ADR2,
         "docs/adr/0001-use-sqlite.md": ADR1.format(
             status="Superseded by [ADR-0002](0002-use-postgresql.md)")})
    c["theme"] = commit(path, "feat(ui): add a dark theme", "2024-02-22",
                        {"webui/theme.ts": "// Themes.\nexport const dark = true;\n"})
    git(path, "revert", "--no-edit", "HEAD", date="2024-02-23")
    # A revert that says why: a decision (a bare revert is not one).
    message = git(path, "log", "-1", "--format=%B").strip()
    git(path, "commit", "-q", "--amend", "-m", message + "\n\nThe dark theme broke the "
        "contrast of the session tables.", date="2024-02-23")
    c["revert"] = git(path, "rev-parse", "HEAD").strip()
    git(path, "checkout", "-q", "-b", "feature/search")
    c["search1"] = commit(path, "feat(api): search sessions by user", "2024-03-01",
                          {"acme/search.py": '"""Search sessions."""\n'}, author="Bob Builder")
    c["search2"] = commit(path, "test(api): search by user", "2024-03-02",
                          {"tests/test_search.py": "def test_x():\n    pass\n"},
                          author="Bob Builder")
    git(path, "checkout", "-q", "main")
    c["main_fix"] = commit(path, "fix(api): return 404 for unknown sessions", "2024-03-03",
                           {"acme/api.py": '"""The HTTP API."""\n\nNOT_FOUND = 404\n'})
    git(path, "merge", "-q", "--no-ff", "feature/search", "-m",
        "Merge branch 'feature/search'", date="2024-03-04")
    c["merge"] = git(path, "rev-parse", "HEAD").strip()
    store = '"""The session store: read, write and expire sessions."""\nV={}\n'
    for i, msg in enumerate(["refactor(store): split the writer", "docs: fix typos",
                             "chore: bump click", "build: pin sqlalchemy",
                             "style: format with ruff", "fix(store): expire at midnight",
                             "feat(cli): add acme prune", "test: expiry at midnight",
                             "Update the changelog"]):
        files = {"acme/store.py": store.format(i)} if i % 2 else {f"notes/n{i}.md": f"{i}\n"}
        c[f"mar{i}"] = commit(path, msg, f"2024-03-{10 + i:02d}", files)
    return c


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, args, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(cli, args, catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def project_repo(tmp_path):
    path = tmp_path / "acme"
    return path, make_repo(path)


def bootstrapped(runner, path):
    out = json.loads(invoke(runner, ["bootstrap", "--json"], path).stdout)
    return out, Registry().resolve(path, create=False)


def page(project, rel):
    return read_page(project.wiki_dir / rel)


def snapshot(wiki: Path) -> dict[str, bytes]:
    return {rel: (wiki / rel).read_bytes() for rel in wiki_pages(wiki)}


def wiki_log(project) -> list[str]:
    return subprocess.run(["git", "log", "--format=%s"], cwd=project.wiki_dir,
                          capture_output=True, text=True, check=True).stdout.splitlines()


BOOTSTRAP_PAGES = ("project/overview.md", "project/modules.md", "project/rules.md",
                   "project/hotspots.md", "history.md", "history/2023-12.md",
                   "history/2024-01.md", "history/2024-02.md", "history/2024-03.md")


def test_end_to_end_pages_and_sources(runner, project_repo):
    path, c = project_repo
    out, project = bootstrapped(runner, path)
    assert out["commits_read"] == out["commits_recorded"] == 29
    assert out["files_recorded"] >= 10 and out["observations"] > 40
    assert set(BOOTSTRAP_PAGES) <= set(out["pages_written"])
    assert wiki_log(project)[0] == (f"Bootstrap from the repository: 29 commits, "
                                    f"{out['files_recorded']} files")

    meta, body = page(project, "project/overview.md")
    assert meta["kind"] == "overview" and meta["title"] == "acme — overview"
    assert "> Session storage with an HTTP API" in body
    assert "> Acme stores sessions for web applications" in body
    assert "`acme = acme.cli:main` (`pyproject.toml`)" in body
    assert "Python (" in body and "TypeScript (" in body
    assert "29 commits by 2 authors, from 2023-12-01" in body
    assert "click, sqlalchemy" in body
    for link in ("[[modules|", "[[rules|", "[[hotspots|", "[[history|", "[[decisions|"):
        assert link in body
    assert {"file:README.md", "file:pyproject.toml", f"commit:{c['first']}"} <= set(
        meta["sources"])

    meta, body = page(project, "project/modules.md")
    assert "## `acme/` — Python package" in body
    assert "> Acme: session storage behind one small API." in body
    assert "`store.py` — The session store: read, write and expire sessions." in body
    assert "`cli.py` — The acme command line." in body
    assert "> The web UI that lists sessions. Built with plain DOM." in body
    assert "> Scripts that maintain a deployment of acme." in body
    assert "`prune.sh` — Delete expired sessions." in body
    assert {"file:acme/__init__.py", "file:webui/index.ts", "file:tools/README.md"} <= set(
        meta["sources"])
    assert "[[overview|" in body and "[[hotspots|" in body

    meta, body = page(project, "project/rules.md")
    assert body.index("## `AGENTS.md`") < body.index("## `CLAUDE.md`")
    assert {"file:CLAUDE.md", "file:AGENTS.md"} <= set(meta["sources"])
    for rel, text in (("CLAUDE.md", CLAUDE), ("AGENTS.md", AGENTS)):
        lines = text.splitlines()
        cited = re.findall(rf"^\s*- (.*) — `{re.escape(rel)}:(\d+)`$", body, re.M)
        assert cited, rel
        for said, n in cited:
            if said == "Code block":
                assert lines[int(n) - 1].startswith("```")
            else:  # the quote is the file's own words, on the line it cites
                first_words = " ".join(said.split()[:3]).replace("\\", "")
                assert first_words in lines[int(n) - 1], (said, lines[int(n) - 1])
    assert "Run the tests with `pytest -W error` before every commit." in body
    assert "Do not edit files under `migrations/` by hand." in body
    assert "### Tests" in body and "make lint" in body

    meta, body = page(project, "project/hotspots.md")
    overall, recent = body.split("## Changed most often in the last 90 days")
    assert overall.split("## Changed most often")[1].split("\n- ")[1].startswith(
        "`acme/store.py` — ")
    # docs/importer.md was only touched on 2023-12-05: more than 90 days before the newest
    # commit (2024-03-18), whatever today's date is.
    assert "`docs/importer.md`" in overall and "`docs/importer.md`" not in recent
    assert "`acme/search.py`" in recent
    assert f"commit:{c['mar8']}" in meta["sources"]

    meta, body = page(project, "history/2024-02.md")
    assert meta["kind"] == "history"
    assert "## Features" in body and "## Reverts (1)" in body
    assert "drop the v1 file format" in body and "**breaking change**" in body
    assert f"reverts `{c['theme'][:7]}`" in body
    switch = next(ln for ln in body.splitlines() if "switch to PostgreSQL" in ln)
    assert f"`{c['switch'][:7]}` **store:** switch to PostgreSQL for sessions" in switch
    assert f"proposed decision [[D-{c['switch'][:8]}-" in switch
    meta3, body3 = page(project, "history/2024-03.md")
    assert "## Merges (1)" in body3 and "Merge branch 'feature/search'" in body3
    assert "## Other changes (1)" in body3 and "Update the changelog" in body3
    assert "Previous month: [[history/2024-02|2024-02]]" in body3
    for rel in ("history/2023-12.md", "history/2024-01.md", "history/2024-02.md",
                "history/2024-03.md"):
        meta, body = page(project, rel)
        _assert_history_sourced(meta, body)
    parsed = {rel: parse(read_page(project.wiki_dir / rel)[1])
              for rel in wiki_pages(project.wiki_dir)}
    assert resolve_links(parsed) == {}  # every [[wikilink]] between the pages resolves
    meta, body = page(project, "history.md")
    assert "- [[history/2024-03|2024-03]] — 13 commits" in body
    assert "Alice Example — " in body and "Bob Builder — 2 commits" in body
    assert "@example.com" not in body


def _assert_history_sourced(meta: dict, body: str) -> None:
    bullets = [ln for ln in body.splitlines() if ln.startswith("- ")]
    assert bullets
    sources = {s.removeprefix("commit:")[:7] for s in meta["sources"]}
    for line in bullets:
        shown = HASH.search(line)
        assert shown and shown.group(1) in sources, line


def test_decisions_from_adrs_and_commits(runner, project_repo):
    path, c = project_repo
    _, project = bootstrapped(runner, path)
    state = load_memory(project)
    adr1, adr2 = state.find("ADR-0001"), state.find("ADR-0002")
    assert adr1.status == "superseded" and adr1.superseded_by == [adr2.page]
    assert adr1.valid_until == "2024-02-20T00:00:00Z" and adr1.created == "2024-01-10T00:00:00Z"
    assert adr2.status == "active" and adr2.supersedes == [adr1.page]
    assert adr2.title == "Use PostgreSQL for session storage"
    assert adr2.sources == ["file:docs/adr/0002-use-postgresql.md", f"commit:{c['switch']}"]
    meta, body = page(project, adr2.page)
    assert "handles concurrent writers" in body and "concurrent writers" in body
    assert "Keep SQLite with WAL" in body  # ruled out
    _, body1 = page(project, adr1.page)
    assert "> [!warning] Superseded by [[ADR-0002-use-postgresql|" in body1
    assert "Consequences:" in body1 and "Only one writer at a time." in body1

    switch = state.find(f"D-{c['switch'][:8]}")
    assert switch.status == "proposed" and switch.sources[0] == f"commit:{c['switch']}"
    assert switch.title == "Switch to PostgreSQL for sessions"
    revert = state.find(f"D-{c['revert'][:8]}")
    assert revert.status == "proposed" and revert.title.startswith('Revert "feat(ui)')
    assert all(not i.id.startswith("D-") or i.status == "proposed"
               for i in state.of_kind("decision"))
    _, hub = page(project, "decisions.md")
    assert "ADR-0002 [[ADR-0002-use-postgresql|" in hub and f"D-{c['switch'][:8]}" in hub

    context = project.context_file.read_text()
    assert '## Project\n- "acme — Session storage with an HTTP API (Python' in context
    decisions = context.split("## Decisions in force")[1].split("##")[0]
    assert 'ADR-0002 "Use PostgreSQL' in decisions and "ADR-0001" not in decisions
    assert "D-" not in decisions  # proposed candidates never enter the context
    assert "## Rules for agents" in context
    assert "Do not edit files under `migrations/` by hand. (AGENTS.md:3)" in context

    hits = json.loads(invoke(runner, ["search", "PostgreSQL", "sessions", "--json"],
                             path).stdout)
    assert adr2.page in [h["path"] for h in hits]

    # Accept a commit candidate, forget another: the memory log applies to them as usual.
    invoke(runner, ["accept", f"D-{c['switch'][:8]}"], path)
    invoke(runner, ["forget", f"D-{c['revert'][:8]}", "--reason", "just a revert"], path)
    state = load_memory(project)
    assert state.find(f"D-{c['switch'][:8]}").status == "active"
    assert state.find(f"D-{c['switch'][:8]}").sources[0] == f"commit:{c['switch']}"
    assert state.find(f"D-{c['revert'][:8]}").status == "retracted"
    assert "Switch to PostgreSQL for sessions" in project.context_file.read_text()


def test_secret_in_a_commit_message_is_redacted_everywhere(runner, project_repo):
    path, c = project_repo
    _, project = bootstrapped(runner, path)
    raw = (project.raw_dir / LOG_NAME).read_text()
    assert "[REDACTED:github-token]" in raw
    for f in project.dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert SECRET.encode() not in data and SECRET.lower().encode() not in data, f
    history = subprocess.run(["git", "log", "-p", "--all"], cwd=project.wiki_dir,
                             capture_output=True, text=True, check=True).stdout
    assert SECRET not in history
    _, body = page(project, "history/2024-02.md")
    assert "rotate the deploy token" in body


def test_second_run_changes_nothing_and_new_commits_add_only_new_history(runner, project_repo):
    path, c = project_repo
    _, project = bootstrapped(runner, path)
    log = project.raw_dir / LOG_NAME
    size, commits = log.stat().st_size, wiki_log(project)
    again = json.loads(invoke(runner, ["bootstrap", "--json"], path).stdout)
    assert again["observations"] == again["commits_recorded"] == 0
    assert again["pages_written"] == [] and again["commit"] is None
    assert log.stat().st_size == size and wiki_log(project) == commits

    before = snapshot(project.wiki_dir)
    new1 = commit(path, "feat(api): add session export", "2024-04-02",
                  {"acme/export.py": '"""Export sessions."""\n'})
    new2 = commit(path, "fix(api): export dates in UTC", "2024-04-03",
                  {"acme/export.py": '"""Export sessions."""\nUTC = True\n'})
    more = json.loads(invoke(runner, ["bootstrap", "--json"], path).stdout)
    assert more["commits_recorded"] == 2 and more["commits_read"] == 31
    written = set(more["pages_written"])
    assert {"history/2024-04.md", "history.md", "project/overview.md"} <= written
    assert not written & {"history/2024-01.md", "history/2024-02.md", "history/2024-03.md"}
    for rel in ("history/2024-01.md", "history/2024-02.md", "history/2024-03.md"):
        assert (project.wiki_dir / rel).read_bytes() == before[rel]
    _, body = page(project, "history/2024-04.md")
    assert f"`{new1[:7]}` **api:** add session export" in body and new2[:7] in body
    commits_logged = [o.data["hash"] for o in bootstrap_observations(project)
                      if o.data.get("op") == "commit"]
    assert len(commits_logged) == len(set(commits_logged)) == 31


def test_dry_run_writes_nothing(runner, project_repo, wikimem_home):
    path, _ = project_repo
    r = invoke(runner, ["bootstrap", "--dry-run"], path)
    assert "Would record 29 of 29 commit(s)" in r.stdout
    assert "  new      project/overview.md" in r.stdout
    assert "  new      history/2024-02.md" in r.stdout and "decisions/ADR-0002" in r.stdout
    assert not wikimem_home.exists() or not list(wikimem_home.rglob("*.jsonl"))
    predicted = set(re.findall(r"^  new +(\S+)$", r.stdout, re.M))

    out, project = bootstrapped(runner, path)
    # The preview names exactly what the run writes (besides the empty hubs of a new wiki).
    assert predicted <= set(out["pages_written"])
    assert set(out["pages_written"]) - predicted <= {"lessons.md", "notes.md", "goals.md",
                                                     "tasks.md"}
    log, head = (project.raw_dir / LOG_NAME).read_bytes(), wiki_log(project)
    commit(path, "docs: note the export format", "2024-03-30", {"docs/export.md": "# Export\n"})
    r = json.loads(invoke(runner, ["bootstrap", "--dry-run", "--json"], path).stdout)
    assert r["dry_run"] and r["commits_recorded"] == 1
    assert "history/2024-03.md" in r["pages"]["changed"]
    assert "history/2024-01.md" in r["pages"]["unchanged"]
    assert (project.raw_dir / LOG_NAME).read_bytes() == log and wiki_log(project) == head
    out = json.loads(invoke(runner, ["bootstrap", "--json"], path).stdout)
    assert set(out["pages_written"]) == set(r["pages"]["changed"] + r["pages"]["new"])


def test_human_edited_overview_is_kept(runner, project_repo):
    path, _ = project_repo
    _, project = bootstrapped(runner, path)
    overview = project.wiki_dir / "project/overview.md"
    edited = overview.read_text().replace("## Dependencies", "My own notes.\n\n## Dependencies")
    overview.write_text(edited)
    commit(path, "docs: say what acme is for", "2024-03-30",
           {"README.md": README.replace("web applications", "web apps and workers")})
    r = invoke(runner, ["bootstrap"], path)
    assert "kept project/overview.md (edited by a person; not overwritten, new version " \
           "beside it as project/overview.machine.md)" in r.stdout
    assert overview.read_text() == edited
    side = (project.wiki_dir / "project/overview.machine.md").read_text()
    assert "web apps and workers" in side and "status: proposed" in side
    assert "Human edits: 1 file" in wiki_log(project)


def test_rebuild_reproduces_every_bootstrap_page(runner, project_repo):
    path, _ = project_repo
    _, project = bootstrapped(runner, path)
    commit(path, "feat(api): add session export", "2024-04-02",
           {"acme/export.py": '"""Export sessions."""\n', "CLAUDE.md": None,
            "docs/adr/0001-use-sqlite.md": None})
    invoke(runner, ["bootstrap"], path)
    assert "CLAUDE.md" not in page(project, "project/rules.md")[1]
    assert any(o.data.get("op") == "source_removed" and o.data["path"] == "CLAUDE.md"
               for o in bootstrap_observations(project))
    # A decision record that disappeared stays, retracted: pages never vanish, so an
    # incremental compile and a rebuild agree.
    gone = load_memory(project).find("ADR-0001")
    assert gone.status == "retracted" and "no longer in the repository" in gone.retracted[
        "reason"]
    assert "> [!danger] Retracted 2024-04-02 by bootstrap" in page(project, gone.page)[1]
    incremental = snapshot(project.wiki_dir)
    assert set(BOOTSTRAP_PAGES) <= set(incremental)

    result = compile_project(project, rebuild=True)
    assert result.written == [] and result.removed == []
    assert snapshot(project.wiki_dir) == incremental
    shutil.rmtree(project.wiki_dir)
    shutil.rmtree(project.state_dir)
    compile_project(project, rebuild=True)
    assert snapshot(project.wiki_dir) == incremental


def test_since_limits_the_commits_read(runner, project_repo):
    path, c = project_repo
    out = json.loads(invoke(runner, ["bootstrap", "--since", "2024-03-01", "--json"],
                            path).stdout)
    assert out["commits_recorded"] == out["commits_read"] == 13
    project = Registry().resolve(path, create=False)
    assert not (project.wiki_dir / "history/2024-01.md").exists()
    assert (project.wiki_dir / "project/rules.md").exists()  # files are always read
    out = json.loads(invoke(runner, ["bootstrap", "--json"], path).stdout)
    assert out["commits_recorded"] == 16
    assert (project.wiki_dir / "history/2024-01.md").exists()


def test_since_after_the_last_commit_still_describes_the_files(runner, project_repo):
    path, _ = project_repo
    out = json.loads(invoke(runner, ["bootstrap", "--since", "2099-01-01", "--json"],
                            path).stdout)
    assert out["commits_read"] == 0 and out["files_recorded"] > 0
    project = Registry().resolve(path, create=False)
    assert "No commits recorded yet" in page(project, "history.md")[1]
    assert "## `acme/` — Python package" in page(project, "project/modules.md")[1]


def test_bootstrap_outside_a_repository_is_a_clean_error(runner, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    old = os.getcwd()
    os.chdir(plain)
    try:
        r = runner.invoke(cli, ["bootstrap", "--dry-run"])
    finally:
        os.chdir(old)
    assert r.exit_code == 1 and "is not inside a git repository" in r.output


def test_real_repository_wikimem_itself(runner):
    """The wikimem checkout: real history and files, not written for this test."""
    inside = subprocess.run(["git", "-C", str(ROOT), "rev-list", "--count", "HEAD"],
                            capture_output=True, text=True)
    if inside.returncode or int(inside.stdout.strip() or 0) < 5:
        pytest.skip("the wikimem sources are not a git checkout with at least 5 commits")
    out = json.loads(invoke(runner, ["bootstrap", str(ROOT), "--json"], ROOT).stdout)
    assert out["commits_recorded"] >= 5
    project = Registry().resolve(ROOT, create=False)
    wiki = project.wiki_dir
    for rel in ("project/overview.md", "project/modules.md", "project/rules.md",
                "project/hotspots.md", "history.md"):
        assert (wiki / rel).exists(), rel
    meta, body = read_page(wiki / "project/overview.md")
    assert "wikimem" in meta["title"] and "file:pyproject.toml" in meta["sources"]
    assert "`wikimem/` — Python package" in read_page(wiki / "project/modules.md")[1]
    months = sorted((wiki / "history").glob("*.md"))
    assert months
    for month in months:
        _assert_history_sourced(*read_page(month))
    meta, body = read_page(wiki / "project/rules.md")
    for path, _ in re.findall(r" — `([^`]+):(\d+)`$", body, re.M):
        assert f"file:{path}" in meta["sources"]
    state = load_memory(project)
    for item in state.of_kind("decision"):
        assert item.sources and all(s.startswith(("commit:", "file:")) for s in item.sources)
        meta, _ = read_page(wiki / item.page)
        assert meta["sources"] == item.sources
    every = sum(len(read_page(m)[0]["sources"]) for m in months)
    assert every == out["commits_read"]


# --- units ---------------------------------------------------------------------------------


def test_parse_record_of_git_log_output():
    sha = "a" * 40
    rec = (f"{sha}\x1f{'b' * 40} {'c' * 40}\x1fAda\x1f2024-05-01T10:00:00+02:00\x1f"
           "Merge x\x1fbody\n\x1f\x00").encode()
    merged = parse_record(rec)
    assert merged.parents == 2 and merged.files == [] and merged.body == "body"
    rec = (f"{sha}\x1f{'b' * 40}\x1fAda\x1f2024-05-01T10:00:00+02:00\x1ffeat: x\x1f\x1f\x00\n"
           "M\x00a b.py\x00D\x00old/é.txt\x00").encode()
    one = parse_record(rec)
    assert one.files == ["a b.py", "old/é.txt"] and one.status == "MD" and one.parents == 1


def test_conventional_commits_and_adr_status():
    assert parse_conventional("feat(api)!: drop v1") == {
        "type": "feat", "scope": "api", "breaking": True, "desc": "drop v1"}
    assert parse_conventional("fix: x", "BREAKING CHANGE: y")["breaking"] is True
    assert parse_conventional("Update the changelog")["type"] == ""
    assert parse_conventional("WIP: not a type")["type"] == ""
    assert adr_status("Superseded by ADR-3") == "superseded"
    assert adr_status("Accepted") == "active" and adr_status("") == "active"
    assert adr_status("Proposed") == "proposed" and adr_status("Rejected") == "rejected"


def test_adr_and_rule_parsing():
    facts = adr_facts(ADR1.format(status="Superseded by [ADR-0002](0002-use-postgresql.md)"),
                      "docs/adr/0001-use-sqlite.md")
    assert facts["number"] == 1 and facts["title"] == "Use SQLite for session storage"
    assert facts["date"] == "2024-01-10"
    assert facts["superseded_by"] == ["path:docs/adr/0002-use-postgresql.md", "number:2"]
    assert facts["decision"] == "Store sessions in one SQLite file per deployment."
    madr = adr_facts(ADR2, "docs/adr/0002-use-postgresql.md")
    assert madr["status"] == "accepted" and madr["date"] == "2024-02-20"
    assert madr["supersedes"] == ["path:docs/adr/0001-use-sqlite.md", "number:1"]
    assert "- concurrent writers" in madr["drivers"]
    items = rule_facts("---\nglobs: *.py\nalwaysApply: true\n---\n# R\n\n- one two three\n",
                       ".cursor/rules/py.mdc")
    assert items["scope"] == {"globs": "*.py", "alwaysapply": "true"}
    assert items["items"] == [{"line": 7, "heading": "R", "text": "one two three",
                               "depth": 0}]


def test_glob_patterns():
    assert glob_regex("docs/**/*.md").match("docs/a.md")
    assert glob_regex("docs/**/*.md").match("docs/x/y/a.md")
    assert not glob_regex("docs/*.md").match("docs/x/a.md")
    assert glob_regex("**/ADR-*.md").match("ADR-1.md")
    assert glob_regex("**/ADR-*.md").match("a/b/adr-2.md")


def test_fold_ignores_other_kinds_and_keeps_latest_source():
    from wikimem.capture.observation import Observation

    def obs(i, data, kind="bootstrap"):
        return Observation(id=str(i), key=str(i), session="s", agent="bootstrap", kind=kind,
                           ts="2024-01-01T00:00:00.000Z", data=data)

    repo = fold_log([
        obs(1, {"op": "source", "path": "README.md", "role": "readme", "blob": "1"}),
        obs(2, {"op": "source", "path": "README.md", "role": "readme", "blob": "2"}),
        obs(3, {"op": "source", "path": "CLAUDE.md", "role": "rules", "blob": "3"}),
        obs(4, {"op": "source_removed", "path": "CLAUDE.md"}),
        obs(5, {"op": "commit", "hash": "f" * 40}, kind="memory"),
    ])
    assert repo.sources["README.md"]["blob"] == "2" and "CLAUDE.md" in repo.removed
    assert repo.commits == []


def test_remote_web_address_never_keeps_credentials():
    assert _clean_remote("git@github.com:acme/store.git") == "https://github.com/acme/store"
    assert _clean_remote("https://bob:" + "hunter2x@gitlab.com/acme/store.git") == (
        "https://gitlab.com/acme/store")
    assert _clean_remote("ssh://git@codeberg.org/acme/store") == "https://codeberg.org/acme/store"
    assert _clean_remote("https://git.internal.example/acme/store") == ""
    assert _clean_remote("") == ""


def test_context_keeps_the_project_line_and_shortens_rules_first():
    from wikimem.compile.context import build_context
    from wikimem.memory import Item
    from wikimem.repo.decisions import BootstrapMemoryState

    decision = Item(id="ADR-0002", kind="decision", page="decisions/ADR-0002-x.md",
                    title="Use PostgreSQL", status="active", created="2024-01-01T00:00:00Z",
                    updated="2024-01-01T00:00:00Z")
    state = BootstrapMemoryState(
        items={decision.page: decision}, project_line="acme — Session storage (Python).",
        agent_rules=[f"Rule number {i} says something long enough to matter. (AGENTS.md:{i})"
                     for i in range(1, 13)])
    whole = build_context("acme", [], state=state, budget=10_000)
    assert whole.index("## Project") < whole.index("## Decisions in force") < whole.index(
        "## Rules for agents")
    assert "(AGENTS.md:12)" in whole
    short = build_context("acme", [], state=state, budget=len(whole) - 300)
    assert '## Project\n- "acme — Session storage (Python)."' in short
    assert 'ADR-0002 "Use PostgreSQL' in short and "(AGENTS.md:12)" not in short
    assert "Left out for space: " in short and " rules." in short
    assert build_context("acme", [], state=None) == ""


# --- issue 14: rules a project would sign ------------------------------------------------------

def _long_claude_md() -> str:
    """A CLAUDE.md of 262 lines: a file list, 180 notes and conventions, and the Git workflow
    section at the end, whose rules bind."""
    lines = ["# Project guide", "", "## Layout", ""]
    lines += [f"- `src/module_{i:03d}.py` — module number {i} of the service" for i in range(40)]
    lines += ["", "## Notes", ""]
    lines += [f"- The handler for route {i} lives next to its template and its tests"
              for i in range(160)]
    lines += ["", "## Git workflow", "",
              "- Never use `git add .`; add the files you changed by name.",
              "- Always run `make check` before you commit.",
              "- You must not push to `main` directly: open a pull request.",
              "- Do not amend commits that were pushed."]
    while len(lines) < 262:
        lines.append("")
    return "\n".join(lines) + "\n"


AGENTS_FILE_LIST = "# Agents\n\n" + "\n".join(
    f"- `docs/page_{i}.md` — page {i}" for i in range(12)) + \
    "\n\nKeep the docs short.\n"


def test_long_rule_files_are_kept_whole_and_the_context_quotes_what_binds(runner, tmp_path):
    path = tmp_path / "big"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit(path, "docs: agent rules", "2024-01-01",
           {"CLAUDE.md": _long_claude_md(), "AGENTS.md": AGENTS_FILE_LIST,
            "README.md": "# big\n\nA service.\n"})
    _, project = bootstrapped(runner, path)
    _, rules = page(project, "project/rules.md")
    # Every rule line is on the page, the last ones too, with where they come from.
    assert "Never use `git add .`; add the files you changed by name. — `CLAUDE.md:211`" in rules
    assert "### Git workflow" in rules
    assert "module number 39 of the service" in rules
    assert "route 159 lives" in rules
    context = project.context_file.read_text()
    section = context.split("## Rules for agents")[1].split("\n## ")[0]
    assert "Never use `git add .`" in section and "(CLAUDE.md:211)" in section
    for binding in ("Always run `make check`", "You must not push to `main`",
                    "Do not amend commits"):
        assert binding in section
    # Not a file list.
    assert "module_0" not in section and "docs/page_" not in section


def test_a_rule_file_past_the_cap_says_where_its_page_stops(runner, tmp_path, monkeypatch):
    from wikimem.repo import extract

    monkeypatch.setattr(extract, "MAX_RULE_ITEMS", 100)
    path = tmp_path / "capped"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit(path, "docs: agent rules", "2024-01-01", {"CLAUDE.md": _long_claude_md()})
    _, project = bootstrapped(runner, path)
    _, rules = page(project, "project/rules.md")
    assert "route 59 lives" in rules and "route 60 lives" not in rules
    assert ("> [!warning] This page quotes the first 100 of the 204 items in `CLAUDE.md`: it "
            "stops before line 108. Read the rest in the file.") in rules
