"""``python -m textstats``: the command-line interface."""

from __future__ import annotations

from textstats.cli import run

run()
