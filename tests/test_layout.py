"""The shape of the code: one package per stage, imports in one direction, no module too long.

docs/ARCHITECTURE.md opens with the map these tests hold the code to.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "wikimem"

# Each layer may import from the layers before it and from itself, never from a later one.
LAYERS = [
    ("base", {"errors", "faults", "locks", "datafiles", "fsio", "project", "__init__",
              "demo_data"}),
    ("capture", {"capture"}),
    ("agents", {"agents"}),
    ("memory", {"memory"}),
    ("wiki", {"wiki"}),
    ("search", {"search"}),
    ("repo", {"repo"}),
    ("compile", {"compile"}),
    ("sync", {"sync"}),
    ("serve", {"serve"}),
    ("roots", {"config", "doctor", "demo", "purge", "hook", "entry", "__main__", "cli"}),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}
MAX_LINES = 600


def modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "demo_data" not in p.parts)


def unit(path: Path) -> str:
    """The top-level name a module belongs to: its package, or itself at the top level."""
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def dotted(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = ["wikimem", *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def wikimem_imports(path: Path) -> list[tuple[int, str]]:
    """Every wikimem module a module imports, at any depth of the file (lazy imports count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = dotted(path) if path.name == "__init__.py" else dotted(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("wikimem")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if base == "wikimem":
                found += [(node.lineno, f"wikimem.{a.name}") for a in node.names]
            elif base.startswith("wikimem."):
                found.append((node.lineno, base))
    return found


def test_every_module_belongs_to_a_layer():
    assert {unit(p) for p in modules()} - set(RANK) == set()


def test_imports_go_one_way():
    wrong = []
    for path in modules():
        mine = RANK[unit(path)]
        for line, name in wikimem_imports(path):
            target = name.split(".")[1]
            if target in {"__version__", "templates", "bootstrap"}:
                continue
            if RANK.get(target, -1) > mine:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert wrong == []


def test_no_import_circle_between_modules():
    graph: dict[str, set[str]] = {}
    names = {dotted(p): p for p in modules()}
    for name, path in names.items():
        deps = set()
        for _, imported in wikimem_imports(path):
            while imported and imported not in names:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                deps.add(imported)
        graph[name] = deps
    # A package's __init__ and its own submodules may refer to each other; anything else that
    # loops is a circle.
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                circles.append(" -> ".join(trail[trail.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_the_limit(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_top_level_holds_a_handful_of_modules_and_the_stage_packages():
    top = sorted(p.stem for p in ROOT.glob("*.py"))
    packages = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())
    assert packages == ["agents", "capture", "cli", "compile", "demo_data", "purge", "repo",
                        "search", "serve", "sync", "wiki"]
    assert len(top) <= 14, top


def test_files_are_replaced_through_the_one_atomic_write_helper():
    """fsio.replace_file / replace_many hold the durability rule; nothing else renames a file
    over another (the index's folder swap and a fetched model's are renames of folders, not
    file writes)."""
    allowed = {"fsio.py", "search/store.py", "search/semantic.py"}
    found = []
    for path in modules():
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"replace", "rename"}
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "os"):
                found.append(f"{rel}:{node.lineno}")
    assert sorted({f.split(":")[0] for f in found} - allowed) == []
    assert {f.split(":")[0] for f in found} == allowed  # none stale
