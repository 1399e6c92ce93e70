"""What leaves the machine is scanned again with the current redaction rules.

Capture redacted every line with the rules of its day; a pattern the user adds later (`[redact]
patterns`), or a rule wikimem learned since, may match what was already recorded. Before a
sync pushes a log's new lines or a person's page, each is run through the redaction in use now
(the built-in rules, the user's patterns and allow-list); anything it would change refuses the
push, with where and what kind, and nothing is sent. The way out is `wikimem purge --secret`
(which scrubs it here) or `[sync] exclude` (which keeps the session here).
"""

from __future__ import annotations

import json
import re

from wikimem.capture import privacy
from wikimem.capture.redact import redact_text, redact_value
from wikimem.errors import WikimemError
from wikimem.project import Project

_MARKER = re.compile(r"\[REDACTED:([a-z0-9-]{1,40})\]")


class PrivacyRefused(WikimemError):
    """A push would carry what the redaction rules now call a secret."""


def checker(project: Project):
    """`check(name, data)` for `exchange.sync_locked`, with the project's settings in use."""
    settings = privacy.apply(project)
    if settings.errors:
        raise WikimemError("; ".join(settings.errors) + " (fix the privacy settings before "
                           "syncing: they decide what may leave this machine).")

    def check(name: str, data: bytes, first_line: int = 1) -> None:
        if name.startswith("wiki/"):
            _check_text(name, data.decode("utf-8", "replace"), 0)
            return
        for n, line in enumerate(data.splitlines(), start=first_line):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if redact_value(value) != value:
                kinds = _kinds(json.dumps(redact_value(value)), json.dumps(value))
                raise PrivacyRefused(
                    f"raw/{name} line {n} holds what the redaction rules now call a secret "
                    f"({', '.join(kinds)}); nothing was pushed. Remove it here with `wikimem "
                    "purge --secret -` or keep the session here with `[sync] exclude`, then "
                    "sync again.")

    return check


def _check_text(name: str, text: str, n: int) -> None:
    redacted = redact_text(text)
    if redacted != text:
        raise PrivacyRefused(
            f"{name} holds what the redaction rules now call a secret "
            f"({', '.join(_kinds(redacted, text))}); nothing was pushed. Edit the page (or "
            "`[sync] exclude` it), then sync again.")


def _kinds(redacted: str, original: str) -> list[str]:
    before = set(_MARKER.findall(original))
    found = sorted({f"[REDACTED:{k}]" for k in _MARKER.findall(redacted)} -
                   {f"[REDACTED:{k}]" for k in before})
    return found or ["a secret"]
