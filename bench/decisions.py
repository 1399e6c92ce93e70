"""Precision of bootstrap's proposed decisions from commits, on commits labelled by hand.

    python bench/decisions.py                      # the fixture's messages
    python bench/decisions.py --git NAME PATH ...  # a repository's own history, by its labels

Every commit in tests/fixtures/decisions/labels.tsv was labelled `yes` (its message states a
choice later work should keep to) or `no`, without looking at what the rule said of it; the
labelled set is every commit the rule (`repo.decisions.commit_decision`) or the rule before it
(`--baseline`: any decision pattern anywhere in the subject or the body's first 40 lines)
proposes in the five repositories. Precision = labelled `yes` / proposed. Messages of the
permissively licensed repositories are in tests/fixtures/decisions/commits.jsonl; for another
(getpelican/pelican, AGPL), pass a clone with `--git`: its history is read, and a proposal
with no label is counted and listed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "decisions"


def labels() -> dict[str, str]:
    """Commit hash -> `yes` or `no`."""
    found = {}
    for line in (FIXTURES / "labels.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            _, commit, label, _ = line.split("\t", 3)
            found[commit] = label
    return found


def fixture_commits() -> list[dict]:
    rows = (FIXTURES / "commits.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(row) for row in rows if row.strip()]


def git_commits(name: str, path: Path) -> list[dict]:
    from wikimem.repo.collect import iter_commits

    return [{"repo": name, "commit": c.hash, "subject": c.subject, "body": c.body,
             "files": c.files} for c in iter_commits(path) if c.parents < 2]


def baseline(commit: dict) -> bool:
    """The rule before issue 14: a decision pattern anywhere in the subject or a body line."""
    from wikimem.repo.decisions import _decision_regex

    lines = [commit["subject"]] + [ln.strip() for ln in commit["body"].splitlines()[:40]
                                   if ln.strip()]
    return any(_decision_regex().search(line) for line in lines)


def measure(commits: list[dict], use_baseline: bool = False) -> dict[str, dict]:
    """Per repository (and "all"): proposed, labelled yes, precision, unlabelled proposals."""
    from wikimem.repo.decisions import commit_decision
    from wikimem.repo.fold import _derive

    known = labels()
    stats: dict[str, dict] = defaultdict(lambda: {"proposed": 0, "yes": 0, "unlabelled": []})
    for c in commits:
        derived = _derive({"hash": c["commit"], "subject": c["subject"], "body": c["body"],
                           "files": c["files"], "date": "1970-01-01T00:00:00Z"})
        proposed = baseline(c) if use_baseline else commit_decision(derived) is not None
        if not proposed:
            continue
        for key in (c["repo"], "all"):
            if c["commit"] not in known:
                stats[key]["unlabelled"].append(c["commit"][:10])
                continue
            stats[key]["proposed"] += 1
            stats[key]["yes"] += known[c["commit"]] == "yes"
    for s in stats.values():
        s["precision"] = round(s["yes"] / s["proposed"], 3) if s["proposed"] else None
    return dict(stats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git", nargs=2, action="append", metavar=("NAME", "PATH"),
                        help="read this repository's history instead of the fixture")
    parser.add_argument("--baseline", action="store_true", help="the rule before issue 14")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    commits = fixture_commits() if not args.git else [
        c for name, path in args.git for c in git_commits(name, Path(path))]
    for repo, s in sorted(measure(commits, args.baseline).items()):
        extra = f", {len(s['unlabelled'])} unlabelled" if s["unlabelled"] else ""
        print(f"{repo}: {s['yes']}/{s['proposed']} proposed are decisions "
              f"(precision {s['precision']}){extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
