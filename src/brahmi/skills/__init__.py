"""Skills: SKILL.md parsing, sources, and the catalog of what Brahmi can run."""
