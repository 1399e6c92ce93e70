#!/usr/bin/env python
"""Take the README's screenshots of `wikimem web` (docs/web-*.png), light and dark.

    python scripts/web_screenshots.py

Builds the demo wiki (`wikimem demo`'s recorded sessions) in a throwaway home, records two
decisions, the second superseding the first, serves it on a free loopback port and shoots the
index, a session page, the superseded decision with its chain, and a diff with headless
chromium (Debian's `chromium` and `chromium-driver`, driven by selenium).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs"
SIZE = (900, 640)


def build(base: Path):
    from tests.web_wiki import _compile_at
    from wikimem.demo import run_demo
    from wikimem.memory import Memory
    from wikimem.project import Registry

    os.environ["WIKIMEM_HOME"] = str(base / "home")
    run_demo(str(base), echo=lambda _m: None)
    project = Registry(base / "home").projects()[0]
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    Memory(project, agent="claude-code", now=t0).add(
        "decision", "Run CI on Node 20", {"why": "Node 20 is the active LTS line",
                                          "ruled_out": "Node 18: leaves LTS in April"})
    _compile_at(project, "2026-01-05T09:00:00Z")
    Memory(project, agent="claude-code", now=t0.replace(month=3)).add(
        "decision", "Run CI on Node 22", {"why": "the sls offline plugin needs Node 22",
                                          "ruled_out": "Node 24: not LTS yet"},
        supersedes=["decisions/D1-run-ci-on-node-20.md"])
    _compile_at(project, "2026-03-05T09:00:00Z")
    return project


def main() -> None:
    from selenium import webdriver

    from wikimem.serve.webserver import WebApp, make_server
    from wikimem.wiki import timetravel

    base = Path(tempfile.mkdtemp(prefix="wikimem-shots-"))
    try:
        project = build(base)
        server = make_server(WebApp(lambda: [project]), "127.0.0.1", 0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/p/{project.project_id}"
        d1 = "decisions/D1-run-ci-on-node-20.md"
        revs = timetravel.revisions(Path(project.wiki_dir), d1)
        session = sorted(os.listdir(Path(project.wiki_dir) / "sessions"))[0]
        shots = {
            "index": f"{url}/",
            "session": f"{url}/page/sessions/{session}",
            "decision": f"{url}/page/{d1}",
            "diff": f"{url}/diff/{d1}?from={revs[-1].commit[:12]}&to={revs[0].commit[:12]}",
        }
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={SIZE[0]},{SIZE[1]}", "--force-device-scale-factor=1"):
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options,
                                  service=webdriver.ChromeService(shutil.which("chromedriver")))
        try:
            for theme in ("light", "dark"):
                driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
                    {"name": "prefers-color-scheme", "value": theme}]})
                for name, target in shots.items():
                    driver.get(target)
                    path = OUT / f"web-{name}-{theme}.png"
                    driver.save_screenshot(str(path))
                    print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KiB")
        finally:
            driver.quit()
            server.shutdown()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
