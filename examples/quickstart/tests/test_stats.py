"""Counts, reading time and common words."""

from __future__ import annotations

import pytest
from textstats.stats import analyze, format_duration, most_common_words, reading_time_s


def test_reading_time_rounds_up_to_the_next_second() -> None:
    assert reading_time_s(200, wpm=200) == 60
    assert reading_time_s(201, wpm=200) == 61
    assert reading_time_s(0) == 0


@pytest.mark.parametrize("wpm", [0, -100])
def test_reading_time_rejects_a_speed_that_is_not_positive(wpm: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        reading_time_s(10, wpm=wpm)


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0, "0 s"), (45, "45 s"), (120, "2 min"), (90, "1 min 30 s")]
)
def test_durations_read_as_minutes_and_seconds(seconds: int, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_common_words_are_case_folded_without_stopwords_and_ties_sorted() -> None:
    text = ["The", "cat", "and", "the", "Dog", "saw", "a", "cat", "and", "a", "bird"]
    found = most_common_words(text, limit=3)
    assert found == [("cat", 2), ("bird", 1), ("dog", 1)]


def test_analyze_counts_a_short_text() -> None:
    text = "Brahmi runs tasks. Tasks have skills!\n\nSkills are folders."
    stats = analyze(text, wpm=60)
    assert (stats.words, stats.sentences, stats.paragraphs) == (9, 3, 2)
    assert stats.characters == len(text)
    assert stats.words_per_sentence == 3.0
    assert stats.reading_time_s == 9
    assert stats.top_words[:2] == [("skills", 2), ("tasks", 2)]


def test_analyze_of_empty_text_is_all_zero() -> None:
    stats = analyze("")
    assert stats.words == stats.sentences == stats.paragraphs == 0
    assert stats.average_word_length == stats.words_per_sentence == 0.0
    assert stats.top_words == []
