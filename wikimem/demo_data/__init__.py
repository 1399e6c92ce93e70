"""Recorded Claude Code sessions that `wikimem demo` replays (see SOURCES.md)."""
