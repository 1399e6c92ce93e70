"""The search index has one owner: only wikimem.search imports Whoosh, only search/store.py
writes into the index folder, and only search/whoosh_internals.py reads Whoosh's private names.

The first and last are read from the source (every import and attribute, function-level ones
included); the writer is caught in the act: a whole life of a project (compiles, searches, a
note, reindex, doctor, a damaged index, a purge) runs in a child process that records, with
an audit hook, every write into the index folder and the wikimem module that made it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import whoosh

import wikimem

PACKAGE = Path(wikimem.__file__).parent
SEARCH = PACKAGE / "search"
STORE = "search/store.py"
INTERNALS = "search/whoosh_internals.py"
# The private reads whoosh_internals.py makes (its docstring lists them): the scan must see
# them there, or it would be blind to them elsewhere too.
KNOWN_PRIVATE_READS = {"_read_ids", "_read_weights", "_next_block", "_ids", "_weights",
                       "_perdoc", "_cached_reader", "_fixedlen", "_dbfile", "_basepos",
                       "_count", "_field_B"}
# The namedtuple API: underscored so as not to clash with field names, but public.
NAMEDTUPLE_API = {"_fields", "_field_defaults", "_make", "_replace", "_asdict"}


def _sources(root: Path) -> dict[str, ast.Module]:
    with warnings.catch_warnings():  # old escapes in Whoosh's strings: not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)  # (SyntaxWarning from 3.12)
        warnings.simplefilter("ignore", SyntaxWarning)
        return {p.relative_to(root).as_posix(): ast.parse(p.read_text(encoding="utf-8"), str(p))
                for p in sorted(root.rglob("*.py"))}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# ---------------------------------------------------------------------------------------------
# Imports


def _whoosh_imports(tree: ast.Module) -> list[int]:
    """Lines importing whoosh: import statements anywhere, and import_module/__import__."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if not node.level else []
        elif isinstance(node, ast.Call) and getattr(node.func, "attr",
                                                    getattr(node.func, "id", "")) in (
                "import_module", "__import__"):
            names = [a.value for a in node.args[:1]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        else:
            continue
        if any(n == "whoosh" or n.startswith("whoosh.") for n in names):
            lines.append(node.lineno)
    return lines


def test_only_the_search_package_imports_whoosh():
    found = {rel: lines for rel, tree in _sources(PACKAGE).items()
             if (lines := _whoosh_imports(tree))}
    assert {rel for rel in found if not rel.startswith("search/")} == set(), found
    assert STORE in found and INTERNALS in found  # the scan sees the imports that are there
    assert _whoosh_imports(ast.parse("def f():\n    from whoosh import index\n")) == [2]


# ---------------------------------------------------------------------------------------------
# Private names


def _defined_privately(trees: dict[str, ast.Module]) -> set[str]:
    """The private names a body of code defines: functions, classes, anything assigned (a
    name or an attribute), and import aliases."""
    names = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {n for n in names if _private(n)}


def _whoosh_private_names() -> set[str]:
    """Every private name Whoosh uses: what it defines and what it reads of its own objects."""
    trees = _sources(Path(whoosh.__file__).parent)
    names = _defined_privately(trees)
    for tree in trees.values():
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return {n for n in names if _private(n)}


def _private_reads(trees: dict[str, ast.Module], theirs: set[str]) -> dict[str, set[str]]:
    """Per module, the attributes (`x._name`) read whose name is one of `theirs`."""
    out: dict[str, set[str]] = {}
    for rel, tree in trees.items():
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} & theirs
        if used:
            out[rel] = used
    return out


def test_only_whoosh_internals_reads_private_whoosh_names():
    """An AST scan: `x._name`, where Whoosh has a private `_name` and wikimem defines no such
    name itself (then `x` is one of wikimem's objects, or its own name hides Whoosh's)."""
    ours = _sources(PACKAGE)
    theirs = _whoosh_private_names() - _defined_privately(ours) - NAMEDTUPLE_API
    reads = _private_reads(ours, theirs)
    assert {rel: names for rel, names in reads.items() if rel != INTERNALS} == {}
    assert reads.get(INTERNALS, set()) >= KNOWN_PRIVATE_READS
    # And a private read anywhere else would be seen.
    planted = {"scoring.py": ast.parse("def f(reader):\n    return reader._perdoc\n")}
    assert _private_reads(planted, theirs) == {"scoring.py": {"_perdoc"}}


# ---------------------------------------------------------------------------------------------
# Writers of the index folder

# Writes into the index folder by another module that the store's owner test knows of. Each
# is a breach to route through search/store.py; the test fails when one is no longer seen,
# so that its entry goes too.
KNOWN_OTHER_WRITERS: set[tuple[str, str]] = set()
# Base modules a write passes through on its way from its owner (the store takes its write
# lock through wikimem.locks, which opens the file with project.open_nofollow): the write is
# their caller's.
PASS_THROUGH = {"locks.py", "project.py", "fsio.py"}

WORKLOAD = r'''
import io, json, os, sys

index_dir, out, repo = sys.argv[1], sys.argv[2], sys.argv[3]
import wikimem

PACKAGE = os.path.dirname(os.path.abspath(wikimem.__file__)) + os.sep
PASS_THROUGH = set(json.loads(sys.argv[4]))
PARENT, NAME = os.path.split(index_dir)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
records, state = [], {"step": "setup", "busy": False}


def _path(value, dir_fd=None):
    if isinstance(value, int) or value is None:
        return None
    path = os.fsdecode(os.fspath(value))
    if dir_fd is not None and not os.path.isabs(path):
        try:
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        except OSError:
            return None
    return os.path.abspath(path)


def _tracked(path, event):
    if path is None:
        return False
    if path == index_dir:  # the folder itself: replacing or deleting it, not making it
        return event in ("os.rename", "os.remove", "os.rmdir", "shutil.rmtree")
    # In it, or in (or being) a sibling: a build, an old folder, the lock.
    top = os.path.relpath(path, PARENT).split(os.sep)[0]
    return path.startswith(PARENT + os.sep) and (top == NAME or top.startswith(f".{NAME}."))


def _targets(event, args):
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(flags, int) and flags & WRITE_FLAGS) or (
            isinstance(mode, str) and set(mode) & set("wax+"))
        return [_path(path)] if writes else []
    if event in ("os.rename", "os.link"):
        return [_path(args[0], args[2]), _path(args[1], args[3])]
    if event in ("os.remove", "os.rmdir", "shutil.rmtree"):
        return [_path(args[0], args[1])]
    if event in ("os.mkdir", "os.chmod", "os.utime", "os.symlink"):
        return [_path(args[1] if event == "os.symlink" else args[0], args[-1])]
    if event == "os.truncate":
        return [_path(args[0])]
    return []


def _owner():
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(PACKAGE):
            rel = name[len(PACKAGE):].replace(os.sep, "/")
            if rel not in PASS_THROUGH:
                return rel, frame.f_code.co_name
        frame = frame.f_back
    return None, None


def audit(event, args):
    if state["busy"]:
        return
    state["busy"] = True
    try:
        paths = [p for p in _targets(event, args) if _tracked(p, event)]
        if paths:
            owner, func = _owner()
            records.append({"event": event, "path": os.path.relpath(paths[0], PARENT),
                            "owner": owner, "func": func, "step": state["step"]})
    except Exception as exc:  # never break the workload; report instead
        records.append({"event": event, "error": repr(exc), "step": state["step"]})
    finally:
        state["busy"] = False


sys.addaudithook(audit)

from click.testing import CliRunner

from wikimem import hook
from wikimem.cli import cli
from wikimem.compile.build import compile_project
from wikimem.project import Registry

os.chdir(repo)


def send(session, event, **fields):
    payload = {"session_id": session, "cwd": repo, "hook_event_name": event, **fields}
    assert hook.run("claude-code", [], io.BytesIO(json.dumps(payload).encode()),
                    io.BytesIO()) == 0


def cli_ok(*args, input=None):
    result = CliRunner().invoke(cli, list(args), input=input)
    assert result.exit_code == 0, (args, result.output)


A, B = "5a5a5a5a-0000-4000-8000-00000000000a", "5b5b5b5b-0000-4000-8000-00000000000b"
state["step"] = "first compile"
send(A, "UserPromptSubmit", prompt="Fix the flaky pagination test; token quokka-7731")
send(A, "Stop", last_assistant_message="The pagination test passes now.")
project = Registry().resolve(repo)
assert os.path.abspath(project.index_dir) == index_dir, project.index_dir
compile_project(project)
state["step"] = "incremental compile"
send(B, "UserPromptSubmit", prompt="Cache the invoices in Redis")
send(B, "Stop", last_assistant_message="Decision: cache invoices in Redis for speed")
compile_project(project)
state["step"] = "search"
cli_ok("search", "pagination")
cli_ok("search", "invoices", "--kind", "session", "--json")
state["step"] = "note"
cli_ok("note", "Invoices are cached for an hour")
state["step"] = "reindex"
cli_ok("reindex")
state["step"] = "doctor"
CliRunner().invoke(cli, ["doctor"])
state["step"] = "damage"  # the workload itself, as a disk fault would
for name in os.listdir(index_dir):
    if name.endswith(".toc"):
        with open(os.path.join(index_dir, name), "wb") as f:
            f.write(b"not a table of contents")
state["step"] = "recovery"
cli_ok("search", "pagination")
state["step"] = "rebuild compile"
compile_project(project, rebuild=True)
state["step"] = "purge"
cli_ok("purge", "--secret", "quokka-7731", "--yes")
state["step"] = "done"
with open(out, "w", encoding="utf-8") as f:
    json.dump(records, f)
'''


def _index_writes(repo: Path, tmp_path: Path) -> list[dict]:
    from wikimem.project import Registry

    index_dir = os.path.abspath(Registry().resolve(repo).index_dir)
    out = tmp_path / "index-writes.json"
    subprocess.run([sys.executable, "-c", WORKLOAD, index_dir, str(out), str(repo),
                    json.dumps(sorted(PASS_THROUGH))],
                   cwd=repo, check=True, capture_output=True, timeout=300)
    return json.loads(out.read_text(encoding="utf-8"))


def test_only_the_store_writes_into_the_index_folder(repo: Path, tmp_path: Path):
    records = _index_writes(repo, tmp_path)
    assert [r for r in records if "error" in r] == []
    by_store = [r for r in records if r["owner"] == STORE]
    others = [r for r in records if r["owner"] != STORE]
    # The workload's own damage is seen as a write from outside wikimem...
    assert {r["step"] for r in others if r["owner"] is None} == {"damage"}
    # ...and no wikimem module but the store writes there, except the breaches known.
    seen = {(r["owner"], r["func"]) for r in others if r["owner"] is not None}
    assert seen - KNOWN_OTHER_WRITERS == set(), [r for r in others if r["owner"]]
    assert KNOWN_OTHER_WRITERS - seen == set(), "no longer seen: remove it from the list"
    # The store did write, in every way it writes: files, the lock, the swap, the old folder.
    steps = {r["step"] for r in by_store}
    assert {"first compile", "incremental compile", "note", "reindex", "recovery",
            "rebuild compile", "purge"} <= steps
    assert {"open", "os.rename", "os.mkdir", "shutil.rmtree"} <= {r["event"] for r in by_store}
    assert any(r["path"].startswith(".index.lock") for r in by_store)
    assert not {r["step"] for r in by_store} & {"search", "doctor", "damage"}
