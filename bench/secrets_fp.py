"""False positives of secret redaction on ordinary code and prose, and recall on the corpus.

    python bench/secrets_fp.py [--max-mb 8] [--json]
    python bench/secrets_fp.py --speed   # redaction speed: run it on two trees to compare

Runs `wikimem.capture.redact.redact_text` (built-in rules only, as the hook does) over:
  * the wikimem source itself (wikimem/, docs/, README.md, bench/; not tests/, which holds
    fake secrets on purpose);
  * Python source installed in this interpreter's environment (stdlib and site-packages,
    sorted, up to --max-mb);
  * the recorded agent hook payloads and transcripts in ../shared/data/agents (skipped when
    absent): real sessions, which may hold a few genuine-looking test credentials;
  * generated text that looks random but is no secret: git SHAs and `git log` output, UUIDs,
    base64 images in data URIs, lockfile hashes (npm `integrity`, poetry/pip `sha256`),
    long identifiers.
For each it prints the size, the redactions per MB, the share of lines changed and the kinds
found, and for the synthetic credential corpus (tests/fixtures/secrets_corpus.py) the share
redacted.  Nothing secret is printed: only counts and kinds.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import sysconfig
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from wikimem.capture.redact import redact_text  # noqa: E402

MARKER = "[REDACTED:"


def _files(paths, suffixes, limit_bytes):
    total = 0
    for path in paths:
        if total >= limit_bytes:
            return
        if path.suffix not in suffixes or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        total += len(text.encode())
        yield text


def wikimem_source(limit):
    paths = sorted([*ROOT.joinpath("wikimem").rglob("*"), *ROOT.joinpath("docs").rglob("*"),
                    *ROOT.joinpath("bench").glob("*.py"), ROOT / "README.md"])
    return _files(paths, {".py", ".md", ".toml", ".txt"}, limit)


def python_source(limit):
    roots = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]}
    paths = sorted(p for r in roots for p in Path(r).rglob("*.py")
                   if "wikimem" not in p.parts and "test" not in p.name)
    return _files(paths, {".py"}, limit)


def agent_data(limit):
    base = ROOT.parent / "shared" / "data" / "agents"
    if not base.is_dir():
        return iter(())
    return _files(sorted(base.rglob("*")), {".json", ".jsonl", ".md"}, limit)


def synthetic(limit):
    rng = random.Random(42)
    hexs = lambda n: "".join(rng.choice("0123456789abcdef") for _ in range(n))  # noqa: E731
    b64 = lambda n: base64.b64encode(rng.randbytes(n)).decode()  # noqa: E731
    parts = []
    size = 0
    while size < limit:
        sha = hexs(40)
        chunk = [
            f"commit {sha}\nMerge: {sha[:7]} {hexs(7)}\nAuthor: Dev <dev@example.com>\n",
            f"    Fix the retry loop (closes #{rng.randint(1, 9999)}), see {hexs(12)}\n",
            f"id={uuid.UUID(int=rng.getrandbits(128))} request_id: "
            f"{uuid.UUID(int=rng.getrandbits(128), version=4)}\n",
            "![chart](data:image/png;base64,"
            + base64.b64encode(rng.randbytes(3000)).decode() + ")\n",
            f'    "node_modules/pkg-{rng.randint(1, 999)}": {{\n      "version": "1.2.3",\n'
            f'      "resolved": "https://registry.npmjs.org/pkg/-/pkg-1.2.3.tgz",\n'
            f'      "integrity": "sha512-{b64(64)}"\n    }},\n',
            f'    {{file = "pkg-1.2.3-py3-none-any.whl", hash = "sha256:{hexs(64)}"}},\n',
            f"pkg==1.2.3 --hash=sha256:{hexs(64)}\n",
            f'"@babel/core@^7.0.0":\n  integrity sha1-{b64(20)}\n',
            "AbstractSingletonProxyFactoryBeanConfigurationRegistryPostProcessorAdapterImpl"
            f"{rng.randint(1, 99)} = create_{hexs(8)}_handler_for_the_long_identifier()\n",
            f"docker pull ghcr.io/org/app@sha256:{hexs(64)}\n",
            f"etag: W/\"{hexs(32)}\" x-request-id: {hexs(16)}-{hexs(8)}\n",
        ]
        text = "".join(chunk)
        parts.append(text)
        size += len(text)
    yield "".join(parts)


def measure(texts) -> dict:
    size = lines = changed_lines = redactions = 0
    kinds: Counter[str] = Counter()
    seconds = 0.0
    for text in texts:
        t0 = time.perf_counter()
        out = redact_text(text)
        seconds += time.perf_counter() - t0
        size += len(text.encode())
        lines += text.count("\n") + 1
        if out == text:
            continue
        new = out.count(MARKER) - text.count(MARKER)
        redactions += new
        before = sum(1 for line in text.splitlines() if MARKER in line)
        changed_lines += sum(1 for line in out.splitlines() if MARKER in line) - before
        for piece in out.split(MARKER)[1:]:
            kinds[piece.split("]", 1)[0]] += 1
        for piece in text.split(MARKER)[1:]:
            kinds[piece.split("]", 1)[0]] -= 1
    mb = size / 1e6
    return {"mb": round(mb, 2), "lines": lines, "redactions": redactions,
            "per_mb": round(redactions / mb, 2) if mb else 0.0,
            "lines_redacted_pct": round(100 * changed_lines / lines, 4) if lines else 0.0,
            "kinds": dict(+kinds), "mb_per_s": round(mb / seconds, 1) if seconds else None}


def corpus_recall() -> dict:
    from fixtures.secrets_corpus import CORPUS

    missed = [s.name for s in CORPUS if s.value in redact_text(s.text)]
    return {"formats": len(CORPUS), "redacted": len(CORPUS) - len(missed), "missed": missed}


def payload_strings(limit):
    """Every string of every recorded payload or transcript line, as the hook redacts them."""
    out: list[str] = []

    def walk(o):
        if isinstance(o, str):
            out.append(o)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    base = ROOT.parent / "shared" / "data" / "agents"
    paths = sorted(p for p in base.rglob("*") if p.suffix in (".json", ".jsonl")) \
        if base.is_dir() else []
    size = 0
    for path in paths:
        if size >= limit:
            break
        text = path.read_text(encoding="utf-8", errors="replace")
        size += len(text)
        try:
            walk(json.loads(text))
            continue
        except ValueError:
            pass
        for line in text.splitlines():
            try:
                walk(json.loads(line))
            except ValueError:
                pass
    return out


def speed(limit: int, runs: int = 3) -> None:
    """Redaction speed (CPU time, median of runs) of this tree; run it on two trees to compare."""
    sources = (
        ("strings of recorded payloads (as the hook)", payload_strings(limit * 4)),
        ("whole files, agent data", list(agent_data(limit))),
        ("whole files, Python source", list(python_source(limit))),
    )
    redact_text("warm up password=abc123def")
    print(f"{'what':44} {'MB':>6} {'MB/s':>8} {'us/text':>9}")
    for label, texts in sources:
        if not texts:
            continue
        mb = sum(len(t) for t in texts) / 1e6
        times = []
        for _ in range(runs):
            t0 = time.process_time()
            for t in texts:
                redact_text(t + " ")  # (a text not seen before: no cache)
            times.append(time.process_time() - t0)
        median = sorted(times)[runs // 2]
        print(f"{label:44} {mb:6.1f} {mb / median:8.1f} {1e6 * median / len(texts):9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-mb", type=float, default=8.0, help="per source (default 8)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--speed", action="store_true",
                    help="measure redaction speed instead (run on two trees to compare)")
    args = ap.parse_args()
    limit = int(args.max_mb * 1e6)
    if args.speed:
        speed(limit)
        return
    results = {
        "wikimem source": measure(wikimem_source(limit)),
        "python source (stdlib + site-packages)": measure(python_source(limit)),
        "agent payloads and transcripts": measure(agent_data(limit)),
        "hashes, UUIDs, base64 images, lockfiles": measure(synthetic(min(limit, 2_000_000))),
    }
    recall = corpus_recall()
    if args.json:
        print(json.dumps({"false_positives": results, "corpus": recall}, indent=2))
        return
    print(f"{'source':42} {'MB':>7} {'redactions':>10} {'per MB':>8} {'lines %':>9}  kinds")
    for name, r in results.items():
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(r["kinds"].items(), key=lambda x: -x[1]))
        print(f"{name:42} {r['mb']:7.2f} {r['redactions']:10d} {r['per_mb']:8.2f} "
              f"{r['lines_redacted_pct']:9.4f}  {kinds or '-'}")
    print(f"corpus: {recall['redacted']}/{recall['formats']} credential formats redacted"
          + (f"; missed: {', '.join(recall['missed'])}" if recall["missed"] else ""))


if __name__ == "__main__":
    main()
