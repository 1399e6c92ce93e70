"""Optional LLM consolidation: one call per changed session turns the rule-based session digest
into an updated summary and topic pages. The rule-based pages are always written first and
stay whenever anything fails.

Seams and guarantees:
- `Client` is the seam (compile.llm_client): `AnthropicClient` (imports `anthropic` only when
  called) or any object with the same `complete()` (tests inject a fake). Every failure is an
  `LLMError`; `consolidate` and `improve_overview` also turn a bug of their own into one, so
  nothing in this layer can cost a compile its rule-based pages.
- Cost control: calls per compile, calls and tokens per day (`state/llm-usage.json`, which
  counts every request that left the machine, failed ones too), an estimate checked before
  each call, a time budget per compile (each call's timeout is cut to what is left, and the
  round stops at the first timeout, rate limit, server error or lost connection), a pause
  until the API's `retry-after`, and a cache (`state/llm-cache/<input hash>.json`) of
  accepted answers, so the same input is never paid for twice.
- A queue (`state/llm-queue.json`) of the sessions still owed consolidation (skipped for any
  reason) and why: later compiles try them again, within the caps. A session whose answers
  were rejected MAX_REJECTIONS times for the same content waits until it changes, or for
  `compile --llm --rebuild`.
- Faithfulness (compile.llm_answer): every statement carries a quote from the session, looked
  up in what was sent; ungrounded statements are dropped and counted; paths, hashes and dates
  not in the input reject the answer.
- Reproducibility: every accepted answer is recorded as an `llm` observation in the raw log
  (session `wikimem-llm`), and pages are rendered from those records, so `compile --rebuild`
  reproduces them with zero calls. A session is consolidated again only when its own content
  (not the rest of the wiki) changed.
- Secrets are redacted from the request before it leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wikimem import datafiles
from wikimem.capture import rawlog
from wikimem.capture.event import Event
from wikimem.capture.observation import Observation, format_ts
from wikimem.capture.observe import log_error, make_observation
from wikimem.capture.redact import redact_text, redact_value
from wikimem.compile import llm_answer
from wikimem.compile.llm_answer import evidence_text, normalise
from wikimem.compile.llm_client import AnthropicClient, Client, Completion, LLMError
from wikimem.compile.llm_ledger import REJECTED, Queue, Usage
from wikimem.compile.sessions import SessionRecord
from wikimem.project import Project, ensure_home_dir, write_atomic

__all__ = ["AnthropicClient", "Client", "Completion", "LLMError", "LLMSettings", "consolidate",
           "improve_overview"]

LLM_SESSION = "wikimem-llm"
LOG_NAME = f"{rawlog.internal_filename(LLM_SESSION)}.jsonl"
DEFAULT_MODEL = "claude-haiku-4-5"
MIN_CALL_SECONDS = 1.0  # less time left in the budget than this: no call is started


@dataclass(frozen=True)
class LLMSettings:
    """`[llm]` in config.toml."""

    enabled: bool = False
    model: str = DEFAULT_MODEL
    max_calls_per_compile: int = 10
    max_calls_per_day: int = 100
    max_tokens_per_day: int = 300_000
    max_output_tokens: int = 2000
    timeout: float = 30.0  # seconds for one call
    time_budget: float = 120.0  # seconds for all the calls of one compile (or bootstrap)


# --- requests --------------------------------------------------------------------------


@dataclass
class Request:
    """What would be sent for one session."""

    session_id: str
    content_hash: str  # hash of the session's own content: decides whether to consolidate
    input_hash: str  # hash of everything sent: the cache key
    system: str
    prompt: str
    evidence: str = ""  # the session's text as sent, normalised: where quotes are looked up
    known_quotes: dict[str, set[str]] = field(default_factory=dict)  # topic page -> quotes

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
    shown = sorted(topics.items())[:30]
    payload = {
        "session": session,
        "existing_topics": [
            {"page": page, "title": t["title"], "points": t["points"][:30]} if t.get("points")
            else {"page": page, "title": t["title"], "body": t["body"][:2000]}
            for page, t in shown],
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
        evidence=evidence_text(json.loads(prompt)["session"]),
        known_quotes={page: {normalise(p["quote"]) for p in t.get("points") or []}
                      for page, t in shown},
    )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def parse_answer(text: str, request: Request) -> dict:
    """The model's answer, checked (compile.llm_answer): {summary, topics, dropped}."""
    return llm_answer.parse_answer(text, request.prompt, request.evidence,
                                   request.known_quotes, topic_page)


# --- recorded results ----------------------------------------------------------------------


@dataclass
class LLMState:
    """Accepted consolidations folded from the raw log."""

    summaries: dict[str, str] = field(default_factory=dict)  # session id -> summary
    content_hashes: dict[str, str] = field(default_factory=dict)  # session id -> last hash
    models: dict[str, str] = field(default_factory=dict)  # session id -> model of its summary
    # session id -> the topics its last consolidation wrote, as (page, title)
    session_topics: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    topics: dict[str, dict] = field(default_factory=dict)  # page -> {title, body, sessions, ...}
    bootstrap: dict[str, dict] = field(default_factory=dict)  # kind -> {input_hash, text, model}

    def marks(self, sid: str) -> dict | None:
        """What a session page says of its consolidation: the model that wrote its summary,
        and the topic pages it fed (None: not consolidated)."""
        if sid not in self.summaries:
            return None
        return {"model": self.models.get(sid) or "an LLM",
                "topics": self.session_topics.get(sid, [])}


def topic_page(title: str) -> str:
    from wikimem.memory import slugify

    return f"topics/{slugify(title, 60)}.md"


def llm_observations(project: Project) -> list[Observation]:
    return rawlog.read(project.raw_dir / LOG_NAME).observations


def fold(observations: list[Observation]) -> LLMState:
    state = LLMState()
    for o in observations:
        if o.kind != "llm" or not isinstance(o.data, dict):
            continue
        try:
            _fold_one(state, o)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # a damaged record (edited by hand?): skipped, the others still count
    return state


def _fold_one(state: LLMState, o: Observation) -> None:
    d = o.data
    if d.get("op") == "bootstrap":
        state.bootstrap[str(d.get("kind"))] = {
            "input_hash": d.get("input_hash"), "text": str(d.get("text", "")),
            "model": str(d.get("model", ""))}
        return
    if d.get("op") != "consolidation":
        return
    sid = str(d.get("session", ""))
    topics = [t for t in d.get("topics") or []
              if isinstance(t.get("title"), str) and isinstance(t.get("body"), str)]
    state.summaries[sid] = str(d.get("summary", ""))
    state.content_hashes[sid] = str(d.get("content_hash", ""))
    state.models[sid] = str(d.get("model", ""))
    state.session_topics[sid] = [(topic_page(t["title"]), t["title"]) for t in topics]
    for t in topics:
        page = topic_page(t["title"])
        # (dated by the session it was learnt from, when the record says: pages do not
        # depend on when the model happened to be asked)
        when = str(d.get("session_ended") or o.ts)[:19] + "Z"
        topic = state.topics.setdefault(page, {"title": t["title"], "sessions": [],
                                               "created": when})
        topic.update(title=t["title"], body=t["body"],
                     updated=max(when, topic.get("updated") or when),
                     points=[p for p in t.get("points") or [] if isinstance(p, dict)
                             and isinstance(p.get("text"), str)
                             and isinstance(p.get("quote"), str)],
                     model=d.get("model", ""))
        if sid not in topic["sessions"]:
            topic["sessions"].append(sid)


# --- running -------------------------------------------------------------------------------


@dataclass
class Report:
    """What consolidation did in one compile."""

    called: int = 0  # requests that left the machine, failed ones included
    cached: int = 0
    consolidated: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"session", "reason", "kind"}
    dropped: dict[str, int] = field(default_factory=dict)  # session -> statements dropped
    held: list[str] = field(default_factory=list)  # rejected too often: wait for a change
    requests: list[Request] = field(default_factory=list)  # with dry_run
    model: str = ""

    def to_dict(self) -> dict:
        out = {"called": self.called, "cached": self.cached,
               "consolidated": self.consolidated, "skipped": self.skipped}
        out.update({k: v for k, v in (("dropped", self.dropped), ("held", self.held)) if v})
        return out


def owed(project: Project) -> list[str]:
    """The sessions the queue holds (held ones included), by id."""
    return sorted(Queue(project).sessions)


def can_retry(project: Project, settings: LLMSettings, now: datetime | None = None) -> bool:
    """Whether a compile with nothing new should run for the queue: a session is owed and
    may be tried now (not held, no pause, the daily call cap not reached)."""
    queue = Queue(project)
    if not queue.sessions or queue.paused(now):
        return False
    if Usage(project, now).today["calls"] >= settings.max_calls_per_day:
        return False
    return any(not queue.held(sid) for sid in queue.sessions)


def consolidate(
    project: Project,
    records: list[SessionRecord],
    titles: list[str],
    settings: LLMSettings,
    *,
    client: Client | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    retry_held: bool = False,
    known: set[str] | None = None,
) -> Report:
    """Consolidate the sessions whose content changed since their last consolidation (those
    the queue owes among them; `known`: every session there is, the queue forgets the others).
    Never raises: any failure, a bug of ours included, is a
    skipped session in the report and a line in the error log."""
    report = Report(model=settings.model)
    try:
        _consolidate(project, records, titles, settings, client, dry_run, now, retry_held,
                     known, report)
    except Exception as exc:  # noqa: BLE001 - nothing here may cost the rule-based pages
        err = _internal(exc)
        report.skipped.append({"session": "*", "kind": err.kind, "reason": str(err)})
        log_error(project.error_log, f"LLM consolidation failed: {err}", stage="llm",
                  kind=err.kind, where=_where(exc))
    return report


def _consolidate(project, records, titles, settings, client, dry_run, now, retry_held,
                 known, report: Report) -> None:
    state = fold(llm_observations(project))
    queue = Queue(project)
    if known is not None and not dry_run:
        queue.keep_only(known)
    todo = []
    for rec in records:
        digest = content_hash(rec)
        if state.content_hashes.get(rec.session_id) == digest:
            queue.settle(rec.session_id)
        elif queue.held(rec.session_id, digest) and not retry_held:
            report.held.append(rec.session_id)
        else:
            todo.append((rec, digest))
    if dry_run:
        report.requests = [build_request(rec, state.topics, titles) for rec, _ in todo]
        return
    client = client or AnthropicClient()
    usage = Usage(project, now)
    deadline = time.monotonic() + settings.time_budget
    stopped: LLMError | None = None
    for rec, digest in todo:
        sid = rec.session_id
        if stopped is not None:  # the same cause stops every later call of this round
            report.skipped.append({"session": sid, "kind": stopped.kind,
                                   "reason": str(stopped)})
            queue.owe(sid, digest, stopped, now)
            continue
        request = None
        try:
            request = build_request(rec, state.topics, titles)
            completion = _call(client, project, request, report, usage, settings, queue,
                               deadline, now)
            answer = parse_answer(completion.text, request)
            _store(project, request, completion)
            _record(project, rec, request, answer, settings.model, completion, now)
        except Exception as exc:  # noqa: BLE001 - LLMError, or a bug of ours: the same
            err = exc if isinstance(exc, LLMError) else _internal(exc)
            report.skipped.append({"session": sid, "kind": err.kind, "reason": str(err)})
            log_error(project.error_log, f"LLM consolidation skipped: {err}", stage="llm",
                      kind=err.kind, session=sid,
                      **({} if err is exc else {"where": _where(exc)}))
            queue.owe(sid, digest, err, now)
            if err.retry_after:
                queue.pause(err.retry_after, now)
            if request is not None and err.kind in REJECTED:
                _forget(project, request)  # (a cached answer the rules now reject)
            if err.stop:
                stopped = err
            continue
        queue.settle(sid)
        state = fold(llm_observations(project))
        report.consolidated.append(sid)
        if answer["dropped"]:
            report.dropped[sid] = len(answer["dropped"])
            log_error(project.error_log, f"LLM consolidation of {sid} kept, but "
                      f"{len(answer['dropped'])} statement(s) without a quote found in the "
                      "session were dropped", stage="llm", kind="dropped", session=sid,
                      dropped=" | ".join(answer["dropped"][:5]))
    queue.save()


def _internal(exc: BaseException) -> LLMError:
    """A failure that is not an LLMError: a bug of ours, or a disk that refused a write."""
    return LLMError("internal", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
                       for f in reversed(frames))


def _call(client, project: Project, request: Request, report: Report, usage: Usage,
          settings: LLMSettings, queue: Queue, deadline: float, now: datetime | None) -> Completion:
    """The answer for a request: from the cache, else one capped call within the time left."""
    completion = _cached(project, request)
    if completion is not None:
        report.cached += 1
        return completion
    until = queue.paused(now)
    if until:
        raise LLMError("rate-limit", f"rate limited until {until} (the API's retry-after)")
    _check_caps(report, usage, request, settings)
    left = deadline - time.monotonic()
    if left < MIN_CALL_SECONDS:
        raise LLMError("budget", f"the time budget of {settings.time_budget:g}s for LLM calls "
                                 "in one compile is spent")
    try:
        completion = client.complete(model=settings.model, system=request.system,
                                     prompt=request.prompt,
                                     max_tokens=settings.max_output_tokens,
                                     timeout=min(settings.timeout, left))
        if not isinstance(completion, Completion) or not isinstance(completion.text, str):
            raise LLMError("bad-reply", "the client returned no text", sent=True)
    except LLMError as exc:
        if exc.sent:
            report.called += 1
            # A timed-out or unreadable answer may have been paid for: its input counts.
            usage.count(request.estimated_tokens if exc.kind in ("timeout", "bad-reply",
                                                                 "offline") else 0,
                        failed=True)
        raise
    except Exception as exc:  # a client that raised something else: it may have sent
        report.called += 1
        usage.count(request.estimated_tokens, failed=True)
        raise LLMError("bad-reply", f"the client failed ({type(exc).__name__}: "
                                    f"{' '.join(str(exc).split())[:200]})", sent=True) from exc
    report.called += 1
    usage.count(completion.input_tokens + completion.output_tokens)
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


def _cache_file(project: Project, request: Request):
    return project.state_dir / "llm-cache" / f"{request.input_hash}.json"


def _cached(project: Project, request: Request) -> Completion | None:
    try:
        data = json.loads(_cache_file(project, request).read_text("utf-8"))
        return Completion(str(data["text"]), int(data.get("input_tokens", 0)),
                          int(data.get("output_tokens", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(project: Project, request: Request, completion: Completion) -> None:
    """Keep an accepted answer (only those: a rejected one is asked for again)."""
    ensure_home_dir(project.state_dir / "llm-cache")
    write_atomic(_cache_file(project, request),
                 json.dumps({"text": completion.text, "input_tokens": completion.input_tokens,
                             "output_tokens": completion.output_tokens}))


def _forget(project: Project, request: Request) -> None:
    try:
        _cache_file(project, request).unlink(missing_ok=True)
    except OSError:
        pass


def _record(project, rec, request, answer, model, completion, now) -> None:
    data = {"op": "consolidation", "session": rec.session_id, "session_ended": rec.ended,
            "model": model,
            "content_hash": request.content_hash, "input_hash": request.input_hash,
            "summary": answer["summary"], "topics": answer["topics"],
            "dropped": len(answer["dropped"]),
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
    """Ask once for an overview written from the recorded facts; record it if it is faithful.
    Never raises: a failure is a skipped entry in the report and a line in the error log, and
    the next bootstrap asks again."""
    report = Report(model=settings.model)
    request = None
    try:
        request = overview_request(facts)
        if fold(llm_observations(project)).bootstrap.get("overview", {}).get(
                "input_hash") == request.input_hash:
            return report  # already written from exactly these facts
        if dry_run:
            report.requests.append(request)
            return report
        queue = Queue(project)
        try:
            completion = _call(client or AnthropicClient(), project, request, report,
                               Usage(project, now), settings, queue,
                               time.monotonic() + settings.time_budget, now)
            text = llm_answer.overview_text(completion.text, request.prompt)
        except LLMError as exc:
            if exc.retry_after:
                queue.pause(exc.retry_after, now)
            queue.owe_overview(exc, now)
            queue.save()
            raise
        _store(project, request, completion)
        data = {"op": "bootstrap", "kind": "overview", "model": settings.model,
                "input_hash": request.input_hash, "text": text}
        event = Event(session=LLM_SESSION, kind="llm", cwd=project.root, data=data,
                      uid=f"bootstrap:{request.input_hash}")
        rawlog.append(project.raw_dir, make_observation(
            "wikimem-llm", event, data, ts=format_ts(now or datetime.now(UTC))), internal=True)
    except Exception as exc:  # noqa: BLE001 - LLMError, or a bug of ours: the same
        err = exc if isinstance(exc, LLMError) else _internal(exc)
        report.skipped.append({"session": "bootstrap:overview", "kind": err.kind,
                               "reason": str(err)})
        log_error(project.error_log, f"LLM overview skipped: {err}", stage="llm",
                  kind=err.kind, **({} if err is exc else {"where": _where(exc)}))
        if request is not None and err.kind in REJECTED:
            _forget(project, request)
        return report
    queue.settle_overview()
    queue.save()
    report.consolidated.append("bootstrap:overview")
    return report
