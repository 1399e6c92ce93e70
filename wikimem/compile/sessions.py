"""Sessions: the rule-based digest of one session's observations.

`digest()` is a pure function of the observations (and nothing else: no clock, no disk), so
compiling the same raw log always gives the same SessionRecord, and the same page bytes.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from dataclasses import asdict, dataclass, field

from wikimem.capture.observation import Observation
from wikimem.compile.work import (
    fixed_by,
    harness_kind,
    read_command,
    request_title,
    split_prompt,
    test_kind,
)
from wikimem.fsio import sha256_hex
from wikimem.wiki.text import make_title, strip_controls

MAX_ERRORS = 10
MAX_QUESTIONS = 5
MAX_STEPS = 8

_TAG_BLOCK = re.compile(
    r"<(ide_[a-z_]+|system-reminder|command-[a-z-]+|local-command-[a-z-]+)>.*?</\1>", re.S
)
_WS = re.compile(r"\s+")
_ACK = {"ok", "okay", "yes", "no", "continue", "go", "thanks", "thank", "you", "please", "pls",
        "sure", "y", "n", "do", "it", "proceed", "go ahead", "next"}
_NEXT_HEADING = re.compile(
    r"^\s*(?:#+\s*|\*\*)?(?:next steps?|todo|to do|remaining|follow[- ]ups?|what'?s left|"
    r"still to do|open items)\b.*$",
    re.I,
)
_NEXT_LINE = re.compile(r"^\s*(?:[-*]\s*)?(?:TODO|Next(?: step)?|Follow[- ]up)\s*:\s*(.+)$", re.I)
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s*)?(.+)$")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_LEAD = r"^[ \t]*(?:[-*>][ \t]*)?(?:\*\*)?"
_RULES = (
    ("decision", re.compile(_LEAD + r"(?:Decision|Decided)(?:\*\*)?[ \t]*:[ \t]*(?:\*\*)?(.+)$",
                            re.I | re.M)),
    ("decision", re.compile(r"\b(?:we|I)(?:'ve| have)? decided (?:to|that|on) ([^.!?\n]+)", re.I)),
    ("lesson", re.compile(_LEAD + r"Lessons?(?: learned)?(?:\*\*)?[ \t]*:[ \t]*(?:\*\*)?(.+)$",
                          re.I | re.M)),
    ("task", re.compile(_LEAD + r"TODO(?:\*\*)?[ \t]*:[ \t]*(.+)$", re.M)),
)
MAX_CANDIDATES = 10
MAX_REPLIES = 40
MAX_REPLY = 4000
MAX_TURNS = 400  # replies and harness turns kept for the transcript (the last ones)
MAX_GOAL = 400
MAX_WORK = 20
MAX_FILE_ERRORS = 3  # commits, pull requests, test runs kept
# Bump when page_stem names a session's page otherwise, or the pages a record makes change
# (3: transcript and file pages): a wiki compiled before is rebuilt once.
PAGE_NAMES = 3
# Page names (page_tag): an id of lowercase words up to PLAIN_TAG_LEN characters is its own
# tag; other ids give a slug of up to SLUG_LEN characters and a hash.
PLAIN_TAG_LEN = 24
SLUG_LEN = 16
_PLAIN_TAG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HEX_END = re.compile(r"(?:^|-)[0-9a-f]{8}$")
_TAG_WORD = re.compile(r"[a-z0-9]+")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


@dataclass
class Command:
    command: str
    exit_code: int | None  # None: the agent did not report a result


@dataclass
class SessionRecord:
    """What a session page says, derived from the session's observations."""

    session_id: str
    agent: str
    cwd: str
    started: str
    ended: str
    title: str
    summary: str
    stem: str
    prompts: list[str] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    outcome: str = ""
    replies: list[str] = field(default_factory=list)  # earlier final messages, oldest first
    open_questions: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    tools: dict[str, int] = field(default_factory=dict)
    observations: int = 0
    subagents: int = 0
    compactions: int = 0
    end_reason: str = ""
    candidates: list[dict] = field(default_factory=list)
    goal: str = ""  # the first real request, as written
    # the conversation in order: {"role": "user"|"agent"|"harness", "text", "note" (harness)}
    turns: list[dict] = field(default_factory=list)
    harness: dict[str, int] = field(default_factory=dict)  # injected text: note kind -> count
    commits: list[str] = field(default_factory=list)
    prs: list[str] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)  # {"command", "result", "detail"}
    error_notes: list[dict] = field(default_factory=list)  # per error: {"fixed", "paths"}
    # each changed file in the repository: {"changes": n, "errors": [error lines naming it]}
    files: dict[str, dict] = field(default_factory=dict)

    @property
    def transcript_path(self) -> str:
        return transcript_path(self.stem)

    @property
    def date(self) -> str:
        return self.started[:10]

    @property
    def page_path(self) -> str:
        return page_path(self.stem)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SessionRecord:
        d = dict(d)
        d["commands"] = [Command(**c) for c in d.get("commands", [])]
        return cls(**d)


def clean_prompt(text: str) -> str:
    """A prompt without IDE/system wrapper tags, whitespace collapsed."""
    return _WS.sub(" ", _TAG_BLOCK.sub(" ", text)).strip()


def _own_words(text: str) -> str:
    """What the person wrote in a prompt, whitespace collapsed (see work.split_prompt)."""
    return _WS.sub(" ", split_prompt(text)[0]).strip()


def is_substantive(prompt: str) -> bool:
    words = re.findall(r"[\w'-]+", prompt.lower())
    content = [w for w in words if w not in _ACK]
    return len(words) >= 3 and len(content) >= 2


def relative_path(path: str, cwd: str, root: str = "") -> str:
    """A file path relative to the repository root when it lies inside it, else to the
    session's working directory when it lies there (a relative path is the working
    directory's), else as recorded."""
    norm = path.replace("\\", "/")
    base = cwd.replace("\\", "/").rstrip("/")
    if base and not _ABSOLUTE.match(norm):
        norm = f"{base}/{norm}"
    if ".." in norm.split("/") or "/./" in norm or "//" in norm.lstrip("/"):
        norm = norm[:1] + posixpath.normpath(norm[1:]) if norm[:1] == "/" else \
            posixpath.normpath(norm)
    for top in (root.replace("\\", "/").rstrip("/"), base):
        if top and norm.lower().startswith(top.lower() + "/"):
            return norm[len(top) + 1 :]
    return norm


_ABSOLUTE = re.compile(r"/|[A-Za-z]:/|~")
_TOOL_ERROR = re.compile(r"</?tool_use_error>")


def digest(observations: list[Observation], root: str = "") -> SessionRecord:
    """Summarize one session's observations (in raw-log order) into a SessionRecord; file
    paths relative to `root`, the project's repository, when they lie in it."""
    obs = sorted(observations, key=lambda o: (o.ts, o.id))
    first = obs[0]
    cwd = next((o.cwd for o in obs if o.cwd), "")
    rec = SessionRecord(
        session_id=first.session,
        agent=first.agent,
        cwd=cwd,
        started=_second(first.ts),
        ended=_second(obs[-1].ts),
        title="",
        summary="",
        stem=page_stem(first.session, first.ts),
        observations=len(obs),
    )
    read, changed = set(), set()
    pending: dict[str, int] = {}  # tool_use_id -> index in rec.commands
    last_message = ""
    replies: list[str] = []
    steps: list[dict] = []  # every tool result, for what fixed an error
    errors: list[tuple[str, int]] = []  # (line, the step it failed at)
    edits: dict[str, list[str]] = {}  # changed file -> the tools that changed it
    for o in obs:
        d = o.data
        if o.kind == "prompt":
            _add_prompt(rec, str(d.get("prompt", "")))
        elif o.kind in ("tool_pre", "tool_post", "tool_failure"):
            tool = str(d.get("tool", "?"))
            if o.kind != "tool_pre":
                rec.tools[tool] = rec.tools.get(tool, 0) + 1
            step_files = []
            for f in d.get("files") or []:
                if isinstance(f, dict) and isinstance(f.get("path"), str):
                    rel = relative_path(f["path"], o.cwd or cwd, root)
                    step_files.append(rel)
                    (changed if f.get("op") == "change" else read).add(rel)
                    if f.get("op") == "change" and o.kind == "tool_post":
                        edits.setdefault(rel, []).append(tool)
            _track_command(rec, o, pending)
            if o.kind == "tool_pre":
                continue
            command = d.get("command") if isinstance(d.get("command"), str) else ""
            code = d.get("exit_code") if isinstance(d.get("exit_code"), int) else None
            step = {"command": command.strip(), "exit_code": 0 if o.kind == "tool_post"
                    and code is None and not command else code,
                    "test": test_kind(command), "paths": step_files,
                    "changed": step_files if o.kind == "tool_post" else []}
            steps.append(step)
            if command and o.kind == "tool_post":
                _add_work(rec, read_command(command, str(d.get("output") or ""), code))
            if o.kind == "tool_failure":
                err = _TOOL_ERROR.sub("", strip_controls(str(d.get("error") or "failed")))
                err = err.strip().splitlines()
                what = f"`{_one_line(d.get('command') or tool)}`"
                errors.append((f"{what}: {err[0][:200] if err else 'failed'}", len(steps) - 1))
            elif code is not None and code != 0:
                out = strip_controls(str(d.get("output") or "")).strip().splitlines()
                tail = out[-1][:200] if out else ""
                errors.append((f"`{_one_line(d.get('command') or tool)}` exited {code}"
                               + (f": {tail}" if tail else ""), len(steps) - 1))
        elif o.kind == "stop":
            if d.get("message"):
                if last_message:
                    replies.append(last_message)
                last_message = str(d["message"])
                rec.turns.append({"role": "agent", "text": _cap(last_message.strip(),
                                                                 MAX_REPLY)})
            # Codex's legacy notify reports the turn's input with its final message.
            text = _prompt_text(d.get("prompt"))
            if _own_words(text) and _own_words(text) not in rec.prompts:
                _add_prompt(rec, text, before_last=bool(d.get("message")))
        elif o.kind == "subagent_stop":
            rec.subagents += 1
        elif o.kind == "pre_compact":
            rec.compactions += 1
        elif o.kind == "session_end":
            rec.end_reason = str(d.get("reason") or "")
    rec.files_changed = sorted(changed)
    rec.files_read = sorted(read - changed)
    for line, at in errors[:MAX_ERRORS]:
        rec.errors.append(line)
        paths = sorted({p for p in steps[at]["paths"] if not _ABSOLUTE.match(p)}
                       | {f for f in rec.files_changed if f in line})
        rec.error_notes.append({"fixed": fixed_by({**steps[at], "paths": paths},
                                                  steps[at + 1:]), "paths": paths})
    rec.files = {f: {"changes": len(edits.get(f, ())),
                     "tools": sorted(set(edits.get(f, ()))), "errors": [
        line for line, note in zip(rec.errors, rec.error_notes, strict=True)
        if f in note["paths"]][:MAX_FILE_ERRORS]} for f in rec.files_changed
        if not _ABSOLUTE.match(f) and not f.startswith("../")}
    rec.outcome = last_message.strip()
    # Each turn's final message says what the agent concluded then; the last is the outcome.
    rec.replies = [_cap(r.strip(), MAX_REPLY) for r in replies if r.strip()][-MAX_REPLIES:]
    # Every prompt stays (the transcript holds every word a person wrote); of the rest, the last.
    rec.turns = [t for i, t in enumerate(rec.turns)
                 if t["role"] == "user" or i >= len(rec.turns) - MAX_TURNS]
    rec.open_questions = open_questions(last_message)
    rec.next_steps = next_steps(last_message)
    substantive = next((p for p in rec.prompts if is_substantive(p)), None)
    rec.goal = _cap(next((t["text"] for t in rec.turns if t["role"] == "user"
                          and is_substantive(_WS.sub(" ", t["text"]))), ""), MAX_GOAL)
    rec.title = (request_title(rec.goal) or _outcome_title(rec.outcome)
                 or make_title(substantive or (rec.prompts[0] if rec.prompts else ""))
                 or f"Session {first.session[:8]}")
    rec.summary = summarize(rec)
    rec.candidates = candidates(obs)
    return rec


def _add_prompt(rec: SessionRecord, raw: str, before_last: bool = False) -> None:
    """A prompt's words as a user turn, and what the harness injected in it as harness turns."""
    words, injected = split_prompt(raw)
    turns = [{"role": "harness", "text": text, "note": note} for note, text in injected]
    for note, _ in injected:
        kind = harness_kind(note)
        rec.harness[kind] = rec.harness.get(kind, 0) + 1
    if words:
        rec.prompts.append(_WS.sub(" ", words).strip())
        turns.append({"role": "user", "text": words})
    at = len(rec.turns) - 1 if before_last and rec.turns else len(rec.turns)
    rec.turns[at:at] = turns


def _add_work(rec: SessionRecord, found: dict) -> None:
    for key in ("commits", "prs", "tests"):
        for item in found.get(key, []):
            kept = getattr(rec, key)
            if item not in kept and len(kept) < MAX_WORK:
                kept.append(item)


def _outcome_title(outcome: str) -> str:
    """A title from the final message's first line (its heading), without a leading
    'Done'-like word or emoji."""
    first = next((ln.strip("#*_>- ").strip() for ln in outcome.splitlines()
                  if ln.strip("#*_>-` ").strip()), "")
    first = re.sub(r"^[^\w(`'\"]+", "", first)
    first = re.sub(r"^(?:done|finished|complete|completed|all set|perfect|great)\b[\s!.:,—–-]*",
                   "", first, flags=re.I)
    return make_title(first[:1].upper() + first[1:]) if len(first.split()) >= 2 else ""


def candidates(obs: list[Observation]) -> list[dict]:
    """Decisions, lessons and todos stated in an explicit form in prompts or final messages.

    They become pages with status `proposed`, citing the session, until a person accepts
    them (`wikimem accept`) or drops them (`wikimem forget`).
    """
    from wikimem.memory import KINDS, candidate_id, slugify

    found: dict[str, dict] = {}
    for o in obs:
        if o.kind == "prompt":
            text, where = _own_words(str(o.data.get("prompt", ""))), "prompt"
        elif o.kind == "stop" and o.data.get("message"):
            text, where = str(o.data["message"]), "assistant"
        else:
            continue
        for kind, rule in _RULES:
            for match in rule.finditer(text):
                stated = match.group(1).strip().strip("*_` ").strip()
                if len(stated.split()) < 2:
                    continue
                title = make_title(stated[:1].upper() + stated[1:], 100)
                cid = candidate_id(kind, o.session, stated)
                if cid in found or len(found) >= MAX_CANDIDATES:
                    continue
                found[cid] = {
                    "kind": kind, "id": cid, "title": title, "text": stated,
                    "page": f"{KINDS[kind][1]}/{cid}-{slugify(title)}.md",
                    "session": o.session, "ts": _second(o.ts), "where": where,
                    "agent": o.agent,
                }
    return list(found.values())


def page_path(stem: str) -> str:
    """Where a session's page lives in the wiki, by its stem (`page_stem`)."""
    return f"sessions/{stem}.md"


def transcript_path(stem: str) -> str:
    """Where a session's full conversation lives: a name no session page can have (a
    session's stem has no dot)."""
    return f"transcripts/{stem}.transcript.md"


def page_stem(session: str, started: str) -> str:
    """A session page's name: `<date>-<tag>`, a function of the session id and the day it
    started (its earliest event) only, so it never depends on which other sessions exist or
    on the order their events arrived in. Every page name and link comes from here."""
    return f"{started[:10]}-{page_tag(session)}"


def page_tag(session: str) -> str:
    """Short, readable and distinct for every session id, also ignoring case.

    A short id of lowercase words (`s-1`, `alpha-session`) is its own tag. Any other id gets
    a readable slug of itself (a UUID: its last eight digits) and eight hex digits of the
    sha256 of the whole id: ids that share their tail (`alpha-session`, `beta-session`) or
    differ only in case or punctuation still get different tags. The two kinds cannot
    meet: a plain tag never ends in eight hex digits (alone or after a `-`); a hashed tag
    always does.
    """
    if len(session) <= PLAIN_TAG_LEN and _PLAIN_TAG.fullmatch(session) \
            and not _HEX_END.search(session):
        return session
    words = _TAG_WORD.findall(session.lower())
    slug = "-".join(words)
    if _UUID.fullmatch(session):
        slug = words[-1][-8:]  # the random end of a v4/v7 UUID, as shown by the agents
    elif len(slug) > SLUG_LEN:
        cut = slug[:SLUG_LEN + 1]
        slug = cut[:cut.rfind("-")] if "-" in cut[SLUG_LEN // 2:] else cut[:SLUG_LEN]
    digest = sha256_hex(session.encode("utf-8", "surrogatepass"))[:8]
    return f"{slug or 'session'}-{digest}"


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _prompt_text(value) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value if v)
    return str(value or "")


def _second(ts: str) -> str:
    """2026-11-21T06:43:25.123Z -> 2026-11-21T06:43:25Z."""
    return ts[:19] + "Z" if len(ts) >= 19 else ts


def _one_line(text) -> str:
    lines = str(text).strip().splitlines() or [""]
    line = lines[0]
    more = " …" if len(lines) > 1 else ""
    return (line[:160] + "…" if len(line) > 160 else line) + more


def _track_command(rec: SessionRecord, o: Observation, pending: dict[str, int]) -> None:
    command = o.data.get("command")
    if not isinstance(command, str) or not command.strip():
        return
    use_id = o.data.get("tool_use_id")
    code = o.data.get("exit_code") if isinstance(o.data.get("exit_code"), int) else None
    if isinstance(use_id, str) and use_id in pending:
        if o.kind != "tool_pre":
            rec.commands[pending.pop(use_id)].exit_code = code
        return
    if o.kind != "tool_pre" and rec.commands:
        last = rec.commands[-1]
        if last.command == command.strip() and last.exit_code is None:
            last.exit_code = code  # a PreToolUse without ids followed by its PostToolUse
            return
    rec.commands.append(Command(command.strip(), None if o.kind == "tool_pre" else code))
    if o.kind == "tool_pre" and isinstance(use_id, str):
        pending[use_id] = len(rec.commands) - 1


def open_questions(message: str) -> list[str]:
    """Questions the final assistant message leaves open (lines ending in '?')."""
    found = []
    for line in message.splitlines():
        text = _BULLET.sub(r"\1", line).strip().strip("*_").strip()
        if text.endswith("?") and len(text.split()) >= 3 and text not in found:
            found.append(text)
    return found[:MAX_QUESTIONS]


def next_steps(message: str) -> list[str]:
    """Next steps stated in the final assistant message: a 'Next steps' list or `TODO:` lines."""
    steps: list[str] = []
    in_section = False
    for line in message.splitlines():
        explicit = _NEXT_LINE.match(line)
        if explicit:
            steps.append(explicit.group(1).strip())
            continue
        if _NEXT_HEADING.match(line):
            in_section = True
            continue
        if in_section:
            bullet = _BULLET.match(line)
            if bullet:
                steps.append(bullet.group(1).strip())
            elif _HEADING.match(line) or (line.strip() and steps):
                in_section = False
    unique = list(dict.fromkeys(s.strip("*_ ") for s in steps if s.strip("*_ ")))
    return unique[:MAX_STEPS]


def activity(rec: SessionRecord) -> str:
    """What happened, in numbers: prompts, files changed, commands and failures."""
    failed = sum(1 for c in rec.commands if c.exit_code not in (0, None))
    return ", ".join([
        _plural(len(rec.prompts), "prompt"),
        _plural(len(rec.files_changed), "file") + " changed",
        _plural(len(rec.commands), "command") + (f" ({failed} failed)" if failed else ""),
    ])


def summarize(rec: SessionRecord) -> str:
    """One line: what happened in numbers, and how it ended."""
    line = activity(rec)
    if rec.outcome:
        first = next(
            (ln.strip("#*_>- ").strip() for ln in rec.outcome.splitlines()
             if ln.strip("#*_>-` ").strip()),
            "",
        )
        if first:
            line += ". Outcome: " + make_title(first, 140)
    return line


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def old_successors(catalog: dict[str, dict], before: dict[str, dict | None],
                    moved: dict[str, dict]) -> set[str]:
    """The sessions that came right after each moved session before this compile (their
    pages' "previous" link named it)."""
    # The order the last compile rendered: the sessions it knew, where they were then.
    then = [d for name, d in catalog.items() if name not in before]
    then += [old for old in before.values() if old is not None]
    order = sorted((d["started"], d["session_id"]) for d in then)
    found = set()
    for old in moved.values():
        at = bisect.bisect_right(order, (old["started"], old["session_id"]))
        if at < len(order):
            found.add(order[at][1])
    return found
