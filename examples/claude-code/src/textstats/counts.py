"""Counting words in plain text."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order (letters and digits; inner ' and -)."""
    return [match.group(0).lower() for match in _WORD.finditer(text)]


def word_count(text: str) -> int:
    """How many words ``text`` holds."""
    return len(words(text))
