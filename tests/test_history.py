"""Git time travel over the wiki: resolving pages, revisions, old text, diffs, chains."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import git
import pytest

from wikimem.errors import WikimemError
from wikimem.wiki import gitrepo, pages
from wikimem.wiki.timetravel import (
    ChainLink,
    Revision,
    chain,
    diff,
    resolve_page,
    revisions,
    show,
)

JAN, FEB, MAR, APR = (f"2025-{m:02d}-10T12:00:00+00:00" for m in (1, 2, 3, 4))


def _dated(monkeypatch, when: str) -> None:
    monkeypatch.setenv("GIT_COMMITTER_DATE", when)
    monkeypatch.setenv("GIT_AUTHOR_DATE", when)


@pytest.fixture
def wiki(tmp_path, monkeypatch):
    _dated(monkeypatch, "2024-12-01T00:00:00+00:00")
    wiki_dir = tmp_path / "wiki"
    return wiki_dir, gitrepo.open_repo(wiki_dir)


def _page(path: str, body: str, **meta) -> pages.Page:
    meta = {"title": meta.pop("title", path.rsplit("/", 1)[-1][:-3]), "kind": "decision",
            "status": "active", **meta}
    return pages.Page(path, meta, body)


def _save(wiki, monkeypatch, when: str, msg: str, *page_list: pages.Page) -> str:
    wiki_dir, repo = wiki
    result = pages.write_pages(wiki_dir, list(page_list))
    assert not result.human_edited
    _dated(monkeypatch, when)
    return gitrepo.commit(repo, [p.path for p in page_list], msg)


def _save_raw(wiki, monkeypatch, when: str, msg: str, path: str, text: str) -> str:
    """A page a person wrote (any name, any frontmatter), committed as is."""
    wiki_dir, repo = wiki
    (wiki_dir / path).parent.mkdir(parents=True, exist_ok=True)
    (wiki_dir / path).write_text(text, encoding="utf-8")
    _dated(monkeypatch, when)
    return gitrepo.commit(repo, [path], msg)


def _move(wiki, monkeypatch, when: str, old: str, new: str) -> str:
    wiki_dir, repo = wiki
    (wiki_dir / new).parent.mkdir(parents=True, exist_ok=True)
    repo.git.mv(old, new)
    _dated(monkeypatch, when)
    return gitrepo.commit(repo, [new], f"Rename {old} to {new}")


PG = "decisions/use-postgres.md"


@pytest.fixture
def three(wiki, monkeypatch):
    """decisions/use-postgres.md committed in January, February and March."""
    shas = [
        _save(wiki, monkeypatch, when, subject, _page(PG, f"Version {n}.\n\nShared line.\n"))
        for n, (when, subject) in enumerate(
            [(JAN, "Add postgres"), (FEB, "Revise postgres"), (MAR, "Finalise postgres")], 1)
    ]
    return wiki[0], shas


# --- revisions ------------------------------------------------------------------------------


def test_revisions_newest_first(three):
    wiki_dir, shas = three
    revs = revisions(wiki_dir, PG)
    assert [r.subject for r in revs] == ["Finalise postgres", "Revise postgres", "Add postgres"]
    assert [r.commit for r in revs] == shas[::-1]
    assert [r.date for r in revs] == [MAR, FEB, JAN]
    assert {r.path for r in revs} == {PG}
    assert all(r.author == gitrepo.MACHINE_NAME for r in revs)
    assert revs[0].to_dict() == {"commit": shas[2], "date": MAR, "author": "wikimem",
                                 "subject": "Finalise postgres", "path": PG}
    assert isinstance(revs[0], Revision)


def test_revisions_empty_repo_unknown_path_and_no_repo(tmp_path, three):
    wiki_dir, _ = three
    assert revisions(wiki_dir, "decisions/never.md") == []
    empty = tmp_path / "empty"
    git.Repo.init(empty, initial_branch="main").close()
    assert revisions(empty, PG) == []
    assert revisions(tmp_path / "not-a-repo", PG) == []


# --- show -----------------------------------------------------------------------------------


def test_show_at_a_moment(three):
    wiki_dir, _ = three
    assert "Version 2." in show(wiki_dir, PG, at=date(2025, 2, 20))
    assert "Version 3." in show(wiki_dir, PG, at=datetime(2025, 5, 1, tzinfo=UTC))
    # A date is the end of that day; a naive datetime is UTC.
    assert "Version 2." in show(wiki_dir, PG, at=date(2025, 2, 10))
    assert "Version 1." in show(wiki_dir, PG, at=datetime(2025, 2, 10, 11, 59))
    assert "Version 2." in show(wiki_dir, PG, at=datetime(2025, 2, 10, 12, 0))
    # 13:30 in UTC+2 is 11:30 UTC, before the February commit.
    plus2 = timezone(timedelta(hours=2))
    assert "Version 1." in show(wiki_dir, PG, at=datetime(2025, 2, 10, 13, 30, tzinfo=plus2))
    assert show(wiki_dir, PG) == (wiki_dir / PG).read_text(encoding="utf-8")


def test_show_before_the_page_existed(three):
    wiki_dir, shas = three
    with pytest.raises(WikimemError, match="did not exist") as err:
        show(wiki_dir, PG, at=date(2025, 1, 9))
    assert JAN in str(err.value) and shas[0][:12] in str(err.value)


def test_show_at_a_revision(three):
    wiki_dir, shas = three
    assert "Version 1." in show(wiki_dir, PG, rev=shas[0])
    assert "Version 2." in show(wiki_dir, PG, rev=shas[1][:8])
    assert "Version 2." in show(wiki_dir, PG, rev="HEAD~1")
    text = show(wiki_dir, PG, rev="main")
    assert text == (wiki_dir / PG).read_text(encoding="utf-8") and text.endswith("\n")
    with pytest.raises(WikimemError, match="did not exist at revision HEAD~3.*first committed"):
        show(wiki_dir, PG, rev="HEAD~3")  # the repository's first commit (.gitignore)
    with pytest.raises(WikimemError, match="Unknown revision"):
        show(wiki_dir, PG, rev="no-such-branch")
    with pytest.raises(WikimemError, match="Unknown revision"):
        show(wiki_dir, PG, rev="--output=/tmp/x")
    with pytest.raises(WikimemError, match="not both"):
        show(wiki_dir, PG, at=date(2025, 2, 1), rev="HEAD")


# --- renames --------------------------------------------------------------------------------

NEW = "decisions/use-postgresql.md"


@pytest.fixture
def renamed(wiki, monkeypatch):
    """use-postgres.md: created in January, edited in February, renamed in March, edited in
    April."""
    first = _save(wiki, monkeypatch, JAN, "Add", _page(PG, "Version 1.\n\nSame.\n"))
    _save(wiki, monkeypatch, FEB, "Edit", _page(PG, "Version 2.\n\nSame.\n"))
    _move(wiki, monkeypatch, MAR, PG, NEW)
    _save(wiki, monkeypatch, APR, "Edit again", _page(NEW, "Version 4.\n\nSame.\n"))
    return wiki[0], first


def test_revisions_follow_a_rename(renamed):
    wiki_dir, _ = renamed
    revs = revisions(wiki_dir, NEW)
    assert [r.subject for r in revs] == ["Edit again", f"Rename {PG} to {NEW}", "Edit", "Add"]
    assert [r.path for r in revs] == [NEW, NEW, PG, PG]


def test_show_across_a_rename(renamed):
    wiki_dir, first = renamed
    assert "Version 1." in show(wiki_dir, NEW, at=date(2025, 1, 20))
    assert "Version 2." in show(wiki_dir, NEW, at=date(2025, 3, 1))
    assert "Version 1." in show(wiki_dir, NEW, rev=first)  # NEW did not exist at that commit
    assert "Version 2." in show(wiki_dir, NEW, rev="HEAD~2")
    with pytest.raises(WikimemError, match="did not exist"):
        show(wiki_dir, NEW, rev="HEAD~4")


def test_resolve_a_renamed_path(renamed):
    wiki_dir, _ = renamed
    assert resolve_page(wiki_dir, PG) == NEW
    assert resolve_page(wiki_dir, "decisions/use-postgres") == NEW
    assert resolve_page(wiki_dir, NEW) == NEW


def test_resolve_follows_a_chain_of_renames(renamed, monkeypatch):
    wiki_dir, repo = renamed[0], git.Repo(renamed[0])
    _move((wiki_dir, repo), monkeypatch, "2025-05-10T12:00:00+00:00", NEW, "archive/pg.md")
    assert resolve_page(wiki_dir, PG) == "archive/pg.md"
    assert resolve_page(wiki_dir, NEW) == "archive/pg.md"
    assert len(revisions(wiki_dir, "archive/pg.md")) == 5


def test_diff_across_a_rename(renamed):
    wiki_dir, _ = renamed
    out = diff(wiki_dir, NEW, since=date(2025, 1, 20))
    assert out.startswith(f"--- a/{PG}\n+++ b/{NEW}\n")
    assert "-Version 1.\n" in out and "+Version 4.\n" in out and "-Same." not in out


# --- diff -----------------------------------------------------------------------------------


def test_diff_since_a_date_includes_working_tree_edits(three):
    wiki_dir, _ = three
    out = diff(wiki_dir, PG, since=date(2025, 1, 20))
    assert "-Version 1.\n" in out and "+Version 3.\n" in out
    assert diff(wiki_dir, PG, since=date(2025, 6, 1)) == ""
    page = wiki_dir / PG
    page.write_text(page.read_text(encoding="utf-8") + "A person added this.\n", encoding="utf-8")
    assert "+A person added this.\n" in diff(wiki_dir, PG, since=date(2025, 6, 1))
    out = diff(wiki_dir, PG, since=date(2025, 1, 20))
    assert "+Version 3.\n" in out and "+A person added this.\n" in out


def test_diff_before_the_page_existed_is_from_empty(three):
    wiki_dir, _ = three
    out = diff(wiki_dir, PG, since=date(2024, 12, 25))
    assert out.startswith(f"--- /dev/null\n+++ b/{PG}\n")
    assert "+Version 3.\n" in out


def test_diff_marks_a_missing_final_newline(three):
    wiki_dir, _ = three
    page = wiki_dir / PG
    page.write_text(page.read_text(encoding="utf-8") + "no newline", encoding="utf-8")
    out = diff(wiki_dir, PG, since=date(2025, 6, 1))
    assert out.endswith("+no newline\n\\ No newline at end of file\n")


# --- deleted pages --------------------------------------------------------------------------


def test_a_deleted_page_keeps_its_history(three, monkeypatch):
    wiki_dir, _ = three
    repo = git.Repo(wiki_dir)
    (wiki_dir / PG).unlink()
    _dated(monkeypatch, APR)
    gitrepo.commit(repo, [], "Drop postgres", removed=[PG])
    revs = revisions(wiki_dir, PG)
    assert [r.subject for r in revs][:2] == ["Drop postgres", "Finalise postgres"]
    assert "Version 3." in show(wiki_dir, PG, at=date(2025, 3, 20))
    gone = re.escape(f"did not exist on 2025-04-20 (deleted on {APR}")
    with pytest.raises(WikimemError, match=gone):
        show(wiki_dir, PG, at=date(2025, 4, 20))
    with pytest.raises(WikimemError, match="did not exist at revision HEAD .deleted on"):
        show(wiki_dir, PG, rev="HEAD")
    with pytest.raises(WikimemError, match="does not exist now"):
        show(wiki_dir, PG)
    with pytest.raises(WikimemError, match="was deleted in commit"):
        resolve_page(wiki_dir, PG)
    out = diff(wiki_dir, PG, since=date(2025, 3, 20))
    assert out.startswith(f"--- a/{PG}\n+++ /dev/null\n") and "-Version 3.\n" in out


# --- paths with spaces and unicode ----------------------------------------------------------


def test_unicode_and_spaces_in_paths(wiki, monkeypatch):
    old, new = "notes/café au lait.md", "notes/thé vert.md"
    _save_raw(wiki, monkeypatch, JAN, "Café", old, "# Café\n\nPremière version.\n")
    _save_raw(wiki, monkeypatch, FEB, "Café 2", old, "# Café\n\nDeuxième version.\n")
    _move(wiki, monkeypatch, MAR, old, new)
    wiki_dir = wiki[0]
    revs = revisions(wiki_dir, new)
    assert [r.path for r in revs] == [new, old, old]
    assert "Première" in show(wiki_dir, new, at=date(2025, 1, 31))
    assert "Première" in show(wiki_dir, new, rev=revs[-1].commit)
    assert resolve_page(wiki_dir, old) == new
    assert resolve_page(wiki_dir, "THÉ VERT") == new


# --- resolve_page ---------------------------------------------------------------------------


@pytest.fixture
def library(wiki, monkeypatch):
    """A handful of pages with ids, aliases, titles and two pages sharing a file name."""
    _save_raw(wiki, monkeypatch, JAN, "D3", "decisions/use-postgres.md",
              "---\ntitle: Use Postgres for storage\nid: D3\nkind: decision\n"
              "aliases:\n- pg\n- The Database\n---\n\nWe use Postgres.\n")
    _save(wiki, monkeypatch, JAN, "Pages",
          _page("tasks/migrate.md", "Migrate.\n", title="Migrate the data"),
          _page("lessons/migrate.md", "Lesson.\n", title="Migrations need backups"),
          _page("notes/a.md", "A.\n", title="Same title"),
          _page("notes/b.md", "B.\n", title="same TITLE"),
          _page("index.md", "Index.\n", title="Index"))
    return wiki[0]


@pytest.mark.parametrize("ref", [
    "decisions/use-postgres.md", "decisions/use-postgres", "./decisions/use-postgres.md",
    "decisions\\use-postgres.md", "use-postgres", "USE-POSTGRES", "use-postgres.md",
    "D3", "d3", "pg", "the database", "Use Postgres for storage", "  use postgres FOR storage ",
])
def test_resolve_page_by_every_kind_of_name(library, ref):
    assert resolve_page(library, ref) == "decisions/use-postgres.md"


def test_resolve_page_by_title_and_top_level_stem(library):
    assert resolve_page(library, "migrate the data") == "tasks/migrate.md"
    assert resolve_page(library, "index") == "index.md"
    assert resolve_page(library, "tasks/migrate") == "tasks/migrate.md"


def test_resolve_page_ambiguity_lists_the_candidates(library):
    with pytest.raises(WikimemError, match="several pages by file name") as err:
        resolve_page(library, "migrate")
    assert "lessons/migrate.md, tasks/migrate.md" in str(err.value)
    with pytest.raises(WikimemError, match="several pages by title: notes/a.md, notes/b.md"):
        resolve_page(library, "same title")


def test_resolve_page_unknown(library):
    with pytest.raises(WikimemError, match=r"No page matches 'foo'\. Try `wikimem search foo`"):
        resolve_page(library, "foo")
    with pytest.raises(WikimemError, match="No page matches"):
        resolve_page(library, "decisions/nothing-here.md")
    with pytest.raises(WikimemError, match="Name a page"):
        resolve_page(library, "  ")


@pytest.mark.parametrize("ref", [
    "../../etc/passwd", "/etc/passwd", "decisions/../../x", "decisions/../use-postgres.md",
    "..", "C:/Windows/win.ini", "..\\..\\secret.md",
])
def test_resolve_page_rejects_paths_outside_the_wiki(library, ref):
    with pytest.raises(WikimemError, match="outside the wiki"):
        resolve_page(library, ref)


@pytest.mark.parametrize("ref", [".git/config", ".git/HEAD", "decisions/*.md", ":(top)x.md"])
def test_resolve_page_rejects_invalid_page_paths(library, ref):
    with pytest.raises(WikimemError, match="not a valid page path"):
        resolve_page(library, ref)


def test_resolve_page_ignores_symlinks_out_of_the_wiki(library, tmp_path):
    secret = tmp_path / "secret.md"
    secret.write_text("secret\n")
    (library / "leak.md").symlink_to(secret)
    with pytest.raises(WikimemError):
        resolve_page(library, "leak.md")


def test_path_functions_reject_escapes(three):
    wiki_dir, _ = three
    for call in (lambda p: revisions(wiki_dir, p), lambda p: show(wiki_dir, p),
                 lambda p: diff(wiki_dir, p, since=date(2025, 1, 1))):
        for bad in ("../outside.md", "/etc/passwd", "decisions/../../x.md"):
            with pytest.raises(WikimemError, match="outside the wiki"):
                call(bad)
        for bad in (".git/config", "decisions/.hidden.md", ""):
            with pytest.raises(WikimemError, match="not a page of the wiki"):
                call(bad)


def test_show_without_history(tmp_path):
    wiki_dir = tmp_path / "plain"
    (wiki_dir / "notes").mkdir(parents=True)
    (wiki_dir / "notes/x.md").write_text("Now.\n")
    assert show(wiki_dir, "notes/x.md") == "Now.\n"
    with pytest.raises(WikimemError, match="no history"):
        show(wiki_dir, "notes/x.md", at=date(2025, 1, 1))
    assert diff(wiki_dir, "notes/x.md", since=date(2025, 1, 1)).startswith("--- /dev/null\n")


# --- supersession chains --------------------------------------------------------------------


def _decision(path: str, created: str, status: str, **links) -> pages.Page:
    return _page(path, f"{path}\n", status=status, created=created, **links)


@pytest.fixture
def abc(wiki, monkeypatch):
    """C supersedes B supersedes A, written only on the newer side (as a person might)."""
    _save(wiki, monkeypatch, JAN, "Decisions",
          _decision("decisions/a.md", "2025-01-01", "superseded", valid_until="2025-02-01"),
          _decision("decisions/b.md", "2025-02-01", "superseded", supersedes=["[[a]]"],
                    valid_until="2025-03-01"),
          _decision("decisions/c.md", "2025-03-01", "active", supersedes="[[decisions/b]]"),
          _decision("decisions/other.md", "2025-01-15", "active"))
    return wiki[0]


@pytest.mark.parametrize("start", ["decisions/a.md", "decisions/b.md", "decisions/c.md", "b"])
def test_chain_from_any_member(abc, start):
    links = chain(abc, start)
    assert [c.path for c in links] == ["decisions/a.md", "decisions/b.md", "decisions/c.md"]
    assert [c.status for c in links] == ["superseded", "superseded", "active"]
    assert [c.created for c in links] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert [c.valid_until for c in links] == ["2025-02-01", "2025-03-01", None]
    assert links[0] == ChainLink("decisions/a.md", "a", "superseded", "2025-01-01", "2025-02-01")


def test_chain_of_a_lone_page(abc):
    assert [c.path for c in chain(abc, "decisions/other.md")] == ["decisions/other.md"]


def test_chain_with_forward_links_and_lists_ordered_by_created(wiki, monkeypatch):
    _save(wiki, monkeypatch, JAN, "Split",
          _decision("d/old.md", "2025-01-01", "superseded",
                    superseded_by=["[[d/late]]", "d/early.md"]),
          _decision("d/late.md", "2025-03-01", "active"),
          _decision("d/early.md", "2025-02-01", "active"))
    for start in ("d/old.md", "d/late.md", "d/early.md"):
        paths = [c.path for c in chain(wiki[0], start)]
        assert paths[0] == "d/old.md" and start in paths
    assert [c.path for c in chain(wiki[0], "d/old.md")] == ["d/old.md", "d/early.md", "d/late.md"]


def test_chain_stops_on_a_cycle(wiki, monkeypatch):
    _save(wiki, monkeypatch, JAN, "Cycle",
          _decision("d/x.md", "2025-01-01", "active", supersedes="[[z]]"),
          _decision("d/y.md", "2025-01-02", "active", supersedes="[[x]]"),
          _decision("d/z.md", "2025-01-03", "active", supersedes="[[y]]", superseded_by="[[x]]"))
    for start in ("d/x.md", "d/y.md", "d/z.md"):
        assert sorted(c.path for c in chain(wiki[0], start)) == ["d/x.md", "d/y.md", "d/z.md"]


def test_chain_includes_missing_targets(wiki, monkeypatch):
    _save(wiki, monkeypatch, JAN, "Missing",
          _decision("d/new.md", "2025-02-01", "active", supersedes=["[[gone|Old idea]]"],
                    superseded_by="d/never-written.md"))
    links = chain(wiki[0], "d/new.md")
    assert [(c.path, c.status) for c in links] == [
        ("gone", "missing"), ("d/new.md", "active"), ("d/never-written.md", "missing")]
    assert links[0].valid_until is None and links[0].title == ""


def test_chain_reads_unquoted_wikilinks_and_follows_renames(wiki, monkeypatch):
    _save(wiki, monkeypatch, JAN, "Old", _decision("d/first.md", "2025-01-01", "superseded"))
    _move(wiki, monkeypatch, FEB, "d/first.md", "d/renamed.md")
    # `supersedes: [[first]]` unquoted is YAML for a nested list.
    _save_raw(wiki, monkeypatch, MAR, "New", "d/second.md",
              "---\ntitle: Second\nstatus: active\ncreated: 2025-03-01\n"
              "supersedes: [[d/first]]\n---\n\nSecond.\n")
    links = chain(wiki[0], "second")
    assert [(c.path, c.title, c.created) for c in links] == [
        ("d/renamed.md", "first", "2025-01-01"), ("d/second.md", "Second", "2025-03-01")]
