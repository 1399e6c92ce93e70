"""Compile: the staged build from the raw log to pages, rendering, context, LLM."""
