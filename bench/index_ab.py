#!/usr/bin/env python
"""The index update inside incremental compiles: this code beside the previous one, same run.

    python bench/index_ab.py --home H [--rounds 8]

H is a built home (`bench/perf.py --build N --home H`); it is not changed: two copies are
made. Each round captures one new session into each copy and compiles it, alternating which
copy goes first: copy "before" with the index update as it was (the page files read back and
parsed, segments written with Whoosh's default compression), copy "after" as it is now
(the compiler's pages indexed from memory, uncompressed update segments). Prints the medians
of the whole compile and of its `_index` stage (the Whoosh update), and their ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import perf  # noqa: E402  (bench/perf.py: the generator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()

    from whoosh.codec.whoosh3 import W3Codec

    from wikimem.agents.claude_code import adapter as claude_code
    from wikimem.capture.observation import format_ts
    from wikimem.capture.observe import capture
    from wikimem.compile import build as compile_module
    from wikimem.project import Registry
    from wikimem.search import store as index_module

    work = Path(tempfile.mkdtemp(prefix="wikimem-index-ab-"))
    try:
        homes = {v: work / v for v in ("before", "after")}
        for home in homes.values():
            shutil.copytree(args.home, home, symlinks=True)
        projects = {v: Registry(h).resolve(perf.CWD, create=False) for v, h in homes.items()}
        original_index, new_codec = compile_module._index, index_module._UPDATE_CODEC
        took: dict[str, float] = {}

        def timed_index(*a, **kw):
            t = time.perf_counter()
            try:
                return original_index(*a, **kw)
            finally:
                took["index"] = time.perf_counter() - t

        def before_index(*a, **kw):
            kw.pop("pages", None)
            return timed_index(*a, **kw)

        results: dict[str, dict[str, list[float]]] = {v: {"compile": [], "index": []}
                                                      for v in homes}
        last = perf.START + timedelta(days=perf.SPAN_DAYS)
        for k in range(args.rounds):
            order = ["before", "after"] if k % 2 == 0 else ["after", "before"]
            for variant in order:
                project, rng = projects[variant], random.Random(1000 + k)
                for j, payload in enumerate(perf.session_payloads(rng, perf._uuid(rng), False)):
                    ts = format_ts(last + timedelta(hours=k, seconds=20 * j))
                    capture("claude-code", claude_code.normalize(payload), payload,
                            project=project, ts=ts)
                if variant == "before":
                    compile_module._index = before_index
                    index_module._UPDATE_CODEC = W3Codec()
                else:
                    compile_module._index = timed_index
                    index_module._UPDATE_CODEC = new_codec
                t = time.perf_counter()
                result = compile_module.compile_project(project)
                results[variant]["compile"].append(time.perf_counter() - t)
                results[variant]["index"].append(took.pop("index"))
                assert result.commit and len(result.sessions) == 1, result
        compile_module._index, index_module._UPDATE_CODEC = original_index, new_codec
        out = {v: {m: round(statistics.median(x) * 1000, 1) for m, x in r.items()}
               for v, r in results.items()}
        out["ratio_index"] = round(out["after"]["index"] / out["before"]["index"], 2)
        out["ratio_compile"] = round(out["after"]["compile"] / out["before"]["compile"], 2)
        out["rounds"] = args.rounds
        out["runs_ms"] = {v: {m: [round(s * 1000) for s in x] for m, x in r.items()}
                          for v, r in results.items()}
        print(json.dumps(out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
