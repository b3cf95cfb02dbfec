"""Splitting text into words, sentences and paragraphs.

The rules are deliberately simple and predictable: a word is a run of letters or digits,
optionally joined by apostrophes or hyphens ("don't", "well-known"); a sentence ends at
``.``, ``!`` or ``?`` (and any closing quote or bracket) followed by whitespace or the end
of the text, so "3.14" does not end one but the abbreviation in "Dr. Smith" does; a
paragraph is separated from the next by a blank line.
"""

from __future__ import annotations

import re

_WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE_END_RE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+")
_PARAGRAPH_BREAK_RE = re.compile(r"\n\s*\n")


def words(text: str) -> list[str]:
    """The words of ``text``, in order, as written.

    >>> words("Don't panic: it's well-known.")
    ["Don't", 'panic', "it's", 'well-known']
    """
    return _WORD_RE.findall(text)


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped; pieces without any word are dropped.

    >>> sentences("Hi there. How are you?  Fine!")
    ['Hi there.', 'How are you?', 'Fine!']
    """
    pieces = (piece.strip() for piece in _SENTENCE_END_RE.split(text))
    return [piece for piece in pieces if words(piece)]


def paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text``: blocks separated by blank lines, stripped, non-empty."""
    pieces = (piece.strip() for piece in _PARAGRAPH_BREAK_RE.split(text))
    return [piece for piece in pieces if piece]
