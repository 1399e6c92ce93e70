"""`wikimem hook <agent>`: the capture process an agent runs on every event (stdlib only).

It must never slow down or break the agent: it imports only the standard library, does one
locked append, prints the precomputed context on session start (also when the append
failed: a read-only or full home still gets what was compiled before), starts a detached compile
after Stop/SessionEnd/PreCompact, and exits 0 whatever happens, writing what went wrong to
the project's error log (or `$WIKIMEM_HOME/errors.log` when no project can be resolved).
"""

from __future__ import annotations

import json
import os
import sys

MAX_STDIN = 64 * 1024 * 1024  # bytes; a larger event is recorded as an error, not parsed
_EXCERPT_WINDOW = 8192  # bytes of an input that failed, redacted before its excerpt is cut


def run(agent: str, argv: list[str] | None = None, stdin=None, stdout=None) -> int:
    """Handle one hook event; always returns 0.

    `argv` is the rest of the command line (agents such as Codex's legacy `notify` pass the
    event there instead of on stdin); `stdin`/`stdout` are binary streams.
    """
    if os.name != "nt":
        # Everything this process (and the compile it starts) creates is the user's alone.
        os.umask(0o077)
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout.buffer
    error_log: str | None = None
    raw = b""
    try:
        from wikimem import agents as adapters
        from wikimem.capture import privacy
        from wikimem.capture.observation import COMPILE_TRIGGERS
        from wikimem.capture.observe import capture
        from wikimem.project import CONTEXT_FILE, ERROR_LOG, Registry

        adapter = adapters.get(agent)
        if argv and argv[-1].lstrip().startswith("{"):
            # Codex's legacy `notify` passes the event as the last argument, not on stdin
            # (and may leave stdin open: reading it would hang).
            raw = argv[-1].encode("utf-8", "surrogateescape")
        else:
            raw = stdin.read(MAX_STDIN + 1)
        if len(raw) > MAX_STDIN:
            # Drain the rest so the agent's pipe never blocks on us.
            while stdin.read(1 << 20):
                pass
            raise HookInputError(f"event larger than {MAX_STDIN} bytes; not recorded")
        payload = _parse(raw)
        event = adapter.normalize(payload)
        project = Registry().resolve(event.cwd or os.getcwd())
        error_log = project.file(ERROR_LOG)
        # The user's redaction patterns, allow-list and ignore_paths (read only if configured).
        settings = privacy.apply(project)
        if settings.errors:
            privacy.report_errors(project, settings)
        ignored = privacy.ignored_by(settings, event, project.root)
        if ignored is not None:
            privacy.record_ignored(project, adapter.AGENT, event, ignored)
            return 0
        try:
            result = capture(adapter.AGENT, event, payload, project=project)
        except Exception as exc:  # noqa: BLE001 - recorded; the context is printed anyway
            # Trigger: a read-only or full home, a planted link. Why: what was compiled
            # before is still there and the agent still wants it. Outcome: say why, go on.
            result = None
            _record(exc, error_log, agent, raw)
        if event.kind == "session_start":
            context = _read_context(project.file(CONTEXT_FILE))
            out = adapter.session_start_output(context) if context else None
            if out:
                stdout.write((out + "\n").encode("utf-8"))
                stdout.flush()
        if event.kind in COMPILE_TRIGGERS and result and result.stored and _auto_compile():
            spawn_compile(project)
        return 0
    except BaseException as exc:  # noqa: BLE001 - the hook must fail open, whatever happened
        _record(exc, error_log, agent, raw)
        return 0


def _record(exc: BaseException, error_log: str | None, agent: str, raw: bytes) -> None:
    """Write what went wrong to the project's error log (stderr if that fails); never raises."""
    try:
        from wikimem.capture.observe import log_error
        from wikimem.project import ERROR_LOG, Registry, home_folder

        if error_log is None:
            # The payload never said where it came from: the hook runs in the project.
            try:
                error_log = Registry().resolve(os.getcwd()).file(ERROR_LOG)
            except Exception:  # noqa: BLE001 - fall back to the home-level log
                error_log = os.path.join(home_folder(), "errors.log")
        from wikimem.capture.redact import redact_text

        # The first 300 characters of the input, cut after redacting a larger window: a cut
        # first would leave a piece of a secret that its rule no longer recognises.
        excerpt = redact_text(raw[:_EXCERPT_WINDOW].decode("utf-8", "replace"))[:300]
        log_error(
            error_log,
            f"{type(exc).__name__}: {exc}",
            agent=agent,
            stage="hook",
            input_excerpt=excerpt,
        )
    except BaseException:  # noqa: BLE001
        pass


class HookInputError(ValueError):
    """The hook's stdin was not one JSON object."""


def _parse(raw: bytes) -> dict:
    if not raw.strip():
        raise HookInputError("empty stdin; expected one JSON object")
    text = raw.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except RecursionError as exc:
        raise HookInputError("stdin JSON is nested too deeply to parse") from exc
    except ValueError as exc:
        raise HookInputError(f"stdin is not valid JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise HookInputError(f"stdin is JSON {type(payload).__name__}, expected an object")
    return payload


def _read_context(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _auto_compile() -> bool:
    return os.environ.get("WIKIMEM_AUTO_COMPILE", "1").lower() not in ("0", "false", "no", "off")


def spawn_compile(project) -> None:
    """Start `wikimem compile` for the project, detached, so the agent never waits for it."""
    import subprocess

    from wikimem.project import ERROR_LOG, open_private

    log = project.file("state", "compile.log")
    kwargs: dict = {}
    if os.name == "nt":  # pragma: no cover - Windows only
        kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED_PROCESS | NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    try:
        fd = open_private(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except OSError as exc:
        # Trigger: a link in the log's place, a full disk. Why: the compile matters more than
        # its output. Outcome: it runs without a log, and the error log says why.
        _record(exc, project.file(ERROR_LOG), "wikimem", b"")
        fd = subprocess.DEVNULL
    try:
        subprocess.Popen(
            [sys.executable, "-m", "wikimem", "--project", project.project_id, "compile",
             "--quiet", "--no-wait"],
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            close_fds=True,
            **kwargs,
        )
    finally:
        if fd >= 0:
            os.close(fd)
