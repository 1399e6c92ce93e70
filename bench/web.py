#!/usr/bin/env python
"""`wikimem web`: how long a page takes to render at 10,000 pages, beside the baselines.

    python bench/web.py [--pages 10000] [--samples 200] [--out FILE]

Writes a wiki of N pages straight into a fresh project (90% session pages of ~3 KB with
wikilinks to earlier sessions and to decisions, and `supersedes: null` as compiled session
pages have, 10% decisions, a fifth of them in supersession
chains of three), commits it in one git commit and indexes it (`SearchIndex.rebuild`). Then,
in process, each view is answered by `WebApp.handle` as the server does (the whole HTML
document, headers included; no socket), `--samples` times on random pages after one warm-up:

* page_session_ms: a session page (properties, rendered body, backlinks from the index);
* page_decision_ms: a decision in a chain (also its supersession chain, `timetravel.chain`);
* page_plain_decision_ms: a decision in no chain;
* search_ms, history_ms (`git log --follow`), diff_ms (two `git show`s), tree_ms (the project
  home: index.md and the tree of every page);
* baselines from the same run: reading the page file (`read_bytes`) and mistune's own
  `mistune.html()` of its body (an unsafe render with no wikilinks, properties or layout).

Medians and p95 in milliseconds; the machine is noisy, read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
RESULTS = HERE / "results" / "web.json"
WORDS = ("cache queue router schema session token retry migration writer reader config "
         "logger export importer index page user permission metrics backup snapshot lock "
         "scheduler webhook invoice payment search ranking parser client timeout deadlock "
         "pagination flaky fixture release deploy rollback").split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def session_page(rng: random.Random, i: int, decisions: list[str]) -> str:
    links = " ".join(f"[[2025-01-01-s{rng.randrange(max(i, 1)):05d}]]" for _ in range(3))
    decision = f"[[{rng.choice(decisions)}]]" if decisions else ""
    files = "\n".join(f"- `src/{rng.choice(WORDS)}/{rng.choice(WORDS)}.py` (edited)"
                      for _ in range(8))
    commands = "\n".join(f"- `pytest -q tests/test_{rng.choice(WORDS)}.py` — exit 0"
                         for _ in range(6))
    sources = "\n".join(f"- file:src/{rng.choice(WORDS)}.py" for _ in range(6))
    return (f"---\ntitle: Session {i}: fix the {rng.choice(WORDS)} {rng.choice(WORDS)}\n"
            f"kind: session\nstatus: active\ncreated: '2025-01-01T09:00:00Z'\n"
            f"updated: '2025-01-01T10:00:00Z'\nsession_id: s{i:05d}\nagent: claude-code\n"
            f"sources:\n- session:s{i:05d}\n{sources}\ntags:\n- session\n"
            f"supersedes: null\nsuperseded_by: null\n---\n\n# Session {i}\n\n{_text(rng, 40)}\n\n"
            f"- Agent: claude-code\n- Previous session: {links}\n- Decision: {decision}\n\n"
            f"## Prompts\n\n> {_text(rng, 60)} `<script>` and **bold**\n\n"
            f"## Files changed\n\n{files}\n\n## Commands\n\n{commands}\n\n"
            f"## Outcome\n\n> {_text(rng, 50)}\n\n| file | change |\n|---|---|\n"
            f"| a.py | {_text(rng, 4)} |\n| b.py | {_text(rng, 4)} |\n")


def decision_page(rng: random.Random, i: int, older: str | None, newer: str | None) -> str:
    status = "superseded" if newer else "active"
    sup = f"supersedes:\n- '[[{older}]]'\n" if older else "supersedes: null\n"
    by = f"superseded_by:\n- '[[{newer}]]'\n" if newer else "superseded_by: null\n"
    return (f"---\ntitle: Decision {i} on the {rng.choice(WORDS)}\nid: D{i}\nkind: decision\n"
            f"status: {status}\ncreated: '2025-02-01T09:00:00Z'\n{sup}{by}---\n\n"
            f"# Decision: {i}\n\n- Status: {status}\n- Why: {_text(rng, 30)}\n\n"
            f"## Context\n\n{_text(rng, 80)}\n")


def build(base: Path, pages: int):
    from wikimem.project import Registry
    from wikimem.search.index import SearchIndex
    from wikimem.wiki import gitrepo

    repo = base / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    project = Registry(base / "home").resolve(repo)
    project.ensure_dirs()
    wiki = Path(project.wiki_dir)
    gitrepo.open_repo(wiki)
    rng = random.Random(16)
    n_decisions = pages // 10
    names = [f"D{i:04d}-decision" for i in range(n_decisions)]
    chained: dict[int, tuple[str | None, str | None]] = {}
    for start in range(0, n_decisions // 5 * 3, 3):  # chains of three: a fifth of decisions
        for k in range(3):
            chained[start + k] = (names[start + k - 1] if k else None,
                                  names[start + k + 1] if k < 2 else None)
    (wiki / "decisions").mkdir(exist_ok=True)
    for i, name in enumerate(names):
        older, newer = chained.get(i, (None, None))
        (wiki / "decisions" / f"{name}.md").write_text(decision_page(rng, i, older, newer))
    (wiki / "sessions").mkdir(exist_ok=True)
    for i in range(pages - n_decisions - 1):
        (wiki / "sessions" / f"2025-01-01-s{i:05d}.md").write_text(session_page(rng, i, names))
    (wiki / "index.md").write_text("# Index\n\n[[D0000-decision]] and [[2025-01-01-s00000]]\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}
    subprocess.run(["git", "-C", str(wiki), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(wiki), "commit", "-qm", "pages"], check=True, env=env)
    # a second revision of the first chain's decisions, for history and diff
    for i in range(3):
        p = wiki / "decisions" / f"{names[i]}.md"
        p.write_text(p.read_text() + "\nRevised.\n")
    subprocess.run(["git", "-C", str(wiki), "commit", "-qam", "revise"], check=True, env=env)
    SearchIndex(project.index_dir, project.wiki_dir).rebuild()
    return project, names, sorted(chained), n_decisions


def _timed(fn, samples: int) -> dict:
    fn(0)  # warm-up
    times = []
    for k in range(samples):
        t = time.perf_counter()
        fn(k)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 3)}


def measure(project, names, chained, n_decisions, samples: int) -> dict:
    import mistune

    from wikimem.serve.webserver import WebApp
    from wikimem.wiki import timetravel

    app = WebApp(lambda: [project])
    wiki = Path(project.wiki_dir)
    sessions = sorted(p.name for p in (wiki / "sessions").iterdir())
    rng = random.Random(7)
    pick_s = [rng.choice(sessions) for _ in range(samples + 1)]
    pick_c = [names[rng.choice(chained)] for _ in range(samples + 1)]
    plain = [i for i in range(n_decisions) if i not in set(chained)]
    pick_p = [names[rng.choice(plain)] for _ in range(samples + 1)]
    base = f"/p/{project.project_id}"
    headers = {"Host": "127.0.0.1:8470"}

    def get(target: str) -> None:
        status, _, body = app.handle("GET", target, headers)
        assert status == 200, (target, status, body[:300])

    revs = timetravel.revisions(wiki, f"decisions/{names[0]}.md")
    out = {
        "page_session": _timed(lambda k: get(f"{base}/page/sessions/{pick_s[k]}"), samples),
        "page_decision_in_chain": _timed(
            lambda k: get(f"{base}/page/decisions/{pick_c[k]}.md"), samples),
        "page_plain_decision": _timed(
            lambda k: get(f"{base}/page/decisions/{pick_p[k]}.md"), samples),
        "search": _timed(lambda k: get(f"{base}/search?q={WORDS[k % len(WORDS)]}+session"),
                         min(samples, 50)),
        "history": _timed(lambda k: get(f"{base}/history/decisions/{names[0]}.md"),
                          min(samples, 20)),
        "diff": _timed(lambda k: get(f"{base}/diff/decisions/{names[0]}.md?from="
                                     f"{revs[-1].commit[:12]}&to={revs[0].commit[:12]}"),
                       min(samples, 20)),
        "tree": _timed(lambda k: get(f"{base}/"), min(samples, 20)),
        "baseline_read_file": _timed(
            lambda k: (wiki / "sessions" / pick_s[k]).read_bytes(), samples),
        "baseline_mistune_html": _timed(
            lambda k: mistune.html((wiki / "sessions" / pick_s[k]).read_text()), samples),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wikimem-web-bench-") as tmp:
        os.environ["WIKIMEM_HOME"] = str(Path(tmp) / "home")
        t = time.perf_counter()
        built = build(Path(tmp), args.pages)
        build_s = time.perf_counter() - t
        result = {"pages": args.pages, "samples": args.samples, "build_s": round(build_s, 1),
                  "python": platform.python_version(), "machine": platform.machine(),
                  "cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
        result["views"] = measure(*built, args.samples)
        result["load_after"] = os.getloadavg()[0]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.pages} pages (built in {build_s:.0f} s; load average "
          f"{result['load_before']:.1f} -> {result['load_after']:.1f}); median / p95 ms:")
    for name, v in result["views"].items():
        print(f"  {name:<26} {v['median_ms']:>9.2f} {v['p95_ms']:>9.2f}")


if __name__ == "__main__":
    main()
