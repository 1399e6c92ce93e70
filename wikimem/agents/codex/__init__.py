"""OpenAI Codex CLI: its hook (and legacy notify) adapter, installer and rollout importer."""
