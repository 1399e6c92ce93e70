"""Checking the model's answers: shape, grounding and faithfulness.

A consolidation answer is a list of statements (the summary) and topics made of statements;
every statement carries a short quote from the session as its evidence. A quote is looked up
in the session's text as the model was sent it (the compiler's digest, redacted), both
normalised the same way (`normalise`); a statement whose quote is missing or not found is
dropped and counted, the rest kept. An answer with no grounded summary statement, of the wrong
shape, or naming a path, commit hash or date the input does not hold is rejected whole.
"""

from __future__ import annotations

import json
import re
import unicodedata

from wikimem.capture.redact import redact_text
from wikimem.compile.llm_client import LLMError

MAX_TOPICS = 5
MAX_POINTS = 30
MAX_TOPIC_BODY = 6000
MAX_SUMMARY = 400
MIN_QUOTE, MAX_QUOTE = 8, 300

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.S)
_PATHLIKE = re.compile(r"(?<![\w/.-])(?:[\w.-]+/)+[\w.-]+\.\w{1,8}\b|\b[\w-]+\.(?:py|js|ts|tsx|"
                       r"go|rs|java|rb|md|toml|json|yaml|yml|sh|sql|css|html)\b")
_HASH = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u2026": "..."})
_EDGES = " \t\n\"'`.,;:!?()[]{}*_-"


def normalise(text: str) -> str:
    """Text as quotes are compared: NFKC, straight quotes and dashes, case and spacing
    folded, markdown's emphasis and code marks and the edges' punctuation dropped."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY)
    text = re.sub(r"[`*_]+", "", text)
    return " ".join(text.casefold().split()).strip(_EDGES)


def evidence_text(session: dict) -> str:
    """Every string the model was shown about the session, normalised, one per line."""
    out: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            out.append(normalise(value))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(session)
    return "\n".join(out)


def load_json(text: str) -> dict:
    try:
        data = json.loads(_FENCE.sub("", text.strip()))
    except ValueError as exc:
        raise LLMError("invalid-output", f"the answer is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LLMError("invalid-output", "the answer is not a JSON object")
    return data


def parse_answer(text: str, prompt: str, evidence: str,
                 known_quotes: dict[str, set[str]] | None = None,
                 topic_key=lambda title: title) -> dict:
    """The accepted part of a consolidation answer: {summary, topics, dropped}; raises
    LLMError when nothing grounded is left or the answer breaks a rule.

    `known_quotes` are, per topic (by `topic_key(title)`), the quotes of the points it holds
    already (verified when they were written), so an updated topic may keep them."""
    data = load_json(text)
    known_quotes = known_quotes or {}
    statements = data.get("summary")
    topics = data.get("topics", [])
    if not isinstance(statements, list) or not statements:
        raise LLMError("invalid-output", "the answer has no 'summary' list of statements")
    if not isinstance(topics, list) or len(topics) > MAX_TOPICS:
        raise LLMError("invalid-output", f"'topics' must be a list of at most {MAX_TOPICS}")
    dropped: list[str] = []
    summary = _grounded(statements, evidence, set(), dropped)
    if not summary:
        raise LLMError("unfaithful", f"none of the summary's {len(statements)} statement(s) "
                                     "carries a quote found in the session")
    joined = " ".join(s["text"] for s in summary)
    if len(joined) > MAX_SUMMARY:
        raise LLMError("invalid-output", f"the summary is longer than {MAX_SUMMARY} characters")
    clean = []
    for t in topics:
        if not (isinstance(t, dict) and isinstance(t.get("title"), str)
                and isinstance(t.get("points"), list)):
            raise LLMError("invalid-output", "each topic needs a 'title' and a 'points' list")
        title = " ".join(t["title"].split())
        if not 3 <= len(title) <= 100 or len(t["points"]) > MAX_POINTS:
            raise LLMError("invalid-output", f"topic title {title!r} or its points are unusable")
        points = _grounded(t["points"], evidence, known_quotes.get(topic_key(title), set()),
                           dropped)
        if not points:
            continue
        body = topic_body(points)
        if len(body) > MAX_TOPIC_BODY:
            raise LLMError("invalid-output", f"topic {title!r} is longer than {MAX_TOPIC_BODY}")
        clean.append({"title": title, "body": body, "points": points})
    said = joined + "\n" + "\n".join(t["title"] + "\n" + "\n".join(p["text"] for p in t["points"])
                                     for t in clean)
    check_tokens(said, prompt, "the session")
    return {"summary": redact_text(joined),
            "topics": [{"title": redact_text(t["title"]), "body": redact_text(t["body"]),
                        "points": [{k: redact_text(v) for k, v in p.items()}
                                   for p in t["points"]]} for t in clean],
            "dropped": dropped}


def topic_body(points: list[dict]) -> str:
    """A topic's markdown: one bullet per statement, with its evidence."""
    return "\n".join(f"- {p['text']} (quote: \u201c{p['quote']}\u201d)" for p in points)


def _grounded(items: list, evidence: str, known: set[str], dropped: list[str]) -> list[dict]:
    """The statements whose quote is found in `evidence` (or is one of `known`); the others'
    texts go to `dropped`."""
    kept = []
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("text"), str)):
            raise LLMError("invalid-output", "each statement needs a 'text' string")
        text = " ".join(item["text"].split())
        quote = item.get("quote")
        quote = " ".join(quote.split()) if isinstance(quote, str) else ""
        found = normalise(quote)
        if text and MIN_QUOTE <= len(found) and len(quote) <= MAX_QUOTE \
                and (found in evidence or found in known):
            kept.append({"text": text, "quote": quote})
        else:
            dropped.append(text[:200])
    return kept


def check_tokens(said: str, source: str, what: str) -> None:
    """Reject text naming a path, commit hash or date that `source` does not hold."""
    for pattern, kind in ((_PATHLIKE, "path"), (_HASH, "hash"), (_DATE, "date")):
        for token in sorted(set(pattern.findall(said))):
            if token not in source:
                raise LLMError("unfaithful", f"the answer mentions a {kind} that is not in "
                                             f"{what}: {token!r}")


def overview_text(answer: str, prompt: str) -> str:
    """The overview bootstrap asked for, checked: 20-4000 characters, no links or HTML, and
    no path, hash or date the repository facts do not hold."""
    data = load_json(answer)
    text = data.get("summary")
    if not isinstance(text, str) or not 20 <= len(text.strip()) <= 4000:
        raise LLMError("invalid-output", "the answer needs a 'summary' of 20-4000 characters")
    if "[[" in text or "<" in text:
        raise LLMError("invalid-output", "the summary may not contain wikilinks or HTML")
    check_tokens(text, prompt, "the repository facts")
    return redact_text(text.strip())
