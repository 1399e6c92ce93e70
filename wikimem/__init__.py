"""wikimem: long-term memory for AI coding agents, kept as a git-backed markdown wiki.

This module must stay import-free: the hook path imports it on every agent event.
"""

__version__ = "0.1.0"
