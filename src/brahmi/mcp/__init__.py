"""Brahmi's MCP tools: the planner protocol (DESIGN §8)."""
