"""The raw log has one writer, `wikimem/capture/rawlog.py`, and one batch-append path.

Like the hook's `sys.modules` test, the first test reads the code itself: it fails when a
module other than rawlog opens, replaces or deletes a raw-log file, or reaches into rawlog's
private helpers. The others check that what import, bootstrap and `rawlog.append_many` store
is byte for byte what appending the same observations one by one stores.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

import wikimem
from wikimem.capture import rawlog
from wikimem.capture.observation import Observation, new_id
from wikimem.project import Registry, SymlinkRefused

PACKAGE = Path(wikimem.__file__).parent
OWNER = "capture/rawlog.py"

# What marks an expression as naming a raw-log file or folder (or a value derived from one).
_RAWISH = re.compile(r"raw_dir|rawlog|SessionLog|['\"]raw['\"]|\.jsonl\b|\.keys\b|keys_path")
_WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_APPEND|O_CREAT|O_TRUNC")
_OS_WRITES = {"replace", "rename", "renames", "unlink", "remove", "truncate", "link", "symlink",
              "rmdir", "removedirs"}
_PATH_WRITES = {"write_text", "write_bytes", "touch", "unlink", "rmdir", "hardlink_to",
                "symlink_to"}
_SHUTIL_WRITES = {"rmtree", "move", "copy", "copy2", "copyfile", "copytree"}


def _arg(call: ast.Call, i: int, name: str):
    if len(call.args) > i:
        return call.args[i]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _writes(call: ast.Call) -> list[ast.expr]:
    """The path arguments of a call that opens for writing, replaces or deletes a file."""
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
    owner = ast.unparse(f.value) if isinstance(f, ast.Attribute) else ""
    if name in ("open_private", "open_nofollow") or (name == "open" and owner == "os"):
        flags = _arg(call, 1, "flags")
        text = "" if flags is None else ast.unparse(flags)
        # (flags held in a name, `_FLAGS`, are taken to write: a name could hide anything)
        if flags is None or _WRITE_FLAGS.search(text) or "O_RDONLY" not in text:
            return call.args[:1]
        return []
    if name == "open" and owner in ("", "io", "builtins"):
        mode = _arg(call, 1, "mode")
        path = call.args[:1]
    elif name == "open":  # Path.open(mode)
        mode, path = _arg(call, 0, "mode"), [f.value]
    elif owner == "os" and name in _OS_WRITES:
        return list(call.args)
    elif owner == "shutil" and name in _SHUTIL_WRITES:
        return list(call.args)
    elif "atomic" in name:  # write_atomic, and whatever replaces it
        return call.args[:1]
    elif isinstance(f, ast.Attribute) and name in _PATH_WRITES:
        return [f.value]
    elif isinstance(f, ast.Attribute) and name in ("replace", "rename") and len(call.args) == 1:
        return [f.value, call.args[0]]  # Path.replace(target) (str.replace takes two)
    else:
        return []
    if mode is None:
        return []
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return path if set(mode.value) & set("wax+") else []
    return path


class _Scope:
    """The names in one function (or module body) bound to raw-log paths or logs."""

    def __init__(self, node: ast.AST):
        self.node = node
        self.tainted: set[str] = set()
        args = getattr(node, "args", None)
        if isinstance(args, ast.arguments):
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if a.annotation is not None and _RAWISH.search(ast.unparse(a.annotation)):
                    self.tainted.add(a.arg)
        bindings, self.calls = [], []
        for sub in _walk_scope(node):
            if isinstance(sub, ast.Call):
                self.calls.append(sub)
            elif isinstance(sub, ast.Assign):
                bindings += [(t, sub.value) for t in sub.targets]
            elif isinstance(sub, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and sub.value:
                bindings.append((sub.target, sub.value))
            elif isinstance(sub, ast.For | ast.comprehension):
                bindings.append((sub.target, sub.iter))
            elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
                bindings.append((sub.optional_vars, sub.context_expr))
        # (target names, whether the value names a raw path itself, the names the value uses)
        flows = [({n.id for n in ast.walk(t) if isinstance(n, ast.Name)},
                  bool(_RAWISH.search(ast.unparse(v))), _names(v)) for t, v in bindings]
        changed = True
        while changed:
            changed = False
            for targets, rawish, uses in flows:
                if (rawish or uses & self.tainted) and not targets <= self.tainted:
                    self.tainted |= targets
                    changed = True

    def rawish(self, expr: ast.expr) -> bool:
        return bool(_RAWISH.search(ast.unparse(expr)) or _names(expr) & self.tainted)


def _names(expr: ast.expr) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}


def _walk_scope(node: ast.AST):
    """The nodes of a function or module body, not those of functions defined in it."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        sub = todo.pop()
        yield sub
        if not isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(sub))


def raw_log_writers(tree: ast.Module, rel: str) -> list[str]:
    """Where a module writes a raw-log file itself, or uses rawlog's private helpers."""
    found = []
    rawlog_names = set()  # what the module calls the rawlog module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "wikimem.capture.rawlog":
            found += [f"{rel}:{node.lineno}: imports rawlog.{a.name}" for a in node.names
                      if a.name.startswith("_")]
        elif isinstance(node, ast.ImportFrom) and node.module == "wikimem.capture":
            rawlog_names |= {a.asname or a.name for a in node.names if a.name == "rawlog"}
        elif isinstance(node, ast.Import):
            rawlog_names |= {a.asname or a.name for a in node.names
                             if a.name == "wikimem.capture.rawlog"}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and ast.unparse(node.value) in rawlog_names):
            found.append(f"{rel}:{node.lineno}: uses {ast.unparse(node)}")
    scopes = [tree, *(n for n in ast.walk(tree)
                      if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))]
    for node in scopes:
        scope = _Scope(node)
        for call in scope.calls:
            if any(scope.rawish(p) for p in _writes(call)):
                found.append(f"{rel}:{call.lineno}: {ast.unparse(call)[:80]}")
    return found


def test_only_rawlog_writes_the_raw_log():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel != OWNER:
            found += raw_log_writers(ast.parse(path.read_text(encoding="utf-8")), rel)
    assert found == []


@pytest.mark.parametrize("code", [
    "def f(log: rawlog.SessionLog):\n    fd = open_private(log.path, os.O_RDWR | os.O_APPEND)\n",
    "def f(p):\n    base = p.raw_dir / 'x'\n    for s in ('.jsonl', '.keys'):\n"
    "        base.with_suffix(s).unlink()\n",
    "def f(project):\n    with open(project.raw_dir / name, 'ab') as f:\n        f.write(b'')\n",
    "def f(project):\n    write_atomic(project.file('raw') / 'a', b'')\n",
    "f = lambda p: fsio.atomic_write(p.raw_dir / 's.jsonl', b'')\n",
    "def f(raw_dir):\n    os.replace(tmp, os.path.join(raw_dir, 's.jsonl'))\n",
    "def f(raw_dir):\n    fd = os.open(raw_dir / 's.keys', FLAGS)\n",
    "from wikimem.capture.rawlog import _write_all\n",
    "from wikimem.capture import rawlog as r\nfiles = r._acquire(raw, 's')\n",
])
def test_the_scan_finds_a_second_writer(code):
    assert raw_log_writers(ast.parse(code), "x.py")


@pytest.mark.parametrize("code", [
    "def f(project):\n    return rawlog.read(project.raw_dir / 's.jsonl')\n",
    "def f(project):\n    with open(project.raw_dir / 's.jsonl', 'rb') as f:\n"
    "        return f.read()\n",
    "def f(project):\n    fd = os.open(project.raw_dir / 's.jsonl', os.O_RDONLY)\n",
    "def f(project):\n    write_atomic(project.state_dir / 'x.json', b'')\n",
    "def f(name):\n    return name.replace('.jsonl', '')\n",
])
def test_the_scan_leaves_readers_and_other_stores_alone(code):
    assert raw_log_writers(ast.parse(code), "x.py") == []


# -- one batch-append path --------------------------------------------------------------------


def obs(key: str, session: str = "s1", **data) -> Observation:
    return Observation(id=new_id(), key=key, session=session, agent="claude-code",
                       kind="prompt", ts="2026-01-01T00:00:00.000Z", cwd="/x", data=data)


def log_files(raw: Path, stem: str = "") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(raw.iterdir())
            if p.suffix in (".jsonl", ".keys") and p.name.startswith(stem)}


def one_by_one(raw: Path, observations, *, internal: bool = False) -> list[bool]:
    return [rawlog.append(raw, o, internal=internal) for o in observations]


def test_append_many_stores_what_appending_one_by_one_stores(tmp_path):
    before = [obs("u-1"), obs("p-a", "s2")]
    batch = [
        obs("u-2"), obs("p-a", "s2"),  # p-a was the last key of s2: a re-delivery
        obs("p-x"), obs("p-x"),  # the same payload twice in a row: once
        obs("u-1"), obs("u-3", "s2"),  # stored before
        obs("p-y", "s3", note="über"), obs("u-4", "s3"), obs("p-y", "s3"),  # typed again
        obs("u-4", "s3"), obs("u-5"), obs("u-5"), obs("p-x"),
    ]
    one, many = tmp_path / "one", tmp_path / "many"
    assert one_by_one(one, before) == one_by_one(many, before) == [True, True]
    expected = one_by_one(one, batch)
    assert rawlog.append_many(many, batch) == expected
    assert expected == [True, False, True, False, False, True, True, True, True, False, True,
                        False, True]
    assert log_files(many) == log_files(one)
    again = one_by_one(one, batch)  # (a `p-` key is stored again after other keys)
    assert rawlog.append_many(many, batch) == again
    assert again == [False, True] + [False] * 11
    assert rawlog.append_many(many, []) == []
    assert log_files(many) == log_files(one)

    memory = [obs("u-1", "wikimem-memory"), obs("u-1", "wikimem-memory")]
    assert rawlog.append_many(many, memory, internal=True) == [True, False]
    assert (many / "wikimem-memory.keys").read_text() == "u-1\n"


def test_append_many_retries_short_writes(tmp_path, monkeypatch):
    short = _short_writes(monkeypatch, tmp_path)
    batch = [obs(f"u-{n}", session=f"s{n % 3}", text="x" * n) for n in range(60)]
    assert rawlog.append_many(tmp_path / "many", batch) == [True] * 60
    monkeypatch.undo()
    assert short, "no write was cut short"
    one_by_one(tmp_path / "one", batch)
    assert log_files(tmp_path / "many") == log_files(tmp_path / "one")


@pytest.mark.parametrize("suffix", [".jsonl", ".keys"])
def test_append_many_refuses_a_link_like_append(tmp_path, suffix):
    raw, outside = tmp_path / "raw", tmp_path / "outside"
    raw.mkdir()
    outside.write_bytes(b"")
    assert rawlog.append_many(raw, [obs("u-0", "s0")]) == [True]
    (raw / f"s1{suffix}").symlink_to(outside)
    for append in (lambda: rawlog.append(raw, obs("u-1")),
                   lambda: rawlog.append_many(raw, [obs("u-0", "s0"), obs("u-1")])):
        with pytest.raises(SymlinkRefused):
            append()
    assert outside.read_bytes() == b""


def test_append_many_refuses_a_linked_raw_folder(tmp_path):
    project = Registry().resolve(tmp_path / "repo", create=True)
    project.dir.mkdir(parents=True, exist_ok=True)
    (tmp_path / "elsewhere").mkdir()
    project.raw_dir.symlink_to(tmp_path / "elsewhere")
    for append in (lambda: rawlog.append(project.raw_dir, obs("u-1")),
                   lambda: rawlog.append_many(project.raw_dir, [obs("u-1")])):
        with pytest.raises(SymlinkRefused):
            append()
    assert list((tmp_path / "elsewhere").iterdir()) == []


def _short_writes(monkeypatch, under: Path) -> list[int]:
    """Make every write to a raw-log file under `under` stop halfway, as on a full disk."""
    write, short = os.write, []

    def half(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(str(under)) and len(data) > 1:
            short.append(fd)
            return write(fd, data[:len(data) // 2])
        return write(fd, data)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file a write goes to")
    monkeypatch.setattr(os, "write", half)
    return short


# -- bootstrap and import use it ----------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.com",
           "GIT_AUTHOR_DATE": "2024-01-02T10:00:00+00:00",
           "GIT_COMMITTER_DATE": "2024-01-02T10:00:00+00:00"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _bootstrap(repo: Path) -> dict:
    from wikimem.cli import cli

    old = os.getcwd()
    os.chdir(repo)
    try:
        result = CliRunner().invoke(cli, ["bootstrap", "--json"], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def small_repo(repo) -> Path:
    (repo / "README.md").write_text("# small\n\nA small project.\n")
    (repo / "pkg").mkdir()
    for n in range(12):
        (repo / "pkg" / f"m{n}.py").write_text(f'"""Module {n}."""\nX = {n}\n')
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"feat(m{n}): add module {n}")
    return repo


def test_bootstrap_stores_what_appending_one_by_one_stores(small_repo, tmp_path):
    out = _bootstrap(small_repo)
    assert out["observations"] > 12
    project = Registry().resolve(small_repo, create=False)
    stored = rawlog.read(project.raw_dir / "wikimem-bootstrap.jsonl").observations
    assert len(stored) == out["observations"]
    assert one_by_one(tmp_path, stored, internal=True) == [True] * len(stored)
    assert log_files(tmp_path) == log_files(project.raw_dir, "wikimem-bootstrap.")
    assert _bootstrap(small_repo)["observations"] == 0
    assert log_files(tmp_path) == log_files(project.raw_dir, "wikimem-bootstrap.")


def test_bootstrap_retries_a_short_write_of_its_keys(small_repo, monkeypatch):
    project = Registry().resolve(small_repo)
    short = _short_writes(monkeypatch, project.raw_dir)
    out = _bootstrap(small_repo)
    monkeypatch.undo()
    assert short
    stored = rawlog.read(project.raw_dir / "wikimem-bootstrap.jsonl")
    assert stored.bad_lines == [] and len(stored.observations) == out["observations"]
    keys = (project.raw_dir / "wikimem-bootstrap.keys").read_text()
    assert keys == "".join(o.key + "\n" for o in stored.observations)


def _import(home: Path, repo: Path, files: list[Path]):
    from wikimem.agents.backfill import discover, import_sessions

    registry = Registry(home)
    project = registry.resolve(repo)
    return project, import_sessions(registry, discover(paths=files), project=project,
                                    force=True)


TRANSCRIPTS = sorted(p for p in (FIXTURES / "transcripts").iterdir()
                     if not p.name.startswith("hooks_"))


def test_import_stores_what_appending_one_by_one_stores(tmp_path, repo):
    project, report = _import(tmp_path / "home", repo, TRANSCRIPTS)
    assert report.observations > 100 and report.sessions > 2
    one = tmp_path / "one"
    for path in rawlog.session_files(project.raw_dir):
        stored = rawlog.read(path).observations
        assert one_by_one(one, stored) == [True] * len(stored)
    assert log_files(one) == log_files(project.raw_dir)
    _, again = _import(tmp_path / "home", repo, TRANSCRIPTS)
    assert again.observations == 0
    assert again.duplicates == report.observations + report.duplicates
    assert log_files(one) == log_files(project.raw_dir)


def test_import_writes_each_session_once(tmp_path, repo, monkeypatch):
    write, writes = os.write, []

    def counting(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if "/raw/" in target:
            writes.append(Path(target).name)
        return write(fd, data)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file a write goes to")
    monkeypatch.setattr(os, "write", counting)
    project, report = _import(tmp_path / "home", repo, TRANSCRIPTS)
    monkeypatch.undo()
    sessions = [p.name for p in rawlog.session_files(project.raw_dir)]
    assert report.observations > len(sessions) > 2
    assert sorted(writes) == sorted([*sessions, *(s[:-6] + ".keys" for s in sessions)])
