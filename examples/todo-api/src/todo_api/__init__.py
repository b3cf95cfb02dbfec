"""A small todo list API: FastAPI, kept in PostgreSQL (or in memory without DATABASE_URL)."""
