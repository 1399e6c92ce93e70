"""Configuration: `$WIKIMEM_HOME/config.toml`, overridden by environment variables.

Only the composition roots (the CLI, the compiler's entry) read it; library functions take
plain arguments.

    [context]
    budget = 6000              # characters in the session-start block

    [tasks]
    claim_expiry_minutes = 30  # a claim with no heartbeat for this long returns to todo
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass

from wikimem.errors import WikimemError
from wikimem.project import home


@dataclass(frozen=True)
class Config:
    context_budget: int = 6000
    claim_expiry_minutes: float = 30.0


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
    return Config(context_budget=int(budget), claim_expiry_minutes=float(expiry))


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
