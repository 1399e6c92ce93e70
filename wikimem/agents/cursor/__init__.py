"""Cursor: its hook adapter and its installer (no transcript importer: logs of its hook
payloads are read by agents/hooklog.py)."""
