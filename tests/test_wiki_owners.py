"""One owner per wiki store: only `wiki/gitrepo.py` talks to the wiki's git repository, only
the page gate (`wiki/pages.py`) writes or deletes files in the wiki folder.

Like the hook's `sys.modules` test, these read the code itself (its syntax trees), so a second
writer fails here the day it is written, not the day its behaviour drifts from the owner's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import wikimem
from wikimem.errors import WikimemError
from wikimem.wiki import pages

PACKAGE = Path(wikimem.__file__).resolve().parent
GIT_OWNER = "wiki/gitrepo.py"
PAGE_GATE = "wiki/pages.py"

# Modules that start processes, and why none of them runs git on the wiki's repository.
PROCESS_STARTERS = {
    GIT_OWNER: "the wiki's git owner (fast-export | fast-import, fsck, status, --version)",
    "repo/collect.py": "runs git on the USER's project repository (bootstrap's collector)",
    "demo.py": "`git init` of the demo's stand-in project repository; replays the hook",
    "hook.py": "starts `wikimem compile` in the background (no git)",
    "sync/exchange.py": "`[sync] auto`: a detached `wikimem sync` after a compile (no git)",
    "sync/orchestrate.py": "runs the user's agent command once per task (no git)",
    "sync/gitsync.py": "the SYNC repository's git owner (team memory: fetch, push, plumbing "
                       "on sync/repo.git, never on the wiki)",
}
# Writes inside the wiki folder outside the page gate, and why.
WIKI_WRITERS_ALLOWED = {
    f"{GIT_OWNER}:open_repo": "writes the new repository's .gitignore (a file of the git "
                              "repository, not a page)",
}


def modules() -> dict[str, ast.Module]:
    return {p.relative_to(PACKAGE).as_posix(): ast.parse(p.read_text(encoding="utf-8"), str(p))
            for p in sorted(PACKAGE.rglob("*.py"))}


# --- the wiki's git repository ---------------------------------------------------------------


def git_imports(tree: ast.AST) -> list[int]:
    """Lines importing GitPython (`import git`, `from git import ...`, `import git.x`)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and _dotted(node.func) in (
                "importlib.import_module", "__import__", "import_module") and node.args:
            names = [node.args[0].value if isinstance(node.args[0], ast.Constant) else ""]
        else:
            continue
        if any(name == "git" or str(name).startswith("git.") for name in names):
            found.append(node.lineno)
    return found


_PROCESS_CALLS = {
    "subprocess": {"run", "Popen", "call", "check_call", "check_output", "getoutput",
                   "getstatusoutput"},
    "os": {"system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle",
           "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl",
           "spawnle", "spawnlp", "spawnlpe", "posix_spawn", "posix_spawnp"},
    "asyncio": {"create_subprocess_exec", "create_subprocess_shell"},
    "pty": {"spawn"},
}


def process_calls(tree: ast.AST) -> list[ast.Call]:
    """Calls that start a process (`subprocess.run`, `from subprocess import Popen`, ...)."""
    aliases = {}  # local name -> (module, function)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in _PROCESS_CALLS:
            for alias in node.names:
                if alias.name in _PROCESS_CALLS[node.module]:
                    aliases[alias.asname or alias.name] = (node.module, alias.name)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        dotted = _dotted(node.func)
        module, _, name = dotted.rpartition(".")
        if name in _PROCESS_CALLS.get(module, ()) or (not module and dotted in aliases):
            found.append(node)
    return found


# GitPython's Repo, used through a handle someone else opened: `repo.git.<command>(...)`,
# `repo.iter_commits()`, `repo.index.add()`...
_REPO_API = {"iter_commits", "config_writer", "config_reader", "is_dirty", "untracked_files",
             "working_tree_dir", "git_dir", "heads", "active_branch", "rev_parse"}


def gitpython_uses(tree: ast.AST) -> list[int]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (
                node.attr in _REPO_API
                or (isinstance(node.value, ast.Attribute) and node.value.attr == "git")
                or (node.attr in ("add", "remove", "commit")
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "index")):
            found.append(node.lineno)
    return found


def test_only_gitrepo_imports_gitpython():
    found = {f"{name}:{line}" for name, tree in modules().items() if name != GIT_OWNER
             for line in git_imports(tree)}
    assert not found, "import git outside wiki/gitrepo.py (call a gitrepo function instead)"


def test_only_gitrepo_uses_a_gitpython_repository():
    found = {f"{name}:{line}" for name, tree in modules().items() if name != GIT_OWNER
             for line in gitpython_uses(tree)}
    assert not found, "GitPython used through a Repo outside wiki/gitrepo.py"


def test_only_the_listed_modules_start_processes():
    """A module starting processes is listed with its reason; only gitrepo runs git on the
    wiki (a new `subprocess.run(["git", ...])` elsewhere fails here until it moves there)."""
    starters = {name for name, tree in modules().items() if process_calls(tree)}
    assert starters == set(PROCESS_STARTERS)


def test_the_hook_starts_no_git():
    tree = modules()["hook.py"]
    assert not [call.lineno for call in process_calls(tree) if _says_git(call)]


def _says_git(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str)
               and (n.value == "git" or n.value.endswith("/git"))
               for n in ast.walk(node))


# --- the wiki's files ------------------------------------------------------------------------

# Names (variables, parameters, attributes) that hold the wiki folder; anything computed from
# one of them is a path inside the wiki.
WIKI_NAMES = {"wiki_dir", "wiki"}
_PATH_FUNCS = {"os.replace": 2, "os.rename": 2, "os.renames": 2, "os.unlink": 1,
               "os.remove": 1, "os.rmdir": 1, "os.removedirs": 1, "os.truncate": 1,
               "os.link": 2, "os.symlink": 2, "shutil.rmtree": 1, "shutil.move": 2,
               "shutil.copy": 2, "shutil.copy2": 2, "shutil.copyfile": 2, "shutil.copytree": 2,
               "write_atomic": 1, "open_private": 1}
_PATH_METHODS = {"unlink", "write_text", "write_bytes", "rmdir", "touch", "symlink_to",
                 "hardlink_to"}
_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _writing_mode(call: ast.Call, position: int) -> bool:
    mode = call.args[position] if len(call.args) > position else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and \
        any(c in mode.value for c in "wax+")


def written_paths(call: ast.Call, writers: set[str]) -> list[ast.AST]:
    """The path expressions a call writes, renames or deletes (none for other calls)."""
    func, dotted = call.func, _dotted(call.func)
    short = dotted.rpartition(".")[2]
    if dotted in _PATH_FUNCS or short in ("write_atomic", "open_private"):
        return call.args[:_PATH_FUNCS.get(dotted, 1)]
    if dotted == "os.open" or short == "open_nofollow":
        flags = call.args[1] if len(call.args) > 1 else None
        writes = flags is not None and any(
            isinstance(n, ast.Attribute | ast.Name) and _dotted(n).rpartition(".")[2]
            in _WRITE_FLAGS for n in ast.walk(flags))
        return call.args[:1] if writes else []
    if dotted == "open":
        return call.args[:1] if _writing_mode(call, 1) else []
    if isinstance(func, ast.Attribute):
        if func.attr in _PATH_METHODS:
            return [func.value]
        # Path.rename(target) / Path.replace(target); str.replace takes two arguments.
        if func.attr in ("rename", "replace") and len(call.args) == 1 and not call.keywords:
            return [func.value, call.args[0]]
        if func.attr == "open" and _writing_mode(call, 0):
            return [func.value]
    if isinstance(func, ast.Name) and func.id in writers:
        return [*call.args, *(k.value for k in call.keywords)]
    return []


def _scopes(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """(name, node) of each top-level function and method, and of the module's other code."""
    scopes, rest = [], []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            scopes.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            scopes += [(f"{node.name}.{n.name}", n) for n in node.body
                       if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        else:
            rest.append(node)
    return [*scopes, ("<module>", ast.Module(body=rest, type_ignores=[]))]


def local_writers(tree: ast.Module) -> set[str]:
    """The module's functions that write files (themselves or through another of them)."""
    funcs = {name: node for name, node in _scopes(tree) if "." not in name}
    writers: set[str] = set()
    while True:
        more = {name for name, node in funcs.items() if name not in writers and any(
            isinstance(n, ast.Call) and written_paths(n, writers) for n in ast.walk(node))}
        if not more:
            return writers
        writers |= more


def _mentions(node: ast.AST, tainted: set[str]) -> bool:
    return any((isinstance(n, ast.Name) and n.id in tainted)
               or (isinstance(n, ast.Attribute) and n.attr in WIKI_NAMES)
               for n in ast.walk(node))


def _bound(target: ast.AST) -> set[str]:
    """Names an assignment target binds (not `x.attr = ...` nor `x[i] = ...`)."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    if isinstance(target, ast.Tuple | ast.List):
        return set().union(*map(_bound, target.elts)) if target.elts else set()
    return set()


def wiki_names(scope: ast.AST) -> set[str]:
    """The names that hold a path inside the wiki in one function (computed from one)."""
    tainted = set(WIKI_NAMES)
    while True:
        more = set()
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign):
                pairs = [(t, node.value) for t in node.targets]
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value:
                pairs = [(node.target, node.value)]
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                pairs = [(node.target, node.iter)]
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                pairs = [(node.optional_vars, node.context_expr)]
            else:
                continue
            for target, value in pairs:
                if _mentions(value, tainted):
                    more |= _bound(target) - tainted
        if not more:
            return tainted
        tainted |= more


def wiki_writes(tree: ast.Module) -> list[str]:
    """`function:line` of every call that writes, renames or deletes a path in the wiki."""
    writers = local_writers(tree)
    found = []
    for name, scope in _scopes(tree):
        tainted = wiki_names(scope)
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and any(
                    _mentions(path, tainted) for path in written_paths(node, writers)):
                found.append(f"{name}:{node.lineno}")
    return found


def test_only_the_page_gate_writes_in_the_wiki():
    found = {f"{name}:{where}" for name, tree in modules().items() if name != PAGE_GATE
             for where in wiki_writes(tree)}
    outside = {w for w in found if w.rsplit(":", 1)[0] not in WIKI_WRITERS_ALLOWED}
    assert not outside, "write or delete pages through wiki.pages (write_pages, remove_pages)"
    assert {w.rsplit(":", 1)[0] for w in found} == set(WIKI_WRITERS_ALLOWED)  # none stale


# --- what purge asks of the page gate -------------------------------------------------------


def test_remove_pages_edited_too_removes_a_persons_page(tmp_path):
    wiki = tmp_path / "wiki"
    pages.write_pages(wiki, [pages.Page("a.md", {"title": "A"}, "x"),
                          pages.Page("b.md", {"title": "B"}, "y")])
    (wiki / "a.md").write_text((wiki / "a.md").read_text() + "a person's line\n")
    kept = pages.remove_pages(wiki, ["a.md"])
    assert kept.human_edited == ["a.md"] and (wiki / "a.md").exists()
    gone = pages.remove_pages(wiki, ["b.md", "a.md", "c.md"], edited_too=True)
    assert (gone.written, gone.unchanged) == (["a.md", "b.md"], ["c.md"])
    assert not list(wiki.iterdir())


def test_rewrite_files_changes_only_what_changes(tmp_path):
    wiki = tmp_path / "wiki"
    (wiki / "n").mkdir(parents=True)
    (wiki / "n" / "a.md").write_bytes(b"keep\nsecret here\n")
    (wiki / ".gitignore").write_bytes(b"*.tmp\n")
    drop = lambda data: data.replace(b"secret", b"[gone]")  # noqa: E731
    assert pages.rewrite_files(wiki, [".gitignore", "n/a.md"], drop) == ["n/a.md"]
    assert (wiki / "n" / "a.md").read_bytes() == b"keep\n[gone] here\n"
    assert sorted(p.name for p in (wiki / "n").iterdir()) == ["a.md"]  # no temporary
    for outside in ("../x.md", "/etc/passwd", ".git/config"):
        with pytest.raises(WikimemError, match="not a file of the wiki"):
            pages.rewrite_files(wiki, [outside], drop)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.md").write_bytes(b"secret\n")
    (wiki / "linked").symlink_to(outside)
    (wiki / "b.md").symlink_to(outside / "b.md")
    assert pages.rewrite_files(wiki, ["linked/b.md", "b.md"], drop) == []  # not through links
    assert (outside / "b.md").read_bytes() == b"secret\n" and (wiki / "b.md").is_symlink()


def test_rewrite_files_moves_a_file_whose_name_changes(tmp_path):
    wiki = tmp_path / "wiki"
    (wiki / "n" / "secret").mkdir(parents=True)
    (wiki / "n" / "secret" / "a.md").write_bytes(b"secret\n")
    (wiki / "n" / "b-secret.md").write_bytes(b"keep\n")
    (wiki / "n" / "b-gone.md").write_bytes(b"taken\n")
    drop = lambda data: data.replace(b"secret", b"gone")  # noqa: E731
    rename = lambda rel: rel.replace("secret", "gone")  # noqa: E731
    assert pages.rewrite_files(wiki, ["n/secret/a.md", "n/b-secret.md"], drop, rename) == [
        "n/gone/a.md"]
    assert (wiki / "n" / "gone" / "a.md").read_bytes() == b"gone\n"
    assert not (wiki / "n" / "secret").exists()  # its folder, empty, went too
    # A file at the new name already: this one stays where it is (its bytes unchanged).
    assert (wiki / "n" / "b-secret.md").read_bytes() == b"keep\n"
    assert (wiki / "n" / "b-gone.md").read_bytes() == b"taken\n"
    with pytest.raises(WikimemError, match="not a file of the wiki"):
        pages.rewrite_files(wiki, ["n/gone/a.md"], drop, lambda rel: "../x.md")


# --- the scans see what they are for ---------------------------------------------------------

SECOND_WRITERS = [
    "def f(project, rel):\n    (project.wiki_dir / rel).unlink()\n",
    "def f(wiki_dir, rel):\n    target = wiki_dir / rel\n    target.write_text('x')\n",
    "import os\ndef f(project, rel):\n    tmp = project.wiki_dir / 'x.tmp'\n"
    "    os.replace(tmp, project.wiki_dir / rel)\n",
    "def f(wiki):\n    for p in sorted(wiki.rglob('*')):\n"
    "        with p.open('w') as fh:\n            fh.write('x')\n",
    "import os\ndef _save(path, data):\n    os.unlink(path)\n"
    "def _again(path):\n    _save(path, b'')\n"
    "def f(project):\n    _again(project.wiki_dir / 'a.md')\n",
    "from wikimem.project import write_atomic\n"
    "def f(project):\n    write_atomic(project.wiki_dir / 'a.md', 'x')\n",
]
NOT_WRITERS = [
    "def f(project, rel):\n    return (project.wiki_dir / rel).read_text()\n",
    "def f(project):\n    (project.state_dir / 'x').unlink()\n    project.wiki_dir.mkdir()\n",
    "def f(wiki_dir, rel):\n    return rel.replace('\\\\', '/')\n",
]


def test_the_page_scan_sees_a_second_writer():
    assert all(wiki_writes(ast.parse(src)) for src in SECOND_WRITERS)
    assert not any(wiki_writes(ast.parse(src)) for src in NOT_WRITERS)


def test_the_git_scans_see_a_second_owner():
    assert git_imports(ast.parse("import git\nfrom git import Repo\nimport git.cmd\n")) == \
        [1, 2, 3]
    assert not git_imports(ast.parse("import gitlab\nfrom wikimem.wiki import gitrepo\n"))
    assert gitpython_uses(ast.parse("def f(repo):\n    return repo.git.execute(['git'])\n"))
    assert gitpython_uses(ast.parse("def f(repo):\n    return list(repo.iter_commits())\n"))
    calls = process_calls(ast.parse(
        "import subprocess\nfrom subprocess import run as go\nimport os\n"
        "subprocess.run(['git', 'status'])\ngo(['git'])\nos.system('git gc')\n"
        "subprocess.list2cmdline(['git'])\n"))
    assert [call.lineno for call in calls] == [4, 5, 6]
    assert all(_says_git(call) for call in calls[:2])
