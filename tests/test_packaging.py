"""The built wheel carries templates/ and bootstrap/, installs cleanly and runs the demo."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_into_fresh_venv_and_runs_demo(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = dist.glob("wikimem-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for resource in ("wikimem/templates/session.md", "wikimem/templates/context-block.md",
                     "wikimem/bootstrap/sources.txt", "wikimem/demo_data/02-issue-triage.jsonl",
                     "wikimem/templates/web-layout.html", "wikimem/templates/web.css",
                     "wikimem/templates/web-search.js"):
        assert resource in names, resource
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel)],
                   check=True, capture_output=True)
    out = subprocess.run([str(bindir / "wikimem"), "demo", "--home", str(tmp_path / "demo")],
                         check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert "Wiki folder:" in out and "wikimem: Compile 2 sessions" in out
    assert "sessions/" in out.split("wikimem search")[1]
    assert "<wikimem-context" in out and "</wikimem-context>" in out
    # The README's first command runs `python -m wikimem demo` from the repository root, where
    # the source folder shadows the installed wheel on sys.path.
    readme = subprocess.run([str(bindir / "python"), "-m", "wikimem", "demo", "--home",
                             str(tmp_path / "demo-root")], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    assert readme.returncode == 0, readme.stderr
    assert "Wiki folder:" in readme.stdout and "</wikimem-context>" in readme.stdout


def test_data_packages_resolve_from_the_source_tree():
    """`python -m wikimem` at the repository root imports the source tree, which has no
    wikimem/templates: the data must still be found (the quick start broke this way)."""
    code = ("from wikimem import datafiles\n"
            "for pkg, name in [('templates', 'session.md'), ('bootstrap', 'sources.txt'),\n"
            "                  ('bootstrap', 'prompts/overview.md'),\n"
            "                  ('demo_data', 'SOURCES.md')]:\n"
            "    print(pkg, len(datafiles.read_text(pkg, name)))\n")
    # -S: no site-packages, so no installed or editable wikimem can answer for the source tree.
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    sizes = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert int(sizes["templates"]) == len((ROOT / "templates" / "session.md").read_text())
    assert int(sizes["demo_data"]) > 0


def test_every_package_is_listed_for_the_wheel():
    """pyproject lists packages by hand: a package left out is missing from every wheel
    install while editable installs and the source tree still have it."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.relative_to(ROOT).parent.parts)
             for p in (ROOT / "wikimem").rglob("__init__.py")}
    assert found - listed == set()
    assert {"wikimem.templates", "wikimem.bootstrap"} <= listed
