"""Optional LLM consolidation: one call per changed session turns the rule-based session digest
into an updated summary and topic pages. The rule-based pages are always written first and
stay whenever anything fails.

Seams and guarantees:
- `Client` is the seam: `AnthropicClient` (imports `anthropic` only when called) or any
  object with the same `complete()` (tests inject a fake).
- Cost control: calls per compile, calls and tokens per day (`state/llm-usage.json`), an
  estimate checked before each call, and a cache (`state/llm-cache/<input hash>.json`) so the
  same input is never paid for twice.
- Faithfulness: the answer must be JSON of the expected shape and may not mention paths,
  hashes or dates that are not in the input; otherwise it is rejected.
- Reproducibility: every accepted answer is recorded as an `llm` observation in the raw log
  (session `wikimem-llm`), and pages are rendered from those records, so `compile --rebuild`
  reproduces them with zero calls. A session is consolidated again only when its own content
  (not the rest of the wiki) changed.
- Secrets are redacted from the request before it leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from wikimem import datafiles
from wikimem.capture import rawlog
from wikimem.capture.event import Event
from wikimem.capture.observation import Observation, format_ts
from wikimem.capture.observe import log_error, make_observation
from wikimem.capture.redact import redact_text, redact_value
from wikimem.compile.sessions import SessionRecord
from wikimem.project import Project, ensure_home_dir, write_atomic

LLM_SESSION = "wikimem-llm"
LOG_NAME = f"{rawlog.internal_filename(LLM_SESSION)}.jsonl"
DEFAULT_MODEL = "claude-haiku-4-5"
MAX_TOPICS = 5
MAX_TOPIC_BODY = 6000
MAX_SUMMARY = 400


@dataclass(frozen=True)
class LLMSettings:
    """`[llm]` in config.toml."""

    enabled: bool = False
    model: str = DEFAULT_MODEL
    max_calls_per_compile: int = 10
    max_calls_per_day: int = 100
    max_tokens_per_day: int = 300_000
    max_output_tokens: int = 2000
    timeout: float = 30.0


@dataclass
class Completion:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


class LLMError(Exception):
    """Why a call did not produce usable output; `kind` is one short word for reports."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class Client(Protocol):
    def complete(self, *, model: str, system: str, prompt: str, max_tokens: int,
                 timeout: float) -> Completion: ...


class AnthropicClient:
    """The real client; `anthropic` is imported on first use only."""

    def __init__(self, api_key: str | None = None):
        self.api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")

    def complete(self, *, model, system, prompt, max_tokens, timeout) -> Completion:
        if not self.api_key:
            raise LLMError("no-key", "ANTHROPIC_API_KEY is not set")
        try:
            import anthropic
        except ImportError as exc:
            raise LLMError("not-installed",
                           "the anthropic package is missing: pip install 'wikimem[llm]'") from exc
        client = anthropic.Anthropic(api_key=self.api_key, timeout=timeout, max_retries=0)
        try:
            reply = client.messages.create(
                model=model, system=system, max_tokens=max_tokens,
                messages=[{"role": "user", "content": prompt}],
            )
        except anthropic.APITimeoutError as exc:
            raise LLMError("timeout", f"no answer within {timeout:g}s") from exc
        except anthropic.APIConnectionError as exc:
            raise LLMError("offline", f"cannot reach the API ({exc})") from exc
        except anthropic.RateLimitError as exc:
            raise LLMError("rate-limit", "the API is rate limiting this key") from exc
        except anthropic.APIStatusError as exc:
            raise LLMError("api-error", f"the API answered {exc.status_code}") from exc
        text = "".join(getattr(block, "text", "") for block in reply.content)
        usage = getattr(reply, "usage", None)
        return Completion(text, getattr(usage, "input_tokens", 0) or 0,
                          getattr(usage, "output_tokens", 0) or 0)


# --- requests --------------------------------------------------------------------------


@dataclass
class Request:
    """What would be sent for one session."""

    session_id: str
    content_hash: str  # hash of the session's own content: decides whether to consolidate
    input_hash: str  # hash of everything sent: the cache key
    system: str
    prompt: str

    @property
    def estimated_tokens(self) -> int:
        return (len(self.system) + len(self.prompt)) // 4


def system_prompt() -> str:
    return datafiles.read_text("templates", "consolidate-prompt.md")


def session_payload(rec: SessionRecord) -> dict:
    """The part of a session the model sees (bounded), which also decides re-consolidation."""
    return {
        "session_id": rec.session_id,
        "agent": rec.agent,
        "started": rec.started,
        "ended": rec.ended,
        "title": rec.title,
        "rule_based_summary": rec.summary,
        "prompts": [p[:1500] for p in rec.prompts[:10]],
        "files_changed": rec.files_changed[:50],
        "commands": [{"command": c.command[:300], "exit_code": c.exit_code}
                     for c in rec.commands[:25]],
        "errors": rec.errors[:10],
        "outcome": rec.outcome[:3000],
        "open_questions": rec.open_questions,
        "next_steps": rec.next_steps,
    }


def content_hash(rec: SessionRecord) -> str:
    """The hash of what the model is told about the session itself."""
    session = redact_value(session_payload(rec))
    return _sha(json.dumps(session, sort_keys=True, ensure_ascii=False))


def build_request(rec: SessionRecord, topics: dict[str, dict], titles: list[str]) -> Request:
    """The request for one session: its digest, the existing topics, the wiki's page titles."""
    session = redact_value(session_payload(rec))
    payload = {
        "session": session,
        "existing_topics": [{"page": page, "title": t["title"], "body": t["body"][:2000]}
                            for page, t in sorted(topics.items())][:30],
        "existing_page_titles": sorted(set(titles))[:200],
    }
    prompt = redact_text(json.dumps(payload, indent=1, ensure_ascii=False))
    system = system_prompt()
    return Request(
        session_id=rec.session_id,
        content_hash=content_hash(rec),
        input_hash=_sha(system + "\0" + prompt),
        system=system,
        prompt=prompt,
    )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- validation ----------------------------------------------------------------------------

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.S)
_PATHLIKE = re.compile(r"(?<![\w/.-])(?:[\w.-]+/)+[\w.-]+\.\w{1,8}\b|\b[\w-]+\.(?:py|js|ts|tsx|"
                       r"go|rs|java|rb|md|toml|json|yaml|yml|sh|sql|css|html)\b")
_HASH = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def parse_answer(text: str, request: Request) -> dict:
    """The model's JSON answer, checked for shape and faithfulness; raises LLMError."""
    try:
        data = json.loads(_FENCE.sub("", text.strip()))
    except ValueError as exc:
        raise LLMError("invalid-output", f"the answer is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("summary"), str):
        raise LLMError("invalid-output", "the answer has no 'summary' string")
    summary = " ".join(data["summary"].split())
    if not 1 <= len(summary) <= MAX_SUMMARY:
        raise LLMError("invalid-output", f"the summary must be 1-{MAX_SUMMARY} characters")
    topics = data.get("topics", [])
    if not isinstance(topics, list) or len(topics) > MAX_TOPICS:
        raise LLMError("invalid-output", f"'topics' must be a list of at most {MAX_TOPICS}")
    clean = []
    for t in topics:
        if not (isinstance(t, dict) and isinstance(t.get("title"), str)
                and isinstance(t.get("body"), str)):
            raise LLMError("invalid-output", "each topic needs a 'title' and a 'body' string")
        title = " ".join(t["title"].split())
        if not 3 <= len(title) <= 100 or not t["body"].strip():
            raise LLMError("invalid-output", f"topic title {title!r} or its body is unusable")
        if len(t["body"]) > MAX_TOPIC_BODY:
            raise LLMError("invalid-output", f"topic {title!r} is longer than {MAX_TOPIC_BODY}")
        clean.append({"title": title, "body": t["body"].strip()})
    said = summary + "\n" + "\n".join(t["title"] + "\n" + t["body"] for t in clean)
    for pattern, what in ((_PATHLIKE, "path"), (_HASH, "hash"), (_DATE, "date")):
        for token in set(pattern.findall(said)):
            if token not in request.prompt:
                raise LLMError("unfaithful", f"the answer mentions a {what} that is not in the "
                                             f"session: {token!r}")
    return {"summary": redact_text(summary),
            "topics": [redact_value(t) for t in clean]}


# --- recorded results ----------------------------------------------------------------------


@dataclass
class LLMState:
    """Accepted consolidations folded from the raw log."""

    summaries: dict[str, str] = field(default_factory=dict)  # session id -> summary
    content_hashes: dict[str, str] = field(default_factory=dict)  # session id -> last hash
    topics: dict[str, dict] = field(default_factory=dict)  # page -> {title, body, sessions, ...}
    bootstrap: dict[str, dict] = field(default_factory=dict)  # kind -> {input_hash, text, model}


def topic_page(title: str) -> str:
    from wikimem.memory import slugify

    return f"topics/{slugify(title, 60)}.md"


def llm_observations(project: Project) -> list[Observation]:
    return rawlog.read(project.raw_dir / LOG_NAME).observations


def fold(observations: list[Observation]) -> LLMState:
    state = LLMState()
    for o in observations:
        if o.kind == "llm" and o.data.get("op") == "bootstrap":
            state.bootstrap[str(o.data.get("kind"))] = {
                "input_hash": o.data.get("input_hash"), "text": o.data.get("text", ""),
                "model": o.data.get("model", "")}
            continue
        if o.kind != "llm" or o.data.get("op") != "consolidation":
            continue
        d = o.data
        sid = str(d.get("session", ""))
        state.summaries[sid] = str(d.get("summary", ""))
        state.content_hashes[sid] = str(d.get("content_hash", ""))
        for t in d.get("topics") or []:
            page = topic_page(t["title"])
            topic = state.topics.setdefault(page, {"title": t["title"], "sessions": [],
                                                   "created": o.ts[:19] + "Z"})
            topic.update(title=t["title"], body=t["body"], updated=o.ts[:19] + "Z",
                         model=d.get("model", ""))
            if sid not in topic["sessions"]:
                topic["sessions"].append(sid)
    return state


# --- running -------------------------------------------------------------------------------


@dataclass
class Report:
    """What consolidation did in one compile."""

    called: int = 0
    cached: int = 0
    consolidated: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"session", "reason", "kind"}
    requests: list[Request] = field(default_factory=list)  # with dry_run

    def to_dict(self) -> dict:
        return {"called": self.called, "cached": self.cached,
                "consolidated": self.consolidated, "skipped": self.skipped}


class Usage:
    """Calls and tokens per UTC day, in `state/llm-usage.json`."""

    def __init__(self, project: Project, now: datetime | None = None):
        self.path = project.state_dir / "llm-usage.json"
        self.day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    @property
    def today(self) -> dict:
        return self.data.setdefault(self.day, {"calls": 0, "tokens": 0})

    def add(self, completion: Completion) -> None:
        self.today["calls"] += 1
        self.today["tokens"] += completion.input_tokens + completion.output_tokens
        write_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True))


def consolidate(
    project: Project,
    records: list[SessionRecord],
    titles: list[str],
    settings: LLMSettings,
    *,
    client: Client | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Report:
    """Consolidate the sessions whose content changed since their last consolidation."""
    report = Report()
    state = fold(llm_observations(project))
    todo = [r for r in records if state.content_hashes.get(r.session_id) != content_hash(r)]
    if not todo:
        return report
    client = client or AnthropicClient()
    usage = Usage(project, now)
    cache_dir = project.state_dir / "llm-cache"
    for rec in todo:
        request = build_request(rec, state.topics, titles)
        if dry_run:
            report.requests.append(request)
            continue
        try:
            completion = _call(client, cache_dir, request, report, usage, settings)
            answer = parse_answer(completion.text, request)
        except LLMError as exc:
            report.skipped.append({"session": rec.session_id, "kind": exc.kind,
                                   "reason": str(exc)})
            log_error(project.error_log, f"LLM consolidation skipped: {exc}",
                      stage="llm", kind=exc.kind, session=rec.session_id)
            if exc.kind in ("no-key", "not-installed", "offline", "cap"):
                # The same cause stops every later call in this compile too.
                for later in todo[todo.index(rec) + 1:]:
                    report.skipped.append({"session": later.session_id, "kind": exc.kind,
                                           "reason": str(exc)})
                break
            continue
        _record(project, rec, request, answer, settings.model, completion, now)
        state = fold(llm_observations(project))
        report.consolidated.append(rec.session_id)
    return report


def _call(client, cache_dir, request: Request, report: Report, usage: Usage,
          settings: LLMSettings) -> Completion:
    """The answer for a request: from the cache, else one capped call (then cached)."""
    completion = _cached(cache_dir, request)
    if completion is not None:
        report.cached += 1
        return completion
    _check_caps(report, usage, request, settings)
    completion = client.complete(model=settings.model, system=request.system,
                                 prompt=request.prompt, max_tokens=settings.max_output_tokens,
                                 timeout=settings.timeout)
    report.called += 1
    usage.add(completion)
    _store(cache_dir, request, completion)
    return completion


def _check_caps(report: Report, usage: Usage, request: Request, s: LLMSettings) -> None:
    if report.called >= s.max_calls_per_compile:
        raise LLMError("cap", f"the per-compile cap of {s.max_calls_per_compile} calls is "
                              "reached")
    if usage.today["calls"] >= s.max_calls_per_day:
        raise LLMError("cap", f"the daily cap of {s.max_calls_per_day} calls is reached")
    if usage.today["tokens"] + request.estimated_tokens + s.max_output_tokens \
            > s.max_tokens_per_day:
        raise LLMError("cap", f"the daily cap of {s.max_tokens_per_day} tokens would be "
                              "exceeded")


def _cached(cache_dir, request: Request) -> Completion | None:
    try:
        data = json.loads((cache_dir / f"{request.input_hash}.json").read_text("utf-8"))
        return Completion(data["text"], data.get("input_tokens", 0),
                          data.get("output_tokens", 0))
    except (OSError, ValueError, KeyError):
        return None


def _store(cache_dir, request: Request, completion: Completion) -> None:
    ensure_home_dir(cache_dir)
    write_atomic(cache_dir / f"{request.input_hash}.json",
                 json.dumps({"text": completion.text, "input_tokens": completion.input_tokens,
                             "output_tokens": completion.output_tokens}))


def _record(project, rec, request, answer, model, completion, now) -> None:
    data = {"op": "consolidation", "session": rec.session_id, "model": model,
            "content_hash": request.content_hash, "input_hash": request.input_hash,
            "summary": answer["summary"], "topics": answer["topics"],
            "usage": {"input_tokens": completion.input_tokens,
                      "output_tokens": completion.output_tokens}}
    event = Event(session=LLM_SESSION, kind="llm", cwd=project.root, data=data,
                  uid=f"consolidation:{request.input_hash}")
    ts = format_ts(now or datetime.now(UTC))
    rawlog.append(project.raw_dir, make_observation("wikimem-llm", event, data, ts=ts),
                  internal=True)


# --- bootstrap ---------------------------------------------------------------------------


def overview_request(facts: str) -> Request:
    """The request that asks for a better project overview from bootstrap's facts."""
    from string import Template

    text = datafiles.read_text("bootstrap", "prompts/overview.md")
    prompt = redact_text(Template(text).safe_substitute(input=facts))
    digest = _sha(prompt)
    return Request(session_id="bootstrap:overview", content_hash=digest, input_hash=digest,
                   system="Answer with JSON only.", prompt=prompt)


def input_hash_of(facts: str) -> str:
    return overview_request(facts).input_hash


def recorded_overview(project: Project, facts: str) -> dict | None:
    """The recorded overview ({input_hash, text, model}) if it was written from exactly
    `facts`, else None: what `repo.pages` shows under "In brief"."""
    found = fold(llm_observations(project)).bootstrap.get("overview")
    if found and found.get("text") and found.get("input_hash") == input_hash_of(facts):
        return found
    return None


def improve_overview(project: Project, facts: str, settings: LLMSettings, *,
                     client: Client | None = None, dry_run: bool = False,
                     now: datetime | None = None) -> Report:
    """Ask once for an overview written from the recorded facts; record it if it is faithful."""
    report = Report()
    request = overview_request(facts)
    if fold(llm_observations(project)).bootstrap.get("overview", {}).get(
            "input_hash") == request.input_hash:
        return report  # already written from exactly these facts
    if dry_run:
        report.requests.append(request)
        return report
    try:
        completion = _call(client or AnthropicClient(), project.state_dir / "llm-cache",
                           request, report, Usage(project, now), settings)
        text = _overview_text(completion.text, request)
    except LLMError as exc:
        report.skipped.append({"session": "bootstrap:overview", "kind": exc.kind,
                               "reason": str(exc)})
        log_error(project.error_log, f"LLM overview skipped: {exc}", stage="llm",
                  kind=exc.kind)
        return report
    data = {"op": "bootstrap", "kind": "overview", "model": settings.model,
            "input_hash": request.input_hash, "text": text}
    event = Event(session=LLM_SESSION, kind="llm", cwd=project.root, data=data,
                  uid=f"bootstrap:{request.input_hash}")
    rawlog.append(project.raw_dir, make_observation(
        "wikimem-llm", event, data, ts=format_ts(now or datetime.now(UTC))), internal=True)
    report.consolidated.append("bootstrap:overview")
    return report


def _overview_text(answer: str, request: Request) -> str:
    try:
        data = json.loads(_FENCE.sub("", answer.strip()))
    except ValueError as exc:
        raise LLMError("invalid-output", f"the answer is not JSON ({exc})") from None
    text = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(text, str) or not 20 <= len(text.strip()) <= 4000:
        raise LLMError("invalid-output", "the answer needs a 'summary' of 20-4000 characters")
    if "[[" in text or "<" in text:
        raise LLMError("invalid-output", "the summary may not contain wikilinks or HTML")
    for pattern, what in ((_PATHLIKE, "path"), (_HASH, "hash"), (_DATE, "date")):
        for token in set(pattern.findall(text)):
            if token not in request.prompt:
                raise LLMError("unfaithful", f"the overview mentions a {what} that is not in "
                                             f"the repository facts: {token!r}")
    return redact_text(text.strip())
