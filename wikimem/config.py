"""Configuration: `$WIKIMEM_HOME/config.toml`, overridden by environment variables.

Only the composition roots (the CLI, the compiler's entry) read it; library functions take
plain arguments.

    [context]
    budget = 6000              # characters in the session-start block

    [tasks]
    claim_expiry_minutes = 30  # a claim with no heartbeat for this long returns to todo

    [llm]                      # optional consolidation (pip install 'wikimem[llm]')
    enabled = false            # or `wikimem compile --llm`, or WIKIMEM_LLM=1
    model = "claude-haiku-4-5"
    max_calls_per_compile = 10
    max_calls_per_day = 100
    max_tokens_per_day = 300000
    max_output_tokens = 2000
    timeout = 30               # seconds for one call
    time_budget = 120          # seconds for all the calls of one compile

    ignore_paths = [".env"]    # (top level) events about these files are never recorded
    [redact]                   # see wikimem/privacy.py; also read from the project's
    patterns = []              # .wikimem.toml: extra regexes -> [REDACTED:custom]
    allow = []                 # exact values never redacted
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields

from wikimem.compile.llm import LLMSettings
from wikimem.errors import WikimemError
from wikimem.project import home


@dataclass(frozen=True)
class Config:
    context_budget: int = 6000
    claim_expiry_minutes: float = 30.0
    llm: LLMSettings = field(default_factory=LLMSettings)


def load() -> Config:
    """Read config.toml (if any) and the WIKIMEM_* environment overrides."""
    path = home() / "config.toml"
    data: dict = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise WikimemError(f"{path} is not valid TOML ({exc}); fix or remove it.") from exc
    budget = _number(os.environ.get("WIKIMEM_CONTEXT_BUDGET"),
                     data.get("context", {}).get("budget"), 6000, "context budget")
    expiry = _number(os.environ.get("WIKIMEM_CLAIM_EXPIRY_MINUTES"),
                     data.get("tasks", {}).get("claim_expiry_minutes"), 30, "claim expiry")
    return Config(context_budget=int(budget), claim_expiry_minutes=float(expiry),
                  llm=_llm(data.get("llm", {})))


def apply_privacy(project, *, strict: bool = True):
    """Use the project's `[redact]` settings in this process; a mistake in them is an error
    (`strict`), else logged once in the project's error log like the hook does, and the
    faulty entries are left out."""
    from wikimem.capture import privacy

    settings = privacy.apply(project)
    if settings.errors:
        if strict:
            raise WikimemError("; ".join(settings.errors) + ".")
        privacy.report_errors(project, settings)
    return settings


def _llm(section: dict) -> LLMSettings:
    if not isinstance(section, dict):
        raise WikimemError("[llm] in config.toml must be a table.")
    values = {}
    for f in fields(LLMSettings):
        if f.name not in section:
            continue
        value = section[f.name]
        expected = type(getattr(LLMSettings(), f.name))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise WikimemError(f"[llm] {f.name} in config.toml must be a {expected.__name__}.")
        values[f.name] = value
    env = os.environ.get("WIKIMEM_LLM")
    if env not in (None, ""):
        values["enabled"] = env.lower() not in ("0", "false", "no", "off")
    unknown = set(section) - {f.name for f in fields(LLMSettings)}
    if unknown:
        raise WikimemError(
            f"Unknown [llm] setting(s) in config.toml: {', '.join(sorted(unknown))}.")
    return LLMSettings(**values)


def _number(env, configured, default, what: str) -> float:
    value = env if env not in (None, "") else configured
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise WikimemError(f"The {what} setting {value!r} is not a number.") from None
    if number <= 0:
        raise WikimemError(f"The {what} setting must be positive, not {value!r}.")
    return number
