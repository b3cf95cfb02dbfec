"""Statistics over a text: counts, averages, reading time and the most common words."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from textstats.text import paragraphs, sentences, words

#: Words per minute of an average adult reading prose silently.
DEFAULT_WPM = 200

_STOPWORD_TEXT = """
    a an and are as at be but by for from has have he her his i in is it its of on or she so
    that the their them they this to was we were what when which who will with you your
"""
#: Words too common to say anything about a text; left out of ``top_words``.
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class TextStats:
    """What :func:`analyze` found in a text."""

    characters: int
    words: int
    sentences: int
    paragraphs: int
    #: Mean letters per word, rounded to 2 decimals (0.0 for no words).
    average_word_length: float
    #: Mean words per sentence, rounded to 2 decimals (0.0 for no sentences).
    words_per_sentence: float
    reading_time_s: int
    #: ``(word, count)`` pairs, most frequent first, ties in alphabetical order.
    top_words: list[tuple[str, int]]

    def to_dict(self) -> dict[str, Any]:
        """The statistics as plain JSON-ready values."""
        data = asdict(self)
        data["top_words"] = [[word, count] for word, count in self.top_words]
        return data


def reading_time_s(word_count: int, wpm: int = DEFAULT_WPM) -> int:
    """Seconds needed to read ``word_count`` words at ``wpm`` words per minute, rounded up.

    Raises:
        ValueError: When ``wpm`` is not positive or ``word_count`` is negative.
    """
    if wpm <= 0:
        raise ValueError(f"words per minute must be positive, not {wpm}")
    if word_count < 0:
        raise ValueError(f"word count must not be negative, not {word_count}")
    return math.ceil(word_count * 60 / wpm)


def format_duration(seconds: int) -> str:
    """A short human reading of a duration: ``"45 s"``, ``"2 min"``, ``"1 min 30 s"``."""
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def most_common_words(
    all_words: list[str], limit: int = 5, stopwords: frozenset[str] = STOPWORDS
) -> list[tuple[str, int]]:
    """The ``limit`` most frequent words, case-folded, without ``stopwords``.

    Ties are broken alphabetically so the result does not depend on the text's order.
    """
    counts = Counter(word.casefold() for word in all_words)
    for stopword in stopwords:
        counts.pop(stopword, None)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]


def analyze(text: str, wpm: int = DEFAULT_WPM, top: int = 5) -> TextStats:
    """Count and measure ``text``.

    Args:
        text: Any text; Markdown and plain prose work best.
        wpm: Reading speed used for ``reading_time_s``, in words per minute.
        top: How many of the most common words to list.

    Raises:
        ValueError: When ``wpm`` is not positive.
    """
    all_words = words(text)
    sentence_count = len(sentences(text))
    letters = sum(len(word) for word in all_words)
    return TextStats(
        characters=len(text),
        words=len(all_words),
        sentences=sentence_count,
        paragraphs=len(paragraphs(text)),
        average_word_length=round(letters / len(all_words), 2) if all_words else 0.0,
        words_per_sentence=round(len(all_words) / sentence_count, 2) if sentence_count else 0.0,
        reading_time_s=reading_time_s(len(all_words), wpm),
        top_words=most_common_words(all_words, top),
    )
