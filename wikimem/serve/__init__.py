"""Servers over a project's memory: the MCP server."""
