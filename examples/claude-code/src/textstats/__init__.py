"""Small statistics over plain text."""

from textstats.counts import word_count

__all__ = ["word_count"]
