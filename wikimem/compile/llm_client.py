"""The model call for LLM consolidation: the client seam, and the real client over the
`anthropic` SDK, which turns every way a call can fail into an `LLMError`.

Every failure says whether the request left the machine (`sent`: it is counted against the
caps) and whether the same cause would fail every later call of the round (`stop`: a rate
limit, a timeout, no connection, a server error, a missing key).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

# Kinds whose cause stops the rest of the round: the next call would fail the same way (or
# make things worse, as against a rate limit).
STOPPING = frozenset({"no-key", "not-installed", "offline", "timeout", "rate-limit", "cap",
                      "budget", "auth", "server-error"})


@dataclass
class Completion:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


class LLMError(Exception):
    """Why a call did not produce usable output; `kind` is one short word for reports."""

    def __init__(self, kind: str, message: str, *, sent: bool = False,
                 retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.sent = sent  # the request reached (or may have reached) the API: it counts
        self.retry_after = retry_after  # seconds the API asked us to wait

    @property
    def stop(self) -> bool:
        return self.kind in STOPPING


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
        box: dict = {}

        def call() -> None:
            try:
                client = anthropic.Anthropic(api_key=self.api_key, timeout=timeout,
                                             max_retries=0)
                box["reply"] = client.messages.create(
                    model=model, system=system, max_tokens=max_tokens,
                    messages=[{"role": "user", "content": prompt}])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                box["error"] = exc

        # Why a thread: the SDK's timeout bounds each read, not the whole reply, so a server
        # that trickles bytes could hold the compile (and its lock) far longer. Outcome: the
        # call is abandoned at its deadline; the daemon thread ends with its socket.
        worker = threading.Thread(target=call, name="wikimem-llm", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise LLMError("timeout", f"no answer within {timeout:g}s", sent=True)
        if "error" in box:
            raise failure(box["error"], anthropic, timeout) from box["error"]
        return completion_of(box["reply"])


def failure(exc: BaseException, anthropic, timeout: float) -> LLMError:
    """The LLMError for whatever the SDK raised."""
    if isinstance(exc, anthropic.APITimeoutError):
        return LLMError("timeout", f"no answer within {timeout:g}s", sent=True)
    if isinstance(exc, anthropic.APIConnectionError):
        # A refused or unresolvable connection sent nothing; a connection lost mid-way may have.
        cause = type(exc.__cause__).__name__
        return LLMError("offline", f"cannot reach the API ({exc})",
                        sent=cause not in ("ConnectError", "ConnectTimeout"))
    if isinstance(exc, anthropic.APIStatusError):
        status, wait = exc.status_code, retry_after(exc.response.headers)
        if status == 429:
            return LLMError("rate-limit", "the API is rate limiting this key"
                            + (f" (retry after {wait:g}s)" if wait else ""), sent=True,
                            retry_after=wait)
        if status in (401, 403):
            return LLMError("auth", f"the API refused the key ({status})", sent=True)
        kind = "server-error" if status >= 500 else "api-error"
        return LLMError(kind, f"the API answered {status}", sent=True, retry_after=wait)
    if isinstance(exc, Exception):
        # A 200 whose body is not a message (truncated JSON, an HTML page from a proxy) or
        # anything else the SDK tripped on: the request was answered, so it counts.
        return LLMError("bad-reply", f"the API's reply could not be read "
                                     f"({type(exc).__name__}: {_short(exc)})", sent=True)
    raise exc  # KeyboardInterrupt, SystemExit: not ours to swallow


def completion_of(reply) -> Completion:
    """The text and token counts of a reply, or `bad-reply` when it is not a message."""
    content = getattr(reply, "content", None)
    if not isinstance(content, list):
        raise LLMError("bad-reply", "the API's reply is not a message (no content list)",
                       sent=True)
    texts = [block.text for block in content if isinstance(getattr(block, "text", None), str)]
    if not texts:
        raise LLMError("bad-reply", "the API's reply holds no text", sent=True)
    usage = getattr(reply, "usage", None)
    return Completion("".join(texts), _tokens(getattr(usage, "input_tokens", 0)),
                      _tokens(getattr(usage, "output_tokens", 0)))


def _tokens(value) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def retry_after(headers) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date), if any."""
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, AttributeError):
        return None
