"""Regenerate tests/golden/wiki: the pages compiled from the two recorded fixture sessions.

Also tests/golden/catchup-7d.txt, `wikimem catchup --since 7d` on that wiki (with a few
decisions and tasks) at a pinned clock. Run it after a change to what compile writes, then
review `git diff tests/golden` before committing: the golden tests
(tests/test_compile.py::test_golden_pages, tests/test_catchup.py) only compare, and never
write these files. Usage: python scripts/update_golden.py [OUTPUT_DIR]
(default: tests/golden/wiki). Needs wikimem's dev install (the test helpers import pytest).
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def main() -> int:
    sys.path.insert(0, str(TESTS))
    from golden_wiki import (
        CATCHUP_GOLDEN,
        GOLDEN,
        GOLDEN_LLM,
        catchup_golden_screen,
        compile_golden_llm_wiki,
        compile_golden_wiki,
    )

    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else GOLDEN
    write(out, _in_home(compile_golden_wiki))
    if len(sys.argv) == 1:  # the wiki compiled with LLM consolidation (a fake model)
        write(GOLDEN_LLM, _in_home(compile_golden_llm_wiki))
    screen = _in_home(catchup_golden_screen)
    catchup = out.parent / CATCHUP_GOLDEN.name
    catchup.write_text(screen, encoding="utf-8")
    print(f"Wrote {catchup}")
    return 0


def write(out: Path, pages: dict) -> None:
    shutil.rmtree(out, ignore_errors=True)
    for rel, data in sorted(pages.items()):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    print(f"Wrote {len(pages)} golden pages to {out}")


def _in_home(build):
    """`build()` run in what tests/conftest.py gives every test: its own home, no
    auto-compile, and a git configuration of its own."""
    with tempfile.TemporaryDirectory(prefix="wikimem-golden-") as tmp:
        gitconfig = Path(tmp) / "gitconfig"
        gitconfig.write_text("[user]\n\tname = Test Human\n\temail = human@example.com\n")
        os.environ.update({
            "WIKIMEM_HOME": str(Path(tmp) / "wm-home"),
            "WIKIMEM_AUTO_COMPILE": "0",
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
        })
        os.environ.pop("WIKIMEM_PROJECT", None)
        return build()


if __name__ == "__main__":
    sys.exit(main())
