"""Claude Code: its hook adapter, its installer and its transcript importer."""
