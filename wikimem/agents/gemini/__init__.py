"""Gemini CLI: its hook adapter, its installer and its chat importer."""
