"""textstats: word, sentence and paragraph counts and a reading-time estimate for text."""

from __future__ import annotations

from textstats.stats import DEFAULT_WPM, TextStats, analyze, format_duration, reading_time_s
from textstats.text import paragraphs, sentences, words

__version__ = "0.1.0"
__all__ = [
    "DEFAULT_WPM",
    "TextStats",
    "__version__",
    "analyze",
    "format_duration",
    "paragraphs",
    "reading_time_s",
    "sentences",
    "words",
]
