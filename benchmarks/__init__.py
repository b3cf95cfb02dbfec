"""Brahmi's benchmarks: scripts that print figures, never tests.

Run each from the repository root as a module, e.g. ``python -m benchmarks.batch_insert``;
see ``benchmarks/README.md`` for what each measures.
"""
