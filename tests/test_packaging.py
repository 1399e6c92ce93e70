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
                     "wikimem/bootstrap/sources.txt", "wikimem/demo_data/02-issue-triage.jsonl"):
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
