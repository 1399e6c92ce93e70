"""Rebuild wikimem/demo_data/*.jsonl from the recorded Claude Code hook payloads.

Source: ../shared/data/agents/claude/hooks/raw (CoorpAcademy/serverless-plugins, MIT, commit
8f3255f9). The recorder stored one JSON array per event type, so each session's events are put
back in order: SessionStart, the prompt, each PreToolUse followed by its PostToolUse (matched by
tool_use_id), then the Stop/SubagentStop/Notification events where they fell. Strings longer
than 3,000 characters are trimmed, and the author's home and checkout paths become {{HOME}} and
{{CWD}} placeholders that `wikimem demo` fills in with its throwaway project.
"""

import json
import sys
from pathlib import Path

RAW = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/agents/claude/hooks/raw")
OUT = Path(__file__).resolve().parent.parent / "wikimem" / "demo_data"
CWD = "/Users/silouane/coorp/serverless-plugins"
HOME = "/Users/silouane"
LIMIT = 3000


def load(session: str) -> dict[str, list[dict]]:
    events: dict[str, list[dict]] = {}
    for f in sorted(RAW.glob("serverless-plugins*.json")):
        try:
            for p in json.loads(f.read_text()):
                if p.get("session_id") == session:
                    events.setdefault(p["hook_event_name"], []).append(p)
        except ValueError:
            continue
    return events


def trim(value):
    if isinstance(value, str):
        value = value.replace(CWD, "{{CWD}}").replace(HOME, "{{HOME}}")
        if len(value) > LIMIT:
            return value[:LIMIT] + f"\n[trimmed {len(value) - LIMIT} characters for the demo]"
        return value
    if isinstance(value, dict):
        return {k: trim(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trim(v) for v in value]
    return value


def ordered(events: dict[str, list[dict]], stop_after: str | None) -> list[dict]:
    posts = {p.get("tool_use_id"): p for p in events.get("PostToolUse", [])}
    prompts = list(events.get("UserPromptSubmit", []))
    seq = events.get("SessionStart", [])[:1] + prompts[:1]
    for pre in events.get("PreToolUse", []):
        seq.append(pre)
        if pre.get("tool_use_id") in posts:
            seq.append(posts[pre["tool_use_id"]])
        if stop_after and pre.get("tool_use_id") == stop_after:
            seq += events.get("Stop", []) + prompts[1:]
    seq += events.get("SubagentStop", []) + events.get("Notification", [])
    return seq


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sessions = [
        ("01-node-bump", "03355ac2-04f1-4c79-b226-c48f5d5a7275", None),
        ("02-issue-triage", "abc7156b-6420-4373-a150-9b2eecad6805",
         "toolu_01AJgWVMuh6wieGaw31nanKG"),
    ]
    for name, sid, stop_after in sessions:
        seq = ordered(load(sid), stop_after)
        path = OUT / f"{name}.jsonl"
        path.write_text("".join(json.dumps(trim(p), ensure_ascii=False) + "\n" for p in seq))
        print(f"{path}: {len(seq)} events, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
