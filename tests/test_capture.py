import json

from wikimem.adapters import Event
from wikimem.capture import MAX_LINE, cap_text, cap_value, idempotency_key, make_observation


def test_cap_keeps_head_and_tail_and_says_how_much_was_cut():
    text = "H" * 5000 + "T" * 5000
    out = cap_text(text, 3000)
    assert out.startswith("H" * 2000) and out.endswith("T" * 1000)
    assert "[... wikimem cut 7000 characters ...]" in out
    assert cap_text("short", 3000) == "short"


def test_per_key_caps_and_deep_values():
    data = {"prompt": "p" * 20_000, "input": {"content": "c" * 5000}, "other": "o" * 5000}
    out = cap_value(data)
    assert len(out["prompt"]) < 12_100 and len(out["input"]["content"]) < 500
    assert len(out["other"]) < 2100
    deep = current = {}
    for _ in range(100):
        current["x"] = {}
        current = current["x"]
    assert json.dumps(cap_value(deep))  # deep structures are flattened, not crashed on


def test_redaction_happens_before_capping():
    """A secret straddling the cut point must not survive half-visible."""
    secret = "ghp_" + "Z9y8X7w6V5" * 3 + "u4T3s2"
    prompt = "x" * 7990 + " token " + secret + " " + "y" * 8000
    obs = make_observation("claude-code", Event("s", "prompt", "/r", {"prompt": prompt}), {})
    line = obs.to_json()
    assert secret[:12] not in line and secret[-12:] not in line


def test_huge_event_is_bounded():
    event = Event("s", "tool_post", "/r", {f"k{i}": "v" * 5000 for i in range(100)})
    obs = make_observation("claude-code", event, {})
    assert len(obs.to_json().encode()) <= MAX_LINE


def test_idempotency_keys():
    a = Event("s", "tool_post", "/r", uid="PostToolUse:toolu_1")
    b = Event("s", "tool_post", "/r", uid="PostToolUse:toolu_1")
    assert idempotency_key("claude-code", a, {"x": 1}) == idempotency_key("claude-code", b, {})
    assert idempotency_key("claude-code", a, {}).startswith("u-")
    c = Event("s", "prompt", "/r")
    assert idempotency_key("claude-code", c, {"a": 1, "b": 2}) == idempotency_key(
        "claude-code", c, {"b": 2, "a": 1})
    assert idempotency_key("claude-code", c, {}).startswith("p-")
