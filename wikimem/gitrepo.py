"""Git: the one module that talks to the wiki's repository (through GitPython).

The compiler commits under a fixed machine identity with trailers; edits a person made in the
wiki folder are committed first, under that person's git identity, so `git log` tells who
wrote what.
"""

from __future__ import annotations

from pathlib import Path

import git

MACHINE_NAME = "wikimem"
MACHINE_EMAIL = "wikimem@localhost"
FALLBACK_HUMAN = ("wiki editor", "editor@localhost")
# Settings that keep a user's global git config (signing, hooks, autocrlf) out of our commits.
_SAFE = [
    "-c", "commit.gpgsign=false",
    "-c", "core.autocrlf=false",
    "-c", "core.hooksPath=/dev/null",
]


def open_repo(wiki_dir: Path) -> git.Repo:
    """The wiki's repository, created on first use."""
    if (wiki_dir / ".git").exists():
        repo = git.Repo(wiki_dir)
        _use_untracked_cache(repo)
        return repo
    wiki_dir.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(wiki_dir, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("core", "autocrlf", "false")
        cfg.set_value("core", "quotepath", "false")
        cfg.set_value("core", "untrackedCache", "true")
    (wiki_dir / ".gitignore").write_text(".obsidian/workspace*.json\n.trash/\n*.tmp\n")
    commit(repo, [".gitignore"], "Create the wiki repository")
    return repo


def _use_untracked_cache(repo: git.Repo) -> None:
    """Turn on git's untracked cache in a wiki made before it was: `git status`, which every
    compile runs to find a person's edits, then skips reading the folders nothing changed
    in (a third of its time in a wiki of ten thousand pages)."""
    try:
        config = (Path(repo.git_dir) / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    if "untrackedcache" not in config.lower():
        _run(repo, "config", "core.untrackedCache", "true")


def _run(repo: git.Repo, *args: str, env: dict | None = None) -> str:
    return repo.git.execute(["git", *_SAFE, *args], env=env)


def _machine_env() -> dict:
    return {
        "GIT_AUTHOR_NAME": MACHINE_NAME,
        "GIT_AUTHOR_EMAIL": MACHINE_EMAIL,
        "GIT_COMMITTER_NAME": MACHINE_NAME,
        "GIT_COMMITTER_EMAIL": MACHINE_EMAIL,
    }


def dirty_paths(repo: git.Repo) -> list[str]:
    """Paths changed in the work tree since the last commit (including untracked files)."""
    out = _run(repo, "status", "--porcelain", "-z", "--untracked-files=all")
    paths = []
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        if len(entry) > 3:
            paths.append(entry[3:])
            if entry[0] in "RC":
                i += 1  # a rename has its source path in the next entry
        i += 1
    return sorted(paths)


def commit_human_edits(repo: git.Repo) -> tuple[str | None, list[str]]:
    """Commit whatever a person changed in the wiki, under their git identity.

    Returns the commit (None when nothing changed) and the changed paths.
    """
    paths = dirty_paths(repo)
    if not paths:
        return None, []
    _run(repo, "add", "--all")
    env = None
    try:
        repo.git.config("user.name")
        repo.git.config("user.email")
    except git.GitCommandError:
        name, email = FALLBACK_HUMAN
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
               "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    message = f"Human edits: {len(paths)} file{'' if len(paths) == 1 else 's'}\n\n" + "\n".join(
        f"- {p}" for p in paths[:50]
    )
    _run(repo, "commit", "--no-verify", "-q", "-m", message, env=env)
    return repo.head.commit.hexsha, paths


# Paths per `git add`/`git rm` call: a first compile of a large wiki writes more paths than
# one command line may hold (ARG_MAX).
_PATHS_PER_CALL = 2000


def commit(repo: git.Repo, paths: list[str], message: str, removed: list[str] = ()) -> str | None:
    """Commit the given paths under the machine identity; None when nothing changed."""
    for i in range(0, len(removed), _PATHS_PER_CALL):
        _run(repo, "rm", "-q", "--cached", "--ignore-unmatch", "--",
             *removed[i:i + _PATHS_PER_CALL])
    for i in range(0, len(paths), _PATHS_PER_CALL):
        _run(repo, "add", "--", *paths[i:i + _PATHS_PER_CALL])
    try:
        _run(repo, "commit", "--no-verify", "-q", "-m", message, env=_machine_env())
    except git.GitCommandError as exc:
        # `git commit` exits 1 when nothing is staged (every path written holds what HEAD
        # has): asked only then, instead of before every commit.
        if exc.status == 1 and not _run(repo, "diff", "--cached", "--name-only"):
            return None
        raise
    return repo.head.commit.hexsha


def head(repo: git.Repo) -> str | None:
    try:
        return repo.head.commit.hexsha
    except ValueError:
        return None


def log(repo: git.Repo, limit: int = 10) -> list[dict]:
    """The latest commits: sha, date, author, subject."""
    if head(repo) is None:
        return []
    return [
        {
            "commit": c.hexsha,
            "date": c.committed_datetime.isoformat(),
            "author": c.author.name,
            "subject": c.summary,
        }
        for c in repo.iter_commits(max_count=limit)
    ]
