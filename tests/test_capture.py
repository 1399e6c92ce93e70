import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from wikimem.capture.event import Event
from wikimem.capture.observe import (
    MAX_LINE,
    cap_text,
    cap_value,
    clean_value,
    idempotency_key,
    make_observation,
)
from wikimem.capture.redact import redact_value


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


# `clean_value` is the one-walk shortcut capture takes; it must give what the two steps give.
_TEXTS = st.sampled_from([
    "", "ok", "x" * 401, "y" * 2001, "z" * 4001, "Bash", "src/app/main.py",
    "ghp_" + "Z9y8X7w6V5" * 4, "OPENAI_API_KEY=sk-proj-" + "Ab3dEf6hIj" * 3,
    "Hunter2Hunter2!", "see https://bob:S3cretPass@db.example.com/x then " * 3,
    "Authorization: Bearer abcdefgh12345678ijkl", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
])
_KEYS = st.sampled_from([
    "prompt", "output", "content", "command", "api_key", "password", "primary_key",
    "aws_secret_access_key", "input", "", "x",
])
_JSONISH = st.recursive(
    _TEXTS | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4)
    | st.tuples(inner, inner) | st.dictionaries(st.integers(), inner, max_size=2),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(_JSONISH)
@example({"password": "Hunter2Hunter2!", "api_key": ["Hunter2Hunter2!"], "prompt": "p" * 13_000,
          "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 3: "x" * 2001})
def test_clean_value_is_redact_then_cap(value):
    assert clean_value(value) == cap_value(redact_value(value))


def test_clean_value_is_redact_then_cap_on_long_and_deep_values():
    long_list = ["v" * 2500, {"api_key": "Abcdef123456"}] * 120
    assert clean_value(long_list) == cap_value(redact_value(long_list))
    for depth in (49, 50, 51, 70):
        value = {"password": "Sup3rS3cret!", "prompt": "p" * 13_000}
        for n in range(depth):
            value = {"input": value, "n": n} if n % 2 else [value, "w" * 2100]
        assert clean_value(value) == cap_value(redact_value(value))


def test_capture_many_stores_what_capturing_one_by_one_stores(tmp_path):
    from wikimem.capture import rawlog
    from wikimem.capture.observe import capture, capture_many
    from wikimem.project import Registry

    def events(session):
        prompt = {"prompt": "continue"}
        return [
            (Event(session, "prompt", "/r", prompt), prompt, "2026-01-01T00:00:00.000Z"),
            (Event(session, "prompt", "/r", prompt), prompt, None),  # re-delivered at once
            (Event(session, "tool_post", "/r", {"tool": "Bash"}, uid="t1"), {}, None),
            (Event(session, "tool_post", "/r", {"tool": "Bash"}, uid="t1"), {}, None),  # again
            (Event(session, "prompt", "/r", prompt), prompt, None),  # typed again: a new event
            (Event(session, "tool_post", "/r", {"api_key": "Abcdef123456"}, uid="t2"), {}, None),
        ]

    registry = Registry(tmp_path / "home")
    one = registry.resolve(tmp_path / "a", create=True)
    many = registry.resolve(tmp_path / "b", create=True)
    singly = [capture("claude-code", e, p, project=one, ts=ts).stored
              for e, p, ts in events("s1") + events("s2")]
    assert capture("claude-code", *events("s1")[2][:2], project=many).stored  # stored before
    batch = capture_many("claude-code", events("s1") + events("s2"), project=many)
    assert singly == [True, False, True, False, True, True] * 2
    # (t1 was stored before, so nothing came between the two "continue"s: one re-delivery)
    assert [c.stored for c in batch] == [True, False, False, False, False, True] + singly[6:]

    def stored(project, session):
        return [(o.kind, o.key, o.data) for o in
                rawlog.read(project.raw_dir / f"{session}.jsonl").observations]

    assert stored(many, "s2") == stored(one, "s2")
    assert stored(many, "s1") == [stored(one, "s1")[i] for i in (1, 0, 3)]
    assert "[REDACTED:secret-assignment]" in json.dumps(stored(many, "s1"))
    assert (many.raw_dir / "s1.keys").read_text().split() == [k for _, k, _ in stored(many, "s1")]
