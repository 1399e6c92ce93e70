"""Capture: the hook fast path, redaction, privacy, observations, the raw log (stdlib)."""
