"""The HTTP surface: REST under /api/v1, MCP at /mcp, in one ASGI app (DESIGN §8)."""
