"""Fakes at the LLM boundary, shared by tests (STYLE: fakes only at the LLM edge)."""
